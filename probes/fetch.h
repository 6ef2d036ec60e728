/*
 * fetch.h: command and HTTP sources: run them with a timeout, cache what they print, and turn
 * the output into a number.  Used by probe_snapshot() for [sessions.NAME] sources of type
 * command or http and for [limits.NAME]; the parts are public so tests can reach them.
 *
 * A command is an argv (never a shell) started with posix_spawnp in its own process group,
 * stdin /dev/null, stdout captured (at most FETCH_OUTPUT_MAX bytes) and the start of stderr
 * kept for messages.  An HTTP request is one run of the governor-http helper (libcurl lives
 * only there; docs/probes.md says why), which reads the request as JSON on stdin.  Past its
 * timeout a run's process group is killed.  See docs/probes.md for every rule.
 */
#ifndef PROBES_FETCH_H
#define PROBES_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"

#define FETCH_OUTPUT_MAX (1024 * 1024)
#define FETCH_HELPER_NAME "governor-http"

/*
 * Split a config value into words: blanks (space, tab) separate words; a double-quoted part
 * "..." is taken literally, blanks included, with \" and \\ as the only escapes inside; a
 * quote may sit inside a word (a"b c"d is one word, ab cd).  No other quoting, no variables, no
 * globbing: the words are the argv.  *argv is NULL-terminated and malloc'd (fetch_argv_free).
 * 0, or -1 with *cause for an unterminated quote or no words at all.
 */
int fetch_argv_split(const char *s, char ***argv, char **cause);
void fetch_argv_free(char **argv);

/*
 * Check a json_path: segments separated by '.', each a key (any characters but '.', '[' and
 * ']'), followed by any number of [N] indexes; "[0]" alone or "[0].a" start at an array.
 * NULL or "" is the whole document.  0, or -1 with *cause.
 */
int fetch_path_check(const char *path, char **cause);

/*
 * The number an output means under x (status is the command's exit status or the HTTP
 * status; the caller has already judged it, except in exit_status mode):
 *   x->exit_status: status itself, which must be 0 or 1;
 *   x->field > 0:   CSV: on every non-empty line, column field (trimmed) is a number, or with
 *                   field_div > 0, 100 * column field / column field_div; the value is the
 *                   largest over the lines (several GPUs: the busiest);
 *   otherwise:      with no json_path, a plain number (surrounding blanks allowed) is the
 *                   value; else the text is JSON and json_path leads to a number (the value)
 *                   or an array (its length, or with filter_match the number of its elements
 *                   whose filter_field (a path inside the element; none = the element itself)
 *                   is a string matching the ERE).
 * 0, or -1 with *cause saying what was wrong with the output.
 */
int fetch_extract(const char *text, size_t len, int status, const struct probe_extract *x,
                  double *value, char **cause);

/* One fetch to run.  Fill the inputs; fetch_all fills the outputs. */
struct fetch_job {
	enum probe_type type;         /* PROBE_TYPE_COMMAND or PROBE_TYPE_HTTP */
	const struct probe_fetch *fetch;
	int status;                   /* out: exit status (COMMAND) or HTTP status (HTTP) */
	char *out;                    /* out: stdout or response body, NUL-terminated */
	size_t len;
	char *error;                  /* out: non-NULL when the fetch failed: why */
	char diag[160];               /* out: COMMAND: the first line of its stderr, or "" */
	bool cached;                  /* out: served from the cache in the state dir */
	bool shared;                  /* out: the same fetch as an earlier job: its result */
};

/*
 * Run every job, concurrently, each within its own timeout; jobs with the same fetch run once.
 * A job whose cache_ttl_ms > 0 is first looked up in statefd (source.<key>.cache, written
 * atomically), and a successful run (the command exited 0; the server answered 2xx) is stored
 * there; any other result (another exit status or HTTP status, a timeout, a kill, too much
 * output, a command that could not start) is not, so it is tried again next time.  helper is
 * the governor-http path for HTTP jobs (NULL: fetch_find_helper()).  statefd < 0: no cache.
 * Never fails as a whole: see job->error.
 */
void fetch_all(int statefd, const char *helper, struct fetch_job *jobs, size_t n);

/*
 * A finished job's number: its error, a command that exited non-zero (unless x->exit_status),
 * or an HTTP status outside 200-299 is a failure; otherwise fetch_extract on the output.
 * 0, or -1 with *cause naming the command or URL and what went wrong.
 */
int fetch_value(const struct fetch_job *job, const struct probe_extract *x, double *value,
                char **cause);

/* Free a job's outputs. */
void fetch_job_release(struct fetch_job *job);

/*
 * The governor-http helper: beside this executable (readlink /proc/self/exe; the build tree),
 * else in ../libexec/governor/ from it (an installed tree, wherever it was moved), else in
 * GOVERNOR_LIBEXECDIR (the configured PREFIX/libexec/governor).  A malloc'd path, or NULL.
 */
char *fetch_find_helper(void);

/* The cache key of a fetch: FNV-1a 64 over its type and every field that changes its output. */
uint64_t fetch_key(enum probe_type type, const struct probe_fetch *f);

#endif
