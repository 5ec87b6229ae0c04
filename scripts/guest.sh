#!/usr/bin/env bash
# Build the guest programs (static aarch64) and the initramfs:
#   build/guest/initramfs.cpio         /init and the test programs
#   build/guest/initramfs-shell.cpio   the same plus /bin/busybox (make shell)
#   build/guest/initramfs-bench.cpio   with WITH_BENCH=1: the same plus the
#                                      kernel's /bin/dma_map_benchmark (make bench)
#   build/guest/initramfs-modules.cpio with WITH_MODULES=<build dir>: the same
#                                      plus the modules of that kernel build, in
#                                      /lib/modules, loaded by /init in the
#                                      order of its modules.order
. "$(dirname "$0")/lib.sh"

# GUEST_OUT=dir builds elsewhere (make stress: build/stress/guest), so that a
# run does not rebuild the initramfs another target is booting.
G=${GUEST_OUT:-$BUILD/guest}
mkdir -p "$G"
command -v ${CROSS}gcc >/dev/null || die "${CROSS}gcc not found" "run 'make deps'"
glog=$LOGS/guest-build.log
[ -z "${GUEST_OUT:-}" ] || glog=$G/guest-build.log
run_logged "$glog" make -C "$TOP/guest" O="$G/bin"

# gen_init_cpio from the base tree: it makes device nodes without root.
gic=$G/gen_init_cpio
src=$BUILD/src/$BASE_TOPDIR/usr/gen_init_cpio.c
[ -f "$src" ] || die "$src is missing" "run 'make tree' first"
if [ ! -x "$gic" ] || [ "$src" -nt "$gic" ]; then
	gcc -O2 -o "$gic" "$src" || die "could not build gen_init_cpio with the host gcc"
fi

# cpio LIST OUT: build an initramfs from a gen_init_cpio list, if it changed.
cpio_from() {
	local list=$1 out=$2
	if [ -f "$out" ] && cmp -s "$list" "$out.list"; then
		local f newer=0
		for f in $(awk '$1 == "file" { print $3 }' "$list"); do
			[ "$f" -nt "$out" ] && newer=1
		done
		[ $newer = 0 ] && return 0
	fi
	"$gic" "$list" >"$out.tmp" || die "gen_init_cpio failed on $list"
	mv "$out.tmp" "$out"
	cp "$list" "$out.list"
}

base_list() {
	cat <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /bin 0755 0 0
file /init $G/bin/init 0755 0 0
EOF
}

base_list >"$G/initramfs.list.new"
cpio_from "$G/initramfs.list.new" "$G/initramfs.cpio"

if [ "${WITH_BUSYBOX:-}" = 1 ]; then
	bb=$G/busybox
	[ -x "$bb" ] || die "build/guest/busybox is missing" "'make shell' fetches it first"
	{
		base_list
		echo "file /bin/busybox $bb 0755 0 0"
		for a in sh ls cat dmesg mount umount echo lspci poweroff reboot grep find hexdump \
			head tail wc dd sha256sum ps sleep; do
			echo "slink /bin/$a busybox 0777 0 0"
		done
	} >"$G/initramfs-shell.list.new"
	cpio_from "$G/initramfs-shell.list.new" "$G/initramfs-shell.cpio"
fi

if [ "${WITH_BENCH:-}" = 1 ]; then
	# The tool's source is the same in base and series: take the unpacked base.
	ksrc=$BUILD/src/$BASE_TOPDIR
	[ -f "$ksrc/tools/testing/selftests/dma/dma_map_benchmark.c" ] ||
		die "no dma_map_benchmark.c in ${ksrc#"$TOP"/}" "run 'make tree' first"
	run_logged "$LOGS/guest-build-bench.log" make -C "$TOP/guest" O="$G/bin" KSRC="$ksrc" \
		dma_map_benchmark
	{
		base_list
		echo "file /bin/dma_map_benchmark $G/bin/dma_map_benchmark 0755 0 0"
	} >"$G/initramfs-bench.list.new"
	cpio_from "$G/initramfs-bench.list.new" "$G/initramfs-bench.cpio"
fi
if [ -n "${WITH_MODULES:-}" ]; then
	order=$WITH_MODULES/modules.order
	[ -s "$order" ] || die "no modules.order in ${WITH_MODULES#"$TOP"/}" \
		"build that kernel with its modules first (make ... modules)"
	: >"$G/modules.load.new"
	{
		base_list
		echo "dir /lib 0755 0 0"
		echo "dir /lib/modules 0755 0 0"
		while read -r m; do
			ko=$WITH_MODULES/${m%.o}.ko
			[ -f "$ko" ] || die "${ko#"$TOP"/} is listed in modules.order but missing" \
				"rebuild the modules of ${WITH_MODULES#"$TOP"/}"
			echo "file /lib/modules/$(basename "$ko") $ko 0644 0 0"
			echo "/lib/modules/$(basename "$ko")" >>"$G/modules.load.new"
		done <"$order"
		echo "file /lib/modules/load $G/modules.load 0644 0 0"
	} >"$G/initramfs-modules.list.new"
	cmp -s "$G/modules.load.new" "$G/modules.load" || mv "$G/modules.load.new" "$G/modules.load"
	rm -f "$G/modules.load.new"
	cpio_from "$G/initramfs-modules.list.new" "$G/initramfs-modules.cpio"
fi
ok "guest programs and initramfs ready (${G#"$TOP"/})"
