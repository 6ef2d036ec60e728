/* test_config.c: durations, defaults, the INI file, environment overrides and their errors. */
#define _GNU_SOURCE /* nftw, open_memstream */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "governor/config.h"

extern char **environ;

/* One temp root for the whole run: HOME and XDG_CONFIG_HOME point into it, empty. */
static char root[256];
static char path[512];     /* the config file of the current test */

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

/* Drop every GOVERNOR_* variable the runner may have set. */
static void unset_governor_env(void)
{
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; e && *e; e++)
			if (strncmp(*e, "GOVERNOR_", 9) == 0) {
				char name[256];
				size_t len = strcspn(*e, "=");

				if (len >= sizeof name)
					len = sizeof name - 1;
				memcpy(name, *e, len);
				name[len] = '\0';
				unsetenv(name);
				again = 1;     /* environ changed under us: start over */
				break;
			}
	}
}

static int group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512];

	(void)state;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (snprintf(root, sizeof root, "%s/test_config.XXXXXX", tmp) >= (int)sizeof root ||
	    mkdtemp(root) == NULL)
		return -1;
	snprintf(dir, sizeof dir, "%s/home", root);
	if (mkdir(dir, 0700) < 0 || setenv("HOME", dir, 1) < 0)
		return -1;
	snprintf(dir, sizeof dir, "%s/xdg", root);
	if (mkdir(dir, 0700) < 0 || setenv("XDG_CONFIG_HOME", dir, 1) < 0)
		return -1;
	unset_governor_env();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Per test: no override left behind by a failed test. */
static int setup(void **state)
{
	(void)state;
	unset_governor_env();
	return 0;
}

/* Write text to root/NAME with mode; path names it. */
static const char *write_conf(const char *name, const char *text, mode_t mode)
{
	int fd;

	assert_true(snprintf(path, sizeof path, "%s/%s", root, name) < (int)sizeof path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	return path;
}

static struct config *load_ok(const char *file)
{
	struct config *cfg = NULL;
	char *cause = NULL;

	if (config_load(file, &cfg, &cause) != 0)
		fail_msg("config_load(%s): %s", file ? file : "NULL", cause ? cause : "?");
	assert_non_null(cfg);
	assert_null(cause);
	return cfg;
}

/* config_print into a malloc'd string (caller frees). */
static char *print_config(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	config_print(cfg, "/state", out);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* How many table keys there are: one "name = value ; origin" line each in config_print. */
static size_t count_keys(const struct config *cfg)
{
	char *text = print_config(cfg), *line, *save = NULL;
	size_t n = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != ';' && line[0] != '[' && strstr(line, " = ") && strstr(line, " ; "))
			n++;
	free(text);
	assert_true(n > 10);
	return n;
}

/*
 * The effective value and origin of "section.name", as `governor config` prints them, checked
 * against the values[] and origins[] arrays.
 */
static void lookup(const struct config *cfg, const char *key, char *value, char *origin,
                   size_t size)
{
	char *text = print_config(cfg), *line, *save = NULL, section[64] = "";
	int found = 0;
	size_t nkeys;

	for (line = strtok_r(text, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char full[160], *eq, *semi;

		if (line[0] == '[') {
			size_t n = strcspn(line + 1, "]");

			snprintf(section, sizeof section, "%.*s", (int)n, line + 1);
			continue;
		}
		if (line[0] == ';' || (eq = strstr(line, " = ")) == NULL ||
		    (semi = strstr(eq, " ; ")) == NULL)
			continue;
		snprintf(full, sizeof full, "%s.%.*s", section, (int)(eq - line), line);
		if (strcmp(full, key) != 0)
			continue;
		{
			char *v = eq + 3, *end = semi;

			while (end > v && end[-1] == ' ')
				end--;
			snprintf(value, size, "%.*s", (int)(end - v), v);
			snprintf(origin, size, "%s", semi + 3);
		}
		found = 1;
	}
	free(text);
	if (!found)
		fail_msg("key %s not printed", key);
	/* The arrays say the same. */
	nkeys = count_keys(cfg);
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(cfg->values[i], value) == 0 && strcmp(cfg->origins[i], origin) == 0)
			return;
	fail_msg("%s = %s (%s) is not in values[]/origins[]", key, value, origin);
}

static void expect_origin(const struct config *cfg, const char *key, const char *want_value,
                          const char *want_origin)
{
	char value[512], origin[512];

	lookup(cfg, key, value, origin, sizeof value);
	if (strcmp(value, want_value) != 0)
		fail_msg("%s = '%s', want '%s'", key, value, want_value);
	if (strcmp(origin, want_origin) != 0)
		fail_msg("%s origin '%s', want '%s'", key, origin, want_origin);
}

/* --- durations ------------------------------------------------------------------------------- */

static void test_duration_parse(void **state)
{
	static const struct { const char *text; int64_t ms; } good[] = {
		{ "90", 90000 }, { "250ms", 250 }, { "90s", 90000 }, { "15m", 900000 },
		{ "2h", 7200000 }, { "7d", 604800000 }, { "0", 0 }, { "0s", 0 }, { "1ms", 1 },
		{ "007s", 7000 }, { "100000d", INT64_C(8640000000000) },
	};
	static const char *const bad[] = {
		"", "-1", "1.5s", "5x", "s", " 5s", "5s ", "5 s", "+5s", "5S", "5sec", "ms", "5mss",
		"1e3", "0x10", "99999999999999999999", "999999999999999d", "9223372036854775807",
		"9223372036854775807ms", "5m5s",
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int64_t ms = -7;

		if (config_parse_duration(good[i].text, &ms) != 0)
			fail_msg("'%s' rejected", good[i].text);
		if (ms != good[i].ms)
			fail_msg("'%s' = %lld ms, want %lld", good[i].text, (long long)ms,
			         (long long)good[i].ms);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = -7;

		if (config_parse_duration(bad[i], &ms) == 0)
			fail_msg("'%s' accepted as %lld ms", bad[i], (long long)ms);
		assert_int_equal(ms, -7);
	}
}

static void test_duration_format(void **state)
{
	static const struct { int64_t ms; const char *text; } cases[] = {
		{ 300000, "5m" }, { 250, "250ms" }, { 0, "0" }, { 90000, "90s" }, { 1000, "1s" },
		{ 3600000, "1h" }, { 86400000, "1d" }, { 1500, "1500ms" }, { 5400000, "90m" },
		{ 7200000, "2h" }, { 172800000, "2d" }, { 60001, "60001ms" },
	};
	static const int64_t round[] = {
		0, 1, 999, 1000, 59999, 60000, 61000, 3599000, 3600000, 86399999, 86400000,
		INT64_C(8640000000000),
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		config_format_duration(cases[i].ms, buf, sizeof buf);
		if (strcmp(buf, cases[i].text) != 0)
			fail_msg("%lld ms formats as '%s', want '%s'", (long long)cases[i].ms, buf,
			         cases[i].text);
	}
	for (size_t i = 0; i < sizeof round / sizeof round[0]; i++) {
		int64_t back = -1;

		config_format_duration(round[i], buf, sizeof buf);
		if (config_parse_duration(buf, &back) != 0 || back != round[i])
			fail_msg("%lld ms -> '%s' -> %lld", (long long)round[i], buf, (long long)back);
	}
	/* A short buffer is cut, never overrun. */
	memset(buf, 'X', sizeof buf);
	config_format_duration(1500, buf, 4);
	assert_string_equal(buf, "150");
	assert_int_equal(buf[4], 'X');
}

/* --- defaults ------------------------------------------------------------------------------ */

static void check_defaults(const struct config *cfg)
{
	assert_int_equal(cfg->policy.max_concurrent, 1);
	assert_true(cfg->policy.max_cpu_percent == 80);
	assert_true(cfg->policy.min_mem_available_percent == 15);
	assert_true(cfg->policy.max_load_per_cpu == 0);
	assert_true(cfg->policy.min_disk_free_percent == 5);
	assert_int_equal(cfg->policy.max_interactive_sessions, 0);
	assert_int_equal(cfg->policy.aging_ms, 0);
	assert_int_equal(cfg->nmodels, 2);
	assert_string_equal(cfg->models[0], "google-gemini-flash");
	assert_string_equal(cfg->models[1], "claude-haiku-3-5");
	assert_int_equal(cfg->policy.nmodels, 2);
	assert_string_equal(cfg->policy.models[0], "google-gemini-flash");
	assert_string_equal(cfg->policy.models[1], "claude-haiku-3-5");
	assert_int_equal(cfg->claim_ttl_ms, 5 * 60 * 1000);
	assert_int_equal(cfg->lease_ms, 30 * 60 * 1000);
	assert_int_equal(cfg->max_retries, 3);
	assert_int_equal(cfg->backoff_min_ms, 30 * 1000);
	assert_int_equal(cfg->backoff_max_ms, 60 * 60 * 1000);
	assert_int_equal(cfg->lock_ttl_ms, 60 * 1000);
	assert_int_equal(cfg->cpu_sample_ms, 250);
	assert_int_equal(cfg->cpu_max_age_ms, 2 * 60 * 1000);
	assert_string_equal(cfg->backend, "file");
	assert_int_equal(cfg->nsources, 0);
	expect_origin(cfg, "policy.max_concurrent", "1", "default");
	expect_origin(cfg, "policy.claim_ttl", "5m", "default");
	expect_origin(cfg, "models.allowed", "google-gemini-flash, claude-haiku-3-5", "default");
	expect_origin(cfg, "lock.ttl", "60s", "default");
}

static void test_defaults(void **state)
{
	struct config *cfg;

	(void)state;
	/* An empty file (comments only) changes nothing. */
	cfg = load_ok(write_conf("empty.conf", "; nothing here\n\n# nor here\n", 0600));
	check_defaults(cfg);
	assert_string_equal(cfg->file, path);
	assert_string_equal(cfg->file_origin, "-c");
	for (size_t i = 0, n = count_keys(cfg); i < n; i++)
		assert_string_equal(cfg->origins[i], "default");
	config_free(cfg);

	/* No file at all: the search path finds nothing in the empty HOME and XDG dirs. */
	if (access("/etc/governor/governor.conf", F_OK) != 0) {
		cfg = load_ok(NULL);
		check_defaults(cfg);
		assert_null(cfg->file);
		config_free(cfg);
	}
	config_free(NULL);
}

/* --- the file ------------------------------------------------------------------------------ */

static void test_file_overrides(void **state)
{
	static const char text[] =
		"; governor.conf for the test\n"                     /* 1 */
		"[policy]\n"                                          /* 2 */
		"max_concurrent = 3\n"                                /* 3 */
		"max_cpu_percent = 70.5   ; a comment\n"              /* 4 */
		"claim_ttl=2m\n"                                      /* 5 */
		"\n"                                                  /* 6 */
		"[models]\n"                                          /* 7 */
		"allowed = a, b ,c\n"                                 /* 8 */
		"[lock]\n"                                            /* 9 */
		"ttl = 90s\n"                                         /* 10 */
		"[policy]\n"                                          /* 11 */
		"max_concurrent = 4\n"                                /* 12: the last one wins */
		"[sessions.agents]\n"                                 /* 13 */
		"kind = interactive\n"                                /* 14 */
		"type = process\n"                                    /* 15 */
		"match = (^|/)(claude|codex)( |$)\n"                  /* 16 */
		"[sessions.bg]\n"                                     /* 17 */
		"match = ^worker\n";                                  /* 18 */
	struct config *cfg;
	char want[600];

	(void)state;
	cfg = load_ok(write_conf("file.conf", text, 0600));
	assert_int_equal(cfg->policy.max_concurrent, 4);
	assert_true(cfg->policy.max_cpu_percent == 70.5);
	assert_int_equal(cfg->claim_ttl_ms, 120000);
	assert_int_equal(cfg->lock_ttl_ms, 90000);
	assert_int_equal(cfg->nmodels, 3);
	assert_string_equal(cfg->models[0], "a");
	assert_string_equal(cfg->models[1], "b");
	assert_string_equal(cfg->models[2], "c");
	assert_int_equal(cfg->policy.nmodels, 3);
	assert_string_equal(cfg->policy.models[2], "c");
	/* Untouched keys keep their defaults. */
	assert_true(cfg->policy.min_mem_available_percent == 15);
	assert_int_equal(cfg->lease_ms, 30 * 60 * 1000);

	snprintf(want, sizeof want, "%s:12", path);
	expect_origin(cfg, "policy.max_concurrent", "4", want);
	snprintf(want, sizeof want, "%s:4", path);
	expect_origin(cfg, "policy.max_cpu_percent", "70.5", want);
	snprintf(want, sizeof want, "%s:5", path);
	expect_origin(cfg, "policy.claim_ttl", "2m", want);
	snprintf(want, sizeof want, "%s:8", path);
	expect_origin(cfg, "models.allowed", "a, b ,c", want);
	snprintf(want, sizeof want, "%s:10", path);
	expect_origin(cfg, "lock.ttl", "90s", want);
	expect_origin(cfg, "policy.lease", "30m", "default");

	assert_int_equal(cfg->nsources, 2);
	assert_string_equal(cfg->sources[0].name, "agents");
	assert_string_equal(cfg->sources[0].match, "(^|/)(claude|codex)( |$)");
	assert_int_equal(cfg->sources[0].probe.kind, PROBE_KIND_INTERACTIVE);
	snprintf(want, sizeof want, "%s:13", path);
	assert_string_equal(cfg->sources[0].origin, want);
	assert_string_equal(cfg->sources[1].name, "bg");
	assert_int_equal(cfg->sources[1].probe.kind, PROBE_KIND_BACKGROUND);
	snprintf(want, sizeof want, "%s:17", path);
	assert_string_equal(cfg->sources[1].origin, want);
	/* The array handed to the probes agrees. */
	assert_non_null(cfg->probe_sources);
	assert_string_equal(cfg->probe_sources[0].name, "agents");
	assert_string_equal(cfg->probe_sources[0].match, "(^|/)(claude|codex)( |$)");
	assert_int_equal(cfg->probe_sources[0].kind, PROBE_KIND_INTERACTIVE);
	assert_int_equal(cfg->probe_sources[1].type, PROBE_TYPE_PROCESS);
	config_free(cfg);
}

static void test_models(void **state)
{
	struct config *cfg;
	char *cause = NULL;

	(void)state;
	cfg = load_ok(write_conf("m1.conf", "[models]\nallowed =\n", 0600));
	assert_int_equal(cfg->nmodels, 0);
	assert_int_equal(cfg->policy.nmodels, 0);
	config_free(cfg);

	cfg = load_ok(write_conf("m2.conf", "[models]\nallowed =   only-one   \n", 0600));
	assert_int_equal(cfg->nmodels, 1);
	assert_string_equal(cfg->models[0], "only-one");
	config_free(cfg);

	cfg = load_ok(write_conf("m3.conf", "[models]\nallowed = x,y\n", 0600));
	assert_int_equal(cfg->nmodels, 2);
	assert_string_equal(cfg->models[0], "x");
	assert_string_equal(cfg->models[1], "y");
	config_free(cfg);

	/* An empty name in the list, or a name with a space inside, is an error. */
	cfg = (struct config *)&cfg;
	assert_int_equal(config_load(write_conf("m4.conf", "[models]\nallowed = a,,b\n", 0600),
	                             &cfg, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(config_load(write_conf("m5.conf", "[models]\nallowed = a b\n", 0600),
	                             &cfg, &cause), -1);
	assert_non_null(cause);
	free(cause);
}

/* A bad file: -1, and a cause "FILE:LINE: ..." naming the line and mentioning what. */
static void expect_error(const char *name, const char *text, int line, const char *what)
{
	struct config *cfg = (struct config *)&cfg;   /* must stay untouched */
	char *cause = NULL, prefix[600];

	write_conf(name, text, 0600);
	if (config_load(path, &cfg, &cause) != -1)
		fail_msg("%s: accepted", name);
	assert_ptr_equal(cfg, (struct config *)&cfg);
	assert_non_null(cause);
	snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
	if (strncmp(cause, prefix, strlen(prefix)) != 0)
		fail_msg("%s: cause '%s' does not start with '%s'", name, cause, prefix);
	if (what && strstr(cause, what) == NULL)
		fail_msg("%s: cause '%s' does not mention '%s'", name, cause, what);
	free(cause);
}

static void test_file_errors(void **state)
{
	const size_t n = 1000, size = 2 * n;
	char *longline, *text = malloc(size);

	assert_non_null(text);
	(void)state;
	expect_error("unknown-key.conf", "[policy]\nmax_concurrent = 1\nnope = 2\n", 3, "nope");
	expect_error("unknown-section.conf", "[policy]\nmax_concurrent = 1\n[nope]\nx = 1\n", 3,
	             "[nope]");
	expect_error("bad-count.conf", "[policy]\nmax_concurrent = many\n", 2, "max_concurrent");
	expect_error("negative.conf", "[policy]\n\nmax_concurrent = -1\n", 3, "max_concurrent");
	expect_error("percent.conf", "[policy]\nmax_cpu_percent = 120\n", 2, "max_cpu_percent");
	expect_error("duration.conf", "[lock]\nttl = 5x\n", 2, "ttl");
	expect_error("fraction.conf", "[policy]\nclaim_ttl = 1.5m\n", 2, "claim_ttl");
	expect_error("backend.conf", "[store]\nbackend = sqlite\n", 2, "backend");
	expect_error("fleet-max.conf", "[policy]\nfleet_max_concurrent = -1\n", 2, "fleet_max_concurrent");
	/* A password belongs in ~/.pgpass or PGPASSWORD; the dsn is then safe to print. */
	expect_error("dsn-pw.conf", "[store]\ndsn = host=db password=hunter2\n", 2, "password");
	expect_error("dsn-pw-case.conf", "[store]\ndsn = host=db PassWord = x\n", 2, "password");
	expect_error("dsn-uri.conf", "[store]\ndsn = postgresql://agent:hunter2@db/governor\n", 2,
	             "password");
	expect_error("dsn-query.conf", "[store]\ndsn = postgres://db/governor?password=x\n", 2,
	             "password");
	expect_error("host-long.conf", "[store]\nhost = "
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	             2, "64 bytes");
	expect_error("outside.conf", "; top\nmax_concurrent = 1\n[policy]\n", 2, "outside");
	expect_error("syntax.conf", "[policy]\nmax_concurrent 1\n", 2, NULL);
	expect_error("bracket.conf", "[policy\nmax_concurrent = 1\n", 1, NULL);
	expect_error("no-match.conf",
	             "[policy]\nmax_concurrent = 1\n[sessions.x]\nkind = background\n", 3,
	             "match");
	expect_error("no-match-2.conf",
	             "[sessions.a]\nmatch = ^a\n\n[sessions.b]\n\nkind = interactive\n", 4,
	             "sessions.b");
	expect_error("no-match-indented.conf", "[policy]\n  [sessions.z]\nkind = background\n", 2,
	             "sessions.z");
	expect_error("bad-regex.conf", "[sessions.x]\nkind = background\nmatch = (unclosed\n", 3,
	             "(unclosed");
	expect_error("bad-kind.conf", "[sessions.x]\nmatch = ^a\nkind = sometimes\n", 3,
	             "sometimes");
	expect_error("bad-type.conf", "[sessions.x]\nmatch = ^a\ntype = ftp\n", 3, "ftp");
	/* A key of another type is an error naming the section's header. */
	expect_error("type-mismatch.conf", "[sessions.x]\nmatch = ^a\ntype = http\n", 1,
	             "key 'match' does not apply to type http");
	expect_error("source-key.conf", "[sessions.x]\nmatch = ^a\ncolour = red\n", 3, "colour");
	expect_error("source-name.conf", "[sessions.a b]\nmatch = ^a\n", 1, "a b");
	/* The first error wins. */
	expect_error("two-errors.conf", "[policy]\nmax_concurrent = x\nnope = 1\n", 2,
	             "max_concurrent");

	/* A line longer than inih's buffer: refused at its own line, not cut and read. */
	longline = malloc(n + 1);
	assert_non_null(longline);
	memset(longline, 'x', n);
	longline[n] = '\0';
	assert_true(snprintf(text, size, "[policy]\nmax_concurrent = 2\n; %s\nmax_concurrent = 1\n",
	                     longline) < (int)size);
	expect_error("long-comment.conf", text, 3, "longer");
	assert_true(snprintf(text, size, "[models]\nallowed = %s\n", longline) < (int)size);
	expect_error("long-value.conf", text, 2, "longer");
	/* ...the first error by line still wins... */
	assert_true(snprintf(text, size, "[policy]\nnope = 1\n%s\n", longline) < (int)size);
	expect_error("error-then-long.conf", text, 2, "nope");
	assert_true(snprintf(text, size, "[policy]\n%s\nnope = 1\n", longline) < (int)size);
	expect_error("long-then-error.conf", text, 2, "longer");
	/* ...and a line just under the limit is fine. */
	memset(longline, 'x', 150);
	longline[150] = '\0';
	assert_true(snprintf(text, size, "[policy]\n; %s\nmax_concurrent = 2\n", longline) <
	            (int)size);
	write_conf("long-ok.conf", text, 0600);
	config_free(load_ok(path));
	free(text);
	free(longline);
}

static void test_range_errors(void **state)
{
	static const struct { const char *name, *text, *what; } cases[] = {
		{ "backoff.conf", "[policy]\nbackoff_min = 2h\nbackoff_max = 1h\n", "backoff_min" },
		{ "claim.conf", "[policy]\nclaim_ttl = 500ms\n", "claim_ttl" },
		{ "retries.conf", "[policy]\nmax_retries = 0\n", "max_retries" },
		{ "sample.conf", "[probe.cpu]\nsample = 6s\n", "sample" },
		{ "no-dsn.conf", "[store]\nbackend = postgres\n", "store.dsn" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config *cfg = NULL;
		char *cause = NULL;

		write_conf(cases[i].name, cases[i].text, 0600);
		if (config_load(path, &cfg, &cause) != -1)
			fail_msg("%s: accepted", cases[i].name);
		assert_non_null(cause);
		if (strstr(cause, cases[i].what) == NULL || strstr(cause, path) == NULL)
			fail_msg("%s: cause '%s'", cases[i].name, cause);
		free(cause);
	}
	/* Equal bounds are fine. */
	config_free(load_ok(write_conf("backoff-eq.conf",
	                               "[policy]\nbackoff_min = 1h\nbackoff_max = 60m\n", 0600)));
}

/* [store]: the dsn is kept as written (never with a password); host defaults to the host name. */
static void test_store_keys(void **state)
{
	char name[256] = "";
	struct config *cfg;

	(void)state;
	cfg = load_ok(write_conf("store.conf", "[store]\nbackend = postgres\n"
	                         "dsn = host=/run/pg dbname=governor user=agent\n", 0600));
	assert_string_equal(cfg->backend, "postgres");
	assert_string_equal(cfg->dsn, "host=/run/pg dbname=governor user=agent");
	gethostname(name, sizeof name);
	name[64] = '\0';
	assert_string_equal(cfg->host, name[0] ? name : "localhost");
	assert_int_equal(cfg->policy.fleet_max_concurrent, 0);
	config_free(cfg);
	cfg = load_ok(write_conf("host.conf", "[store]\nhost = laptop\n[policy]\n"
	                         "fleet_max_concurrent = 3\n", 0600));
	assert_string_equal(cfg->host, "laptop");
	assert_string_equal(cfg->backend, "file");
	assert_int_equal(cfg->policy.fleet_max_concurrent, 3);
	config_free(cfg);
	/* A refused dsn is not echoed: the value may hold the password. */
	char *cause = NULL;
	write_conf("pw.conf", "[store]\ndsn = host=db password=hunter2\n", 0600);
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	assert_null(strstr(cause, "hunter2"));
	free(cause);
}

static void test_file_permissions(void **state)
{
	struct config *cfg = NULL;
	char *cause = NULL;

	(void)state;
	write_conf("open.conf", "[policy]\nmax_concurrent = 9\n", 0666);
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, "chmod"));
	free(cause);
	cause = NULL;

	write_conf("group.conf", "[policy]\nmax_concurrent = 9\n", 0620);
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	free(cause);
	cause = NULL;

	/* Readable by all is fine: only writers are a threat. */
	cfg = load_ok(write_conf("readable.conf", "[policy]\nmax_concurrent = 9\n", 0644));
	assert_int_equal(cfg->policy.max_concurrent, 9);
	config_free(cfg);

	/* A -c file that does not exist is an error, not "no file". */
	snprintf(path, sizeof path, "%s/missing.conf", root);
	cfg = NULL;
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
}

/* --- the environment ------------------------------------------------------------------------ */

static void test_env_override(void **state)
{
	struct config *cfg;
	char want[600];

	(void)state;
	write_conf("env.conf", "[policy]\nmax_concurrent = 3\nclaim_ttl = 2m\n", 0600);
	assert_int_equal(setenv("GOVERNOR_POLICY_MAX_CONCURRENT", "5", 1), 0);
	assert_int_equal(setenv("GOVERNOR_MODELS_ALLOWED", " m1 , m2 ", 1), 0);
	assert_int_equal(setenv("GOVERNOR_PROBE_CPU_SAMPLE", "100ms", 1), 0);
	cfg = load_ok(path);
	assert_int_equal(cfg->policy.max_concurrent, 5);
	expect_origin(cfg, "policy.max_concurrent", "5", "env GOVERNOR_POLICY_MAX_CONCURRENT");
	assert_int_equal(cfg->nmodels, 2);
	assert_string_equal(cfg->models[0], "m1");
	assert_string_equal(cfg->models[1], "m2");
	expect_origin(cfg, "models.allowed", "m1 , m2", "env GOVERNOR_MODELS_ALLOWED");
	assert_int_equal(cfg->cpu_sample_ms, 100);
	expect_origin(cfg, "probe.cpu.sample", "100ms", "env GOVERNOR_PROBE_CPU_SAMPLE");
	/* The file still sets what the environment does not. */
	snprintf(want, sizeof want, "%s:3", path);
	expect_origin(cfg, "policy.claim_ttl", "2m", want);
	config_free(cfg);

	/* An empty allowlist from the environment. */
	assert_int_equal(setenv("GOVERNOR_MODELS_ALLOWED", "", 1), 0);
	cfg = load_ok(path);
	assert_int_equal(cfg->nmodels, 0);
	config_free(cfg);
	unset_governor_env();
}

static void test_env_errors(void **state)
{
	struct config *cfg = NULL;
	char *cause = NULL;

	(void)state;
	write_conf("env-errors.conf", "[policy]\nmax_concurrent = 3\n", 0600);

	assert_int_equal(setenv("GOVERNOR_POLICY_NOPE", "1", 1), 0);
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "GOVERNOR_POLICY_NOPE"));
	free(cause);
	cause = NULL;
	unsetenv("GOVERNOR_POLICY_NOPE");

	assert_int_equal(setenv("GOVERNOR_POLICY_MAX_CONCURRENT", "lots", 1), 0);
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "GOVERNOR_POLICY_MAX_CONCURRENT"));
	free(cause);
	cause = NULL;
	unsetenv("GOVERNOR_POLICY_MAX_CONCURRENT");

	/* Range checks apply to the environment too. */
	assert_int_equal(setenv("GOVERNOR_POLICY_BACKOFF_MIN", "2h", 1), 0);
	assert_int_equal(config_load(path, &cfg, &cause), -1);
	assert_non_null(strstr(cause, "backoff_min"));
	free(cause);
	unset_governor_env();

	/* Variables outside the config namespace are none of its business. */
	assert_int_equal(setenv("GOVERNOR_STATE_DIR", "/nowhere", 1), 0);
	assert_int_equal(setenv("GOVERNOR_CONFIG_X", "1", 1), 0);
	config_free(load_ok(path));
	unset_governor_env();
}

static void test_search_path(void **state)
{
	char dir[600], file[700];
	struct config *cfg;

	(void)state;
	/* $GOVERNOR_CONFIG names the file when there is no -c. */
	write_conf("by-env.conf", "[policy]\nmax_concurrent = 6\n", 0600);
	assert_int_equal(setenv("GOVERNOR_CONFIG", path, 1), 0);
	cfg = load_ok(NULL);
	assert_int_equal(cfg->policy.max_concurrent, 6);
	assert_string_equal(cfg->file, path);
	assert_string_equal(cfg->file_origin, "GOVERNOR_CONFIG");
	config_free(cfg);
	/* -c wins over it. */
	write_conf("by-flag.conf", "[policy]\nmax_concurrent = 7\n", 0600);
	cfg = load_ok(path);
	assert_int_equal(cfg->policy.max_concurrent, 7);
	config_free(cfg);
	unsetenv("GOVERNOR_CONFIG");

	/* Then $XDG_CONFIG_HOME/governor/governor.conf. */
	snprintf(dir, sizeof dir, "%s/xdg/governor", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(file, sizeof file, "%s/governor.conf", dir);
	{
		FILE *fp = fopen(file, "we");

		assert_non_null(fp);
		fputs("[policy]\nmax_concurrent = 8\n", fp);
		assert_int_equal(fclose(fp), 0);
		assert_int_equal(chmod(file, 0600), 0);
	}
	cfg = load_ok(NULL);
	assert_int_equal(cfg->policy.max_concurrent, 8);
	assert_string_equal(cfg->file, file);
	assert_string_equal(cfg->file_origin, "search path");
	config_free(cfg);
	unlink(file);
	rmdir(dir);
}

/* --- command and http sources, limits (issue 4) ------------------------------------------- */

static void test_fetch_sections(void **state)
{
	static const char text[] =
		"[sessions.bg]\n"                                                   /* 1 */
		"kind = background\n"                                               /* 2 */
		"type = command\n"                                                  /* 3 */
		"command = openclaw sessions --all-agents --active 30 --json\n"     /* 4 */
		"json_path = sessions\n"                                            /* 5 */
		"filter_field = key\n"                                              /* 6 */
		"filter_match = :subagent:\n"                                       /* 7 */
		"cache_ttl = 30s\n"                                                 /* 8 */
		"[sessions.gw]\n"                                                   /* 9 */
		"kind = interactive\n"                                              /* 10 */
		"url = http://127.0.0.1:18789/tools/invoke\n"                       /* 11: type inferred */
		"body = {\"tool\":\"sessions_list\",\"args\":{}}\n"                 /* 12 */
		"header = X-One: 1\n"                                               /* 13 */
		"header = X-Two: \"two words\"\n"                                   /* 14 */
		"token_env = GW_TOKEN\n"                                            /* 15 */
		"timeout = 500ms\n"                                                 /* 16 */
		"on_error = ignore\n"                                               /* 17 */
		"[limits.gpu]\n"                                                    /* 18 */
		"type = command\n"                                                  /* 19 */
		"command = nvidia-smi \"--format=csv, noheader\"\n"                 /* 20 */
		"field = 2/3\n"                                                     /* 21 */
		"max = 90\n"                                                        /* 22 */
		"[limits.gate]\n"                                                   /* 23 */
		"command = /usr/local/bin/may-i\n"                                  /* 24 */
		"mode = exit_status\n";                                             /* 25 */
	struct config *cfg;

	(void)state;
	cfg = load_ok(write_conf("fetch.conf", text, 0600));
	assert_int_equal(cfg->nsources, 2);
	assert_int_equal(cfg->nlimits, 2);

	const struct probe_source *bg = &cfg->probe_sources[0], *gw = &cfg->probe_sources[1];
	assert_int_equal(bg->type, PROBE_TYPE_COMMAND);
	assert_string_equal(bg->fetch.argv[0], "openclaw");
	assert_string_equal(bg->fetch.argv[4], "30");
	assert_null(bg->fetch.argv[6]);
	assert_string_equal(bg->extract.json_path, "sessions");
	assert_string_equal(bg->extract.filter_field, "key");
	assert_string_equal(bg->extract.filter_match, ":subagent:");
	assert_int_equal(bg->fetch.cache_ttl_ms, 30000);
	assert_int_equal(bg->fetch.timeout_ms, 2000);         /* the default */
	assert_false(bg->ignore_errors);

	assert_int_equal(gw->type, PROBE_TYPE_HTTP);
	assert_int_equal(gw->kind, PROBE_KIND_INTERACTIVE);
	assert_string_equal(gw->fetch.method, "POST");        /* a body implies POST */
	assert_string_equal(gw->fetch.body, "{\"tool\":\"sessions_list\",\"args\":{}}");
	assert_string_equal(gw->fetch.headers[0], "X-One: 1");
	assert_string_equal(gw->fetch.headers[1], "X-Two: \"two words\"");
	assert_null(gw->fetch.headers[2]);
	assert_string_equal(gw->fetch.token_env, "GW_TOKEN");
	assert_int_equal(gw->fetch.timeout_ms, 500);
	assert_true(gw->ignore_errors);

	const struct probe_limit *gpu = &cfg->probe_limits[0], *gate = &cfg->probe_limits[1];
	assert_string_equal(gpu->name, "gpu");
	assert_string_equal(gpu->fetch.argv[1], "--format=csv, noheader");
	assert_int_equal(gpu->extract.field, 2);
	assert_int_equal(gpu->extract.field_div, 3);
	assert_int_equal(gate->type, PROBE_TYPE_COMMAND);
	assert_true(gate->extract.exit_status);
	assert_int_equal(cfg->policy.nlimits, 2);
	assert_string_equal(cfg->policy.limits[0].name, "gpu");
	assert_true(cfg->policy.limits[0].max == 90);
	assert_true(isnan(cfg->policy.limits[0].min));
	assert_true(cfg->policy.limits[1].exit_status);

	/* The new [policy] keys and their defaults. */
	assert_true(cfg->policy.max_cpu_pressure == 0 && cfg->policy.max_memory_pressure == 0 &&
	            cfg->policy.max_io_pressure == 0);
	assert_true(cfg->policy.resume_margin == 5);
	config_free(cfg);
}

static void test_fetch_section_errors(void **state)
{
	(void)state;
	expect_error("f1.conf", "[sessions.x]\ncommand = a \"b\n", 2, "unterminated double quote");
	expect_error("f2.conf", "[sessions.x]\ntype = command\n", 1, "needs a 'command'");
	expect_error("f3.conf", "[sessions.x]\ntype = http\n", 1, "needs a 'url'");
	expect_error("f4.conf", "[sessions.x]\nurl = ftp://x\n", 2, "bad url");
	expect_error("f5.conf", "[sessions.x]\ncommand = a\nurl = http://x/\n", 1,
	             "key 'url' does not apply to type command");
	expect_error("f6.conf", "[sessions.x]\ncommand = a\njson_path = a..b\n", 3, "json_path");
	expect_error("f7.conf", "[sessions.x]\ncommand = a\nfilter_field = key\n", 1,
	             "needs a 'filter_match'");
	expect_error("f8.conf", "[sessions.x]\ncommand = a\nfilter_match = (x\n", 3, "filter_match");
	expect_error("f9.conf", "[sessions.x]\ncommand = a\ntimeout = 2m\n", 3, "10ms to 60s");
	expect_error("f10.conf", "[sessions.x]\ncommand = a\non_error = shrug\n", 3, "on_error");
	expect_error("f11.conf", "[sessions.x]\nurl = http://x/\nheader = Authorization: Bearer s\n",
	             3, "token_env");
	expect_error("f12.conf", "[sessions.x]\nurl = http://x/\nheader = no colon\n", 3, "header");
	expect_error("f13.conf", "[sessions.x]\nurl = http://x/\ntoken_env = A-B\n", 3, "token_env");
	expect_error("f14.conf", "[sessions.x]\ncommand = a\nmax = 3\n", 3, "unknown key 'max'");
	expect_error("f15.conf", "[limits.g]\ncommand = a\n", 1, "needs 'max' and/or 'min'");
	expect_error("f16.conf", "[limits.g]\nmax = 1\n", 1, "needs 'type = command'");
	expect_error("f17.conf", "[limits.g]\ntype = process\n", 2, "bad value 'process'");
	expect_error("f18.conf", "[limits.g]\ncommand = a\nmode = exit_status\nmax = 1\n", 1,
	             "exit_status");
	expect_error("f19.conf", "[limits.g]\nurl = http://x/\nmode = exit_status\n", 1,
	             "key 'mode' does not apply to type http");
	expect_error("f20.conf", "[limits.g]\ncommand = a\nfield = 0\nmax = 1\n", 3, "field");
	expect_error("f21.conf", "[limits.g]\ncommand = a\nmin = 5\nmax = 1\n", 1, "'min' is larger");
	expect_error("f22.conf", "[limits.g]\nurl = http://x/\nmethod = GET\nbody = {}\nmax = 1\n", 1,
	             "body");
	expect_error("f23.conf", "[sessions.x]\ncommand = a\nfield = 1\njson_path = a\n", 1,
	             "exclude each other");
	expect_error("f24.conf", "[limits.]\nmax = 1\n", 1, "needs a name");
	expect_error("f25.conf", "[policy]\nresume_margin = -1\n", 2, "resume_margin");
	expect_error("f26.conf", "[policy]\nmax_io_pressure = 101\n", 2, "max_io_pressure");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test_setup(test_defaults, setup),
		cmocka_unit_test_setup(test_file_overrides, setup),
		cmocka_unit_test_setup(test_models, setup),
		cmocka_unit_test_setup(test_file_errors, setup),
		cmocka_unit_test_setup(test_range_errors, setup),
		cmocka_unit_test_setup(test_store_keys, setup),
		cmocka_unit_test_setup(test_file_permissions, setup),
		cmocka_unit_test_setup(test_env_override, setup),
		cmocka_unit_test_setup(test_env_errors, setup),
		cmocka_unit_test_setup(test_search_path, setup),
		cmocka_unit_test_setup(test_fetch_sections, setup),
		cmocka_unit_test_setup(test_fetch_section_errors, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
