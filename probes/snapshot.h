/*
 * snapshot.h: the readings of one moment, as plain values.
 *
 * The probes fill a struct snapshot; the policy reads it; `governor probe` prints it and
 * `governor check --snapshot FILE` reads it back.  A reading that was not taken, or that the
 * machine does not provide, is NAN (printed as JSON null) and every rule that needs it is
 * skipped; it is never read as 0.  A session count of -1 means "no source configured".
 *
 * The top-level cpu, memory and ncpu readings are the ones the policy judges: what this
 * process may really use, the tighter of the host and its cgroup (docs/probes.md).  The host
 * and cgroup figures they come from are kept beside them for `governor probe`.
 */
#ifndef PROBES_SNAPSHOT_H
#define PROBES_SNAPSHOT_H

#include <math.h>
#include <stddef.h>

#define SNAPSHOT_ERROR_MAX 256
#define SNAPSHOT_NAME_MAX 48          /* a source or limit name, with its NUL */
#define SNAPSHOT_VALUES_MAX 16        /* session sources or custom limits in one snapshot */

/* A named number: one session source's count, or one custom limit's value (NAN: not read). */
struct snapshot_value {
	char name[SNAPSHOT_NAME_MAX];
	double value;
};

struct snapshot {
	double cpu_percent;           /* busy share of the CPU capacity: max(host, cgroup), 0..100 */
	double mem_available_percent; /* memory headroom / memory capacity, 0..100 */
	double mem_headroom_bytes;    /* min(host MemAvailable, cgroup limit - working set) */
	double loadavg1, loadavg5, loadavg15;
	double ncpu;                  /* effective CPU capacity: online, affinity, cpuset, quota */
	double disk_free_percent;     /* of the state dir's filesystem, for unprivileged users */
	double pressure_cpu;          /* PSI "some avg10" of /proc/pressure/cpu, 0..100 */
	double pressure_memory;       /* ... of /proc/pressure/memory */
	double pressure_io;           /* ... of /proc/pressure/io */
	int sessions_background;      /* sessions counted toward max_concurrent, -1 = no source */
	int sessions_interactive;     /* VIP-lane sessions, -1 = no source */
	struct {
		double cpu_percent;       /* /proc/stat: busy share of all online CPUs */
		double mem_available_percent;
		double mem_total_bytes, mem_available_bytes;
		double ncpu;              /* online CPUs */
	} host;
	struct {
		int version;              /* 1 or 2; 0 when no cgroup hierarchy was found */
		double cpu_percent;       /* the cgroup's usage over the window, of ncpu CPUs */
		double cpu_quota;         /* CPUs allowed by the quota (min over the chain), NAN = none */
		double cpuset_cpus;       /* CPUs in the effective cpuset */
		double mem_limit_bytes;   /* NAN = unlimited */
		double mem_working_set_bytes; /* usage - inactive_file */
	} cgroup;
	struct snapshot_value sources[SNAPSHOT_VALUES_MAX]; /* command and http session sources */
	size_t nsources;
	struct snapshot_value limits[SNAPSHOT_VALUES_MAX];  /* custom limits ([limits.NAME]) */
	size_t nlimits;
	char cpu_method[16];          /* "delta", "cached", "sampled", or "" when not read */
	char failed[SNAPSHOT_ERROR_MAX]; /* non-empty: a required probe failed, and why */
};

/* An empty snapshot: every reading absent. */
static inline void snapshot_init(struct snapshot *s)
{
	*s = (struct snapshot){
		.cpu_percent = NAN, .mem_available_percent = NAN, .mem_headroom_bytes = NAN,
		.loadavg1 = NAN, .loadavg5 = NAN, .loadavg15 = NAN,
		.ncpu = NAN, .disk_free_percent = NAN,
		.pressure_cpu = NAN, .pressure_memory = NAN, .pressure_io = NAN,
		.sessions_background = -1, .sessions_interactive = -1,
		.host = { NAN, NAN, NAN, NAN, NAN },
		.cgroup = { 0, NAN, NAN, NAN, NAN, NAN },
	};
}

/* The value of the named limit in s, or NAN when s has none by that name. */
static inline double snapshot_limit(const struct snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nlimits && i < SNAPSHOT_VALUES_MAX; i++) {
		const char *a = s->limits[i].name, *b = name;

		while (*a && *a == *b)
			a++, b++;
		if (*a == *b)
			return s->limits[i].value;
	}
	return NAN;
}

#endif
