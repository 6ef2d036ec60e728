/*
 * config.h: the effective configuration: defaults < file < environment.
 *
 * The file is INI (parsed by inih); see governor.conf(5).  Every known key has one row in a
 * table (config.c) with its type, default and the field it sets, so defaults, parsing,
 * environment overrides and `governor config` cannot drift apart.
 */
#ifndef GOVERNOR_CONFIG_H
#define GOVERNOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy/policy.h"
#include "probes/probe.h"

#define CONFIG_ORIGIN_MAX 320

/*
 * One [sessions.NAME] or [limits.NAME] section: a session source or a custom limit.  The
 * arrays handed to the probes and the policy (config.probe_sources, probe_limits,
 * policy_limits) point into these fields.
 */
struct config_source {
	struct probe_source probe;   /* [sessions.NAME]: strings point into the fields below */
	struct probe_limit limit;    /* [limits.NAME] */
	struct policy_limit policy;  /* [limits.NAME] */
	char *name, *match;
	char *command, *url, *method, *body, *token_env, *json_path, *filter_field, *filter_match;
	char *field;                 /* the text of 'field' ("2" or "2/3") */
	char **argv;                 /* command split into words, NULL-terminated */
	char **headers;              /* 'header' lines in order, NULL-terminated */
	size_t nheaders;
	int type_set;                /* 'type' was given */
	unsigned seen;               /* bit k: section key k (config.c) was given */
	int is_limit;
	int64_t timeout_ms, cache_ttl_ms;
	double max, min;             /* NAN when unset */
	char origin[CONFIG_ORIGIN_MAX]; /* "FILE:LINE" of the section header */
};

struct config {
	struct policy_config policy;     /* policy.models points into models */
	int64_t claim_ttl_ms, lease_ms, backoff_min_ms, backoff_max_ms;
	int max_retries;
	int archive_days;                /* finished tasks older than this are archived; 0 = never */
	struct policy_hours *hours;      /* policy.hours points here */
	int64_t lock_ttl_ms;
	int64_t cpu_sample_ms, cpu_max_age_ms;
	char *webhook;                   /* [alerts] webhook: an http(s) URL, or NULL (none) */
	int64_t starvation_alert_ms;     /* [alerts] starvation_alert; 0 = off */
	int source_failures;             /* [alerts] source_failures; 0 = off */
	char **models;
	size_t nmodels;
	char *backend;                   /* "file" or "postgres" */
	char *dsn;                       /* libpq connection string ("" with the file store) */
	char *host;                      /* this governor's host id in claims */
	struct config_source *sources;
	size_t nsources;
	struct probe_source *probe_sources; /* nsources entries, for probe_snapshot() */
	struct config_source *limits;    /* [limits.NAME] sections */
	size_t nlimits;
	struct probe_limit *probe_limits;   /* nlimits entries, for probe_snapshot() */
	struct policy_limit *policy_limits; /* nlimits entries; policy.limits points here */

	char *file;                      /* the file read, or NULL when none was found */
	char *file_origin;               /* why that file: "-c", "GOVERNOR_CONFIG", "search path" */
	char **values;                   /* per table key: the text of the effective value */
	char **origins;                  /* per table key: "default", "FILE:LINE", "env NAME" */
};

/*
 * Load the configuration.  path is the -c argument or NULL (then $GOVERNOR_CONFIG, then
 * $XDG_CONFIG_HOME/governor/governor.conf, then /etc/governor/governor.conf; none is fine).
 * 0, or -1 with *cause (caller frees) naming the file and line of the first error.
 */
int config_load(const char *path, struct config **out, char **cause);
void config_free(struct config *cfg);

/* Durations: "90" (seconds), "250ms", "90s", "15m", "2h", "7d".  0, or -1 when invalid. */
int config_parse_duration(const char *s, int64_t *ms);
/* The shortest exact text of a duration ("5m", "250ms"). */
void config_format_duration(int64_t ms, char *buf, size_t size);

/*
 * Print the effective configuration as INI with origins as comments.  Secrets never appear:
 * a bearer token is configured as the name of an environment variable (token_env), which is
 * all that is printed; governor itself never reads the variable (the HTTP helper does).
 */
void config_print(const struct config *cfg, const char *state_dir, FILE *out);

/* The allowlist as "a, b" (static buffer) for messages. */
const char *config_models_text(const struct config *cfg);

#endif
