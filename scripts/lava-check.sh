#!/usr/bin/env bash
# make lava-check: run make lava's jobs with LAVA's own dispatcher (lava-run,
# lava-dispatcher 2023.01) and check that LAVA records what the harness sees.
# As root (lava-run refuses otherwise). For each SMMU configuration s1, s2,
# nested and ats (the QEMU of qemu/patches), one at a time:
#   lava_<smmu>:job_schema      the job passes lava_common's job schema (strict)
#   lava_<smmu>:lava_run        lava-run exits 0 and its job result is pass
#   lava_<smmu>:results_match   the cases LAVA recorded match, case by case and
#                               with the reasons of fails and skips, the KTAP the
#                               guest printed in the LAVA boot and the last make
#                               check's guest results (its guest-ktap.log and
#                               guest.json of that SMMU)
#   lava_<smmu>:smmu_*          QEMU's SMMU trace of the LAVA boot through
#                               scripts/smmu-trace.py, as make check's boots
# Then the server job (jobs/server.yaml: tftp deploy, grub boot, the guest
# tests' server mode), rendered device dictionaries from lava-server 2023.01's
# own device-type templates (fetched, not installed):
#   lava_server:job_schema      as above
#   lava_server:lab_device_type lava-run --validate of the job against the
#                               job's device type (base-grub family) as
#                               lava-server renders it: the pipeline a lab
#                               builds (SKIP if 2023.01 has no such type)
#   lava_server:lava_run        the job end to end on QEMU's virt machine with
#                               UEFI firmware (devices/qemu-uefi-server.jinja2
#                               on base-grub.jinja2, scripts/lava-server-qemu.sh):
#                               PXE, Debian's network GRUB, LAVA's grub
#                               commands load the server kernel and ramdisk
#                               over TFTP, ACPI boot with an IORT SMMUv3
#   lava_server:results_match   LAVA's cases versus the KTAP of that boot
#   lava_server:guest_results   all 10 cases of guest_server recorded, none
#                               failed (the ATS section ran with kprobe events)
#   lava_server:smmu_*          QEMU's SMMU trace of that boot
# Installs lava-dispatcher (and tftpd-hpa, for the TFTP directory LAVA
# deploys to) with apt first if they are missing.
# Writes build/logs/lava/: results (one PASS/FAIL/SKIP line a check), and per
# job <smmu>/ or server/ (lava-run's output dir: lava-run.log, its stderr,
# result.yaml; trace.log, console.txt, compare.txt, smmu.results).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "make lava-check must run as root" \
	"lava-run refuses to run otherwise (and lava-dispatcher may need installing): sudo make lava-check"
LV=$LOGS/lava
L=$BUILD/lava
mkdir -p "$LV"

if ! command -v lava-run >/dev/null || ! command -v in.tftpd >/dev/null ||
	[ ! -f /etc/default/tftpd-hpa ]; then
	info "installing lava-dispatcher and tftpd-hpa with apt (about 2 minutes the first time)"
	run_logged "$LV/apt.log" apt-get update
	run_logged "$LV/apt-install.log" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends lava-dispatcher lava-common cpio tftpd-hpa
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
# job_schema JOB OUT P: lava_common's job schema, strict
job_schema() {
	if /usr/bin/python3 - "$1" >"$2/validate.txt" 2>&1 <<'EOF'; then
import sys, yaml, voluptuous
from lava_common.schemas import validate
try:
    validate(yaml.safe_load(open(sys.argv[1])), strict=True, extra_context_variables=[])
except voluptuous.Invalid as e:
    sys.exit(f"invalid at {e.path}: {e.msg}")
EOF
		result "PASS $3:job_schema"
	else
		result "FAIL $3:job_schema: lava_common's job schema rejects ${1#"$TOP"/}: $(tail -n 1 "$2/validate.txt")"
	fi
}

# smmu_trace OUT P SMMU: QEMU's SMMU trace of a LAVA boot through make check's
# own trace checks; s2 and nested against the commands of this run's s1 boot
smmu_trace() {
	local out=$1 p=$2 smmu=$3 same=() l
	if [ -s "$out/trace.log" ]; then
		/usr/bin/python3 "$TOP/scripts/lava-console.py" "$out/lava-run.log" >"$out/console.txt"
		# (the ATS SMMU issues ATC invalidations the others do not)
		[ "$smmu" != s1 ] && [ "$smmu" != ats ] && [ -f "$LV/s1/smmu-commands.json" ] &&
			same=(--same-as "$LV/s1/smmu-commands.json")
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
}

# lava_run JOB DEVICE DISPATCHER OUT P: lava-run, its exit status and job result
lava_run() {
	local rc=0 start=$SECONDS jr
	# lava-run's version check runs qemu-system-aarch64 --version from PATH (the
	# device names the pinned binary by its path): the pinned QEMU first
	env PATH="$BUILD/qemu10/root/usr/bin:$PATH" lava-run --job-id "$(date +%s)" \
		--output-dir "$4" --device "$2" --dispatcher "$3" \
		"$1" >"$4/lava-run.out" 2>"$4/lava-run.log" || rc=$?
	# result.yaml holds the job's own result: case: job, definition: lava, result: pass|fail
	jr=$(sed -n 's/^result: *//p' "$4/result.yaml" 2>/dev/null | head -n 1)
	if [ "$rc" = 0 ] && [ "$jr" = pass ]; then
		result "PASS $5:lava_run ($((SECONDS - start)) s)"
	else
		result "FAIL $5:lava_run: lava-run exit $rc, job result '${jr:-none}' (${4#"$TOP"/}/lava-run.log)"
		tail_log "$4/lava-run.log" 20
	fi
}

C=$LOGS/check
# LAVA_TARGETS (as for make lava): the QEMU jobs, the server job or both
TARGETS=${LAVA_TARGETS:-qemu server}
smmus="s1 s2 nested ats"
case " $TARGETS " in *" qemu "*) ;; *) smmus= ;; esac
for smmu in $smmus; do
	job=$L/jobs/qemu-$smmu.yaml
	out=$LV/$smmu
	p=lava_$smmu
	info "LAVA job ${job#"$TOP"/} (SMMU $smmu)"
	rm -rf "$out"
	mkdir -p "$out"

	job_schema "$job" "$out" "$p"
	lava_run "$job" "$L/devices/qemu-$smmu.yaml" "$L/dispatcher.yaml" "$out" "$p"

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

	smmu_trace "$out" "$p" "$smmu"
done

# --- The server job --------------------------------------------------------------
server_job() {
job=$L/jobs/server.yaml
out=$LV/server
p=lava_server
info "LAVA job ${job#"$TOP"/} (an arm64 server: QEMU's virt machine with UEFI firmware)"
"$TOP/scripts/lava-server-qemu.sh" off	# one left by an interrupted run
rm -rf "$out"
mkdir -p "$out"
job_schema "$job" "$out" "$p"
# lava-server's device-type templates (its package unpacked, not installed)
T=$BUILD/lava/lava-server/usr/share/lava-server/device-types
if [ ! -f "$T/base-grub.jinja2" ]; then
	info "fetching lava-server's device-type templates (lava-server, unpacked into build/lava/lava-server)"
	# the templates of lava-dispatcher's own version
	arm64_deb "lava-server=$(dpkg-query -W -f '${Version}' lava-dispatcher)" "$BUILD/lava/lava-server"
	[ -f "$T/base-grub.jinja2" ] || die "lava-server's package has no device-types/base-grub.jinja2" "see build/logs/arm64-apt.log"
fi
dtype=$(sed -n 's/^device_type: *//p' "$job")
if [ -f "$T/$dtype.jinja2" ]; then
	# The lab's device: its type's template, with placeholder commands
	cat >"$out/lab-device.jinja2" <<EOF
{% extends '$dtype.jinja2' %}
{% set connection_command = '/bin/true' %}
{% set hard_reset_command = '/bin/true' %}
{% set power_off_command = '/bin/true' %}
EOF
	if /usr/bin/python3 "$TOP/scripts/lava-render.py" --templates "$out" --templates "$T" \
		--job "$job" lab-device "$out/lab-device.yaml" >"$out/lab-render.txt" 2>&1 &&
		lava-run --validate --job-id "$(date +%s)" --output-dir "$out/lab-validate" \
			--device "$out/lab-device.yaml" --dispatcher "$L/dispatcher-server.yaml" "$job" \
			>"$out/lab-validate.log" 2>&1; then
		result "PASS $p:lab_device_type ($dtype: the job's pipeline validates)"
	else
		result "FAIL $p:lab_device_type: $dtype: $(tail -n 1 "$out/lab-render.txt" "$out/lab-validate.log" 2>/dev/null | grep -v '^==>\|^$' | tail -n 1) (${out#"$TOP"/}/lab-validate.log)"
	fi
else
	result "SKIP $p:lab_device_type: lava-server 2023.01 has no device type '$dtype' (a lab's own type: validated by the lab on submission)"
fi
if /usr/bin/python3 "$TOP/scripts/lava-render.py" --templates "$L/devices" --templates "$T" \
	--job "$job" qemu-uefi-server "$L/devices/qemu-uefi-server.yaml" >"$out/render.txt" 2>&1; then
	lava_run "$job" "$L/devices/qemu-uefi-server.yaml" "$L/dispatcher-server.yaml" "$out" "$p"
else
	result "FAIL $p:lava_run: devices/qemu-uefi-server.jinja2 did not render: $(tail -n 1 "$out/render.txt")"
fi
"$TOP/scripts/lava-server-qemu.sh" off
if /usr/bin/python3 "$TOP/scripts/lava-compare.py" "$out/lava-run.log" --definition 0_guest_server \
	--ktap-in-lava-log >"$out/compare.txt" 2>&1; then
	result "PASS $p:results_match ($(sed -n "s/^lava (0_guest_server): //p" "$out/compare.txt"))"
else
	result "FAIL $p:results_match: $(tail -n 1 "$out/compare.txt") (${out#"$TOP"/}/compare.txt)"
fi
# Every case of guest_server recorded, none failed; the ATS section's counts
# came from kprobe events (the server kernel has them)
req=()
for c in smmuv3_probed pci_devices_in_dma_domains kunit_suites_passed ats_functions \
	ats_enabled_on_attach ats_disabled_on_detach atc_inv_on_unmap ats_dma_checksums \
	ats_no_smmu_events kernel_log_clean; do
	req+=(--require "$c")
done
if /usr/bin/python3 "$TOP/scripts/lava-compare.py" "$out/lava-run.log" --definition 0_guest_server \
	"${req[@]}" --forbid "ATS: no driver call counts" >"$out/guest-results.txt" 2>&1; then
	result "PASS $p:guest_results ($(sed -n "s/^lava (0_guest_server): //p" "$out/guest-results.txt"))"
else
	result "FAIL $p:guest_results: $(tail -n 1 "$out/guest-results.txt")"
fi
smmu_trace "$out" "$p" s1
}
case " $TARGETS " in *" server "*) server_job ;; esac

pass=$(grep -c '^PASS' "$R" || true)
fail=$(grep -c '^FAIL' "$R" || true)
skip=$(grep -c '^SKIP' "$R" || true)
echo "lava-check: $pass passed, $fail failed, $skip skipped"
echo "logs: ${LV#"$TOP"/}/ (results, <smmu>/lava-run.log, compare.txt, smmu.results)"
[ "$fail" = 0 ]
