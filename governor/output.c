/* output.c: readings to and from JSON. */
#include "governor/output.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *add_reading(cJSON *obj, const char *key, double v)
{
	if (isnan(v))
		return cJSON_AddNullToObject(obj, key);
	return cJSON_AddNumberToObject(obj, key, round(v * 100) / 100);
}

static cJSON *add_count(cJSON *obj, const char *key, int v)
{
	return v < 0 ? cJSON_AddNullToObject(obj, key) : cJSON_AddNumberToObject(obj, key, v);
}

cJSON *readings_to_json(const struct snapshot *s)
{
	cJSON *r = cJSON_CreateObject(), *sessions;
	if (!r || !add_reading(r, "cpu_percent", s->cpu_percent) ||
	    !(s->cpu_method[0] ? cJSON_AddStringToObject(r, "cpu_method", s->cpu_method)
	                       : cJSON_AddNullToObject(r, "cpu_method")) ||
	    !add_reading(r, "mem_available_percent", s->mem_available_percent) ||
	    !add_reading(r, "loadavg1", s->loadavg1) || !add_reading(r, "loadavg5", s->loadavg5) ||
	    !add_reading(r, "loadavg15", s->loadavg15) || !add_reading(r, "ncpu", s->ncpu) ||
	    !add_reading(r, "disk_free_percent", s->disk_free_percent) ||
	    !(sessions = cJSON_AddObjectToObject(r, "sessions")) ||
	    !add_count(sessions, "background", s->sessions_background) ||
	    !add_count(sessions, "interactive", s->sessions_interactive) ||
	    (s->failed[0] && !cJSON_AddStringToObject(r, "failed", s->failed))) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

static int fail(char **cause, const char *what, const char *key)
{
	char buf[256];
	snprintf(buf, sizeof buf, "snapshot: %s%s%s", what, key ? " " : "", key ? key : "");
	*cause = strdup(buf);
	return -1;
}

static int read_number(const cJSON *obj, const char *key, double min, double max, double *out,
                       char **cause)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > max)
		return fail(cause, "reading out of range or not a number:", key);
	*out = v->valuedouble;
	return 0;
}

static int read_count(const cJSON *obj, const char *key, int *out, char **cause)
{
	double v = NAN;
	if (read_number(obj, key, 0, 1e9, &v, cause) < 0)
		return -1;
	if (!isnan(v)) {
		if (v != floor(v))
			return fail(cause, "session count is not a whole number:", key);
		*out = (int)v;
	}
	return 0;
}

int snapshot_from_json(const char *text, size_t len, struct snapshot *s, char **cause)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	int rc = -1;

	snapshot_init(s);
	if (!doc)
		return fail(cause, "not valid JSON", NULL);
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "readings");
	if (!r)
		r = doc;
	if (!cJSON_IsObject(r)) {
		fail(cause, "expected an object with the readings", NULL);
		goto out;
	}
	if (read_number(r, "cpu_percent", 0, 100, &s->cpu_percent, cause) < 0 ||
	    read_number(r, "mem_available_percent", 0, 100, &s->mem_available_percent, cause) < 0 ||
	    read_number(r, "loadavg1", 0, 1e6, &s->loadavg1, cause) < 0 ||
	    read_number(r, "loadavg5", 0, 1e6, &s->loadavg5, cause) < 0 ||
	    read_number(r, "loadavg15", 0, 1e6, &s->loadavg15, cause) < 0 ||
	    read_number(r, "ncpu", 0, 1e6, &s->ncpu, cause) < 0 ||
	    read_number(r, "disk_free_percent", 0, 100, &s->disk_free_percent, cause) < 0)
		goto out;
	const cJSON *sessions = cJSON_GetObjectItemCaseSensitive(r, "sessions");
	if (sessions && !cJSON_IsNull(sessions)) {
		if (!cJSON_IsObject(sessions)) {
			fail(cause, "\"sessions\" is not an object", NULL);
			goto out;
		}
		if (read_count(sessions, "background", &s->sessions_background, cause) < 0 ||
		    read_count(sessions, "interactive", &s->sessions_interactive, cause) < 0)
			goto out;
	}
	const cJSON *failed = cJSON_GetObjectItemCaseSensitive(r, "failed");
	if (cJSON_IsString(failed))
		snprintf(s->failed, sizeof s->failed, "%s", failed->valuestring);
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(r, "cpu_method");
	if (cJSON_IsString(method))
		snprintf(s->cpu_method, sizeof s->cpu_method, "%s", method->valuestring);
	rc = 0;
out:
	cJSON_Delete(doc);
	return rc;
}
