/* pgstore.c: the queue's rows in PostgreSQL (see pgstore.h and docs/fleet.md). */
#include "queue/pgstore.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/pq.h"
#include "queue/timefmt.h"

/*
 * The advisory lock of the store in the current search_path: the table's oid makes two
 * stores in one database (two schemas) independent.  The fleet lock is the same key + 1 << 31.
 */
#define STORE_KEY "((6778742::bigint << 32) | 'governor_tasks'::regclass::oid::bigint)"
#define INIT_KEY "(6778742::bigint << 32)"
#define DB_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

struct pgs {
	PGconn *conn;
	char *host;
	int in_tx;
};

/*
 * The migrations, in order: migrations[v - 1] takes a store from version v - 1 to v.  A step
 * is never edited once released; a change is a new step (docs/fleet.md, "Schema").
 */
static const char *const migrations[PGS_SCHEMA_VERSION] = {
	/* 1: the tables */
	"CREATE TABLE governor_meta ("
	"  one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	"  schema_version integer NOT NULL,"
	"  last_id bigint NOT NULL DEFAULT 0,"
	"  archived_count bigint NOT NULL DEFAULT 0);"
	"INSERT INTO governor_meta (schema_version) VALUES (1);"
	"CREATE TABLE governor_tasks ("
	"  id bigint PRIMARY KEY CHECK (id > 0),"
	"  status text NOT NULL CHECK (status IN ('pending', 'claimed', 'running', 'done',"
	"    'blocked', 'cancelled', 'skipped')),"
	"  priority integer NOT NULL,"
	"  added_at bigint NOT NULL,"
	"  deadline bigint NOT NULL,"
	"  eligible_at bigint NOT NULL,"
	"  after_id bigint NOT NULL,"
	"  retries integer NOT NULL,"
	"  max_retries integer NOT NULL,"
	"  has_model boolean NOT NULL,"
	"  host text,"
	"  archived boolean NOT NULL DEFAULT false,"
	"  doc text NOT NULL);",
	/* 2: loads and claims read only the live rows */
	"CREATE INDEX governor_tasks_live ON governor_tasks (status, priority) WHERE NOT archived;",
};

static int fail(char **cause, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char **cause, int code, const char *fmt, ...)
{
	char buf[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	*cause = strdup(buf);
	return code;
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Run sql with text parameters; NULL with *cause when it did not succeed. */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *params, char **cause)
{
	PGresult *r = n ? pq.PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0) : pq.PQexec(c, sql);
	ExecStatusType st = r ? pq.PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	fail(cause, QUEUE_EIO, "postgres: %s", r ? pq.PQresultErrorMessage(r) : pq.PQerrorMessage(c));
	pq.PQclear(r);
	return NULL;
}

static int exec(PGconn *c, const char *sql, int n, const char *const *params, char **cause)
{
	PGresult *r = run(c, sql, n, params, cause);
	pq.PQclear(r);
	return r ? QUEUE_OK : QUEUE_EIO;
}

static int64_t num(const PGresult *r, int row, int col)
{
	return strtoll(pq.PQgetvalue(r, row, col), NULL, 10);
}

/* A connection with a bounded wait: a heartbeat must not hang on an unreachable server. */
static int connect_db(const char *dsn, PGconn **out, char **cause)
{
	char why[300];
	if (pq_load(why, sizeof why) < 0)
		return fail(cause, QUEUE_EIO, "%s", why);
	setenv("PGCONNECT_TIMEOUT", "5", 0);
	setenv("PGAPPNAME", "governor", 0);
	PGconn *c = pq.PQconnectdb(dsn);
	if (!c || pq.PQstatus(c) != CONNECTION_OK) {
		int rc = fail(cause, QUEUE_EIO, "cannot connect to the postgres store: %s",
		              c ? pq.PQerrorMessage(c) : "out of memory");
		pq.PQfinish(c);
		return rc;
	}
	pq.PQsetNoticeProcessor(c, quiet, NULL);
	*out = c;
	return QUEUE_OK;
}

int pgs_open(const char *dsn, const char *host, struct pgs **out, char **cause)
{
	PGconn *c;
	int rc = connect_db(dsn, &c, cause);
	if (rc < 0)
		return rc;
	time_set_offset_ms(0);     /* measure against this host's own clock (a reconnect, too) */
	int64_t before = time_now_ms();
	PGresult *r = pq.PQexec(c, "SELECT schema_version, " DB_NOW_MS " FROM governor_meta");
	int64_t after = time_now_ms();
	const char *state = r ? pq.PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (r && pq.PQresultStatus(r) != PGRES_TUPLES_OK && state && strcmp(state, "42P01") == 0)
		rc = fail(cause, QUEUE_ECORRUPT, "the postgres store has no governor tables; create them "
		          "with: governor store init");
	else if (!r || pq.PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = fail(cause, QUEUE_EIO, "postgres: %s",
		          r ? pq.PQresultErrorMessage(r) : pq.PQerrorMessage(c));
	else if (pq.PQntuples(r) != 1)
		rc = fail(cause, QUEUE_ECORRUPT, "the postgres store's governor_meta table has %d rows, "
		          "not 1", pq.PQntuples(r));
	else if (num(r, 0, 0) > PGS_SCHEMA_VERSION)
		rc = fail(cause, QUEUE_ECORRUPT, "the postgres store has schema version %" PRId64 ", newer "
		          "than this governor knows (%d): upgrade governor on this host", num(r, 0, 0),
		          PGS_SCHEMA_VERSION);
	else if (num(r, 0, 0) < PGS_SCHEMA_VERSION)
		rc = fail(cause, QUEUE_ECORRUPT, "the postgres store has schema version %" PRId64 ", this "
		          "governor needs %d; migrate it with: governor store init", num(r, 0, 0),
		          PGS_SCHEMA_VERSION);
	else
		time_set_offset_ms(num(r, 0, 1) - before - (after - before) / 2);
	pq.PQclear(r);
	struct pgs *p = rc == QUEUE_OK ? calloc(1, sizeof *p) : NULL;
	if (p && !(p->host = strdup(host))) {
		free(p);
		p = NULL;
	}
	if (!p) {
		pq.PQfinish(c);
		return rc < 0 ? rc : fail(cause, QUEUE_ENOMEM, "out of memory");
	}
	p->conn = c;
	*out = p;
	return QUEUE_OK;
}

void pgs_forget(struct pgs *p)
{
	if (!p)
		return;
	close(pq.PQsocket(p->conn));     /* our copy of the descriptor; the parent keeps its own */
	free(p->host);
	free(p);                         /* p->conn is the parent's, left as it is */
}

int pgs_init(const char *dsn, int dry_run, int *from, char **cause)
{
	PGconn *c;
	int rc = connect_db(dsn, &c, cause);
	if (rc < 0)
		return rc;
	*from = 0;
	PGresult *r = NULL;
	if ((rc = exec(c, "BEGIN; SELECT pg_advisory_xact_lock" INIT_KEY, 0, NULL, cause)) < 0 ||
	    !(r = run(c, "SELECT to_regclass('governor_meta') IS NOT NULL", 0, NULL, cause)))
		goto out;
	if (strcmp(pq.PQgetvalue(r, 0, 0), "t") == 0) {
		pq.PQclear(r);
		if (!(r = run(c, "SELECT schema_version FROM governor_meta", 0, NULL, cause)))
			goto out;
		*from = pq.PQntuples(r) == 1 ? (int)num(r, 0, 0) : -1;
	}
	if (*from < 0 || *from > PGS_SCHEMA_VERSION) {
		rc = *from < 0 ? fail(cause, QUEUE_ECORRUPT, "governor_meta does not have exactly one row")
		               : fail(cause, QUEUE_ECORRUPT, "the postgres store has schema version %d, "
		                      "newer than this governor knows (%d); it was left as it is", *from,
		                      PGS_SCHEMA_VERSION);
		goto out;
	}
	for (int v = *from + 1; v <= PGS_SCHEMA_VERSION && rc == QUEUE_OK; v++) {
		char version[16];
		const char *params[] = { version };
		snprintf(version, sizeof version, "%d", v);
		if ((rc = exec(c, migrations[v - 1], 0, NULL, cause)) == QUEUE_OK)
			rc = exec(c, "UPDATE governor_meta SET schema_version = $1", 1, params, cause);
	}
	if (rc == QUEUE_OK)
		rc = exec(c, dry_run ? "ROLLBACK" : "COMMIT", 0, NULL, cause);
out:
	pq.PQclear(r);
	pq.PQfinish(c);
	return rc;
}

int pgs_begin(struct pgs *p, enum pgs_mode mode, int fleet, char **cause)
{
	static const char *const sql[] = {
		[PGS_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		[PGS_WRITE] = "BEGIN; SELECT pg_advisory_xact_lock" STORE_KEY,
		[PGS_CLAIM] = "BEGIN; SELECT pg_advisory_xact_lock_shared" STORE_KEY,
	};
	if (p->in_tx)
		return fail(cause, QUEUE_EIO, "internal error: a second transaction on the postgres store "
		            "while one is open");
	p->in_tx = 1;              /* even when the lock failed: pgs_end must roll back */
	int rc = exec(p->conn, sql[mode], 0, NULL, cause);
	if (rc == QUEUE_OK && mode == PGS_CLAIM && fleet)
		rc = exec(p->conn, "SELECT pg_advisory_xact_lock(" STORE_KEY " + (1::bigint << 31))", 0,
		          NULL, cause);
	return rc;
}

int pgs_end(struct pgs *p, int commit, char **cause)
{
	if (!p->in_tx)
		return QUEUE_OK;
	p->in_tx = 0;
	if (commit)
		return exec(p->conn, "COMMIT", 0, NULL, cause);
	char *ignored = NULL;
	exec(p->conn, "ROLLBACK", 0, NULL, &ignored);
	free(ignored);
	return QUEUE_OK;
}

int pgs_load(struct pgs *p, struct queue_entry **entries, size_t *n, unsigned long *last_id,
             unsigned long *archived_count, char **cause)
{
	const char *params[] = { p->host };
	PGresult *r = run(p->conn, "SELECT last_id, archived_count FROM governor_meta", 0, NULL, cause);
	if (!r)
		return QUEUE_EIO;
	*last_id = (unsigned long)num(r, 0, 0);
	*archived_count = (unsigned long)num(r, 0, 1);
	pq.PQclear(r);
	r = run(p->conn,
	        "SELECT id, status, priority, added_at, deadline, eligible_at, after_id, retries,"
	        " max_retries, has_model,"
	        " status IN ('claimed', 'running') AND host IS DISTINCT FROM $1"
	        " FROM governor_tasks WHERE NOT archived ORDER BY id", 1, params, cause);
	if (!r)
		return QUEUE_EIO;
	size_t rows = (size_t)pq.PQntuples(r);
	struct queue_entry *e = calloc(rows ? rows : 1, sizeof *e);
	if (!e) {
		pq.PQclear(r);
		return fail(cause, QUEUE_ENOMEM, "out of memory");
	}
	for (int i = 0; i < (int)rows; i++) {
		int status = task_status_parse(pq.PQgetvalue(r, i, 1));
		e[i] = (struct queue_entry){
			.id = (uint64_t)num(r, i, 0), .status = (uint8_t)(status < 0 ? 0 : status),
			.priority = (int32_t)num(r, i, 2), .added_at = num(r, i, 3),
			.deadline = num(r, i, 4), .eligible_at = num(r, i, 5),
			.after = (uint64_t)num(r, i, 6), .retries = (int32_t)num(r, i, 7),
			.max_retries = (int32_t)num(r, i, 8),
			.has_model = pq.PQgetvalue(r, i, 9)[0] == 't',
			.foreign = pq.PQgetvalue(r, i, 10)[0] == 't',
		};
	}
	pq.PQclear(r);
	*entries = e;
	*n = rows;
	return QUEUE_OK;
}

static int take_doc(PGresult *r, int col, char **doc, size_t *len, char **cause)
{
	size_t n = (size_t)pq.PQgetlength(r, 0, col);
	if (!(*doc = malloc(n + 1)))
		return fail(cause, QUEUE_ENOMEM, "out of memory");
	memcpy(*doc, pq.PQgetvalue(r, 0, col), n + 1);
	*len = n;
	return QUEUE_OK;
}

int pgs_doc(struct pgs *p, uint64_t id, char **doc, size_t *len, char **cause)
{
	char idtext[24];
	const char *params[] = { idtext };
	snprintf(idtext, sizeof idtext, "%" PRIu64, id);
	PGresult *r = run(p->conn, "SELECT doc FROM governor_tasks WHERE id = $1", 1, params, cause);
	if (!r)
		return QUEUE_EIO;
	int rc = pq.PQntuples(r) == 1 ? take_doc(r, 0, doc, len, cause)
	                              : fail(cause, QUEUE_ENOENT, "no task T-%02" PRIu64, id);
	pq.PQclear(r);
	return rc;
}

#define PUT_SQL \
	"INSERT INTO governor_tasks (id, status, priority, added_at, deadline, eligible_at," \
	" after_id, retries, max_retries, has_model, host, doc, archived)" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"

int pgs_put(struct pgs *p, const struct queue_entry *e, const char *host, const char *doc,
            enum pgs_put_mode mode, char **cause)
{
	char v[9][24];
	snprintf(v[0], 24, "%" PRIu64, e->id);
	snprintf(v[1], 24, "%" PRId32, e->priority);
	snprintf(v[2], 24, "%" PRId64, e->added_at);
	snprintf(v[3], 24, "%" PRId64, e->deadline);
	snprintf(v[4], 24, "%" PRId64, e->eligible_at);
	snprintf(v[5], 24, "%" PRIu64, e->after);
	snprintf(v[6], 24, "%" PRId32, e->retries);
	snprintf(v[7], 24, "%" PRId32, e->max_retries);
	snprintf(v[8], 24, "%s", e->has_model ? "t" : "f");
	const char *params[] = {
		v[0], task_status_name((enum task_status)e->status), v[1], v[2], v[3], v[4], v[5], v[6],
		v[7], v[8], host, doc, mode == PGS_KEEP_ARCHIVED ? "t" : "f",
	};
	static const char *const sql[] = {
		[PGS_REPLACE] = PUT_SQL " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
		" priority = excluded.priority, added_at = excluded.added_at,"
		" deadline = excluded.deadline, eligible_at = excluded.eligible_at,"
		" after_id = excluded.after_id, retries = excluded.retries,"
		" max_retries = excluded.max_retries, has_model = excluded.has_model,"
		" host = excluded.host, doc = excluded.doc",
		[PGS_KEEP] = PUT_SQL " ON CONFLICT (id) DO NOTHING",
		[PGS_KEEP_ARCHIVED] = PUT_SQL " ON CONFLICT (id) DO NOTHING",
	};
	PGresult *r = run(p->conn, sql[mode], 13, params, cause);
	if (!r)
		return QUEUE_EIO;
	int written = strcmp(pq.PQcmdTuples(r), "1") == 0;
	pq.PQclear(r);
	return written;
}

int pgs_set_counts(struct pgs *p, unsigned long last_id, unsigned long archived_count,
                   char **cause)
{
	char a[24], b[24];
	const char *params[] = { a, b };
	snprintf(a, sizeof a, "%lu", last_id);
	snprintf(b, sizeof b, "%lu", archived_count);
	return exec(p->conn, "UPDATE governor_meta SET last_id = $1, archived_count = $2", 2, params,
	            cause);
}

/* "{1,2,3}": ids as a bigint[] literal (malloc'd). */
static char *id_array(const uint64_t *ids, size_t n)
{
	char *s = malloc(n * 21 + 3), *w = s;
	if (!s)
		return NULL;
	*w++ = '{';
	for (size_t i = 0; i < n; i++)
		w += sprintf(w, "%s%" PRIu64, i ? "," : "", ids[i]);
	strcpy(w, "}");
	return s;
}

int pgs_archive(struct pgs *p, const uint64_t *ids, size_t n, char **cause)
{
	char *list = id_array(ids, n);
	const char *params[] = { list };
	if (!list)
		return fail(cause, QUEUE_ENOMEM, "out of memory");
	int rc = exec(p->conn, "UPDATE governor_tasks SET archived = true WHERE id = ANY($1::bigint[])",
	              1, params, cause);
	free(list);
	return rc;
}

int pgs_claim(struct pgs *p, const uint64_t *ids, size_t n, uint64_t *id, char **doc,
              size_t *len, char **cause)
{
	*id = 0;
	if (n == 0)
		return QUEUE_OK;
	char *list = id_array(ids, n);
	const char *params[] = { list };
	if (!list)
		return fail(cause, QUEUE_ENOMEM, "out of memory");
	PGresult *r = run(p->conn,
	                  "SELECT id, doc FROM governor_tasks"
	                  " WHERE id = ANY($1::bigint[]) AND NOT archived AND"
	                  " ((status = 'pending' AND eligible_at <= " DB_NOW_MS ") OR"
	                  "  (status = 'claimed' AND deadline <= " DB_NOW_MS "))"
	                  " ORDER BY array_position($1::bigint[], id)"
	                  " LIMIT 1 FOR UPDATE SKIP LOCKED", 1, params, cause);
	free(list);
	if (!r)
		return QUEUE_EIO;
	int rc = QUEUE_OK;
	if (pq.PQntuples(r) == 1 && (rc = take_doc(r, 1, doc, len, cause)) == QUEUE_OK)
		*id = (uint64_t)num(r, 0, 0);
	pq.PQclear(r);
	return rc;
}

int pgs_lock(struct pgs *p, uint64_t id, int status, int64_t deadline)
{
	char a[24], b[24], *cause = NULL;
	const char *params[] = { a, task_status_name((enum task_status)status), b };
	snprintf(a, sizeof a, "%" PRIu64, id);
	snprintf(b, sizeof b, "%" PRId64, deadline);
	PGresult *r = run(p->conn,
	                  "SELECT 1 FROM governor_tasks WHERE id = $1 AND status = $2 AND deadline = $3"
	                  " AND NOT archived FOR UPDATE SKIP LOCKED", 3, params, &cause);
	free(cause);
	int locked = r && pq.PQntuples(r) == 1;
	pq.PQclear(r);
	return locked;
}
