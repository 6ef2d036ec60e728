/* psi.c: Pressure Stall Information, "some avg10" of cpu, memory and io (PROBES.md section 3). */
#include "probes/probe.h"
#include "probes/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/*
 * 1. The files are opened read-only: a write would register a poll trigger.
 * 2. Missing files (PSI not built or psi=0), a read that fails with EOPNOTSUPP (accounting off)
 *    and malformed text all mean "unknown": NAN, which skips the rule.  0 is a real reading.
 * 3. sscanf is locale-safe here: governor never sets LC_NUMERIC, and the kernel prints '.'.
 */

int probe_psi_parse(const char *text, double *some_avg10)
{
	const char *line = text;

	while (line != NULL && *line != '\0') {
		double v;
		int used = 0;

		if (strncmp(line, "some ", 5) == 0) {
			if (sscanf(line, "some avg10=%lf%n", &v, &used) == 1 && used > 0 &&
			    (line[used] == ' ' || line[used] == '\n' || line[used] == '\0') &&
			    isfinite(v) && v >= 0 && v <= 100) {
				*some_avg10 = v;
				return 0;
			}
			return -1;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return -1;
}

static double read_one(const char *root, const char *name)
{
	char path[4096], buf[512];
	double v;

	if (snprintf(path, sizeof path, "%s/proc/pressure/%s", root, name) >= (int)sizeof path)
		return NAN;
	if (probe_read_small(path, buf, sizeof buf) <= 0)
		return NAN;
	return probe_psi_parse(buf, &v) == 0 ? v : NAN;
}

void probe_psi(const char *root, double *cpu, double *memory, double *io)
{
	char base[4096];
	size_t n;

	snprintf(base, sizeof base, "%s", root ? root : "");
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	*cpu = read_one(base, "cpu");
	*memory = read_one(base, "memory");
	*io = read_one(base, "io");
}
