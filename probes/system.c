/* system.c: memory, load average and disk readings, and the snapshot that gathers every probe. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_ALLOC */
#include "probes/probe.h"
#include "probes/internal.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <libproc2/meminfo.h>
#include <libproc2/misc.h>

int probe_fail(char **cause, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cause == NULL)
		return -1;
	*cause = NULL;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	*cause = malloc((size_t)n + 1);
	if (*cause == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(*cause, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return -1;
}

static double clamp_percent(double p)
{
	if (p < 0)
		return 0;
	if (p > 100)
		return 100;
	return p;
}

int probe_mem(double *available_percent, char **cause)
{
	enum meminfo_item items[] = { MEMINFO_MEM_TOTAL, MEMINFO_MEM_AVAILABLE };
	struct meminfo_info *info = NULL;
	struct meminfo_stack *stack;
	unsigned long total, avail;
	int rc;

	rc = procps_meminfo_new(&info);
	if (rc < 0)
		return probe_fail(cause, "cannot read /proc/meminfo: %s", strerror(-rc));
	/* select, not get: get re-reads the file at most once per wall-clock second. */
	stack = procps_meminfo_select(info, items, 2);
	if (stack == NULL) {
		rc = errno;
		procps_meminfo_unref(&info);
		return probe_fail(cause, "cannot read /proc/meminfo: %s",
		                  strerror(rc ? rc : EIO));
	}
	total = MEMINFO_VAL(0, ul_int, stack, info);
	avail = MEMINFO_VAL(1, ul_int, stack, info);
	procps_meminfo_unref(&info);
	if (total == 0)
		return probe_fail(cause, "cannot read /proc/meminfo: MemTotal is 0");
	*available_percent = clamp_percent(100.0 * (double)avail / (double)total);
	return 0;
}

/* CPUs in this process's affinity mask, or 0 when it cannot be read. */
static long affinity_count(void)
{
	for (size_t n = 1024; n <= 1u << 20; n *= 2) {
		cpu_set_t *set = CPU_ALLOC(n);
		size_t size = CPU_ALLOC_SIZE(n);
		long count;

		if (set == NULL)
			return 0;
		CPU_ZERO_S(size, set);
		if (sched_getaffinity(0, size, set) == 0) {
			count = CPU_COUNT_S(size, set);
			CPU_FREE(set);
			return count;
		}
		CPU_FREE(set);
		if (errno != EINVAL) /* EINVAL: the kernel's mask is larger than ours */
			return 0;
	}
	return 0;
}

int probe_load(double *avg1, double *avg5, double *avg15, double *ncpu, char **cause)
{
	long online, allowed;
	int rc;

	rc = procps_loadavg(avg1, avg5, avg15);
	if (rc < 0)
		return probe_fail(cause, "cannot read /proc/loadavg: %s", strerror(-rc));
	online = procps_cpu_count();
	allowed = affinity_count();
	if (online <= 0 || (allowed > 0 && allowed < online))
		online = allowed;
	*ncpu = online > 0 ? (double)online : NAN;
	return 0;
}

int probe_disk(int fd, double *free_percent, char **cause)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) == -1)
		return probe_fail(cause, "cannot stat filesystem: %s", strerror(errno));
	if (sv.f_blocks == 0)
		return probe_fail(cause, "filesystem reports no blocks");
	*free_percent = clamp_percent(100.0 * (double)sv.f_bavail / (double)sv.f_blocks);
	return 0;
}

/* Record the first failure of a required probe in out->failed, then free cause. */
static void note_failure(struct snapshot *out, const char *probe, char *cause)
{
	if (out->failed[0] == '\0')
		snprintf(out->failed, sizeof out->failed, "%s: %s", probe,
		         cause ? cause : "out of memory");
	free(cause);
}

static void snapshot_sessions(const struct probe_request *req, struct snapshot *out)
{
	int *counts;
	char *cause = NULL;
	int bg = -1, fg = -1;

	counts = calloc(req->nsources, sizeof *counts);
	if (counts == NULL) {
		note_failure(out, "sessions", NULL);
		return;
	}
	if (probe_sessions(req->sources, req->nsources, counts, &cause) == -1) {
		note_failure(out, "sessions", cause);
		free(counts);
		return;
	}
	for (size_t i = 0; i < req->nsources; i++) {
		int *sum = req->sources[i].kind == PROBE_KIND_INTERACTIVE ? &fg : &bg;

		if (*sum < 0)
			*sum = 0;
		*sum += counts[i];
	}
	out->sessions_background = bg;
	out->sessions_interactive = fg;
	free(counts);
}

void probe_snapshot(const struct probe_request *req, struct snapshot *out)
{
	char *cause = NULL;
	double v;
	const char *method;

	snapshot_init(out);
	if (req->cpu) {
		if (probe_cpu(req->statefd, req->cpu_sample_ms, req->cpu_max_age_ms, &v, &method,
		              &cause) == 0) {
			out->cpu_percent = v;
			snprintf(out->cpu_method, sizeof out->cpu_method, "%s", method);
		} else {
			note_failure(out, "cpu", cause);
		}
		cause = NULL;
	}
	if (req->mem) {
		if (probe_mem(&v, &cause) == 0)
			out->mem_available_percent = v;
		else
			note_failure(out, "memory", cause);
		cause = NULL;
	}
	if (req->load) {
		double a1, a5, a15, n;

		if (probe_load(&a1, &a5, &a15, &n, &cause) == 0) {
			out->loadavg1 = a1;
			out->loadavg5 = a5;
			out->loadavg15 = a15;
			out->ncpu = n;
		}
		free(cause); /* optional reading: absent (NAN) is enough */
		cause = NULL;
	}
	if (req->disk && req->statefd >= 0) {
		if (probe_disk(req->statefd, &v, &cause) == 0)
			out->disk_free_percent = v;
		free(cause);
		cause = NULL;
	}
	if (req->sessions && req->nsources > 0)
		snapshot_sessions(req, out);
}
