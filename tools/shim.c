// SPDX-License-Identifier: GPL-2.0-only
/* The userspace shim's few functions (include/vs_shim.h). */
#include <linux/types.h>

#include "vs_shim.h"

int vs_shim_debug;

void vs_shim_warn(const char *file, int line)
{
	fprintf(stderr, "WARNING at %s:%d\n", file, line);
	abort();
}

void *vs_shim_alloc(size_t n)
{
	return calloc(1, n ? n : 1);
}

/* As lib/string.c: leading and trailing white space removed. */
char *strim(char *s)
{
	size_t size = strlen(s);
	char *end;

	if (!size)
		return s;
	end = s + size - 1;
	while (end >= s && isspace(*end))
		end--;
	*(end + 1) = '\0';
	while (isspace(*s))
		s++;
	return s;
}
