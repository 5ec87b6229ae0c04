// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the x86_64 guest of make check's x86_ats step (scripts/x86-check.sh):
 * q35 with QEMU's Intel VT-d (device-iotlb=on, so its DMAR table has an ATSR)
 * and a virtio-blk disk with an ATS capability behind a PCIe root port. The
 * PCI ATS core runs live through the Intel IOMMU driver:
 *
 *   intel_iommu_probed          a dmar* IOMMU, the DMAR table's ATSR parsed
 *   ats_enabled_after_probe     the disk is bound, in a DMA domain, and its ATS
 *                               Control register (cap + 6) has Enable (bit 15)
 *   virtio_blk_read_through_vtd the whole disk read with O_DIRECT: SHA-256 is
 *                               the host's (guest.sha_vda=)
 *   identity_domain_clears_ats  guest.x86_cycles= times: unbind, group type
 *                               identity -> ATS Control Enable clear; rebind,
 *                               still clear, the disk reads right (no
 *                               translation)
 *   dma_domain_sets_ats_again   unbind, group type DMA, rebind -> Enable set
 *   virtio_blk_read_after_domain_switches
 *                               the disk reads right in every DMA domain
 *   kernel_log_clean            no WARNING, cut here, BUG, Oops, DMAR fault
 *
 * Diagnostic lines "x86-ats: sid 0x...." (the disk's requester ID, for the
 * host's count of device-TLB invalidations in QEMU's trace),
 * "x86-ats: ats_ctrl <step> 0x....", one per step, and "x86-ats: mark N
 * <step>" around each identity-domain window (see mark()).
 * Output between "harness-guest: begin" and "harness-guest: end" is KTAP.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_BLK_MODERN	0x1042

static char bdf[32];
static unsigned int ats_pos;	/* offset of the ATS capability, 0 if none */

/* ATS Control, or -1 when it cannot be read. */
static int ats_ctrl(const char *step)
{
	unsigned int c;
	int ctrl = ats_pos && pci_ats_cap(bdf, &c) == ats_pos ? (int)c : -1;

	printf("x86-ats: ats_ctrl %s 0x%04x\n", step, ctrl < 0 ? 0xffff : ctrl);
	fflush(stdout);
	return ctrl;
}

/*
 * A marker in QEMU's trace (pci_cfg_write): the running number n written into
 * the host bridge's Interrupt Line register (0x3c, a scratch register no
 * driver uses), announced on the console. The host counts the device-TLB
 * invalidations between markers 2k-1 and 2k, the identity-domain windows.
 */
static void mark(const char *label)
{
	static unsigned char n;
	int fd = open("/sys/bus/pci/devices/0000:00:00.0/config", O_WRONLY);

	n++;
	if (fd < 0 || pwrite(fd, &n, 1, 0x3c) != 1)
		printf("x86-ats: mark %u failed: %s\n", n, strerror(errno));
	else
		printf("x86-ats: mark %u %s\n", n, label);
	if (fd >= 0)
		close(fd);
	fflush(stdout);
}

static bool ats_on(int ctrl)
{
	return ctrl >= 0 && (ctrl & PCI_ATS_CTRL_ENABLE);
}

static void driver_of(char *drv, size_t len)
{
	char path[128];

	snprintf(drv, len, "-");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	link_basename(path, drv, len);
}

static void domain_type(char *type, size_t len)
{
	snprintf(type, len, "-");
	read_filef(type, len, "/sys/bus/pci/devices/%s/iommu_group/type", bdf);
}

/* Write the group's default domain type (the driver must be unbound). */
static int set_type(const char *type)
{
	char grp[32] = "", path[128];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	if (link_basename(path, grp, sizeof(grp)))
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/type", grp);
	return write_file(path, type);
}

static int unbind(void)
{
	return write_file("/sys/bus/pci/drivers/virtio-pci/unbind", bdf);
}

static int bind(void)
{
	return write_file("/sys/bus/pci/drivers/virtio-pci/bind", bdf);
}

/* The block device of the disk (virtioN/block/vdX), waited for up to 5 s. */
static int disk_name(char *name, size_t len)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < 500; i++, usleep(10000)) {
		DIR *d, *b;
		struct dirent *e, *f;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
		d = opendir(path);
		if (!d)
			return -errno;
		*name = 0;
		while (!*name && (e = readdir(d))) {
			char blk[PATH_MAX + 300];

			if (strncmp(e->d_name, "virtio", 6))
				continue;
			snprintf(blk, sizeof(blk), "%s/%s/block", path, e->d_name);
			b = opendir(blk);
			while (b && !*name && (f = readdir(b)))
				if (f->d_name[0] != '.')
					snprintf(name, len, "/dev/%s", f->d_name);
			if (b)
				closedir(b);
		}
		closedir(d);
		if (*name && !access(name, R_OK))
			return 0;
	}
	return -ENODEV;
}

/* Read the whole disk by DMA; true when its SHA-256 is the host's. */
static bool disk_ok(const char *step, char *why, size_t len)
{
	const char *want = cmdline_get("guest.sha_vda");
	char dev[64], hex[65] = "";
	size_t bytes = 0;
	uint64_t t0 = now_ns();
	int ret;

	ret = disk_name(dev, sizeof(dev));
	if (!ret)
		ret = disk_sha256(dev, hex, &bytes);
	if (ret) {
		snprintf(why, len, "%s: reading the disk: %s", step, strerror(-ret));
		return false;
	}
	printf("    # %s: %s %zu KiB in %llu ms, sha256 %.16s...\n", step, dev, bytes >> 10,
	       (unsigned long long)(now_ns() - t0) / 1000000, hex);
	if (!want || strcmp(want, hex) || !bytes) {
		snprintf(why, len, "%s: sha256 %s, the host's %s", step, hex,
			 want ? want : "(no guest.sha_vda=)");
		return false;
	}
	return true;
}

static void test_probed(void)
{
	DIR *d = opendir("/sys/class/iommu");
	struct dirent *e;
	char *log = kernel_log();
	int n = 0;
	bool atsr = log && strstr(log, "DMAR: ATSR");

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "dmar", 4))
			n++;
	if (d)
		closedir(d);
	free(log);
	ktap_result(n >= 1 && atsr, "intel_iommu_probed",
		    "%d dmar* in /sys/class/iommu, 'DMAR: ATSR' in the kernel log: %s", n,
		    atsr ? "yes" : "no");
}

static bool test_after_probe(void)
{
	char drv[32], type[32];
	unsigned int c;
	int ctrl;

	ats_pos = pci_ats_cap(bdf, &c);
	ctrl = ats_ctrl("probe");
	driver_of(drv, sizeof(drv));
	domain_type(type, sizeof(type));
	printf("    # %s: ATS capability at 0x%x, driver %s, domain %s\n", bdf, ats_pos, drv, type);
	ktap_result(ats_pos && ats_on(ctrl) && !strcmp(drv, "virtio-pci") && !strcmp(type, "DMA"),
		    "ats_enabled_after_probe",
		    "ATS capability at 0x%x, ATS Control 0x%04x (want Enable, 0x8000), driver %s, domain %s (want virtio-pci, DMA)",
		    ats_pos, ctrl & 0xffff, drv, type);
	return ats_pos != 0;
}

static void test_cycles(int cycles)
{
	char id_why[256] = "", dma_why[256] = "", rd_why[256] = "";
	char step[32], type[32], drv[32];
	int c, ret, ctrl;

	for (c = 1; c <= cycles; c++) {
		char *why = id_why;
		size_t wl = sizeof(id_why);

		/* Identity: ATS off with the driver unbound and bound again. */
		ret = unbind();
		snprintf(step, sizeof(step), "c%d_unbound", c);
		ats_ctrl(step);	/* informative: a plain unbind may leave ATS on */
		if (ret && !*why)
			snprintf(why, wl, "cycle %d: unbind: %s", c, strerror(-ret));
		ret = set_type("identity");
		if (ret && !*why)
			snprintf(why, wl, "cycle %d: type identity: %s", c, strerror(-ret));
		snprintf(step, sizeof(step), "c%d_identity", c);
		ctrl = ats_ctrl(step);
		mark(step);	/* from here to the next mark: no ATS, no device-TLB */
		if (ats_on(ctrl) && !*why)
			snprintf(why, wl, "cycle %d: ATS Control 0x%04x in the identity domain (unbound)", c, ctrl);
		ret = bind();
		driver_of(drv, sizeof(drv));
		domain_type(type, sizeof(type));
		if ((ret || strcmp(drv, "virtio-pci") || strcmp(type, "identity")) && !*why)
			snprintf(why, wl, "cycle %d: bind in identity: %s, driver %s, domain %s", c,
				 ret ? strerror(-ret) : "ok", drv, type);
		snprintf(step, sizeof(step), "c%d_identity_bound", c);
		ctrl = ats_ctrl(step);
		if (ats_on(ctrl) && !*why)
			snprintf(why, wl, "cycle %d: ATS Control 0x%04x in the identity domain (bound)", c, ctrl);
		if (!*why)
			disk_ok(step, why, wl);

		/* DMA: ATS on again. */
		snprintf(step, sizeof(step), "c%d_identity_end", c);
		mark(step);
		why = dma_why;
		wl = sizeof(dma_why);
		ret = unbind();
		if (ret && !*why)
			snprintf(why, wl, "cycle %d: unbind: %s", c, strerror(-ret));
		ret = set_type("DMA");
		if (ret && !*why)
			snprintf(why, wl, "cycle %d: type DMA: %s", c, strerror(-ret));
		snprintf(step, sizeof(step), "c%d_dma_unbound", c);
		ats_ctrl(step);	/* informative: set when the DMA domain is attached */
		ret = bind();
		driver_of(drv, sizeof(drv));
		domain_type(type, sizeof(type));
		if ((ret || strcmp(drv, "virtio-pci") || strcmp(type, "DMA")) && !*why)
			snprintf(why, wl, "cycle %d: bind in DMA: %s, driver %s, domain %s", c,
				 ret ? strerror(-ret) : "ok", drv, type);
		snprintf(step, sizeof(step), "c%d_dma_bound", c);
		ctrl = ats_ctrl(step);
		if (!ats_on(ctrl) && !*why)
			snprintf(why, wl, "cycle %d: ATS Control 0x%04x in the DMA domain (bound)", c, ctrl & 0xffff);
		if (!*rd_why)
			disk_ok(step, rd_why, sizeof(rd_why));
	}
	ktap_result(!*id_why, "identity_domain_clears_ats", "%s", id_why);
	ktap_result(!*dma_why, "dma_domain_sets_ats_again", "%s", dma_why);
	ktap_result(!*rd_why, "virtio_blk_read_after_domain_switches", "%s", rd_why);
}

static void test_log_clean(void)
{
	static const char *const bad[] = {
		"WARNING:", "cut here", "BUG:", "Oops", "Call Trace", "DMAR: DRHD: handling fault",
		"DMAR: [DMA", "DMAR: [INTR", "Invalidation Time-out", "DMAR: QI",
	};
	char *log = kernel_log();
	size_t i, n = 0;
	char first[160] = "";

	for (i = 0; log && i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p = strstr(log, bad[i]);

		if (!p)
			continue;
		n += count_substr(log, bad[i]);
		if (!*first) {
			const char *s = p, *e = strchr(p, '\n');

			while (s > log && s[-1] != '\n')
				s--;
			snprintf(first, sizeof(first), "%.*s", (int)((e ? e : p + strlen(p)) - s), s);
		}
	}
	ktap_result(log && !n, "kernel_log_clean", "%zu suspicious lines, first: %s",
		    n, log ? first : "(kernel log unreadable)");
	if (n) {	/* the whole log, for the host's report */
		printf("x86-ats: kernel log begin\n%s\nx86-ats: kernel log end\n", log);
		fflush(stdout);
	}
	free(log);
}

int main(void)
{
	const char *v;
	int cycles = 3, ret;

	/*
	 * Informational messages off the console (the KTAP must not interleave
	 * with them), warnings on it: with panic_on_warn=1 a WARN panics before
	 * the guest can report it, and the host finds the splat on the console.
	 */
	guest_setup(5);
	v = cmdline_get("guest.x86_cycles");
	if (v && atoi(v) > 0)
		cycles = atoi(v) < 100 ? atoi(v) : 100;	/* marks are one byte */
	printf("harness-guest: begin\n");
	ktap_begin("x86_ats", 7);
	ret = pci_find(VIRTIO_VENDOR, VIRTIO_BLK_MODERN, bdf, sizeof(bdf));
	if (!ret)
		printf("x86-ats: sid 0x%04x %s\n", pci_sid(bdf), bdf);
	test_probed();
	if (ret) {
		ktap_result(false, "ats_enabled_after_probe", "no virtio-blk PCI device: %s",
			    strerror(-ret));
		ktap_skip("virtio_blk_read_through_vtd", "no disk");
		ktap_skip("identity_domain_clears_ats", "no disk");
		ktap_skip("dma_domain_sets_ats_again", "no disk");
		ktap_skip("virtio_blk_read_after_domain_switches", "no disk");
	} else {
		char why[256] = "";
		bool ats = test_after_probe();

		ktap_result(disk_ok("probe", why, sizeof(why)), "virtio_blk_read_through_vtd", "%s", why);
		if (ats) {
			test_cycles(cycles);
		} else {
			ktap_skip("identity_domain_clears_ats", "no ATS capability");
			ktap_skip("dma_domain_sets_ats_again", "no ATS capability");
			ktap_skip("virtio_blk_read_after_domain_switches", "no ATS capability");
		}
	}
	test_log_clean();
	ktap_end();
	printf("harness-guest: end\n");
	guest_poweroff();
	return 0;
}
