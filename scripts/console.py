#!/usr/bin/env python3
"""The serial console of a guest boot, as the harness parses it.

The guest's /init writes every line as a kernel log record (guest/console.c),
so the console prints it whole, with printk's prefix, in its place among the
kernel's messages; no kernel message can land inside one of its lines
(issue 33). Every parser of the harness reads the console through this.

  console.py text LOG TXT
      TXT = LOG without CRs and without printk's prefix ("[    1.234567] ",
      and "[T123]"/"[C1]" of PRINTK_CALLER), kernel and guest lines alike.
  console.py cut TXT BEGIN END OUT [--end-prefix] [--what NAME] [--ktap]
      OUT = the lines strictly between the line BEGIN and the line END (with
      --end-prefix: the first line starting with END); with --ktap only the
      lines of KTAP's grammar (version, plan, result and "#" lines): the
      kernel's own messages stand whole between them, and kunit.py parse
      takes a line it does not know after a suite's result for a crashed
      test. Exit 0 when the cut
      holds a KTAP version line; otherwise exit 1 and one line on stdout that
      says what was found instead: no BEGIN marker (and, if so, where it
      stands inside another line), no END marker, an empty cut, or a cut
      without KTAP (its first line).
  console.py noise TXT
      guest.console_noise's verdict: every noise record and every probe line
      the guest says it wrote stands whole on a line of its own.
  console.py selftest
      The parser against consoles made to race: each marker and KTAP line
      with a kernel message glued inside it (the old failure) must be
      reported as such, and a console of whole records must cut cleanly.

Python callers import lines() and cut().
"""
import re
import sys

PREFIX = re.compile(r"^\[\s*\d+\.\d+\](?:\[\s*[CT]\d+\])? ?")
NOISE = re.compile(r"^console-noise (\d+) of (\d+): a kernel message racing the guest's lines$")
PROBE = re.compile(r"^harness-console-probe: (\d+) of (\d+): a guest line racing the kernel's messages$")
KTAP_LINE = re.compile(r"^\s*(K?TAP version \d+|\d+\.\.\d+|(not )?ok \d+|#)")
SENT = re.compile(r"^harness-console-noise: sent (\d+) noise (\d+) probes (\S+)$")


def text(raw):
    """Console text (str) -> list of lines as the harness parses them."""
    return [PREFIX.sub("", line.rstrip("\r")) for line in raw.split("\n")]


def lines(path):
    with open(path, errors="replace") as fh:
        return text(fh.read())


def cut(ls, begin, end, end_prefix=False, what=None):
    """(lines between the markers, None) or (partial lines, why not)."""
    what = what or begin
    try:
        b = ls.index(begin)
    except ValueError:
        inside = [i for i, line in enumerate(ls) if begin in line]
        if inside:
            line = ls[inside[0]]
            return [], (f"{what}: no line '{begin}'; it stands inside console line {inside[0] + 1} at "
                        f"column {line.index(begin) + 1}, shared with another writer: {line[:160]!r}")
        return [], f"{what}: no '{begin}' marker on the console"
    body = []
    for line in ls[b + 1:]:
        if line == end or (end_prefix and line.startswith(end)):
            break
        body.append(line)
    else:
        return body, f"{what}: no '{end}' marker after '{begin}' ({len(body)} line(s) after it)"
    if not any(line.strip() for line in body):
        return body, f"{what}: the cut between '{begin}' and '{end}' is empty"
    if not any("KTAP version" in line or "TAP version" in line for line in body):
        first = next(line for line in body if line.strip())
        return body, f"{what}: {len(body)} line(s) between the markers but no KTAP version line (first: {first[:120]!r})"
    return body, None


def noise_verdict(ls):
    sent = [m for m in map(SENT.match, ls) if m]
    if not sent:
        return False, "no 'harness-console-noise: sent' line (guest.console_noise not set, or the guest did not finish)"
    n, p, status = int(sent[-1].group(1)), int(sent[-1].group(2)), sent[-1].group(3)
    noise = {int(m.group(1)) for m in map(NOISE.match, ls) if m}
    probes = {int(m.group(1)) for m in map(PROBE.match, ls) if m}
    torn = [line for line in ls if ("console-noise" in line and not NOISE.match(line) and
                                    not SENT.match(line)) or
            ("harness-console-probe" in line and not PROBE.match(line))]
    bad = []
    if status != "ok" or n == 0:
        bad.append(f"the noise writer {status} after {n} record(s)")
    if len(noise) != n:
        bad.append(f"{n - len(noise)} of {n} noise record(s) not whole on a line")
    if len(probes) != p:
        bad.append(f"{p - len(probes)} of {p} probe line(s) not whole on a line")
    if torn:
        bad.append(f"{len(torn)} line(s) shared by two writers, first: {torn[0][:160]!r}")
    if bad:
        return False, "; ".join(bad)
    return True, f"{n} kernel records and {p} guest lines raced, each whole on its own line"


def selftest():
    rec = ["[    0.100000] Booting Linux", "[    0.400000] harness-module: load /m.ko",
           "[    0.410000] KTAP version 1", "[    0.420000] 1..1", "[    0.430000] ok 1 suite",
           "[    0.440000] harness-module: loaded /m.ko: ok", "[    0.500000] harness-guest: begin",
           "[    0.510000] KTAP version 1", "[    0.520000] harness-guest: end"]
    ls = text("\r\n".join(rec))
    body, why = cut(ls, "harness-module: load /m.ko", "harness-module: loaded /m.ko:", True)
    assert why is None and body == ["KTAP version 1", "1..1", "ok 1 suite"], (body, why)
    assert cut(ls, "harness-guest: begin", "harness-guest: end")[1] is None
    # issue 33's console: a kernel message inside the guest's framing line
    raced = list(rec)
    raced[1] = "harness-module: load /m.ko[    0.499108] pcieport 0000:00:01.0: Adding to iommu group 0"
    why = cut(text("\n".join(raced)), "harness-module: load /m.ko", "harness-module: loaded /m.ko:", True)[1]
    assert why and "inside console line 2 at column 1" in why, why
    raced = list(rec)
    raced[6] = "harness-gu[    0.5] pcieport: Adding to iommu group 0"
    why = cut(text("\n".join(raced)), "harness-guest: begin", "harness-guest: end")[1]
    assert why == "harness-guest: begin: no 'harness-guest: begin' marker on the console", why
    why = cut(text("\n".join(rec[:6])), "harness-guest: begin", "harness-guest: end")[1]
    assert "no 'harness-guest: begin' marker" in why, why
    why = cut(text("\n".join(rec[:8])), "harness-guest: begin", "harness-guest: end")[1]
    assert "no 'harness-guest: end' marker" in why, why
    empty = rec[:6] + ["[ 1.0] harness-guest: begin", "[ 1.1] harness-guest: end"]
    assert "is empty" in cut(text("\n".join(empty)), "harness-guest: begin", "harness-guest: end")[1]
    noktap = rec[:6] + ["harness-guest: begin", "x", "harness-guest: end"]
    assert "no KTAP version line (first: 'x')" in cut(text("\n".join(noktap)), "harness-guest: begin",
                                                       "harness-guest: end")[1]
    # the noise verdict: whole lines pass, one glued pair fails
    good = ["[ 0.1] console-noise 1 of 2: a kernel message racing the guest's lines",
            "[ 0.2] harness-console-probe: 1 of 1: a guest line racing the kernel's messages",
            "[ 0.3] console-noise 2 of 2: a kernel message racing the guest's lines",
            "[ 0.4] harness-console-noise: sent 2 noise 1 probes ok"]
    assert noise_verdict(text("\n".join(good)))[0]
    glued = list(good)
    glued[1] = "harness-console-probe: 1 of 1: a guest line[ 0.2] console-noise 3 of 3: x"
    ok, why = noise_verdict(text("\n".join(glued)))
    assert not ok and "1 of 1 probe line(s) not whole" in why and "shared by two writers" in why, why
    # --ktap keeps the grammar, drops what the kernel printed between
    mixed = ["KTAP version 1", "1..1", "pcieport 0000:00:01.0: Adding to iommu group 0",
             "    # Subtest: s", "    ok 1 t # SKIP why", "    not ok 2 u", "ok 1 s", "noise"]
    kept = [line for line in mixed if KTAP_LINE.match(line)]
    assert kept == mixed[:2] + mixed[3:7], kept
    print("console.py selftest: 10 consoles, each verdict as expected")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "text":
        with open(argv[1], errors="replace") as fh, open(argv[2], "w") as out:
            out.write("\n".join(text(fh.read())))
        return 0
    if len(argv) >= 5 and argv[0] == "cut":
        end_prefix = "--end-prefix" in argv
        what = argv[argv.index("--what") + 1] if "--what" in argv else None
        body, why = cut(lines(argv[1]), argv[2], argv[3], end_prefix, what)
        if "--ktap" in argv:
            body = [line for line in body if KTAP_LINE.match(line)]
        with open(argv[4], "w") as out:
            out.write("".join(line + "\n" for line in body))
        if why:
            print(why)
            return 1
        return 0
    if len(argv) == 2 and argv[0] == "noise":
        ok, why = noise_verdict(lines(argv[1]))
        print(why)
        return 0 if ok else 1
    if argv == ["selftest"]:
        return selftest()
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
