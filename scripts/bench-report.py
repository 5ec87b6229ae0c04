#!/usr/bin/env python3
"""make bench's host side: read the runs, compare base and series.

bench-report.py summarize RUNDIR
    Reads RUNDIR/console.log and RUNDIR/trace.log of one bench boot
    (guest.mode=bench) and writes RUNDIR/summary.json: the SMMU commands of
    each counted operation, the commands before /init, the fault events of
    each benchmark, the guest's timed results and the KUnit STE transition
    matrix line. Exit status 1 if the trace's markers and the console's do
    not pair up, or the guest reported errors.

bench-report.py report BENCHDIR
    Reads BENCHDIR/{base,series}/run*/summary.json (SMMU s1), s2-run*/ (the
    stage-2-only SMMU), nested/ (S1+S2, counts only), ats/ (the ATS SMMU,
    counts only) and wall-run*/ (TCG wall clock, secondary), and BENCHDIR/icount-shift.txt; prints the table, writes
    BENCHDIR/results.json (one object per metric: name, unit, base, series,
    ratio, spreads, runs, flagged, ...) and BENCHDIR/ratios.svg (gnuplot).
    Timed results of the icount boots become instructions per operation
    (2^shift ns of guest time per instruction), each with its spread (half
    the min..max range, in % of the median); a metric is flagged where the
    series costs more than the base beyond the two spreads together. Exit
    status 1 if a command count varies between runs of the same kernel (or
    between the operations of one run), if a spread exceeds +-3 %, if the S1+S2
    counts differ from the stage-1 ones, if any boot saw an SMMU fault event,
    or if a run failed.

Markers: before each counted operation and at each phase boundary the guest
writes a running number (mod 256) into the host bridge's Interrupt Line
register and prints "harness-bench-mark: N LABEL". QEMU traces the write
(pci_cfg_write gpex-root 00:00.0 @0x3c <- N). The SMMU commands between
marker N and N+1 in the trace belong to LABEL N; those before marker 1 are
the boot up to /init.
"""
import collections
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console import lines as console_lines  # noqa: E402 (scripts/console.py)

MARK_TRACE = re.compile(r"^pci_cfg_write gpex-root 00:00\.0 @0x3c <- (0x[0-9a-f]+)")
MARK_CONS = re.compile(r"^harness-bench-mark: (\d+) (\S+)")
OPCODE = re.compile(r"^smmuv3_cmdq_opcode\s+<---\s+(?:SMMU_CMD_)?(\S+)")
EVENT = re.compile(r"^smmuv3_record_event\s+(\S+)\s+sid=(0x[0-9a-fA-F]+)")
CMD_ERR = re.compile(r"^smmuv3_(cmdq_consume_error|write_gerror)\b")
RESULT = re.compile(r"^harness-bench: (\S+) ([-0-9.]+) (\S+)")
ERROR = re.compile(r"^harness-bench-error: (.*)")
INFO = re.compile(r"^harness-bench-info: (.*)")
MATRIX = re.compile(r"ste transition matrix: (\d+) pairs, (\d+) hitless, (\d+) syncs")

# The counted operations, in the order of the table, with what one is.
KINDS = [
    ("boot", "booting to /init (all commands before /init starts)"),
    ("attach_cycle", "one VFIO attach/detach cycle (container, group, type1v2, close)"),
    ("map_unmap_4k", "one 4 KiB VFIO map+unmap, one device in the domain"),
    ("map_unmap_2m", "one 2 MiB VFIO map+unmap (4 KiB pages), one device"),
    ("multi_map_unmap_4k", "one 4 KiB VFIO map+unmap, one domain with all edu devices"),
]
# Counted on the ATS SMMU only (qemu/patches): the same with ats-testdev, a
# device whose ATS is on, so its invalidations include CMD_ATC_INV.
KINDS_ATS = [
    ("ats_attach_cycle", "one VFIO attach/detach cycle of ats-testdev (ATS on at attach; off, "
                         "its ATC flushed, at detach)"),
    ("ats_map_unmap_4k", "one 4 KiB VFIO map+unmap, ats-testdev alone in the domain"),
    ("ats_multi_map_unmap_4k", "one 4 KiB VFIO map+unmap, one domain with all edu devices and "
                               "ats-testdev"),
]
# The timed results: name -> description (the unit comes from the guest).
TIMED = [
    ("multi_map_unmap_4k_t1", "one domain, N devices: 4 KiB map+unmap (invalidations), 1 thread"),
    ("multi_map_unmap_4k_tn", "one domain, N devices: 4 KiB map+unmap, 1 thread per vCPU"),
    ("map_unmap_4k_t1", "VFIO 4 KiB map+unmap pairs, 1 thread"),
    ("map_unmap_4k_tn", "VFIO 4 KiB map+unmap pairs, 1 thread per vCPU"),
    ("map_unmap_2m_t1", "VFIO 2 MiB map+unmap pairs, 1 thread"),
    ("attach_cycle_t1", "VFIO attach/detach cycles, 1 thread"),
    ("attach_cycle_tn", "VFIO attach/detach cycles, 1 thread per vCPU (own device each)"),
    ("dma_map_lat_t1", "dma_map_benchmark map latency, 1 thread, strict"),
    ("dma_unmap_lat_t1", "dma_map_benchmark unmap latency, 1 thread, strict"),
    ("dma_map_lat_t2", "dma_map_benchmark map latency, 2 threads, strict"),
    ("dma_unmap_lat_t2", "dma_map_benchmark unmap latency, 2 threads, strict"),
]
# (shown when the ATS SMMU was not counted: BENCH_COUNT_SMMU without "ats")
NOT_MEASURABLE_WITHOUT_ATS = [
    ("cmds/ats_atc_inv", "commands",
     "not counted in this run: Debian's QEMU has no SMMUv3 with ATS; the ATS SMMU of "
     "qemu/patches is counted with BENCH_COUNT_SMMU=\"nested ats\" (the default)"),
]


def summarize(rundir):
    labels = {}
    results, errors, info = {}, [], []
    matrix = None
    status = None
    # the console as parsed: printk's prefix off (scripts/console.py)
    for line in console_lines(os.path.join(rundir, "console.log")):
        m = MARK_CONS.match(line)
        if m:
            labels[int(m.group(1))] = m.group(2)
            continue
        m = RESULT.match(line)
        if m:
            results[m.group(1)] = [float(m.group(2)), m.group(3)]
            continue
        m = ERROR.match(line)
        if m:
            errors.append(m.group(1))
            continue
        m = INFO.match(line)
        if m:
            info.append(m.group(1))
            continue
        m = MATRIX.search(line)
        if m:
            matrix = [int(x) for x in m.groups()]
        if line.startswith("harness-bench-status:"):
            status = line.split()[-1]

    seg = 0
    cmds = collections.defaultdict(collections.Counter)
    faults = collections.defaultdict(collections.Counter)
    cmd_errors = collections.Counter()
    problems = []
    with open(os.path.join(rundir, "trace.log"), errors="replace") as fh:
        for line in fh:
            m = OPCODE.match(line)
            if m:
                cmds[seg][m.group(1)] += 1
                continue
            m = MARK_TRACE.match(line)
            if m:
                seg += 1
                if int(m.group(1), 16) != seg & 0xFF and not problems:
                    problems.append(f"trace marker {seg} has value {m.group(1)}, expected "
                                    f"{seg & 0xFF:#x}: the markers do not pair up")
                continue
            m = EVENT.match(line)
            if m:
                faults[seg][f"{m.group(1)} sid={m.group(2)}"] += 1
                continue
            if CMD_ERR.match(line):
                cmd_errors[seg] += 1
    if seg != len(labels) or sorted(labels) != list(range(1, seg + 1)):
        problems.append(f"{seg} markers in the trace, {len(labels)} on the console: they must match")
    if status != "ok":
        problems.append(f"the guest's bench ended with status '{status}'")

    def label(i):
        return "boot" if i == 0 else labels.get(i, f"?{i}")

    ops = collections.defaultdict(list)
    bench_faults = collections.Counter()
    bench_cmd_errors = collections.Counter()
    phase_cmds = {}
    for i in range(seg + 1):
        lab = label(i)
        if lab == "boot":
            name = "boot"
            ops["boot"].append(dict(cmds[i]))
        elif lab.startswith("op:"):
            name = lab.split(":")[1]
            ops[name].append(dict(cmds[i]))
        elif lab.startswith("tp:"):
            name = lab[3:]
            phase_cmds[name] = sum(cmds[i].values())
        else:
            name = "setup"  # between phases: binding, opening containers
        bench_faults[name] += sum(faults[i].values())
        bench_cmd_errors[name] += cmd_errors[i]
    all_faults = collections.Counter()
    for c in faults.values():
        all_faults.update(c)
    summary = {
        "rundir": rundir,
        "markers": seg,
        "ops": ops,
        "phase_commands": phase_cmds,
        "faults": dict(bench_faults),
        "fault_types": dict(all_faults),
        "command_errors": dict(bench_cmd_errors),
        "results": results,
        "kunit_matrix": matrix,
        "info": info,
        "errors": errors + problems,
    }
    with open(os.path.join(rundir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    for e in errors + problems:
        print(f"  {rundir}: {e}", file=sys.stderr)
    return 1 if errors or problems else 0


def fmt_num(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if unit in ("commands/op", "commands", "events", "pairs", "syncs"):
        return f"{int(v)}" if float(v).is_integer() else f"{v:.2f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}"


def load_runs(benchdir, regex):
    """{side: [summary, ...]} of the run directories whose name matches regex
    (whole name: a failed boot's copy, "<dir>.failed", never counts), in run order."""
    out = {}
    for k in ("base", "series"):
        files = [f for f in glob.glob(os.path.join(benchdir, k, "*", "summary.json"))
                 if re.fullmatch(regex, os.path.basename(os.path.dirname(f)))]
        files.sort(key=lambda p: [int(n) for n in re.findall(r"run(\d+)/summary", p)])
        out[k] = []
        for f in files:
            with open(f) as fh:
                out[k].append(json.load(fh))
    return out


def spread_pct(vals):
    """Half the min..max range, in % of the median."""
    med = statistics.median(vals)
    return (max(vals) - min(vals)) / 2 / med * 100 if med else 0.0


def report(benchdir):
    failures = []
    metrics = []
    flagged = []
    sf = os.path.join(benchdir, "icount-shift.txt")
    shift = int(open(sf).read().strip()) if os.path.exists(sf) else 3
    ns_per_insn = 2 ** shift

    # The boots: timed ones per SMMU (s1's are run<N>, the others' <smmu>-run<N>),
    # counted-only ones (<smmu>/), and the optional wall-clock ones (wall-run<N>).
    timed = {}
    for smmu in ("s1", "s2"):
        r = load_runs(benchdir, r"run\d+" if smmu == "s1" else rf"{smmu}-run\d+")
        if r["base"] or r["series"]:
            timed[smmu] = r
    if "s1" not in timed or not timed["s1"]["base"] or not timed["s1"]["series"]:
        print(f"no runs of both kernels on SMMU s1 under {benchdir}/<base|series>/run*/", file=sys.stderr)
        return 1
    runs = timed["s1"]
    counted_only = {}
    for smmu in ("nested", "ats"):
        r = load_runs(benchdir, re.escape(smmu))
        if r["base"] or r["series"]:
            counted_only[smmu] = r
    wall = load_runs(benchdir, r"wall-run\d+")
    every = [s for sets in list(timed.values()) + list(counted_only.values()) + [wall]
             for k in sets.values() for s in k]
    for smmu, sets in list(timed.items()) + list(counted_only.items()):
        for k in ("base", "series"):
            if not sets[k]:
                failures.append(f"no run of the {k} kernel on SMMU {smmu}")

    # 1. Command counts: exact, the same in every run and every operation.
    def op_counts(k, kind, rs, where):
        """One Counter per run (or None), after checking determinism."""
        per_run = []
        for n, s in enumerate(rs[k], 1):
            lst = s["ops"].get(kind, [])
            if not lst:
                failures.append(f"{k}{where} run {n}: no '{kind}' operations were counted")
                per_run.append(None)
                continue
            first = lst[0]
            for j, c in enumerate(lst[1:], 1):
                if c != first:
                    failures.append(f"{k}{where} run {n}: '{kind}' operation {j} issued {c}, "
                                    f"operation 0 issued {first}: not deterministic")
            per_run.append(first)
        known = [c for c in per_run if c is not None]
        if known and any(c != known[0] for c in known):
            failures.append(f"{k}{where}: the commands of one '{kind}' vary between runs: "
                            + "; ".join(f"run {i}: {c}" for i, c in enumerate(per_run, 1)))
        return per_run

    counts = {}  # smmu -> kind -> side -> Counter of the first run

    def count_rows(smmu, section, prefix, rs):
        where = "" if smmu == "s1" else f" (SMMU {smmu})"
        counts[smmu] = {}
        for kind, desc in KINDS + (KINDS_ATS if smmu == "ats" else []):
            pr = {k: op_counts(k, kind, rs, where) for k in rs}
            counts[smmu][kind] = {k: next((c for c in pr[k] if c is not None), None) for k in pr}
            opcodes = sorted({o for k in pr for c in pr[k] if c for o in c},
                             key=lambda o: (o == "SYNC", o))
            unit = "commands" if kind == "boot" else "commands/op"
            for op in opcodes + ["total"]:
                row = {"name": f"{prefix}/{kind}/{op}", "unit": unit, "section": section,
                       "description": desc, "runs": {}}
                for k in rs:
                    vals = [None if c is None else (sum(c.values()) if op == "total" else c.get(op, 0))
                            for c in pr[k]]
                    row["runs"][k] = vals
                    known = [v for v in vals if v is not None]
                    row[k] = statistics.median_low(known) if known else None
                    row[k + "_exact"] = bool(known) and all(v == known[0] for v in known)
                b, s = row.get("base"), row.get("series")
                row["ratio"] = s / b if b and s is not None else None
                metrics.append(row)

    count_rows("s1", "commands", "cmds", runs)
    for smmu in ("s2",):
        if smmu in timed:
            count_rows(smmu, f"commands_{smmu}", f"cmds_{smmu}", timed[smmu])
    for smmu in counted_only:
        count_rows(smmu, f"commands_{smmu}", f"cmds_{smmu}", counted_only[smmu])
    if "nested" in counts:
        # Stage 1 + stage 2: the driver picks stage 1, so every operation,
        # the boot included, issues what it issues on s1.
        for kind, _ in KINDS:
            for k in ("base", "series"):
                c, c1 = counts["nested"][kind].get(k), counts["s1"][kind].get(k)
                if c is not None and c1 is not None and c != c1:
                    failures.append(f"{k} (SMMU nested): one '{kind}' issued {c}, on the stage-1-only "
                                    f"SMMU {c1}: the driver does not behave as on stage 1")
    if "ats" in counts:
        # The ATS SMMU is stage 1 too: an operation on devices without ATS
        # (the edus) issues what it issues on s1 (the boot differs: the
        # virtio disk has ATS there); one on ats-testdev adds CMD_ATC_INV.
        for kind, _ in KINDS:
            for k in ("base", "series"):
                c, c1 = counts["ats"][kind].get(k), counts["s1"][kind].get(k)
                if kind != "boot" and c is not None and c1 is not None and c != c1:
                    failures.append(f"{k} (SMMU ats): one '{kind}' (no ATS device) issued {c}, on the "
                                    f"SMMU without ATS {c1}")
        for kind, _ in KINDS_ATS:
            for k in ("base", "series"):
                c = counts["ats"][kind].get(k)
                if c is not None and not c.get("ATC_INV"):
                    failures.append(f"{k} (SMMU ats): one '{kind}' issued no CMD_ATC_INV ({c}): "
                                    f"ats-testdev's ATC is not invalidated")

    # 2. Cost in instruction-counted guest time: instructions per operation.
    def kind_of(name):
        for kind in ("multi_map_unmap_4k", "map_unmap_4k", "map_unmap_2m", "attach_cycle"):
            if name.startswith(kind + "_"):
                return kind
        return None

    def cost_rows(smmu, section, rs):
        for name, desc in TIMED:
            vals = {k: [s["results"][name] for s in rs[k] if name in s["results"]] for k in rs}
            if not any(vals.values()):
                if not name.endswith(("_tn", "_t2")):
                    failures.append(f"SMMU {smmu}: '{name}' missing in every run of both kernels")
                continue  # the _tn and _t2 ones are not measured with one vCPU
            unit = next(v[1] for k in vals for v in vals[k])
            row = {"name": f"{smmu}/{name}", "description": desc, "section": section, "runs": {},
                   "unit": "insn/op", "measured_unit": unit}
            for k in rs:
                if len(vals[k]) != len(rs[k]):
                    failures.append(f"{k} (SMMU {smmu}): '{name}' missing in {len(rs[k]) - len(vals[k])} run(s)")
                # rates -> instructions per operation; latencies (us) -> instructions
                insn = [1e9 / (ns_per_insn * v) if u.endswith("/s") else v * 1000 / ns_per_insn
                        for v, u in vals[k] if v]
                row["runs"][k] = [round(x, 1) for x in insn]
                row[k] = statistics.median(insn) if insn else None
                row[k + "_spread"] = spread_pct(insn) if insn else None
                if insn and row[k + "_spread"] > 3.0:
                    failures.append(f"{k} (SMMU {smmu}): '{name}' spreads +-{row[k + '_spread']:.2f} % "
                                    f"over {len(insn)} runs (more than +-3 %): {row['runs'][k]}")
            b, s = row.get("base"), row.get("series")
            row["ratio"] = s / b if b and s else None
            if row["ratio"] is not None:
                tol = (row["base_spread"] + row["series_spread"]) / 100
                row["ratio_spread"] = tol * 100
                row["flagged"] = row["ratio"] > 1 + tol
                if row["flagged"]:
                    kind = kind_of(name)
                    cmds = counts.get(smmu, {}).get(kind) if kind else None
                    flagged.append((row, smmu, kind, cmds))
            metrics.append(row)

    for smmu in timed:
        cost_rows(smmu, f"cost_{smmu}", timed[smmu])

    # 2w. The TCG wall-clock table (secondary): median [min..max], ratios are noise.
    if wall["base"] and wall["series"]:
        for name, desc in TIMED:
            row = {"name": f"wall/{name}", "description": desc, "section": "wall", "runs": {}}
            unit = None
            for k in wall:
                vals = [s["results"].get(name, [None])[0] for s in wall[k]]
                unit = unit or next((s["results"][name][1] for s in wall[k] if name in s["results"]), None)
                row["runs"][k] = vals
                known = [v for v in vals if v is not None]
                row[k] = statistics.median(known) if known else None
                row[k + "_min"] = min(known) if known else None
                row[k + "_max"] = max(known) if known else None
            row["unit"] = unit or "?"
            b, s = row.get("base"), row.get("series")
            row["ratio"] = s / b if b and s else None
            metrics.append(row)

    # 3. KUnit's STE transition matrix (printed by the series' suite only).
    for i, what in enumerate(("pairs", "hitless pairs", "syncs")):
        row = {"name": f"kunit/ste_matrix_{what.replace(' ', '_')}", "unit": what.split()[-1],
               "section": "kunit", "description": "STE writer transition matrix (KUnit at boot)",
               "runs": {}}
        for k in runs:
            vals = [s["kunit_matrix"][i] if s["kunit_matrix"] else None for s in runs[k]]
            row["runs"][k] = vals
            known = [v for v in vals if v is not None]
            if not known:
                row[k] = None
                row[k + "_note"] = f"not measurable on {k}: its KUnit has no STE transition matrix test"
            else:
                row[k] = known[0]
                if any(v != known[0] for v in vals):
                    failures.append(f"{k}: the KUnit STE matrix {what} vary between runs: {vals}")
        b, s = row.get("base"), row.get("series")
        row["ratio"] = s / b if b and s else None
        metrics.append(row)

    # 4. Fault events the SMMU model recorded, per benchmark (s1 runs): must be 0.
    benches = ["boot"] + [k for k, _ in KINDS if k != "boot"] + [n for n in
              dict.fromkeys(n.replace("dma_unmap_lat", "dma_map").replace("dma_map_lat", "dma_map")
                            for n, _ in TIMED)] + ["setup"]
    for b in benches:
        row = {"name": f"faults/{b}", "unit": "events", "section": "faults",
               "description": "SMMU fault events QEMU recorded during it", "runs": {}}
        for k in runs:
            vals = [s["faults"].get(b, 0) + s["command_errors"].get(b, 0) for s in runs[k]]
            row["runs"][k] = vals
            row[k] = max(vals)
            if any(vals):
                failures.append(f"{k}: {sum(vals)} SMMU fault event(s)/command error(s) during '{b}' "
                                f"({', '.join(str(s['fault_types']) for s in runs[k] if s['fault_types'])})")
        row["ratio"] = None
        metrics.append(row)
    # ... and in every other boot
    others = [s for sets in [timed.get("s2", {})] + list(counted_only.values()) + [wall]
              for k in sets.values() for s in k]
    for s in others:
        n = sum(s["faults"].values()) + sum(s["command_errors"].values())
        if n:
            failures.append(f"{s['rundir']}: {n} SMMU fault event(s)/command error(s): {s['fault_types']}")
    for s in every:
        for e in s["errors"]:
            failures.append(f"{s['rundir']}: {e}")

    for name, unit, note in ([] if "ats" in counts else NOT_MEASURABLE_WITHOUT_ATS):
        metrics.append({"name": name, "unit": unit, "section": "not measurable", "base": None,
                        "series": None, "ratio": None, "runs": {"base": [], "series": []},
                        "note": note})

    # The table
    nb, ns = len(runs["base"]), len(runs["series"])
    info = runs["series"][0]["info"]
    print(f"make bench: base vs series, {nb} + {ns} alternating boots per SMMU ({', '.join(timed)}) "
          f"under -icount shift={shift} (one instruction = {ns_per_insn} ns of guest time), 1 vCPU; "
          + "; ".join(i for i in info if i.startswith("multi container")))
    w = 34
    hl = {r["name"]: r for r in metrics}
    t1 = hl.get("s1/multi_map_unmap_4k_t1")
    cm = counts["s1"]["multi_map_unmap_4k"]

    def pair(k):
        return " + ".join(f"{n} {o}" for o, n in sorted((cm.get(k) or {}).items())) or "none"
    print()
    print("Headline: one VFIO type1 domain with all edu devices, 4 KiB map+unmap (each unmap invalidates it)")
    if t1 and t1["ratio"] is not None:
        print(f"  instructions per pair: base {t1['base']:.0f} (+-{t1['base_spread']:.2f} %), series "
              f"{t1['series']:.0f} (+-{t1['series_spread']:.2f} %), series/base {t1['ratio']:.4f}")
    print(f"  commands per pair: base {pair('base')}; series {pair('series')}")

    def line(name, unit, b, s, r, extra=""):
        print(f"  {name:{w}s} {unit:12s} {b:>22s} {s:>22s} {r:>16s}{extra}")

    def rng(row, k):
        v = row.get(k)
        if v is None:
            return "-"
        if row["section"].startswith("cost_"):
            return f"{v:.1f} +-{row[k + '_spread']:.2f}%"
        if row["section"] == "wall":
            return f"{fmt_num(v)} [{fmt_num(row[k + '_min'])}..{fmt_num(row[k + '_max'])}]"
        return fmt_num(v, row["unit"]) + ("" if row.get(k + "_exact", True) else " (varies)")

    def ratio(row):
        if row["ratio"] is None:
            return "-"
        if row["section"].startswith("cost_"):
            return f"{row['ratio']:.4f} +-{row['ratio_spread']:.2f}%" + (" !" if row["flagged"] else "")
        return f"{row['ratio']:.3f}"

    titles = {
        "commands": "1. SMMU commands per operation on a stage-1-only SMMU (SMMU s1; QEMU's trace, exact)",
        "commands_s2": "1b. SMMU commands per operation on a stage-2-only SMMU (SMMU s2; exact)",
        "commands_nested": "1c. SMMU commands per operation on a stage 1 + stage 2 SMMU (SMMU nested; "
                           "exact, must equal section 1)",
        "commands_ats": "1d. SMMU commands per operation on the ATS SMMU (SMMU ats, qemu/patches; exact; "
                        "without ats-testdev as in section 1, with it CMD_ATC_INV for its ATC)",
        "cost_s1": f"2. Cost in instruction-counted guest time, SMMU s1: instructions per operation "
                   f"(median of the runs, +- half their range; ratio > 1: the series costs more; ! flagged)",
        "cost_s2": "2b. The same on the stage-2-only SMMU (SMMU s2)",
        "wall": "2w. TCG wall clock, 2 vCPUs (secondary: noise of the host, not evidence; median [min..max])",
        "kunit": "3. Entry writer cost (KUnit STE transition matrix)",
        "faults": "4. SMMU fault events during each benchmark (must be 0; every other boot is checked too)",
        "not measurable": "Not measurable on QEMU",
    }
    section = None
    last_kind = None
    for row in metrics:
        if row["section"] != section:
            section = row["section"]
            print()
            print(titles[section])
            if section != "not measurable":
                line("metric", "unit", "base", "series", "series/base")
        if section == "not measurable":
            print(f"  {row['name']:{w}s} {row['note']}")
            continue
        if section.startswith("commands"):
            kind = row["name"].split("/")[1]
            if kind != last_kind:
                print(f"  {kind}: {row['description']}")
                last_kind = kind
        b = row.get("base_note") and "not measurable on base" or rng(row, "base")
        s = row.get("series_note") and "not measurable" or rng(row, "series")
        if section.startswith("commands"):
            name = "  " + row["name"].split("/", 2)[-1]
        elif section.startswith("cost_") or section == "wall":
            name = row["name"].split("/", 1)[-1]
        else:
            name = row["name"]
        line(name, row["unit"], b, s, ratio(row))

    print()
    if flagged:
        print("Flagged: the series costs more than the base beyond the spread")
        for row, smmu, kind, cmds in flagged:
            c = "; ".join(f"{k} " + (" + ".join(f"{n} {o}" for o, n in sorted(cmds[k].items()))
                                      if cmds and cmds.get(k) else "-") for k in ("base", "series"))
            print(f"  SMMU {smmu} {row['name'].split('/', 1)[-1]}: {row['base']:.1f} -> {row['series']:.1f} "
                  f"instructions ({row['ratio']:.4f}, spread +-{row['ratio_spread']:.2f} %); "
                  f"commands per {kind or 'operation (not counted: the strict DMA domain of dma_map_benchmark)'}: {c}")
    else:
        print("Flagged: none (the series costs no more than the base beyond the spread anywhere)")

    # The chart: cost ratios (with their spread) and the command totals.
    dat = os.path.join(benchdir, "ratios.dat")
    with open(dat, "w") as fh:
        fh.write("# name ratio low high\n")
        for row in metrics:
            if row.get("ratio") is None:
                continue
            if row["section"].startswith("cost_"):
                r, t = row["ratio"], row["ratio_spread"] / 100
                fh.write(f"{row['name']} {r:.4f} {r * (1 - t):.4f} {r * (1 + t):.4f}\n")
            elif row["section"].startswith("commands") and row["name"].endswith("/total"):
                n = row["name"].split("/")[0] + ":" + row["name"].split("/")[1]
                fh.write(f"{n} {row['ratio']:.4f} {row['ratio']:.4f} {row['ratio']:.4f}\n")
    svg = os.path.join(benchdir, "ratios.svg")
    gp = os.path.join(benchdir, "ratios.gp")
    with open(gp, "w") as fh:
        fh.write(f"""set terminal svg size 1100,560 dynamic background rgb 'white' font 'sans,11'
set output '{svg}'
set title "make bench: series / base cost (icount, median of {nb}+{ns} alternating boots per SMMU; bars: spread; commands: exact)" noenhanced
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.7 border -1
set boxwidth 0.8
set ylabel 'series / base  (instructions or commands per operation: <1 is cheaper)'
set yrange [0:*]
set grid ytics
set xtics rotate by -35 left noenhanced
set bmargin 9
set rmargin 10
set key off
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'black'
plot '{dat}' using 2:3:4:xtic(1) lc rgb '#4477aa'
""")
    if shutil.which("gnuplot"):
        p = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if p.returncode:
            failures.append(f"gnuplot failed on {gp}: {p.stderr.strip()[:300]}")
        else:
            print(f"chart: {svg}")
    else:
        failures.append("gnuplot is not installed: no chart (run 'make deps')")
    with open(os.path.join(benchdir, "results.json"), "w") as fh:
        kf = os.path.join(benchdir, "kernels.txt")
        kernels = open(kf).read().splitlines() if os.path.exists(kf) else []
        json.dump({"icount_shift": shift, "metrics": metrics, "failures": failures, "kernels": kernels,
                   "flagged": [r["name"] for r, _, _, _ in flagged],
                   "runs": {smmu: {k: [s["rundir"] for s in sets[k]] for k in sets}
                            for smmu, sets in list(timed.items()) + list(counted_only.items())
                            + [("wall", wall)]}}, fh, indent=1)
    print(f"results: {os.path.join(benchdir, 'results.json')}")
    if failures:
        print()
        print("bench: FAILED:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("bench: ok (command counts identical in every run of each kernel, every spread within +-3 %, "
          "no SMMU fault events)")
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("summarize", "report"):
        print(__doc__, file=sys.stderr)
        return 2
    return summarize(sys.argv[2]) if sys.argv[1] == "summarize" else report(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
