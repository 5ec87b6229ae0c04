#!/usr/bin/python3
"""lava-compare.py: the test results lava-run recorded versus the harness's own
boot (make lava-check, scripts/lava-check.sh).

  lava-compare.py LAVA_STDERR_LOG [--ktap guest-ktap.log] [--json guest.json] [--definition 0_guest]
             [--ktap-in-lava-log]

LAVA side: the lines of lava-run's stderr log whose "lvl" is "results" and
whose "definition" is the test definition's (0_guest): case -> result.
Harness side: the KTAP case lines of the guest suite (ok / not ok / # SKIP)
and, when given, kunit.py parse's JSON (status PASS / FAIL / SKIPPED);
--ktap-in-lava-log adds the KTAP the guest printed in the LAVA boot itself (the
console lines between "harness-guest: begin" and "harness-guest: end").
The reason of a fail or skip, as LAVA logged it between STARTTC and ENDTC, is
shown and checked against the KTAP's ("# name: why" / "# SKIP why").
--require CASE (repeatable): LAVA must have recorded CASE as pass or skip;
--forbid TEXT (repeatable): the KTAP printed in the LAVA boot must not hold
TEXT (a diagnostic line saying a part of the tests could not run).
Prints one line per case and the counts; exit status 1 on any mismatch or
when LAVA recorded no case of the definition.
"""
import argparse
import json
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console import text as console_text  # noqa: E402 (scripts/console.py)


def log_records(path):
    """lava-run's stderr: one flow-style dict per line, JSON except for YAML tags
    such as the '! "897"' of starttc/endtc (hence the yaml fallback)."""
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("- "):
                line = line[2:]
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                try:
                    rec = yaml.safe_load(line)
                except yaml.YAMLError:
                    continue
            if isinstance(rec, dict):
                yield rec


def lava_reasons_and_ktap(path):
    """The console ("target") lines between <LAVA_SIGNAL_STARTTC X> and
    <LAVA_SIGNAL_ENDTC X>, per case X; and the guest's KTAP as printed."""
    reasons, ktap, cur, in_ktap = {}, [], None, False
    for rec in log_records(path):
        if rec.get("lvl") != "target" or not isinstance(rec.get("msg"), str):
            continue
        msg = console_text(rec["msg"])[0]
        m = re.match(r"<LAVA_SIGNAL_(START|END)TC (\S+)>", msg)
        if m:
            cur = m.group(2) if m.group(1) == "START" else None
            if cur:
                reasons[cur] = []
            continue
        if cur:
            reasons[cur].append(msg)
        if msg.startswith("harness-guest: begin"):
            in_ktap = True
        elif msg.startswith("harness-guest: end"):
            in_ktap = False
        elif in_ktap:
            ktap.append(msg)
    return {k: " / ".join(v) for k, v in reasons.items()}, ktap


def lava_results(path, definition):
    cases, other = {}, []
    for rec in log_records(path):
        if rec.get("lvl") != "results":
            continue
        msg = rec.get("msg", {})
        if msg.get("definition") == definition:
            if msg["case"] in cases:
                print(f"warning: case {msg['case']} recorded twice by LAVA", file=sys.stderr)
            cases[msg["case"]] = (msg["result"], msg.get("set"))
        else:
            other.append(msg)
    return cases, other


KTAP_CASE = re.compile(r"^    (ok|not ok) (\d+) (\S+)(?: # (SKIP)\b ?(.*))?$")


def ktap_results(lines, reasons=None):
    """KTAP case lines -> {name: result}; reasons (if a dict) gets the reason of
    each fail ("# name: why" before it) and skip, as ktap-to-lava echoes it."""
    cases, last = {}, ""
    for line in lines:
        line = line.rstrip("\n")
        m = KTAP_CASE.match(line)
        if not m:
            if line.startswith("    # "):
                last = line[6:]
            continue
        name = m.group(3)
        res = "skip" if m.group(4) else ("pass" if m.group(1) == "ok" else "fail")
        cases[name] = res
        if reasons is not None:
            if res == "skip":
                reasons[name] = f"{name}: {m.group(5)}" if m.group(5) else ""
            elif res == "fail":
                reasons[name] = last if last.startswith(name + ": ") else ""
            else:
                reasons[name] = ""
        last = ""
    return cases


def ktap_file(path, reasons=None):
    with open(path, errors="replace") as f:
        return ktap_results(f, reasons)


def json_results(path):
    status = {"PASS": "pass", "FAIL": "fail", "SKIPPED": "skip"}
    cases = {}

    def walk(g):
        for c in g.get("test_cases", []):
            cases[c["name"]] = status.get(c["status"], c["status"].lower())
        for s in g.get("sub_groups", []):
            walk(s)

    with open(path) as f:
        walk(json.load(f))
    return cases


def counts(d):
    out = {"pass": 0, "fail": 0, "skip": 0}
    for r in d.values():
        out[r] = out.get(r, 0) + 1
    return " ".join(f"{k}={v}" for k, v in out.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lava_log")
    ap.add_argument("--ktap", action="append", default=[])
    ap.add_argument("--json", action="append", default=[])
    ap.add_argument("--definition", default="0_guest")
    ap.add_argument("--ktap-in-lava-log", action="store_true")
    ap.add_argument("--require", action="append", default=[])
    ap.add_argument("--forbid", action="append", default=[])
    a = ap.parse_args()

    lava, other = lava_results(a.lava_log, a.definition)
    lava_res = {k: v[0] for k, v in lava.items()}
    lava_why, printed = lava_reasons_and_ktap(a.lava_log)
    refs, ref_why = [], {}
    if a.ktap_in_lava_log:
        refs.append(("ktap printed in the LAVA boot", ktap_results(printed, ref_why)))
    refs += [(f"ktap:{p}", ktap_file(p, ref_why if not a.ktap_in_lava_log else None))
             for p in a.ktap]
    refs += [(f"json:{p}", json_results(p)) for p in a.json]
    bad = 0
    names = list(lava_res)
    for _, r in refs:
        names += [n for n in r if n not in names]
    print(f"{'case':40} {'lava':6} " + " ".join(f"ref{i}" for i in range(len(refs))))
    for n in names:
        row = [lava_res.get(n, "-")] + [r.get(n, "-") for _, r in refs]
        mark = "" if len(set(row)) == 1 else "  MISMATCH"
        bad += bool(mark)
        setname = lava.get(n, (None, None))[1]
        why = lava_why.get(n, "")
        if n in ref_why and why != ref_why[n]:
            mark += f"  REASON MISMATCH (ktap: {ref_why[n]!r})"
            bad += 1
        print(f"{n:40} {row[0]:6} " + " ".join(f"{x:4}" for x in row[1:]) + mark
              + (f"  (set {setname})" if setname else "") + (f"  [{why}]" if why else ""))
    print(f"lava ({a.definition}): {len(lava_res)} cases, {counts(lava_res)}")
    for i, (name, r) in enumerate(refs):
        print(f"ref{i} {name}: {len(r)} cases, {counts(r)}")
    for m in other:
        print(f"lava other result: {m.get('definition')}/{m.get('case')}: {m.get('result')}"
              + (f" ({m.get('error_msg')})" if m.get("error_msg") else ""))
    if not lava_res:
        print("no LAVA results for the definition", a.definition)
        return 1
    unmet = [f"{c}: {lava_res.get(c, 'missing')}" for c in a.require
             if lava_res.get(c) not in ("pass", "skip")]
    unmet += [f"the guest printed {t!r}" for t in a.forbid if any(t in line for line in printed)]
    if unmet:
        print("unmet: " + "; ".join(unmet))
        return 1
    if bad:
        print(f"{bad} mismatch(es)")
        return 1
    print("all cases match" + (f", the {len(a.require)} required ones pass or skip"
                               if a.require else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
