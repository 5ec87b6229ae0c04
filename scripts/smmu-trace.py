#!/usr/bin/env python3
"""Read QEMU's SMMUv3 trace of one boot.

smmu-trace.py TRACE CONSOLE [--results FILE] [--json FILE] [--summary]

TRACE is QEMU's -D log with the smmuv3_* events; CONSOLE the guest console.
The guest announces the fault events it provokes on purpose with lines
"harness-expect-smmu-events: TYPE sid=0xN count=C". The checks:

  smmu_events_as_expected   the recorded events are exactly the announced
                            ones (type, SID and count), no other
  smmu_no_command_errors    no CMDQ consume error and no GERROR write

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
EXPECT = re.compile(r"harness-expect-smmu-events:\s+(\S+)\s+sid=(0x[0-9a-fA-F]+)\s+count=(\d+)")


def parse(trace, console):
    events = collections.Counter()
    opcodes = collections.Counter()
    errors = []
    with open(trace, errors="replace") as fh:
        for line in fh:
            m = OPCODE.search(line)
            if m:
                opcodes[m.group(1)] += 1
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
    return events, opcodes, errors, expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("console")
    ap.add_argument("--results")
    ap.add_argument("--json")
    ap.add_argument("--summary", action="store_true")
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
            if opcodes:
                fh.write("PASS smmu_trace_has_commands\n")
            else:
                ok = False
                fh.write("FAIL smmu_trace_has_commands: no smmuv3_cmdq_opcode in the trace "
                         "(QEMU without the trace backend?)\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
