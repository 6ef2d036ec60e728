/* view.c: build the policy's view of a queue. */
#include "governor/view.h"

#include <stdlib.h>

int view_build(const struct queue *q, struct view *v)
{
	size_t n = queue_len(q), k = 0;
	*v = (struct view){ 0 };
	if (n && (!(v->tasks = malloc(n * sizeof *v->tasks)) || !(v->refs = malloc(n * sizeof *v->refs)))) {
		view_release(v);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct task *t = queue_at(q, i);
		v->counts[t->status]++;
		if (t->status != TASK_PENDING)
			continue;
		v->tasks[k] = (struct policy_task){
			.id = t->id, .priority = t->priority, .added_at_ms = t->added_at, .model = t->model,
		};
		v->refs[k++] = t;
	}
	v->pv = (struct policy_view){
		.pending = v->tasks,
		.npending = k,
		.claimed = (int)v->counts[TASK_CLAIMED],
		.running = (int)v->counts[TASK_RUNNING],
	};
	return 0;
}

void view_release(struct view *v)
{
	free(v->tasks);
	free(v->refs);
	*v = (struct view){ 0 };
}
