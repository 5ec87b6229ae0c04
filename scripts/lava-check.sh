#!/usr/bin/env bash
# make lava-check: run make lava's jobs with LAVA's own dispatcher (lava-run,
# lava-dispatcher 2023.01) and check that LAVA records what the harness sees.
# As root (lava-run refuses otherwise). For each SMMU configuration s1, s2,
# nested, one at a time:
#   lava_<smmu>:job_schema      the job passes lava_common's job schema (strict)
#   lava_<smmu>:lava_run        lava-run exits 0 and its job result is pass
#   lava_<smmu>:results_match   the cases LAVA recorded match, case by case and
#                               with the reasons of fails and skips, the KTAP the
#                               guest printed in the LAVA boot and the last make
#                               check's guest results (its guest-ktap.log and
#                               guest.json of that SMMU)
#   lava_<smmu>:smmu_*          QEMU's SMMU trace of the LAVA boot through
#                               scripts/smmu-trace.py, as make check's boots
# Installs lava-dispatcher with apt first if lava-run is missing.
# Writes build/logs/lava/: results (one PASS/FAIL/SKIP line a check), and per
# SMMU <smmu>/ (lava-run's output dir: lava-run.log, its stderr, result.yaml;
# trace.log, console.txt, compare.txt, smmu.results).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "make lava-check must run as root" \
	"lava-run refuses to run otherwise (and lava-dispatcher may need installing): sudo make lava-check"
LV=$LOGS/lava
L=$BUILD/lava
mkdir -p "$LV"

if ! command -v lava-run >/dev/null; then
	info "installing lava-dispatcher with apt (lava-run; about 2 minutes the first time)"
	run_logged "$LV/apt.log" apt-get update
	run_logged "$LV/apt-install.log" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends lava-dispatcher lava-common cpio
	command -v lava-run >/dev/null || die "lava-dispatcher is installed but lava-run is not on PATH" \
		"see build/logs/lava/apt-install.log"
fi

# The jobs are always rendered afresh, with file:// URLs (LAVA_URL is for labs)
LAVA_URL='' "$TOP/scripts/lava.sh"

R=$LV/results
: >"$R"
# result LINE: one PASS/FAIL/SKIP line into the results, and on the terminal
result() {
	echo "$1" >>"$R"
	case $1 in
	PASS*) ok "${1#PASS }" ;;
	FAIL*) warn "${1#FAIL }" ;;
	*) echo "  ${1#SKIP }" ;;
	esac
}
C=$LOGS/check
for smmu in s1 s2 nested; do
	job=$L/jobs/qemu-$smmu.yaml
	out=$LV/$smmu
	p=lava_$smmu
	info "LAVA job ${job#"$TOP"/} (SMMU $smmu)"
	rm -rf "$out"
	mkdir -p "$out"

	if /usr/bin/python3 - "$job" >"$out/validate.txt" 2>&1 <<'EOF'; then
import sys, yaml, voluptuous
from lava_common.schemas import validate
try:
    validate(yaml.safe_load(open(sys.argv[1])), strict=True, extra_context_variables=[])
except voluptuous.Invalid as e:
    sys.exit(f"invalid at {e.path}: {e.msg}")
EOF
		result "PASS $p:job_schema"
	else
		result "FAIL $p:job_schema: lava_common's job schema rejects ${job#"$TOP"/}: $(tail -n 1 "$out/validate.txt")"
	fi

	# lava-run's version check runs qemu-system-aarch64 --version from PATH (the
	# device names the pinned binary by its path): the pinned QEMU first
	rc=0
	start=$SECONDS
	env PATH="$BUILD/qemu10/root/usr/bin:$PATH" lava-run --job-id "$(date +%s)" \
		--output-dir "$out" --device "$L/devices/qemu-$smmu.yaml" --dispatcher "$L/dispatcher.yaml" \
		"$job" >"$out/lava-run.out" 2>"$out/lava-run.log" || rc=$?
	# result.yaml holds the job's own result: case: job, definition: lava, result: pass|fail
	jr=$(sed -n 's/^result: *//p' "$out/result.yaml" 2>/dev/null | head -n 1)
	if [ "$rc" = 0 ] && [ "$jr" = pass ]; then
		result "PASS $p:lava_run ($((SECONDS - start)) s)"
	else
		result "FAIL $p:lava_run: lava-run exit $rc, job result '${jr:-none}' (${out#"$TOP"/}/lava-run.log)"
		tail_log "$out/lava-run.log" 20
	fi

	if [ "$smmu" = s1 ]; then
		ktap=$C/boot1/guest-ktap.log json=$C/guest.json suite=guest
	else
		ktap=$C/$smmu/boot1/guest-ktap.log json=$C/$smmu-guest.json suite=guest_smmu_$smmu
	fi
	if [ ! -f "$ktap" ] || [ ! -f "$json" ]; then
		result "FAIL $p:results_match: no guest results of a make check (${ktap#"$TOP"/}, ${json#"$TOP"/}): run make check first"
	elif /usr/bin/python3 "$TOP/scripts/lava-compare.py" "$out/lava-run.log" --definition "0_$suite" \
		--ktap-in-lava-log --ktap "$ktap" --json "$json" >"$out/compare.txt" 2>&1; then
		result "PASS $p:results_match ($(sed -n "s/^lava (0_$suite): //p" "$out/compare.txt"))"
	else
		result "FAIL $p:results_match: $(tail -n 1 "$out/compare.txt") (${out#"$TOP"/}/compare.txt)"
		tail_log "$out/compare.txt" 25
	fi

	# QEMU's SMMU trace of the LAVA boot through make check's own trace checks;
	# s2 and nested against the commands of this run's s1 boot
	if [ -s "$out/trace.log" ]; then
		/usr/bin/python3 "$TOP/scripts/lava-console.py" "$out/lava-run.log" >"$out/console.txt"
		same=()
		[ "$smmu" != s1 ] && [ -f "$LV/s1/smmu-commands.json" ] && same=(--same-as "$LV/s1/smmu-commands.json")
		/usr/bin/python3 "$TOP/scripts/smmu-trace.py" "$out/trace.log" "$out/console.txt" \
			--results "$out/smmu.results" --json "$out/smmu-commands.json" --smmu "$smmu" \
			"${same[@]}" >"$out/smmu-trace.out" 2>&1 || true
		if [ -s "$out/smmu.results" ]; then
			while IFS= read -r l; do
				result "$(sed -E "s/^(PASS|FAIL|SKIP) /\\1 $p:/" <<<"$l")"
			done <"$out/smmu.results"
		else
			result "FAIL $p:smmu_trace: scripts/smmu-trace.py wrote no results (${out#"$TOP"/}/smmu-trace.out)"
		fi
	else
		result "FAIL $p:smmu_trace: QEMU wrote no trace (${out#"$TOP"/}/trace.log): did the boot start? see lava-run.log"
	fi
done

pass=$(grep -c '^PASS' "$R" || true)
fail=$(grep -c '^FAIL' "$R" || true)
skip=$(grep -c '^SKIP' "$R" || true)
echo "lava-check: $pass passed, $fail failed, $skip skipped"
echo "logs: ${LV#"$TOP"/}/ (results, <smmu>/lava-run.log, compare.txt, smmu.results)"
[ "$fail" = 0 ]
