/* fuzz_duration.c: config_parse_duration, and its round trip through config_format_duration. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "governor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64], text[64];
	if (size >= sizeof s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t ms = -1, again = -1;
	if (config_parse_duration(s, &ms) < 0)
		return 0;
	if (ms < 0)
		abort();
	config_format_duration(ms, text, sizeof text);
	if (config_parse_duration(text, &again) < 0 || again != ms) {
		fprintf(stderr, "'%s' = %lld ms, formatted '%s', parsed back %lld\n", s, (long long)ms,
		        text, (long long)again);
		abort();
	}
	return 0;
}
