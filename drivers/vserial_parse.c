// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: port names and the ports= list (see vserial_parse.h).
 */

#include <linux/errno.h>
#include <linux/string.h>

#include <uapi/linux/vdpa_vserial.h>

#include "vserial_parse.h"

/**
 * vsn_name_valid() - may @name be a port's name?
 * @name: the name
 *
 * A port name is also a file name (/dev/virtio-ports/NAME in the guest,
 * /dev/vserial/DEV/NAME on the host): printable ASCII without '/', at
 * most VSERIAL_PORT_NAME_MAX bytes, neither "." nor "..".  The empty
 * name is allowed.
 *
 * Return: 0, -ENAMETOOLONG or -EINVAL.
 */
int vsn_name_valid(const char *name)
{
	const char *p;

	if (strnlen(name, VSERIAL_PORT_NAME_MAX + 1) > VSERIAL_PORT_NAME_MAX)
		return -ENAMETOOLONG;
	/* Not isgraph(): the kernel's takes Latin-1 letters too. */
	for (p = name; *p; p++)
		if (*p == '/' || (u8)*p < 0x21 || (u8)*p > 0x7e)
			return -EINVAL;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

/**
 * vsn_list_init() - start parsing a ports= list
 * @l: the parser
 * @spec: the list, comma separated: NAME for a port, console:NAME (NAME
 *	may be empty) for a console port; modified in place
 * @multiport: the device has the control queue
 */
void vsn_list_init(struct vsn_list *l, char *spec, bool multiport)
{
	l->cur = spec;
	l->multiport = multiport;
	l->have_console = false;
	l->next_id = 1;
}

/**
 * vsn_list_next() - the next port of the list
 * @l: the parser
 * @e: filled with the port
 *
 * Ids follow the list from 1; the first console port takes id 0.  Empty
 * entries are passed over; without MULTIPORT so is everything but the
 * first console port.  Spaces around an entry are not part of it.
 *
 * Return: 1 with @e filled, 0 at the end, or -EINVAL or -ENAMETOOLONG
 * for a bad name (@e->name is the bad entry).
 */
int vsn_list_next(struct vsn_list *l, struct vsn_entry *e)
{
	char *entry;
	int ret;

	while ((entry = strsep(&l->cur, ","))) {
		entry = strim(entry);
		e->console = str_has_prefix(entry, "console:");
		if (e->console)
			entry += strlen("console:");
		e->name = entry;
		ret = vsn_name_valid(entry);
		if (ret)
			return ret;
		if (!e->console && !*entry)
			continue;	/* empty entry */
		if (!l->multiport && (!e->console || l->have_console))
			continue;
		if (e->console && !l->have_console) {
			e->id = 0;
			l->have_console = true;
		} else {
			e->id = l->next_id++;
		}
		return 1;
	}
	return 0;
}
