/* fuzz_alerts.c: alerts_parse (alerts/pending.json), its round trip, and the edits made to it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/alerts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known[] = { "id", "kind", "at", "text", "sent", "task", "source" };

/*
 * The outbox as written reads back with every field governor uses unchanged, and writing that
 * again gives the same text.  (A number JSON cannot carry, 1e999 in a key governor does not
 * know, is written as null: hence the second round for the rest.)
 */
static void check_roundtrip(const cJSON *box)
{
	char *text = alerts_format(box), *again = NULL, *cause = NULL;
	cJSON *back = NULL;
	if (!text)
		return;
	if (alerts_parse(text, strlen(text), &back, &cause) < 0) {
		fprintf(stderr, "alerts_format output refused: %s: %s\n", cause, text);
		abort();
	}
	if (cJSON_GetArraySize(back) != cJSON_GetArraySize(box))
		abort();
	for (const cJSON *a = box->child, *b = back->child; a && b; a = a->next, b = b->next)
		for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
			if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, known[k]),
			                   cJSON_GetObjectItemCaseSensitive(b, known[k]), 1) &&
			    cJSON_GetObjectItemCaseSensitive(a, known[k]))
				abort();
	again = alerts_format(back);
	if (again && strcmp(again, text) != 0) {
		char *third = NULL;
		cJSON *back2 = NULL;
		/* allowed once: non-finite numbers became null */
		if (alerts_parse(again, strlen(again), &back2, &cause) < 0 ||
		    !(third = alerts_format(back2)) || strcmp(third, again) != 0)
			abort();
		free(third);
		cJSON_Delete(back2);
	}
	free(again);
	free(text);
	cJSON_Delete(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *box = NULL, *e;
	char *cause = NULL;
	if (alerts_parse((const char *)data, size, &box, &cause) < 0) {
		if (!cause || box)
			abort();
		free(cause);
		return 0;
	}
	/* What it read is written back as an outbox that reads the same. */
	check_roundtrip(box);
	/* Every text makes a request body that says the same text. */
	cJSON_ArrayForEach(e, box) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "text");
		char *body = alerts_payload(t->valuestring);
		cJSON *j = body ? cJSON_Parse(body) : NULL;
		const cJSON *back = cJSON_GetObjectItemCaseSensitive(j, "text");
		if (body && (!cJSON_IsString(back) || strcmp(back->valuestring, t->valuestring) != 0))
			abort();
		cJSON_Delete(j);
		free(body);
	}
	/* The edits a delivery and a raise make keep it valid and bounded. */
	struct alert a = { .kind = ALERT_STARVED, .at = 0 };
	snprintf(a.id, sizeof a.id, "fuzz");
	snprintf(a.text, sizeof a.text, "text");
	if (alerts_add(box, &a, "host") == 1 && alerts_mark(box, "fuzz", 0, "HTTP 500") < 0)
		abort();
	if (box->child) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(box->child, "id");
		if (alerts_mark(box, id->valuestring, 1000, NULL) < 0)
			abort();
	}
	size_t n = (size_t)cJSON_GetArraySize(box), unsent = alerts_unsent(box);
	alerts_trim(box, n / 2);
	if ((size_t)cJSON_GetArraySize(box) != n / 2 || alerts_unsent(box) > unsent)
		abort();
	check_roundtrip(box);
	cJSON_Delete(box);
	return 0;
}
