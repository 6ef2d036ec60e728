/* main.c: global options, command lookup, config loading, and the check that stdout was written. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "governor/alerts.h"
#include "governor/cli.h"

static void main_usage(FILE *out)
{
	fprintf(out,
	        "usage: governor [-c FILE] [-d STATE_DIR] [-n] [-q|-v] [COMMAND [ARGS]]\n"
	        "\n"
	        "Gate background agent tasks behind the interactive session (the VIP lane).\n"
	        "With no command, runs 'check'.\n"
	        "\n"
	        "Commands:\n");
	for (size_t i = 0; i < ncommands; i++) {
		char name[40];
		snprintf(name, sizeof name, "%s%s%s", commands[i].name, commands[i].alias ? ", " : "",
		         commands[i].alias ? commands[i].alias : "");
		fprintf(out, "  %-14s %s\n", name, commands[i].summary);
	}
	fprintf(out,
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE     config file (else $GOVERNOR_CONFIG, ~/.config/governor/governor.conf,\n"
	        "                        /etc/governor/governor.conf)\n"
	        "  -d, --state-dir DIR   state dir (else $GOVERNOR_STATE_DIR, $XDG_STATE_HOME/governor,\n"
	        "                        ~/.local/state/governor)\n"
	        "  -n, --dry-run         change nothing: no claim, no commit, no log\n"
	        "  -q, --quiet           no warnings\n"
	        "  -v, --verbose         more detail on stderr\n"
	        "  -h, --help            this help; 'governor COMMAND --help' for a command\n"
	        "  -V, --version         print the version\n"
	        "\n"
	        "Exit codes: 0 ok, 1 runtime failure, 64 usage, 65 bad input data, 78 bad config;\n"
	        "check --exit-code: 0 READY, 3 NO_TASKS, 75 DEFERRED, 2 lock held.\n"
	        "See governor(1) and governor.conf(5).\n");
}

/* Whether a command's arguments ask for help (before any "--"). */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option globals[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char *default_argv[] = { "check", NULL };
	struct ctx ctx = { .statefd = -1 };
	char *cause = NULL;
	int c, rc;

	/* A closed stdout is an error we report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:d:nqvhV", globals, NULL)) != -1) {
		switch (c) {
		case 'c': ctx.config_path = optarg; break;
		case 'd': ctx.state_path = optarg; break;
		case 'n': ctx.dry_run = 1; break;
		case 'q': ctx.quiet = 1; break;
		case 'v': ctx.verbose = 1; break;
		case 'h':
			main_usage(stdout);
			return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
		case 'V':
			printf("governor %s\n", GOVERNOR_VERSION);
			return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
		default:
			if (optopt)
				errorf("unknown option '-%c' (see 'governor --help')", optopt);
			else
				errorf("unknown or incomplete option '%s' (see 'governor --help')", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	if (sub_argc == 0) {
		sub_argc = 1;
		sub_argv = default_argv;
	}
	const struct cmd *cmd = cmd_find(sub_argv[0]);
	if (!cmd) {
		errorf("unknown command '%s' (see 'governor --help')", sub_argv[0]);
		return EXIT_USAGE;
	}
	/* `schedule add --help` is the subcommand's help; `schedule --help` still comes here. */
	if (wants_help(sub_argc, sub_argv) &&
	    !((cmd->flags & CMD_OWN_HELP) && sub_argc > 1 && sub_argv[1][0] != '-')) {
		cmd_usage(cmd, stdout);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
	}
	if (config_load(ctx.config_path, &ctx.cfg, &cause) < 0)
		return fail_cause(EXIT_CONFIG, cause);

	verbosef(&ctx, "config: %s%s%s", ctx.cfg->file ? ctx.cfg->file : "none (defaults)",
	         ctx.cfg->file ? " from " : "", ctx.cfg->file ? ctx.cfg->file_origin : "");
	optind = 0;      /* GNU: re-initialise getopt for the command's own options */
	opterr = 0;
	rc = cmd->run(&ctx, sub_argc, sub_argv);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		errorf("cannot write to standard output: %m");
		if (rc == EXIT_OK)
			rc = EXIT_FAILURE_RUNTIME;
	}
	/* After the output is out: delivery never changes it or the exit code. */
	if (ctx.alerts_raised || (cmd->flags & CMD_ALERTS))
		alerts_flush(&ctx);
	free(ctx.blocked_before);
	if (ctx.statefd >= 0)
		close(ctx.statefd);
	free(ctx.state_dir);
	config_free(ctx.cfg);
	return rc;
}
