/*
 * timefmt.h: the one time format of governor's files and output: RFC 3339 in UTC,
 * "2026-11-25T14:00:00Z".  Times travel inside the program as milliseconds since the epoch.
 */
#ifndef QUEUE_TIMEFMT_H
#define QUEUE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIME_RFC3339_MAX 80   /* 21 used; the rest keeps -Wformat-truncation quiet at -O0 */

/* Now, in milliseconds since the epoch (CLOCK_REALTIME, plus the offset below). */
int64_t time_now_ms(void);

/*
 * Read the clock of a shared store instead of this host's: from now on time_now_ms() adds ms.
 * Fleet mode sets it once, after connecting (docs/fleet.md, "Clocks").
 */
void time_set_offset_ms(int64_t ms);

/* Format ms as RFC 3339 UTC with whole seconds into buf (TIME_RFC3339_MAX bytes). */
char *time_format(int64_t ms, char buf[TIME_RFC3339_MAX]);

/*
 * Parse RFC 3339 ("2026-11-25T14:00:00Z", an optional fraction, "Z" or "+hh:mm"); also accepts
 * a space for "T".  0 on success, -1 if s is not such a time.
 */
int time_parse(const char *s, int64_t *ms);

/*
 * This boot's id (/proc/sys/kernel/random/boot_id) into out (BOOT_ID_MAX bytes); "" when the
 * kernel does not tell.  Monotonic clocks and page-cache state mean nothing across boots.
 */
#define BOOT_ID_MAX 40
void time_boot_id(char out[BOOT_ID_MAX]);

#endif
