/*
 * internal.h: helpers shared by the probe sources; not part of the module's API.
 */
#ifndef PROBES_INTERNAL_H
#define PROBES_INTERNAL_H

/*
 * Set *cause to a malloc'd message built from fmt (NULL if even that allocation fails) and
 * return -1, so a failing probe can `return probe_fail(cause, "...", ...);`.
 */
int probe_fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
