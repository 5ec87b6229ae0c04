#!/usr/bin/env bash
# make mutants: proof that the tests catch real bugs. Each line of
# tests/mutants/list names a patch of tests/mutants/ (a deliberate bug on top
# of the series), the SMMU configuration to boot it on (lib.sh: s1, s2,
# nested, ats) and the guest test case it must make fail. Each is applied with
# EXTRA_PATCHES (build/extra), built incrementally, booted, and its guest KTAP
# parsed: the mutant is "killed" when that case reports "not ok". A mutant
# that survives, or that fails to build or boot, fails this target.
#   MUTANTS="name ..."   only these (file names without .patch)
# Ends with "mutants: N killed, M survived"; exit status 1 if any survived.
. "$(dirname "$0")/lib.sh"

list=$TOP/tests/mutants/list
[ -f "$list" ] || die "tests/mutants/list is missing"
D=$LOGS/mutants
mkdir -p "$D"
: >"$D/results"
killed=0 survived=0
"$TOP/scripts/guest.sh" >/dev/null || die "the guest programs do not build" "see above"

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
	verdict=
	if ! EXTRA_PATCHES=$TOP/tests/mutants/$patch "$TOP/scripts/tree.sh" >"$l/tree.log" 2>&1; then
		verdict="FAIL mutant:$name: does not apply ($(grep -m1 -iE 'error|patch' "$l/tree.log" | cut -c1-160))"
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
	echo "$verdict" | tee -a "$D/results"
	case $verdict in PASS*) killed=$((killed + 1)) ;; *) survived=$((survived + 1)) ;; esac
done <"$list"

echo "mutants: $killed killed, $survived survived (${D#"$TOP"/}/results)"
[ "$survived" = 0 ]
