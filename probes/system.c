/* system.c: memory, load average and disk readings, and the snapshot that gathers every probe. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_ALLOC */
#include "probes/probe.h"
#include "probes/fetch.h"
#include "probes/internal.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <libproc2/meminfo.h>
#include <libproc2/misc.h>

static double clamp_percent(double p)
{
	if (p < 0)
		return 0;
	if (p > 100)
		return 100;
	return p;
}

int probe_meminfo(double *total_bytes, double *available_bytes, char **cause)
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
	*total_bytes = (double)total * 1024;
	*available_bytes = (double)avail * 1024;
	return 0;
}

int probe_mem(double *available_percent, char **cause)
{
	double total, avail;

	if (probe_meminfo(&total, &avail, cause) == -1)
		return -1;
	*available_percent = clamp_percent(100.0 * avail / total);
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

/* Copy name into a snapshot value's fixed buffer (names are validated shorter by config). */
static void set_value(struct snapshot_value *v, const char *name, double value)
{
	snprintf(v->name, sizeof v->name, "%s", name);
	v->value = value;
}

/*
 * Run every command and http source and every limit in one concurrent batch, then turn each
 * output into its number.  values[i] is for sources[i] (NAN for process sources and for
 * failures), lvalues[j] for limits[j].
 */
static void fetch_values(const struct probe_request *req, struct snapshot *out, double *values,
                         double *lvalues)
{
	size_t n = 0, k = 0;
	struct fetch_job *jobs = calloc(req->nsources + req->nlimits + 1, sizeof *jobs);

	for (size_t i = 0; i < req->nsources; i++)
		values[i] = NAN;
	for (size_t j = 0; j < req->nlimits; j++)
		lvalues[j] = NAN;
	if (jobs == NULL) {
		note_failure(out, "sessions", NULL);
		return;
	}
	for (size_t i = 0; req->sessions && i < req->nsources; i++)
		if (req->sources[i].type != PROBE_TYPE_PROCESS)
			jobs[n++] = (struct fetch_job){ .type = req->sources[i].type,
			                                .fetch = &req->sources[i].fetch };
	for (size_t j = 0; j < req->nlimits; j++)
		jobs[n++] = (struct fetch_job){ .type = req->limits[j].type,
		                                .fetch = &req->limits[j].fetch };
	fetch_all(req->statefd, req->http_helper, jobs, n);

	for (size_t i = 0; req->sessions && i < req->nsources; i++) {
		const struct probe_source *src = &req->sources[i];
		char *cause = NULL;

		if (src->type == PROBE_TYPE_PROCESS)
			continue;
		if (fetch_value(&jobs[k++], &src->extract, &values[i], &cause) == 0 &&
		    values[i] < 0) {
			values[i] = NAN;
			probe_fail(&cause, "a session count cannot be negative");
		}
		if (cause != NULL || isnan(values[i])) {
			values[i] = NAN;
			if (!src->ignore_errors) {
				char *full = NULL;

				probe_fail(&full, "sessions.%s: %s", src->name, cause ? cause : "no value");
				note_failure(out, "sessions", full);
			}
		} else {
			values[i] = floor(values[i]);
		}
		free(cause);
	}
	for (size_t j = 0; j < req->nlimits; j++) {
		const struct probe_limit *lim = &req->limits[j];
		char *cause = NULL;

		if (fetch_value(&jobs[k++], &lim->extract, &lvalues[j], &cause) == -1) {
			lvalues[j] = NAN;
			if (!lim->ignore_errors) {
				char *full = NULL;

				probe_fail(&full, "limits.%s: %s", lim->name, cause ? cause : "no value");
				note_failure(out, "limits", full);
			}
		}
		free(cause);
	}
	for (size_t i = 0; i < n; i++)
		fetch_job_release(&jobs[i]);
	free(jobs);
}

static void snapshot_sessions(const struct probe_request *req, struct snapshot *out,
                              const double *values)
{
	int *counts;
	char *cause = NULL;
	int bg = -1, fg = -1;

	counts = calloc(req->nsources + 1, sizeof *counts);
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
		const struct probe_source *src = &req->sources[i];
		int *sum = src->kind == PROBE_KIND_INTERACTIVE ? &fg : &bg;
		int count;

		if (src->type == PROBE_TYPE_PROCESS) {
			count = counts[i];
		} else {
			if (out->nsources < SNAPSHOT_VALUES_MAX)
				set_value(&out->sources[out->nsources++], src->name, values[i]);
			if (isnan(values[i]))
				continue;         /* failed: noted, or ignored */
			count = values[i] > 1e6 ? 1000000 : (int)values[i];
		}
		if (*sum < 0)
			*sum = 0;
		*sum += count;
	}
	out->sessions_background = bg;
	out->sessions_interactive = fg;
	free(counts);
}

/* CPUs online and in the affinity mask: the host side of the capacity. */
static void cpu_counts(double *online, double *allowed)
{
	long on = procps_cpu_count(), aff = affinity_count();

	*online = on > 0 ? (double)on : NAN;
	*allowed = aff > 0 ? (double)aff : NAN;
}

static void snapshot_cpu(const struct probe_request *req, struct snapshot *out,
                         const struct probe_cgroup *cg)
{
	double usage0 = cg ? cg->cpu_usage_ns : NAN, host, cgp = NAN;
	int64_t t0 = probe_mono_ns();
	const char *method;
	char *cause = NULL;

	if (probe_cpu(req->statefd, req->cpu_sample_ms, req->cpu_max_age_ms, &host, &method,
	              &cause) == -1) {
		note_failure(out, "cpu", cause);
		return;
	}
	snprintf(out->cpu_method, sizeof out->cpu_method, "%s", method);
	out->host.cpu_percent = host;
	if (cg != NULL && !isnan(usage0))
		cgp = probe_cgroup_cpu(req->statefd, cg, out->ncpu, usage0,
		                       strcmp(method, "sampled") == 0 ? probe_mono_ns() - t0 : 0,
		                       req->cpu_max_age_ms);
	out->cgroup.cpu_percent = cgp;
	out->cpu_percent = isnan(cgp) || host >= cgp ? host : cgp;
}

static void snapshot_mem(struct snapshot *out, const struct probe_cgroup *cg)
{
	double total, avail, headroom, capacity, ws;
	char *cause = NULL;

	if (probe_meminfo(&total, &avail, &cause) == -1) {
		note_failure(out, "memory", cause);
		return;
	}
	out->host.mem_total_bytes = total;
	out->host.mem_available_bytes = avail;
	out->host.mem_available_percent = clamp_percent(100.0 * avail / total);
	probe_mem_headroom(total, avail, cg, &headroom, &capacity, &ws);
	out->mem_headroom_bytes = headroom;
	out->mem_available_percent = clamp_percent(100.0 * headroom / capacity);
	out->cgroup.mem_working_set_bytes = ws;
}

void probe_snapshot(const struct probe_request *req, struct snapshot *out)
{
	struct probe_cgroup cg;
	char *cause = NULL;
	double v, online, allowed;
	double *values = NULL, *lvalues = NULL;
	bool have_cg = req->cpu || req->mem || req->load;

	snapshot_init(out);
	if (have_cg) {
		probe_cgroup_read(req->root, &cg);
		cpu_counts(&online, &allowed);
		out->host.ncpu = online;
		out->ncpu = probe_cpu_capacity(online, allowed, cg.cpuset_cpus, cg.cpu_quota);
		out->cgroup.version = cg.version;
		out->cgroup.cpu_quota = cg.cpu_quota;
		out->cgroup.cpuset_cpus = cg.cpuset_cpus;
		out->cgroup.mem_limit_bytes = cg.mem_limit;
	}
	if (req->cpu)
		snapshot_cpu(req, out, &cg);
	if (req->mem)
		snapshot_mem(out, &cg);
	if (req->load) {
		double a1, a5, a15, n;

		if (probe_load(&a1, &a5, &a15, &n, &cause) == 0) {
			out->loadavg1 = a1;
			out->loadavg5 = a5;
			out->loadavg15 = a15;
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
	if (req->psi)
		probe_psi(req->root, &out->pressure_cpu, &out->pressure_memory, &out->pressure_io);
	if ((req->sessions && req->nsources > 0) || req->nlimits > 0) {
		values = calloc(req->nsources + 1, sizeof *values);
		lvalues = calloc(req->nlimits + 1, sizeof *lvalues);
		if (values == NULL || lvalues == NULL)
			note_failure(out, "sessions", NULL);
		else
			fetch_values(req, out, values, lvalues);
	}
	if (req->sessions && req->nsources > 0 && values != NULL)
		snapshot_sessions(req, out, values);
	for (size_t j = 0; lvalues != NULL && j < req->nlimits && j < SNAPSHOT_VALUES_MAX; j++)
		set_value(&out->limits[out->nlimits++], req->limits[j].name, lvalues[j]);
	free(values);
	free(lvalues);
}
