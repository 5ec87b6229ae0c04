#!/usr/bin/env bash
# config:debian: the series under Debian's own arm64 kernel configuration.
#
# Debian's configuration of the pinned base comes from linux-config-6.12
# (the package named like $BASE_PKG, version $BASE_VERSION, architecture arm64;
# /usr/src/linux-config-6.12/config.arm64_none_arm64.xz), fetched through a
# private apt state in build/configs/debian-apt (arm64 lists; the machine's apt
# setup is untouched, as lib.sh's busybox_arm64 fetches busybox-static) and cached:
# a warm run does not fetch. With it (make olddefconfig; what olddefconfig
# changes is logged), drivers/iommu/ and drivers/pci/ are built for arm64 with
# aarch64-linux-gnu-gcc, at Debian's warning level (no W=1), in the base tree
# (build/base/linux at tag "base") and in the series tree, out of tree in
# build/base/debian-out and build/debian-out. Any warning or
# error of the series build that the base build does not have fails (compared
# as hygiene.sh compares them: tree prefix and line numbers dropped).
# The series is built first and the base only as far as the comparison needs
# (base_compare in config-lib.sh: not at all when the series has no warning,
# only the objects that warn when no link does, the whole base otherwise);
# the verdict is the one a whole base build gives.
#
# How Debian builds the series' code (the SMMUv3 driver, its KUnit test,
# PCI_ATS, PCI_IOV, PCI_PRI, PCI_PASID, IOMMUFD, ARM_SMMU_V3_SVA, ...) goes to
# the log and to build/configs/debian-symbols.txt.
#
# Incremental: the configuration is redone only when Debian's file (or the
# overrides) change; the compiler is a wrapper (build/configs/bin/
# aarch64-linux-gnu-gcc-diag, through ccache) that keeps each object's
# diagnostics beside it (<object>.diag), so a build that recompiles nothing
# still knows every object's warnings.
#
# Appends exactly one line to $RESULTS (default build/logs/configs/debian.results):
# "PASS config:debian" or "FAIL config:debian: <reason>"; exit status 1 on FAIL.
# Logs: build/logs/configs/debian-*.
#
#   SERIES_TREE=dir   the series tree (default build/linux); keep it at
#                     build/<x>/linux
#   BUILD_LOCK=file   every kernel build runs under flock(1) of this file
#                     (default: none; make check runs one build at a time)
#   TREE_WAIT=s       how long to wait while the series tree is mid-rebase
#                     (default 3600)
. "$(dirname "$0")/lib.sh"

NAME=config:debian
L=$LOGS/configs
C=$BUILD/configs
mkdir -p "$L" "$C"
RESULTS=${RESULTS:-$L/debian.results}
BASE_TREE=$BUILD/base/linux
SERIES_TREE=${SERIES_TREE:-$BUILD/linux}
BUILD_LOCK=${BUILD_LOCK:-}
TREE_WAIT=${TREE_WAIT:-3600}
CFG_PKG=${BASE_PKG/linux-source/linux-config}	# linux-config-6.12
FLAVOUR=arm64_none_arm64
SYMBOLS=(ARM_SMMU_V3 ARM_SMMU_V3_KUNIT_TEST ARM_SMMU_V3_SVA PCI_ATS PCI_IOV PCI_PRI PCI_PASID
	IOMMUFD IOMMU_SVA KUNIT PCI_ATS_KUNIT_TEST)
DIRS=(drivers/iommu drivers/pci)
BASE_DESC="with Debian's configuration either"
rm -f "$L"/debian-*

# shellcheck source=config-lib.sh
. "$(dirname "$0")/config-lib.sh"

step="checking SERIES_TREE"
tree=$(cd "$SERIES_TREE" 2>/dev/null && pwd) ||
	fail_exit "SERIES_TREE=$SERIES_TREE does not exist: point it at a kernel tree (a git worktree of build/linux at build/<x>/linux), or leave it unset"
SERIES_TREE=$tree

step="checking the toolchain"
# (the real compiler: $CCBIN, first in PATH, holds ccache's links)
PATH=${PATH//"$CCBIN:"/} command -v "${CROSS}gcc" >/dev/null || fail_exit "${CROSS}gcc missing: run make deps"
[ -z "$BUILD_LOCK" ] || command -v flock >/dev/null || fail_exit "flock missing (util-linux): install it, or run with BUILD_LOCK="
for t in apt-get dpkg-deb xz; do
	command -v "$t" >/dev/null || fail_exit "$t missing: run make deps"
done

# --- Debian's configuration, fetched once -----------------------------------------------
step="fetching Debian's configuration"
DEB_CONFIG=$C/debian-config/config.$FLAVOUR-$BASE_VERSION
if [ ! -s "$DEB_CONFIG" ]; then
	info "fetching $CFG_PKG:arm64 $BASE_VERSION from Debian's archive (private apt state)"
	st=$C/debian-apt
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "${DEB_CONFIG%/*}"
	o=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$st/lists"
		-oDir::Cache="$st/cache" -oDebug::NoLocking=1)
	deb=$st/${CFG_PKG}_${BASE_VERSION}_arm64.deb
	if [ ! -s "$deb" ]; then
		# A source of the machine without arm64 lists makes update fail while
		# Debian's lists are fine: the download below says whether they sufficed.
		apt-get "${o[@]}" update >"$L/debian-apt.log" 2>&1 ||
			warn "apt-get update (arm64 lists, private state) reported errors: see ${L#"$TOP"/}/debian-apt.log"
		if ! (cd "$st" && apt-get "${o[@]}" download "$CFG_PKG:arm64=$BASE_VERSION") >>"$L/debian-apt.log" 2>&1; then
			served=$(apt-cache "${o[@]}" madison "$CFG_PKG" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
			# The archive keeps only the newest stable point release: take
			# the newest served one of the same 6.12 line (its configuration,
			# olddefconfig'd on the pinned tree below), and say so.
			CFG_VERSION=$(printf '%s\n' $served | grep -E "^$(echo "$BASE_VERSION" | cut -d. -f1-2)\." | sort -V | tail -n 1)
			[ -n "$CFG_VERSION" ] && (cd "$st" && apt-get "${o[@]}" download "$CFG_PKG:arm64=$CFG_VERSION") >>"$L/debian-apt.log" 2>&1 ||
				fail_exit "$CFG_PKG:arm64 $BASE_VERSION (the pinned base) is not served by the archive, nor another $(echo "$BASE_VERSION" | cut -d. -f1-2) version (served: ${served:-none}); put that package at ${deb#"$TOP"/} by hand, or move base/linux.conf to a served version; see ${L#"$TOP"/}/debian-apt.log"
			warn "$CFG_PKG:arm64 $BASE_VERSION (the pinned base) is no longer served; using $CFG_VERSION's configuration instead (olddefconfig on the pinned tree)"
			for f in "$st/${CFG_PKG}_"*"_arm64.deb"; do [ "$f" = "$deb" ] || mv -f "$f" "$deb"; done
		fi
	fi
	[ -s "$deb" ] || fail_exit "apt-get download did not leave ${deb#"$TOP"/}: see ${L#"$TOP"/}/debian-apt.log"
	got=$(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')
	got_v=$(dpkg-deb -f "$deb" Version)
	case $got_v in $(echo "$BASE_VERSION" | cut -d. -f1-2).*) ;; *) got_v=bad ;; esac
	[ "$got" = "Package: $CFG_PKG Version: $got_v Architecture: arm64 " ] ||
		fail_exit "${deb#"$TOP"/} is '$got', not $CFG_PKG $BASE_VERSION (or another version of its line) arm64: delete it and run again"
	[ "$got_v" = "$BASE_VERSION" ] || info "Debian's configuration of $CFG_PKG $got_v (the pinned $BASE_VERSION is no longer served)"
	if ! dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./usr/src/$CFG_PKG/config.$FLAVOUR.xz" |
		xz -dc >"$DEB_CONFIG.tmp" || [ ! -s "$DEB_CONFIG.tmp" ]; then
		rm -f "$DEB_CONFIG.tmp"
		fail_exit "${deb#"$TOP"/} has no usr/src/$CFG_PKG/config.$FLAVOUR.xz (dpkg-deb -c lists what it has)"
	fi
	mv -f "$DEB_CONFIG.tmp" "$DEB_CONFIG"
	ok "Debian's configuration: ${DEB_CONFIG#"$TOP"/}"
fi

# --- the compiler wrapper and make (config-lib.sh) ----------------------------------------
diag_wrapper "${CROSS}gcc"
TOOLCHAIN=(CROSS_COMPILE="$CROSS")

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
# value FILE SYM: y, m, a value, "n" (is not set) or "absent".
value() {
	local l
	l=$(grep -E "^CONFIG_$2=|^# CONFIG_$2 is not set" "$1" || true)
	case $l in
	'') echo absent ;;
	'#'*) echo n ;;
	*) echo "${l#*=}" ;;
	esac
}

# configure V TREE OUT: Debian's file, neutralised where it names files of
# Debian's build machine, then olddefconfig; only when the seed changed. What
# olddefconfig changed goes to $L/debian-V-olddefconfig.txt.
configure() {
	local v=$1 tree=$2 out=$3 seed=$3/harness.seed s val args=()
	mkdir -p "$out"
	# Key and certificate files of Debian's build machine do not exist here.
	# (Building drivers/ only needs none of them; neutralised when set.)
	for s in SYSTEM_TRUSTED_KEYS SYSTEM_REVOCATION_KEYS; do
		val=$(value "$DEB_CONFIG" "$s")
		case $val in absent | n | '""') ;; *) args+=(--set-str "$s" "") ;; esac
	done
	val=$(value "$DEB_CONFIG" MODULE_SIG_KEY)
	case $val in absent | n | '"certs/signing_key.pem"' | '"pkcs11:'*) ;; *) args+=(--set-str MODULE_SIG_KEY certs/signing_key.pem) ;; esac
	{
		echo "# config-debian.sh: $CFG_PKG $BASE_VERSION config.$FLAVOUR; overrides: ${args[*]:-none}"
		cat "$DEB_CONFIG"
	} >"$seed.new"
	if [ -f "$out/.config" ] && cmp -s "$seed.new" "$seed"; then
		rm -f "$seed.new"
		return 0
	fi
	info "configuring ${out#"$TOP"/} (Debian's config.$FLAVOUR + olddefconfig; overrides: ${args[*]:-none})"
	cp "$DEB_CONFIG" "$out/.config"
	[ ${#args[@]} = 0 ] || "$tree/scripts/config" --file "$out/.config" "${args[@]}"
	lock_note
	if ! lmake "$tree" "$out" olddefconfig >"$L/debian-$v-config.log" 2>&1; then
		tail_log "$L/debian-$v-config.log" 20
		fail_exit "olddefconfig of Debian's configuration failed in ${tree#"$TOP"/}: see ${L#"$TOP"/}/debian-$v-config.log"
	fi
	# What olddefconfig changed (the toolchain's *_VERSION symbols aside).
	diff <(sed -nE 's/^CONFIG_([A-Za-z0-9_]+)=(.*)/\1 \2/p; s/^# CONFIG_([A-Za-z0-9_]+) is not set/\1 n/p' "$DEB_CONFIG" | sort) \
		<(sed -nE 's/^CONFIG_([A-Za-z0-9_]+)=(.*)/\1 \2/p; s/^# CONFIG_([A-Za-z0-9_]+) is not set/\1 n/p' "$out/.config" | sort) |
		sed -nE 's/^< /debian: /p; s/^> /now:    /p' | grep -vE '^[a-z]+: +[A-Z0-9_]*VERSION(_TEXT)? ' \
		>"$out/harness-olddefconfig.txt" || true
	mv -f "$seed.new" "$seed"
	ok "configured ${out#"$TOP"/}: olddefconfig changed $(awk '{ print $2 }' "$out/harness-olddefconfig.txt" | sort -u | wc -l) symbol(s), see ${L#"$TOP"/}/debian-$v-olddefconfig.txt"
}

# members OUT: the objects this configuration builds in DIRS (built-in.a's
# members, and the parts of each module), one a line, relative to OUT.
members() {
	local out=$1 d m
	for d in "${DIRS[@]}"; do
		# (ar lists a thin archive's members relative to the current directory)
		[ -f "$out/$d/built-in.a" ] && (cd "$out" && "${CROSS}ar" t "$d/built-in.a")
		[ -f "$out/$d/modules.order" ] || continue
		while read -r m; do
			if [ -f "$out/${m%.o}.mod" ]; then tr ' ' '\n' <"$out/${m%.o}.mod"; else echo "$m"; fi
		done <"$out/$d/modules.order"
	done | sed '/^$/d'
}

# diags V TREE OUT [LIST]: the warnings and errors of every object of the
# build (or of the objects listed in the file LIST), as
# "message-without-place<TAB>file:line: message", tree prefix dropped, to
# $L/debian-V.diag.
diags() {
	local v=$1 tree=$2 out=$3 list=${4:-} rel o
	rel=${tree#"$BUILD"/}
	if [ -n "$list" ]; then cat "$list"; else members "$out" | sort -u; fi | while read -r o; do
		[ -f "$out/$o.diag" ] && cat "$out/$o.diag"
	done | sed -E 's/\x1b\[[0-9;]*[mK]//g' | grep -iE '(warning|error):' |
		sed -E -e "s#^$tree/##" -e "s#^$BUILD/##" -e 's#^(\.\./)+##' -e "s#^$rel/##" \
			-e 's#^/([^: ]*/)?build/##' -e 's#^([a-z0-9_-]+/)?linux/##' |
		awk '{ m = $0; sub(/:[0-9]+:[0-9]+:/, ":", m); sub(/:[0-9]+:/, ":", m); print m "\t" $0 }' \
			>"$L/debian-$v.diag" || true
}

# build V TREE OUT [OBJECT...]: configure and build DIRS (or only these
# objects); 1 if the build failed.
build() {
	local v=$1 tree=$2 out=$3 start=$SECONDS rc=0
	local log=$L/debian-$v-build.log
	shift 3
	configure "$v" "$tree" "$out"
	cp "$out/harness-olddefconfig.txt" "$L/debian-$v-olddefconfig.txt" 2>/dev/null || true
	info "building ${*:-${DIRS[*]}} of ${tree#"$TOP"/} -> ${out#"$TOP"/} (Debian's config; log: ${log#"$TOP"/})"
	lock_note
	if [ $# = 0 ]; then set -- "${DIRS[@]/%//}"; fi
	lmake "$tree" "$out" "$@" >"$log" 2>&1 || rc=1
	[ $rc != 0 ] || ok "built ${out#"$TOP"/} in $((SECONDS - start)) s, $(waited "$log" "$L/debian-$v-config.log") s of it waiting for the build lock ($(grep -cE '^  (CC|AS)( \[M\])? ' "$log" || true) objects compiled)"
	return $rc
}

# first_error LOG: the first error of a failed build.
first_error() {
	sed -E 's/\x1b\[[0-9;]*[mK]//g' "$1" | grep -m1 -iE 'error' |
		sed -E -e "s#^($BUILD/|(\.\./)+)##" -e 's#^([a-z0-9_-]+/)?linux/##' | cut -c1-240
}

# The series first; the base is built only as far as comparing their warnings
# needs (base_compare in config-lib.sh). Same relative layout as build/out
# and build/base/out: ccache shares objects.
base_out=$BUILD/base/debian-out
step="building the series tree"
series_out=$BUILD/debian-out
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

# --- how Debian builds the series' code ------------------------------------------------------
step="recording Debian's symbols"
{
	echo "# How Debian's $CFG_PKG $BASE_VERSION (config.$FLAVOUR) builds the series' code"
	echo "# debian: as shipped; series: in build/debian-out after olddefconfig"
	echo "# (y built in, m module, n is not set, absent: not in the file)"
	for s in "${SYMBOLS[@]}"; do
		printf 'CONFIG_%-24s debian=%-8s series=%s\n' "$s" "$(value "$DEB_CONFIG" "$s")" "$(value "$series_out/.config" "$s")"
	done
	echo "# olddefconfig changed (symbol debian -> now; the toolchain's *_VERSION aside):"
	awk '{ v[$2] = v[$2] ($1 == "debian:" ? $3 " ->" : " " $3) } END { for (s in v) print "#   " s " " v[s] }' \
		"$series_out/harness-olddefconfig.txt" | sort
} >"$C/debian-symbols.txt"
sed -n '4,14p' "$C/debian-symbols.txt" | sed 's/^/  /'
cp "$C/debian-symbols.txt" "$L/debian-symbols.txt"
relevant=$(grep -E "^#   ($(IFS='|'; echo "${SYMBOLS[*]}")|[A-Z0-9_]*(IOMMU|SMMU|PCI)[A-Z0-9_]*) " "$C/debian-symbols.txt" || true)
if [ -n "$relevant" ]; then
	warn "olddefconfig changed symbols of the series' code: $(echo "$relevant" | tr -s ' \n' ' ')"
else
	info "olddefconfig changed $(grep -c '^#   ' "$C/debian-symbols.txt" || true) symbol(s), none of the series' code (see ${L#"$TOP"/}/debian-symbols.txt)"
fi

if [ "$built" = 0 ]; then
	tail_log "$L/debian-series-build.log" 30
	# Whose doing is it? The base, same configuration, answers.
	step="building the base tree"
	if ! build base "$BASE_TREE" "$base_out"; then
		tail_log "$L/debian-base-build.log" 30
		fail_exit "the base tree does not build with Debian's configuration either (not the series' doing): $(first_error "$L/debian-base-build.log"); log: ${L#"$TOP"/}/debian-base-build.log"
	fi
	fail_exit "the series does not build with Debian's configuration (the base does): $(first_error "$L/debian-series-build.log"); log: ${L#"$TOP"/}/debian-series-build.log"
fi
diags series "$SERIES_TREE" "$series_out"
members "$series_out" | sort -u >"$L/debian-members.txt"
base_compare debian "$series_out" "$L/debian-members.txt"

# --- the touched objects Debian's configuration builds (for the log) ---------------------------
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
printf '%s\n' "${objs[@]}" | sort -u | comm -12 - "$L/debian-members.txt" >"$L/debian-touched-objects.txt"
info "touched objects Debian's configuration builds: $(tr '\n' ' ' <"$L/debian-touched-objects.txt")"

# --- base versus series ----------------------------------------------------------------------
info "warnings of ${DIRS[*]}: series $(wc -l <"$L/debian-warnings-series.txt"), base $(wc -l <"$L/debian-warnings-base.txt") ($BASE_BUILT) (distinct messages)"
if [ -s "$L/debian-new.txt" ]; then
	first=$(awk -F'\t' 'NR == FNR { n[$0] = 1; next } ($1 in n) { print $2; exit }' \
		"$L/debian-new.txt" "$L/debian-series.diag" | cut -c1-300)
	sed 's/^/  new: /' "$L/debian-new.txt" | head -20 >&2
	result FAIL "$(wc -l <"$L/debian-new.txt") new warning(s)/error(s) with Debian's configuration, first: $first; log: ${L#"$TOP"/}/debian-series-build.log (all new ones: debian-new.txt)"
	exit 1
fi
result PASS
