#!/usr/bin/env bash
# make x86-check, and the x86_ats step of make check: the PCI ATS core live on
# x86_64, through the Intel IOMMU driver (issue 19).
#
# Builds an x86_64 kernel of the selected tree (allnoconfig +
# configs/x86-boot.config, every symbol checked after Kconfig) out of tree in
# build/x86/boot-out (build/<variant>/x86-boot-out for SERIES=none or
# EXTRA_PATCHES=...) with ccache, a static x86_64 /init (guest/x86-ats.c), and
# boots it under qemu-system-x86_64 (TCG): q35 with QEMU's Intel VT-d
# (intremap=on, device-iotlb=on: the DMAR table has an ATSR) and a virtio-blk
# disk with an ATS capability behind a PCIe root port, iommu.strict=1,
# panic_on_warn=1, QEMU's trace of the VT-d invalidation descriptors.
#
# Result lines (PASS/FAIL/SKIP x86_ats:<name>) go to $RESULTS when make check
# sets it; alone, to <logs>/host.results, with a summary line at the end:
#   x86_ats:kernel            configured (fragment checked) and built
#   x86_ats:boot              QEMU ended, the guest finished (no panic, no timeout)
#   x86_ats:<guest test>      the guest's KTAP (guest/x86-ats.c says what each proves)
#   x86_ats:guest_tests_complete   every planned guest test reported
#   x86_ats:device_tlb_invalidations   QEMU saw device-TLB invalidation
#                             descriptors for the disk's requester ID (> 0)
#   x86_ats:no_device_tlb_invalidations_without_ats   and none while the disk
#                             was in an identity domain (ATS off), between the
#                             guest's markers
#
#   X86_DIR=dir           logs (default build/logs[/<variant>]/x86-check)
#   X86_BOOT_TIMEOUT=s    bounds the boot (default 300)
#   X86_CYCLES=n          identity <-> DMA domain cycles in the guest (default 3, at most 100)
#   X86_GUEST_ARGS='...'  more kernel command line
#   BUILD_LOCK=file       run the kernel build under flock(1) of this file
. "$(dirname "$0")/lib.sh"

select_variant
case $VARIANT in
main) XOUT=$BUILD/x86/boot-out ;;
*) XOUT=$BUILD/$VARIANT/x86-boot-out ;;
esac
XD=${X86_DIR:-$VLOGS/x86-check}
G=$BUILD/guest/x86
TIMEOUT=${X86_BOOT_TIMEOUT:-300}
rm -rf "$XD"
mkdir -p "$XD" "$XOUT" "$G" "$BUILD/qemu"
alone=0
if [ -z "${RESULTS:-}" ]; then
	alone=1
	RESULTS=$XD/host.results
	: >"$RESULTS"
fi
nlines=$(wc -l <"$RESULTS")

pass() { echo "PASS x86_ats:$1" >>"$RESULTS"; ok "x86_ats:$1${2:+ ($2)}"; }
fail() { echo "FAIL x86_ats:$1: $2" >>"$RESULTS"; warn "x86_ats:$1: $2"; }
skip() { echo "SKIP x86_ats:$1: $2" >>"$RESULTS"; info "skip x86_ats:$1: $2"; }

# The end of the step: the summary when run alone, the exit status always.
finish() {
	local f
	f=$(tail -n +"$((nlines + 1))" "$RESULTS" | grep -c '^FAIL' || true)
	if [ $alone = 1 ]; then
		echo "x86-check: $(grep -c '^PASS' "$RESULTS" || true) passed, $f failed, $(grep -c '^SKIP' "$RESULTS" || true) skipped (logs: ${XD#"$TOP"/}/)"
	fi
	[ "$f" = 0 ]
}
# A step that dies unexpectedly still leaves a FAIL line: never a silent gap.
trap 'rc=$?; if [ $rc != 0 ] && [ "$(wc -l <"$RESULTS")" = "$nlines" ]; then echo "FAIL x86_ats: the step stopped (exit $rc) before any result; logs in ${XD#"$TOP"/}/" >>"$RESULTS"; fi' EXIT

[ -f "$SRC/Makefile" ] || { fail kernel "no kernel tree at ${SRC#"$TOP"/} (make tree)"; finish; exit; }
for t in qemu-system-x86_64 gcc; do
	command -v $t >/dev/null || { fail kernel "$t not found: run 'make deps'"; finish; exit; }
done

# --- kernel: allnoconfig + configs/x86-boot.config, checked, then bzImage -------------
xmake() { make -C "$SRC" O="$XOUT" ARCH=x86_64 CROSS_COMPILE= -j"$JOBS" "$@"; }
frag=$XOUT/harness.config
if [ ! -f "$XOUT/.config" ] || ! cmp -s "$TOP/configs/x86-boot.config" "$frag"; then
	info "configuring ${XOUT#"$TOP"/} (x86_64 allnoconfig + configs/x86-boot.config)"
	cp "$TOP/configs/x86-boot.config" "$frag"
	if ! xmake KCONFIG_ALLCONFIG="$frag" allnoconfig >"$XD/config.log" 2>&1; then
		rm -f "$frag"
		tail_log "$XD/config.log" 20
		fail kernel "allnoconfig with configs/x86-boot.config failed (${XD#"$TOP"/}/config.log)"
		finish
		exit
	fi
fi
# Every symbol of the fragment must have survived Kconfig (as scripts/kernel.sh checks).
bad=()
while read -r line; do
	case $line in
	CONFIG_*=*) sym=${line%%=*} want=${line#*=} ;;
	"# CONFIG_"*" is not set") sym=${line#\# } sym=${sym%% *} want=n ;;
	*) continue ;;
	esac
	got=$(grep -E "^$sym=|^# $sym is not set" "$XOUT/.config" || true)
	case $want in
	n) [ -z "$got" ] || [ "$got" = "# $sym is not set" ] || bad+=("$sym: wanted n, got ${got#*=}") ;;
	*) [ "$got" = "$sym=$want" ] || bad+=("$sym: wanted $want, got ${got:-unset}") ;;
	esac
done <"$TOP/configs/x86-boot.config"
if [ ${#bad[@]} != 0 ]; then
	rm -f "$frag"
	printf '  %s\n' "${bad[@]}" >&2
	fail kernel "Kconfig did not take these symbols of configs/x86-boot.config (unmet dependencies?): ${bad[*]}"
	finish
	exit
fi
info "building ${SRC#"$TOP"/} -> ${XOUT#"$TOP"/} (x86_64 bzImage; log: ${XD#"$TOP"/}/build.log)"
# (W=1: the flags of hygiene.sh's x86 builds, which ccache then serves from
# this one in direct mode; no other configuration shares its objects: lib.sh)
ccache_depend
build=(xmake W=1 bzImage)
[ -z "${BUILD_LOCK:-}" ] || build=(flock "$BUILD_LOCK" make -C "$SRC" O="$XOUT" ARCH=x86_64 CROSS_COMPILE= -j"$JOBS" W=1 bzImage)
kt=$SECONDS
if ! "${build[@]}" >"$XD/build.log" 2>&1; then
	tail_log "$XD/build.log" 30
	fail kernel "the x86_64 build failed (${XD#"$TOP"/}/build.log)"
	finish
	exit
fi
echo "$((SECONDS - kt))" >"$XD/kernel.seconds"
# A private copy: another run may rebuild the kernel while this one boots.
cp "$XOUT/arch/x86/boot/bzImage" "$XD/bzImage"
pass kernel "configured and built in $((SECONDS - kt)) s"

# --- guest: static x86_64 /init, initramfs ---------------------------------------
if ! make -C "$TOP/guest" O="$G" x86 >"$XD/guest-build.log" 2>&1; then
	tail_log "$XD/guest-build.log" 20
	fail guest_build "the static x86_64 /init did not build (${XD#"$TOP"/}/guest-build.log; libc6-dev: make deps)"
	finish
	exit
fi
gic=$G/gen_init_cpio
gsrc=$BUILD/src/$BASE_TOPDIR/usr/gen_init_cpio.c
[ -f "$gsrc" ] || gsrc=$SRC/usr/gen_init_cpio.c
if [ ! -x "$gic" ] || [ "$gsrc" -nt "$gic" ]; then
	gcc -O2 -o "$gic" "$gsrc" || { fail guest_build "could not build gen_init_cpio"; finish; exit; }
fi
cat >"$G/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
file /init $G/x86-ats 0755 0 0
EOF
"$gic" "$G/initramfs.list" >"$XD/initramfs.cpio" || { fail guest_build "gen_init_cpio failed"; finish; exit; }

# --- disk: random data, made once; the guest compares its SHA-256 ----------------
img=$BUILD/qemu/x86-virtio.img
if [ ! -f "$img" ] || [ ! -f "$img.sha256" ]; then
	head -c $((8 << 20)) /dev/urandom >"$img.tmp"
	mv "$img.tmp" "$img"
	sha256sum "$img" | cut -d' ' -f1 >"$img.sha256"
fi
sha=$(cat "$img.sha256")

# --- boot -----------------------------------------------------------------------
CONSOLE=$XD/console.log TRACE=$XD/trace.log
append="console=ttyS0 panic=-1 panic_on_warn=1 iommu.strict=1 loglevel=7 printk.devkmsg=on rdinit=/init"
append+=" guest.sha_vda=$sha guest.x86_cycles=${X86_CYCLES:-3} ${X86_GUEST_ARGS:-}"
# shellcheck disable=SC2054 # commas are QEMU syntax
qemu=(qemu-system-x86_64 -accel tcg
	-machine q35,kernel-irqchip=split -smp 1 -m 512M
	-device intel-iommu,intremap=on,device-iotlb=on
	-kernel "$XD/bzImage" -initrd "$XD/initramfs.cpio" -append "$append"
	-no-reboot -nodefaults -display none -monitor none -serial "file:$CONSOLE"
	-drive "if=none,id=vd0,file=$img,format=raw,readonly=on"
	-device pcie-root-port,id=rp0,chassis=1
	-device virtio-blk-pci,bus=rp0,drive=vd0,iommu_platform=on,disable-legacy=on,ats=on
	-D "$TRACE" -trace 'vtd_inv_desc*' -trace pci_cfg_write)
printf '%q ' "${qemu[@]}" >"$XD/qemu.cmd"
echo >>"$XD/qemu.cmd"
info "booting under qemu-system-x86_64 (TCG, timeout $TIMEOUT s; console: ${CONSOLE#"$TOP"/})"
bt=$SECONDS
rc=0 booted=0
timeout --foreground -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null >"$XD/qemu.out" 2>&1 || rc=$?
secs=$((SECONDS - bt))
echo "$secs" >"$XD/boot.seconds"
touch "$CONSOLE" "$TRACE"
# Parsed from here on: the console without CRs and printk's prefixes (the
# guest's lines are kernel log records: guest/console.c, scripts/console.py)
python3 "$TOP/scripts/console.py" text "$CONSOLE" "$XD/console.txt"
CONSOLE=$XD/console.txt

panic=$(grep -m1 -E 'Kernel panic|panic_on_warn set' "$CONSOLE" || true)
splat=$(grep -m1 -E 'WARNING:|BUG:|Oops|cut here' "$CONSOLE" || true)
if [ $rc = 124 ] || [ $rc = 137 ]; then
	tail_log "$CONSOLE" 40
	fail boot "QEMU did not finish within $TIMEOUT s (X86_BOOT_TIMEOUT) and was killed; console tail above (${CONSOLE#"$TOP"/})"
elif [ $rc != 0 ]; then
	tail_log "$XD/qemu.out" 20
	tail_log "$CONSOLE" 40
	fail boot "QEMU exited with status $rc (${XD#"$TOP"/}/qemu.cmd, qemu.out)"
elif [ -n "$panic" ]; then
	tail_log "$CONSOLE" 60
	fail boot "the kernel panicked${splat:+ after a splat (panic_on_warn=1 turns a WARN into a panic): $splat;} $panic; console tail above"
elif ! grep -q '^harness-guest: end' "$CONSOLE"; then
	tail_log "$CONSOLE" 40
	if grep -q '^harness-guest: begin' "$CONSOLE"; then
		fail boot "the guest tests did not finish (no 'harness-guest: end'); console tail above"
	else
		fail boot "the kernel did not reach /init; console tail above"
	fi
else
	pass boot "guest finished, QEMU ended in $secs s"
	booted=1
fi

if ! grep -q '^harness-guest: begin' "$CONSOLE"; then
	finish
	exit
fi

# --- the guest's KTAP -> x86_ats:<test> lines ---------------------------------------
if ! why=$(python3 "$TOP/scripts/console.py" cut "$CONSOLE" "harness-guest: begin" "harness-guest: end" \
	"$XD/guest-ktap.log" --what "the guest's KTAP" --ktap); then
	fail ktap "$why (${CONSOLE#"$TOP"/})"
fi
sed -n '/^x86-ats: kernel log begin/,/^x86-ats: kernel log end/p' "$CONSOLE" >"$XD/kernel-log.txt"
planned=$(sed -n 's/^    1\.\.\([0-9]*\)$/\1/p' "$XD/guest-ktap.log" | head -1)
seen=0
while read -r line; do
	case $line in
	"ok "*" # SKIP "*)
		name=${line#ok * } name=${name%% \# SKIP*}
		skip "$name" "${line#* \# SKIP }" ;;
	"ok "*)
		name=${line#ok * }
		pass "$name" ;;
	"not ok "*)
		name=${line#not ok * }
		why=$(grep -F "# $name: " "$XD/guest-ktap.log" | head -1 | sed "s/^ *# $name: //")
		fail "$name" "${why:-no detail printed}" ;;
	*) continue ;;
	esac
	seen=$((seen + 1))
done < <(grep -E '^    (not )?ok [0-9]+ ' "$XD/guest-ktap.log" | sed 's/^    //')
if [ -n "$planned" ] && [ "$seen" = "$planned" ]; then
	pass guest_tests_complete
else
	fail guest_tests_complete "the guest planned ${planned:-no} tests and reported $seen (${XD#"$TOP"/}/guest-ktap.log)"
fi
grep '^x86-ats: ats_ctrl ' "$CONSOLE" | awk '{ s = s " " $3 "=" $4 } END { if (s != "") print "  ATS Control:" s }' |
	tee "$XD/ats-control.txt"
if [ -s "$XD/kernel-log.txt" ]; then
	warn "suspicious kernel log lines (full log: ${XD#"$TOP"/}/kernel-log.txt):"
	grep -E 'WARNING:|cut here|BUG:|Oops|DMAR' "$XD/kernel-log.txt" | head -20 >&2 || true
fi

# --- QEMU's trace: device-TLB invalidation descriptors for the disk's SID ----------------
# vtd_inv_desc prints every descriptor ("type device high 0x... low 0x..."): a
# device-TLB invalidation carries the requester ID in bits 47:32 of its low
# word. The guest's markers (pci_cfg_write of the host bridge's 0x3c, see
# guest/x86-ats.c) bound the identity-domain windows: ATS off, so none there.
sid=$(sed -n 's/^x86-ats: sid \(0x[0-9a-f]*\) .*/\1/p' "$CONSOLE" | head -1)
nmarks=$(grep -c '^x86-ats: mark [0-9]* c' "$CONSOLE" || true)
if [ -z "$sid" ]; then
	fail device_tlb_invalidations "the guest did not report the disk's requester ID"
else
	read -r ndev nsid nwin nid < <(python3 - "$TRACE" "$sid" <<'EOF'
import re, sys
sid = int(sys.argv[2], 16)
ndev = nsid = nid = mark = 0
desc = re.compile(r'^vtd_inv_desc .*type (\S+) high 0x([0-9a-f]+) low 0x([0-9a-f]+)')
cfg = re.compile(r'^pci_cfg_write \S+ 00:00\.0 @0x3c <- (0x[0-9a-f]+)')
windows = set()
with open(sys.argv[1], errors="replace") as fh:
    for line in fh:
        m = cfg.match(line)
        if m:
            mark = int(m.group(1), 16)
            if mark % 2:
                windows.add(mark)
            continue
        m = desc.match(line)
        if not m or m.group(1) != "device":
            continue
        ndev += 1
        if (int(m.group(3), 16) >> 32) & 0xffff == sid:
            nsid += 1
            if mark % 2:
                nid += 1
print(ndev, nsid, len(windows), nid)
EOF
	)
	echo "device-TLB invalidation descriptors: $nsid for SID $sid ($nid in the $nwin identity-domain windows), $ndev in all" \
		>"$XD/invalidations.txt"
	if [ "$nsid" -gt 0 ]; then
		pass device_tlb_invalidations "$nsid descriptors for SID $sid ($ndev in all)"
	else
		fail device_tlb_invalidations "QEMU's trace has no device-TLB invalidation descriptor for SID $sid ($ndev for any SID; ${TRACE#"$TOP"/})"
	fi
	# Every window the guest announced must be in the trace, and empty.
	if [ "$nwin" = 0 ] || [ "$nwin" != "$((nmarks / 2))" ]; then
		fail no_device_tlb_invalidations_without_ats "the trace has $nwin identity-domain windows, the console announced $((nmarks / 2)) (markers: pci_cfg_write of 00:00.0 @0x3c)"
	elif [ "$nid" != 0 ]; then
		fail no_device_tlb_invalidations_without_ats "$nid device-TLB invalidations for SID $sid while the disk was in an identity domain (ATS Control 0)"
	else
		pass no_device_tlb_invalidations_without_ats "0 in $nwin identity-domain windows (bind + 8 MiB read each)"
	fi
fi
# A guest test failed after a good boot: show the console tail too.
if [ $booted = 1 ] && grep -q '^FAIL' <(tail -n +"$((nlines + 1))" "$RESULTS"); then
	tail_log "$CONSOLE" 25
fi
finish
