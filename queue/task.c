/* task.c: the task model, its validation, and its JSON form. */
#include "queue/task.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "queue/timefmt.h"

static const char *const status_names[TASK__STATUS_COUNT] = {
	"pending", "claimed", "running", "done", "blocked", "cancelled", "skipped",
};

const char *task_status_name(enum task_status s)
{
	return (unsigned)s < TASK__STATUS_COUNT ? status_names[s] : "?";
}

int task_status_parse(const char *name)
{
	for (int i = 0; i < TASK__STATUS_COUNT; i++)
		if (strcmp(name, status_names[i]) == 0)
			return i;
	return -1;
}

char *task_id_format(unsigned long id, char buf[TASK_ID_MAX])
{
	snprintf(buf, TASK_ID_MAX, "T-%02lu", id);
	return buf;
}

int task_id_parse(const char *s, unsigned long *id)
{
	if ((s[0] == 'T' || s[0] == 't') && s[1] == '-')
		s += 2;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || errno || v == 0)
		return -1;
	*id = v;
	return 0;
}

int task_priority_parse(const char *s, int *priority)
{
	static const struct { const char *name; int value; } names[] = {
		{ "low", TASK_PRIORITY_LOW }, { "normal", TASK_PRIORITY_NORMAL }, { "high", TASK_PRIORITY_HIGH },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0) {
			*priority = names[i].value;
			return 0;
		}
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < TASK_PRIORITY_MIN || v > TASK_PRIORITY_MAX)
		return -1;
	*priority = (int)v;
	return 0;
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is not valid UTF-8. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len;
	unsigned min;
	unsigned cp;
	if ((p[0] & 0xE0) == 0xC0) { len = 2; min = 0x80; cp = p[0] & 0x1F; }
	else if ((p[0] & 0xF0) == 0xE0) { len = 3; min = 0x800; cp = p[0] & 0x0F; }
	else if ((p[0] & 0xF8) == 0xF0) { len = 4; min = 0x10000; cp = p[0] & 0x07; }
	else return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

int task_prompt_check(const char *prompt, size_t len, const char **why)
{
	const unsigned char *p = (const unsigned char *)prompt;
	int blank = 1;

	if (len > TASK_PROMPT_MAX) {
		*why = "prompt is longer than 65536 bytes";
		return -1;
	}
	for (size_t i = 0; i < len;) {
		if (p[i] == 0) {
			*why = "prompt contains a NUL byte";
			return -1;
		}
		size_t n = utf8_seq(p + i, len - i);
		if (n == 0) {
			*why = "prompt is not valid UTF-8";
			return -1;
		}
		if (!(n == 1 && isspace(p[i])))
			blank = 0;
		i += n;
	}
	if (blank) {
		*why = "prompt is empty";
		return -1;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct task *task_new(const char *prompt, int priority, const char *model, const char *source,
                      int max_retries, int64_t now)
{
	struct task *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->prompt = strdup(prompt);
	t->priority = priority;
	t->model = dup_or_null(model);
	t->source = dup_or_null(source);
	t->status = TASK_PENDING;
	t->max_retries = max_retries;
	t->added_at = t->updated_at = now;
	t->metadata = cJSON_CreateObject();
	t->attempts = cJSON_CreateArray();
	if (!t->prompt || (model && !t->model) || (source && !t->source) || !t->metadata ||
	    !t->attempts) {
		task_free(t);
		return NULL;
	}
	return t;
}

void task_free(struct task *t)
{
	if (!t)
		return;
	free(t->prompt);
	free(t->model);
	free(t->host);
	free(t->source);
	free(t->last_error);
	free(t->blocked_reason);
	free(t->result);
	cJSON_Delete(t->metadata);
	cJSON_Delete(t->attempts);
	cJSON_Delete(t->extra);
	free(t);
}

/* --- JSON ------------------------------------------------------------------------------- */

static int add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[TIME_RFC3339_MAX];
	return (ms ? cJSON_AddStringToObject(o, key, time_format(ms, buf))
	           : cJSON_AddNullToObject(o, key)) != NULL;
}

static int add_string(cJSON *o, const char *key, const char *s)
{
	return (s ? cJSON_AddStringToObject(o, key, s) : cJSON_AddNullToObject(o, key)) != NULL;
}

static int add_id(cJSON *o, const char *key, unsigned long id)
{
	char buf[TASK_ID_MAX];
	return (id ? cJSON_AddStringToObject(o, key, task_id_format(id, buf))
	           : cJSON_AddNullToObject(o, key)) != NULL;
}

static int add_copy(cJSON *o, const char *key, const cJSON *v)
{
	cJSON *c = cJSON_Duplicate(v, 1);
	return c && cJSON_AddItemToObject(o, key, c);
}

cJSON *task_to_json(const struct task *t)
{
	char id[TASK_ID_MAX];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	int ok = cJSON_AddStringToObject(o, "id", task_id_format(t->id, id)) &&
	         cJSON_AddStringToObject(o, "prompt", t->prompt) &&
	         cJSON_AddNumberToObject(o, "priority", t->priority) &&
	         add_string(o, "model", t->model) &&
	         cJSON_AddStringToObject(o, "status", task_status_name(t->status)) &&
	         add_time(o, "added_at", t->added_at) &&
	         add_time(o, "updated_at", t->updated_at) &&
	         add_string(o, "source", t->source) &&
	         add_copy(o, "metadata", t->metadata) &&
	         cJSON_AddNumberToObject(o, "retries", t->retries) &&
	         cJSON_AddNumberToObject(o, "max_retries", t->max_retries) &&
	         add_time(o, "claimed_at", t->claimed_at) &&
	         add_time(o, "claim_expires_at", t->claim_expires_at) &&
	         add_time(o, "started_at", t->started_at) &&
	         add_time(o, "lease_expires_at", t->lease_expires_at) &&
	         add_time(o, "finished_at", t->finished_at) &&
	         add_time(o, "eligible_at", t->eligible_at) &&
	         add_id(o, "after", t->after) &&
	         add_string(o, "result", t->result) &&
	         add_string(o, "last_error", t->last_error) &&
	         add_string(o, "blocked_reason", t->blocked_reason) &&
	         add_string(o, "host", t->host) &&
	         add_copy(o, "attempts", t->attempts);
	for (const cJSON *e = t->extra ? t->extra->child : NULL; ok && e; e = e->next)
		ok = add_copy(o, e->string, e);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

struct reader {
	const cJSON *obj;
	cJSON *seen;          /* names of the keys read, to find the unknown ones */
	char *cause;
	const char *id;       /* for messages */
};

static int bad(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct reader *r, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	if (r->cause)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char full[320];
	snprintf(full, sizeof full, "task %s: %s", r->id ? r->id : "(no id)", msg);
	r->cause = strdup(full);
	return -1;
}

static const cJSON *field(struct reader *r, const char *key)
{
	cJSON_AddItemToArray(r->seen, cJSON_CreateString(key));
	return cJSON_GetObjectItemCaseSensitive(r->obj, key);
}

static int read_string(struct reader *r, const char *key, int required, char **out)
{
	const cJSON *v = field(r, key);
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return bad(r, "missing \"%s\"", key);
		*out = NULL;
		return 0;
	}
	if (!cJSON_IsString(v))
		return bad(r, "\"%s\" is not a string", key);
	if (!(*out = strdup(v->valuestring)))
		return bad(r, "out of memory");
	return 0;
}

static int read_int(struct reader *r, const char *key, long min, long max, int dflt, int *out)
{
	const cJSON *v = field(r, key);
	if (!v || cJSON_IsNull(v)) {
		*out = dflt;
		return 0;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < (double)min || v->valuedouble > (double)max)
		return bad(r, "\"%s\" is not an integer in [%ld, %ld]", key, min, max);
	*out = (int)v->valuedouble;
	return 0;
}

static int read_time(struct reader *r, const char *key, int required, int64_t *out)
{
	const cJSON *v = field(r, key);
	*out = 0;
	if (!v || cJSON_IsNull(v))
		return required ? bad(r, "missing \"%s\"", key) : 0;
	if (!cJSON_IsString(v) || time_parse(v->valuestring, out) < 0)
		return bad(r, "\"%s\" is not an RFC 3339 time", key);
	return 0;
}

static int read_id(struct reader *r, const char *key, unsigned long *out)
{
	const cJSON *v = field(r, key);
	*out = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || task_id_parse(v->valuestring, out) < 0)
		return bad(r, "\"%s\" is not a task id", key);
	return 0;
}

static int read_tree(struct reader *r, const char *key, int want_array, cJSON **out)
{
	const cJSON *v = field(r, key);
	if (!v || cJSON_IsNull(v))
		*out = want_array ? cJSON_CreateArray() : cJSON_CreateObject();
	else if (want_array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))
		return bad(r, "\"%s\" is not an %s", key, want_array ? "array" : "object");
	else
		*out = cJSON_Duplicate(v, 1);
	return *out ? 0 : bad(r, "out of memory");
}

/* Keys of obj that were not read, kept so a newer writer's fields survive our rewrite. */
static cJSON *unknown_keys(const cJSON *obj, const cJSON *seen)
{
	cJSON *extra = NULL;
	for (const cJSON *e = obj->child; e; e = e->next) {
		int known = 0;
		for (const cJSON *s = seen->child; s && !known; s = s->next)
			known = strcmp(s->valuestring, e->string) == 0;
		if (known)
			continue;
		if (!extra && !(extra = cJSON_CreateObject()))
			return NULL;
		cJSON_AddItemToObject(extra, e->string, cJSON_Duplicate(e, 1));
	}
	return extra;
}

struct task *task_from_json(const cJSON *obj, char **cause)
{
	struct reader r = { .obj = obj };
	struct task *t = calloc(1, sizeof *t);
	char *s = NULL;
	const char *why;

	if (!t || !(r.seen = cJSON_CreateArray())) {
		free(t);
		*cause = strdup("out of memory");
		return NULL;
	}
	if (!cJSON_IsObject(obj)) {
		bad(&r, "is not an object");
		goto fail;
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
	if (cJSON_IsString(id))
		r.id = id->valuestring;
	if (read_string(&r, "id", 1, &s) < 0)
		goto fail;
	if (task_id_parse(s, &t->id) < 0 || strncmp(s, "T-", 2) != 0) {
		bad(&r, "\"id\" is not of the form T-NN");
		goto fail;
	}
	free(s);
	s = NULL;
	if (read_string(&r, "status", 1, &s) < 0)
		goto fail;
	int st = task_status_parse(s);
	if (st < 0) {
		bad(&r, "unknown status \"%s\"", s);
		goto fail;
	}
	t->status = (enum task_status)st;
	free(s);
	s = NULL;
	if (read_string(&r, "prompt", 1, &t->prompt) < 0)
		goto fail;
	if (task_prompt_check(t->prompt, strlen(t->prompt), &why) < 0) {
		bad(&r, "%s", why);
		goto fail;
	}
	if (read_int(&r, "priority", TASK_PRIORITY_MIN, TASK_PRIORITY_MAX, TASK_PRIORITY_NORMAL,
	             &t->priority) < 0 ||
	    read_string(&r, "model", 0, &t->model) < 0 ||
	    read_string(&r, "source", 0, &t->source) < 0 ||
	    read_tree(&r, "metadata", 0, &t->metadata) < 0 ||
	    read_int(&r, "retries", 0, 1000000, 0, &t->retries) < 0 ||
	    read_int(&r, "max_retries", 0, 1000000, 3, &t->max_retries) < 0 ||
	    read_time(&r, "added_at", 1, &t->added_at) < 0 ||
	    read_time(&r, "updated_at", 0, &t->updated_at) < 0 ||
	    read_time(&r, "claimed_at", 0, &t->claimed_at) < 0 ||
	    read_time(&r, "claim_expires_at", 0, &t->claim_expires_at) < 0 ||
	    read_time(&r, "started_at", 0, &t->started_at) < 0 ||
	    read_time(&r, "lease_expires_at", 0, &t->lease_expires_at) < 0 ||
	    read_time(&r, "finished_at", 0, &t->finished_at) < 0 ||
	    read_time(&r, "eligible_at", 0, &t->eligible_at) < 0 ||
	    read_id(&r, "after", &t->after) < 0 ||
	    read_string(&r, "result", 0, &t->result) < 0 ||
	    read_string(&r, "last_error", 0, &t->last_error) < 0 ||
	    read_string(&r, "blocked_reason", 0, &t->blocked_reason) < 0 ||
	    read_string(&r, "host", 0, &t->host) < 0 ||
	    read_tree(&r, "attempts", 1, &t->attempts) < 0)
		goto fail;
	t->extra = unknown_keys(obj, r.seen);
	cJSON_Delete(r.seen);
	return t;
fail:
	free(s);
	cJSON_Delete(r.seen);
	task_free(t);
	*cause = r.cause ? r.cause : strdup("invalid task");
	return NULL;
}

int task_attempt_begin(struct task *t, int64_t now)
{
	char buf[TIME_RFC3339_MAX];
	cJSON *a = cJSON_CreateObject();
	if (!a || !cJSON_AddStringToObject(a, "started_at", time_format(now, buf)) ||
	    !cJSON_AddNullToObject(a, "ended_at") || !cJSON_AddNullToObject(a, "outcome") ||
	    !cJSON_AddNullToObject(a, "error")) {
		cJSON_Delete(a);
		return -1;
	}
	return cJSON_AddItemToArray(t->attempts, a) ? 0 : -1;
}

int task_attempt_end(struct task *t, int64_t now, const char *outcome, const char *error)
{
	char buf[TIME_RFC3339_MAX];
	int n = cJSON_GetArraySize(t->attempts);
	cJSON *a = n > 0 ? cJSON_GetArrayItem(t->attempts, n - 1) : NULL;
	if (!a || !cJSON_IsObject(a))
		return -1;
	cJSON *ended = cJSON_CreateString(time_format(now, buf));
	cJSON *out = cJSON_CreateString(outcome);
	cJSON *err = error ? cJSON_CreateString(error) : cJSON_CreateNull();
	if (!ended || !out || !err) {
		cJSON_Delete(ended);
		cJSON_Delete(out);
		cJSON_Delete(err);
		return -1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(a, "ended_at");
	cJSON_DeleteItemFromObjectCaseSensitive(a, "outcome");
	cJSON_DeleteItemFromObjectCaseSensitive(a, "error");
	cJSON_AddItemToObject(a, "ended_at", ended);
	cJSON_AddItemToObject(a, "outcome", out);
	cJSON_AddItemToObject(a, "error", err);
	return 0;
}

static void replace_string(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;
	free(*field);
	*field = copy;
}

int64_t task_backoff_delay(const struct task_backoff *b, int failures, uint32_t r)
{
	int64_t ceiling = b->min_ms;
	/* At most 63 doublings reach any max_ms; a ceiling of 0 never grows, so stop there too. */
	for (int i = 1; i < failures && ceiling > 0 && ceiling < b->max_ms; i++)
		ceiling = ceiling > b->max_ms / 2 ? b->max_ms : ceiling * 2;
	if (ceiling > b->max_ms)
		ceiling = b->max_ms;
	if (ceiling <= b->min_ms)
		return ceiling;
	return b->min_ms + (int64_t)((double)r / 4294967296.0 * (double)(ceiling - b->min_ms));
}

/* Bit masks of the states each verb accepts. */
#define S(x) (1u << (x))
static const unsigned allowed_from[] = {
	[TASK_VERB_DONE] = S(TASK_PENDING) | S(TASK_CLAIMED) | S(TASK_RUNNING),
	[TASK_VERB_FAIL] = S(TASK_CLAIMED) | S(TASK_RUNNING),
	[TASK_VERB_RETRY] = S(TASK_PENDING) | S(TASK_BLOCKED) | S(TASK_CANCELLED) | S(TASK_SKIPPED),
	[TASK_VERB_CANCEL] = S(TASK_PENDING) | S(TASK_CLAIMED) | S(TASK_RUNNING) | S(TASK_BLOCKED),
	[TASK_VERB_SKIP] = S(TASK_PENDING) | S(TASK_CLAIMED) | S(TASK_BLOCKED),
};
#undef S

int task_can(const struct task *t, enum task_verb verb)
{
	return (allowed_from[verb] >> t->status) & 1u;
}

/* Leave the in-flight fields, closing an open attempt with outcome. */
static void settle(struct task *t, int64_t now, enum task_status to, const char *outcome,
                   const char *error)
{
	int n = cJSON_GetArraySize(t->attempts);
	const cJSON *last = n > 0 ? cJSON_GetArrayItem(t->attempts, n - 1) : NULL;
	if (last && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(last, "ended_at")))
		task_attempt_end(t, now, outcome, error);
	t->status = to;
	t->claimed_at = t->claim_expires_at = t->lease_expires_at = 0;
	t->updated_at = now;
	if (to == TASK_DONE || to == TASK_BLOCKED || to == TASK_CANCELLED || to == TASK_SKIPPED)
		t->finished_at = now;
}

int task_done(struct task *t, int64_t now, const char *result)
{
	if (!task_can(t, TASK_VERB_DONE))
		return -1;
	settle(t, now, TASK_DONE, "done", NULL);
	replace_string(&t->result, result);
	return 0;
}

int task_fail(struct task *t, int64_t now, const char *outcome, const char *error,
              const struct task_backoff *b)
{
	if (!task_can(t, TASK_VERB_FAIL))
		return -1;
	if (t->status == TASK_CLAIMED)      /* failed to start: the attempt is still an attempt */
		task_attempt_begin(t, now);
	const char *why = error && *error ? error : outcome;
	settle(t, now, TASK_PENDING, outcome, why);
	t->retries++;
	replace_string(&t->last_error, why);
	if (t->retries >= t->max_retries) {
		char reason[512];
		char id[TASK_ID_MAX];
		snprintf(reason, sizeof reason,
		         "failed %d of %d attempts (last: %s); fix the cause, then: governor retry %s",
		         t->retries, t->max_retries, why, task_id_format(t->id, id));
		t->status = TASK_BLOCKED;
		t->finished_at = now;
		t->eligible_at = 0;
		replace_string(&t->blocked_reason, reason);
		return 0;
	}
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
		r = (uint32_t)rand();
	t->eligible_at = now + task_backoff_delay(b, t->retries, r);
	return 0;
}

int task_retry(struct task *t, int64_t now)
{
	if (!task_can(t, TASK_VERB_RETRY))
		return -1;
	settle(t, now, TASK_PENDING, "retried", NULL);
	t->retries = 0;
	t->eligible_at = t->finished_at = 0;
	replace_string(&t->blocked_reason, NULL);
	return 0;
}

int task_cancel(struct task *t, int64_t now, const char *reason)
{
	if (!task_can(t, TASK_VERB_CANCEL))
		return -1;
	settle(t, now, TASK_CANCELLED, "cancelled", reason);
	return 0;
}

int task_skip(struct task *t, int64_t now)
{
	if (!task_can(t, TASK_VERB_SKIP))
		return -1;
	settle(t, now, TASK_SKIPPED, "skipped", NULL);
	return 0;
}

void task_block(struct task *t, int64_t now, const char *reason)
{
	settle(t, now, TASK_BLOCKED, "blocked", reason);
	replace_string(&t->blocked_reason, reason);
}

int task_expire(struct task *t, int64_t now, const struct task_backoff *b)
{
	if (t->status == TASK_CLAIMED && t->claim_expires_at <= now) {
		t->status = TASK_PENDING;
		t->claimed_at = t->claim_expires_at = 0;
		t->updated_at = now;
		return 1;
	}
	if (t->status == TASK_RUNNING && t->lease_expires_at <= now)
		return task_fail(t, now, "lease_expired", "lease_expired", b) == 0;
	return 0;
}
