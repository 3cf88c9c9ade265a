// SPDX-License-Identifier: GPL-2.0
/*
 * vserial_bench - vdpa_vserial beside pipe(2) and AF_UNIX sockets
 *
 * Usage: vserial_bench [-r RUNS] [-o FILE.csv] [-q]
 *
 * Runs in the test VM ("make bench"), as root, with the module and
 * virtio_vdpa: the host end /dev/vserialN of a port is one side, the
 * kernel's own virtio_console driver (/dev/vportXpY) the other, each used
 * by its own process.  The same measurements over a pipe and an AF_UNIX
 * stream socket pair between two processes give the in-kernel byte
 * channels to compare with.  Every figure is the median of RUNS runs
 * (default 5):
 *
 *   throughput  one port, each direction (h2g: host end -> driver side,
 *               g2h: driver side -> host end), write(2)/read(2) sizes of
 *               64 B, 4 KiB, 64 KiB and 1 MiB, in MB/s (10^6 bytes/s);
 *   cpu         CPU time of the whole VM per GiB moved at 64 KiB, in s;
 *   aggregate   1, 4 and 16 ports (pairs) at once, 64 KiB, in MB/s;
 *   rtt         1-byte ping-pong round trip, in microseconds;
 *   idle_port   host memory (slab) of an idle port, no driver bound;
 *   create      time to create a device with 511 ports (no driver bound)
 *               and a max_nr_ports 511 device bound to virtio_vdpa.
 *
 * Prints a table and writes CSV: metric,transport,direction,size,ports,
 * value,unit.
 */
#include <sched.h>
#include <sys/mman.h>

#include "vserial_lib.h"

#define MAX_CHANS	16
#define BENCH_DEV	VS_DEV

enum transport { T_VSERIAL, T_PIPE, T_UNIX, T_NR };
static const char *const tnames[T_NR] = { "vserial", "pipe", "unix" };

/* One direction of one channel: a writer fd and a reader fd. */
struct chan {
	int wfd, rfd;
};

/* Shared between the processes of one measurement. */
struct shared {
	int ready;
	int go;
	uint64_t start_ns;
	uint64_t end_ns[2 * MAX_CHANS];
	int failed;
};

static struct shared *sh;
static int runs = 5;
static FILE *csv;
static bool quiet;
static struct vs_dev dev;
/* Host and driver-side fds of the benchmark ports, both open. */
static int hfd[MAX_CHANS], gfd[MAX_CHANS];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Busy CPU time of the whole machine, in clock ticks. */
static uint64_t cpu_busy_ticks(void)
{
	unsigned long long v[8] = {};
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = 0;
	fclose(f);
	/* user nice system (idle) (iowait) irq softirq steal */
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

static void record(const char *metric, const char *transport,
		   const char *dir, long size, int ports, double value,
		   const char *unit)
{
	fprintf(csv, "%s,%s,%s,%ld,%d,%.3f,%s\n", metric, transport, dir,
		size, ports, value, unit);
	fflush(csv);
	if (!quiet)
		printf("%-10s %-8s %-4s %8ld B %3d port(s) %12.2f %s\n", metric,
		       transport, dir, size, ports, value, unit);
	fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void wait_go(void)
{
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		sched_yield();
}

/*
 * One side of a channel: write or read @total bytes in calls of @size,
 * from the go signal on; a reader notes when it got the last byte.
 */
static void pump(int fd, bool write_, size_t size, uint64_t total, int slot)
{
	char *buf = malloc(size);
	uint64_t done = 0;
	size_t n;
	ssize_t r;

	memset(buf, 'v', size);
	wait_go();
	while (done < total) {
		n = total - done < size ? total - done : size;
		r = write_ ? write(fd, buf, n) : read(fd, buf, n);
		if (r <= 0) {
			sh->failed = 1;
			break;
		}
		done += r;
	}
	if (!write_)
		sh->end_ns[slot] = now_ns();
	_exit(0);
}

/*
 * Move @total bytes through each of @n channels at once, writes and
 * reads of @size; returns MB/s over all, and the busy CPU seconds in
 * *@cpu_s.  0 on failure.
 */
static double measure(struct chan *c, int n, size_t size, uint64_t total,
		      double *cpu_s)
{
	uint64_t t0, end = 0, ticks;
	int i, status, procs = 2 * n;

	memset(sh, 0, sizeof(*sh));
	for (i = 0; i < n; i++) {
		if (!fork())
			pump(c[i].wfd, true, size, total, i);
		if (!fork())
			pump(c[i].rfd, false, size, total, i);
	}
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < procs)
		usleep(1000);
	ticks = cpu_busy_ticks();
	t0 = now_ns();
	sh->start_ns = t0;
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (i = 0; i < procs; i++)
		wait(&status);
	ticks = cpu_busy_ticks() - ticks;
	if (sh->failed)
		return 0;
	for (i = 0; i < n; i++)
		if (sh->end_ns[i] > end)
			end = sh->end_ns[i];
	*cpu_s = (double)ticks / sysconf(_SC_CLK_TCK);
	return (double)total * n / ((end - t0) / 1e9) / 1e6;
}

/* Channels of transport @t, direction @h2g, @n of them. */
static int chans(enum transport t, bool h2g, struct chan *c, int n)
{
	int i, fds[2];

	for (i = 0; i < n; i++) {
		switch (t) {
		case T_VSERIAL:
			c[i].wfd = h2g ? hfd[i] : gfd[i];
			c[i].rfd = h2g ? gfd[i] : hfd[i];
			break;
		case T_PIPE:
			if (pipe(fds))
				return -1;
			c[i].rfd = fds[0];
			c[i].wfd = fds[1];
			break;
		default:
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
				return -1;
			c[i].rfd = fds[0];
			c[i].wfd = fds[1];
			break;
		}
	}
	return 0;
}

static void chans_close(enum transport t, struct chan *c, int n)
{
	int i;

	if (t == T_VSERIAL)
		return;
	for (i = 0; i < n; i++) {
		close(c[i].rfd);
		close(c[i].wfd);
	}
}

static uint64_t total_for(size_t size)
{
	if (size <= 64)
		return 2 << 20;
	if (size <= 4096)
		return 32 << 20;
	return 96 << 20;
}

static int bench_throughput(void)
{
	static const size_t sizes[] = { 64, 4096, 65536, 1 << 20 };
	double v[32], cpu[32], c_s;
	struct chan c[1];
	unsigned int s;
	int t, d, r;

	for (t = 0; t < T_NR; t++) {
		for (d = 0; d < 2; d++) {
			/* pipe and unix have one direction */
			if (t != T_VSERIAL && d)
				continue;
			for (s = 0; s < ARRAY_SIZE(sizes); s++) {
				uint64_t total = total_for(sizes[s]);

				for (r = 0; r < runs; r++) {
					if (chans(t, !d, c, 1))
						return -1;
					v[r] = measure(c, 1, sizes[s], total,
						       &c_s);
					cpu[r] = c_s / ((double)total /
						       (1 << 30));
					chans_close(t, c, 1);
					if (!v[r])
						return -1;
				}
				record("throughput", tnames[t],
				       t != T_VSERIAL ? "-" : d ? "g2h" : "h2g",
				       sizes[s], 1, median(v, runs), "MB/s");
				if (sizes[s] == 65536)
					record("cpu", tnames[t],
					       t != T_VSERIAL ? "-" :
					       d ? "g2h" : "h2g",
					       sizes[s], 1, median(cpu, runs),
					       "s/GiB");
			}
		}
	}
	return 0;
}

static int bench_aggregate(void)
{
	static const int nports[] = { 1, 4, 16 };
	struct chan c[MAX_CHANS];
	double v[32], c_s;
	unsigned int p;
	int t, d, r;

	for (t = 0; t < T_NR; t++) {
		if (t == T_UNIX)
			continue;
		for (d = 0; d < 2; d++) {
			if (t != T_VSERIAL && d)
				continue;
			for (p = 0; p < ARRAY_SIZE(nports); p++) {
				for (r = 0; r < runs; r++) {
					if (chans(t, !d, c, nports[p]))
						return -1;
					v[r] = measure(c, nports[p], 65536,
						       (64 << 20) / nports[p] +
						       (16 << 20), &c_s);
					chans_close(t, c, nports[p]);
					if (!v[r])
						return -1;
				}
				record("aggregate", tnames[t],
				       t != T_VSERIAL ? "-" : d ? "g2h" : "h2g",
				       65536, nports[p], median(v, runs),
				       "MB/s");
			}
		}
	}
	return 0;
}

/* 1-byte ping-pong over fds: @a on one side, @b on the other. */
static double pingpong(int a_w, int a_r, int b_w, int b_r, int iters)
{
	uint64_t t0;
	pid_t pid;
	char x = 'p';
	int i, status;

	pid = fork();
	if (!pid) {
		for (i = 0; i < iters; i++) {
			if (read(b_r, &x, 1) != 1 || write(b_w, &x, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		if (write(a_w, &x, 1) != 1 || read(a_r, &x, 1) != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 0;
		}
	}
	waitpid(pid, &status, 0);
	return (now_ns() - t0) / 1e3 / iters;
}

static int bench_rtt(void)
{
	const int iters = 2000;
	double v[32];
	int t, r, p1[2], p2[2];

	for (t = 0; t < T_NR; t++) {
		for (r = 0; r < runs; r++) {
			switch (t) {
			case T_VSERIAL:
				v[r] = pingpong(hfd[0], hfd[0], gfd[0], gfd[0],
						iters);
				break;
			case T_PIPE:
				if (pipe(p1) || pipe(p2))
					return -1;
				v[r] = pingpong(p1[1], p2[0], p2[1], p1[0],
						iters);
				close(p1[0]);
				close(p1[1]);
				close(p2[0]);
				close(p2[1]);
				break;
			default:
				if (socketpair(AF_UNIX, SOCK_STREAM, 0, p1))
					return -1;
				v[r] = pingpong(p1[0], p1[0], p1[1], p1[1],
						iters);
				close(p1[0]);
				close(p1[1]);
				break;
			}
			if (!v[r])
				return -1;
		}
		record("rtt", tnames[t], "-", 1, 1, median(v, runs), "us");
	}
	return 0;
}

static int cfg_write(const char *fmt, const char *val, ...)
	__attribute__((format(printf, 1, 3)));

/* Write @val to the configfs file printf(@fmt, ...): 0 or -errno. */
static int cfg_write(const char *fmt, const char *val, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, val);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return vs_write_str(path, val);
}

static int cfg_mkdir(const char *fmt, int i)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), fmt, i);
	return mkdir(path, 0755) ? -errno : 0;
}

/*
 * Bytes in the slab caches a port's own objects come from: kmalloc (the
 * port, its struct device, names) and kernfs (its sysfs directory).  The
 * rest of the slab a new port costs is the system's: the devtmpfs node,
 * udev's links and database, dentries and inodes of what udev read.
 */
static long long slab_bytes(void)
{
	long long total = 0, objs, size;
	char line[512], name[64];
	FILE *f;

	vs_write_str("/proc/sys/vm/drop_caches", "3");
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lld %*d %lld", name, &objs, &size) != 3)
			continue;
		if (!strncmp(name, "kmalloc-", 8) ||
		    !strcmp(name, "kernfs_node_cache"))
			total += objs * size;
	}
	fclose(f);
	return total;
}

/*
 * Memory of idle ports and the time to create a 511-port device, with no
 * driver bound (virtio_vdpa unloaded for the while).
 */
static int bench_device(void)
{
	long long slab0, slab1, own0, own1;
	uint64_t t0;
	int i, ret;

	if (vs_dev_exists(BENCH_DEV) && vs_dev_del(BENCH_DEV))
		return -1;
	if (vs_cfg_reset() || vs_run("modprobe -r virtio_vdpa"))
		return -1;
	if (mkdir(VS_CFG "/" BENCH_DEV, 0755) ||
	    cfg_write(VS_CFG "/" BENCH_DEV "/max_ports", "511"))
		return -1;
	for (i = 0; i < 511; i++)
		if (cfg_mkdir(VS_CFG "/" BENCH_DEV "/ports/p%03d", i))
			return -1;
	/* Automatic ids leave 0 to a console: one of them is. */
	if (cfg_write(VS_CFG "/" BENCH_DEV "/ports/p%03d/console", "1", 0))
		return -1;

	/* 200 idle ports plugged into an existing device. */
	if (vs_dev_add(BENCH_DEV, NULL))
		return -1;
	vs_settle();
	slab0 = vs_meminfo_kib("Slab");
	own0 = slab_bytes();
	for (i = 0; i < 200; i++)
		if (cfg_write(VS_CFG "/" BENCH_DEV "/ports/p%03d/enable", "1",
			      i))
			return -1;
	vs_settle();
	slab1 = vs_meminfo_kib("Slab");
	own1 = slab_bytes();
	record("idle_port", "vserial", "device", 0, 200,
	       (own1 - own0) / 200.0, "bytes");
	record("idle_port", "vserial", "-", 0, 200,
	       (slab1 - slab0) * 1024.0 / 200, "bytes");
	if (vs_dev_del(BENCH_DEV))
		return -1;

	/* A device with all 511 ports, from its template. */
	for (i = 200; i < 511; i++)
		if (cfg_write(VS_CFG "/" BENCH_DEV "/ports/p%03d/enable", "1",
			      i))
			return -1;
	t0 = now_ns();
	ret = vs_dev_add(BENCH_DEV, NULL);
	if (ret)
		return -1;
	record("create", "vserial", "-", 0, 511, (now_ns() - t0) / 1e6, "ms");
	vs_settle();
	if (vs_dev_del(BENCH_DEV) || vs_cfg_reset())
		return -1;

	/* max_nr_ports 511, the console and one port, the driver bound. */
	if (vs_run("modprobe virtio_vdpa") ||
	    vs_param_set("max_ports", "511"))
		return -1;
	t0 = now_ns();
	if (vs_create(&dev, VS_DEF_PORTS, NULL, 2))
		return -1;
	record("create", "vserial", "bound", 0, 2, (now_ns() - t0) / 1e6,
	       "ms");
	if (vs_destroy())
		return -1;
	return vs_param_set("max_ports", VS_DEF_MAX_PORTS);
}

/* A device with MAX_CHANS data ports, all open on both ends. */
static int setup_ports(void)
{
	char ports[1024] = "console:";
	int i;

	for (i = 0; i < MAX_CHANS; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports),
			 ",bench%02d", i);
	if (vs_env_reset() || vs_create(&dev, ports, NULL, MAX_CHANS + 1))
		return -1;
	for (i = 0; i < MAX_CHANS; i++) {
		char name[16];
		struct vs_port *p;

		snprintf(name, sizeof(name), "bench%02d", i);
		p = vs_port_by_name(&dev, name);
		if (!p || vs_connect(p, 0, 0, &hfd[i], &gfd[i]))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *out = "/dev/null";
	int opt, i;

	while ((opt = getopt(argc, argv, "r:o:q")) != -1) {
		switch (opt) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-r RUNS] [-o FILE.csv] [-q]\n",
				argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 31)
		runs = 5;
	csv = fopen(out, "w");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!csv || sh == MAP_FAILED) {
		perror("vserial_bench");
		return 1;
	}
	fprintf(csv, "metric,transport,direction,size,ports,value,unit\n");
	printf("# %d vCPUs, median of %d runs\n",
	       (int)sysconf(_SC_NPROCESSORS_ONLN), runs);

	if (setup_ports()) {
		fprintf(stderr, "vserial_bench: cannot set up the ports\n");
		return 1;
	}
	if (bench_throughput() || bench_aggregate() || bench_rtt()) {
		fprintf(stderr, "vserial_bench: a transfer failed\n");
		return 1;
	}
	for (i = 0; i < MAX_CHANS; i++) {
		close(hfd[i]);
		close(gfd[i]);
	}
	if (vs_destroy() || bench_device()) {
		fprintf(stderr, "vserial_bench: device measurements failed\n");
		return 1;
	}
	fclose(csv);
	return vs_env_reset() ? 1 : 0;
}
