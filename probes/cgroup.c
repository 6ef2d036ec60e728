/* cgroup.c: cgroup v1 and v2 limits and usage, the effective CPU capacity and memory headroom. */
#include "probes/probe.h"
#include "probes/internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * 1. Every path is read under a root directory, so tests point the reader at fixture trees
 *    (tests/fixtures/cgroup/...) holding proc/self/cgroup, proc/self/mountinfo and the
 *    controller files; the live reader uses "/".
 * 2. A controller is read from a v1 hierarchy when one carries it (a hybrid host such as the
 *    project's Debian VM mounts cpu, cpuacct, cpuset and memory as v1 and keeps only hugetlb on
 *    the v2 mount), else from the v2 mount when its root lists the controller.
 * 3. The directory is the mount point plus the process's cgroup path less the mount's root.
 *    When the path is outside that root, or the directory does not exist (a container without
 *    a cgroup namespace, whose mount already is its own cgroup), the mount point is used.
 * 4. Limits are the minimum over the cgroup and its ancestors up to the mount point: a parent's
 *    quota binds its children.  v1 memory also has hierarchical_memory_limit in memory.stat.
 * 5. "Unlimited" is NAN: v2 "max", v1 cfs_quota_us -1, and the v1 memory sentinel
 *    (PAGE_COUNTER_MAX pages, 0x7FFFFFFFFFFFF000 with 4 KiB pages; anything >= 2^62 here).
 *    probe_mem_headroom also treats a limit >= MemTotal as unlimited.
 */

#define CG_FILE_MAX 65536
#define CG_DEPTH_MAX 64
#define V1_UNLIMITED 4611686018427387904.0 /* 2^62 */

enum { C_CPU, C_CPUACCT, C_CPUSET, C_MEMORY, C__COUNT };
static const char *const controller_names[C__COUNT] = { "cpu", "cpuacct", "cpuset", "memory" };

struct mount {
	char root[1024];              /* the mount's root inside the hierarchy (field 4) */
	char point[1024];             /* the mount point (field 5), unescaped */
	int found;
};

struct layout {
	char v1_path[C__COUNT][1024]; /* this process's cgroup path per v1 controller */
	int v1_have[C__COUNT];
	char v2_path[1024];
	int v2_have;
	struct mount v1[C__COUNT];
	struct mount v2;
};

static double nan_min(double a, double b)
{
	if (isnan(a))
		return b;
	if (isnan(b))
		return a;
	return a < b ? a : b;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* 1 when the comma-separated list has item. */
static int list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* 1 when the white-space separated list has item. */
static int words_have(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; *p;) {
		size_t len;

		while (*p && isspace((unsigned char)*p))
			p++;
		len = strcspn(p, " \t\n");
		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

static char *read_file_at(const char *path)
{
	char *buf = malloc(CG_FILE_MAX);

	if (buf != NULL && probe_read_small(path, buf, CG_FILE_MAX) < 0) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

static void parse_proc_cgroup(const char *root, struct layout *l)
{
	char path[4096];
	char *text, *save = NULL;

	snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
	if ((text = read_file_at(path)) == NULL)
		return;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 == NULL)
			continue;
		*c1 = *c2 = '\0';
		if (c1[1] == '\0') {
			if (strcmp(line, "0") == 0) {
				snprintf(l->v2_path, sizeof l->v2_path, "%s", c2 + 1);
				l->v2_have = 1;
			}
			continue;
		}
		for (int c = 0; c < C__COUNT; c++)
			if (list_has(c1 + 1, controller_names[c])) {
				snprintf(l->v1_path[c], sizeof l->v1_path[c], "%s", c2 + 1);
				l->v1_have[c] = 1;
			}
	}
	free(text);
}

static void parse_mountinfo(const char *root, struct layout *l)
{
	char path[4096];
	char *text, *save = NULL;

	snprintf(path, sizeof path, "%s/proc/self/mountinfo", root);
	if ((text = read_file_at(path)) == NULL)
		return;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *field[6] = { 0 }, *sep, *fstype, *source, *opts, *s2 = NULL;
		int n = 0;

		/* ID PARENT MAJ:MIN ROOT POINT OPTIONS [optional...] - FSTYPE SOURCE SUPEROPTS */
		sep = strstr(line, " - ");
		if (sep == NULL)
			continue;
		*sep = '\0';
		for (char *f = strtok_r(line, " ", &s2); f && n < 6; f = strtok_r(NULL, " ", &s2))
			field[n++] = f;
		if (n < 5)
			continue;
		s2 = NULL;
		fstype = strtok_r(sep + 3, " ", &s2);
		source = fstype ? strtok_r(NULL, " ", &s2) : NULL;
		opts = source ? strtok_r(NULL, " ", &s2) : NULL;
		if (fstype == NULL || opts == NULL)
			continue;
		unescape(field[3]);
		unescape(field[4]);
		if (strcmp(fstype, "cgroup2") == 0 && !l->v2.found) {
			snprintf(l->v2.root, sizeof l->v2.root, "%s", field[3]);
			snprintf(l->v2.point, sizeof l->v2.point, "%s", field[4]);
			l->v2.found = 1;
		} else if (strcmp(fstype, "cgroup") == 0) {
			for (int c = 0; c < C__COUNT; c++)
				if (!l->v1[c].found && list_has(opts, controller_names[c])) {
					snprintf(l->v1[c].root, sizeof l->v1[c].root, "%s", field[3]);
					snprintf(l->v1[c].point, sizeof l->v1[c].point, "%s", field[4]);
					l->v1[c].found = 1;
				}
		}
	}
	free(text);
}

/*
 * The directory of cgroup path cg under mount m, as a path under root, into dir; the mount
 * point itself (under root) into top.  See note 3.
 */
static void resolve_dir(const char *root, const struct mount *m, const char *cg, char *dir,
                        size_t size, char *top, size_t tsize)
{
	size_t rlen = strlen(m->root);
	const char *rel = NULL;
	struct stat st;

	snprintf(top, tsize, "%s%s", root, strcmp(m->point, "/") == 0 ? "" : m->point);
	if (strcmp(m->root, "/") == 0)
		rel = cg;
	else if (strncmp(cg, m->root, rlen) == 0 && (cg[rlen] == '/' || cg[rlen] == '\0'))
		rel = cg + rlen;
	if (rel == NULL || strcmp(rel, "/") == 0 || *rel == '\0') {
		snprintf(dir, size, "%s", top);
		return;
	}
	if (snprintf(dir, size, "%s%s", top, rel) >= (int)size || stat(dir, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		snprintf(dir, size, "%s", top);
	/* No trailing slash: the walk up cuts at the last one. */
	for (size_t n = strlen(dir); n > strlen(top) && dir[n - 1] == '/'; n--)
		dir[n - 1] = '\0';
}

/* dir/name as one number (the first word); NAN when missing or not a number. */
static double read_number(const char *dir, const char *name)
{
	char path[4096], buf[128], *end;
	double v;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    probe_read_small(path, buf, sizeof buf) <= 0)
		return NAN;
	errno = 0;
	v = strtod(buf, &end);
	if (end == buf || errno != 0 || !isfinite(v) || (*end != '\0' && !isspace((unsigned char)*end)))
		return NAN;
	return v;
}

/* The value of "key N" in a flat keyed file such as memory.stat; NAN when absent. */
static double read_keyed(const char *dir, const char *name, const char *key)
{
	char path[4096], *text, *save = NULL;
	double v = NAN;
	size_t klen = strlen(key);

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    (text = read_file_at(path)) == NULL)
		return NAN;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end;

		if (strncmp(line, key, klen) != 0 || line[klen] != ' ')
			continue;
		errno = 0;
		v = strtod(line + klen + 1, &end);
		if (end == line + klen + 1 || errno != 0 || !isfinite(v))
			v = NAN;
		break;
	}
	free(text);
	return v;
}

/* CPUs in a cpulist such as "0-3,8,10-11"; NAN when empty or malformed. */
static double cpulist_count(const char *text)
{
	double n = 0;
	const char *p = text;

	while (*p && *p != '\n') {
		char *end;
		unsigned long a, b;

		if (!isdigit((unsigned char)*p))
			return NAN;
		a = strtoul(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			if (!isdigit((unsigned char)p[1]))
				return NAN;
			b = strtoul(p + 1, &end, 10);
			p = end;
		}
		if (b < a || b - a > 1u << 20)
			return NAN;
		n += (double)(b - a + 1);
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return NAN;
	}
	return n > 0 ? n : NAN;
}

static double read_cpulist(const char *dir, const char *name)
{
	char path[4096], buf[4096];

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    probe_read_small(path, buf, sizeof buf) <= 0)
		return NAN;
	return cpulist_count(buf);
}

/* v2 cpu.max: "max 100000" or "QUOTA PERIOD" (µs) as CPUs; NAN for none. */
static double read_cpu_max(const char *dir)
{
	char path[4096], buf[128];
	double quota, period;
	char q[32];

	if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path ||
	    probe_read_small(path, buf, sizeof buf) <= 0)
		return NAN;
	if (sscanf(buf, "%31s %lf", q, &period) != 2 || strcmp(q, "max") == 0 || !(period > 0))
		return NAN;
	quota = strtod(q, NULL);
	return quota > 0 ? quota / period : NAN;
}

/* v2 memory.max / memory.high: "max" or bytes; NAN for none. */
static double read_mem_max(const char *dir, const char *name)
{
	char path[4096], buf[64];

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    probe_read_small(path, buf, sizeof buf) <= 0 || strncmp(buf, "max", 3) == 0)
		return NAN;
	return read_number(dir, name);
}

/* v1 limits: the sentinel and anything near it are "unlimited". */
static double v1_limit(double v)
{
	return isnan(v) || v >= V1_UNLIMITED ? NAN : v;
}

/* Cut dir at its last '/'; 0 once it would go above top. */
static int walk_up(char *dir, const char *top)
{
	char *slash;

	if (strcmp(dir, top) == 0)
		return 0;
	slash = strrchr(dir, '/');
	if (slash == NULL || (size_t)(slash - dir) < strlen(top))
		return 0;
	*slash = '\0';
	return 1;
}

static void read_v2(const char *root, const struct layout *l, int use[C__COUNT],
                    struct probe_cgroup *cg)
{
	char dir[4096], top[4096], walk[4096];
	int depth;

	resolve_dir(root, &l->v2, l->v2_path, dir, sizeof dir, top, sizeof top);
	if (use[C_CPU]) {
		snprintf(walk, sizeof walk, "%s", dir);
		depth = 0;
		do
			cg->cpu_quota = nan_min(cg->cpu_quota, read_cpu_max(walk));
		while (++depth < CG_DEPTH_MAX && walk_up(walk, top));
	}
	if (use[C_CPUACCT]) {
		cg->cpu_usage_ns = read_keyed(dir, "cpu.stat", "usage_usec") * 1000;
		if (!isnan(cg->cpu_usage_ns) &&
		    snprintf(cg->usage_file, sizeof cg->usage_file, "%s/cpu.stat", dir) >=
		            (int)sizeof cg->usage_file)
			cg->usage_file[0] = '\0';
	}
	if (use[C_CPUSET]) {
		snprintf(walk, sizeof walk, "%s", dir);
		depth = 0;
		do
			cg->cpuset_cpus = read_cpulist(walk, "cpuset.cpus.effective");
		while (isnan(cg->cpuset_cpus) && ++depth < CG_DEPTH_MAX && walk_up(walk, top));
	}
	if (use[C_MEMORY]) {
		snprintf(walk, sizeof walk, "%s", dir);
		depth = 0;
		do {
			cg->mem_limit = nan_min(cg->mem_limit, read_mem_max(walk, "memory.max"));
			cg->mem_limit = nan_min(cg->mem_limit, read_mem_max(walk, "memory.high"));
		} while (++depth < CG_DEPTH_MAX && walk_up(walk, top));
		cg->mem_usage = read_number(dir, "memory.current");
		cg->mem_inactive_file = read_keyed(dir, "memory.stat", "inactive_file");
	}
}

static void read_v1(const char *root, const struct layout *l, int c, struct probe_cgroup *cg)
{
	char dir[4096], top[4096];
	int depth = 0;

	resolve_dir(root, &l->v1[c], l->v1_path[c], dir, sizeof dir, top, sizeof top);
	switch (c) {
	case C_CPU:
		do {
			double quota = read_number(dir, "cpu.cfs_quota_us");
			double period = read_number(dir, "cpu.cfs_period_us");

			if (quota > 0 && period > 0)
				cg->cpu_quota = nan_min(cg->cpu_quota, quota / period);
		} while (++depth < CG_DEPTH_MAX && walk_up(dir, top));
		break;
	case C_CPUACCT:
		cg->cpu_usage_ns = read_number(dir, "cpuacct.usage");
		if (!isnan(cg->cpu_usage_ns) &&
		    snprintf(cg->usage_file, sizeof cg->usage_file, "%s/cpuacct.usage", dir) >=
		            (int)sizeof cg->usage_file)
			cg->usage_file[0] = '\0';
		break;
	case C_CPUSET:
		cg->cpuset_cpus = read_cpulist(dir, "cpuset.effective_cpus");
		if (isnan(cg->cpuset_cpus))
			cg->cpuset_cpus = read_cpulist(dir, "cpuset.cpus");
		break;
	case C_MEMORY:
		cg->mem_limit = nan_min(v1_limit(read_number(dir, "memory.limit_in_bytes")),
		                        v1_limit(read_keyed(dir, "memory.stat",
		                                            "hierarchical_memory_limit")));
		cg->mem_usage = read_number(dir, "memory.usage_in_bytes");
		cg->mem_inactive_file = read_keyed(dir, "memory.stat", "total_inactive_file");
		if (isnan(cg->mem_inactive_file))
			cg->mem_inactive_file = read_keyed(dir, "memory.stat", "inactive_file");
		break;
	}
}

void probe_cgroup_read(const char *root, struct probe_cgroup *cg)
{
	struct layout *l = calloc(1, sizeof *l);
	char base[2048], path[4096], *controllers = NULL;
	int use_v2[C__COUNT] = { 0 }, any_v1 = 0, any_v2 = 0;
	size_t n;

	*cg = (struct probe_cgroup){
		.cpu_quota = NAN, .cpuset_cpus = NAN, .cpu_usage_ns = NAN,
		.mem_limit = NAN, .mem_usage = NAN, .mem_inactive_file = NAN,
	};
	if (l == NULL)
		return;
	snprintf(base, sizeof base, "%s", root ? root : "");
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	parse_proc_cgroup(base, l);
	parse_mountinfo(base, l);

	if (l->v2.found && l->v2_have) {
		snprintf(path, sizeof path, "%s%s/cgroup.controllers", base,
		         strcmp(l->v2.point, "/") == 0 ? "" : l->v2.point);
		controllers = read_file_at(path);
	}
	for (int c = 0; c < C__COUNT; c++) {
		if (l->v1[c].found && l->v1_have[c]) {
			read_v1(base, l, c, cg);
			any_v1 = 1;
		} else if (controllers != NULL &&
		           (c == C_CPUACCT || words_have(controllers, controller_names[c]))) {
			/* cpu.stat's usage_usec is there without the cpu controller. */
			use_v2[c] = 1;
			if (c != C_CPUACCT)
				any_v2 = 1;
		}
	}
	if (any_v2 || use_v2[C_CPUACCT])
		read_v2(base, l, use_v2, cg);
	cg->version = any_v1 ? 1 : any_v2 ? 2 : 0;
	free(controllers);
	free(l);
}

double probe_cgroup_usage(const struct probe_cgroup *cg)
{
	char dir[sizeof cg->usage_file], *slash;
	const char *name;

	if (cg->usage_file[0] == '\0')
		return NAN;
	snprintf(dir, sizeof dir, "%s", cg->usage_file);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return NAN;
	*slash = '\0';
	name = slash + 1;
	if (strcmp(name, "cpu.stat") == 0)
		return read_keyed(dir, name, "usage_usec") * 1000;
	return read_number(dir, name);
}

double probe_cpu_capacity(double online, double affinity, double cpuset, double quota)
{
	double v[4] = { online, affinity, cpuset, quota }, best = NAN;

	for (int i = 0; i < 4; i++)
		if (v[i] > 0)
			best = nan_min(best, v[i]);
	return best;
}

void probe_mem_headroom(double total, double avail, const struct probe_cgroup *cg,
                        double *headroom, double *capacity, double *working_set)
{
	double limit = cg ? cg->mem_limit : NAN;

	*working_set = NAN;
	if (isnan(limit) || !(limit > 0) || (total > 0 && limit >= total)) {
		*headroom = avail;
		*capacity = total;
		return;
	}
	double usage = isnan(cg->mem_usage) ? 0 : cg->mem_usage;
	double inactive = isnan(cg->mem_inactive_file) ? 0 : cg->mem_inactive_file;
	double ws = usage - inactive;

	if (ws < 0)
		ws = 0;
	if (!isnan(cg->mem_usage))
		*working_set = ws;
	*headroom = nan_min(avail, limit - ws);
	if (*headroom < 0)
		*headroom = 0;
	*capacity = limit;
}

/* --- the cgroup's CPU percent ------------------------------------------------------------- */

/*
 * The saved sample is one line, "v1 <boot_id> <mono_ns> <usage_ns> <percent|nan>", in
 * cgroup.sample beside cpu.sample and with the same rules: a cache, replaced atomically, not
 * replaced while younger than the minimum window, ignored when anything looks wrong.
 */
#define CG_STATE_FILE "cgroup.sample"

double probe_cgroup_cpu(int statefd, const struct probe_cgroup *cg, double ceff, double usage0,
                        int64_t sampled_ns, int64_t max_age_ms)
{
	char boot[40], oboot[40], *text = NULL, line[256];
	size_t len;
	int64_t now = probe_mono_ns(), omono = 0;
	double usage = probe_cgroup_usage(cg), ousage = NAN, opercent = NAN, percent = NAN;
	int have_old = 0, young = 0, used = 0;

	if (isnan(usage) || !(ceff > 0))
		return NAN;
	if (sampled_ns > 0 && !isnan(usage0) && usage >= usage0)
		percent = 100.0 * (usage - usage0) / ((double)sampled_ns * ceff);
	if (statefd < 0 || probe_boot_id(boot, sizeof boot) == -1)
		boot[0] = '\0';
	if (boot[0] != '\0' && probe_state_read(statefd, CG_STATE_FILE, 255, &text, &len) == 0) {
		if (sscanf(text, "v1 %39s %" SCNd64 " %lf %lf\n%n", oboot, &omono, &ousage, &opercent,
		           &used) == 4 && (size_t)used == len && strcmp(oboot, boot) == 0 &&
		    omono <= now && !isnan(ousage) && ousage >= 0 &&
		    (isnan(opercent) || (opercent >= 0 && opercent <= 100))) {
			have_old = 1;
			young = (now - omono) / 1000000 < PROBE_CPU_MIN_WINDOW_MS;
		}
		free(text);
	}
	if (isnan(percent) && have_old) {
		if (young)
			return opercent;
		if ((now - omono) / 1000000 <= max_age_ms && usage >= ousage)
			percent = 100.0 * (usage - ousage) / ((double)(now - omono) * ceff);
	}
	if (!isnan(percent)) {
		if (percent > 100)
			percent = 100;
		if (percent < 0)
			percent = 0;
	}
	if (statefd >= 0 && boot[0] != '\0' && !(have_old && young)) {
		int n = snprintf(line, sizeof line, "v1 %s %" PRId64 " %.0f %.17g\n", boot, now, usage,
		                 percent);

		if (n > 0 && (size_t)n < sizeof line)
			probe_state_replace(statefd, CG_STATE_FILE, line, (size_t)n);
	}
	return percent;
}
