#!/usr/bin/env bash
# qemu-fetch.sh [--depends]: the pinned QEMU of the arm64 boots (base/qemu.conf)
# in build/qemu10/root, fetched from Debian's archive through a private apt
# state in build/qemu10/apt (the machine's apt setup is not changed; no root
# needed). Idempotent: an unpacked copy of the pinned version is kept.
#
#   --depends  print the packages the binary needs from bookworm itself (its
#              Depends: without versions, without qemu-system-*), one a line;
#              make deps installs them with apt
# The last line of the normal run is the path of qemu-system-aarch64.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../base/qemu.conf
. "$TOP/base/qemu.conf"

if [ -z "$QEMU_ARCHIVE" ]; then
	QEMU_ARCHIVE=$(debian_archive) || die "no Debian archive for this release in the machine's apt sources" \
		"(/etc/apt/sources.list, sources.list.d/); set QEMU_ARCHIVE=<a Debian mirror's URL>"
fi
Q=$BUILD/qemu10
st=$Q/apt
mkdir -p "$LOGS"
log=$LOGS/qemu-fetch.log

[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] ||
	die "the pinned QEMU (base/qemu.conf) is Debian's amd64 build; this machine is '$(dpkg --print-architecture 2>/dev/null || echo unknown)'" \
		"add that architecture's packages and checksums to QEMU_DEBS in base/qemu.conf"

# The machine's apt.conf.d hooks (docker-clean, command-not-found, ...) are
# cleared for these calls: the private state is the only thing they touch.
aptq() {
	mkdir -p "$st"
	printf '#clear %s;\n' APT::Update::Pre-Invoke APT::Update::Post-Invoke \
		APT::Update::Post-Invoke-Success DPkg::Pre-Invoke DPkg::Post-Invoke >"$st/apt.conf"
	apt-get -c "$st/apt.conf" -oDir::Etc::SourceList="$st/sources.list" -oDir::Etc::SourceParts=/nonexistent \
		-oDir::State::Lists="$st/lists" -oDir::Cache="$st/cache" -oDebug::NoLocking=1 \
		-oAPT::Architecture=amd64 -oAPT::Sandbox::User="$(id -un)" "$@"
}

# The private state's package lists of $QEMU_SUITE, fetched once.
lists() {
	if [ "$(cat "$st/lists.ok" 2>/dev/null)" != "$QEMU_ARCHIVE $QEMU_SUITE $QEMU_VERSION" ]; then
		mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $QEMU_ARCHIVE $QEMU_SUITE main" \
			>"$st/sources.list"
		aptq update >>"$log" 2>&1 || {
			tail_log "$log" 20
			die "apt-get update of $QEMU_SUITE failed (private state in ${st#"$TOP"/})" \
				"is $QEMU_ARCHIVE reachable? full log: ${log#"$TOP"/}"
		}
		echo "$QEMU_ARCHIVE $QEMU_SUITE $QEMU_VERSION" >"$st/lists.ok"
	fi
}

# The .deb file of package $1 (architecture $2), after a verified download.
fetch() {
	local pkg=$1 arch=$2 sum=$3 f got
	f=$st/${pkg}_${QEMU_VERSION#*:}_$arch.deb
	mkdir -p "$st"
	if { [ ! -f "$f" ] || [ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sum" ]; } &&
		! cache_get "$(basename "$f")" "$sum" "$f"; then
		rm -f "$f"
		lists
		(cd "$st" && aptq download "$pkg=$QEMU_VERSION") >>"$log" 2>&1 || {
			tail_log "$log" 20
			die "could not download $pkg=$QEMU_VERSION from $QEMU_SUITE" \
				"if that version is no longer served (apt-cache policy $pkg with a $QEMU_SUITE line shows what is)," \
				"update QEMU_VERSION and the checksums in base/qemu.conf in a commit of its own"
		}
		mv "$st/${pkg}_${QEMU_VERSION/:/%3a}_$arch.deb" "$f"
		got=$(sha256sum "$f" | cut -d' ' -f1)
		[ "$got" = "$sum" ] || die "checksum mismatch for $pkg=$QEMU_VERSION" \
			"base/qemu.conf pins $sum, the archive served $got (${f#"$TOP"/})" \
			"check the archive; change the pin only in a commit of its own that says why"
	fi
	# (verified above, or by the run that left it here)
	[ -f "$HARNESS_CACHE/downloads/$(basename "$f")" ] || cache_put "$f"
	echo "$f"
}

# --download PKG=VERSION...: download into the private state's directory
# (scripts/qemu-build.sh: its build tools from $QEMU_SUITE; it checks them)
if [ "${1:-}" = --download ]; then
	shift
	lists
	for spec; do
		(cd "$st" && aptq download "$spec") >>"$log" 2>&1 || {
			tail_log "$log" 10
			die "could not download $spec from $QEMU_SUITE" "full log: ${log#"$TOP"/}"
		}
	done
	exit 0
fi

debs=()
for spec in $QEMU_DEBS; do
	IFS=: read -r pkg arch sum <<<"$spec"
	f=$(fetch "$pkg" "$arch" "$sum") || exit 1
	debs+=("$f")
done

if [ "${1:-}" = --depends ]; then
	for f in "${debs[@]}"; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' |
		sed -E 's/\(.*\)//; s/\|.*//; s/[[:space:]]//g' | grep -v '^qemu-system-' | grep . | sort -u
	exit 0
fi

bin=$Q/root/usr/bin/qemu-system-aarch64
if [ "$(cat "$Q/root/version" 2>/dev/null)" != "$QEMU_VERSION" ] || [ ! -x "$bin" ]; then
	rm -rf "$Q/root"
	for f in "${debs[@]}"; do dpkg-deb -x "$f" "$Q/root"; done
	echo "$QEMU_VERSION" >"$Q/root/version"
fi
missing=$(ldd "$bin" 2>&1 | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | tr '\n' ' ')
[ -z "$missing" ] || die "the pinned QEMU misses libraries: $missing" \
	"run 'make deps' (it installs the Depends: of base/qemu.conf's packages)"
"$bin" -L "$Q/root/usr/share/qemu" --version >>"$log" 2>&1 ||
	die "${bin#"$TOP"/} does not run" "see ${log#"$TOP"/}"
echo "$bin"
