#!/usr/bin/env bash
# make kernel: configure (allnoconfig + fragments) and build the arm64 boot
# kernel of the selected variant out of tree with ccache.
#
#   CONFIGS="kunit qemu"   fragments from configs/, in order (default)
#   KOUT=dir               build directory (default: build/out of the variant)
#   KLOGS=dir              where config.log and build.log go (default: the
#                          variant's logs dir)
#   KTARGETS="Image ..."   what to build (default Image)
#
# Every build is W=1 with the diagnostics wrapper (diag_wrapper, lib.sh;
# KMAKE_ARGS overrides): the boot kernel, the per-patch builds of hygiene.sh,
# the configurations and the debug kernel compile with the same flags, so
# ccache serves one from another wherever their sources and options coincide,
# and each object's W=1 diagnostics stay beside it.
#
# A symbol set twice in the fragments takes its last value (as Kconfig does),
# so a fragment can override an earlier one (configs/matrix/modules.config).
#
# Prints the Image path on the last line of stdout.
. "$(dirname "$0")/lib.sh"

select_variant
CONFIGS=${CONFIGS:-kunit qemu}
OUT=${KOUT:-$OUT}
VLOGS=${KLOGS:-$VLOGS}

[ -f "$SRC/Makefile" ] || die "no kernel tree at ${SRC#"$TOP"/}" "run 'make tree' first"

# configure SRC OUT: (re)configure only when the fragments changed.
configure() {
	local frag=$OUT/harness.config c
	mkdir -p "$OUT"
	: >"$frag.new"
	for c in $CONFIGS; do
		[ -f "$TOP/configs/$c.config" ] || die "configs/$c.config does not exist" \
			"CONFIGS names fragments in configs/ without the .config suffix"
		cat "$TOP/configs/$c.config" >>"$frag.new"
	done
	if [ -f "$OUT/.config" ] && cmp -s "$frag.new" "$frag"; then
		rm "$frag.new"
		return 0
	fi
	mv "$frag.new" "$frag"
	info "configuring ${OUT#"$TOP"/} (allnoconfig + $CONFIGS)"
	run_logged "$VLOGS/config.log" kmake KCONFIG_ALLCONFIG="$frag" allnoconfig
	# Every symbol the fragments ask for must have survived Kconfig (its
	# last value in the fragments).
	local line sym want got bad=()
	declare -A last=()
	local order=()
	while read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*} want=${line#*=} ;;
		"# CONFIG_"*" is not set") sym=${line#\# } sym=${sym%% *} want=n ;;
		*) continue ;;
		esac
		[ -n "${last[$sym]:-}" ] || order+=("$sym")
		last[$sym]=$want
	done <"$frag"
	for sym in "${order[@]}"; do
		want=${last[$sym]}
		got=$(grep -E "^$sym=|^# $sym is not set" "$OUT/.config" || true)
		case $want in
		n) [ -z "$got" ] || [ "$got" = "# $sym is not set" ] || bad+=("$sym: wanted n, got ${got#*=}") ;;
		*) [ "$got" = "$sym=$want" ] || bad+=("$sym: wanted $want, got ${got:-unset}") ;;
		esac
	done
	# A symbol that this tree does not define at all (a KUnit suite the series
	# adds, on SERIES=none) is reported, not fatal.
	local keep=() b
	for b in "${bad[@]}"; do
		sym=${b%%:*}
		if grep -rqx --include='Kconfig*' "config ${sym#CONFIG_}" "$SRC"; then
			keep+=("$b")
		else
			warn "$sym is not defined in ${SRC#"$TOP"/} (added by the series?): left out"
		fi
	done
	bad=("${keep[@]}")
	if [ ${#bad[@]} != 0 ]; then
		rm -f "$frag"
		die "Kconfig did not take these symbols (unmet dependencies?):" "${bad[@]}" \
			"see 'make -C ${SRC#"$TOP"/} O=${OUT#"$TOP"/} ARCH=arm64 menuconfig' (search with /)"
	fi
	ok "configured: every symbol of the fragments is set"
}

if [ -z "${KMAKE_ARGS:-}" ]; then
	diag_wrapper "${CROSS}gcc"
	export KMAKE_ARGS="W=1 CC=$WRAP"
fi
configure
info "building ${SRC#"$TOP"/} -> ${OUT#"$TOP"/} (log: ${VLOGS#"$TOP"/}/build.log)"
start=$SECONDS
# shellcheck disable=SC2086 # KTARGETS is a list
run_logged "$VLOGS/build.log" kmake ${KTARGETS:-Image}
ok "${KTARGETS:-Image} built in $((SECONDS - start)) s"
echo "$OUT/arch/arm64/boot/Image"
