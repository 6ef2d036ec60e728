/* test_fetch.c: command sources: argv splitting, json_path and filters, CSV, runs and the cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "probes/fetch.h"

struct fixture {
	char dir[256];
	int fd;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	assert_non_null(f);
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(f->dir, sizeof f->dir, "%s/test_fetch.XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = fdopendir(f->fd);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d != NULL)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* --- argv ---------------------------------------------------------------------------------- */

static void expect_words(const char *s, const char *const *want)
{
	char **argv = NULL, *cause = NULL;
	size_t i;

	if (fetch_argv_split(s, &argv, &cause) != 0)
		fail_msg("'%s': %s", s, cause);
	for (i = 0; want[i] != NULL; i++) {
		if (argv[i] == NULL)
			fail_msg("'%s': only %zu words", s, i);
		if (strcmp(argv[i], want[i]) != 0)
			fail_msg("'%s': word %zu is <%s>, want <%s>", s, i, argv[i], want[i]);
	}
	if (argv[i] != NULL)
		fail_msg("'%s': extra word <%s>", s, argv[i]);
	fetch_argv_free(argv);
}

static void test_argv_split(void **state)
{
	char **argv = NULL, *cause = NULL;

	(void)state;
	expect_words("openclaw sessions --all-agents --active 30 --json",
	             (const char *const[]){ "openclaw", "sessions", "--all-agents", "--active", "30",
	                                    "--json", NULL });
	expect_words("  a\t b  ", (const char *const[]){ "a", "b", NULL });
	expect_words("say \"hello world\" x", (const char *const[]){ "say", "hello world", "x", NULL });
	expect_words("--q=\"a b\"c d", (const char *const[]){ "--q=a bc", "d", NULL });
	expect_words("e \"\" f", (const char *const[]){ "e", "", "f", NULL });
	expect_words("e \"say \\\"hi\\\" \\\\o/\"",
	             (const char *const[]){ "e", "say \"hi\" \\o/", NULL });
	/* No shell: every other character is literal. */
	expect_words("a $HOME 'b c' * | ; \\n",
	             (const char *const[]){ "a", "$HOME", "'b", "c'", "*", "|", ";", "\\n", NULL });

	assert_int_equal(fetch_argv_split("a \"b", &argv, &cause), -1);
	assert_non_null(strstr(cause, "unterminated"));
	free(cause);
	assert_int_equal(fetch_argv_split("   ", &argv, &cause), -1);
	assert_non_null(strstr(cause, "no command"));
	free(cause);
	assert_null(argv);
}

/* --- extraction ---------------------------------------------------------------------------- */

static double value_of(const char *text, struct probe_extract x)
{
	double v = -999;
	char *cause = NULL;

	if (fetch_extract(text, strlen(text), 0, &x, &v, &cause) != 0)
		fail_msg("<%s>: %s", text, cause);
	return v;
}

static void expect_extract_error(const char *text, struct probe_extract x, const char *what)
{
	double v = -999;
	char *cause = NULL;

	if (fetch_extract(text, strlen(text), 0, &x, &v, &cause) == 0)
		fail_msg("<%s>: accepted as %g", text, v);
	if (cause == NULL || strstr(cause, what) == NULL)
		fail_msg("<%s>: cause '%s' does not mention '%s'", text, cause, what);
	assert_true(v == -999);
	free(cause);
}

/* The shape of `openclaw sessions --all-agents --json` (docs.openclaw.ai, cli/sessions). */
static const char openclaw_json[] =
	"{\"path\":null,\"stores\":[{\"agentId\":\"main\",\"path\":\"/x\"}],\"allAgents\":true,"
	"\"count\":5,\"activeMinutes\":30,\"sessions\":["
	"{\"agentId\":\"main\",\"key\":\"agent:main:main\",\"model\":\"gpt-5\"},"
	"{\"agentId\":\"work\",\"key\":\"agent:work:main\",\"model\":\"claude\"},"
	"{\"agentId\":\"main\",\"key\":\"agent:main:subagent:1f2e\",\"model\":\"m\"},"
	"{\"agentId\":\"main\",\"key\":\"agent:main:subagent:99aa\"},"
	"{\"agentId\":\"main\",\"key\":\"agent:main:telegram:dm:123\"},"
	"{\"agentId\":\"main\"},"
	"{\"agentId\":\"main\",\"key\":42}]}";

static void test_extract_json(void **state)
{
	(void)state;
	/* Plain numbers and bare JSON. */
	assert_true(value_of("3\n", (struct probe_extract){ 0 }) == 3);
	assert_true(value_of("  2.5 ", (struct probe_extract){ 0 }) == 2.5);
	assert_true(value_of("[1,2,3]", (struct probe_extract){ 0 }) == 3);
	assert_true(value_of("[]", (struct probe_extract){ 0 }) == 0);
	/* Paths to numbers and arrays. */
	assert_true(value_of(openclaw_json, (struct probe_extract){ .json_path = "count" }) == 5);
	assert_true(value_of(openclaw_json, (struct probe_extract){ .json_path = "sessions" }) == 7);
	assert_true(value_of("{\"data\":{\"items\":[{},{}]}}",
	                     (struct probe_extract){ .json_path = "data.items" }) == 2);
	assert_true(value_of("{\"result\":{\"details\":{\"sessions\":[{\"key\":\"a\"}]}}}",
	                     (struct probe_extract){ .json_path = "result.details.sessions" }) == 1);
	assert_true(value_of("{\"a\":[{\"b\":[7,8,9]},{\"b\":[4]}]}",
	                     (struct probe_extract){ .json_path = "a[0].b[2]" }) == 9);
	assert_true(value_of("[[1,2],[3]]", (struct probe_extract){ .json_path = "[0]" }) == 2);
	assert_true(value_of("[{\"n\":4}]", (struct probe_extract){ .json_path = "[0].n" }) == 4);

	/* Filters: the OpenClaw preset's two patterns. */
	assert_true(value_of(openclaw_json, (struct probe_extract){
		.json_path = "sessions", .filter_field = "key", .filter_match = ":subagent:" }) == 2);
	assert_true(value_of(openclaw_json, (struct probe_extract){
		.json_path = "sessions", .filter_field = "key",
		.filter_match = "^agent:[^:]+:main$" }) == 2);
	/* A nested field, and string elements without a field. */
	assert_true(value_of("[{\"m\":{\"k\":\"x1\"}},{\"m\":{\"k\":\"y\"}},{\"m\":3}]",
	                     (struct probe_extract){ .filter_field = "m.k", .filter_match = "^x" }) == 1);
	assert_true(value_of("{\"l\":[\"run\",\"idle\",\"run\",5]}",
	                     (struct probe_extract){ .json_path = "l", .filter_match = "^run$" }) == 2);

	expect_extract_error("{not json", (struct probe_extract){ .json_path = "a" }, "not valid JSON");
	expect_extract_error("sessions: 3", (struct probe_extract){ 0 }, "neither a number nor");
	expect_extract_error("{\"a\":1}", (struct probe_extract){ .json_path = "b" }, "no key 'b'");
	expect_extract_error("{\"a\":\"x\"}", (struct probe_extract){ .json_path = "a" }, "a string");
	expect_extract_error("{\"a\":{}}", (struct probe_extract){ .json_path = "a" }, "an object");
	expect_extract_error("{\"a\":[1]}", (struct probe_extract){ .json_path = "a[3]" }, "past the end");
	expect_extract_error("{\"a\":1}", (struct probe_extract){ .json_path = "a.b" }, "no object");
	expect_extract_error("{\"a\":1}", (struct probe_extract){ .json_path = "a[0]" }, "no array");
	expect_extract_error("{}", (struct probe_extract){ 0 }, "an object");
	expect_extract_error("", (struct probe_extract){ 0 }, "neither a number nor");
	expect_extract_error("[1]", (struct probe_extract){ .filter_match = "(" }, "bad filter_match");
	{
		const char nul[] = "3\0garbage";
		struct probe_extract x = { 0 };
		double v;
		char *cause = NULL;

		assert_int_equal(fetch_extract(nul, sizeof nul - 1, 0, &x, &v, &cause), -1);
		assert_non_null(strstr(cause, "NUL"));
		free(cause);
	}
}

static void test_path_check(void **state)
{
	static const char *const good[] = { "", "a", "a.b", "a[0]", "a[0][12].b", "[3]", "[0].x",
	                                    "result.details.sessions", "with-dash_and:colon", NULL };
	static const char *const bad[] = { ".a", "a.", "a..b", "a[", "a[x]", "a[1", "a]b", "a.[0]",
	                                   "a[-1]", NULL };
	char *cause = NULL;

	(void)state;
	for (size_t i = 0; good[i]; i++)
		if (fetch_path_check(good[i], &cause) != 0)
			fail_msg("'%s' refused: %s", good[i], cause);
	assert_int_equal(fetch_path_check(NULL, &cause), 0);
	for (size_t i = 0; bad[i]; i++) {
		if (fetch_path_check(bad[i], &cause) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(strstr(cause, "json_path"));
		free(cause);
	}
}

static void test_extract_csv_and_status(void **state)
{
	/* nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits */
	static const char two_gpus[] = "37, 8120, 24576\n91, 1024, 24576\n";
	struct probe_extract x = { .field = 1 };
	double v = -1;
	char *cause = NULL;

	(void)state;
	assert_true(value_of(two_gpus, x) == 91);                          /* the busiest GPU */
	x.field = 2;
	x.field_div = 3;
	assert_true(fabs(value_of(two_gpus, x) - 100.0 * 8120 / 24576) < 1e-9);
	assert_true(value_of("  5 , 10\n\n", (struct probe_extract){ .field = 2 }) == 10);
	expect_extract_error("[N/A], 1\n", (struct probe_extract){ .field = 1 },
	                     "column 1 is not a number");
	expect_extract_error("1, 2\n", (struct probe_extract){ .field = 3 }, "column 3");
	expect_extract_error("1, 0\n", (struct probe_extract){ .field = 1, .field_div = 2 }, "positive");
	expect_extract_error("\n \n", (struct probe_extract){ .field = 1 }, "no CSV lines");

	/* Exit status mode: 0 go, 1 hold, anything else is an error. */
	x = (struct probe_extract){ .exit_status = true };
	assert_int_equal(fetch_extract("ignored", 7, 0, &x, &v, &cause), 0);
	assert_true(v == 0);
	assert_int_equal(fetch_extract("", 0, 1, &x, &v, &cause), 0);
	assert_true(v == 1);
	assert_int_equal(fetch_extract("", 0, 2, &x, &v, &cause), -1);
	assert_non_null(strstr(cause, "status 2"));
	free(cause);
}

/* --- running ------------------------------------------------------------------------------- */

static struct fetch_job command_job(struct probe_fetch *f, char **argv, int64_t timeout_ms)
{
	*f = (struct probe_fetch){ .argv = argv, .timeout_ms = timeout_ms };
	return (struct fetch_job){ .type = PROBE_TYPE_COMMAND, .fetch = f };
}

static void test_run_commands(void **state)
{
	char *ok[] = { "sh", "-c", "echo 3; echo oops >&2", NULL };
	char *bad[] = { "sh", "-c", "echo 'no such agent' >&2; exit 4", NULL };
	char *missing[] = { "gov-test-no-such-command-xyz", NULL };
	char *daemon[] = { "sh", "-c", "sleep 20 & echo 5", NULL };
	char *huge[] = { "sh", "-c", "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done",
	                 NULL };
	struct probe_fetch f[5];
	struct fetch_job jobs[5];
	struct probe_extract x = { 0 };
	double v;
	char *cause = NULL;
	int64_t t0 = mono_ms();

	(void)state;
	jobs[0] = command_job(&f[0], ok, 5000);
	jobs[1] = command_job(&f[1], bad, 5000);
	jobs[2] = command_job(&f[2], missing, 5000);
	jobs[3] = command_job(&f[3], daemon, 5000);
	jobs[4] = command_job(&f[4], huge, 5000);
	fetch_all(-1, NULL, jobs, 5);
	assert_true(mono_ms() - t0 < 4000);   /* the daemon's sleep did not hold us */

	assert_null(jobs[0].error);
	assert_int_equal(jobs[0].status, 0);
	assert_string_equal(jobs[0].out, "3\n");
	assert_string_equal(jobs[0].diag, "oops");
	assert_int_equal(fetch_value(&jobs[0], &x, &v, &cause), 0);
	assert_true(v == 3);

	assert_null(jobs[1].error);
	assert_int_equal(jobs[1].status, 4);
	assert_int_equal(fetch_value(&jobs[1], &x, &v, &cause), -1);
	assert_string_equal(cause, "'sh' exited with status 4: no such agent");
	free(cause);

	assert_non_null(jobs[2].error);
	assert_non_null(strstr(jobs[2].error, "cannot run 'gov-test-no-such-command-xyz'"));
	assert_int_equal(fetch_value(&jobs[2], &x, &v, &cause), -1);
	free(cause);

	assert_null(jobs[3].error);
	assert_string_equal(jobs[3].out, "5\n");

	assert_non_null(jobs[4].error);
	assert_non_null(strstr(jobs[4].error, "larger than 1024 KiB"));
	for (int i = 0; i < 5; i++)
		fetch_job_release(&jobs[i]);
}

static void test_run_timeout_and_parallel(void **state)
{
	char *hang[] = { "sh", "-c", "echo partial; exec sleep 30", NULL };
	char *slow[] = { "sh", "-c", "sleep 0.3; echo 1", NULL };
	char *slow2[] = { "sh", "-c", "sleep 0.3; echo 2", NULL };
	char *slow3[] = { "sh", "-c", "sleep 0.3; echo 3", NULL };
	struct probe_fetch f[4];
	struct fetch_job jobs[4];
	int64_t t0 = mono_ms(), took;

	(void)state;
	jobs[0] = command_job(&f[0], hang, 300);
	fetch_all(-1, NULL, jobs, 1);
	took = mono_ms() - t0;
	assert_non_null(jobs[0].error);
	assert_string_equal(jobs[0].error, "'sh' timed out after 300ms");
	assert_true(took >= 300 && took < 1500);
	fetch_job_release(&jobs[0]);

	/* Three 0.3 s commands run at once: well under 0.9 s. */
	jobs[0] = command_job(&f[0], slow, 5000);
	jobs[1] = command_job(&f[1], slow2, 5000);
	jobs[2] = command_job(&f[2], slow3, 5000);
	t0 = mono_ms();
	fetch_all(-1, NULL, jobs, 3);
	took = mono_ms() - t0;
	assert_true(took < 800);
	for (int i = 0; i < 3; i++) {
		char want[4];

		snprintf(want, sizeof want, "%d\n", i + 1);
		assert_null(jobs[i].error);
		assert_string_equal(jobs[i].out, want);
		fetch_job_release(&jobs[i]);
	}
}

static int read_counter(const char *path)
{
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (fp != NULL) {
		if (fscanf(fp, "%d", &n) != 1)
			n = 0;
		fclose(fp);
	}
	return n;
}

static void test_cache_and_sharing(void **state)
{
	struct fixture *f = *state;
	char script[1024], counter[300];
	char *argv[] = { "sh", "-c", script, NULL };
	char *other[] = { "sh", "-c", script, "x", NULL };
	struct probe_fetch pf[3];
	struct fetch_job jobs[3];
	struct stat st;

	(void)state;
	snprintf(counter, sizeof counter, "%s/runs", f->dir);
	snprintf(script, sizeof script,
	         "n=$(cat '%s' 2>/dev/null || echo 0); echo $((n+1)) > '%s'; echo '[1,2]'", counter,
	         counter);

	/* Two jobs with the same fetch run once. */
	jobs[0] = command_job(&pf[0], argv, 5000);
	jobs[1] = command_job(&pf[1], argv, 5000);
	pf[0].cache_ttl_ms = pf[1].cache_ttl_ms = 60000;
	fetch_all(f->fd, NULL, jobs, 2);
	assert_int_equal(read_counter(counter), 1);
	assert_string_equal(jobs[0].out, "[1,2]\n");
	assert_string_equal(jobs[1].out, "[1,2]\n");
	assert_false(jobs[0].shared);
	assert_true(jobs[1].shared);
	fetch_job_release(&jobs[0]);
	fetch_job_release(&jobs[1]);

	/* The next snapshot is served from the cache: no run. */
	jobs[0] = command_job(&pf[0], argv, 5000);
	pf[0].cache_ttl_ms = 60000;
	fetch_all(f->fd, NULL, jobs, 1);
	assert_int_equal(read_counter(counter), 1);
	assert_true(jobs[0].cached);
	assert_string_equal(jobs[0].out, "[1,2]\n");
	fetch_job_release(&jobs[0]);
	{
		char name[64];

		snprintf(name, sizeof name, "source.%016llx.cache",
		         (unsigned long long)fetch_key(PROBE_TYPE_COMMAND, &pf[0]));
		assert_int_equal(fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0600);
	}

	/* Another argv is another fetch; no cache_ttl means no cache.  (One at a time: the
	 * counter script is not atomic.) */
	jobs[0] = command_job(&pf[0], other, 5000);
	pf[0].cache_ttl_ms = 60000;
	fetch_all(f->fd, NULL, jobs, 1);
	jobs[1] = command_job(&pf[1], argv, 5000);
	pf[1].cache_ttl_ms = 0;
	fetch_all(f->fd, NULL, jobs + 1, 1);
	assert_int_equal(read_counter(counter), 3);
	assert_false(jobs[0].cached || jobs[1].cached);
	fetch_job_release(&jobs[0]);
	fetch_job_release(&jobs[1]);

	/* An expired entry runs again. */
	usleep(120 * 1000);
	jobs[0] = command_job(&pf[0], argv, 5000);
	pf[0].cache_ttl_ms = 100;
	fetch_all(f->fd, NULL, jobs, 1);
	assert_int_equal(read_counter(counter), 4);
	assert_false(jobs[0].cached);
	fetch_job_release(&jobs[0]);

	/* A run that timed out is not cached. */
	{
		char *hang[] = { "sh", "-c", "sleep 5", NULL };

		jobs[0] = command_job(&pf[0], hang, 100);
		pf[0].cache_ttl_ms = 60000;
		fetch_all(f->fd, NULL, jobs, 1);
		assert_non_null(jobs[0].error);
		fetch_job_release(&jobs[0]);
		jobs[0] = command_job(&pf[0], hang, 100);
		fetch_all(f->fd, NULL, jobs, 1);
		assert_false(jobs[0].cached);
		assert_non_null(jobs[0].error);
		fetch_job_release(&jobs[0]);
	}
}

static void test_keys(void **state)
{
	char *a[] = { "x", "y z", NULL }, *b[] = { "x y", "z", NULL };
	const char *h1[] = { "A: 1", NULL };
	struct probe_fetch fa = { .argv = a }, fb = { .argv = b };
	struct probe_fetch ha = { .url = "http://h/", .method = "GET" }, hb = ha, hc = ha;

	(void)state;
	assert_true(fetch_key(PROBE_TYPE_COMMAND, &fa) != fetch_key(PROBE_TYPE_COMMAND, &fb));
	hb.headers = h1;
	hc.token_env = "T";
	assert_true(fetch_key(PROBE_TYPE_HTTP, &ha) != fetch_key(PROBE_TYPE_HTTP, &hb));
	assert_true(fetch_key(PROBE_TYPE_HTTP, &ha) != fetch_key(PROBE_TYPE_HTTP, &hc));
	/* The timeout and the cache_ttl are not part of the fetch's identity. */
	hb = ha;
	hb.timeout_ms = 5;
	hb.cache_ttl_ms = 7;
	assert_true(fetch_key(PROBE_TYPE_HTTP, &ha) == fetch_key(PROBE_TYPE_HTTP, &hb));
}

static void test_http_without_helper(void **state)
{
	struct probe_fetch f = { .url = "http://127.0.0.1:9/x?token=secret", .method = "GET",
	                         .timeout_ms = 500 };
	struct fetch_job job = { .type = PROBE_TYPE_HTTP, .fetch = &f };

	(void)state;
	fetch_all(-1, "/nonexistent/governor-http", &job, 1);
	assert_non_null(job.error);
	assert_non_null(strstr(job.error, "cannot run GET http://127.0.0.1:9/x"));
	assert_null(strstr(job.error, "secret"));     /* the query is never shown */
	fetch_job_release(&job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_split),
		cmocka_unit_test(test_extract_json),
		cmocka_unit_test(test_path_check),
		cmocka_unit_test(test_extract_csv_and_status),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_run_commands),
		cmocka_unit_test(test_run_timeout_and_parallel),
		cmocka_unit_test_setup_teardown(test_cache_and_sharing, setup, teardown),
		cmocka_unit_test(test_http_without_helper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
