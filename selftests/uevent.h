/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uevent.h - the guest_connected uevents of a host end, read from a
 * NETLINK_KOBJECT_UEVENT socket (port_test, vhost_vdpa_test).
 */
#ifndef _VSERIAL_UEVENT_H
#define _VSERIAL_UEVENT_H

#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static inline long long uevent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Wait up to @timeout_ms for the next "change" uevent of the device
 * whose path ends in @devname that carries VSERIAL_GUEST_CONNECTED.
 * Returns its value (0 or 1), or -1 on timeout.
 */
static inline int uevent_next_connected(int sk, const char *devname,
					int timeout_ms)
{
	long long end = uevent_now_ms() + timeout_ms;
	size_t dl = strlen(devname);
	char buf[4096], *q;
	ssize_t n;

	for (;;) {
		int left = end - uevent_now_ms();
		struct pollfd pfd = { .fd = sk, .events = POLLIN };
		bool ours = false;
		int val = -1;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
		n = recv(sk, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (q = buf; q < buf + n; q += strlen(q) + 1) {
			size_t ql = strlen(q);

			if (!strncmp(q, "change@", 7) && ql > dl &&
			    !strcmp(q + ql - dl, devname))
				ours = true;
			if (!strncmp(q, "VSERIAL_GUEST_CONNECTED=", 24))
				val = atoi(q + 24);
		}
		if (ours && val >= 0)
			return val;
	}
}

#endif
