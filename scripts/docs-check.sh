#!/usr/bin/env bash
# Documentation checks (part of make check's hygiene): kernel-doc on the C
# files the series touches, and the rst files it touches through docutils.
#
#   kernel_doc:<file>   scripts/kernel-doc -none: no warning at all; and with
#                       -Wall nothing that the base version of the file lacks
#                       (drivers/pci/ats.c has -Wall warnings of its own in the base)
#   rst:<file>          docutils parses the rst without WARNING or worse; the
#                       `.. kernel-doc::` directives are checked by
#                       scripts/rst-check.py: their files exist in the tree and
#                       kernel-doc finds every name they list
#
# Usage: scripts/docs-check.sh [RST...]   (default: the tree's .rst files that
#        the series touches, else wip/*.rst). With $RESULTS set (make check)
#        the result lines are appended there too.
#        KERNEL_TREE=dir (default build/linux, read only: git show/diff and
#        scripts/kernel-doc, nothing is written there)
#
# Why not `make htmldocs`: it needs Sphinx (python3-sphinx and its theme are not
# among the harness's packages), it renders the whole Documentation/ tree (tens
# of minutes on this 2-core machine, by far longer than everything checked here,
# which takes a few seconds), it writes into the kernel tree unless given O=,
# and the draft is not in the tree yet (wip/). When the file moves to
# Documentation/iommu/, `make SPHINXDIRS=iommu htmldocs` renders only that
# directory and is the check to run then. Sphinx was not installed or timed
# here; plain docutils catches the markup errors, and rst-check.py the
# kernel-doc references that Sphinx would otherwise report.
. "$(dirname "$0")/lib.sh"

K=${KERNEL_TREE:-$BUILD/linux}
out=$LOGS/docs-check
mkdir -p "$out"
pass=0 fail=0 skip=0
res() { [ -z "${RESULTS:-}" ] || echo "$*" >>"$RESULTS"; }
p() { pass=$((pass + 1)); ok "$1"; res "PASS $1"; }
f() { fail=$((fail + 1)); warn "$1: $2"; res "FAIL $1: $2"; }
s() { skip=$((skip + 1)); info "skip $1: $2"; res "SKIP $1: $2"; }

# A Python with docutils: the harness's python3, else Debian's.
py=
for c in python3 /usr/bin/python3; do
	if "$c" -c 'import docutils' 2>/dev/null; then py=$c; break; fi
done

# --- kernel-doc on the touched C files ------------------------------------------
if [ ! -x "$K/scripts/kernel-doc" ] && [ ! -f "$K/scripts/kernel-doc" ]; then
	s kernel_doc "no kernel tree at ${K#"$TOP"/} (make tree, or KERNEL_TREE=dir)"
	ktree=
else
	ktree=$K
	if git -C "$K" rev-parse -q --verify base >/dev/null 2>&1; then
		mapfile -t files < <(git -C "$K" diff --name-only base HEAD -- '*.c' '*.h')
	else
		# No base tag: the files the exported patches touch.
		mapfile -t files < <(sed -n 's|^diff --git a/\([^ ]*\.[ch]\) b/.*|\1|p' "$TOP"/patches/[0-9]*.patch | sort -u)
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	kdoc() { perl "$K/scripts/kernel-doc" "$@" 2>&1 | grep -v '^Warning: Sphinx version not found' |
		sed -E "s|^$tmp/base\.[ch]|FILE|; s|^$K/||; s|:[0-9]+:|:|" || true; }
	for file in "${files[@]}"; do
		[ -f "$K/$file" ] || continue
		name=kernel_doc:$file
		# The base's own warnings (include/linux/iommu.h has some) are
		# not the series': only new ones fail, at either level.
		inbase=
		if git -C "$K" cat-file -e "base:$file" >/dev/null 2>&1; then
			git -C "$K" show "base:$file" >"$tmp/base.${file##*.}"
			inbase=1
		fi
		plain=$(kdoc -none "$K/$file" | sed "s|^$file|FILE|" | sort -u)
		if [ -n "$inbase" ]; then
			plain=$(comm -23 <(echo "$plain") <(kdoc -none "$tmp/base.${file##*.}" | sort -u) |
				sed '/^$/d')
		fi
		if [ -n "$plain" ]; then
			echo "$plain" | sed "s|^FILE|$file|" >"$out/${file//\//_}.log"
			f "$name" "scripts/kernel-doc -none warns: fix the kernel-doc comments (see ${out#"$TOP"/}/${file//\//_}.log)"
			echo "$plain" | sed "s|^FILE|$file|" | head -10 >&2
			continue
		fi
		now=$(kdoc -none -Wall "$K/$file" | sed "s|^$file|FILE|" | sort -u)
		then=
		[ -n "$inbase" ] && then=$(kdoc -none -Wall "$tmp/base.${file##*.}" | sort -u)
		new=$(comm -23 <(echo "$now") <(echo "$then") | sed '/^$/d')
		if [ -n "$new" ]; then
			f "$name" "$(echo "$new" | wc -l) new kernel-doc -Wall warning(s) against the base:"
			echo "$new" | sed "s|^FILE|$file|" | head -10 >&2
		else
			p "$name"
		fi
	done
fi

# --- the rst ------------------------------------------------------------------------
if [ $# = 0 ] && [ -n "$ktree" ] && git -C "$K" rev-parse -q --verify base >/dev/null 2>&1; then
	mapfile -t rsts < <(git -C "$K" diff --name-only --diff-filter=d base HEAD -- '*.rst')
	set -- "${rsts[@]/#/$K/}"
fi
if [ $# = 0 ]; then
	set -- "$TOP"/wip/*.rst
fi
for rst in "$@"; do
	[ -f "$rst" ] || { f "rst:$rst" "no such file"; continue; }
	rel=${rst#"$K"/}
	name=rst:${rel#"$TOP"/}
	if [ -z "$py" ]; then
		f "$name" "no Python with docutils: install python3-docutils (make deps)"
		continue
	fi
	if "$py" "$TOP/scripts/rst-check.py" ${ktree:+--kernel-tree "$ktree"} "$rst" >"$out/rst.log" 2>&1; then
		p "$name${ktree:+ (kernel-doc directives checked against ${ktree#"$TOP"/})}"
	else
		f "$name" "docutils reports problems (the line numbers are the rst's):"
		sed 's/^/       /' "$out/rst.log" >&2
	fi
	n=$(grep -c '^\.\. TODO' "$rst" || true)
	[ "$n" = 0 ] || info "$name has $n '.. TODO' comment(s) left to settle against the final code"
done

echo "docs-check: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
