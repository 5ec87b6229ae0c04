import sys, yaml
sys.path[:0] = ["/tmp/lava-debs/x/pydeps/usr/lib/python3/dist-packages",
                "/tmp/lava-debs/x/lava-common/usr/lib/python3/dist-packages"]
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
env = SandboxedEnvironment(loader=FileSystemLoader(["/tmp/lava-work/devices",
        "/tmp/lava-debs/x/lava-server/usr/share/lava-server/device-types"]),
        autoescape=False, trim_blocks=True)
job = yaml.safe_load(open(sys.argv[2]))
out = env.get_template(sys.argv[1] + ".jinja2").render(**job.get("context", {}))
data = yaml.safe_load(out)
from lava_common.schemas.device import validate
validate(data)
print(yaml.safe_dump(data["actions"]["boot"]["methods"]["qemu"], default_flow_style=False))
print("available_architectures:", data["available_architectures"][:4], "...")
print("constants.posix:", data["constants"]["posix"], "default-shell-prompt:", data["constants"]["default-shell-prompt"])
print("device schema: OK")
