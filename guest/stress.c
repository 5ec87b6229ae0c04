// SPDX-License-Identifier: GPL-2.0
/*
 * guest.mode=stress (make stress; a short run in make check): attach, DMA and
 * rebinding under fault injection, on the debug kernel (configs/debug.config).
 *
 * Threads, all at once for guest.stress_secs= seconds (default 150) or until
 * guest.stress_ops= operations (default 1000000) are done:
 *
 *   witness  edu0 in container C0 (a type1 domain D0): maps a fresh buffer
 *            pair at the same IOVAs, lets edu's DMA engine copy one into the
 *            other, compares, unmaps (a stale IOTLB entry or a lost
 *            invalidation shows as a mismatch). Never fault-injected.
 *   hammer x2  map 16 x 4 KiB in C0, unmap them one by one: invalidations
 *            of D0 all the time.
 *   join     edu1's group joins C0 and leaves it: D0's invalidation array is
 *            swapped (RCU) while the hammer and the witness invalidate D0.
 *   cycle x2 edu2, edu3: open a container, set the group and type1 (attach a
 *            new domain), map/unmap 4 x 64 KiB, close; every 8th cycle also
 *            opens the device and checks an edu DMA in the new domain.
 *   reader x2  read the NVMe disk (8 MiB, O_DIRECT) through its DMA domain
 *            and compare its SHA-256 with the host's. Never injected.
 *   bind     the virtio disk: virtio-pci -> vfio-pci, a VFIO attach cycle on
 *            it, -> virtio-pci, read /dev/vd* and compare. Never injected.
 *
 * On the ATS SMMU (STRESS_SMMU=ats: two ats-testdevs, devices with an ATS
 * capability and an ATC, qemu/patches), D0's array also holds ATS targets:
 *
 *   ats witness  the second ats-testdev, W, in C0 for the whole run: maps a
 *            fresh buffer pair at its two IOVAs, lets the device copy one
 *            page into the other through its ATC (ATS Translation Requests,
 *            then translated DMA), compares, unmaps (an ATC invalidation to
 *            W). A lost invalidation leaves a stale ATC entry: the copy then
 *            reads the old source or writes the old destination. Never
 *            fault-injected.
 *   ats join the first ats-testdev, A, joins C0 and leaves it like edu1: ATS
 *            on and off for A, its ATS target added to D0's array and made
 *            trash. A's stream ID is below W's, so that trash sits between
 *            live targets, and arm_smmu_invs_purge() makes a new array at
 *            every leave.
 *
 * Fault injection (when the kernel has failslab), in alternating phases of
 * guest.stress_phase_secs= (default 10), in the order prepare, random, purge
 * (the phases whose seams the kernel has):
 *
 *   random   failslab with probability guest.stress_failslab_pct= (default
 *            1) percent, task-filtered to the hammer, join and cycle threads
 *            (/proc/<pid>/task/<tid>/make-it-fail): any allocation of theirs
 *            may fail. Every failure must surface as an error of the
 *            operation (never more errors than injected failures) or be
 *            absorbed, and nothing may leak or splat.
 *   prepare  failslab's stacktrace filter set to arm_smmu_attach_prepare()
 *            (from /proc/kallsyms), and the join and cycle threads sweep
 *            /proc/thread-self/fail-nth over their attach, N = 1, 2, ... until
 *            an attach sees no injection (the model of iommufd_fail_nth.c):
 *            the Nth allocation made under attach prepare fails (on the series
 *            the kzalloc of the arm_smmu_master_domain, then the new array of
 *            arm_smmu_invs_merge()). It must fail the attach with ENOMEM,
 *            or be absorbed (see classify()); after a failed join the witness
 *            checks D0 right away.
 *   purge    (the ATS SMMU) failslab's stacktrace filter set to
 *            arm_smmu_domain_unref_invs(), and the ats join thread fails the
 *            first allocation of each leave (fail-nth = 1): the new array of
 *            arm_smmu_invs_purge(). The leave must not fail, D0 keeps its
 *            array with the trash in it, and both witnesses check D0 right
 *            after.
 *
 * At the end: every edu device gets a clean attach and a DMA check, both
 * disks are read once more, kmemleak scans (after a "clear" at the start: only
 * new leaks count), and the kernel log is searched for splats. The KTAP goes
 * to the console; then the kernel log since /init (the console showed what
 * came before), between "harness-kmsg: begin" and "harness-kmsg: end", for
 * the host's own search.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "harness.h"

#define PCI_COMMAND	0x04
#define PCI_COMMAND_MASTER 0x4
#define DMA_LEN		2048	/* QEMU 7.2's edu aborts the VM at exactly 4096 */
#define IOVA_SRC	0x100000
#define IOVA_DST	0x200000
#define IOVA_HAMMER	0x1000000
#define NR_EDU		4
#define POOL		8	/* buffer pairs the DMA checks rotate through */

#define FAILSLAB	"/sys/kernel/debug/failslab"
#define FAIL_PAGE	"/sys/kernel/debug/fail_page_alloc"
#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

enum { PH_CLEAN, PH_RANDOM, PH_PREPARE, PH_PURGE };
static const char *const ph_name[] = { "clean", "random", "prepare", "purge" };

/* Phases: workers hold the read side around each operation they may fail. */
static pthread_rwlock_t ph_lock;
static int phase = PH_CLEAN;
static atomic_bool stopping;
static uint64_t deadline_ns;
static long max_ops;
static bool have_failslab, have_prepare_seam, have_purge_seam;
static unsigned long prep_start, prep_end, rel_start, rel_end, purge_start, purge_end;
static bool have_restore_guard;

static atomic_long n_ops;
/* What the threads did and saw. "unexpected" is an error no injection explains. */
static atomic_long cycles, cycle_dev_checks, joins, hammer_rounds, witness_checks;
static atomic_long reads, binds, vda_reads;
static atomic_long dma_bad, dma_err, read_bad, read_err, vda_bad, bind_err;
static atomic_long unexpected;
static atomic_long rnd_errors;			/* random phase: errors surfaced */
static atomic_long nth_injected, nth_surfaced, nth_absorbed;
static atomic_long nth_wrong_errno, nth_sweeps, nth_witness_checks;

static atomic_long ats_checks, ats_bad, ats_err, ats_joins, ats_purge_windows, ats_purge_injected;

static char edu_bdf[NR_EDU][32], nvme_bdf[32], vblk_bdf[32];
#define NR_ATSD		2
static char atsd_bdf[NR_ATSD][32];	/* [0]: A, the joiner; [1]: W, the ATS witness */
static int n_atsd;
static const char *sha_nvme, *sha_vda;

/* Report the first few errors of each kind, then only count them. */
static void note_unexpected(const char *who, const char *what, int err)
{
	long n = atomic_fetch_add(&unexpected, 1);

	if (n < 10)
		ktap_diag("UNEXPECTED: %s: %s: %s", who, what, strerror(-err));
}

static bool done(void)
{
	if (atomic_load(&stopping))
		return true;
	if (now_ns() > deadline_ns || atomic_load(&n_ops) >= max_ops) {
		atomic_store(&stopping, true);
		return true;
	}
	return false;
}

static int op_begin(void)
{
	pthread_rwlock_rdlock(&ph_lock);
	return phase;
}

static void op_end(void)
{
	pthread_rwlock_unlock(&ph_lock);
	atomic_fetch_add(&n_ops, 1);
}

/* --- fault injection ------------------------------------------------------ */

static int writef(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int writef(const char *path, const char *fmt, ...)
{
	char val[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return write_file(path, val);
}

static long read_long(const char *path)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 0);
}

/*
 * This thread's make-it-fail and fail-nth, opened once before any injection:
 * opening a file allocates, so turning make-it-fail off through a fresh open
 * could itself be failed by failslab and leave the teardown injected. Writing
 * to an open one does not allocate.
 */
static __thread int mif_fd = -1, nth_fd = -1;

static void inject_fds(void)
{
	if (!have_failslab)
		return;
	if (mif_fd < 0)
		mif_fd = open("/proc/thread-self/make-it-fail", O_RDWR | O_CLOEXEC);
	if (nth_fd < 0)
		nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
}

static void make_it_fail(bool on)
{
	int i;

	if (!have_failslab)
		return;
	for (i = 0; i < 100; i++)
		if (pwrite(mif_fd, on ? "1" : "0", 1, 0) == 1)
			return;
	ktap_diag("HARNESS: cannot set make-it-fail to %d: %s", on, strerror(errno));
	atomic_fetch_add(&unexpected, 1);
}

static void nth_set(unsigned int n)
{
	char val[16];
	int len = snprintf(val, sizeof(val), "%u", n), i;

	for (i = 0; i < 100; i++)
		if (pwrite(nth_fd, val, len, 0) == len)
			return;
	ktap_diag("HARNESS: cannot set fail-nth to %u: %s", n, strerror(errno));
	atomic_fetch_add(&unexpected, 1);
}

static long nth_get(void)
{
	char buf[32];
	ssize_t n = pread(nth_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 0);
}

/*
 * The injection window of an operation: only the forward steps (attach, map)
 * are injected. Teardown (unmap, detach, close) is outside it: the kernel
 * requires the return to the default domain to succeed (the IOMMU core WARNs
 * otherwise), so failing it would test a contract nobody offers. The same
 * return made inside the window, when an injected failure undoes an attach,
 * is kept out by failslab's reject range (failslab_setup()).
 */
static void inject_begin(int ph, unsigned int nth)
{
	if (ph == PH_RANDOM)
		make_it_fail(true);
	else if (ph == PH_PREPARE)
		nth_set(nth);
}

/* Ends the window; in the prepare phase returns fail-nth (0: injected). */
static long inject_end(int ph)
{
	long left = -1;

	if (ph == PH_RANDOM) {
		make_it_fail(false);
	} else if (ph == PH_PREPARE) {
		left = nth_get();
		nth_set(0);
	}
	return left;
}

/* The text range of a kernel function, from /proc/kallsyms. */
static int sym_range(const char *name, unsigned long *start, unsigned long *end)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], sym[256], type;
	unsigned long addr, s = 0, e = ~0ul;
	size_t len = strlen(name);

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %255s", &addr, &type, sym) == 3 &&
		    (type == 't' || type == 'T') && !strncmp(sym, name, len) &&
		    (sym[len] == 0 || sym[len] == '.') && addr) {
			s = addr;
			break;
		}
	if (!s) {
		fclose(f);
		return -ENOENT;
	}
	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c", &addr, &type) == 2 && addr > s && addr < e)
			e = addr;
	fclose(f);
	*start = s;
	*end = e;
	return e != ~0ul ? 0 : -ENOENT;
}

static void failslab_setup(void)
{
	have_failslab = !access(FAILSLAB "/probability", W_OK) &&
			!access("/proc/thread-self/fail-nth", W_OK);
	if (!have_failslab)
		return;
	write_file(FAILSLAB "/probability", "0");
	write_file(FAILSLAB "/interval", "1");
	write_file(FAILSLAB "/times", "1000000000");
	write_file(FAILSLAB "/space", "0");
	write_file(FAILSLAB "/verbose", "0");
	write_file(FAILSLAB "/task-filter", "Y");
	write_file(FAILSLAB "/ignore-gfp-wait", "N");
	write_file(FAILSLAB "/cache-filter", "N");
	/* Pages are not injected: keep fail-nth for failslab alone. */
	write_file(FAIL_PAGE "/probability", "0");
	write_file(FAIL_PAGE "/min-order", "11");
	have_prepare_seam = !access(FAILSLAB "/require-start", W_OK) &&
			    !sym_range("arm_smmu_attach_prepare", &prep_start, &prep_end);
	/*
	 * A failed attach inside the window unwinds to the default domain
	 * (iommu_group_release_dma_owner() after a failed VFIO_GROUP_SET_CONTAINER
	 * or VFIO_SET_IOMMU): a must-succeed attach, like the teardown. Never
	 * inject below it, in every phase.
	 */
	if (!access(FAILSLAB "/reject-start", W_OK) &&
	    !sym_range("__iommu_release_dma_ownership", &rel_start, &rel_end)) {
		writef(FAILSLAB "/reject-start", "%lu", rel_start);
		writef(FAILSLAB "/reject-end", "%lu", rel_end);
		have_restore_guard = true;
	}
}

static long failslab_times(void)
{
	return have_failslab ? read_long(FAILSLAB "/times") : 0;
}

static void set_phase(int ph, int pct)
{
	pthread_rwlock_wrlock(&ph_lock);
	if (have_failslab) {
		write_file(FAILSLAB "/probability", "0");
		if (ph == PH_PREPARE || ph == PH_PURGE) {
			writef(FAILSLAB "/require-start", "%lu", ph == PH_PURGE ? purge_start : prep_start);
			writef(FAILSLAB "/require-end", "%lu", ph == PH_PURGE ? purge_end : prep_end);
		} else if (!access(FAILSLAB "/require-start", W_OK)) {
			write_file(FAILSLAB "/require-start", "0");
			writef(FAILSLAB "/require-end", "%lu", ~0ul);
		}
		if (ph == PH_RANDOM)
			writef(FAILSLAB "/probability", "%d", pct);
	}
	phase = ph;
	pthread_rwlock_unlock(&ph_lock);
}

/*
 * The outcome of an operation that fault injection may have failed. In the
 * prepare phase, @left is fail-nth read back after it (0: injected).
 *
 * An injected failure must surface as ENOMEM, or be absorbed: the fail-nth
 * count also reaches the allocations the debug kernel's instrumentation makes
 * under attach prepare (kmemleak's metadata of the kzalloc'ed object,
 * debugobjects refilling its pool in kfree_rcu()), which fall back to their
 * own pools; and type1 recovers from a failed attach to the shared domain by
 * keeping the group in the domain it made for it. An absorbed failure is
 * judged by what follows: no error later, no leak, no splat, DMA still right.
 * Each complete sweep must have surfaced at least one failure: the driver's
 * own allocations (the arm_smmu_master_domain, the merged array) fail the
 * attach.
 */
enum { NTH_NONE, NTH_SURFACED, NTH_ABSORBED, NTH_DONE };

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static long sweep_min = -1, sweep_max = -1;	/* surfaced per complete cycle sweep */

static int classify(const char *who, int ph, long left, int ret)
{
	if (ph == PH_RANDOM) {
		if (ret)
			atomic_fetch_add(&rnd_errors, 1);
		return NTH_NONE;
	}
	if (ph == PH_PREPARE && left == 0) {
		atomic_fetch_add(&nth_injected, 1);
		if (!ret) {
			atomic_fetch_add(&nth_absorbed, 1);
			return NTH_ABSORBED;
		}
		atomic_fetch_add(&nth_surfaced, 1);
		if (ret != -ENOMEM && atomic_fetch_add(&nth_wrong_errno, 1) < 5)
			ktap_diag("%s: failure injected in attach prepare surfaced as %s, not ENOMEM",
			     who, strerror(-ret));
		return NTH_SURFACED;
	}
	if (ret)
		note_unexpected(who, "attach", ret);
	if (ph != PH_PREPARE)
		return NTH_NONE;
	atomic_fetch_add(&nth_sweeps, 1);
	return NTH_DONE;
}

/* A thread's sweep over fail-nth: N and the failures surfaced so far. */
struct sweep {
	unsigned int nth;
	long surfaced;
	bool record;	/* count it in sweep_min/max (the cycle threads) */
};

static void sweep_next(struct sweep *sw, int outcome)
{
	switch (outcome) {
	case NTH_SURFACED:
		sw->surfaced++;
		/* fall through */
	case NTH_ABSORBED:
		sw->nth++;
		break;
	case NTH_DONE:
		if (sw->record) {
			pthread_mutex_lock(&sweep_lock);
			if (sweep_min < 0 || sw->surfaced < sweep_min)
				sweep_min = sw->surfaced;
			if (sw->surfaced > sweep_max)
				sweep_max = sw->surfaced;
			pthread_mutex_unlock(&sweep_lock);
		}
		sw->nth = 1;
		sw->surfaced = 0;
		break;
	}
}

/* --- edu DMA through a VFIO domain ---------------------------------------- */

struct edu {
	struct vfio v;
	volatile uint32_t *bar;
	size_t barsz;
	uint8_t *src[POOL], *dst[POOL];
	unsigned int seq;
	pthread_mutex_t lock;
};

static void edu_bufs(struct edu *e)
{
	int i;

	for (i = 0; i < POOL; i++) {
		e->src[i] = aligned_alloc(4096, 4096);
		e->dst[i] = aligned_alloc(4096, 4096);
		memset(e->src[i], 0, 4096);
		memset(e->dst[i], 0, 4096);
	}
	pthread_mutex_init(&e->lock, NULL);
}

/* After vfio_open(.., true): BAR0 and bus mastering. */
static int edu_enable(struct edu *e)
{
	uint16_t cmd;
	int ret;

	e->bar = vfio_mmap_bar(&e->v, 0, &e->barsz);
	if (!e->bar)
		return -ENXIO;
	ret = vfio_cfg_read16(&e->v, PCI_COMMAND, &cmd);
	if (!ret)
		ret = vfio_cfg_write16(&e->v, PCI_COMMAND, cmd | PCI_COMMAND_MASTER);
	return ret;
}

static void edu_disable(struct edu *e)
{
	if (e->bar)
		munmap((void *)e->bar, e->barsz);
	e->bar = NULL;
}

/*
 * Map a fresh buffer pair at the fixed IOVAs, copy src -> edu -> dst by DMA,
 * compare, unmap. 0: match, 1: mismatch, <0: an error (map, timeout).
 */
static int edu_check(struct edu *e)
{
	unsigned int s = e->seq++, k = s % POOL, i;
	uint8_t *src = e->src[k], *dst = e->dst[k];
	int ret, bad = 0;

	for (i = 0; i < 4096; i++) {
		src[i] = (uint8_t)(s * 131 + i * 7 + (i >> 8));
		dst[i] = 0;
	}
	ret = vfio_map(&e->v, src, IOVA_SRC, 4096);
	if (ret)
		return ret;
	ret = vfio_map(&e->v, dst, IOVA_DST, 4096);
	if (ret) {
		vfio_unmap(&e->v, IOVA_SRC, 4096);
		return ret;
	}
	edu_dma(e->bar, IOVA_SRC, EDU_BUF, DMA_LEN, 0);
	ret = edu_wait(e->bar, 5000);
	if (!ret) {
		edu_dma(e->bar, EDU_BUF, IOVA_DST, DMA_LEN, EDU_CMD_TO_RAM);
		ret = edu_wait(e->bar, 5000);
	}
	if (!ret) {
		bad = memcmp(src, dst, DMA_LEN) != 0;
		for (i = DMA_LEN; i < 4096 && !bad; i++)
			bad = dst[i] != 0;
	}
	if (vfio_unmap(&e->v, IOVA_SRC, 4096) || vfio_unmap(&e->v, IOVA_DST, 4096))
		ret = ret ?: -EIO;
	return ret ? ret : bad;
}

static void count_check(const char *who, int r)
{
	if (r > 0) {
		if (atomic_fetch_add(&dma_bad, 1) < 5)
			ktap_diag("%s: edu DMA data DIFFERS (check %s)", who, "through the SMMU");
	} else if (r < 0) {
		atomic_fetch_add(&dma_err, 1);
		note_unexpected(who, "edu DMA check", r);
	}
}

static struct edu edu0;	/* C0: the witness's container, D0 its domain */

/* --- the threads ------------------------------------------------------------ */

static void *witness_fn(void *arg)
{
	while (!done()) {
		int r;

		pthread_mutex_lock(&edu0.lock);
		r = edu_check(&edu0);
		pthread_mutex_unlock(&edu0.lock);
		count_check("witness", r);
		atomic_fetch_add(&witness_checks, 1);
		atomic_fetch_add(&n_ops, 1);
	}
	return NULL;
}

/*
 * Map 16 pages one by one, then unmap them one by one: every unmap is an
 * invalidation of D0, as many of them as the guest can issue, so that some
 * run while the join thread swaps D0's array (two hammers, one per vCPU).
 */
static void *hammer_fn(void *arg)
{
	const size_t sz = 4096, npages = 16;
	uint64_t base = IOVA_HAMMER + (uint64_t)(intptr_t)arg * 0x100000;
	char *buf = aligned_alloc(4096, npages * sz);
	int ret = 0, ph;
	size_t j, n;

	memset(buf, 0x5a, npages * sz);	/* faulted in before injection starts */
	inject_fds();
	while (!done()) {
		ph = op_begin();
		inject_begin(ph == PH_RANDOM ? ph : PH_CLEAN, 0);
		for (n = 0; n < npages; n++) {
			ret = vfio_map(&edu0.v, buf + n * sz, base + n * sz, sz);
			if (ret)
				break;
		}
		inject_end(ph == PH_RANDOM ? ph : PH_CLEAN);
		if (ret && ph == PH_RANDOM)
			atomic_fetch_add(&rnd_errors, 1);
		else if (ret)
			note_unexpected("hammer", "map", ret);
		for (j = 0; j < n; j++) {
			ret = vfio_unmap(&edu0.v, base + j * sz, sz);
			if (ret)
				note_unexpected("hammer", "unmap", ret);
		}
		op_end();
		atomic_fetch_add(&hammer_rounds, 1);
	}
	return NULL;
}

/* D0 must still translate right after an attach to it failed. */
static void witness_now(void)
{
	int r;

	pthread_mutex_lock(&edu0.lock);
	r = edu_check(&edu0);
	pthread_mutex_unlock(&edu0.lock);
	count_check("witness after an injected attach failure", r);
	atomic_fetch_add(&nth_witness_checks, 1);
}

/* --- ATS: ats-testdev W in D0, through its ATC ------------------------------ */

#define IOVA_ATS_SRC	0x3000000
#define IOVA_ATS_DST	0x3100000

static struct {
	int group;		/* W's group fd, in C0 */
	volatile uint32_t *bar;
	size_t barsz;
	uint8_t *src[POOL], *dst[POOL];
	unsigned int seq;
	pthread_mutex_t lock;
	uint64_t transl0, inv0;	/* W's counters at the start */
} atsw = { .group = -1 };

/*
 * Map a fresh buffer pair at W's IOVAs in C0, let W copy a page from one to
 * the other through its ATC, compare, unmap. Both pages must have gone as
 * translated DMA (ATS on for W), the destination of the check before, zeroed
 * after it, must still be zero (a stale ATC entry writes the old page), and
 * the source's pattern changes every check (a stale one reads the old page).
 * 0: right, 1: wrong, <0: an error.
 */
static int atsw_check(void)
{
	unsigned int s = atsw.seq++, k = s % POOL, i;
	uint8_t *src = atsw.src[k], *dst = atsw.dst[k], *prev = atsw.dst[(k + POOL - 1) % POOL];
	uint64_t tr = atcdev_rd64(atsw.bar, ATCDEV_TRANSL);
	uint32_t st;
	int ret, bad = 0;

	for (i = 0; i < 4096; i++) {
		src[i] = (uint8_t)(s * 151 + i * 3 + (i >> 9));
		dst[i] = 0;
	}
	ret = vfio_map(&edu0.v, src, IOVA_ATS_SRC, 4096);
	if (ret)
		return ret;
	ret = vfio_map(&edu0.v, dst, IOVA_ATS_DST, 4096);
	if (ret) {
		vfio_unmap(&edu0.v, IOVA_ATS_SRC, 4096);
		return ret;
	}
	st = atcdev_copy(atsw.bar, IOVA_ATS_SRC, IOVA_ATS_DST, 4096);
	if (st) {
		ret = -EIO;
	} else {
		bad = memcmp(src, dst, 4096) != 0;
		for (i = 0; i < 4096 && !bad; i++)
			bad = prev[i] != 0;
		if (atcdev_rd64(atsw.bar, ATCDEV_TRANSL) - tr != 2 && !bad)
			bad = 2;	/* not through the ATC: ATS off */
	}
	if (vfio_unmap(&edu0.v, IOVA_ATS_SRC, 4096) || vfio_unmap(&edu0.v, IOVA_ATS_DST, 4096))
		ret = ret ?: -EIO;
	memset(dst, 0, 4096);
	return ret ? ret : bad;
}

static void atsw_count(const char *who, int r)
{
	if (r > 0) {
		if (atomic_fetch_add(&ats_bad, 1) < 5)
			ktap_diag("%s: ats-testdev %s copy %s", who, atsd_bdf[1],
				  r == 2 ? "right but NOT TRANSLATED (ATS off for W?)" :
				  "WRONG: new buffer not written or old one written (stale ATC entry)");
	} else if (r < 0) {
		atomic_fetch_add(&ats_err, 1);
		note_unexpected(who, "ats-testdev copy", r);
	}
	atomic_fetch_add(&ats_checks, 1);
}

static void *ats_witness_fn(void *arg)
{
	while (!done()) {
		int r;

		pthread_mutex_lock(&atsw.lock);
		r = atsw_check();
		pthread_mutex_unlock(&atsw.lock);
		atsw_count("ats witness", r);
		atomic_fetch_add(&n_ops, 1);
	}
	return NULL;
}

/* Both witnesses check D0 right after an injected failure. */
static void witnesses_now(void)
{
	witness_now();
	if (atsw.bar) {
		pthread_mutex_lock(&atsw.lock);
		atsw_count("ats witness after an injected failure", atsw_check());
		pthread_mutex_unlock(&atsw.lock);
	}
}

/* W joins C0 for the whole run: D0's array gets W's ATS target. */
static int atsw_setup(void)
{
	unsigned int ctrl = 0;
	int i, ret;

	for (i = 0; i < POOL; i++) {
		atsw.src[i] = aligned_alloc(4096, 4096);
		atsw.dst[i] = aligned_alloc(4096, 4096);
		memset(atsw.src[i], 0, 4096);
		memset(atsw.dst[i], 0, 4096);
	}
	pthread_mutex_init(&atsw.lock, NULL);
	atsw.group = vfio_group_open(atsd_bdf[1]);
	if (atsw.group < 0)
		return atsw.group;
	if (ioctl(atsw.group, VFIO_GROUP_SET_CONTAINER, &edu0.v.container))
		return -errno;
	ret = atcdev_map_bar(atsd_bdf[1], &atsw.bar, &atsw.barsz);
	if (ret)
		return ret;
	if (!pci_ats_cap(atsd_bdf[1], &ctrl) || !(ctrl & PCI_ATS_CTRL_ENABLE))
		return -EOPNOTSUPP;	/* ATS must be on in D0 */
	atsw.transl0 = atcdev_rd64(atsw.bar, ATCDEV_TRANSL);
	atsw.inv0 = atcdev_rd64(atsw.bar, ATCDEV_INV);
	return atsw_check() ? -EIO : 0;
}

/* A device's group that joins the witness's container (so D0) and leaves it */
struct joiner {
	const char *who;
	const char *bdf;
	atomic_long *joins;
	bool purge;	/* the ats join: fail the purge's allocation in PH_PURGE */
};

/*
 * The leave: VFIO_GROUP_UNSET_CONTAINER moves the group to the blocking
 * domain, whose commit drops its targets from D0's array. In the purge
 * phase the first allocation under arm_smmu_domain_unref_invs() fails.
 */
static void leave(const struct joiner *j, int fd, int ph)
{
	bool purge = j->purge && ph == PH_PURGE;
	long left = -1;

	if (purge)
		nth_set(1);
	if (ioctl(fd, VFIO_GROUP_UNSET_CONTAINER))
		note_unexpected(j->who, "unset container", -errno);
	if (purge) {
		left = nth_get();
		nth_set(0);
		atomic_fetch_add(&ats_purge_windows, 1);
		if (left == 0) {
			atomic_fetch_add(&ats_purge_injected, 1);
			witnesses_now();
		}
	}
}

static void *join_fn(void *arg)
{
	const struct joiner *j = arg;
	struct sweep sw = { .nth = 1 };
	int fd, ret, ph;
	long left;

	inject_fds();
	while (!done()) {
		ph = op_begin();
		fd = vfio_group_open(j->bdf);
		if (fd < 0) {
			note_unexpected(j->who, "open group", fd);
			op_end();
			continue;
		}
		inject_begin(ph, sw.nth);
		ret = ioctl(fd, VFIO_GROUP_SET_CONTAINER, &edu0.v.container) ? -errno : 0;
		left = inject_end(ph);
		sweep_next(&sw, classify(j->who, ph, left, ret));
		if (!ret) {
			atomic_fetch_add(j->joins, 1);
			usleep(2000);
			leave(j, fd, ph);
		}
		close(fd);
		op_end();
		if (ph == PH_PREPARE && left == 0)
			witnesses_now();
	}
	return NULL;
}

/* The fault injection window of a VFIO open: the steps that attach */
struct sopen_window {
	int ph;
	unsigned int nth;
	long left;	/* fail-nth as inject_end() returns it */
};

static void sopen_around(void *arg, bool begin)
{
	struct sopen_window *w = arg;

	if (begin)
		inject_begin(w->ph, w->nth);
	else
		w->left = inject_end(w->ph);
}

static int sopen(struct vfio *v, const char *bdf, bool want_device, int ph,
		 unsigned int nth, long *left)
{
	struct sopen_window w = { .ph = ph, .nth = nth, .left = -1 };
	int ret = vfio_open_around(v, bdf, want_device, sopen_around, &w);

	*left = w.left;
	return ret;
}

static void *cycle_fn(void *arg)
{
	int idx = (int)(intptr_t)arg, ph, ret, j, n;
	const size_t sz = 64 << 10;
	char *buf = aligned_alloc(1 << 16, 4 * sz), who[16];
	struct edu *e = calloc(1, sizeof(*e));
	struct sweep sw = { .nth = 1, .record = true };
	unsigned int iter = 0;
	long left;

	snprintf(who, sizeof(who), "cycle%d", idx);
	memset(buf, 0x33, 4 * sz);
	edu_bufs(e);
	for (j = 0; j < POOL; j++) {	/* fault them in before injection */
		memset(e->src[j], 1, 4096);
		memset(e->dst[j], 1, 4096);
	}
	inject_fds();
	while (!done()) {
		bool dev = (iter++ % 8) == 7;

		ph = op_begin();
		ret = sopen(&e->v, edu_bdf[idx], dev, ph, sw.nth, &left);
		sweep_next(&sw, classify(who, ph, left, ret));
		if (!ret) {
			atomic_fetch_add(&cycles, 1);
			inject_begin(ph == PH_RANDOM ? ph : PH_CLEAN, 0);
			for (n = 0; n < 4; n++)
				if ((ret = vfio_map(&e->v, buf + n * sz, 0x1000000 + n * sz, sz)))
					break;
			inject_end(ph == PH_RANDOM ? ph : PH_CLEAN);
			if (ret && ph == PH_RANDOM)
				atomic_fetch_add(&rnd_errors, 1);
			else if (ret)
				note_unexpected(who, "map", ret);
			for (j = 0; j < n; j++)
				if ((ret = vfio_unmap(&e->v, 0x1000000 + j * sz, sz)))
					note_unexpected(who, "unmap", ret);
			if (dev) {
				ret = edu_enable(e);
				if (ret)
					note_unexpected(who, "edu enable", ret);
				else
					count_check(who, edu_check(e));
				atomic_fetch_add(&cycle_dev_checks, 1);
				edu_disable(e);
			}
			vfio_close(&e->v);
		}
		op_end();
	}
	return NULL;
}

static void *reader_fn(void *arg)
{
	char dev[64], hex[65];
	size_t bytes;
	int ret;

	snprintf(dev, sizeof(dev), "/dev/%s", (const char *)arg);
	while (!done()) {
		ret = disk_sha256(dev, hex, &bytes);
		if (ret) {
			atomic_fetch_add(&read_err, 1);
			note_unexpected("reader", dev, ret);
		} else if (!sha_nvme || strcmp(hex, sha_nvme)) {
			if (atomic_fetch_add(&read_bad, 1) < 5)
				ktap_diag("reader: %s sha256 %s, host says %s", dev, hex, sha_nvme ?: "?");
		}
		atomic_fetch_add(&reads, 1);
		atomic_fetch_add(&n_ops, 1);
	}
	return NULL;
}

/* The block device of the virtio disk once virtio-blk has it, or -ETIMEDOUT. */
static int vda_name(char *name, size_t len)
{
	int i;

	for (i = 0; i < 1000; i++) {
		DIR *d = opendir("/sys/block");
		struct dirent *e;
		char path[128];

		while (d && (e = readdir(d)))
			if (!strncmp(e->d_name, "vd", 2)) {
				snprintf(path, sizeof(path), "/dev/%s", e->d_name);
				if (!access(path, R_OK)) {
					snprintf(name, len, "%s", e->d_name);
					closedir(d);
					return 0;
				}
			}
		if (d)
			closedir(d);
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int vda_check(const char *who)
{
	char name[32], dev[48], hex[65];
	size_t bytes;
	int ret = vda_name(name, sizeof(name));

	if (!ret) {
		snprintf(dev, sizeof(dev), "/dev/%s", name);
		ret = disk_sha256(dev, hex, &bytes);
	}
	atomic_fetch_add(&vda_reads, 1);
	if (ret) {
		atomic_fetch_add(&bind_err, 1);
		note_unexpected(who, "virtio disk read", ret);
		return ret;
	}
	if (!sha_vda || strcmp(hex, sha_vda)) {
		if (atomic_fetch_add(&vda_bad, 1) < 5)
			ktap_diag("%s: %s sha256 %s, host says %s", who, dev, hex, sha_vda ?: "?");
		return 1;
	}
	return 0;
}

static void *bind_fn(void *arg)
{
	char *buf = aligned_alloc(1 << 20, 1 << 20);
	struct vfio v;
	int ret;

	memset(buf, 0x11, 1 << 20);
	while (!done()) {
		ret = pci_bind(vblk_bdf, "vfio-pci");
		if (!ret) {
			ret = vfio_open(&v, vblk_bdf, false);
			if (!ret) {
				ret = vfio_map(&v, buf, 0x100000, 1 << 20);
				if (!ret)
					ret = vfio_unmap(&v, 0x100000, 1 << 20);
				vfio_close(&v);
			}
		}
		if (ret) {
			atomic_fetch_add(&bind_err, 1);
			note_unexpected("bind", "virtio disk to vfio-pci and a VFIO attach", ret);
		}
		ret = pci_bind(vblk_bdf, "virtio-pci");
		if (ret) {
			atomic_fetch_add(&bind_err, 1);
			note_unexpected("bind", "virtio disk back to virtio-pci", ret);
			break;
		}
		vda_check("bind");
		atomic_fetch_add(&binds, 1);
		atomic_fetch_add(&n_ops, 1);
	}
	return NULL;
}

/* --- setup and the end ------------------------------------------------------ */

static int kmemleak_cmd(const char *cmd)
{
	return write_file(KMEMLEAK, cmd);
}

/*
 * kmemleak's reports, after two scans: a scan does not report an object whose
 * contents changed since the previous scan (its checksum), and every object
 * the stress touched did, so leaks show from the second scan on. A scan of the
 * debug kernel under TCG takes 15-25 s.
 */
static long kmemleak_report(char **text)
{
	static char buf[1 << 20];
	int fd, n, total = 0;

	if (kmemleak_cmd("scan") || kmemleak_cmd("scan"))
		return -1;
	fd = open(KMEMLEAK, O_RDONLY);
	if (fd < 0)
		return -1;
	while (total < (int)sizeof(buf) - 1 &&
	       (n = read(fd, buf + total, sizeof(buf) - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = 0;
	*text = buf;
	return (long)count_substr(buf, "unreferenced object");
}

/*
 * Splats in the kernel log, KUnit included: the suites provoke the caller
 * bugs of drivers/pci/ats.c through a static stub, without a WARN.
 */
static long log_splats(char *log)
{
	static const char *const bad[] = {
		"WARNING:", "BUG:", "Oops", "KASAN:", "UBSAN:", "Call trace:",
		"possible recursive locking", "suspicious RCU usage",
		"possible circular locking", "inconsistent lock state",
		"ODEBUG:", "unreferenced object", "suspected memory leak",
		"leak detector disabled", "Memory pool empty", "Unable to handle kernel",
		"Internal error:",
		"self-detected stall", "rcu_preempt detected stall",
		"C_BAD_STE", "C_BAD_CD", "gerror", "event 0x",
	};
	char *after = (char *)kunit_end(log), saved = *after;
	long n = 0, c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (long)count_substr(after, bad[i]);
		if (c)
			ktap_diag("kernel log after KUnit: %ld x \"%s\"", c, bad[i]);
		n += c;
	}
	*after = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (long)count_substr(log, bad[i]);
		if (c)
			ktap_diag("kernel log during KUnit: %ld x \"%s\"", c, bad[i]);
		n += c;
	}
	*after = saved;
	return n;
}

static long arg(const char *key, long def)
{
	const char *s = cmdline_get(key);

	return s ? strtol(s, NULL, 0) : def;
}

int stress_main(void)
{
	long secs = arg("guest.stress_secs", 150), phase_secs = arg("guest.stress_phase_secs", 10);
	int pct = (int)arg("guest.stress_failslab_pct", 1), i, nedu, ret;
	struct joiner edu_joiner = { "join", edu_bdf[1], &joins, false };
	struct joiner ats_joiner = { "ats join", NULL, &ats_joins, true };
	pthread_t th[16];
	int nth_threads = 0;
	long times0, times_rnd = 0, times_all, t, leaks = -1, splats;
	char *leak_text = NULL, *log;
	bool have_kmemleak, kmemleak_off, final_ok = true;
	uint64_t t0;

	max_ops = arg("guest.stress_ops", 1000000);
	sha_nvme = cmdline_get("guest.sha_nvme");
	sha_nvme = sha_nvme ? strdup(sha_nvme) : NULL;
	sha_vda = cmdline_get("guest.sha_vda");
	sha_vda = sha_vda ? strdup(sha_vda) : NULL;
	{
		pthread_rwlockattr_t a;

		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&ph_lock, &a);
	}

	ktap_begin("stress", 11);
	ktap_diag("stress: %ld s (phases of %ld s), at most %ld operations, failslab %d%%",
	     secs, phase_secs, max_ops, pct);

	/* Devices */
	nedu = pci_find_all(EDU_VENDOR, EDU_DEVICE, edu_bdf, NR_EDU);
	ret = pci_find(0x1b36, 0x0010, nvme_bdf, sizeof(nvme_bdf)) ?:
	      pci_find(0x1af4, 0x1042, vblk_bdf, sizeof(vblk_bdf));
	for (i = 0; i < nedu && !ret; i++)
		ret = pci_bind(edu_bdf[i], "vfio-pci");
	if (!ret && nedu == NR_EDU) {
		edu_bufs(&edu0);
		ret = vfio_open(&edu0.v, edu_bdf[0], true) ?: edu_enable(&edu0);
	}
	ktap_result(!ret && nedu == NR_EDU, "stress_devices",
		    "%d edu device(s) (want %d), nvme %s, virtio %s, setup: %s", nedu, NR_EDU,
		    nvme_bdf[0] ? nvme_bdf : "missing", vblk_bdf[0] ? vblk_bdf : "missing",
		    strerror(-ret));
	if (ret || nedu != NR_EDU) {
		ktap_end();
		return 1;
	}
	ktap_diag("edu %s %s %s %s (vfio-pci), nvme %s, virtio %s", edu_bdf[0], edu_bdf[1],
	     edu_bdf[2], edu_bdf[3], nvme_bdf, vblk_bdf);

	/* The ATS SMMU: two ats-testdevs (scripts/stress.sh adds the second) */
	n_atsd = atcdev_find(atsd_bdf, NR_ATSD, true);
	if (n_atsd == NR_ATSD) {
		ret = pci_bind(atsd_bdf[0], "vfio-pci") ?: pci_bind(atsd_bdf[1], "vfio-pci") ?:
		      atsw_setup();
		ktap_diag("ats-testdev %s (sid 0x%x, joins and leaves D0), %s (sid 0x%x, in D0): %s",
			  atsd_bdf[0], pci_sid(atsd_bdf[0]), atsd_bdf[1], pci_sid(atsd_bdf[1]),
			  ret ? strerror(-ret) : "ATS on, a copy through the ATC right");
		if (ret) {
			ktap_end();
			return 1;
		}
	} else if (n_atsd > 0) {
		ktap_diag("%d ats-testdev(s), not %d: no ATS threads", n_atsd, NR_ATSD);
		n_atsd = 0;
	}

	failslab_setup();
	/* (a kernel with the invalidation arrays, and the two ats-testdevs) */
	have_purge_seam = have_prepare_seam && atsw.bar &&
			  !sym_range("arm_smmu_domain_unref_invs", &purge_start, &purge_end);
	if (have_prepare_seam)
		ktap_diag("fault injection: failslab and fail-nth; attach prepare seam: arm_smmu_attach_prepare at 0x%lx..0x%lx",
		     prep_start, prep_end);
	else
		ktap_diag("fault injection: %s", have_failslab ?
		     "failslab and fail-nth, but no stacktrace filter or no arm_smmu_attach_prepare in /proc/kallsyms" :
		     "not available in this kernel (no failslab debugfs or fail-nth)");
	if (have_purge_seam)
		ktap_diag("fault injection: purge seam: arm_smmu_domain_unref_invs at 0x%lx..0x%lx",
			  purge_start, purge_end);
	if (have_restore_guard) {
		ktap_diag("fault injection: never below __iommu_release_dma_ownership at 0x%lx..0x%lx (a must-succeed attach)",
			  rel_start, rel_end);
	} else if (have_failslab) {
		ktap_diag("HARNESS: no failslab reject range for __iommu_release_dma_ownership (stacktrace filter or symbol missing): an injected failure could break a must-succeed attach");
		atomic_fetch_add(&unexpected, 1);
	}
	/* guest.stress_kmemleak=0: no scans (make check's stage-2 run; its s1 run scans) */
	kmemleak_off = !arg("guest.stress_kmemleak", 1);
	have_kmemleak = !kmemleak_off && !access(KMEMLEAK, W_OK);
	if (have_kmemleak) {
		uint64_t k0 = now_ns();
		char *text;

		/* Only what the stress leaks counts: mark what is there now. */
		ktap_diag("kmemleak: %ld report(s) before the stress (boot, KUnit), cleared",
		     kmemleak_report(&text));
		kmemleak_cmd("clear");
		ktap_diag("kmemleak baseline scan: %llu s", (unsigned long long)((now_ns() - k0) / 1000000000ull));
	}
	times0 = failslab_times();

	/* Go */
	t0 = now_ns();
	deadline_ns = t0 + (uint64_t)secs * 1000000000ull;
	pthread_create(&th[nth_threads++], NULL, witness_fn, NULL);
	pthread_create(&th[nth_threads++], NULL, hammer_fn, (void *)0);
	pthread_create(&th[nth_threads++], NULL, hammer_fn, (void *)1);
	pthread_create(&th[nth_threads++], NULL, join_fn, &edu_joiner);
	if (atsw.bar) {
		ats_joiner.bdf = atsd_bdf[0];
		pthread_create(&th[nth_threads++], NULL, ats_witness_fn, NULL);
		pthread_create(&th[nth_threads++], NULL, join_fn, &ats_joiner);
	}
	pthread_create(&th[nth_threads++], NULL, cycle_fn, (void *)(intptr_t)2);
	pthread_create(&th[nth_threads++], NULL, cycle_fn, (void *)(intptr_t)3);
	pthread_create(&th[nth_threads++], NULL, reader_fn, "nvme0n1");
	pthread_create(&th[nth_threads++], NULL, reader_fn, "nvme0n1");
	pthread_create(&th[nth_threads++], NULL, bind_fn, NULL);

	for (t = 0; !done(); t++) {
		/*
		 * prepare, random, purge (the seams there are), prepare, ...:
		 * prepare first, so that a short boot (make check's 40 s)
		 * has two prepare phases, where a fail-nth sweep interrupted
		 * by the phase's end goes on
		 */
		static const int all[] = { PH_PREPARE, PH_RANDOM, PH_PURGE };
		const int *phases = have_prepare_seam ? all : &all[1];
		int nph = !have_prepare_seam ? 1 : !have_purge_seam ? 2 : 3;
		int ph = !have_failslab ? PH_CLEAN : phases[t % nph];
		long before = failslab_times();
		uint64_t end = now_ns() + (uint64_t)phase_secs * 1000000000ull;

		set_phase(ph, pct);
		while (!done() && now_ns() < end)
			usleep(100000);
		set_phase(PH_CLEAN, 0);
		if (ph == PH_RANDOM)
			times_rnd += before - failslab_times();
		ktap_diag("t=%llus %s phase: ops %ld (cycles %ld, joins %ld, maps %ld, DMA checks %ld, reads %ld, binds %ld), injected %ld, unexpected %ld",
		     (unsigned long long)((now_ns() - t0) / 1000000000ull), ph_name[ph],
		     atomic_load(&n_ops), atomic_load(&cycles), atomic_load(&joins),
		     atomic_load(&hammer_rounds), atomic_load(&witness_checks) + atomic_load(&cycle_dev_checks),
		     atomic_load(&reads), atomic_load(&binds), times0 - failslab_times(),
		     atomic_load(&unexpected));
	}
	atomic_store(&stopping, true);
	for (i = 0; i < nth_threads; i++)
		pthread_join(th[i], NULL);
	set_phase(PH_CLEAN, 0);
	times_all = have_failslab ? times0 - failslab_times() : 0;
	ktap_diag("stopped after %llu s", (unsigned long long)((now_ns() - t0) / 1000000000ull));

	/* Results of the run */
	ktap_result(atomic_load(&cycles) > 0 && !atomic_load(&unexpected), "vfio_attach_cycles",
		    "%ld cycles on edu2/edu3 (%ld with an edu DMA check), %ld unexpected error(s)",
		    atomic_load(&cycles), atomic_load(&cycle_dev_checks), atomic_load(&unexpected));
	ktap_diag("vfio_attach_cycles: %ld (%ld with an edu DMA check in the new domain)",
	     atomic_load(&cycles), atomic_load(&cycle_dev_checks));
	ktap_result(atomic_load(&joins) > 0 && atomic_load(&hammer_rounds) > 0,
		    "shared_domain_join_and_invalidate", "%ld joins of D0, %ld map/unmap rounds in D0",
		    atomic_load(&joins), atomic_load(&hammer_rounds));
	ktap_diag("shared domain D0: %ld joins/leaves of edu1, %ld x (16 map + 16 unmap) of 4 KiB by two hammers",
	     atomic_load(&joins), atomic_load(&hammer_rounds));
	ktap_result(atomic_load(&binds) > 0 && !atomic_load(&bind_err) && !atomic_load(&vda_bad),
		    "bind_unbind_cycles", "%ld rebinds, %ld error(s), %ld of %ld virtio disk reads differ",
		    atomic_load(&binds), atomic_load(&bind_err), atomic_load(&vda_bad),
		    atomic_load(&vda_reads));
	ktap_diag("virtio disk: %ld x virtio-pci -> vfio-pci (attach cycle) -> virtio-pci, %ld reads",
	     atomic_load(&binds), atomic_load(&vda_reads));
	ktap_result(atomic_load(&witness_checks) > 0 && atomic_load(&reads) > 0 &&
		    !atomic_load(&dma_bad) && !atomic_load(&dma_err) && !atomic_load(&read_bad) &&
		    !atomic_load(&read_err), "dma_checksums_match",
		    "edu DMA: %ld bad, %ld errors; nvme: %ld of %ld reads differ, %ld errors",
		    atomic_load(&dma_bad), atomic_load(&dma_err), atomic_load(&read_bad),
		    atomic_load(&reads), atomic_load(&read_err));
	ktap_diag("checksums: %ld edu DMA checks in D0 + %ld in new domains, %ld nvme reads; %ld bad",
	     atomic_load(&witness_checks), atomic_load(&cycle_dev_checks), atomic_load(&reads),
	     atomic_load(&dma_bad) + atomic_load(&read_bad) + atomic_load(&vda_bad));

	/* Fault injection */
	if (have_failslab) {
		long errs = atomic_load(&rnd_errors);

		ktap_result(times_rnd > 0 && errs <= times_rnd, "failslab_failures_surface",
			    "%ld failures injected at random, %ld operations failed (more failures than injections?)",
			    times_rnd, errs);
		ktap_diag("failslab (random, task-filtered): %ld failures injected, %ld operations failed with an error",
		     times_rnd, errs);
	} else {
		ktap_skip("failslab_failures_surface", "no failslab in this kernel");
	}
	if (have_prepare_seam) {
		ktap_result(atomic_load(&nth_injected) > 0 && sweep_min >= 1 &&
			    !atomic_load(&nth_wrong_errno), "attach_prepare_failures_surface",
			    "%ld injected, %ld surfaced, %ld absorbed, %ld not ENOMEM, %ld sweeps, %ld..%ld surfaced per attach cycle sweep (want >= 1)",
			    atomic_load(&nth_injected), atomic_load(&nth_surfaced),
			    atomic_load(&nth_absorbed), atomic_load(&nth_wrong_errno),
			    atomic_load(&nth_sweeps), sweep_min, sweep_max);
		ktap_diag("attach prepare (fail-nth under arm_smmu_attach_prepare): %ld failures injected, %ld surfaced as ENOMEM, %ld absorbed (instrumentation pools, type1 fallback), %ld complete sweeps; each attach cycle sweep surfaced %ld..%ld; D0 checked %ld times right after",
		     atomic_load(&nth_injected), atomic_load(&nth_surfaced), atomic_load(&nth_absorbed),
		     atomic_load(&nth_sweeps), sweep_min, sweep_max, atomic_load(&nth_witness_checks));
	} else {
		ktap_skip("attach_prepare_failures_surface",
			  have_failslab ? "arm_smmu_attach_prepare not found in /proc/kallsyms" : "no failslab");
	}
	if (!atsw.bar) {
		ktap_skip("ats_and_purge_seams",
			  "no pair of ats-testdevs: not the ATS SMMU (STRESS_SMMU=ats), where D0 holds ATS targets and arm_smmu_invs_purge() allocates");
	} else {
		uint64_t transl = atcdev_rd64(atsw.bar, ATCDEV_TRANSL) - atsw.transl0;
		uint64_t inv = atcdev_rd64(atsw.bar, ATCDEV_INV) - atsw.inv0;
		bool purge_ok = have_purge_seam && atomic_load(&ats_purge_injected) > 0;

		ktap_result(atomic_load(&ats_checks) > 0 && !atomic_load(&ats_bad) &&
			    !atomic_load(&ats_err) && atomic_load(&ats_joins) > 0 &&
			    transl >= 2 * (uint64_t)atomic_load(&ats_checks) && inv > 0 && purge_ok,
			    "ats_and_purge_seams",
			    "ats witness: %ld copies through the ATC, %ld wrong, %ld errors; W: %llu translated pages, %llu ATS invalidations; %ld ats joins of D0; purge seam %s: %ld leaves in its phase, %ld with the purge's allocation failed (want > 0)",
			    atomic_load(&ats_checks), atomic_load(&ats_bad), atomic_load(&ats_err),
			    (unsigned long long)transl, (unsigned long long)inv,
			    atomic_load(&ats_joins),
			    have_purge_seam ? "on" :
			    have_prepare_seam ? "MISSING (no arm_smmu_domain_unref_invs in /proc/kallsyms)" :
			    "MISSING (no failslab stacktrace filter)",
			    atomic_load(&ats_purge_windows), atomic_load(&ats_purge_injected));
		ktap_diag("ATS: W %s checked %ld times through its ATC (%llu translated pages, %llu ATS invalidations received); A %s joined D0 %ld times; %ld leaves with the purge's allocation failed and absorbed",
			  atsd_bdf[1], atomic_load(&ats_checks), (unsigned long long)transl,
			  (unsigned long long)inv, atsd_bdf[0], atomic_load(&ats_joins),
			  atomic_load(&ats_purge_injected));
	}

	/* Every device still works, without injection */
	t = (long)((now_ns() - t0) / 1000000000ull);
	if (atsw.bar) {
		int r = atsw_check();

		if (r) {
			final_ok = false;
			ktap_diag("final check: ats-testdev %s: %s", atsd_bdf[1],
				  r > 0 ? "copy wrong or untranslated" : strerror(-r));
		}
		if (ioctl(atsw.group, VFIO_GROUP_UNSET_CONTAINER)) {
			final_ok = false;
			ktap_diag("final check: ats-testdev %s leaves C0: %s", atsd_bdf[1],
				  strerror(errno));
		}
		close(atsw.group);
	}
	edu_disable(&edu0);
	vfio_close(&edu0.v);
	for (i = 0; i < NR_EDU; i++) {
		struct edu *e = calloc(1, sizeof(*e));
		int r;

		edu_bufs(e);
		r = vfio_open(&e->v, edu_bdf[i], true) ?: edu_enable(e);
		if (!r)
			r = edu_check(e);
		if (r) {
			final_ok = false;
			ktap_diag("final check: edu %s: %s", edu_bdf[i], r > 0 ? "data differs" : strerror(-r));
		}
		edu_disable(e);
		vfio_close(&e->v);
	}
	if (vda_check("final")) {
		final_ok = false;
		ktap_diag("final check: the virtio disk does not read back");
	}
	{
		char hex[65];
		size_t bytes;

		if (disk_sha256("/dev/nvme0n1", hex, &bytes) || !sha_nvme || strcmp(hex, sha_nvme)) {
			final_ok = false;
			ktap_diag("final check: the nvme disk does not read back");
		}
	}
	ktap_result(final_ok, "devices_work_after_stress",
		    "an attach + edu DMA on each edu, or a disk read, failed after the stress");

	ktap_diag("final checks: %ld s", (long)((now_ns() - t0) / 1000000000ull) - t);
	/* Leaks: objects must be older than kmemleak's minimum age (5 s) */
	if (have_kmemleak) {
		uint64_t k0;

		sleep(6);
		k0 = now_ns();
		leaks = kmemleak_report(&leak_text);
		ktap_diag("kmemleak final scan: %llu s", (unsigned long long)((now_ns() - k0) / 1000000000ull));
		ktap_result(leaks == 0, "kmemleak_clean", "%ld new suspected leak(s)%s", leaks,
			    leaks < 0 ? " (kmemleak scan failed)" : "");
		if (leaks > 0) {
			char *p = leak_text;
			int lines = 0;

			while (p && *p && lines < 60) {
				char *nl = strchr(p, '\n');

				ktap_diag("%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
				p = nl ? nl + 1 : NULL;
				lines++;
			}
		}
	} else {
		ktap_skip("kmemleak_clean", kmemleak_off ?
			  "kmemleak scans off for this boot (guest.stress_kmemleak=0)" :
			  "no kmemleak in this kernel");
	}

	log = kernel_log();
	splats = log ? log_splats(log) : -1;
	ktap_result(splats == 0, "kernel_log_clean", "%ld splat line(s) in the kernel log", splats);

	ktap_diag("totals: %ld operations, %ld failures injected (%ld seen as errors, %ld absorbed), %ld checksum errors, %ld kmemleak reports, %ld splats",
	     atomic_load(&n_ops), times_all, atomic_load(&rnd_errors) + atomic_load(&nth_surfaced),
	     atomic_load(&nth_absorbed),
	     atomic_load(&dma_bad) + atomic_load(&read_bad) + atomic_load(&vda_bad), leaks, splats);
	printf("harness-stress: secs=%llu ops=%ld cycles=%ld joins=%ld maps=%ld dma_checks=%ld reads=%ld binds=%ld injected=%ld injected_random=%ld injected_prepare=%ld surfaced=%ld absorbed=%ld prepare_per_sweep=%ld..%ld checksum_errors=%ld unexpected=%ld kmemleak=%ld splats=%ld\n",
	       (unsigned long long)((now_ns() - t0) / 1000000000ull), atomic_load(&n_ops),
	       atomic_load(&cycles), atomic_load(&joins), atomic_load(&hammer_rounds),
	       atomic_load(&witness_checks) + atomic_load(&cycle_dev_checks) + atomic_load(&nth_witness_checks),
	       atomic_load(&reads) + atomic_load(&vda_reads), atomic_load(&binds),
	       times_all, times_rnd,
	       atomic_load(&nth_injected), atomic_load(&rnd_errors) + atomic_load(&nth_surfaced),
	       atomic_load(&nth_absorbed), sweep_min, sweep_max,
	       atomic_load(&dma_bad) + atomic_load(&read_bad) + atomic_load(&vda_bad),
	       atomic_load(&unexpected), leaks, splats);
	ret = ktap_end();
	free(log);
	return ret;
}

/*
 * The kernel log since /init started, for the host's own search (after the
 * guest's KTAP): setup() turned the console quiet then, the host saw the rest.
 * Slow to print on the debug kernel (the PL011 traps every character).
 */
void stress_dump_kmsg(void)
{
	char *log = kernel_log(), *from = log ? strstr(log, "Run /init") : NULL;

	printf("harness-kmsg: begin\n");
	if (from)
		while (from > log && from[-1] != '\n')
			from--;
	if (log)
		fputs(from ? from : log, stdout);
	printf("\nharness-kmsg: end\n");
	fflush(stdout);
	free(log);
}
