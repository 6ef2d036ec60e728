/*
 * cli.h: what every command shares: the context, the command table, the message funnel and the
 * exit codes.  governor/ is the only layer that prints or exits.
 */
#ifndef GOVERNOR_CLI_H
#define GOVERNOR_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "governor/config.h"

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
};

struct cmd {
	const char *name;
	const char *alias;
	int (*run)(struct ctx *ctx, int argc, char **argv);
	const char *synopsis;     /* after "governor NAME " */
	const char *summary;      /* one line for `governor --help` */
	const char *help;         /* the option list for `governor NAME --help` */
};

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
int cmd_done(struct ctx *ctx, int argc, char **argv);
int cmd_fail(struct ctx *ctx, int argc, char **argv);
int cmd_retry(struct ctx *ctx, int argc, char **argv);
int cmd_cancel(struct ctx *ctx, int argc, char **argv);
int cmd_skip(struct ctx *ctx, int argc, char **argv);
int cmd_log(struct ctx *ctx, int argc, char **argv);
int cmd_stats(struct ctx *ctx, int argc, char **argv);
int cmd_archive(struct ctx *ctx, int argc, char **argv);

/* Open (creating) the state dir: ctx->statefd, or -1 after reporting the error. */
int ctx_open_state(struct ctx *ctx);

/* The message funnel: "governor: " + message on stderr. */
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warnf(const struct ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* With -v only: "governor: " + message on stderr. */
void verbosef(const struct ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a module's malloc'd cause and free it; returns code. */
int fail_cause(int code, char *cause);
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

/* Resolve the state dir path (without opening it): ctx->state_dir, or NULL after an error. */
const char *ctx_state_path(struct ctx *ctx);

/*
 * Append an event to the history log: adds "at" (now) and "event" to ev, then deletes ev.
 * A failure to log is a warning, never a failed command.  Does nothing under --dry-run.
 */
void log_event(struct ctx *ctx, const char *event, struct cJSON *ev);

#endif
