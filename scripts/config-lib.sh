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
