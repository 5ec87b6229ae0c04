#!/usr/bin/env bash
# Series hygiene, part of make check. Appends PASS/FAIL/SKIP lines to
# $RESULTS (for results.py); details go to build/logs/hygiene/.
#
#   series_files          patches/series and the patch files agree
#   cover_letter_base     the cover letter names the pinned base and commit
#   series_exported       build/linux holds exactly the exported series
#   checkpatch:<patch>    scripts/checkpatch.pl --strict: no error, warning or check
#   builds_alone:<patch>  every patch builds on its own (incremental, ccache)
#   builds_alone_x86:<patch>  and, if it touches the PCI core or the Intel or
#                         AMD IOMMU drivers, their x86_64 objects too
#   no_new_warnings       sparse and W=1 on the touched files: nothing new
#                         compared with the base
#   series_*, cover_letter_shortlog, cover_letter_diffstat, series_check_selftest
#                         the exported files' metadata (scripts/series-check.sh)
#
# Exceptions to checkpatch live in configs/checkpatch-exceptions, with reasons.
. "$(dirname "$0")/lib.sh"

: "${RESULTS:?RESULTS must name the results file}"
H=$LOGS/hygiene
rm -rf "$H"
mkdir -p "$H"
MAIN=$BUILD/linux
pass() { echo "PASS $1${2:+: $2}" >>"$RESULTS"; ok "$1${2:+ ($2)}"; }
fail() { echo "FAIL $1: $2" >>"$RESULTS"; warn "$1: $2"; }
skip() { echo "SKIP $1: $2" >>"$RESULTS"; info "skip $1: $2"; }

# Verdicts that depend only on what they were computed from are kept in
# HARNESS_CACHE/hygiene/ (lib.sh: outside the clone, so that CI's new clone of
# a commit checked here finds them), under a key naming all of it (sha256 of
# its inputs): a patch checkpatch saw before, a tree the per-patch build built
# before. Every key also names this script and lib.sh as they are, so that a
# verdict of another harness is never reused. Only passes are kept; a failure
# is recomputed every run.
HC=$HARNESS_CACHE/hygiene
mkdir -p "$HC"
harness_id=$(cat "$TOP/scripts/hygiene.sh" "$TOP/scripts/lib.sh" | sha256sum)
cache_key() { # WORDS...: the key of these inputs
	printf '%s\n' "$harness_id" "$@" | sha256sum | cut -c1-40
}
hc_put() { # FILE KEY: keep FILE as KEY (whole, for a reader beside; never
	# fatal: a full or read-only cache only costs time)
	local t
	t=$(mktemp "$HC/.put.XXXXXX" 2>/dev/null) || return 0
	{ cp "$1" "$t" && mv -f "$t" "$HC/$2"; } 2>/dev/null || rm -f "$t"
}
hc_mark() { # KEY: a pass with nothing to keep
	: 2>/dev/null >"$HC/$1" || true
}
# The tree as make check tests it: HEAD, uncommitted changes and files not
# yet added (git diff HEAD leaves those out).
tree_now_id() {
	git -C "$MAIN" rev-parse 'HEAD^{tree}'
	git -C "$MAIN" diff HEAD | sha256sum
	(cd "$MAIN" && git ls-files -z -o --exclude-standard | xargs -0 -r sha256sum | sha256sum)
}
gcc_id=$("${CROSS}gcc" --version | head -n 1; "${CROSS}ld" --version | head -n 1)
config_id=$(sha256sum <"$BUILD/out/.config")

# --- series file ------------------------------------------------------------
if (check_series) 2>"$H/series.log"; then
	pass series_files
else
	fail series_files "$(grep -v '^ ' "$H/series.log" | head -3 | tr '\n' ' ')"
fi
mapfile -t patches < <(series_list)

# --- cover letter -------------------------------------------------------------
cover=$TOP/patches/0000-cover-letter.patch
base_sha=$(git -C "$MAIN" rev-parse base)
if [ ! -f "$cover" ]; then
	fail cover_letter_base "patches/0000-cover-letter.patch is missing (make export writes it)"
elif ! grep -qx "base-commit: $base_sha" "$cover"; then
	fail cover_letter_base "its base-commit line is not $base_sha (the pinned base); run make export"
elif ! grep -qF "$BASE_PKG $BASE_VERSION" "$cover"; then
	fail cover_letter_base "it does not name $BASE_PKG $BASE_VERSION; run make export"
else
	pass cover_letter_base
fi

# --- the exported files' metadata: sign-offs, subject prefixes, whitespace,
# the cover letter's shortlog and diffstat (from patches/ alone) --------------------
"$TOP/scripts/series-check.sh" "$TOP/patches" || fail series_check "scripts/series-check.sh stopped (exit $?)"

# --- documentation: kernel-doc -none on the touched C files, docutils on the
# touched rst (scripts/docs-check.sh says why not a full make htmldocs) ------------
"$TOP/scripts/docs-check.sh" >/dev/null || true

# --- the tree is the series -----------------------------------------------------
tree_ids=$(git -C "$MAIN" log --reverse -p --format='commit %H' base..HEAD | git patch-id --stable | cut -d' ' -f1)
file_ids=$(for p in "${patches[@]}"; do cat "$TOP/patches/$p"; done | git patch-id --stable | cut -d' ' -f1)
if [ "$tree_ids" = "$file_ids" ] && [ -z "$(git -C "$MAIN" status --porcelain --untracked-files=no)" ]; then
	pass series_exported
else
	skip series_exported "build/linux differs from patches/ (this run tests the tree; 'make export' when done)"
fi

mapfile -t commits < <(git -C "$MAIN" rev-list --reverse base..HEAD)
if [ ${#commits[@]} = 0 ]; then
	skip checkpatch "empty series"
	skip builds_alone "empty series"
	skip no_new_warnings "empty series"
	exit 0
fi

# --- checkpatch ----------------------------------------------------------------
exceptions=$TOP/configs/checkpatch-exceptions
checkpatch_id=$(cd "$MAIN" && cat scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch \
	scripts/spdxcheck.py LICENSES/*/* 2>/dev/null | sha256sum)
i=0
for c in "${commits[@]}"; do
	i=$((i + 1))
	name=$(git -C "$MAIN" log -1 --format=%f "$c" | cut -c1-52)
	name=$(printf '%04d-%s' "$i" "$name")
	ignore=
	if [ -f "$exceptions" ]; then
		# lines: TYPE[,TYPE] | subject glob | reason
		subject=$(git -C "$MAIN" log -1 --format=%s "$c")
		while IFS='|' read -r types glob reason; do
			types=$(echo "$types" | tr -d ' ')
			glob=$(echo "$glob" | sed 's/^ *//; s/ *$//')
			case $types in '#'* | '') continue ;; esac
			[ -n "$reason" ] || die "configs/checkpatch-exceptions: '$types' has no reason" \
				"every exception says why, after a second '|'"
			# shellcheck disable=SC2254
			case $subject in $glob) ignore+=${ignore:+,}$types ;; esac
		done <"$exceptions"
	fi
	git -C "$MAIN" format-patch -1 --stdout "$c" >"$H/$name.patch"
	# The key: the patch as mailed (its "From <commit>" line aside), the
	# exceptions that apply, and checkpatch with its data files.
	key=$(cache_key "$(tail -n +2 "$H/$name.patch" | sha256sum)" "$ignore" "$checkpatch_id")
	if [ -f "$HC/checkpatch-$key" ]; then
		cp "$HC/checkpatch-$key" "$H/$name.checkpatch"
	else
		# Debian's python3 first: checkpatch's SPDX check (spdxcheck.py) needs its
		# python3-ply and python3-git, which another python3 on PATH may lack.
		(cd "$MAIN" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict --no-signoff --showfile \
			${ignore:+--ignore "$ignore"} "$H/$name.patch") >"$H/$name.checkpatch" 2>&1 || true
		grep -qE '^(ERROR|WARNING|CHECK):|^[^ ]+:[0-9]+: (ERROR|WARNING|CHECK):' "$H/$name.checkpatch" ||
			hc_put "$H/$name.checkpatch" "checkpatch-$key"
	fi
	if grep -qE '^(ERROR|WARNING|CHECK):|^[^ ]+:[0-9]+: (ERROR|WARNING|CHECK):' "$H/$name.checkpatch"; then
		fail "checkpatch:$name" "$(grep -cE '(ERROR|WARNING|CHECK):' "$H/$name.checkpatch") issue(s), see ${H#"$TOP"/}/$name.checkpatch"
		sed -n '1,30p' "$H/$name.checkpatch" >&2
	else
		pass "checkpatch:$name"
	fi
	# Signed-off-by of the author.
	author=$(git -C "$MAIN" log -1 --format='%an <%ae>' "$c")
	if git -C "$MAIN" log -1 --format=%B "$c" | grep -qxF "Signed-off-by: $author"; then
		pass "signed_off:$name"
	else
		fail "signed_off:$name" "no 'Signed-off-by: $author'"
	fi
done

# --- every patch builds on its own -------------------------------------------------
# x86_build DIR TREE: the x86_64 objects of the other callers of the PCI ATS API
# (drivers/pci, the Intel and AMD IOMMU drivers) of TREE, out of tree in DIR,
# configured from configs/x86-boot.config (allnoconfig; the x86_ats step's
# kernel, which has both drivers) when it changed, W=1 as that kernel is built,
# so that ccache serves all the commit shares with it.
x86_build() {
	local dir=$1 tree=$2
	mkdir -p "$dir"
	if ! cmp -s "$TOP/configs/x86-boot.config" "$dir/harness.config" ||
		[ ! -f "$dir/.config" ]; then
		cp "$TOP/configs/x86-boot.config" "$dir/harness.config"
		make -C "$tree" O="$dir" ARCH=x86_64 CROSS_COMPILE= \
			KCONFIG_ALLCONFIG="$dir/harness.config" allnoconfig || return 1
	fi
	make -C "$tree" O="$dir" ARCH=x86_64 CROSS_COMPILE= -j"$JOBS" W=1 \
		drivers/pci/ drivers/iommu/intel/ drivers/iommu/amd/
}
# The files whose patches the x86 build checks on their own as well.
X86_FILES='^(drivers/pci/|drivers/iommu/(intel|amd)/|include/linux/pci)'

# The last commit is the main build; the others are built in build/bisect.
if [ ${#commits[@]} -gt 1 ]; then
	variant_dirs bisect
	if [ ! -e "$SRC/.git" ]; then
		git -C "$MAIN" worktree prune
		git -C "$MAIN" worktree add -q --detach "$SRC" "${commits[0]}"
	fi
	# A commit whose tree was built before with the same configuration and
	# compiler is not built again (its tree id is in the key).
	x86_id=$(sha256sum <"$TOP/configs/x86-boot.config")
	diag_wrapper "${CROSS}gcc"
	# shellcheck disable=SC2034 # read through an assignment before kmake
	arm64_wrap=$WRAP
	i=0 cached=0
	for c in "${commits[@]:0:${#commits[@]}-1}"; do
		i=$((i + 1))
		name=$(printf '%04d-%s' "$i" "$(git -C "$MAIN" log -1 --format=%f "$c" | cut -c1-52)")
		tree_id=$(git -C "$MAIN" rev-parse "$c^{tree}")
		key=$(cache_key builds_alone "$tree_id" "$config_id" "$gcc_id")
		if [ -f "$HC/$key" ]; then
			pass "builds_alone:$name" "cached: tree ${tree_id:0:12} built with this configuration before"
			cached=$((cached + 1))
		else
			prev=$(git -C "$SRC" rev-parse HEAD)
			git -C "$SRC" checkout -q --detach "$c"
			mkdir -p "$OUT"
			# olddefconfig only for a new configuration or changed Kconfig
			# files (make Image syncs the rest by itself)
			olddef=
			if ! cmp -s "$BUILD/out/.config" "$OUT/.config.harness"; then
				cp "$BUILD/out/.config" "$OUT/.config"
				cp "$BUILD/out/.config" "$OUT/.config.harness"
				olddef=1
			fi
			git -C "$SRC" diff --quiet "$prev" "$c" -- '*Kconfig*' || olddef=1
			# (W=1 and the diagnostics wrapper, as scripts/kernel.sh builds
			# build/out: ccache serves what the commit shares with it)
			if ({ [ -z "$olddef" ] || kmake olddefconfig; } && KMAKE_ARGS="W=1 CC=$arm64_wrap" kmake Image) >"$H/$name.build.log" 2>&1; then
				pass "builds_alone:$name"
				hc_mark "$key"
			else
				fail "builds_alone:$name" "see ${H#"$TOP"/}/$name.build.log"
				tail -n 20 "$H/$name.build.log" >&2
			fi
		fi
		git -C "$MAIN" diff-tree --no-commit-id --name-only -r "$c" | grep -qE "$X86_FILES" ||
			continue
		key=$(cache_key builds_alone_x86 "$tree_id" "$x86_id" "$(gcc --version | head -n 1; ld --version | head -n 1)")
		if [ -f "$HC/$key" ]; then
			pass "builds_alone_x86:$name" "cached: tree ${tree_id:0:12} built for x86_64 before"
			continue
		fi
		# (the worktree may still be at another commit if the arm64 build was cached)
		git -C "$SRC" checkout -q --detach "$c"
		# (build/bisect/x86/out: the tree at ../../linux, as from build/x86/boot-out)
		if x86_build "${OUT%/out}/x86/out" "$SRC" >"$H/$name.x86-build.log" 2>&1; then
			pass "builds_alone_x86:$name"
			hc_mark "$key"
		else
			fail "builds_alone_x86:$name" "the x86_64 build of drivers/pci and drivers/iommu/{intel,amd} failed: see ${H#"$TOP"/}/$name.x86-build.log"
			tail -n 20 "$H/$name.x86-build.log" >&2
		fi
	done
else
	skip builds_alone "one patch: the main build covers it"
fi

# --- the other callers of the PCI ATS API still build -----------------------------------
# The Intel and AMD IOMMU drivers are x86 code: when the series touches the PCI
# ATS core, build their directories (and the core) natively for x86_64, W=1;
# any error, or a W=1 warning in a file the series touches, fails.
if git -C "$MAIN" diff --quiet base HEAD -- drivers/pci/ats.c include/linux/pci-ats.h \
	include/linux/pci.h drivers/iommu/intel drivers/iommu/amd; then
	skip x86_iommu_builds "the series does not touch the PCI ATS core or the x86 IOMMU drivers"
elif x86_key=$(cache_key x86_iommu_builds "$(tree_now_id)" "$(sha256sum <"$TOP/configs/x86-boot.config")" \
	"$(gcc --version | head -n 1; ld --version | head -n 1)") && [ -f "$HC/$x86_key" ]; then
	pass x86_iommu_builds "cached: this tree built for x86_64 before"
else
	xout=$BUILD/x86/out
	mkdir -p "$xout"
	xmake() { make -C "$MAIN" O="$xout" ARCH=x86_64 CROSS_COMPILE= -j"$JOBS" "$@"; }
	if ! cmp -s "$TOP/configs/x86-boot.config" "$xout/harness.config" ||
		[ ! -f "$xout/.config" ]; then
		cp "$TOP/configs/x86-boot.config" "$xout/harness.config"
		xmake KCONFIG_ALLCONFIG="$xout/harness.config" allnoconfig >"$H/x86-config.log" 2>&1
	fi
	missing=$(grep -E '^CONFIG_' "$xout/harness.config" | while read -r l; do
		grep -qx "$l" "$xout/.config" || echo "${l%%=*}"; done)
	if [ -n "$missing" ]; then
		rm -f "$xout/harness.config"
		fail x86_iommu_builds "Kconfig dropped: $(echo $missing)"
	elif xmake W=1 drivers/pci/ats.o drivers/iommu/intel/ drivers/iommu/amd/ \
		>"$H/x86-build.log" 2>&1; then
		# W=1 warnings in files the series touches (the x86 drivers have
		# warnings of their own in the base, e.g. intel/dmar.c).
		git -C "$MAIN" diff --name-only base HEAD >"$H/touched.txt"
		if grep -E '(warning|error):' "$H/x86-build.log" | grep -F -f "$H/touched.txt" >"$H/x86-warnings.txt"; then
			fail x86_iommu_builds "W=1 warnings in touched files of the x86 build: see ${H#"$TOP"/}/x86-warnings.txt"
		else
			pass x86_iommu_builds
			hc_mark "$x86_key"
		fi
	else
		fail x86_iommu_builds "the x86_64 build of drivers/iommu/{intel,amd} failed: see ${H#"$TOP"/}/x86-build.log"
		tail -n 20 "$H/x86-build.log" >&2
	fi
fi

# --- sparse and W=1 on the touched files, base versus series ---------------------------
mapfile -t touched < <(git -C "$MAIN" diff --name-only base HEAD -- '*.c' '*.h')
objs=()
for f in "${touched[@]}"; do
	case $f in
	*.c) [ -f "$MAIN/$f" ] && objs+=("${f%.c}.o") ;;
	*.h) for c in "$MAIN/$(dirname "$f")"/*.c; do
		[ -f "$c" ] && objs+=("${c#"$MAIN"/}") && objs[-1]=${objs[-1]%.c}.o
	done ;;
	esac
done
mapfile -t objs < <(printf '%s\n' "${objs[@]}" | sort -u)
# Only objects this configuration builds.
built=()
for o in "${objs[@]}"; do
	[ -f "$BUILD/out/$o" ] && built+=("$o")
done
if [ ${#built[@]} = 0 ]; then
	skip no_new_warnings "the series touches no C file of this configuration"
	exit 0
fi
# normalize: compare messages, not places: drop the tree prefix and line
# numbers, and count each message once (prepare steps such as the vDSO may run
# and warn a different number of times in the two trees).
normalize() {
	grep -E '(warning|error):' |
		sed -E "s|^$BUILD/([a-z]+/)?linux/||; s|^/([^: ]*/)?build/([a-z]+/)?linux/||; s|^(\.\./)+linux/||" |
		sed -E 's/:[0-9]+:[0-9]+:/:/; s/:[0-9]+:/:/' | sort -u
}
warnings() {	# variant -> normalized warnings of the touched objects
	local v=$1
	(
		variant_dirs "$v"
		mkdir -p "$OUT"
		[ -f "$OUT/.config" ] || cp "$BUILD/out/.config" "$OUT/.config"
		kmake olddefconfig >/dev/null 2>&1
		srcs=()
		for o in "${built[@]}"; do
			[ -f "$SRC/${o%.o}.c" ] || continue
			rm -f "$OUT/$o"	# W=1 warnings come only from a compile
			srcs+=("$o")
		done
		# one make for all (-k: every object, whatever one of them does)
		[ ${#srcs[@]} = 0 ] ||
			kmake -k C=2 CHECK="sparse -Wno-unknown-attribute" W=1 "${srcs[@]}" 2>&1 || true
	) >"$H/warnings-$v.log" 2>&1
	normalize <"$H/warnings-$v.log"
}
# series_warnings: the same for the series tree as it is, in an out directory
# of its own (build/warn-out: the tree at ../linux, as from build/out), so
# that build/out, the tested kernel, is left alone and make recompiles only
# what changed there. Always W=1, sparse on each object compiled (C=1), the
# compiler and sparse wrapped so that each object keeps its diagnostics
# beside it (<object>.diag, <object>.sparse): the warnings of every touched
# object are read from those files, whether it was compiled now or before.
series_warnings() {
	local wout=$BUILD/warn-out wbin=$BUILD/configs/bin o srcs=()
	(
		SRC=$MAIN OUT=$wout
		mkdir -p "$OUT" "$wbin"
		diag_wrapper "${CROSS}gcc"
		cat >"$wbin/sparse-keep.$$" <<-EOF
		#!/bin/sh
		# Written by scripts/hygiene.sh: sparse, whose diagnostics of each
		# source (the last argument) are kept in <object>.sparse.
		for a in "\$@"; do src=\$a; done
		obj=\${src#"$MAIN"/}
		case \$obj in /* | ../*) obj=\${obj#*/linux/} ;; esac
		obj=\${obj%.c}.o
		mkdir -p "\$(dirname "\$obj")"
		sparse -Wno-unknown-attribute "\$@" 2>"\$obj.sparse.tmp"
		rc=\$?
		cat "\$obj.sparse.tmp" >&2
		mv -f "\$obj.sparse.tmp" "\$obj.sparse"
		exit \$rc
		EOF
		chmod +x "$wbin/sparse-keep.$$"
		mv -f "$wbin/sparse-keep.$$" "$wbin/sparse-keep"
		export KMAKE_ARGS="W=1 CC=$WRAP"
		if ! cmp -s "$BUILD/out/.config" "$OUT/.config.harness"; then
			cp "$BUILD/out/.config" "$OUT/.config"
			kmake olddefconfig >/dev/null 2>&1
			cp "$BUILD/out/.config" "$OUT/.config.harness"
		fi
		# Other tools: everything again.
		[ "$(cat "$OUT/.harness-tools" 2>/dev/null)" = "$tools_id" ] ||
			for o in "${built[@]}"; do rm -f "$OUT/$o"; done
		echo "$tools_id" >"$OUT/.harness-tools"
		for o in "${built[@]}"; do
			[ -f "$SRC/${o%.o}.c" ] || continue
			# (an object without both files is compiled again)
			[ -f "$OUT/$o.diag" ] && [ -f "$OUT/$o.sparse" ] || rm -f "$OUT/$o"
			srcs+=("$o")
		done
		[ ${#srcs[@]} = 0 ] || {
			kmake -k C=1 CHECK="$wbin/sparse-keep" "${srcs[@]}" 2>&1 || true
			echo "--- the diagnostics of each touched object (.diag, .sparse):"
			for o in "${srcs[@]}"; do cat "$OUT/$o.diag" "$OUT/$o.sparse" 2>/dev/null || true; done
		}
	) >"$H/warnings-series.log" 2>&1
	normalize <"$H/warnings-series.log"
}
[ -e "$BUILD/base/linux/.git" ] || git -C "$MAIN" worktree add -q --detach "$BUILD/base/linux" base
[ "$(git -C "$BUILD/base/linux" rev-parse HEAD)" = "$(git -C "$MAIN" rev-parse 'base^{commit}')" ] ||
	git -C "$BUILD/base/linux" checkout -q --detach base
# Both sides cached: the base's by what it depends on (the base, the
# configuration, the objects, the tools), the series' likewise with the tree
# as it is (HEAD and any change not yet committed), when it passed.
tools_id=$(cache_key "$gcc_id" "$(sparse --version 2>&1)")
objs_id=$(cache_key "${built[@]}")
key=$(cache_key warnings-base "$(git -C "$MAIN" rev-parse 'base^{tree}')" "$config_id" "$objs_id" "$tools_id")
if [ -f "$HC/warnings-$key" ]; then
	cp "$HC/warnings-$key" "$H/warnings-base.txt"
	echo "cached: $HC/warnings-$key" >"$H/warnings-base.log"
else
	warnings base >"$H/warnings-base.txt"
	hc_put "$H/warnings-base.txt" "warnings-$key"
fi
series_key=$(cache_key warnings-series "$(tree_now_id)" "$config_id" "$objs_id" "$tools_id")
if [ -f "$HC/warnings-$series_key" ]; then
	cp "$HC/warnings-$series_key" "$H/warnings-series.txt"
	echo "cached: $HC/warnings-$series_key" >"$H/warnings-series.log"
else
	series_warnings >"$H/warnings-series.txt"
fi
new=$(comm -13 "$H/warnings-base.txt" "$H/warnings-series.txt")
if [ -z "$new" ]; then
	pass no_new_warnings
	hc_put "$H/warnings-series.txt" "warnings-$series_key"
else
	fail no_new_warnings "$(echo "$new" | wc -l) new sparse/W=1 warning(s): see ${H#"$TOP"/}/warnings-series.log"
	echo "$new" | head -20 >&2
fi
