#!/usr/bin/env bash
# config:clang: the series under clang. The boot kernel's configuration
# (allnoconfig + configs/kunit.config + configs/qemu.config, every symbol
# checked after Kconfig as scripts/kernel.sh does) built for arm64 with Debian
# bookworm's clang-16, lld-16 and llvm-16 (LLVM=-16), W=1, in the base tree
# (build/base/linux at tag "base") and in the series tree, out of tree in
# build/base/clang-out and build/clang-out. Any warning or error
# of the series build that the base build does not have fails; messages are
# compared as hygiene.sh compares them (tree prefix and line numbers dropped,
# each message once).
# The series is built first and the base only as far as the comparison needs
# (base_compare in config-lib.sh: not at all when the series has no warning,
# only the objects that warn, else the same objects as the series where the
# base has their sources); the verdict is the one building them all gives.
#
# Only the objects the series touches and their dependents are built, in both
# trees: those whose dependency lists in the boot kernel's build (build/out, the
# same configuration under gcc: series_dependents in lib.sh) name a file the
# series changes, its sources or a header (a W=1 warning that a touched header
# causes in an untouched file is found too). Under make check that build is the
# main lane's (waited for); alone, scripts/kernel.sh makes it current first. Nothing
# is linked: the link's own warnings (ld.lld, modpost) are not compared, gcc's
# links of every configuration are the ones make check runs.
# llvm-16 is needed even to compile one object: arm64's vdso_prepare runs
# llvm-nm-16, llvm-objcopy-16 and llvm-readelf-16 (llvm-ar-16 archives).
#
# Incremental: the configuration is redone only when the fragments change, and
# the compiler is a wrapper (build/configs/bin/clang-16-diag: clang-16 through
# ccache) that keeps each object's diagnostics beside it (<object>.diag), so a
# build that recompiles nothing still knows every object's warnings.
#
# Appends exactly one line to $RESULTS (default build/logs/configs/clang.results):
# "PASS config:clang" or "FAIL config:clang: <reason>"; exit status 1 on FAIL.
# Logs: build/logs/configs/clang-*.
#
#   SERIES_TREE=dir   the series tree (default build/linux); keep it at
#                     build/<x>/linux
#   BUILD_LOCK=file   every kernel build runs under flock(1) of this file
#                     (default: none; make check runs one build at a time)
#   TREE_WAIT=s       how long to wait while the series tree is mid-rebase
#                     (default 3600)
. "$(dirname "$0")/lib.sh"

NAME=config:clang
L=$LOGS/configs
mkdir -p "$L"
RESULTS=${RESULTS:-$L/clang.results}
BASE_TREE=$BUILD/base/linux
SERIES_TREE=${SERIES_TREE:-$BUILD/linux}
BUILD_LOCK=${BUILD_LOCK:-}
TREE_WAIT=${TREE_WAIT:-3600}
LLVM_V=-16
BASE_DESC="with clang-16 either"
rm -f "$L"/clang-*

# shellcheck source=config-lib.sh
. "$(dirname "$0")/config-lib.sh"

step="checking SERIES_TREE"
tree=$(cd "$SERIES_TREE" 2>/dev/null && pwd) ||
	fail_exit "SERIES_TREE=$SERIES_TREE does not exist: point it at a kernel tree (a git worktree of build/linux at build/<x>/linux), or leave it unset"
SERIES_TREE=$tree

# --- the toolchain -------------------------------------------------------------------
step="checking the toolchain"
# (the real compiler: $CCBIN, first in PATH, holds ccache's links)
PATH=${PATH//"$CCBIN:"/} command -v clang-16 >/dev/null || fail_exit "clang-16 missing: run make deps"
for t in ld.lld llvm-ar llvm-nm llvm-objcopy llvm-readelf; do
	command -v "$t$LLVM_V" >/dev/null ||
		fail_exit "$t$LLVM_V missing (packages lld-16 and llvm-16; the arm64 vdso needs them even for one object): run make deps"
done
[ -z "$BUILD_LOCK" ] || command -v flock >/dev/null || fail_exit "flock missing (util-linux): install it, or run with BUILD_LOCK="
# ccache in masquerade mode for clang-16 too (lib.sh makes the gcc links).
if command -v ccache >/dev/null && [ ! -e "$CCBIN/clang-16" ]; then
	mkdir -p "$CCBIN"
	ln -sf "$(command -v ccache)" "$CCBIN/clang-16"
fi
# The compiler wrapper (config-lib.sh) and the toolchain of lmake
diag_wrapper clang-16
TOOLCHAIN=(LLVM="$LLVM_V")

step="preparing the base tree"
[ -f "$SERIES_TREE/Makefile" ] || fail_exit "no kernel tree at ${SERIES_TREE#"$TOP"/}: run make tree (or fix SERIES_TREE)"
git -C "$SERIES_TREE" rev-parse -q --verify 'base^{commit}' >/dev/null ||
	fail_exit "${SERIES_TREE#"$TOP"/} has no tag 'base': run make tree"
if [ ! -e "$BASE_TREE/.git" ]; then
	git -C "$SERIES_TREE" worktree prune
	git -C "$SERIES_TREE" worktree add -q --detach "$BASE_TREE" base ||
		fail_exit "could not create the base worktree ${BASE_TREE#"$TOP"/}: see the error above"
fi
[ "$(git -C "$BASE_TREE" rev-parse HEAD)" = "$(git -C "$SERIES_TREE" rev-parse base)" ] ||
	git -C "$BASE_TREE" checkout -q --detach base

# --- configure and build one tree ---------------------------------------------------------
# configure V TREE OUT: allnoconfig + the fragments, only when they changed;
# every symbol of the fragments must survive Kconfig (one this tree does not
# define at all, a suite the series adds, is left out with a note).
configure() {
	local v=$1 tree=$2 out=$3 frag=$3/harness.config c line sym want got bad=()
	mkdir -p "$out"
	{
		echo "# config-clang.sh: allnoconfig + kunit.config + qemu.config, LLVM=$LLVM_V"
		for c in kunit qemu; do cat "$TOP/configs/$c.config"; done
	} >"$frag.new"
	if [ -f "$out/.config" ] && cmp -s "$frag.new" "$frag"; then
		rm -f "$frag.new"
		return 0
	fi
	info "configuring ${out#"$TOP"/} (allnoconfig + kunit + qemu, clang-16)"
	lock_note
	if ! lmake "$tree" "$out" KCONFIG_ALLCONFIG="$frag.new" allnoconfig >"$L/clang-$v-config.log" 2>&1; then
		tail_log "$L/clang-$v-config.log" 20
		fail_exit "allnoconfig with clang-16 failed in ${tree#"$TOP"/}: see ${L#"$TOP"/}/clang-$v-config.log"
	fi
	while read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*} want=${line#*=} ;;
		"# CONFIG_"*" is not set") sym=${line#\# } sym=${sym%% *} want=n ;;
		*) continue ;;
		esac
		got=$(grep -E "^$sym=|^# $sym is not set" "$out/.config" || true)
		case $want in
		n) [ -z "$got" ] || [ "$got" = "# $sym is not set" ] && continue ;;
		*) [ "$got" = "$sym=$want" ] && continue ;;
		esac
		if grep -rqx --include='Kconfig*' "config ${sym#CONFIG_}" "$tree"; then
			bad+=("$sym (wanted $want, got ${got#*=})")
		else
			info "$sym is not defined in ${tree#"$TOP"/} (added by the series?): left out"
		fi
	done <"$frag.new"
	if [ ${#bad[@]} != 0 ]; then
		fail_exit "Kconfig with clang-16 dropped ${bad[*]} in ${tree#"$TOP"/}: see 'make -C ${tree#"$TOP"/} O=${out#"$TOP"/} LLVM=$LLVM_V menuconfig'"
	fi
	mv -f "$frag.new" "$frag"
	ok "configured ${out#"$TOP"/}: every symbol of the fragments is set"
}

# diags V TREE OUT LIST: the warnings and errors of the objects listed in the
# file LIST, as "message-without-place<TAB>file:line: message", tree prefix
# dropped (from build/clang-out and build/base/clang-out alike the tree is
# ../linux), to $L/clang-V.diag.
diags() {
	local v=$1 tree=$2 out=$3 list=$4 rel o
	rel=${tree#"$BUILD"/}
	while read -r o; do
		[ -f "$out/$o.diag" ] && cat "$out/$o.diag"
	done <"$list" | sed -E 's/\x1b\[[0-9;]*[mK]//g' | grep -iE '(warning|error):' |
		sed -E -e "s#^$tree/##" -e "s#^$BUILD/##" -e 's#^(\.\./)+##' -e "s#^$rel/##" \
			-e 's#^/([^: ]*/)?build/##' -e 's#^([a-z0-9_-]+/)?linux/##' |
		awk '{ m = $0; sub(/:[0-9]+:[0-9]+:/, ":", m); sub(/:[0-9]+:/, ":", m); print m "\t" $0 }' \
			>"$L/clang-$v.diag" || true
}

# build V TREE OUT OBJECT...: configure and build these objects, W=1; 1 if
# the build failed (or there is no object to build).
build() {
	local v=$1 tree=$2 out=$3 start=$SECONDS rc=0
	local log=$L/clang-$v-build.log
	shift 3
	[ $# != 0 ] || { echo "no object to build" >"$log"; return 1; }
	configure "$v" "$tree" "$out"
	info "building $# objects of ${tree#"$TOP"/} -> ${out#"$TOP"/} (clang-16, W=1; log: ${log#"$TOP"/})"
	lock_note
	lmake "$tree" "$out" W=1 "$@" >"$log" 2>&1 || rc=1
	if [ $rc = 0 ]; then
		ok "built ${out#"$TOP"/} in $((SECONDS - start)) s, $(waited "$log" "$L/clang-$v-config.log") s of it waiting for the build lock ($(grep -cE '^  (CC|AS)( \[M\])? ' "$log" || true) objects compiled)"
	fi
	return $rc
}

# first_error LOG: the first compiler or linker error of a failed build.
first_error() {
	sed -E 's/\x1b\[[0-9;]*[mK]//g' "$1" | grep -m1 -iE '(error|undefined reference|undefined symbol)' |
		sed -E -e "s#^($BUILD/|(\.\./)+)##" -e 's#^([a-z0-9_-]+/)?linux/##' | cut -c1-240
}

# What to build: the objects the series touches and their dependents, from
# the boot kernel's dependency lists (build/out, or <x>/out beside a tree at
# build/<x>/linux); the base builds those of them whose source it has.
step="finding the objects the series touches"
deps_out=$(dirname "$SERIES_TREE")/out
if [ "$SERIES_TREE" = "$BUILD/linux" ]; then
	main_kernel_deps
fi
series_dependents "$SERIES_TREE" "$deps_out" >"$L/clang-objects.txt" ||
	fail_exit "${deps_out#"$TOP"/} holds no compiled object, so nothing says which objects the series touches: build that tree's boot kernel first (make kernel)"
: >"$L/clang-base-objects.txt"
while read -r o; do
	[ ! -f "$BASE_TREE/${o%.o}.c" ] && [ ! -f "$BASE_TREE/${o%.o}.S" ] || echo "$o"
done <"$L/clang-objects.txt" >"$L/clang-base-objects.txt"
mapfile -t objects <"$L/clang-objects.txt"
if [ ${#objects[@]} = 0 ]; then
	info "no object of the boot kernel depends on a file the series changes: nothing to build"
	result PASS
	exit 0
fi
info "${#objects[@]} objects depend on a file the series changes ($(wc -l <"$L/clang-base-objects.txt") of them in the base): $(tr '\n' ' ' <"$L/clang-objects.txt" | cut -c1-300)"

# The series first. Its warnings are compared with the base's; the base is
# built only as far as that needs (base_compare in config-lib.sh): not at all
# when the series has none, only the objects that warn when that settles it.
base_out=$BUILD/base/clang-out
step="building the series tree"
series_out=$BUILD/clang-out
# (an earlier whole build's link warnings, kept there, are not this build's:
# base_compare reads them)
rm -f "$series_out/.harness-link.diag" "$base_out/.harness-link.diag"
for attempt in 1 2 3; do
	wait_tree "$SERIES_TREE"
	head=$(git -C "$SERIES_TREE" rev-parse HEAD)
	built=1
	build series "$SERIES_TREE" "$series_out" "${objects[@]}" || built=0
	if tree_busy "$SERIES_TREE" >/dev/null || [ "$(git -C "$SERIES_TREE" rev-parse HEAD)" != "$head" ]; then
		info "${SERIES_TREE#"$TOP"/} changed during the build (a rebase): building it again (attempt $((attempt + 1)))"
		built=
		continue
	fi
	break
done
[ -n "$built" ] || fail_exit "${SERIES_TREE#"$TOP"/} kept changing during three builds (someone is rebasing it): run again when it is quiet"
if [ "$built" = 0 ]; then
	tail_log "$L/clang-series-build.log" 30
	# Whose doing is it? The base, same compiler and flags, answers.
	step="building the base tree"
	mapfile -t base_objects <"$L/clang-base-objects.txt"
	if ! build base "$BASE_TREE" "$base_out" "${base_objects[@]}"; then
		tail_log "$L/clang-base-build.log" 30
		fail_exit "the base tree does not build with clang-16 either (not the series' doing; a toolchain problem?): $(first_error "$L/clang-base-build.log"); log: ${L#"$TOP"/}/clang-base-build.log"
	fi
	fail_exit "the series does not build with clang-16 (the base does): $(first_error "$L/clang-series-build.log"); log: ${L#"$TOP"/}/clang-series-build.log"
fi
diags series "$SERIES_TREE" "$series_out" "$L/clang-objects.txt"
base_compare clang "$series_out" "$L/clang-objects.txt" "$L/clang-base-objects.txt"

# --- base versus series ----------------------------------------------------------------------
info "clang-16 W=1 warnings: series $(wc -l <"$L/clang-warnings-series.txt"), base $(wc -l <"$L/clang-warnings-base.txt") ($BASE_BUILT) (distinct messages)"
if [ -s "$L/clang-new.txt" ]; then
	first=$(awk -F'\t' 'NR == FNR { n[$0] = 1; next } ($1 in n) { print $2; exit }' \
		"$L/clang-new.txt" "$L/clang-series.diag" | cut -c1-300)
	sed 's/^/  new: /' "$L/clang-new.txt" | head -20 >&2
	result FAIL "$(wc -l <"$L/clang-new.txt") new warning(s)/error(s) under clang-16 W=1, first: $first; log: ${L#"$TOP"/}/clang-series-build.log (all new ones: clang-new.txt)"
	exit 1
fi
result PASS
