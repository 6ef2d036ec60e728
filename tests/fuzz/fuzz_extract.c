/*
 * fuzz_extract.c: json_path and filter evaluation of command and HTTP sources (probes/fetch.h):
 * fetch_path_check and fetch_extract on arbitrary output.
 *
 * Input layout: byte 0 picks the mode (JSON with a path, JSON with a path and a filter, CSV,
 * CSV with a divisor, exit status, a plain number); then up to three fields separated by
 * 0x01 bytes: json_path (or the CSV column digits), filter_field, filter_match; the rest,
 * after a 0x02 byte, is the output text.  A filter pattern with many repetition operators is
 * skipped (glibc regcomp is exponential in them, see fuzz_config.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int mode = data[0] % 6;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	const char *text = memchr(p, 0x02, (size_t)(end - p));
	if (!text)
		return 0;
	char *head = strndup(p, (size_t)(text - p));   /* stops at a NUL: fine */
	text++;
	char *fields[3] = { NULL, NULL, NULL }, *tok = head;
	for (int i = 0; i < 3 && tok; i++) {
		char *sep = strchr(tok, 0x01);
		if (sep)
			*sep = '\0';
		fields[i] = tok;
		tok = sep ? sep + 1 : NULL;
	}
	size_t reps = 0;
	for (const char *c = fields[2] ? fields[2] : ""; *c; c++)
		reps += *c == '+' || *c == '*' || *c == '{' || *c == '?';
	if (reps > 8) {
		free(head);
		return 0;
	}
	struct probe_extract x = { 0 };
	switch (mode) {
	case 0: x.json_path = fields[0]; break;
	case 1: x.json_path = fields[0]; x.filter_field = fields[1]; x.filter_match = fields[2]; break;
	case 2: x.field = fields[0] ? atoi(fields[0]) % 50 : 1; break;
	case 3: x.field = 1 + (fields[0] ? abs(atoi(fields[0])) % 5 : 0); x.field_div = 1 + (data[0] / 6) % 5; break;
	case 4: x.exit_status = true; break;
	case 5: break;
	}
	char *cause = NULL;
	if (x.json_path && fetch_path_check(x.json_path, &cause) < 0) {
		if (!cause)
			abort();
		free(cause);
		free(head);
		return 0;
	}
	if (x.filter_field && *x.filter_field && fetch_path_check(x.filter_field, &cause) < 0) {
		free(cause);
		free(head);
		return 0;
	}
	double v = NAN;
	size_t len = (size_t)(end - text);
	char *out = malloc(len + 1);      /* a job's output is NUL-terminated (fetch.h) */
	if (!out)
		abort();
	memcpy(out, text, len);
	out[len] = '\0';
	int rc = fetch_extract(out, len, mode == 4 ? data[0] % 3 : 0, &x, &v, &cause);
	free(out);
	if (rc < 0) {
		if (!cause)
			abort();
		free(cause);
	} else if (isnan(v)) {
		abort();     /* success means a number */
	}
	free(head);
	return 0;
}
