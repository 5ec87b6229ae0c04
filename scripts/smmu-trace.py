#!/usr/bin/env python3
"""Read QEMU's SMMUv3 trace of one boot.

smmu-trace.py TRACE CONSOLE [--results FILE] [--json FILE] [--summary]
              [--smmu s1|s2|nested [--same-as JSON]]

TRACE is QEMU's -D log with the smmuv3_* events; CONSOLE the guest console.
The guest announces the fault events it provokes on purpose with lines
"harness-expect-smmu-events: TYPE sid=0xN count=C". The checks:

  smmu_events_as_expected   the recorded events are exactly the announced
                            ones (type, SID and count), no other
  smmu_no_command_errors    no CMDQ consume error and no GERROR write
  smmu_commands_of_stage    (--smmu) the driver used the stage QEMU's SMMU
                            configuration calls for: stage 1 on s1 and nested
                            (CD and ASID commands, no S2 invalidation), stage
                            2 on s2 (TLBI_S2_IPA and TLBI_S12_VMALL by VMID,
                            no CD or NH command)
  smmu_atc_inv_delivered    (--smmu ats: the SMMU built from qemu/patches)
                            every CMD_ATC_INV was decoded by the model, and
                            the ones for a device with an ATC reached it
                            (smmuv3_atc_inv ... delivered=1): at least one
  smmu_atc_inv_with_each_unmap  (--smmu ats) in the window the guest
                            announces ("harness-atc-window: B E sid=0xS":
                            between its trace markers B and E, config writes
                            to the host bridge's register 0x3c), every TLB
                            invalidation of the disk's domain (its ASID, from
                            smmuv3_range_inval) was followed by a CMD_ATC_INV
                            to stream S
  smmu_commands_same_as     (--same-as, the JSON of a stage-1 boot of the
                            same kernel and guest) every command but the
                            address invalidations and CMD_SYNC, whose number
                            follows the disk reads that run during the VFIO
                            cycles for as long as they last, counted exactly
                            as there; on s2 a domain flush is TLBI_S12_VMALL
                            where stage 1 has TLBI_NH_ASID, and no CFGI_CD

--results appends PASS/FAIL lines for results.py; --json writes the command
counts by opcode; --summary prints them for a person.
"""
import argparse
import collections
import json
import re
import sys

EVENT = re.compile(r"smmuv3_record_event\s+(\S+)\s+sid=(0x[0-9a-fA-F]+)")
OPCODE = re.compile(r"smmuv3_cmdq_opcode\s+<---\s+(\S+)")
ERROR = re.compile(r"smmuv3_(cmdq_consume_error|write_gerror)\b(.*)")
ATC_INV = re.compile(r"smmuv3_atc_inv\s+sid=(0x[0-9a-fA-F]+).*delivered=(\d)")
EXPECT = re.compile(r"harness-expect-smmu-events:\s+(\S+)\s+sid=(0x[0-9a-fA-F]+)\s+count=(\d+)")
WINDOW = re.compile(r"harness-atc-window:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+sid=(0x[0-9a-fA-F]+)")
MARK = re.compile(r"^pci_cfg_write gpex-root 00:00\.0 @0x3c <- (0x[0-9a-f]+)")


RANGE_INVAL = re.compile(r"^smmuv3_range_inval vmid=(-?\d+) asid=(-?\d+)")


def atc_window(trace, console):
    """The guest's ATC window, between its two markers: (TLB invalidations of
    the disk's domain, how many of them were not followed by a CMD_ATC_INV to
    the disk's stream, sid), or None if the guest announced no window, or
    (None, None, sid) if the trace lacks a marker.

    The series and 6.12 issue a domain's TLBIs, a CMD_SYNC, then the ATC
    invalidations of its ATS masters. The disk's domain is told by its ASID
    (smmuv3_range_inval): the ASIDs of TLBIs followed by an ATC_INV to the
    disk. Other domains' unmaps in the window (a LAVA job's network device)
    are not counted; with no ATC_INV to the disk at all, every TLBI counts."""
    win = None
    with open(console, errors="replace") as fh:
        for line in fh:
            m = WINDOW.search(line)
            if m:
                win = tuple(int(g, 16) for g in m.groups())
    if not win:
        return None
    begin, end, sid = win
    inside, seen = False, set()
    ok, miss = collections.Counter(), collections.Counter()
    pending, awaiting, last_op = [], [], None
    with open(trace, errors="replace") as fh:
        for line in fh:
            m = MARK.match(line)
            if m:
                v = int(m.group(1), 16)
                seen.add(v)
                if v == begin:
                    inside = True
                elif v == end:
                    break
                continue
            if not inside:
                continue
            m = RANGE_INVAL.match(line)
            if m and last_op == "SMMU_CMD_TLBI_NH_VA":
                pending.append(int(m.group(2)))
                continue
            m = OPCODE.search(line)
            if not m:
                continue
            op = last_op = m.group(1)
            if awaiting:
                # the first command after a TLBI's CMD_SYNC: is it the
                # disk's ATC invalidation? (its sid comes on the next line)
                awaiting_now, awaiting = awaiting, []
                if op == "SMMU_CMD_ATC_INV":
                    nxt = next(fh, "")
                    a = ATC_INV.search(nxt)
                    hit = a and int(a.group(1), 16) == sid
                else:
                    hit = False
                for asid in awaiting_now:
                    (ok if hit else miss)[asid] += 1
            if op == "SMMU_CMD_SYNC" and pending:
                awaiting, pending = pending, []
    if begin not in seen or end not in seen:
        return (None, None, sid)
    disk = set(ok)
    if not disk:
        return (sum(miss.values()), sum(miss.values()), sid)
    return (sum(ok[a] + miss[a] for a in disk), sum(miss[a] for a in disk), sid)


def parse(trace, console):
    events = collections.Counter()
    opcodes = collections.Counter()
    errors = []
    atc = collections.Counter()
    with open(trace, errors="replace") as fh:
        for line in fh:
            m = OPCODE.search(line)
            if m:
                opcodes[m.group(1)] += 1
                continue
            m = ATC_INV.search(line)
            if m:
                atc[(int(m.group(1), 16), m.group(2) == "1")] += 1
                continue
            m = EVENT.search(line)
            if m:
                events[(m.group(1), int(m.group(2), 16))] += 1
                continue
            m = ERROR.search(line)
            if m:
                errors.append(line.strip())
    expected = collections.Counter()
    with open(console, errors="replace") as fh:
        for line in fh:
            m = EXPECT.search(line)
            if m:
                expected[(m.group(1), int(m.group(2), 16))] += int(m.group(3))
    parse.atc = atc
    return events, opcodes, errors, expected


# Commands only a stage-1 (CD, ASID) or only a stage-2 (VMID) domain gives.
STAGE1 = ("SMMU_CMD_CFGI_CD", "SMMU_CMD_CFGI_CD_ALL", "SMMU_CMD_TLBI_NH_ASID",
          "SMMU_CMD_TLBI_NH_VA", "SMMU_CMD_TLBI_NH_VAA", "SMMU_CMD_TLBI_NH_ALL")
STAGE2 = ("SMMU_CMD_TLBI_S2_IPA", "SMMU_CMD_TLBI_S12_VMALL")
# Counts that follow how long the guest's background reads ran.
TIMED = ("SMMU_CMD_TLBI_NH_VA", "SMMU_CMD_TLBI_S2_IPA", "SMMU_CMD_SYNC")


def stage_check(smmu, opcodes):
    """The stage the commands show against the one the SMMU configuration calls for."""
    s1 = {op: opcodes[op] for op in STAGE1 if opcodes.get(op)}
    s2 = {op: opcodes[op] for op in STAGE2 if opcodes.get(op)}
    show = lambda d: ", ".join(f"{n} x {op[9:]}" for op, n in sorted(d.items())) or "none"
    if smmu == "s2":
        ok = not s1 and all(opcodes.get(op) for op in STAGE2)
        want = "stage 2 (TLBI_S2_IPA and TLBI_S12_VMALL, no CD or NH command)"
    else:
        ok = not s2 and opcodes.get("SMMU_CMD_CFGI_CD") and opcodes.get("SMMU_CMD_TLBI_NH_ASID")
        want = "stage 1 (CFGI_CD and TLBI_NH_ASID, no S2 invalidation)"
    return bool(ok), f"SMMU {smmu}: want {want}; stage-1 commands: {show(s1)}; stage-2 commands: {show(s2)}"


def same_as(opcodes, other, smmu=None):
    """Differences, outside TIMED, between these counts and another boot's
    (a stage-1 one). On s2 the other boot's stage-1 commands are mapped to
    what a stage-2 domain issues instead: TLBI_NH_ASID (a domain's flush) to
    TLBI_S12_VMALL, and no CFGI_CD (there is no CD)."""
    if smmu == "s2":
        other = dict(other)
        other["SMMU_CMD_TLBI_S12_VMALL"] = other.pop("SMMU_CMD_TLBI_NH_ASID", 0)
        other.pop("SMMU_CMD_CFGI_CD", None)
    ops = sorted((set(opcodes) | set(other)) - set(TIMED))
    return [f"{op[9:]} {opcodes.get(op, 0)} here, {other.get(op, 0)} there"
            for op in ops if opcodes.get(op, 0) != other.get(op, 0)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("console")
    ap.add_argument("--results")
    ap.add_argument("--json")
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--smmu", choices=("s1", "s2", "nested", "ats"))
    ap.add_argument("--same-as")
    a = ap.parse_args()

    events, opcodes, errors, expected = parse(a.trace, a.console)
    fmt = lambda c: ", ".join(f"{n} x {t} sid=0x{s:x}" for (t, s), n in sorted(c.items())) or "none"

    if a.summary:
        total = sum(opcodes.values())
        print(f"SMMU commands consumed by QEMU's model: {total}")
        for op, n in opcodes.most_common():
            print(f"  {op:28s} {n:7d}")
        print(f"SMMU fault events recorded: {sum(events.values())} ({fmt(events)})")
        if expected:
            print(f"  provoked on purpose by the guest: {fmt(expected)}")
        if errors:
            print(f"SMMU command errors / GERROR: {len(errors)}")

    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"opcodes": dict(opcodes), "events": {f"{t} sid=0x{s:x}": n for (t, s), n in events.items()},
                       "errors": len(errors)}, fh, indent=1)

    ok = True
    if a.results:
        with open(a.results, "a") as fh:
            if events == expected:
                fh.write(f"PASS smmu_events_as_expected\n")
            else:
                ok = False
                fh.write(f"FAIL smmu_events_as_expected: QEMU recorded [{fmt(events)}], "
                         f"the guest provoked [{fmt(expected)}]\n")
            if not errors:
                fh.write("PASS smmu_no_command_errors\n")
            else:
                ok = False
                fh.write(f"FAIL smmu_no_command_errors: {len(errors)}, first: {errors[0]}\n")
            if a.smmu:
                good, detail = stage_check(a.smmu, opcodes)
                ok = ok and good
                fh.write(f"{'PASS' if good else 'FAIL'} smmu_commands_of_stage"
                         f"{'' if good else ': ' + detail}\n")
            if a.smmu == "ats":
                atc = parse.atc
                decoded = sum(atc.values())
                delivered = {sid: n for (sid, d), n in atc.items() if d}
                good = decoded == opcodes.get("SMMU_CMD_ATC_INV", 0) and delivered
                ok = ok and bool(good)
                detail = (f"{opcodes.get('SMMU_CMD_ATC_INV', 0)} CMD_ATC_INV consumed, {decoded} decoded, "
                          f"delivered to an ATC: " + (", ".join(f"{n} x sid=0x{sid:x}" for sid, n in
                                                               sorted(delivered.items())) or "none"))
                fh.write(f"{'PASS' if good else 'FAIL'} smmu_atc_inv_delivered"
                         f"{' (' if good else ': '}{detail}{')' if good else ''}\n")
                win = atc_window(a.trace, a.console)
                if win is None:
                    good, detail = False, "the guest announced no window (harness-atc-window)"
                elif win[0] is None:
                    good, detail = False, ("a marker of the window is missing from the trace "
                                           "(pci_cfg_write not traced?)")
                else:
                    tlbi, missed, sid = win
                    good = tlbi > 0 and missed == 0
                    if not tlbi:
                        detail = ("no TLB invalidation with its ASID in the window (the disk read "
                                  "unmapped nothing, or smmuv3_range_inval is not traced)")
                    else:
                        detail = (f"{tlbi} TLB invalidation(s) of the disk's domain, {tlbi - missed} "
                                  f"followed by a CMD_ATC_INV to its stream 0x{sid:x}" +
                                  ("" if good else " (want all: its ATC keeps stale translations)"))
                ok = ok and good
                fh.write(f"{'PASS' if good else 'FAIL'} smmu_atc_inv_with_each_unmap"
                         f"{' (' if good else ': '}{detail}{')' if good else ''}\n")
            if a.same_as:
                try:
                    with open(a.same_as) as other:
                        diff = same_as(opcodes, json.load(other)["opcodes"], a.smmu)
                except (OSError, ValueError, KeyError) as e:
                    diff = [f"cannot read {a.same_as}: {e}"]
                ok = ok and not diff
                fh.write("PASS smmu_commands_same_as\n" if not diff else
                         f"FAIL smmu_commands_same_as: {'; '.join(diff)} ({a.same_as})\n")
            if opcodes:
                fh.write("PASS smmu_trace_has_commands\n")
            else:
                ok = False
                fh.write("FAIL smmu_trace_has_commands: no smmuv3_cmdq_opcode in the trace "
                         "(QEMU without the trace backend?)\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
