/* SPDX-License-Identifier: GPL-2.0-only */
#include "../vs_shim.h"
