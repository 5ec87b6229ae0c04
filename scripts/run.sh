#!/usr/bin/env bash
# make run: build (if needed) and boot the patched kernel, and show what the
# SMMU is doing: its features, each PCI device's group and domain, DMA checks
# through the SMMU, the VFIO cycle, and the commands and events QEMU saw.
# SMMU=s2 or SMMU=nested picks another of QEMU's SMMU configurations (lib.sh).
. "$(dirname "$0")/lib.sh"

select_variant
smmu_machine "${SMMU:-s1}" >/dev/null
image=$("$TOP/scripts/kernel.sh" | tail -n 1)
"$TOP/scripts/guest.sh" >/dev/null
R=$VLOGS/run
mkdir -p "$R"
echo
printf '%s== %s kernel (%s) on QEMU %s, SMMU %s (%s) ==%s\n' \
	"$_bld" "$VARIANT" "$(git -C "$SRC" describe --always --tags 2>/dev/null)" \
	"$(. "$TOP/base/qemu.conf" && echo "$QEMU_VERSION")" "${SMMU:-s1}" "$(smmu_machine "${SMMU:-s1}")" "$_off"
QDIR=$R GUEST_ARGS="${GUEST_ARGS:-guest.vfio_cycles=50}" "$TOP/scripts/boot.sh" run "$image"
echo
python3 "$TOP/scripts/smmu-trace.py" "$R/trace.log" "$R/console.log" --summary
echo
echo "console: ${R#"$TOP"/}/console.log   trace: ${R#"$TOP"/}/trace.log"
