#!/usr/bin/env bash
# make series-check: check the exported series' metadata from the patch files
# alone (no kernel tree needed); also part of make check's series hygiene.
#
#   series_signoff:<patch>     the author's Signed-off-by
#   series_subject:<patch>     [PATCH n/N] numbering, and the subject prefix that
#                              the touched files call for (table in series-check.py)
#   series_whitespace:<patch>  no added line with trailing whitespace
#   cover_letter_shortlog      the cover letter's shortlog lists every subject
#   cover_letter_diffstat      the cover letter's diffstat, recomputed from the patches
#   series_check_selftest      a copy of the patches, broken in four known ways,
#                              fails exactly those checks (the checker cannot
#                              pass everything)
#
# Usage: scripts/series-check.sh [PATCHES_DIR]   (or PATCHES_DIR=dir; default
# patches/). With $RESULTS set (make check) the result lines are appended
# there; alone it prints "series-check: N passed, M failed, K skipped" and
# exits 1 on any failure.
. "$(dirname "$0")/lib.sh"

dir=${1:-${PATCHES_DIR:-$TOP/patches}}
[ -d "$dir" ] || die "$dir is not a directory" "give the directory that holds series and the patches"
log=$LOGS/hygiene
standalone=
if [ -z "${RESULTS:-}" ]; then
	standalone=1
	log=$LOGS/series-check
	RESULTS=$(mktemp)
	trap 'rm -f "$RESULTS"' EXIT
fi
mkdir -p "$log"
: >>"$RESULTS"
before=$(wc -l <"$RESULTS")

rc=0
python3 "$TOP/scripts/series-check.py" --no-summary --results "$RESULTS" "$dir" || rc=$?
if [ "$rc" -gt 1 ] && [ "$(wc -l <"$RESULTS")" = "$before" ]; then
	# A crash must not look like a clean run that found nothing.
	echo "FAIL series_check: scripts/series-check.py stopped with exit $rc before checking anything (see the error above)" >>"$RESULTS"
fi

src=0
python3 "$TOP/scripts/series-check.py" --selftest "$dir" >"$log/series-check-selftest.log" 2>&1 || src=$?
case $src in
0) echo "PASS series_check_selftest" >>"$RESULTS"; ok series_check_selftest ;;
2) echo "SKIP series_check_selftest: $(tail -n 1 "$log/series-check-selftest.log")" >>"$RESULTS"
   info "skip series_check_selftest: $(tail -n 1 "$log/series-check-selftest.log")" ;;
*) echo "FAIL series_check_selftest: a deliberately broken copy of the patches was not reported as expected: see ${log#"$TOP"/}/series-check-selftest.log" >>"$RESULTS"
   warn "series_check_selftest: the checker missed (or invented) a failure in a broken copy:"
   grep -E '^  (not reported|reported but)' "$log/series-check-selftest.log" >&2 || tail -n 20 "$log/series-check-selftest.log" >&2 ;;
esac

if [ -n "$standalone" ]; then
	p=$(tail -n +"$((before + 1))" "$RESULTS" | grep -c '^PASS' || true)
	f=$(tail -n +"$((before + 1))" "$RESULTS" | grep -c '^FAIL' || true)
	s=$(tail -n +"$((before + 1))" "$RESULTS" | grep -c '^SKIP' || true)
	echo "series-check: $p passed, $f failed, $s skipped"
	[ "$f" = 0 ]
fi
