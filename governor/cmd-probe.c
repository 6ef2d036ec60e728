/* cmd-probe.c: every reading now, as one JSON line that `check --snapshot` can replay. */
#include <cJSON.h>

#include "governor/cli.h"
#include "governor/output.h"
#include "probes/probe.h"
#include "queue/timefmt.h"

int cmd_probe(struct ctx *ctx, int argc, char **argv)
{
	const struct config *cfg = ctx->cfg;
	struct snapshot snap;
	char when[TIME_RFC3339_MAX];

	if (argc > 1)
		return usage_error(cmd_find("probe"), "unexpected argument '%s'", argv[1]);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	struct probe_request req = {
		.statefd = ctx->statefd,
		.cpu = true, .mem = true, .load = true, .disk = true, .psi = true,
		.sessions = cfg->nsources > 0,
		.cpu_sample_ms = cfg->cpu_sample_ms,
		.cpu_max_age_ms = cfg->cpu_max_age_ms,
		.sources = cfg->probe_sources,
		.nsources = cfg->nsources,
		.limits = cfg->probe_limits,
		.nlimits = cfg->nlimits,
	};
	probe_snapshot(&req, &snap);
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "probed_at", time_format(time_now_ms(), when));
	cJSON_AddItemToObject(line, "readings", readings_to_json(&snap));
	int rc = print_json_line(line) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	cJSON_Delete(line);
	return rc;
}
