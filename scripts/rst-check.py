#!/usr/bin/env python3
"""Check a kernel .rst file with plain docutils.

rst-check.py [--kernel-tree DIR] FILE.rst...

Parses each file with docutils and fails on any message of level WARNING or
above (bad markup, broken references, malformed tables, title underlines).
The kernel's Sphinx extensions are not loaded, so the `.. kernel-doc::`
directive is registered here: it does not render anything, but with
--kernel-tree it checks that the source file exists in DIR and that
scripts/kernel-doc finds every name given in :functions: or :identifiers:
(a renamed structure or function would otherwise only show up in
`make htmldocs`).

Exit status 0 clean, 1 problems (each printed as FILE:LINE: message).
"""
import argparse
import io
import os
import re
import subprocess
import sys

try:
    import docutils.core
    import docutils.utils
    from docutils.parsers.rst import Directive, directives
except ImportError:
    print("rst-check: docutils is missing (Debian: python3-docutils; make deps installs it)",
          file=sys.stderr)
    sys.exit(2)

KTREE = None


class KernelDoc(Directive):
    """`.. kernel-doc:: FILE` with the options of Documentation/sphinx/kerneldoc.py."""
    required_arguments = 1
    optional_arguments = 0
    final_argument_whitespace = False
    has_content = False
    option_spec = {
        "doc": directives.unchanged_required,
        "export": directives.unchanged,
        "internal": directives.unchanged,
        "identifiers": directives.unchanged,
        "no-identifiers": directives.unchanged,
        "functions": directives.unchanged,
    }

    def run(self):
        src = self.arguments[0]
        reporter = self.state_machine.reporter
        if not KTREE:
            return []
        path = os.path.join(KTREE, src)
        if not os.path.isfile(path):
            return [reporter.warning(f"kernel-doc: {src} does not exist in {KTREE}",
                                     line=self.lineno)]
        names = (self.options.get("functions") or "") + " " + (self.options.get("identifiers") or "")
        msgs = []
        for name in names.split():
            r = subprocess.run(["perl", os.path.join(KTREE, "scripts/kernel-doc"), "-rst",
                                "-function", name, path], capture_output=True, text=True)
            if not r.stdout.strip():
                msgs.append(reporter.warning(
                    f"kernel-doc: no kernel-doc comment for '{name}' in {src} "
                    f"(renamed, or its comment is not kernel-doc?)", line=self.lineno))
        return msgs


class TocTree(Directive):
    """`.. toctree::` of Sphinx: every entry must be a document beside this one."""
    has_content = True
    option_spec = {
        "maxdepth": directives.unchanged,
        "caption": directives.unchanged,
        "hidden": directives.flag,
        "numbered": directives.unchanged,
        "titlesonly": directives.flag,
        "glob": directives.flag,
    }

    def run(self):
        reporter = self.state_machine.reporter
        src = self.state_machine.document.current_source or ""
        here = os.path.dirname(src)
        msgs = []
        for entry in self.content:
            entry = entry.strip()
            if not entry or "*" in entry:
                continue
            target = entry.split("<")[-1].rstrip(">").strip()
            if not os.path.isfile(os.path.join(here, target + ".rst")):
                msgs.append(reporter.warning(
                    f"toctree: no document '{target}.rst' beside {src}", line=self.lineno))
        return msgs


def main():
    global KTREE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel-tree")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    KTREE = args.kernel_tree
    directives.register_directive("kernel-doc", KernelDoc)
    directives.register_directive("toctree", TocTree)

    bad = 0
    for f in args.files:
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        stream = io.StringIO()
        settings = {"report_level": 2, "halt_level": 5, "warning_stream": stream,
                    "file_insertion_enabled": False, "raw_enabled": False}
        docutils.core.publish_doctree(text, source_path=f, settings_overrides=settings)
        problems = list(dict.fromkeys(line for line in stream.getvalue().splitlines()
                                      if re.search(r"\((WARNING/2|ERROR/3|SEVERE/4)\)", line)))
        for line in problems:
            print(line)
        bad += len(problems)
        if not problems:
            print(f"rst-check: {f}: clean")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
