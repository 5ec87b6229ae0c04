// SPDX-License-Identifier: GPL-2.0
/*
 * ats_testdev_dma: a DMA API driver for QEMU's ats-testdev (the project's
 * qemu/patches), for the ATS boot's atc_dev_identity_switch_warm (guest/atc.c).
 * It is test code, not part of the series, and built against the kernel
 * under test by scripts/kmod.sh.
 *
 * The case needs what no user space can make: an ATC warm with translations
 * of a default DMA domain at the moment the domain goes away. The guest
 * binds this driver (driver_override, no ID table: nothing binds it by
 * itself) twice, with the module parameter "phase" saying what the probe
 * does; "result" tells how it went:
 *
 *   warm   two pages mapped with the DMA API in the device's default domain,
 *          one copied into the other by the device through its ATC (ATS
 *          Translation Requests: the ATC now holds both pages), the
 *          destination zeroed again. The mappings are left in place on
 *          purpose: the guest then unbinds the driver and switches the
 *          group to identity, so the domain is freed with them, and only
 *          the IOMMU driver's ATC flush when ATS goes off (and before it is
 *          enabled again) removes the two entries; or it switches the
 *          group from DMA-FQ to DMA, a new paging domain with ATS on in
 *          both, where only the flush of the attach commit removes them.
 *   check  after the switch back to a new DMA domain: two new pages mapped
 *          (the IOVA allocator of a new domain hands out the same IOVAs
 *          again), copied through the ATC: the copy must read and write the
 *          new pages, and the old destination must stay zero. The warm
 *          phase's pages are not freed: had the flush been missed, the
 *          device could still write them.
 */
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/string.h>

/* BAR 0 of ats-testdev (docs/specs/ats-testdev.rst in the QEMU tree) */
#define ATD_SRC		0x08
#define ATD_DST		0x10
#define ATD_LEN		0x18
#define ATD_CMD		0x1c
#define ATD_STATUS	0x20
#define ATD_CMD_COPY	1

static char phase[8] = "warm";
module_param_string(phase, phase, sizeof(phase), 0644);
MODULE_PARM_DESC(phase, "what the next probe does: warm or check");

static char result[320] = "none";
module_param_string(result, result, sizeof(result), 0444);
MODULE_PARM_DESC(result, "how the last probe went");

struct atd_pages {
	struct page *src, *dst;
	dma_addr_t iova_src, iova_dst;
};

static struct atd_pages warm;	/* left mapped in the domain that goes away */

static void atd_wr64(void __iomem *bar, unsigned int off, u64 v)
{
	writel(lower_32_bits(v), bar + off);
	writel(upper_32_bits(v), bar + off + 4);
}

/* One page from @p->src to @p->dst by the device; its STATUS (0: done) */
static u32 atd_copy(struct device *dev, void __iomem *bar, struct atd_pages *p)
{
	u32 st;

	dma_sync_single_for_device(dev, p->iova_src, PAGE_SIZE, DMA_BIDIRECTIONAL);
	dma_sync_single_for_device(dev, p->iova_dst, PAGE_SIZE, DMA_BIDIRECTIONAL);
	atd_wr64(bar, ATD_SRC, p->iova_src);
	atd_wr64(bar, ATD_DST, p->iova_dst);
	writel(PAGE_SIZE, bar + ATD_LEN);
	writel(ATD_CMD_COPY, bar + ATD_CMD);	/* synchronous */
	st = readl(bar + ATD_STATUS);
	dma_sync_single_for_cpu(dev, p->iova_src, PAGE_SIZE, DMA_BIDIRECTIONAL);
	dma_sync_single_for_cpu(dev, p->iova_dst, PAGE_SIZE, DMA_BIDIRECTIONAL);
	return st;
}

/* Two pages, @seed's pattern in the source, mapped in the device's domain */
static int atd_map(struct device *dev, struct atd_pages *p, u8 seed)
{
	u8 *s;
	int i;

	p->src = alloc_page(GFP_KERNEL);
	p->dst = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!p->src || !p->dst)
		return -ENOMEM;
	s = page_address(p->src);
	for (i = 0; i < PAGE_SIZE; i++)
		s[i] = (u8)(i * 7 + seed);
	p->iova_src = dma_map_page(dev, p->src, 0, PAGE_SIZE, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, p->iova_src))
		return -ENOMEM;
	p->iova_dst = dma_map_page(dev, p->dst, 0, PAGE_SIZE, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, p->iova_dst)) {
		dma_unmap_page(dev, p->iova_src, PAGE_SIZE, DMA_BIDIRECTIONAL);
		return -ENOMEM;
	}
	return 0;
}

static bool atd_copied(struct atd_pages *p)
{
	return !memcmp(page_address(p->src), page_address(p->dst), PAGE_SIZE);
}

static bool atd_zero(struct page *pg)
{
	return pg && !memchr_inv(page_address(pg), 0, PAGE_SIZE);
}

static int atd_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct atd_pages now = {};
	void __iomem *bar;
	bool same;
	int ret;
	u32 st;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	bar = pcim_iomap(pdev, 0, 0);
	if (!bar)
		return -ENOMEM;
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	pci_set_master(pdev);

	if (!strcmp(phase, "warm")) {
		/* the pages of an earlier warm phase stay allocated (see above) */
		memset(&warm, 0, sizeof(warm));
		ret = atd_map(dev, &warm, 0x11);
		if (ret) {
			snprintf(result, sizeof(result), "warm: mapping: %d", ret);
			return 0;
		}
		st = atd_copy(dev, bar, &warm);
		snprintf(result, sizeof(result), "warm %s: status 0x%x, iova 0x%llx 0x%llx",
			 !st && atd_copied(&warm) ? "ok" : "WRONG", st,
			 (u64)warm.iova_src, (u64)warm.iova_dst);
		memset(page_address(warm.dst), 0, PAGE_SIZE);
		/* the mappings stay (see the top of the file) */
		return 0;
	}

	ret = atd_map(dev, &now, 0x77);
	if (ret) {
		snprintf(result, sizeof(result), "check: mapping: %d", ret);
		goto out;
	}
	st = atd_copy(dev, bar, &now);
	/* the same IOVAs as the warm phase's, or a stale entry would not be hit */
	same = now.iova_src == warm.iova_src && now.iova_dst == warm.iova_dst;
	snprintf(result, sizeof(result),
		 "check %s: status 0x%x, iova 0x%llx 0x%llx (warm: 0x%llx 0x%llx: %s), the copy %s, the old destination %s",
		 !st && same && atd_copied(&now) && atd_zero(warm.dst) ? "ok" : "WRONG", st,
		 (u64)now.iova_src, (u64)now.iova_dst, (u64)warm.iova_src, (u64)warm.iova_dst,
		 same ? "the same" : "OTHER IOVAs, nothing proven",
		 atd_copied(&now) ? "read and wrote the new pages" :
		 atd_zero(now.dst) ? "DID NOT WRITE the new destination" :
		 "READ THE OLD SOURCE (stale ATC entry)",
		 atd_zero(warm.dst) ? "untouched" : "WRITTEN (stale ATC entry)");
	dma_unmap_page(dev, now.iova_dst, PAGE_SIZE, DMA_BIDIRECTIONAL);
	dma_unmap_page(dev, now.iova_src, PAGE_SIZE, DMA_BIDIRECTIONAL);
out:
	if (now.src)
		__free_page(now.src);
	if (now.dst)
		__free_page(now.dst);
	return 0;
}

static void atd_remove(struct pci_dev *pdev)
{
	pci_clear_master(pdev);
}

/* No IDs: only a driver_override binds it */
static const struct pci_device_id atd_ids[] = {
	{ }
};
MODULE_DEVICE_TABLE(pci, atd_ids);

static struct pci_driver atd_driver = {
	.name = "ats_testdev_dma",
	.id_table = atd_ids,
	.probe = atd_probe,
	.remove = atd_remove,
};
module_pci_driver(atd_driver);

MODULE_DESCRIPTION("DMA API test driver for QEMU's ats-testdev (warm ATC across a domain switch)");
MODULE_LICENSE("GPL");
