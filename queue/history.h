/*
 * history.h: the decision and transition log, history.jsonl in the state dir, one JSON object
 * a line, appended with O_APPEND (lines up to PIPE_BUF bytes never interleave).  When it grows
 * past HISTORY_MAX_BYTES it becomes history.jsonl.1 (replacing the previous one) and a new log
 * starts, so the log keeps between one and two times that much.
 */
#ifndef QUEUE_HISTORY_H
#define QUEUE_HISTORY_H

#include <stddef.h>

#define HISTORY_FILE "history.jsonl"
#define HISTORY_OLD_FILE "history.jsonl.1"
#define HISTORY_MAX_BYTES ((size_t)4 << 20)

/* Append one line (a newline is added), rotating when the log is full.  0, or -1 with errno. */
int history_append(int dirfd, const char *line, size_t len);

/*
 * Call fn for every complete line (NUL-terminated, without its newline), oldest first (history.jsonl.1, then history.jsonl); fn
 * returns non-zero to stop.  Missing files are empty.  0, or -1 with errno.
 */
int history_each(int dirfd, int (*fn)(const char *line, size_t len, void *arg), void *arg);

#endif
