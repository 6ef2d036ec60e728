/* cmd-alerts.c: `alerts`: the alert outbox as a table or JSON, and emptying it (--clear). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/alerts.h"
#include "governor/cli.h"

#define TEXT_COLUMNS 100

static const char *text_of(const cJSON *alert, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(alert, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The text on one line: control characters as spaces, cut at TEXT_COLUMNS characters. */
static void print_text_cell(const char *text)
{
	int cols = 0;
	for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
		if ((*s & 0xC0) != 0x80 && ++cols > TEXT_COLUMNS) {
			fputs("...", stdout);
			return;
		}
		putchar(*s < 0x20 || *s == 0x7f ? ' ' : *s);
	}
}

/* "yes", "no", or "failed" (posting was tried and failed; the JSON says why). */
static const char *sent_cell(const cJSON *alert)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(alert, "sent")))
		return "yes";
	return cJSON_GetObjectItemCaseSensitive(alert, "tries") ? "failed" : "no";
}

static void print_table(const cJSON *box, const char *title)
{
	const cJSON *e;
	int n = cJSON_GetArraySize(box);
	printf("%s — %d total, %zu unsent\n", title, n, alerts_unsent(box));
	if (n)
		printf("%-20s  %-14s  %-6s  %s\n", "AT", "KIND", "SENT", "TEXT");
	cJSON_ArrayForEach(e, box) {
		printf("%-20s  %-14s  %-6s  ", text_of(e, "at"), text_of(e, "kind"), sent_cell(e));
		print_text_cell(text_of(e, "text"));
		putchar('\n');
	}
}

int cmd_alerts(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clear", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("alerts");
	int clear = 0, json = 0, opt, rc;
	char *cause = NULL;
	cJSON *box;

	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': clear = 1; break;
		case 'j': json = 1; break;
		case 'n': ctx->dry_run = 1; break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	rc = clear ? alerts_clear(ctx->statefd, ctx->dry_run, &box, &cause)
	           : alerts_read(ctx->statefd, &box, &cause);
	if (rc < 0)
		return fail_cause(rc == -2 ? EXIT_DATAERR : EXIT_FAILURE_RUNTIME, cause);
	if (json)
		rc = print_json_line(box) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	else
		print_table(box, !clear ? "Alerts" : ctx->dry_run ? "Alerts that would be cleared"
		                                                   : "Alerts cleared");
	cJSON_Delete(box);
	return rc;
}
