/*
 * cmd-run.c: one heartbeat cycle as a single command: check, and on READY pop the task and
 * start CMD for it, detached, under a small supervisor that records how it ended (`run`); and
 * the task's output (`logs`).
 *
 * Process layout after `governor run -- CMD ...` prints its line:
 *
 *   supervisor (a fork of governor, its own session, stdio on /dev/null and the log)
 *     `- CMD (its own process group; stdout and stderr to logs/T-NN.log)
 *
 * The supervisor renews the task's lease while CMD runs, so a long task is not counted as lost;
 * if the supervisor itself dies the lease lapses and the task is retried, as DESIGN intends for a
 * lost worker.  CMD's exit status 0 is reported as done, anything else as fail with the end of
 * its log as the reason; --timeout sends SIGTERM to CMD's group, then SIGKILL after --grace,
 * and reports fail "timeout".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "governor/alerts.h"
#include "governor/cli.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

#define LOGS_DIR "logs"
#define TAIL_BYTES 600

struct run {
	struct ctx *ctx;
	char **argv;                 /* CMD and its arguments, placeholders substituted */
	int64_t timeout_ms, grace_ms;
	struct task *task;
	int logfd;
};

/* {id}, {prompt}, {model}, {fallback_model} as whole arguments; anything else as it is. */
static char **substitute(char **argv, int argc, const char *id, const char *prompt,
                         const char *model, const char *fallback)
{
	char **out = calloc((size_t)argc + 1, sizeof *out);
	if (!out)
		return NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "{id}") == 0)
			a = id;
		else if (strcmp(a, "{prompt}") == 0)
			a = prompt;
		else if (strcmp(a, "{model}") == 0)
			a = model;
		else if (strcmp(a, "{fallback_model}") == 0)
			a = fallback ? fallback : "";
		out[i] = (char *)a;
	}
	return out;
}

static int open_log(int statefd, const char *id, char **cause)
{
	char name[TASK_ID_MAX + 8];
	if (mkdirat(statefd, LOGS_DIR, 0700) < 0 && errno != EEXIST)
		goto fail;
	int dir = openat(statefd, LOGS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		goto fail;
	snprintf(name, sizeof name, "%s.log", id);
	int fd = statedir_openat(dir, name, O_RDWR | O_CREAT | O_APPEND);   /* read back for the tail */
	close(dir);
	if (fd < 0)
		goto fail;
	return fd;
fail:;
	char msg[256];
	snprintf(msg, sizeof msg, "cannot open the task log '%s/%s.log': %s", LOGS_DIR, id,
	         strerror(errno));
	*cause = strdup(msg);
	return -1;
}

/* The last lines of the log, as valid UTF-8 on one line, for a failure reason. */
static void log_tail(int fd, char *out, size_t size)
{
	char buf[TAIL_BYTES + 1];
	struct stat st;
	out[0] = '\0';
	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return;
	off_t off = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
	ssize_t n = pread(fd, buf, TAIL_BYTES, off);
	if (n <= 0)
		return;
	size_t len = (size_t)n, o = 0;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	size_t start = 0;
	if (off > 0)                              /* skip a partial first line */
		while (start < len && buf[start] != '\n')
			start++;
	for (size_t i = start; i < len && o + 4 < size; i++) {
		unsigned char c = (unsigned char)buf[i];
		out[o++] = c == '\n' ? ' ' : c < 0x20 || c >= 0x80 ? '?' : (char)c;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static void renew_lease(struct ctx *ctx, uint64_t id)
{
	struct queue *q;
	struct task *t = NULL;
	char *cause = NULL;
	if (ctx_queue(ctx, 1, 0, &q, &cause) < 0) {
		free(cause);
		return;
	}
	if (queue_get(q, id, &t, &cause) == 0 && t->status == TASK_RUNNING) {
		t->lease_expires_at = time_now_ms() + ctx->cfg->lease_ms;
		if (queue_put(q, t, &cause) == 0)
			queue_commit(q, &cause);
	}
	free(cause);
	task_free(t);
	queue_free(q);
}

static int wait_child(pid_t pid, int *status, int64_t deadline_ms)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (deadline_ms && time_now_ms() >= deadline_ms)
			return 0;
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/*
 * Close every descriptor but 0-2 and the ones kept (the log, the pid pipe, the state dir): what the caller of `governor run` had open
 * (a heartbeat's pipes, a test harness's fds) must not stay open in a detached task for hours.
 */
static void close_others(int keep_a, int keep_b, int keep_c)
{
	int fds[256];
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d)) && n < sizeof fds / sizeof fds[0];) {
		int fd = atoi(e->d_name);
		if (fd > 2 && fd != keep_a && fd != keep_b && fd != keep_c && fd != dirfd(d))
			fds[n++] = fd;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static void exec_task(struct run *r, const char *id, const char *model, const char *fallback)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	setpgid(0, 0);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(r->logfd, STDOUT_FILENO) < 0 ||
	    dup2(r->logfd, STDERR_FILENO) < 0)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);            /* governor ignores it; the task should not */
	setenv("GOVERNOR_TASK_ID", id, 1);
	setenv("GOVERNOR_PROMPT", r->task->prompt, 1);
	setenv("GOVERNOR_MODEL", model, 1);
	setenv("GOVERNOR_FALLBACK_MODEL", fallback ? fallback : "", 1);
	execvp(r->argv[0], r->argv);
	dprintf(STDERR_FILENO, "governor: cannot run '%s': %s\n", r->argv[0], strerror(errno));
	_exit(127);
}

/* The supervisor: start CMD, renew the lease, enforce the timeout, report the outcome. */
static void supervise(struct run *r, int report_fd, const char *model, const char *fallback)
{
	char id[TASK_ID_MAX], reason[TAIL_BYTES + 64], tail[TAIL_BYTES + 1];
	struct task *t = NULL;
	int status = 0, timed_out = 0;

	setsid();
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	dup2(r->logfd, STDERR_FILENO);       /* the supervisor's own complaints go to the log */
	close_others(r->logfd, report_fd, r->ctx->statefd);
	task_id_format(r->task->id, id);
	pid_t child = fork();
	if (child == 0)
		exec_task(r, id, model, fallback);
	if (child > 0)
		setpgid(child, child);
	ssize_t ignored = write(report_fd, &child, sizeof child);
	(void)ignored;
	close(report_fd);
	if (child < 0)
		_exit(EXIT_FAILURE_RUNTIME);

	int64_t start = time_now_ms(), renew_every = r->ctx->cfg->lease_ms / 3;
	int64_t deadline = r->timeout_ms ? start + r->timeout_ms : 0, next_renewal = start + renew_every;
	for (;;) {
		int64_t until = next_renewal;
		if (deadline && deadline < until)
			until = deadline;
		int w = wait_child(child, &status, until);
		if (w != 0)
			break;
		if (deadline && time_now_ms() >= deadline) {
			timed_out = 1;
			kill(-child, SIGTERM);
			if (wait_child(child, &status, time_now_ms() + r->grace_ms) == 0) {
				kill(-child, SIGKILL);
				wait_child(child, &status, 0);
			}
			break;
		}
		renew_lease(r->ctx, r->task->id);
		next_renewal = time_now_ms() + renew_every;
	}
	int ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (ok) {
		dprintf(STDERR_FILENO, "governor: %s exited 0\n", id);
	} else {
		log_tail(r->logfd, tail, sizeof tail);
		if (timed_out)
			snprintf(reason, sizeof reason, "timeout after %lld ms%s%s",
			         (long long)r->timeout_ms, tail[0] ? ": " : "", tail);
		else if (WIFSIGNALED(status))
			snprintf(reason, sizeof reason, "killed by signal %d%s%s", WTERMSIG(status),
			         tail[0] ? ": " : "", tail);
		else
			snprintf(reason, sizeof reason, "exit status %d%s%s", WEXITSTATUS(status),
			         tail[0] ? ": " : "", tail);
		dprintf(STDERR_FILENO, "governor: %s failed: %s\n", id, reason);
	}
	/* The task may have reported itself (governor done T-NN): then this is refused, harmlessly. */
	int rc = report_task(r->ctx, r->task->id, ok ? TASK_VERB_DONE : TASK_VERB_FAIL,
	                     timed_out ? "timeout" : NULL, ok ? NULL : reason, &t);
	task_free(t);
	if (r->ctx->alerts_raised)             /* main never runs here: post what this raised */
		alerts_flush(r->ctx);
	_exit(rc == EXIT_OK && ok ? EXIT_OK : EXIT_FAILURE_RUNTIME);
}

int cmd_run(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "grace", required_argument, NULL, 'g' },
		{ "exit-code", no_argument, NULL, 'e' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("run");
	struct run r = { .ctx = ctx, .grace_ms = 10000, .logfd = -1 };
	struct check_request req = { 0 };
	struct check_result res;
	int wait = 0, opt, rc;
	char *cause = NULL;

	while ((opt = getopt_long(argc, argv, "+n", opts, NULL)) != -1) {
		switch (opt) {
		case 'w': wait = 1; break;
		case 'e': req.exit_code = 1; break;
		case 'n': ctx->dry_run = 1; break;
		case 't':
		case 'g':
			if (config_parse_duration(optarg, opt == 't' ? &r.timeout_ms : &r.grace_ms) < 0) {
				errorf("invalid --%s '%s': a duration such as 90s, 15m or 2h",
				       opt == 't' ? "timeout" : "grace", optarg);
				return EXIT_DATAERR;
			}
			break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error(self, "no command given: governor run [OPTIONS] -- CMD [ARG...]");
	if (r.timeout_ms && r.timeout_ms >= ctx->cfg->lease_ms)
		verbosef(ctx, "the supervisor renews the lease, so --timeout may exceed policy.lease");

	rc = check_cycle(ctx, &req, &res);
	if (!res.line)
		return rc;
	if (res.status != POLICY_READY || ctx->dry_run) {
		if (print_json_line(res.line) < 0)
			rc = EXIT_FAILURE_RUNTIME;
		cJSON_Delete(res.line);
		return rc;
	}
	size_t pending;
	char id[TASK_ID_MAX], logname[TASK_ID_MAX + 16];
	if ((rc = pop_task(ctx, res.task_id, &r.task, &pending)) != EXIT_OK) {
		cJSON_Delete(res.line);
		return rc;
	}
	task_id_format(r.task->id, id);
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(res.line, "recommendation");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(rec, "model"),
	            *fb = cJSON_GetObjectItemCaseSensitive(rec, "fallback_model");
	const char *model = cJSON_IsString(m) ? m->valuestring : "";
	const char *fallback = cJSON_IsString(fb) ? fb->valuestring : NULL;
	r.argv = substitute(argv + optind, argc - optind, id, r.task->prompt, model, fallback);
	int pipefd[2] = { -1, -1 };
	if (!r.argv || (r.logfd = open_log(ctx->statefd, id, &cause)) < 0 ||
	    pipe(pipefd) < 0 || fcntl(pipefd[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(pipefd[1], F_SETFD, FD_CLOEXEC) < 0) {
		rc = fail_cause(EXIT_FAILURE_RUNTIME, cause ? cause : strdup(strerror(errno)));
		goto out;
	}
	fflush(NULL);                     /* nothing buffered may be written twice */
	pid_t sup = fork();
	if (sup == 0) {
		close(pipefd[0]);
		queue_forget_store();         /* a database connection is not shared across fork */
		supervise(&r, pipefd[1], model, fallback);
	}
	close(pipefd[1]);
	pid_t child = -1;
	if (sup < 0 || read(pipefd[0], &child, sizeof child) != (ssize_t)sizeof child || child < 0) {
		errorf("cannot start '%s' for %s: %s", r.argv[0], id, strerror(errno));
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	snprintf(logname, sizeof logname, "%s/%s.log", LOGS_DIR, id);
	cJSON_AddNumberToObject(res.line, "pid", child);
	cJSON_AddStringToObject(res.line, "log", logname);
	if (print_json_line(res.line) < 0)
		rc = EXIT_FAILURE_RUNTIME;
	if (wait && rc == EXIT_OK) {
		fflush(stdout);
		int status;
		while (waitpid(sup, &status, 0) < 0 && errno == EINTR)
			;
		rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
	}
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (r.logfd >= 0)
		close(r.logfd);
	free(r.argv);
	task_free(r.task);
	cJSON_Delete(res.line);
	return rc;
}

/* `logs ID [-f]`: the task's output; -f follows it while the task runs. */
int cmd_logs(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("logs");
	char id[TASK_ID_MAX], name[TASK_ID_MAX + 8], buf[8192];
	unsigned long n;
	int follow = 0, opt;

	while ((opt = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (opt != 'f')
			return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		follow = 1;
	}
	if (argc - optind != 1)
		return usage_error(self, argc - optind ? "one task id only" : "no task id given");
	if (task_id_parse(argv[optind], &n) < 0) {
		errorf("invalid task id '%s' (expected T-NN)", argv[optind]);
		return EXIT_DATAERR;
	}
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	task_id_format(n, id);
	snprintf(name, sizeof name, "%s.log", id);
	int dir = openat(ctx->statefd, LOGS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int fd = dir < 0 ? -1 : statedir_openat(dir, name, O_RDONLY);
	if (dir >= 0)
		close(dir);
	if (fd < 0) {
		errorf("no log for %s (only tasks started by 'governor run' have one)", id);
		return EXIT_DATAERR;
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r > 0) {
			if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r)
				break;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (!follow)
			break;
		/* At the end: keep following while the task is running. */
		fflush(stdout);
		struct queue *q;
		char *cause = NULL;
		int running = 0;
		if (ctx_queue(ctx, 0, 0, &q, &cause) == 0) {
			const struct queue_entry *e = queue_find(q, n);
			running = e && (e->status == TASK_RUNNING || e->status == TASK_CLAIMED);
			queue_free(q);
		}
		free(cause);
		if (!running) {
			follow = 0;                  /* one last read for what came before it ended */
			continue;
		}
		poll(NULL, 0, 250);
	}
	close(fd);
	return EXIT_OK;
}
