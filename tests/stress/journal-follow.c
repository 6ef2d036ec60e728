/*
 * journal-follow.c: record every commit to a governor queue journal, in commit order.
 *
 *   journal-follow STATE_DIR OUT STOP_FILE
 *
 * Commits append whole lines to queue.jsonl under the data lock, so the journal is the order in
 * which commits happened.  Compaction (and archiving) replace the file by rename with a copy of
 * the latest line of each live task; this follower keeps its descriptor on the old file, reads
 * it to the end (no writer touches a journal once it has been replaced), then follows the new
 * one, skipping lines identical to the latest line it already saw for that task (the copies).
 * Each new task line becomes "T-NN status" on OUT.  A partial last line is left until its
 * newline arrives.  Stops after a final drain once STOP_FILE exists; prints how many lines and
 * generations it read on stderr.  Exit 1 on an I/O error or an unparsable line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char **latest;         /* by task id: the latest line seen */
static size_t nlatest;
static unsigned long lines, events, copies, generations;

static void die(const char *what)
{
	fprintf(stderr, "journal-follow: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void line(FILE *out, char *s, size_t len)
{
	lines++;
	if (len >= 11 && strncmp(s, "{\"version\":", 11) == 0)
		return;
	s[len] = '\0';
	const char *id = strstr(s, "\"id\":\"T-"), *st = strstr(s, "\"status\":\"");
	if (!id || !st) {
		fprintf(stderr, "journal-follow: not a task line: %.200s\n", s);
		exit(1);
	}
	unsigned long n = strtoul(id + 8, NULL, 10);
	if (n >= nlatest) {
		size_t grown = (n + 1) * 2;
		char **p = realloc(latest, grown * sizeof *p);
		if (!p)
			die("realloc");
		memset(p + nlatest, 0, (grown - nlatest) * sizeof *p);
		latest = p;
		nlatest = grown;
	}
	if (latest[n] && strcmp(latest[n], s) == 0) {
		copies++;            /* the copy a compaction made */
		return;
	}
	free(latest[n]);
	if (!(latest[n] = strdup(s)))
		die("strdup");
	st += 10;
	fprintf(out, "T-%02lu %.*s\n", n, (int)strcspn(st, "\""), st);
	events++;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: journal-follow STATE_DIR OUT STOP_FILE\n");
		return 64;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/queue.jsonl", argv[1]);
	FILE *out = fopen(argv[2], "w");
	if (!out)
		die(argv[2]);
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap);
	int fd = -1, stopping = 0, replaced = 0;
	struct timespec nap = { 0, 2 * 1000 * 1000 };
	if (!buf)
		die("malloc");
	for (;;) {
		if (fd < 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno != ENOENT)
				die(path);
			if (fd >= 0) {
				generations++;
				have = 0;
			}
		}
		ssize_t n = 0;
		if (fd >= 0) {
			if (have == cap && !(buf = realloc(buf, cap *= 2)))
				die("realloc");
			n = read(fd, buf + have, cap - have);
			if (n < 0)
				die("read");
			have += (size_t)n;
			size_t pos = 0;
			char *nl;
			while ((nl = memchr(buf + pos, '\n', have - pos))) {
				line(out, buf + pos, (size_t)(nl - (buf + pos)));
				pos = (size_t)(nl - buf) + 1;
			}
			memmove(buf, buf + pos, have - pos);
			have -= pos;
		}
		if (n > 0)
			continue;
		/* At the end of this file: has it been replaced? */
		struct stat a, b;
		if (fd >= 0 && !replaced && stat(path, &a) == 0 && fstat(fd, &b) == 0 &&
		    (a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
			/* Read it to the end once more: a commit may have landed just before the rename. */
			replaced = 1;
			continue;
		}
		if (replaced) {
			replaced = 0;
			if (have)
				fprintf(stderr, "journal-follow: a replaced journal ended in a partial line\n");
			close(fd);
			fd = -1;
			continue;
		}
		if (stopping)
			break;
		if (access(argv[3], F_OK) == 0) {
			stopping = 1;    /* one more pass: read what was written before the stop */
			continue;
		}
		nanosleep(&nap, NULL);
	}
	if (fclose(out) != 0)
		die(argv[2]);
	if (fd >= 0)
		close(fd);
	free(buf);
	for (size_t i = 0; i < nlatest; i++)
		free(latest[i]);
	free(latest);
	fprintf(stderr, "journal-follow: %lu lines in %lu journal generations, %lu commits of task lines, %lu compaction copies\n",
	        lines, generations, events, copies);
	return 0;
}
