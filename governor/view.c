/* view.c: build the policy's view of a queue from its index entries alone. */
#include "governor/view.h"

#include <stdlib.h>

int view_build(const struct queue *q, int64_t now, struct view *v)
{
	size_t n = queue_count(q), k = 0;
	int claimed_here = 0, running_here = 0;   /* what max_concurrent limits */
	*v = (struct view){ 0 };
	if (n && !(v->tasks = malloc(n * sizeof *v->tasks)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct queue_entry *e = queue_entry(q, i);
		if (e->status < TASK__STATUS_COUNT)
			v->counts[e->status]++;
		claimed_here += e->status == TASK_CLAIMED && !e->foreign;
		running_here += e->status == TASK_RUNNING && !e->foreign;
		int64_t until;
		if (e->status != TASK_PENDING)
			continue;
		if (!queue_eligible(q, e, now, &until)) {
			v->waiting++;
			if (until && (!v->next_eligible_at || until < v->next_eligible_at))
				v->next_eligible_at = until;
			continue;
		}
		v->tasks[k++] = (struct policy_task){
			.id = e->id, .priority = e->priority, .added_at_ms = e->added_at,
		};
	}
	v->pv = (struct policy_view){
		.pending = v->tasks,
		.npending = k,
		.claimed = claimed_here,
		.running = running_here,
		.fleet_in_flight = (int)(v->counts[TASK_CLAIMED] + v->counts[TASK_RUNNING]),
	};
	return 0;
}

void view_release(struct view *v)
{
	free(v->tasks);
	*v = (struct view){ 0 };
}
