#!/usr/bin/env python3
"""Sum up a make check run.

results.py DIR EXPECTED_SUITES [KERNEL_CONFIG]

DIR holds kunit.py's JSON results (*.json) and host.results, whose lines are
"PASS name", "FAIL name: detail" or "SKIP name: reason". Every suite named in
EXPECTED_SUITES (lines "suite [CONFIG_SYMBOL]", # comments) must appear in the
JSON: a suite that did not run is a failure, not a silent skip. The one
exception: a suite whose symbol is not set in KERNEL_CONFIG because the tree
does not define it (the unpatched base, SERIES=none, lacks the suites the
series adds) counts as skipped, with that reason.

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

    # What the console cut found where a suite's KTAP should be
    # (scripts/console.py cut; check.sh writes <suite>-cut.txt next to the JSON)
    found = {}
    for f in os.listdir(d):
        if f.endswith("-cut.txt"):
            with open(os.path.join(d, f)) as fh:
                why = fh.read().strip()
            found[f[:-len("-cut.txt")]] = why or "the cut holds KTAP, but kunit.py parse found no suite in it"
    config = ""
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        with open(sys.argv[3]) as fh:
            config = fh.read()
    with open(expected_file) as fh:
        for line in fh:
            words = line.split("#")[0].split()
            if not words or words[0] in suites:
                continue
            name, sym = words[0], words[1] if len(words) > 1 else None
            if sym and config and f"\n{sym}=" not in config:
                skipped += 1
                print(f"  skipped: suite {name}: {sym} is not set in this tree")
                continue
            failed += 1
            failures.append(f"{name}: suite expected (configs/expected-suites) "
                            f"but absent from the output: {found.get(name, 'not built or crashed?')}")

    if failures:
        print("Failures:")
        for f in failures:
            print(f"  - {f}")
    print(f"check: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
