#!/usr/bin/env bash
# make configs (and make check's "configurations" step): the series in the
# configurations users and build robots build, each reported as one line
# "config:<name>" in $RESULTS (default build/logs/configs/results).
#
#   configs/matrix/<name>.config   allnoconfig + kunit-boot.config + this;
#                                  "# suites: a b" names the KUnit suites
#                                  that must run (and pass) in it;
#                                  "# build: touched" makes it a build of
#                                  the objects the series touches and their
#                                  dependents, booted nowhere (run_touched)
#
# For each (but those): configure (every symbol of the fragment checked after Kconfig),
# build the Image with W=1 (any warning in a file the series touches fails:
# the base has none there; every object's diagnostics are kept), boot it on
# QEMU's virt machine with kunit_shutdown=poweroff and parse the KTAP. Build
# directories are build/configs/<name>, kept between runs: a warm run only
# relinks what changed, and ccache shares the objects the configurations
# have in common. CONFIGS_ONLY="minimal no_iov" runs a subset. Then
# config:modules (below), config:clang (scripts/config-clang.sh) and
# config:debian (scripts/config-debian.sh). --list prints the names.
. "$(dirname "$0")/lib.sh"

# The configurations, in the order they run (make check's lane runs them one by
# one, each a phase of its table: scripts/configs.sh --list).
names=${CONFIGS_ONLY:-$(cd "$TOP/configs/matrix" && ls ./*.config | sed 's|^\./||; s|\.config$||' |
	grep -vx kunit-boot) modules clang debian}
if [ "${1:-}" = --list ]; then
	# shellcheck disable=SC2086 # one line
	echo $names
	exit 0
fi

variant_dirs main
D=$LOGS/configs
mkdir -p "$D"
RESULTS=${RESULTS:-$D/results}
kunit=$SRC/tools/testing/kunit/kunit.py
[ -f "$kunit" ] || die "no kernel tree at ${SRC#"$TOP"/}" "run 'make tree' first"

pass() { echo "PASS config:$1${2:+: $2}" >>"$RESULTS"; ok "config:$1${2:+: $2}"; }
fail() { echo "FAIL config:$1: $2" >>"$RESULTS"; warn "config:$1: $2"; }

# The objects of the C files the series touches (a header: the C files of its
# directory), as hygiene.sh picks them: the "touched objects" each line counts.
touched_objs() {
	local f c
	git -C "$SRC" diff --name-only base HEAD -- '*.c' '*.h' | while read -r f; do
		case $f in
		*.c) [ -f "$SRC/$f" ] && echo "${f%.c}.o" ;;
		*.h) for c in "$SRC/$(dirname "$f")"/*.c; do
			[ -f "$c" ] && c=${c#"$SRC"/} && echo "${c%.c}.o"
		done ;;
		esac
	done | sort -u
}
mapfile -t objs < <(touched_objs)
git -C "$SRC" diff --name-only base HEAD >"$D/touched.txt"

# first_error LOG: the first compiler/linker/Kconfig error of a log.
first_error() {
	grep -m1 -E 'error:|Error [0-9]|undefined reference|ERROR:|wanted .*, got' "$1" |
		sed "s|$BUILD/||g" | cut -c1-240
}

# The configurations build with W=1 throughout, their compiler wrapped so that
# each object keeps its diagnostics beside it (<object>.diag, diag_wrapper in
# lib.sh): a build that recompiles nothing still knows every object's warnings,
# and no object is compiled twice to see them.
diag_wrapper "${CROSS}gcc"
export KMAKE_ARGS="W=1 CC=$WRAP"

# members OUT: the objects this configuration builds (vmlinux.a's members, and
# the parts of any module), one a line, relative to OUT.
members() {
	local out=$1 m
	# (ar lists a thin archive's members relative to the current directory)
	[ -f "$out/vmlinux.a" ] && (cd "$out" && "${CROSS}ar" t vmlinux.a)
	[ -f "$out/modules.order" ] || return 0
	while read -r m; do
		if [ -f "$out/${m%.o}.mod" ]; then tr ' ' '\n' <"$out/${m%.o}.mod"; else echo "$m"; fi
	done <"$out/modules.order"
}

# w1_check NAME OUT LOGDIR [LIST]: any W=1 warning or error in a file the
# series touches, from the diagnostics of every object this configuration
# builds (or of the objects in the file LIST) (the base has none there),
# fails. Sets W1_BUILT to the number of touched objects it builds.
w1_check() {
	local name=$1 out=$2 l=$3 list=${4:-} o w
	if [ -n "$list" ]; then
		sort -u "$list" >"$l/members.txt"
	else
		members "$out" | sort -u >"$l/members.txt"
	fi
	printf '%s\n' "${objs[@]}" | sort -u | comm -12 - "$l/members.txt" >"$l/touched-objects.txt"
	W1_BUILT=$(wc -l <"$l/touched-objects.txt")
	while read -r o; do
		[ -f "$out/$o.diag" ] && cat "$out/$o.diag"
	done <"$l/members.txt" >"$l/w1.log"
	w=$(grep -E '(warning|error):' "$l/w1.log" | grep -F -f "$D/touched.txt" || true)
	if [ -n "$w" ]; then
		fail "$name" "W=1: $(echo "$w" | head -1 | sed "s|$BUILD/||g" | cut -c1-200) ($(echo "$w" | wc -l) in all, ${l#"$TOP"/}/w1.log)"
		return 1
	fi
}

# run_config NAME: one configuration, one results line.
run_config() {
	local name=$1 out=$BUILD/configs/$1 l=$D/$1 suites want bad t0=$SECONDS
	local frag=$TOP/configs/matrix/$name.config
	rm -rf "$l"
	mkdir -p "$l"
	suites=$(sed -n 's/^# suites: //p' "$frag")
	info "config:$name (build dir ${out#"$TOP"/}, logs ${l#"$TOP"/})"
	if ! CONFIGS="matrix/kunit-boot matrix/$name" KOUT=$out KLOGS=$l \
		"$TOP/scripts/kernel.sh" >"$l/kernel.log" 2>&1; then
		fail "$name" "build failed: $(first_error "$l/kernel.log" || true) (${l#"$TOP"/}/kernel.log, build.log)"
		tail -n 15 "$l/kernel.log" >&2
		return 0
	fi
	w1_check "$name" "$out" "$l" || return 0
	# Boot: the suites run before /init, then kunit_shutdown powers off.
	qemu_aarch64
	if ! timeout --foreground -k 5 "${CONFIG_BOOT_TIMEOUT:-300}" "$QEMU_AARCH64" -L "$QEMU_AARCH64_L" \
		-machine virt -cpu max -smp 2 -m 512 -nographic -nic none -no-reboot \
		-kernel "$out/arch/arm64/boot/Image" \
		-append "console=ttyAMA0 panic=-1 kunit_shutdown=poweroff" \
		</dev/null >"$l/console.log" 2>&1; then
		fail "$name" "QEMU did not power off within ${CONFIG_BOOT_TIMEOUT:-300} s (${l#"$TOP"/}/console.log): $(tail -n 1 "$l/console.log" | cut -c1-160)"
		tail -n 20 "$l/console.log" >&2
		return 0
	fi
	python3 "$kunit" parse --json="$l/kunit.json" "$l/console.log" >"$l/parse.log" 2>&1 || true
	python3 "$TOP/scripts/ktap-summary.py" "$l/kunit.json" >"$l/summary.txt" 2>&1 || true
	bad=()
	for want in $suites; do
		grep -qE "^$want [0-9]+ passed" "$l/summary.txt" || bad+=("suite $want did not run")
	done
	grep -qv ' 0 failed$' "$l/summary.txt" && bad+=("$(grep -v ' 0 failed$' "$l/summary.txt" | tr '\n' ';')")
	grep -qE ' [1-9][0-9]* passed' "$l/summary.txt" || bad+=("no case passed")
	if [ ${#bad[@]} != 0 ]; then
		fail "$name" "KUnit: $(printf '%s; ' "${bad[@]}")(${l#"$TOP"/}/console.log, parse.log)"
		grep -E 'not ok|FAILED|Expected' "$l/parse.log" | head -10 >&2
		return 0
	fi
	pass "$name" "$(tr '\n' ';' <"$l/summary.txt" | sed 's/;/; /g')W=1 clean on $W1_BUILT touched object(s), $((SECONDS - t0)) s"
}

# run_touched NAME: a configuration whose fragment says "# build: touched":
# W=1 on the objects the series touches and their dependents in it, and no
# boot (its suites run in the other configurations). Which objects: those the
# configuration compiles (a dry run, enabled_objects in lib.sh) that the boot
# kernel's dependency lists (build/out: series_dependents) tie to a file the
# series changes, and any the boot kernel does not compile at all (its
# dependencies unknown). A header that only this configuration's #ifdefs
# include is not seen; the boot kernel's configuration is the wider one.
run_touched() {
	local name=$1 out=$BUILD/configs/$1 l=$D/$1 t0=$SECONDS n_en n_dep n_other
	rm -rf "$l"
	mkdir -p "$l"
	info "config:$name (the objects the series touches and their dependents; build dir ${out#"$TOP"/}, logs ${l#"$TOP"/})"
	main_kernel_deps
	if ! CONFIGS="matrix/kunit-boot matrix/$name" KOUT=$out KLOGS=$l KTARGETS=prepare \
		"$TOP/scripts/kernel.sh" >"$l/kernel.log" 2>&1; then
		fail "$name" "configuring or preparing failed: $(first_error "$l/kernel.log" || true) (${l#"$TOP"/}/kernel.log, build.log)"
		tail -n 15 "$l/kernel.log" >&2
		return 0
	fi
	OUT=$out enabled_objects "$l/dry-run.log" >"$l/enabled.txt"
	if [ ! -s "$l/enabled.txt" ]; then
		fail "$name" "a dry run of its build listed no object to compile (${l#"$TOP"/}/dry-run.log)"
		return 0
	fi
	if ! series_dependents "$SRC" "$BUILD/out" >"$l/dependents.txt"; then
		fail "$name" "build/out holds no compiled object, so nothing says which objects the series touches: run make kernel"
		return 0
	fi
	(cd "$BUILD/out" && find . -name '.*.o.cmd' | sed -E 's#^\./##; s#(^|/)\.([^/]*)\.cmd$#\1\2#') |
		sort -u >"$l/main-objects.txt"
	comm -12 "$l/enabled.txt" "$l/dependents.txt" >"$l/objects.txt"
	comm -23 "$l/enabled.txt" "$l/main-objects.txt" >"$l/not-in-main.txt"
	n_en=$(wc -l <"$l/enabled.txt") n_dep=$(wc -l <"$l/objects.txt") n_other=$(wc -l <"$l/not-in-main.txt")
	cat "$l/not-in-main.txt" >>"$l/objects.txt"
	info "config:$name compiles $n_en objects; building $n_dep that depend on the series' files and $n_other the boot kernel does not build"
	if [ "$n_dep" = 0 ]; then
		pass "$name" "no object of this configuration depends on a file the series changes; nothing built"
		return 0
	fi
	if ! CONFIGS="matrix/kunit-boot matrix/$name" KOUT=$out KLOGS=$l KTARGETS="$(sort -u "$l/objects.txt" | tr '\n' ' ')" \
		"$TOP/scripts/kernel.sh" >>"$l/kernel.log" 2>&1; then
		fail "$name" "build failed: $(first_error "$l/kernel.log" || true) (${l#"$TOP"/}/kernel.log, build.log)"
		tail -n 15 "$l/kernel.log" >&2
		return 0
	fi
	w1_check "$name" "$out" "$l" "$l/objects.txt" || return 0
	pass "$name" "W=1 clean on the $((n_dep + n_other)) of its $n_en objects that the series' files go into (and the boot kernel's misses); no boot, $((SECONDS - t0)) s"
}

# run_modules: config:modules. The boot kernel with the driver and both suites
# as modules and IOMMUFD on (configs/modules.config): modpost clean, W=1 as
# above, neither suite skips a case, then make
# check's guest boots with /init loading the modules (initramfs-modules.cpio):
# every module loads, the suites they run at load pass, the SMMU probes and the
# guest tests (disks read through the SMMU, VFIO, edu DMA) pass.
run_modules() {
	# build/modules-out: the same place relative to the tree (../linux) as
	# build/out, whose objects ccache then serves for all this shares with
	# the boot kernel (most of it: the same configuration with modules)
	local out=$BUILD/modules-out l=$D/modules t0=$SECONDS
	local initrd=$BUILD/guest/initramfs-modules.cpio m chunk n=0 want sum why noise bad=()
	rm -rf "$l"
	mkdir -p "$l"
	info "config:modules (build dir ${out#"$TOP"/}, logs ${l#"$TOP"/})"
	if ! CONFIGS="kunit qemu modules" KOUT=$out KLOGS=$l KTARGETS="Image modules" \
		"$TOP/scripts/kernel.sh" >"$l/kernel.log" 2>&1; then
		fail modules "build failed: $(first_error "$l/kernel.log" || true) (${l#"$TOP"/}/kernel.log, build.log)"
		tail -n 15 "$l/kernel.log" >&2
		return 0
	fi
	if grep -q 'WARNING: modpost' "$l/build.log"; then
		fail modules "modpost: $(grep -m1 'WARNING: modpost' "$l/build.log" | cut -c1-200) (${l#"$TOP"/}/build.log)"
		return 0
	fi
	w1_check modules "$out" "$l" || return 0
	if ! WITH_MODULES=$out "$TOP/scripts/guest.sh" >"$l/guest.log" 2>&1; then
		fail modules "initramfs: $(grep -m1 -A1 ERROR "$l/guest.log" | tr '\n' ' ')"
		return 0
	fi
	if ! SMMU=s1 QDIR=$l BOOT_TIMEOUT=${CONFIG_BOOT_TIMEOUT:-300} \
		GUEST_ARGS="guest.console_noise=${CONSOLE_NOISE:-2000} ${GUEST_ARGS:-}" "$TOP/scripts/boot.sh" check \
		"$out/arch/arm64/boot/Image" "$initrd" >"$l/boot.log" 2>&1; then
		fail modules "the boot failed: $(grep -m1 -E 'ERROR|timeout' "$l/boot.log" | cut -c1-160) (${l#"$TOP"/}/console.log)"
		tail -n 20 "$l/boot.log" >&2
		return 0
	fi
	# Each module's output, between its "harness-module:" lines, from the
	# console as boot.sh parsed it (console.txt: /init's lines are kernel
	# log records, no kernel message can share their console line; issue 33).
	# What each cut found instead of KTAP, if so, is in module-*.cut.
	: >"$l/summary.txt"
	while read -r m; do
		n=$((n + 1))
		chunk=$l/module-$(basename "$m" .ko)
		python3 "$TOP/scripts/console.py" cut "$l/console.txt" "harness-module: load $m" \
			"harness-module: loaded $m:" "$chunk.log" --end-prefix --ktap --what "$(basename "$m")" \
			>"$chunk.cut" || true
		grep -qxF "harness-module: loaded $m: ok" "$l/console.txt" ||
			bad+=("$(basename "$m") did not load:$(grep -F "harness-module: loaded $m:" "$l/console.txt" | cut -d: -f3-)")
		# (a module without KUnit suites has no KTAP: its cut says so)
		[ ! -s "$chunk.cut" ] || continue
		python3 "$kunit" parse --json="$chunk.json" "$chunk.log" >"$chunk.parse" 2>&1 || true
		python3 "$TOP/scripts/ktap-summary.py" "$chunk.json" >"$chunk.summary" 2>&1 || true
		cat "$chunk.summary" >>"$l/summary.txt"
		echo "$(basename "$m"): kunit.py parse found $(cut -d' ' -f1 "$chunk.summary" | tr '\n' ' ')" >"$chunk.cut"
	done <"$BUILD/guest/modules.load"
	python3 "$TOP/scripts/console.py" cut "$l/console.txt" "harness-guest: begin" "harness-guest: end" \
		"$l/guest-ktap.log" --what "the guest's KTAP" --ktap >"$l/guest.cut" || true
	python3 "$kunit" parse --json="$l/guest.json" "$l/guest-ktap.log" >"$l/guest-parse.log" 2>&1 || true
	python3 "$TOP/scripts/ktap-summary.py" "$l/guest.json" >>"$l/summary.txt" || true
	for want in arm-smmu-v3-kunit-test arm-smmu-v3-ats-kunit-test arm-smmu-v3-invs-kunit-test arm-smmu-v3-ops-kunit-test \
		pci-ats guest; do
		grep -qE "^$want [1-9][0-9]* passed" "$l/summary.txt" && continue
		# what each cut held instead: the suites kunit.py found in it, or
		# why it holds no KTAP (a module's suite may be in any module)
		why=$(cat "$l"/module-*.cut "$l/guest.cut" 2>/dev/null | tr '\n' ';')
		bad+=("$want did not run (${why:-no module cut}; see module-*.parse, guest-parse.log)")
	done
	# The race of issue 33, provoked during the module loads (guest.console_noise)
	noise=$(python3 "$TOP/scripts/console.py" noise "$l/console.txt") ||
		bad+=("console lines shared by the kernel and /init: $noise")
	# Every option the suites' cases need is on here (IOMMUFD too): none skips.
	for want in arm-smmu-v3-kunit-test arm-smmu-v3-ats-kunit-test arm-smmu-v3-invs-kunit-test arm-smmu-v3-ops-kunit-test pci-ats; do
		grep -qE "^$want [0-9]+ passed [1-9][0-9]* skipped" "$l/summary.txt" &&
			bad+=("$(grep -E "^$want " "$l/summary.txt") (none may skip in this configuration; first: $(cat "$l"/module-*.log 2>/dev/null | grep -m1 -F '# SKIP' | sed 's/^ *//' | cut -c1-120))")
	done
	# QEMU's SMMU: only the fault events the guest provoked, no command error
	python3 "$TOP/scripts/smmu-trace.py" "$l/trace.log" "$l/console.txt" \
		--results "$l/trace.results" >/dev/null 2>&1 || true
	grep -q '^PASS smmu_events_as_expected' "$l/trace.results" 2>/dev/null ||
		bad+=("QEMU's SMMU trace: $(grep -v '^PASS' "$l/trace.results" 2>/dev/null | head -2 | tr '\n' ' ')")
	grep -q '^FAIL' "$l/trace.results" 2>/dev/null &&
		bad+=("QEMU's SMMU trace: $(grep '^FAIL' "$l/trace.results" | head -2 | tr '\n' ' ')")
	if grep -qv ' 0 failed$' "$l/summary.txt"; then
		bad+=("failures: $(grep -v ' 0 failed$' "$l/summary.txt" | tr '\n' ';')")
	fi
	sum=$(tr '\n' ';' <"$l/summary.txt" | sed 's/;/; /g')
	if [ ${#bad[@]} != 0 ]; then
		fail modules "$(printf '%s; ' "${bad[@]}")(${l#"$TOP"/}/console.log)"
		return 0
	fi
	pass modules "$n modules loaded; ${sum}$noise; SMMU trace as expected, modpost clean, W=1 clean on $W1_BUILT touched object(s), $((SECONDS - t0)) s"
}

for n in $names; do
	case $n in
	modules) run_modules; continue ;;
	# scripts/config-clang.sh, scripts/config-debian.sh: one line each too
	clang | debian)
		RESULTS=$RESULTS "$TOP/scripts/config-$n.sh" || true
		continue ;;
	esac
	[ -f "$TOP/configs/matrix/$n.config" ] || die "configs/matrix/$n.config does not exist" \
		"CONFIGS_ONLY names files of configs/matrix/ without .config, or modules, clang, debian"
	if grep -qx '# build: touched' "$TOP/configs/matrix/$n.config"; then
		run_touched "$n"
	else
		run_config "$n"
	fi
done
