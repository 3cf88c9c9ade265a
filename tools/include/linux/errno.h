/* SPDX-License-Identifier: GPL-2.0-only */
/* The uapi errno values; the shim has the rest. */
#include_next <linux/errno.h>
#include "../vs_shim.h"
