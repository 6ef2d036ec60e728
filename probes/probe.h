/*
 * probe.h: read the machine.  Every function here measures and returns values; none decides.
 *
 * Conventions: functions return 0 on success and -1 on failure with *cause set to a malloc'd
 * message (caller frees).  /proc is read through libproc2; see ../shared/PROBES.md for the facts
 * these readers rely on and docs/probes.md for the choices made here.
 */
#ifndef PROBES_PROBE_H
#define PROBES_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/snapshot.h"

enum probe_kind { PROBE_KIND_BACKGROUND, PROBE_KIND_INTERACTIVE };
enum probe_type { PROBE_TYPE_PROCESS, PROBE_TYPE_COMMAND, PROBE_TYPE_HTTP };

/*
 * How a command or HTTP source gets its output (probes/fetch.h runs it).  Borrowed strings and
 * arrays.  Two sources whose fetch is the same (same type, words, URL, body, headers and token
 * variable) share one run per snapshot and one cache entry.
 */
struct probe_fetch {
	char *const *argv;            /* COMMAND: the words, NULL-terminated; argv[0] via PATH */
	const char *url;              /* HTTP: http:// or https:// */
	const char *method;           /* HTTP: "GET" or "POST" */
	const char *body;             /* HTTP: the POST body (JSON), or NULL */
	const char *const *headers;   /* HTTP: "Name: value" lines, NULL-terminated, or NULL */
	const char *token_env;        /* HTTP: bearer token's environment variable, or NULL */
	int64_t timeout_ms;           /* the whole run or request */
	int64_t cache_ttl_ms;         /* reuse a completed result this long; 0 = never */
};

/* How an output becomes one number (probes/fetch.h: fetch_extract).  Borrowed strings. */
struct probe_extract {
	const char *json_path;        /* "a.b[0].c"; NULL or "" = the whole document */
	const char *filter_field;     /* count only array elements whose field (a path) ... */
	const char *filter_match;     /* ... matches this POSIX ERE; NULL = count every element */
	int field;                    /* CSV: the 1-based column of every line, 0 = not CSV */
	int field_div;                /* CSV: > 0 gives 100 * column field / column field_div */
	bool exit_status;             /* COMMAND: the exit status is the value (0 go, 1 hold) */
};

/* One configured session source ([sessions.NAME] in the config).  Borrowed strings. */
struct probe_source {
	const char *name;
	enum probe_kind kind;
	enum probe_type type;
	const char *match;            /* PROBE_TYPE_PROCESS: POSIX ERE over the command line */
	struct probe_fetch fetch;     /* COMMAND, HTTP */
	struct probe_extract extract; /* COMMAND, HTTP */
	bool ignore_errors;           /* on_error = ignore: a failure counts nothing */
};

/* One custom limit ([limits.NAME]): a command or HTTP source that yields a number. */
struct probe_limit {
	const char *name;
	enum probe_type type;         /* COMMAND or HTTP */
	struct probe_fetch fetch;
	struct probe_extract extract;
	bool ignore_errors;           /* on_error = ignore: a failure leaves the value NAN */
};

/* What to read.  statefd is the state dir (saved CPU samples, fetch caches, disk reading). */
struct probe_request {
	int statefd;
	bool cpu, mem, load, disk, sessions, psi;
	int64_t cpu_sample_ms;        /* sampling window when no saved sample is usable */
	int64_t cpu_max_age_ms;       /* a saved sample older than this is stale */
	const struct probe_source *sources;
	size_t nsources;
	const struct probe_limit *limits; /* read whenever nlimits > 0 */
	size_t nlimits;
	const char *root;             /* where /proc and /sys are for PSI and cgroups; NULL = "/" */
	const char *http_helper;      /* the governor-http executable; NULL = fetch_find_helper() */
};

/*
 * Fill *out with the readings *req asks for (*out is reset with snapshot_init first).  Never
 * fails as a whole: a reading that cannot be taken stays absent, and when the policy could not
 * judge safely without it (cpu, memory, sessions, limits) out->failed names the probe and the
 * error, "cpu: ...", "memory: ...", "sessions: sessions.NAME: ..." or "limits: limits.NAME: ..."
 * (the first failure wins); a source or limit with ignore_errors fails silently.  Session
 * counts are summed per kind: 0 when sources of that kind count nothing, -1 when none is
 * configured or none could be read.  cpu, mem and load also read the cgroup (below) so that
 * cpu_percent, mem_available_percent and ncpu describe what this process may use.
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

/* MemTotal and MemAvailable in bytes. */
int probe_meminfo(double *total_bytes, double *available_bytes, char **cause);

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

/* --- pressure (PSI) ------------------------------------------------------------------------ */

/* The "some avg10" of one PSI file's text; 0, or -1 when the text has no valid "some" line. */
int probe_psi_parse(const char *text, double *some_avg10);

/*
 * PSI "some avg10" of ROOT/proc/pressure/{cpu,memory,io} (root NULL = "/"), each NAN when its
 * file is missing, unreadable (EOPNOTSUPP where PSI is off) or malformed; never 0 for unknown.
 */
void probe_psi(const char *root, double *cpu, double *memory, double *io);

/* --- cgroups ------------------------------------------------------------------------------- */

/* This process's cgroup limits and usage, v1 or v2.  NAN: not limited, or not readable. */
struct probe_cgroup {
	int version;                  /* 2, 1, or 0 when no cgroup hierarchy was found */
	double cpu_quota;             /* CPUs: min quota/period over the cgroup and its ancestors */
	double cpuset_cpus;           /* CPUs in the effective cpuset */
	double cpu_usage_ns;          /* the cgroup's cumulative CPU time */
	double mem_limit;             /* bytes: min limit over the chain; NAN = unlimited */
	double mem_usage;             /* bytes: memory.current / memory.usage_in_bytes */
	double mem_inactive_file;     /* bytes, from memory.stat */
	char usage_file[4096];        /* where cpu_usage_ns came from ("" = nowhere) */
};

/*
 * Read the cgroup of this process as seen under root (NULL = "/"): root/proc/self/cgroup and
 * root/proc/self/mountinfo locate each controller's directory (v1 when a v1 hierarchy carries
 * the controller, else v2), and the controller files are read under root.  Never fails: what
 * cannot be read stays NAN, and no hierarchy at all gives version 0.
 */
void probe_cgroup_read(const char *root, struct probe_cgroup *cg);

/* Re-read cg->usage_file: the cgroup's CPU time in ns now, or NAN. */
double probe_cgroup_usage(const struct probe_cgroup *cg);

/* Effective CPU capacity: the least of the known (positive, not NAN) counts; NAN if none. */
double probe_cpu_capacity(double online, double affinity, double cpuset, double quota);

/*
 * Memory headroom: min(avail, limit - (usage - inactive_file)), never below 0, and the
 * capacity it is a share of (the limit, or total when unlimited).  A limit that is NAN or at
 * least total means unlimited: the headroom is avail.  An unreadable usage counts as 0 and an
 * unreadable inactive_file as 0.  *working_set is NAN when there is no limit or no usage.
 */
void probe_mem_headroom(double total, double avail, const struct probe_cgroup *cg,
                        double *headroom, double *capacity, double *working_set);

/*
 * The cgroup's CPU busy percent of ceff CPUs.  When the caller sampled (sampled_ns > 0: the
 * usage was usage0 sampled_ns ago), over that window; otherwise against the sample saved in
 * statefd by an earlier call (same boot, PROBE_CPU_MIN_WINDOW_MS to max_age_ms old; a younger
 * one gives the percent saved with it).  Saves a new sample (best effort).  NAN when unknown.
 */
double probe_cgroup_cpu(int statefd, const struct probe_cgroup *cg, double ceff, double usage0,
                        int64_t sampled_ns, int64_t max_age_ms);

#endif
