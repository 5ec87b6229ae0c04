// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO type1 plumbing: a container with the group of one PCI device. Opening
 * it attaches the group to a new VFIO (UNMANAGED) domain in the SMMUv3 driver;
 * closing it returns the group to its default DMA domain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "harness.h"

int vfio_group_open(const char *bdf)
{
	char path[256], grp[32];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	if (link_basename(path, grp, sizeof(grp)))
		return -ENODEV;
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int vfio_open_around(struct vfio *v, const char *bdf, bool want_device,
		     void (*around)(void *arg, bool begin), void *arg)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int ret = 0;

	v->container = v->group = v->device = -1;
	v->group = vfio_group_open(bdf);
	if (v->group < 0)
		return v->group;
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		goto err;
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		errno = EINVAL;
		goto err;
	}
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &st))
		goto err;
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		goto err;
	}
	/* The steps that attach the group to the container's IOMMU domain */
	if (around)
		around(arg, true);
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) ||
	    ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		ret = -errno;
	if (!ret && want_device) {
		v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
		if (v->device < 0)
			ret = -errno;
	}
	if (around)
		around(arg, false);
	if (ret) {
		vfio_close(v);
		return ret;
	}
	return 0;
err:
	ret = -errno;
	vfio_close(v);
	return ret;
}

int vfio_open(struct vfio *v, const char *bdf, bool want_device)
{
	return vfio_open_around(v, bdf, want_device, NULL, NULL);
}

void vfio_close(struct vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->container = v->group = v->device = -1;
}

int vfio_map(struct vfio *v, void *vaddr, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(v->container, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

int vfio_unmap(struct vfio *v, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (ioctl(v->container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	return unmap.size == size ? 0 : -EIO;
}

void *vfio_mmap_bar(struct vfio *v, int bar, size_t *size)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = bar };
	void *p;

	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return NULL;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->device, ri.offset);
	if (p == MAP_FAILED)
		return NULL;
	*size = ri.size;
	return p;
}

static int cfg_offset(struct vfio *v, uint64_t *off)
{
	struct vfio_region_info ri = {
		.argsz = sizeof(ri),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};

	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	*off = ri.offset;
	return 0;
}

int vfio_cfg_read16(struct vfio *v, unsigned int off, uint16_t *val)
{
	uint64_t base = 0;
	int ret = cfg_offset(v, &base);

	if (ret)
		return ret;
	return pread(v->device, val, 2, base + off) == 2 ? 0 : -EIO;
}

int vfio_cfg_write16(struct vfio *v, unsigned int off, uint16_t val)
{
	uint64_t base = 0;
	int ret = cfg_offset(v, &base);

	if (ret)
		return ret;
	return pwrite(v->device, &val, 2, base + off) == 2 ? 0 : -EIO;
}
