#!/usr/bin/env bash
# make bench: what the series costs and saves, base versus series, in one run.
#
# Boots the unpatched base and the series kernel (same configuration, same QEMU
# machine plus 3 more edu devices) alternately, BENCH_RUNS times each, in the
# order base,series,series,base,base,series,... (drift cancels out), with
# /init in guest.mode=bench (guest/bench.c), on the stage-1 SMMU and then on
# the stage-2 one (BENCH_TIMED_SMMU), under QEMU's instruction counting
# (-icount, one vCPU: see bench_boot); then once per kernel on the S1+S2 SMMU
# and on the ATS SMMU of qemu/patches (BENCH_COUNT_SMMU) for their command
# counts (on the ATS SMMU also those of ats-testdev, a device with an ATC:
# CMD_ATC_INV per operation). Each boot measures:
#   - the SMMU commands of each operation, counted exactly from QEMU's trace
#     (smmuv3_cmdq_opcode), operation by operation between trace markers
#     (see scripts/bench-report.py): deterministic, must not vary;
#   - the cost of VFIO map/unmap and attach in instruction-counted guest
#     time, the most wanted first: 4 KiB map+unmap pairs in ONE type1 domain
#     holding all four edu devices (every unmap invalidates that domain);
#   - the kernel's dma_map_benchmark on an edu device in its strict DMA domain;
#   - the SMMU fault events of each benchmark (must be 0);
#   - the KUnit STE transition matrix line the series' suite prints at boot.
# Prints a table (each cost with its run-to-run spread; a spread over +-3 %
# fails, and every metric where the series costs more than the base beyond the
# spread is flagged with its command counts) and writes
# build/bench/results.json and build/bench/ratios.svg.
#
# Variables: BENCH_RUNS (boots per kernel and SMMU, default 5, at least 5 for a report)
#            BENCH_SECS (guest seconds per timed measurement, default 2)
#            BENCH_ICOUNT_SHIFT (default 3: one instruction is 2^3 ns of guest time)
#            BENCH_OPS  (operations per counted kind, default 8)
#            BENCH_TIMED_SMMU="s1 s2" (SMMUs measured; s1 first)
#            BENCH_COUNT_SMMU="nested ats" (SMMUs counted only, one boot per kernel)
#            BENCH_WALL_RUNS=0 (more boots per kernel without icount, 2 vCPUs,
#            BENCH_WALL_SECS=5 each: the TCG wall-clock table, secondary)
#            BENCH_KEEP_TRACE=1 (keep each boot's trace.log, ~45 MB each)
#            BENCH_BUILD=0 (use the Images as they are; by default
#            scripts/kernel.sh brings both up to date first, incrementally,
#            so a stale Image is never measured)
#            EXTRA_PATCHES="a.patch ..." (compare base with series + these)
. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-5} SECS=${BENCH_SECS:-2} OPS=${BENCH_OPS:-8}
SHIFT=${BENCH_ICOUNT_SHIFT:-3} WALL_RUNS=${BENCH_WALL_RUNS:-0} WALL_SECS=${BENCH_WALL_SECS:-5}
for v in RUNS SECS OPS WALL_SECS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v='${!v}' is not a positive number"
done
for v in SHIFT WALL_RUNS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_${v/SHIFT/ICOUNT_SHIFT}='${!v}' is not a number"
done
[ "$RUNS" -ge 5 ] || warn "BENCH_RUNS=$RUNS: the issue asks for medians of at least 5 runs"
[ "${SERIES:-}" != none ] || die "make bench compares the base with the series itself" \
	"drop SERIES=none (EXTRA_PATCHES=... compares the base with the series plus those patches)"
export BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}

B=$BUILD/bench
t0=$SECONDS
current=start
step() {
	current=$*
	info "[$(elapsed)] $*"
}
elapsed() {
	local s=$((SECONDS - t0))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}
trap 'rc=$?; [ $rc = 0 ] || echo "bench: aborted in step \"$current\" (exit $rc): see the error above; logs in ${B#"$TOP"/}/" >&2' EXIT

# The two kernels: base (build/base) and the series (build/out, or build/extra
# with EXTRA_PATCHES), built (or brought up to date) as make check builds them.
side_dirs() { # NAME: sets SRC, OUT and IMG of that side
	if [ "$1" = base ]; then
		variant_dirs base
	elif [ -n "${EXTRA_PATCHES:-}" ]; then
		variant_dirs extra
	else
		variant_dirs main
	fi
	IMG=$OUT/arch/arm64/boot/Image
}
build_side() { # NAME
	local series=
	side_dirs "$1"
	[ "$1" = base ] && series=none
	if [ -f "$IMG" ] && [ "${BENCH_BUILD:-1}" = 0 ]; then
		return 0
	fi
	if [ "$1" = base ] && [ ! -f "$BUILD/base/linux/Makefile" ]; then
		SERIES=none EXTRA_PATCHES='' TREE_USE=1 "$TOP/scripts/tree.sh"
	fi
	[ -f "$IMG" ] || info "no $1 kernel at ${IMG#"$TOP"/}: building it"
	SERIES=$series "$TOP/scripts/kernel.sh" >/dev/null
	[ -f "$IMG" ] || die "scripts/kernel.sh did not produce ${IMG#"$TOP"/}"
}

step "kernels"
rm -rf "$B"
mkdir -p "$B/images"
for side in base series; do
	build_side "$side"
	img=$IMG
	# A private copy: the tree's Image may be rebuilt while the bench runs.
	cp "$img" "$B/images/$side.Image"
	desc=$(git -C "$SRC" describe --always --tags --dirty 2>/dev/null || echo '?')
	printf '%s %s %s (%s, built %s)\n' "$side" "$(sha256sum "$B/images/$side.Image" | cut -c1-16)" \
		"${img#"$TOP"/}" "$desc" "$(date -r "$img" '+%F %T')" | tee -a "$B/kernels.txt"
done
cmp -s "$B/images/base.Image" "$B/images/series.Image" &&
	warn "the base and series Images are identical (an empty series?): ratios will be 1"

step "guest programs and initramfs (with dma_map_benchmark)"
WITH_BENCH=1 "$TOP/scripts/guest.sh"
INITRD=$BUILD/guest/initramfs-bench.cpio

# One bench boot: QEMU with 3 more edu devices (4 in all) and the trace of PCI
# configuration writes (the markers), /init in bench mode. Three kinds:
#   icount  the measurements: -icount shift=$SHIFT,sleep=off and one vCPU, so
#           the guest's clock counts instructions (2^SHIFT ns each) and a
#           guest-timed operation measures what it costs, not the host's load;
#           sleep=off jumps idle time to the next timer. One vCPU: under icount
#           QEMU runs the vCPUs round-robin on one thread, so "one thread per
#           vCPU" would measure interleaving, not parallelism; the guest skips
#           those (_tn) measurements.
#   counts  the same, bench_secs=1: its timings are not reported (nested)
#   wall    the former measurement (2 vCPUs, TCG wall clock), BENCH_WALL_RUNS
#           boots per kernel, a secondary table only: its ratios are noise
qemu_extra="-trace pci_cfg_write -device edu -device edu -device edu ${QEMU_EXTRA:-}"
guest_args="guest.mode=bench guest.bench_ops=$OPS iommu.strict=1 ${GUEST_ARGS:-}"
icount="-icount shift=$SHIFT,sleep=off"
echo "$qemu_extra" >"$B/qemu-extra.txt"
echo "$guest_args" >"$B/guest-args.txt"
echo "$SHIFT" >"$B/icount-shift.txt"
TIMED_SMMUS=${BENCH_TIMED_SMMU-s1 s2}
COUNT_SMMUS=${BENCH_COUNT_SMMU-nested ats}
ntimed=0 ncount=0
# (what scripts/bench-report.py reads: s1 and s2 measured, nested and ats counted)
case " $TIMED_SMMUS " in " s1 "|" s1 s2 ") ;; *)
	die "BENCH_TIMED_SMMU='$TIMED_SMMUS' is not supported" "use 's1 s2' (the default) or 's1'" ;;
esac
case " $COUNT_SMMUS " in "  "|" nested "|" ats "|" nested ats ") ;; *)
	die "BENCH_COUNT_SMMU='$COUNT_SMMUS' is not supported" "use 'nested ats' (the default), 'nested', 'ats' or ''" ;;
esac
for smmu in $TIMED_SMMUS; do ntimed=$((ntimed + 1)); done
for smmu in $COUNT_SMMUS; do ncount=$((ncount + 1)); done
per_icount=$((7 * SECS + 2)) per_count=10 per_wall=$((9 * WALL_SECS + 8))
total=$((2 * RUNS * ntimed + 2 * ncount + 2 * WALL_RUNS))
left=$((2 * RUNS * ntimed * per_icount + 2 * ncount * per_count + 2 * WALL_RUNS * per_wall))
n=0
bench_boot() { # SIDE DIR KIND SMMU: one boot into $B/SIDE/DIR
	local side=$1 d=$B/$1/$2 kind=$3 smmu=$4 try extra=$qemu_extra args=$guest_args smp=1 per what
	case $kind in
	icount) extra="$icount $extra" args="$args guest.bench_secs=$SECS" per=$per_icount ;;
	counts) extra="$icount $extra" args="$args guest.bench_secs=1" per=$per_count ;;
	wall) args="$args guest.bench_secs=$WALL_SECS" smp=2 per=$per_wall ;;
	esac
	what="$side $2 (SMMU $smmu, $kind; about $per s, ~$(((left + 59) / 60)) min left)"
	n=$((n + 1))
	left=$((left - per))
	for try in 1 2; do
		step "boot $n/$total: $what"
		rm -rf "$d"
		mkdir -p "$d"
		if SMMU=$smmu SMP=$smp QDIR=$d QEMU_EXTRA=$extra GUEST_ARGS=$args \
			"$TOP/scripts/boot.sh" check "$B/images/$side.Image" "$INITRD" &&
			python3 "$TOP/scripts/bench-report.py" summarize "$d"; then
			break
		fi
		[ $try = 1 ] || die "the $side kernel's bench boot $2 failed twice" \
			"logs: ${d#"$TOP"/}/ (console.log, trace.log)"
		warn "the $side kernel's bench boot $2 failed; its logs are kept in ${d#"$TOP"/}.failed/; booting once more"
		rm -rf "$d.failed"
		mv "$d" "$d.failed"
	done
	[ "${BENCH_KEEP_TRACE:-}" = 1 ] || rm -f "$d/trace.log"
	python3 - "$d/summary.json" "$(cat "$d/boot.seconds")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["results"]
def v(k):
    return f"{r[k][0]:.0f} {r[k][1]}" if k in r else "?"
print(f"  ok in {sys.argv[2]} s: one domain, 4 devices, 4 KiB map+unmap {v('multi_map_unmap_4k_t1')} "
      f"(1 thread); attach {v('attach_cycle_t1')}; SMMU fault events {sum(s['faults'].values())}")
PY
}

# Alternately, base,series,series,base,...: drift cancels out.
alternate() { # KIND SMMU PREFIX RUNS
	local run
	for run in $(seq 1 "$4"); do
		if [ $((run % 2)) = 1 ]; then
			bench_boot base "$3run$run" "$1" "$2"
			bench_boot series "$3run$run" "$1" "$2"
		else
			bench_boot series "$3run$run" "$1" "$2"
			bench_boot base "$3run$run" "$1" "$2"
		fi
	done
}
# s1's runs are run<N>, the others' <smmu>-run<N>
for smmu in $TIMED_SMMUS; do
	pfx=$smmu-
	[ "$smmu" = s1 ] && pfx=
	alternate icount "$smmu" "$pfx" "$RUNS"
done
for smmu in $COUNT_SMMUS; do
	bench_boot base "$smmu" counts "$smmu"
	bench_boot series "$smmu" counts "$smmu"
done
[ "$WALL_RUNS" = 0 ] || alternate wall s1 wall- "$WALL_RUNS"

step "report"
trap - EXIT
echo
if python3 "$TOP/scripts/bench-report.py" report "$B" | tee "$B/table.txt"; then
	echo "bench: $total boots in $(elapsed); table: ${B#"$TOP"/}/table.txt"
else
	echo "bench: $total boots in $(elapsed); logs in ${B#"$TOP"/}/<base|series>/*/" >&2
	exit 1
fi
