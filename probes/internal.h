/*
 * internal.h: helpers shared by the probe sources; not part of the module's API.
 */
#ifndef PROBES_INTERNAL_H
#define PROBES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Set *cause to a malloc'd message built from fmt (NULL if even that allocation fails) and
 * return -1, so a failing probe can `return probe_fail(cause, "...", ...);`.
 */
int probe_fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The boot id (36 characters of hex and '-') into buf; 0, or -1 when it cannot be read. */
int probe_boot_id(char *buf, size_t size);

/* CLOCK_MONOTONIC in ns (system-wide: comparable across processes of one boot). */
int64_t probe_mono_ns(void);

/* CLOCK_REALTIME in ms since the epoch. */
int64_t probe_wall_ms(void);

/*
 * Read the regular file name in the state dir dirfd (O_NOFOLLOW, owned by this user) into a
 * malloc'd NUL-terminated buffer of at most max bytes.  0, or -1 for anything unusable:
 * missing, a symlink, another owner, larger than max.  The caches are only caches, so the
 * reason does not matter.
 */
int probe_state_read(int dirfd, const char *name, size_t max, char **data, size_t *len);

/*
 * Replace name in dirfd atomically: a temp file "<name>.tmp.<pid>" (0600) renamed over it,
 * without fsync.  Best effort: 0, or -1 (the temp file is removed).
 */
int probe_state_replace(int dirfd, const char *name, const void *data, size_t len);

/* Read a small file (at most size - 1 bytes) at path into buf, NUL-terminated; bytes read or -1. */
long probe_read_small(const char *path, char *buf, size_t size);

#endif
