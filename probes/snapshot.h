/*
 * snapshot.h: the readings of one moment, as plain values.
 *
 * The probes fill a struct snapshot; the policy reads it; `governor probe` prints it and
 * `governor check --snapshot FILE` reads it back.  A reading that was not taken, or that the
 * machine does not provide, is NAN (printed as JSON null) and every rule that needs it is
 * skipped; it is never read as 0.  A session count of -1 means "no source configured".
 */
#ifndef PROBES_SNAPSHOT_H
#define PROBES_SNAPSHOT_H

#include <math.h>

#define SNAPSHOT_ERROR_MAX 256

struct snapshot {
	double cpu_percent;           /* busy share of all CPUs, 0..100 */
	double mem_available_percent; /* MemAvailable / MemTotal, 0..100 */
	double loadavg1, loadavg5, loadavg15;
	double ncpu;                  /* CPUs this process may run on */
	double disk_free_percent;     /* of the state dir's filesystem, for unprivileged users */
	int sessions_background;      /* sessions counted toward max_concurrent, -1 = no source */
	int sessions_interactive;     /* VIP-lane sessions, -1 = no source */
	char cpu_method[16];          /* "delta", "cached", "sampled", or "" when not read */
	char failed[SNAPSHOT_ERROR_MAX]; /* non-empty: a required probe failed, and why */
};

/* An empty snapshot: every reading absent. */
static inline void snapshot_init(struct snapshot *s)
{
	*s = (struct snapshot){
		.cpu_percent = NAN, .mem_available_percent = NAN,
		.loadavg1 = NAN, .loadavg5 = NAN, .loadavg15 = NAN,
		.ncpu = NAN, .disk_free_percent = NAN,
		.sessions_background = -1, .sessions_interactive = -1,
	};
}

#endif
