#!/usr/bin/env bash
# make check: build the boot kernel (KUnit suites built in), check the series'
# hygiene, boot under QEMU (virt, SMMUv3, virtio-blk, NVMe, edu), parse the
# KUnit and guest KTAP with kunit.py, check QEMU's SMMUv3 trace, and end with
# "check: N passed, M failed, K skipped". Exit status 1 on any failure.
. "$(dirname "$0")/lib.sh"

select_variant
C=$VLOGS/check
rm -rf "$C"
mkdir -p "$C"
export RESULTS=$C/host.results
: >"$RESULTS"
t0=$SECONDS
current=start
step() {
	current=$*
	info "[$((SECONDS - t0))s] $*"
}
# A step that dies (build error, boot failure, timeout) has printed why; say
# where make check stopped, so the last line is never a bare exit code.
trap 'rc=$?; [ $rc = 0 ] || echo "check: aborted in step \"$current\" (exit $rc): see the error above; logs in ${C#"$TOP"/}/" >&2' EXIT

step "kernel"
image=$("$TOP/scripts/kernel.sh" | tee /dev/stderr | tail -n 1)

if [ "$VARIANT" = main ]; then
	step "series hygiene"
	"$TOP/scripts/hygiene.sh"
	# hygiene may rebuild touched objects with W=1: relink the tested Image
	"$TOP/scripts/kernel.sh" >/dev/null
else
	info "series hygiene applies to the series only (variant $VARIANT): not run"
fi

step "guest programs and initramfs"
"$TOP/scripts/guest.sh"

step "boot under QEMU (timeout ${BOOT_TIMEOUT:-600} s)"
QDIR=$C "$TOP/scripts/boot.sh" check "$image"
ok "guest finished in $(cat "$C/boot.seconds") s"

step "parse KTAP"
# Kernel part (KUnit at boot) and guest part (between the markers).
sed '/^harness-guest: begin/,$d' "$C/console.log" >"$C/kernel-ktap.log"
sed -n '/^harness-guest: begin/,/^harness-guest: end/p' "$C/console.log" |
	sed '1d;$d' >"$C/guest-ktap.log"
kunit="$SRC/tools/testing/kunit/kunit.py"
for part in kernel guest; do
	if python3 "$kunit" parse --json="$C/$part.json" "$C/$part-ktap.log" \
		>"$C/$part-parse.log" 2>&1; then
		echo "PASS ktap_parse_$part" >>"$RESULTS"
	else
		echo "FAIL ktap_parse_$part: kunit.py parse reports failures or malformed KTAP (${C#"$TOP"/}/$part-parse.log)" >>"$RESULTS"
		tail -n 30 "$C/$part-parse.log" >&2
	fi
	[ -s "$C/$part.json" ] || echo '{}' >"$C/$part.json"
	grep -E 'Testing complete|Ran [0-9]+ tests' "$C/$part-parse.log" | sed "s/^/  $part: /" || true
done

step "SMMU trace"
python3 "$TOP/scripts/smmu-trace.py" "$C/trace.log" "$C/console.log" \
	--results "$RESULTS" --json "$C/smmu-commands.json" --summary >"$C/smmu-summary.txt" || true
sed 's/^/  /' "$C/smmu-summary.txt" | head -5

step "done"
trap - EXIT
if ! python3 "$TOP/scripts/results.py" "$C" "$TOP/configs/expected-suites" | tee "$C/summary.txt"; then
	echo "logs: ${C#"$TOP"/}/ (console.log, trace.log, *-parse.log, host.results)"
	exit 1
fi
