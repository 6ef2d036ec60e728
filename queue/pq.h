/*
 * pq.h: libpq, loaded with dlopen the first time the PostgreSQL store is used.
 *
 * A governor on the file store never maps libpq (nor the TLS, Kerberos and LDAP libraries it
 * pulls in): `ldd governor` does not list it, and a heartbeat does not pay for its loading.
 * The header gives the types; the functions are called through the table `pq`.  See
 * docs/fleet.md for why dlopen here and a helper executable for libcurl.
 */
#ifndef QUEUE_PQ_H
#define QUEUE_PQ_H

#include <libpq-fe.h>

#define PQ_FUNCTIONS(X)                                                                       \
	X(PGconn *, PQconnectdb, (const char *conninfo))                                          \
	X(ConnStatusType, PQstatus, (const PGconn *conn))                                         \
	X(char *, PQerrorMessage, (const PGconn *conn))                                           \
	X(void, PQfinish, (PGconn *conn))                                                         \
	X(PGresult *, PQexec, (PGconn *conn, const char *query))                                  \
	X(PGresult *, PQexecParams, (PGconn *conn, const char *command, int nParams,              \
	                             const Oid *paramTypes, const char *const *paramValues,       \
	                             const int *paramLengths, const int *paramFormats,            \
	                             int resultFormat))                                           \
	X(ExecStatusType, PQresultStatus, (const PGresult *res))                                  \
	X(char *, PQresultErrorMessage, (const PGresult *res))                                    \
	X(char *, PQresultErrorField, (const PGresult *res, int fieldcode))                       \
	X(void, PQclear, (PGresult *res))                                                         \
	X(int, PQntuples, (const PGresult *res))                                                  \
	X(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num))                  \
	X(int, PQgetlength, (const PGresult *res, int tup_num, int field_num))                    \
	X(char *, PQcmdTuples, (PGresult *res))                                                   \
	X(int, PQsocket, (const PGconn *conn))                                                    \
	X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, PQnoticeProcessor proc, void *arg))

#define PQ_MEMBER(ret, name, args) ret(*name) args;
struct pq_api {
	PQ_FUNCTIONS(PQ_MEMBER)
};
#undef PQ_MEMBER

/* Filled by pq_load(). */
extern struct pq_api pq;

/*
 * Load libpq.so.5 and resolve every function once; later calls return at once.  0, or -1 with
 * a message in why (which library or symbol is missing, and the package that provides it).
 */
int pq_load(char *why, size_t size);

/* Whether libpq is mapped into this process (tests prove the file store never maps it). */
int pq_loaded(void);

#endif
