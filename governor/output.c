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

/* {"name": value, ...} of named values (null for NAN). */
static cJSON *add_values(cJSON *obj, const char *key, const struct snapshot_value *v, size_t n)
{
	cJSON *o = cJSON_AddObjectToObject(obj, key);
	for (size_t i = 0; o && i < n && i < SNAPSHOT_VALUES_MAX; i++)
		if (!add_reading(o, v[i].name, v[i].value))
			return NULL;
	return o;
}

/*
 * The decision readings first (what the policy judges), then "host" and "cgroup" side by side:
 * cpu_percent is max(host, cgroup), ncpu the effective capacity, mem_available_percent the
 * headroom (docs/probes.md).
 */
cJSON *readings_to_json(const struct snapshot *s)
{
	cJSON *r = cJSON_CreateObject(), *sessions, *host, *cg;
	if (!r || !add_reading(r, "cpu_percent", s->cpu_percent) ||
	    !(s->cpu_method[0] ? cJSON_AddStringToObject(r, "cpu_method", s->cpu_method)
	                       : cJSON_AddNullToObject(r, "cpu_method")) ||
	    !add_reading(r, "mem_available_percent", s->mem_available_percent) ||
	    !add_reading(r, "mem_headroom_bytes", s->mem_headroom_bytes) ||
	    !add_reading(r, "loadavg1", s->loadavg1) || !add_reading(r, "loadavg5", s->loadavg5) ||
	    !add_reading(r, "loadavg15", s->loadavg15) || !add_reading(r, "ncpu", s->ncpu) ||
	    !add_reading(r, "disk_free_percent", s->disk_free_percent) ||
	    !add_reading(r, "pressure_cpu", s->pressure_cpu) ||
	    !add_reading(r, "pressure_memory", s->pressure_memory) ||
	    !add_reading(r, "pressure_io", s->pressure_io) ||
	    !(sessions = cJSON_AddObjectToObject(r, "sessions")) ||
	    !add_count(sessions, "background", s->sessions_background) ||
	    !add_count(sessions, "interactive", s->sessions_interactive) ||
	    (s->nsources && !add_values(sessions, "sources", s->sources, s->nsources)) ||
	    (s->nlimits && !add_values(r, "limits", s->limits, s->nlimits)) ||
	    !(host = cJSON_AddObjectToObject(r, "host")) ||
	    !add_reading(host, "cpu_percent", s->host.cpu_percent) ||
	    !add_reading(host, "mem_available_percent", s->host.mem_available_percent) ||
	    !add_reading(host, "mem_total_bytes", s->host.mem_total_bytes) ||
	    !add_reading(host, "mem_available_bytes", s->host.mem_available_bytes) ||
	    !add_reading(host, "ncpu", s->host.ncpu) ||
	    !(cg = cJSON_AddObjectToObject(r, "cgroup")) ||
	    !(s->cgroup.version ? cJSON_AddNumberToObject(cg, "version", s->cgroup.version)
	                        : cJSON_AddNullToObject(cg, "version")) ||
	    !add_reading(cg, "cpu_percent", s->cgroup.cpu_percent) ||
	    !add_reading(cg, "cpu_quota", s->cgroup.cpu_quota) ||
	    !add_reading(cg, "cpuset_cpus", s->cgroup.cpuset_cpus) ||
	    !add_reading(cg, "mem_limit_bytes", s->cgroup.mem_limit_bytes) ||
	    !add_reading(cg, "mem_working_set_bytes", s->cgroup.mem_working_set_bytes) ||
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

/* {"name": number|null, ...} under key of obj (absent or null: none) into v[]. */
static int read_values(const cJSON *obj, const char *key, struct snapshot_value *v, size_t *n,
                       char **cause)
{
	const cJSON *o = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL, *e;
	if (!o || cJSON_IsNull(o))
		return 0;
	if (!cJSON_IsObject(o))
		return fail(cause, "not an object:", key);
	cJSON_ArrayForEach(e, o) {
		if (*n >= SNAPSHOT_VALUES_MAX)
			return fail(cause, "too many entries in", key);
		if (strlen(e->string) >= SNAPSHOT_NAME_MAX)
			return fail(cause, "name too long in", key);
		if (!cJSON_IsNull(e) && (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)))
			return fail(cause, "not a number or null:", e->string);
		snprintf(v[*n].name, sizeof v[*n].name, "%s", e->string);
		v[*n].value = cJSON_IsNull(e) ? NAN : e->valuedouble;
		(*n)++;
	}
	return 0;
}

/* The "host" and "cgroup" figures (informative: the policy judges the top-level ones). */
static int read_host_cgroup(const cJSON *r, struct snapshot *s, char **cause)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "host");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "cgroup");
	if (cJSON_IsObject(h) &&
	    (read_number(h, "cpu_percent", 0, 100, &s->host.cpu_percent, cause) < 0 ||
	     read_number(h, "mem_available_percent", 0, 100, &s->host.mem_available_percent, cause) < 0 ||
	     read_number(h, "mem_total_bytes", 0, 1e18, &s->host.mem_total_bytes, cause) < 0 ||
	     read_number(h, "mem_available_bytes", 0, 1e18, &s->host.mem_available_bytes, cause) < 0 ||
	     read_number(h, "ncpu", 0, 1e6, &s->host.ncpu, cause) < 0))
		return -1;
	if (cJSON_IsObject(c)) {
		double version = NAN;
		if (read_number(c, "version", 1, 2, &version, cause) < 0 ||
		    read_number(c, "cpu_percent", 0, 100, &s->cgroup.cpu_percent, cause) < 0 ||
		    read_number(c, "cpu_quota", 0, 1e6, &s->cgroup.cpu_quota, cause) < 0 ||
		    read_number(c, "cpuset_cpus", 0, 1e6, &s->cgroup.cpuset_cpus, cause) < 0 ||
		    read_number(c, "mem_limit_bytes", 0, 1e19, &s->cgroup.mem_limit_bytes, cause) < 0 ||
		    read_number(c, "mem_working_set_bytes", 0, 1e19, &s->cgroup.mem_working_set_bytes,
		                cause) < 0)
			return -1;
		s->cgroup.version = isnan(version) ? 0 : (int)version;
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
	if (read_number(r, "mem_headroom_bytes", 0, 1e18, &s->mem_headroom_bytes, cause) < 0 ||
	    read_number(r, "pressure_cpu", 0, 100, &s->pressure_cpu, cause) < 0 ||
	    read_number(r, "pressure_memory", 0, 100, &s->pressure_memory, cause) < 0 ||
	    read_number(r, "pressure_io", 0, 100, &s->pressure_io, cause) < 0 ||
	    read_values(sessions, "sources", s->sources, &s->nsources, cause) < 0 ||
	    read_values(r, "limits", s->limits, &s->nlimits, cause) < 0 ||
	    read_host_cgroup(r, s, cause) < 0)
		goto out;
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
