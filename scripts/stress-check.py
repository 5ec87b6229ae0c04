#!/usr/bin/env python3
"""Judge one make stress boot.

stress-check.py DIR --kunit KUNIT_PY --expected EXPECTED_SUITES [--config .config]
                [--smmu s1|s2|nested] [--no-kunit]

DIR holds console.log (and trace.log) of a guest.mode=stress boot. Appends
"PASS name", "FAIL name: detail" and "SKIP name: reason" lines to
DIR/host.results, writes DIR/summary.json, prints a summary ending in
"stress: N passed, M failed, K skipped", exits 1 on any failure.

The checks:
  kunit:<suite>        the KUnit suites that ran at boot on the debug kernel
                       (kunit.py parse), every suite of EXPECTED_SUITES there
  guest:<test>         the stress program's KTAP (guest/stress.c)
  no_splats            nothing of SPLATS in the kernel log (the guest's dump of
                       the whole log after its KTAP, else the console), KUnit
                       included (its suites provoke no WARN)
  smmu_events_as_expected, smmu_no_command_errors, smmu_trace_has_commands,
  smmu_commands_of_stage (--smmu)
                       QEMU's SMMUv3 trace (scripts/smmu-trace.py): the stress
                       provokes no fault, so any fault event fails
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys

from console import lines as console_lines  # scripts/console.py
from results import walk  # the KTAP JSON walk of make check's results.py

SPLATS = [
    "WARNING:", "BUG:", "KASAN:", "UBSAN:", "Oops", "Unable to handle kernel",
    "Internal error:", "Kernel panic", "possible recursive locking",
    "possible circular locking", "inconsistent lock state", "suspicious RCU usage",
    "ODEBUG:", "unreferenced object", "suspected memory leak", "kmemleak: Cannot",
    "leak detector disabled", "kmemleak: Memory pool empty", "self-detected stall",
    "detected stalls on CPUs", "INFO: task", "event 0x", "C_BAD_STE", "C_BAD_CD",
]
SPLAT_RE = re.compile("|".join(re.escape(s) for s in SPLATS))
TOP_RESULT = re.compile(r"^(?:<\d+>)?\[\s*[\d.]+\] (?:not )?ok \d+ ")


def kernel_log(console):
    """The kernel log: the console up to /init, then the guest's dump of what
    the kernel logged since (the guest quiets the console), else the console."""
    m = re.search(r"^harness-kmsg: begin\n(.*?)^harness-kmsg: end", console, re.S | re.M)
    if m:
        head = console.split("harness-guest: begin", 1)[0].split("Run /init", 1)[0]
        return (head.splitlines() + m.group(1).splitlines(),
                "the kernel log (console up to /init, the guest's dump after)")
    return console.splitlines(), "the console (no kernel log dump: the guest did not finish)"


def splats(lines):
    """[(line number, text)] of the splats, and where KUnit ended."""
    kunit_end = 0
    for i, line in enumerate(lines):
        if TOP_RESULT.match(line):
            kunit_end = i
    found = []
    for i, line in enumerate(lines):
        if SPLAT_RE.search(line):
            found.append((i, line))
    return found, kunit_end


def parse_ktap(kunit, text, d, part):
    path = os.path.join(d, f"{part}-ktap.log")
    with open(path, "w") as fh:
        fh.write(text)
    js = os.path.join(d, f"{part}.json")
    r = subprocess.run([sys.executable, kunit, "parse", f"--json={js}", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(os.path.join(d, f"{part}-parse.log"), "w") as fh:
        fh.write(r.stdout)
    try:
        with open(js) as fh:
            return json.load(fh), r.returncode
    except (OSError, ValueError):
        return {}, r.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--kunit", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--config")
    ap.add_argument("--smmu", choices=("s1", "s2", "nested", "ats"),
                    help="QEMU's SMMU configuration: adds smmu_commands_of_stage")
    ap.add_argument("--no-kunit", action="store_true",
                    help="the boot ran with kunit.enable=0 (the suites ran in another boot)")
    a = ap.parse_args()
    d = os.path.abspath(a.dir)
    res = []
    host = os.path.join(d, "host.results")
    if os.path.exists(host):  # lines stress.sh wrote before (a failed boot)
        for line in open(host):
            v, _, rest = line.rstrip("\n").partition(" ")
            n, _, t = rest.partition(": ")
            if v in ("PASS", "FAIL", "SKIP"):
                res.append((v, n, t))

    def put(verdict, name, detail=""):
        res.append((verdict, name, detail))

    console_path = os.path.join(d, "console.log")
    # as parsed: printk's prefix off every line (the guest's lines are kernel
    # log records, guest/console.c)
    console = "\n".join(console_lines(console_path)) if os.path.exists(console_path) else ""
    if not console:
        put("FAIL", "boot", "no console.log")

    # KUnit at boot on the debug kernel, per suite
    head = console.split("harness-guest: begin", 1)[0]
    top, rc = parse_ktap(a.kunit, head, d, "kernel")
    suites = {}
    for sub in top.get("sub_groups", []):
        cases = []
        walk(sub, [], cases)
        suites[sub["name"]] = cases
    config = open(a.config).read() if a.config and os.path.exists(a.config) else ""
    for line in [] if a.no_kunit else open(a.expected):
        words = line.split("#")[0].split()
        if not words or words[0] == "guest":
            continue
        name, sym = words[0], words[1] if len(words) > 1 else None
        if name not in suites:
            if sym and config and f"\n{sym}=" not in config:
                put("SKIP", f"kunit:{name}", f"{sym} is not set in this tree")
            else:
                put("FAIL", f"kunit:{name}", "suite absent from the debug kernel's boot log")
    for name, cases in sorted(suites.items()):
        bad = [f"{c}: {s}" for c, s in cases if s not in ("PASS", "SKIP")]
        if bad:
            put("FAIL", f"kunit:{name}", f"{len(bad)} of {len(cases)} case(s) failed: " + "; ".join(bad[:5]))
        else:
            put("PASS", f"kunit:{name}", f"{len(cases)} case(s)")

    # The stress program's KTAP
    m = re.search(r"^harness-guest: begin\n(.*?)^harness-guest: end", console, re.S | re.M)
    if not m:
        put("FAIL", "guest", "no complete stress KTAP (the guest did not finish)")
    else:
        gtop, _ = parse_ktap(a.kunit, m.group(1), d, "guest")
        cases = []
        walk(gtop, [], cases)
        if not cases:
            put("FAIL", "guest", "the stress KTAP did not parse (guest-parse.log)")
        why = {}
        for line in m.group(1).splitlines():
            w = re.match(r"\s*# (\w+): (.*)", line)
            if w:
                why[w.group(1)] = w.group(2)
            s = re.match(r"\s*ok \d+ (\w+) # SKIP (.*)", line)
            if s:
                why[s.group(1)] = s.group(2)
        for name, status in cases:
            short = name.split(".")[-1]
            verdict = {"PASS": "PASS", "SKIP": "SKIP"}.get(status, "FAIL")
            put(verdict, f"guest:{short}", why.get(short, status) if verdict != "PASS" else "")

    # Splats
    lines, where = kernel_log(console)
    found = splats(lines)[0]
    if found:
        first = found[0]
        ctx = " | ".join(l.strip() for l in lines[first[0]:first[0] + 3])
        put("FAIL", "no_splats", f"{len(found)} splat line(s) in {where}; first: {ctx[:400]}")
    else:
        put("PASS", "no_splats")

    # QEMU's SMMUv3 trace
    trace = os.path.join(d, "trace.log")
    if os.path.exists(trace):
        spec = importlib.util.spec_from_file_location(
            "smmu_trace", os.path.join(os.path.dirname(os.path.abspath(__file__)), "smmu-trace.py"))
        st = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(st)
        events, opcodes, errors, expected = st.parse(trace, console_path)
        fmt = lambda c: ", ".join(f"{n} x {t} sid=0x{s:x}" for (t, s), n in sorted(c.items())) or "none"
        if events == expected:
            put("PASS", "smmu_events_as_expected")
        else:
            put("FAIL", "smmu_events_as_expected",
                f"QEMU recorded [{fmt(events)}], the guest provoked [{fmt(expected)}]")
        put("PASS" if not errors else "FAIL", "smmu_no_command_errors",
            f"{len(errors)}, first: {errors[0]}" if errors else "")
        put("PASS" if opcodes else "FAIL", "smmu_trace_has_commands",
            "" if opcodes else "no smmuv3_cmdq_opcode in the trace")
        if a.smmu:
            good, detail = st.stage_check(a.smmu, opcodes)
            put("PASS" if good else "FAIL", "smmu_commands_of_stage", "" if good else detail)
        smmu = {"commands": sum(opcodes.values()), "events": sum(events.values()),
                "errors": len(errors)}
    else:
        put("FAIL", "smmu_trace", "no trace.log")
        smmu = {}

    # Numbers
    stats = {}
    m = re.search(r"^harness-stress: (.*)$", console, re.M)
    if m:
        for kv in m.group(1).split():
            k, _, v = kv.partition("=")
            stats[k] = int(v) if v.lstrip("-").isdigit() else v
    summary = {"stats": stats, "smmu": smmu, "splats": [l for _, l in found[:20]],
               "results": [{"verdict": v, "name": n, "detail": t} for v, n, t in res]}
    with open(os.path.join(d, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    with open(host, "w") as fh:
        for v, n, t in res:
            fh.write(f"{v} {n}" + (f": {t}" if t else "") + "\n")

    if stats:
        print("  operations {ops} in {secs} s: {cycles} attach cycles, {joins} shared-domain joins, "
              "{maps} map/unmap rounds, {dma_checks} edu DMA checks, {reads} disk reads, {binds} rebinds"
              .format(**{k: stats.get(k, "?") for k in
                         ("ops", "secs", "cycles", "joins", "maps", "dma_checks", "reads", "binds")}))
        print("  injected failures {injected} (random failslab {injected_random}, attach prepare "
              "{injected_prepare}); surfaced as errors {surfaced}, absorbed {absorbed}; "
              "attach prepare failures surfaced per sweep {prepare_per_sweep}"
              .format(**{k: stats.get(k, "?") for k in
                         ("injected", "injected_random", "injected_prepare", "surfaced", "absorbed",
                          "prepare_per_sweep")}))
        print("  checksum errors {checksum_errors}, unexpected errors {unexpected}, kmemleak reports "
              "{kmemleak}, splats (guest's count) {splats}"
              .format(**{k: stats.get(k, "?") for k in
                         ("checksum_errors", "unexpected", "kmemleak", "splats")}))
    if smmu:
        print(f"  SMMU: {smmu['commands']} commands, {smmu['events']} fault events, {smmu['errors']} command errors")
    passed = sum(1 for v, _, _ in res if v == "PASS")
    failed = [(n, t) for v, n, t in res if v == "FAIL"]
    skipped = sum(1 for v, _, _ in res if v == "SKIP")
    if failed:
        print("Failures:")
        for n, t in failed:
            print(f"  - {n}: {t}")
    if found:
        print(f"Splats ({len(found)} line(s), from {where}):")
        for i, l in found[:8]:
            print(f"  {l.strip()[:200]}")
    print(f"stress: {passed} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
