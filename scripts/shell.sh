#!/usr/bin/env bash
# make shell: boot the kernel with an interactive busybox shell in the guest.
# busybox-static for arm64 comes from Debian's archive, through a private apt
# state directory (the machine's own apt configuration is not changed).
. "$(dirname "$0")/lib.sh"

[ -t 0 ] || die "make shell needs a terminal" "run it from an interactive shell"
select_variant
G=$BUILD/guest
if [ ! -x "$G/busybox" ]; then
	info "fetching busybox-static (arm64) from Debian's archive"
	st=$G/apt-arm64
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
	o=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$st/lists"
		-oDir::Cache="$st/cache" -oDebug::NoLocking=1)
	run_logged "$LOGS/busybox-apt.log" apt-get "${o[@]}" update
	(cd "$st" && apt-get "${o[@]}" download busybox-static:arm64) >>"$LOGS/busybox-apt.log" 2>&1 ||
		die "could not download busybox-static:arm64" "see build/logs/busybox-apt.log"
	rm -rf "$st/x"
	dpkg-deb -x "$st"/busybox-static_*_arm64.deb "$st/x"
	cp "$st/x/bin/busybox" "$G/busybox"
fi
image=$("$TOP/scripts/kernel.sh" | tail -n 1)
WITH_BUSYBOX=1 "$TOP/scripts/guest.sh" >/dev/null
QDIR=$VLOGS/shell "$TOP/scripts/boot.sh" shell "$image" "$G/initramfs-shell.cpio"
