// SPDX-License-Identifier: GPL-2.0
/*
 * module_test - loading and unloading vdpa_vserial
 *
 * Checks that the module loads, registers its vDPA management device
 * (seen by the iproute2 "vdpa" tool), unloads cleanly taking the
 * management device with it, and survives many load/unload cycles
 * without kernel warnings.
 *
 * Needs root and the module installed where modprobe finds it (the VM
 * test bed installs the fresh build into /lib/modules/<release>/updates).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define MODULE_NAME	"vdpa_vserial"
#define MODULE_SYSFS	"/sys/module/" MODULE_NAME
#define MGMTDEV_NAME	"vserial"
#define LOAD_CYCLES	100

/* Kernel log messages that must not appear while loading and unloading. */
static const char *const bad_kmsg[] = {
	"WARNING", "BUG", "Oops", "Call Trace", "general protection",
	"leak", "refcount", "corruption", "use-after-free", "double free",
	"UBSAN", "KASAN", "circular locking", "lock state",
	"recursive locking",
};

/* Run argv[0] from PATH; return its exit status, or -1 if it did not exit. */
static int run(char *const argv[], bool quiet)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, STDOUT_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int modprobe(bool remove)
{
	char *const load[] = { "modprobe", MODULE_NAME, NULL };
	char *const unload[] = { "modprobe", "-r", MODULE_NAME, NULL };

	return run(remove ? unload : load, true);
}

static bool module_loaded(void)
{
	struct stat st;

	return stat(MODULE_SYSFS, &st) == 0;
}

/*
 * Run "vdpa mgmtdev show" and return its output (stdout and stderr) in
 * buf; the return value is the tool's exit status, or -1.
 */
static int mgmtdev_show(char *buf, size_t size)
{
	size_t len = 0, n;
	FILE *f;
	int status;

	buf[0] = '\0';
	f = popen("vdpa mgmtdev show 2>&1", "r");
	if (!f)
		return -1;
	while (len < size - 1 && (n = fread(buf + len, 1, size - 1 - len, f)))
		len += n;
	buf[len] = '\0';
	status = pclose(f);
	if (status == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Open /dev/kmsg positioned after the last message already logged. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Read the messages logged since kmsg_open() and return how many look
 * like a warning, an error or a kernel bug, printing each of them.
 * Taint notices for out-of-tree or unsigned modules are expected.
 */
static int kmsg_count_bad(int fd)
{
	char rec[8192];
	int bad = 0;
	ssize_t n;

	for (;;) {
		const char *msg;
		bool is_bad;
		size_t i;
		int level;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: skip ahead */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		/* "<facility*8+level>,<seq>,<usec>,<flags>;<text>\n..." */
		level = atoi(rec) & 7;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		if (strstr(msg, "taints kernel") || strstr(msg, "tainting kernel"))
			continue;
		is_bad = level <= 3;	/* KERN_ERR or worse */
		for (i = 0; i < sizeof(bad_kmsg) / sizeof(bad_kmsg[0]); i++)
			is_bad |= strstr(msg, bad_kmsg[i]) != NULL;
		if (is_bad) {
			ksft_print_msg("kernel: %s", msg);
			bad++;
		}
	}
	return bad;
}

FIXTURE(module) {
};

/* Every test starts with the module unloaded. */
FIXTURE_SETUP(module)
{
	if (module_loaded())
		ASSERT_EQ(0, modprobe(true));
	ASSERT_FALSE(module_loaded());
}

FIXTURE_TEARDOWN(module)
{
	if (module_loaded())
		modprobe(true);
}

TEST_F(module, load)
{
	char state[32] = "";
	FILE *f;

	ASSERT_EQ(0, modprobe(false));
	ASSERT_TRUE(module_loaded());

	f = fopen(MODULE_SYSFS "/initstate", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(state, sizeof(state), f));
	fclose(f);
	EXPECT_STREQ("live\n", state);
}

TEST_F(module, mgmtdev_listed)
{
	char out[4096];

	ASSERT_EQ(0, modprobe(false));
	ASSERT_EQ(0, mgmtdev_show(out, sizeof(out))) {
		TH_LOG("vdpa mgmtdev show failed: %s", out);
	}
	ASSERT_NE(NULL, strstr(out, MGMTDEV_NAME)) {
		TH_LOG("no '%s' management device in: %s", MGMTDEV_NAME, out);
	}
}

TEST_F(module, unload)
{
	char *const rm[] = { "rmmod", MODULE_NAME, NULL };
	char out[4096];

	ASSERT_EQ(0, modprobe(false));
	/* Only the module: the vdpa core stays, so the tool can answer. */
	ASSERT_EQ(0, run(rm, true));
	ASSERT_FALSE(module_loaded());
	ASSERT_EQ(0, mgmtdev_show(out, sizeof(out))) {
		TH_LOG("vdpa mgmtdev show: %s", out);
	}
	ASSERT_EQ(NULL, strstr(out, MGMTDEV_NAME)) {
		TH_LOG("management device still listed: %s", out);
	}
}

TEST_F_TIMEOUT(module, load_unload_cycles, 300)
{
	int fd, i;

	fd = kmsg_open();
	ASSERT_LE(0, fd) {
		TH_LOG("cannot open /dev/kmsg: %s", strerror(errno));
	}

	for (i = 0; i < LOAD_CYCLES; i++) {
		ASSERT_EQ(0, modprobe(false)) {
			TH_LOG("load %d failed", i + 1);
		}
		ASSERT_TRUE(module_loaded());
		ASSERT_EQ(0, modprobe(true)) {
			TH_LOG("unload %d failed", i + 1);
		}
		ASSERT_FALSE(module_loaded());
	}

	EXPECT_EQ(0, kmsg_count_bad(fd));
	close(fd);
}

TEST_HARNESS_MAIN
