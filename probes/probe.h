/*
 * probe.h: read the machine.  Every function here measures and returns values; none decides.
 *
 * Conventions: functions return 0 on success and -1 on failure with *cause set to a malloc'd
 * message (caller frees).  /proc is read through libproc2; see ../shared/PROBES.md for the facts
 * these readers rely on.
 */
#ifndef PROBES_PROBE_H
#define PROBES_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/snapshot.h"

enum probe_kind { PROBE_KIND_BACKGROUND, PROBE_KIND_INTERACTIVE };
enum probe_type { PROBE_TYPE_PROCESS };

/* One configured session source ([sessions.NAME] in the config).  Borrowed strings. */
struct probe_source {
	const char *name;
	enum probe_kind kind;
	enum probe_type type;
	const char *match;            /* PROBE_TYPE_PROCESS: POSIX ERE over the command line */
};

/* What to read.  statefd is the state dir (for the saved CPU sample and the disk reading). */
struct probe_request {
	int statefd;
	bool cpu, mem, load, disk, sessions;
	int64_t cpu_sample_ms;        /* sampling window when no saved sample is usable */
	int64_t cpu_max_age_ms;       /* a saved sample older than this is stale */
	const struct probe_source *sources;
	size_t nsources;
};

/*
 * Fill *out with the readings *req asks for (*out is reset with snapshot_init first).  Never
 * fails as a whole: a reading that cannot be taken stays absent, and when the policy could not
 * judge safely without it (cpu, memory, sessions) out->failed names the probe and the error,
 * "cpu: ...", "memory: ..." or "sessions: ..." (the first failure wins).  Session counts are
 * summed per kind: 0 when sources of that kind match nothing, -1 when none is configured.
 */
void probe_snapshot(const struct probe_request *req, struct snapshot *out);

/*
 * CPU busy percent over the window since the sample saved in statefd by an earlier call (same
 * boot, at least PROBE_CPU_MIN_WINDOW_MS and at most max_age_ms old).  A younger sample reuses
 * the percent computed with it ("cached"); without a usable one, samples for sample_ms
 * ("sampled").  *method receives a static string naming which.  Saves the new sample atomically
 * (best effort: the file is only a cache).  statefd < 0 means no saved state: always sample.
 * sample_ms <= 0 disables sampling: without a usable saved sample the call fails, after saving
 * one for the next call.
 */
#define PROBE_CPU_MIN_WINDOW_MS 500
int probe_cpu(int statefd, int64_t sample_ms, int64_t max_age_ms, double *percent,
              const char **method, char **cause);

/* MemAvailable as a percent of MemTotal. */
int probe_mem(double *available_percent, char **cause);

/* Load averages, and the number of CPUs this process may use (online and in its affinity). */
int probe_load(double *avg1, double *avg5, double *avg15, double *ncpu, char **cause);

/* Free percent (blocks available to unprivileged users) of the filesystem holding fd. */
int probe_disk(int fd, double *free_percent, char **cause);

/*
 * Count sessions of every PROBE_TYPE_PROCESS source in one scan of /proc.  A process counts
 * for a source when its command line (argv joined by spaces) matches the source's ERE, it is
 * not this process or one of its ancestors, and its parent is not itself a match of the same
 * source (an agent's children are not sessions of their own).  counts[i] is for sources[i];
 * entries of other types are left untouched.
 */
int probe_sessions(const struct probe_source *sources, size_t nsources, int *counts,
                   char **cause);

#endif
