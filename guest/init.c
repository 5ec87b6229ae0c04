// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the test initramfs. The kernel command line selects the mode:
 *
 *   guest.mode=check   run the guest tests and print KTAP (make check)
 *   guest.mode=run     print what the SMMU is doing, for a person (make run)
 *   guest.mode=shell   start /bin/busybox sh if the initramfs has it
 *   guest.mode=bench   measure the SMMU's command counts and throughput
 *                      (make bench; bench.c). The last guest.mode= on the
 *                      command line wins, so GUEST_ARGS can override boot.sh's.
 *   guest.mode=stress  attach/DMA/rebind stress under fault injection (make
 *                      stress; stress.c), then the kernel log since /init
 *
 * guest.sha_vda= and guest.sha_nvme= carry the host's SHA-256 of the disks.
 * guest.smmu= names QEMU's SMMU configuration (s1, s2, nested) and
 * guest.smmu_features= the features word Linux must print for it.
 * guest.vfio_cycles= sets the number of VFIO container cycles (default 200).
 *
 * Run as a program (make lava's /bin/guest-tests) with the argument
 * "server", it runs the tests that suit any arm64 machine with an SMMUv3
 * (suite guest_server): the SMMUs probed, the driven PCI functions in DMA
 * domains, the KUnit suites of the boot, the ATS section (ats.c) over the
 * PCI functions named after "server" (every function with an ATS capability
 * if none is named; "ats_expect=0" says ATS must stay off), a clean kernel
 * log.
 *
 * The output between "harness-guest: begin" and "harness-guest: end" is the
 * guest's KTAP; the host extracts it from the console log.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "harness.h"

/* Trace markers around the ATS boot's first read of the virtio disk */
#define ATC_WINDOW_BEGIN	0xa1
#define ATC_WINDOW_END		0xa2

#define EDU_ID		0x00
#define PCI_COMMAND	0x04
#define PCI_COMMAND_MASTER 0x4

/* The edu DMA test: sizes and IOVAs (edu's default DMA mask is 28 bits). */
#define DMA_LEN		2048	/* QEMU 7.2's edu aborts the VM at exactly 4096 */
#define IOVA_SRC	0x100000
#define IOVA_DST	0x200000
#define IOVA_UNMAPPED	0x800000
#define FAULT_LEN	64	/* one translation fault per 4 bytes */
#define CONSOLE_PROBES	100	/* guest.console_noise: lines before, after modules */

static bool run_mode;	/* make run: human output instead of KTAP */
/*
 * Run as a program, not as PID 1 (make lava: /bin/guest-tests, started by
 * LAVA's test shell under busybox init, whose /etc/rc has mounted /proc, /sys,
 * /dev and debugfs): no mounts, and an exit instead of the power-off.
 * As PID 1 (/init of every other boot) nothing changes.
 */
static bool as_program;

/* finish(ret): PID 1 powers off; a program exits, status 1 if ret != 0. */
static void finish(int ret)
{
	if (!as_program)
		guest_poweroff();
	fflush(stdout);
	exit(ret ? 1 : 0);
}

int bench_main(void);	/* bench.c */
int stress_main(void);	/* stress.c: guest.mode=stress (make stress) */
void stress_dump_kmsg(void);

/* The value of the last guest.mode= on the command line (later wins). */
static const char *last_mode(void)
{
	static char cmdline[4096], mode[32];
	char *p, *q = NULL;

	if (read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		return NULL;
	for (p = cmdline; (p = strstr(p, "guest.mode=")); p++)
		if (p == cmdline || p[-1] == ' ')
			q = p + strlen("guest.mode=");
	if (!q)
		return NULL;
	snprintf(mode, sizeof(mode), "%.*s", (int)strcspn(q, " "), q);
	return mode;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (run_mode) {
		vprintf(fmt, ap);
		printf("\n");
	} else {
		printf("    # ");
		vprintf(fmt, ap);
		printf("\n");
	}
	va_end(ap);
	fflush(stdout);
}

/* --- SMMU and groups ----------------------------------------------------- */

static int test_smmu_probed(bool server)
{
	DIR *d = opendir("/sys/class/iommu");
	struct dirent *e;
	char *log = kernel_log(), *p;
	unsigned long feat = 0;
	size_t lines = count_substr(log, "(features 0x");
	int n = 0;

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "smmu3.", 6)) {
			out("iommu: %s", e->d_name);
			n++;
		}
	if (d)
		closedir(d);
	p = log ? strstr(log, "features 0x") : NULL;
	if (p) {
		sscanf(p, "features %lx", &feat);
		out("SMMUv3 features 0x%08lx", feat);
	}
	if (log && strstr(log, "option mask"))
		out("SMMUv3 options reported at probe");
	free(log);
	if (server) {
		/* Every SMMU printed its features word */
		ktap_result(n >= 1 && lines >= (size_t)n, "smmuv3_probed",
			    "%d smmu3.* in /sys/class/iommu, %zu features lines in the kernel log",
			    n, lines);
	} else if (!run_mode) {
		const char *v = cmdline_get("guest.smmu_features");
		char want[32], smmu[32];
		bool ok;

		/* cmdline_get() returns one static buffer: copy each value */
		snprintf(want, sizeof(want), "%s", v ? v : "any");
		v = cmdline_get("guest.smmu");
		snprintf(smmu, sizeof(smmu), "%s", v ? v : "?");
		ok = n == 1 && p && (!strcmp(want, "any") || strtoul(want, NULL, 0) == feat);
		ktap_result(ok, "smmuv3_probed",
			    "%d smmu3.* in /sys/class/iommu, features 0x%08lx%s (want %s for QEMU's SMMU configuration %s)",
			    n, feat, p ? "" : " (line missing)", want, smmu);
	}
	return n == 1 && p;
}

/*
 * Every PCI device that a kernel driver drives is in an IOMMU group with a DMA
 * domain. On this 6.12 base the IOMMU probes a device when a driver binds
 * (dma_configure), so devices without a driver have no group yet: they are
 * listed but not counted (edu is checked once vfio-pci has it).
 */
static int test_groups(int min)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int n = 0, bad = 0;

	if (run_mode)
		out("%-13s %-9s %-10s %5s  %s", "PCI device", "id", "driver", "group", "domain");
	while (d && (e = readdir(d))) {
		char ven[16] = "0x?", dev[16] = "0x?", drv[32] = "-", grp[16] = "-";
		char type[32] = "-", path[256];

		if (e->d_name[0] == '.')
			continue;
		read_filef(ven, sizeof(ven), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		read_filef(dev, sizeof(dev), "/sys/bus/pci/devices/%s/device", e->d_name);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", e->d_name);
		link_basename(path, drv, sizeof(drv));
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", e->d_name);
		link_basename(path, grp, sizeof(grp));
		read_filef(type, sizeof(type), "/sys/bus/pci/devices/%s/iommu_group/type", e->d_name);
		out("%-13s %s:%s %-10s %5s  %s", e->d_name, ven + 2, dev + 2, drv, grp,
		    strcmp(drv, "-") ? type : "(no driver, not probed by the IOMMU yet)");
		if (!strcmp(drv, "-"))
			continue;
		n++;
		if (strcmp(type, "DMA") && strcmp(type, "DMA-FQ"))
			bad++;
	}
	if (d)
		closedir(d);
	if (!run_mode)
		ktap_result(n >= min && !bad, "pci_devices_in_dma_domains",
			    "%d of %d driven PCI devices are not in a DMA domain (at least %d expected)",
			    bad, n, min);
	return n >= min && !bad;
}

/* The default domain type of the PCI function above a block device. */
static void disk_domain(const char *name, char *type, size_t len)
{
	char link[64], path[PATH_MAX], *slash;

	snprintf(link, sizeof(link), "/sys/block/%s", name);
	if (!realpath(link, path))
		return;
	while ((slash = strrchr(path, '/')) && slash != path) {
		char grp[PATH_MAX + 32];

		snprintf(grp, sizeof(grp), "%s/iommu_group/type", path);
		if (read_file(grp, type, len) > 0)
			return;
		*slash = 0;
	}
}

/* --- Disks read through the SMMU -------------------------------------------- */

static int check_disk(const char *name, const char *key, const char *test)
{
	const char *want = cmdline_get(key);
	char dev[64], hex[65], type[32] = "?";
	size_t bytes = 0;
	uint64_t t0;
	int ret;

	snprintf(dev, sizeof(dev), "/dev/%s", name);
	disk_domain(name, type, sizeof(type));
	t0 = now_ns();
	ret = disk_sha256(dev, hex, &bytes);
	if (ret) {
		if (!run_mode)
			ktap_result(false, test, "reading %s: %s", dev, strerror(-ret));
		else
			out("%s: read failed: %s", dev, strerror(-ret));
		return 0;
	}
	out("%s: %zu KiB by DMA in %llu ms, sha256 %.16s..., domain %s", dev, bytes >> 10,
	    (unsigned long long)(now_ns() - t0) / 1000000, hex, type);
	if (run_mode) {
		out("%s: checksum %s the host's", dev, want && !strcmp(want, hex) ? "matches" : "DIFFERS from");
		return 1;
	}
	/* Only a read through a DMA domain proves translation by the SMMU. */
	ktap_result(want && !strcmp(want, hex) && bytes > 0 &&
		    (!strcmp(type, "DMA") || !strcmp(type, "DMA-FQ")), test,
		    "sha256 %s, host says %s, domain %s", hex, want ? want : "(nothing)", type);
	return 1;
}

/* --- ATS ------------------------------------------------------------------ */

/*
 * The virtio disk sits behind a PCIe root port with an ATS capability. Debian's
 * QEMU's SMMUv3 has no ATS, so the series leaves the capability alone: the
 * device probes, is translated, and its ATS Control register is 0 (not
 * enabled, STU field untouched). On the ATS SMMU (the features word has ATS,
 * 0x20: the QEMU of qemu/patches) ATS is enabled at attach to its DMA domain:
 * 0x8000 (Enable, STU 0 for 4 KiB pages).
 */
/*
 * The default domain of the NVMe function switched to identity and back to
 * DMA through sysfs (no driver bound while it changes): each switch rewrites
 * the STE between translating (stage 1 or stage 2, as the SMMU has) and
 * bypass, and the disk must read right in both. QEMU's NVMe is 1b36:0010.
 */
static int nvme_type_and_read(const char *bdf, const char *type, char *got, size_t len,
			      char hex[65])
{
	char path[256];
	size_t bytes;
	int ret, ms;

	ret = pci_unbind(bdf);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group/type", bdf);
	ret = write_file(path, type);
	if (ret)
		return ret;
	if (read_file(path, got, len) < 0)
		return -EIO;
	ret = pci_bind(bdf, "nvme");
	if (ret)
		return ret;
	/*
	 * The namespace appears from the controller's asynchronous scan; its
	 * sysfs entry comes a little before the block device opens (ENXIO).
	 */
	for (ms = 0;; ms += 10) {
		ret = access("/sys/block/nvme0n1", F_OK) ? -ENOENT :
		      disk_sha256("/dev/nvme0n1", hex, &bytes);
		if ((ret != -ENOENT && ret != -ENXIO) || ms >= 10000)
			return ret == -ENOENT ? -ETIMEDOUT : ret;
		usleep(10000);
	}
}

static void test_group_type_switches(void)
{
	const char *want = cmdline_get("guest.sha_nvme");
	char bdf[32], t1[32] = "?", t2[32] = "?", h1[65] = "", h2[65] = "";
	int r1 = -ENODEV, r2 = -ENODEV;

	if (!pci_find(0x1b36, 0x0010, bdf, sizeof(bdf))) {
		r1 = nvme_type_and_read(bdf, "identity", t1, sizeof(t1), h1);
		r2 = nvme_type_and_read(bdf, "DMA", t2, sizeof(t2), h2);
	}
	ktap_result(!r1 && !r2 && want && !strcmp(t1, "identity") && !strcmp(h1, want) &&
		    !strcmp(t2, "DMA") && !strcmp(h2, want), "group_type_switches",
		    "nvme DMA -> %s: %s, sha256 %s; -> %s: %s, sha256 %s (host says %s)",
		    t1, strerror(-r1), h1[0] ? (want && !strcmp(h1, want) ? "matches" : "DIFFERS") : "-",
		    t2, strerror(-r2), h2[0] ? (want && !strcmp(h2, want) ? "matches" : "DIFFERS") : "-",
		    want ? "so" : "nothing");
}

#ifndef VFIO_TYPE1_NESTING_IOMMU
#define VFIO_TYPE1_NESTING_IOMMU 6
#endif

/*
 * A VFIO type1 container of the nesting flavour: Linux 6.12 offers it, but
 * arm_smmu_enable_nesting() refuses a domain that is already finalized, which
 * every domain VFIO allocates is (iommu_paging_domain_alloc()), so the
 * SET_IOMMU fails with EPERM on every SMMU, as on the base. The refusal must
 * be clean: the same container then takes type1v2 and maps.
 */
static void test_vfio_nesting_refused(const char *bdf)
{
	char path[256], grp[32];
	int c = -1, g = -1, ext = -1, nest = 0, nest_err = 0, v2 = -1, map = -1;
	void *buf = NULL;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	if (link_basename(path, grp, sizeof(grp)))
		goto out;
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
	c = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	g = open(path, O_RDWR | O_CLOEXEC);
	if (c < 0 || g < 0 || ioctl(g, VFIO_GROUP_SET_CONTAINER, &c))
		goto out;
	ext = ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_NESTING_IOMMU);
	nest = ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_NESTING_IOMMU);
	nest_err = nest ? errno : 0;
	v2 = ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
	if (!v2) {
		struct vfio v = { .container = c, .group = g, .device = -1 };

		buf = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		map = buf == MAP_FAILED ? -ENOMEM : vfio_map(&v, buf, IOVA_SRC, 1 << 16);
		if (!map)
			map = vfio_unmap(&v, IOVA_SRC, 1 << 16);
	}
out:
	ktap_result(nest && nest_err == EPERM && !v2 && !map, "vfio_nesting_container_refused",
		    "CHECK_EXTENSION(NESTING) %d, SET_IOMMU(NESTING) %s, then SET_IOMMU(TYPE1v2) %s, map+unmap %s",
		    ext, nest ? strerror(nest_err) : "succeeded", v2 ? strerror(errno) : "ok",
		    map ? strerror(map < 0 ? -map : EIO) : "ok");
	if (buf && buf != MAP_FAILED)
		munmap(buf, 1 << 16);
	if (g >= 0)
		close(g);
	if (c >= 0)
		close(c);
}

static int test_ats_capable_device(void)
{
	char bdf[32], path[128], drv[32] = "-", type[32] = "-";
	const char *feat = cmdline_get("guest.smmu_features");
	unsigned int ctrl = 0, want = feat && (strtoul(feat, NULL, 16) & 0x20) ? 0x8000 : 0;
	bool found;

	if (pci_find(0x1af4, 0x1042, bdf, sizeof(bdf))) {
		ktap_result(false, "ats_capable_device_probes", "no virtio-blk device");
		return 0;
	}
	found = pci_ats_cap(bdf, &ctrl);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	link_basename(path, drv, sizeof(drv));
	read_filef(type, sizeof(type), "/sys/bus/pci/devices/%s/iommu_group/type", bdf);
	out("%s: ATS capability %s, ATS Control 0x%04x, driver %s, domain %s", bdf,
	    found ? "present" : "MISSING", ctrl, drv, type);
	if (!run_mode)
		ktap_result(found && ctrl == want && !strcmp(drv, "virtio-pci") &&
			    !strcmp(type, "DMA"), "ats_capable_device_probes",
			    "ATS cap %s, ctrl 0x%x (want 0x%x), driver %s, domain %s",
			    found ? "found" : "absent", ctrl, want, drv, type);
	return found && ctrl == want;
}

/* --- VFIO ---------------------------------------------------------------- */

struct reader {
	atomic_bool stop;
	int passes, errors;
	const char *dev, *want;
};

/* Re-read a disk through its DMA domain while VFIO attaches another group. */
static void *reader_fn(void *arg)
{
	struct reader *r = arg;
	char hex[65];
	size_t bytes;

	while (!atomic_load(&r->stop)) {
		if (disk_sha256(r->dev, hex, &bytes) || !r->want || strcmp(hex, r->want))
			r->errors++;
		r->passes++;
	}
	return NULL;
}

#define RESETS 3
#define RESET_CYCLES 24		/* fixed: the boots compare their SMMU commands */

struct cycler {
	const char *bdf;
	atomic_int cycles;
	int err;
	char *buf;
};

/*
 * RESET_CYCLES VFIO containers on another group, 20 ms apart, while the main
 * thread resets a device: a fixed number, so that every SMMU configuration
 * consumes the same commands, paced so that they overlap the resets.
 */
static void *cycler_fn(void *arg)
{
	struct cycler *c = arg;
	struct vfio v;
	int i;

	for (i = 0; i < RESET_CYCLES && !c->err; i++) {
		c->err = vfio_open(&v, c->bdf, false);
		if (c->err)
			break;
		memset(c->buf, i & 0xff, 1 << 16);
		c->err = vfio_map(&v, c->buf, 0x1000000, 1 << 16) ?:
			 vfio_unmap(&v, 0x1000000, 1 << 16);
		vfio_close(&v);
		atomic_store(&c->cycles, i + 1);
		usleep(20000);
	}
	return NULL;
}

/*
 * Function resets (sysfs reset: nvme's FLR, wrapped in
 * pci_dev_reset_iommu_prepare()/done()) of the nvme disk, with its driver
 * bound, while another thread cycles VFIO containers on edu's group: each
 * reset completes, the disk then reads right through its DMA domain, and the
 * SMMU reports no event.
 */
static void test_reset_during_vfio_cycles(const char *edu, const char *nvme)
{
	struct cycler c = { .bdf = edu, .buf = aligned_alloc(1 << 16, 1 << 16) };
	const char *want = cmdline_get("guest.sha_nvme");
	char path[160], hex[65] = "", method[64] = "";
	size_t bytes = 0, events;
	int i, ret = 0, resets = 0, rd = -1, before, during = 0;
	uint64_t t0;
	pthread_t th;
	char *log;

	log = kernel_log();
	events = count_substr(log, "event 0x");
	free(log);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method", nvme);
	read_file(path, method, sizeof(method));
	method[strcspn(method, "\n")] = 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", nvme);
	pthread_create(&th, NULL, cycler_fn, &c);
	t0 = now_ns();
	for (i = 0; i < RESETS && !ret; i++) {
		/* after cycles 2, 10 and 18 */
		while (atomic_load(&c.cycles) < 2 + 8 * i && !c.err)
			usleep(1000);
		before = atomic_load(&c.cycles);
		ret = write_file(path, "1");
		during += atomic_load(&c.cycles) - before;
		resets += !ret;
	}
	pthread_join(th, NULL);
	free(c.buf);
	if (!ret)
		rd = disk_sha256("/dev/nvme0n1", hex, &bytes);
	log = kernel_log();
	events = count_substr(log, "event 0x") - events;
	free(log);
	out("reset: %d of %d resets of nvme %s (method %s) in %llu ms, %d VFIO cycles of edu, %d of them during a reset%s; nvme0n1 then reads %s; %zu SMMU event(s)",
	    resets, RESETS, nvme, method[0] ? method : "?",
	    (unsigned long long)(now_ns() - t0) / 1000000, atomic_load(&c.cycles), during,
	    c.err ? " (a cycle failed)" : "", rd ? "FAILED" :
	    want && !strcmp(hex, want) ? "right" : "WRONG", events);
	ktap_result(resets == RESETS && !c.err && atomic_load(&c.cycles) == RESET_CYCLES &&
		    during > 0 && !rd && want && !strcmp(hex, want) && !events,
		    "pci_reset_during_vfio_cycles",
		    "%d of %d resets (%s)%s, %d of %d VFIO cycles, %d during a reset (want > 0)%s, nvme sha256 %s (host says %s), %zu SMMU events",
		    resets, RESETS, method, ret ? ": the last failed" : "", atomic_load(&c.cycles),
		    RESET_CYCLES, during, c.err ? ", one failed" : "", rd ? "unread" : hex,
		    want ? want : "(nothing)", events);
}

static int test_vfio_cycles(const char *bdf)
{
	const char *s = cmdline_get("guest.vfio_cycles");
	int cycles = s ? atoi(s) : 200, i, j, err = 0, maps = 0;
	struct reader r = { .dev = "/dev/nvme0n1", .want = cmdline_get("guest.sha_nvme") };
	const size_t sz = 1 << 20;
	char *buf = aligned_alloc(1 << 21, 4 * sz);
	pthread_t th;
	uint64_t t0;
	const char *what = "";

	memset(buf, 0x5a, 4 * sz);
	pthread_create(&th, NULL, reader_fn, &r);
	t0 = now_ns();
	for (i = 0; i < cycles && !err; i++) {
		struct vfio v;

		err = vfio_open(&v, bdf, false);
		if (err) {
			what = "open/attach";
			break;
		}
		for (j = 0; j < 4 && !err; j++) {
			err = vfio_map(&v, buf + j * sz, 0x1000000 + j * sz, sz);
			what = "map";
			maps += !err;
		}
		for (j = 0; j < 4 && !err; j++) {
			err = vfio_unmap(&v, 0x1000000 + j * sz, sz);
			what = "unmap";
		}
		vfio_close(&v);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	out("VFIO: %d container cycles (attach, 4 x 1 MiB map+unmap, detach) in %llu ms",
	    i, (unsigned long long)(now_ns() - t0) / 1000000);
	out("VFIO: meanwhile %d full read(s) of nvme0n1 through its DMA domain, %d bad", r.passes, r.errors);
	free(buf);
	if (run_mode)
		return !err;
	ktap_result(!err && i == cycles, "vfio_container_cycles",
		    "cycle %d: %s failed: %s", i, what, strerror(-err));
	ktap_result(!r.errors && r.passes > 0, "dma_during_vfio_cycles",
		    "%d of %d nvme reads during the cycles mismatched", r.errors, r.passes);
	return !err;
}

static int test_edu_dma(const char *bdf)
{
	struct vfio v;
	volatile uint32_t *bar;
	size_t barsz;
	uint8_t *src = aligned_alloc(4096, 4096), *dst = aligned_alloc(4096, 4096);
	uint16_t cmd;
	char *log;
	int ret, i, ok = 0;
	size_t before, after, others;

	ret = vfio_open(&v, bdf, true);
	if (ret) {
		if (!run_mode) {
			ktap_result(false, "edu_dma_through_vfio", "vfio_open: %s", strerror(-ret));
			ktap_result(false, "edu_dma_unmapped_iova_faults", "not run");
		}
		return 0;
	}
	bar = vfio_mmap_bar(&v, 0, &barsz);
	for (i = 0; i < 4096; i++) {
		src[i] = (uint8_t)(i * 7 + 3);
		dst[i] = 0;
	}
	ret = !bar ? -ENXIO : 0;
	if (!ret)
		ret = vfio_cfg_read16(&v, PCI_COMMAND, &cmd);
	if (!ret)
		ret = vfio_cfg_write16(&v, PCI_COMMAND, cmd | PCI_COMMAND_MASTER);
	if (!ret)
		ret = vfio_map(&v, src, IOVA_SRC, 4096);
	if (!ret)
		ret = vfio_map(&v, dst, IOVA_DST, 4096);
	if (!ret && (bar[EDU_ID / 4] & 0xff) != 0xed)
		ret = -ENODEV;
	if (!ret) {
		edu_dma(bar, IOVA_SRC, EDU_BUF, DMA_LEN, 0);
		ret = edu_wait(bar, 1000);
	}
	if (!ret) {
		edu_dma(bar, EDU_BUF, IOVA_DST, DMA_LEN, EDU_CMD_TO_RAM);
		ret = edu_wait(bar, 1000);
	}
	if (!ret) {
		ok = !memcmp(src, dst, DMA_LEN);
		for (i = DMA_LEN; i < 4096 && ok; i++)
			ok = dst[i] == 0;
	}
	out("edu %s: DMA %d bytes IOVA 0x%x -> device -> IOVA 0x%x through a VFIO domain: %s",
	    bdf, DMA_LEN, IOVA_SRC, IOVA_DST, ret ? strerror(-ret) : ok ? "data matches" : "DATA DIFFERS");
	if (!run_mode)
		ktap_result(!ret && ok, "edu_dma_through_vfio", "%s",
			    ret ? strerror(-ret) : "data differs");

	/* A DMA from an IOVA that is not mapped must fault in the SMMU. */
	log = kernel_log();
	before = count_substr(log, "event 0x10 received");
	others = count_substr(log, "event 0x");
	free(log);
	edu_dma(bar, IOVA_UNMAPPED, EDU_BUF, FAULT_LEN, 0);
	ret = edu_wait(bar, 1000);
	usleep(20000);
	log = kernel_log();
	after = count_substr(log, "event 0x10 received");
	others = count_substr(log, "event 0x") - others - (after - before);
	free(log);
	/* The host checks the exact events in QEMU's trace against this line. */
	printf("%sharness-expect-smmu-events: SMMU_EVT_F_TRANSLATION sid=0x%x count=%d\n",
	       run_mode ? "" : "    # ", pci_sid(bdf), FAULT_LEN / 4);
	out("edu DMA from unmapped IOVA 0x%x: %zu translation fault event(s) reported by the driver",
	    IOVA_UNMAPPED, after - before);
	if (!run_mode)
		ktap_result(!ret && after > before && !others, "edu_dma_unmapped_iova_faults",
			    "wait %s, %zu F_TRANSLATION reports, %zu other events",
			    strerror(-ret), after - before, others);
	vfio_unmap(&v, IOVA_SRC, 4096);
	vfio_unmap(&v, IOVA_DST, 4096);
	vfio_close(&v);
	free(src);
	free(dst);
	return ok;
}

/*
 * Nothing suspicious in the kernel log, KUnit included: the suites provoke
 * the caller bugs of drivers/pci/ats.c through a static stub, without a WARN
 * (and the kernel boots with panic_on_warn=1).
 */
static int test_kernel_log_clean(void)
{
	static const char *const bad[] = {
		"WARNING:", "BUG:", "Oops", "KASAN:", "UBSAN:", "Call trace:",
		"possible recursive locking", "suspicious RCU usage",
		"C_BAD_STE", "C_BAD_CD", "gerror",
	};
	char *log = kernel_log(), *after;
	size_t i, n = 0;

	if (!log) {
		ktap_result(false, "kernel_log_clean", "cannot read the kernel log");
		return 0;
	}
	after = (char *)kunit_end(log);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t c = count_substr(after, bad[i]);

		if (c)
			out("kernel log after KUnit: %zu x \"%s\"", c, bad[i]);
		n += c;
	}
	/* During KUnit: the same */
	*after = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t c = count_substr(log, bad[i]);

		if (c)
			out("kernel log during KUnit: %zu x \"%s\"", c, bad[i]);
		n += c;
	}
	free(log);
	ktap_result(!n, "kernel_log_clean", "%zu suspicious line(s) in the kernel log", n);
	return !n;
}

/*
 * With the SMMU driver a module, the disks probe once it has bound (their
 * probe was deferred until then): wait for them. Returns the milliseconds
 * waited, negative when they did not appear within timeout_ms.
 */
static int wait_for_disks(int timeout_ms)
{
	int ms;

	for (ms = 0; ms < timeout_ms; ms += 10) {
		if (!access("/sys/block/vda", F_OK) &&
		    !access("/sys/block/nvme0n1", F_OK))
			return ms;
		usleep(10000);
	}
	return -ms;
}

/*
 * The KUnit suites of the boot (server mode: on hardware they are not parsed
 * by the host): every top-level result line in the kernel log must be "ok".
 */
static void test_kunit_passed(void)
{
	char *log = kernel_log(), *l, *save, failed[256] = "";
	int ok = 0, bad = 0;

	for (l = log ? strtok_r(log, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		char *t = strstr(l, "] ");

		t = t ? t + 2 : l;	/* after the timestamp */
		if (!strncmp(t, "ok ", 3)) {
			ok++;
		} else if (!strncmp(t, "not ok ", 7)) {
			size_t n = strlen(failed);

			bad++;
			snprintf(failed + n, sizeof(failed) - n, " %s", t + 7);
		}
	}
	free(log);
	if (!ok && !bad)
		ktap_skip("kunit_suites_passed", "no KUnit results in the kernel log (kunit.enable=0?)");
	else
		ktap_result(!bad, "kunit_suites_passed", "%d suite(s) ok, %d not ok:%s", ok, bad,
			    failed);
}

/* make lava's server tests: /bin/guest-tests server [BDF...] [ats_expect=0] */
static int server_main(int argc, char **argv)
{
	/* NULL-terminated lists of the BDFs and of the key=value arguments */
	const char **bdfs = calloc(argc, sizeof(*bdfs)), **args = calloc(argc, sizeof(*args));
	int i, nb = 0, na = 0, ret;

	if (!bdfs || !args) {
		free(bdfs);
		free(args);
		return 1;
	}
	for (i = 2; i < argc; i++) {
		if (strchr(argv[i], '='))
			args[na++] = argv[i];
		else
			bdfs[nb++] = argv[i];
	}
	/*
	 * VFIO's type1 attach refuses a platform without MSI isolation (a
	 * GICv2m, as on QEMU's virt machine) unless told: the kernel command
	 * line is the lab's, so it is said here.
	 */
	if (write_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "1"))
		printf("harness: cannot set vfio_iommu_type1.allow_unsafe_interrupts\n");
	printf("harness-guest: begin\n");
	ktap_begin("guest_server", 10);
	test_smmu_probed(true);
	test_groups(1);
	test_kunit_passed();
	ats_section(bdfs, args, NULL);
	test_kernel_log_clean();
	ktap_end();
	printf("harness-guest: end\n");
	ret = ktap_failed;
	free(bdfs);
	free(args);
	return ret;
}

static void shell(void)
{
	char *const argv[] = { "/bin/busybox", "sh", NULL };

	if (access(argv[0], X_OK)) {
		printf("harness: no /bin/busybox in this initramfs (see README: make shell)\n");
		return;
	}
	printf("harness: guest shell; 'poweroff -f' or Ctrl-A x leaves\n");
	fflush(stdout);
	if (!fork()) {
		setsid();
		ioctl(0, TIOCSCTTY, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	while (wait(NULL) > 0)
		;
}

int main(int argc, char **argv)
{
	int mods, mods_failed, mods_waited = 0;
	const char *mode;
	char edu[32] = "";
	int has_edu;

	as_program = getpid() != 1;
	if (!as_program) {
		const char *noise;

		guest_mount();
		/*
		 * Every line as a kernel log record (console.c);
		 * guest.console=tty keeps the old way, to show what
		 * guest.console_noise does to it
		 */
		noise = cmdline_get("guest.console");
		if (!noise || strcmp(noise, "tty"))
			console_to_kmsg();
		noise = cmdline_get("guest.console_noise");
		if (noise)
			console_noise_start(atoi(noise), CONSOLE_PROBES);
	}
	/* Modules first, while their KUnit KTAP still reaches the console */
	mods = !access("/lib/modules/load", R_OK);
	mods_failed = guest_load_modules();
	console_noise_finish(CONSOLE_PROBES);
	/* Kernel messages off the console: noise for the KTAP, slow under TCG */
	klogctl(8 /* SYSLOG_ACTION_CONSOLE_LEVEL */, NULL, 1);
	if (mods)
		mods_waited = wait_for_disks(30000);
	if (as_program && argc > 1 && !strcmp(argv[1], "server"))
		finish(server_main(argc, argv));
	mode = last_mode();
	if (!mode)
		mode = "check";
	if (!strcmp(mode, "stress")) {
		int ret;

		printf("harness-guest: begin\n");
		ret = stress_main();
		printf("harness-guest: end\n");
		printf("harness-stress-status: %s\n", ret ? "failed" : "ok");
		stress_dump_kmsg();
		finish(ret);
	}
	if (!strcmp(mode, "bench")) {
		int ret;

		printf("harness-guest: begin\n");
		ret = bench_main();
		printf("harness-bench-status: %s\n", ret ? "failed" : "ok");
		printf("harness-guest: end\n");
		finish(ret);
	}
	run_mode = !strcmp(mode, "run");
	has_edu = !pci_find(EDU_VENDOR, EDU_DEVICE, edu, sizeof(edu));

	if (!strcmp(mode, "shell")) {
		shell();
		finish(0);
	}
	printf("harness-guest: begin\n");
	if (run_mode) {
		test_smmu_probed(false);
		test_groups(2);
		check_disk("vda", "guest.sha_vda", NULL);
		check_disk("nvme0n1", "guest.sha_nvme", NULL);
		test_ats_capable_device();
		if (has_edu && !pci_bind(edu, "vfio-pci")) {
			test_vfio_cycles(edu);
			test_edu_dma(edu);
		} else {
			out("edu device not found or not bindable to vfio-pci");
		}
	} else {
		const char *smmu = cmdline_get("guest.smmu"), *v;
		char suite[64] = "guest", sha_vda[80];
		bool ats_boot;
		int ret;

		/* The s1 boot is "guest"; the other SMMU configurations get their own */
		if (smmu && strcmp(smmu, "s1"))
			snprintf(suite, sizeof(suite), "guest_smmu_%s", smmu);
		/* The ATS SMMU (qemu/patches): the ATC section too */
		ats_boot = smmu && !strcmp(smmu, "ats");
		ktap_begin(suite, 20 + mods + (ats_boot ? atc_cases() : 0));
		if (mods)
			ktap_result(!mods_failed && mods_waited >= 0, "modules_loaded",
				    "%d module(s) failed to load; disks %s after %d ms",
				    mods_failed, mods_waited >= 0 ? "present" : "missing",
				    mods_waited >= 0 ? mods_waited : -mods_waited);
		test_smmu_probed(false);
		test_groups(2);
		/*
		 * The ATS SMMU: the virtio disk has ATS on, in the DMA domain it
		 * shares with its root port (one group: the port has no ACS).
		 * The host checks QEMU's trace between the two markers: every
		 * unmap of that domain during the read must send CMD_ATC_INV to
		 * the disk's stream (scripts/smmu-trace.py).
		 */
		if (ats_boot)
			host_bridge_mark(ATC_WINDOW_BEGIN);
		check_disk("vda", "guest.sha_vda", "virtio_blk_read_through_smmu");
		if (ats_boot) {
			char vblk[32] = "";

			host_bridge_mark(ATC_WINDOW_END);
			pci_find(0x1af4, 0x1042, vblk, sizeof(vblk));
			printf("    # harness-atc-window: 0x%x 0x%x sid=0x%x (the virtio disk's read)\n",
			       ATC_WINDOW_BEGIN, ATC_WINDOW_END, vblk[0] ? pci_sid(vblk) : 0);
		}
		check_disk("nvme0n1", "guest.sha_nvme", "nvme_read_through_smmu");
		test_ats_capable_device();
		test_group_type_switches();
		/* cmdline_get() returns one static buffer: a copy */
		v = cmdline_get("guest.sha_vda");
		snprintf(sha_vda, sizeof(sha_vda), "%s", v ? v : "");
		ats_section(NULL, NULL, sha_vda[0] ? sha_vda : NULL);
		if (ats_boot)
			atc_section();
		ret = has_edu ? pci_bind(edu, "vfio-pci") : -ENODEV;
		if (has_edu)
			ktap_result(!ret, "edu_bound_to_vfio_pci", "edu %s: %s", edu, strerror(-ret));
		else
			ktap_result(false, "edu_bound_to_vfio_pci", "no edu device (%04x:%04x) on the PCI bus",
				    EDU_VENDOR, EDU_DEVICE);
		if (!ret) {
			test_vfio_nesting_refused(edu);
			test_vfio_cycles(edu);
			char nvme[32];

			if (!pci_find(0x1b36, 0x0010, nvme, sizeof(nvme)))
				test_reset_during_vfio_cycles(edu, nvme);
			else
				ktap_result(false, "pci_reset_during_vfio_cycles",
					    "no nvme device (1b36:0010)");
			test_edu_dma(edu);
		} else {
			ktap_skip("vfio_nesting_container_refused", "edu not bound");
			ktap_skip("vfio_container_cycles", "edu not bound");
			ktap_skip("pci_reset_during_vfio_cycles", "edu not bound");
			ktap_skip("dma_during_vfio_cycles", "edu not bound");
			ktap_skip("edu_dma_through_vfio", "edu not bound");
			ktap_skip("edu_dma_unmapped_iova_faults", "edu not bound");
		}
		test_kernel_log_clean();
		ktap_end();
	}
	printf("harness-guest: end\n");
	finish(run_mode ? 0 : ktap_failed);
	return 0;
}
