/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: port names and the ports= list, parsed without knowing
 * anything else of the module (compiled in userspace by tools/).
 */
#ifndef _VSERIAL_PARSE_H
#define _VSERIAL_PARSE_H

#include <linux/types.h>

/**
 * struct vsn_list - a ports= list being parsed
 * @cur: what is left of the (modifiable) list, NULL at the end
 * @multiport: the device has the control queue; else only one console
 * @have_console: a console port took id 0
 * @next_id: the id of the next port that is not the first console
 */
struct vsn_list {
	char *cur;
	bool multiport;
	bool have_console;
	u32 next_id;
};

/**
 * struct vsn_entry - one port of a ports= list
 * @name: its name, in the list's buffer ("" for none)
 * @console: a console port ("console:NAME")
 * @id: the id it takes
 */
struct vsn_entry {
	const char *name;
	bool console;
	u32 id;
};

int vsn_name_valid(const char *name);
void vsn_list_init(struct vsn_list *l, char *spec, bool multiport);
int vsn_list_next(struct vsn_list *l, struct vsn_entry *e);

#endif /* _VSERIAL_PARSE_H */
