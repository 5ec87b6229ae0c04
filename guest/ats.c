// SPDX-License-Identifier: GPL-2.0
/*
 * The ATS section of the guest tests (make check's boots, make lava's jobs on
 * QEMU and on servers). For every PCI function with an ATS capability, or for
 * the functions the caller names, the ATS state the SMMUv3 driver keeps must
 * match the function's ATS Control register through the life of a VFIO
 * container:
 *
 *   state                          domain              ATS Control Enable
 *   driver bound                   default (DMA)       expected
 *   vfio-pci, group in a container blocking            0
 *   VFIO_SET_IOMMU (type1v2)       VFIO's paging       expected
 *   container closed               default (DMA)       expected
 *   driver bound again             default (DMA)       expected
 *
 * "expected" is 1 when the SMMU of the function has ATS (bit 5 of the
 * features word it prints at probe) and the function has an ATS capability;
 * guest.ats_expect=0 on the kernel command line (or ats_expect=0 as an
 * argument of a program run) says ATS must stay off, e.g. behind a root
 * complex whose firmware does not declare ATS.
 *
 * With kprobe events (CONFIG_KPROBE_EVENTS) the driver's calls are counted
 * as well, without a debug change to the series: pci_enable_ats() at the
 * attach (and its return value), pci_disable_ats() at the detach, and the
 * commands built by arm_smmu_cmdq_build_cmd(), whose second argument (struct
 * arm_smmu_cmdq_ent) starts with the opcode and has the ATC_INV's StreamID at
 * byte 8: at least one ATC_INV (0x40) for the function's streams for an unmap
 * with ATS, none without, and some TLB invalidation either way (which proves
 * the probe fires). The function's streams are its requester ID and the
 * StreamIDs of the ATC_INV the driver sends when it enables ATS at attach. A kernel without kprobe events, or one where the compiler inlined a
 * probed function, skips those counts and says so.
 *
 * A function with a block device is read (its first 64 MiB, O_DIRECT) before
 * the VFIO container and after its driver is bound again: both checksums
 * must match, and the host's when it gave one (QEMU's virtio disk).
 * Throughout, the SMMU driver must report no event.
 *
 * On QEMU the SMMUv3 model has no ATS: the cases that need ATS enabled are
 * skipped with that reason, after checking that ATS stayed off throughout and
 * that no ATC_INV was sent.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "harness.h"

#define ARM_SMMU_FEAT_ATS	(1 << 5)
#define CMDQ_OP_ATC_INV		0x40
#define ATS_MAX_FNS		16
#define ATS_READ_MAX		(64ul << 20)
#define ATS_IOVA		0x4000000
#define ATS_MAP_LEN		(1ul << 20)

/* The tracefs events this section defines, in the group "harness_ats". */
static const char *const kprobe_defs[] = {
	"p:harness_ats/ats_en pci_enable_ats",
	"r:harness_ats/ats_en_ret pci_enable_ats ret=$retval:s32",
	"p:harness_ats/ats_dis pci_disable_ats",
	"p:harness_ats/smmu_cmd arm_smmu_cmdq_build_cmd op=+0($arg2):x8 sid=+8($arg2):x32",
};

#define ATS_MAX_SIDS	8

struct kprobes {
	char dir[64];		/* tracefs, "" when unusable */
	char why[160];		/* why not */
	bool cmd_probe;		/* the smmu_cmd probe is in place */
};

/* What the trace recorded over one step. */
struct counts {
	int enable, enable_failed, disable, cmds;
	int atc_inv;		/* to the streams in sids[] (all if none) */
	int atc_inv_all;
	unsigned int seen[ATS_MAX_SIDS];	/* the StreamIDs of the ATC_INVs */
	int nseen;
};

struct ats_fn {
	char bdf[32];
	char driver[64];	/* bound at the start, "" if none */
	char block[32];		/* a block device below it, "" if none */
	unsigned int cap;	/* ATS capability offset, 0 if none */
	bool expect;		/* ATS must be enabled where a domain translates */
	unsigned long feat;	/* features word of its SMMU */
	bool feat_known;
};

static int tracefs_write(const struct kprobes *kp, const char *file, const char *val,
			 bool append)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", kp->dir, file);
	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void kprobes_teardown(struct kprobes *kp)
{
	size_t i;

	if (!kp->dir[0])
		return;
	tracefs_write(kp, "events/harness_ats/enable", "0", false);
	for (i = 0; i < sizeof(kprobe_defs) / sizeof(kprobe_defs[0]); i++) {
		char del[96];
		const char *name = kprobe_defs[i] + 2;

		snprintf(del, sizeof(del), "-:%.*s", (int)strcspn(name, " "), name);
		tracefs_write(kp, "kprobe_events", del, true);
	}
	kp->dir[0] = 0;
}

/* Define and enable the probes; on failure kp->dir is "" and kp->why says why. */
static void kprobes_setup(struct kprobes *kp)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	size_t i;
	int ret;

	memset(kp, 0, sizeof(*kp));
	mkdir("/sys/kernel/tracing", 0755);
	mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	for (i = 0; i < 2; i++) {
		char path[96];

		snprintf(path, sizeof(path), "%s/kprobe_events", dirs[i]);
		if (!access(path, W_OK)) {
			snprintf(kp->dir, sizeof(kp->dir), "%s", dirs[i]);
			break;
		}
	}
	if (!kp->dir[0]) {
		snprintf(kp->why, sizeof(kp->why),
			 "no kprobe_events in tracefs (a kernel without CONFIG_KPROBE_EVENTS)");
		return;
	}
	kprobes_teardown(kp);	/* leftovers of an earlier run */
	snprintf(kp->dir, sizeof(kp->dir), "%s", dirs[i]);
	for (i = 0; i < sizeof(kprobe_defs) / sizeof(kprobe_defs[0]); i++) {
		ret = tracefs_write(kp, "kprobe_events", kprobe_defs[i], true);
		if (ret && i == 3) {
			/* Only the command counts need it */
			ktap_diag("ATS: kprobe '%s': %s: no ATC_INV counts", kprobe_defs[i],
				  strerror(-ret));
			continue;
		}
		if (ret) {
			snprintf(kp->why, sizeof(kp->why), "kprobe '%s': %s", kprobe_defs[i],
				 strerror(-ret));
			kprobes_teardown(kp);
			return;
		}
		kp->cmd_probe |= i == 3;
	}
	tracefs_write(kp, "buffer_size_kb", "1024", false);
	ret = tracefs_write(kp, "events/harness_ats/enable", "1", false);
	if (ret) {
		snprintf(kp->why, sizeof(kp->why), "enabling the kprobe events: %s", strerror(-ret));
		kprobes_teardown(kp);
	}
}

static void trace_clear(const struct kprobes *kp)
{
	if (kp->dir[0])
		tracefs_write(kp, "trace", "", false);
}

/*
 * Count what the trace holds since trace_clear(); ATC_INVs to the nsids
 * StreamIDs in sids[] (every ATC_INV when nsids is 0).
 */
static void trace_count(const struct kprobes *kp, struct counts *c, const unsigned int *sids,
			int nsids)
{
	char path[128], line[512];
	FILE *f;

	memset(c, 0, sizeof(*c));
	if (!kp->dir[0])
		return;
	snprintf(path, sizeof(path), "%s/trace", kp->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (line[0] == '#')
			continue;
		if (strstr(line, " ats_en: ")) {
			c->enable++;
		} else if ((p = strstr(line, " ats_en_ret: "))) {
			p = strstr(p, "ret=");
			c->enable_failed += p && atoi(p + 4) != 0;
		} else if (strstr(line, " ats_dis: ")) {
			c->disable++;
		} else if ((p = strstr(line, " smmu_cmd: "))) {
			char *q = strstr(p, " sid=");
			unsigned int sid = q ? strtoul(q + 5, NULL, 0) : ~0u;
			int i, mine = !nsids;

			p = strstr(p, "op=");
			c->cmds++;
			if (!p || strtoul(p + 3, NULL, 0) != CMDQ_OP_ATC_INV)
				continue;
			c->atc_inv_all++;
			for (i = 0; i < nsids; i++)
				mine |= sids[i] == sid;
			c->atc_inv += mine;
			for (i = 0; i < c->nseen && c->seen[i] != sid; i++)
				;
			if (i == c->nseen && c->nseen < ATS_MAX_SIDS)
				c->seen[c->nseen++] = sid;
		}
	}
	fclose(f);
}


/* ATS Control Enable of f now: 1, 0, or -1 when it cannot be read. */
static int ats_enabled(const struct ats_fn *f)
{
	unsigned int ctrl;

	if (pci_ats_cap(f->bdf, &ctrl) != f->cap || !f->cap)
		return -1;
	return !!(ctrl & PCI_ATS_CTRL_ENABLE);
}

/*
 * The features word the SMMU of bdf printed at probe: its iommu link leads to
 * /sys/devices/.../<SMMU platform device>/iommu/smmu3.<address>, and the probe
 * line is "arm-smmu-v3 <platform device>: ias ... (features 0x...)".
 */
static bool smmu_features(const char *bdf, unsigned long *feat, const char *log)
{
	char link[128], path[PATH_MAX], pat[PATH_MAX + 8], *s;
	const char *p;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu", bdf);
	if (!realpath(link, path))
		return false;
	s = strrchr(path, '/');		/* /smmu3.<address> */
	if (!s)
		return false;
	*s = 0;
	s = strrchr(path, '/');		/* /iommu */
	if (!s)
		return false;
	*s = 0;
	s = strrchr(path, '/');		/* /<platform device> */
	if (!s)
		return false;
	snprintf(pat, sizeof(pat), " %s: ias ", s + 1);
	p = log ? strstr(log, pat) : NULL;
	if (p)
		p = strstr(p, "(features 0x");
	return p && sscanf(p, "(features %lx", feat) == 1;
}

/* The first block device whose sysfs path runs through bdf, "" if none. */
static void block_below(const char *bdf, char *name, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	char needle[40];

	name[0] = 0;
	snprintf(needle, sizeof(needle), "/%s/", bdf);
	while (d && (e = readdir(d))) {
		char link[300], path[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/sys/block/%s", e->d_name);
		if (realpath(link, path) && strstr(path, needle)) {
			snprintf(name, len, "%s", e->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
}

/* Wait up to 10 s for a block device below bdf (a driver probes it asynchronously). */
static void wait_block(const char *bdf, char *name, size_t len)
{
	int ms;

	for (ms = 0; ms < 10000; ms += 20) {
		char dev[64];
		int fd;

		block_below(bdf, name, len);
		if (name[0]) {
			snprintf(dev, sizeof(dev), "/dev/%s", name);
			fd = open(dev, O_RDONLY);
			if (fd >= 0) {
				close(fd);
				return;
			}
		}
		usleep(20000);
	}
}

/* Hash the first ATS_READ_MAX bytes of /dev/<name> (all by DMA, O_DIRECT). */
static int block_sha256(const char *name, char hex[65], size_t *bytes)
{
	char dev[64];

	snprintf(dev, sizeof(dev), "/dev/%s", name);
	return disk_sha256_max(dev, ATS_READ_MAX, hex, bytes);
}

/*
 * Give bdf back to the driver it had ("" for none): driver_override cleared,
 * the bus matches it again.
 */
static int rebind(const char *bdf, const char *driver)
{
	char path[128], cur[64];
	int ret;

	ret = pci_unbind(bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	write_file(path, "\n");
	if (ret || !driver[0])
		return ret;
	ret = write_file("/sys/bus/pci/drivers_probe", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	if (!ret && (link_basename(path, cur, sizeof(cur)) || strcmp(cur, driver)))
		ret = -ENODEV;
	return ret;
}

/* The devices of an IOMMU group with an ATS capability: each gets ATS with it. */
static int group_ats(const char *grp)
{
	char path[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", grp);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		unsigned int ctrl;

		n += e->d_name[0] != '.' && pci_ats_cap(e->d_name, &ctrl);
	}
	if (d)
		closedir(d);
	return n;
}

#define ATS_MAX_SIBLINGS	8

struct sibling {
	char bdf[32];
	char driver[64];
};

/*
 * VFIO takes a group only when none of its devices has a driver other than
 * vfio-pci (bridges on pcieport are tolerated): the other functions of a
 * multi-function device without ACS, say, go to vfio-pci for the while.
 * *n counts those moved or tried (their drivers in sib[], to give them back
 * even after a failure); returns 0 or -errno.
 */
static int take_siblings(const char *bdf, const char *grp, struct sibling *sib, int *pn)
{
	char path[128];
	struct dirent *e;
	DIR *d;
	int n = 0, ret = 0;

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", grp);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!ret && (e = readdir(d))) {
		char link[300], drv[64];

		if (e->d_name[0] == '.' || !strcmp(e->d_name, bdf))
			continue;
		snprintf(link, sizeof(link), "%s/%s/driver", path, e->d_name);
		if (link_basename(link, drv, sizeof(drv)) || !strcmp(drv, "pcieport") ||
		    !strcmp(drv, "vfio-pci"))
			continue;
		if (n == ATS_MAX_SIBLINGS) {
			ret = -E2BIG;
			break;
		}
		snprintf(sib[n].bdf, sizeof(sib[n].bdf), "%s", e->d_name);
		snprintf(sib[n].driver, sizeof(sib[n].driver), "%s", drv);
		n++;
		ktap_diag("ATS: %s shares group %s: from %s to vfio-pci meanwhile", e->d_name, grp, drv);
		ret = pci_bind(e->d_name, "vfio-pci");
	}
	closedir(d);
	*pn = n;
	return ret;
}

/* The function's default domain translates (DMA or DMA-FQ): ATS can be on in it. */
static bool default_translates(const char *bdf)
{
	char type[32] = "";

	read_filef(type, sizeof(type), "/sys/bus/pci/devices/%s/iommu_group/type", bdf);
	return !strcmp(type, "DMA") || !strcmp(type, "DMA-FQ");
}

/* Say whether want holds, and add to the reasons if not. */
/* One case's verdict over all functions: the reasons of what went wrong. */
struct verdict {
	bool failed;
	char why[512];
};

static void verdict_add(struct verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void verdict_add(struct verdict *v, const char *fmt, ...)
{
	size_t n = strlen(v->why);
	va_list ap;

	v->failed = true;
	if (n && n < sizeof(v->why) - 2) {
		strcpy(v->why + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(v->why + n, sizeof(v->why) - n, fmt, ap);
	va_end(ap);
}

/* Check got == want; if not, say so in v. Returns whether it held. */
static bool check(struct verdict *v, const char *bdf, const char *what, long got, long want)
{
	if (got != want)
		verdict_add(v, "%s %s %ld, want %ld", bdf, what, got, want);
	return got == want;
}

struct results {
	struct verdict attach, detach, inv, dma;
	int ats_fns;		/* functions where ATS was expected */
	int dma_fns;		/* functions with a block device read */
	int atc_inv, cmds;	/* over the unmaps */
};

static void test_fn(struct ats_fn *f, const struct kprobes *kp, struct results *r,
		    const char *host_sha)
{
	const size_t sz = ATS_MAP_LEN;
	char h1[65] = "", h2[65] = "", path[128], grp[32] = "?";
	int want = f->expect, want_def, e, c = -1, g = -1, ret, nsib = 0, i, gats = 0, nsids = 0;
	unsigned int sids[ATS_MAX_SIDS];
	struct sibling sib[ATS_MAX_SIBLINGS];
	size_t b1 = 0, b2 = 0;
	struct counts n;
	void *buf = MAP_FAILED;

	r->ats_fns += want;
	/* 1. With its driver, in its default domain (none without a driver) */
	want_def = want && default_translates(f->bdf);
	e = ats_enabled(f);
	check(&r->attach, f->bdf, "ATS Enable with its driver", e, want_def);
	if (f->block[0]) {
		ret = block_sha256(f->block, h1, &b1);
		if (ret) {
			check(&r->dma, f->bdf, "first read errno", -ret, 0);
			h1[0] = 0;
		}
	}
	ktap_diag("ATS: %s driver %s, block %s, ATS cap 0x%x, Enable %d (expected %d), SMMU features 0x%08lx%s",
		  f->bdf, f->driver[0] ? f->driver : "-", f->block[0] ? f->block : "-",
		  f->cap, e, want_def, f->feat, f->feat_known ? "" : " (not found)");

	/* 2. vfio-pci, the group in a container: the blocking domain */
	ret = pci_bind(f->bdf, "vfio-pci");
	/* Now probed by the IOMMU if it was not: its default domain */
	want_def = want && default_translates(f->bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", f->bdf);
	if (!ret)
		ret = link_basename(path, grp, sizeof(grp));
	if (!ret) {
		/* The driver's calls are per device: the whole group's count */
		gats = want ? group_ats(grp) : 0;
		ret = take_siblings(f->bdf, grp, sib, &nsib);
	}
	if (!ret) {
		struct vfio_group_status st = { .argsz = sizeof(st) };

		snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
		c = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		g = open(path, O_RDWR | O_CLOEXEC);
		if (c < 0 || g < 0 || ioctl(g, VFIO_GROUP_GET_STATUS, &st))
			ret = -errno;
		else if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
			ret = -EBUSY;	/* another device of the group has a driver */
	}
	trace_clear(kp);
	if (!ret && ioctl(g, VFIO_GROUP_SET_CONTAINER, &c))
		ret = -errno;
	if (ret) {
		char m[128];

		snprintf(m, sizeof(m), "vfio-pci/container (group %s) errno", grp);
		check(&r->attach, f->bdf, m, -ret, 0);
		goto out;
	}
	trace_count(kp, &n, NULL, 0);
	e = ats_enabled(f);
	check(&r->detach, f->bdf, "ATS Enable in the blocking domain", e, 0);
	if (kp->dir[0])
		check(&r->detach, f->bdf, "pci_disable_ats() calls to block", n.disable,
		      want_def ? gats : 0);
	ktap_diag("ATS: %s in a VFIO container (blocking domain): Enable %d, %d pci_disable_ats()",
		  f->bdf, e, n.disable);

	/* 3. VFIO's paging domain */
	trace_clear(kp);
	ret = ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) ? -errno : 0;
	trace_count(kp, &n, NULL, 0);
	/* The function's streams: its RID, and where the driver flushed its ATC */
	sids[nsids++] = pci_sid(f->bdf);
	for (i = 0; i < n.nseen && nsids < ATS_MAX_SIDS; i++)
		if (n.seen[i] != sids[0])
			sids[nsids++] = n.seen[i];
	e = ats_enabled(f);
	if (!check(&r->attach, f->bdf, "VFIO_SET_IOMMU errno", -ret, 0))
		goto out;
	check(&r->attach, f->bdf, "ATS Enable in VFIO's domain", e, want);
	if (kp->dir[0]) {
		check(&r->attach, f->bdf, "pci_enable_ats() calls to attach", n.enable, gats);
		check(&r->attach, f->bdf, "failed pci_enable_ats() calls", n.enable_failed, 0);
	}
	ktap_diag("ATS: %s attached to VFIO's domain: Enable %d, %d pci_enable_ats() (%d failed)",
		  f->bdf, e, n.enable, n.enable_failed);

	/* 4. An unmap: one ATC_INV per ATS stream, none without ATS */
	buf = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		   -1, 0);
	if (buf != MAP_FAILED) {
		struct vfio v = { .container = c, .group = g, .device = -1 };

		ret = vfio_map(&v, buf, ATS_IOVA, sz);
		trace_clear(kp);
		if (!ret)
			ret = vfio_unmap(&v, ATS_IOVA, sz);
		trace_count(kp, &n, sids, nsids);
	} else {
		ret = -ENOMEM;
	}
	check(&r->inv, f->bdf, "map+unmap errno", -ret, 0);
	if (kp->cmd_probe) {
		/* At least one with ATS (more if the unmap was split); none without */
		check(&r->inv, f->bdf, "ATC_INV commands for an unmap (0, or 1 for at least one)",
		      want ? n.atc_inv > 0 : n.atc_inv, want);
		/* The unmap invalidates the TLB: the probe must have seen it */
		check(&r->inv, f->bdf, "unmap built no command at all", n.cmds == 0, 0);
		r->atc_inv += n.atc_inv;
		r->cmds += n.cmds;
	}
	ktap_diag("ATS: %s unmap of %zu KiB: %d command(s) built, %d ATC_INV to its stream(s) (%d in all)",
		  f->bdf, sz >> 10, n.cmds, n.atc_inv, n.atc_inv_all);

	/* 5. The container closed: back to the default domain */
	trace_clear(kp);
	ioctl(g, VFIO_GROUP_UNSET_CONTAINER);
	close(g);
	close(c);
	c = g = -1;
	trace_count(kp, &n, NULL, 0);
	e = ats_enabled(f);
	check(&r->detach, f->bdf, "ATS Enable back in the default domain", e, want_def);
	if (kp->dir[0]) {
		/* VFIO detaches to the blocking domain, then gives the group back */
		check(&r->detach, f->bdf, "pci_disable_ats() calls to detach", n.disable, gats);
		check(&r->detach, f->bdf, "pci_enable_ats() calls back in the default domain",
		      n.enable, want_def ? gats : 0);
	}
	ktap_diag("ATS: %s container closed: Enable %d, %d pci_disable_ats(), %d pci_enable_ats()",
		  f->bdf, e, n.disable, n.enable);
out:
	if (buf != MAP_FAILED)
		munmap(buf, sz);
	if (g >= 0)
		close(g);
	if (c >= 0)
		close(c);

	/* 6. Its driver again: same Enable, same data */
	for (i = 0; i < nsib; i++) {
		ret = rebind(sib[i].bdf, sib[i].driver);
		check(&r->dma, sib[i].bdf, "driver rebind errno", -ret, 0);
	}
	ret = rebind(f->bdf, f->driver);
	check(&r->dma, f->bdf, "driver rebind errno", -ret, 0);
	if (f->block[0] && !ret) {
		char blk[32];

		wait_block(f->bdf, blk, sizeof(blk));
		ret = blk[0] ? block_sha256(blk, h2, &b2) : -ENODEV;
		r->dma_fns++;
		if (check(&r->dma, f->bdf, "second read errno", -ret, 0) &&
		    (!h1[0] || strcmp(h1, h2) || (host_sha && strcmp(h2, host_sha))))
			verdict_add(&r->dma, "%s sha256 %.16s before, %.16s after, host %.16s",
				    f->bdf, h1[0] ? h1 : "-", h2, host_sha ? host_sha : "-");
		ktap_diag("ATS: %s %s read again with %s: %zu KiB, sha256 %.16s (before %.16s)",
			  f->bdf, blk[0] ? blk : "-", f->driver, b2 >> 10, h2, h1);
	}
	e = ats_enabled(f);
	check(&r->attach, f->bdf, "ATS Enable with its driver again", e,
	      want && default_translates(f->bdf));
}

/* The SMMUv3 driver's event reports ("arm-smmu-v3 <dev>: event 0x.. received") in log. */
static size_t smmu_events(const char *log)
{
	const char *p = log, *ev, *bol, *d;
	size_t n = 0;

	while (p && (ev = strstr(p, "event 0x"))) {
		/* the driver's name between the line's start and the event */
		for (bol = ev; bol > log && bol[-1] != '\n'; bol--)
			;
		for (d = bol; d < ev; d++) {
			if (!strncmp(d, "arm-smmu-v3 ", 12)) {
				n++;
				break;
			}
		}
		p = ev + 8;
	}
	return n;
}

/*
 * QEMU's virt machine, booted with its device tree, or with UEFI and ACPI
 * (QEMU's ACPI tables carry the OEM ID "BOCHS ": the FADT's, bytes 10-15).
 */
static bool on_qemu(void)
{
	char s[64] = "";
	int fd;

	if (read_file("/sys/firmware/devicetree/base/compatible", s, sizeof(s)) > 0 &&
	    !strcmp(s, "linux,dummy-virt"))
		return true;
	fd = open("/sys/firmware/acpi/tables/FACP", O_RDONLY);
	if (fd < 0)
		return false;
	memset(s, 0, sizeof(s));
	if (pread(fd, s, 6, 10) != 6)
		s[0] = 0;
	close(fd);
	return !strcmp(s, "BOCHS ");
}

/* The argument or kernel parameter that says ATS must stay off. */
static bool ats_expect_off(const char *const *args)
{
	const char *v = cmdline_get("guest.ats_expect");

	for (; args && *args; args++)
		if (!strncmp(*args, "ats_expect=", 11))
			v = *args + 11;
	return v && !strcmp(v, "0");
}

/*
 * Run the section over the functions in bdfs (NULL-terminated), or over every
 * function with an ATS capability when bdfs is empty. host_sha: the SHA-256
 * the host computed for the first 64 MiB of the block device below the
 * functions (QEMU's virtio disk), or NULL. Prints six KTAP cases.
 */
void ats_section(const char *const *bdfs, const char *const *args, const char *host_sha)
{
	struct ats_fn fns[ATS_MAX_FNS];
	struct results r = { 0 };
	struct kprobes kp;
	char *log = kernel_log(), why[600], names[256] = "";
	size_t events, after, i;
	int n = 0, missing = 0, nocap = 0, nofeat = 0;
	bool off = ats_expect_off(args), probes, named = bdfs && bdfs[0];
	int dropped = 0;

	/* The functions */
	if (bdfs && bdfs[0]) {
		for (; *bdfs; bdfs++) {
			char path[128];

			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", *bdfs);
			if (access(path, F_OK)) {
				ktap_diag("ATS: %s: no such PCI function", *bdfs);
				missing++;
				continue;
			}
			if (n == ATS_MAX_FNS) {
				dropped++;
				continue;
			}
			snprintf(fns[n++].bdf, sizeof(fns[0].bdf), "%s", *bdfs);
		}
	} else {
		struct dirent **list;
		int k, m = scandir("/sys/bus/pci/devices", &list, NULL, alphasort);

		for (k = 0; k < m; k++) {
			unsigned int ctrl;

			if (list[k]->d_name[0] != '.' && pci_ats_cap(list[k]->d_name, &ctrl)) {
				if (n < ATS_MAX_FNS)
					snprintf(fns[n++].bdf, sizeof(fns[0].bdf), "%s",
						 list[k]->d_name);
				else
					dropped++;
			}
			free(list[k]);
		}
		if (m >= 0)
			free(list);
	}
	for (i = 0; i < (size_t)n; i++) {
		struct ats_fn *f = &fns[i];
		unsigned int ctrl;
		char path[128];
		size_t l = strlen(names);

		f->cap = pci_ats_cap(f->bdf, &ctrl);
		nocap += !f->cap;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", f->bdf);
		if (link_basename(path, f->driver, sizeof(f->driver)))
			f->driver[0] = 0;
		/*
		 * The IOMMU probes a function when a driver binds (dma_configure):
		 * one without a driver gets probed through vfio-pci, for its SMMU.
		 */
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu", f->bdf);
		if (f->cap && !f->driver[0] && access(path, F_OK)) {
			pci_bind(f->bdf, "vfio-pci");
			rebind(f->bdf, "");
		}
		block_below(f->bdf, f->block, sizeof(f->block));
		f->feat_known = smmu_features(f->bdf, &f->feat, log);
		nofeat += !f->feat_known;
		f->expect = f->cap && f->feat_known && (f->feat & ARM_SMMU_FEAT_ATS) && !off;
		snprintf(names + l, sizeof(names) - l, "%s%s%s", l ? " " : "", f->bdf,
			 f->cap ? "" : " (no ATS capability)");
	}
	/*
	 * The features word decides what to expect: a function behind no SMMU,
	 * or a kernel log that no longer holds the probe line (boot with a
	 * larger log_buf_len), cannot be judged.
	 */
	if (dropped)
		ktap_diag("ATS: %d more function(s) left out: at most %d are tested", dropped,
			  ATS_MAX_FNS);
	if (!n && !named)	/* a machine without any is no failure */
		ktap_skip("ats_functions", "no PCI function with an ATS capability");
	else
		ktap_result(n > 0 && !missing && !nocap && !nofeat, "ats_functions",
			    "%d function(s) found: %s; %d named ones missing, %d without an ATS capability, %d whose SMMU's features line is not in the kernel log (behind no SMMU, or the log wrapped: boot with a larger log_buf_len)",
			    n, n ? names : "none", missing, nocap, nofeat);
	if (!n || missing || nocap || nofeat) {
		static const char *const rest[] = {
			"ats_enabled_on_attach", "ats_disabled_on_detach", "atc_inv_on_unmap",
			"ats_dma_checksums", "ats_no_smmu_events",
		};

		for (i = 0; i < 5; i++)
			ktap_skip(rest[i], n ? "ats_functions failed" : "no ATS-capable PCI function to test");
		free(log);
		return;
	}
	ktap_diag("ATS: testing %s", names);

	kprobes_setup(&kp);
	probes = kp.dir[0];
	if (!probes)
		ktap_diag("ATS: no driver call counts: %s", kp.why);
	events = smmu_events(log);
	free(log);
	for (i = 0; i < (size_t)n; i++) {
		/* Each device's own; the host's checksum is of QEMU's virtio disk */
		test_fn(&fns[i], &kp, &r, fns[i].block[0] && !strcmp(fns[i].block, "vda") ?
			host_sha : NULL);
	}
	kprobes_teardown(&kp);
	log = kernel_log();
	after = smmu_events(log);
	free(log);
	/* (a kernel log that wrapped meanwhile counts from what is left) */
	events = after >= events ? after - events : after;

	/*
	 * Without ATS anywhere, the cases about ATS being used skip with the
	 * reason, but only once ATS provably stayed off (else they fail).
	 */
	if (off)
		snprintf(why, sizeof(why), "ATS expected off (ats_expect=0)");
	else
		snprintf(why, sizeof(why), "the SMMU has no ATS (features bit 5 clear%s)",
			 on_qemu() ? ": QEMU's SMMUv3 model has none" : "");
	i = strlen(why);
	snprintf(why + i, sizeof(why) - i, "; ATS Enable stayed 0 throughout%s",
		 probes ? ", no pci_enable_ats() call" : "");
	if (r.attach.failed)
		ktap_result(false, "ats_enabled_on_attach", "%s%s", r.attach.why,
			    r.ats_fns ? " (ATS also stays off behind a root complex whose firmware does not declare ATS, and for an untrusted function: say ats_expect=0 there)" : "");
	else if (!r.ats_fns)
		ktap_skip("ats_enabled_on_attach", why);
	else
		ktap_result(true, "ats_enabled_on_attach", NULL);
	if (r.detach.failed)
		ktap_result(false, "ats_disabled_on_detach", "%s", r.detach.why);
	else if (!r.ats_fns)
		ktap_skip("ats_disabled_on_detach", why);
	else
		ktap_result(true, "ats_disabled_on_detach", NULL);
	if (r.inv.failed) {
		ktap_result(false, "atc_inv_on_unmap", "%s", r.inv.why);
	} else if (!probes || !kp.cmd_probe) {
		ktap_skip("atc_inv_on_unmap", probes ? "arm_smmu_cmdq_build_cmd() cannot be probed (inlined?)" :
			  kp.why);
	} else if (!r.ats_fns) {
		char w[700];

		snprintf(w, sizeof(w), "%s; %d command(s) for the unmaps, %d ATC_INV", why, r.cmds,
			 r.atc_inv);
		ktap_skip("atc_inv_on_unmap", w);
	} else {
		ktap_result(true, "atc_inv_on_unmap", NULL);
	}
	if (r.dma.failed)
		ktap_result(false, "ats_dma_checksums", "%s", r.dma.why);
	else if (!r.dma_fns)
		ktap_skip("ats_dma_checksums", "no block device below the ATS-capable functions");
	else
		ktap_result(true, "ats_dma_checksums", NULL);
	ktap_result(!events, "ats_no_smmu_events", "%zu SMMU event(s) reported by the driver", events);
}
