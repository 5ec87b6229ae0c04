#!/usr/bin/env bash
# make kunit: the fast loop. kunit.py run for arm64 under QEMU with the
# project's kunitconfig (the SMMUv3 and PCI ATS suites), build dir build/kunit
# (build/<variant>/kunit for SERIES=none / EXTRA_PATCHES). KUNIT_ARGS adds
# kunit.py options, e.g. KUNIT_ARGS='--raw_output=all' or a filter glob.
. "$(dirname "$0")/lib.sh"

select_variant
kdir=$BUILD/kunit
[ "$VARIANT" = main ] || kdir=$BUILD/$VARIANT/kunit
[ -f "$SRC/tools/testing/kunit/kunit.py" ] || die "no kernel tree at ${SRC#"$TOP"/}" "run 'make tree' first"
mkdir -p "$kdir"
# kunit.py runs qemu-system-aarch64 from PATH: the pinned one, whatever the
# machine has installed (a fresh machine has none)
qemu_aarch64_on_path
info "kunit.py run --arch=arm64 (build dir ${kdir#"$TOP"/}, log ${VLOGS#"$TOP"/}/kunit.log)"
cd "$SRC"
set +e
# shellcheck disable=SC2086
/usr/bin/python3 tools/testing/kunit/kunit.py run --arch=arm64 --cross_compile="$CROSS" \
	--kunitconfig="$TOP/configs/kunit.config" --build_dir="$kdir" --jobs="$JOBS" \
	--timeout=300 ${KUNIT_ARGS:-} 2>&1 | tee "$VLOGS/kunit.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || die "kunit.py run failed (status $rc)" "full log: ${VLOGS#"$TOP"/}/kunit.log"
