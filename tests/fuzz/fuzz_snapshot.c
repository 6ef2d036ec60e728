/* fuzz_snapshot.c: snapshot_from_json (check --snapshot) and its round trip. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/output.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot s, back;
	char *cause = NULL;
	if (snapshot_from_json((const char *)data, size, &s, &cause) < 0) {
		if (!cause)
			abort();
		free(cause);
		return 0;
	}
	/* What it read, printed as readings, reads back as the same snapshot (to two decimals). */
	cJSON *r = readings_to_json(&s);
	char *text = r ? cJSON_PrintUnformatted(r) : NULL;
	if (text && snapshot_from_json(text, strlen(text), &back, &cause) < 0) {
		fprintf(stderr, "readings_to_json output refused: %s: %s\n", cause, text);
		abort();
	}
	if (text && (back.sessions_background != s.sessions_background ||
	             back.sessions_interactive != s.sessions_interactive ||
	             isnan(back.cpu_percent) != isnan(s.cpu_percent)))
		abort();
	cJSON_free(text);
	cJSON_Delete(r);
	return 0;
}
