/*
 * cli.h: what every command shares: the context, the command table, the message funnel and the
 * exit codes.  governor/ is the only layer that prints or exits.
 */
#ifndef GOVERNOR_CLI_H
#define GOVERNOR_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "governor/config.h"
#include "queue/task.h"

/* Exit codes (DESIGN 4; sysexits.h numbering). */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RUNTIME = 1,
	EXIT_LOCKED = 2,          /* check --exit-code: the decision lock is held */
	EXIT_NO_TASKS = 3,        /* check --exit-code */
	EXIT_USAGE = 64,
	EXIT_DATAERR = 65,
	EXIT_DEFERRED = 75,       /* check --exit-code */
	EXIT_CONFIG = 78,
};

struct ctx {
	const char *config_path;  /* -c */
	const char *state_path;   /* -d, else resolved by ctx_state_dir() */
	int dry_run, quiet, verbose;
	struct config *cfg;
	char *state_dir;          /* resolved path */
	int statefd;              /* -1 until ctx_open_state() */
	/* alerts.c: ids blocked when the latest write transaction began (ctx_commit compares) */
	uint64_t *blocked_before;
	size_t nblocked_before;
	int alerts_raised;        /* this process added to the outbox: main delivers before exit */
};

struct cmd {
	const char *name;
	const char *alias;
	int (*run)(struct ctx *ctx, int argc, char **argv);
	const char *synopsis;     /* after "governor NAME " */
	const char *summary;      /* one line for `governor --help` */
	const char *help;         /* the option list for `governor NAME --help` */
	unsigned flags;           /* CMD_* */
};

#define CMD_OWN_HELP 1u          /* has subcommands that answer --help themselves */
#define CMD_ALERTS 2u            /* a heartbeat: posts unsent alerts after its output (alerts.h) */

extern const struct cmd commands[];
extern const size_t ncommands;
const struct cmd *cmd_find(const char *name);
void cmd_usage(const struct cmd *c, FILE *out);

/* Commands, one file each. */
int cmd_check(struct ctx *ctx, int argc, char **argv);
int cmd_add(struct ctx *ctx, int argc, char **argv);
int cmd_pop(struct ctx *ctx, int argc, char **argv);
int cmd_list(struct ctx *ctx, int argc, char **argv);
int cmd_show(struct ctx *ctx, int argc, char **argv);
int cmd_probe(struct ctx *ctx, int argc, char **argv);
int cmd_config(struct ctx *ctx, int argc, char **argv);
int cmd_import(struct ctx *ctx, int argc, char **argv);
int cmd_schedule(struct ctx *ctx, int argc, char **argv);
int cmd_done(struct ctx *ctx, int argc, char **argv);
int cmd_fail(struct ctx *ctx, int argc, char **argv);
int cmd_retry(struct ctx *ctx, int argc, char **argv);
int cmd_cancel(struct ctx *ctx, int argc, char **argv);
int cmd_skip(struct ctx *ctx, int argc, char **argv);
int cmd_log(struct ctx *ctx, int argc, char **argv);
int cmd_stats(struct ctx *ctx, int argc, char **argv);
int cmd_archive(struct ctx *ctx, int argc, char **argv);
int cmd_store(struct ctx *ctx, int argc, char **argv);
int cmd_run(struct ctx *ctx, int argc, char **argv);
int cmd_logs(struct ctx *ctx, int argc, char **argv);
int cmd_alerts(struct ctx *ctx, int argc, char **argv);

/*
 * One decision cycle (check's whole work but printing).  On a decision, out->line is the
 * decision line (caller prints and deletes it) and the return value is check's exit code; on an
 * error the ERROR line and the message are already printed and out->line is NULL.
 */
struct check_request {
	int exit_code;               /* map the decision to an exit code (check --exit-code) */
	const char *snapshot_file;   /* decide on recorded readings */
};
struct check_result {
	struct cJSON *line;
	int status, reason;          /* enum policy_status, enum policy_reason */
	unsigned long task_id;       /* READY: the claimed task */
};
int check_cycle(struct ctx *ctx, const struct check_request *req, struct check_result *out);

/*
 * Pop the claimed task id (0: the oldest claim): it becomes running under the lease.  EXIT_OK
 * with *out (caller frees) and the number of pending tasks left, or an exit code after
 * reporting the error.
 */
struct task;
int pop_task(struct ctx *ctx, unsigned long id, struct task **out, size_t *pending);

/*
 * Apply a verb (done, fail, retry, cancel, skip) to task id and commit; outcome names a failed
 * attempt (NULL: "failed").  EXIT_OK with *out (the task as recorded; caller frees), or an exit
 * code after reporting the error.
 */
int report_task(struct ctx *ctx, unsigned long id, enum task_verb verb, const char *outcome,
                const char *text, struct task **out);

/* Open (creating) the state dir: ctx->statefd, or -1 after reporting the error. */
int ctx_open_state(struct ctx *ctx);

/* The message funnel: "governor: " + message on stderr. */
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warnf(const struct ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* With -v only: "governor: " + message on stderr. */
void verbosef(const struct ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a module's malloc'd cause and free it; returns code. */
int fail_cause(int code, char *cause);
/* A cause built like printf (at most 1023 bytes), malloc'd; NULL when out of memory. */
char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error for command c: message, the synopsis, exit code 64. */
int usage_error(const struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print a cJSON tree as one line on stdout; 0 or -1. */
struct cJSON;
int print_json_line(const struct cJSON *json);

/* Map a queue error to an exit code. */
int exit_for_queue_error(int queue_rc);


/*
 * Open the queue in ctx's state dir (which must be open) with the config's retry and archive
 * options: read-only when write is 0, else a write transaction (queue_begin flags).  Returns the
 * queue_error code; *cause on failure.
 */
struct queue;
int ctx_queue(struct ctx *ctx, int write, unsigned flags, struct queue **q, char **cause);

/*
 * Connect to the store the config names, once per process: nothing for the file store; for
 * store.backend = postgres, load libpq and connect (queue_use_postgres).  ctx_queue calls it;
 * check calls it first, so its clock is the store's from the start.  A queue_error code.
 */
int ctx_open_store(struct ctx *ctx, char **cause);

/*
 * queue_commit for a write transaction opened by ctx_queue, which also raises a task_blocked
 * alert (alerts.h) for every task the transaction blocked.  Same return as queue_commit.
 */
int ctx_commit(struct ctx *ctx, struct queue *q, char **cause);

/*
 * A prompt from standard input: at most TASK_PROMPT_MAX bytes plus one (so task_prompt_check
 * can say it is too long), trailing newlines dropped.  Caller frees; NULL on a read error.
 */
char *read_prompt_stdin(size_t *len);

/*
 * A task's PROMPT argument ('-' reads standard input) checked (task_prompt_check), and its
 * requested model, if any, on the allowlist.  EXIT_OK with *prompt (caller frees), or an exit
 * code after the message.
 */
int take_prompt(struct ctx *ctx, const char *arg, const char *model, char **prompt);

/* Resolve the state dir path (without opening it): ctx->state_dir, or NULL after an error. */
const char *ctx_state_path(struct ctx *ctx);

/*
 * Append an event to the history log: adds "at" (now) and "event" to ev, then deletes ev.
 * A failure to log is a warning, never a failed command.  Does nothing under --dry-run.
 */
void log_event(struct ctx *ctx, const char *event, struct cJSON *ev);

/*
 * Queue a task for every enabled schedule that is due at now (cmd-schedule.c): a no-op costing
 * one failed openat without schedules.json, and one read without a lock when nothing is due;
 * else, under the data lock, each due schedule whose last task is no longer pending, claimed or
 * running gets one task, and every due schedule's next_run moves past now.  Does nothing under
 * --dry-run.  ctx's state dir must be open.  Returns how many tasks were queued, or a
 * queue_error code with *cause (caller frees).
 */
int schedule_tick(struct ctx *ctx, int64_t now, char **cause);

#endif
