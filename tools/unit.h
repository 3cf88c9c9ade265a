/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The unit tests' harness (vq_test, proto_test): CHECK() counts and
 * reports, unit_run() runs a table of tests and prints TAP.
 */
#ifndef _VS_UNIT_H
#define _VS_UNIT_H

#include <stdio.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

extern int unit_failed, unit_checks;
extern const char *unit_name;

#define CHECK(c) do {							\
	unit_checks++;							\
	if (!(c)) {							\
		unit_failed++;						\
		printf("# %s:%d: %s: CHECK(%s) failed\n", __FILE__,	\
		       __LINE__, unit_name, #c);			\
	}								\
} while (0)

/* Run @n tests of @prog; returns the exit status. */
static inline int unit_run(const char *prog, const struct unit_test *t,
			   size_t n)
{
	size_t i;
	int before;

	printf("TAP version 13\n1..%zu\n", n);
	for (i = 0; i < n; i++) {
		before = unit_failed;
		unit_name = t[i].name;
		t[i].fn();
		printf("%s %zu %s: %s\n", unit_failed == before ? "ok" : "not ok",
		       i + 1, prog, t[i].name);
	}
	printf("# %d checks, %d failed\n", unit_checks, unit_failed);
	return unit_failed ? 1 : 0;
}

#define UNIT_GLOBALS int unit_failed, unit_checks; const char *unit_name

#endif
