# shellcheck shell=bash
# Common settings and helpers for the harness scripts. Source it, do not run it.
#
# Layout under build/ (ignored by git; "variant" is main, base, extra or bisect):
#   build/src/        the unpacked base tarball (cache, never modified)
#   build/linux/      main working tree: base commit tagged "base" + the series
#   build/out/        out-of-tree kernel build of build/linux
#   build/kunit/      kunit.py build directory
#   build/<v>/linux   git worktree for the variants base (SERIES=none), extra
#   build/<v>/out     (EXTRA_PATCHES=...) and bisect (per-patch builds); the
#                     same ../linux relative layout lets ccache share objects
#   build/guest/      guest programs and initramfs
#   build/logs/       every log; failures print the relevant tail from here

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
LOGS=$BUILD/logs
# shellcheck source=../base/linux.conf
. "$TOP/base/linux.conf"

export ARCH=arm64
CROSS=aarch64-linux-gnu-
JOBS=${JOBS:-$(nproc)}

# Caches that outlive a clone (HARNESS_CACHE, default ~/.cache/smmuv3-series,
# or under XDG_CACHE_HOME): a second clone on the same machine, which is what
# CI's clean clone of main is, starts warm. Nothing there is trusted blindly:
# ccache checks its own entries, downloads are checked against base/*.conf
# before use, the verdicts kept there (hygiene/, mutants/: passes only) are
# found only under a key naming what they were computed from, the harness's
# own files included (docs/check.md lists each key), and the ATS QEMU
# (qemu-ats/) under its build stamp. make clean leaves it; rm -rf removes it.
HARNESS_CACHE=${HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smmuv3-series}
# (absolute: the scripts change directory)
HARNESS_CACHE=$(realpath -m -- "$HARNESS_CACHE")
export HARNESS_CACHE
# ccache: one cache for all trees and clones; paths made relative to build/
# (CCACHE_BASEDIR) so that worktrees and clones with the same layout hit the
# same entries. CCACHE_DIR overrides the place.
export CCACHE_DIR=${CCACHE_DIR:-$HARNESS_CACHE/ccache}
export CCACHE_BASEDIR=$BUILD
export CCACHE_NOHASHDIR=1
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# ccache in masquerade mode: a directory of links named like the compilers,
# first in PATH, so CROSS_COMPILE stays a plain prefix (kunit.py and
# gen_compile_commands.py split a CROSS_COMPILE that contains "ccache ").
CCBIN=$BUILD/ccache-bin
if [ ! -e "$CCBIN/${CROSS}gcc" ] && command -v ccache >/dev/null; then
	mkdir -p "$CCBIN"
	ln -sf "$(command -v ccache)" "$CCBIN/${CROSS}gcc"
	ln -sf "$(command -v ccache)" "$CCBIN/gcc"
fi
export PATH=$CCBIN:$PATH
# ccache_depend: ccache's depend mode for the builds of this script. On a
# miss, ccache normally runs the preprocessor once to hash its output (a
# quarter of the compiler's time on a kernel object here: kernel/fork.c 0.34 s
# of 1.36 s) and then the compiler, which preprocesses again; in depend mode it
# hashes the source, the arguments and the headers the compiler's -MMD file
# lists (direct mode), and runs nothing but the compiler. What is lost is the
# preprocessor-mode lookup, which finds an object whose preprocessed text is
# the same under another configuration (config:modules from the boot kernel,
# config:no_iov from config:minimal). So only the builds whose configuration
# no other build shares (the debug kernel, the x86_64 kernel, clang, Debian's
# configuration) use it; a build of the same configuration (base and series,
# hygiene's x86 builds from the x86 kernel) still hits, in direct mode.
ccache_depend() {
	export CCACHE_DEPEND=1
}
# BUILD_NICE=N (make check sets 10): every make of the harness runs at
# niceness N, through a "make" first in PATH, so that the QEMU boots that make
# check's lanes run beside builds keep their speed (the builds take what the
# boots leave). Nested makes find the niceness already set.
if [ -n "${BUILD_NICE:-}" ] && [ "$BUILD_NICE" != 0 ]; then
	case $BUILD_NICE in
	*[!0-9]* | ???*) die "BUILD_NICE=$BUILD_NICE is not a niceness from 1 to 19" "or 0 for none" ;;
	esac
	_nicebin=$BUILD/nice-bin
	mkdir -p "$_nicebin"
	_make=$(PATH=${PATH//"$_nicebin:"/} command -v make) || die "make not found" "run make deps"
	# (scripts of make check's lanes source this at the same time: a file each)
	cat >"$_nicebin/make.$$" <<EOF
#!/bin/sh
# Written by scripts/lib.sh: $_make at niceness \$BUILD_NICE (make check's lanes).
n=\$(nice)
[ "\$n" -ge "\${BUILD_NICE:-0}" ] || exec nice -n \$((\${BUILD_NICE:-0} - n)) $_make "\$@"
exec $_make "\$@"
EOF
	chmod +x "$_nicebin/make.$$"
	if cmp -s "$_nicebin/make.$$" "$_nicebin/make"; then
		rm -f "$_nicebin/make.$$"
	else
		mv -f "$_nicebin/make.$$" "$_nicebin/make"
	fi
	case :$PATH: in *":$_nicebin:"*) ;; *) export PATH=$_nicebin:$PATH ;; esac
fi

if [ -t 1 ] && [ -z "${CI:-}" ]; then
	_red=$'\e[31m' _grn=$'\e[32m' _bld=$'\e[1m' _off=$'\e[0m'
else
	_red='' _grn='' _bld='' _off=''
fi

info() { printf '%s==>%s %s\n' "$_bld" "$_off" "$*"; }
ok() { printf '%s  ok%s %s\n' "$_grn" "$_off" "$*"; }
warn() { printf '%sWARNING:%s %s\n' "$_red" "$_off" "$*" >&2; }
die() {
	printf '%sERROR:%s %s\n' "$_red" "$_off" "$1" >&2
	shift
	local l
	for l in "$@"; do printf '       %s\n' "$l" >&2; done
	exit 1
}

# tail_log FILE [N]: print the last N lines of a log, framed, to stderr.
tail_log() {
	local f=$1 n=${2:-40}
	[ -f "$f" ] || return 0
	printf -- '----- last %d lines of %s -----\n' "$n" "${f#"$TOP"/}" >&2
	tail -n "$n" "$f" >&2
	printf -- '----- end of %s -----\n' "${f#"$TOP"/}" >&2
}

# run_logged LOG CMD...: run CMD with all output to LOG; on failure print its
# tail and die with a message naming the log.
run_logged() {
	local log=$1
	shift
	mkdir -p "$(dirname "$log")"
	if ! "$@" >"$log" 2>&1; then
		tail_log "$log" 60
		die "'$*' failed" "full log: ${log#"$TOP"/}"
	fi
}

# The variant a target works on, from the user's variables.
#   SERIES=none          the unpatched base
#   EXTRA_PATCHES="a b"  the series plus further patches on top
select_variant() {
	if [ "${SERIES:-}" = none ] && [ -n "${EXTRA_PATCHES:-}" ]; then
		die "SERIES=none and EXTRA_PATCHES cannot be combined" \
			"EXTRA_PATCHES applies on top of the series; drop one of them"
	fi
	if [ "${SERIES:-}" = none ]; then
		VARIANT=base
	elif [ -n "${EXTRA_PATCHES:-}" ]; then
		VARIANT=extra
	elif [ -n "${SERIES:-}" ]; then
		die "SERIES='$SERIES' is not understood" "use SERIES=none for the unpatched base, or leave it unset"
	else
		VARIANT=main
	fi
	variant_dirs "$VARIANT"
}

# variant_dirs V: set SRC, OUT and VLOGS for variant V.
variant_dirs() {
	case $1 in
	main)
		SRC=$BUILD/linux OUT=$BUILD/out VLOGS=$LOGS ;;
	*)
		SRC=$BUILD/$1/linux OUT=$BUILD/$1/out VLOGS=$LOGS/$1 ;;
	esac
	mkdir -p "$VLOGS"
}

# The pinned QEMU of the arm64 boots (base/qemu.conf): qemu_aarch64 sets
# QEMU_AARCH64 (the binary) and QEMU_AARCH64_L (its data directory, for -L),
# fetching it first if build/qemu10 does not hold the pinned version
# (scripts/qemu-fetch.sh).
qemu_aarch64() {
	QEMU_AARCH64=$BUILD/qemu10/root/usr/bin/qemu-system-aarch64
	# shellcheck disable=SC2034 # used by the scripts that source this file
	QEMU_AARCH64_L=$BUILD/qemu10/root/usr/share/qemu
	if [ ! -x "$QEMU_AARCH64" ] ||
		[ "$(cat "$BUILD/qemu10/root/version" 2>/dev/null)" != "$(. "$TOP/base/qemu.conf" && echo "$QEMU_VERSION")" ]; then
		info "fetching the pinned QEMU (base/qemu.conf) into build/qemu10"
		"$TOP/scripts/qemu-fetch.sh" >/dev/null || die "the pinned QEMU is not available" \
			"see the error above; 'make deps' fetches it and installs its libraries"
	fi
}

# debian_archive: the Debian archive the machine's own apt sources use for its
# release (the first "deb" entry whose suite is the release's codename, in
# sources.list or sources.list.d, one-line or deb822), so that a machine with a
# mirror of its own fetches from it; nothing printed (status 1) if none.
debian_archive() {
	/usr/bin/python3 - "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" <<'EOF'
import glob, sys
cn = sys.argv[1]
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        text = open(f).read()
    except OSError:
        continue
    for line in text.splitlines():
        w = line.split("#")[0].split()
        if w and w[0] == "deb":
            w = [x for x in w[1:] if not x.startswith("[") and not x.endswith("]")]
            if len(w) >= 2 and w[1] == cn:
                sys.exit(print(w[0].rstrip("/")))
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for para in open(f).read().split("\n\n"):
        kv = {}
        for line in para.splitlines():
            if ":" in line and not line.startswith((" ", "#")):
                k, v = line.split(":", 1)
                kv[k.strip().lower()] = v.split()
        if ("deb" in kv.get("types", []) and cn in kv.get("suites", []) and kv.get("uris")
                and kv.get("enabled", ["yes"])[0] != "no"):
            sys.exit(print(kv["uris"][0].rstrip("/")))
sys.exit(1)
EOF
}

# Downloads kept across clones, by file name, in HARNESS_CACHE/downloads: a
# fresh clone takes a pinned package or tarball from there instead of the
# network, and only when its SHA-256 is the pinned one.
# cache_get NAME SHA256 DEST: 0 and DEST written if the cache holds NAME with
# that SHA-256; cache_put FILE: keep FILE (already verified) there.
cache_get() {
	local c=$HARNESS_CACHE/downloads/$1
	[ -f "$c" ] && [ "$(sha256sum "$c" | cut -d' ' -f1)" = "$2" ] && cp "$c" "$3.part" && mv -f "$3.part" "$3"
}
cache_put() {
	local d=$HARNESS_CACHE/downloads
	mkdir -p "$d" && cp "$1" "$d/.$(basename "$1").$$" && mv -f "$d/.$(basename "$1").$$" "$d/$(basename "$1")"
}

# qemu_aarch64_on_path: qemu_aarch64, then a qemu-system-aarch64 first in PATH
# that runs it with its data directory: for the tools that run QEMU by that
# name (kunit.py), on a machine whose only arm64 QEMU is the pinned one.
qemu_aarch64_on_path() {
	local bin=$BUILD/qemu10/bin
	qemu_aarch64
	mkdir -p "$bin"
	cat >"$bin/qemu-system-aarch64.$$" <<EOF
#!/bin/sh
# Written by scripts/lib.sh: the pinned QEMU (base/qemu.conf) with its data directory.
exec "$QEMU_AARCH64" -L "$QEMU_AARCH64_L" "\$@"
EOF
	chmod +x "$bin/qemu-system-aarch64.$$"
	mv -f "$bin/qemu-system-aarch64.$$" "$bin/qemu-system-aarch64"
	case :$PATH: in *":$bin:"*) ;; *) export PATH=$bin:$PATH ;; esac
}

# arm64_deb PKG DIR: download Debian's PKG (arm64, or architecture all) through
# a private apt state in build/guest/apt-arm64 (the machine's apt configuration
# is not changed) and unpack it into DIR; the log is build/logs/arm64-apt.log.
arm64_deb() {
	local st=$BUILD/guest/apt-arm64 o deb
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$LOGS"
	o=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$st/lists"
		-oDir::Cache="$st/cache" -oDebug::NoLocking=1)
	if [ ! -f "$st/updated" ]; then
		run_logged "$LOGS/arm64-apt.log" apt-get "${o[@]}" update
		touch "$st/updated"
	fi
	rm -f "$st/${1%%[:=]*}"_*.deb
	# a point release may have replaced the version the lists name: update once
	if ! (cd "$st" && apt-get "${o[@]}" download "$1") >>"$LOGS/arm64-apt.log" 2>&1; then
		run_logged "$LOGS/arm64-apt.log" apt-get "${o[@]}" update
		(cd "$st" && apt-get "${o[@]}" download "$1") >>"$LOGS/arm64-apt.log" 2>&1 ||
			die "could not download $1 from Debian's archive" "see build/logs/arm64-apt.log"
	fi
	deb=("$st/${1%%[:=]*}"_*.deb)
	rm -rf "$2"
	dpkg-deb -x "${deb[0]}" "$2" || die "could not unpack ${deb[0]}"
}

# busybox_arm64: make sure build/guest/busybox is busybox-static for arm64
# (make shell, make lava), fetched once from Debian's archive.
busybox_arm64() {
	local g=$BUILD/guest
	[ -x "$g/busybox" ] && return 0
	info "fetching busybox-static (arm64) from Debian's archive"
	arm64_deb busybox-static:arm64 "$g/apt-arm64/x"
	local b
	for b in bin/busybox usr/bin/busybox ''; do
		[ -f "$g/apt-arm64/x/$b" ] && break
	done
	[ -n "$b" ] || die "busybox-static's package has no bin/busybox or usr/bin/busybox" "see build/logs/arm64-apt.log"
	cp "$g/apt-arm64/x/$b" "$g/busybox"
}

# uefi_arm64: make sure build/lava/uefi/ has the UEFI firmware of QEMU's virt
# machine (QEMU_EFI.fd, Debian's qemu-efi-aarch64) and Debian's network-boot
# GRUB for arm64 (grubnetaa64.efi, grub-efi-arm64-signed), fetched once: the
# arm64 server that make lava-check boots its server job on.
uefi_arm64() {
	local u=$BUILD/lava/uefi
	[ -f "$u/QEMU_EFI.fd" ] && [ -f "$u/grubnetaa64.efi" ] && return 0
	info "fetching QEMU's UEFI firmware and GRUB (arm64) from Debian's archive"
	mkdir -p "$u"
	arm64_deb qemu-efi-aarch64 "$u/x"
	cp "$u/x/usr/share/qemu-efi-aarch64/QEMU_EFI.fd" "$u/QEMU_EFI.fd"
	arm64_deb grub-efi-arm64-signed:arm64 "$u/x"
	cp "$u/x/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed" "$u/grubnetaa64.efi"
	rm -rf "$u/x"
}

# What every arm64 boot of the guest tests shares (scripts/boot.sh, and the
# LAVA jobs of scripts/lava.sh), so that the two cannot drift apart:
# guest_append MODE SMMU SHA_VDA SHA_NVME prints the kernel command line (the
# caller adds GUEST_ARGS); guest_devices the test devices behind the SMMU,
# whose disks are the drives vd0 and nv0; smmu_trace_args QEMU's SMMUv3 trace
# events (-D FILE is the caller's). The last two print one QEMU option and
# its value a line.
guest_append() {
	# (log_buf_len: the guest's lines are kernel log records too, and
	# kernel_log_clean still reads the KUnit results of the boot)
	echo "console=ttyAMA0 panic=-1 panic_on_warn=1 loglevel=7 log_buf_len=4M printk.devkmsg=on rdinit=/init" \
		"vfio_iommu_type1.allow_unsafe_interrupts=1" \
		"guest.mode=$1 guest.smmu=$2 guest.smmu_features=$(smmu_features "$2")" \
		"guest.sha_vda=$3 guest.sha_nvme=$4"
}
guest_devices() {
	printf '%s\n' "-device pcie-root-port,id=rp0,chassis=1" \
		"-device virtio-blk-pci,bus=rp0,drive=vd0,iommu_platform=on,disable-legacy=on,ats=on" \
		"-device nvme,drive=nv0,serial=harness0" "-device edu"
	if [ "${1:-}" = ats ]; then
		# on the root bus (an RCiEP): a group of its own, whose default
		# domain can be switched to identity (guest/atc.c); the second one
		# has no ATS capability and issues translated requests anyway
		# (atc_dev_translated_forbidden)
		printf '%s\n' "-device ats-testdev" "-device ats-testdev,ats=off"
	fi
}
# qemu_for_smmu SMMU: QEMU_AARCH64 (and QEMU_AARCH64_L) for that configuration:
# Debian's pinned binary, or for "ats" the one built from qemu/patches.
qemu_for_smmu() {
	qemu_aarch64
	if [ "$1" = ats ]; then
		QEMU_AARCH64=$("$TOP/scripts/qemu-build.sh" | tail -n 1) &&
			[ -x "$QEMU_AARCH64" ] || die "the QEMU of the ATS boot could not be built" "see the error above"
	fi
}
smmu_trace_args() {
	printf -- '-trace %s\n' smmuv3_record_event smmuv3_cmdq_opcode \
		smmuv3_cmdq_consume_error smmuv3_write_gerror
	# the ATS SMMU (qemu/patches): each ATC invalidation, Translation
	# Request and refused translated request, what the ATC did, and the
	# config writes and the TLBIs' ASIDs (the guest's markers and the
	# disk's domain: smmu-trace.py's ATC window)
	if [ "${1:-}" = ats ]; then
		printf -- '-trace %s\n' smmuv3_atc_inv smmuv3_ats_translation \
			smmuv3_ats_translated_refused 'ats_testdev_*' pci_cfg_write \
			smmuv3_range_inval
	fi
}

# SMMU configurations of QEMU's virt machine (SMMU=...; make check boots all four):
#   s1      stage 1 only (a machine type before 9.2: stage=1 by default)
#   s2      stage 2 only
#   nested  stage 1 and stage 2 (the 10.0 machine: what most servers have)
#   ats     stage 1 with ATS: the QEMU built from qemu/patches (scripts/qemu-build.sh),
#           with its ats-testdev on the root bus (guest_devices ats)
# smmu_machine NAME prints the QEMU options; smmu_features NAME the features
# word Linux 6.12 prints at probe ("features 0x..."), which the guest checks.
smmu_machine() {
	case $1 in
	s1) echo "-machine virt-9.1,iommu=smmuv3" ;;
	s2) echo "-machine virt-9.1,iommu=smmuv3 -global arm-smmuv3.stage=2" ;;
	nested) echo "-machine virt-10.0,iommu=smmuv3" ;;
	ats) echo "-machine virt-9.1,iommu=smmuv3 -global arm-smmuv3.ats=on" ;;
	*) die "unknown SMMU configuration '$1'" "use SMMU=s1, s2, nested or ats" ;;
	esac
}
# TRANS_S1 0x200, TRANS_S2 0x400, NESTING 0x80000 on top of 0x8105 (2_LVL_STRTAB,
# TT_LE, COHERENCY, RANGE_INV); measured with QEMU 10.0.2 and Linux 6.12.
smmu_features() {
	case $1 in
	s1) echo 0x00008305 ;;
	s2) echo 0x00008505 ;;
	nested) echo 0x00088705 ;;
	ats) echo 0x00008325 ;;	# s1 + ATS (0x20)
	esac
}

# diag_wrapper CC: write $BUILD/configs/bin/<CC>-diag, which runs CC (ccache
# first in PATH) and keeps the diagnostics of each object in <object>.diag, so
# that a build that recompiles nothing still knows every object's warnings.
# Sets WRAP to its path.
diag_wrapper() {
	local cc=$1 bin=$BUILD/configs/bin
	WRAP=$bin/$(basename "$cc")-diag
	mkdir -p "$bin"
	cat >"$WRAP.$$" <<EOF
#!/bin/sh
# Written by scripts/lib.sh: $cc (ccache first in PATH); the
# diagnostics of each object compiled are kept in <object>.diag.
out= prev=
for a in "\$@"; do
	[ "\$prev" = -o ] && out=\$a
	prev=\$a
done
case \$out in
*.o) ;;
*) exec $cc "\$@" ;;
esac
# (no temporary file and no cat unless there is something to show: every
# process costs milliseconds of CPU in a VM, and this runs once an object)
$cc "\$@" 2>"\$out.diag"
rc=\$?
[ ! -s "\$out.diag" ] || cat "\$out.diag" >&2
exit \$rc
EOF
	chmod +x "$WRAP.$$"
	if cmp -s "$WRAP.$$" "$WRAP"; then rm -f "$WRAP.$$"; else mv -f "$WRAP.$$" "$WRAP"; fi
}

# kmake ARGS...: make in the kernel tree $SRC with output in $OUT; KMAKE_ARGS
# (words) go before ARGS (scripts/configs.sh: W=1 and the diagnostics wrapper).
kmake() {
	# shellcheck disable=SC2086 # a list of make arguments
	make -C "$SRC" O="$OUT" ARCH=arm64 CROSS_COMPILE="$CROSS" -j"$JOBS" ${KMAKE_ARGS:-} "$@"
}

# --- the objects a series touches, from a build's dependency lists ------------------------
# series_dependents TREE OUT: the objects of the kernel build in OUT (paths
# relative to OUT, sorted, one a line) that a file the series changes goes
# into: the object's source, or a file in the dependency list fixdep wrote for
# it (OUT/<dir>/.<object>.cmd). Files are the series' (git diff base in TREE);
# an object built from a source the series adds is in too. Status 1, nothing
# printed, when OUT holds no compiled object.
series_dependents() {
	local tree=$1 out=$2 touched
	[ -n "$(find "$out" -name '*.o.cmd' -print -quit 2>/dev/null)" ] || return 1
	touched=$(mktemp)
	git -C "$tree" diff --name-only base -- >"$touched"
	# shellcheck disable=SC2016 # awk's own $i
	# Each .cmd names its source as the tree's path plus the object's
	# ("source_drivers/pci/ats.o := ../linux/drivers/pci/ats.c"): what
	# precedes that is how this build spells the tree, in the dependencies too.
	(cd "$out" && find . -name '.*.o.cmd' -print0 | xargs -0 -r awk -v list="$touched" '
		BEGIN { while ((getline f < list) > 0) t[f] = 1 }
		FNR == 1 { obj = FILENAME; sub(/^\.\//, "", obj); sub(/\.cmd$/, "", obj)
			n = split(obj, p, "/"); p[n] = substr(p[n], 2); obj = p[1]
			for (i = 2; i <= n; i++) obj = obj "/" p[i]
			pre = "" }
		$1 == "source_" obj && $2 == ":=" { s = $3; stem = substr(obj, 1, length(obj) - 1)
			if (substr(s, length(s) - length(stem)) == stem substr(s, length(s)))
				pre = substr(s, 1, length(s) - length(stem) - 1)
			if (index(s, pre) == 1 && substr(s, length(pre) + 1) in t) hit[obj] = 1
			next }
		pre != "" { for (i = 1; i <= NF; i++)
			if (index($i, pre) == 1 && substr($i, length(pre) + 1) in t) hit[obj] = 1 }
		END { for (o in hit) print o }') | sort >"$touched.objs"
	# A self-check: every C file the series changes that this build compiled
	# must be on the list, or the parsing above has gone wrong.
	local f miss=
	while read -r f; do
		case $f in *.c) ;; *) continue ;; esac
		[ -f "$out/$(dirname "$f")/.$(basename "${f%.c}").o.cmd" ] || continue
		grep -qxF "${f%.c}.o" "$touched.objs" || miss="$miss ${f%.c}.o"
	done <"$touched"
	[ -z "$miss" ] || die "series_dependents: the series changes the sources of$miss, which ${out#"$TOP"/} compiled, yet they are not on its list" \
		"a bug of scripts/lib.sh's parsing of the .cmd files"
	cat "$touched.objs"
	rm -f "$touched" "$touched.objs"
}

# enabled_objects: the objects (.o of C and assembly sources, relative to
# $OUT) that the configuration in $OUT compiles into vmlinux or a module, from
# a dry run (make -n) of kmake. Its compiler flags get an extra define, so that
# kbuild's command check finds every object out of date and lists it, built or
# not; nothing is compiled or written. $OUT must be prepared (make prepare).
enabled_objects() {
	local log=$1
	kmake -n -k KCFLAGS=-D__HARNESS_LIST__ KAFLAGS=-D__HARNESS_LIST__ vmlinux modules >"$log" 2>&1 || true
	grep -oE ' -c -o [^ ]+\.o ' "$log" | awk '{ print $3 }' | sort -u
}

# main_kernel_deps: make sure the boot kernel's build ($BUILD/out, of
# $BUILD/linux) is complete, since its dependency lists say which objects the
# series touches (series_dependents). Under make check (MAIN_KERNEL_MARK, the
# file its main lane creates once that build is done) this waits for it, at
# most MAIN_KERNEL_WAIT s (default 7200); alone, it builds it (scripts/kernel.sh:
# nothing to do when it is current) and exports the mark, so that the scripts
# it starts (config-clang.sh after configs.sh's no_sva) do not build it again.
main_kernel_deps() {
	local t0=$SECONDS said=
	if [ -n "${MAIN_KERNEL_MARK:-}" ]; then
		until [ -e "$MAIN_KERNEL_MARK" ]; do
			[ $((SECONDS - t0)) -lt "${MAIN_KERNEL_WAIT:-7200}" ] ||
				die "the boot kernel (build/out) was not built within ${MAIN_KERNEL_WAIT:-7200} s" \
					"see make check's main lane; its dependency lists say which objects to build here"
			[ -n "$said" ] || info "waiting for make check's boot kernel (build/out): its dependency lists say which objects the series touches"
			said=1
			sleep 5
		done
		return 0
	fi
	info "building the boot kernel (build/out) for its dependency lists (scripts/kernel.sh; nothing to do when current)"
	SERIES='' EXTRA_PATCHES='' CONFIGS='' KOUT='' KLOGS='' KTARGETS='' \
		"$TOP/scripts/kernel.sh" >"$LOGS/main-kernel-deps.log" 2>&1 ||
		die "the boot kernel (build/out) does not build: see ${LOGS#"$TOP"/}/main-kernel-deps.log" \
			"fix the build (make kernel shows it), then run again"
	MAIN_KERNEL_MARK=$LOGS/main-kernel-deps.built
	touch "$MAIN_KERNEL_MARK"
	export MAIN_KERNEL_MARK
}

# series_list: the patch files of patches/series, in order, one a line.
series_list() {
	[ -f "$TOP/patches/series" ] || die "patches/series is missing" \
		"create it (one patch file name a line; an empty file is an empty series)"
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$TOP/patches/series"
}

# check_series: every entry of series exists, every patch file is listed.
check_series() {
	local p f bad=0
	while read -r p; do
		if [ ! -f "$TOP/patches/$p" ]; then
			warn "patches/series lists '$p', which does not exist in patches/"
			bad=1
		fi
	done < <(series_list)
	for f in "$TOP"/patches/*.patch; do
		[ -e "$f" ] || continue
		p=$(basename "$f")
		[ "$p" = 0000-cover-letter.patch ] && continue
		if ! series_list | grep -qxF "$p"; then
			warn "patches/$p is not listed in patches/series"
			bad=1
		fi
	done
	[ $bad = 0 ] || die "patches/series and the patch files disagree" \
		"list every patch in patches/series in order (or move unfinished work to wip/)"
}

# thp_for_builds: transparent huge pages "always" for the length of the
# calling script (make check), the old setting put back at its end through
# thp_restore. cc1 takes most of its memory in small anonymous mappings that
# a "madvise" setting leaves at 4 KiB pages; every first touch of one is a
# page fault, and in a VM one costs several microseconds: on this machine kind
# a kernel object took 15-20 % more CPU (a third of it in the kernel) than
# with huge pages. A machine-wide setting, so only when asked: BUILD_THP=1
# (and root); otherwise the setting is left alone, said once when it costs.
THP_SYSFS=/sys/kernel/mm/transparent_hugepage/enabled
THP_OLD=
thp_for_builds() {
	local cur
	[ -r "$THP_SYSFS" ] || return 0
	cur=$(sed -E 's/.*\[([a-z]+)\].*/\1/' "$THP_SYSFS")
	[ "$cur" != always ] || return 0
	if [ "${BUILD_THP:-0}" = 0 ]; then
		info "transparent huge pages stay '$cur' (BUILD_THP=1, as root, sets 'always' while this runs: builds take 15-20 % less CPU here)"
	elif [ -w "$THP_SYSFS" ] && echo always 2>/dev/null >"$THP_SYSFS"; then
		THP_OLD=$cur
		info "transparent huge pages: always while this runs (was $cur; asked by BUILD_THP=1)"
	else
		info "transparent huge pages stay '$cur' (not root): builds take 15-20 % more CPU here"
	fi
}
thp_restore() {
	[ -z "$THP_OLD" ] || echo "$THP_OLD" >"$THP_SYSFS" 2>/dev/null || true
	THP_OLD=
}
