#!/usr/bin/env bash
# run.sh: one lava-run of the prototype job, then compare.py against the harness.
#   wip/lava-proto/run.sh                  SMMU s1: build the initramfs, render device + job,
#                                          lava-run, compare with the last make check's s1 boot
#   SMMU=s2|nested wip/lava-proto/run.sh   the other SMMU configurations (scripts/lib.sh)
#   NEG=1 wip/lava-proto/run.sh            a deliberately failing boot (no edu device, a wrong
#                                          features word): fail, skip and reasons through LAVA;
#                                          compared only with the KTAP the guest printed in it
#   VALIDATE=1 ...                         lava-run --validate only
#   SKIP_INITRAMFS=1 ...                   reuse $W/initramfs-lava.cpio
# As root (lava-run refuses otherwise). Work dir W=/tmp/lava-proto: inputs/ (copies of the
# kernel Image and disks), run-<name>/ (lava-run's output dir, its stderr log lava-run.log,
# QEMU's SMMU trace), the rendered device-<name>.yaml and job-<name>.yaml.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
W=${W:-/tmp/lava-proto}
SMMU=${SMMU:-s1}
NEG=${NEG:-}
JOB_ID=${JOB_ID:-$(date +%s)}
[ "$(id -u)" = 0 ] || { echo "run.sh: lava-run must run as root" >&2; exit 1; }
command -v lava-run >/dev/null ||
	{ echo "run.sh: apt-get install -y --no-install-recommends lava-dispatcher lava-common cpio" >&2; exit 1; }

# scripts/lib.sh's smmu_machine and smmu_features, and the guest's suite name (guest/init.c)
case $SMMU in
# KUnit runs in the s1 boot only (make check passes kunit.enable=0 to the others)
s1) machine="-machine virt-9.1,iommu=smmuv3" features=0x00008305 suite=guest kargs= ;;
s2) machine="-machine virt-9.1,iommu=smmuv3 -global arm-smmuv3.stage=2" features=0x00008505
	suite=guest_smmu_s2 kargs=kunit.enable=0 ;;
nested) machine="-machine virt-10.0,iommu=smmuv3" features=0x00088705 suite=guest_smmu_nested
	kargs=kunit.enable=0 ;;
*) echo "run.sh: SMMU=s1, s2 or nested" >&2; exit 1 ;;
esac
name=$SMMU
edu_sed=()
if [ -n "$NEG" ]; then
	name=$SMMU-neg
	features=0x00000000          # smmuv3_probed fails
	edu_sed=(-e '/@EDU@/d')      # edu_bound_to_vfio_pci fails, the 5 VFIO/edu cases skip
fi

# Inputs, copied so that a concurrent make check relinking build/out cannot change them mid-run
mkdir -p "$W/inputs"
IMAGE=${IMAGE:-$TOP/build/out/arch/arm64/boot/Image}
cp "$IMAGE" "$W/inputs/Image"
for d in virtio nvme; do
	cp "$TOP/build/qemu/$d.img" "$TOP/build/qemu/$d.img.sha256" "$W/inputs/"
done
[ -n "${SKIP_INITRAMFS:-}" ] || W=$W "$HERE/build-initramfs.sh" >/dev/null

OUT=$W/run-$name
sed -e "s|@W@|$W|g" -e "s|/run/trace.log|/run-$name/trace.log|" -e "s|@MACHINE@|$machine|" \
	"${edu_sed[@]}" "$HERE/device.yaml.in" >"$W/device-$name.yaml"
sed -e "s|@W@|$W|g" -e "s|@SMMU@|$SMMU|g" -e "s|@FEATURES@|$features|g" -e "s|@SUITE@|$suite|g" -e "s| @KARGS@|${kargs:+ $kargs}|" \
	-e "s|@SHA_VDA@|$(cat "$W/inputs/virtio.img.sha256")|" \
	-e "s|@SHA_NVME@|$(cat "$W/inputs/nvme.img.sha256")|" "$HERE/job.yaml.in" >"$W/job-$name.yaml"

rm -rf "$OUT"
mkdir -p "$OUT"
args=(--job-id "$JOB_ID" --output-dir "$OUT" --device "$W/device-$name.yaml"
	--dispatcher "$HERE/dispatcher.yaml")
[ -n "${VALIDATE:-}" ] && args+=(--validate)
# PATH: LAVA's version check runs qemu-system-aarch64 --version (context arch: aarch64,
# no dpkg qemu-system-arm); the device YAML names the binary by its absolute path anyway.
start=$(date +%s.%N)
rc=0
env PATH="$TOP/build/qemu10/root/usr/bin:$PATH" lava-run "${args[@]}" "$W/job-$name.yaml" \
	2>"$OUT/lava-run.log" || rc=$?
end=$(date +%s.%N)
printf 'lava-run (%s, job %s): exit %s in %.1f s; log %s\n' "$name" "$JOB_ID" "$rc" \
	"$(echo "$end - $start" | bc)" "$OUT/lava-run.log"
sed 's/^/  result.yaml: /' "$OUT/result.yaml" 2>/dev/null || true
[ -n "${VALIDATE:-}" ] && exit $rc
# --validate leaves its job dir behind (no cleanup action ran)
cmp=(--definition "0_$suite" --ktap-in-lava-log)
if [ -z "$NEG" ]; then
	# Reference: the harness's last make check (REF_KTAP / REF_JSON override)
	C=$TOP/build/logs/check
	case $SMMU in
	s1) dk=$C/boot1/guest-ktap.log dj=$C/guest.json ;;
	*) dk=$C/$SMMU/boot1/guest-ktap.log dj=$C/$SMMU-guest.json ;;
	esac
	REF_KTAP=${REF_KTAP:-$dk} REF_JSON=${REF_JSON:-$dj}
	[ -f "$REF_KTAP" ] && cmp+=(--ktap "$REF_KTAP")
	[ -f "$REF_JSON" ] && cmp+=(--json "$REF_JSON")
fi
/usr/bin/python3 "$HERE/compare.py" "$OUT/lava-run.log" "${cmp[@]}" ${COMPARE_ARGS:-} || rc=1
# QEMU's SMMU trace of the LAVA boot through the harness's own checks (make check's step 5),
# the console taken from LAVA's log; s2/nested against the s1 LAVA boot's commands if there
if [ -z "$NEG" ]; then
	/usr/bin/python3 "$HERE/lava-console.py" "$OUT/lava-run.log" >"$OUT/console.txt"
	same=()
	[ "$SMMU" != s1 ] && [ -f "$W/run-s1/smmu-commands.json" ] && same=(--same-as "$W/run-s1/smmu-commands.json")
	rm -f "$OUT/smmu.results"
	/usr/bin/python3 "$TOP/scripts/smmu-trace.py" "$OUT/trace.log" "$OUT/console.txt" \
		--results "$OUT/smmu.results" --json "$OUT/smmu-commands.json" --smmu "$SMMU" "${same[@]}" || rc=1
	sed 's/^/smmu trace: /' "$OUT/smmu.results"
fi
exit $rc
