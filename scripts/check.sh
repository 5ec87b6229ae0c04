#!/usr/bin/env bash
# make check: build the boot kernel (KUnit suites built in), check the series'
# hygiene, boot under QEMU (virt, SMMUv3, virtio-blk, NVMe, edu), parse the
# KUnit and guest KTAP with kunit.py, check QEMU's SMMUv3 trace, boot an x86_64
# kernel with ATS live through Intel VT-d, run the short stress, and end with
# "check: N passed, M failed, K skipped". Exit status 1 on any failure.
# The configurations, the x86_ats step (then the mutants), make kunit and the
# short stress run as lanes beside the rest (see "lane" below); BUILD_NICE
# (default 10) is the niceness of every build.
. "$(dirname "$0")/lib.sh"
export BUILD_NICE=${BUILD_NICE:-10}

select_variant
thp_for_builds
C=$VLOGS/check
# Kernel log records the s1 boot's /init provokes while it writes its lines
# (guest.console_noise, guest/console.c; the console_lines_whole check)
CONSOLE_NOISE=${CONSOLE_NOISE:-2000}
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

# The table make check ends with: each phase's lane, start and seconds, and what
# ccache saw (compilations that hit / missed, from a ccache stats log per
# phase, so that phases running side by side count apart; a phase that compiled
# nothing and missed nothing was served from what earlier runs built). Also in
# check/phases.tsv.
PHASES=$C/phases.tsv
printf 'lane\tphase\tstart\tseconds\tccache hits\tccache misses\tcpu seconds\n' >"$PHASES"
mkdir -p "$C/ccache"
LANE=main ph_name='' ph_t=0 ph_n=0 ph_cpu=0 LANE_CPU=0
# cpu_ticks: the CPU time (user + system, in clock ticks) of this shell and of
# all its children that have ended: a phase's CPU is the difference across
# it. Lanes run side by side, so their wall seconds overlap; CPU seconds add
# up to what the run cost the machine.
# (CPU_PID: the lane's shell; cpu_ticks itself runs in a command substitution)
CLK_TCK=$(getconf CLK_TCK) CPU_PID=$BASHPID
cpu_ticks() {
	local stat
	read -r stat <"/proc/$CPU_PID/stat"
	# (the fields after the command name, which is in parentheses)
	# shellcheck disable=SC2086 # split into fields
	set -- ${stat##*) }
	echo $((${12} + ${13} + ${14} + ${15}))
}
# lane_cpu: sets LANE_CPU to this lane's CPU ticks so far. The main lane's
# shell also reaps the other lanes as they end (bash collects a background
# job when it ends, not at its wait), and their CPU then lands in its
# children's: each lane writes its own total to $C/<lane>.cpu as it ends,
# and the totals of the lanes already collected (no longer there for
# kill -0) are left out. A lane collected between the two reads below shows
# as a jump of its whole CPU: read again (the few milliseconds of the
# command substitutions themselves are tolerated).
declare -A lane_gone=()
lanes_gone_ticks=0
lane_cpu() {
	local t1 t2 name v n=0
	while :; do
		t1=$(cpu_ticks)
		if [ "$LANE" = main ]; then
			for name in "${lanes[@]}"; do
				[ -z "${lane_gone[$name]:-}" ] || continue
				kill -0 "${lane_pid[$name]}" 2>/dev/null && continue
				lane_gone[$name]=1
				read -r v 2>/dev/null <"$C/$name.cpu" || v=0
				lanes_gone_ticks=$((lanes_gone_ticks + v))
			done
		fi
		t2=$(cpu_ticks)
		n=$((n + 1))
		[ $((t2 - t1)) -gt 50 ] && [ $n -lt 10 ] || break
	done
	LANE_CPU=$((t2 - lanes_gone_ticks))
}
cpu0=$(cpu_ticks)
phase_end() {
	local h=0 m=0
	[ -n "$ph_name" ] || return 0
	if [ -f "$CCACHE_STATSLOG" ]; then
		h=$(grep -cxE '(direct|preprocessed)_cache_hit' "$CCACHE_STATSLOG" || true)
		m=$(grep -cx 'cache_miss' "$CCACHE_STATSLOG" || true)
	fi
	lane_cpu
	printf '%s\t%s\t%d\t%d\t%d\t%d\t%d\n' "$LANE" "$ph_name" $((ph_t - t0)) $((SECONDS - ph_t)) "$h" "$m" \
		$(((LANE_CPU - ph_cpu) / CLK_TCK)) >>"$PHASES"
	ph_name=''
	unset CCACHE_STATSLOG
}
phase() { # NAME: ends this lane's running phase, starts NAME
	phase_end
	lane_cpu
	ph_name=$1 ph_t=$SECONDS ph_n=$((ph_n + 1)) ph_cpu=$LANE_CPU
	export CCACHE_STATSLOG=$C/ccache/$LANE-$ph_n.log
	rm -f "$CCACHE_STATSLOG"
}
phase_table() {
	phase_end
	echo "make check phases (lanes run side by side; wall and CPU seconds; ccache hits/misses of the compilations; ${PHASES#"$TOP"/}):"
	{ head -n 1 "$PHASES"; tail -n +2 "$PHASES" | sort -t$'\t' -k3,3n; } | awk -F'\t' -v wall=$((SECONDS - t0)) \
		-v cpu=$((($(cpu_ticks) - cpu0) / CLK_TCK)) -v cores="$(nproc)" 'NR > 1 {
		c = $5 + $6 == 0 ? "no compilation" : ($6 == 0 ? "all " $5 " from ccache" : $5 " hit, " $6 " compiled")
		printf "  %-7s %-28s %5d s  at %5d s  cpu %5d s  %s\n", $1, $2, $4, $3, $7, c; t += $4 }
		END { printf "  %-36s %5d s  (wall clock %d s, CPU %d s on %d cores)\n", "sum of the phases", t, wall, cpu, cores }'
}

# lane NAME FUNCTION: run FUNCTION in the background beside the main lane,
# its output in $C/lane-NAME.log, its results in $C/NAME.results (joined to
# make check's in finish_lanes). Builds run at lower CPU priority than QEMU
# (BUILD_NICE, lib.sh), so a boot beside a build keeps its speed.
declare -A lane_pid=()
lanes=()
lane() {
	local name=$1 fn=$2
	: >"$C/$name.results"
	rm -f "$C/$name.cpu"
	(
		trap - EXIT
		LANE=$name ph_name='' RESULTS=$C/$name.results CPU_PID=$BASHPID
		"$fn"
		phase_end
		cpu_ticks >"$C/$name.cpu"
	) >"$C/lane-$name.log" 2>&1 &
	lane_pid[$name]=$!
	lanes+=("$name")
	info "[$((SECONDS - t0))s] lane $name runs beside the others (log: ${C#"$TOP"/}/lane-$name.log)"
}
# finish_lanes: wait for every lane; a lane that stopped without a verdict is a
# FAIL line with the tail of its log.
finish_lanes() {
	local name rc
	for name in "${lanes[@]}"; do
		rc=0
		wait "${lane_pid[$name]}" || rc=$?
		info "[$((SECONDS - t0))s] lane $name done (exit $rc)"
		grep -E '^  (operations|injected|checksum|SMMU:)|^stress|^x86-check:|^mutants: |^(WARNING|ERROR):|^  ok config:' \
			"$C/lane-$name.log" | sed 's/^/  /' || true
		if ! [ -s "$C/$name.results" ]; then
			tail -n 20 "$C/lane-$name.log" >&2
			echo "FAIL $name: the lane stopped (exit $rc) before any result (${C#"$TOP"/}/lane-$name.log)" >>"$C/$name.results"
		fi
		cat "$C/$name.results" >>"$RESULTS"
	done
}
# A step that dies (build error, boot failure, timeout) has printed why; say
# where make check stopped, so the last line is never a bare exit code; the
# lanes still running are stopped.
# shellcheck disable=SC2317 # called by the trap
kill_tree() { # PID: the process and all its descendants
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}
# shellcheck disable=SC2317
abort() {
	local rc=$1 name
	for name in "${lanes[@]}"; do
		kill_tree "${lane_pid[$name]}"
	done
	phase_table >&2
	echo "check: aborted in step \"$current\" (exit $rc): see the error above; logs in ${C#"$TOP"/}/" >&2
}
trap 'rc=$?; thp_restore; [ $rc = 0 ] || abort $rc' EXIT

# What the lanes share is made before they start: the pinned QEMU (lib.sh:
# fetched if missing; make deps does it), the disks the boots read
# (scripts/boot.sh), the guest programs and initramfs, and the base worktree
# that hygiene, config:clang and config:debian compare with.
qemu_aarch64
"$TOP/scripts/boot.sh" disks
phase "guest programs"
step "guest programs and initramfs"
"$TOP/scripts/guest.sh"
if [ "$VARIANT" = main ]; then
	if [ ! -e "$BUILD/base/linux/.git" ]; then
		git -C "$SRC" worktree prune
		git -C "$SRC" worktree add -q --detach "$BUILD/base/linux" base
	fi
	[ "$(git -C "$BUILD/base/linux" rev-parse HEAD)" = "$(git -C "$SRC" rev-parse 'base^{commit}')" ] ||
		git -C "$BUILD/base/linux" checkout -q --detach base
fi

# Four lanes run beside the main one from the start: the configurations, the
# x86_ats step (its own x86_64 kernel, then the mutants), make kunit and the
# short stress (its own debug kernel). Their kernels build while the main lane
# builds and checks; QEMU boots run beside builds, which yield the CPU to them
# (BUILD_NICE).

# The PCI ATS core live on x86_64 (scripts/x86-check.sh): an x86_64 kernel of
# the same tree booted on q35 with QEMU's Intel VT-d and an ATS-capable disk;
# its checks join this run's results as "x86_ats:" lines. CHECK_X86=0 skips it.
x86_lane() {
	phase "x86_ats"
	step "x86_64 kernel: PCI ATS live through Intel VT-d (make x86-check alone)"
	if X86_DIR=$C/x86 "$TOP/scripts/x86-check.sh"; then
		ok "x86_ats passed"
	else
		warn "x86_ats failed (logs in ${C#"$TOP"/}/x86/)"
	fi
}

# The tests can fail: each deliberate bug of tests/mutants/list, on top of
# the series, must make its case fail (scripts/mutants.sh, build/extra: a tree
# and build of their own, so they run beside the main lane, after the x86_ats
# step in its lane, or in a lane of their own when CHECK_X86=0).
# Their boots run at niceness MUTANTS_NICE (default 5; their builds at
# BUILD_NICE as every build): beside them the main lane's boots keep their
# speed. A fresh-clone run whose mutant boots ran at niceness 0 beside the
# nested boot saw its NVMe controller time out at probe (boot_retry).
mutants_phase() {
	phase "mutants"
	step "mutants (scripts/mutants.sh: tests/mutants/list)"
	nice -n "${MUTANTS_NICE:-5}" "$TOP/scripts/mutants.sh" >"$C/mutants.txt" 2>&1 || true
	if grep -qE '^(PASS|FAIL) mutant:' "$C/mutants.txt"; then
		grep -E '^(PASS|FAIL) mutant:|^SKIP mutants_uncommitted:' "$C/mutants.txt" >>"$RESULTS"
		grep -E '^mutants: ' "$C/mutants.txt" || true
	else
		tail -n 10 "$C/mutants.txt" >&2
		echo "FAIL mutants: no verdict ($(grep -m1 ERROR "$C/mutants.txt" | cut -c1-160); ${C#"$TOP"/}/mutants.txt)" >>"$RESULTS"
	fi
}
x86_mutants_lane() {
	x86_lane
	mutants_phase
}

# The short stress (scripts/stress.sh, make stress's test bounded for CI): the
# same debug kernel as make stress (KASAN costs 7% of its cold build, so no
# lighter one: README, make stress), CHECK_STRESS_SECS of attach/DMA/rebind
# stress under fault injection. Its checks join this run's results as
# "stress:" lines. CHECK_STRESS=0 skips it.
stress_lane() {
	local smmu srun pfx
	phase "short stress"
	step "short stress on the debug kernel, SMMU s1 ${CHECK_STRESS_SECS:-45} s, s2 and ats ${CHECK_STRESS_S2_SECS:-40} s each, two boots at a time (make stress for the long one)"
	if STRESS_KASAN=${CHECK_STRESS_KASAN:-1} STRESS_SECS=${CHECK_STRESS_SECS:-45} \
		STRESS_S2_SECS=${CHECK_STRESS_S2_SECS:-40} STRESS_SMMU="s1 s2 ats" STRESS_S2_KMEMLEAK=0 \
		STRESS_PARALLEL=${CHECK_STRESS_PARALLEL:-1} STRESS_MAX_BOOTS=2 \
		STRESS_DIR=$C/stress "$TOP/scripts/stress.sh" >"$C/stress.log" 2>&1; then
		ok "short stress passed"
	else
		warn "short stress failed:"
	fi
	grep -E '^  (operations|injected|checksum|SMMU:)|^stress' "$C/stress.log" || true
	# s1's lines are "stress:<name>", the others' "stress_<smmu>:<name>"
	for smmu in s1 s2 ats; do
		srun=$C/stress/run pfx=stress:
		[ $smmu = s1 ] || srun=$C/stress/run-$smmu pfx=stress_$smmu:
		if [ -s "$srun/host.results" ]; then
			sed -E "s/^(PASS|FAIL|SKIP) /\\1 $pfx/" "$srun/host.results" >>"$RESULTS"
		else
			tail -n 20 "$C/stress.log" >&2
			echo "FAIL ${pfx%:}: aborted before the boot (SMMU $smmu) was judged ($(grep -m1 '^stress: aborted' "$C/stress.log" || echo "see ${C#"$TOP"/}/stress.log"))" >>"$RESULTS"
		fi
	done
}

# Every configuration users build (scripts/configs.sh, make configs alone):
# minimal Kconfig sets, PCI_IOV or SVA off, IOMMUFD on, the driver and its
# suites as modules loaded in the guest, clang, Debian's arm64 configuration;
# one "config:<name>" line each. CHECK_CONFIGS=0 skips them.
configs_lane() {
	local n
	step "configurations (make configs alone)"
	# one phase each, so that the table shows what each costs
	for n in $("$TOP/scripts/configs.sh" --list); do
		phase "config:$n"
		CONFIGS_ONLY=$n "$TOP/scripts/configs.sh" ||
			warn "scripts/configs.sh stopped on config:$n (exit $?): see above"
	done
}

# config:no_sva and config:clang build the objects the series touches and their
# dependents, which the boot kernel's dependency lists name: they wait for this
# file, created once the main lane has built it (main_kernel_deps, lib.sh).
# (another variant's main lane builds its own kernel: they build build/out
# themselves)
MAIN_KERNEL_MARK=$C/boot-kernel.built
rm -f "$MAIN_KERNEL_MARK"
[ "$VARIANT" != main ] || export MAIN_KERNEL_MARK
if [ "${CHECK_CONFIGS:-1}" = 1 ]; then
	lane configs configs_lane
else
	echo "SKIP configs: CHECK_CONFIGS=0" >>"$RESULTS"
fi
if [ "${CHECK_MUTANTS:-1}" != 1 ]; then
	echo "SKIP mutants: CHECK_MUTANTS=0" >>"$RESULTS"
fi
if [ "${CHECK_X86:-1}" = 1 ]; then
	if [ "${CHECK_MUTANTS:-1}" = 1 ]; then
		lane x86 x86_mutants_lane
	else
		lane x86 x86_lane
	fi
else
	echo "SKIP x86_ats: CHECK_X86=0" >>"$RESULTS"
	[ "${CHECK_MUTANTS:-1}" != 1 ] || lane mutants mutants_phase
fi
# The README's fast loop, as a newcomer runs it (kunit.py with the pinned
# QEMU: a machine with no other arm64 QEMU is what CI and a fresh machine are),
# in a lane of its own from the start: its kernel shares no object with the
# others (kunit.py's configuration), so in a cold run it is 880 compilations
# that, at the end of the main lane, ran alone on the machine for 275 s.
kunit_lane() {
	phase "make kunit"
	step "make kunit (scripts/kunit.sh, build/kunit)"
	# (its QEMU run yields to the main lane's boots, as the mutants' do)
	if nice -n "${KUNIT_NICE:-5}" "$TOP/scripts/kunit.sh" >"$C/kunit.txt" 2>&1 &&
		grep -qE 'Testing complete\. Ran [0-9]+ tests: passed: [0-9]+(, skipped: [0-9]+)?$' "$C/kunit.txt"; then
		echo "PASS make_kunit ($(grep -oE 'Ran [0-9]+ tests: passed: [0-9]+.*' "$C/kunit.txt" | tail -1))" >>"$RESULTS"
	else
		tail -n 15 "$C/kunit.txt" >&2
		echo "FAIL make_kunit: $(grep -m1 -E 'ERROR|FAILED|Testing complete' "$C/kunit.txt" | cut -c1-200) (${C#"$TOP"/}/kunit.txt)" >>"$RESULTS"
	fi
}
lane kunit kunit_lane
if [ "${CHECK_STRESS:-1}" = 1 ]; then
	lane stress stress_lane
else
	echo "SKIP stress: CHECK_STRESS=0" >>"$RESULTS"
fi

phase "kernel"
step "kernel"
# (tee -a: a log file that stderr goes to is appended to, not truncated)
image=$("$TOP/scripts/kernel.sh" | tee -a /dev/stderr | tail -n 1)
touch "$MAIN_KERNEL_MARK"


if [ "$VARIANT" = main ]; then
	phase "series hygiene"
	step "series hygiene"
	"$TOP/scripts/hygiene.sh"
else
	info "series hygiene applies to the series only (variant $VARIANT): not run"
fi

# boot_once DIR SMMU: boot on QEMU's SMMU configuration SMMU (lib.sh), parse
# the KTAP, check the trace; results in DIR. KUnit runs in the s1 boot only
# (kunit.enable=0 elsewhere); the guest's suite is "guest" there and
# "guest_smmu_<SMMU>" in the others, which are compared with the s1 boot.
boot_once() {
	local d=$1 smmu=$2 part parts=guest kunit="$SRC/tools/testing/kunit/kunit.py"
	local args=${GUEST_ARGS:-} trace_args=(--smmu "$2") suite=guest_smmu_$2
	rm -rf "$d"
	mkdir -p "$d"
	: >"$d/host.results"
	if [ "$smmu" = s1 ]; then
		parts="kernel guest" suite=guest
		# the race of issue 33 provoked while /init writes (guest/console.c)
		args="guest.console_noise=$CONSOLE_NOISE $args"
	else
		args="kunit.enable=0 $args"
		# (the ATS SMMU issues ATC invalidations the others do not)
		[ "$smmu" = ats ] || trace_args+=(--same-as "$C/smmu-commands.json")
	fi
	step "boot under QEMU, SMMU $smmu: $(smmu_machine "$smmu") (timeout ${BOOT_TIMEOUT:-600} s)"
	if ! SMMU=$smmu QDIR=$d GUEST_ARGS="$args" "$TOP/scripts/boot.sh" check "$image"; then
		echo "  - the boot itself failed (see the error above)" >"$d/summary.txt"
		return 1
	fi
	ok "guest finished in $(cat "$d/boot.seconds") s"

	step "parse KTAP ($parts)"
	# Kernel part (KUnit at boot) and guest part (between the markers), from
	# the console as parsed (scripts/console.py: no printk prefixes)
	sed '/^harness-guest: begin$/,$d' "$d/console.txt" >"$d/kernel-ktap.log"
	# (what the cut found instead of KTAP, if so, goes to the suite's
	# "did not run" message: results.py reads <suite>-cut.txt)
	python3 "$TOP/scripts/console.py" cut "$d/console.txt" "harness-guest: begin" \
		"harness-guest: end" "$d/guest-ktap.log" --what "the guest's KTAP" --ktap >"$d/$suite-cut.txt" || true
	for part in $parts; do
		if python3 "$kunit" parse --json="$d/$part.json" "$d/$part-ktap.log" \
			>"$d/$part-parse.log" 2>&1; then
			echo "PASS ktap_parse_$part" >>"$d/host.results"
		else
			echo "FAIL ktap_parse_$part: kunit.py parse reports failures or malformed KTAP (${d#"$TOP"/}/$part-parse.log)" >>"$d/host.results"
			tail -n 30 "$d/$part-parse.log" >&2
		fi
		[ -s "$d/$part.json" ] || echo '{}' >"$d/$part.json"
		grep -E 'Testing complete|Ran [0-9]+ tests' "$d/$part-parse.log" | sed "s/^/  $part: /" || true
	done

	if [ "$smmu" = s1 ]; then
		if why=$(python3 "$TOP/scripts/console.py" noise "$d/console.txt"); then
			echo "PASS console_lines_whole ($why)" >>"$d/host.results"
		else
			echo "FAIL console_lines_whole: $why (${d#"$TOP"/}/console.txt)" >>"$d/host.results"
		fi
	fi

	step "SMMU trace ($smmu)"
	python3 "$TOP/scripts/smmu-trace.py" "$d/trace.log" "$d/console.txt" \
		--results "$d/host.results" --json "$d/smmu-commands.json" \
		"${trace_args[@]}" --summary >"$d/smmu-summary.txt" || true
	sed 's/^/  /' "$d/smmu-summary.txt" | head -5
	if [ "$smmu" = s1 ]; then
		python3 "$TOP/scripts/results.py" "$d" "$TOP/configs/expected-suites" "$OUT/.config" >"$d/summary.txt"
	else
		python3 "$TOP/scripts/results.py" "$d" <(echo "$suite") >"$d/summary.txt"
	fi
}

# boot_smmu SMMU DIR: boot_once with one retry, never silent: a first boot
# that fails and a second that passes is reported as a skipped "boot_retry"
# line with the first boot's failures, and its logs are kept (DIR/boot1/).
# Two failing boots fail make check. Results of a non-s1 boot are prefixed
# "smmu_<SMMU>:".
boot_smmu() {
	local smmu=$1 dir=$2 boot=1 pfx=
	[ "$smmu" = s1 ] || pfx=smmu_$smmu:
	if ! boot_once "$dir/boot1" "$smmu"; then
		warn "the first boot (SMMU $smmu) failed:"
		sed -n 's/^  - /    /p' "$dir/boot1/summary.txt" >&2
		info "booting once more to tell a flaky failure from a regression"
		boot=2
		if ! boot_once "$dir/boot2" "$smmu"; then
			echo "FAIL ${pfx}boot: two boots failed; the second: $(sed -n 's/^  - //p' "$dir/boot2/summary.txt" | tr '\n' ';' | cut -c1-300) (logs in ${dir#"$TOP"/}/boot1/ and boot2/)" >>"$RESULTS"
		else
			echo "SKIP ${pfx}boot_retry: the first boot failed ($(sed -n 's/^  - //p' "$dir/boot1/summary.txt" | tr '\n' ';' | cut -c1-300)), the second passed; logs in ${dir#"$TOP"/}/boot1/" >>"$RESULTS"
			warn "flaky: the first boot failed and the second passed (logs kept in ${dir#"$TOP"/}/boot1/)"
		fi
	fi
	[ -f "$dir/boot$boot/guest.json" ] ||
		die "the boot (SMMU $smmu) failed twice" "logs: ${dir#"$TOP"/}/boot1/ and boot2/"
	for f in "$dir/boot$boot"/*.json; do
		cp "$f" "$C/${pfx:+$smmu-}$(basename "$f")"
	done
	cp "$dir/boot$boot"/*-cut.txt "$C/" 2>/dev/null || true
	sed -E "s/^(PASS|FAIL|SKIP) /\1 $pfx/" "$dir/boot$boot/host.results" >>"$RESULTS"
	[ "$smmu" = s1 ] && for f in console.log console.txt trace.log; do ln -sf "boot$boot/$f" "$C/$f"; done
	return 0
}

# Three SMMUs (QEMU's virt machine, base/qemu.conf): stage 1 only (with the
# KUnit suites), stage 2 only, and stage 1 + stage 2 (nested), which must
# behave exactly as stage 1 does, down to the command counts.
# The console parser (scripts/console.py) on consoles made to race (issue 33)
if why=$(python3 "$TOP/scripts/console.py" selftest 2>&1); then
	echo "PASS console_parser_selftest ($why)" >>"$RESULTS"
else
	echo "FAIL console_parser_selftest: $(echo "$why" | tail -n 1)" >>"$RESULTS"
fi
phase "boot s1 (KUnit, guest)"
boot_smmu s1 "$C"
phase "boot s2"
boot_smmu s2 "$C/s2"
phase "boot nested"
boot_smmu nested "$C/nested"
# The fourth SMMU: stage 1 with ATS, on the QEMU built from qemu/patches
# (scripts/qemu-build.sh: rebuilt only when the queue or the pin changes),
# with ats-testdev, a device with an ATC (guest/atc.c)
phase "QEMU with the ATS patches"
step "QEMU with the ATS patches (scripts/qemu-build.sh)"
if "$TOP/scripts/qemu-build.sh" >"$C/qemu-build.txt" 2>&1; then
	echo "PASS qemu_ats_built ($(grep -c "\.patch$" "$TOP/qemu/patches/series" || true) patches of qemu/patches)" >>"$RESULTS"
	# The QEMU queue's hygiene: QEMU's own checkpatch.pl, the author's sign-off
	me=$(git -C "$TOP" config user.name)
	while read -r p; do
		f=$TOP/qemu/patches/$p n=${p%.patch}
		if out=$(perl "$BUILD/qemu-ats/src/scripts/checkpatch.pl" --no-tree -q "$f" 2>&1); then
			echo "PASS qemu_checkpatch:$n" >>"$RESULTS"
		else
			echo "FAIL qemu_checkpatch:$n: $(echo "$out" | grep -m1 -E '^(ERROR|WARNING)')" >>"$RESULTS"
		fi
		# (format-patch folds a long From: header)
		author=$(python3 -c 'import email, email.utils, sys
print(email.utils.parseaddr(str(email.message_from_file(open(sys.argv[1]))["From"]).replace("\n", ""))[0])' "$f")
		if grep -q "^Signed-off-by: $author <" "$f"; then
			echo "PASS qemu_signed_off:$n" >>"$RESULTS"
		else
			echo "FAIL qemu_signed_off:$n: no Signed-off-by of its author ($author; this repository's identity is $me)" >>"$RESULTS"
		fi
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/qemu/patches/series")
	phase "boot ats"
	boot_smmu ats "$C/ats"
else
	tail -n 20 "$C/qemu-build.txt" >&2
	echo "FAIL qemu_ats_built: $(grep -m1 ERROR "$C/qemu-build.txt" | cut -c1-200) (${C#"$TOP"/}/qemu-build.txt)" >>"$RESULTS"
fi

phase "waiting for the other lanes"
step "waiting for the other lanes"
finish_lanes
step "done"
phase_table
# The suites of every boot must be there: configs/expected-suites (the s1
# boot) and the guest suites of the s2 and nested boots.
cat "$TOP/configs/expected-suites" >"$C/expected-suites"
printf 'guest_smmu_s2\nguest_smmu_nested\nguest_smmu_ats\n' >>"$C/expected-suites"
trap - EXIT
thp_restore
if ! python3 "$TOP/scripts/results.py" "$C" "$C/expected-suites" "$OUT/.config" | tee "$C/summary.txt"; then
	echo "logs: ${C#"$TOP"/}/ (console.log, trace.log, *-parse.log, host.results)"
	exit 1
fi
