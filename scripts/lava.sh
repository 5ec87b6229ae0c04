#!/usr/bin/env bash
# make lava: the harness's guest tests as LAVA jobs (lava-dispatcher 2023.01
# schema), one per SMMU configuration, with their inputs, in build/lava/:
#   Image                    the boot kernel (scripts/kernel.sh: incremental)
#   initramfs-lava.cpio      busybox init + a shell with the prompt
#                            'lava-smmuv3: # ' (guest/lava/inittab, rc, profile),
#                            /bin/guest-tests (guest/init.c run as a program),
#                            /bin/ktap-to-lava (guest/lava/ktap-to-lava)
#   virtio.img, nvme.img     the two disks of scripts/boot.sh, and their .sha256
#   jobs/qemu-<smmu>.yaml    the job for SMMU s1, s2 and nested: deploy to tmpfs,
#                            boot qemu, an inline test definition
#   devices/qemu-<smmu>.yaml the device YAML a local lava-run needs (what
#                            lava-server would render from qemu.jinja2): the
#                            pinned QEMU, the machine and devices of boot.sh
#   dispatcher.yaml          lava-run --dispatcher (no default-route lookup)
# make lava-check runs them with lava-run; a lab takes the jobs with
# 'lavacli jobs submit build/lava/jobs/qemu-s1.yaml' (README, "LAVA").
#
#   LAVA_URL=https://host/path   the jobs fetch their inputs from there (copy
#                                build/lava/ to it) instead of file://build/lava
#   LAVA_PREFIX=name-            the dispatcher's scratch directory prefix
#                                (default lava-harness-)
. "$(dirname "$0")/lib.sh"

select_variant
L=$BUILD/lava
LV=$LOGS/lava
mkdir -p "$L/jobs" "$L/devices" "$LV"
URL=${LAVA_URL:-file://$L}
URL=${URL%/}
case $URL in
file://* | http://* | https://*) ;;
*) die "LAVA_URL='$LAVA_URL' is not a URL" "use LAVA_URL=https://host/path (where build/lava/ is served)" ;;
esac

image=$("$TOP/scripts/kernel.sh" | tail -n 1)
[ -f "$image" ] || die "scripts/kernel.sh gave no kernel image" "see build/logs/build.log"
"$TOP/scripts/guest.sh" >/dev/null
busybox_arm64
"$TOP/scripts/boot.sh" disks
qemu_aarch64

# put SRC DST: copy when different (keeps build/lava's dates for a lab's sync)
put() { cmp -s "$1" "$2" || cp "$1" "$2"; }
put "$image" "$L/Image"
for d in virtio nvme; do
	put "$BUILD/qemu/$d.img" "$L/$d.img"
	put "$BUILD/qemu/$d.img.sha256" "$L/$d.img.sha256"
done

# The initramfs: gen_init_cpio (built by guest.sh) makes /dev/console without root.
GL=$TOP/guest/lava
cat >"$L/initramfs-lava.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /bin 0755 0 0
dir /sbin 0755 0 0
dir /tmp 1777 0 0
dir /root 0700 0 0
dir /etc 0755 0 0
file /bin/busybox $BUILD/guest/busybox 0755 0 0
slink /init /bin/busybox 0777 0 0
slink /bin/sh busybox 0777 0 0
file /etc/inittab $GL/inittab 0644 0 0
file /etc/rc $GL/rc 0644 0 0
file /etc/profile $GL/profile 0644 0 0
file /bin/guest-tests $BUILD/guest/bin/init 0755 0 0
file /bin/ktap-to-lava $GL/ktap-to-lava 0755 0 0
LIST
"$BUILD/guest/gen_init_cpio" "$L/initramfs-lava.list" >"$L/initramfs-lava.cpio.tmp" ||
	die "gen_init_cpio failed on build/lava/initramfs-lava.list" "check the files it lists exist"
mv "$L/initramfs-lava.cpio.tmp" "$L/initramfs-lava.cpio"

cat >"$L/dispatcher.yaml" <<EOF
# Written by scripts/lava.sh. lava-run --dispatcher: no default-route lookup
# (dispatcher_ip() in lava_dispatcher/utils/network.py); scratch directories
# /var/lib/lava/dispatcher/tmp/<prefix><job id>
dispatcher_ip: 127.0.0.1
prefix: ${LAVA_PREFIX:-lava-harness-}
EOF

sha_vda=$(cat "$L/virtio.img.sha256")
sha_nvme=$(cat "$L/nvme.img.sha256")
for smmu in s1 s2 nested; do
	machine=$(smmu_machine "$smmu")
	# The guest's KTAP suite (guest/init.c); KUnit runs in the s1 boot only, as in make check
	if [ "$smmu" = s1 ]; then
		suite=guest kargs=
	else
		suite=guest_smmu_$smmu kargs=" kunit.enable=0"
	fi
	cat >"$L/jobs/qemu-$smmu.yaml" <<EOF
# Written by scripts/lava.sh (make lava): the harness's guest tests on QEMU virt
# + SMMUv3 ($smmu: $machine). LAVA test definition 0_$suite: one test case per
# KTAP case of the guest. Inputs from $URL.
device_type: qemu
job_name: smmuv3-series guest tests (qemu virt, SMMU $smmu)
timeouts:
  job: {minutes: 40}
  action: {minutes: 15}
  connection: {minutes: 5}
priority: medium
visibility: public
context:
  arch: aarch64      # not arm64: LAVA would look for qemu-system-arm64
actions:
- deploy:
    to: tmpfs
    timeout: {minutes: 5}
    images:
      kernel:
        url: $URL/Image
        image_arg: >-
          -kernel {kernel} -append "$(guest_append check "$smmu" "$sha_vda" "$sha_nvme")$kargs"
      ramdisk:
        url: $URL/initramfs-lava.cpio
        image_arg: -initrd {ramdisk}
        format: cpio.newc        # LAVA appends its overlay to the cpio: no guestfs
        overlays:
          lava: true
      virtio:
        url: $URL/virtio.img
        image_arg: -drive if=none,id=vd0,file={virtio},format=raw,readonly=on
      nvme:
        url: $URL/nvme.img
        image_arg: -drive if=none,id=nv0,file={nvme},format=raw,readonly=on
- boot:
    method: qemu
    media: tmpfs
    timeout: {minutes: 10}
    prompts: ['lava-smmuv3: # ']
- test:
    timeout: {minutes: 15}
    definitions:
    - from: inline
      name: $suite
      path: inline/guest.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: $suite
          description: "the harness's guest tests (guest/init.c as a program), one LAVA test case per KTAP case"
        run:
          steps:
          - /bin/guest-tests >/tmp/guest-ktap.txt 2>&1 || echo "guest-tests exit status \$?"
          - cat /tmp/guest-ktap.txt
          - /bin/ktap-to-lava /tmp/guest-ktap.txt
EOF
	# The device: machine options in one list item is fine (LAVA joins the command line)
	cat >"$L/devices/qemu-$smmu.yaml" <<EOF
# Written by scripts/lava.sh (make lava): the device of a local lava-run
# (make lava-check), as lava-server would render qemu.jinja2: the pinned QEMU
# (build/qemu10), the machine ($smmu) and devices of scripts/boot.sh (lib.sh), QEMU's
# SMMUv3 trace in build/logs/lava/$smmu/trace.log. The disks and the kernel
# command line are the job's image_arg strings.
constants:
  posix:
    lava_test_sh_cmd: /bin/sh
    lava_test_results_dir: /lava-%s
    lava_test_shell_file: ~/.bashrc
  kernel-start-message: 'Linux version [0-9]'
  default-shell-prompt: 'lava-smmuv3: # '
  shutdown-message: 'The system is going down for reboot NOW'
  spawn_maxread: '4092'
  failure_retry: 1
  boot_retry:
parameters:
  pass:
available_architectures: [arm64, aarch64]
actions:
  deploy:
    connections: {serial: }
    methods:
      image:
        parameters:
          guest: {size: 512, interface: virtio, driveid: lavatest}
  boot:
    connections: {serial: }
    methods:
      qemu:
        parameters:
          command: $QEMU_AARCH64
          options:
          - -L $QEMU_AARCH64_L
          - $machine
          - -cpu max
          - -smp 2
          - -m 1G
          - -no-reboot
          - -nodefaults
          - -display none
          - -serial stdio
          - -monitor none
          extra:
$(guest_devices | sed 's/^/          - /')
          - -D $LV/$smmu/trace.log
$(smmu_trace_args | sed 's/^/          - /')
timeouts:
  actions:
    lava-test-shell: {minutes: 15}
    boot-qemu-image: {minutes: 10}
    boot-image-retry: {minutes: 10}
    auto-login-action: {minutes: 10}
  connections:
    lava-test-shell: {minutes: 15}
EOF
done
ok "LAVA jobs for s1, s2, nested in build/lava/jobs/ (inputs from $URL)"
