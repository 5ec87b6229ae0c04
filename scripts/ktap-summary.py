#!/usr/bin/env python3
"""ktap-summary.py JSON...: one line per suite of kunit.py parse --json files,
"<suite> P passed S skipped F failed [(failed cases)]". Exit status 1 if a
case failed or a file holds no suite."""
import json
import sys

bad = False
for path in sys.argv[1:]:
    try:
        data = json.load(open(path))
    except (OSError, ValueError) as e:
        print("%s: unreadable (%s)" % (path, e))
        bad = True
        continue
    # kunit.py's JSON: sub_groups are the suites, test_cases their cases
    suites = data.get("sub_groups", [])
    if not suites:
        print("%s: no suite" % path)
        bad = True
    for t in suites:
        cases = t.get("test_cases", [])
        failed = [c["name"] for c in cases if c["status"] not in ("PASS", "SKIP")]
        print("%s %d passed %d skipped %d failed%s" % (
            t["name"], sum(c["status"] == "PASS" for c in cases),
            sum(c["status"] == "SKIP" for c in cases), len(failed),
            " (" + " ".join(failed[:5]) + ")" if failed else ""))
        bad |= bool(failed)
sys.exit(1 if bad else 0)
