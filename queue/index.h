/*
 * index.h: queue.idx, the derived index of the journal (internal to queue/).
 *
 * A header and one struct queue_entry per task in id order, native byte order.  It is a cache:
 * valid only for the journal inode it names, up to `covered` bytes, in the boot that wrote it
 * (a reboot may have lost unsynced pages; rebuilding once per boot costs one replay).  It is
 * replaced atomically (temp file + rename) and never fsync'd: losing it loses nothing.
 */
#ifndef QUEUE_INDEX_H
#define QUEUE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"
#include "queue/timefmt.h"

#define INDEX_MAGIC "GOVIDX1\n"
#define INDEX_VERSION 4

struct index_header {
	char magic[8];
	uint32_t version, entry_size;
	uint64_t journal_dev, journal_ino, covered;
	uint64_t last_id, archived_count, count, live_bytes;
	char boot_id[BOOT_ID_MAX];
};

/*
 * Read queue.idx and check it is whole and from this boot; whether it fits the journal
 * (h->journal_dev, journal_ino, covered) is the caller's to check.  With entries NULL only the
 * header is read.  0 when usable (*entries malloc'd, caller frees), -1 when missing or not.
 */
int index_read(int dirfd, struct index_header *h, struct queue_entry **entries);

/* Replace queue.idx.  0, or -1 with errno. */
int index_write(int dirfd, const struct index_header *h, const struct queue_entry *entries);

#endif
