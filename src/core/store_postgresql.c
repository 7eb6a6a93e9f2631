/* store_postgresql.c - the PostgreSQL store backend (libpq): one database shared by many nodes
 * and the receiver. Reached only through store.c's table; values always travel as parameters. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/store_backend.h"

/* Advisory lock key held while migrating, so that nodes starting together migrate once
 * ("relaygrd" in ASCII). */
#define PGSQL_STORE_MIGRATION_LOCK "8243113858876011108"
/* Most parameters of any statement below (the result insert has 18). */
#define PGSQL_STORE_PARAMS_MAX 20
/* Room for a signed 64-bit integer in decimal, its sign and the NUL. */
#define PGSQL_STORE_INT64_TEXT_SIZE 24
/* Longest server message copied into err before cleaning. */
#define PGSQL_STORE_MESSAGE_MAX 512

/* Migration N is pgsql_migrations[N - 1]; same tables as SQLite, PostgreSQL types. Append new
 * versions; never edit a published one. */
static const char *const pgsql_migrations[] = {
	/* 1: runs, results, tests (with their probe tokens), arrivals */
	"CREATE TABLE runs ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  command TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  node TEXT NOT NULL,"
	"  shard TEXT,"
	"  started_at BIGINT NOT NULL,"
	"  finished_at BIGINT,"
	"  status TEXT NOT NULL DEFAULT 'running'"
	"    CHECK (status IN ('running', 'finished', 'interrupted')));"
	"CREATE TABLE results ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  run_id BIGINT NOT NULL REFERENCES runs (id),"
	"  target TEXT NOT NULL,"
	"  address TEXT,"
	"  port INTEGER NOT NULL,"
	"  family TEXT,"
	"  mx_host TEXT,"
	"  mx_preference INTEGER,"
	"  mail_domain TEXT,"
	"  banner TEXT,"
	"  software TEXT,"
	"  software_version TEXT,"
	"  verdict TEXT NOT NULL"
	"    CHECK (verdict IN ('open', 'suspect', 'closed', 'inconclusive', 'unreachable')),"
	"  stage TEXT,"
	"  reason TEXT,"
	"  tricks TEXT NOT NULL DEFAULT '',"
	"  started_at BIGINT NOT NULL,"
	"  elapsed_ms BIGINT NOT NULL,"
	"  report_json TEXT,"
	"  verdict_before TEXT,"
	"  stage_before TEXT,"
	"  upgraded_at BIGINT);"
	"CREATE INDEX results_address ON results (address, started_at);"
	"CREATE INDEX results_target ON results (target, started_at);"
	"CREATE INDEX results_started ON results (started_at);"
	"CREATE INDEX results_run ON results (run_id);"
	"CREATE TABLE tests ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  result_id BIGINT NOT NULL REFERENCES results (id) ON DELETE CASCADE,"
	"  test_id TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  stage TEXT,"
	"  mail_from TEXT,"
	"  rcpt_to TEXT,"
	"  replies_json TEXT,"
	"  attempts INTEGER NOT NULL,"
	"  elapsed_ms BIGINT NOT NULL,"
	"  token TEXT UNIQUE,"
	"  delivered_at BIGINT);"
	"CREATE INDEX tests_result ON tests (result_id);"
	"CREATE TABLE arrivals ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  token TEXT NOT NULL,"
	"  peer TEXT,"
	"  mail_from TEXT,"
	"  rcpt_to TEXT,"
	"  arrived_at BIGINT NOT NULL,"
	"  result_id BIGINT REFERENCES results (id) ON DELETE SET NULL,"
	"  test_id TEXT);"
	"CREATE INDEX arrivals_token ON arrivals (token);"
	"CREATE INDEX arrivals_arrived ON arrivals (arrived_at);",
	/* 2: DNSBL listings and their history (identity ids are never reused: they name the
	 * evidence in TXT records and the serials of the history) */
	"CREATE TABLE listings ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  prefix TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL,"
	"  length INTEGER NOT NULL,"
	"  family TEXT NOT NULL CHECK (family IN ('ipv4', 'ipv6')),"
	"  reason TEXT NOT NULL,"
	"  origin TEXT NOT NULL CHECK (origin IN ('sync', 'manual', 'import')),"
	"  result_id BIGINT REFERENCES results (id) ON DELETE SET NULL,"
	"  comment TEXT,"
	"  listed_at BIGINT NOT NULL,"
	"  confirmed_at BIGINT NOT NULL,"
	"  expires_at BIGINT);"
	"CREATE INDEX listings_address ON listings (address);"
	"CREATE INDEX listings_expires ON listings (expires_at);"
	"CREATE TABLE listing_history ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  listing_id BIGINT NOT NULL,"
	"  prefix TEXT NOT NULL,"
	"  action TEXT NOT NULL CHECK (action IN ('listed', 'reconfirmed', 'updated', 'removed',"
	"    'delisted', 'expired')),"
	"  reason TEXT NOT NULL,"
	"  origin TEXT NOT NULL CHECK (origin IN ('sync', 'manual', 'import')),"
	"  result_id BIGINT REFERENCES results (id) ON DELETE SET NULL,"
	"  comment TEXT,"
	"  at BIGINT NOT NULL,"
	"  confirmed_at BIGINT NOT NULL,"
	"  expires_at BIGINT);"
	"CREATE INDEX listing_history_prefix ON listing_history (prefix, id);",
};

_Static_assert(sizeof(pgsql_migrations) / sizeof(pgsql_migrations[0]) == STORE_SCHEMA_VERSION,
    "one PostgreSQL migration per schema version");

#define PGSQL_HISTORY_COLUMNS \
	"SELECT id, run_id, target, address, port, verdict, stage, tricks, reason, " \
	"started_at, software, report_json FROM results "

static const char PGSQL_RUN_BEGIN[] = "INSERT INTO runs (command, version, node, shard, "
    "started_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
static const char PGSQL_RUN_END[] = "UPDATE runs SET finished_at = $1, status = $2 WHERE id = $3";
static const char PGSQL_RESULT_ADD[] = "INSERT INTO results (run_id, target, address, port, "
    "family, mx_host, mx_preference, mail_domain, banner, software, software_version, "
    "verdict, stage, reason, tricks, started_at, elapsed_ms, report_json) VALUES ($1, $2, $3, "
    "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id";
static const char PGSQL_TEST_ADD[] = "INSERT INTO tests (result_id, test_id, outcome, stage, "
    "mail_from, rcpt_to, replies_json, attempts, elapsed_ms, token) VALUES ($1, $2, $3, $4, "
    "$5, $6, $7, $8, $9, $10)";
/* FOR UPDATE: two receivers seeing tokens of one result upgrade it one after the other. */
static const char PGSQL_TOKEN_FIND[] = "SELECT t.result_id, t.test_id, r.verdict, r.stage, "
    "r.tricks, r.verdict_before, r.stage_before FROM tests t JOIN results r "
    "ON r.id = t.result_id WHERE t.token = $1 FOR UPDATE OF r";
static const char PGSQL_RESULT_UPGRADE[] = "UPDATE results SET verdict = $1, stage = $2, "
    "tricks = $3, verdict_before = $4, stage_before = $5, "
    "upgraded_at = COALESCE(upgraded_at, $6) WHERE id = $7";
static const char PGSQL_TEST_DELIVERED[] = "UPDATE tests SET outcome = $1, stage = $2, "
    "delivered_at = COALESCE(delivered_at, $3) WHERE token = $4";
static const char PGSQL_ARRIVAL_ADD[] = "INSERT INTO arrivals (token, peer, mail_from, rcpt_to, "
    "arrived_at, result_id, test_id) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/* LIMIT NULL is PostgreSQL's "no limit". */
static const char PGSQL_HISTORY_MATCH[] = PGSQL_HISTORY_COLUMNS
    "WHERE (address = $1 OR target = $2) AND started_at >= $3 "
    "ORDER BY started_at DESC, id DESC LIMIT $4";
static const char PGSQL_HISTORY_ALL[] = PGSQL_HISTORY_COLUMNS
    "WHERE started_at >= $1 ORDER BY started_at DESC, id DESC LIMIT $2";
/* Taken first in an arrival's transaction and held until its commit: arrival ids are handed
 * out and committed one transaction at a time, so a poller reading id > last never sees a
 * later id before an earlier one commits. Plain SELECTs are not blocked by this mode. Taken
 * before the token is looked up, so that a result stored meanwhile is either seen by the
 * look-up or sees the arrival (PGSQL_EARLY_ARRIVALS_LOCK). */
static const char PGSQL_ARRIVALS_LOCK[] = "LOCK TABLE arrivals IN SHARE ROW EXCLUSIVE MODE";
/* Taken by a result with tokens before it looks for their earlier arrivals: it waits for an
 * arrival transaction in progress (whose token look-up could not see this uncommitted result)
 * and makes the next one wait for this commit. Results do not wait for each other. */
static const char PGSQL_EARLY_ARRIVALS_LOCK[] = "LOCK TABLE arrivals IN ROW EXCLUSIVE MODE";
/* Of a result's tokens, the one whose first unlinked arrival came earliest, and its time. */
static const char PGSQL_EARLY_ARRIVAL_FIND[] = "SELECT a.token, MIN(a.arrived_at) FROM tests t "
    "JOIN arrivals a ON a.token = t.token WHERE t.result_id = $1 AND a.result_id IS NULL "
    "GROUP BY a.token ORDER BY 2, 1 LIMIT 1";
static const char PGSQL_EARLY_ARRIVALS_LINK[] = "UPDATE arrivals SET result_id = $1, "
    "test_id = $2 WHERE token = $3 AND result_id IS NULL";
static const char PGSQL_ARRIVALS_AFTER[] = "SELECT id, token, peer, mail_from, rcpt_to, "
    "arrived_at FROM arrivals WHERE id > $1 ORDER BY id LIMIT $2";
static const char PGSQL_ARRIVALS_LAST_ID[] = "SELECT COALESCE(MAX(id), 0) FROM arrivals";
/* Taken first by every listing change and held until its commit: listing writers go one at
 * a time, so history ids (the listing serials) commit in order and a poller of the serial
 * never misses a change. Readers are not blocked. */
static const char PGSQL_LISTINGS_LOCK[] = "LOCK TABLE listing_history IN SHARE ROW EXCLUSIVE "
    "MODE";
static const char PGSQL_LISTING_BY_PREFIX[] = STORE_SQL_LISTING_COLUMNS "WHERE prefix = $1";
static const char PGSQL_LISTINGS_ALL[] = STORE_SQL_LISTING_COLUMNS "ORDER BY id";
static const char PGSQL_LISTINGS_EXPIRED[] = STORE_SQL_LISTING_COLUMNS
    "WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY id";
static const char PGSQL_LISTING_INSERT[] = "INSERT INTO listings (prefix, address, length, "
    "family, reason, origin, result_id, comment, listed_at, confirmed_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
static const char PGSQL_LISTING_UPDATE[] = "UPDATE listings SET reason = $1, origin = $2, "
    "result_id = $3, comment = $4, confirmed_at = $5, expires_at = $6 WHERE id = $7";
static const char PGSQL_LISTING_DELETE[] = "DELETE FROM listings WHERE id = $1";
static const char PGSQL_EVENT_ADD[] = "INSERT INTO listing_history (listing_id, prefix, "
    "action, reason, origin, result_id, comment, at, confirmed_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
static const char PGSQL_EVENTS_ALL[] = STORE_SQL_EVENT_COLUMNS
    "WHERE id > $1 ORDER BY id LIMIT $2";
static const char PGSQL_EVENTS_PREFIX[] = STORE_SQL_EVENT_COLUMNS
    "WHERE prefix = $1 AND id > $2 ORDER BY id LIMIT $3";
static const char PGSQL_LISTING_SERIAL[] = "SELECT id, at FROM listing_history "
    "ORDER BY id DESC LIMIT 1";

struct pgsql_store {
	PGconn *conn;
};

/* Parameters of one statement, in order; text made valid UTF-8, integers in decimal. */
struct pgsql_params {
	int count;
	const char *values[PGSQL_STORE_PARAMS_MAX];
	char numbers[PGSQL_STORE_PARAMS_MAX][PGSQL_STORE_INT64_TEXT_SIZE];
	char *owned[PGSQL_STORE_PARAMS_MAX];
};

/* pgsql_params_slot - the next free parameter; more than PGSQL_STORE_PARAMS_MAX is our bug. */
static int
pgsql_params_slot(struct pgsql_params *params)
{
	if (params->count >= PGSQL_STORE_PARAMS_MAX)
		fatal("store=postgresql error=\"more than %d parameters\"", PGSQL_STORE_PARAMS_MAX);
	return params->count++;
}

/* pgsql_param_text - add a text parameter (NULL is SQL NULL). */
static void
pgsql_param_text(struct pgsql_params *params, const char *text)
{
	int slot = pgsql_params_slot(params);

	params->values[slot] = store_text_clean(text, &params->owned[slot]);
}

/* pgsql_param_int64 - add an integer parameter. */
static void
pgsql_param_int64(struct pgsql_params *params, int64_t value)
{
	int slot = pgsql_params_slot(params);

	snprintf(params->numbers[slot], sizeof(params->numbers[slot]), "%lld",
	    (long long)value);
	params->values[slot] = params->numbers[slot];
	params->owned[slot] = NULL;
}

/* pgsql_param_null - add a NULL parameter. */
static void
pgsql_param_null(struct pgsql_params *params)
{
	int slot = pgsql_params_slot(params);

	params->values[slot] = NULL;
	params->owned[slot] = NULL;
}

/* pgsql_params_free - free the cleaned copies of text parameters. */
static void
pgsql_params_free(struct pgsql_params *params)
{
	for (int i = 0; i < params->count; i++)
		free(params->owned[i]);
	params->count = 0;
}

/* pgsql_message_copy - a libpq message on one line: newlines and tabs become spaces, the
 * trailing ones go. */
static void
pgsql_message_copy(const char *message, char *out, size_t out_size)
{
	size_t used = 0;

	if (out_size == 0)
		return;
	for (size_t i = 0; message[i] != '\0' && used + 1 < out_size; i++) {
		char c = message[i];
		out[used++] = (c == '\n' || c == '\t' || c == '\r') ? ' ' : c;
	}
	while (used > 0 && out[used - 1] == ' ')
		used--;
	out[used] = '\0';
}

/* pgsql_fail - "postgresql store: what: message" into err; returns -1. */
static int
pgsql_fail(const char *what, const char *message, char *err, size_t err_size)
{
	char line[PGSQL_STORE_MESSAGE_MAX];

	pgsql_message_copy(message != NULL ? message : "unknown error", line, sizeof(line));
	return store_fail(err, err_size, "postgresql store: %s: %s", what, line);
}

/* pgsql_result_message - the server's primary message for a failed result, else the
 * connection's. */
static const char *
pgsql_result_message(PGconn *conn, const PGresult *result)
{
	const char *primary = NULL;

	if (result != NULL)
		primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
	if (primary != NULL)
		return primary;
	return PQerrorMessage(conn);
}

/* pgsql_exec - run sql with params and expect the given status; the result to PQclear, or
 * NULL with err set. */
static PGresult *
pgsql_exec(struct pgsql_store *store, const char *sql, const struct pgsql_params *params,
    ExecStatusType expect, const char *what, char *err, size_t err_size)
{
	PGresult *result;

	if (params != NULL)
		result = PQexecParams(store->conn, sql, params->count, NULL, params->values,
		    NULL, NULL, 0);
	else
		result = PQexec(store->conn, sql);
	if (result != NULL && PQresultStatus(result) == expect)
		return result;
	pgsql_fail(what, pgsql_result_message(store->conn, result), err, err_size);
	PQclear(result);
	return NULL;
}

/* pgsql_command - run sql that returns no rows. */
static int
pgsql_command(struct pgsql_store *store, const char *sql, const struct pgsql_params *params,
    const char *what, char *err, size_t err_size)
{
	PGresult *result = pgsql_exec(store, sql, params, PGRES_COMMAND_OK, what, err, err_size);

	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* pgsql_rollback - abandon the open transaction; the error already in err stays. */
static void
pgsql_rollback(struct pgsql_store *store)
{
	char err[PGSQL_STORE_MESSAGE_MAX];

	if (PQtransactionStatus(store->conn) == PQTRANS_IDLE)
		return;
	if (pgsql_command(store, "ROLLBACK", NULL, "rollback", err, sizeof(err)) != 0)
		log_warn("store=postgresql event=rollback-failed error=\"%s\"", err);
}

/* pgsql_int64 - a column parsed as a signed integer (0 for NULL, which callers never ask). */
static int64_t
pgsql_int64(const PGresult *result, int row, int column)
{
	if (PQgetisnull(result, row, column))
		return 0;
	return strtoll(PQgetvalue(result, row, column), NULL, 10);
}

/* pgsql_text - a column as text, NULL for SQL NULL. */
static const char *
pgsql_text(const PGresult *result, int row, int column)
{
	if (PQgetisnull(result, row, column))
		return NULL;
	return PQgetvalue(result, row, column);
}

/* pgsql_notice - server notices ("relation exists, skipping") go to the debug log, never to
 * stderr. */
static void
pgsql_notice(void *arg, const char *message)
{
	char line[PGSQL_STORE_MESSAGE_MAX];

	(void)arg;
	pgsql_message_copy(message, line, sizeof(line));
	log_debug("store=postgresql notice=\"%s\"", line);
}

/* pgsql_connected - make sure the connection is up; a broken one is reset once (a long-lived
 * receiver survives a server restart). */
static int
pgsql_connected(struct pgsql_store *store, char *err, size_t err_size)
{
	if (PQstatus(store->conn) == CONNECTION_OK)
		return 0;
	log_warn("store=postgresql event=reconnect");
	PQreset(store->conn);
	if (PQstatus(store->conn) != CONNECTION_OK)
		return pgsql_fail("reconnect", PQerrorMessage(store->conn), err, err_size);
	return 0;
}

/* pgsql_migrate_locked - inside the migration transaction and lock: refuse a newer schema,
 * apply what is missing. */
static int
pgsql_migrate_locked(struct pgsql_store *store, char *err, size_t err_size)
{
	PGresult *result;
	int64_t current;

	if (pgsql_command(store, "CREATE TABLE IF NOT EXISTS schema_version ("
	    "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", NULL,
	    "schema_version", err, err_size) != 0)
		return -1;
	result = pgsql_exec(store, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL,
	    PGRES_TUPLES_OK, "schema_version", err, err_size);
	if (result == NULL)
		return -1;
	current = pgsql_int64(result, 0, 0);
	PQclear(result);
	if (current > STORE_SCHEMA_VERSION)
		return store_fail(err, err_size, "store (postgresql database %s on %s) has "
		    "schema version %lld, newer than the %d this relayguard understands: use a "
		    "newer relayguard", PQdb(store->conn), PQhost(store->conn),
		    (long long)current, STORE_SCHEMA_VERSION);
	for (int version = (int)current + 1; version <= STORE_SCHEMA_VERSION; version++) {
		struct pgsql_params params = { 0 };
		char what[32];
		int status;

		snprintf(what, sizeof(what), "migration %d", version);
		if (pgsql_command(store, pgsql_migrations[version - 1], NULL, what, err,
		    err_size) != 0)
			return -1;
		pgsql_param_int64(&params, version);
		pgsql_param_int64(&params, (int64_t)time(NULL));
		status = pgsql_command(store, "INSERT INTO schema_version (version, applied_at) "
		    "VALUES ($1, $2)", &params, what, err, err_size);
		pgsql_params_free(&params);
		if (status != 0)
			return -1;
		log_info("store=postgresql event=migrated version=%d", version);
	}
	return 0;
}

/* pgsql_migrate - bring the schema to STORE_SCHEMA_VERSION under an advisory lock, in one
 * transaction: nodes that start together wait for the first one. */
static int
pgsql_migrate(struct pgsql_store *store, char *err, size_t err_size)
{
	PGresult *result;

	if (pgsql_command(store, "BEGIN", NULL, "begin migration", err, err_size) != 0)
		return -1;
	result = pgsql_exec(store, "SELECT pg_advisory_xact_lock(" PGSQL_STORE_MIGRATION_LOCK ")",
	    NULL, PGRES_TUPLES_OK, "migration lock", err, err_size);
	if (result == NULL) {
		pgsql_rollback(store);
		return -1;
	}
	PQclear(result);
	if (pgsql_migrate_locked(store, err, err_size) != 0 ||
	    pgsql_command(store, "COMMIT", NULL, "commit migration", err, err_size) != 0) {
		pgsql_rollback(store);
		return -1;
	}
	return 0;
}

static void pgsql_close(void *impl);
static int pgsql_run_begin(void *impl, const struct store_run *run, int64_t *run_id,
    char *err, size_t err_size);
static int pgsql_run_end(void *impl, int64_t run_id, int64_t finished_at, const char *status,
    char *err, size_t err_size);
static int pgsql_result_add(void *impl, int64_t run_id, const struct store_result *result,
    int64_t *result_id, char *err, size_t err_size);
static int pgsql_arrival_record(void *impl, const struct store_arrival *arrival, bool *matched,
    char *err, size_t err_size);
static int pgsql_history(void *impl, const struct store_query *query, store_history_fn fn,
    void *arg, char *err, size_t err_size);
static int pgsql_arrivals_page(void *impl, int64_t after_id, size_t limit,
    struct store_arrival_page *page, char *err, size_t err_size);
static int pgsql_arrivals_last_id(void *impl, int64_t *last_id, char *err, size_t err_size);
static int pgsql_listing_begin(void *impl, char *err, size_t err_size);
static int pgsql_listing_commit(void *impl, char *err, size_t err_size);
static void pgsql_listing_rollback(void *impl);
static int pgsql_listings_select(void *impl, const struct store_listing_query *query,
    store_listing_fn fn, void *arg, char *err, size_t err_size);
static int pgsql_listing_insert(void *impl, const struct store_listing_row *row, int64_t *id,
    char *err, size_t err_size);
static int pgsql_listing_update(void *impl, const struct store_listing *listing, char *err,
    size_t err_size);
static int pgsql_listing_delete(void *impl, int64_t id, char *err, size_t err_size);
static int pgsql_listing_event_add(void *impl, const struct store_listing_event *event,
    int64_t *serial, char *err, size_t err_size);
static int pgsql_listing_events(void *impl, const char *prefix, int64_t after, size_t limit,
    store_listing_event_fn fn, void *arg, char *err, size_t err_size);
static int pgsql_listing_serial(void *impl, int64_t *serial, int64_t *changed_at, char *err,
    size_t err_size);
static int pgsql_listing_candidates(void *impl, int64_t since, store_candidate_fn fn,
    void *arg, char *err, size_t err_size);
static int pgsql_listings_stale(void *impl, int64_t before, store_stale_fn fn, void *arg,
    char *err, size_t err_size);

static const struct store_ops pgsql_ops = {
	.name = "postgresql",
	.close = pgsql_close,
	.run_begin = pgsql_run_begin,
	.run_end = pgsql_run_end,
	.result_add = pgsql_result_add,
	.arrival_record = pgsql_arrival_record,
	.history = pgsql_history,
	.arrivals_page = pgsql_arrivals_page,
	.arrivals_last_id = pgsql_arrivals_last_id,
	.listing_begin = pgsql_listing_begin,
	.listing_commit = pgsql_listing_commit,
	.listing_rollback = pgsql_listing_rollback,
	.listings_select = pgsql_listings_select,
	.listing_insert = pgsql_listing_insert,
	.listing_update = pgsql_listing_update,
	.listing_delete = pgsql_listing_delete,
	.listing_event_add = pgsql_listing_event_add,
	.listing_events = pgsql_listing_events,
	.listing_serial = pgsql_listing_serial,
	.listing_candidates = pgsql_listing_candidates,
	.listings_stale = pgsql_listings_stale,
};

/* store_postgresql_open - check the URL, connect (UTF-8, quiet notices), migrate. */
int
store_postgresql_open(const char *url, const struct store_ops **ops, void **impl,
    char *err, size_t err_size)
{
	static const char *const keywords[] = {
		"dbname", "fallback_application_name", "client_encoding", NULL,
	};
	const char *values[] = { url, "relayguard", "UTF8", NULL };
	PQconninfoOption *options;
	char *message = NULL;
	struct pgsql_store *store;

	/* Parse first: a malformed URL gets its own message and never reaches the network. */
	options = PQconninfoParse(url, &message);
	if (options == NULL) {
		pgsql_fail("bad URL", message != NULL ? message : "out of memory", err, err_size);
		PQfreemem(message);
		return -1;
	}
	PQconninfoFree(options);

	store = xcalloc(1, sizeof(*store));
	store->conn = PQconnectdbParams(keywords, values, 1);
	if (store->conn == NULL)
		fatal("store=postgresql error=\"out of memory\"");
	if (PQstatus(store->conn) != CONNECTION_OK) {
		pgsql_fail("cannot connect", PQerrorMessage(store->conn), err, err_size);
		pgsql_close(store);
		return -1;
	}
	PQsetNoticeProcessor(store->conn, pgsql_notice, NULL);
	if (pgsql_migrate(store, err, err_size) != 0) {
		pgsql_close(store);
		return -1;
	}
	*ops = &pgsql_ops;
	*impl = store;
	return 0;
}

/* pgsql_close - end the session and free the store. */
static void
pgsql_close(void *impl)
{
	struct pgsql_store *store = impl;

	PQfinish(store->conn);
	free(store);
}

/* pgsql_run_begin - insert a run in state "running". */
static int
pgsql_run_begin(void *impl, const struct store_run *run, int64_t *run_id,
    char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	PGresult *result;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	pgsql_param_text(&params, run->command);
	pgsql_param_text(&params, run->version);
	pgsql_param_text(&params, run->node);
	pgsql_param_text(&params, store_text_or_null(run->shard));
	pgsql_param_int64(&params, run->started_at);
	result = pgsql_exec(store, PGSQL_RUN_BEGIN, &params, PGRES_TUPLES_OK, "run begin", err,
	    err_size);
	pgsql_params_free(&params);
	if (result == NULL)
		return -1;
	*run_id = pgsql_int64(result, 0, 0);
	PQclear(result);
	return 0;
}

/* pgsql_run_end - set the end time and status of an existing run. */
static int
pgsql_run_end(void *impl, int64_t run_id, int64_t finished_at, const char *status,
    char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	PGresult *result;
	bool changed;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	pgsql_param_int64(&params, finished_at);
	pgsql_param_text(&params, status);
	pgsql_param_int64(&params, run_id);
	result = pgsql_exec(store, PGSQL_RUN_END, &params, PGRES_COMMAND_OK, "run end", err,
	    err_size);
	pgsql_params_free(&params);
	if (result == NULL)
		return -1;
	changed = strcmp(PQcmdTuples(result), "0") != 0;
	PQclear(result);
	if (!changed)
		return store_fail(err, err_size, "postgresql store: run end: no run %lld",
		    (long long)run_id);
	return 0;
}

/* pgsql_test_add - insert one test row of result_id (inside the result's transaction). */
static int
pgsql_test_add(struct pgsql_store *store, int64_t result_id, const struct store_test *test,
    char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };
	int status;

	pgsql_param_int64(&params, result_id);
	pgsql_param_text(&params, test->test_id);
	pgsql_param_text(&params, test->outcome);
	pgsql_param_text(&params, test->stage);
	pgsql_param_text(&params, test->mail_from);
	pgsql_param_text(&params, test->rcpt_to);
	pgsql_param_text(&params, test->replies_json);
	pgsql_param_int64(&params, test->attempts);
	pgsql_param_int64(&params, test->elapsed_ms);
	pgsql_param_text(&params, store_text_or_null(test->token));
	status = pgsql_command(store, PGSQL_TEST_ADD, &params, "test add", err, err_size);
	pgsql_params_free(&params);
	return status;
}

static int pgsql_early_arrivals_link(struct pgsql_store *store, int64_t result_id,
    char *err, size_t err_size);

/* pgsql_result_add_locked - the inserts of store_result_add, inside its transaction; then the
 * arrivals of its tokens that came before it are applied. */
static int
pgsql_result_add_locked(struct pgsql_store *store, int64_t run_id,
    const struct store_result *result, int64_t *result_id, char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };
	PGresult *inserted;

	pgsql_param_int64(&params, run_id);
	pgsql_param_text(&params, result->target);
	pgsql_param_text(&params, result->address);
	pgsql_param_int64(&params, result->port);
	pgsql_param_text(&params, result->family);
	pgsql_param_text(&params, result->mx_host);
	if (result->mx_host != NULL)
		pgsql_param_int64(&params, result->mx_preference);
	else
		pgsql_param_null(&params);
	pgsql_param_text(&params, result->mail_domain);
	pgsql_param_text(&params, result->banner);
	pgsql_param_text(&params, result->software);
	pgsql_param_text(&params, result->software_version);
	pgsql_param_text(&params, result->verdict);
	pgsql_param_text(&params, result->stage);
	pgsql_param_text(&params, result->reason);
	pgsql_param_text(&params, result->tricks != NULL ? result->tricks : "");
	pgsql_param_int64(&params, result->started_at);
	pgsql_param_int64(&params, result->elapsed_ms);
	pgsql_param_text(&params, result->report_json);
	inserted = pgsql_exec(store, PGSQL_RESULT_ADD, &params, PGRES_TUPLES_OK, "result add", err,
	    err_size);
	pgsql_params_free(&params);
	if (inserted == NULL)
		return -1;
	*result_id = pgsql_int64(inserted, 0, 0);
	PQclear(inserted);
	for (size_t i = 0; i < result->test_count; i++) {
		if (pgsql_test_add(store, *result_id, &result->tests[i], err, err_size) != 0)
			return -1;
	}
	if (!store_result_registers_tokens(result))
		return 0;
	return pgsql_early_arrivals_link(store, *result_id, err, err_size);
}

/* pgsql_result_add - a result and its tests, all or nothing. */
static int
pgsql_result_add(void *impl, int64_t run_id, const struct store_result *result,
    int64_t *result_id, char *err, size_t err_size)
{
	struct pgsql_store *store = impl;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	if (pgsql_command(store, "BEGIN", NULL, "begin", err, err_size) != 0)
		return -1;
	if (pgsql_result_add_locked(store, run_id, result, result_id, err, err_size) != 0 ||
	    pgsql_command(store, "COMMIT", NULL, "commit", err, err_size) != 0) {
		pgsql_rollback(store);
		return -1;
	}
	return 0;
}

/* pgsql_upgrade - mark the token's test delivered and its result open/delivered; owner is the
 * row PGSQL_TOKEN_FIND returned (locked). */
static int
pgsql_upgrade(struct pgsql_store *store, const struct store_arrival *arrival, const PGresult *owner,
    char *err, size_t err_size)
{
	struct store_upgrade plan;
	struct pgsql_params params = { 0 };
	char *tricks;
	int status;

	store_upgrade_plan(pgsql_text(owner, 0, 2), pgsql_text(owner, 0, 3),
	    pgsql_text(owner, 0, 5), pgsql_text(owner, 0, 6), &plan);
	tricks = store_tricks_with(pgsql_text(owner, 0, 4), pgsql_text(owner, 0, 1));
	pgsql_param_text(&params, STORE_VERDICT_CONFIRMED);
	pgsql_param_text(&params, STORE_STAGE_CONFIRMED);
	pgsql_param_text(&params, tricks);
	pgsql_param_text(&params, plan.verdict_before);
	pgsql_param_text(&params, plan.stage_before);
	if (plan.verdict_before != NULL)
		pgsql_param_int64(&params, arrival->arrived_at);
	else
		pgsql_param_null(&params);
	pgsql_param_int64(&params, pgsql_int64(owner, 0, 0));
	status = pgsql_command(store, PGSQL_RESULT_UPGRADE, &params, "result upgrade", err,
	    err_size);
	pgsql_params_free(&params);
	free(tricks);
	if (status != 0)
		return -1;

	pgsql_param_text(&params, STORE_OUTCOME_CONFIRMED);
	pgsql_param_text(&params, STORE_STAGE_CONFIRMED);
	pgsql_param_int64(&params, arrival->arrived_at);
	pgsql_param_text(&params, arrival->token);
	status = pgsql_command(store, PGSQL_TEST_DELIVERED, &params, "test delivered", err,
	    err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_token_find - the test and result a token belongs to, the result row locked: a result
 * to PQclear with no row for an unknown token, or NULL with err set. */
static PGresult *
pgsql_token_find(struct pgsql_store *store, const char *token, char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };
	PGresult *owner;

	pgsql_param_text(&params, token);
	owner = pgsql_exec(store, PGSQL_TOKEN_FIND, &params, PGRES_TUPLES_OK, "token find", err,
	    err_size);
	pgsql_params_free(&params);
	return owner;
}

/* pgsql_early_arrival_apply - the upgrade a token's first arrival would have made had the
 * result been stored before it, then every unlinked arrival of the token linked. */
static int
pgsql_early_arrival_apply(struct pgsql_store *store, const struct store_arrival *arrival,
    char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };
	PGresult *owner, *linked;
	bool any;

	owner = pgsql_token_find(store, arrival->token, err, err_size);
	if (owner == NULL)
		return -1;
	if (PQntuples(owner) == 0) {
		PQclear(owner);
		return store_fail(err, err_size, "postgresql store: early arrival: token vanished");
	}
	if (pgsql_upgrade(store, arrival, owner, err, err_size) != 0) {
		PQclear(owner);
		return -1;
	}
	pgsql_param_int64(&params, pgsql_int64(owner, 0, 0));
	pgsql_param_text(&params, pgsql_text(owner, 0, 1));
	pgsql_param_text(&params, arrival->token);
	linked = pgsql_exec(store, PGSQL_EARLY_ARRIVALS_LINK, &params, PGRES_COMMAND_OK,
	    "early arrivals link", err, err_size);
	pgsql_params_free(&params);
	PQclear(owner);
	if (linked == NULL)
		return -1;
	any = strcmp(PQcmdTuples(linked), "0") != 0;
	PQclear(linked);
	/* Each pass must link something, or pgsql_early_arrivals_link would never end. */
	if (!any)
		return store_fail(err, err_size, "postgresql store: early arrivals link: no "
		    "arrival linked");
	return 0;
}

/* pgsql_early_arrivals_link - inside store_result_add's transaction: the arrivals of
 * result_id's tokens recorded before the result, applied token by token in the order they
 * first arrived, exactly as store_arrival_record would have applied them. */
static int
pgsql_early_arrivals_link(struct pgsql_store *store, int64_t result_id, char *err,
    size_t err_size)
{
	if (pgsql_command(store, PGSQL_EARLY_ARRIVALS_LOCK, NULL, "early arrivals lock", err,
	    err_size) != 0)
		return -1;
	for (;;) {
		struct pgsql_params params = { 0 };
		struct store_arrival arrival = { 0 };
		PGresult *found;
		int status;

		pgsql_param_int64(&params, result_id);
		found = pgsql_exec(store, PGSQL_EARLY_ARRIVAL_FIND, &params, PGRES_TUPLES_OK,
		    "early arrival find", err, err_size);
		pgsql_params_free(&params);
		if (found == NULL)
			return -1;
		if (PQntuples(found) == 0) {
			PQclear(found);
			return 0;
		}
		arrival.token = pgsql_text(found, 0, 0);
		arrival.arrived_at = pgsql_int64(found, 0, 1);
		status = pgsql_early_arrival_apply(store, &arrival, err, err_size);
		PQclear(found);
		if (status != 0)
			return -1;
	}
}

/* pgsql_arrival_record_locked - the work of store_arrival_record inside its transaction. */
static int
pgsql_arrival_record_locked(struct pgsql_store *store, const struct store_arrival *arrival,
    bool *matched, char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };
	PGresult *owner;
	int status;

	/* The first lock this transaction takes, so holding it while waiting for a result row
	 * cannot deadlock: every transaction that locks an existing result row and the arrivals
	 * table takes the arrivals lock first, and store_result_add locks only its own rows,
	 * which nobody else can see before it commits. */
	if (pgsql_command(store, PGSQL_ARRIVALS_LOCK, NULL, "arrivals lock", err,
	    err_size) != 0)
		return -1;
	owner = pgsql_token_find(store, arrival->token, err, err_size);
	if (owner == NULL)
		return -1;
	*matched = PQntuples(owner) > 0;
	if (*matched && pgsql_upgrade(store, arrival, owner, err, err_size) != 0) {
		PQclear(owner);
		return -1;
	}
	pgsql_param_text(&params, arrival->token);
	pgsql_param_text(&params, arrival->peer);
	pgsql_param_text(&params, arrival->mail_from);
	pgsql_param_text(&params, arrival->rcpt_to);
	pgsql_param_int64(&params, arrival->arrived_at);
	if (*matched) {
		pgsql_param_int64(&params, pgsql_int64(owner, 0, 0));
		pgsql_param_text(&params, pgsql_text(owner, 0, 1));
	} else {
		pgsql_param_null(&params);
		pgsql_param_null(&params);
	}
	status = pgsql_command(store, PGSQL_ARRIVAL_ADD, &params, "arrival add", err, err_size);
	pgsql_params_free(&params);
	PQclear(owner);
	return status;
}

/* pgsql_arrival_record - record an arrival and apply it, all or nothing. */
static int
pgsql_arrival_record(void *impl, const struct store_arrival *arrival, bool *matched,
    char *err, size_t err_size)
{
	struct pgsql_store *store = impl;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	if (pgsql_command(store, "BEGIN", NULL, "begin", err, err_size) != 0)
		return -1;
	if (pgsql_arrival_record_locked(store, arrival, matched, err, err_size) != 0 ||
	    pgsql_command(store, "COMMIT", NULL, "commit", err, err_size) != 0) {
		pgsql_rollback(store);
		*matched = false;
		return -1;
	}
	return 0;
}

/* A query whose rows are handed one at a time to row_fn(context, result, row). */
typedef void (*pgsql_row_fn)(const void *context, const PGresult *result, int row);

/* pgsql_stream - send sql with params and hand each row to row_fn as it arrives (single-row
 * mode: memory stays flat however many rows there are). */
static int
pgsql_stream(struct pgsql_store *store, const char *sql, const struct pgsql_params *params,
    pgsql_row_fn row_fn, const void *context, const char *what, char *err, size_t err_size)
{
	PGresult *result;
	int status = 0;

	if (!PQsendQueryParams(store->conn, sql, params->count, NULL, params->values, NULL, NULL,
	    0))
		return pgsql_fail(what, PQerrorMessage(store->conn), err, err_size);
	if (!PQsetSingleRowMode(store->conn))
		log_warn("store=postgresql event=no-single-row-mode query=\"%s\"", what);
	/* Every result must be read, even after an error, before the connection is usable. */
	while ((result = PQgetResult(store->conn)) != NULL) {
		ExecStatusType kind = PQresultStatus(result);
		if (status == 0 && (kind == PGRES_SINGLE_TUPLE || kind == PGRES_TUPLES_OK)) {
			for (int i = 0; i < PQntuples(result); i++)
				row_fn(context, result, i);
		} else if (status == 0) {
			status = pgsql_fail(what, pgsql_result_message(store->conn, result), err,
			    err_size);
		}
		PQclear(result);
	}
	return status;
}

/* pgsql_param_limit - add a row limit; 0 (no limit) is NULL, PostgreSQL's "no limit". */
static void
pgsql_param_limit(struct pgsql_params *params, size_t limit)
{
	if (limit == 0 || limit > (size_t)INT64_MAX)
		pgsql_param_null(params);
	else
		pgsql_param_int64(params, (int64_t)limit);
}

/* The callback of a history query, for pgsql_history_row. */
struct pgsql_history_context {
	store_history_fn fn;
	void *arg;
};

/* pgsql_history_row - hand one fetched row to the history callback. */
static void
pgsql_history_row(const void *context, const PGresult *result, int i)
{
	const struct pgsql_history_context *history = context;
	struct store_history_row row = {
		.result_id = pgsql_int64(result, i, 0),
		.run_id = pgsql_int64(result, i, 1),
		.target = pgsql_text(result, i, 2),
		.address = pgsql_text(result, i, 3),
		.port = (int)pgsql_int64(result, i, 4),
		.verdict = pgsql_text(result, i, 5),
		.stage = pgsql_text(result, i, 6),
		.tricks = pgsql_text(result, i, 7),
		.reason = pgsql_text(result, i, 8),
		.started_at = pgsql_int64(result, i, 9),
		.software = pgsql_text(result, i, 10),
		.report_json = pgsql_text(result, i, 11),
	};

	history->fn(history->arg, &row);
}

/* pgsql_history - stream the matching results, newest first, to fn. */
static int
pgsql_history(void *impl, const struct store_query *query, store_history_fn fn, void *arg,
    char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	struct pgsql_history_context context = { .fn = fn, .arg = arg };
	int status;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	if (query->match != NULL) {
		pgsql_param_text(&params, query->match);
		pgsql_param_text(&params, query->match);
	}
	pgsql_param_int64(&params, query->since);
	pgsql_param_limit(&params, query->limit);
	status = pgsql_stream(store, query->match != NULL ? PGSQL_HISTORY_MATCH :
	    PGSQL_HISTORY_ALL, &params, pgsql_history_row, &context, "history", err, err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_arrivals_page - read up to limit arrivals after after_id, oldest first, into page;
 * the whole page is fetched at once, so the connection is idle when the caller hands it on. */
static int
pgsql_arrivals_page(void *impl, int64_t after_id, size_t limit,
    struct store_arrival_page *page, char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	PGresult *result;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	pgsql_param_int64(&params, after_id);
	pgsql_param_limit(&params, limit);
	result = pgsql_exec(store, PGSQL_ARRIVALS_AFTER, &params, PGRES_TUPLES_OK,
	    "arrivals after", err, err_size);
	pgsql_params_free(&params);
	if (result == NULL)
		return -1;
	for (int i = 0; i < PQntuples(result); i++) {
		struct store_arrival_row row = {
			.id = pgsql_int64(result, i, 0),
			.token = pgsql_text(result, i, 1),
			.peer = pgsql_text(result, i, 2),
			.mail_from = pgsql_text(result, i, 3),
			.rcpt_to = pgsql_text(result, i, 4),
			.arrived_at = pgsql_int64(result, i, 5),
		};
		store_arrival_page_add(page, &row);
	}
	PQclear(result);
	return 0;
}

/* pgsql_arrivals_last_id - the highest arrival id, 0 for an empty table. */
static int
pgsql_arrivals_last_id(void *impl, int64_t *last_id, char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	PGresult *result;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	result = pgsql_exec(store, PGSQL_ARRIVALS_LAST_ID, NULL, PGRES_TUPLES_OK,
	    "arrivals last id", err, err_size);
	if (result == NULL)
		return -1;
	*last_id = pgsql_int64(result, 0, 0);
	PQclear(result);
	return 0;
}

/* ---- listings ------------------------------------------------------------------------- */

/* pgsql_listing_begin - a transaction holding the listing lock (PGSQL_LISTINGS_LOCK). */
static int
pgsql_listing_begin(void *impl, char *err, size_t err_size)
{
	struct pgsql_store *store = impl;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	if (pgsql_command(store, "BEGIN", NULL, "begin", err, err_size) != 0)
		return -1;
	if (pgsql_command(store, PGSQL_LISTINGS_LOCK, NULL, "listings lock", err,
	    err_size) != 0) {
		pgsql_rollback(store);
		return -1;
	}
	return 0;
}

/* pgsql_listing_commit - make the listing change visible. */
static int
pgsql_listing_commit(void *impl, char *err, size_t err_size)
{
	return pgsql_command(impl, "COMMIT", NULL, "commit", err, err_size);
}

/* pgsql_listing_rollback - abandon the listing change. */
static void
pgsql_listing_rollback(void *impl)
{
	pgsql_rollback(impl);
}

/* pgsql_param_optional - add value, or NULL when it is 0 ("none", "never"). */
static void
pgsql_param_optional(struct pgsql_params *params, int64_t value)
{
	if (value == 0)
		pgsql_param_null(params);
	else
		pgsql_param_int64(params, value);
}

/* pgsql_listing_at - the listing in columns first.. first+8 of a row (the order of
 * STORE_SQL_LISTING_COLUMNS); NULL integers read as 0. */
static void
pgsql_listing_at(const PGresult *result, int row, int first, struct store_listing *listing)
{
	*listing = (struct store_listing){
		.id = pgsql_int64(result, row, first),
		.prefix = pgsql_text(result, row, first + 1),
		.reason = pgsql_text(result, row, first + 2),
		.origin = pgsql_text(result, row, first + 3),
		.comment = pgsql_text(result, row, first + 4),
		.result_id = pgsql_int64(result, row, first + 5),
		.listed_at = pgsql_int64(result, row, first + 6),
		.confirmed_at = pgsql_int64(result, row, first + 7),
		.expires_at = pgsql_int64(result, row, first + 8),
	};
}

/* The caller's callback (the one its query kind uses) and its argument. */
struct pgsql_callback {
	store_listing_fn listing;
	store_listing_event_fn event;
	store_candidate_fn candidate;
	store_stale_fn stale;
	void *arg;
};

/* pgsql_listing_row - hand one listing row to a store_listing_fn. */
static void
pgsql_listing_row(const void *context, const PGresult *result, int row)
{
	const struct pgsql_callback *callback = context;
	struct store_listing listing;

	pgsql_listing_at(result, row, 0, &listing);
	callback->listing(callback->arg, &listing);
}

/* pgsql_listings_select - one listing, all of them, or the expired ones. */
static int
pgsql_listings_select(void *impl, const struct store_listing_query *query,
    store_listing_fn fn, void *arg, char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	struct pgsql_callback callback = { .listing = fn, .arg = arg };
	const char *sql = PGSQL_LISTINGS_ALL;
	int status;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	if (query->which == STORE_LISTINGS_BY_PREFIX) {
		sql = PGSQL_LISTING_BY_PREFIX;
		pgsql_param_text(&params, query->prefix);
	} else if (query->which == STORE_LISTINGS_EXPIRED) {
		sql = PGSQL_LISTINGS_EXPIRED;
		pgsql_param_int64(&params, query->now);
	}
	status = pgsql_stream(store, sql, &params, pgsql_listing_row, &callback, "listings", err,
	    err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_insert_returning - run an INSERT ... RETURNING id and read the id. */
static int
pgsql_insert_returning(struct pgsql_store *store, const char *sql, struct pgsql_params *params,
    const char *what, int64_t *id, char *err, size_t err_size)
{
	PGresult *result = pgsql_exec(store, sql, params, PGRES_TUPLES_OK, what, err, err_size);

	pgsql_params_free(params);
	if (result == NULL)
		return -1;
	*id = pgsql_int64(result, 0, 0);
	PQclear(result);
	return 0;
}

/* pgsql_listing_insert - a new listing; its id to *id. */
static int
pgsql_listing_insert(void *impl, const struct store_listing_row *row, int64_t *id, char *err,
    size_t err_size)
{
	const struct store_listing *listing = &row->listing;
	struct pgsql_params params = { 0 };

	pgsql_param_text(&params, listing->prefix);
	pgsql_param_text(&params, row->address);
	pgsql_param_int64(&params, row->length);
	pgsql_param_text(&params, row->family);
	pgsql_param_text(&params, listing->reason);
	pgsql_param_text(&params, listing->origin);
	pgsql_param_optional(&params, listing->result_id);
	pgsql_param_text(&params, store_text_or_null(listing->comment));
	pgsql_param_int64(&params, listing->listed_at);
	pgsql_param_int64(&params, listing->confirmed_at);
	pgsql_param_optional(&params, listing->expires_at);
	return pgsql_insert_returning(impl, PGSQL_LISTING_INSERT, &params, "listing insert", id,
	    err, err_size);
}

/* pgsql_listing_update - new reason, evidence and expiry of an existing listing. */
static int
pgsql_listing_update(void *impl, const struct store_listing *listing, char *err,
    size_t err_size)
{
	struct pgsql_params params = { 0 };
	int status;

	pgsql_param_text(&params, listing->reason);
	pgsql_param_text(&params, listing->origin);
	pgsql_param_optional(&params, listing->result_id);
	pgsql_param_text(&params, store_text_or_null(listing->comment));
	pgsql_param_int64(&params, listing->confirmed_at);
	pgsql_param_optional(&params, listing->expires_at);
	pgsql_param_int64(&params, listing->id);
	status = pgsql_command(impl, PGSQL_LISTING_UPDATE, &params, "listing update", err,
	    err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_listing_delete - drop a listing (its history stays). */
static int
pgsql_listing_delete(void *impl, int64_t id, char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };
	int status;

	pgsql_param_int64(&params, id);
	status = pgsql_command(impl, PGSQL_LISTING_DELETE, &params, "listing delete", err,
	    err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_listing_event_add - one history row; its id is the new listing serial. */
static int
pgsql_listing_event_add(void *impl, const struct store_listing_event *event, int64_t *serial,
    char *err, size_t err_size)
{
	struct pgsql_params params = { 0 };

	pgsql_param_int64(&params, event->listing_id);
	pgsql_param_text(&params, event->prefix);
	pgsql_param_text(&params, event->action);
	pgsql_param_text(&params, event->reason);
	pgsql_param_text(&params, event->origin);
	pgsql_param_optional(&params, event->result_id);
	pgsql_param_text(&params, store_text_or_null(event->comment));
	pgsql_param_int64(&params, event->at);
	pgsql_param_int64(&params, event->confirmed_at);
	pgsql_param_optional(&params, event->expires_at);
	return pgsql_insert_returning(impl, PGSQL_EVENT_ADD, &params, "listing history add",
	    serial, err, err_size);
}

/* pgsql_event_row - hand one history row to a store_listing_event_fn. */
static void
pgsql_event_row(const void *context, const PGresult *result, int row)
{
	const struct pgsql_callback *callback = context;
	struct store_listing_event event = {
		.serial = pgsql_int64(result, row, 0),
		.listing_id = pgsql_int64(result, row, 1),
		.prefix = pgsql_text(result, row, 2),
		.action = pgsql_text(result, row, 3),
		.reason = pgsql_text(result, row, 4),
		.origin = pgsql_text(result, row, 5),
		.comment = pgsql_text(result, row, 6),
		.result_id = pgsql_int64(result, row, 7),
		.at = pgsql_int64(result, row, 8),
		.confirmed_at = pgsql_int64(result, row, 9),
		.expires_at = pgsql_int64(result, row, 10),
	};

	event.listed = store_listing_action_lists(event.action);
	callback->event(callback->arg, &event);
}

/* pgsql_listing_events - history rows after a serial, of one prefix or all. */
static int
pgsql_listing_events(void *impl, const char *prefix, int64_t after, size_t limit,
    store_listing_event_fn fn, void *arg, char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	struct pgsql_callback callback = { .event = fn, .arg = arg };
	int status;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	if (prefix != NULL)
		pgsql_param_text(&params, prefix);
	pgsql_param_int64(&params, after);
	pgsql_param_limit(&params, limit);
	status = pgsql_stream(store, prefix != NULL ? PGSQL_EVENTS_PREFIX : PGSQL_EVENTS_ALL,
	    &params, pgsql_event_row, &callback, "listing history", err, err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_listing_serial - the newest history row's id and time (0, 0 when none). */
static int
pgsql_listing_serial(void *impl, int64_t *serial, int64_t *changed_at, char *err,
    size_t err_size)
{
	struct pgsql_store *store = impl;
	PGresult *result;

	*serial = 0;
	*changed_at = 0;
	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	result = pgsql_exec(store, PGSQL_LISTING_SERIAL, NULL, PGRES_TUPLES_OK, "listing serial",
	    err, err_size);
	if (result == NULL)
		return -1;
	if (PQntuples(result) > 0) {
		*serial = pgsql_int64(result, 0, 0);
		*changed_at = pgsql_int64(result, 0, 1);
	}
	PQclear(result);
	return 0;
}

/* pgsql_candidate_row - hand one candidate row to a store_candidate_fn. */
static void
pgsql_candidate_row(const void *context, const PGresult *result, int row)
{
	const struct pgsql_callback *callback = context;
	struct store_listing_candidate candidate = {
		.result_id = pgsql_int64(result, row, 0),
		.address = pgsql_text(result, row, 1),
		.prefix = pgsql_text(result, row, 2),
		.verdict = pgsql_text(result, row, 3),
		.stage = pgsql_text(result, row, 4),
		.seen_at = pgsql_int64(result, row, 5),
	};

	pgsql_listing_at(result, row, 6, &candidate.listing);
	callback->candidate(callback->arg, &candidate);
}

/* pgsql_listing_candidates - the addresses whose listing the results may change. */
static int
pgsql_listing_candidates(void *impl, int64_t since, store_candidate_fn fn, void *arg,
    char *err, size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	struct pgsql_callback callback = { .candidate = fn, .arg = arg };
	int status;

	pgsql_param_int64(&params, since);
	status = pgsql_stream(store, STORE_SQL_LISTING_CANDIDATES, &params, pgsql_candidate_row,
	    &callback, "listing candidates", err, err_size);
	pgsql_params_free(&params);
	return status;
}

/* pgsql_stale_row - hand one stale listing to a store_stale_fn. */
static void
pgsql_stale_row(const void *context, const PGresult *result, int row)
{
	const struct pgsql_callback *callback = context;
	struct store_stale_listing stale = {
		.address = pgsql_text(result, row, 0),
		.port = (int)pgsql_int64(result, row, 1),
		.checked_at = pgsql_int64(result, row, 2),
	};

	callback->stale(callback->arg, &stale);
}

/* pgsql_listings_stale - listed single addresses not checked since before. */
static int
pgsql_listings_stale(void *impl, int64_t before, store_stale_fn fn, void *arg, char *err,
    size_t err_size)
{
	struct pgsql_store *store = impl;
	struct pgsql_params params = { 0 };
	struct pgsql_callback callback = { .stale = fn, .arg = arg };
	int status;

	if (pgsql_connected(store, err, err_size) != 0)
		return -1;
	pgsql_param_int64(&params, before);
	status = pgsql_stream(store, STORE_SQL_LISTINGS_STALE, &params, pgsql_stale_row,
	    &callback, "stale listings", err, err_size);
	pgsql_params_free(&params);
	return status;
}
