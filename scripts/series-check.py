#!/usr/bin/env python3
"""Check the exported series' metadata, from the patch files alone.

series-check.py [--results FILE] [PATCHES_DIR]

PATCHES_DIR (default: $PATCHES_DIR, else patches/ next to scripts/) holds
`series`, the patches it lists and 0000-cover-letter.patch. For each patch:

  series_signoff:<patch>     the message has "Signed-off-by: <the From: author>"
  series_subject:<patch>     "[PATCH n/N] prefix: text": n and N match the series,
                             and the prefix is the one the touched files call for
                             (PREFIXES below)
  series_whitespace:<patch>  no added line ends in a space or a tab

checked first, as the cause of numbering failures:

  series_listed              every *.patch file of PATCHES_DIR but the cover
                             letter is listed in series, once

and for the cover letter:

  cover_letter_shortlog      the shortlog names every patch's subject, in order
  cover_letter_diffstat      the diffstat is the series' diffstat: every file, its
                             count of changed lines, create/delete lines and the
                             total are recomputed from the patches

The diffstat is recomputed without the base tree: every touched file is
modelled as a sequence of lines that are either base lines (content known
where a patch shows it as context or removes it, a unique placeholder
otherwise) or lines a patch added; the patches are applied to that model in
order, and `git diff --no-index --numstat` compares the base and the final
model, so the counts are git's, as in `git diff --stat base HEAD`.

Result lines ("PASS name", "FAIL name: what and what to do", "SKIP name: why")
are appended to FILE (or $RESULTS), for results.py; a readable report goes to
stdout. Exit status: 0 all passed, 1 a check failed, 2 the input is unusable.
"""
import argparse
import email.header
import email.utils
import fnmatch
import os
import re
import subprocess
import sys
import tempfile

# --- the subject prefix table ---------------------------------------------------
# (path glob, accepted prefixes, strong). The first matching row decides a
# file. A patch's expected prefix is one accepted by all of its strong files;
# weak files (build glue next to them) only count in a patch of weak files.
PREFIXES = [
    ("drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-test.c",
     ["iommu/arm-smmu-v3", "iommu/arm-smmu-v3-test"], True),
    ("drivers/iommu/arm/arm-smmu-v3/*", ["iommu/arm-smmu-v3"], True),
    ("Documentation/iommu/arm-smmu-v3*", ["Documentation/iommu", "iommu/arm-smmu-v3"], True),
    ("Documentation/iommu/*", ["Documentation/iommu", "iommu/arm-smmu-v3"], False),
    ("Documentation/subsystem-apis.rst", ["Documentation", "Documentation/iommu",
                                          "iommu/arm-smmu-v3"], False),
    ("MAINTAINERS", ["MAINTAINERS", "iommu/arm-smmu-v3", "PCI/ATS"], False),
    ("drivers/pci/ats.c", ["PCI/ATS", "PCI"], True),
    ("drivers/pci/ats*", ["PCI/ATS"], True),
    ("include/linux/pci-ats.h", ["PCI/ATS"], True),
    ("drivers/pci/quirks.c", ["PCI", "PCI/ATS"], True),
    ("drivers/pci/pci.h", ["PCI", "PCI/ATS"], False),
    ("include/linux/pci.h", ["PCI"], True),
    ("drivers/iommu/amd/*", ["iommu/amd"], True),
    ("drivers/iommu/intel/*", ["iommu/vt-d"], True),
    ("drivers/pci/Kconfig", ["PCI", "PCI/ATS"], False),
    ("drivers/pci/Makefile", ["PCI", "PCI/ATS"], False),
    ("drivers/iommu/Kconfig", ["iommu", "iommu/arm-smmu-v3"], False),
    ("drivers/iommu/Makefile", ["iommu", "iommu/arm-smmu-v3"], False),
    ("drivers/iommu/iommu.c", ["iommu"], True),
    ("include/linux/iommu.h", ["iommu"], True),
    ("drivers/pci/pci.c", ["PCI"], True),
    ("drivers/pci/pci-acpi.c", ["PCI", "PCI/ACPI"], True),
]
THIS = "scripts/series-check.py"


def prefixes_for(path):
    for glob, accepted, strong in PREFIXES:
        if fnmatch.fnmatchcase(path, glob):
            return accepted, strong
    return None, None


# --- parsing ------------------------------------------------------------------------
class Patch:
    def __init__(self, name, text):
        self.name = name
        self.stem = name[:-len(".patch")] if name.endswith(".patch") else name
        lines = text.split("\n")
        self.headers = {}
        i = 0
        if lines and lines[0].startswith("From "):
            i = 1
        last = None
        while i < len(lines) and lines[i] != "":
            line = lines[i]
            if line[:1] in (" ", "\t") and last:
                self.headers[last] += " " + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                last = last.lower()
                self.headers[last] = value.strip()
            i += 1
        self.body_start = i + 1          # 0-based index of the first body line
        self.lines = lines
        # The message runs to the first "---" line, the diff from "diff --git".
        self.message = []
        j = self.body_start
        while j < len(lines) and lines[j] != "---" and not lines[j].startswith("diff --git "):
            self.message.append(lines[j])
            j += 1
        self.diff_start = j

    def header(self, name):
        raw = self.headers.get(name.lower(), "")
        try:
            return str(email.header.make_header(email.header.decode_header(raw)))
        except Exception:
            return raw


class FileDiff:
    def __init__(self, old, new):
        self.old, self.new = old, new      # paths, None for /dev/null
        self.hunks = []                    # (old_start, old_count, new_start, new_count, [lines])
        self.binary = False
        self.rename = False
        self.mode = None                   # "create"/"delete" (with the mode)


HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_diff(p):
    """The file diffs of a patch, and its added lines with trailing whitespace."""
    files, bad_ws = [], []
    lines = p.lines
    i, cur = p.diff_start, None
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            m = re.match(r"^diff --git a/(\S+) b/(\S+)$", line)
            if not m:
                raise ValueError(f"{p.name}:{i + 1}: cannot parse '{line}'")
            cur = FileDiff(m.group(1), m.group(2))
            files.append(cur)
        elif cur is None:
            pass
        elif line.startswith("new file mode "):
            cur.mode = ("create", line.split()[-1])
        elif line.startswith("deleted file mode "):
            cur.mode = ("delete", line.split()[-1])
        elif line.startswith(("rename from ", "copy from ")):
            cur.rename = True
        elif line.startswith("Binary files ") or line == "GIT binary patch":
            cur.binary = True
        elif line.startswith("--- "):
            cur.old = None if line == "--- /dev/null" else cur.old
        elif line.startswith("+++ "):
            cur.new = None if line == "+++ /dev/null" else cur.new
        elif line.startswith("@@ "):
            m = HUNK.match(line)
            if not m:
                raise ValueError(f"{p.name}:{i + 1}: cannot parse hunk header '{line}'")
            os_, oc, ns, nc = (int(m.group(1)), int(m.group(2) or 1),
                               int(m.group(3)), int(m.group(4) or 1))
            body, o, n = [], oc, nc
            newline_no = ns
            i += 1
            while (o > 0 or n > 0) and i < len(lines):
                h = lines[i]
                tag, text = h[:1], h[1:]
                if tag == " " or h == "":
                    o, n = o - 1, n - 1
                    body.append((" ", text))
                    newline_no += 1
                elif tag == "-":
                    o -= 1
                    body.append(("-", text))
                elif tag == "+":
                    n -= 1
                    body.append(("+", text))
                    if text != text.rstrip(" \t"):
                        bad_ws.append((cur.new, newline_no, i + 1))
                    newline_no += 1
                elif tag == "\\":
                    body[-1] = (body[-1][0], body[-1][1] + "\\ No newline at end of file")
                else:
                    raise ValueError(f"{p.name}:{i + 1}: hunk of {cur.new or cur.old} ends early")
                i += 1
            # A "\ No newline" marker right after the last line of the hunk.
            if i < len(lines) and lines[i].startswith("\\") and body:
                body[-1] = (body[-1][0], body[-1][1] + "\\ No newline at end of file")
                i += 1
            cur.hunks.append((os_, oc, ns, nc, body))
            continue
        i += 1
    return files, bad_ws


# --- the diffstat model -----------------------------------------------------------------
class Model:
    """One file: base lines ("B", i) and added lines ("A", text), in order;
    beyond the materialized list the file continues with base lines."""

    def __init__(self, created):
        self.created = created
        self.state = []
        self.next_base = 0
        self.known = {}        # base index -> text
        self.deleted = False

    def materialize(self, n):
        if self.created:
            return
        while len(self.state) < n:
            self.state.append(("B", self.next_base))
            self.next_base += 1

    def text(self, ent):
        return ent[1] if ent[0] == "A" else self.known.get(ent[1])

    def apply(self, hunks, where):
        delta = 0
        for os_, oc, ns, nc, body in hunks:
            start = (os_ - 1 if oc else os_) + delta
            self.materialize(start + oc)
            if start + oc > len(self.state):
                raise ValueError(f"{where}: a hunk at line {os_} lies beyond the end of the file")
            old = self.state[start:start + oc]
            new, k = [], 0
            for tag, text in body:
                if tag in (" ", "-"):
                    ent = old[k]
                    k += 1
                    have = self.text(ent)
                    if have is not None and have != text:
                        raise ValueError(f"{where}: line {os_ + k - 1} does not match the "
                                         f"earlier patches ({have!r} != {text!r})")
                    if ent[0] == "B":
                        self.known[ent[1]] = text
                    if tag == " ":
                        new.append(ent)
                else:
                    new.append(("A", text))
            self.state[start:start + oc] = new
            delta += nc - oc

    def sequences(self):
        def show(i):
            t = self.known.get(i)
            return t if t is not None else f"@@ series-check: base line {i + 1}, content not in the patches @@"
        base = [show(i) for i in range(self.next_base)]
        final = [show(e[1]) if e[0] == "B" else e[1] for e in self.state]
        return base, final


def write_lines(path, seq):
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        for t in seq:
            if t.endswith("\\ No newline at end of file"):
                fh.write(t[: -len("\\ No newline at end of file")])
            else:
                fh.write(t + "\n")


def numstat(base, final, tmp):
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    write_lines(a, base)
    write_lines(b, final)
    # --minimal, as scripts/export.sh: the base lines no patch shows are
    # placeholders here, and only the smallest diff does not depend on them
    r = subprocess.run(["git", "diff", "--no-index", "--minimal", "--numstat", a, b],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"git diff --no-index failed: {r.stderr.strip()}")
    if not r.stdout.strip():
        return 0, 0
    ins, dels, _ = r.stdout.split("\t", 2)
    return int(ins), int(dels)


def series_diffstat(diffs):
    """{path: (insertions, deletions)} and {path: (create|delete, mode)} of the
    whole series; raises NotImplementedError for what the model cannot do."""
    models, modes, order = {}, {}, []
    for pname, files in diffs:
        for fd in files:
            if fd.binary or fd.rename:
                raise NotImplementedError(f"{pname} has a binary or renamed file "
                                          f"({fd.new or fd.old})")
            path = fd.new or fd.old
            if path not in models:
                models[path] = Model(created=fd.old is None)
                order.append(path)
                if fd.mode:
                    modes[path] = fd.mode
            elif fd.mode:
                # created then deleted, or deleted then re-created
                prev = modes.pop(path, None)
                if not prev or prev[0] == fd.mode[0]:
                    modes[path] = fd.mode
            m = models[path]
            m.apply(fd.hunks, f"{pname}: {path}")
            if fd.new is None:
                m.deleted = True
    stats = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in order:
            base, final = models[path].sequences()
            ins, dels = numstat(base, final, tmp)
            if ins or dels or path in modes:
                stats[path] = (ins, dels)
    return stats, modes


STAT_LINE = re.compile(r"^ (\S.*?)\s+\|\s+(\d+)(?: [+-]*)?$")
SUMMARY = re.compile(r"^ (\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?$")
MODE_LINE = re.compile(r"^ (create|delete) mode (\d+) (\S+)$")


def parse_cover_stat(lines):
    files, modes, summary = [], {}, None
    for line in lines:
        m = STAT_LINE.match(line)
        if m:
            files.append((m.group(1), int(m.group(2))))
            continue
        m = SUMMARY.match(line)
        if m:
            summary = tuple(int(g or 0) for g in m.groups())
            continue
        m = MODE_LINE.match(line)
        if m:
            modes[m.group(3)] = (m.group(1), m.group(2))
    return files, modes, summary


def stat_name_matches(shown, path):
    if shown.startswith("..."):
        return path.endswith(shown[3:])
    return shown == path


# --- the checks ----------------------------------------------------------------------
class Report:
    def __init__(self, results):
        self.results = results
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def emit(self, verdict, name, detail=""):
        self.counts[verdict] += 1
        line = f"{verdict} {name}" + (f": {detail}" if detail else "")
        if self.results:
            with open(self.results, "a") as fh:
                fh.write(line.replace("\n- ", "; ").replace("\n", " ") + "\n")
        if verdict == "PASS":
            print(f"  ok {name}")
        elif verdict == "SKIP":
            print(f"  skip {name}: {detail}")
        else:
            print(f"FAIL {name}:")
            for part in detail.split("\n"):
                print(f"       {part}")


FIX = ("fix the commit in build/linux (git rebase -i base, or commit --fixup and "
       "rebase --autosquash) and run 'make export'")


def check_patch(rep, p, index, total, diffs, cause=""):
    files, bad_ws = diffs
    author = p.header("From")
    name, addr = email.utils.parseaddr(author)
    want = f"Signed-off-by: {name} <{addr}>"
    sobs = [line.strip() for line in p.message if line.lower().startswith("signed-off-by:")]
    if not addr:
        rep.emit("FAIL", f"series_signoff:{p.stem}",
                 f"{p.name} has no usable From: header ('{author}'); re-export it with 'make export'")
    elif want in sobs:
        rep.emit("PASS", f"series_signoff:{p.stem}")
    else:
        have = "; ".join(sobs) if sobs else "no Signed-off-by at all"
        rep.emit("FAIL", f"series_signoff:{p.stem}",
                 f"{p.name}: the author's '{want}' is missing (has: {have}).\n"
                 f"Add it with 'git commit --amend -s' on that commit in build/linux "
                 f"(or rebase -i with 'exec git commit --amend --no-edit -s') and run 'make export'")

    # Subject: "[PATCH n/N] prefix: text"
    subject = p.header("Subject")
    problems = []
    m = re.match(r"^\[([^\]]*)\]\s*(.*)$", subject)
    tag, text = (m.group(1), m.group(2)) if m else ("", subject)
    num = re.search(r"(\d+)/(\d+)", tag)
    if total > 1 and not num:
        problems.append(f"the subject tag '[{tag}]' has no n/N numbering; export with 'make export' "
                        f"(format-patch --numbered)")
    elif num and (int(num.group(1)), int(num.group(2))) != (index, total):
        problems.append(f"it is numbered {num.group(1)}/{num.group(2)} but is patch {index} of {total} "
                        f"in series: re-export with 'make export', or fix the order in series{cause}")
    prefix, sep, summary = text.partition(": ")
    if not sep:
        prefix = ""
    strong, weak, unknown = [], [], []
    for fd in files:
        path = fd.new or fd.old
        accepted, is_strong = prefixes_for(path)
        if accepted is None:
            unknown.append(path)
        else:
            (strong if is_strong else weak).append((path, accepted))
    decisive = strong or weak
    expected = None
    if unknown:
        problems.append("no subject prefix is known for " + ", ".join(unknown) +
                        f": add a row for it to PREFIXES in {THIS}")
    elif not decisive:
        problems.append("the patch touches no file (an empty commit?)")
    else:
        expected = list(decisive[0][1])
        for _, accepted in decisive[1:]:
            expected = [e for e in expected if e in accepted]
        if not expected:
            groups = {}
            for path, accepted in decisive:
                groups.setdefault(" or ".join(f"'{a}:'" for a in accepted), []).append(path)
            problems.append("it touches files of different subsystems, which call for different "
                            "prefixes: " + "; ".join(f"{', '.join(v)} -> {k}" for k, v in groups.items()) +
                            ". Split the patch by subsystem, or extend the table in " + THIS +
                            " if one prefix is right for all")
        elif prefix not in expected:
            want_p = " or ".join(f"'{e}:'" for e in expected)
            why = ", ".join(sorted({path for path, _ in decisive}))
            got = f"'{prefix}:'" if prefix else "no 'prefix: ' at all"
            problems.append(f"the subject has {got} but the files it touches ({why}) call for {want_p}.\n"
                            f"Reword the subject ('git commit --amend' on that commit in build/linux, or "
                            f"'reword' in git rebase -i base) and run 'make export'")
    if sep and not summary.strip():
        problems.append("the subject has a prefix but no text after it")
    if problems:
        rep.emit("FAIL", f"series_subject:{p.stem}",
                 f"{p.name}: subject '{text}': " + "\n".join(problems))
    else:
        rep.emit("PASS", f"series_subject:{p.stem}")

    if bad_ws:
        where = ", ".join(f"{path}:{ln} (patch line {pl})" for path, ln, pl in bad_ws[:8])
        more = f" and {len(bad_ws) - 8} more" if len(bad_ws) > 8 else ""
        rep.emit("FAIL", f"series_whitespace:{p.stem}",
                 f"{p.name} adds {len(bad_ws)} line(s) with trailing whitespace: {where}{more}.\n"
                 f"Remove it (in build/linux 'git show --check <commit>' lists them), then {FIX}")
    else:
        rep.emit("PASS", f"series_whitespace:{p.stem}")
    return subject


def check_cover(rep, cover, patches, subjects, parsed):
    lines = cover.lines[cover.body_start:]
    # Shortlog: every subject, in order, indented under "Author (n):".
    short = [line.strip() for line in lines if line.startswith("      ")]
    want = []
    for s in subjects:
        want.append(re.sub(r"^\[[^\]]*\]\s*", "", s))
    pos = 0
    missing = []
    for w in want:
        try:
            pos = short.index(w, pos) + 1
        except ValueError:
            missing.append(w)
    if missing:
        rep.emit("FAIL", "cover_letter_shortlog",
                 "0000-cover-letter.patch's shortlog lacks (or misorders) " +
                 "; ".join(f"'{m}'" for m in missing) + ": regenerate it with 'make export'")
    else:
        rep.emit("PASS", "cover_letter_shortlog")

    shown, shown_modes, summary = parse_cover_stat(lines)
    if not patches:
        rep.emit("SKIP", "cover_letter_diffstat", "empty series")
        return
    if summary is None:
        rep.emit("FAIL", "cover_letter_diffstat",
                 "0000-cover-letter.patch has no diffstat ('N files changed, ...' line): "
                 "regenerate it with 'make export'")
        return
    try:
        stats, modes = series_diffstat(parsed)
    except NotImplementedError as e:
        rep.emit("SKIP", "cover_letter_diffstat",
                 f"cannot recompute from the patches alone: {e}")
        return
    problems = []
    unmatched = dict(stats)
    for name, count in shown:
        match = [p for p in unmatched if stat_name_matches(name, p)]
        if not match:
            problems.append(f"it lists {name} ({count} lines), which the series does not change")
            continue
        path = match[0]
        ins, dels = unmatched.pop(path)
        if ins + dels != count:
            problems.append(f"{path}: it says {count} changed lines, the patches make "
                            f"{ins + dels} (+{ins} -{dels})")
    for path, (ins, dels) in unmatched.items():
        problems.append(f"{path} (+{ins} -{dels}) is missing from it")
    total = (len(stats), sum(i for i, _ in stats.values()), sum(d for _, d in stats.values()))
    if summary != total:
        problems.append(f"its total says {summary[0]} files, {summary[1]} insertions, {summary[2]} "
                        f"deletions; the patches make {total[0]} files, {total[1]} insertions, "
                        f"{total[2]} deletions")
    for path, mode in modes.items():
        if shown_modes.get(path) != mode:
            problems.append(f"the '{mode[0]} mode {mode[1]} {path}' line is missing")
    for path, mode in shown_modes.items():
        if path not in modes:
            problems.append(f"it has '{mode[0]} mode {mode[1]} {path}', which no patch does")
    if problems:
        rep.emit("FAIL", "cover_letter_diffstat",
                 "0000-cover-letter.patch's diffstat does not match the series:\n- " +
                 "\n- ".join(problems) + "\nRegenerate it with 'make export' (the diffstat of "
                 "build/linux base..HEAD); if the patches were edited by hand, fix the commits "
                 "in build/linux and export instead")
    else:
        rep.emit("PASS", "cover_letter_diffstat")


def selftest(pdir):
    """Break a copy of pdir in four ways and check that exactly those fail."""
    import shutil
    with open(os.path.join(pdir, "series")) as fh:
        names = [n for n in (line.split("#")[0].strip() for line in fh) if n]
    if len(names) < 2:
        print("series-check selftest: needs a series of two patches or more")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        b = os.path.join(tmp, "patches")
        shutil.copytree(pdir, b)
        first, second, last = (os.path.join(b, n) for n in (names[0], names[1], names[-1]))
        stem = lambda n: os.path.basename(n)[:-len(".patch")]

        def edit(path, fn):
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
            new = fn(text)
            if new == text:
                raise SystemExit(f"selftest: could not break {os.path.basename(path)}")
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(new)

        # 1. a prefix the files do not call for (the shortlog then differs too)
        def wrong_prefix(t):
            m = re.search(r"^(Subject: \[[^\]]*\] )([^:\n]+): ", t, re.M)
            wrong = "PCI/ATS" if m.group(2) != "PCI/ATS" else "iommu/arm-smmu-v3"
            return t[:m.start(2)] + wrong + t[m.end(2):]
        edit(first, wrong_prefix)
        # 2. no Signed-off-by
        edit(second, lambda t: re.sub(r"^Signed-off-by: .*\n", "", t, flags=re.M))
        # 3. trailing whitespace on the first added line
        edit(last, lambda t: re.sub(r"^(\+(?!\+\+ ).*)$", r"\1 ", t, count=1, flags=re.M))
        # 4. a wrong count in the cover letter's diffstat
        edit(os.path.join(b, "0000-cover-letter.patch"),
             lambda t: re.sub(r"^( \S.*?\|\s+)(\d+)", lambda m: m.group(1) + str(int(m.group(2)) + 3),
                              t, count=1, flags=re.M))
        def failures(d, name):
            results = os.path.join(tmp, name)
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--no-summary",
                                "--results", results, d], capture_output=True, text=True)
            with open(results) as fh:
                return r, {line.split()[1].rstrip(":") for line in fh if line.startswith("FAIL")}
        _, already = failures(pdir, "results-original")
        r, failed = failures(b, "results-broken")
        print(r.stdout, end="")
    # What fails in the original fails in the copy too: only the difference counts.
    want = {f"series_subject:{stem(first)}", f"series_signoff:{stem(second)}",
            f"series_whitespace:{stem(last)}", "cover_letter_shortlog", "cover_letter_diffstat"}
    want |= already
    if already:
        print(f"series-check selftest: {len(already)} check(s) already fail on the original")
    if failed == want and r.returncode == 1:
        print("series-check selftest: the broken copy fails exactly where it was broken")
        return 0
    print("series-check selftest: FAILED (exit %d)" % r.returncode)
    for n in sorted(want - failed):
        print(f"  not reported: {n}")
    for n in sorted(failed - want):
        print(f"  reported but not broken: {n}")
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("patches_dir", nargs="?", default=os.environ.get("PATCHES_DIR"))
    ap.add_argument("--results", default=os.environ.get("RESULTS"))
    ap.add_argument("--selftest", action="store_true",
                    help="break a temporary copy of the patches in four ways and "
                    "check that exactly those are reported")
    ap.add_argument("--no-summary", action="store_true",
                    help="no closing 'N passed, M failed' line (the caller sums up)")
    args = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pdir = args.patches_dir or os.path.join(top, "patches")
    if args.selftest:
        return selftest(pdir)
    if not os.path.isdir(pdir):
        print(f"series-check: {pdir} is not a directory", file=sys.stderr)
        return 2
    rep = Report(args.results)

    series = os.path.join(pdir, "series")
    if not os.path.isfile(series):
        rep.emit("FAIL", "series_check", f"{series} is missing: run 'make export'")
        return 2
    with open(series) as fh:
        names = [line.split("#")[0].strip() for line in fh]
    names = [n for n in names if n]
    # The cause first: a patch file that series does not list (or lists twice)
    # shifts every later patch's n/N, and those failures follow from it.
    files = sorted(f for f in os.listdir(pdir)
                   if f.endswith(".patch") and f != "0000-cover-letter.patch")
    unlisted = [f for f in files if f not in names]
    twice = sorted({n for n in names if names.count(n) > 1})
    cause = ""
    if unlisted or twice:
        what = []
        for f in unlisted:
            nxt = next((n for n in names if n > f), None)
            what.append(f"{f} is in {pdir} but not in series"
                        + (f" (by its number it goes before {nxt})" if nxt else " (by its number, last)"))
        what += [f"series lists {n} more than once" for n in twice]
        rep.emit("FAIL", "series_listed",
                 "; ".join(what) + ". Add it to series in its place (or move unfinished work to "
                 "wip/, outside patches/), or run 'make export'. The [PATCH n/N] failures below follow "
                 "from this")
        cause = " (caused by series_listed above: " + ", ".join(unlisted + twice) + ")"
    else:
        rep.emit("PASS", "series_listed")
    patches, parsed, subjects = [], [], []
    for n in names:
        path = os.path.join(pdir, n)
        if not os.path.isfile(path):
            rep.emit("FAIL", f"series_check:{n}",
                     f"series lists {n}, which is not in {pdir}: run 'make export'")
            continue
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            patches.append(Patch(n, fh.read()))
    print(f"series-check: {len(patches)} patch(es) in {pdir}")
    ok = True
    for idx, p in enumerate(patches, 1):
        try:
            diffs = parse_diff(p)
        except ValueError as e:
            rep.emit("FAIL", f"series_check:{p.stem}",
                     f"cannot parse {p.name}: {e}; re-export it with 'make export'")
            ok = False
            continue
        parsed.append((p.name, diffs[0]))
        subjects.append(check_patch(rep, p, idx, len(patches), diffs, cause))

    cover_path = os.path.join(pdir, "0000-cover-letter.patch")
    if not os.path.isfile(cover_path):
        rep.emit("FAIL", "cover_letter_diffstat",
                 "0000-cover-letter.patch is missing: 'make export' writes it")
    elif ok:
        with open(cover_path, encoding="utf-8", errors="surrogateescape") as fh:
            cover = Patch("0000-cover-letter.patch", fh.read())
        try:
            check_cover(rep, cover, patches, subjects, parsed)
        except ValueError as e:
            rep.emit("FAIL", "cover_letter_diffstat",
                     f"the patches do not apply on one another: {e}. Re-export the series "
                     f"with 'make export'")
    c = rep.counts
    if not args.no_summary:
        print(f"series-check: {c['PASS']} passed, {c['FAIL']} failed, {c['SKIP']} skipped")
    return 1 if c["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
