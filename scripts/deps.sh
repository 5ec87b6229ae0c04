#!/usr/bin/env bash
# make deps: install with apt what the harness needs and is missing.
# Idempotent: when everything is present it changes nothing.
. "$(dirname "$0")/lib.sh"

PKGS=(
	"$BASE_PKG=$BASE_VERSION"	# the pinned base
	gcc-aarch64-linux-gnu		# cross compiler
	libc6-dev-arm64-cross		# arm64 libc for the static guest programs (only recommended by gcc)
	qemu-system-x86			# qemu-system-x86_64 (make check's x86_ats step)
	libc6-dev			# static x86_64 /init of that step (gcc -static)
	gcc make bc flex bison libssl-dev libelf-dev cpio kmod rsync xz-utils
	procps util-linux		# pgrep (make check stops its lanes), flock, setsid
	python3 git ccache sparse perl	# kunit.py, checkpatch.pl, C=2
	python3-ply python3-git		# checkpatch's SPDX check (scripts/spdxcheck.py)
	python3-docutils		# scripts/docs-check.sh (rst of the documentation draft)
	gnuplot-nox			# make bench's chart (SVG)
	clang-16 lld-16 llvm-16		# scripts/config-clang.sh (LLVM=-16; arm64's vdso_prepare runs
				# llvm-nm-16, llvm-objcopy-16 and llvm-readelf-16 even for one object)
	# the ATS boot's QEMU, built from source (scripts/qemu-build.sh; its meson
	# and pycotap come from bookworm-backports, unpacked under build/)
	ninja-build pkgconf python3-venv libglib2.0-dev libfdt-dev zlib1g-dev
)

# The pinned QEMU of the arm64 boots (base/qemu.conf) is unpacked under build/
# by scripts/qemu-fetch.sh, not installed; what it links against comes from
# bookworm: the Depends: of its packages.
info "fetching the pinned QEMU's packages (base/qemu.conf) into build/qemu10"
qdeps=$("$TOP/scripts/qemu-fetch.sh" --depends) || die "could not fetch the pinned QEMU" "see the error above"
# shellcheck disable=SC2206 # one package name a line
PKGS+=($qdeps)

missing=()
for spec in "${PKGS[@]}"; do
	name=${spec%%=*}
	want=${spec#*=}
	[ "$want" = "$spec" ] && want=
	have=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$name" 2>/dev/null || true)
	case $have in
	"ii "*)
		if [ -n "$want" ] && [ "${have#ii  }" != "$want" ] && [ "${have#ii }" != "$want" ]; then
			missing+=("$spec")
		fi
		;;
	*) missing+=("$spec") ;;
	esac
done

# Unpack it and check that it finds every library and runs.
unpack_qemu() {
	local q
	q=$("$TOP/scripts/qemu-fetch.sh" | tail -n 1) || die "the pinned QEMU does not run" "see the error above"
	ok "QEMU for arm64: ${q#"$TOP"/} ($("$q" --version | head -n 1))"
}

if [ ${#missing[@]} = 0 ]; then
	unpack_qemu
	ok "all dependencies present"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}" \
	"run 'make deps' as root, or: sudo apt-get install ${missing[*]}"

info "installing: ${missing[*]}"
run_logged "$LOGS/apt-update.log" apt-get update
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends --allow-downgrades "${missing[@]}" \
	>"$LOGS/apt-install.log" 2>&1; then
	tail_log "$LOGS/apt-install.log" 30
	die "apt-get could not install: ${missing[*]}" \
		"if $BASE_PKG=$BASE_VERSION is no longer served, see 'apt-cache policy $BASE_PKG'" \
		"and update base/linux.conf (version and checksum) in a commit of its own"
fi
ok "installed ${#missing[@]} package(s)"
unpack_qemu
