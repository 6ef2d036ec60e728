/* config.c: the key table, the INI reader (inih), environment overrides and validation. */
#include "governor/config.h"

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

enum key_type { T_COUNT, T_PERCENT, T_NUMBER, T_DURATION, T_MODELS, T_BACKEND, T_HOURS };

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
	{ "models", "allowed", T_MODELS, 0, "google-gemini-flash, claude-haiku-3-5" },
	{ "lock", "ttl", T_DURATION, F(lock_ttl_ms), "60s" },
	{ "probe.cpu", "sample", T_DURATION, F(cpu_sample_ms), "250ms" },
	{ "probe.cpu", "max_age", T_DURATION, F(cpu_max_age_ms), "2m" },
	{ "store", "backend", T_BACKEND, F(backend), "file" },
};
#define NKEYS (sizeof keys / sizeof keys[0])
#define SOURCES_PREFIX "sessions."

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
	case T_BACKEND:
		if (strcmp(value, "file") != 0) {
			*why = strcmp(value, "postgres") == 0
			             ? "backend 'postgres' is not available in this version"
			             : "expected 'file'";
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
	char *v = strdup(value), *o = strdup(origin);
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

static struct config_source *source_for(struct parse *p, const char *section)
{
	struct config *cfg = p->cfg;
	const char *name = section + strlen(SOURCES_PREFIX);
	for (size_t i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	if (!*name) {
		parse_error(p, p->section_line, "section [%s] needs a name, such as [sessions.agents]", section);
		return NULL;
	}
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
			parse_error(p, p->section_line, "bad source name '%s' (letters, digits, '_' and '-')", name);
			return NULL;
		}
	struct config_source *grown = realloc(cfg->sources, (cfg->nsources + 1) * sizeof *grown);
	if (!grown) {
		parse_error(p, p->line, "out of memory");
		return NULL;
	}
	cfg->sources = grown;
	struct config_source *s = &cfg->sources[cfg->nsources];
	*s = (struct config_source){ .probe = { .kind = PROBE_KIND_BACKGROUND, .type = PROBE_TYPE_PROCESS } };
	if (!(s->name = strdup(name))) {
		parse_error(p, p->line, "out of memory");
		return NULL;
	}
	snprintf(s->origin, sizeof s->origin, "%s:%d", p->file, p->section_line);
	cfg->nsources++;
	return s;
}

static int source_key(struct parse *p, const char *section, const char *name, const char *value)
{
	struct config_source *s = source_for(p, section);
	if (!s)
		return 0;
	if (strcmp(name, "kind") == 0) {
		if (strcmp(value, "background") == 0)
			s->probe.kind = PROBE_KIND_BACKGROUND;
		else if (strcmp(value, "interactive") == 0)
			s->probe.kind = PROBE_KIND_INTERACTIVE;
		else
			parse_error(p, p->line, "bad value '%s' for kind: expected background or interactive", value);
	} else if (strcmp(name, "type") == 0) {
		if (strcmp(value, "process") != 0)
			parse_error(p, p->line, "bad value '%s' for type: this version supports 'process'", value);
	} else if (strcmp(name, "match") == 0) {
		regex_t re;
		int rc = regcomp(&re, value, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char err[160];
			regerror(rc, &re, err, sizeof err);
			parse_error(p, p->line, "bad match pattern '%s': %s", value, err);
			return 0;
		}
		regfree(&re);
		free(s->match);
		if (!(s->match = strdup(value)))
			parse_error(p, p->line, "out of memory");
	} else {
		parse_error(p, p->line, "unknown key '%s' in [%s] (known: kind, type, match)", name, section);
	}
	return p->error ? 0 : 1;
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
		return source_key(p, section, name, value);
	const struct key *k = find_key(section, name, &i);
	if (!k) {
		if (known_section(section))
			parse_error(p, p->line, "unknown key '%s' in [%s]", name, section);
		else
			parse_error(p, p->section_line, "unknown section [%s]", section);
		return 0;
	}
	if (set_value(p->cfg, k, value, &why) < 0) {
		parse_error(p, p->line, "bad value '%s' for %s.%s: %s", value, section, name, why);
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
	for (size_t i = 0; !p.error && i < cfg->nsources; i++)
		if (!cfg->sources[i].match) {
			snprintf(buf, sizeof buf, "%s: [sessions.%s] needs a 'match' pattern",
			         cfg->sources[i].origin, cfg->sources[i].name);
			p.error = strdup(buf);
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
			snprintf(buf, sizeof buf, "environment %s: bad value '%s': %s", name, value, why);
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
	if (cfg->nsources && !(cfg->probe_sources = calloc(cfg->nsources, sizeof *cfg->probe_sources)))
		goto nomem;
	for (size_t i = 0; i < cfg->nsources; i++) {
		struct config_source *s = &cfg->sources[i];
		s->probe.name = s->name;
		s->probe.match = s->match;
		cfg->probe_sources[i] = s->probe;
	}
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
	for (size_t i = 0; i < cfg->nsources; i++) {
		free(cfg->sources[i].name);
		free(cfg->sources[i].match);
	}
	free(cfg->sources);
	free(cfg->probe_sources);
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
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct config_source *s = &cfg->sources[i];
		int pad = 34 - (int)strlen(s->name);
		fprintf(out, "\n[sessions.%s]%*s ; %s\n", s->name, pad > 0 ? pad : 0, "", s->origin);
		fprintf(out, "kind = %s\ntype = process\nmatch = %s\n",
		        s->probe.kind == PROBE_KIND_INTERACTIVE ? "interactive" : "background", s->match);
	}
}
