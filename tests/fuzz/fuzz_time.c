/*
 * fuzz_time.c: time_parse (every time in the journal, --at) and the round trip through
 * time_format: whatever time_parse accepts, time_format prints as a time time_parse accepts
 * again, equal to the whole second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64], buf[TIME_RFC3339_MAX];
	if (size >= sizeof s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t ms, again;
	if (time_parse(s, &ms) < 0)
		return 0;
	int64_t whole = ms >= 0 ? ms - ms % 1000 : ms - (1000 + ms % 1000) % 1000;
	time_format(ms, buf);
	if (time_parse(buf, &again) < 0 || again != whole) {
		fprintf(stderr, "'%s' = %lld ms, printed '%s', read back %lld\n", s, (long long)ms, buf,
		        (long long)again);
		abort();
	}
	return 0;
}
