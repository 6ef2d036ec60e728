/* test_cgroup.c: PSI and cgroup v1/v2 readers on fixture trees, capacity and headroom math. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "probes/probe.h"

#define MiB (1024.0 * 1024)
#define GiB (1024.0 * MiB)

static const char *fixture(const char *name)
{
	static char buf[1024];

	snprintf(buf, sizeof buf, "%s/%s", FIXTURES_DIR, name);
	return buf;
}

static void assert_near(double got, double want)
{
	if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= 1e-6 * (fabs(want) + 1)))
		fail_msg("got %.17g, want %.17g", got, want);
}

/* --- PSI ----------------------------------------------------------------------------------- */

static void test_psi_parse(void **state)
{
	double v = -1;

	(void)state;
	assert_int_equal(probe_psi_parse("some avg10=4.75 avg60=7.85 avg300=2.95 total=11435917\n"
	                                 "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &v), 0);
	assert_near(v, 4.75);
	assert_int_equal(probe_psi_parse("full avg10=9.00 avg60=0 avg300=0 total=0\n"
	                                 "some avg10=0.00 avg60=1 avg300=1 total=1\n", &v), 0);
	assert_near(v, 0);                             /* 0 is a reading, not "unknown" */
	assert_int_equal(probe_psi_parse("full avg10=1.00 avg60=0 avg300=0 total=0\n", &v), -1);
	assert_int_equal(probe_psi_parse("some avg10=abc\n", &v), -1);
	assert_int_equal(probe_psi_parse("some avg10=101.00 avg60=0\n", &v), -1);
	assert_int_equal(probe_psi_parse("some avg10=1.0x avg60=0\n", &v), -1);
	assert_int_equal(probe_psi_parse("", &v), -1);
}

static void test_psi_fixtures(void **state)
{
	double cpu, mem, io;

	(void)state;
	probe_psi(fixture("cgroup/v1-unlimited"), &cpu, &mem, &io);
	assert_near(cpu, 4.75);
	assert_near(mem, 0);
	assert_near(io, 1.2);
	/* No io file: unknown, not 0. */
	probe_psi(fixture("cgroup/v2-limited/"), &cpu, &mem, &io);
	assert_near(cpu, 12.5);
	assert_near(mem, 3.25);
	assert_true(isnan(io));
	/* Malformed text, a "full" line only, a value out of range. */
	probe_psi(fixture("psi/malformed"), &cpu, &mem, &io);
	assert_true(isnan(cpu) && isnan(mem) && isnan(io));
	/* A read that fails (here EISDIR, on a host with PSI off EOPNOTSUPP). */
	probe_psi(fixture("psi/unreadable"), &cpu, &mem, &io);
	assert_true(isnan(cpu) && isnan(mem) && isnan(io));
	probe_psi(fixture("no-such-root"), &cpu, &mem, &io);
	assert_true(isnan(cpu) && isnan(mem) && isnan(io));
	/* The machine itself (PROBES.md: PSI is on here); each reading 0..100 or NAN. */
	probe_psi(NULL, &cpu, &mem, &io);
	assert_true(isnan(cpu) || (cpu >= 0 && cpu <= 100));
	assert_true(isnan(io) || (io >= 0 && io <= 100));
}

/* --- cgroups ------------------------------------------------------------------------------- */

static void test_cgroup_v1_limited(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	probe_cgroup_read(fixture("cgroup/v1-limited"), &cg);
	assert_int_equal(cg.version, 1);
	assert_near(cg.cpu_quota, 1.5);                /* the parent's 150000/100000 binds */
	assert_near(cg.cpuset_cpus, 4);                /* 0-2,5 */
	assert_near(cg.cpu_usage_ns, 123456789000.0);
	assert_non_null(strstr(cg.usage_file, "cpu,cpuacct/app/job/cpuacct.usage"));
	assert_near(probe_cgroup_usage(&cg), 123456789000.0);
	assert_near(cg.mem_limit, 1.5 * GiB);          /* hierarchical_memory_limit < own 2 GiB */
	assert_near(cg.mem_usage, 1 * GiB);
	assert_near(cg.mem_inactive_file, 256 * MiB);  /* total_inactive_file, not inactive_file */
}

static void test_cgroup_v1_unlimited(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	probe_cgroup_read(fixture("cgroup/v1-unlimited"), &cg);
	assert_int_equal(cg.version, 1);
	assert_true(isnan(cg.cpu_quota));              /* cfs_quota_us -1 */
	assert_near(cg.cpuset_cpus, 2);
	assert_near(cg.cpu_usage_ns, 1446918828144.0);
	assert_true(isnan(cg.mem_limit));              /* the 0x7FFFFFFFFFFFF000 sentinel */
	assert_near(cg.mem_usage, 783003648);
	assert_near(cg.mem_inactive_file, 149000000);
}

static void test_cgroup_v1_container(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	/* The mount's root is the container's cgroup: the files are at the mount point. */
	probe_cgroup_read(fixture("cgroup/v1-container"), &cg);
	assert_int_equal(cg.version, 1);
	assert_near(cg.cpu_quota, 0.5);
	assert_true(isnan(cg.cpuset_cpus));            /* no cpuset hierarchy mounted */
	assert_true(isnan(cg.cpu_usage_ns));
	assert_near(cg.mem_limit, 512 * MiB);
	assert_near(cg.mem_usage, 384 * MiB);
	assert_near(cg.mem_inactive_file, 96 * MiB);
}

static void test_cgroup_v2_limited(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	probe_cgroup_read(fixture("cgroup/v2-limited"), &cg);
	assert_int_equal(cg.version, 2);
	assert_near(cg.cpu_quota, 2);                  /* user.slice's "200000 100000"; own "max" */
	assert_near(cg.cpuset_cpus, 4);
	assert_near(cg.cpu_usage_ns, 5e9);             /* usage_usec 5000000 */
	assert_near(probe_cgroup_usage(&cg), 5e9);
	assert_near(cg.mem_limit, 768 * MiB);          /* memory.high below memory.max */
	assert_near(cg.mem_usage, 512 * MiB);
	assert_near(cg.mem_inactive_file, 128 * MiB);
}

static void test_cgroup_v2_unlimited(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	probe_cgroup_read(fixture("cgroup/v2-unlimited"), &cg);
	assert_int_equal(cg.version, 2);
	assert_true(isnan(cg.cpu_quota));              /* no cpu.max at the root */
	assert_near(cg.cpuset_cpus, 8);
	assert_near(cg.cpu_usage_ns, 42e9);
	assert_true(isnan(cg.mem_limit));
}

static void test_cgroup_none(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	probe_cgroup_read(fixture("cgroup/none"), &cg);
	assert_int_equal(cg.version, 0);
	assert_true(isnan(cg.cpu_quota) && isnan(cg.cpuset_cpus) && isnan(cg.cpu_usage_ns));
	assert_true(isnan(cg.mem_limit) && isnan(cg.mem_usage) && isnan(cg.mem_inactive_file));
	assert_true(isnan(probe_cgroup_usage(&cg)));
	probe_cgroup_read(fixture("no-such-root"), &cg);
	assert_int_equal(cg.version, 0);
}

static void test_cgroup_live(void **state)
{
	struct probe_cgroup cg;

	(void)state;
	/* The project's VM is cgroup v1 hybrid (PROBES.md section 4); a v2 host works the same. */
	probe_cgroup_read(NULL, &cg);
	if (access("/proc/self/cgroup", R_OK) == 0)
		assert_true(cg.version == 1 || cg.version == 2);
	assert_true(isnan(cg.cpuset_cpus) || cg.cpuset_cpus >= 1);
	assert_true(isnan(cg.cpu_usage_ns) || cg.cpu_usage_ns > 0);
	assert_true(isnan(cg.mem_limit) || cg.mem_limit > 0);
}

/* --- the math ------------------------------------------------------------------------------ */

static void test_capacity(void **state)
{
	(void)state;
	assert_near(probe_cpu_capacity(8, 8, 4, 1.5), 1.5);
	assert_near(probe_cpu_capacity(8, 6, NAN, NAN), 6);
	assert_near(probe_cpu_capacity(2, NAN, 4, 3), 2);
	assert_near(probe_cpu_capacity(16, 0, 4, NAN), 4);    /* 0 = unknown, never a limit */
	assert_true(isnan(probe_cpu_capacity(NAN, NAN, NAN, NAN)));
}

static void test_headroom(void **state)
{
	struct probe_cgroup cg = { .cpu_quota = NAN, .mem_limit = NAN, .mem_usage = NAN,
	                           .mem_inactive_file = NAN };
	double h, cap, ws;

	(void)state;
	/* Unlimited: the host's MemAvailable of MemTotal. */
	probe_mem_headroom(8 * GiB, 6 * GiB, &cg, &h, &cap, &ws);
	assert_near(h, 6 * GiB);
	assert_near(cap, 8 * GiB);
	assert_true(isnan(ws));
	probe_mem_headroom(8 * GiB, 6 * GiB, NULL, &h, &cap, &ws);
	assert_near(h, 6 * GiB);

	/* Limited: limit - (usage - inactive_file), the page cache not counted. */
	cg.mem_limit = 1.5 * GiB;
	cg.mem_usage = 1 * GiB;
	cg.mem_inactive_file = 256 * MiB;
	probe_mem_headroom(8 * GiB, 6 * GiB, &cg, &h, &cap, &ws);
	assert_near(ws, 768 * MiB);
	assert_near(h, 768 * MiB);
	assert_near(cap, 1.5 * GiB);
	/* ... but never more than the host has. */
	probe_mem_headroom(8 * GiB, 100 * MiB, &cg, &h, &cap, &ws);
	assert_near(h, 100 * MiB);
	/* Over the limit: 0, not negative. */
	cg.mem_usage = 3 * GiB;
	probe_mem_headroom(8 * GiB, 6 * GiB, &cg, &h, &cap, &ws);
	assert_near(h, 0);
	/* A limit at or above MemTotal is no limit (v1 without the sentinel, a host-sized limit). */
	cg.mem_limit = 8 * GiB;
	probe_mem_headroom(8 * GiB, 6 * GiB, &cg, &h, &cap, &ws);
	assert_near(h, 6 * GiB);
	assert_near(cap, 8 * GiB);
	/* Usage unreadable: only the limit bounds it. */
	cg.mem_limit = 1 * GiB;
	cg.mem_usage = NAN;
	probe_mem_headroom(8 * GiB, 6 * GiB, &cg, &h, &cap, &ws);
	assert_near(h, 1 * GiB);
	assert_true(isnan(ws));
}

/* --- the cgroup's CPU percent -------------------------------------------------------------- */

static void write_text(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_cgroup_cpu_percent(void **state)
{
	char dir[256] = "/tmp/test_cgroup.XXXXXX", buf[64];
	struct probe_cgroup cg = { .version = 1, .cpu_usage_ns = NAN };
	struct timespec half = { 0, 600 * 1000000L };
	double p;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	snprintf(cg.usage_file, sizeof cg.usage_file, "%s/cpuacct.usage", dir);

	/* Sampled by the caller: 0.5 s of CPU in a 1 s window on 2 CPUs = 25 %. */
	write_text(fd, "cpuacct.usage", "1500000000\n");
	p = probe_cgroup_cpu(fd, &cg, 2, 1e9, 1000000000, 120000);
	assert_near(p, 25);
	/* A young saved sample: its percent again, without a new window. */
	write_text(fd, "cpuacct.usage", "9000000000\n");
	p = probe_cgroup_cpu(fd, &cg, 2, NAN, 0, 120000);
	assert_near(p, 25);
	/* Older than the minimum window: a delta against it (7.5 s of CPU: capped at 100). */
	nanosleep(&half, NULL);
	p = probe_cgroup_cpu(fd, &cg, 2, NAN, 0, 120000);
	assert_near(p, 100);
	/* Nothing saved (no state dir) and no window: unknown. */
	p = probe_cgroup_cpu(-1, &cg, 2, NAN, 0, 120000);
	assert_true(isnan(p));
	/* Garbage in the state file is ignored (and replaced). */
	write_text(fd, "cgroup.sample", "v1 garbage\n");
	p = probe_cgroup_cpu(fd, &cg, 2, NAN, 0, 120000);
	assert_true(isnan(p));
	{
		int sfd = openat(fd, "cgroup.sample", O_RDONLY | O_CLOEXEC);
		ssize_t n = read(sfd, buf, sizeof buf - 1);

		close(sfd);
		assert_true(n > 3);
		assert_true(strncmp(buf, "v1 ", 3) == 0);
	}
	unlinkat(fd, "cgroup.sample", 0);
	unlinkat(fd, "cpuacct.usage", 0);
	close(fd);
	rmdir(dir);
}

/* --- a whole snapshot under a fixture root ------------------------------------------------- */

static void test_snapshot_under_root(void **state)
{
	struct probe_request req = {
		.statefd = -1, .mem = true, .load = true, .psi = true,
		.root = fixture("cgroup/v1-limited"),
	};
	struct snapshot s;

	(void)state;
	probe_snapshot(&req, &s);
	assert_string_equal(s.failed, "");
	assert_int_equal(s.cgroup.version, 1);
	assert_near(s.cgroup.cpu_quota, 1.5);
	assert_near(s.cgroup.cpuset_cpus, 4);
	assert_true(s.ncpu <= 1.5 && s.ncpu > 0);      /* C_eff: the quota, unless the host is smaller */
	assert_true(s.host.ncpu >= 1);
	assert_near(s.cgroup.mem_limit_bytes, 1.5 * GiB);
	assert_near(s.cgroup.mem_working_set_bytes, 768 * MiB);
	if (s.host.mem_available_bytes > 768 * MiB) {
		assert_near(s.mem_headroom_bytes, 768 * MiB);
		assert_near(s.mem_available_percent, 50);
	}
	assert_true(isnan(s.pressure_cpu));            /* that tree has no proc/pressure */

	req.root = fixture("cgroup/v1-unlimited");
	probe_snapshot(&req, &s);
	assert_near(s.pressure_cpu, 4.75);
	assert_near(s.pressure_memory, 0);
	assert_true(isnan(s.cgroup.mem_limit_bytes));
	assert_near(s.mem_headroom_bytes, s.host.mem_available_bytes);
	assert_near(s.mem_available_percent, s.host.mem_available_percent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psi_parse),
		cmocka_unit_test(test_psi_fixtures),
		cmocka_unit_test(test_cgroup_v1_limited),
		cmocka_unit_test(test_cgroup_v1_unlimited),
		cmocka_unit_test(test_cgroup_v1_container),
		cmocka_unit_test(test_cgroup_v2_limited),
		cmocka_unit_test(test_cgroup_v2_unlimited),
		cmocka_unit_test(test_cgroup_none),
		cmocka_unit_test(test_cgroup_live),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_headroom),
		cmocka_unit_test(test_cgroup_cpu_percent),
		cmocka_unit_test(test_snapshot_under_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
