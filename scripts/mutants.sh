#!/usr/bin/env bash
# make mutants: proof that the tests catch real bugs. Each line of
# tests/mutants/list names a patch of tests/mutants/ (a deliberate bug on top
# of the series), the SMMU configuration to boot it on (lib.sh: s1, s2,
# nested, ats) and the guest test case it must make fail. Each is applied with
# EXTRA_PATCHES (build/extra), built incrementally, booted, and its guest KTAP
# parsed: the mutant is "killed" when that case reports "not ok". A mutant
# that survives, or that fails to build or boot, fails this target.
#   MUTANTS="name ..."   only these (file names without .patch)
#   MUTANTS_CACHE=0      run every one, even those killed before (below)
# Ends with "mutants: N killed (C of them cached), M survived"; exit status 1
# if any survived.
. "$(dirname "$0")/lib.sh"

list=$TOP/tests/mutants/list
[ -f "$list" ] || die "tests/mutants/list is missing"
D=$LOGS/mutants
mkdir -p "$D"
: >"$D/results"
killed=0 survived=0 from_cache=0
"$TOP/scripts/guest.sh" >/dev/null || die "the guest programs do not build" "see above"

# A mutant that was killed before by the same test, on the same kernel tree
# (series and mutant: the tree id of build/extra/linux), with the same
# harness (the tracked files of scripts/, guest/, configs/, base/, qemu/ and
# tests/mutants/ as they are: the configuration, the guest programs, the
# pinned QEMU and its patches, the list), cross compiler, environment of the
# build and the boot (below) and, on the ats SMMU, the same QEMU source tree
# (build/qemu-ats/src, work in progress included), is not built and booted
# again: its verdict is kept in HARNESS_CACHE/mutants (lib.sh, outside the
# clone, so that CI's new clone of a commit checked here finds it). Only kills
# are kept, and not one whose console reports a timeout (a kill that load may
# have caused). MUTANTS_CACHE=0 runs every mutant.
MC=$HARNESS_CACHE/mutants
# Work in progress: tree.sh (TREE_USE=1) makes build/extra/linux from
# build/linux's HEAD, unexported commits included; its uncommitted changes are
# not in the mutants' trees, and a SKIP line says so.
if [ -n "$(git -C "$BUILD/linux" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	msg="build/linux has uncommitted changes: the mutants apply to its HEAD ($(git -C "$BUILD/linux" rev-parse --short HEAD)) without them; commit them (git commit --fixup) to have the mutants run on them"
	warn "$msg"
	echo "SKIP mutants_uncommitted: $msg" >>"$D/results"
	echo "SKIP mutants_uncommitted: $msg"
fi
mkdir -p "$MC"
dirs=(scripts guest configs base qemu tests/mutants)
harness_id=$(cd "$TOP" && { git ls-files -s -- "${dirs[@]}"; git diff HEAD -- "${dirs[@]}"; } | sha256sum | cut -c1-64)
gcc_id=$("${CROSS}gcc" --version | head -n 1)
env_id="GUEST_ARGS=${GUEST_ARGS:-} QEMU_EXTRA=${QEMU_EXTRA:-} SMP=${SMP:-} BOOT_TIMEOUT=${BOOT_TIMEOUT:-} CONFIGS=${CONFIGS:-} KMAKE_ARGS=${KMAKE_ARGS:-}"
qemu_ats_id=
if grep -qE '^[^#[:space:]]+[[:space:]]+ats[[:space:]]' "$list"; then
	# (the ATS boots' QEMU, built now so that its source tree can be named)
	"$TOP/scripts/qemu-build.sh" >"$D/qemu-build.log" 2>&1 ||
		die "the QEMU of the ATS boots does not build" "see ${D#"$TOP"/}/qemu-build.log"
	q=$BUILD/qemu-ats/src
	qemu_ats_id="$(git -C "$q" rev-parse 'HEAD^{tree}') $(git -C "$q" diff HEAD | sha256sum)"
fi
# cache_put KEY VERDICT: never fatal (a full or read-only cache only costs time)
cache_put() {
	local t
	t=$(mktemp "$MC/.put.XXXXXX" 2>/dev/null) || return 0
	{ echo "$2" >"$t" && mv -f "$t" "$MC/$1"; } 2>/dev/null || rm -f "$t"
}

while read -r patch smmu want; do
	case $patch in '' | '#'*) continue ;; esac
	name=${patch%.patch}
	if [ -n "${MUTANTS:-}" ] && ! grep -qw -- "$name" <<<"$MUTANTS"; then
		continue
	fi
	[ -f "$TOP/tests/mutants/$patch" ] || die "tests/mutants/list names $patch, which does not exist"
	[ -n "$want" ] || die "tests/mutants/list: $patch names no test case" "each line: PATCH SMMU CASE"
	l=$D/$name
	rm -rf "$l"
	mkdir -p "$l"
	info "mutant $name: SMMU $smmu, '$want' must fail (logs ${l#"$TOP"/})"
	verdict= cached=
	if ! TREE_USE=1 EXTRA_PATCHES=$TOP/tests/mutants/$patch "$TOP/scripts/tree.sh" >"$l/tree.log" 2>&1; then
		verdict="FAIL mutant:$name: does not apply ($(grep -m1 -iE 'error|patch' "$l/tree.log" | cut -c1-160))"
	elif key=$(printf '%s\n' "$harness_id" "$gcc_id" "$env_id" "$patch $smmu $want" \
		"$(git -C "$BUILD/extra/linux" rev-parse 'HEAD^{tree}')" \
		"$([ "$smmu" != ats ] || echo "$qemu_ats_id")" | sha256sum | cut -c1-40) &&
		[ "${MUTANTS_CACHE:-1}" = 1 ] && [ -s "$MC/$key" ]; then
		verdict="$(cat "$MC/$key"), cached: killed before on this tree with this harness"
		cached=1
		echo "the verdict of $MC/$key; MUTANTS_CACHE=0 runs it again" >"$l/cached.txt"
	elif ! image=$(EXTRA_PATCHES=$TOP/tests/mutants/$patch "$TOP/scripts/kernel.sh" 2>"$l/kernel.err" | tail -n 1); then
		verdict="FAIL mutant:$name: the kernel does not build (${l#"$TOP"/}/kernel.err)"
	elif ! SMMU=$smmu QDIR=$l "$TOP/scripts/boot.sh" check "$image" >"$l/boot.log" 2>&1 &&
		[ ! -s "$l/console.txt" ]; then
		verdict="FAIL mutant:$name: the boot failed before any output (${l#"$TOP"/}/boot.log)"
	else
		# a guest case, "kunit:CASE", a case of the KUnit suites at boot,
		# or "smmu:CHECK", a check of QEMU's trace (scripts/smmu-trace.py),
		# turned into KTAP lines here
		if [ "${want#smmu:}" != "$want" ]; then
			want=${want#smmu:}
			: >"$l/host.results"
			if [ -s "$l/trace.log" ]; then
				python3 "$TOP/scripts/smmu-trace.py" "$l/trace.log" "$l/console.txt" \
					--smmu "$smmu" --results "$l/host.results" >/dev/null 2>&1 || true
			fi
			sed -nE "s/^FAIL ($want): (.*)/not ok 1 \1\n# \1: \2/p; s/^PASS ($want)( .*)?\$/ok 1 \1/p" \
				"$l/host.results" >"$l/guest-ktap.log"
			[ -s "$l/trace.log" ] || echo "no QEMU trace (${l#"$TOP"/}/trace.log)" >"$l/cut.txt"
		elif [ "${want#kunit:}" != "$want" ]; then
			want=${want#kunit:}
			sed '/^harness-guest: begin$/,$d' "$l/console.txt" >"$l/guest-ktap.log"
		else
			python3 "$TOP/scripts/console.py" cut "$l/console.txt" "harness-guest: begin" \
				"harness-guest: end" "$l/guest-ktap.log" --ktap >"$l/cut.txt" || true
		fi
		if grep -qE "^ *not ok [0-9]+ $want\$" "$l/guest-ktap.log"; then
			# the case's own first report, else the first expectation
			why=$(grep -m1 -E "^ *# $want: " "$l/guest-ktap.log" |
				sed -E "s/^ *# $want: //" | cut -c1-220)
			[ -n "$why" ] || why=$(grep -m1 -E "^ *# .*(Expected|EXPECT)" "$l/guest-ktap.log" |
				sed -E "s/^ *# //" | cut -c1-220)
			verdict="PASS mutant:$name (killed: $want failed: $why)"
		elif grep -qE "^ *ok [0-9]+ $want( |\$)" "$l/guest-ktap.log"; then
			verdict="FAIL mutant:$name: survived, '$want' passed on SMMU $smmu"
		else
			if [ -s "$l/cut.txt" ]; then
				why=$(cat "$l/cut.txt")
			else
				why="no KTAP line of it: the boot stopped before (a crash, a hang or a timeout: ${l#"$TOP"/}/boot.log)"
			fi
			verdict="FAIL mutant:$name: '$want' did not report ($why; ${l#"$TOP"/}/console.txt)"
		fi
	fi
	case $cached$verdict in "PASS mutant:$name (killed: "*)
		# ("CPU features: detected: WFx with timeout" is in every console)
		grep -v 'CPU features:' "$l/console.txt" 2>/dev/null | grep -qiE 'timeout|timed out' ||
			cache_put "$key" "$verdict" ;;
	esac
	echo "$verdict" | tee -a "$D/results"
	case $verdict in PASS*) killed=$((killed + 1)) ;; *) survived=$((survived + 1)) ;; esac
	[ -z "$cached" ] || from_cache=$((from_cache + 1))
done <"$list"

echo "mutants: $killed killed ($from_cache of them cached), $survived survived (${D#"$TOP"/}/results)"
[ "$survived" = 0 ]
