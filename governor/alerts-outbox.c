/* alerts-outbox.c: the alert outbox (alerts/pending.json) as data and on disk, and its delivery
 * to the webhook; no ctx, nothing printed (alerts.h).  The triggers are in alerts.c. */
#include "governor/alerts.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "governor/cli.h"
#include "policy/policy.h"
#include "probes/fetch.h"
#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

/*
 * 1. Alerts are raised where the event is recorded, never guessed later: task_blocked by the
 *    commit that blocks the task (ctx_commit compares the statuses the transaction began with),
 *    starved and source_failing by check, which holds the decision lock while it updates the
 *    small state files, so two checks never count the same run twice.
 * 2. pending.json is replaced whole under pending.lock; readers (`governor alerts`, delivery)
 *    take no lock.  Nothing slow happens under the lock: delivery reads the outbox, posts with
 *    only sending.lock held, then takes pending.lock again to record what happened, so a
 *    process raising an alert never waits for a webhook.
 * 3. The unsent flag file lets check ask "anything to post?" with one fstatat.  It is created
 *    before the outbox it describes is written durably (that fsync of the directory covers
 *    it), and removed only after the outbox says nothing is unsent, so a crash leaves at worst
 *    a stale flag, which the next delivery clears.
 * 4. A posted alert is marked sent after the post; a crash in between posts it again later:
 *    at least once, never lost.
 * 5. The webhook URL's path is a secret (a Slack incoming webhook is only its URL), so
 *    messages show scheme and host only.
 */

#define LOCK_FILE "pending.lock"
#define SEND_LOCK_FILE "sending.lock"
#define UNSENT_FILE "unsent"
#define BAD_SUFFIX ".bad"
#define LOCK_WAIT_MS 5000

static const char *const kind_names[ALERT__KIND_COUNT] = {
	[ALERT_TASK_BLOCKED] = "task_blocked",
	[ALERT_STARVED] = "starved",
	[ALERT_SOURCE_FAILING] = "source_failing",
};

const char *alert_kind_name(enum alert_kind kind)
{
	return kind >= 0 && kind < ALERT__KIND_COUNT ? kind_names[kind] : "unknown";
}

/* --- building alerts ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
	         : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/*
 * Append s to the text of a: control characters become spaces, invalid UTF-8 becomes '?', and
 * what does not fit ends in "..." (cut between characters, never inside one).
 */
static void append(struct alert *a, const char *s)
{
	const size_t size = sizeof a->text;
	size_t o = strlen(a->text);
	int cut = o + strlen(s) >= size;
	const size_t limit = cut ? size - 4 : size - 1;    /* room for "..." when cut */
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = *p < 0x80 ? 1 : utf8_len(p), w = n ? n : 1;
		if (o + w > limit)
			break;
		if (n > 1)
			memcpy(a->text + o, p, n);
		else
			a->text[o] = n == 0 ? '?' : *p < 0x20 || *p == 0x7f ? ' ' : (char)*p;
		o += w;
		p += w;
	}
	a->text[o] = '\0';
	if (cut)
		memcpy(a->text + o, "...", 4);
}

static void appendf(struct alert *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void appendf(struct alert *a, const char *fmt, ...)
{
	char buf[ALERTS_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	append(a, buf);
}

static void start(struct alert *a, enum alert_kind kind, int64_t now)
{
	*a = (struct alert){ .kind = kind, .at = now };
}

/* An episode's start for an id, to the millisecond: two episodes of one second differ. */
static char *stamp(int64_t ms, char buf[TIME_RFC3339_MAX])
{
	char whole[TIME_RFC3339_MAX];
	time_format(ms, whole);
	whole[strcspn(whole, "Z")] = '\0';
	snprintf(buf, TIME_RFC3339_MAX, "%.40s.%03dZ", whole, (int)(((ms % 1000) + 1000) % 1000));
	return buf;
}

void alert_task_blocked(struct alert *a, const struct task *t, int64_t now)
{
	start(a, ALERT_TASK_BLOCKED, now);
	char at[TIME_RFC3339_MAX];
	task_id_format(t->id, a->task);
	/* Times are whole seconds: the attempts tell two blocks of one second apart. */
	snprintf(a->id, sizeof a->id, "task_blocked:%s:%s:%d", a->task,
	         time_format(t->finished_at ? t->finished_at : now, at),
	         cJSON_GetArraySize(t->attempts));
	if (t->max_retries > 0 && t->retries >= t->max_retries && t->last_error) {
		appendf(a, "governor: task %s blocked after %d failed attempt%s: ", a->task, t->retries,
		        t->retries == 1 ? "" : "s");
		append(a, t->last_error);
	} else {
		appendf(a, "governor: task %s blocked: ", a->task);
		append(a, t->blocked_reason ? t->blocked_reason : "blocked");
	}
}

/* "45s", "12m", "6h", "3d": how long, for people. */
static void span(int64_t ms, char *buf, size_t size)
{
	long long s = ms > 0 ? (long long)(ms / 1000) : 0;
	if (s < 120)
		snprintf(buf, size, "%llds", s);
	else if (s < 7200)
		snprintf(buf, size, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%lldh", s / 3600);
	else
		snprintf(buf, size, "%lldd", s / 86400);
}

void alert_starved(struct alert *a, int64_t since, int64_t now, size_t pending,
                   const char *reason, const char *detail)
{
	char how_long[32], at[TIME_RFC3339_MAX];
	start(a, ALERT_STARVED, now);
	snprintf(a->id, sizeof a->id, "starved:%s", stamp(since, at));
	span(now - since, how_long, sizeof how_long);
	appendf(a, "governor: lane starved: %zu task%s pending and none started for %s (since %s)",
	        pending, pending == 1 ? "" : "s", how_long, time_format(since, at));
	if (reason && *reason) {
		appendf(a, "; last deferral: %s", reason);
		if (detail && *detail)
			appendf(a, " (%s)", detail);
	}
}

void alert_source_failing(struct alert *a, const char *source, int count, int64_t since,
                          const char *error, int64_t now)
{
	char at[TIME_RFC3339_MAX];
	start(a, ALERT_SOURCE_FAILING, now);
	snprintf(a->source, sizeof a->source, "%s", source);
	snprintf(a->id, sizeof a->id, "source_failing:%s:%s", a->source, stamp(since, at));
	appendf(a, "governor: source %s failed %d time%s running", a->source, count,
	        count == 1 ? "" : "s");
	if (error && *error) {
		append(a, ": ");
		append(a, error);
	}
}

/* --- the outbox as data ---------------------------------------------------------------------- */

static const char *string_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_sent(const cJSON *alert)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(alert, "sent"));
}

/* What is wrong with an element of an outbox, or NULL. */
static const char *bad_alert(const cJSON *e)
{
	const char *s;
	int64_t at;
	size_t keys = 0;
	if (!cJSON_IsObject(e))
		return "not an object";
	for (const cJSON *k = e->child; k; k = k->next) {
		if (++keys > 64)
			return "more than 64 keys";
		for (const cJSON *l = k->next; l; l = l->next)
			if (strcmp(k->string, l->string) == 0)
				return "a key appears twice";
	}
	if (!(s = string_of(e, "id")) || !*s)
		return "no \"id\" string";
	if (!string_of(e, "kind"))
		return "no \"kind\" string";
	if (!string_of(e, "text"))
		return "no \"text\" string";
	if (!(s = string_of(e, "at")) || time_parse(s, &at) < 0)
		return "no \"at\" time (RFC 3339)";
	if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(e, "sent")))
		return "no \"sent\" boolean";
	return NULL;
}

int alerts_parse(const char *text, size_t len, cJSON **outbox, char **cause)
{
	const char *why;
	size_t blank = 0, i = 0;
	const cJSON *e;

	*outbox = NULL;
	while (blank < len && isspace((unsigned char)text[blank]))
		blank++;
	if (blank == len) {
		if (!(*outbox = cJSON_CreateArray()))
			*cause = strdup("out of memory");
		return *outbox ? 0 : -1;
	}
	if (queue_json_has_nul(text, len)) {
		*cause = strdup("it contains a NUL character");
		return -1;
	}
	const char *end = NULL;
	cJSON *box = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	while (box && end < text + len && isspace((unsigned char)*end))
		end++;
	if (!cJSON_IsArray(box) || end != text + len) {
		*cause = strdup(box && end == text + len ? "it is not a JSON array" : "it is not valid JSON");
		cJSON_Delete(box);
		return -1;
	}
	cJSON_ArrayForEach(e, box) {
		i++;
		if ((why = bad_alert(e))) {
			*cause = dupf("alert %zu: %s", i, why);
			cJSON_Delete(box);
			return -1;
		}
	}
	*outbox = box;
	return 0;
}

char *alerts_format(const cJSON *outbox)
{
	size_t len = 2, cap = 256;
	char *buf = malloc(cap);
	const cJSON *e;
	if (!buf)
		return NULL;
	memcpy(buf, "[\n", 2);
	cJSON_ArrayForEach(e, outbox) {
		char *one = cJSON_PrintUnformatted(e);
		size_t n = one ? strlen(one) : 0;
		if (!one || len + n + 8 > cap) {
			while (one && len + n + 8 > cap)
				cap *= 2;
			char *grown = one ? realloc(buf, cap) : NULL;
			if (!grown) {
				cJSON_free(one);
				free(buf);
				return NULL;
			}
			buf = grown;
		}
		memcpy(buf + len, one, n);
		len += n;
		if (e->next)
			buf[len++] = ',';
		buf[len++] = '\n';
		cJSON_free(one);
	}
	if (len == 2)
		len = 1;                  /* "[]" */
	memcpy(buf + len, "]\n", 3);
	return buf;
}

int alerts_add(cJSON *outbox, const struct alert *a, const char *host)
{
	char at[TIME_RFC3339_MAX];
	const cJSON *e;
	cJSON_ArrayForEach(e, outbox) {
		const char *id = string_of(e, "id");
		if (id && strcmp(id, a->id) == 0)
			return 0;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "id", a->id) ||
	    !cJSON_AddStringToObject(o, "kind", alert_kind_name(a->kind)) ||
	    !cJSON_AddStringToObject(o, "at", time_format(a->at, at)) ||
	    !cJSON_AddStringToObject(o, "text", a->text) ||
	    (a->task[0] && !cJSON_AddStringToObject(o, "task", a->task)) ||
	    (a->source[0] && !cJSON_AddStringToObject(o, "source", a->source)) ||
	    (host && *host && !cJSON_AddStringToObject(o, "host", host)) ||
	    !cJSON_AddFalseToObject(o, "sent") || !cJSON_AddItemToArray(outbox, o)) {
		cJSON_Delete(o);
		return -1;
	}
	return 1;
}

size_t alerts_trim(cJSON *outbox, size_t max)
{
	size_t dropped = 0;
	while ((size_t)cJSON_GetArraySize(outbox) > max) {
		cJSON *victim = outbox->child, *e;
		for (e = outbox->child; e; e = e->next)
			if (is_sent(e)) {
				victim = e;
				break;
			}
		cJSON_Delete(cJSON_DetachItemViaPointer(outbox, victim));
		dropped++;
	}
	return dropped;
}

size_t alerts_unsent(const cJSON *outbox)
{
	size_t n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, outbox)
		n += !is_sent(e);
	return n;
}

/* Set key of o to item (replacing the old value); 0, or -1 (item freed). */
static int set_item(cJSON *o, const char *key, cJSON *item)
{
	if (!item)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(o, key, item) ? 0 : (cJSON_Delete(item), -1);
	return cJSON_AddItemToObject(o, key, item) ? 0 : (cJSON_Delete(item), -1);
}

int alerts_mark(cJSON *outbox, const char *id, int64_t now, const char *error)
{
	char at[TIME_RFC3339_MAX];
	cJSON *e;
	cJSON_ArrayForEach(e, outbox) {
		const char *eid = string_of(e, "id");
		if (!eid || strcmp(eid, id) != 0)
			continue;
		time_format(now, at);
		if (!error)
			return set_item(e, "sent", cJSON_CreateTrue()) < 0 ||
			       set_item(e, "sent_at", cJSON_CreateString(at)) < 0 ? -1 : 0;
		const cJSON *tries = cJSON_GetObjectItemCaseSensitive(e, "tries");
		double n = cJSON_IsNumber(tries) && tries->valuedouble >= 0 ? tries->valuedouble : 0;
		return set_item(e, "tries", cJSON_CreateNumber(n + 1)) < 0 ||
		       set_item(e, "tried_at", cJSON_CreateString(at)) < 0 ||
		       set_item(e, "error", cJSON_CreateString(error)) < 0 ? -1 : 0;
	}
	return -1;
}

char *alerts_payload(const char *text)
{
	cJSON *o = cJSON_CreateObject();
	char *printed = o && cJSON_AddStringToObject(o, "text", text) ? cJSON_PrintUnformatted(o) : NULL;
	char *body = printed ? strdup(printed) : NULL;
	cJSON_free(printed);
	cJSON_Delete(o);
	return body;
}

const char *alerts_url_problem(const char *url)
{
	if (!*url)
		return NULL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return "expected http://... or https://... (or nothing: no webhook)";
	for (const unsigned char *c = (const unsigned char *)url; *c; c++)
		if (isspace(*c) || iscntrl(*c))
			return "a url cannot contain white space or control characters";
	const char *host = strstr(url, "://") + 3;
	size_t authority = strcspn(host, "/?#");
	if (authority == 0)
		return "the url names no host";
	if (memchr(host, '@', authority))
		return "a url may not carry credentials (user:password@)";
	return NULL;
}

char *alerts_url_redact(const char *url)
{
	const char *host = strstr(url, "://");
	if (!host)
		return strdup(url);
	host += 3;
	size_t end = (size_t)(host - url) + strcspn(host, "/?#");
	char *out = malloc(end + 5);
	if (!out)
		return NULL;
	memcpy(out, url, end);
	strcpy(out + end, url[end] ? "/..." : "");
	return out;
}

/* --- the outbox on disk ---------------------------------------------------------------------- */

int alerts_open_dir(int statefd, int create, char **cause)
{
	struct stat st;
	int created = create && mkdirat(statefd, ALERTS_DIR, 0700) == 0;
	if (create && !created && errno != EEXIST) {
		*cause = dupf("cannot create '%s' in the state dir: %s", ALERTS_DIR, strerror(errno));
		return -1;
	}
	if (created)
		fsync(statefd);           /* the outbox inside must not vanish with its directory */
	int fd = openat(statefd, ALERTS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT && !create)
			return -1;
		if (fstatat(statefd, ALERTS_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			*cause = dupf("cannot open '%s': it is a symbolic link, which governor does not "
			              "follow; remove it", ALERTS_DIR);
		else
			*cause = dupf("cannot open '%s' in the state dir: %s", ALERTS_DIR, strerror(err));
		errno = err == ENOENT ? EIO : err;
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		*cause = dupf("cannot use '%s': owned by another user or writable by group or others; "
		              "fix with: chown %u %s && chmod 700 %s", ALERTS_DIR, (unsigned)geteuid(),
		              ALERTS_DIR, ALERTS_DIR);
		errno = EPERM;
		return -1;
	}
	return fd;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* flock name in dirfd, waiting at most wait_ms: its fd, or -1 (errno EWOULDBLOCK: busy). */
static int lock_file(int dirfd, const char *name, long wait_ms)
{
	int fd = statedir_openat(dirfd, name, O_RDWR | O_CREAT);
	if (fd < 0)
		return -1;
	for (long waited = 0;; waited += 5) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= wait_ms)
			break;
		sleep_ms(5);
	}
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* The outbox in dirfd: 0, -1 (cannot read: *cause), or -2 (corrupt: *cause says how). */
static int load(int dirfd, cJSON **outbox, char **cause)
{
	char *text, *why = NULL;
	size_t len;
	if (statedir_read(dirfd, ALERTS_FILE, ALERTS_FILE_MAX, &text, &len) < 0) {
		if (errno == ENOENT)
			return alerts_parse("", 0, outbox, cause);
		if (errno == EFBIG) {
			*cause = dupf("it is larger than %zu MiB", ALERTS_FILE_MAX >> 20);
			return -2;
		}
		char buf[256];
		*cause = dupf("cannot read '%s/%s': %s", ALERTS_DIR, ALERTS_FILE,
		              statedir_why(dirfd, ALERTS_FILE, errno, buf, sizeof buf));
		return -1;
	}
	int rc = alerts_parse(text, len, outbox, &why);
	free(text);
	if (rc < 0) {
		*cause = why;
		return -2;
	}
	return 0;
}

static int store(int dirfd, const cJSON *outbox, char **cause)
{
	char *text = alerts_format(outbox);
	if (!text || statedir_replace(dirfd, ALERTS_FILE, text, strlen(text), STATEDIR_DURABLE) < 0) {
		*cause = dupf("cannot write '%s/%s': %s", ALERTS_DIR, ALERTS_FILE,
		              text ? strerror(errno) : "out of memory");
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

/* Make the unsent flag say whether outbox holds an unsent alert.  0, or -1 (errno). */
static int flag_unsent(int dirfd, const cJSON *outbox)
{
	if (!alerts_unsent(outbox))
		return unlinkat(dirfd, UNSENT_FILE, 0) == 0 || errno == ENOENT ? 0 : -1;
	int fd = statedir_openat(dirfd, UNSENT_FILE, O_WRONLY | O_CREAT);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int alerts_raise(int statefd, const char *host, const struct alert *a, size_t n, char **note,
                 char **cause)
{
	char *why = NULL;
	cJSON *box = NULL;
	int added = 0, lockfd = -1, dirfd = alerts_open_dir(statefd, 1, cause);

	*note = NULL;
	if (dirfd < 0)
		return -1;
	if ((lockfd = lock_file(dirfd, LOCK_FILE, LOCK_WAIT_MS)) < 0) {
		*cause = dupf("cannot lock '%s/%s': %s", ALERTS_DIR, LOCK_FILE,
		              errno == EWOULDBLOCK ? "another governor held it for 5 s" : strerror(errno));
		goto fail;
	}
	int rc = load(dirfd, &box, &why);
	if (rc == -2) {
		/* Not ours to repair, nor to lose: keep it for a person, and start a new outbox. */
		if (renameat(dirfd, ALERTS_FILE, dirfd, ALERTS_FILE BAD_SUFFIX) < 0) {
			*cause = dupf("the alert outbox '%s/%s' is corrupt (%s) and cannot be moved aside: %s",
			              ALERTS_DIR, ALERTS_FILE, why, strerror(errno));
			free(why);
			goto fail;
		}
		*note = dupf("the alert outbox '%s/%s' was corrupt (%s); it was moved to '%s/%s%s' and "
		             "a new one started", ALERTS_DIR, ALERTS_FILE, why, ALERTS_DIR, ALERTS_FILE,
		             BAD_SUFFIX);
		free(why);
		rc = alerts_parse("", 0, &box, cause);
	} else if (rc < 0) {
		*cause = why;
	}
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		int r = alerts_add(box, &a[i], host);
		if (r < 0) {
			*cause = strdup("out of memory");
			goto fail;
		}
		added += r;
	}
	if (added) {
		alerts_trim(box, ALERTS_MAX);
		if (flag_unsent(dirfd, box) < 0) {
			*cause = dupf("cannot create '%s/%s': %s", ALERTS_DIR, UNSENT_FILE, strerror(errno));
			goto fail;
		}
		if (store(dirfd, box, cause) < 0)
			goto fail;
	}
	cJSON_Delete(box);
	close(lockfd);
	close(dirfd);
	return added;
fail:
	cJSON_Delete(box);
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	return -1;
}

static int corrupt(char **cause, char *why)
{
	*cause = dupf("the alert outbox '%s/%s' is corrupt: %s; it was left as it is", ALERTS_DIR,
	              ALERTS_FILE, why);
	free(why);
	return -2;
}

int alerts_read(int statefd, cJSON **outbox, char **cause)
{
	char *why = NULL;
	int dirfd = alerts_open_dir(statefd, 0, cause);
	*outbox = NULL;
	if (dirfd < 0)
		return errno == ENOENT ? alerts_parse("", 0, outbox, cause) : -1;
	int rc = load(dirfd, outbox, &why);
	close(dirfd);
	if (rc == -2)
		return corrupt(cause, why);
	if (rc < 0)
		*cause = why;
	return rc;
}

int alerts_clear(int statefd, int dry_run, cJSON **removed, char **cause)
{
	char *why = NULL;
	cJSON *empty = NULL;
	int lockfd, rc = -1, dirfd;

	if (dry_run)
		return alerts_read(statefd, removed, cause);
	*removed = NULL;
	if ((dirfd = alerts_open_dir(statefd, 0, cause)) < 0)
		return errno == ENOENT ? alerts_parse("", 0, removed, cause) : -1;
	if ((lockfd = lock_file(dirfd, LOCK_FILE, LOCK_WAIT_MS)) < 0) {
		*cause = dupf("cannot lock '%s/%s': %s", ALERTS_DIR, LOCK_FILE,
		              errno == EWOULDBLOCK ? "another governor held it for 5 s" : strerror(errno));
		close(dirfd);
		return -1;
	}
	int loaded = load(dirfd, removed, &why);
	if (loaded == -2)
		rc = corrupt(cause, why);
	else if (loaded < 0)
		*cause = why;
	else if (cJSON_GetArraySize(*removed) == 0 ||
	         (alerts_parse("", 0, &empty, cause) == 0 && store(dirfd, empty, cause) == 0))
		rc = 0;
	if (rc == 0 && unlinkat(dirfd, UNSENT_FILE, 0) < 0 && errno != ENOENT) {
		*cause = dupf("cannot remove '%s/%s': %s", ALERTS_DIR, UNSENT_FILE, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		cJSON_Delete(*removed);
		*removed = NULL;
	}
	cJSON_Delete(empty);
	close(lockfd);
	close(dirfd);
	return rc;
}

/* msg with the webhook's URL (as fetch.c shows it: no query, at most 120 bytes) redacted. */
static char *scrub(const char *msg, const char *url)
{
	size_t n = strcspn(url, "?#");
	char *shown = alerts_url_redact(url), *out;
	const char *at = NULL;
	if (n > 120)
		n = 120;
	for (const char *p = msg; n && (p = strstr(p, "http")); p++)
		if (strncmp(p, url, n) == 0) {
			at = p;
			break;
		}
	if (!shown || !at) {
		free(shown);
		return strdup(msg);
	}
	out = dupf("%.*s%s%s", (int)(at - msg), msg, shown, at + n);
	free(shown);
	return out;
}

/* POST {"text":text} to url: NULL when the server answered 2xx, else why not (caller frees). */
static char *post(const char *url, const char *helper, const char *text)
{
	char *body = alerts_payload(text), *err = NULL;
	if (!body)
		return strdup("out of memory");
	struct probe_fetch f = {
		.url = url, .method = "POST", .body = body, .timeout_ms = ALERTS_POST_TIMEOUT_MS,
	};
	struct fetch_job job = { .type = PROBE_TYPE_HTTP, .fetch = &f };
	fetch_all(-1, helper, &job, 1);
	if (job.error)
		err = scrub(job.error, url);
	else if (job.status < 200 || job.status > 299)
		err = dupf("HTTP %d", job.status);
	fetch_job_release(&job);
	free(body);
	return err;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct outcome {
	char *id;
	char *error;                  /* NULL: sent */
};

/* Record the outcomes under pending.lock and bring the unsent flag up to date.  0 or -1. */
static int record(int dirfd, const struct outcome *o, size_t n, char **cause)
{
	cJSON *box = NULL;
	char *why = NULL;
	int lockfd = lock_file(dirfd, LOCK_FILE, LOCK_WAIT_MS), rc = -1, changed = 0;
	if (lockfd < 0) {
		*cause = dupf("cannot lock '%s/%s': %s", ALERTS_DIR, LOCK_FILE, strerror(errno));
		return -1;
	}
	int loaded = load(dirfd, &box, &why);
	if (loaded < 0) {
		if (loaded == -2)
			corrupt(cause, why);
		else
			*cause = why;
		goto out;
	}
	int64_t now = time_now_ms();
	for (size_t i = 0; i < n; i++)
		changed |= alerts_mark(box, o[i].id, now, o[i].error) == 0;   /* gone: cleared meanwhile */
	if ((changed && store(dirfd, box, cause) < 0))
		goto out;
	if (flag_unsent(dirfd, box) < 0) {
		*cause = dupf("cannot update '%s/%s': %s", ALERTS_DIR, UNSENT_FILE, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(box);
	close(lockfd);
	return rc;
}

int alerts_deliver(int statefd, const char *url, const char *helper, char **failure)
{
	struct outcome o[ALERTS_POST_MAX];
	struct stat st;
	cJSON *box = NULL;
	char *why = NULL;
	size_t n = 0;
	int sent = 0, sendfd, dirfd;

	*failure = NULL;
	if (fstatat(statefd, ALERTS_DIR "/" UNSENT_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;                 /* the common case: nothing to post */
	if ((dirfd = alerts_open_dir(statefd, 0, failure)) < 0)
		return 0;
	if ((sendfd = lock_file(dirfd, SEND_LOCK_FILE, 0)) < 0) {
		if (errno != EWOULDBLOCK)  /* busy: another process is posting them */
			*failure = dupf("cannot lock '%s/%s': %s", ALERTS_DIR, SEND_LOCK_FILE, strerror(errno));
		close(dirfd);
		return 0;
	}
	int loaded = load(dirfd, &box, &why);
	if (loaded < 0) {
		if (loaded == -2)
			corrupt(failure, why);
		else
			*failure = why;
		goto out;
	}
	int64_t began = mono_ms();
	const cJSON *e;
	cJSON_ArrayForEach(e, box) {
		if (is_sent(e))
			continue;
		if (n == ALERTS_POST_MAX || (n && mono_ms() - began >= ALERTS_POST_BUDGET_MS))
			break;
		o[n].id = strdup(string_of(e, "id"));
		o[n].error = o[n].id ? post(url, helper, string_of(e, "text")) : NULL;
		if (!o[n].id)
			break;
		sent += !o[n].error;
		if (o[n++].error)
			break;
	}
	if (record(dirfd, o, n, &why) < 0)
		*failure = why;
	for (size_t i = 0; i < n; i++) {
		if (o[i].error && !*failure)
			*failure = strdup(o[i].error);
		free(o[i].id);
		free(o[i].error);
	}
out:
	cJSON_Delete(box);
	close(sendfd);
	close(dirfd);
	return sent;
}
