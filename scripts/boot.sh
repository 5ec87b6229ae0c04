#!/usr/bin/env bash
# boot.sh MODE IMAGE [INITRAMFS]: boot a kernel on QEMU's virt machine with an
# SMMUv3 and the test devices, with the SMMUv3 trace events logged.
#
#   MODE check   console to build/<...>/console.log, quiet; the guest prints KTAP
#   MODE run     console on the terminal too (and in the log)
#   MODE shell   interactive console (needs a terminal)
#
# Writes, in $QDIR (default build/qemu, or the variant's logs dir):
#   console.log  the serial console      trace.log  QEMU's smmuv3 trace
#   console.txt  the console as parsed: printk's prefix off every line
#                (scripts/console.py: the guest's lines are kernel records)
#   qemu.cmd     the exact command line
# BOOT_TIMEOUT (seconds, default 600) bounds the run; on timeout the console
# tail is printed and the exit status is 124.
#
# boot.sh disks: only make the two disks (make check, before its lanes boot).
. "$(dirname "$0")/lib.sh"

mkdir -p "$BUILD/qemu"
# Two disks of random data, made once; the guest compares its reads (by DMA
# through the SMMU) with the SHA-256 the host computed. Made under a lock:
# boots of make check's lanes may start together.
disk() {
	local img=$BUILD/qemu/$1.img
	(
		flock 9
		if [ ! -f "$img" ] || [ ! -f "$img.sha256" ]; then
			head -c $((8 << 20)) /dev/urandom >"$img.tmp"
			mv "$img.tmp" "$img"
			sha256sum "$img" | cut -d' ' -f1 >"$img.sha256"
		fi
	) 9>"$BUILD/qemu/.disks.lock"
	cat "$img.sha256"
}
if [ "${1:-}" = disks ]; then
	disk virtio >/dev/null
	disk nvme >/dev/null
	exit 0
fi

MODE=$1 IMAGE=$2 INITRD=${3:-$BUILD/guest/initramfs.cpio}
QDIR=${QDIR:-$LOGS}
TIMEOUT=${BOOT_TIMEOUT:-600}
SMP=${SMP:-2}
mkdir -p "$QDIR"

[ -f "$IMAGE" ] || die "no kernel image at $IMAGE" "build it first (make kernel)"
[ -f "$INITRD" ] || die "no initramfs at $INITRD" "build it first (make guest)"
SMMU=${SMMU:-s1}
qemu_for_smmu "$SMMU"
m=$(smmu_machine "$SMMU") || exit 1
read -ra machine <<<"$m"

# The ATS SMMU's guest tests (not the stress's or the bench's: another
# guest.mode) want guest/kmod's ats_testdev_dma.ko, a DMA API driver for
# ats-testdev (atc_dev_identity_switch_warm): built against the kernel
# booted (scripts/kmod.sh, from the build directory the Image is in) and
# added as a second cpio archive, which the kernel unpacks after the first;
# guest.kmod=1 tells the guest it must be there.
kmod_args=
if [ "$SMMU" = ats ] && [[ " ${GUEST_ARGS:-} " != *" guest.mode="* ]]; then
	kout=${IMAGE%/arch/arm64/boot/Image}
	if [ "$kout" != "$IMAGE" ] && grep -qx 'CONFIG_MODULES=y' "$kout/.config" 2>/dev/null; then
		ko=$("$TOP/scripts/kmod.sh" "$kout" | tail -n 1)
		gic=$(dirname "$INITRD")/gen_init_cpio
		[ -x "$gic" ] || gic=$BUILD/guest/gen_init_cpio
		[ -x "$gic" ] || die "no gen_init_cpio beside ${INITRD#"$TOP"/}" "run scripts/guest.sh"
		printf '%s\n' "dir /lib 0755 0 0" "dir /lib/kmod 0755 0 0" \
			"file /lib/kmod/ats_testdev_dma.ko $ko 0644 0 0" >"$QDIR/kmod.list"
		"$gic" "$QDIR/kmod.list" >"$QDIR/kmod.cpio" || die "gen_init_cpio failed on ${QDIR#"$TOP"/}/kmod.list"
		cat "$INITRD" "$QDIR/kmod.cpio" >"$QDIR/initramfs-kmod.cpio"
		INITRD=$QDIR/initramfs-kmod.cpio
		kmod_args=guest.kmod=1
	fi
fi

sha_vda=$(disk virtio)
sha_nvme=$(disk nvme)

append="$(guest_append "$MODE" "$SMMU" "$sha_vda" "$sha_nvme") $kmod_args ${GUEST_ARGS:-}"
# (lib.sh: one option and its value a line, no spaces inside either)
read -ra devices -d '' < <(guest_devices "$SMMU"; smmu_trace_args "$SMMU") || true

TRACE=$QDIR/trace.log CONSOLE=$QDIR/console.log
rm -f "$TRACE" "$CONSOLE"
# shellcheck disable=SC2054,SC2206 # commas are QEMU syntax; QEMU_EXTRA is split on purpose
qemu=("$QEMU_AARCH64" -L "$QEMU_AARCH64_L"
	"${machine[@]}" -cpu max -smp "$SMP" -m 1G
	-kernel "$IMAGE" -initrd "$INITRD" -append "$append"
	-no-reboot -nodefaults -display none
	-drive "if=none,id=vd0,file=$BUILD/qemu/virtio.img,format=raw,readonly=on"
	-drive "if=none,id=nv0,file=$BUILD/qemu/nvme.img,format=raw,readonly=on"
	"${devices[@]}" -D "$TRACE"
	${QEMU_EXTRA:-})
printf '%q ' "${qemu[@]}" >"$QDIR/qemu.cmd"
echo >>"$QDIR/qemu.cmd"

start=$SECONDS
rc=0
case $MODE in
check)
	timeout --foreground -k 10 "$TIMEOUT" "${qemu[@]}" -serial "file:$CONSOLE" \
		-monitor none </dev/null >"$QDIR/qemu.out" 2>&1 || rc=$?
	;;
run)
	# Show the guest's report as it comes; the whole console goes to the log.
	set +e
	timeout --foreground -k 10 "$TIMEOUT" "${qemu[@]}" -serial stdio -monitor none \
		</dev/null 2>"$QDIR/qemu.out" | tee "$CONSOLE" |
		sed -u -E -e 's/\r$//' -e 's/^\[ *[0-9]+\.[0-9]+\](\[ *[CT][0-9]+\])? ?//' |
		sed -n '/^harness-guest: begin/,/^harness-guest: end/{/^harness-/!p}'
	rc=${PIPESTATUS[0]}
	set -e
	;;
shell)
	"${qemu[@]}" -serial mon:stdio || rc=$?
	exit $rc
	;;
*) die "boot.sh: unknown mode '$MODE'" "use check, run or shell" ;;
esac

[ ! -f "$CONSOLE" ] || python3 "$TOP/scripts/console.py" text "$CONSOLE" "$QDIR/console.txt"
if [ $rc = 124 ] || [ $rc = 137 ]; then
	tail_log "$CONSOLE" 40
	die "QEMU did not finish within $TIMEOUT s (BOOT_TIMEOUT) and was killed" \
		"the console tail is above; full console: ${CONSOLE#"$TOP"/}"
fi
if [ $rc != 0 ]; then
	tail_log "$QDIR/qemu.out" 20
	tail_log "$CONSOLE" 40
	die "QEMU exited with status $rc" "command: ${QDIR#"$TOP"/}/qemu.cmd"
fi
if ! grep -q '^harness-guest: end$' "$QDIR/console.txt"; then
	tail_log "$CONSOLE" 40
	why=$(python3 "$TOP/scripts/console.py" cut "$QDIR/console.txt" "harness-guest: begin" \
		"harness-guest: end" /dev/null --what "the guest's output") || true
	if ! grep -q 'harness-guest: begin' "$QDIR/console.txt"; then
		die "the kernel did not reach /init (or /init did not start the tests)" \
			"the console tail is above; full console: ${CONSOLE#"$TOP"/}"
	fi
	die "the guest tests did not finish: $why" \
		"the console tail is above; full console: ${CONSOLE#"$TOP"/}"
fi
echo "$((SECONDS - start))" >"$QDIR/boot.seconds"
