#!/usr/bin/env bash
# build-initramfs.sh: the LAVA prototype's guest, in /tmp/lava-proto (nothing under build/ is written).
#   1. copies guest/ to $W/guest, applies guest-init-as-program.patch, builds it
#      with the harness's static aarch64 toolchain (guest/Makefile) -> $W/guest-out/init
#   2. fetches busybox-static:arm64 through a private apt state in $W (as scripts/shell.sh does)
#   3. writes $W/initramfs-lava.cpio (gen_init_cpio list: /init = busybox init (-> /bin/busybox, /etc/inittab),
#      /bin/busybox, /bin/guest-tests, /bin/ktap-to-lava)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
W=${W:-/tmp/lava-proto}
mkdir -p "$W"

rm -rf "$W/guest"
cp -a "$TOP/guest" "$W/guest"
(cd "$W" && patch -p1 --no-backup-if-mismatch <"$HERE/guest-init-as-program.patch")
make -C "$W/guest" O="$W/guest-out" >"$W/guest-build.log" 2>&1 || { cat "$W/guest-build.log"; exit 1; }

if [ ! -x "$W/busybox" ]; then
	st=$W/apt-arm64
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
	o=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$st/lists"
		-oDir::Cache="$st/cache" -oDebug::NoLocking=1)
	apt-get "${o[@]}" update >"$W/busybox-apt.log" 2>&1
	(cd "$st" && apt-get "${o[@]}" download busybox-static:arm64) >>"$W/busybox-apt.log" 2>&1
	rm -rf "$st/x"
	dpkg-deb -x "$st"/busybox-static_*_arm64.deb "$st/x"
	cp "$st/x/bin/busybox" "$W/busybox"
fi

GIC=$TOP/build/guest/gen_init_cpio
[ -x "$GIC" ] || { echo "no $GIC (make check/make guest builds it)" >&2; exit 1; }
cat >"$W/initramfs-lava.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /bin 0755 0 0
dir /sbin 0755 0 0
dir /tmp 1777 0 0
dir /root 0700 0 0
dir /etc 0755 0 0
file /bin/busybox $W/busybox 0755 0 0
slink /init /bin/busybox 0777 0 0
slink /bin/sh busybox 0777 0 0
file /etc/inittab $HERE/initramfs/inittab 0644 0 0
file /etc/rc $HERE/initramfs/rc 0644 0 0
file /etc/profile $HERE/initramfs/profile 0644 0 0
file /bin/guest-tests $W/guest-out/init 0755 0 0
file /bin/ktap-to-lava $HERE/initramfs/ktap-to-lava 0755 0 0
LIST
"$GIC" "$W/initramfs-lava.list" >"$W/initramfs-lava.cpio"
ls -l "$W/initramfs-lava.cpio"
