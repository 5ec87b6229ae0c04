#!/usr/bin/env bash
# make stress: build the debug kernel (configs/debug.config + kasan.config on
# top of the boot kernel's fragments) in its own directory, boot it with four
# edu devices and /init in guest.mode=stress (guest/stress.c: VFIO attach
# cycles, a shared domain joined and left, map/unmap, edu DMA and disk
# checksums, virtio rebinding, failslab and fail-nth in attach prepare,
# kmemleak), then judge the boot with scripts/stress-check.py: the KUnit suites
# at boot, the stress KTAP, no splat in the kernel log, no SMMU fault event.
# Ends with "stress: N passed, M failed, K skipped"; exit status 1 on failure.
#
#   STRESS_SECS=150       how long the threads run (guest.stress_secs)
#   STRESS_OPS=1000000    and at most this many operations (guest.stress_ops)
#   STRESS_PHASE_SECS=10  length of each fault injection phase
#   STRESS_FAILSLAB_PCT=1 failslab probability in the random phases
#   STRESS_SMMU="s1 s2"   QEMU's SMMU configurations, one boot each (lib.sh);
#                         "ats" adds a second ats-testdev for the ATS threads
#   STRESS_PARALLEL=1     boot them side by side (make check) rather than in turn
#   STRESS_MAX_BOOTS=n    with STRESS_PARALLEL=1, at most n boots at once (the
#                         next starts when one ends; default: all of them)
#   STRESS_S2_SECS=       how long the boots after the first (s2 by default) run (default STRESS_SECS)
#   STRESS_S2_KMEMLEAK=1  0: no kmemleak scans in the boots after the first (about
#                         50 s less each under TCG; the first boot scans)
#   STRESS_KASAN=1        0: the lighter kernel without KASAN (make check's
#                         short run; a much shorter cold build)
#   STRESS_DIR=dir        where the run's logs go (default build/logs[/<variant>]/stress)
#   STRESS_KEEP_TRACE=1   keep QEMU's trace.log (large; by default removed once read)
#   BUILD_LOCK=file       run the kernel build under flock(1) of this file
#   STRESS_BOOT_TIMEOUT=s bounds the boot (default STRESS_SECS + 900)
# SERIES=none and EXTRA_PATCHES=... select the tree as for the other targets.
. "$(dirname "$0")/lib.sh"

select_variant
SECS=${STRESS_SECS:-150}
OPS=${STRESS_OPS:-1000000}
PHASE=${STRESS_PHASE_SECS:-10}
PCT=${STRESS_FAILSLAB_PCT:-1}
SMMUS=${STRESS_SMMU:-s1 s2}
for smmu in $SMMUS; do smmu_machine "$smmu" >/dev/null; done
if [ "${STRESS_KASAN:-1}" = 1 ]; then
	configs="kunit qemu debug kasan" kdir=stress-out kind="debug kernel (KASAN)"
else
	configs="kunit qemu debug" kdir=stress-lite-out kind="debug kernel without KASAN"
fi
# Next to the variant's own build: build/stress-out, build/base/stress-out, ...
KO=$(dirname "$OUT")/$kdir
D=${STRESS_DIR:-$VLOGS/stress}
R=$D/run
rm -rf "$R"
mkdir -p "$R"
t0=$SECONDS
current=start
step() {
	current=$*
	info "[stress $((SECONDS - t0))s] $*"
}
trap 'rc=$?; [ $rc = 0 ] || echo "stress: aborted in step \"$current\" (exit $rc): see the error above; logs in ${D#"$TOP"/}/" >&2' EXIT

step "$kind: ${KO#"$TOP"/} ($configs)"
# (no other configuration shares the debug kernel's objects: lib.sh)
ccache_depend
build=("$TOP/scripts/kernel.sh")
[ -z "${BUILD_LOCK:-}" ] || build=(flock "$BUILD_LOCK" "${build[@]}")
kt=$SECONDS
image=$(KOUT=$KO KLOGS=$D CONFIGS=$configs "${build[@]}" | tail -n 1)
echo "$((SECONDS - kt))" >"$D/kernel.seconds"
# A private copy: the Image may be rebuilt by another run while this one boots.
cp "$image" "$R/Image"

step "guest programs and initramfs"
GUEST_OUT=$BUILD/stress/guest "$TOP/scripts/guest.sh"
cp "$BUILD/stress/guest/initramfs.cpio" "$R/initramfs.cpio"

# One boot per SMMU configuration of QEMU (STRESS_SMMU, lib.sh), each judged
# on its own: the first in $D/run (with the KUnit suites), the others in
# $D/run-<smmu> (kunit.enable=0: the suites ran in the first). On s2 every
# domain is stage 2: the join/cycle threads swap stage-2 domains' invalidation
# arrays while the hammers invalidate by VMID. A boot takes the time the
# threads run plus the KUnit suites and kmemleak scans under a debug kernel on
# TCG (measured: well under 10 minutes).
# boot_and_judge SMMU FIRST: one boot and its verdict (in $R, or $R-<SMMU>
# after the first); 1 if it failed.
boot_and_judge() {
	local smmu=$1 first=$2 secs=$SECS Rs=$R args='' timeout bt booted=1 rc=0 check
	local devs="-device edu -device edu -device edu"
	# the ATS SMMU: a second ats-testdev (guest_devices has the first), for
	# the stress's ATS witness and ATS join (D0's ATS targets, the purge)
	[ "$smmu" = ats ] && devs+=" -device ats-testdev"
	if [ "$first" = 0 ]; then
		secs=${STRESS_S2_SECS:-$SECS} Rs=$R-$smmu args="kunit.enable=0"
		[ "${STRESS_S2_KMEMLEAK:-1}" = 1 ] || args+=" guest.stress_kmemleak=0"
		rm -rf "$Rs"
		mkdir -p "$Rs"
	fi
	timeout=${STRESS_BOOT_TIMEOUT:-$((secs + 900))}
	step "boot under QEMU, SMMU $smmu ($(smmu_machine "$smmu")): stress for ${secs} s (timeout $timeout s)"
	bt=$SECONDS
	SMMU=$smmu QDIR=$Rs BOOT_TIMEOUT=$timeout \
		QEMU_EXTRA="$devs ${QEMU_EXTRA:-}" \
		GUEST_ARGS="guest.mode=stress guest.stress_secs=$secs guest.stress_ops=$OPS guest.stress_phase_secs=$PHASE guest.stress_failslab_pct=$PCT $args ${GUEST_ARGS:-}" \
		"$TOP/scripts/boot.sh" check "$R/Image" "$R/initramfs.cpio" || booted=0
	echo "$((SECONDS - bt))" >"$Rs/boot.seconds"
	[ $booted = 1 ] && ok "guest finished in $((SECONDS - bt)) s"
	: >"$Rs/host.results"
	[ $booted = 1 ] || echo "FAIL boot: QEMU failed, timed out or the guest did not finish (see the error above)" >>"$Rs/host.results"

	step "judge (SMMU $smmu): KUnit, stress KTAP, kernel log, SMMU trace"
	[ -f "$Rs/trace.log" ] && du -h "$Rs/trace.log" | sed 's/\t.*//;s/^/  trace.log: /'
	check=(--smmu "$smmu")
	[ "$first" = 1 ] || check+=(--no-kunit)
	python3 "$TOP/scripts/stress-check.py" "$Rs" --kunit "$SRC/tools/testing/kunit/kunit.py" \
		--expected "$TOP/configs/expected-suites" --config "$KO/.config" "${check[@]}" |
		tee "$Rs/summary.txt" || rc=1
	[ "${STRESS_KEEP_TRACE:-}" = 1 ] || rm -f "$Rs/trace.log"
	echo "stress (SMMU $smmu): boot $(cat "$Rs/boot.seconds") s; logs in ${Rs#"$TOP"/}/"
	return $rc
}

# One boot after the other, or (STRESS_PARALLEL=1, make check) side by side,
# at most STRESS_MAX_BOOTS at once, each boot's output then shown in turn.
MAX_BOOTS=${STRESS_MAX_BOOTS:-0}
[[ $MAX_BOOTS =~ ^[0-9]+$ ]] || die "STRESS_MAX_BOOTS='$MAX_BOOTS' is not a number"
rc=0
first=1
pids=()
declare -A status=()
running=()
for smmu in $SMMUS; do
	if [ "${STRESS_PARALLEL:-0}" = 1 ]; then
		while [ "$MAX_BOOTS" -gt 0 ] && [ ${#running[@]} -ge "$MAX_BOOTS" ]; do
			ended=
			wait -n -p ended "${running[@]}" && status[$ended]=0 || status[$ended]=1
			rest=()
			for p in "${running[@]}"; do [ "$p" = "$ended" ] || rest+=("$p"); done
			running=("${rest[@]}")
		done
		(
			trap - EXIT
			boot_and_judge "$smmu" "$first"
		) >"$D/boot-$smmu.log" 2>&1 &
		pids+=($!)
		running+=($!)
	else
		boot_and_judge "$smmu" "$first" || rc=1
	fi
	first=0
done
if [ ${#pids[@]} != 0 ]; then
	info "the boots ($SMMUS) run side by side; their output follows"
	i=0
	for smmu in $SMMUS; do
		if [ -n "${status[${pids[$i]}]:-}" ]; then
			[ "${status[${pids[$i]}]}" = 0 ] || rc=1
		else
			wait "${pids[$i]}" || rc=1
		fi
		cat "$D/boot-$smmu.log"
		i=$((i + 1))
	done
fi
trap - EXIT
echo "stress: kernel build $(cat "$D/kernel.seconds") s, total $((SECONDS - t0)) s"
exit $rc
