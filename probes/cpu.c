/* cpu.c: CPU busy percent from /proc/stat, as a delta against a sample saved by an earlier call. */
#include "probes/probe.h"
#include "probes/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libproc2/misc.h>
#include <libproc2/stat.h>

/*
 * The state file is one line:
 *
 *	v1 <boot_id> <mono_ns> <ncpu> user nice system idle iowait irq softirq steal <percent|nan>
 *
 * 1. The ticks are cumulative since boot and the monotonic clock is system-wide, so a sample is
 *    comparable with a later one from another process as long as the boot id and the number of
 *    online CPUs are the same.
 * 2. It is a cache: it is written to a temp file and renamed over the old one (a reader never
 *    sees a torn line, the last writer wins), without fsync.  Anything unexpected in it (wrong
 *    version, another boot, garbage, a symlink, another owner) just means "no sample".
 * 3. A sample younger than PROBE_CPU_MIN_WINDOW_MS is not replaced: rapid calls then return the
 *    percent saved with it instead of shrinking the window on every call.
 * 4. Numbers are parsed with sscanf and written with snprintf.  That is locale-safe because
 *    governor never calls setlocale() for LC_NUMERIC, so '.' stays the decimal point.
 */

#define STATE_FILE "cpu.sample"
#define STATE_MAX 512
#define NTICKS 8

enum { T_USER, T_NICE, T_SYSTEM, T_IDLE, T_IOWAIT, T_IRQ, T_SOFTIRQ, T_STEAL };

struct cpu_sample {
	char boot_id[40];
	int64_t mono_ns;
	long ncpu;
	unsigned long long tick[NTICKS];
	double percent;               /* computed with this sample, NAN when unknown */
};

/* Load the saved sample; 0 when one was read and parsed, -1 for missing or unusable. */
static int load_sample(int statefd, struct cpu_sample *s)
{
	char buf[STATE_MAX], *end;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, used = 0;

	fd = openat(statefd, STATE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		return -1;
	}
	while (len < sizeof buf - 1) {
		n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	end = memchr(buf, '\n', len);
	if (end == NULL || end != buf + len - 1)
		return -1;
	*end = '\0';
	if (sscanf(buf, "v1 %39s %" SCNd64 " %ld %llu %llu %llu %llu %llu %llu %llu %llu %lf%n",
	           s->boot_id, &s->mono_ns, &s->ncpu, &s->tick[0], &s->tick[1], &s->tick[2],
	           &s->tick[3], &s->tick[4], &s->tick[5], &s->tick[6], &s->tick[7],
	           &s->percent, &used) != 12 || buf[used] != '\0')
		return -1;
	if (s->ncpu <= 0 || s->mono_ns < 0 ||
	    (!isnan(s->percent) && !(s->percent >= 0 && s->percent <= 100)))
		return -1;
	return 0;
}

/* Replace the saved sample atomically.  Best effort: a cache that cannot be written costs only a
 * sampling window on the next call. */
static void save_sample(int statefd, const struct cpu_sample *s)
{
	char line[STATE_MAX];
	int len;

	len = snprintf(line, sizeof line,
	               "v1 %s %" PRId64 " %ld %llu %llu %llu %llu %llu %llu %llu %llu %.17g\n",
	               s->boot_id, s->mono_ns, s->ncpu, s->tick[0], s->tick[1], s->tick[2],
	               s->tick[3], s->tick[4], s->tick[5], s->tick[6], s->tick[7], s->percent);
	if (len < 0 || (size_t)len >= sizeof line)
		return;
	probe_state_replace(statefd, STATE_FILE, line, (size_t)len);
}

/* Read the current ticks into s->tick; 0 on success, else -1 with errno set. */
static int read_ticks(struct stat_info *info, struct cpu_sample *s)
{
	enum stat_item items[NTICKS] = {
		STAT_TIC_USER, STAT_TIC_NICE, STAT_TIC_SYSTEM, STAT_TIC_IDLE,
		STAT_TIC_IOWAIT, STAT_TIC_IRQ, STAT_TIC_SOFTIRQ, STAT_TIC_STOLEN,
	};
	struct stat_stack *stack;

	errno = 0;
	stack = procps_stat_select(info, items, NTICKS); /* re-reads /proc/stat every call */
	if (stack == NULL) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	for (int i = 0; i < NTICKS; i++)
		s->tick[i] = STAT_VAL(i, ull_int, stack, info);
	s->mono_ns = probe_mono_ns();
	return 0;
}

/*
 * Busy percent between two samples.  With strict, a counter that went backwards (CPU hot-unplug,
 * a foreign file) makes the pair unusable; otherwise, and always for iowait (proc(5): it can
 * decrease), a negative delta counts as 0.  Returns -1 when the window holds no ticks.
 */
static int busy_percent(const struct cpu_sample *old, const struct cpu_sample *cur, int strict,
                        double *percent)
{
	unsigned long long d[NTICKS], busy, total;

	for (int i = 0; i < NTICKS; i++) {
		if (cur->tick[i] >= old->tick[i])
			d[i] = cur->tick[i] - old->tick[i];
		else if (strict && i != T_IOWAIT)
			return -1;
		else
			d[i] = 0;
	}
	/* guest and guest_nice are already inside user and nice; steal was not ours to use. */
	busy = d[T_USER] + d[T_NICE] + d[T_SYSTEM] + d[T_IRQ] + d[T_SOFTIRQ] + d[T_STEAL];
	total = busy + d[T_IDLE] + d[T_IOWAIT];
	if (total == 0)
		return -1;
	*percent = 100.0 * (double)busy / (double)total;
	if (*percent > 100)
		*percent = 100;
	return 0;
}

/*
 * libproc2 keeps /proc/stat open from procps_stat_new() to procps_stat_unref(), across the
 * sampling sleep, on a descriptor it opened without O_CLOEXEC.  Every descriptor of ours is
 * close-on-exec (DESIGN 6), so mark that one too.
 */
static void cloexec_proc_stat(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[64], target[32];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		ssize_t n;

		if (fd <= 2 || fd == dirfd(d))
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "/proc/stat") == 0) {
			int flags = fcntl(fd, F_GETFD);

			if (flags >= 0 && !(flags & FD_CLOEXEC))
				fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
		}
	}
	closedir(d);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int probe_cpu(int statefd, int64_t sample_ms, int64_t max_age_ms, double *percent,
              const char **method, char **cause)
{
	struct cpu_sample old, cur;
	struct stat_info *info = NULL;
	int have_old = 0, young = 0, rc, err;
	int64_t age_ms = 0;

	memset(&cur, 0, sizeof cur);
	cur.percent = NAN;
	cur.ncpu = procps_cpu_count();
	/* Without a boot id or a state dir the saved sample cannot be trusted: always sample. */
	if (statefd >= 0 && cur.ncpu > 0 && probe_boot_id(cur.boot_id, sizeof cur.boot_id) == 0 &&
	    load_sample(statefd, &old) == 0 && strcmp(old.boot_id, cur.boot_id) == 0 &&
	    old.ncpu == cur.ncpu) {
		int64_t now = probe_mono_ns();

		if (old.mono_ns <= now) {
			have_old = 1;
			age_ms = (now - old.mono_ns) / 1000000;
			young = age_ms < PROBE_CPU_MIN_WINDOW_MS;
		}
	}
	if (have_old && young && !isnan(old.percent)) {
		*percent = old.percent;
		*method = "cached";
		return 0;
	}

	rc = procps_stat_new(&info);
	if (rc < 0)
		return probe_fail(cause, "cannot read /proc/stat: %s", strerror(-rc));
	cloexec_proc_stat();
	if (read_ticks(info, &cur) == -1)
		goto fail;

	if (have_old && !young && age_ms <= max_age_ms &&
	    busy_percent(&old, &cur, 1, percent) == 0) {
		*method = "delta";
	} else if (sample_ms <= 0) {
		/* Sampling is off: seed the state for the next call, unless a young sample waits. */
		procps_stat_unref(&info);
		if (statefd >= 0 && cur.boot_id[0] != '\0' && !(have_old && young))
			save_sample(statefd, &cur);
		return probe_fail(cause, "no usable saved cpu sample and sampling is disabled");
	} else {
		old = cur;
		sleep_ms(sample_ms);
		if (read_ticks(info, &cur) == -1)
			goto fail;
		if (busy_percent(&old, &cur, 0, percent) == -1) {
			procps_stat_unref(&info);
			return probe_fail(cause, "no cpu ticks elapsed in a %" PRId64 " ms window",
			                  sample_ms);
		}
		*method = "sampled";
	}
	procps_stat_unref(&info);
	cur.percent = *percent;
	if (statefd >= 0 && cur.boot_id[0] != '\0')
		save_sample(statefd, &cur);
	return 0;

fail:
	err = errno;
	procps_stat_unref(&info);
	return probe_fail(cause, "cannot read /proc/stat: %s", strerror(err));
}
