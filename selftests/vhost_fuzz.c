// SPDX-License-Identifier: GPL-2.0
/* vhost_fuzz - placeholder, being written */
#include "kselftest_harness.h"
#include "vdpa_user.h"

TEST(placeholder)
{
	SKIP(return, "fuzzer not written yet");
}

TEST_HARNESS_MAIN
