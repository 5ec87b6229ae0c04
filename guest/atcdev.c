// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU's ats-testdev (qemu/patches; docs/specs/ats-testdev.rst in the QEMU
 * tree): its BAR 0 reached through sysfs, and its DMA engine. Shared by the
 * ATC section of the ATS boot (atc.c) and the stress (stress.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

uint64_t atcdev_rd64(volatile uint32_t *bar, unsigned int off)
{
	return bar[off / 4] | (uint64_t)bar[off / 4 + 1] << 32;
}

void atcdev_wr64(volatile uint32_t *bar, unsigned int off, uint64_t v)
{
	bar[off / 4] = (uint32_t)v;
	bar[off / 4 + 1] = (uint32_t)(v >> 32);
}

/*
 * Memory space and bus mastering on (through the config file, whichever
 * driver is bound), then BAR 0 mapped from resource0. A mapping in *bar is
 * dropped first: called again after a driver changed the command bits.
 */
int atcdev_map_bar(const char *bdf, volatile uint32_t **bar, size_t *size)
{
	char path[160];
	uint16_t cmd;
	int fd, ret = 0;

	if (*bar) {
		munmap((void *)*bar, *size);
		*bar = NULL;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &cmd, 2, 0x04) != 2)
		ret = -errno;
	cmd |= 0x2 | 0x4;	/* memory space, bus master */
	if (!ret && pwrite(fd, &cmd, 2, 0x04) != 2)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return -errno;
	*size = 4096;
	*bar = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (*bar == MAP_FAILED) {
		*bar = NULL;
		return -errno;
	}
	return ((*bar)[ATCDEV_ID / 4] >> 16) == ATCDEV_DEVICE ? 0 : -ENODEV;
}

uint32_t atcdev_copy(volatile uint32_t *bar, uint64_t src, uint64_t dst, uint32_t len)
{
	atcdev_wr64(bar, ATCDEV_SRC, src);
	atcdev_wr64(bar, ATCDEV_DST, dst);
	bar[ATCDEV_LEN / 4] = len;
	bar[ATCDEV_CMD / 4] = ATCDEV_CMD_COPY;	/* synchronous */
	return bar[ATCDEV_STATUS / 4];
}

/*
 * The ats-testdevs with an ATS capability (with_ats) or without one
 * (ats=off), in bus order: how many (at most max), or -errno.
 */
int atcdev_find(char (*bdf)[32], int max, bool with_ats)
{
	char all[8][32];
	unsigned int ctrl;
	int n = pci_find_all(ATCDEV_VENDOR, ATCDEV_DEVICE, all, 8), i, k = 0;

	for (i = 0; i < n && k < max; i++)
		if (!!pci_ats_cap(all[i], &ctrl) == with_ats)
			snprintf(bdf[k++], 32, "%s", all[i]);
	return n < 0 ? n : k;
}
