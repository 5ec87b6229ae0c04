import sys, yaml
sys.path[:0] = ["/tmp/lava-debs/x/pydeps/usr/lib/python3/dist-packages",
                "/tmp/lava-debs/x/lava-common/usr/lib/python3/dist-packages"]
from lava_common.schemas import validate
import voluptuous
for f in sys.argv[1:]:
    data = yaml.safe_load(open(f))
    for strict in (True, False):
        try:
            validate(data, strict=strict, extra_context_variables=[])
            print(f, "strict=%s: valid" % strict)
        except voluptuous.Invalid as e:
            print(f, "strict=%s: INVALID path=%s msg=%s" % (strict, e.path, e.msg))
