// SPDX-License-Identifier: GPL-2.0
/*
 * The ATC section of the ATS boot: QEMU's ats-testdev (qemu/patches: a PCIe
 * device with an ATS capability and an Address Translation Cache, behind an
 * SMMUv3 with ats=on) driven through VFIO. With ATS enabled by the SMMUv3
 * driver at attach, the device translates each page with an ATS Translation
 * Request, caches the result and issues its DMA with the translated address;
 * an entry leaves its cache only when the SMMU delivers a CMD_ATC_INV that
 * covers it (or at a reset, which this section avoids: VFIO's device fd is
 * never opened). So a missing ATC invalidation shows as data landing in the
 * old page.
 *
 *   atc_dev_ready             the device, its ATS capability, vfio-pci
 *   atc_dev_translated_dma    a VFIO container: ATS Control Enable set; a copy
 *                             of two pages IOVA SRC -> IOVA DST is right and
 *                             every page went through the ATC (4 misses)
 *   atc_dev_hits_on_repeat    the same copy again: 4 hits, no miss
 *   atc_dev_inv_on_unmap      the stale-ATC witness: DST unmapped (its 2
 *                             entries invalidated), mapped to another buffer,
 *                             copied again: the data lands in the new buffer,
 *                             the old one stays untouched
 *   atc_dev_stale_after_reattach  the container closed and another opened (ATS
 *                             disabled and enabled twice, the device moved
 *                             between four domains) with the ATC warm; the
 *                             same IOVAs mapped to new buffers: the copy
 *                             reads and writes the new ones
 *   atc_dev_vfio_cycles       50 more containers, new buffers each time at the
 *                             same IOVAs: every copy uses its own buffers
 *   atc_dev_identity_switch   the default domain to identity (Enable 0, the
 *                             copy untranslated at physical addresses) and
 *                             back to DMA (Enable 1)
 *   atc_dev_identity_switch_warm  the same with the ATC warm: a DMA API driver
 *                             (guest/kmod, ats_testdev_dma.ko) maps two pages
 *                             in the default domain and copies one into the
 *                             other, and leaves them mapped; the group goes
 *                             to identity (the domain is freed with its
 *                             mappings: only the ATC flush when ATS goes off
 *                             empties the ATC) and back to a new DMA domain,
 *                             where the driver maps two new pages at the
 *                             same IOVAs: the copy must use the new pages
 *   atc_dev_domain_switch_warm  the same from DMA-FQ to DMA: a new paging
 *                             domain with ATS on in both, where only the
 *                             attach commit's ATC flush empties the ATC
 *   atc_dev_reset_blocks_ats  a Function Level Reset (sysfs reset) while
 *                             another thread maps and unmaps in the device's
 *                             VFIO container: no ATS invalidation reaches the
 *                             device while its FLR is in progress (the device
 *                             counts them: a function in reset may drop
 *                             them), and after the reset ATS is on again, the
 *                             ATC empty, and a copy right; then the same
 *                             through VFIO's own resets (the device fd
 *                             opened and closed 5 times, an FLR each)
 *   atc_dev_no_faults         no failed Translation Request, no refused
 *                             translated request, no SMMU event reported
 *   atc_dev_translated_forbidden  a second ats-testdev, without an ATS
 *                             capability (ats=off), in a VFIO domain: its
 *                             STE translates with EATS 0. Translated
 *                             requests at physical addresses (a device that
 *                             ignores ATS Control) are refused by the SMMU
 *                             (CR0.ATSCHK, which the driver sets) with
 *                             F_TRANSL_FORBIDDEN, and the page stays
 *                             untouched; the same copy from the first
 *                             device, with ATS on (EATS 1), goes through
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "harness.h"

#define PAGE		4096
#define COPY_LEN	(2 * PAGE)
#define IOVA_SRC	0x1000000
#define IOVA_DST	0x2000000

struct atc_counters {
	uint64_t hits, misses, inv, inv_drops, treq_fails, ats_kept;
	uint64_t untransl, transl, refused, inv_in_reset, flrs;
	uint32_t entries, status;
};

struct atc {
	char bdf[32];
	struct vfio v;
	volatile uint32_t *bar;
	size_t barsz;
};

static void counters(struct atc *a, struct atc_counters *c)
{
	c->hits = atcdev_rd64(a->bar, ATCDEV_HITS);
	c->misses = atcdev_rd64(a->bar, ATCDEV_MISSES);
	c->inv = atcdev_rd64(a->bar, ATCDEV_INV);
	c->inv_drops = atcdev_rd64(a->bar, ATCDEV_INV_DROPS);
	c->treq_fails = atcdev_rd64(a->bar, ATCDEV_TREQ_FAILS);
	c->ats_kept = atcdev_rd64(a->bar, ATCDEV_ATS_KEPT);
	c->untransl = atcdev_rd64(a->bar, ATCDEV_UNTRANSL);
	c->transl = atcdev_rd64(a->bar, ATCDEV_TRANSL);
	c->refused = atcdev_rd64(a->bar, ATCDEV_REFUSED);
	c->inv_in_reset = atcdev_rd64(a->bar, ATCDEV_INV_IN_RESET);
	c->flrs = atcdev_rd64(a->bar, ATCDEV_FLRS);
	c->status = a->bar[ATCDEV_STATUS / 4];
	c->entries = a->bar[ATCDEV_ENTRIES / 4];
}

/* The copy IOVA_SRC -> IOVA_DST; the device's STATUS (0: done) */
static uint32_t copy(struct atc *a)
{
	return atcdev_copy(a->bar, IOVA_SRC, IOVA_DST, COPY_LEN);
}

static int ats_enable(const char *bdf)
{
	unsigned int ctrl;

	return pci_ats_cap(bdf, &ctrl) ? !!(ctrl & PCI_ATS_CTRL_ENABLE) : -1;
}

/*
 * BAR 0 through sysfs (resource0) and the command register through the
 * config file: VFIO's device fd is never opened, because vfio-pci resets
 * the device when the last one closes (a secondary bus reset, whatever the
 * reset methods say), and a reset empties the ATC.
 */
static int atc_bar(struct atc *a)
{
	return atcdev_map_bar(a->bdf, &a->bar, &a->barsz);
}

/* A VFIO container with the device's group: the group attached to its domain */
static int atc_open(struct atc *a)
{
	return vfio_open(&a->v, a->bdf, false);
}

/* The container closed, if open, after unmapping @len bytes at both IOVAs */
static void atc_close(struct atc *a, size_t len)
{
	if (a->v.container < 0)
		return;
	vfio_unmap(&a->v, IOVA_SRC, len);
	vfio_unmap(&a->v, IOVA_DST, len);
	vfio_close(&a->v);
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void counters_diag(const char *when, const struct atc_counters *c)
{
	ktap_diag("ats-testdev %s: hits %llu misses %llu invalidations %llu (entries dropped %llu) entries %u translated %llu untranslated %llu treq-fails %llu refused %llu kept-at-disable %llu status 0x%x",
		  when, (unsigned long long)c->hits, (unsigned long long)c->misses,
		  (unsigned long long)c->inv, (unsigned long long)c->inv_drops, c->entries,
		  (unsigned long long)c->transl, (unsigned long long)c->untransl,
		  (unsigned long long)c->treq_fails, (unsigned long long)c->refused,
		  (unsigned long long)c->ats_kept, c->status);
}

#define ATC_CASES 12
#define ATC_CYCLES 50

/* The physical address of p (/proc/self/pagemap; needs CAP_SYS_ADMIN) */
static int pa_of(void *p, uint64_t *pa)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY), n;

	if (fd < 0)
		return -errno;
	n = pread(fd, &e, 8, (uintptr_t)p / PAGE * 8);
	close(fd);
	if (n != 8 || !(e >> 63) || !(e & ((1ull << 55) - 1)))
		return -EFAULT;
	*pa = (e & ((1ull << 55) - 1)) * PAGE + ((uintptr_t)p & (PAGE - 1));
	return 0;
}

/*
 * ATC_CYCLES containers, each with new buffers at the same IOVAs: ATS goes
 * off and on twice a cycle, with the ATC warm each time the container
 * closes. Every copy must use its own cycle's buffers, and the previous
 * cycle's destination (zeroed after its check) must stay zero.
 */
static int vfio_cycles(struct atc *a, char *why, size_t len)
{
	uint8_t *prev = NULL, *s, *d;
	uint64_t t0 = now_ns();
	int i, ret = 0;
	uint32_t st;

	for (i = 0; i < ATC_CYCLES && !ret; i++) {
		s = aligned_alloc(PAGE, COPY_LEN);
		d = aligned_alloc(PAGE, COPY_LEN);
		fill(s, COPY_LEN, 100 + i);
		memset(d, 0, COPY_LEN);
		ret = atc_open(a);
		if (!ret)
			ret = vfio_map(&a->v, s, IOVA_SRC, COPY_LEN);
		if (!ret)
			ret = vfio_map(&a->v, d, IOVA_DST, COPY_LEN);
		st = ret ? 0 : copy(a);
		if (ret)
			snprintf(why, len, "cycle %d: %s", i, strerror(-ret));
		else if (st || memcmp(s, d, COPY_LEN))
			ret = 1, snprintf(why, len, "cycle %d: status 0x%x, the copy is %s", i, st,
					  st ? "not done" : "WRONG (a stale ATC entry?)");
		else if (prev && !all(prev, COPY_LEN, 0))
			ret = 1, snprintf(why, len, "cycle %d: the previous cycle's buffer WRITTEN (stale ATC entry)", i);
		atc_close(a, COPY_LEN);
		memset(d, 0, COPY_LEN);
		free(s);
		free(prev);
		prev = d;
	}
	free(prev);
	if (!ret)
		snprintf(why, len, "%d container cycles with a copy each, all right, in %llu ms", i,
			 (unsigned long long)((now_ns() - t0) / 1000000));
	return ret;
}

/*
 * The device's default domain switched to identity (no driver bound): a
 * bypass STE, so ATS goes off (Enable 0) and the DMA is untranslated, at
 * physical addresses; then back to DMA, where ATS is on again.
 */
static int identity_switch(struct atc *a, char *why, size_t len)
{
	uint8_t *s = aligned_alloc(PAGE, PAGE), *d = aligned_alloc(PAGE, PAGE);
	struct atc_counters c0, c1;
	char path[160], type[32] = "";
	uint64_t ps = 0, pd = 0;
	int ret, en0 = -1, en1 = -1;
	uint32_t st = 0;

	fill(s, PAGE, 55);
	memset(d, 0, PAGE);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group/type", a->bdf);
	ret = pci_unbind(a->bdf);
	if (!ret)
		ret = write_file(path, "identity");
	read_file(path, type, sizeof(type));
	type[strcspn(type, "\n")] = 0;
	en0 = ats_enable(a->bdf);
	if (!ret)
		ret = atc_bar(a);	/* the unbind turned bus mastering off */
	if (!ret)
		ret = pa_of(s, &ps) ?: pa_of(d, &pd);
	if (!ret) {
		counters(a, &c0);
		atcdev_wr64(a->bar, ATCDEV_SRC, ps);
		atcdev_wr64(a->bar, ATCDEV_DST, pd);
		a->bar[ATCDEV_LEN / 4] = PAGE;
		a->bar[ATCDEV_CMD / 4] = ATCDEV_CMD_COPY;
		st = a->bar[ATCDEV_STATUS / 4];
		counters(a, &c1);
	}
	if (!ret)
		ret = write_file(path, "DMA");
	en1 = ats_enable(a->bdf);
	snprintf(why, len, "%s; domain %s: ATS Control Enable %d (want 0), copy at physical addresses: status 0x%x, %s, %llu untranslated pages (want 2); back to DMA: Enable %d (want 1)",
		 ret ? strerror(-ret) : "switched", type, en0, st,
		 memcmp(s, d, PAGE) ? "data WRONG" : "data right",
		 ret ? 0ull : (unsigned long long)(c1.untransl - c0.untransl), en1);
	ret = ret || strcmp(type, "identity") || en0 != 0 || st || memcmp(s, d, PAGE) ||
	      c1.untransl - c0.untransl != 2 || c1.transl != c0.transl || en1 != 1;
	free(s);
	free(d);
	return ret;
}

#define KMOD		"/lib/kmod/ats_testdev_dma.ko"
#define KMOD_PARAM	"/sys/module/ats_testdev_dma/parameters/"

/* The driver's probe, in phase @phase; what it says in @res */
static int kmod_probe(const char *bdf, const char *phase, char *res, size_t len)
{
	int ret = write_file(KMOD_PARAM "phase", phase) ?: pci_bind(bdf, "ats_testdev_dma");

	if (read_file(KMOD_PARAM "result", res, len) < 0)
		snprintf(res, len, "no result");
	res[strcspn(res, "\n")] = 0;
	return ret;
}

/*
 * A switch of the default domain with the ATC warm (see the top of the
 * file): @via "identity", from DMA to identity and back (ATS off and on);
 * @via "DMA-FQ", the group made DMA-FQ first (the same domain, a flush queue
 * added), warmed there, then DMA: a new paging domain with ATS on in both,
 * where only the attach commit's flush empties the ATC. Returns 0 when
 * right, 1 when wrong, -1 when the driver is not in this initramfs and
 * nobody said it must be (make lava's; boot.sh adds it and says
 * guest.kmod=1).
 */
static int switch_warm(struct atc *a, const char *via, char *why, size_t len)
{
	bool fq = !strcmp(via, "DMA-FQ");
	char path[160], warm[320] = "", check[320] = "", mid[64];
	struct atc_counters c0 = {}, c1 = {};
	int fd, ret, en0 = -1, en1 = -1;
	bool must = cmdline_get("guest.kmod") != NULL;

	fd = open(KMOD, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "no %s in this initramfs%s", KMOD,
			 must ? " though guest.kmod=1 says it is there" : "");
		return must ? 1 : -1;
	}
	ret = syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST ? -errno : 0;
	close(fd);
	if (ret) {
		snprintf(why, len, "loading %s: %s", KMOD, strerror(-ret));
		return 1;
	}
	/* atc_dev_identity_switch left the device without a driver */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group/type", a->bdf);
	ret = fq ? write_file(path, "DMA-FQ") : 0;
	ret = ret ?: kmod_probe(a->bdf, "warm", warm, sizeof(warm)) ?: atc_bar(a);
	if (!ret) {
		counters(a, &c0);
		ret = pci_unbind(a->bdf) ?: (fq ? 0 : write_file(path, "identity"));
	}
	en0 = fq ? 0 : ats_enable(a->bdf);
	if (!ret)
		ret = write_file(path, "DMA");
	en1 = ats_enable(a->bdf);
	if (!ret)
		ret = kmod_probe(a->bdf, "check", check, sizeof(check));
	if (!ret)
		counters(a, &c1);
	pci_unbind(a->bdf);
	if (fq)
		snprintf(mid, sizeof(mid), "DMA-FQ to a new DMA domain, ATS on in both");
	else
		snprintf(mid, sizeof(mid), "identity: ATS Control Enable %d (want 0)", en0);
	snprintf(why, len, "%s; %s; %u ATC entries after it (want >= 2); %s; DMA: Enable %d (want 1); %s; %llu re-translations (want 2)",
		 ret ? strerror(-ret) : "done", warm, c0.entries, mid, en1, check,
		 (unsigned long long)(c1.misses - c0.misses));
	return ret || strncmp(warm, "warm ok", 7) || c0.entries < 2 || en0 != 0 || en1 != 1 ||
	       strncmp(check, "check ok", 8) || c1.misses - c0.misses != 2;
}

struct unmapper {
	struct vfio *v;
	uint8_t *buf;
	volatile bool stop;
	unsigned long rounds;
	int err;
};

#define IOVA_SPIN	0x3000000

/* Maps and unmaps one page at IOVA_SPIN until told to stop */
static void *unmapper_fn(void *arg)
{
	struct unmapper *u = arg;
	int ret;

	while (!u->stop) {
		ret = vfio_map(u->v, u->buf, IOVA_SPIN, PAGE);
		if (!ret)
			ret = vfio_unmap(u->v, IOVA_SPIN, PAGE);
		if (ret) {
			u->err = ret;
			break;
		}
		u->rounds++;
	}
	return NULL;
}

#define FD_CYCLES 5

/*
 * VFIO's own resets: vfio-pci resets the device when its fd is first opened
 * (and tries again at the last close), through the same reset methods. The
 * device fd opened and closed FD_CYCLES times while the thread unmaps: each
 * open is an FLR, none may bring an ATS invalidation during it. The close
 * turns bus mastering off, so the BAR's command bits are set again after.
 */
static int vfio_fd_resets(struct atc *a, struct unmapper *u, char *why, size_t len)
{
	struct atc_counters c0, c1;
	size_t n = strlen(why);
	pthread_t th;
	int i, fd, ret = 0;

	counters(a, &c0);
	u->stop = false;
	u->rounds = 0;
	if (pthread_create(&th, NULL, unmapper_fn, u)) {
		snprintf(why + n, len - n, "; no thread: %s", strerror(errno));
		return 1;
	}
	for (i = 0; i < FD_CYCLES && !ret; i++) {
		fd = ioctl(a->v.group, VFIO_GROUP_GET_DEVICE_FD, a->bdf);
		if (fd < 0)
			ret = -errno;
		else
			close(fd);
	}
	u->stop = true;
	pthread_join(th, NULL);
	counters(a, &c1);
	if (!ret)
		ret = atc_bar(a);
	snprintf(why + n, len - n, "; then %d VFIO device fd open+close: %s, %llu FLR(s) (want >= %d), %llu ATS invalidation(s) during them (want 0), %lu map+unmap rounds meanwhile",
		 i, ret ? strerror(-ret) : "done", (unsigned long long)(c1.flrs - c0.flrs),
		 FD_CYCLES, (unsigned long long)(c1.inv_in_reset - c0.inv_in_reset), u->rounds);
	return ret || u->err || c1.flrs - c0.flrs < FD_CYCLES ||
	       c1.inv_in_reset != c0.inv_in_reset || !u->rounds;
}

/*
 * A Function Level Reset through sysfs while a thread maps and unmaps a page
 * in the device's container. Before it, the kernel must move the device out
 * of the domain (pci_dev_reset_iommu_prepare(): ATS off, no invalidation for
 * it any more), and give the domain back after it. ats-testdev counts the ATS
 * invalidations that reach it while its FLR is in progress (flr-busy-ms).
 */
static int reset_blocks_ats(struct atc *a, char *why, size_t len)
{
	uint8_t *s = aligned_alloc(PAGE, COPY_LEN), *d = aligned_alloc(PAGE, COPY_LEN);
	struct unmapper u = { .v = &a->v, .buf = aligned_alloc(PAGE, PAGE) };
	struct atc_counters c0, c1, c2;
	char path[160];
	pthread_t th;
	unsigned long before = 0, during = 0;
	uint64_t t0 = 0, t1 = 0;
	int ret, en0, en1 = -1;
	uint32_t st0, st1 = 0;

	fill(s, COPY_LEN, 9);
	memset(d, 0, COPY_LEN);
	memset(u.buf, 0, PAGE);
	/* identity_switch() left the device without a driver */
	ret = pci_bind(a->bdf, "vfio-pci");
	if (!ret)
		ret = atc_bar(a);
	if (!ret)
		ret = atc_open(a);
	if (!ret)
		ret = vfio_map(&a->v, s, IOVA_SRC, COPY_LEN);
	if (!ret)
		ret = vfio_map(&a->v, d, IOVA_DST, COPY_LEN);
	if (ret) {
		snprintf(why, len, "VFIO: %s", strerror(-ret));
		goto out;
	}
	st0 = copy(a);		/* the ATC warm: 4 entries */
	en0 = ats_enable(a->bdf);
	counters(a, &c0);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", a->bdf);
	if (pthread_create(&th, NULL, unmapper_fn, &u)) {
		snprintf(why, len, "no thread: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	while (u.rounds < 20 && !u.err)
		usleep(1000);
	before = u.rounds;
	t0 = now_ns();
	ret = write_file(path, "1");
	t1 = now_ns();
	during = u.rounds - before;
	u.stop = true;
	pthread_join(th, NULL);
	counters(a, &c1);
	en1 = ats_enable(a->bdf);

	/* The reset emptied the ATC and the registers: a copy translates again */
	memset(d, 0, COPY_LEN);
	if (!ret)
		st1 = copy(a);
	counters(a, &c2);
	counters_diag("after the reset", &c2);
	snprintf(why, len, "%s in %llu ms, %lu map+unmap rounds meanwhile%s; %llu FLR(s) seen; %llu ATS invalidation(s) reached the device during its FLR (want 0); ATS Control Enable %d before, %d after (want 1, 1); %u entries after (want 0); copy before: status 0x%x, after: status 0x%x, %s, %llu re-translations (want 4)",
		 ret ? strerror(-ret) : "reset", (unsigned long long)((t1 - t0) / 1000000), during,
		 u.err ? " (the thread failed)" : "", (unsigned long long)(c1.flrs - c0.flrs),
		 (unsigned long long)(c1.inv_in_reset - c0.inv_in_reset), en0, en1, c1.entries,
		 st0, st1, memcmp(s, d, COPY_LEN) ? "data WRONG" : "data right",
		 (unsigned long long)(c2.misses - c1.misses));
	ret = ret || u.err || !during || c1.flrs - c0.flrs != 1 ||
	      c1.inv_in_reset != c0.inv_in_reset || en0 != 1 || en1 != 1 || c1.entries ||
	      st0 || st1 || memcmp(s, d, COPY_LEN) || c2.misses - c1.misses != 4;
	if (!ret)
		ret = vfio_fd_resets(a, &u, why, len);
out:
	atc_close(a, COPY_LEN);
	free(s);
	free(d);
	free(u.buf);
	return ret;
}

/*
 * The copy of one page from @ps to @pd, physical addresses, as translated
 * requests (CMD_COPY_TRANSLATED); its STATUS, the device's refused requests
 * and the SMMU's F_TRANSL_FORBIDDEN reports in the kernel log meanwhile.
 */
static uint32_t copy_as_given(struct atc *a, uint64_t ps, uint64_t pd, uint64_t *refused,
			      size_t *reports)
{
	uint64_t r0 = atcdev_rd64(a->bar, ATCDEV_REFUSED);
	char *log = kernel_log();
	size_t n0 = count_substr(log, "event 0x07 received");
	uint32_t st;

	free(log);
	atcdev_wr64(a->bar, ATCDEV_SRC, ps);
	atcdev_wr64(a->bar, ATCDEV_DST, pd);
	a->bar[ATCDEV_LEN / 4] = PAGE;
	a->bar[ATCDEV_CMD / 4] = ATCDEV_CMD_COPY_TRANSLATED;
	st = a->bar[ATCDEV_STATUS / 4];
	usleep(50000);		/* the event queue's thread */
	log = kernel_log();
	*reports = count_substr(log, "event 0x07 received") - n0;
	free(log);
	*refused = atcdev_rd64(a->bar, ATCDEV_REFUSED) - r0;
	return st;
}

/*
 * A device that issues translated requests without ATS: the second
 * ats-testdev (ats=off, no ATS capability) in a VFIO domain, where its STE
 * translates with EATS 0. An untranslated copy through the domain works;
 * a copy of translated requests at physical addresses must be refused at
 * its first request, with one F_TRANSL_FORBIDDEN event (0x07), the page
 * untouched: the SMMU checks them because the driver sets CR0.ATSCHK. The
 * same copy from @a, with ATS on in a VFIO domain (EATS 1), goes through:
 * ATS trusts a device it enabled.
 */
static int translated_forbidden(struct atc *a, char *why, size_t len)
{
	struct atc r = { .v = { -1, -1, -1 } };
	uint8_t *s = aligned_alloc(PAGE, PAGE), *d = aligned_alloc(PAGE, PAGE);
	uint64_t ps = 0, pd = 0, refused = 0, refused_a = 0;
	size_t reports = 0, reports_a = 0;
	uint32_t st_dma = 0, st = 0, st_a = 0;
	bool dma_ok = false, untouched = false, landed = false;
	int ret, en = -1;

	fill(s, PAGE, 201);
	memset(d, 0, PAGE);
	ret = atcdev_find(&r.bdf, 1, false) == 1 ? 0 : -ENODEV;
	if (ret) {
		snprintf(why, len, "no ats-testdev without ATS (ats=off) on the PCI bus");
		goto out;
	}
	ret = pci_bind(r.bdf, "vfio-pci") ?: atc_open(&r) ?: atc_bar(&r);
	if (!ret)
		ret = vfio_map(&r.v, s, IOVA_SRC, PAGE) ?: vfio_map(&r.v, d, IOVA_DST, PAGE);
	if (!ret)
		ret = pa_of(s, &ps) ?: pa_of(d, &pd);
	if (ret) {
		snprintf(why, len, "%s: VFIO: %s", r.bdf, strerror(-ret));
		goto out;
	}
	st_dma = atcdev_copy(r.bar, IOVA_SRC, IOVA_DST, PAGE);
	dma_ok = !st_dma && !memcmp(s, d, PAGE);
	memset(d, 0, PAGE);
	fill(s, PAGE, 202);
	/* The host checks QEMU's trace for exactly this event */
	printf("    # harness-expect-smmu-events: SMMU_EVT_F_TRANS_FORBIDDEN sid=0x%x count=1\n",
	       pci_sid(r.bdf));
	st = copy_as_given(&r, ps, pd, &refused, &reports);
	untouched = all(d, PAGE, 0);

	/* The device with ATS on, in a VFIO domain of its own */
	ret = atc_open(a) ?: atc_bar(a);
	en = ats_enable(a->bdf);
	if (!ret) {
		st_a = copy_as_given(a, ps, pd, &refused_a, &reports_a);
		landed = !memcmp(s, d, PAGE);
		vfio_close(&a->v);
	}
	snprintf(why, len, "%s (no ATS capability) in a VFIO domain: untranslated copy %s (status 0x%x); translated requests at physical addresses: status 0x%x (want 0x%x, refused), %llu refused (want 1), %zu F_TRANSL_FORBIDDEN report(s) (want 1), the page %s; from %s with ATS Control Enable %d: %s, status 0x%x, %llu refused, %zu reports, the page %s",
		 r.bdf, dma_ok ? "right" : "WRONG", st_dma, st, ATCDEV_STATUS_REFUSED,
		 (unsigned long long)refused, reports, untouched ? "untouched" : "WRITTEN",
		 a->bdf, en, ret ? strerror(-ret) : "opened", st_a,
		 (unsigned long long)refused_a, reports_a, landed ? "written" : "NOT WRITTEN");
	ret = ret || !dma_ok || st != ATCDEV_STATUS_REFUSED || refused != 1 || reports != 1 ||
	      !untouched || en != 1 || st_a || refused_a || reports_a || !landed;
out:
	if (r.bar)
		munmap((void *)r.bar, r.barsz);
	atc_close(&r, PAGE);
	free(s);
	free(d);
	return ret;
}

void atc_section(void)
{
	static const char *const names[ATC_CASES] = {
		"atc_dev_ready", "atc_dev_translated_dma", "atc_dev_hits_on_repeat",
		"atc_dev_inv_on_unmap", "atc_dev_stale_after_reattach", "atc_dev_vfio_cycles",
		"atc_dev_identity_switch", "atc_dev_identity_switch_warm", "atc_dev_domain_switch_warm",
		"atc_dev_reset_blocks_ats", "atc_dev_no_faults",
		"atc_dev_translated_forbidden",
	};
	char why[700];
	struct atc a = { .v = { -1, -1, -1 } };
	struct atc_counters c0, c1, c2;
	uint8_t *src = aligned_alloc(PAGE, COPY_LEN), *dst = aligned_alloc(PAGE, COPY_LEN);
	uint8_t *dst2 = aligned_alloc(PAGE, COPY_LEN), *src3 = aligned_alloc(PAGE, COPY_LEN);
	uint8_t *dst3 = aligned_alloc(PAGE, COPY_LEN);
	char *log;
	unsigned int ctrl;
	size_t events0, events;
	int ret, en, done = 0, i;
	uint32_t st;
	bool ok;

	log = kernel_log();
	events0 = count_substr(log, "arm-smmu-v3") ? count_substr(log, "event 0x") : 0;
	free(log);

	/* 1: the device, ready for VFIO, without a reset method */
	ret = atcdev_find(&a.bdf, 1, true) == 1 ? 0 : -ENODEV;
	if (ret) {
		ktap_result(false, names[done++], "no ats-testdev (%04x:%04x) with ATS on the PCI bus",
			    ATCDEV_VENDOR, ATCDEV_DEVICE);
		goto skip_rest;
	}
	ret = pci_bind(a.bdf, "vfio-pci");
	ok = !ret && pci_ats_cap(a.bdf, &ctrl);
	ktap_result(ok, names[done++], "%s: %s, ATS capability %s", a.bdf,
		    ret ? strerror(-ret) : "bound to vfio-pci",
		    pci_ats_cap(a.bdf, &ctrl) ? "present" : "absent");
	if (!ok)
		goto skip_rest;

	/* 2: ATS on at attach; two pages copied through the ATC */
	fill(src, COPY_LEN, 1);
	memset(dst, 0, COPY_LEN);
	ret = atc_open(&a);
	if (!ret)
		ret = atc_bar(&a);
	if (!ret) {
		a.bar[ATCDEV_CMD / 4] = ATCDEV_CMD_CLEAR;
		ret = vfio_map(&a.v, src, IOVA_SRC, COPY_LEN);
	}
	if (!ret)
		ret = vfio_map(&a.v, dst, IOVA_DST, COPY_LEN);
	if (ret) {
		ktap_result(false, names[done++], "VFIO: %s", strerror(-ret));
		goto close;
	}
	en = ats_enable(a.bdf);
	st = copy(&a);
	counters(&a, &c0);
	counters_diag("after the first copy", &c0);
	ktap_result(en == 1 && !st && !memcmp(src, dst, COPY_LEN) && c0.misses == 4 &&
		    c0.transl == 4 && !c0.untransl && c0.entries == 4, names[done++],
		    "ATS Control Enable %d (want 1), status 0x%x, data %s, %llu misses and %llu translated pages (want 4), %llu untranslated, %u entries",
		    en, st, memcmp(src, dst, COPY_LEN) ? "DIFFERS" : "matches",
		    (unsigned long long)c0.misses, (unsigned long long)c0.transl,
		    (unsigned long long)c0.untransl, c0.entries);

	/* 3: the same copy hits the ATC */
	memset(dst, 0, COPY_LEN);
	st = copy(&a);
	counters(&a, &c1);
	ktap_result(!st && !memcmp(src, dst, COPY_LEN) && c1.hits - c0.hits == 4 &&
		    c1.misses == c0.misses, names[done++],
		    "status 0x%x, data %s, %llu hits (want 4), %llu misses (want 0)", st,
		    memcmp(src, dst, COPY_LEN) ? "DIFFERS" : "matches",
		    (unsigned long long)(c1.hits - c0.hits),
		    (unsigned long long)(c1.misses - c0.misses));

	/*
	 * 4: the stale-ATC witness. DST's pages are unmapped (the driver must
	 * invalidate their two ATC entries), DST is mapped to another buffer
	 * and the copy repeated: the data must land there, and the old
	 * buffer, zeroed after the unmap, must stay zero.
	 */
	ret = vfio_unmap(&a.v, IOVA_DST, COPY_LEN);
	counters(&a, &c2);
	memset(dst, 0, COPY_LEN);
	memset(dst2, 0, COPY_LEN);
	if (!ret)
		ret = vfio_map(&a.v, dst2, IOVA_DST, COPY_LEN);
	st = ret ? 0 : copy(&a);
	counters(&a, &c1);
	counters_diag("after unmap, map elsewhere, copy", &c1);
	ktap_result(!ret && !st && !memcmp(src, dst2, COPY_LEN) && all(dst, COPY_LEN, 0) &&
		    c2.inv > c0.inv && c2.inv_drops - c0.inv_drops == 2 &&
		    c1.misses - c2.misses == 2, names[done++],
		    "%s; status 0x%x; new buffer %s, old buffer %s; the unmap brought %llu invalidation(s) dropping %llu entries (want 2); %llu re-translations (want 2)",
		    ret ? strerror(-ret) : "remapped", st,
		    memcmp(src, dst2, COPY_LEN) ? "WRONG" : "right",
		    all(dst, COPY_LEN, 0) ? "untouched" : "WRITTEN (stale ATC entry)",
		    (unsigned long long)(c2.inv - c0.inv),
		    (unsigned long long)(c2.inv_drops - c0.inv_drops),
		    (unsigned long long)(c1.misses - c2.misses));

	/*
	 * 5: close and reopen with the ATC warm (4 entries): ATS goes off and
	 * on twice, the device moves VFIO -> blocked -> default DMA domain ->
	 * blocked -> a new VFIO domain. The same IOVAs now point at new
	 * buffers: whatever the old entries said must be gone.
	 */
	vfio_close(&a.v);
	fill(src3, COPY_LEN, 77);
	memset(dst3, 0, COPY_LEN);
	memset(dst2, 0, COPY_LEN);
	ret = atc_open(&a);
	if (!ret)
		ret = vfio_map(&a.v, src3, IOVA_SRC, COPY_LEN);
	if (!ret)
		ret = vfio_map(&a.v, dst3, IOVA_DST, COPY_LEN);
	en = ats_enable(a.bdf);
	st = ret ? 0 : copy(&a);
	counters(&a, &c2);
	counters_diag("after a new container", &c2);
	ktap_result(!ret && en == 1 && !st && !memcmp(src3, dst3, COPY_LEN) &&
		    all(dst2, COPY_LEN, 0), names[done++],
		    "%s; ATS Control Enable %d; status 0x%x; the copy %s, the old destination %s",
		    ret ? strerror(-ret) : "reopened", en, st,
		    !memcmp(src3, dst3, COPY_LEN) ? "read and wrote the new buffers" :
		    !memcmp(src, dst3, COPY_LEN) ? "READ THE OLD SOURCE (stale ATC entry)" :
		    "IS WRONG", all(dst2, COPY_LEN, 0) ? "untouched" : "WRITTEN (stale ATC entry)");

	atc_close(&a, COPY_LEN);

	/* 6: VFIO cycles with ATS, the ATC warm at each close */
	ret = vfio_cycles(&a, why, sizeof(why));
	ktap_result(!ret, names[done++], "%s", why);
	ktap_diag("ats-testdev VFIO cycles: %s", why);

	/* 7: identity and back with the device's default domain */
	ret = identity_switch(&a, why, sizeof(why));
	ktap_result(!ret, names[done++], "%s", why);
	ktap_diag("ats-testdev identity switch: %s", why);

	/* 7b, 7c: the same with the ATC warm, through a DMA API driver */
	for (i = 0; i < 2; i++) {
		static const char *const via[] = { "identity", "DMA-FQ" };

		ret = switch_warm(&a, via[i], why, sizeof(why));
		if (ret < 0)
			ktap_skip(names[done++], why);
		else
			ktap_result(!ret, names[done++], "%s", why);
		ktap_diag("ats-testdev switch through %s, ATC warm: %s", via[i], why);
	}

	/* 8: a Function Level Reset with invalidations going on */
	ret = reset_blocks_ats(&a, why, sizeof(why));
	ktap_result(!ret, names[done++], "%s", why);
	ktap_diag("ats-testdev reset: %s", why);

	/* 9: nothing failed or faulted on the way */
	counters(&a, &c2);
	counters_diag("at the end", &c2);
	log = kernel_log();
	events = count_substr(log, "event 0x") - events0;
	free(log);
	ktap_result(!c2.treq_fails && !c2.refused && !events, names[done++],
		    "%llu failed Translation Requests, %llu refused translated requests, %zu SMMU events",
		    (unsigned long long)c2.treq_fails, (unsigned long long)c2.refused, events);

	/* 10: translated requests where the STE does not allow ATS */
	ret = translated_forbidden(&a, why, sizeof(why));
	ktap_result(!ret, names[done++], "%s", why);
	ktap_diag("ats-testdev translated requests as given: %s", why);
close:
	if (a.bar)
		munmap((void *)a.bar, a.barsz);
	atc_close(&a, COPY_LEN);
skip_rest:
	while (done < ATC_CASES)
		ktap_skip(names[done++], "an earlier step failed");
	free(src);
	free(dst);
	free(dst2);
	free(src3);
	free(dst3);
}

int atc_cases(void)
{
	return ATC_CASES;
}
