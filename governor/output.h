/*
 * output.h: the JSON shapes governor prints: readings (snapshots), tasks, and decision lines.
 * Trees returned here are new cJSON trees; the caller deletes them.
 */
#ifndef GOVERNOR_OUTPUT_H
#define GOVERNOR_OUTPUT_H

#include <stddef.h>

#include <cJSON.h>

#include "probes/snapshot.h"

/* A snapshot as the "readings" object: every reading, null when absent. */
cJSON *readings_to_json(const struct snapshot *s);

/*
 * Read a snapshot back: the output of `governor probe` ({"readings":{...}}), a decision line,
 * or a bare readings object.  Missing or null readings stay absent.  0, or -1 with *cause.
 */
int snapshot_from_json(const char *text, size_t len, struct snapshot *s, char **cause);

/* Add a number rounded to two decimals, or null when NAN. */
cJSON *add_reading(cJSON *obj, const char *key, double v);

#endif
