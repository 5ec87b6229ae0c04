#!/usr/bin/env bash
# make lava: the harness's guest tests as LAVA jobs (lava-dispatcher 2023.01
# schema) with their inputs, in build/lava/, for two targets (LAVA_TARGETS,
# default "qemu server"):
#
# qemu: QEMU's virt machine, one job per SMMU configuration of make check
#   Image                    the boot kernel (scripts/kernel.sh: incremental)
#   initramfs-lava.cpio      busybox init + a shell with the prompt
#                            'lava-smmuv3: # ' (guest/lava/inittab, rc, profile),
#                            /bin/guest-tests (guest/init.c run as a program),
#                            /bin/ktap-to-lava (guest/lava/ktap-to-lava)
#   virtio.img, nvme.img     the two disks of scripts/boot.sh, and their .sha256
#   jobs/qemu-<smmu>.yaml    the job for SMMU s1, s2, nested and ats: deploy to tmpfs,
#                            boot qemu, an inline test definition
#   devices/qemu-<smmu>.yaml the device YAML a local lava-run needs (what
#                            lava-server would render from qemu.jinja2): the
#                            pinned QEMU, the machine and devices of boot.sh
#   dispatcher.yaml          lava-run --dispatcher (no default-route lookup)
#
# server: an arm64 server with an SMMUv3, booted over the network (LAVA's tftp
# deploy, UEFI GRUB loads the kernel and the ramdisk by TFTP)
#   server/Image             the boot kernel's configuration plus
#                            configs/lava-server.config (UEFI, ACPI, kprobe
#                            events), built in build/lava-server-out
#   server/initramfs-lava.cpio.gz  the same initramfs, compressed (LAVA unpacks
#                            it to add its overlay)
#   jobs/server.yaml         deploy to tftp, boot grub (commands: ramdisk), the
#                            guest tests' server mode (guest/init.c, ats.c)
#   devices/qemu-uefi-server.jinja2  a device dictionary on lava-server's
#                            base-grub.jinja2 whose "server" is QEMU's virt
#                            machine with UEFI firmware (scripts/lava-server-qemu.sh),
#                            for make lava-check's lava-run
#   dispatcher-server.yaml   lava-run --dispatcher for it (TFTP server 10.0.2.2,
#                            QEMU's user network)
# The server job's parameters:
#   LAVA_DEVICE_TYPE=type    the lab's device type, one built on lava-server's
#                            base-grub.jinja2 (default
#                            lenovo-hr330a-7x33cto1ww-emag: Ampere eMAG)
#   LAVA_PCI_DEVICES="BDF .." the PCI functions of the ATS section (default:
#                            every function with an ATS capability)
#   LAVA_ATS_EXPECT=auto|0   0: ATS must stay off (e.g. a root complex whose
#                            firmware does not declare ATS)
#   LAVA_KERNEL_ARGS="..."   more kernel arguments
#
# make lava-check runs the jobs with lava-run; a lab takes them with
# 'lavacli jobs submit build/lava/jobs/qemu-s1.yaml' (README, "LAVA").
#
#   LAVA_URL=https://host/path   the jobs fetch their inputs from there (copy
#                                build/lava/ to it) instead of file://build/lava
#   LAVA_PREFIX=name-            the dispatcher's scratch directory prefix
#                                (default lava-harness-)
. "$(dirname "$0")/lib.sh"

select_variant
TARGETS=${LAVA_TARGETS:-qemu server}
for t in $TARGETS; do
	case $t in
	qemu | server) ;;
	*) die "LAVA_TARGETS='$TARGETS': unknown target '$t'" "use qemu, server or both" ;;
	esac
done
want() { case " $TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
L=$BUILD/lava
LV=$LOGS/lava
mkdir -p "$L/jobs" "$L/devices" "$L/server" "$LV"
URL=${LAVA_URL:-file://$L}
URL=${URL%/}
case $URL in
*[!A-Za-z0-9_.~:/@%+=,-]*) die "LAVA_URL='$LAVA_URL' has characters a job's url: line cannot carry as is" \
	"use a plain https://host/path (no spaces, quotes, '#' or '?')" ;;
file://* | http://* | https://*) ;;
*) die "LAVA_URL='$LAVA_URL' is not a URL" "use LAVA_URL=https://host/path (where build/lava/ is served)" ;;
esac
case ${LAVA_PREFIX:-x} in
*[!A-Za-z0-9_-]*) die "LAVA_PREFIX='$LAVA_PREFIX': letters, digits, '_' and '-' only" \
	"it names the dispatcher's scratch directories" ;;
esac

"$TOP/scripts/guest.sh" >/dev/null
busybox_arm64

# put SRC DST: copy when different (keeps build/lava's dates for a lab's sync)
put() { cmp -s "$1" "$2" || cp "$1" "$2"; }
if want qemu; then
	"$TOP/scripts/boot.sh" disks
	qemu_aarch64
	image=$("$TOP/scripts/kernel.sh" | tail -n 1)
	[ -f "$image" ] || die "scripts/kernel.sh gave no kernel image" "see build/logs/build.log"
	put "$image" "$L/Image"
	# the ATS job's atc_dev_identity_switch_warm: guest/kmod's driver, built
	# against this kernel (as boot.sh adds it to make check's ATS boot)
	put "$("$TOP/scripts/kmod.sh" "${image%/arch/arm64/boot/Image}" | tail -n 1)" "$L/ats_testdev_dma.ko"
	for d in virtio nvme; do
		put "$BUILD/qemu/$d.img" "$L/$d.img"
		put "$BUILD/qemu/$d.img.sha256" "$L/$d.img.sha256"
	done
fi

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
if [ -f "$L/ats_testdev_dma.ko" ]; then
	printf '%s\n' "dir /lib 0755 0 0" "dir /lib/kmod 0755 0 0" \
		"file /lib/kmod/ats_testdev_dma.ko $L/ats_testdev_dma.ko 0644 0 0" >>"$L/initramfs-lava.list"
fi
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

smmus=
want qemu && smmus="s1 s2 nested ats" sha_vda=$(cat "$L/virtio.img.sha256") sha_nvme=$(cat "$L/nvme.img.sha256")
for smmu in $smmus; do
	machine=$(smmu_machine "$smmu")
	# Debian's pinned QEMU, or for "ats" the one of qemu/patches (built if needed)
	qemu_for_smmu "$smmu"
	# The guest's KTAP suite (guest/init.c); KUnit runs in the s1 boot only, as in make check
	if [ "$smmu" = s1 ]; then
		suite=guest kargs=
	else
		suite=guest_smmu_$smmu kargs=" kunit.enable=0"
	fi
	[ "$smmu" != ats ] || kargs+=" guest.kmod=1"	# the driver is in the initramfs
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
$(guest_devices "$smmu" | sed 's/^/          - /')
          - -D $LV/$smmu/trace.log
$(smmu_trace_args "$smmu" | sed 's/^/          - /')
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
want qemu && ok "LAVA jobs for s1, s2, nested, ats in build/lava/jobs/ (inputs from $URL)"
want server || exit 0

# --- Target server ------------------------------------------------------------
info "the server kernel: boot kernel + configs/lava-server.config in build/lava-server-out (cold: as long as the boot kernel)"
image=$(CONFIGS="kunit qemu lava-server" KOUT=$BUILD/lava-server-out KLOGS=$LOGS/lava-server \
	"$TOP/scripts/kernel.sh" | tail -n 1)
[ -f "$image" ] || die "scripts/kernel.sh gave no server kernel image" "see build/logs/lava-server/build.log"
put "$image" "$L/server/Image"
gzip -n -9 -c "$L/initramfs-lava.cpio" >"$L/server/initramfs-lava.cpio.gz.tmp"
if cmp -s "$L/server/initramfs-lava.cpio.gz.tmp" "$L/server/initramfs-lava.cpio.gz"; then
	rm "$L/server/initramfs-lava.cpio.gz.tmp"
else
	mv "$L/server/initramfs-lava.cpio.gz.tmp" "$L/server/initramfs-lava.cpio.gz"
fi

dtype=${LAVA_DEVICE_TYPE:-lenovo-hr330a-7x33cto1ww-emag}
case $dtype in
*[!a-zA-Z0-9_.-]*) die "LAVA_DEVICE_TYPE='$dtype' is not a device type name" "e.g. LAVA_DEVICE_TYPE=synquacer-acpi" ;;
esac
read -ra pcis <<<"${LAVA_PCI_DEVICES:-}"
pcidevs="${pcis[*]}"
for d in "${pcis[@]}"; do
	[[ $d =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
		die "LAVA_PCI_DEVICES: '$d' is not a PCI function (DDDD:BB:DD.F)" "e.g. LAVA_PCI_DEVICES=\"0000:01:00.0 0000:02:00.0\""
done
ats=${LAVA_ATS_EXPECT:-auto}
case $ats in
auto | 0) ;;
*) die "LAVA_ATS_EXPECT='$ats'" "use auto (ATS where the SMMU and the function have it) or 0 (ATS must stay off)" ;;
esac
kargs=${LAVA_KERNEL_ARGS:-}
case $kargs in
*[!A-Za-z0-9_.,:=/+@\ -]*) die "LAVA_KERNEL_ARGS='$kargs': letters, digits, spaces and _.,:=/+@- only" \
	"(GRUB and LAVA read the others)" ;;
esac
# base-grub.jinja2 takes context: extra_kernel_args instead of the device's
# own base_kernel_args: only when asked
context=
[ -z "$kargs" ] || context="context:
  extra_kernel_args: $kargs  # replaces the device type's base_kernel_args
"
cat >"$L/jobs/server.yaml" <<EOF
# Written by scripts/lava.sh (make lava): the harness's guest tests on an arm64
# server with an SMMUv3, booted over the network: LAVA deploys the kernel and
# the ramdisk to its TFTP server, UEFI GRUB loads them (boot method grub, the
# device type's "ramdisk" commands), and LAVA's overlay is in the ramdisk.
# Test definition 0_guest_server: one test case per KTAP case of
# 'guest-tests server' (guest/init.c: SMMUs probed, DMA domains, the boot's
# KUnit suites, the ATS section of guest/ats.c, a clean kernel log).
# Parameters, set by make lava from the environment:
#   device_type  LAVA_DEVICE_TYPE: a device type built on lava-server's
#                base-grub.jinja2 ($dtype)
#   PCI_DEVICES  LAVA_PCI_DEVICES: the functions of the ATS section, as
#                segment:bus:device.function ("" = every function with an ATS
#                capability); each is unbound from its driver, given to
#                vfio-pci and bound back
#   ATS_EXPECT   LAVA_ATS_EXPECT: auto (ATS expected where the function's SMMU
#                and the function have it) or 0 (ATS must stay off)
#   extra_kernel_args  LAVA_KERNEL_ARGS, if set (base-grub then leaves out the
#                device's own base_kernel_args)
# Inputs from $URL/server.
device_type: $dtype
job_name: smmuv3-series guest tests (arm64 server, $dtype, network boot)
timeouts:
  job: {minutes: 60}
  action: {minutes: 20}
  connection: {minutes: 10}
priority: medium
visibility: public
${context}actions:
- deploy:
    to: tftp
    timeout: {minutes: 10}
    kernel:
      url: $URL/server/Image
      type: image
    ramdisk:
      url: $URL/server/initramfs-lava.cpio.gz
      compression: gz          # LAVA unpacks it to add its overlay
    os: oe
- boot:
    method: grub
    commands: ramdisk
    timeout: {minutes: 20}
    prompts: ['lava-smmuv3: # ']
- test:
    timeout: {minutes: 20}
    definitions:
    - from: inline
      name: guest_server
      path: inline/guest-server.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: guest_server
          description: "the harness's guest tests for any arm64 machine with an SMMUv3 (guest-tests server), one LAVA test case per KTAP case"
        params:
          PCI_DEVICES: "$pcidevs"
          ATS_EXPECT: "$ats"
        run:
          steps:
          - /bin/guest-tests server \$PCI_DEVICES ats_expect=\$ATS_EXPECT >/tmp/guest-ktap.txt 2>&1 || echo "guest-tests exit status \$?"
          - cat /tmp/guest-ktap.txt
          - /bin/ktap-to-lava /tmp/guest-ktap.txt
EOF

# make lava-check's server: QEMU's virt machine with UEFI firmware, on
# lava-server's base-grub.jinja2 like a lab's server type, GRUB at its prompt
# already (Debian's network GRUB has no menu to interrupt). lava-check renders
# it with lava-server's templates into devices/qemu-uefi-server.yaml.
cat >"$L/devices/qemu-uefi-server.jinja2" <<EOF
{# Written by scripts/lava.sh (make lava): QEMU's virt machine with UEFI
   firmware as an arm64 server, for make lava-check (scripts/lava-server-qemu.sh) #}
{% extends 'base-grub.jinja2' %}
{% set console_device = 'ttyAMA0' %}
{% set efi_grub = True %}
{% set grub_needs_interrupt = False %}
{% set connection_command = '$TOP/scripts/lava-server-qemu.sh console' %}
{% set hard_reset_command = '$TOP/scripts/lava-server-qemu.sh reset' %}
{% set power_off_command = '$TOP/scripts/lava-server-qemu.sh off' %}
{% set action_timeout_bootloader_commands = 10 %}
{% set connection_timeout_bootloader_commands = 600 %}
{% set action_timeout_lava_test_shell = 20 %}
EOF
cat >"$L/dispatcher-server.yaml" <<EOF
# Written by scripts/lava.sh. lava-run --dispatcher of make lava-check's server
# job: GRUB reaches the TFTP server at QEMU's user-network host address.
dispatcher_ip: 10.0.2.2
prefix: ${LAVA_PREFIX:-lava-harness-}
EOF
ok "LAVA server job in build/lava/jobs/server.yaml (device type $dtype, ATS section over ${pcidevs:-every ATS-capable function}; inputs from $URL/server)"
