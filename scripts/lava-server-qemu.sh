#!/usr/bin/env bash
# lava-server-qemu.sh console|reset|off: QEMU's virt machine with UEFI
# firmware, standing in for the arm64 server of make lava's server job when
# make lava-check runs that job with lava-run. The device dictionary
# build/lava/devices/qemu-uefi-server.jinja2 (base-grub.jinja2 of lava-server,
# as a lab's server type) names these commands:
#   console  connection_command: the serial console, relayed between LAVA
#            (stdin/stdout) and a unix socket that QEMU connects to
#   reset    hard_reset_command: (re)start QEMU, detached. The UEFI firmware
#            boots by PXE over QEMU's user network, whose TFTP server serves
#            LAVA's TFTP directory: it loads Debian's network GRUB, at whose
#            prompt LAVA types the commands that load the kernel and the
#            ramdisk it deployed there. The machine has make check's s1 SMMU
#            and test devices, and a virtio-net function for the PXE boot.
#   off      power_off_command: stop QEMU
# State and logs in build/logs/lava/server/: console.sock, qemu.pid, qemu.cmd,
# qemu.out, trace.log (QEMU's SMMUv3 trace).
. "$(dirname "$0")/lib.sh"

R=$LOGS/lava/server
mkdir -p "$R"
SOCK=$R/console.sock PID=$R/qemu.pid

off() {
	local p
	p=$(cat "$PID" 2>/dev/null) || return 0
	rm -f "$PID"
	# only a QEMU of ours (the pid may have been reused since)
	grep -qs "$SOCK" "/proc/$p/cmdline" || return 0
	kill "$p" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null || true
}

case ${1:-} in
console)
	exec /usr/bin/python3 -c '
import os, select, signal, socket, sys, tty
path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
if os.isatty(0):
    tty.setraw(0)  # a serial line: no echo, no line editing
for sig in (signal.SIGTERM, signal.SIGHUP):  # LAVA ends the connection
    signal.signal(sig, lambda *_: sys.exit(0))
conn = None
try:
    while True:
        r = select.select([0, srv] + ([conn] if conn else []), [], [])[0]
        if srv in r:  # QEMU (re)started
            if conn:
                conn.close()
            conn = srv.accept()[0]
        if conn in r:
            data = conn.recv(4096)
            if data:
                os.write(1, data)
            else:
                conn.close()
                conn = None
        if 0 in r:
            data = os.read(0, 4096)
            if not data:
                break
            if conn:
                conn.sendall(data)
finally:
    os.unlink(path)  # no stale socket for the next reset
' "$SOCK"
	;;
reset)
	off
	"$TOP/scripts/boot.sh" disks
	# LAVA connects (spawns the console) just before it resets: give the
	# console a moment to listen
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && break
		sleep 0.1
	done
	[ -S "$SOCK" ] || die "no console socket at ${SOCK#"$TOP"/}" \
		"the console (connection_command) must run first: LAVA connects before it resets"
	qemu_aarch64
	uefi_arm64
	tftp=$(sed -n 's/^TFTP_DIRECTORY="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/default/tftpd-hpa 2>/dev/null)
	[ -n "$tftp" ] || die "no TFTP_DIRECTORY in /etc/default/tftpd-hpa" "install tftpd-hpa (make lava-check does)"
	mkdir -p "$tftp/harness-smmuv3"
	cp "$BUILD/lava/uefi/grubnetaa64.efi" "$tftp/harness-smmuv3/grubnetaa64.efi"
	read -ra machine <<<"$(smmu_machine s1)"
	read -ra devices -d '' < <(guest_devices; smmu_trace_args) || true
	# shellcheck disable=SC2054 # commas are QEMU syntax
	qemu=("$QEMU_AARCH64" -L "$QEMU_AARCH64_L" "${machine[@]}" -cpu max -smp 2 -m 2G
		-bios "$BUILD/lava/uefi/QEMU_EFI.fd" -no-reboot -nodefaults -display none
		-monitor none -chardev "socket,id=con,path=$SOCK" -serial chardev:con
		-netdev "user,id=n0,tftp=$tftp,bootfile=harness-smmuv3/grubnetaa64.efi"
		-device virtio-net-pci,netdev=n0,romfile=
		-drive "if=none,id=vd0,file=$BUILD/qemu/virtio.img,format=raw,readonly=on"
		-drive "if=none,id=nv0,file=$BUILD/qemu/nvme.img,format=raw,readonly=on"
		"${devices[@]}" -D "$R/trace.log" -daemonize -pidfile "$PID")
	printf '%q ' "${qemu[@]}" >"$R/qemu.cmd"
	echo >>"$R/qemu.cmd"
	"${qemu[@]}" >"$R/qemu.out" 2>&1 || {
		cat "$R/qemu.out" >&2
		die "QEMU did not start (${R#"$TOP"/}/qemu.cmd)"
	}
	;;
off) off ;;
*) die "usage: lava-server-qemu.sh console|reset|off" ;;
esac
