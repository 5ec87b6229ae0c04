// SPDX-License-Identifier: GPL-2.0
/*
 * guest.mode=bench (make bench): measure what the SMMUv3 driver costs, in
 * commands and in time, for the host to compare base and series.
 *
 * Arguments on the kernel command line:
 *   guest.bench_secs=S   seconds of each timed measurement (default 3)
 *   guest.bench_ops=K    operations of each kind whose commands are counted
 *                        one by one (default 8)
 *
 * Command counts: QEMU traces every SMMU command it consumes
 * (smmuv3_cmdq_opcode) and every PCI configuration write (pci_cfg_write). The
 * guest writes a marker, a running number, into the Interrupt Line register
 * (0x3c, a scratch register without side effects) of the host bridge right
 * before each counted operation and at each phase boundary, and prints
 * "harness-bench-mark: N LABEL" on the console. Every command of an operation
 * is consumed synchronously (the driver waits for its CMD_SYNC) before the
 * ioctl returns, so the trace lines between marker N and marker N+1 are
 * exactly the commands of operation N. The host pairs the trace's markers with
 * the console's labels (same numbers, same order, or the run fails).
 *
 * Results are printed as "harness-bench: NAME VALUE UNIT"; problems as
 * "harness-bench-error: ...". Times are the guest's clock: under QEMU's
 * -icount (make bench's main boots) it counts instructions, not host time.
 * With one vCPU the "1 thread per vCPU" measurements (_tn) are left out.
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "harness.h"

#define MAX_EDU		8
#define MAX_THREADS	16
#define MARK_DEV	"0000:00:00.0"	/* the host bridge: no driver writes 0x3c */
#define MARK_REG	0x3c
#define SZ_4K		0x1000UL
#define SZ_2M		0x200000UL
#define IOVA_BASE	0x40000000UL
#define IOVA_STRIDE	0x10000000UL	/* per thread */
#define DMA_TOOL	"/bin/dma_map_benchmark"

static int mark_fd = -1;
static unsigned int mark_seq;
static int errors;
static int secs = 3, kops = 8, ncpu = 1;
/* The edu devices, then (on the ATS SMMU) ats-testdev at edu[nedu] */
static char edu[MAX_EDU + 1][32];
static int nedu;
static bool have_atcdev;

static void bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bench_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("harness-bench-error: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	errors++;
}

static void result(const char *name, double val, const char *unit)
{
	printf("harness-bench: %s %.3f %s\n", name, val, unit);
	fflush(stdout);
}

/* A marker the host finds in QEMU's trace: see the comment at the top. */
static void mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mark(const char *fmt, ...)
{
	uint8_t v = ++mark_seq & 0xff;
	va_list ap;

	if (pwrite(mark_fd, &v, 1, MARK_REG) != 1)
		bench_error("marker %u: config write to %s failed: %s", mark_seq, MARK_DEV,
			    strerror(errno));
	printf("harness-bench-mark: %u ", mark_seq);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* --- VFIO containers ------------------------------------------------------ */

/* A type1v2 container with the groups of several devices: one IOMMU domain. */
struct vfio_multi {
	int container, groups[MAX_EDU], n;
};

static void multi_close(struct vfio_multi *m)
{
	int i;

	for (i = 0; i < m->n; i++)
		close(m->groups[i]);
	if (m->container >= 0)
		close(m->container);
	m->n = 0;
	m->container = -1;
}

static int multi_open(struct vfio_multi *m, int ndev)
{
	char path[256], grp[32];
	int i, j, fd;

	m->n = 0;
	m->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (m->container < 0)
		return -errno;
	for (i = 0; i < ndev; i++) {
		char seen = 0;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", edu[i]);
		if (link_basename(path, grp, sizeof(grp)))
			goto err;
		for (j = 0; j < i; j++) {
			char other[32];

			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", edu[j]);
			if (!link_basename(path, other, sizeof(other)) && !strcmp(other, grp))
				seen = 1;
		}
		if (seen)
			continue;
		snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			goto err;
		m->groups[m->n++] = fd;
		if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &m->container))
			goto err;
		/* The first group sets the IOMMU; the others join its domain. */
		if (m->n == 1 && ioctl(m->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
			goto err;
	}
	return 0;
err:
	i = -errno;
	multi_close(m);
	return i ? i : -EIO;
}

static int map_pair(int container, void *buf, uint64_t iova, uint64_t size)
{
	struct vfio v = { .container = container, .group = -1, .device = -1 };
	int ret = vfio_map(&v, buf, iova, size);

	return ret ? ret : vfio_unmap(&v, iova, size);
}

/* --- timed loops -------------------------------------------------------- */

struct worker {
	pthread_t th;
	int idx, container, err;
	uint64_t size;
	void *buf;
	long ops;
	atomic_bool *stop;
	int (*op)(struct worker *w);
};

static int op_map(struct worker *w)
{
	return map_pair(w->container, w->buf, IOVA_BASE + w->idx * IOVA_STRIDE, w->size);
}

static int op_attach(struct worker *w)
{
	struct vfio v;
	int ret = vfio_open(&v, edu[w->idx], false);

	if (!ret)
		vfio_close(&v);
	return ret;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(w->stop)) {
		w->err = w->op(w);
		if (w->err)
			break;
		w->ops++;
	}
	return NULL;
}

/* The page frame number behind a virtual address (needs root), or 0. */
static uint64_t pfn_of(int pagemap, const void *va)
{
	uint64_t e;

	if (pread(pagemap, &e, sizeof(e), (uintptr_t)va / SZ_4K * sizeof(e)) != sizeof(e) ||
	    !(e & (1ULL << 63)))
		return 0;
	return e & ((1ULL << 55) - 1);
}

/*
 * The buffer of an operation, filled with a pattern. One of more than 4 KiB
 * is made of pages no two of which are physically adjacent, so that it is
 * always "that many 4 KiB pages": VFIO maps each physically contiguous run
 * with one iommu_map() (a 2 MiB-aligned one even as a block entry), and the
 * cost of a 2 MiB map+unmap otherwise followed how the page allocator laid
 * the buffer out in that boot (measured under icount: 1.03 or 1.35 million
 * instructions per pair, boot to boot). Its pages are taken from a pool
 * four times its size, skipping any page adjacent to the one before, and
 * moved into place with mremap().
 */
static void *buf_alloc(size_t size)
{
	size_t n = size / SZ_4K, pool = 4 * n, i, j = 0;
	uint64_t prev = 0, pfn;
	char *dst, *src;
	int pm;

	if (size <= SZ_4K) {
		dst = aligned_alloc(SZ_4K, SZ_4K);
		if (dst)
			memset(dst, 0x5a, SZ_4K);
		return dst;
	}
	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	src = mmap(NULL, pool * SZ_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pm = open("/proc/self/pagemap", O_RDONLY);
	if (dst == MAP_FAILED || src == MAP_FAILED || pm < 0) {
		bench_error("buffer of %zu bytes: %s", size, strerror(errno));
		goto fail;
	}
	memset(src, 0x5a, pool * SZ_4K);
	for (i = 0; i < n; i++) {
		for (; j < pool; j++) {
			pfn = pfn_of(pm, src + j * SZ_4K);
			if (!pfn) {
				bench_error("no page frame number in /proc/self/pagemap");
				goto fail;
			}
			if (!i || (pfn != prev + 1 && pfn + 1 != prev))
				break;
		}
		if (j == pool || mremap(src + j * SZ_4K, SZ_4K, SZ_4K, MREMAP_MAYMOVE | MREMAP_FIXED,
					dst + i * SZ_4K) == MAP_FAILED) {
			bench_error("scattering a buffer of %zu bytes: page %zu of %zu: %s", size, i, n,
				    j == pool ? "pool exhausted" : strerror(errno));
			goto fail;
		}
		prev = pfn;
		j++;
	}
	close(pm);
	munmap(src, pool * SZ_4K);	/* the pages not moved */
	return dst;
fail:	/* the run fails (bench_error); a plain mapping lets it go on */
	if (pm >= 0)
		close(pm);
	if (src != MAP_FAILED)
		munmap(src, pool * SZ_4K);
	if (dst != MAP_FAILED)
		munmap(dst, size);
	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst != MAP_FAILED)
		memset(dst, 0x5a, size);
	return dst == MAP_FAILED ? NULL : dst;
}

static void buf_free(void *buf, size_t size)
{
	if (size <= SZ_4K)
		free(buf);
	else
		munmap(buf, size);
}

/* Run op on nthreads threads for secs seconds; returns operations per second. */
static double timed(const char *name, int nthreads, int container, uint64_t size,
		    int (*op)(struct worker *w))
{
	struct worker w[MAX_THREADS];
	atomic_bool stop = false;
	uint64_t t0, t1;
	long ops = 0;
	int i;

	mark("tp:%s", name);
	for (i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .idx = i, .container = container, .size = size,
					.stop = &stop, .op = op };
		w[i].buf = buf_alloc(size);
	}
	t0 = now_ns();
	for (i = 0; i < nthreads; i++)
		pthread_create(&w[i].th, NULL, worker_fn, &w[i]);
	usleep(secs * 1000000);
	atomic_store(&stop, true);
	for (i = 0; i < nthreads; i++)
		pthread_join(w[i].th, NULL);
	t1 = now_ns();	/* before the buffers are freed: not part of the operations */
	for (i = 0; i < nthreads; i++) {
		ops += w[i].ops;
		if (w[i].err)
			bench_error("%s: thread %d: %s", name, i, strerror(-w[i].err));
		buf_free(w[i].buf, size);
	}
	mark("end:%s", name);
	return ops * 1e9 / (double)(t1 - t0);
}

/* --- counted operations --------------------------------------------------- */

/* kops operations of one kind on device edu[idx], each after its own marker. */
static void counted(const char *name, int idx, int container, uint64_t size,
		    int (*op)(struct worker *w))
{
	struct worker w = { .idx = idx, .container = container, .size = size };
	int i, ret;

	w.buf = buf_alloc(size);
	for (i = 0; i < kops; i++) {
		mark("op:%s:%d", name, i);
		ret = op(&w);
		if (ret) {
			bench_error("%s: operation %d: %s", name, i, strerror(-ret));
			break;
		}
	}
	mark("end:%s", name);
	buf_free(w.buf, size);
}

/*
 * The ATS SMMU: the commands of the same operations with ats-testdev, whose
 * ATS is on in a DMA domain, so its invalidations include CMD_ATC_INV: an
 * attach cycle of it alone (ATS on at attach, off and its ATC flushed at
 * detach), a 4 KiB map+unmap with it alone in the domain, and one with it in
 * the domain of every edu.
 */
static int ats_counted(void)
{
	struct vfio_multi m = { .container = -1 };
	struct vfio v;
	int ret;

	counted("ats_attach_cycle", nedu, -1, 0, op_attach);
	ret = vfio_open(&v, edu[nedu], false);
	if (ret) {
		bench_error("vfio_open %s: %s", edu[nedu], strerror(-ret));
		return 1;
	}
	counted("ats_map_unmap_4k", 0, v.container, SZ_4K, op_map);
	vfio_close(&v);
	ret = multi_open(&m, nedu + 1);
	if (ret) {
		bench_error("one container with the %d edu groups and ats-testdev's: %s", nedu,
			    strerror(-ret));
		return 1;
	}
	counted("ats_multi_map_unmap_4k", 0, m.container, SZ_4K, op_map);
	multi_close(&m);
	return 0;
}

/* --- dma_map_benchmark ---------------------------------------------------- */

/* Run the kernel tree's tool; print its output as diagnostics and parse it. */
static void dma_map_bench(const char *bdf, int threads)
{
	char name[64], out[4096] = "", targ[16], sarg[16], *p;
	double map = -1, unmap = -1, sd;
	int pfd[2], st = 0;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	snprintf(name, sizeof(name), "dma_map_t%d", threads);
	snprintf(targ, sizeof(targ), "%d", threads);
	snprintf(sarg, sizeof(sarg), "%d", secs);
	if (pipe(pfd)) {
		bench_error("%s: pipe: %s", name, strerror(errno));
		return;
	}
	mark("tp:%s", name);
	pid = fork();
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execl(DMA_TOOL, DMA_TOOL, "-t", targ, "-s", sarg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (n < sizeof(out) - 1 && (r = read(pfd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += r;
	out[n] = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	mark("end:%s", name);
	for (p = strtok(out, "\n"); p; p = strtok(NULL, "\n")) {
		printf("    # %s: %s\n", name, p);
		if (sscanf(p, "average map latency(us):%lf standard deviation:%lf", &map, &sd) == 2)
			continue;
		sscanf(p, "average unmap latency(us):%lf standard deviation:%lf", &unmap, &sd);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) || map < 0 || unmap < 0) {
		bench_error("%s: %s exited with status 0x%x and no latency lines", name, DMA_TOOL, st);
		return;
	}
	snprintf(name, sizeof(name), "dma_map_lat_t%d", threads);
	result(name, map, "us");
	snprintf(name, sizeof(name), "dma_unmap_lat_t%d", threads);
	result(name, unmap, "us");
}

/* --- main ------------------------------------------------------------------ */


int bench_main(void)
{
	const char *s;
	char path[128], type[32] = "?", grp[32];
	struct vfio_multi m = { .container = -1 };
	struct vfio v;
	int i, ret, th;

	s = cmdline_get("guest.bench_secs");
	secs = s && atoi(s) > 0 ? atoi(s) : 3;
	s = cmdline_get("guest.bench_ops");
	kops = s && atoi(s) > 0 ? atoi(s) : 8;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > MAX_THREADS)
		ncpu = MAX_THREADS;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", MARK_DEV);
	mark_fd = open(path, O_WRONLY);
	if (mark_fd < 0) {
		bench_error("cannot open %s for the trace markers: %s", path, strerror(errno));
		return 1;
	}
	/* Everything before this marker is the boot up to /init. */
	mark("boot-end");
	printf("harness-bench-info: markdev %s reg 0x%x\n", MARK_DEV, MARK_REG);
	printf("harness-bench-info: vcpus %d secs %d ops %d\n", ncpu, secs, kops);

	nedu = pci_find_all(EDU_VENDOR, EDU_DEVICE, edu, MAX_EDU);
	if (nedu < 0)
		nedu = 0;
	for (i = 0; i < nedu; i++) {
		ret = pci_bind(edu[i], "vfio-pci");
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", edu[i]);
		if (!ret && link_basename(path, grp, sizeof(grp)))
			ret = -ENODEV;
		if (ret) {
			bench_error("edu %s: binding to vfio-pci: %s", edu[i], strerror(-ret));
			return 1;
		}
		printf("harness-bench-info: edu %s group %s sid 0x%x\n", edu[i], grp, pci_sid(edu[i]));
	}
	/* The ATS SMMU's ats-testdev (qemu/patches): a device with an ATC */
	have_atcdev = atcdev_find(&edu[nedu], 1, true) == 1;
	if (have_atcdev) {
		ret = pci_bind(edu[nedu], "vfio-pci");
		if (ret) {
			bench_error("ats-testdev %s: binding to vfio-pci: %s", edu[nedu], strerror(-ret));
			return 1;
		}
		printf("harness-bench-info: ats-testdev %s sid 0x%x\n", edu[nedu], pci_sid(edu[nedu]));
	}
	fflush(stdout);
	if (nedu < 2) {
		bench_error("%d edu device(s); make bench boots with 4 (-device edu x 3 in QEMU_EXTRA)", nedu);
		return 1;
	}

	/* 1. Commands per operation, counted by QEMU, operation by operation. */
	counted("attach_cycle", 0, -1, 0, op_attach);
	ret = vfio_open(&v, edu[0], false);
	if (ret) {
		bench_error("vfio_open %s: %s", edu[0], strerror(-ret));
		return 1;
	}
	counted("map_unmap_4k", 0, v.container, SZ_4K, op_map);
	counted("map_unmap_2m", 0, v.container, SZ_2M, op_map);
	vfio_close(&v);
	ret = multi_open(&m, nedu);
	if (ret) {
		bench_error("one container with the %d edu groups: %s", nedu, strerror(-ret));
		return 1;
	}
	printf("harness-bench-info: multi container groups %d devices %d\n", m.n, nedu);
	counted("multi_map_unmap_4k", 0, m.container, SZ_4K, op_map);

	/* 2. Throughput. The most wanted first: one domain, several devices. */
	result("multi_map_unmap_4k_t1", timed("multi_map_unmap_4k_t1", 1, m.container, SZ_4K, op_map), "pairs/s");
	/* One vCPU (make bench's instruction-counted boots): no "1 thread per vCPU" runs */
	if (ncpu > 1)
		result("multi_map_unmap_4k_tn", timed("multi_map_unmap_4k_tn", ncpu, m.container, SZ_4K, op_map), "pairs/s");
	multi_close(&m);
	if (have_atcdev && ats_counted())
		return 1;

	ret = vfio_open(&v, edu[0], false);
	if (ret) {
		bench_error("vfio_open %s: %s", edu[0], strerror(-ret));
		return 1;
	}
	result("map_unmap_4k_t1", timed("map_unmap_4k_t1", 1, v.container, SZ_4K, op_map), "pairs/s");
	if (ncpu > 1)
		result("map_unmap_4k_tn", timed("map_unmap_4k_tn", ncpu, v.container, SZ_4K, op_map), "pairs/s");
	result("map_unmap_2m_t1", timed("map_unmap_2m_t1", 1, v.container, SZ_2M, op_map), "pairs/s");
	vfio_close(&v);

	result("attach_cycle_t1", timed("attach_cycle_t1", 1, -1, 0, op_attach), "cycles/s");
	th = ncpu < nedu ? ncpu : nedu;
	if (ncpu > 1)
		result("attach_cycle_tn", timed("attach_cycle_tn", th, -1, 0, op_attach), "cycles/s");

	/* dma_map_benchmark on edu[0], in its default (DMA, strict) domain. */
	ret = pci_bind(edu[0], "dma_map_benchmark");
	read_filef(type, sizeof(type), "/sys/bus/pci/devices/%s/iommu_group/type", edu[0]);
	printf("harness-bench-info: dma_map_benchmark device %s domain %s\n", edu[0], type);
	if (ret)
		bench_error("binding %s to dma_map_benchmark: %s", edu[0], strerror(-ret));
	else if (access("/sys/kernel/debug/dma_map_benchmark", F_OK))
		bench_error("no /sys/kernel/debug/dma_map_benchmark (CONFIG_DMA_MAP_BENCHMARK?)");
	else if (access(DMA_TOOL, X_OK))
		bench_error("no %s in the initramfs (scripts/guest.sh with WITH_BENCH=1)", DMA_TOOL);
	else if (strcmp(type, "DMA"))
		bench_error("%s is in a '%s' domain, not a strict 'DMA' one", edu[0], type);
	else {
		dma_map_bench(edu[0], 1);
		if (ncpu > 1)
			dma_map_bench(edu[0], ncpu);
	}
	mark("bench-end");
	printf("harness-bench-info: errors %d\n", errors);
	fflush(stdout);
	close(mark_fd);
	return errors ? 1 : 0;
}
