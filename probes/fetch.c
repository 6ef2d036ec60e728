/* fetch.c: run command and HTTP sources with timeouts, cache their output, extract a number. */
#define _GNU_SOURCE /* pipe2 */
#include "probes/fetch.h"
#include "probes/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

extern char **environ;

/*
 * 1. Runs are concurrent: every job is started, then one poll() loop drains their pipes until
 *    each has exited or passed its deadline, so N slow sources cost the slowest one, not the sum.
 * 2. Each run is its own process group (POSIX_SPAWN_SETPGROUP); a timeout kills the whole group
 *    with SIGKILL and waits a bounded time for the leader.  When the leader exits while a
 *    descendant still holds the pipe, the output so far is used after a short grace and the
 *    group is killed: a daemonising CLI cannot hold governor.
 * 3. SIGPIPE, which governor ignores, is reset to the default in the child, and the child's
 *    signal mask is emptied.  Every descriptor of ours is close-on-exec, so the child inherits
 *    only its three standard ones.
 * 4. No SIGALRM, no itimer, no SIGCHLD handler: `check` owns ITIMER_REAL for its lock
 *    watchdog.  Deadlines are on CLOCK_MONOTONIC; a child's exit wakes poll() through a pidfd
 *    (Linux 5.3+; without one the loop looks again every millisecond).
 * 5. The cache stores the raw output, not the number, so sources that share a fetch but read it
 *    differently (background and interactive counts from one `openclaw sessions` run) share it.
 *    Only successes are stored (exit status 0, HTTP 2xx): the token is not part of the key, so
 *    a cached 401 would outlive the fix of a wrong token, and a failing CLI should be retried.
 */

#define EXIT_GRACE_NS (200 * 1000000LL)   /* leader gone, pipe still open: wait this long */
#define REAP_WAIT_MS 1000                 /* after SIGKILL, wait at most this for the leader */
#define HELPER_GRACE_MS 1000              /* the helper enforces the timeout; this is a backstop */
#define CACHE_MAGIC "governor-fetch v1"

/* --- argv ---------------------------------------------------------------------------------- */

void fetch_argv_free(char **argv)
{
	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

int fetch_argv_split(const char *s, char ***out, char **cause)
{
	char **argv = NULL, *word = NULL;
	size_t n = 0, wlen = 0;
	const char *p = s;

	*out = NULL;
	word = malloc(strlen(s) + 1);
	if (word == NULL)
		return probe_fail(cause, "out of memory");
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		wlen = 0;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p != '"') {
				word[wlen++] = *p++;
				continue;
			}
			for (p++; *p != '"'; p++) {
				if (*p == '\0') {
					free(word);
					fetch_argv_free(argv);
					return probe_fail(cause, "unterminated double quote in '%s'", s);
				}
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				word[wlen++] = *p;
			}
			p++;
		}
		char **grown = realloc(argv, (n + 2) * sizeof *argv);
		char *copy = grown ? malloc(wlen + 1) : NULL;

		if (grown)
			argv = grown;
		if (copy == NULL) {
			free(word);
			fetch_argv_free(argv);
			return probe_fail(cause, "out of memory");
		}
		memcpy(copy, word, wlen);
		copy[wlen] = '\0';
		argv[n++] = copy;
		argv[n] = NULL;
	}
	free(word);
	if (n == 0) {
		free(argv);
		return probe_fail(cause, "no command words in '%s'", s);
	}
	*out = argv;
	return 0;
}

/* --- JSON paths ---------------------------------------------------------------------------- */

/*
 * Follow path from root (NULL: check the syntax only).  *found receives the node; 0, or -1 with
 * a message in err.
 */
static int walk_path(const cJSON *root, const char *path, const cJSON **found, char *err,
                     size_t errsize)
{
	const cJSON *cur = root;
	const char *p = path ? path : "";
	char key[256];

	while (*p != '\0') {
		if (*p != '[') {
			size_t len = strcspn(p, ".[]");

			if (len == 0 || len >= sizeof key) {
				snprintf(err, errsize, "bad json_path '%s': %s at offset %zu", path,
				         len ? "key too long" : "empty key", (size_t)(p - path));
				return -1;
			}
			memcpy(key, p, len);
			key[len] = '\0';
			p += len;
			if (root != NULL) {
				if (!cJSON_IsObject(cur)) {
					snprintf(err, errsize, "json_path '%s': no object to find '%s' in", path,
					         key);
					return -1;
				}
				cur = cJSON_GetObjectItemCaseSensitive(cur, key);
				if (cur == NULL) {
					snprintf(err, errsize, "json_path '%s': no key '%s'", path, key);
					return -1;
				}
			}
		}
		while (*p == '[') {
			char *end;
			unsigned long idx;

			if (!isdigit((unsigned char)p[1])) {
				snprintf(err, errsize, "bad json_path '%s': expected [N] at offset %zu", path,
				         (size_t)(p - path));
				return -1;
			}
			errno = 0;
			idx = strtoul(p + 1, &end, 10);
			if (*end != ']' || errno != 0 || idx > INT_MAX) {
				snprintf(err, errsize, "bad json_path '%s': expected [N] at offset %zu", path,
				         (size_t)(p - path));
				return -1;
			}
			p = end + 1;
			if (root != NULL) {
				if (!cJSON_IsArray(cur)) {
					snprintf(err, errsize, "json_path '%s': no array to index [%lu]", path, idx);
					return -1;
				}
				cur = cJSON_GetArrayItem(cur, (int)idx);
				if (cur == NULL) {
					snprintf(err, errsize, "json_path '%s': index [%lu] is past the end", path,
					         idx);
					return -1;
				}
			}
		}
		if (*p == '.') {
			p++;
			if (*p == '\0' || *p == '.' || *p == '[') {
				snprintf(err, errsize, "bad json_path '%s': empty key at offset %zu", path,
				         (size_t)(p - path));
				return -1;
			}
		} else if (*p != '\0') {
			snprintf(err, errsize, "bad json_path '%s': unexpected '%c' at offset %zu", path, *p,
			         (size_t)(p - path));
			return -1;
		}
	}
	*found = cur;
	return 0;
}

int fetch_path_check(const char *path, char **cause)
{
	const cJSON *unused;
	char err[320];

	if (walk_path(NULL, path, &unused, err, sizeof err) == -1)
		return probe_fail(cause, "%s", err);
	return 0;
}

static const char *json_type_name(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsObject(j))
		return "an object";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	return "something else";
}

/* --- extraction ---------------------------------------------------------------------------- */

/* A number filling text (blanks around it allowed); 0 or -1. */
static int plain_number(const char *text, double *v)
{
	char *end;
	double d;

	while (isspace((unsigned char)*text))
		text++;
	if (*text == '\0')
		return -1;
	errno = 0;
	d = strtod(text, &end);
	if (end == text || errno != 0 || !isfinite(d))
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return -1;
	*v = d;
	return 0;
}

/* The trimmed column col (1-based) of one CSV line into buf. */
static int csv_column(const char *line, size_t len, int col, char *buf, size_t size)
{
	const char *p = line, *end = line + len;

	for (int c = 1; c < col; c++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));

		if (comma == NULL)
			return -1;
		p = comma + 1;
	}
	const char *stop = memchr(p, ',', (size_t)(end - p));

	if (stop == NULL)
		stop = end;
	while (p < stop && isspace((unsigned char)*p))
		p++;
	while (stop > p && isspace((unsigned char)stop[-1]))
		stop--;
	if ((size_t)(stop - p) >= size)
		return -1;
	memcpy(buf, p, (size_t)(stop - p));
	buf[stop - p] = '\0';
	return 0;
}

static int extract_csv(const char *text, const struct probe_extract *x, double *value,
                       char **cause)
{
	double best = NAN;
	int lineno = 0;

	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char a[64], b[64];
		double va, vb, v;
		int blank = 1;

		for (size_t i = 0; i < len; i++)
			if (!isspace((unsigned char)p[i]))
				blank = 0;
		if (!blank) {
			lineno++;
			if (csv_column(p, len, x->field, a, sizeof a) == -1 || plain_number(a, &va) == -1)
				return probe_fail(cause, "line %d: column %d is not a number", lineno,
				                  x->field);
			v = va;
			if (x->field_div > 0) {
				if (csv_column(p, len, x->field_div, b, sizeof b) == -1 ||
				    plain_number(b, &vb) == -1 || !(vb > 0))
					return probe_fail(cause, "line %d: column %d is not a positive number",
					                  lineno, x->field_div);
				v = 100.0 * va / vb;
			}
			if (isnan(best) || v > best)
				best = v;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (isnan(best))
		return probe_fail(cause, "printed no CSV lines");
	*value = best;
	return 0;
}

static int count_array(const cJSON *arr, const struct probe_extract *x, double *value,
                       char **cause)
{
	regex_t re;
	const cJSON *el;
	double n = 0;
	int rc;

	if (x->filter_match == NULL || x->filter_match[0] == '\0') {
		*value = cJSON_GetArraySize(arr);
		return 0;
	}
	rc = regcomp(&re, x->filter_match, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[128];

		regerror(rc, &re, msg, sizeof msg);
		return probe_fail(cause, "bad filter_match '%s': %s", x->filter_match, msg);
	}
	cJSON_ArrayForEach(el, arr) {
		const cJSON *field = el;
		char err[16];

		if (x->filter_field != NULL && x->filter_field[0] != '\0' &&
		    walk_path(el, x->filter_field, &field, err, sizeof err) == -1)
			continue;
		if (cJSON_IsString(field) && regexec(&re, field->valuestring, 0, NULL, 0) == 0)
			n++;
	}
	regfree(&re);
	*value = n;
	return 0;
}

int fetch_extract(const char *text, size_t len, int status, const struct probe_extract *x,
                  double *value, char **cause)
{
	const bool has_path = x->json_path != NULL && x->json_path[0] != '\0';
	const cJSON *node;
	cJSON *doc;
	char err[320];
	int rc;

	if (x->exit_status) {
		if (status != 0 && status != 1)
			return probe_fail(cause, "exited with status %d (expected 0 = go or 1 = hold)",
			                  status);
		*value = status;
		return 0;
	}
	if (strlen(text) != len)
		return probe_fail(cause, "output contains a NUL byte");
	if (x->field > 0)
		return extract_csv(text, x, value, cause);
	if (!has_path && plain_number(text, value) == 0)
		return 0;
	doc = cJSON_ParseWithLength(text, len);
	if (doc == NULL)
		return probe_fail(cause, has_path ? "output is not valid JSON"
		                                  : "output is neither a number nor valid JSON");
	if (walk_path(doc, x->json_path, &node, err, sizeof err) == -1) {
		cJSON_Delete(doc);
		return probe_fail(cause, "%s", err);
	}
	if (cJSON_IsNumber(node) && isfinite(node->valuedouble)) {
		*value = node->valuedouble;
		rc = 0;
	} else if (cJSON_IsArray(node)) {
		rc = count_array(node, x, value, cause);
	} else {
		rc = probe_fail(cause, "%s%s%s is %s, not a number or an array",
		                has_path ? "json_path '" : "the document",
		                has_path ? x->json_path : "", has_path ? "'" : "",
		                json_type_name(node));
	}
	cJSON_Delete(doc);
	return rc;
}

/* --- keys and the cache -------------------------------------------------------------------- */

static void fnv(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 1099511628211ULL;
	}
}

static void fnv_str(uint64_t *h, const char *s)
{
	if (s != NULL)
		fnv(h, s, strlen(s));
	fnv(h, s ? "\1" : "\2", 1);   /* "" and NULL differ; fields cannot run together */
}

uint64_t fetch_key(enum probe_type type, const struct probe_fetch *f)
{
	uint64_t h = 14695981039346656037ULL;
	unsigned char t = (unsigned char)type;

	fnv(&h, &t, 1);
	if (type == PROBE_TYPE_COMMAND) {
		for (size_t i = 0; f->argv != NULL && f->argv[i] != NULL; i++)
			fnv_str(&h, f->argv[i]);
	} else {
		fnv_str(&h, f->method);
		fnv_str(&h, f->url);
		fnv_str(&h, f->body);
		for (size_t i = 0; f->headers != NULL && f->headers[i] != NULL; i++)
			fnv_str(&h, f->headers[i]);
		fnv(&h, "token", 5);
		fnv_str(&h, f->token_env);
	}
	return h;
}

static void cache_name(uint64_t key, char *buf, size_t size)
{
	snprintf(buf, size, "source.%016" PRIx64 ".cache", key);
}

/* A cached result younger than the job's cache_ttl; 0 when one was loaded into job. */
static int cache_load(int statefd, uint64_t key, struct fetch_job *job)
{
	char name[64], magic[32];
	char *data = NULL;
	size_t len;
	long long stored, status;
	unsigned long long blen;
	int used = 0;
	int64_t now = probe_wall_ms();

	cache_name(key, name, sizeof name);
	if (probe_state_read(statefd, name, FETCH_OUTPUT_MAX + 256, &data, &len) == -1)
		return -1;
	if (sscanf(data, "%31[a-z-] v1 %lld %lld %llu\n%n", magic, &stored, &status, &blen, &used) != 4 ||
	    used == 0 || strcmp(magic, "governor-fetch") != 0 || (size_t)used + blen != len ||
	    stored > now || now - stored >= job->fetch->cache_ttl_ms || status < INT_MIN ||
	    status > INT_MAX) {
		free(data);
		return -1;
	}
	memmove(data, data + used, blen);
	data[blen] = '\0';
	job->out = data;
	job->len = blen;
	job->status = (int)status;
	job->cached = true;
	return 0;
}

static void cache_store(int statefd, uint64_t key, const struct fetch_job *job)
{
	char name[64], head[128];
	char *buf;
	int hl;

	cache_name(key, name, sizeof name);
	hl = snprintf(head, sizeof head, CACHE_MAGIC " %" PRId64 " %d %zu\n", probe_wall_ms(),
	              job->status, job->len);
	if (hl <= 0 || (size_t)hl >= sizeof head || (buf = malloc((size_t)hl + job->len)) == NULL)
		return;
	memcpy(buf, head, (size_t)hl);
	memcpy(buf + hl, job->out, job->len);
	probe_state_replace(statefd, name, buf, (size_t)hl + job->len);
	free(buf);
}

/* --- the helper ---------------------------------------------------------------------------- */

char *fetch_find_helper(void)
{
	char self[PATH_MAX], path[PATH_MAX + 128];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(path, sizeof path, "%s/" FETCH_HELPER_NAME, self);
			if (access(path, X_OK) == 0)
				return strdup(path);
#ifdef GOVERNOR_LIBEXECDIR_REL
			/* PREFIX/bin/governor and PREFIX/libexec/governor/: an install moved elsewhere */
			if (GOVERNOR_LIBEXECDIR_REL[0] != '/' &&
			    snprintf(path, sizeof path, "%s/../" GOVERNOR_LIBEXECDIR_REL "/"
			             FETCH_HELPER_NAME, self) < (int)sizeof path &&
			    access(path, X_OK) == 0)
				return strdup(path);
#endif
		}
	}
#ifdef GOVERNOR_LIBEXECDIR
	snprintf(path, sizeof path, "%s/" FETCH_HELPER_NAME, GOVERNOR_LIBEXECDIR);
	if (access(path, X_OK) == 0)
		return strdup(path);
#endif
	return NULL;
}

/* The request the helper reads on stdin (probes/http-helper.c). */
static char *helper_request(const struct probe_fetch *f)
{
	cJSON *req = cJSON_CreateObject(), *headers;
	char *text = NULL;

	if (req == NULL)
		return NULL;
	if (cJSON_AddStringToObject(req, "method", f->method ? f->method : "GET") &&
	    cJSON_AddStringToObject(req, "url", f->url) &&
	    (f->body == NULL || cJSON_AddStringToObject(req, "body", f->body)) &&
	    (headers = cJSON_AddArrayToObject(req, "headers")) != NULL &&
	    (f->token_env == NULL || cJSON_AddStringToObject(req, "token_env", f->token_env)) &&
	    cJSON_AddNumberToObject(req, "timeout_ms", (double)f->timeout_ms) &&
	    cJSON_AddNumberToObject(req, "max_bytes", FETCH_OUTPUT_MAX)) {
		int ok = 1;

		for (size_t i = 0; ok && f->headers != NULL && f->headers[i] != NULL; i++)
			ok = cJSON_AddItemToArray(headers, cJSON_CreateString(f->headers[i]));
		if (ok)
			text = cJSON_PrintUnformatted(req);
	}
	cJSON_Delete(req);
	return text;
}

/* The URL without its query and fragment, for messages. */
static void url_for_message(const char *url, char *buf, size_t size)
{
	size_t n = strcspn(url, "?#");

	if (n > 120)
		n = 120;
	snprintf(buf, size, "%.*s", (int)n, url);
}

/* --- running ------------------------------------------------------------------------------- */

struct run {
	struct fetch_job *job;
	uint64_t key;
	int leader;                   /* index of the job that runs this fetch (itself if first) */
	pid_t pid;
	int out_fd, err_fd;
	int pid_fd;                   /* readable once the child has exited, or -1 */
	char *buf;
	size_t len, cap;
	char err[512];
	size_t elen;
	int64_t started_ns, deadline_ns, exited_ns;
	int state;                    /* RUN_* */
	int wstatus;
	int spawn_errno;
	int timed_out, too_big;
};

enum { RUN_IDLE, RUN_ACTIVE, RUN_EXITED, RUN_DONE };

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* SIGKILL the run's process group and reap the leader, waiting at most REAP_WAIT_MS. */
static void kill_run(struct run *r)
{
	kill(-r->pid, SIGKILL);
	kill(r->pid, SIGKILL);
	if (r->state == RUN_EXITED)
		return;
	for (int waited = 0; waited <= REAP_WAIT_MS; waited += 5) {
		pid_t got = waitpid(r->pid, &r->wstatus, WNOHANG);

		if (got == r->pid || (got == -1 && errno != EINTR))
			break;
		sleep_ms(5);
	}
}

/* Write all of text to fd (a pipe to the child) with SIGPIPE ignored; 0 or -1. */
static int feed(int fd, const char *text, size_t len)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	size_t done = 0;

	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	sigaction(SIGPIPE, &old, NULL);
	return done == len ? 0 : -1;
}

static int start_run(struct run *r, const char *helper)
{
	const struct probe_fetch *f = r->job->fetch;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	char *helper_argv[] = { (char *)helper, NULL };
	char *const *argv = r->job->type == PROBE_TYPE_HTTP ? helper_argv : f->argv;
	char *request = NULL;
	int rc;

	if (r->job->type == PROBE_TYPE_HTTP) {
		if (helper == NULL) {
			r->spawn_errno = ENOENT;
			return -1;
		}
		if ((request = helper_request(f)) == NULL || pipe2(in, O_CLOEXEC) == -1) {
			r->spawn_errno = request ? errno : ENOMEM;
			free(request);
			return -1;
		}
	}
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1) {
		r->spawn_errno = errno;
		close_fd(&out[0]);
		close_fd(&out[1]);
		close_fd(&in[0]);
		close_fd(&in[1]);
		free(request);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	if (in[0] >= 0)
		posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGQUIT);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGHUP);
	sigaddset(&dflt, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                POSIX_SPAWN_SETSIGDEF);
	r->started_ns = probe_mono_ns();
	if (r->job->type == PROBE_TYPE_HTTP)
		rc = posix_spawn(&r->pid, helper, &fa, &attr, argv, environ);
	else
		rc = posix_spawnp(&r->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&in[0]);
	if (rc != 0) {
		r->spawn_errno = rc;
		close_fd(&out[0]);
		close_fd(&err[0]);
		close_fd(&in[1]);
		free(request);
		return -1;
	}
	if (request != NULL) {
		feed(in[1], request, strlen(request)); /* a helper that died is noticed by its exit */
		close_fd(&in[1]);
		free(request);
	}
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK);
	r->out_fd = out[0];
	r->err_fd = err[0];
	r->pid_fd = pidfd_open(r->pid, 0);     /* -1 on old kernels: poll every millisecond */
	if (r->pid_fd >= 0)
		fcntl(r->pid_fd, F_SETFD, FD_CLOEXEC);
	r->deadline_ns = r->started_ns + f->timeout_ms * 1000000LL +
	                 (r->job->type == PROBE_TYPE_HTTP ? HELPER_GRACE_MS * 1000000LL : 0);
	r->state = RUN_ACTIVE;
	return 0;
}

/* Read what fd has; 0 at EOF (fd closed), 1 when more may come. */
static int drain(struct run *r, int *fd, int is_out)
{
	char tmp[16384];

	for (;;) {
		ssize_t n = read(*fd, tmp, sizeof tmp);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 1;
		if (n <= 0) {
			close_fd(fd);
			return 0;
		}
		if (!is_out) {
			size_t room = sizeof r->err - 1 - r->elen;
			size_t take = (size_t)n < room ? (size_t)n : room;

			memcpy(r->err + r->elen, tmp, take);
			r->elen += take;
			r->err[r->elen] = '\0';
			continue;
		}
		if (r->len + (size_t)n > FETCH_OUTPUT_MAX) {
			r->too_big = 1;
			return 0;
		}
		if (r->len + (size_t)n + 1 > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			char *p;

			while (cap < r->len + (size_t)n + 1)
				cap *= 2;
			if ((p = realloc(r->buf, cap)) == NULL) {
				r->too_big = 1;
				return 0;
			}
			r->buf = p;
			r->cap = cap;
		}
		memcpy(r->buf + r->len, tmp, (size_t)n);
		r->len += (size_t)n;
	}
}

static void finish(struct run *r)
{
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
	close_fd(&r->pid_fd);
	r->state = RUN_DONE;
}

/* One pass of the loop: poll every open pipe until the nearest deadline, then advance runs. */
struct poll_set {
	struct pollfd *pfd;           /* 3 per run: stdout, stderr, pidfd */
	struct run **owner;
	int *is_out;
};

static void step(struct run *runs, size_t n, struct poll_set *ps)
{
	struct pollfd *pfd = ps->pfd;
	struct run **owner = ps->owner;
	int *is_out = ps->is_out;
	size_t np = 0;
	int64_t now = probe_mono_ns(), wait_ns = 1000 * 1000000LL;

	for (size_t i = 0; i < n; i++) {
		struct run *r = &runs[i];
		int64_t until;

		if (r->state != RUN_ACTIVE && r->state != RUN_EXITED)
			continue;
		until = r->deadline_ns - now;
		if (r->state == RUN_EXITED && r->exited_ns + EXIT_GRACE_NS - now < until)
			until = r->exited_ns + EXIT_GRACE_NS - now;
		if (r->state == RUN_ACTIVE && r->pid_fd < 0 && until > 1000000)
			until = 1000000;          /* no pidfd: look for its exit every millisecond */
		if (r->state == RUN_ACTIVE && r->pid_fd >= 0) {
			pfd[np] = (struct pollfd){ .fd = r->pid_fd, .events = POLLIN };
			owner[np] = r;
			is_out[np++] = -1;
		}
		if (until < wait_ns)
			wait_ns = until;
		if (r->out_fd >= 0) {
			pfd[np] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
			owner[np] = r;
			is_out[np++] = 1;
		}
		if (r->err_fd >= 0) {
			pfd[np] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
			owner[np] = r;
			is_out[np++] = 0;
		}
	}
	if (wait_ns < 0)
		wait_ns = 0;
	if (poll(pfd, np, (int)((wait_ns + 999999) / 1000000)) > 0) {
		for (size_t k = 0; k < np; k++)
			if (pfd[k].revents != 0 && is_out[k] >= 0)
				drain(owner[k], is_out[k] ? &owner[k]->out_fd : &owner[k]->err_fd, is_out[k]);
	}
	now = probe_mono_ns();
	for (size_t i = 0; i < n; i++) {
		struct run *r = &runs[i];

		if (r->state != RUN_ACTIVE && r->state != RUN_EXITED)
			continue;
		if (r->too_big) {
			kill_run(r);
			finish(r);
			continue;
		}
		if (r->state == RUN_ACTIVE && waitpid(r->pid, &r->wstatus, WNOHANG) == r->pid) {
			r->state = RUN_EXITED;
			r->exited_ns = now;
		}
		if (r->state == RUN_EXITED) {
			if (r->out_fd < 0 && r->err_fd < 0) {
				finish(r);
			} else if (now >= r->exited_ns + EXIT_GRACE_NS || now >= r->deadline_ns) {
				/* A descendant holds the pipe: take what was printed, end the group. */
				if (r->out_fd >= 0)
					drain(r, &r->out_fd, 1);
				kill(-r->pid, SIGKILL);
				finish(r);
			}
		} else if (now >= r->deadline_ns) {
			r->timed_out = 1;
			kill_run(r);
			finish(r);
		}
	}
}

/* The first line of the child's stderr, trimmed, into diag. */
static void first_line(const char *text, char *diag, size_t size)
{
	while (isspace((unsigned char)*text))
		text++;
	size_t n = strcspn(text, "\r\n");

	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(diag, text, n);
	diag[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (iscntrl((unsigned char)diag[i]))
			diag[i] = '?';
}

static void format_timeout(int64_t ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, size, "%lldms", (long long)ms);
}

/* Turn a finished run into its job's outputs; 1 when the result may be cached. */
static int conclude(struct run *r, const char *helper)
{
	struct fetch_job *job = r->job;
	const struct probe_fetch *f = job->fetch;
	char what[160], limit[32];
	char *cause = NULL;

	if (job->type == PROBE_TYPE_HTTP) {
		char url[128];

		url_for_message(f->url, url, sizeof url);
		snprintf(what, sizeof what, "%s %s", f->method ? f->method : "GET", url);
	} else {
		snprintf(what, sizeof what, "'%s'", f->argv[0]);
	}
	first_line(r->err, job->diag, sizeof job->diag);
	if (r->buf != NULL)
		r->buf[r->len] = '\0';       /* cap > len always (drain) */
	format_timeout(f->timeout_ms, limit, sizeof limit);
	if (r->state == RUN_IDLE) {
		if (job->type == PROBE_TYPE_HTTP && helper == NULL)
			probe_fail(&cause, "%s: cannot find the " FETCH_HELPER_NAME " helper", what);
		else
			probe_fail(&cause, "cannot run %s: %s", what, strerror(r->spawn_errno));
	} else if (r->timed_out) {
		probe_fail(&cause, "%s timed out after %s", what, limit);
	} else if (r->too_big) {
		probe_fail(&cause, "%s: output larger than %d KiB", what, FETCH_OUTPUT_MAX / 1024);
	} else if (WIFSIGNALED(r->wstatus)) {
		probe_fail(&cause, "%s was killed by signal %d", what, WTERMSIG(r->wstatus));
	} else if (job->type == PROBE_TYPE_HTTP) {
		/* "status N\n<body>" or "error <message>\n" (http-helper.c) */
		int used = 0, status = 0;
		char *nl = r->buf ? memchr(r->buf, '\n', r->len) : NULL;

		if (nl != NULL && sscanf(r->buf, "status %d%n", &status, &used) == 1 &&
		    r->buf + used == nl && status >= 100 && status <= 999 &&
		    WEXITSTATUS(r->wstatus) == 0) {
			size_t body = r->len - (size_t)(nl + 1 - r->buf);

			memmove(r->buf, nl + 1, body);
			r->buf[body] = '\0';
			job->status = status;
			job->out = r->buf;
			job->len = body;
			r->buf = NULL;
			return 1;
		}
		if (nl != NULL && strncmp(r->buf, "error ", 6) == 0) {
			*nl = '\0';
			probe_fail(&cause, "%s: %s", what, r->buf + 6);
		} else {
			probe_fail(&cause, "%s: " FETCH_HELPER_NAME " failed (exit %d)%s%s", what,
			           WEXITSTATUS(r->wstatus), job->diag[0] ? ": " : "", job->diag);
		}
	} else {
		job->status = WEXITSTATUS(r->wstatus);
		if (r->buf == NULL && (r->buf = calloc(1, 1)) == NULL) {
			probe_fail(&cause, "out of memory");
		} else {
			r->buf[r->len] = '\0';
			job->out = r->buf;
			job->len = r->len;
			r->buf = NULL;
			return 1;
		}
	}
	job->error = cause ? cause : strdup("out of memory");
	return 0;
}

int fetch_value(const struct fetch_job *job, const struct probe_extract *x, double *value,
                char **cause)
{
	const struct probe_fetch *f = job->fetch;
	char what[160];
	char *why = NULL;
	int rc;

	if (job->error != NULL)
		return probe_fail(cause, "%s", job->error);
	if (job->type == PROBE_TYPE_HTTP) {
		char url[128];

		url_for_message(f->url, url, sizeof url);
		snprintf(what, sizeof what, "%s %s", f->method ? f->method : "GET", url);
		if (job->status < 200 || job->status > 299)
			return probe_fail(cause, "%s: HTTP %d", what, job->status);
	} else {
		snprintf(what, sizeof what, "'%s'", f->argv[0]);
		if (job->status != 0 && !x->exit_status)
			return probe_fail(cause, "%s exited with status %d%s%s", what, job->status,
			                  job->diag[0] ? ": " : "", job->diag);
	}
	rc = fetch_extract(job->out ? job->out : "", job->len, job->status, x, value, &why);
	if (rc == -1) {
		probe_fail(cause, "%s: %s", what, why ? why : "out of memory");
		free(why);
	}
	return rc;
}

void fetch_job_release(struct fetch_job *job)
{
	free(job->out);
	free(job->error);
	job->out = job->error = NULL;
	job->len = 0;
}

static void copy_result(struct fetch_job *to, const struct fetch_job *from)
{
	to->status = from->status;
	to->cached = from->cached;
	to->shared = true;
	memcpy(to->diag, from->diag, sizeof to->diag);
	if (from->error != NULL) {
		to->error = strdup(from->error);
	} else if ((to->out = malloc(from->len + 1)) != NULL) {
		memcpy(to->out, from->out, from->len + 1);
		to->len = from->len;
	} else {
		probe_fail(&to->error, "out of memory");
	}
}

void fetch_all(int statefd, const char *helper, struct fetch_job *jobs, size_t n)
{
	struct run *runs;
	struct poll_set ps;
	char *found = NULL;
	int need_helper = 0;

	if (n == 0)
		return;
	runs = calloc(n, sizeof *runs);
	ps.pfd = calloc(3 * n, sizeof *ps.pfd);
	ps.owner = calloc(3 * n, sizeof *ps.owner);
	ps.is_out = calloc(3 * n, sizeof *ps.is_out);
	if (runs == NULL || ps.pfd == NULL || ps.owner == NULL || ps.is_out == NULL) {
		for (size_t i = 0; i < n; i++)
			probe_fail(&jobs[i].error, "out of memory");
		free(runs);
		free(ps.pfd);
		free(ps.owner);
		free(ps.is_out);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct run *r = &runs[i];

		r->job = &jobs[i];
		r->out_fd = r->err_fd = r->pid_fd = -1;
		r->key = fetch_key(jobs[i].type, jobs[i].fetch);
		r->leader = (int)i;
		for (size_t j = 0; j < i; j++)
			if (runs[j].leader == (int)j && runs[j].key == r->key &&
			    jobs[j].type == jobs[i].type) {
				r->leader = (int)j;
				break;
			}
		jobs[i].diag[0] = '\0';
		if (r->leader != (int)i)
			continue;
		if (statefd >= 0 && jobs[i].fetch->cache_ttl_ms > 0 &&
		    cache_load(statefd, r->key, &jobs[i]) == 0) {
			r->state = RUN_DONE;
			continue;
		}
		if (jobs[i].type == PROBE_TYPE_HTTP)
			need_helper = 1;
	}
	if (need_helper && helper == NULL)
		helper = found = fetch_find_helper();
	for (size_t i = 0; i < n; i++) {
		struct run *r = &runs[i];

		if (r->leader == (int)i && r->state == RUN_IDLE)
			start_run(r, helper);
	}
	for (;;) {
		int active = 0;

		for (size_t i = 0; i < n; i++)
			active |= runs[i].state == RUN_ACTIVE || runs[i].state == RUN_EXITED;
		if (!active)
			break;
		step(runs, n, &ps);
	}
	for (size_t i = 0; i < n; i++) {
		struct run *r = &runs[i];

		if (r->leader != (int)i || jobs[i].cached)
			continue;
		if (conclude(r, helper) && statefd >= 0 && jobs[i].fetch->cache_ttl_ms > 0 &&
		    (jobs[i].type == PROBE_TYPE_HTTP ? jobs[i].status >= 200 && jobs[i].status <= 299
		                                     : jobs[i].status == 0))
			cache_store(statefd, r->key, &jobs[i]);
		free(r->buf);
	}
	for (size_t i = 0; i < n; i++)
		if (runs[i].leader != (int)i)
			copy_result(&jobs[i], &jobs[runs[i].leader]);
	free(runs);
	free(ps.pfd);
	free(ps.owner);
	free(ps.is_out);
	free(found);
}
