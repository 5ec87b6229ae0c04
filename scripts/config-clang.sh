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
# only the objects that warn when no link does, the whole base otherwise);
# the verdict is the one a whole base build gives.
#
# The whole vmlinux is built, not only the objects the series touches: which
# of them this configuration builds is only known from a build (the members of
# vmlinux.a), ld.lld links the series, and a W=1 warning that a touched header
# causes in an untouched file is found too. The log lists the touched objects.
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

# members OUT: the objects this configuration builds (vmlinux.a's members, and
# the parts of any module), one a line, relative to OUT.
members() {
	local out=$1 m
	# (ar lists a thin archive's members relative to the current directory)
	[ -f "$out/vmlinux.a" ] && (cd "$out" && "llvm-ar$LLVM_V" t vmlinux.a)
	[ -f "$out/modules.order" ] || return 0
	while read -r m; do
		if [ -f "$out/${m%.o}.mod" ]; then tr ' ' '\n' <"$out/${m%.o}.mod"; else echo "$m"; fi
	done <"$out/modules.order"
}

# diags V TREE OUT [LIST]: the warnings and errors of every object of the
# build and of its last link (or of the objects listed in the file LIST), as "message-without-place<TAB>file:line: message", tree
# prefix dropped (from build/clang-out and build/base/clang-out alike the tree is
# ../linux), to $L/clang-V.diag.
diags() {
	local v=$1 tree=$2 out=$3 list=${4:-} rel o
	rel=${tree#"$BUILD"/}
	{
		if [ -n "$list" ]; then cat "$list"; else members "$out" | sort -u; fi | while read -r o; do
			[ -f "$out/$o.diag" ] && cat "$out/$o.diag"
		done
		[ -n "$list" ] || [ ! -f "$out/.harness-link.diag" ] || cat "$out/.harness-link.diag"
	} | sed -E 's/\x1b\[[0-9;]*[mK]//g' | grep -iE '(warning|error):' |
		sed -E -e "s#^$tree/##" -e "s#^$BUILD/##" -e 's#^(\.\./)+##' -e "s#^$rel/##" \
			-e 's#^/([^: ]*/)?build/##' -e 's#^([a-z0-9_-]+/)?linux/##' |
		awk '{ m = $0; sub(/:[0-9]+:[0-9]+:/, ":", m); sub(/:[0-9]+:/, ":", m); print m "\t" $0 }' \
			>"$L/clang-$v.diag" || true
}

# build V TREE OUT [OBJECT...]: configure and build vmlinux (or only these
# objects), W=1; 1 if the build failed.
build() {
	local v=$1 tree=$2 out=$3 start=$SECONDS rc=0
	local log=$L/clang-$v-build.log
	shift 3
	configure "$v" "$tree" "$out"
	info "building ${*:-vmlinux} of ${tree#"$TOP"/} -> ${out#"$TOP"/} (clang-16, W=1; log: ${log#"$TOP"/})"
	lock_note
	lmake "$tree" "$out" W=1 "${@:-vmlinux}" >"$log" 2>&1 || rc=1
	# The link's own warnings (ld.lld, modpost, kallsyms: what follows "LD
	# vmlinux.o", every object is compiled by then) from the last run that linked.
	if [ $rc = 0 ] && [ $# = 0 ] && grep -qE '^  LD +vmlinux$' "$log"; then
		sed -n '/^  LD  *vmlinux\.o$/,$p' "$log" | grep -iE '(warning|error):' \
			>"$out/.harness-link.diag" || true
	fi
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

# The series first. Its warnings are compared with the base's; the base is
# built only as far as that needs (base_compare in config-lib.sh): not at all
# when the series has none, only the objects that warn when no link warns.
base_out=$BUILD/base/clang-out
step="building the series tree"
series_out=$BUILD/clang-out
for attempt in 1 2 3; do
	wait_tree "$SERIES_TREE"
	head=$(git -C "$SERIES_TREE" rev-parse HEAD)
	built=1
	build series "$SERIES_TREE" "$series_out" || built=0
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
	if ! build base "$BASE_TREE" "$base_out"; then
		tail_log "$L/clang-base-build.log" 30
		fail_exit "the base tree does not build with clang-16 either (not the series' doing; a toolchain problem?): $(first_error "$L/clang-base-build.log"); log: ${L#"$TOP"/}/clang-base-build.log"
	fi
	fail_exit "the series does not build with clang-16 (the base does): $(first_error "$L/clang-series-build.log"); log: ${L#"$TOP"/}/clang-series-build.log"
fi
diags series "$SERIES_TREE" "$series_out"
members "$series_out" | sort -u >"$L/clang-members.txt"
base_compare clang "$series_out" "$L/clang-members.txt"

# --- the touched objects this configuration builds (for the log) -----------------------------
step="comparing warnings"
mapfile -t touched < <(git -C "$SERIES_TREE" diff --name-only base -- '*.c' '*.h')
objs=()
for f in "${touched[@]}"; do
	case $f in
	*.c) objs+=("${f%.c}.o") ;;
	*.h) for c in "$SERIES_TREE/$(dirname "$f")"/*.c; do
		[ -f "$c" ] || continue
		c=${c#"$SERIES_TREE"/}
		objs+=("${c%.c}.o")
	done ;;
	esac
done
printf '%s\n' "${objs[@]}" | sort -u | comm -12 - "$L/clang-members.txt" >"$L/clang-touched-objects.txt"
info "touched objects this configuration builds: $(tr '\n' ' ' <"$L/clang-touched-objects.txt")"

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
