#!/usr/bin/env bash
# make shell: boot the kernel with an interactive busybox shell in the guest.
# busybox-static for arm64 comes from Debian's archive, through a private apt
# state directory (the machine's own apt configuration is not changed).
. "$(dirname "$0")/lib.sh"

[ -t 0 ] || die "make shell needs a terminal" "run it from an interactive shell"
select_variant
G=$BUILD/guest
busybox_arm64
image=$("$TOP/scripts/kernel.sh" | tail -n 1)
WITH_BUSYBOX=1 "$TOP/scripts/guest.sh" >/dev/null
QDIR=$VLOGS/shell "$TOP/scripts/boot.sh" shell "$image" "$G/initramfs-shell.cpio"
