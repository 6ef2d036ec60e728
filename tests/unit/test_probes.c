/* test_probes.c: the probes on the real machine, with a temp state dir and real child processes. */
#define _GNU_SOURCE /* program_invocation_short_name */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probes/probe.h"

#define SLEEP_BIN "/bin/sleep"
#define MAX_CHILDREN 16

struct fixture {
	char dir[256];
	int fd;
};

static pid_t children[MAX_CHILDREN];
static size_t nchildren;

static void msleep(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	assert_non_null(f);
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	assert_true(snprintf(f->dir, sizeof f->dir, "%s/test_probes.XXXXXX", tmp) <
	            (int)sizeof f->dir);
	assert_non_null(mkdtemp(f->dir));
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

/* Kill and reap every child this test started (bounded: about 5 s in all). */
static void reap_children(void)
{
	for (size_t i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	for (size_t i = 0; i < nchildren; i++) {
		for (int tries = 0; tries < 500; tries++) {
			pid_t r = waitpid(children[i], NULL, WNOHANG);

			/* ECHILD: a grandchild not yet handed to us (we are its subreaper). */
			if (r == children[i] || (r == -1 && errno != ECHILD && errno != EINTR))
				break;
			msleep(10);
		}
	}
	nchildren = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d;
	struct dirent *de;

	reap_children();
	d = fdopendir(f->fd);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	} else {
		close(f->fd);
	}
	rmdir(f->dir);
	{
		/* Left by test_cpu_symlink_not_followed if it failed half-way. */
		char path[320];

		snprintf(path, sizeof path, "%s.outside/victim", f->dir);
		unlink(path);
		snprintf(path, sizeof path, "%s.outside", f->dir);
		rmdir(path);
	}
	free(f);
	return 0;
}

static void write_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static void read_file(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void boot_id(char *buf, size_t size)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* A state line as probe_cpu writes it, with the given boot id, age and ticks. */
static void plant_sample(int dirfd, const char *boot, int64_t age_ms, unsigned long long ticks,
                         const char *percent)
{
	char line[512];

	snprintf(line, sizeof line,
	         "v1 %s %" PRId64 " %ld %llu %llu %llu %llu %llu %llu %llu %llu %s\n", boot,
	         mono_ns() - age_ms * 1000000, sysconf(_SC_NPROCESSORS_ONLN), ticks, ticks, ticks,
	         ticks, ticks, ticks, ticks, ticks, percent);
	write_file(dirfd, "cpu.sample", line);
}

static void test_mem(void **state)
{
	double v = -1;
	char *cause = NULL;

	assert_int_equal(probe_mem(&v, &cause), 0);
	assert_null(cause);
	assert_true(v > 0 && v <= 100);
}

static void test_load(void **state)
{
	double a1 = -1, a5 = -1, a15 = -1, n = 0;
	char *cause = NULL;

	assert_int_equal(probe_load(&a1, &a5, &a15, &n, &cause), 0);
	assert_true(a1 >= 0 && a5 >= 0 && a15 >= 0);
	assert_true(n >= 1 && n <= sysconf(_SC_NPROCESSORS_ONLN));
}

static void test_disk(void **state)
{
	struct fixture *f = *state;
	double v = -1;
	char *cause = NULL;

	assert_int_equal(probe_disk(f->fd, &v, &cause), 0);
	assert_true(v >= 0 && v <= 100);
	assert_int_equal(probe_disk(-1, &v, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "Bad file descriptor"));
	free(cause);
}

static void test_cpu_sampled_cached_delta(void **state)
{
	struct fixture *f = *state;
	double p1 = -1, p2 = -1, p3 = -1;
	const char *m = NULL;
	char *cause = NULL, buf[512];
	int64_t t0;

	t0 = mono_ns();
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p1, &m, &cause), 0);
	assert_string_equal(m, "sampled");
	assert_true(mono_ns() - t0 >= 100 * 1000000LL);
	assert_true(p1 >= 0 && p1 <= 100);
	read_file(f->fd, "cpu.sample", buf, sizeof buf);
	assert_true(strncmp(buf, "v1 ", 3) == 0);

	t0 = mono_ns();
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p2, &m, &cause), 0);
	assert_string_equal(m, "cached");
	assert_true(p2 == p1);
	assert_true(mono_ns() - t0 < 50 * 1000000LL); /* no sampling window */
	{
		char again[512];
		struct stat st1, st2;

		assert_int_equal(fstatat(f->fd, "cpu.sample", &st1, 0), 0);
		assert_int_equal(probe_cpu(f->fd, 100, 120000, &p2, &m, &cause), 0);
		assert_string_equal(m, "cached");
		assert_int_equal(fstatat(f->fd, "cpu.sample", &st2, 0), 0);
		read_file(f->fd, "cpu.sample", again, sizeof again);
		/* A cached answer does not rewrite the file (a rename would change the inode). */
		assert_string_equal(again, buf);
		assert_true(st1.st_ino == st2.st_ino);
	}

	msleep(600);
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p3, &m, &cause), 0);
	assert_string_equal(m, "delta");
	assert_true(p3 >= 0 && p3 <= 100);
	read_file(f->fd, "cpu.sample", buf, sizeof buf);
	{
		double saved = NAN;
		const char *last = strrchr(buf, ' ');

		assert_non_null(last);
		saved = strtod(last + 1, NULL);
		assert_true(saved == p3);
	}
	assert_null(cause);
}

static void test_cpu_garbage_ignored(void **state)
{
	struct fixture *f = *state;
	double p = -1;
	const char *m = NULL;
	char *cause = NULL, buf[512];

	write_file(f->fd, "cpu.sample", "v1 \xff garbage 12 nan\n");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");
	read_file(f->fd, "cpu.sample", buf, sizeof buf);
	assert_true(strncmp(buf, "v1 ", 3) == 0);
	assert_null(strstr(buf, "garbage"));

	/* Trailing junk after a valid line is garbage too. */
	{
		char boot[64], line[600];

		boot_id(boot, sizeof boot);
		plant_sample(f->fd, boot, 0, 1, "42");
		read_file(f->fd, "cpu.sample", buf, sizeof buf);
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(line, sizeof line, "%s extra\n", buf);
		write_file(f->fd, "cpu.sample", line);
	}
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");
}

static void test_cpu_planted_samples(void **state)
{
	struct fixture *f = *state;
	double p = -1;
	const char *m = NULL;
	char *cause = NULL, boot[64];

	boot_id(boot, sizeof boot);

	/* Control: a fresh sample of this boot with a percent is served as cached. */
	plant_sample(f->fd, boot, 0, 1, "42");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "cached");
	assert_true(p == 42);

	/* The same line from another boot is ignored. */
	plant_sample(f->fd, "00000000-0000-0000-0000-000000000000", 0, 1, "42");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");

	/* A young sample without a percent: sample. */
	plant_sample(f->fd, boot, 0, 1, "nan");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");

	/* One second old, ticks from boot: a delta. */
	plant_sample(f->fd, boot, 1000, 0, "nan");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "delta");
	assert_true(p >= 0 && p <= 100);

	/* Older than max_age: stale. */
	plant_sample(f->fd, boot, 10000, 0, "nan");
	assert_int_equal(probe_cpu(f->fd, 100, 5000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");

	/* Counters ahead of the machine's (going backwards): ignored. */
	plant_sample(f->fd, boot, 1000, 1ULL << 62, "nan");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");

	/* Only one counter (user) ahead: still ignored, not clamped to a partial delta. */
	{
		char line[512];

		snprintf(line, sizeof line, "v1 %s %" PRId64 " %ld %llu 0 0 0 0 0 0 0 nan\n", boot,
		         mono_ns() - (int64_t)1000000000, sysconf(_SC_NPROCESSORS_ONLN), 1ULL << 62);
		write_file(f->fd, "cpu.sample", line);
	}
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");

	/* A percent out of range makes the line invalid. */
	plant_sample(f->fd, boot, 0, 1, "140");
	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");
	assert_null(cause);
}

static void test_cpu_sampling_disabled(void **state)
{
	struct fixture *f = *state;
	double p = -1;
	const char *m = NULL;
	char *cause = NULL;

	assert_int_equal(probe_cpu(f->fd, 0, 120000, &p, &m, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "sampling is disabled"));
	free(cause);
	cause = NULL;
	/* ...but it seeded the state, so a later call gets a delta without sampling. */
	msleep(600);
	assert_int_equal(probe_cpu(f->fd, 0, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "delta");
}

static void test_cpu_symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	char outside[300], target[320], boot[64], before[512], after[512];
	const char *m = NULL;
	char *cause = NULL;
	double p = -1;
	struct stat st;
	int ofd;

	/* The victim holds a valid, fresh sample: following the link to read it would say "cached". */
	snprintf(outside, sizeof outside, "%s.outside", f->dir);
	assert_true(mkdir(outside, 0700) == 0);
	ofd = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(ofd >= 0);
	boot_id(boot, sizeof boot);
	plant_sample(ofd, boot, 0, 1, "42");
	assert_int_equal(renameat(ofd, "cpu.sample", ofd, "victim"), 0);
	read_file(ofd, "victim", before, sizeof before);
	snprintf(target, sizeof target, "%s/victim", outside);
	assert_int_equal(symlinkat(target, f->fd, "cpu.sample"), 0);

	assert_int_equal(probe_cpu(f->fd, 100, 120000, &p, &m, &cause), 0);
	assert_string_equal(m, "sampled");
	read_file(ofd, "victim", after, sizeof after);
	assert_string_equal(after, before);
	/* The link itself was replaced by a regular file. */
	assert_int_equal(fstatat(f->fd, "cpu.sample", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	close(ofd); /* teardown removes the outside dir */
}

/* Wait until pid's argv[0] is argv0 (it has exec'd); bounded at about 5 s. */
static void wait_exec(pid_t pid, const char *argv0)
{
	char path[64], buf[256];

	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	for (int tries = 0; tries < 500; tries++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if (strcmp(buf, argv0) == 0)
				return;
		}
		msleep(10);
	}
	fail_msg("process %ld never exec'd %s", (long)pid, argv0);
}

static pid_t spawn_sleep(const char *argv0)
{
	pid_t pid;

	assert_true(nchildren < MAX_CHILDREN);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)argv0, "30", NULL };

		execv(SLEEP_BIN, argv);
		_exit(127);
	}
	children[nchildren++] = pid;
	return pid;
}

static void test_sessions_counts_processes(void **state)
{
	char name[64], pattern[80];
	struct probe_source src[2];
	int counts[2] = { -7, -7 };
	char *cause = NULL;

	snprintf(name, sizeof name, "gov-test-agent-%ld", (long)getpid());
	snprintf(pattern, sizeof pattern, "^%s( |$)", name);
	for (int i = 0; i < 3; i++)
		wait_exec(spawn_sleep(name), name);
	src[0] = (struct probe_source){ .name = "agents", .kind = PROBE_KIND_BACKGROUND,
	                                .type = PROBE_TYPE_PROCESS,
	                                .match = pattern };
	src[1] = (struct probe_source){ .name = "none", .kind = PROBE_KIND_INTERACTIVE,
	                                .type = PROBE_TYPE_PROCESS,
	                                .match = "^gov-test-nothing-matches-this$" };
	assert_int_equal(probe_sessions(src, 2, counts, &cause), 0);
	assert_null(cause);
	assert_int_equal(counts[0], 3);
	assert_int_equal(counts[1], 0);

	/* Argument words match too: "NAME 30" joined by one space. */
	snprintf(pattern, sizeof pattern, "^%s 30$", name);
	assert_int_equal(probe_sessions(src, 1, counts, &cause), 0);
	assert_int_equal(counts[0], 3);
	reap_children();
	assert_int_equal(probe_sessions(src, 1, counts, &cause), 0);
	assert_int_equal(counts[0], 0);
}

static void test_sessions_roots_only(void **state)
{
	char name[64], pattern[80];
	struct probe_source src;
	int counts[1] = { -7 }, pfd[2];
	char *cause = NULL;
	pid_t a, b = -1;

	/* The grandchild is handed to us when its parent dies, so we can reap it. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	snprintf(name, sizeof name, "gov-test-nest-%ld", (long)getpid());
	snprintf(pattern, sizeof pattern, "^%s( |$)", name);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		char *argv[] = { name, "30", NULL };
		pid_t c = fork();

		if (c == 0) {
			execv(SLEEP_BIN, argv);
			_exit(127);
		}
		if (c < 0 || write(pfd[1], &c, sizeof c) != sizeof c)
			_exit(126);
		execv(SLEEP_BIN, argv); /* the parent becomes a matching sleep too */
		_exit(127);
	}
	children[nchildren++] = a;
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &b, sizeof b), (ssize_t)sizeof b);
	close(pfd[0]);
	children[nchildren++] = b;
	wait_exec(a, name);
	wait_exec(b, name);

	src = (struct probe_source){ .name = "nest", .kind = PROBE_KIND_BACKGROUND,
	                             .type = PROBE_TYPE_PROCESS, .match = pattern };
	assert_int_equal(probe_sessions(&src, 1, counts, &cause), 0);
	assert_int_equal(counts[0], 1);

	/* With the parent gone the child is a root of its own. */
	kill(a, SIGKILL);
	assert_int_equal(waitpid(a, NULL, 0), a);
	children[0] = b;
	nchildren = 1;
	assert_int_equal(probe_sessions(&src, 1, counts, &cause), 0);
	assert_int_equal(counts[0], 1);
	reap_children();
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

/* An ERE for this binary's name, metacharacters escaped. */
static void self_pattern(char *buf, size_t size)
{
	size_t j = 0;

	for (const char *p = program_invocation_short_name; *p != '\0' && j + 3 < size; p++) {
		if (strchr("\\^$.|?*+()[]{}", *p) != NULL)
			buf[j++] = '\\';
		buf[j++] = *p;
	}
	buf[j] = '\0';
}

static void test_sessions_excludes_self(void **state)
{
	char pattern[256], self[4096];
	struct probe_source src;
	int counts[1] = { -7 }, fd;
	char *cause = NULL;
	regex_t re;
	ssize_t n;

	self_pattern(pattern, sizeof pattern);

	/* It must really match our own command line for the test to mean anything. */
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, self, sizeof self - 1);
	close(fd);
	assert_true(n > 0);
	for (ssize_t i = 0; i < n; i++)
		if (self[i] == '\0')
			self[i] = ' ';
	self[n] = '\0';
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, self, 0, NULL, 0), 0);
	regfree(&re);

	src = (struct probe_source){ .name = "self", .kind = PROBE_KIND_INTERACTIVE,
	                             .type = PROBE_TYPE_PROCESS, .match = pattern };
	assert_int_equal(probe_sessions(&src, 1, counts, &cause), 0);
	assert_int_equal(counts[0], 0);
}

/*
 * A grandchild (same argv as this test) scans for this binary's name: itself, its parent and
 * this process (found only by walking the PPID chain) all match and must all be excluded.
 */
static void test_sessions_excludes_ancestors(void **state)
{
	char pattern[256];
	pid_t child;
	int status = 0;

	self_pattern(pattern, sizeof pattern);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t grandchild = fork();
		int st = 0;

		if (grandchild == 0) {
			struct probe_source src = { .name = "self", .kind = PROBE_KIND_BACKGROUND,
			                            .type = PROBE_TYPE_PROCESS, .match = pattern };
			int counts[1] = { -1 };
			char *cause = NULL;

			if (probe_sessions(&src, 1, counts, &cause) != 0)
				_exit(100);
			_exit(counts[0] < 0 || counts[0] > 99 ? 101 : counts[0]);
		}
		if (grandchild < 0 || waitpid(grandchild, &st, 0) != grandchild || !WIFEXITED(st))
			_exit(102);
		_exit(WEXITSTATUS(st));
	}
	children[nchildren++] = child;
	assert_int_equal(waitpid(child, &status, 0), child);
	nchildren = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sessions_bad_regex(void **state)
{
	struct probe_source src[2] = {
		{ .name = "fine", .kind = PROBE_KIND_BACKGROUND, .type = PROBE_TYPE_PROCESS,
		  .match = "^ok$" },
		{ .name = "broken", .kind = PROBE_KIND_BACKGROUND, .type = PROBE_TYPE_PROCESS,
		  .match = "(unclosed" },
	};
	int counts[2] = { -7, -7 };
	char *cause = NULL;

	assert_int_equal(probe_sessions(src, 2, counts, &cause), -1);
	assert_non_null(cause);
	assert_true(strncmp(cause, "sessions.broken: bad match pattern '(unclosed': ", 48) == 0);
	assert_int_equal(counts[0], -7);
	free(cause);
}

static void test_snapshot(void **state)
{
	struct fixture *f = *state;
	char pattern[80];
	struct probe_source src;
	struct probe_request req;
	struct snapshot s;

	snprintf(pattern, sizeof pattern, "^gov-test-none-%ld$", (long)getpid());
	src = (struct probe_source){ .name = "vip", .kind = PROBE_KIND_INTERACTIVE,
	                             .type = PROBE_TYPE_PROCESS, .match = pattern };
	req = (struct probe_request){
		.statefd = f->fd, .cpu = true, .mem = true, .load = true, .disk = true,
		.sessions = true, .cpu_sample_ms = 100, .cpu_max_age_ms = 120000,
		.sources = &src, .nsources = 1,
	};
	probe_snapshot(&req, &s);
	assert_string_equal(s.failed, "");
	assert_true(s.cpu_percent >= 0 && s.cpu_percent <= 100);
	assert_string_equal(s.cpu_method, "sampled");
	assert_true(s.mem_available_percent > 0 && s.mem_available_percent <= 100);
	assert_false(isnan(s.loadavg1) || isnan(s.loadavg5) || isnan(s.loadavg15));
	assert_true(s.ncpu >= 1);
	assert_true(s.disk_free_percent >= 0 && s.disk_free_percent <= 100);
	assert_int_equal(s.sessions_background, -1);
	assert_int_equal(s.sessions_interactive, 0);

	/* Only what is asked for. */
	req = (struct probe_request){ .statefd = f->fd, .mem = true };
	probe_snapshot(&req, &s);
	assert_true(isnan(s.cpu_percent) && isnan(s.loadavg1) && isnan(s.disk_free_percent));
	assert_string_equal(s.cpu_method, "");
	assert_false(isnan(s.mem_available_percent));
	assert_int_equal(s.sessions_background, -1);
	assert_int_equal(s.sessions_interactive, -1);
}

static void test_snapshot_failures(void **state)
{
	struct fixture *f = *state;
	struct probe_source src = { .name = "bad", .kind = PROBE_KIND_BACKGROUND,
	                            .type = PROBE_TYPE_PROCESS, .match = "a{1" };
	struct probe_request req = {
		.statefd = f->fd, .sessions = true, .sources = &src, .nsources = 1,
	};
	struct snapshot s;

	probe_snapshot(&req, &s);
	assert_true(strncmp(s.failed, "sessions: sessions.bad: bad match pattern", 41) == 0);
	assert_int_equal(s.sessions_background, -1);

	/* The first failure wins: cpu (sampling off, no sample) before sessions. */
	req.cpu = true;
	req.cpu_sample_ms = 0;
	req.cpu_max_age_ms = 120000;
	probe_snapshot(&req, &s);
	assert_true(strncmp(s.failed, "cpu: ", 5) == 0);
	assert_true(isnan(s.cpu_percent));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_sampled_cached_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_garbage_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_planted_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_sampling_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_symlink_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_counts_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_roots_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_excludes_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_excludes_ancestors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_bad_regex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_failures, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
