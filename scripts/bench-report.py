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
    Reads BENCHDIR/{base,series}/run*/summary.json (and {s2,nested}/summary.json,
    the boots on QEMU's other SMMU configurations) and prints the table,
    writes BENCHDIR/results.json (one object per metric: name, unit, base,
    series, ratio, runs, ...) and BENCHDIR/ratios.svg (gnuplot). Exit status
    1 if a command count varies between runs of the same kernel (or between
    the operations of one run), if any benchmark saw an SMMU fault event, or
    if a run failed.

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
NOT_MEASURABLE = [
    ("cmds/ats_atc_inv", "commands",
     "not measurable on QEMU: no QEMU SMMUv3 model has ATS (no ATC_INV is ever issued; "
     "10.0 here); the series' ATS paths are measured by KUnit only"),
]
# The boots on QEMU's other SMMU configurations (bench.sh, BENCH_SMMU): one per
# kernel, command counts only. s2: every domain is stage 2 (VMID
# invalidations). nested: stage 1 + stage 2, where the driver must pick stage
# 1 and issue exactly the commands of the stage-1-only SMMU (section 1).
OTHER_SMMUS = [
    ("s2", "SMMU commands per operation on a stage-2-only SMMU (SMMU s2; exact)"),
    ("nested", "SMMU commands per operation on a stage 1 + stage 2 SMMU (SMMU nested; exact, "
               "must equal section 1)"),
]


def summarize(rundir):
    labels = {}
    results, errors, info = {}, [], []
    matrix = None
    status = None
    with open(os.path.join(rundir, "console.log"), errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
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


def report(benchdir):
    runs = {}
    for k in ("base", "series"):
        runs[k] = []
        for f in sorted(glob.glob(os.path.join(benchdir, k, "run*", "summary.json")),
                        key=lambda p: int(re.search(r"run(\d+)", p).group(1))):
            with open(f) as fh:
                runs[k].append(json.load(fh))
        if not runs[k]:
            print(f"no runs of the {k} kernel under {benchdir}/{k}/", file=sys.stderr)
            return 1
    failures = []
    metrics = []

    # The boots on the other SMMU configurations, where there are any.
    other = {}
    for smmu, _ in OTHER_SMMUS:
        got = {}
        for k in ("base", "series"):
            f = os.path.join(benchdir, k, smmu, "summary.json")
            if os.path.exists(f):
                with open(f) as fh:
                    got[k] = [json.load(fh)]
        if got:
            for k in ("base", "series"):
                if k not in got:
                    failures.append(f"no SMMU {smmu} boot of the {k} kernel ({benchdir}/{k}/{smmu}/)")
                    got[k] = []
            other[smmu] = got

    # 1. Command counts: exact, the same in every run and every operation.
    def op_counts(k, kind, runs=runs, where=""):
        """One Counter per run (or None), after checking determinism."""
        per_run = []
        k0 = k
        k = k + where
        for n, s in enumerate(runs[k0], 1):
            lst = s["ops"].get(kind, [])
            if not lst:
                failures.append(f"{k} run {n}: no '{kind}' operations were counted")
                per_run.append(None)
                continue
            first = lst[0]
            for j, c in enumerate(lst[1:], 1):
                if c != first:
                    failures.append(f"{k} run {n}: '{kind}' operation {j} issued {c}, "
                                    f"operation 0 issued {first}: not deterministic")
            per_run.append(first)
        known = [c for c in per_run if c is not None]
        if known and any(c != known[0] for c in known):
            failures.append(f"{k}: the commands of one '{kind}' vary between runs: "
                            + "; ".join(f"run {i}: {c}" for i, c in enumerate(per_run, 1)))
        return per_run

    def count_rows(section, prefix, rs, where=""):
        for kind, desc in KINDS:
            pr = {k: op_counts(k, kind, rs, where) for k in rs}
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
                metrics.append(row)
            yield kind, pr

    s1_counts = {kind: pr for kind, pr in count_rows("commands", "cmds", runs)}
    for smmu, _ in OTHER_SMMUS:
        if smmu not in other:
            continue
        for kind, pr in count_rows(f"commands_{smmu}", f"cmds_{smmu}", other[smmu], f" (SMMU {smmu})"):
            if smmu != "nested":
                continue
            # Stage 1 + stage 2: the driver picks stage 1, so every operation
            # (but the boot, whose probe differs) issues what it issues on s1.
            for k in pr:
                s1 = [c for c in s1_counts[kind][k] if c is not None]
                for c in pr[k]:
                    if kind != "boot" and c is not None and s1 and c != s1[0]:
                        failures.append(f"{k} (SMMU nested): one '{kind}' issued {c}, on the stage-1-only "
                                        f"SMMU {s1[0]}: the driver does not behave as on stage 1")
    # 2. Timed results: median of the runs, with min and max.
    for name, desc in TIMED:
        row = {"name": name, "description": desc, "section": "throughput", "runs": {}}
        unit = None
        for k in runs:
            vals = [s["results"].get(name, [None])[0] for s in runs[k]]
            unit = unit or next((s["results"][name][1] for s in runs[k] if name in s["results"]), None)
            row["runs"][k] = vals
            known = [v for v in vals if v is not None]
            row[k] = statistics.median(known) if known else None
            row[k + "_min"] = min(known) if known else None
            row[k + "_max"] = max(known) if known else None
            if len(known) != len(vals):
                failures.append(f"{k}: '{name}' missing in {len(vals) - len(known)} run(s)")
        row["unit"] = unit or "?"
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
        metrics.append(row)

    # 4. Fault events the SMMU model recorded, per benchmark: must be 0.
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
        metrics.append(row)

    for name, unit, note in NOT_MEASURABLE:
        metrics.append({"name": name, "unit": unit, "section": "not measurable", "base": None,
                        "series": None, "ratio": None, "runs": {"base": [], "series": []},
                        "note": note})

    for row in metrics:
        if "ratio" in row:
            continue
        b, s = row.get("base"), row.get("series")
        row["ratio"] = (s / b) if (isinstance(b, (int, float)) and isinstance(s, (int, float)) and b) else None
        if row["section"] == "throughput" and row["ratio"] is not None and row.get("base_min"):
            row["ratio_min"] = row["series_min"] / row["base_max"]
            row["ratio_max"] = row["series_max"] / row["base_min"]
    others = [s for smmu in other.values() for k in smmu.values() for s in k]
    for s in runs["base"] + runs["series"] + others:
        for e in s["errors"]:
            failures.append(f"{s['rundir']}: {e}")
    for s in others:
        n = sum(s["faults"].values()) + sum(s["command_errors"].values())
        if n:
            failures.append(f"{s['rundir']}: {n} SMMU fault event(s)/command error(s): {s['fault_types']}")

    # The table
    nb, ns = len(runs["base"]), len(runs["series"])
    info = runs["series"][0]["info"]
    print(f"make bench: base vs series, {nb} + {ns} alternating boots; "
          + "; ".join(i for i in info if i.startswith(("vcpus", "multi container"))))
    w = 34
    # The headline another issue waits for: invalidations in one shared domain.
    hl = {r["name"]: r for r in metrics}
    t1, tn = hl["multi_map_unmap_4k_t1"], hl["multi_map_unmap_4k_tn"]
    cmds = {k: runs[k][0]["ops"].get("multi_map_unmap_4k", [{}])[0] for k in runs}
    def pair(k):
        return " + ".join(f"{n} {o}" for o, n in sorted(cmds[k].items())) or "none"
    print()
    print("Headline: one VFIO type1 domain with all edu devices, 4 KiB map+unmap (each unmap invalidates it)")
    for t in (t1, tn):
        r = "-" if t["ratio"] is None else f"{t['ratio']:.3f}"
        print(f"  {t['name']}: base {fmt_num(t['base'])} {t['unit']}, series {fmt_num(t['series'])} "
              f"{t['unit']}, series/base {r}")
    print(f"  commands per pair: base {pair('base')}; series {pair('series')}")

    def line(name, unit, b, s, r, extra=""):
        print(f"  {name:{w}s} {unit:12s} {b:>22s} {s:>22s} {r:>7s}{extra}")

    def rng(row, k):
        v = row.get(k)
        if v is None:
            return "-"
        if row.get(k + "_min") is not None and row["section"] == "throughput":
            return f"{fmt_num(v)} [{fmt_num(row[k + '_min'])}..{fmt_num(row[k + '_max'])}]"
        return fmt_num(v, row["unit"]) + ("" if row.get(k + "_exact", True) else " (varies)")

    section = None
    titles = {
        "commands": "1. SMMU commands per operation on a stage-1-only SMMU (SMMU s1; QEMU's trace, exact)",
        "throughput": "2. Throughput and latency in the guest (median [min..max] of the runs)",
        "kunit": "3. Entry writer cost (KUnit STE transition matrix)",
        "faults": "4. SMMU fault events during each benchmark (must be 0)",
        "not measurable": "Not measurable on QEMU",
    }
    for i, (smmu, title) in enumerate(OTHER_SMMUS):
        titles[f"commands_{smmu}"] = f"1{'bc'[i]}. {title}"
    last_kind = None
    for row in metrics:
        if row["section"] != section:
            section = row["section"]
            print()
            print(titles[section])
            if section != "not measurable":
                line("metric", "unit", "base", "series", "ratio")
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
        r = "-" if row["ratio"] is None else f"{row['ratio']:.3f}"
        name = "  " + row["name"].split("/", 2)[-1] if section.startswith("commands") else row["name"]
        line(name, row["unit"], b, s, r)

    with open(os.path.join(benchdir, "results.json"), "w") as fh:
        kf = os.path.join(benchdir, "kernels.txt")
        kernels = open(kf).read().splitlines() if os.path.exists(kf) else []
        json.dump({"metrics": metrics, "failures": failures, "kernels": kernels,
                   "runs": {k: [s["rundir"] for s in runs[k]] for k in runs}}, fh, indent=1)

    # The chart: ratios of the timed results and of the command totals.
    dat = os.path.join(benchdir, "ratios.dat")
    with open(dat, "w") as fh:
        fh.write("# name ratio low high\n")
        for row in metrics:
            if row["ratio"] is None:
                continue
            if row["section"] == "throughput":
                fh.write(f"{row['name']} {row['ratio']:.4f} {row['ratio_min']:.4f} {row['ratio_max']:.4f}\n")
            elif row["section"] == "commands" and row["name"].endswith("/total"):
                n = "cmds:" + row["name"].split("/")[1]
                fh.write(f"{n} {row['ratio']:.4f} {row['ratio']:.4f} {row['ratio']:.4f}\n")
    svg = os.path.join(benchdir, "ratios.svg")
    gp = os.path.join(benchdir, "ratios.gp")
    with open(gp, "w") as fh:
        fh.write(f"""set terminal svg size 1100,560 dynamic background rgb 'white' font 'sans,11'
set output '{svg}'
set title "make bench: series / base (median of {nb}+{ns} alternating boots; bars: min..max ratio; commands: exact)" noenhanced
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.7 border -1
set boxwidth 0.8
set ylabel 'series / base  (/s: >1 is faster; us and commands: <1 is cheaper)'
set yrange [0:*]
set grid ytics
set xtics rotate by -35 left noenhanced
set bmargin 9
set rmargin 10
set key off
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'black'
plot '{dat}' using 2:3:4:xtic(1) lc rgb '#4477aa'
""")
    print()
    if shutil.which("gnuplot"):
        p = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if p.returncode:
            failures.append(f"gnuplot failed on {gp}: {p.stderr.strip()[:300]}")
        else:
            print(f"chart: {svg}")
    else:
        failures.append("gnuplot is not installed: no chart (run 'make deps')")
    print(f"results: {os.path.join(benchdir, 'results.json')}")
    if failures:
        print()
        print("bench: FAILED:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("bench: ok (command counts identical in every run of each kernel, no SMMU fault events)")
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("summarize", "report"):
        print(__doc__, file=sys.stderr)
        return 2
    return summarize(sys.argv[2]) if sys.argv[1] == "summarize" else report(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
