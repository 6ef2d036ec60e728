/*
 * history.h: the decision and transition log, history.jsonl in the state dir, one JSON object
 * a line, appended with O_APPEND (lines up to PIPE_BUF bytes never interleave).  It is a record
 * for people and for `governor log`; nothing reads it back to decide.
 */
#ifndef QUEUE_HISTORY_H
#define QUEUE_HISTORY_H

#include <stddef.h>

#define HISTORY_FILE "history.jsonl"

/* Append one line (a newline is added).  0, or -1 with errno. */
int history_append(int dirfd, const char *line, size_t len);

#endif
