#!/usr/bin/python3
"""lava-render.py: render a LAVA device dictionary the way lava-server 2023.01
does, without lava-server's database (make lava-check).

  lava-render.py --templates DIR [--templates DIR ...] [--job JOB.yaml] NAME OUT.yaml

NAME.jinja2 is looked up in the --templates directories in order (our
device dictionaries first, then lava-server's device-types/), rendered in
jinja2's sandbox with autoescape off and trim_blocks on, with the job's
"context:" as variables (lava_scheduler_app: Device.load_configuration), and
the result checked against lava_common's device schema. Writes OUT.yaml;
exit status 1 with the reason on a missing template or an invalid result.
"""
import argparse
import sys

import voluptuous
import yaml
from jinja2 import FileSystemLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from lava_common.schemas.device import validate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", action="append", required=True)
    ap.add_argument("--job")
    ap.add_argument("name")
    ap.add_argument("out")
    a = ap.parse_args()
    ctx = {}
    if a.job:
        with open(a.job) as f:
            ctx = (yaml.safe_load(f) or {}).get("context") or {}
    env = SandboxedEnvironment(loader=FileSystemLoader(a.templates), autoescape=False,
                               trim_blocks=True)
    try:
        text = env.get_template(a.name + ".jinja2").render(**ctx)
    except TemplateNotFound as e:
        sys.exit(f"no template {e} in {', '.join(a.templates)}")
    data = yaml.safe_load(text)
    try:
        validate(data)
    except voluptuous.Invalid as e:
        sys.exit(f"{a.name}: the rendered device is invalid at {e.path}: {e.msg}")
    with open(a.out, "w") as f:
        f.write(f"# Rendered by scripts/lava-render.py from {a.name}.jinja2\n")
        f.write(text)
    print(f"{a.name}: rendered and valid ({a.out})")


if __name__ == "__main__":
    main()
