#!/usr/bin/env python3
"""Sum up a make check run.

results.py DIR EXPECTED_SUITES

DIR holds kunit.py's JSON results (*.json) and host.results, whose lines are
"PASS name", "FAIL name: detail" or "SKIP name: reason". Every suite named in
EXPECTED_SUITES (one a line, # comments) must appear in the JSON with at least
one case: a suite that did not run is a failure, not a silent skip.

Prints the failures, then "check: N passed, M failed, K skipped"; exits 1 on
any failure.
"""
import json
import os
import sys


def walk(group, path, out):
    name = group.get("name", "?")
    here = path + [name] if name != "KUnit Test Group" else path
    for case in group.get("test_cases", []):
        out.append((".".join(here + [case["name"]]), case["status"]))
    for sub in group.get("sub_groups", []):
        walk(sub, here, out)


def main():
    d, expected_file = sys.argv[1], sys.argv[2]
    cases = []
    suites = set()
    for f in sorted(os.listdir(d)):
        if not f.endswith(".json"):
            continue
        with open(os.path.join(d, f)) as fh:
            top = json.load(fh)
        for sub in top.get("sub_groups", []):
            suites.add(sub["name"])
        walk(top, [], cases)

    passed = failed = skipped = 0
    failures = []
    for name, status in cases:
        if status == "PASS":
            passed += 1
        elif status == "SKIP":
            skipped += 1
        else:
            failed += 1
            failures.append(f"{name}: {status}")

    host = os.path.join(d, "host.results")
    if os.path.exists(host):
        with open(host) as fh:
            for line in fh:
                line = line.rstrip("\n")
                if not line:
                    continue
                verdict, _, rest = line.partition(" ")
                if verdict == "PASS":
                    passed += 1
                elif verdict == "SKIP":
                    skipped += 1
                else:
                    failed += 1
                    failures.append(rest)

    with open(expected_file) as fh:
        for line in fh:
            s = line.split("#")[0].strip()
            if s and s not in suites:
                failed += 1
                failures.append(f"{s}: suite expected (configs/expected-suites) "
                                "but absent from the output: not built or crashed?")

    if failures:
        print("Failures:")
        for f in failures:
            print(f"  - {f}")
    print(f"check: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
