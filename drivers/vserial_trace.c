// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the tracepoints (vserial_trace.h), defined here, in a
 * file no other depends on but for them.
 */

#include "vserial_port.h"

#define CREATE_TRACE_POINTS
#include "vserial_trace.h"
