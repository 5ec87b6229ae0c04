#!/usr/bin/env bash
# make bench: what the series costs and saves, base versus series, in one run.
#
# Boots the unpatched base and the series kernel (same configuration, same QEMU
# machine plus 3 more edu devices) alternately, BENCH_RUNS times each, in the
# order base,series,series,base,base,series,... (drift cancels out), with
# /init in guest.mode=bench (guest/bench.c). Each boot measures:
#   - the SMMU commands of each operation, counted exactly from QEMU's trace
#     (on the stage-1 SMMU; then one boot per kernel on the stage-2-only and
#     the stage 1 + 2 SMMUs, BENCH_SMMU, for their counts)
#     (smmuv3_cmdq_opcode), operation by operation between trace markers
#     (see scripts/bench-report.py): deterministic, must not vary;
#   - VFIO map/unmap and attach throughput (1 thread, 1 thread per vCPU), the
#     most wanted first: 4 KiB map+unmap pairs in ONE type1 domain holding all
#     four edu devices (every unmap invalidates that domain);
#   - the kernel's dma_map_benchmark on an edu device in its strict DMA domain;
#   - the SMMU fault events of each benchmark (must be 0);
#   - the KUnit STE transition matrix line the series' suite prints at boot.
# Prints a table and writes build/bench/results.json and build/bench/ratios.svg.
#
# Variables: BENCH_RUNS (boots per kernel, default 5, at least 5 for a report)
#            BENCH_SECS (seconds per timed measurement, default 5)
#            BENCH_OPS  (operations per counted kind, default 8)
#            BENCH_KEEP_TRACE=1 (keep each boot's trace.log, ~45 MB each)
#            BENCH_SMMU="s2 nested" (QEMU's other SMMU configurations, one
#            boot per kernel each for the command counts; "" for none)
#            BENCH_BUILD=0 (use the Images as they are; by default
#            scripts/kernel.sh brings both up to date first, incrementally,
#            so a stale Image is never measured)
#            EXTRA_PATCHES="a.patch ..." (compare base with series + these)
. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-5} SECS=${BENCH_SECS:-5} OPS=${BENCH_OPS:-8}
for v in RUNS SECS OPS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v='${!v}' is not a positive number"
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
# configuration writes (the markers), /init in bench mode.
qemu_extra="-trace pci_cfg_write -device edu -device edu -device edu ${QEMU_EXTRA:-}"
guest_args="guest.mode=bench guest.bench_secs=$SECS guest.bench_ops=$OPS iommu.strict=1 ${GUEST_ARGS:-}"
echo "$qemu_extra" >"$B/qemu-extra.txt"
echo "$guest_args" >"$B/guest-args.txt"
per_boot=$((9 * SECS + 8))
total=$((2 * RUNS))
# QEMU's other SMMU configurations (lib.sh): one boot per kernel each, for the
# exact command counts only (a bench_secs of 1: its timings are not reported).
SMMUS=${BENCH_SMMU-s2 nested}
nsmmu=0
for smmu in $SMMUS; do
	smmu_machine "$smmu" >/dev/null
	nsmmu=$((nsmmu + 1))
done
n=0
bench_boot() { # SIDE RUN [SMMU]: SMMU other than s1: counts only, in $B/SIDE/SMMU
	local side=$1 run=$2 smmu=${3:-s1} d=$B/$1/run$2 try args=$guest_args what
	what="$side run $run/$RUNS (about $per_boot s; ~$(((total - n) * per_boot / 60 + nsmmu * 2 * 30 / 60)) min left)"
	if [ "$smmu" != s1 ]; then
		d=$B/$side/$smmu args="$guest_args guest.bench_secs=1"
		what="$side on SMMU $smmu, command counts ($(smmu_machine "$smmu"))"
	fi
	n=$((n + 1))
	for try in 1 2; do
		step "boot $n/$((total + 2 * nsmmu)): $what"
		rm -rf "$d"
		mkdir -p "$d"
		if SMMU=$smmu QDIR=$d QEMU_EXTRA=$qemu_extra GUEST_ARGS=$args \
			"$TOP/scripts/boot.sh" check "$B/images/$side.Image" "$INITRD" &&
			python3 "$TOP/scripts/bench-report.py" summarize "$d"; then
			break
		fi
		[ $try = 1 ] || die "the $side kernel's bench boot (SMMU $smmu) failed twice" \
			"logs: ${d#"$TOP"/}/ (console.log, trace.log)"
		warn "the $side kernel's bench boot ${d##*/} failed; its logs are kept in ${d#"$TOP"/}.failed/; booting once more"
		rm -rf "$d.failed"
		mv "$d" "$d.failed"
	done
	[ "${BENCH_KEEP_TRACE:-}" = 1 ] || rm -f "$d/trace.log"
	python3 - "$d/summary.json" "$(cat "$d/boot.seconds")" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["results"]
def v(k):
    return f"{r[k][0]:.0f} {r[k][1]}" if k in r else "?"
print(f"  ok in {sys.argv[2]} s: one domain, 4 devices, 4 KiB map+unmap {v('multi_map_unmap_4k_t1')} "
      f"(1 thread); attach {v('attach_cycle_t1')}; SMMU fault events {sum(s['faults'].values())}")
EOF
}

for run in $(seq 1 "$RUNS"); do
	if [ $((run % 2)) = 1 ]; then
		bench_boot base "$run"
		bench_boot series "$run"
	else
		bench_boot series "$run"
		bench_boot base "$run"
	fi
done

for smmu in $SMMUS; do
	bench_boot base 0 "$smmu"
	bench_boot series 0 "$smmu"
done

step "report"
trap - EXIT
echo
if python3 "$TOP/scripts/bench-report.py" report "$B" | tee "$B/table.txt"; then
	echo "bench: $((2 * RUNS + 2 * nsmmu)) boots in $(elapsed); table: ${B#"$TOP"/}/table.txt"
else
	echo "bench: $((2 * RUNS)) boots in $(elapsed); logs in ${B#"$TOP"/}/<base|series>/run*/" >&2
	exit 1
fi
