/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the guest programs: KTAP output, sysfs and kernel log
 * access, SHA-256, and VFIO type1 plumbing. Built statically for aarch64;
 * ktap.c, sys.c and sha256.c also for x86_64 (x86-ats.c).
 */
#ifndef GUEST_HARNESS_H
#define GUEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ktap.c: one suite of nested KTAP, in the layout KUnit prints. */
void ktap_begin(const char *suite, int planned);
void ktap_result(bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ktap_skip(const char *name, const char *why);
void ktap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ktap_end(void);		/* returns the number of failures */
extern int ktap_failed;

/* sys.c: small file and sysfs helpers; all return <0 / NULL on error. */
int read_file(const char *path, char *buf, size_t len);
int read_filef(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int write_file(const char *path, const char *val);
int link_basename(const char *path, char *buf, size_t len);
const char *cmdline_get(const char *key);	/* value of key= on /proc/cmdline */
/* malloc'ed dmesg text: the kernel's records only (not the guest's lines) */
char *kernel_log(void);
/* /init's start: /proc, /sys, /dev (devtmpfs), debugfs */
void guest_mount(void);
int guest_load_modules(void);			/* /lib/modules/load, in order */
/* guest_mount(), console_to_kmsg(), then the console loglevel */
void guest_setup(int console_level);
void guest_poweroff(void);			/* never returns */
size_t count_substr(const char *hay, const char *needle);
uint64_t now_ns(void);

/*
 * console.c: stdout and stderr of /init as kernel log records, one a line,
 * so that the kernel's messages cannot split them on the console (0, or
 * -errno with the output left on the tty, said on it); the race provoked.
 */
int console_to_kmsg(void);
void console_noise_start(int records, int probes_each);
void console_noise_finish(int probes_each);

/* PCI helpers over /sys/bus/pci/devices. */
int pci_find(unsigned int vendor, unsigned int device, char *bdf, size_t len);
/* Every device of an ID, in bus order; returns how many (at most max) or -errno. */
int pci_find_all(unsigned int vendor, unsigned int device, char (*bdf)[32], int max);
/* The end of the KUnit results in a kernel log: the line of the last "ok". */
const char *kunit_end(const char *log);
unsigned int pci_sid(const char *bdf);	/* requester ID: bus << 8 | devfn */
/* The offset of bdf's ATS capability, 0 if none; its ATS Control in *ctrl. */
unsigned int pci_ats_cap(const char *bdf, unsigned int *ctrl);
#define PCI_ATS_CTRL_ENABLE	0x8000
int pci_bind(const char *bdf, const char *driver);
/* A marker n (mod 256) in QEMU's trace of config writes: see sys.c */
#define HOST_BRIDGE	"0000:00:00.0"
int host_bridge_mark(unsigned int n);
int pci_unbind(const char *bdf);	/* from whatever driver has it; 0 if none */

/* QEMU's edu device (docs/specs/edu.rst): its DMA engine, in BAR 0. */
#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_START	0x1
#define EDU_CMD_TO_RAM	0x2
#define EDU_BUF		0x40000	/* the device's own buffer, in its DMA space */

/* Start a DMA of len bytes; cmd is 0 (RAM -> edu) or EDU_CMD_TO_RAM. */
void edu_dma(volatile uint32_t *bar, uint64_t src, uint64_t dst, uint32_t len,
	     uint32_t cmd);
/* Wait up to ms for the DMA to end (it runs from a 100 ms timer). */
int edu_wait(volatile uint32_t *bar, unsigned int ms);

/* sha256.c */
void sha256(const void *data, size_t len, uint8_t out[32]);
void sha256_hex(const uint8_t dgst[32], char out[65]);
struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[32]);

/* Read a whole block device with O_DIRECT (every byte by DMA) and hash it. */
int disk_sha256(const char *dev, char hex[65], size_t *bytes);
/* The same for the first max bytes at most (a multiple of 4 KiB). */
int disk_sha256_max(const char *dev, size_t max, char hex[65], size_t *bytes);

/*
 * ats.c: the ATS section (six KTAP cases) over the PCI functions in bdfs, or
 * over every function with an ATS capability when bdfs is NULL or empty;
 * args may hold "ats_expect=0"; host_sha is the host's SHA-256 of QEMU's
 * virtio disk (vda) or NULL.
 */
void ats_section(const char *const *bdfs, const char *const *args, const char *host_sha);

/*
 * atc.c: the ATC section of the ATS boot (atc_cases() KTAP cases), over
 * QEMU's ats-testdev (1234:a7c0) through VFIO.
 */
void atc_section(void);
int atc_cases(void);

/*
 * atcdev.c: QEMU's ats-testdev (qemu/patches): a PCIe device with an ATS
 * capability, an Address Translation Cache, counters and a DMA engine that
 * copies between two addresses (IOVAs, translated through its ATC while ATS
 * Control Enable is set). Its BAR 0, mapped through sysfs (atcdev_map_bar()
 * sets memory space and bus mastering first):
 */
#define ATCDEV_VENDOR	0x1234
#define ATCDEV_DEVICE	0xa7c0
#define ATCDEV_ID	0x00
#define ATCDEV_SRC	0x08
#define ATCDEV_DST	0x10
#define ATCDEV_LEN	0x18
#define ATCDEV_CMD	0x1c
#define ATCDEV_STATUS	0x20	/* 0: the last command is done */
#define ATCDEV_ENTRIES	0x24	/* ATC entries held */
#define ATCDEV_HITS	0x40	/* 64-bit counters from here on */
#define ATCDEV_MISSES	0x48
#define ATCDEV_INV	0x50	/* ATS invalidations received */
#define ATCDEV_INV_DROPS 0x58	/* ATC entries they removed */
#define ATCDEV_TREQ_FAILS 0x60
#define ATCDEV_ATS_KEPT	0x68
#define ATCDEV_UNTRANSL	0x70	/* pages of untranslated DMA */
#define ATCDEV_TRANSL	0x78	/* pages of translated DMA */
#define ATCDEV_REFUSED	0x80
#define ATCDEV_INV_IN_RESET 0x88
#define ATCDEV_FLRS	0x90
#define ATCDEV_CMD_COPY	1
#define ATCDEV_CMD_CLEAR 2
#define ATCDEV_CMD_COPY_TRANSLATED 3	/* translated requests at SRC, DST as given */
#define ATCDEV_STATUS_REFUSED (1 << 2)	/* a translated request refused */
uint64_t atcdev_rd64(volatile uint32_t *bar, unsigned int off);
void atcdev_wr64(volatile uint32_t *bar, unsigned int off, uint64_t v);
int atcdev_map_bar(const char *bdf, volatile uint32_t **bar, size_t *size);
/* A copy of len bytes; returns the STATUS register (0: done) */
uint32_t atcdev_copy(volatile uint32_t *bar, uint64_t src, uint64_t dst, uint32_t len);
/* The ats-testdevs with (or, ats=off, without) an ATS capability, in bus order */
int atcdev_find(char (*bdf)[32], int max, bool with_ats);

/* vfio.c: a type1v2 container with one group (and optionally its device). */
struct vfio {
	int container, group, device;
};
/* /dev/vfio/<group> of a PCI device, opened: the fd or -errno */
int vfio_group_open(const char *bdf);
int vfio_open(struct vfio *v, const char *bdf, bool want_device);
/* vfio_open() calling around(arg, true) before the steps that attach (set
 * container, set type1, open the device) and around(arg, false) after them,
 * before the teardown of a failed open. */
int vfio_open_around(struct vfio *v, const char *bdf, bool want_device,
		     void (*around)(void *arg, bool begin), void *arg);
void vfio_close(struct vfio *v);
int vfio_map(struct vfio *v, void *vaddr, uint64_t iova, uint64_t size);
int vfio_unmap(struct vfio *v, uint64_t iova, uint64_t size);
void *vfio_mmap_bar(struct vfio *v, int bar, size_t *size);
int vfio_cfg_write16(struct vfio *v, unsigned int off, uint16_t val);
int vfio_cfg_read16(struct vfio *v, unsigned int off, uint16_t *val);

#endif
