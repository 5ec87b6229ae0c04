# Harness for the ARM SMMUv3 / PCI ATS series on Linux 6.12 (see README.md).
# Each target is a verb; the work is in scripts/, one script a job.
#
# Variables: SERIES=none (unpatched base)  EXTRA_PATCHES="a.patch ..."
#            FORCE=1 (make tree over unexported work)  JOBS=N
#            BOOT_TIMEOUT=s  KUNIT_ARGS='...'  GUEST_ARGS='...'
#            CHECK_X86=0 (make check skips its x86_ats step)
#            LAVA_URL=https://host/path (make lava: where a lab fetches build/lava/)
export LAVA_URL
export SERIES EXTRA_PATCHES FORCE JOBS BOOT_TIMEOUT KUNIT_ARGS GUEST_ARGS
export CHECK_MUTANTS CHECK_X86 CHECK_CONFIGS CONFIGS_ONLY CONFIG_BOOT_TIMEOUT X86_DIR X86_BOOT_TIMEOUT X86_CYCLES X86_GUEST_ARGS
export HARNESS_CACHE MUTANTS
export STRESS_SECS STRESS_OPS STRESS_PHASE_SECS STRESS_FAILSLAB_PCT STRESS_KASAN STRESS_DIR \
	STRESS_KEEP_TRACE STRESS_BOOT_TIMEOUT STRESS_PARALLEL BUILD_LOCK BUILD_NICE

S := scripts

.PHONY: help deps tree tree-use export kernel guest kunit check run shell clean
help:
	@echo "make deps     install what is missing with apt (pinned base included)"
	@echo "make tree     unpack the base, build/linux = base + patches/series (git am)"
	@echo "make export   write build/linux's base..HEAD back into patches/"
	@echo "make kunit    kunit.py run --arch=arm64 with configs/kunit.config"
	@echo "make kernel   build the arm64 boot kernel (out of tree, ccache)"
	@echo "make check    the test command: hygiene, KUnit at boot, guest tests"
	@echo "make x86-check  make check's x86_ats step alone: x86_64 kernel, ATS live through Intel VT-d"
	@echo "make configs  make check's configurations alone: minimal, no PCI_IOV/SVA, IOMMUFD, modules, clang, Debian"
	@echo "make series-check  patches/ metadata: sign-offs, subject prefixes, whitespace, cover diffstat"
	@echo "make run      boot it and show what the SMMU does"
	@echo "make shell    boot it with an interactive busybox shell"
	@echo "make bench    base vs series: SMMU commands per operation, costs in instructions (icount; ~3 min)"
	@echo "make stress   debug kernel (KASAN, lockdep, kmemleak, failslab): attach/DMA/rebind stress, no splat"
	@echo "make lava     LAVA jobs (QEMU s1, s2, nested; an arm64 server over the network) and their inputs in build/lava"
	@echo "              (LAVA_URL=https://... for a lab; LAVA_DEVICE_TYPE, LAVA_PCI_DEVICES for the server job)"
	@echo "make lava-check  as root: lava-run each job (the server job on QEMU + UEFI), LAVA's results checked case by case"
	@echo "make qemu     build the ATS boot's QEMU: the pinned release + qemu/patches (ats-testdev, SMMUv3 ATS)"
	@echo "make qemu-export  write build/qemu-ats/src's base..HEAD back into qemu/patches/"
	@echo "make mutants  each patch of tests/mutants/list on top of the series: its guest case must fail"
	@echo "make clean    remove build outputs (keeps the trees; the ccache is in HARNESS_CACHE)"
	@echo "Variables: SERIES=none  EXTRA_PATCHES=\"a.patch b.patch\"  FORCE=1"

deps:
	@$(S)/deps.sh
tree:
	@$(S)/tree.sh
# The targets that test the tree use work in progress in build/linux as it is.
tree-use:
	@TREE_USE=1 $(S)/tree.sh
export:
	@$(S)/export.sh
kernel: tree-use
	@$(S)/kernel.sh >/dev/null
guest: tree-use
	@$(S)/guest.sh
kunit: tree-use
	@$(S)/kunit.sh
check: tree-use
	@$(S)/check.sh
# make check's x86_ats step alone (x86_64 kernel, q35 + Intel VT-d, ATS live).
.PHONY: x86-check
x86-check: tree-use
	@$(S)/x86-check.sh
# make check's configurations step alone (scripts/configs.sh); CONFIGS_ONLY=...
.PHONY: configs
configs: tree-use
	@$(S)/configs.sh
# From patches/ alone (no tree, no build); also part of make check.
.PHONY: series-check
series-check:
	@$(S)/series-check.sh
run: tree-use
	@$(S)/run.sh
shell: tree-use
	@$(S)/shell.sh
# Boots base and series alternately (BENCH_RUNS=5 each per SMMU, under icount); see scripts/bench.sh.
.PHONY: bench
bench: tree-use
	@$(S)/bench.sh
# Debug kernel + guest.mode=stress (STRESS_SECS=150); see scripts/stress.sh.
.PHONY: stress
stress: tree-use
	@$(S)/stress.sh
# LAVA jobs of the guest tests (scripts/lava.sh); lava-check runs them with lava-run.
.PHONY: lava lava-check
lava: tree-use
	@$(S)/lava.sh
lava-check: tree-use
	@$(S)/lava-check.sh
# The QEMU of the ATS boot (scripts/qemu-build.sh): make check builds it too.
.PHONY: qemu qemu-export mutants
qemu:
	@$(S)/qemu-build.sh
qemu-export:
	@$(S)/qemu-build.sh export
# tests/mutants/list: each deliberate bug must make its guest case fail.
mutants: tree-use
	@$(S)/mutants.sh
clean:
	rm -rf build/out build/*/out build/configs build/clang-out build/*/clang-out build/debian-out build/*/debian-out build/x86/boot-out build/x86/out build/*/x86-boot-out build/*/x86-out build/*/x86 build/modules-out build/warn-out build/lava-server-out \
		build/kunit build/*/kunit \
		build/guest build/qemu build/logs build/lava \
		build/stress-out build/stress-lite-out build/*/stress-out build/*/stress-lite-out build/stress \
		build/qemu-ats/build build/qemu-ats/stamp
