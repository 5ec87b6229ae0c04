# shellcheck shell=bash
# What scripts/config-clang.sh and scripts/config-debian.sh share: one verdict
# line whatever happens, make under an optional build lock, and waiting for a
# tree that someone is rebasing. Source it after lib.sh, with NAME, L, RESULTS,
# BUILD_LOCK and TREE_WAIT set.

# --- one verdict line, whatever happens ------------------------------------------
verdict='' step=start
result() {	# PASS | FAIL reason
	[ -z "$verdict" ] || return 0
	verdict=$1
	if [ "$1" = PASS ]; then
		echo "PASS $NAME" >>"$RESULTS"
		ok "$NAME"
	else
		echo "FAIL $NAME: $2" >>"$RESULTS"
		warn "$NAME: $2"
	fi
}
fail_exit() { result FAIL "$1"; exit 1; }
trap 'rc=$?; [ -n "$verdict" ] || result FAIL "stopped unexpectedly (exit $rc) while $step: see the error above and ${L#"$TOP"/}/"' EXIT

# (diag_wrapper, the compiler wrapper that keeps diagnostics: lib.sh)
# Clang's and Debian's configurations share objects with no other build but
# their own base (the same configuration: direct mode), so ccache skips its
# preprocessor run (lib.sh).
ccache_depend

# lmake TREE OUT ARGS...: make for arm64 with the toolchain arguments of
# TOOLCHAIN (an array) and CC=$WRAP, under the build lock.
lmake() {
	local tree=$1 out=$2
	shift 2
	local cmd=(make -C "$tree" O="$out" ARCH=arm64 "${TOOLCHAIN[@]}" CC="$WRAP" -j"$JOBS" "$@")
	# flock(1) around make; the time spent waiting for the lock goes to the log.
	# shellcheck disable=SC2016
	[ -z "$BUILD_LOCK" ] || cmd=(flock "$BUILD_LOCK" sh -c \
		'echo "lock-wait: $(($(date +%s) - $0)) s" >&2; exec "$@"' "$(date +%s)" "${cmd[@]}")
	"${cmd[@]}"
}
# waited LOG...: seconds spent waiting for the build lock in these logs.
waited() { cat "$@" 2>/dev/null | awk '/^lock-wait: / { s += $2 } END { print s + 0 }'; }
# lock_note: say so when another kernel build holds the lock (the time counts).
lock_note() {
	[ -z "$BUILD_LOCK" ] || flock -n "$BUILD_LOCK" true ||
		info "another kernel build holds $BUILD_LOCK: waiting for it"
}

# --- the trees -----------------------------------------------------------------------
# tree_busy TREE: prints the git operation in progress in TREE, if any.
tree_busy() {
	local p
	for p in rebase-merge rebase-apply MERGE_HEAD CHERRY_PICK_HEAD REVERT_HEAD; do
		if (cd "$1" && [ -e "$(git rev-parse --git-path "$p")" ]); then
			echo "$p"
			return 0
		fi
	done
	return 1
}
# wait_tree TREE: wait while someone rebases TREE (at most TREE_WAIT s).
wait_tree() {
	local t0=$SECONDS what
	while what=$(tree_busy "$1"); do
		[ $((SECONDS - t0)) -lt "$TREE_WAIT" ] ||
			fail_exit "${1#"$TOP"/} has been mid-operation ($what) for more than $TREE_WAIT s: finish or abort it (git -C ${1#"$TOP"/} status), then run again"
		info "${1#"$TOP"/} is mid-operation ($what, someone is rebasing it): waiting"
		sleep 20
	done
}

# --- the base's warnings, built only as far as the comparison needs -------------------
# base_compare P SERIES_OUT MEMBERS [BASE_OBJECTS]: the warnings of the series
# build ($L/P-series.diag) whose message, place dropped, the base build of the
# same configuration lacks go to $L/P-new.txt ($L/P-warnings-series.txt and
# $L/P-warnings-base.txt: the distinct messages of each). The verdict is the
# one a whole base build gives (or, with BASE_OBJECTS, a file of objects, a
# build of those), for less:
#   - the series has no warning: none is new, the base is not built;
#   - only objects warn, not the link: the base builds those objects (with the
#     script's build V TREE OUT OBJECT...; with BASE_OBJECTS, those of them it
#     lists) and they are compared;
#   - otherwise, or when that leaves a message new: the whole base (or every
#     object of BASE_OBJECTS) is built and compared.
# Uses the script's build and diags, BASE_TREE, base_out and BASE_DESC (how
# the base is built, for the failure message); sets BASE_BUILT (for the log).
base_compare() {
	local p=$1 sout=$2 members=$3 bobjs=${4:-} warned=$L/$1-warned-objects.txt o objs_w=() all=()
	cut -f1 "$L/$p-series.diag" | sort -u >"$L/$p-warnings-series.txt"
	: >"$L/$p-base.diag"
	BASE_BUILT="not built: the series has no warning"
	if [ -s "$L/$p-warnings-series.txt" ]; then
		while read -r o; do
			grep -qsiE '(warning|error):' "$sout/$o.diag" || continue
			[ -z "$bobjs" ] || grep -qxF "$o" "$bobjs" || continue
			echo "$o"
		done <"$members" >"$warned"
		mapfile -t objs_w <"$warned"
		BASE_BUILT="not built: a link warns"
		if [ ${#objs_w[@]} != 0 ] && ! grep -qsiE '(warning|error):' "$sout/.harness-link.diag"; then
			step="building the base tree's objects that warn in the series"
			BASE_BUILT="could not build the ${#objs_w[@]} object(s) that warn in the series"
			if build base "$BASE_TREE" "$base_out" "${objs_w[@]}"; then
				diags base "$BASE_TREE" "$base_out" "$warned"
				BASE_BUILT="only the ${#objs_w[@]} object(s) that warn in the series: $(tr '\n' ' ' <"$warned" | cut -c1-200)"
			fi
		fi
	fi
	cut -f1 "$L/$p-base.diag" | sort -u >"$L/$p-warnings-base.txt"
	comm -13 "$L/$p-warnings-base.txt" "$L/$p-warnings-series.txt" >"$L/$p-new.txt"
	[ -s "$L/$p-new.txt" ] || return 0
	[ -z "$bobjs" ] || mapfile -t all <"$bobjs"
	info "base: $BASE_BUILT; $(wc -l <"$L/$p-new.txt") message(s) left to compare with the ${bobjs:+same objects of the }whole base"
	step="building the base tree"
	if ! build base "$BASE_TREE" "$base_out" "${all[@]}"; then
		tail_log "$L/$p-base-build.log" 30
		fail_exit "the base tree does not build $BASE_DESC (not the series' doing; a toolchain problem?): $(first_error "$L/$p-base-build.log"); log: ${L#"$TOP"/}/$p-base-build.log"
	fi
	diags base "$BASE_TREE" "$base_out" "$bobjs"
	if [ -n "$bobjs" ]; then
		BASE_BUILT="the base's ${#all[@]} objects of the comparison"
	else
		BASE_BUILT="the whole base"
	fi
	cut -f1 "$L/$p-base.diag" | sort -u >"$L/$p-warnings-base.txt"
	comm -13 "$L/$p-warnings-base.txt" "$L/$p-warnings-series.txt" >"$L/$p-new.txt"
}
