#!/usr/bin/env bash
# kmod.sh OUT: build guest/kmod (ats_testdev_dma.ko, a DMA API test driver for
# QEMU's ats-testdev: guest/atc.c's atc_dev_identity_switch_warm) against the
# arm64 kernel built in OUT (an O= directory with CONFIG_MODULES=y), in
# OUT/../kmod-<name of OUT>. Rebuilt when the sources or the kernel change
# (kbuild decides). Prints the module's path on the last line of stdout.
# Without Module.symvers (a kernel built with "make Image" only) modpost
# cannot see the kernel's exports: KBUILD_MODPOST_WARN=1 keeps its
# "undefined" lines warnings, and the kernel resolves the symbols when it
# loads the module (no MODVERSIONS in the harness's configurations).
. "$(dirname "$0")/lib.sh"

OUT=${1:?usage: scripts/kmod.sh OUT}
OUT=$(cd "$OUT" 2>/dev/null && pwd) || die "no kernel build directory at $1"
[ -f "$OUT/.config" ] || die "no .config in ${OUT#"$TOP"/}" "build that kernel first"
grep -qx 'CONFIG_MODULES=y' "$OUT/.config" ||
	die "the kernel in ${OUT#"$TOP"/} has no CONFIG_MODULES: ats_testdev_dma.ko cannot load there"
[ -f "$OUT/include/generated/utsrelease.h" ] || die "${OUT#"$TOP"/} is not a built kernel" "build it first"
M=$(dirname "$OUT")/kmod-$(basename "$OUT")
mkdir -p "$M"
# copied only when changed, so that kbuild sees unchanged sources as such
for f in "$TOP"/guest/kmod/*; do
	cmp -s "$f" "$M/$(basename "$f")" || cp "$f" "$M/"
done
log=$M/build.log
# the arguments scripts/kernel.sh builds with (W=1, the diagnostics wrapper):
# other ones would make kbuild rebuild the kernel's objects next time
diag_wrapper "${CROSS}gcc"
args=(ARCH=arm64 CROSS_COMPILE="$CROSS" W=1 CC="$WRAP")
# modules_prepare: what external modules need of the kernel's build (its
# module linker script), quick once the kernel is built
if ! { make -C "$OUT" "${args[@]}" modules_prepare &&
	make -C "$OUT" M="$M" "${args[@]}" KBUILD_MODPOST_WARN=1 modules; } >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "ats_testdev_dma.ko does not build against ${OUT#"$TOP"/}" "see ${log#"$TOP"/}"
fi
# warnings other than modpost's unresolved symbols are errors of the module
if grep -E 'warning:|error:' "$log" | grep -v 'modpost: ".*" \[.*\] undefined!' | grep -q .; then
	grep -E 'warning:|error:' "$log" | grep -v 'modpost: ".*" \[.*\] undefined!' >&2
	die "ats_testdev_dma.ko builds with warnings" "see ${log#"$TOP"/}"
fi
echo "$M/ats_testdev_dma.ko"
