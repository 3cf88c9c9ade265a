/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest memory for the userspace build: ARENA_PAGES pages of "physical"
 * memory (physical address 0 is the arena's first byte), seen twice:
 *
 *   - the guest's view, always readable and writable (the test or
 *     fuzzer plays the driver there);
 *   - the device's view, the one kmap_local_page() returns, with guard
 *     pages around it and each page protected by the MMU as the IOTLB
 *     maps it: not mapped -> PROT_NONE, read-only -> PROT_READ,
 *     read-write -> both.  A device access against the map faults.
 *
 * The MMU cannot make a page write-only, so a page the map makes only
 * writable is, in the device's view, a separate "sink" page full of a
 * secret the guest cannot know (random per process): what the device
 * writes there is kept, what it reads there is the secret, and
 * arena_leaks() finds the secret in anything the device hands the host.
 */
#ifndef _VS_ARENA_H
#define _VS_ARENA_H

#include <linux/vhost_iotlb.h>

#define ARENA_PAGES	64
#define ARENA_SIZE	(ARENA_PAGES * PAGE_SIZE)

void arena_init(void);
/*
 * All pages zero, sinks full of the secret.  The device's access stays as
 * it was: set every page's with arena_protect() (cheap when unchanged).
 */
void arena_reset(void);
/* The device's access to page @pfn: 0 or VHOST_MAP_RO/WO/RW. */
void arena_protect(unsigned long pfn, unsigned int perm);
/* Every page: the identity map with the driver in the kernel. */
void arena_protect_all(unsigned int perm);
/* The guest's view of physical address @pa (@pa < ARENA_SIZE). */
void *arena_guest(u64 pa);
/* Where the device's writes to @pa went (its view of a writable page). */
void *arena_device(u64 pa);
/* Does @buf hold 8 bytes of the sinks' secret? */
bool arena_leaks(const void *buf, size_t len);
/* Page references held, over all pages. */
long arena_refs(void);
/* Called at every kmap_local_page(): memory changing under a copy. */
extern void (*arena_hook)(void *arg);
extern void *arena_hook_arg;
/* kmap_local_page() calls so far. */
extern unsigned long arena_kmaps;

#endif
