// SPDX-License-Identifier: GPL-2.0
/*
 * KTAP output in KUnit's nested layout, so that tools/testing/kunit/kunit.py
 * parse reads guest results like kernel ones:
 *
 *   KTAP version 1
 *   1..1
 *       KTAP version 1
 *       # Subtest: guest
 *       1..N
 *       ok 1 name
 *   ok 1 guest
 */
#include <stdarg.h>
#include <stdio.h>

#include "harness.h"

static const char *suite_name;
static int test_no;
int ktap_failed;

void ktap_begin(const char *suite, int planned)
{
	suite_name = suite;
	test_no = 0;
	ktap_failed = 0;
	printf("KTAP version 1\n1..1\n");
	printf("    KTAP version 1\n    # Subtest: %s\n    1..%d\n", suite, planned);
	fflush(stdout);
}

/*
 * Threads of one test (stress.c) may report at once: each line is made of
 * several printf()s, so stdout is held across them (flockfile) and a line
 * reaches the console whole.
 */
void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	printf("    # ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	funlockfile(stdout);
}

void ktap_result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	if (!ok) {
		ktap_failed++;
		if (fmt) {
			printf("    # %s: ", name);
			va_start(ap, fmt);
			vprintf(fmt, ap);
			va_end(ap);
			printf("\n");
		}
	}
	printf("    %s %d %s\n", ok ? "ok" : "not ok", ++test_no, name);
	fflush(stdout);
	funlockfile(stdout);
}

void ktap_skip(const char *name, const char *why)
{
	printf("    ok %d %s # SKIP %s\n", ++test_no, name, why);
	fflush(stdout);
}

int ktap_end(void)
{
	printf("%s 1 %s\n", ktap_failed ? "not ok" : "ok", suite_name);
	fflush(stdout);
	return ktap_failed;
}
