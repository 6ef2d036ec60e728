/* sessions.c: count agent sessions by matching command lines in one libproc2 scan of /proc. */
#include "probes/probe.h"
#include "probes/internal.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <libproc2/pids.h>

/*
 * 1. The item list is minimal: PPID and FLAGS come from /proc/PID/stat (reading stat also avoids
 *    the "[(null)]" command lines of kernel threads and zombies), CMDLINE_V from
 *    /proc/PID/cmdline.  CMDLINE_V is raw argv, so matching does not depend on the locale the
 *    way PIDS_CMDLINE's escaping does.
 * 2. Matches are computed for every process, then this process and its ancestors are left out
 *    of the count.  An excluded ancestor still counts as a match when its children are judged:
 *    a matching child of the agent that runs governor belongs to that agent's session.
 * 3. Processes that exit during the scan are skipped by libproc2; hidepid mounts and PID
 *    namespaces hide processes silently, so a count can be low but never includes strangers.
 */

#define PF_KTHREAD 0x00200000UL       /* include/linux/sched.h: a kernel thread */

enum { I_PID, I_PPID, I_FLAGS, I_ARGV };

struct proc_entry {
	pid_t pid, ppid;
	size_t row;                   /* index into the match table */
};

static int cmp_pid(const void *a, const void *b)
{
	const struct proc_entry *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static const struct proc_entry *find_pid(const struct proc_entry *procs, size_t n, pid_t pid)
{
	struct proc_entry key = { .pid = pid };

	return bsearch(&key, procs, n, sizeof *procs, cmp_pid);
}

/* Join argv with single spaces into *buf (grown as needed); 0 on success. */
static int join_argv(char *const *argv, char **buf, size_t *size)
{
	size_t len = 0;

	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
		size_t add = strlen(argv[i]) + 1;

		if (len + add + 1 > *size) {
			size_t nsize = (*size ? *size : 256);
			char *p;

			while (len + add + 1 > nsize)
				nsize *= 2;
			p = realloc(*buf, nsize);
			if (p == NULL)
				return -1;
			*buf = p;
			*size = nsize;
		}
		if (i > 0)
			(*buf)[len++] = ' ';
		memcpy(*buf + len, argv[i], add - 1);
		len += add - 1;
	}
	if (*size == 0) {
		*buf = malloc(1);
		if (*buf == NULL)
			return -1;
		*size = 1;
	}
	(*buf)[len] = '\0';
	return 0;
}

/* Compile the ERE of every process source; on failure frees what was compiled. */
static int compile_sources(const struct probe_source *sources, size_t nsources, regex_t *re,
                           char **cause)
{
	for (size_t i = 0; i < nsources; i++) {
		const struct probe_source *src = &sources[i];
		char msg[256];
		int rc;

		if (src->type != PROBE_TYPE_PROCESS)
			continue;
		if (src->match == NULL) {
			rc = -1;
			probe_fail(cause, "sessions.%s: no match pattern", src->name);
		} else {
			rc = regcomp(&re[i], src->match, REG_EXTENDED | REG_NOSUB);
			if (rc != 0) {
				regerror(rc, &re[i], msg, sizeof msg);
				probe_fail(cause, "sessions.%s: bad match pattern '%s': %s",
				           src->name, src->match, msg);
			}
		}
		if (rc != 0) {
			while (i-- > 0)
				if (sources[i].type == PROBE_TYPE_PROCESS)
					regfree(&re[i]);
			return -1;
		}
	}
	return 0;
}

static void free_sources(const struct probe_source *sources, size_t nsources, regex_t *re)
{
	for (size_t i = 0; i < nsources; i++)
		if (sources[i].type == PROBE_TYPE_PROCESS)
			regfree(&re[i]);
}

/* Mark this process and its ancestors, walking the PPID chain through the scanned table. */
static void mark_self_and_ancestors(const struct proc_entry *procs, size_t n,
                                    unsigned char *excluded)
{
	pid_t pid = getpid();

	/* pid 1 can be an ancestor (a container's entry point); its parent is 0. */
	for (size_t steps = 0; steps <= n && pid > 0; steps++) {
		const struct proc_entry *e = find_pid(procs, n, pid);

		if (e == NULL || excluded[e->row])
			break;
		excluded[e->row] = 1;
		pid = e->ppid;
	}
}

int probe_sessions(const struct probe_source *sources, size_t nsources, int *counts,
                   char **cause)
{
	enum pids_item items[] = { PIDS_ID_PID, PIDS_ID_PPID, PIDS_FLAGS, PIDS_CMDLINE_V };
	struct pids_info *info = NULL;
	struct pids_fetch *fetch;
	struct proc_entry *procs = NULL;
	unsigned char *match = NULL, *excluded = NULL;
	regex_t *re = NULL;
	char *line = NULL;
	size_t linesize = 0, n = 0, total;
	pid_t self = getpid(), parent = getppid();
	int rc, ret = -1, any = 0;

	for (size_t i = 0; i < nsources; i++)
		if (sources[i].type == PROBE_TYPE_PROCESS)
			any = 1;
	if (!any)
		return 0;
	/* libproc2 would _exit() through fatal_proc_unmounted; find out first. */
	if (access("/proc/self/stat", R_OK) == -1)
		return probe_fail(cause, "cannot scan processes: /proc/self/stat: %s",
		                  strerror(errno));
	re = calloc(nsources, sizeof *re);
	if (re == NULL)
		return probe_fail(cause, "out of memory");
	if (compile_sources(sources, nsources, re, cause) == -1) {
		free(re);
		return -1;
	}

	rc = procps_pids_new(&info, items, (int)(sizeof items / sizeof items[0]));
	if (rc < 0) {
		probe_fail(cause, "cannot scan processes: %s", strerror(-rc));
		goto out;
	}
	errno = 0;
	fetch = procps_pids_reap(info, PIDS_FETCH_TASKS_ONLY);
	if (fetch == NULL) {
		probe_fail(cause, "cannot scan processes: %s", strerror(errno ? errno : EIO));
		goto out;
	}
	total = fetch->counts->total > 0 ? (size_t)fetch->counts->total : 0;
	procs = calloc(total ? total : 1, sizeof *procs);
	match = calloc(total * nsources + 1, 1);
	excluded = calloc(total + 1, 1);
	if (procs == NULL || match == NULL || excluded == NULL) {
		probe_fail(cause, "out of memory");
		goto out;
	}

	for (size_t i = 0; i < total; i++) {
		struct pids_stack *st = fetch->stacks[i];

		if (PIDS_VAL(I_FLAGS, ul_int, st, info) & PF_KTHREAD)
			continue;
		procs[n].pid = PIDS_VAL(I_PID, s_int, st, info);
		procs[n].ppid = PIDS_VAL(I_PPID, s_int, st, info);
		procs[n].row = n;
		if (join_argv(PIDS_VAL(I_ARGV, strv, st, info), &line, &linesize) == -1) {
			probe_fail(cause, "out of memory");
			goto out;
		}
		for (size_t s = 0; s < nsources; s++)
			if (sources[s].type == PROBE_TYPE_PROCESS &&
			    regexec(&re[s], line, 0, NULL, 0) == 0)
				match[n * nsources + s] = 1;
		n++;
	}
	qsort(procs, n, sizeof *procs, cmp_pid);
	mark_self_and_ancestors(procs, n, excluded);

	for (size_t s = 0; s < nsources; s++)
		if (sources[s].type == PROBE_TYPE_PROCESS)
			counts[s] = 0;
	for (size_t i = 0; i < n; i++) {
		const struct proc_entry *e = &procs[i], *up;

		if (excluded[e->row] || e->pid == self || e->pid == parent)
			continue;
		up = find_pid(procs, n, e->ppid);
		for (size_t s = 0; s < nsources; s++) {
			if (!match[e->row * nsources + s])
				continue;
			/* Only session roots: a match under a match of the same source is part of it. */
			if (up != NULL && up != e && match[up->row * nsources + s])
				continue;
			counts[s]++;
		}
	}
	ret = 0;
out:
	if (info != NULL)
		procps_pids_unref(&info);
	free_sources(sources, nsources, re);
	free(re);
	free(procs);
	free(match);
	free(excluded);
	free(line);
	return ret;
}
