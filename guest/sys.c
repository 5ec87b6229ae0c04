// SPDX-License-Identifier: GPL-2.0
/* File, sysfs, kernel log and PCI helpers of the guest programs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "harness.h"

int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return n;
}

int read_filef(char *buf, size_t len, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return read_file(path, buf, len);
}

int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

int link_basename(const char *path, char *buf, size_t len)
{
	char tgt[512];
	ssize_t n = readlink(path, tgt, sizeof(tgt) - 1);

	if (n < 0)
		return -errno;
	tgt[n] = 0;
	snprintf(buf, len, "%s", basename(tgt));
	return 0;
}

const char *cmdline_get(const char *key)
{
	static char cmdline[4096];
	static char val[512];
	size_t klen = strlen(key);
	char *tok, *save;

	if (!cmdline[0] && read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		return NULL;
	char copy[sizeof(cmdline)];

	memcpy(copy, cmdline, sizeof(copy));
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (!strncmp(tok, key, klen) && tok[klen] == '=') {
			snprintf(val, sizeof(val), "%s", tok + klen + 1);
			return val;
		}
	}
	return NULL;
}

/*
 * Each line of SYSLOG_ACTION_READ_ALL starts with "<PRI>", PRI = facility * 8
 * + level: the guest's own lines (console.c) and anything else user space
 * logged have a facility, the kernel's messages have none (PRI < 8).
 */
static void drop_user_records(char *log)
{
	char *r = log, *w = log;

	while (*r) {
		char *nl = strchr(r, '\n');
		size_t len = nl ? (size_t)(nl - r + 1) : strlen(r);
		char *end = r;
		long pri = r[0] == '<' ? strtol(r + 1, &end, 10) : -1;

		if (pri < 8 || *end != '>') {
			memmove(w, r, len);
			w += len;
		}
		r += len;
	}
	*w = 0;
}

char *kernel_log(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;
	int n;

	if (len <= 0)
		len = 1 << 20;
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	drop_user_records(buf);
	return buf;
}

size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0;

	if (!hay)
		return 0;
	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int pci_find_all(unsigned int vendor, unsigned int device, char (*bdf)[32], int max)
{
	struct dirent **list;
	int n = scandir("/sys/bus/pci/devices", &list, NULL, alphasort), i, found = 0;

	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		char v[16], d[16];

		if (list[i]->d_name[0] != '.' && found < max &&
		    read_filef(v, sizeof(v), "/sys/bus/pci/devices/%s/vendor", list[i]->d_name) > 0 &&
		    read_filef(d, sizeof(d), "/sys/bus/pci/devices/%s/device", list[i]->d_name) > 0 &&
		    strtoul(v, NULL, 16) == vendor && strtoul(d, NULL, 16) == device)
			snprintf(bdf[found++], sizeof(bdf[0]), "%s", list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return found;
}

int pci_find(unsigned int vendor, unsigned int device, char *bdf, size_t len)
{
	char first[1][32];
	int n = pci_find_all(vendor, device, first, 1);

	if (n < 0)
		return n;
	if (!n)
		return -ENODEV;
	snprintf(bdf, len, "%s", first[0]);
	return 0;
}

const char *kunit_end(const char *log)
{
	const char *end = log, *p;

	for (p = log; (p = strstr(p, "] ok ")); p++)
		end = p;
	for (p = log; (p = strstr(p, "] not ok ")); p++)
		if (p > end)
			end = p;
	p = strchr(end, '\n');
	return p ? p : end;
}

unsigned int pci_sid(const char *bdf)
{
	unsigned int dom, bus, dev, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return ~0u;
	return bus << 8 | dev << 3 | fn;
}

#define PCI_EXT_CAP_ID_ATS	0x0f
#define PCI_ATS_CTRL		0x06

unsigned int pci_ats_cap(const char *bdf, unsigned int *ctrl)
{
	uint8_t cfg[4096];
	unsigned int pos = 0x100, ttl = 64;
	char path[128];
	int fd, n;

	*ctrl = 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	while (n == (int)sizeof(cfg) && pos >= 0x100 && pos <= sizeof(cfg) - 8 && ttl--) {
		uint32_t hdr = cfg[pos] | cfg[pos + 1] << 8 | cfg[pos + 2] << 16 |
			       (uint32_t)cfg[pos + 3] << 24;

		if ((hdr & 0xffff) == PCI_EXT_CAP_ID_ATS) {
			*ctrl = cfg[pos + PCI_ATS_CTRL] | cfg[pos + PCI_ATS_CTRL + 1] << 8;
			return pos;
		}
		pos = (hdr >> 20) & 0xffc;
	}
	return 0;
}

/* Bind bdf to driver (through driver_override), unbinding it first. */
int pci_unbind(const char *bdf)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	return access(path, W_OK) ? 0 : write_file(path, bdf);
}

int pci_bind(const char *bdf, const char *driver)
{
	char path[256], cur[64];
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	if (!link_basename(path, cur, sizeof(cur))) {
		if (!strcmp(cur, driver))
			return 0;
		ret = pci_unbind(bdf);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	ret = write_file(path, driver);
	if (ret)
		return ret;
	ret = write_file("/sys/bus/pci/drivers_probe", bdf);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	if (link_basename(path, cur, sizeof(cur)) || strcmp(cur, driver))
		return -ENODEV;
	return 0;
}

int disk_sha256(const char *dev, char hex[65], size_t *bytes)
{
	return disk_sha256_max(dev, SIZE_MAX, hex, bytes);
}

int disk_sha256_max(const char *dev, size_t max, char hex[65], size_t *bytes)
{
	const size_t chunk = 1 << 20;
	struct sha256_ctx c;
	uint8_t d[32];
	void *buf;
	ssize_t n = 0;
	int fd, ret = 0;

	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return -errno;
	if (posix_memalign(&buf, 4096, chunk)) {
		close(fd);
		return -ENOMEM;
	}
	sha256_init(&c);
	*bytes = 0;
	while (*bytes < max && (n = read(fd, buf, max - *bytes < chunk ? max - *bytes : chunk)) > 0) {
		sha256_update(&c, buf, n);
		*bytes += n;
	}
	if (n < 0)
		ret = -errno;
	sha256_final(&c, d);
	sha256_hex(d, hex);
	free(buf);
	close(fd);
	return ret;
}

void edu_dma(volatile uint32_t *bar, uint64_t src, uint64_t dst, uint32_t len,
	     uint32_t cmd)
{
	*(volatile uint64_t *)((volatile char *)bar + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)((volatile char *)bar + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)((volatile char *)bar + EDU_DMA_CNT) = len;
	bar[EDU_DMA_CMD / 4] = cmd | EDU_CMD_START;
}

int edu_wait(volatile uint32_t *bar, unsigned int ms)
{
	unsigned int i;

	for (i = 0; i < ms / 2; i++) {
		if (!(bar[EDU_DMA_CMD / 4] & EDU_CMD_START))
			return 0;
		usleep(2000);
	}
	return -ETIMEDOUT;
}

/*
 * Load the modules listed, in order, in /lib/modules/load (one path a line), if
 * the initramfs has that file (make check's config:modules step). Before
 * guest_setup() lowers the console level, so that the KTAP of the KUnit suites
 * that run at load reaches the console, framed by "harness-module:" lines for
 * the host. Returns the number of modules that failed to load.
 */
int guest_load_modules(void)
{
	char path[256];
	int failed = 0;
	FILE *f = fopen("/lib/modules/load", "r");

	if (!f)
		return 0;
	while (fgets(path, sizeof(path), f)) {
		int fd, ret = 0;

		path[strcspn(path, "\n")] = 0;
		if (!path[0])
			continue;
		printf("harness-module: load %s\n", path);
		fflush(stdout);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
			ret = -errno;
		if (fd >= 0)
			close(fd);
		printf("harness-module: loaded %s: %s\n", path, ret ? strerror(-ret) : "ok");
		fflush(stdout);
		failed += !!ret;
	}
	fclose(f);
	return failed;
}

void guest_mount(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	/* Absent from a kernel without debugfs: nothing then uses it */
	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
}

void guest_setup(int console_level)
{
	guest_mount();
	console_to_kmsg();
	klogctl(8 /* SYSLOG_ACTION_CONSOLE_LEVEL */, NULL, console_level);
}

void guest_poweroff(void)
{
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* No power-off (x86 without ACPI power-off): QEMU's -no-reboot ends on a reset */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

/*
 * A marker in QEMU's trace: n (mod 256) written to the Interrupt Line
 * register (0x3c, a scratch register no driver writes) of the host bridge,
 * which QEMU traces as "pci_cfg_write gpex-root 00:00.0 @0x3c <- n" when
 * pci_cfg_write is traced (make bench, the ATS boot). 0 or -errno.
 */
int host_bridge_mark(unsigned int n)
{
	uint8_t v = n & 0xff;
	int fd = open("/sys/bus/pci/devices/" HOST_BRIDGE "/config", O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (pwrite(fd, &v, 1, 0x3c) != 1)
		ret = -errno;
	close(fd);
	return ret;
}
