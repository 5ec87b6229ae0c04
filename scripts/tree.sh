#!/usr/bin/env bash
# make tree: unpack the pinned base (cached, checksum verified), make
# build/linux a git tree whose first commit is the base (tag "base"), and apply
# patches/series with git am. With SERIES=none or EXTRA_PATCHES=... it also
# prepares the matching worktree (build/base/linux, build/extra/linux).
#
# An existing build/linux is left alone when it already holds the series; it is
# rebuilt when patches/ changed and the tree has nothing of its own; it is never
# clobbered when it has unexported commits or uncommitted changes (FORCE=1 does,
# after saving HEAD under refs/backup/). With TREE_USE=1 (what make check, kunit,
# run and kernel use) such a tree is used as it is, with a warning.
. "$(dirname "$0")/lib.sh"

select_variant
check_series

MAIN=$BUILD/linux
git_main() { git -C "$MAIN" "$@"; }

verify_tarball() {
	[ -f "$BASE_TARBALL" ] || die "$BASE_TARBALL is missing" \
		"run 'make deps' (it installs $BASE_PKG=$BASE_VERSION)"
	local sum
	sum=$(sha256sum "$BASE_TARBALL" | cut -d' ' -f1)
	[ "$sum" = "$BASE_SHA256" ] || die "checksum mismatch for $BASE_TARBALL" \
		"expected $BASE_SHA256 ($BASE_PKG $BASE_VERSION, base/linux.conf)" \
		"found    $sum" \
		"installed: $(dpkg-query -W -f='${Version}' "$BASE_PKG" 2>/dev/null || echo none)" \
		"run 'make deps' to install the pinned version, or update base/linux.conf on purpose"
}

unpack() {
	local stamp=$BUILD/src/.sha256
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$BASE_SHA256" ] &&
		[ -d "$BUILD/src/$BASE_TOPDIR" ]; then
		return 0
	fi
	info "unpacking $BASE_TARBALL into build/src"
	rm -rf "$BUILD/src"
	mkdir -p "$BUILD/src"
	tar -C "$BUILD/src" -xJf "$BASE_TARBALL" ||
		die "could not unpack $BASE_TARBALL" "is the disk full? (df -h $BUILD)"
	[ -d "$BUILD/src/$BASE_TOPDIR" ] ||
		die "the tarball has no top-level $BASE_TOPDIR/" "check BASE_TOPDIR in base/linux.conf"
	echo "$BASE_SHA256" >"$stamp"
}

# Make build/linux with the base commit from build/src.
create_main() {
	info "creating build/linux from the base (about a minute)"
	rm -rf "$MAIN"
	cp -a "$BUILD/src/$BASE_TOPDIR" "$MAIN"
	# Debian's tarball ends its .gitignore with a packaging block that ignores
	# everything ("/*", then "!/debian/"): drop it, or git sees no file.
	local gi=$MAIN/.gitignore
	local n
	n=$(grep -n '^# Debian packaging' "$gi" | cut -d: -f1 | head -1)
	if [ -n "$n" ]; then
		head -n $((n - 1)) "$gi" | tac | awk 'f || !/^#?$/ { f = 1; print }' | tac >"$gi.new"
		mv "$gi.new" "$gi"
	fi
	! grep -qx '/\*' "$gi" || die "could not drop the Debian block from .gitignore" \
		"the tarball's .gitignore changed; adapt create_main() in scripts/tree.sh"
	git init -q "$MAIN"
	git_main config feature.manyFiles true
	git_main config core.abbrev 12
	git_main config user.name "$(git -C "$TOP" config user.name || echo harness)"
	git_main config user.email "$(git -C "$TOP" config user.email || echo harness@localhost)"
	git_main add -A -f .
	GIT_AUTHOR_NAME=$BASE_IDENT_NAME GIT_AUTHOR_EMAIL=$BASE_IDENT_EMAIL \
		GIT_COMMITTER_NAME=$BASE_IDENT_NAME GIT_COMMITTER_EMAIL=$BASE_IDENT_EMAIL \
		GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
		git_main commit -q -F - <<EOF
Import $BASE_PKG $BASE_VERSION

The unmodified contents of $BASE_TARBALL from Debian's
$BASE_PKG package, version $BASE_VERSION
(sha256 $BASE_SHA256),
except that the "Debian packaging" block at the end of .gitignore, which
ignores every file, is dropped so that git can track the tree.
EOF
	git_main tag base
	git_main config harness.base "$BASE_SHA256"
	ok "base commit $(git_main rev-parse --short base)"
}

# patch_ids: stable patch-ids of the commits base..REF of repo DIR.
tree_ids() {
	git -C "$1" log --reverse -p --format='commit %H' "base..$2" |
		git patch-id --stable | cut -d' ' -f1
}
series_ids() {
	local p
	series_list | while read -r p; do cat "$TOP/patches/$p"; done |
		git patch-id --stable | cut -d' ' -f1
}

# am_series DIR FILE...: git am FILEs onto DIR; on failure name patch and hunk.
am_patches() {
	local dir=$1 log
	shift
	[ $# = 0 ] && return 0
	log=$VLOGS/git-am.log
	if ! git -C "$dir" am --whitespace=nowarn "$@" >"$log" 2>&1; then
		local n file hunk
		n=$(sed -n 's/^Patch failed at \([0-9]*\).*/\1/p' "$log" | head -1)
		file=${n:+$(eval "echo \"\${$((10#$n))}\"")}
		hunk=$(grep -E '^error: patch failed: ' "$log" | head -3 | sed 's/^error: patch failed: //' | tr '\n' ' ')
		git -C "$dir" am --abort >/dev/null 2>&1 || true
		tail_log "$log" 25
		die "${file#"$TOP"/} does not apply to ${dir#"$TOP"/}" \
			"failing hunk at: ${hunk:-see the log above}" \
			"${dir#"$TOP"/} is left as it was before 'git am'; full log: ${log#"$TOP"/}" \
			"to fix: git -C ${dir#"$TOP"/} am -3 <the patches>, resolve, git am --continue, then 'make export'"
	fi
}

apply_series() {
	local n
	n=$(series_list | wc -l)
	if [ "$n" = 0 ]; then
		ok "empty series: build/linux is the base"
		return 0
	fi
	info "applying $n patch(es) from patches/series"
	mapfile -t files < <(series_list | sed "s|^|$TOP/patches/|")
	am_patches "$MAIN" "${files[@]}"
	ok "series applied: $(git_main rev-parse --short HEAD)"
}

prepare_main() {
	if [ -d "$MAIN/.git" ] && git_main rev-parse -q --verify base >/dev/null &&
		[ "$(git_main config harness.base || true)" = "$BASE_SHA256" ]; then
		local dirty theirs ours unexported=0 id
		dirty=$(git_main status --porcelain --untracked-files=no | head -5)
		ours=$(tree_ids "$MAIN" HEAD)
		theirs=$(series_ids)
		if [ -z "$dirty" ] && [ "$ours" = "$theirs" ]; then
			ok "build/linux holds the series ($(series_list | wc -l) patches), nothing to do"
			return 0
		fi
		for id in $ours; do
			grep -qx "$id" <<<"$theirs" || unexported=$((unexported + 1))
		done
		if [ -n "$dirty" ] || [ $unexported != 0 ]; then
			if [ "${TREE_USE:-}" = 1 ] && [ "${FORCE:-}" != 1 ]; then
				# make check/kunit/run: test the work in progress as it is.
				warn "build/linux has work not exported to patches/ ($unexported commit(s)${dirty:+, uncommitted changes}): testing the tree as it is; 'make export' when done"
				return 0
			fi
			if [ "${FORCE:-}" != 1 ]; then
				[ -n "$dirty" ] && warn "build/linux has uncommitted changes:"$'\n'"$dirty"
				[ $unexported != 0 ] && warn "build/linux has $unexported commit(s) that are not in patches/"
				die "refusing to rebuild build/linux over work that is not exported" \
					"commit in build/linux and run 'make export' to keep it," \
					"or 'make tree FORCE=1' to discard it (HEAD is saved under refs/backup/)"
			fi
			git_main update-ref "refs/backup/$(date +%Y%m%d-%H%M%S)" HEAD
			warn "FORCE=1: discarding build/linux's own work (saved under refs/backup/)"
		fi
		info "patches/ changed: re-applying the series on base"
		git_main am --abort >/dev/null 2>&1 || true
		git_main reset -q --hard base
		git_main clean -q -fd
		apply_series
		return 0
	fi
	if [ -e "$MAIN" ]; then
		if [ -d "$MAIN/.git" ] && [ "${FORCE:-}" != 1 ] &&
			[ -n "$(git_main rev-list base..HEAD 2>/dev/null || true)" ]; then
			die "build/linux was made from another base pin and has commits" \
				"export them first ('make export'), then 'make tree FORCE=1'"
		fi
	fi
	create_main
	apply_series
}

# worktree V REF: make build/V/linux a clean worktree detached at REF.
worktree() {
	local v=$1 ref=$2 dir=$BUILD/$1/linux
	if [ ! -e "$dir/.git" ]; then
		info "creating worktree build/$v/linux"
		rm -rf "$dir"
		mkdir -p "$BUILD/$v"
		git_main worktree prune
		git_main worktree add -q --detach "$dir" "$ref" ||
			die "could not create the worktree build/$v/linux"
	fi
	git -C "$dir" am --abort >/dev/null 2>&1 || true
	git -C "$dir" checkout -q --detach "$ref" 2>/dev/null ||
		git -C "$dir" reset -q --hard "$ref"
	git -C "$dir" reset -q --hard "$ref"
}

verify_tarball
unpack
prepare_main

case $VARIANT in
base)
	worktree base base
	ok "build/base/linux is the unpatched base"
	;;
extra)
	worktree extra "$(git_main rev-parse HEAD)"
	files=()
	for f in $EXTRA_PATCHES; do
		[ -f "$f" ] || die "EXTRA_PATCHES: '$f' does not exist" "give paths to format-patch files"
		files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
	done
	info "applying ${#files[@]} extra patch(es) on top of the series"
	am_patches "$BUILD/extra/linux" "${files[@]}"
	ok "build/extra/linux: series + EXTRA_PATCHES"
	;;
esac
