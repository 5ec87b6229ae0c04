#!/usr/bin/env bash
# qemu-build.sh [export]: the QEMU of the ATS boot, built from source with the
# project's QEMU patches (qemu/patches/series) on the same upstream release as
# the pinned binary (base/qemu.conf), qemu-system-aarch64 only.
#
#   build/qemu-ats/src     git tree: the source tarball (commit tagged "base",
#                          made reproducibly) + the queue, applied with git am
#   build/qemu-ats/tools   meson and pycotap from bookworm-backports (pinned)
#   build/qemu-ats/build   the meson build; its qemu-system-aarch64 is the result
#
# Rebuilt only when the pin, the queue, qemu/devices.mak or this script
# changes (build/qemu-ats/stamp); through ccache (the harness's cache); a
# binary built from the same stamp in another clone is copied from
# HARNESS_CACHE/qemu-ats instead (below).
# The tree is reset to the queue with git, so unchanged files keep their
# times and ninja recompiles only what a changed patch touches. Work in
# progress in build/qemu-ats/src (commits after the queue, uncommitted
# changes) is built as it is, and "qemu-build.sh export" writes its
# base..HEAD back into qemu/patches/.
# The last line printed is the path of qemu-system-aarch64.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../base/qemu.conf
. "$TOP/base/qemu.conf"

Q=$BUILD/qemu-ats
QP=$TOP/qemu/patches
SRC=$Q/src OUTQ=$Q/build TOOLS=$Q/tools
st=$BUILD/qemu10/apt
log=$LOGS/qemu-build.log
mkdir -p "$Q" "$LOGS"
# One build at a time (make check's lanes, a boot of make run meanwhile)
exec 9>"$Q/.lock"
flock 9

qseries() {
	[ -f "$QP/series" ] || die "qemu/patches/series is missing" "list the QEMU patches there, one a line"
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$QP/series"
}

# The queue's own commits beyond the applied series (work in progress)?
wip_in_tree() {
	[ -d "$SRC/.git" ] || return 1
	[ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] && return 0
	[ "$(git -C "$SRC" rev-parse HEAD)" != "$(cat "$Q/applied" 2>/dev/null)" ]
}

if [ "${1:-}" = export ]; then
	[ -d "$SRC/.git" ] || die "build/qemu-ats/src does not exist" "run scripts/qemu-build.sh first"
	[ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
		die "build/qemu-ats/src has uncommitted changes" "commit them before exporting"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	git -C "$SRC" format-patch -q --zero-commit --no-signature --numbered -o "$tmp" base..HEAD
	rm -f "$QP"/[0-9][0-9][0-9][0-9]-*.patch
	mv "$tmp"/*.patch "$QP/"
	{
		echo "# The QEMU queue, in order (scripts/qemu-build.sh export writes it)."
		(cd "$QP" && ls [0-9][0-9][0-9][0-9]-*.patch)
	} >"$QP/series"
	git -C "$SRC" rev-parse HEAD >"$Q/applied"
	ok "exported $(git -C "$SRC" rev-list --count base..HEAD) QEMU patch(es) into qemu/patches/"
	exit 0
fi

# --- inputs, each verified ----------------------------------------------------
IFS=: read -r orig_name orig_sum orig_size <<<"$QEMU_SRC_ORIG"
orig=$st/$orig_name
fetch_orig() {
	if [ -f "$orig" ] && [ "$(sha256sum "$orig" | cut -d' ' -f1)" = "$orig_sum" ]; then
		[ -f "$HARNESS_CACHE/downloads/$orig_name" ] || cache_put "$orig"
		return 0
	fi
	mkdir -p "$st"
	cache_get "$orig_name" "$orig_sum" "$orig" && return 0
	if [ -z "$QEMU_ARCHIVE" ]; then
		QEMU_ARCHIVE=$(debian_archive) || die "no Debian archive for this release in the machine's apt sources" \
			"set QEMU_ARCHIVE=<a Debian mirror's URL>"
	fi
	local url=$QEMU_ARCHIVE/pool/main/q/qemu/$orig_name
	info "fetching $orig_name ($((orig_size >> 20)) MiB) from $QEMU_ARCHIVE"
	mkdir -p "$st"
	/usr/bin/python3 - "$url" "$orig.part" <<'EOF' >>"$log" 2>&1 ||
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)
EOF
		die "could not download $url" "the archive no longer serves QEMU's source of $QEMU_VERSION?" \
			"update QEMU_SRC_ORIG in base/qemu.conf (with the pinned binary) in a commit of its own; log: ${log#"$TOP"/}"
	local got
	got=$(sha256sum "$orig.part" | cut -d' ' -f1)
	[ "$got" = "$orig_sum" ] || die "checksum mismatch for $orig_name" \
		"base/qemu.conf pins $orig_sum, the archive served $got" \
		"check the archive; change the pin only in a commit of its own that says why"
	mv "$orig.part" "$orig"
	cache_put "$orig"
}

# meson >= 1.5 and pycotap (QEMU's configure wants both; bookworm has
# neither), from bookworm-backports through the private apt state of
# scripts/qemu-fetch.sh, unpacked, never installed.
fetch_tools() {
	local spec pkg arch ver sum f want
	want=$(echo "$QEMU_BUILD_DEBS" | sha256sum | cut -d' ' -f1)
	[ "$(cat "$TOOLS/.pin" 2>/dev/null)" = "$want" ] && return 0
	rm -rf "$TOOLS"
	mkdir -p "$TOOLS"
	for spec in $QEMU_BUILD_DEBS; do
		IFS='|' read -r pkg arch ver sum <<<"$spec"
		f=$st/${pkg}_${ver#*:}_$arch.deb
		if { [ ! -f "$f" ] || [ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sum" ]; } &&
			! cache_get "$(basename "$f")" "$sum" "$f"; then
			"$TOP/scripts/qemu-fetch.sh" --download "$pkg=$ver" ||
				die "could not download $pkg=$ver from $QEMU_SUITE" \
					"if that version is no longer served, update QEMU_BUILD_DEBS in base/qemu.conf"
			[ -f "$f" ] || mv "$st/${pkg}_${ver//:/%3a}_$arch.deb" "$f" 2>/dev/null || true
			[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] ||
				die "checksum mismatch for $pkg=$ver" "base/qemu.conf pins $sum"
		fi
		[ -f "$HARNESS_CACHE/downloads/$(basename "$f")" ] || cache_put "$f"
		dpkg-deb -x "$f" "$TOOLS"
	done
	echo "$want" >"$TOOLS/.pin"
}

# --- the source tree: base commit + the queue ----------------------------------
make_src() {
	info "unpacking $orig_name into build/qemu-ats/src"
	rm -rf "$SRC" "$Q/applied"
	mkdir -p "$SRC"
	tar -C "$SRC" --strip-components=1 -xJf "$orig" ||
		die "could not unpack $orig_name" "is the disk full? (df -h $BUILD)"
	git -C "$SRC" init -q
	git -C "$SRC" add -A
	GIT_AUTHOR_NAME=base GIT_AUTHOR_EMAIL=base@localhost GIT_COMMITTER_NAME=base \
		GIT_COMMITTER_EMAIL=base@localhost GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" \
		GIT_COMMITTER_DATE="2025-01-01T00:00:00Z" \
		git -C "$SRC" commit -q -m "QEMU $QEMU_VERSION source ($orig_name)"
	git -C "$SRC" tag base
}

apply_queue() {
	local p n=0
	git -C "$SRC" am --abort >/dev/null 2>&1 || true
	git -C "$SRC" checkout -q -f -B master base
	while read -r p; do
		n=$((n + 1))
		[ -f "$QP/$p" ] || die "qemu/patches/series lists '$p', which does not exist"
		if ! git -C "$SRC" -c user.name=harness -c user.email=harness@localhost am -q --keep-cr \
			"$QP/$p" >"$Q/am.log" 2>&1; then
			git -C "$SRC" am --show-current-patch=diff >/dev/null 2>&1 || true
			cat "$Q/am.log" >&2
			git -C "$SRC" am --abort >/dev/null 2>&1 || true
			die "QEMU patch $n ($p) does not apply to $orig_name" \
				"git am's message above names the file and hunk; rebase the patch in build/qemu-ats/src" \
				"(git am it by hand, fix, scripts/qemu-build.sh export)"
		fi
	done < <(qseries)
	git -C "$SRC" rev-parse HEAD >"$Q/applied"
}

stamp=$( {
	echo "$QEMU_SRC_ORIG $QEMU_BUILD_DEBS"
	qseries | while read -r p; do echo "$p"; sha256sum <"$QP/$p"; done
	cat "$TOP/qemu/devices.mak" "$0"
} | sha256sum | cut -d' ' -f1)
bin=$OUTQ/qemu-system-aarch64

if ! wip_in_tree && [ -x "$bin" ] && [ "$(cat "$Q/stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$bin"
	exit 0
fi

: >"$log"
fetch_orig
fetch_tools
if wip_in_tree; then
	warn "build/qemu-ats/src has work beyond qemu/patches: built as it is (scripts/qemu-build.sh export)"
else
	[ -d "$SRC/.git" ] && git -C "$SRC" rev-parse -q --verify base >/dev/null || make_src
	apply_queue
fi
cp "$TOP/qemu/devices.mak" "$SRC/configs/devices/aarch64-softmmu/harness.mak"

# The binary of the queue as exported is kept in HARNESS_CACHE/qemu-ats/<stamp>
# (lib.sh: outside the clone), so that a new clone of the same queue (CI's)
# copies it instead of building QEMU again from ccache; the three newest
# stamps are kept. Work in progress is never taken from, nor put there.
QC=$HARNESS_CACHE/qemu-ats
mkdir -p "$QC"
# (another clone may be pruning: the copy, the put and the prune under a lock)
exec 8>"$QC/.lock"
copied=
if ! wip_in_tree && flock 8 && [ -x "$QC/$stamp/qemu-system-aarch64" ] && mkdir -p "$OUTQ" &&
	cp "$QC/$stamp/qemu-system-aarch64" "$bin.$$" && mv -f "$bin.$$" "$bin"; then
	copied=1
	touch "$QC/$stamp" 2>/dev/null || true
fi
flock -u 8
rm -f "$bin.$$"
if [ -n "$copied" ]; then
	if "$bin" -L "$BUILD/qemu10/root/usr/share/qemu" -device ats-testdev,help >/dev/null 2>&1; then
		echo "$stamp" >"$Q/stamp"
		ok "QEMU with $(qseries | wc -l) patch(es): the binary built before, from ${QC/#"$HOME"/\~}/${stamp:0:12}"
		echo "$bin"
		exit 0
	fi
	warn "the QEMU binary of ${QC/#"$HOME"/\~}/${stamp:0:12} does not run here (or has no ats-testdev): building it"
	rm -f "$bin"
fi

export PYTHONPATH=$TOOLS/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
export PATH=$TOOLS/usr/bin:$PATH
# What the ATS boot needs and nothing else: aarch64 system emulation with the
# devices of qemu/devices.mak, the log trace backend (as Debian's binary),
# the system's libfdt.
conf=(--target-list=aarch64-softmmu --without-default-features --without-default-devices
	--with-devices-aarch64=harness --enable-fdt=system --disable-download
	--enable-trace-backends=log --disable-docs --disable-install-blobs
	--python=/usr/bin/python3 "--cc=ccache gcc")
if [ ! -f "$OUTQ/build.ninja" ] || [ "$(cat "$OUTQ/.harness-conf" 2>/dev/null)" != "${conf[*]}" ]; then
	info "configuring QEMU (build/qemu-ats/build; log ${log#"$TOP"/})"
	rm -rf "$OUTQ"
	mkdir -p "$OUTQ"
	(cd "$OUTQ" && "$SRC/configure" "${conf[@]}") >>"$log" 2>&1 || {
		tail_log "$log" 30
		die "QEMU's configure failed" "full log: ${log#"$TOP"/} (a missing -dev package: make deps installs them)"
	}
	echo "${conf[*]}" >"$OUTQ/.harness-conf"
fi
info "building qemu-system-aarch64 with the QEMU patches (ninja, ${JOBS} jobs; log ${log#"$TOP"/})"
t0=$SECONDS
nice -n "${BUILD_NICE:-0}" ninja -C "$OUTQ" -j"$JOBS" qemu-system-aarch64 >>"$log" 2>&1 || {
	grep -B2 -A12 -m3 'error:' "$log" >&2 || tail_log "$log" 40
	die "building QEMU failed" "full log: ${log#"$TOP"/}"
}
"$bin" -L "$BUILD/qemu10/root/usr/share/qemu" -device ats-testdev,help >/dev/null 2>&1 ||
	die "the QEMU built has no ats-testdev" "is CONFIG_ATS_TESTDEV in qemu/devices.mak?"
if ! wip_in_tree; then
	echo "$stamp" >"$Q/stamp"
	# keep the binary for other clones (never fatal: a full cache costs time)
	(
		flock 8
		mkdir -p "$QC/$stamp" && cp "$bin" "$QC/$stamp/.qemu-system-aarch64.$$" &&
			mv -f "$QC/$stamp/.qemu-system-aarch64.$$" "$QC/$stamp/qemu-system-aarch64" &&
			touch "$QC/$stamp"
		# shellcheck disable=SC2012 # names are stamps (hex)
		ls -1t "$QC" | tail -n +4 | while read -r old; do rm -rf "${QC:?}/$old"; done
	) 2>/dev/null || true
fi
ok "QEMU with $(qseries | wc -l) patch(es) built in $((SECONDS - t0)) s"
echo "$bin"
