#!/usr/bin/env bash
# make export: write base..HEAD of build/linux into patches/ as format-patch
# files (stable names and contents: zero commit ids, no signature), rewrite
# patches/series, and regenerate the cover letter's shortlog, diffstat and
# base lines while keeping its subject and text.
. "$(dirname "$0")/lib.sh"

MAIN=$BUILD/linux
P=$TOP/patches
[ -d "$MAIN/.git" ] || die "build/linux does not exist" "run 'make tree' first"
dirty=$(git -C "$MAIN" status --porcelain --untracked-files=no)
[ -z "$dirty" ] || die "build/linux has uncommitted changes:" "$dirty" \
	"commit them (git commit, or --fixup and rebase --autosquash) before exporting"
git -C "$MAIN" rev-parse -q --verify base >/dev/null || die "build/linux has no 'base' tag"

cover=$P/0000-cover-letter.patch
title="iommu/arm-smmu-v3, PCI/ATS: robust STE updates, attach and ATS for 6.12"
blurb=$'(cover letter text: what the series fixes and why)\n'
if [ -f "$cover" ]; then
	title=$(sed -n 's/^Subject: \[PATCH[^]]*\] //p' "$cover" | head -1)
	# The text runs from after the header to the generated part.
	blurb=$(awk 'h && /^[^ ].* \([0-9]+\):$|^base-commit: |^ *[0-9]+ files? changed/ { exit }
		h { print } /^$/ && !h { h = 1 }' "$cover")
	blurb+=$'\n\n'
fi

n=$(git -C "$MAIN" rev-list --count base..HEAD)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$n" -gt 0 ]; then
	git -C "$MAIN" format-patch -q --zero-commit --no-signature --numbered \
		-o "$tmp" base..HEAD
fi

me="$(git -C "$MAIN" config user.name) <$(git -C "$MAIN" config user.email)>"
{
	echo "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
	echo "From: $me"
	echo "Date: $(git -C "$MAIN" log -1 --format=%cD HEAD)"
	echo "Subject: [PATCH 0/$n] $title"
	echo
	printf '%s' "$blurb"
	if [ "$n" -gt 0 ]; then
		git -C "$MAIN" shortlog base..HEAD
		# --minimal: the smallest diff, which series-check.py can recompute
		# from the patches alone (git's faster default heuristic may align a
		# file differently once it sees base lines the patches never show)
		git -C "$MAIN" diff --minimal --stat=72 --summary base HEAD
		echo
	fi
	echo "base-commit: $(git -C "$MAIN" rev-parse base)"
	echo "base-package: $BASE_PKG $BASE_VERSION (sha256 $BASE_SHA256)"
} >"$tmp/0000-cover-letter.patch"

# Replace the exported files; anything else in patches/ is left alone.
rm -f "$P"/[0-9][0-9][0-9][0-9]-*.patch
mv "$tmp"/*.patch "$P/"
{
	echo "# The series, in order: one patch file a line (make export writes it)."
	(cd "$P" && ls [0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -v '^0000-' || true)
} >"$P/series"
ok "exported $n patch(es) into patches/ (and the cover letter); commit them in this repository"
