/*
 * schedule.c: the schedules file (schedules.json): validation, its JSON form, and when each
 * schedule is due next.
 *
 * Why it is built this way:
 *  1. The file is small and changes rarely (a schedule edit, or a run), so it is one document
 *     replaced whole by rename; readers never see half of it and need no lock.
 *  2. Reading validates everything a writer would rely on, so a damaged or hand-edited file is
 *     an error naming the schedule and the key, and no writer ever replaces it.
 *  3. Times are stored like the queue's (RFC 3339 UTC, whole seconds), so an "every" grid is
 *     anchored on whole seconds: schedule_next floors now before adding the period.
 */
#include "queue/schedule.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/task.h"
#include "queue/timefmt.h"

static int set_cause(char **cause, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_cause(char **cause, int code, const char *fmt, ...)
{
	char buf[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (cause)
		*cause = strdup(buf);
	return code;
}

static const char *const rule_names[] = { "every", "cron", "manual" };

const char *schedule_rule_name(enum schedule_rule r)
{
	return (unsigned)r < 3 ? rule_names[r] : "?";
}

int schedule_name_check(const char *name)
{
	size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
	return n >= 1 && n <= SCHEDULE_NAME_MAX && name[n] == '\0' ? 0 : -1;
}

int schedule_set_rule(struct schedule *s, enum schedule_rule rule, const char *text,
                      schedule_duration_fn *parse, char **cause)
{
	char *spec = NULL;
	int64_t every = 0;
	struct cron cron = { 0 };
	char *why = NULL;

	switch (rule) {
	case SCHEDULE_EVERY:
		if (parse(text, &every) < 0)
			return set_cause(cause, -1, "not a duration (such as 15m, 2h or 7d)");
		if (every < SCHEDULE_EVERY_MIN_MS)
			return set_cause(cause, -1, "shorter than one minute");
		if (every > SCHEDULE_EVERY_MAX_MS)
			return set_cause(cause, -1, "longer than 3650 days");
		break;
	case SCHEDULE_CRON:
		if (cron_parse(text, &cron, &why) < 0) {
			set_cause(cause, -1, "%s", why ? why : "invalid");
			free(why);
			return -1;
		}
		break;
	case SCHEDULE_MANUAL:
		text = NULL;
		break;
	default:
		return set_cause(cause, -1, "unknown rule");
	}
	if (text && !(spec = strdup(text)))
		return set_cause(cause, -1, "out of memory");
	free(s->spec);
	s->rule = rule;
	s->spec = spec;
	s->every_ms = every;
	s->cron = cron;
	return 0;
}

void schedule_next(const struct schedule *s, int64_t now, int64_t *next)
{
	int64_t t = 0;      /* next may point at s->next_run */
	switch (s->rule) {
	case SCHEDULE_EVERY:
		if (s->next_run > now)
			t = s->next_run;
		else if (s->next_run)
			t = s->next_run + ((now - s->next_run) / s->every_ms + 1) * s->every_ms;
		else
			t = now - (now % 1000 + 1000) % 1000 + s->every_ms;
		break;
	case SCHEDULE_CRON:
		if (cron_next(&s->cron, now, &t) < 0)
			t = 0;
		break;
	case SCHEDULE_MANUAL:
		break;
	}
	*next = t;
}

bool schedule_due(const struct schedule *s, int64_t now)
{
	return s->enabled && s->rule != SCHEDULE_MANUAL && s->next_run && s->next_run <= now;
}

void schedule_release(struct schedule *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->prompt);
	free(s->model);
	free(s->spec);
	memset(s, 0, sizeof *s);
}

/* --- the set ------------------------------------------------------------------------------ */

struct schedule *schedules_find(struct schedules *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i].name, name) == 0)
			return &s->items[i];
	return NULL;
}

int schedules_add(struct schedules *s, struct schedule *item)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct schedule *grown = realloc(s->items, cap * sizeof *grown);
		if (!grown)
			return -1;
		s->items = grown;
		s->cap = cap;
	}
	s->items[s->n++] = *item;
	memset(item, 0, sizeof *item);
	return 0;
}

void schedules_remove(struct schedules *s, size_t i)
{
	if (i >= s->n)
		return;
	schedule_release(&s->items[i]);
	memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof *s->items);
	s->n--;
}

void schedules_release(struct schedules *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		schedule_release(&s->items[i]);
	free(s->items);
	memset(s, 0, sizeof *s);
}

/* --- JSON --------------------------------------------------------------------------------- */

static void add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[TIME_RFC3339_MAX];
	if (ms)
		cJSON_AddStringToObject(o, key, time_format(ms, buf));
	else
		cJSON_AddNullToObject(o, key);
}

cJSON *schedule_to_json(const struct schedule *s)
{
	char id[TASK_ID_MAX];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddBoolToObject(o, "enabled", s->enabled);
	cJSON_AddStringToObject(o, "rule", schedule_rule_name(s->rule));
	if (s->rule != SCHEDULE_MANUAL)
		cJSON_AddStringToObject(o, rule_names[s->rule], s->spec);
	add_time(o, "next_run", s->next_run);
	add_time(o, "last_run", s->last_run);
	cJSON_AddNumberToObject(o, "run_count", (double)s->run_count);
	if (s->last_task_id)
		cJSON_AddStringToObject(o, "last_task_id", task_id_format(s->last_task_id, id));
	else
		cJSON_AddNullToObject(o, "last_task_id");
	cJSON_AddNumberToObject(o, "priority", s->priority);
	if (s->model)
		cJSON_AddStringToObject(o, "model", s->model);
	else
		cJSON_AddNullToObject(o, "model");
	cJSON_AddStringToObject(o, "prompt", s->prompt);
	add_time(o, "created_at", s->created_at);
	/* cJSON reports no failure per key; a short tree means memory ran out. */
	if (cJSON_GetArraySize(o) != (s->rule != SCHEDULE_MANUAL ? 12 : 11)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int bad(char **cause, size_t i, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* QUEUE_ECORRUPT naming the file, the schedule (its index, and its name when known). */
static int bad(char **cause, size_t i, const char *name, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (name)
		return set_cause(cause, QUEUE_ECORRUPT,
		                 "schedules '%s' are corrupt: schedule %zu ('%.64s'): %s; the file was left as it is",
		                 SCHEDULE_FILE, i + 1, name, what);
	return set_cause(cause, QUEUE_ECORRUPT,
	                 "schedules '%s' are corrupt: schedule %zu: %s; the file was left as it is",
	                 SCHEDULE_FILE, i + 1, what);
}

/* A time or null; -1 when neither. */
static int get_time(const cJSON *o, const char *key, int64_t *ms, int nullable)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*ms = 0;
	if (nullable && (!v || cJSON_IsNull(v)))
		return 0;
	if (!cJSON_IsString(v) || time_parse(v->valuestring, ms) < 0 || *ms <= 0)
		return -1;
	return 0;
}

static int from_json(const cJSON *o, size_t i, schedule_duration_fn *parse, struct schedule *s,
                     char **cause)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name"),
	            *prompt = cJSON_GetObjectItemCaseSensitive(o, "prompt"),
	            *priority = cJSON_GetObjectItemCaseSensitive(o, "priority"),
	            *model = cJSON_GetObjectItemCaseSensitive(o, "model"),
	            *rule = cJSON_GetObjectItemCaseSensitive(o, "rule"),
	            *enabled = cJSON_GetObjectItemCaseSensitive(o, "enabled"),
	            *count = cJSON_GetObjectItemCaseSensitive(o, "run_count"),
	            *last = cJSON_GetObjectItemCaseSensitive(o, "last_task_id");
	const char *why, *n;
	char *rule_why = NULL;
	int r;

	if (!cJSON_IsObject(o))
		return bad(cause, i, NULL, "not an object");
	if (!cJSON_IsString(name) || schedule_name_check(name->valuestring) < 0)
		return bad(cause, i, NULL, "\"name\" must be 1-%d characters of A-Z, a-z, 0-9, _ and -",
		           SCHEDULE_NAME_MAX);
	n = name->valuestring;
	if (!cJSON_IsString(prompt))
		return bad(cause, i, n, "\"prompt\" must be a string");
	if (task_prompt_check(prompt->valuestring, strlen(prompt->valuestring), &why) < 0)
		return bad(cause, i, n, "%s", why);
	if (!cJSON_IsNumber(priority) || priority->valuedouble != (double)priority->valueint ||
	    priority->valueint < TASK_PRIORITY_MIN || priority->valueint > TASK_PRIORITY_MAX)
		return bad(cause, i, n, "\"priority\" must be an integer from %d to %d", TASK_PRIORITY_MIN,
		           TASK_PRIORITY_MAX);
	if (model && !cJSON_IsNull(model) && (!cJSON_IsString(model) || !*model->valuestring))
		return bad(cause, i, n, "\"model\" must be null or a model name");
	for (r = 0; r < 3; r++)
		if (cJSON_IsString(rule) && strcmp(rule->valuestring, rule_names[r]) == 0)
			break;
	if (r == 3)
		return bad(cause, i, n, "\"rule\" must be \"every\", \"cron\" or \"manual\"");
	if (!cJSON_IsBool(enabled))
		return bad(cause, i, n, "\"enabled\" must be true or false");
	if (!cJSON_IsNumber(count) || count->valuedouble < 0 || count->valuedouble > 9e15 ||
	    count->valuedouble != (double)(unsigned long)count->valuedouble)
		return bad(cause, i, n, "\"run_count\" must be a non-negative integer");
	if (last && !cJSON_IsNull(last) &&
	    (!cJSON_IsString(last) || task_id_parse(last->valuestring, &s->last_task_id) < 0))
		return bad(cause, i, n, "\"last_task_id\" must be null or a task id (T-NN)");
	if (get_time(o, "created_at", &s->created_at, 0) < 0)
		return bad(cause, i, n, "\"created_at\" must be an RFC 3339 time");
	if (get_time(o, "last_run", &s->last_run, 1) < 0)
		return bad(cause, i, n, "\"last_run\" must be null or an RFC 3339 time");
	if (get_time(o, "next_run", &s->next_run, 1) < 0)
		return bad(cause, i, n, "\"next_run\" must be null or an RFC 3339 time");

	const cJSON *spec = r == SCHEDULE_MANUAL ? NULL : cJSON_GetObjectItemCaseSensitive(o, rule_names[r]);
	if (r != SCHEDULE_MANUAL && !cJSON_IsString(spec))
		return bad(cause, i, n, "rule \"%s\" needs a string \"%s\"", rule_names[r], rule_names[r]);
	if (schedule_set_rule(s, (enum schedule_rule)r, spec ? spec->valuestring : NULL, parse,
	                      &rule_why) < 0) {
		int rc = bad(cause, i, n, "\"%s\" '%.300s': %s", rule_names[r], spec->valuestring,
		             rule_why ? rule_why : "invalid");
		free(rule_why);
		return rc;
	}
	s->priority = priority->valueint;
	s->enabled = cJSON_IsTrue(enabled);
	s->run_count = (unsigned long)count->valuedouble;
	if (!(s->name = strdup(n)) || !(s->prompt = strdup(prompt->valuestring)) ||
	    (cJSON_IsString(model) && !(s->model = strdup(model->valuestring))))
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	return QUEUE_OK;
}

int schedules_parse(const char *text, size_t len, schedule_duration_fn *parse,
                    struct schedules *out, char **cause)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "version"),
	            *list = cJSON_GetObjectItemCaseSensitive(doc, "schedules");
	int rc = QUEUE_OK;
	size_t i = 0;

	memset(out, 0, sizeof *out);
	if (!doc)
		rc = set_cause(cause, QUEUE_ECORRUPT,
		               "schedules '%s' are corrupt: not valid JSON; the file was left as it is",
		               SCHEDULE_FILE);
	else if (!cJSON_IsObject(doc) || !cJSON_IsNumber(v) || !cJSON_IsArray(list))
		rc = set_cause(cause, QUEUE_ECORRUPT,
		               "schedules '%s' are corrupt: expected {\"version\":%d,\"schedules\":[...]}; the file was left as it is",
		               SCHEDULE_FILE, SCHEDULE_VERSION);
	else if (v->valuedouble != SCHEDULE_VERSION)
		rc = set_cause(cause, QUEUE_ECORRUPT,
		               "schedules '%s' have version %g; this governor reads version %d; the file was left as it is",
		               SCHEDULE_FILE, v->valuedouble, SCHEDULE_VERSION);
	else if (cJSON_GetArraySize(list) > SCHEDULE_COUNT_MAX)
		rc = set_cause(cause, QUEUE_ECORRUPT,
		               "schedules '%s' are corrupt: more than %d schedules; the file was left as it is",
		               SCHEDULE_FILE, SCHEDULE_COUNT_MAX);
	for (const cJSON *o = rc == QUEUE_OK ? list->child : NULL; o; o = o->next, i++) {
		struct schedule s = { 0 };
		if ((rc = from_json(o, i, parse, &s, cause)) == QUEUE_OK && schedules_find(out, s.name))
			rc = bad(cause, i, s.name, "the name is used twice");
		if (rc == QUEUE_OK && schedules_add(out, &s) < 0)
			rc = set_cause(cause, QUEUE_ENOMEM, "out of memory");
		schedule_release(&s);
		if (rc < 0)
			break;
	}
	cJSON_Delete(doc);
	if (rc < 0)
		schedules_release(out);
	return rc;
}

int schedules_read(int dirfd, schedule_duration_fn *parse, struct schedules *out, char **cause)
{
	char *text;
	size_t len;
	memset(out, 0, sizeof *out);
	if (statedir_read(dirfd, SCHEDULE_FILE, SCHEDULE_FILE_MAX, &text, &len) < 0) {
		if (errno == ENOENT)
			return QUEUE_OK;
		if (errno == ELOOP)
			return set_cause(cause, QUEUE_EIO, "cannot open schedules '%s': it is a symbolic link",
			                 SCHEDULE_FILE);
		if (errno == EPERM)
			return set_cause(cause, QUEUE_EIO,
			                 "cannot open schedules '%s': owned by another user or writable by group or others (fix with: chmod 600 %s)",
			                 SCHEDULE_FILE, SCHEDULE_FILE);
		if (errno == EFBIG)
			return set_cause(cause, QUEUE_ECORRUPT,
			                 "schedules '%s' are corrupt: larger than %zu bytes; the file was left as it is",
			                 SCHEDULE_FILE, SCHEDULE_FILE_MAX);
		return set_cause(cause, QUEUE_EIO, "cannot read schedules '%s': %s", SCHEDULE_FILE,
		                 strerror(errno));
	}
	int rc = schedules_parse(text, len, parse, out, cause);
	free(text);
	return rc;
}

/*
 * The document, one schedule a line so that people can read, grep and diff it:
 *   {"version":1,"schedules":[
 *   {"name":...},
 *   {"name":...}
 *   ]}
 */
int schedules_write(int dirfd, const struct schedules *s, char **cause)
{
	char head[64];
	int hlen = snprintf(head, sizeof head, "{\"version\":%d,\"schedules\":[\n", SCHEDULE_VERSION);
	char **lines = calloc(s->n ? s->n : 1, sizeof *lines);
	char *buf = NULL;
	size_t total = (size_t)hlen + sizeof "]}\n";
	int rc = lines ? QUEUE_OK : QUEUE_ENOMEM;

	for (size_t i = 0; i < s->n && rc == QUEUE_OK; i++) {
		cJSON *o = schedule_to_json(&s->items[i]);
		if (!o || !(lines[i] = cJSON_PrintUnformatted(o)))
			rc = QUEUE_ENOMEM;
		else
			total += strlen(lines[i]) + 2;
		cJSON_Delete(o);
	}
	if (rc == QUEUE_OK && !(buf = malloc(total)))
		rc = QUEUE_ENOMEM;
	if (rc == QUEUE_OK) {
		size_t pos = (size_t)hlen;
		memcpy(buf, head, pos);
		for (size_t i = 0; i < s->n; i++) {
			size_t len = strlen(lines[i]);
			memcpy(buf + pos, lines[i], len);
			pos += len;
			if (i + 1 < s->n)
				buf[pos++] = ',';
			buf[pos++] = '\n';
		}
		memcpy(buf + pos, "]}\n", 3);
		pos += 3;
		if (statedir_replace(dirfd, SCHEDULE_FILE, buf, pos, STATEDIR_DURABLE | STATEDIR_BACKUP) < 0)
			rc = set_cause(cause, QUEUE_EIO, "cannot write schedules '%s': %s", SCHEDULE_FILE,
			               strerror(errno));
	} else {
		set_cause(cause, rc, "out of memory");
	}
	for (size_t i = 0; lines && i < s->n; i++)
		cJSON_free(lines[i]);
	free(lines);
	free(buf);
	return rc;
}
