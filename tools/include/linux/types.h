/* SPDX-License-Identifier: GPL-2.0-only */
/* Userspace shim: the kernel's integer types over the uapi ones. */
#ifndef _VS_SHIM_TYPES_H
#define _VS_SHIM_TYPES_H

#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;
typedef long long s64;
typedef u64 phys_addr_t;

#endif
