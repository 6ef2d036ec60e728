/* config.c: the key table, the INI reader (inih), environment overrides and validation. */
#include "governor/config.h"
#include "governor/alerts.h"
#include "probes/fetch.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

extern char **environ;

enum key_type { T_COUNT, T_PERCENT, T_NUMBER, T_DURATION, T_MODELS, T_BACKEND, T_HOURS, T_DSN,
                T_HOST, T_URL };

struct key {
	const char *section, *name;
	enum key_type type;
	size_t off;
	const char *dflt;
};

#define F(field) offsetof(struct config, field)
static const struct key keys[] = {
	{ "policy", "max_concurrent", T_COUNT, F(policy.max_concurrent), "1" },
	{ "policy", "max_cpu_percent", T_PERCENT, F(policy.max_cpu_percent), "80" },
	{ "policy", "min_mem_available_percent", T_PERCENT, F(policy.min_mem_available_percent), "15" },
	{ "policy", "max_load_per_cpu", T_NUMBER, F(policy.max_load_per_cpu), "0" },
	{ "policy", "min_disk_free_percent", T_PERCENT, F(policy.min_disk_free_percent), "5" },
	{ "policy", "max_interactive_sessions", T_COUNT, F(policy.max_interactive_sessions), "0" },
	{ "policy", "claim_ttl", T_DURATION, F(claim_ttl_ms), "5m" },
	{ "policy", "lease", T_DURATION, F(lease_ms), "30m" },
	{ "policy", "max_retries", T_COUNT, F(max_retries), "3" },
	{ "policy", "backoff_min", T_DURATION, F(backoff_min_ms), "30s" },
	{ "policy", "backoff_max", T_DURATION, F(backoff_max_ms), "1h" },
	{ "policy", "aging", T_DURATION, F(policy.aging_ms), "0" },
	{ "policy", "archive_days", T_COUNT, F(archive_days), "7" },
	{ "policy", "max_dispatch_per_hour", T_COUNT, F(policy.max_dispatch_per_hour), "0" },
	{ "policy", "max_dispatch_per_day", T_COUNT, F(policy.max_dispatch_per_day), "0" },
	{ "policy", "active_hours", T_HOURS, 0, "" },
	{ "policy", "max_cpu_pressure", T_PERCENT, F(policy.max_cpu_pressure), "0" },
	{ "policy", "max_memory_pressure", T_PERCENT, F(policy.max_memory_pressure), "0" },
	{ "policy", "max_io_pressure", T_PERCENT, F(policy.max_io_pressure), "0" },
	{ "policy", "resume_margin", T_PERCENT, F(policy.resume_margin), "5" },
	{ "policy", "fleet_max_concurrent", T_COUNT, F(policy.fleet_max_concurrent), "0" },
	{ "models", "allowed", T_MODELS, 0, "google-gemini-flash, claude-haiku-3-5" },
	{ "lock", "ttl", T_DURATION, F(lock_ttl_ms), "60s" },
	{ "alerts", "webhook", T_URL, F(webhook), "" },
	{ "alerts", "starvation_alert", T_DURATION, F(starvation_alert_ms), "6h" },
	{ "alerts", "source_failures", T_COUNT, F(source_failures), "3" },
	{ "probe.cpu", "sample", T_DURATION, F(cpu_sample_ms), "250ms" },
	{ "probe.cpu", "max_age", T_DURATION, F(cpu_max_age_ms), "2m" },
	{ "store", "backend", T_BACKEND, F(backend), "file" },
	{ "store", "dsn", T_DSN, F(dsn), "" },
	{ "store", "host", T_HOST, F(host), "" },
};
#define NKEYS (sizeof keys / sizeof keys[0])
#define SOURCES_PREFIX "sessions."
#define LIMITS_PREFIX "limits."
#define SOURCE_TIMEOUT_DEFAULT_MS 2000

/* --- durations --------------------------------------------------------------------------- */

static const struct { const char *suffix; int64_t ms; } units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }, { "", 1000 },
};

int config_parse_duration(const char *s, int64_t *ms)
{
	const char *p = s;
	int64_t v = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(p, units[i].suffix) == 0) {
			if (v > INT64_MAX / units[i].ms / 1000)   /* keep room for arithmetic on times */
				return -1;
			*ms = v * units[i].ms;
			return 0;
		}
	return -1;
}

void config_format_duration(int64_t ms, char *buf, size_t size)
{
	static const struct { const char *suffix; int64_t ms; } out[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
		if (ms > 0 && ms % out[i].ms == 0) {
			snprintf(buf, size, "%lld%s", (long long)(ms / out[i].ms), out[i].suffix);
			return;
		}
	snprintf(buf, size, ms == 0 ? "0" : "%lldms", (long long)ms);
}

/* --- values ------------------------------------------------------------------------------ */

static char *trimmed_copy(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	char *c = malloc(n + 1);
	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

static void free_models(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nmodels; i++)
		free(cfg->models[i]);
	free(cfg->models);
	cfg->models = NULL;
	cfg->nmodels = 0;
}

static int set_models(struct config *cfg, const char *value, const char **why)
{
	char **models = NULL;
	size_t n = 0;
	const char *p = value;

	while (*p && isspace((unsigned char)*p))
		p++;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *name = trimmed_copy(p, len);
		char **grown = name ? realloc(models, (n + 1) * sizeof *models) : NULL;
		if (!grown) {
			free(name);
			*why = "out of memory";
			goto fail;
		}
		models = grown;
		models[n++] = name;
		if (!*name) {
			*why = "empty model name in the list";
			goto fail;
		}
		for (const char *c = name; *c; c++)
			if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c)) {
				*why = "model names cannot contain white space";
				goto fail;
			}
		p = comma ? comma + 1 : p + len;
	}
	free_models(cfg);
	cfg->models = models;
	cfg->nmodels = n;
	cfg->policy.models = (const char *const *)models;
	cfg->policy.nmodels = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(models[i]);
	free(models);
	return -1;
}

/* "HH:MM" into minutes after midnight; "24:00" is allowed as an end. */
static int parse_clock(const char *s, size_t n, int *minutes)
{
	int h, m;
	if (n != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	*minutes = h * 60 + m;
	return 0;
}

/* "01:00-07:00, 22:30-23:00": local-time ranges; empty means always. */
static int set_hours(struct config *cfg, const char *value, const char **why)
{
	struct policy_hours *hours = NULL;
	size_t n = 0;
	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, ",");
		struct policy_hours h;
		char *range = trimmed_copy(p, len);
		const char *d = range ? strchr(range, '-') : NULL;
		if (!range || !d ||
		    parse_clock(range, (size_t)(d - range), &h.start) < 0 ||
		    parse_clock(d + 1, strlen(d + 1), &h.end) < 0 || h.start == h.end || h.start == 1440) {
			free(range);
			free(hours);
			*why = "expected ranges such as 01:00-07:00, 13:00-14:00 (HH:MM-HH:MM, local time)";
			return -1;
		}
		free(range);
		if (h.end == 1440)
			h.end = 0;      /* "until midnight" wraps to 00:00 */
		struct policy_hours *grown = realloc(hours, (n + 1) * sizeof *grown);
		if (!grown) {
			free(hours);
			*why = "out of memory";
			return -1;
		}
		hours = grown;
		hours[n++] = h;
		p += len;
	}
	free(cfg->hours);
	cfg->hours = hours;
	cfg->policy.hours = hours;
	cfg->policy.nhours = n;
	return 0;
}

/* Parse value for key k into cfg.  0, or -1 with a static reason in *why. */
/*
 * Whether a libpq connection string names a password: a password= keyword (key=value form or
 * URI query) or user:password@ in a URI.  A password belongs in ~/.pgpass or PGPASSWORD, which
 * libpq reads itself, so that `governor config` and every message can show the dsn.
 */
static int dsn_has_password(const char *dsn)
{
	for (const char *p = dsn; *p; p++)
		if (strncasecmp(p, "password", 8) == 0)
			return 1;
	const char *scheme = strstr(dsn, "://");
	if (!scheme || (strncmp(dsn, "postgresql://", 13) != 0 && strncmp(dsn, "postgres://", 11) != 0))
		return 0;
	const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?");
	const char *at = memchr(auth, '@', (size_t)(end - auth));
	return at && memchr(auth, ':', (size_t)(at - auth)) != NULL;
}

static int set_value(struct config *cfg, const struct key *k, const char *value, const char **why)
{
	char *end;
	void *field = (char *)cfg + k->off;

	switch (k->type) {
	case T_COUNT: {
		errno = 0;
		long v = strtol(value, &end, 10);
		if (end == value || *end || errno || v < 0 || v > 1000000) {
			*why = "expected a whole number from 0 to 1000000";
			return -1;
		}
		*(int *)field = (int)v;
		return 0;
	}
	case T_PERCENT:
	case T_NUMBER: {
		errno = 0;
		double v = strtod(value, &end);
		if (end == value || *end || errno || !isfinite(v) || v < 0 ||
		    (k->type == T_PERCENT && v > 100)) {
			*why = k->type == T_PERCENT ? "expected a percentage from 0 to 100"
			                            : "expected a non-negative number";
			return -1;
		}
		*(double *)field = v;
		return 0;
	}
	case T_DURATION:
		if (config_parse_duration(value, (int64_t *)field) < 0) {
			*why = "expected a duration such as 90, 250ms, 90s, 15m, 2h or 7d";
			return -1;
		}
		return 0;
	case T_MODELS:
		return set_models(cfg, value, why);
	case T_HOURS:
		return set_hours(cfg, value, why);
	case T_URL:
		if ((*why = alerts_url_problem(value)))
			return -1;
		free(*(char **)field);
		*(char **)field = NULL;
		if (*value && !(*(char **)field = strdup(value))) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	case T_BACKEND:
	case T_DSN:
	case T_HOST:
		if (k->type == T_BACKEND && strcmp(value, "file") != 0 && strcmp(value, "postgres") != 0) {
			*why = "expected 'file' or 'postgres'";
			return -1;
		}
		if (k->type == T_DSN && dsn_has_password(value)) {
			*why = "a dsn may not carry a password: put it in ~/.pgpass or PGPASSWORD";
			return -1;
		}
		if (k->type == T_HOST && strlen(value) > 64) {
			*why = "a host id is at most 64 bytes";
			return -1;
		}
		free(*(char **)field);
		if (!(*(char **)field = strdup(value))) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	}
	*why = "unknown type";
	return -1;
}

static int record(struct config *cfg, size_t i, const char *value, const char *origin)
{
	/* A webhook URL's path is its secret: `governor config` shows scheme and host only. */
	char *v = keys[i].type == T_URL ? alerts_url_redact(value) : strdup(value), *o = strdup(origin);
	if (!v || !o) {
		free(v);
		free(o);
		return -1;
	}
	free(cfg->values[i]);
	free(cfg->origins[i]);
	cfg->values[i] = v;
	cfg->origins[i] = o;
	return 0;
}

static const struct key *find_key(const char *section, const char *name, size_t *index)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
			*index = i;
			return &keys[i];
		}
	return NULL;
}

static int known_section(const char *section)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0)
			return 1;
	return 0;
}

/* --- the file ------------------------------------------------------------------------------ */

struct parse {
	struct config *cfg;
	const char *file;
	int line;            /* the reader's line number */
	int section_line;    /* line of the latest [section] header, or 0 */
	int key_seen;        /* a key since that header (inih then reads an indented '[' as a value) */
	int long_line;       /* first line that was too long, or 0 */
	char *error;         /* first error, "FILE:LINE: ..." */
	int error_line;      /* its line */
	FILE *fp;
};

static void parse_error(struct parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void parse_error(struct parse *p, int line, const char *fmt, ...)
{
	char msg[512], full[PATH_MAX + 600];
	va_list ap;
	if (p->error)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(full, sizeof full, "%s:%d: %s", p->file, line, msg);
	p->error = strdup(full);
	p->error_line = line;
}

/* fgets for inih that counts lines and notices lines longer than the buffer. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	if (!fgets(str, num, p->fp))
		return NULL;
	p->line++;
	/* inih reports a section only with its first key; errors about it name its header. */
	const char *lead = str;
	while (*lead == ' ' || *lead == '\t')
		lead++;
	if (*lead == '[' && (lead == str || !p->key_seen)) {
		p->section_line = p->line;
		p->key_seen = 0;
	}
	size_t len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' && !feof(p->fp)) {
		int c;
		if (!p->long_line)
			p->long_line = p->line;
		while ((c = fgetc(p->fp)) != EOF && c != '\n')
			;
	}
	return str;
}

/* --- [sessions.NAME] and [limits.NAME] ------------------------------------------------------ */

/*
 * The keys of a source or limit section, and where each applies: S = [sessions.NAME],
 * L = [limits.NAME]; P = type process, C = command, H = http.  Validation after the file is
 * read (check_section) uses the masks, so the order of keys in a section does not matter.
 */
enum { IN_S = 1, IN_L = 2, FOR_P = 4, FOR_C = 8, FOR_H = 16 };
#define FOR_CH (FOR_C | FOR_H)
static const struct { const char *name; unsigned mask; } section_keys[] = {
	{ "kind", IN_S | FOR_P | FOR_CH },
	{ "type", IN_S | IN_L | FOR_P | FOR_CH },
	{ "match", IN_S | FOR_P },
	{ "command", IN_S | IN_L | FOR_C },
	{ "url", IN_S | IN_L | FOR_H },
	{ "method", IN_S | IN_L | FOR_H },
	{ "body", IN_S | IN_L | FOR_H },
	{ "header", IN_S | IN_L | FOR_H },
	{ "token_env", IN_S | IN_L | FOR_H },
	{ "json_path", IN_S | IN_L | FOR_CH },
	{ "filter_field", IN_S | IN_L | FOR_CH },
	{ "filter_match", IN_S | IN_L | FOR_CH },
	{ "field", IN_S | IN_L | FOR_CH },
	{ "timeout", IN_S | IN_L | FOR_CH },
	{ "cache_ttl", IN_S | IN_L | FOR_CH },
	{ "on_error", IN_S | IN_L | FOR_CH },
	{ "max", IN_L | FOR_CH },
	{ "min", IN_L | FOR_CH },
	{ "mode", IN_L | FOR_C },
};
#define NSECTION_KEYS (sizeof section_keys / sizeof section_keys[0])

static const char *type_name(enum probe_type t)
{
	return t == PROBE_TYPE_COMMAND ? "command" : t == PROBE_TYPE_HTTP ? "http" : "process";
}

static struct config_source *section_for(struct parse *p, const char *section, int limit)
{
	struct config *cfg = p->cfg;
	struct config_source **list = limit ? &cfg->limits : &cfg->sources;
	size_t *n = limit ? &cfg->nlimits : &cfg->nsources;
	const char *name = section + strlen(limit ? LIMITS_PREFIX : SOURCES_PREFIX);
	const char *what = limit ? "limit" : "source";

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			return &(*list)[i];
	if (!*name) {
		parse_error(p, p->section_line, "section [%s] needs a name, such as [%s]", section,
		            limit ? "limits.gpu" : "sessions.agents");
		return NULL;
	}
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
			parse_error(p, p->section_line, "bad %s name '%s' (letters, digits, '_' and '-')",
			            what, name);
			return NULL;
		}
	if (strlen(name) >= SNAPSHOT_NAME_MAX) {
		parse_error(p, p->section_line, "%s name '%s' is longer than %d characters", what, name,
		            SNAPSHOT_NAME_MAX - 1);
		return NULL;
	}
	if (*n >= SNAPSHOT_VALUES_MAX) {
		parse_error(p, p->section_line, "more than %d [%s...] sections", SNAPSHOT_VALUES_MAX,
		            limit ? LIMITS_PREFIX : SOURCES_PREFIX);
		return NULL;
	}
	struct config_source *grown = realloc(*list, (*n + 1) * sizeof *grown);
	if (!grown) {
		parse_error(p, p->line, "out of memory");
		return NULL;
	}
	*list = grown;
	struct config_source *s = &grown[*n];
	*s = (struct config_source){
		.probe = { .kind = PROBE_KIND_BACKGROUND, .type = PROBE_TYPE_PROCESS },
		.is_limit = limit, .timeout_ms = SOURCE_TIMEOUT_DEFAULT_MS, .max = NAN, .min = NAN,
	};
	if (!(s->name = strdup(name))) {
		parse_error(p, p->line, "out of memory");
		return NULL;
	}
	snprintf(s->origin, sizeof s->origin, "%s:%d", p->file, p->section_line);
	(*n)++;
	return s;
}

/* Replace *field by a copy of value; 0, or -1 after reporting. */
static int set_string(struct parse *p, char **field, const char *value)
{
	char *c = strdup(value);
	if (!c) {
		parse_error(p, p->line, "out of memory");
		return -1;
	}
	free(*field);
	*field = c;
	return 0;
}

static int check_regex(struct parse *p, const char *key, const char *value)
{
	regex_t re;
	int rc = regcomp(&re, value, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char err[160];
		regerror(rc, &re, err, sizeof err);
		parse_error(p, p->line, "bad %s pattern '%s': %s", key, value, err);
		return -1;
	}
	regfree(&re);
	return 0;
}

/* "N" or "N/M": 1-based CSV columns. */
static int parse_field(const char *value, int *field, int *div)
{
	char *end;
	long a = strtol(value, &end, 10), b = 0;
	if (end == value || a < 1 || a > 1000)
		return -1;
	while (*end == ' ')
		end++;
	if (*end == '/') {
		const char *q = end + 1;
		while (*q == ' ')
			q++;
		b = strtol(q, &end, 10);
		if (end == q || b < 1 || b > 1000)
			return -1;
	}
	if (*end)
		return -1;
	*field = (int)a;
	*div = (int)b;
	return 0;
}

static int source_key(struct parse *p, const char *section, const char *name, const char *value,
                      int limit)
{
	struct config_source *s = section_for(p, section, limit);
	size_t k;
	if (!s)
		return 0;
	for (k = 0; k < NSECTION_KEYS; k++)
		if (strcmp(section_keys[k].name, name) == 0)
			break;
	if (k == NSECTION_KEYS || !(section_keys[k].mask & (limit ? IN_L : IN_S))) {
		char known[400] = "";
		for (size_t i = 0; i < NSECTION_KEYS; i++)
			if (section_keys[i].mask & (limit ? IN_L : IN_S))
				snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
				         known[0] ? ", " : "", section_keys[i].name);
		parse_error(p, p->line, "unknown key '%s' in [%s] (known: %s)", name, section, known);
		return 0;
	}
	s->seen |= 1u << k;
	if (strcmp(name, "kind") == 0) {
		if (strcmp(value, "background") == 0)
			s->probe.kind = PROBE_KIND_BACKGROUND;
		else if (strcmp(value, "interactive") == 0)
			s->probe.kind = PROBE_KIND_INTERACTIVE;
		else
			parse_error(p, p->line, "bad value '%s' for kind: expected background or interactive", value);
	} else if (strcmp(name, "type") == 0) {
		if (strcmp(value, "process") == 0 && !limit)
			s->probe.type = PROBE_TYPE_PROCESS;
		else if (strcmp(value, "command") == 0)
			s->probe.type = PROBE_TYPE_COMMAND;
		else if (strcmp(value, "http") == 0)
			s->probe.type = PROBE_TYPE_HTTP;
		else
			parse_error(p, p->line, "bad value '%s' for type: expected %scommand or http", value,
			            limit ? "" : "process, ");
		s->type_set = 1;
	} else if (strcmp(name, "match") == 0) {
		if (check_regex(p, "match", value) == 0)
			set_string(p, &s->match, value);
	} else if (strcmp(name, "command") == 0) {
		char **argv = NULL, *why = NULL;
		if (fetch_argv_split(value, &argv, &why) < 0) {
			parse_error(p, p->line, "bad command: %s", why ? why : "out of memory");
			free(why);
			return 0;
		}
		fetch_argv_free(s->argv);
		s->argv = argv;
		set_string(p, &s->command, value);
	} else if (strcmp(name, "url") == 0) {
		const char *host = strstr(value, "://");
		size_t authority = host ? strcspn(host + 3, "/?#") : 0;
		if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
			parse_error(p, p->line, "bad url '%s': expected http://... or https://...", value);
		else if (memchr(host + 3, '@', authority))
			/* Never echo it: the part before '@' is a password. */
			parse_error(p, p->line, "a url may not carry credentials (user:password@); "
			            "put the secret in an environment variable and name it with token_env");
		else
			set_string(p, &s->url, value);
	} else if (strcmp(name, "method") == 0) {
		if (strcmp(value, "GET") != 0 && strcmp(value, "POST") != 0)
			parse_error(p, p->line, "bad value '%s' for method: expected GET or POST", value);
		else
			set_string(p, &s->method, value);
	} else if (strcmp(name, "body") == 0) {
		set_string(p, &s->body, value);
	} else if (strcmp(name, "header") == 0) {
		const char *colon = strchr(value, ':');
		char **grown;
		if (!colon || colon == value || strcspn(value, " \t") < (size_t)(colon - value)) {
			parse_error(p, p->line, "bad header '%s': expected 'Name: value'", value);
			return 0;
		}
		if (strncasecmp(value, "authorization:", 14) == 0) {
			parse_error(p, p->line, "put the bearer token in an environment variable and name it "
			            "with token_env, not in a header");
			return 0;
		}
		if (!(grown = realloc(s->headers, (s->nheaders + 2) * sizeof *grown)) ||
		    !(grown[s->nheaders] = strdup(value))) {
			if (grown)
				s->headers = grown;
			parse_error(p, p->line, "out of memory");
			return 0;
		}
		s->headers = grown;
		s->headers[++s->nheaders] = NULL;
	} else if (strcmp(name, "token_env") == 0) {
		for (const char *c = value; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '_') {
				parse_error(p, p->line, "bad token_env '%s': the name of an environment variable",
				            value);
				return 0;
			}
		if (!*value || isdigit((unsigned char)*value))
			parse_error(p, p->line, "bad token_env '%s': the name of an environment variable", value);
		else
			set_string(p, &s->token_env, value);
	} else if (strcmp(name, "json_path") == 0) {
		char *why = NULL;
		if (fetch_path_check(value, &why) < 0) {
			parse_error(p, p->line, "%s", why ? why : "out of memory");
			free(why);
			return 0;
		}
		set_string(p, &s->json_path, value);
	} else if (strcmp(name, "filter_field") == 0) {
		char *why = NULL;
		if (fetch_path_check(value, &why) < 0) {
			parse_error(p, p->line, "bad filter_field: %s", why ? why : "out of memory");
			free(why);
			return 0;
		}
		set_string(p, &s->filter_field, value);
	} else if (strcmp(name, "filter_match") == 0) {
		if (check_regex(p, "filter_match", value) == 0)
			set_string(p, &s->filter_match, value);
	} else if (strcmp(name, "field") == 0) {
		int f, d;
		if (parse_field(value, &f, &d) < 0)
			parse_error(p, p->line, "bad value '%s' for field: expected a column number such as "
			            "1, or 2/3 for 100 * column 2 / column 3", value);
		else if (set_string(p, &s->field, value) == 0) {
			s->probe.extract.field = f;
			s->probe.extract.field_div = d;
		}
	} else if (strcmp(name, "timeout") == 0 || strcmp(name, "cache_ttl") == 0) {
		int64_t ms;
		int timeout = name[0] == 't';
		if (config_parse_duration(value, &ms) < 0 || (timeout && (ms < 10 || ms > 60000)))
			parse_error(p, p->line, "bad value '%s' for %s: expected a duration%s", value, name,
			            timeout ? " from 10ms to 60s" : " such as 0, 30s or 5m");
		else if (timeout)
			s->timeout_ms = ms;
		else
			s->cache_ttl_ms = ms;
	} else if (strcmp(name, "on_error") == 0) {
		if (strcmp(value, "defer") == 0 || strcmp(value, "ignore") == 0)
			s->probe.ignore_errors = value[0] == 'i';
		else
			parse_error(p, p->line, "bad value '%s' for on_error: expected defer or ignore", value);
	} else if (strcmp(name, "max") == 0 || strcmp(name, "min") == 0) {
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (end == value || *end || errno || !isfinite(v))
			parse_error(p, p->line, "bad value '%s' for %s: expected a number", value, name);
		else if (name[1] == 'a')
			s->max = v;
		else
			s->min = v;
	} else if (strcmp(name, "mode") == 0) {
		if (strcmp(value, "value") == 0 || strcmp(value, "exit_status") == 0)
			s->probe.extract.exit_status = value[0] == 'e';
		else
			parse_error(p, p->line, "bad value '%s' for mode: expected value or exit_status", value);
	}
	return p->error ? 0 : 1;
}

/* A section as a whole, once the file is read: a static message, or NULL when it is fine. */
static const char *check_section(struct config_source *s, char *buf, size_t size)
{
	enum probe_type t;
	if (!s->type_set)
		s->probe.type = s->command ? PROBE_TYPE_COMMAND : s->url ? PROBE_TYPE_HTTP
		                                               : PROBE_TYPE_PROCESS;
	t = s->probe.type;
	if (s->is_limit && t == PROBE_TYPE_PROCESS)
		return "needs 'type = command' (with 'command') or 'type = http' (with 'url')";
	unsigned want = t == PROBE_TYPE_COMMAND ? FOR_C : t == PROBE_TYPE_HTTP ? FOR_H : FOR_P;
	for (size_t k = 0; k < NSECTION_KEYS; k++)
		if (!(section_keys[k].mask & want) && (s->seen & (1u << k))) {
			snprintf(buf, size, "key '%s' does not apply to type %s", section_keys[k].name,
			         type_name(t));
			return buf;
		}
	if (t == PROBE_TYPE_PROCESS && !s->match)
		return "needs a 'match' pattern";
	if (t == PROBE_TYPE_COMMAND && !s->argv)
		return "needs a 'command'";
	if (t == PROBE_TYPE_HTTP && !s->url)
		return "needs a 'url'";
	if (s->body && s->method && strcmp(s->method, "GET") == 0)
		return "a 'body' needs method POST";
	if (s->filter_field && !s->filter_match)
		return "'filter_field' needs a 'filter_match' pattern";
	if (s->field && (s->json_path || s->filter_match))
		return "'field' (CSV) and 'json_path' or 'filter_match' (JSON) exclude each other";
	if (s->probe.extract.exit_status && (s->field || s->json_path || s->filter_match ||
	                                     !isnan(s->max) || !isnan(s->min)))
		return "'mode = exit_status' takes no json_path, filter, field, max or min: "
		       "exit status 0 is go, 1 is hold";
	if (s->is_limit && !s->probe.extract.exit_status && isnan(s->max) && isnan(s->min))
		return "needs 'max' and/or 'min' (or 'mode = exit_status')";
	if (!isnan(s->max) && !isnan(s->min) && s->min > s->max)
		return "'min' is larger than 'max'";
	return NULL;
}

/* Point the probe and policy views of s at its fields. */
static void finish_section(struct config_source *s)
{
	struct probe_fetch f = {
		.argv = s->argv, .url = s->url, .body = s->body,
		.method = s->method ? s->method : s->body ? "POST" : "GET",
		.headers = (const char *const *)s->headers, .token_env = s->token_env,
		.timeout_ms = s->timeout_ms, .cache_ttl_ms = s->cache_ttl_ms,
	};
	s->probe.name = s->name;
	s->probe.match = s->match;
	s->probe.fetch = f;
	s->probe.extract.json_path = s->json_path;
	s->probe.extract.filter_field = s->filter_field;
	s->probe.extract.filter_match = s->filter_match;
	s->limit = (struct probe_limit){
		.name = s->name, .type = s->probe.type, .fetch = f, .extract = s->probe.extract,
		.ignore_errors = s->probe.ignore_errors,
	};
	s->policy = (struct policy_limit){
		.name = s->name, .max = s->max, .min = s->min,
		.exit_status = s->probe.extract.exit_status,
	};
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char origin[CONFIG_ORIGIN_MAX];
	const char *why;
	size_t i;

	p->key_seen = 1;
	if (p->error)
		return 0;
	if (!*section) {
		parse_error(p, p->line, "key '%s' is outside any section", name);
		return 0;
	}
	if (strncmp(section, SOURCES_PREFIX, strlen(SOURCES_PREFIX)) == 0)
		return source_key(p, section, name, value, 0);
	if (strncmp(section, LIMITS_PREFIX, strlen(LIMITS_PREFIX)) == 0)
		return source_key(p, section, name, value, 1);
	const struct key *k = find_key(section, name, &i);
	if (!k) {
		if (known_section(section))
			parse_error(p, p->line, "unknown key '%s' in [%s]", name, section);
		else
			parse_error(p, p->section_line, "unknown section [%s]", section);
		return 0;
	}
	if (set_value(p->cfg, k, value, &why) < 0) {
		parse_error(p, p->line, "bad value '%s' for %s.%s: %s",
		            k->type == T_URL ? "(url not shown)" : k->type == T_DSN ? "(dsn not shown)" : value,
		            section, name, why);
		return 0;
	}
	snprintf(origin, sizeof origin, "%s:%d", p->file, p->line);
	if (record(p->cfg, i, value, origin) < 0) {
		parse_error(p, p->line, "out of memory");
		return 0;
	}
	return 1;
}

static int read_file(struct config *cfg, const char *file, char **cause)
{
	struct parse p = { .cfg = cfg, .file = file };
	struct stat st;
	char buf[PATH_MAX + 200];

	p.fp = fopen(file, "re");
	if (!p.fp) {
		snprintf(buf, sizeof buf, "cannot open config '%s': %s", file, strerror(errno));
		*cause = strdup(buf);
		return -1;
	}
	if (fstat(fileno(p.fp), &st) == 0 &&
	    ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022))) {
		snprintf(buf, sizeof buf,
		         "config '%s' is %s; fix with: chmod go-w '%s' (and own it yourself or as root)",
		         file, (st.st_mode & 022) ? "writable by group or others" : "owned by another user",
		         file);
		*cause = strdup(buf);
		fclose(p.fp);
		return -1;
	}
	int rc = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.fp);
	/*
	 * The first error by line wins.  inih's rc is its first failing line: a syntax error, or
	 * a line our handler refused (p.error, which may name an earlier section header line).
	 * A line too long to read is reported as such, not as whatever its cut-off part did.
	 */
	int first = p.error ? p.error_line : 0;
	if (rc > 0 && (!first || rc < first)) {
		free(p.error);
		p.error = NULL;
		parse_error(&p, rc, "syntax error: expected '[section]' or 'key = value'");
		first = rc;
	}
	if (p.long_line && (!first || p.long_line <= first)) {
		free(p.error);
		p.error = NULL;
		parse_error(&p, p.long_line, "line is longer than %d bytes", INI_MAX_LINE - 2);
	}
	for (size_t i = 0; !p.error && i < cfg->nsources + cfg->nlimits; i++) {
		struct config_source *s = i < cfg->nsources ? &cfg->sources[i]
		                                            : &cfg->limits[i - cfg->nsources];
		char why[160];
		const char *msg = check_section(s, why, sizeof why);
		if (msg) {
			snprintf(buf, sizeof buf, "%s: [%s%s] %s", s->origin,
			         s->is_limit ? LIMITS_PREFIX : SOURCES_PREFIX, s->name, msg);
			p.error = strdup(buf);
		}
	}
	if (p.error) {
		*cause = p.error;
		return -1;
	}
	return 0;
}

/* --- environment -------------------------------------------------------------------------- */

static void env_name(const struct key *k, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "GOVERNOR_%s_%s", k->section, k->name);
	for (size_t i = 0; i < n && i < size; i++)
		buf[i] = buf[i] == '.' ? '_' : (char)toupper((unsigned char)buf[i]);
}

static int read_environment(struct config *cfg, char **cause)
{
	static const char *const prefixes[] = {
		"GOVERNOR_POLICY_", "GOVERNOR_MODELS_", "GOVERNOR_LOCK_", "GOVERNOR_PROBE_", "GOVERNOR_STORE_",
		"GOVERNOR_ALERTS_",
	};
	char name[128], buf[512];
	const char *why;

	for (size_t i = 0; i < NKEYS; i++) {
		env_name(&keys[i], name, sizeof name);
		const char *value = getenv(name);
		if (!value)
			continue;
		char *v = trimmed_copy(value, strlen(value));
		int rc = v ? set_value(cfg, &keys[i], v, &why) : -1;
		if (!v)
			why = "out of memory";
		if (rc < 0) {
			snprintf(buf, sizeof buf, "environment %s: bad value '%s': %s", name,
			         keys[i].type == T_URL ? "(url not shown)"
			         : keys[i].type == T_DSN ? "(dsn not shown)" : value, why);
			free(v);
			*cause = strdup(buf);
			return -1;
		}
		snprintf(buf, sizeof buf, "env %s", name);
		rc = record(cfg, i, v, buf);
		free(v);
		if (rc < 0) {
			*cause = strdup("out of memory");
			return -1;
		}
	}
	/* A misspelt override must not be ignored in silence. */
	for (char **e = environ; *e; e++) {
		for (size_t j = 0; j < sizeof prefixes / sizeof prefixes[0]; j++) {
			if (strncmp(*e, prefixes[j], strlen(prefixes[j])) != 0)
				continue;
			size_t len = strcspn(*e, "=");
			int known = 0;
			for (size_t i = 0; i < NKEYS && !known; i++) {
				env_name(&keys[i], name, sizeof name);
				known = strlen(name) == len && strncmp(name, *e, len) == 0;
			}
			if (!known) {
				snprintf(buf, sizeof buf, "environment %.*s: unknown setting", (int)len, *e);
				*cause = strdup(buf);
				return -1;
			}
		}
	}
	return 0;
}

/* --- loading ------------------------------------------------------------------------------ */

static int check_ranges(const struct config *cfg, char **cause)
{
	char buf[256];
	const char *msg = NULL;
	if (cfg->claim_ttl_ms < 1000)
		msg = "policy.claim_ttl must be at least 1s";
	else if (cfg->lease_ms < 1000)
		msg = "policy.lease must be at least 1s";
	else if (cfg->lock_ttl_ms < 1000)
		msg = "lock.ttl must be at least 1s";
	else if (cfg->max_retries < 1)
		msg = "policy.max_retries must be at least 1";
	else if (cfg->backoff_min_ms > cfg->backoff_max_ms)
		msg = "policy.backoff_min is larger than policy.backoff_max";
	else if (cfg->cpu_sample_ms < 10 || cfg->cpu_sample_ms > 5000)
		msg = "probe.cpu.sample must be from 10ms to 5s";
	else if (cfg->cpu_sample_ms >= cfg->lock_ttl_ms)
		msg = "probe.cpu.sample must be shorter than lock.ttl";
	else if (strcmp(cfg->backend, "postgres") == 0 && !cfg->dsn[0])
		msg = "store.backend = postgres needs store.dsn (a libpq connection string)";
	for (size_t i = 0; !msg && i < cfg->nsources + cfg->nlimits; i++) {
		const struct config_source *s = i < cfg->nsources ? &cfg->sources[i]
		                                                  : &cfg->limits[i - cfg->nsources];
		if (s->probe.type != PROBE_TYPE_PROCESS && s->timeout_ms >= cfg->lock_ttl_ms)
			msg = "a source or limit timeout must be shorter than lock.ttl";
	}
	if (!msg)
		return 0;
	snprintf(buf, sizeof buf, "%s%s", cfg->file ? cfg->file : "config", ": ");
	size_t n = strlen(buf);
	snprintf(buf + n, sizeof buf - n, "%s", msg);
	*cause = strdup(buf);
	return -1;
}

static char *find_file(const char *path, char **origin, char **cause)
{
	char buf[PATH_MAX];
	const char *env;

	if (path) {
		*origin = strdup("-c");
		return strdup(path);
	}
	if ((env = getenv("GOVERNOR_CONFIG")) && *env) {
		*origin = strdup("GOVERNOR_CONFIG");
		return strdup(env);
	}
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(buf, sizeof buf, "%s/governor/governor.conf", xdg);
	else if (home && *home)
		snprintf(buf, sizeof buf, "%s/.config/governor/governor.conf", home);
	else
		buf[0] = '\0';
	if (buf[0] && access(buf, F_OK) == 0) {
		*origin = strdup("search path");
		return strdup(buf);
	}
	if (access("/etc/governor/governor.conf", F_OK) == 0) {
		*origin = strdup("search path");
		return strdup("/etc/governor/governor.conf");
	}
	(void)cause;
	return NULL;
}

/* store.host when none is set: the host name, which is what a fleet's hosts differ in. */
static int default_host(struct config *cfg)
{
	char name[256];
	size_t i;
	if (gethostname(name, sizeof name) < 0 || !name[0])
		snprintf(name, sizeof name, "localhost");
	name[64] = '\0';
	find_key("store", "host", &i);
	free(cfg->host);
	if (!(cfg->host = strdup(name)))
		return -1;
	return record(cfg, i, name, "default");
}

int config_load(const char *path, struct config **out, char **cause)
{
	struct config *cfg = calloc(1, sizeof *cfg);
	const char *why;

	if (!cfg || !(cfg->values = calloc(NKEYS, sizeof *cfg->values)) ||
	    !(cfg->origins = calloc(NKEYS, sizeof *cfg->origins)))
		goto nomem;
	for (size_t i = 0; i < NKEYS; i++)
		if (set_value(cfg, &keys[i], keys[i].dflt, &why) < 0 ||
		    record(cfg, i, keys[i].dflt, "default") < 0)
			goto nomem;
	cfg->file = find_file(path, &cfg->file_origin, cause);
	if (cfg->file && read_file(cfg, cfg->file, cause) < 0)
		goto fail;
	if (read_environment(cfg, cause) < 0 || check_ranges(cfg, cause) < 0)
		goto fail;
	if (!cfg->host[0] && default_host(cfg) < 0)
		goto nomem;
	if (cfg->nsources && !(cfg->probe_sources = calloc(cfg->nsources, sizeof *cfg->probe_sources)))
		goto nomem;
	if (cfg->nlimits && (!(cfg->probe_limits = calloc(cfg->nlimits, sizeof *cfg->probe_limits)) ||
	                     !(cfg->policy_limits = calloc(cfg->nlimits, sizeof *cfg->policy_limits))))
		goto nomem;
	for (size_t i = 0; i < cfg->nsources; i++) {
		struct config_source *s = &cfg->sources[i];
		finish_section(s);
		cfg->probe_sources[i] = s->probe;
	}
	for (size_t i = 0; i < cfg->nlimits; i++) {
		finish_section(&cfg->limits[i]);
		cfg->probe_limits[i] = cfg->limits[i].limit;
		cfg->policy_limits[i] = cfg->limits[i].policy;
	}
	cfg->policy.limits = cfg->policy_limits;
	cfg->policy.nlimits = cfg->nlimits;
	*out = cfg;
	return 0;
nomem:
	*cause = strdup("out of memory");
fail:
	config_free(cfg);
	return -1;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free_models(cfg);
	free(cfg->hours);
	free(cfg->backend);
	free(cfg->webhook);
	free(cfg->dsn);
	free(cfg->host);
	for (size_t i = 0; i < cfg->nsources + cfg->nlimits; i++) {
		struct config_source *s = i < cfg->nsources ? &cfg->sources[i]
		                                            : &cfg->limits[i - cfg->nsources];
		free(s->name);
		free(s->match);
		free(s->command);
		free(s->url);
		free(s->method);
		free(s->body);
		free(s->token_env);
		free(s->json_path);
		free(s->filter_field);
		free(s->filter_match);
		free(s->field);
		fetch_argv_free(s->argv);
		for (size_t h = 0; h < s->nheaders; h++)
			free(s->headers[h]);
		free(s->headers);
	}
	free(cfg->sources);
	free(cfg->probe_sources);
	free(cfg->limits);
	free(cfg->probe_limits);
	free(cfg->policy_limits);
	for (size_t i = 0; cfg->values && i < NKEYS; i++)
		free(cfg->values[i]);
	for (size_t i = 0; cfg->origins && i < NKEYS; i++)
		free(cfg->origins[i]);
	free(cfg->values);
	free(cfg->origins);
	free(cfg->file);
	free(cfg->file_origin);
	free(cfg);
}

const char *config_models_text(const struct config *cfg)
{
	static char buf[1024];
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < cfg->nmodels && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", cfg->models[i]);
	return cfg->nmodels ? buf : "(none)";
}

static void print_section(const struct config_source *s, FILE *out)
{
	char d[32], head[128];
	snprintf(head, sizeof head, "[%s%s]", s->is_limit ? LIMITS_PREFIX : SOURCES_PREFIX, s->name);
	fprintf(out, "\n%-44s ; %s\n", head, s->origin);
	if (!s->is_limit)
		fprintf(out, "kind = %s\n",
		        s->probe.kind == PROBE_KIND_INTERACTIVE ? "interactive" : "background");
	fprintf(out, "type = %s\n", type_name(s->probe.type));
	if (s->probe.type == PROBE_TYPE_PROCESS) {
		fprintf(out, "match = %s\n", s->match);
		return;
	}
	if (s->command)
		fprintf(out, "command = %s\n", s->command);
	if (s->url)
		fprintf(out, "url = %s\nmethod = %s\n", s->url, s->probe.fetch.method);
	if (s->body)
		fprintf(out, "body = %s\n", s->body);
	for (size_t h = 0; h < s->nheaders; h++)
		fprintf(out, "header = %s\n", s->headers[h]);
	if (s->token_env)        /* the variable's name only: governor never reads its value */
		fprintf(out, "token_env = %s\n", s->token_env);
	if (s->json_path)
		fprintf(out, "json_path = %s\n", s->json_path);
	if (s->filter_field)
		fprintf(out, "filter_field = %s\n", s->filter_field);
	if (s->filter_match)
		fprintf(out, "filter_match = %s\n", s->filter_match);
	if (s->field)
		fprintf(out, "field = %s\n", s->field);
	if (s->is_limit && s->probe.extract.exit_status)
		fprintf(out, "mode = exit_status\n");
	if (!isnan(s->max))
		fprintf(out, "max = %g\n", s->max);
	if (!isnan(s->min))
		fprintf(out, "min = %g\n", s->min);
	config_format_duration(s->timeout_ms, d, sizeof d);
	fprintf(out, "timeout = %s\n", d);
	config_format_duration(s->cache_ttl_ms, d, sizeof d);
	fprintf(out, "cache_ttl = %s\n", d);
	fprintf(out, "on_error = %s\n", s->probe.ignore_errors ? "ignore" : "defer");
}

void config_print(const struct config *cfg, const char *state_dir, FILE *out)
{
	const char *section = NULL;
	fprintf(out, "; governor %s effective configuration\n", GOVERNOR_VERSION);
	if (cfg->file)
		fprintf(out, "; file: %s (from %s)\n", cfg->file, cfg->file_origin);
	else
		fprintf(out, "; file: none found (defaults and environment only)\n");
	fprintf(out, "; state dir: %s\n", state_dir);
	for (size_t i = 0; i < NKEYS; i++) {
		if (!section || strcmp(section, keys[i].section) != 0) {
			section = keys[i].section;
			fprintf(out, "\n[%s]\n", section);
		}
		char line[600];
		snprintf(line, sizeof line, "%s = %s", keys[i].name, cfg->values[i]);
		fprintf(out, "%-44s ; %s\n", line, cfg->origins[i]);
	}
	for (size_t i = 0; i < cfg->nsources + cfg->nlimits; i++)
		print_section(i < cfg->nsources ? &cfg->sources[i] : &cfg->limits[i - cfg->nsources], out);
}
