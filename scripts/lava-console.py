#!/usr/bin/python3
"""lava-console.py LAVA_STDERR_LOG: print the guest console LAVA logged (the
"lvl": "target" lines of lava-run's stderr), one line each: make lava-check
feeds it to scripts/smmu-trace.py TRACE CONSOLE (it reads the guest's
"harness-expect-smmu-events:" announcements from the console)."""
import json
import sys

import yaml

with open(sys.argv[1], errors="replace") as f:
    for line in f:
        line = line.strip()
        if '"lvl": "target"' not in line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = yaml.safe_load(line)
        if isinstance(rec.get("msg"), str):
            print(rec["msg"])
