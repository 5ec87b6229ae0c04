// SPDX-License-Identifier: GPL-2.0
/*
 * The guest's output, written to the console as kernel log records.
 *
 * /init shares the serial console with printk. What it writes to
 * /dev/console goes through the tty layer and the UART driver's buffer,
 * while printk writes each of its records to the UART itself, between any
 * two characters of ours: a module's framing line once reached the host as
 *
 *   harness-module: load /lib/modules/arm-smmu-v3-test.ko[    0.499108] pcieport ...
 *
 * and the host's cut found no marker (issue 33). Lowering the console level
 * only narrows that window (modules load before it, and messages at level 0
 * always pass). So /init writes no byte to the console itself: its stdout
 * and stderr become a stream whose every line is one write to /dev/kmsg,
 * that is one printk record. The console prints records whole, one at a
 * time, in the order they were logged, so a line of the guest and a line of
 * the kernel never share a console line, and a marker keeps its place
 * among the kernel's messages (a module's KTAP between its two markers).
 * On the console every line then has printk's prefix ("[    1.234567] ");
 * the host strips it before parsing (scripts/console.py).
 *
 * The records are logged with facility user and level 0, so that they reach
 * the console at any console level (/init lowers it to keep the kernel's own
 * informational messages off), and so that kernel_log() can leave them out:
 * the kernel log the tests search holds the kernel's messages only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/*
 * Facility user (1), level 0. A write longer than a record (1024 bytes in
 * 6.12's printk, less the prefix) is refused: longer lines go out in parts.
 */
#define KMSG_PRI	"<8>"
#define KMSG_PART	900

static int kmsg_fd = -1, con_fd = -1;
static char line[KMSG_PART];
static size_t line_len;

/* One record; the console's own fd when the kernel refuses it. */
static void emit(const char *s, size_t n)
{
	char rec[sizeof(KMSG_PRI) + KMSG_PART];

	memcpy(rec, KMSG_PRI, sizeof(KMSG_PRI) - 1);
	memcpy(rec + sizeof(KMSG_PRI) - 1, s, n);
	if (write(kmsg_fd, rec, sizeof(KMSG_PRI) - 1 + n) < 0 && con_fd >= 0 &&
	    write(con_fd, s, n) >= 0)
		(void)!write(con_fd, "\n", 1);
}

/* fopencookie's write: whole lines out, a partial one kept for the next call */
static ssize_t kmsg_write(void *cookie, const char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++) {
		if (buf[i] == '\n' || line_len == sizeof(line)) {
			emit(line, line_len);
			line_len = 0;
			if (buf[i] == '\n')
				continue;
		}
		if (buf[i] != '\r')
			line[line_len++] = buf[i];
	}
	return size;
}

/*
 * Writes to /dev/kmsg are rate-limited (10 lines in 5 s) unless printk's
 * devkmsg setting is "on": printk.devkmsg=on on the command line (what the
 * harness boots with), or the sysctl where the kernel has one.
 */
static int devkmsg_on(void)
{
	const char *arg = cmdline_get("printk.devkmsg");
	char v[32] = "";

	if (arg && !strcmp(arg, "on"))
		return 0;
	write_file("/proc/sys/kernel/printk_devkmsg", "on");
	if (read_file("/proc/sys/kernel/printk_devkmsg", v, sizeof(v)) < 0)
		return -ENOENT;
	return strncmp(v, "on", 2) ? -EPERM : 0;
}

int console_to_kmsg(void)
{
	cookie_io_functions_t io = { .write = kmsg_write };
	FILE *f;
	int ret;

	ret = devkmsg_on();
	if (ret) {
		printf("harness: printk.devkmsg is not \"on\" (%s; boot with printk.devkmsg=on): the guest's lines stay on the tty and may interleave with the kernel's\n",
		       strerror(-ret));
		fflush(stdout);
		return ret;
	}
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg_fd < 0 && errno == ENOENT &&
	    !mknod("/dev/kmsg", S_IFCHR | 0600, makedev(1, 11)))
		kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg_fd < 0) {
		ret = -errno;
		printf("harness: cannot open /dev/kmsg (%s): the guest's lines stay on the tty\n",
		       strerror(-ret));
		fflush(stdout);
		return ret;
	}
	f = fopencookie(NULL, "w", io);
	if (!f) {
		close(kmsg_fd);
		kmsg_fd = -1;
		return -ENOMEM;
	}
	setvbuf(f, NULL, _IOLBF, 4096);
	fflush(stdout);
	fflush(stderr);
	con_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	stdout = f;
	stderr = f;
	return 0;
}

/*
 * guest.console_noise=N: the race of issue 33 provoked on purpose. A child
 * logs N kernel log records (console-noise lines, through /dev/kmsg: the
 * console prints them as it prints any printk, straight to the UART, from
 * whichever CPU logs them) as fast as it can, while /init loads its modules
 * and writes its probe lines ("harness-console-probe: ..."). The host
 * (scripts/console.py noise) finds every noise line and every probe line
 * whole, and still cuts each module's KTAP and the guest's suites.
 */
#define NOISE_TEXT	"console-noise %d of %d: a kernel message racing the guest's lines"
#define PROBE_TEXT	"harness-console-probe: %d of %d: a guest line racing the kernel's messages"

static pid_t noise_pid;
static int noise_n, probes_sent;

static void probes(int n, int total)
{
	int i;

	for (i = 0; i < n; i++) {
		printf(PROBE_TEXT "\n", ++probes_sent, total);
		fflush(stdout);
	}
}

/* Starts the noise, then writes the first probes lines of 2 * probes. */
void console_noise_start(int n, int probes_each)
{
	pid_t pid;

	if (n <= 0)
		return;
	noise_n = n;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char rec[160];
		int fd = open("/dev/kmsg", O_WRONLY), i, len;

		for (i = 1; fd >= 0 && i <= n; i++) {
			len = snprintf(rec, sizeof(rec), "<8>" NOISE_TEXT, i, n);
			if (write(fd, rec, len) < 0)
				break;
		}
		_exit(fd < 0 || i <= n);
	}
	noise_pid = pid > 0 ? pid : 0;
	probes(probes_each, 2 * probes_each);
}

/* The other probe lines (after the modules), then the noise's end */
void console_noise_finish(int probes_each)
{
	int status = 1;

	if (!noise_n)
		return;
	probes(probes_each, 2 * probes_each);
	if (noise_pid)
		waitpid(noise_pid, &status, 0);
	printf("harness-console-noise: sent %d noise %d probes %s\n", noise_pid ? noise_n : 0,
	       probes_sent, noise_pid && WIFEXITED(status) && !WEXITSTATUS(status) ? "ok" : "failed");
	fflush(stdout);
	noise_n = 0;
}
