import sys, runpy
sys.path[:0] = ["/tmp/lava-work/stub",
  "/tmp/lava-debs/x/pydeps/usr/lib/python3/dist-packages",
  "/tmp/lava-debs/x/lava-common/usr/lib/python3/dist-packages",
  "/tmp/lava-debs/x/lava-dispatcher/usr/lib/python3/dist-packages",
  "/tmp/lava-debs/x/lava-dispatcher-host/usr/lib/python3/dist-packages"]
import lava_common.constants as c
c.DISPATCHER_DOWNLOAD_DIR = "/tmp/lava-work/var-tmp"   # keep off /var/lib/lava for this experiment
sys.argv = ["lava-run"] + sys.argv[1:]
runpy.run_path("/tmp/lava-debs/x/lava-dispatcher/usr/bin/lava-run", run_name="__main__")
