// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: port names and the ports= list
 * (drivers/vserial_parse.c, compiled unmodified), against a reference
 * written here from the documentation (admin guide, "ports"): which
 * names are valid, how the list splits, which id each port takes.
 */
#include <linux/errno.h>
#include <uapi/linux/vdpa_vserial.h>

#include "vserial_parse.h"

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_parse: " __VA_ARGS__);			\
	fprintf(stderr, "\n");						\
	abort();							\
} while (0)

static int ref_name_valid(const char *s, size_t n)
{
	size_t i;

	if (n > VSERIAL_PORT_NAME_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] < 0x21 || s[i] > 0x7e)
			return -EINVAL;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return -EINVAL;
	return 0;
}

/* The kernel's isspace(): also 0xa0, the Latin-1 no-break space. */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (u8)c == 0xa0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	char *spec, *copy, *end;
	struct vsn_entry e;
	struct vsn_list l;
	bool multiport, have_console = false;
	u32 next_id = 1, calls = 0, entries = 1;
	size_t i, start = 0;
	int r, want;

	if (!size)
		return 0;
	multiport = data[0] & 1;
	spec = malloc(size);
	copy = malloc(size);
	memcpy(spec, data + 1, size - 1);
	spec[size - 1] = 0;
	memcpy(copy, spec, size);
	end = spec + strlen(spec);
	for (i = 0; copy[i]; i++)
		entries += copy[i] == ',';

	/* The name check alone, on the whole input. */
	if (vsn_name_valid(copy) != ref_name_valid(copy, strlen(copy)))
		FAIL("vsn_name_valid(\"%s\") = %d", copy,
		     vsn_name_valid(copy));

	vsn_list_init(&l, spec, multiport);
	for (;;) {
		size_t a, b;
		bool console;
		u32 id = 0;

		r = vsn_list_next(&l, &e);
		if (++calls > entries + 1)
			FAIL("parser did not end");
		/* The reference: the next entry that yields a port. */
		want = 0;
		while (start <= strlen(copy)) {
			b = start;
			while (copy[b] && copy[b] != ',')
				b++;
			a = start;
			start = b + 1;
			while (a < b && is_space(copy[a]))
				a++;
			while (b > a && is_space(copy[b - 1]))
				b--;
			console = b - a >= 8 && !memcmp(copy + a, "console:", 8);
			if (console)
				a += 8;
			want = ref_name_valid(copy + a, b - a);
			if (want)
				break;
			if (!console && a == b)
				continue;
			if (!multiport && (!console || have_console))
				continue;
			if (console && !have_console) {
				have_console = true;
				id = 0;
			} else {
				id = next_id++;
			}
			want = 1;
			break;
		}
		if (r != want)
			FAIL("entry %u: got %d, want %d", calls, r, want);
		if (r <= 0)
			break;
		if (e.name < spec || e.name > end || strlen(e.name) != b - a ||
		    memcmp(e.name, copy + a, b - a))
			FAIL("entry %u: name \"%s\"", calls, e.name);
		if (e.console != console || e.id != id)
			FAIL("entry %u: console %d id %u, want %d %u", calls,
			     e.console, e.id, console, id);
		if (!multiport && e.id)
			FAIL("a port other than the console without MULTIPORT");
	}
	free(spec);
	free(copy);
	return 0;
}
