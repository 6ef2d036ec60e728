/* cmd-config.c: the effective configuration with the origin of every value. */
#include <getopt.h>
#include <stdio.h>

#include "governor/cli.h"

int cmd_config(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("config");
	int check = 0, opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'k')
			return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		check = 1;
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	/* Loading already validated everything: main exits 78 before we get here. */
	if (check)
		return EXIT_OK;
	const char *state = ctx_state_path(ctx);
	config_print(ctx->cfg, state ? state : "(none)", stdout);
	return EXIT_OK;
}
