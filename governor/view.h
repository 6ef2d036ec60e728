/*
 * view.h: the queue as the policy sees it: eligible pending tasks, and what is in flight.
 */
#ifndef GOVERNOR_VIEW_H
#define GOVERNOR_VIEW_H

#include <stdint.h>

#include "policy/policy.h"
#include "queue/queue.h"

struct view {
	struct policy_view pv;
	struct policy_task *tasks;   /* pv.pending; model is NULL until view_fill_model() */
	size_t counts[TASK__STATUS_COUNT];
	size_t waiting;              /* pending but not yet eligible (backoff, --at, --after) */
	int64_t next_eligible_at;    /* the earliest time a waiting task becomes eligible; 0 = unknown */
};

/* Build from the entries of q (after queue_expire).  0, or -1 when out of memory. */
int view_build(const struct queue *q, int64_t now, struct view *v);
void view_release(struct view *v);

#endif
