/* store_sqlite.c - the SQLite store backend: one file, WAL, migrations 1..N, cached prepared
 * statements. Reached only through store.c's table; never builds SQL from values. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/store_backend.h"

/* How long a writer waits for another process's lock (check and receiver share a file). */
#define SQLITE_STORE_BUSY_TIMEOUT_MS 10000
/* Longest file name quoted back in an error message. */
#define SQLITE_STORE_PATH_QUOTE_MAX 200

/* Migration N is sqlite_migrations[N - 1]; each runs once, in the transaction that records
 * it in schema_version. Append new versions; never edit a published one. */
static const char *const sqlite_migrations[] = {
	/* 1: runs, results, tests (with their probe tokens), arrivals */
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  command TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  node TEXT NOT NULL,"
	"  shard TEXT,"
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER,"
	"  status TEXT NOT NULL DEFAULT 'running'"
	"    CHECK (status IN ('running', 'finished', 'interrupted')));"
	"CREATE TABLE results ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs (id),"
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
	"  started_at INTEGER NOT NULL,"
	"  elapsed_ms INTEGER NOT NULL,"
	"  report_json TEXT,"
	"  verdict_before TEXT,"
	"  stage_before TEXT,"
	"  upgraded_at INTEGER);"
	"CREATE INDEX results_address ON results (address, started_at);"
	"CREATE INDEX results_target ON results (target, started_at);"
	"CREATE INDEX results_started ON results (started_at);"
	"CREATE INDEX results_run ON results (run_id);"
	"CREATE TABLE tests ("
	"  id INTEGER PRIMARY KEY,"
	"  result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,"
	"  test_id TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  stage TEXT,"
	"  mail_from TEXT,"
	"  rcpt_to TEXT,"
	"  replies_json TEXT,"
	"  attempts INTEGER NOT NULL,"
	"  elapsed_ms INTEGER NOT NULL,"
	"  token TEXT UNIQUE,"
	"  delivered_at INTEGER);"
	"CREATE INDEX tests_result ON tests (result_id);"
	"CREATE TABLE arrivals ("
	"  id INTEGER PRIMARY KEY,"
	"  token TEXT NOT NULL,"
	"  peer TEXT,"
	"  mail_from TEXT,"
	"  rcpt_to TEXT,"
	"  arrived_at INTEGER NOT NULL,"
	"  result_id INTEGER REFERENCES results (id) ON DELETE SET NULL,"
	"  test_id TEXT);"
	"CREATE INDEX arrivals_token ON arrivals (token);"
	"CREATE INDEX arrivals_arrived ON arrivals (arrived_at);",
	/* 2: DNSBL listings and their history (AUTOINCREMENT: ids are never reused, they name
	 * the evidence in TXT records and the serials of the history) */
	"CREATE TABLE listings ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  prefix TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL,"
	"  length INTEGER NOT NULL,"
	"  family TEXT NOT NULL CHECK (family IN ('ipv4', 'ipv6')),"
	"  reason TEXT NOT NULL,"
	"  origin TEXT NOT NULL CHECK (origin IN ('sync', 'manual', 'import')),"
	"  result_id INTEGER REFERENCES results (id) ON DELETE SET NULL,"
	"  comment TEXT,"
	"  listed_at INTEGER NOT NULL,"
	"  confirmed_at INTEGER NOT NULL,"
	"  expires_at INTEGER);"
	"CREATE INDEX listings_address ON listings (address);"
	"CREATE INDEX listings_expires ON listings (expires_at);"
	"CREATE TABLE listing_history ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  listing_id INTEGER NOT NULL,"
	"  prefix TEXT NOT NULL,"
	"  action TEXT NOT NULL CHECK (action IN ('listed', 'reconfirmed', 'updated', 'removed',"
	"    'delisted', 'expired')),"
	"  reason TEXT NOT NULL,"
	"  origin TEXT NOT NULL CHECK (origin IN ('sync', 'manual', 'import')),"
	"  result_id INTEGER REFERENCES results (id) ON DELETE SET NULL,"
	"  comment TEXT,"
	"  at INTEGER NOT NULL,"
	"  confirmed_at INTEGER NOT NULL,"
	"  expires_at INTEGER);"
	"CREATE INDEX listing_history_prefix ON listing_history (prefix, id);",
};

_Static_assert(sizeof(sqlite_migrations) / sizeof(sqlite_migrations[0]) == STORE_SCHEMA_VERSION,
    "one SQLite migration per schema version");

enum sqlite_statement {
	SQLITE_STMT_BEGIN,
	SQLITE_STMT_COMMIT,
	SQLITE_STMT_ROLLBACK,
	SQLITE_STMT_RUN_BEGIN,
	SQLITE_STMT_RUN_END,
	SQLITE_STMT_RESULT_ADD,
	SQLITE_STMT_TEST_ADD,
	SQLITE_STMT_TOKEN_FIND,
	SQLITE_STMT_RESULT_UPGRADE,
	SQLITE_STMT_TEST_DELIVERED,
	SQLITE_STMT_ARRIVAL_ADD,
	SQLITE_STMT_EARLY_ARRIVAL_FIND,
	SQLITE_STMT_EARLY_ARRIVALS_LINK,
	SQLITE_STMT_HISTORY_MATCH,
	SQLITE_STMT_HISTORY_ALL,
	SQLITE_STMT_ARRIVALS_AFTER,
	SQLITE_STMT_ARRIVALS_LAST_ID,
	SQLITE_STMT_LISTING_BY_PREFIX,
	SQLITE_STMT_LISTINGS_ALL,
	SQLITE_STMT_LISTINGS_EXPIRED,
	SQLITE_STMT_LISTING_INSERT,
	SQLITE_STMT_LISTING_UPDATE,
	SQLITE_STMT_LISTING_DELETE,
	SQLITE_STMT_EVENT_ADD,
	SQLITE_STMT_EVENTS_ALL,
	SQLITE_STMT_EVENTS_PREFIX,
	SQLITE_STMT_LISTING_SERIAL,
	SQLITE_STMT_LISTING_CANDIDATES,
	SQLITE_STMT_LISTINGS_STALE,
	SQLITE_STMT_COUNT,
};

#define SQLITE_HISTORY_COLUMNS \
	"SELECT id, run_id, target, address, port, verdict, stage, tricks, reason, " \
	"started_at, software, report_json FROM results "

static const char *const sqlite_statement_sql[SQLITE_STMT_COUNT] = {
	/* IMMEDIATE: take the write lock now, so a reader never has to upgrade (no deadlock). */
	[SQLITE_STMT_BEGIN] = "BEGIN IMMEDIATE",
	[SQLITE_STMT_COMMIT] = "COMMIT",
	[SQLITE_STMT_ROLLBACK] = "ROLLBACK",
	[SQLITE_STMT_RUN_BEGIN] = "INSERT INTO runs (command, version, node, shard, started_at) "
	    "VALUES (?, ?, ?, ?, ?)",
	[SQLITE_STMT_RUN_END] = "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
	[SQLITE_STMT_RESULT_ADD] = "INSERT INTO results (run_id, target, address, port, family, "
	    "mx_host, mx_preference, mail_domain, banner, software, software_version, verdict, "
	    "stage, reason, tricks, started_at, elapsed_ms, report_json) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[SQLITE_STMT_TEST_ADD] = "INSERT INTO tests (result_id, test_id, outcome, stage, "
	    "mail_from, rcpt_to, replies_json, attempts, elapsed_ms, token) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[SQLITE_STMT_TOKEN_FIND] = "SELECT t.result_id, t.test_id, r.verdict, r.stage, r.tricks, "
	    "r.verdict_before, r.stage_before FROM tests t JOIN results r ON r.id = t.result_id "
	    "WHERE t.token = ?",
	[SQLITE_STMT_RESULT_UPGRADE] = "UPDATE results SET verdict = ?, stage = ?, tricks = ?, "
	    "verdict_before = ?, stage_before = ?, upgraded_at = COALESCE(upgraded_at, ?) "
	    "WHERE id = ?",
	[SQLITE_STMT_TEST_DELIVERED] = "UPDATE tests SET outcome = ?, stage = ?, "
	    "delivered_at = COALESCE(delivered_at, ?) WHERE token = ?",
	[SQLITE_STMT_ARRIVAL_ADD] = "INSERT INTO arrivals (token, peer, mail_from, rcpt_to, "
	    "arrived_at, result_id, test_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
	/* The token of a result whose unlinked arrivals came first, with its first arrival. */
	[SQLITE_STMT_EARLY_ARRIVAL_FIND] = "SELECT a.token, MIN(a.arrived_at) FROM tests t "
	    "JOIN arrivals a ON a.token = t.token WHERE t.result_id = ? AND a.result_id IS NULL "
	    "GROUP BY a.token ORDER BY 2, 1 LIMIT 1",
	[SQLITE_STMT_EARLY_ARRIVALS_LINK] = "UPDATE arrivals SET result_id = ?, test_id = ? "
	    "WHERE token = ? AND result_id IS NULL",
	[SQLITE_STMT_HISTORY_MATCH] = SQLITE_HISTORY_COLUMNS
	    "WHERE (address = ? OR target = ?) AND started_at >= ? "
	    "ORDER BY started_at DESC, id DESC LIMIT ?",
	[SQLITE_STMT_HISTORY_ALL] = SQLITE_HISTORY_COLUMNS
	    "WHERE started_at >= ? ORDER BY started_at DESC, id DESC LIMIT ?",
	/* Writers are serialised (BEGIN IMMEDIATE) and arrivals are never deleted, so ids
	 * grow in commit order and a poller reading id > last misses nothing. */
	[SQLITE_STMT_ARRIVALS_AFTER] = "SELECT id, token, peer, mail_from, rcpt_to, arrived_at "
	    "FROM arrivals WHERE id > ? ORDER BY id LIMIT ?",
	[SQLITE_STMT_ARRIVALS_LAST_ID] = "SELECT COALESCE(MAX(id), 0) FROM arrivals",
	[SQLITE_STMT_LISTING_BY_PREFIX] = STORE_SQL_LISTING_COLUMNS "WHERE prefix = ?",
	[SQLITE_STMT_LISTINGS_ALL] = STORE_SQL_LISTING_COLUMNS "ORDER BY id",
	[SQLITE_STMT_LISTINGS_EXPIRED] = STORE_SQL_LISTING_COLUMNS
	    "WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY id",
	[SQLITE_STMT_LISTING_INSERT] = "INSERT INTO listings (prefix, address, length, family, "
	    "reason, origin, result_id, comment, listed_at, confirmed_at, expires_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[SQLITE_STMT_LISTING_UPDATE] = "UPDATE listings SET reason = ?, origin = ?, "
	    "result_id = ?, comment = ?, confirmed_at = ?, expires_at = ? WHERE id = ?",
	[SQLITE_STMT_LISTING_DELETE] = "DELETE FROM listings WHERE id = ?",
	[SQLITE_STMT_EVENT_ADD] = "INSERT INTO listing_history (listing_id, prefix, action, "
	    "reason, origin, result_id, comment, at, confirmed_at, expires_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[SQLITE_STMT_EVENTS_ALL] = STORE_SQL_EVENT_COLUMNS "WHERE id > ? ORDER BY id LIMIT ?",
	[SQLITE_STMT_EVENTS_PREFIX] = STORE_SQL_EVENT_COLUMNS
	    "WHERE prefix = ? AND id > ? ORDER BY id LIMIT ?",
	[SQLITE_STMT_LISTING_SERIAL] = "SELECT id, at FROM listing_history ORDER BY id DESC "
	    "LIMIT 1",
	[SQLITE_STMT_LISTING_CANDIDATES] = STORE_SQL_LISTING_CANDIDATES,
	[SQLITE_STMT_LISTINGS_STALE] = STORE_SQL_LISTINGS_STALE,
};

struct sqlite_store {
	sqlite3 *db;
	sqlite3_stmt *statements[SQLITE_STMT_COUNT];
};

/* Positional binding: each call binds the next parameter; the first failure is kept. */
struct sqlite_binder {
	sqlite3_stmt *statement;
	int index;
	int rc;
};

/* sqlite_binder_start - reset a cached statement and bind from its first parameter. */
static struct sqlite_binder
sqlite_binder_start(sqlite3_stmt *statement)
{
	sqlite3_reset(statement);
	sqlite3_clear_bindings(statement);
	return (struct sqlite_binder){ .statement = statement, .index = 1, .rc = SQLITE_OK };
}

/* sqlite_bind_text - bind text (NULL binds NULL), made valid UTF-8 first. */
static void
sqlite_bind_text(struct sqlite_binder *binder, const char *text)
{
	char *owned;
	const char *clean = store_text_clean(text, &owned);
	int rc;

	if (clean == NULL)
		rc = sqlite3_bind_null(binder->statement, binder->index);
	else
		rc = sqlite3_bind_text(binder->statement, binder->index, clean, -1,
		    SQLITE_TRANSIENT);
	free(owned);
	if (binder->rc == SQLITE_OK)
		binder->rc = rc;
	binder->index++;
}

/* sqlite_bind_int64 - bind an integer. */
static void
sqlite_bind_int64(struct sqlite_binder *binder, int64_t value)
{
	int rc = sqlite3_bind_int64(binder->statement, binder->index, value);

	if (binder->rc == SQLITE_OK)
		binder->rc = rc;
	binder->index++;
}

/* sqlite_bind_null - bind NULL. */
static void
sqlite_bind_null(struct sqlite_binder *binder)
{
	int rc = sqlite3_bind_null(binder->statement, binder->index);

	if (binder->rc == SQLITE_OK)
		binder->rc = rc;
	binder->index++;
}

/* sqlite_bind_limit - bind a row limit; 0 (no limit) binds -1, SQLite's "no limit". */
static void
sqlite_bind_limit(struct sqlite_binder *binder, size_t limit)
{
	if (limit == 0 || limit > (size_t)INT64_MAX)
		sqlite_bind_int64(binder, -1);
	else
		sqlite_bind_int64(binder, (int64_t)limit);
}

/* sqlite_fail - "what: sqlite's message" into err; returns -1. */
static int
sqlite_fail(struct sqlite_store *store, const char *what, char *err, size_t err_size)
{
	return store_fail(err, err_size, "sqlite store: %s: %s", what, sqlite3_errmsg(store->db));
}

/* sqlite_run - step a bound statement that returns no rows, then reset it. */
static int
sqlite_run(struct sqlite_store *store, struct sqlite_binder *binder, const char *what,
    char *err, size_t err_size)
{
	int rc;

	if (binder->rc != SQLITE_OK) {
		store_fail(err, err_size, "sqlite store: %s: cannot bind parameter %d: %s", what,
		    binder->index - 1, sqlite3_errstr(binder->rc));
		sqlite3_reset(binder->statement);
		return -1;
	}
	rc = sqlite3_step(binder->statement);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sqlite_fail(store, what, err, err_size);
		sqlite3_reset(binder->statement);
		return -1;
	}
	sqlite3_reset(binder->statement);
	return 0;
}

/* sqlite_simple - run one of the parameterless statements (BEGIN, COMMIT, ROLLBACK). */
static int
sqlite_simple(struct sqlite_store *store, enum sqlite_statement which, char *err,
    size_t err_size)
{
	struct sqlite_binder binder = sqlite_binder_start(store->statements[which]);

	return sqlite_run(store, &binder, sqlite_statement_sql[which], err, err_size);
}

/* sqlite_rollback - abandon the open transaction; the error already in err stays. */
static void
sqlite_rollback(struct sqlite_store *store)
{
	if (sqlite3_get_autocommit(store->db))
		return;	/* SQLite already rolled back (e.g. after SQLITE_FULL) */
	if (sqlite_simple(store, SQLITE_STMT_ROLLBACK, NULL, 0) != 0)
		log_warn("store=sqlite event=rollback-failed error=\"%s\"",
		    sqlite3_errmsg(store->db));
}

/* sqlite_exec - run literal SQL without values (pragmas, migrations). */
static int
sqlite_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t err_size)
{
	char *message = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK)
		return 0;
	store_fail(err, err_size, "sqlite store: %s: %s", what,
	    message != NULL ? message : sqlite3_errmsg(db));
	sqlite3_free(message);
	return -1;
}

/* sqlite_query_int64 - the first column of the first row of a literal query. */
static int
sqlite_query_int64(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t err_size)
{
	sqlite3_stmt *statement;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: %s: %s", sql, sqlite3_errmsg(db));
	rc = sqlite3_step(statement);
	if (rc != SQLITE_ROW) {
		store_fail(err, err_size, "sqlite store: %s: %s", sql, sqlite3_errmsg(db));
		sqlite3_finalize(statement);
		return -1;
	}
	*out = sqlite3_column_int64(statement, 0);
	sqlite3_finalize(statement);
	return 0;
}

/* sqlite_version_record - note in schema_version that migration `version` is applied. */
static int
sqlite_version_record(sqlite3 *db, int version, char *err, size_t err_size)
{
	sqlite3_stmt *statement;
	int rc;

	rc = sqlite3_prepare_v2(db, "INSERT INTO schema_version (version, applied_at) "
	    "VALUES (?, ?)", -1, &statement, NULL);
	if (rc != SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: schema_version: %s",
		    sqlite3_errmsg(db));
	sqlite3_bind_int(statement, 1, version);
	sqlite3_bind_int64(statement, 2, (int64_t)time(NULL));
	rc = sqlite3_step(statement);
	sqlite3_finalize(statement);
	if (rc != SQLITE_DONE)
		return store_fail(err, err_size, "sqlite store: schema_version: %s",
		    sqlite3_errmsg(db));
	return 0;
}

/* sqlite_migrate_locked - inside the write transaction: refuse a newer schema, apply what is
 * missing. */
static int
sqlite_migrate_locked(sqlite3 *db, const char *path, char *err, size_t err_size)
{
	int64_t current = 0;

	if (sqlite_exec(db, "CREATE TABLE IF NOT EXISTS schema_version ("
	    "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
	    "schema_version", err, err_size) != 0)
		return -1;
	if (sqlite_query_int64(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
	    &current, err, err_size) != 0)
		return -1;
	if (current > STORE_SCHEMA_VERSION)
		return store_fail(err, err_size, "store %.*s has schema version %lld, newer than "
		    "the %d this relayguard understands: use a newer relayguard",
		    SQLITE_STORE_PATH_QUOTE_MAX, path, (long long)current, STORE_SCHEMA_VERSION);
	for (int version = (int)current + 1; version <= STORE_SCHEMA_VERSION; version++) {
		char what[32];
		snprintf(what, sizeof(what), "migration %d", version);
		if (sqlite_exec(db, sqlite_migrations[version - 1], what, err, err_size) != 0)
			return -1;
		if (sqlite_version_record(db, version, err, err_size) != 0)
			return -1;
		log_info("store=sqlite event=migrated version=%d", version);
	}
	return 0;
}

/* sqlite_migrate - bring the schema to STORE_SCHEMA_VERSION in one write transaction, so
 * two processes opening a new file at once cannot both create it. */
static int
sqlite_migrate(sqlite3 *db, const char *path, char *err, size_t err_size)
{
	if (sqlite_exec(db, "BEGIN IMMEDIATE", "begin migration", err, err_size) != 0)
		return -1;
	if (sqlite_migrate_locked(db, path, err, err_size) != 0) {
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return sqlite_exec(db, "COMMIT", "commit migration", err, err_size);
}

/* sqlite_journal_wal - switch to write-ahead logging; a file system that cannot do WAL keeps
 * its journal mode, with a warning. */
static int
sqlite_journal_wal(sqlite3 *db, const char *path, char *err, size_t err_size)
{
	sqlite3_stmt *statement;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &statement, NULL) !=
	    SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: %s", sqlite3_errmsg(db));
	rc = sqlite3_step(statement);
	if (rc != SQLITE_ROW) {
		store_fail(err, err_size, "sqlite store %.*s: %s", SQLITE_STORE_PATH_QUOTE_MAX,
		    path, sqlite3_errmsg(db));
		sqlite3_finalize(statement);
		return -1;
	}
	const char *mode = (const char *)sqlite3_column_text(statement, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		char quoted[SQLITE_STORE_PATH_QUOTE_MAX];
		log_warn("store=sqlite event=no-wal path=%s journal_mode=%s",
		    log_escape(path, strlen(path), quoted, sizeof(quoted)),
		    mode != NULL ? mode : "none");
	}
	sqlite3_finalize(statement);
	return 0;
}

static void sqlite_close(void *impl);
static int sqlite_run_begin(void *impl, const struct store_run *run, int64_t *run_id,
    char *err, size_t err_size);
static int sqlite_run_end(void *impl, int64_t run_id, int64_t finished_at, const char *status,
    char *err, size_t err_size);
static int sqlite_result_add(void *impl, int64_t run_id, const struct store_result *result,
    int64_t *result_id, char *err, size_t err_size);
static int sqlite_arrival_record(void *impl, const struct store_arrival *arrival,
    bool *matched, char *err, size_t err_size);
static int sqlite_history(void *impl, const struct store_query *query, store_history_fn fn,
    void *arg, char *err, size_t err_size);
static int sqlite_arrivals_page(void *impl, int64_t after_id, size_t limit,
    struct store_arrival_page *page, char *err, size_t err_size);
static int sqlite_arrivals_last_id(void *impl, int64_t *last_id, char *err, size_t err_size);
static int sqlite_listing_begin(void *impl, char *err, size_t err_size);
static int sqlite_listing_commit(void *impl, char *err, size_t err_size);
static void sqlite_listing_rollback(void *impl);
static int sqlite_listings_select(void *impl, const struct store_listing_query *query,
    store_listing_fn fn, void *arg, char *err, size_t err_size);
static int sqlite_listing_insert(void *impl, const struct store_listing_row *row, int64_t *id,
    char *err, size_t err_size);
static int sqlite_listing_update(void *impl, const struct store_listing *listing, char *err,
    size_t err_size);
static int sqlite_listing_delete(void *impl, int64_t id, char *err, size_t err_size);
static int sqlite_listing_event_add(void *impl, const struct store_listing_event *event,
    int64_t *serial, char *err, size_t err_size);
static int sqlite_listing_events(void *impl, const char *prefix, int64_t after, size_t limit,
    store_listing_event_fn fn, void *arg, char *err, size_t err_size);
static int sqlite_listing_serial(void *impl, int64_t *serial, int64_t *changed_at, char *err,
    size_t err_size);
static int sqlite_listing_candidates(void *impl, int64_t since, store_candidate_fn fn,
    void *arg, char *err, size_t err_size);
static int sqlite_listings_stale(void *impl, int64_t before, store_stale_fn fn, void *arg,
    char *err, size_t err_size);

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.run_begin = sqlite_run_begin,
	.run_end = sqlite_run_end,
	.result_add = sqlite_result_add,
	.arrival_record = sqlite_arrival_record,
	.history = sqlite_history,
	.arrivals_page = sqlite_arrivals_page,
	.arrivals_last_id = sqlite_arrivals_last_id,
	.listing_begin = sqlite_listing_begin,
	.listing_commit = sqlite_listing_commit,
	.listing_rollback = sqlite_listing_rollback,
	.listings_select = sqlite_listings_select,
	.listing_insert = sqlite_listing_insert,
	.listing_update = sqlite_listing_update,
	.listing_delete = sqlite_listing_delete,
	.listing_event_add = sqlite_listing_event_add,
	.listing_events = sqlite_listing_events,
	.listing_serial = sqlite_listing_serial,
	.listing_candidates = sqlite_listing_candidates,
	.listings_stale = sqlite_listings_stale,
};

/* store_sqlite_open - open or create the file, set WAL and friends, migrate, prepare. */
int
store_sqlite_open(const char *path, const struct store_ops **ops, void **impl,
    char *err, size_t err_size)
{
	struct sqlite_store *store;
	int rc;

	store = xcalloc(1, sizeof(*store));
	rc = sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL);
	if (rc != SQLITE_OK) {
		store_fail(err, err_size, "cannot open sqlite store %.*s: %s",
		    SQLITE_STORE_PATH_QUOTE_MAX, path,
		    store->db != NULL ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
		sqlite_close(store);
		return -1;
	}
	sqlite3_extended_result_codes(store->db, 1);
	sqlite3_busy_timeout(store->db, SQLITE_STORE_BUSY_TIMEOUT_MS);
	if (sqlite_journal_wal(store->db, path, err, err_size) != 0 ||
	    sqlite_exec(store->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
	    "pragmas", err, err_size) != 0 ||
	    sqlite_migrate(store->db, path, err, err_size) != 0) {
		sqlite_close(store);
		return -1;
	}
	for (int i = 0; i < SQLITE_STMT_COUNT; i++) {
		rc = sqlite3_prepare_v3(store->db, sqlite_statement_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &store->statements[i], NULL);
		if (rc != SQLITE_OK) {
			store_fail(err, err_size, "sqlite store: cannot prepare '%s': %s",
			    sqlite_statement_sql[i], sqlite3_errmsg(store->db));
			sqlite_close(store);
			return -1;
		}
	}
	*ops = &sqlite_ops;
	*impl = store;
	return 0;
}

/* sqlite_close - finalize the statements and close the file (checkpointing the WAL). */
static void
sqlite_close(void *impl)
{
	struct sqlite_store *store = impl;

	for (int i = 0; i < SQLITE_STMT_COUNT; i++)
		sqlite3_finalize(store->statements[i]);
	if (store->db != NULL && sqlite3_close(store->db) != SQLITE_OK)
		log_warn("store=sqlite event=close-failed error=\"%s\"",
		    sqlite3_errmsg(store->db));
	free(store);
}

/* sqlite_run_begin - insert a run in state "running". */
static int
sqlite_run_begin(void *impl, const struct store_run *run, int64_t *run_id,
    char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_binder binder = sqlite_binder_start(store->statements[SQLITE_STMT_RUN_BEGIN]);

	sqlite_bind_text(&binder, run->command);
	sqlite_bind_text(&binder, run->version);
	sqlite_bind_text(&binder, run->node);
	sqlite_bind_text(&binder, store_text_or_null(run->shard));
	sqlite_bind_int64(&binder, run->started_at);
	if (sqlite_run(store, &binder, "run begin", err, err_size) != 0)
		return -1;
	*run_id = sqlite3_last_insert_rowid(store->db);
	return 0;
}

/* sqlite_run_end - set the end time and status of an existing run. */
static int
sqlite_run_end(void *impl, int64_t run_id, int64_t finished_at, const char *status,
    char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_binder binder = sqlite_binder_start(store->statements[SQLITE_STMT_RUN_END]);

	sqlite_bind_int64(&binder, finished_at);
	sqlite_bind_text(&binder, status);
	sqlite_bind_int64(&binder, run_id);
	if (sqlite_run(store, &binder, "run end", err, err_size) != 0)
		return -1;
	if (sqlite3_changes(store->db) == 0)
		return store_fail(err, err_size, "sqlite store: run end: no run %lld",
		    (long long)run_id);
	return 0;
}

/* sqlite_test_add - insert one test row of result_id (inside the result's transaction). */
static int
sqlite_test_add(struct sqlite_store *store, int64_t result_id, const struct store_test *test,
    char *err, size_t err_size)
{
	struct sqlite_binder binder = sqlite_binder_start(store->statements[SQLITE_STMT_TEST_ADD]);

	sqlite_bind_int64(&binder, result_id);
	sqlite_bind_text(&binder, test->test_id);
	sqlite_bind_text(&binder, test->outcome);
	sqlite_bind_text(&binder, test->stage);
	sqlite_bind_text(&binder, test->mail_from);
	sqlite_bind_text(&binder, test->rcpt_to);
	sqlite_bind_text(&binder, test->replies_json);
	sqlite_bind_int64(&binder, test->attempts);
	sqlite_bind_int64(&binder, test->elapsed_ms);
	sqlite_bind_text(&binder, store_text_or_null(test->token));
	return sqlite_run(store, &binder, "test add", err, err_size);
}

static int sqlite_early_arrivals_link(struct sqlite_store *store, int64_t result_id,
    char *err, size_t err_size);

/* sqlite_result_add_locked - the inserts of store_result_add, inside its transaction; then
 * the arrivals of its tokens that came before it are applied. */
static int
sqlite_result_add_locked(struct sqlite_store *store, int64_t run_id,
    const struct store_result *result, int64_t *result_id, char *err, size_t err_size)
{
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_RESULT_ADD]);

	sqlite_bind_int64(&binder, run_id);
	sqlite_bind_text(&binder, result->target);
	sqlite_bind_text(&binder, result->address);
	sqlite_bind_int64(&binder, result->port);
	sqlite_bind_text(&binder, result->family);
	sqlite_bind_text(&binder, result->mx_host);
	if (result->mx_host != NULL)
		sqlite_bind_int64(&binder, result->mx_preference);
	else
		sqlite_bind_null(&binder);
	sqlite_bind_text(&binder, result->mail_domain);
	sqlite_bind_text(&binder, result->banner);
	sqlite_bind_text(&binder, result->software);
	sqlite_bind_text(&binder, result->software_version);
	sqlite_bind_text(&binder, result->verdict);
	sqlite_bind_text(&binder, result->stage);
	sqlite_bind_text(&binder, result->reason);
	sqlite_bind_text(&binder, result->tricks != NULL ? result->tricks : "");
	sqlite_bind_int64(&binder, result->started_at);
	sqlite_bind_int64(&binder, result->elapsed_ms);
	sqlite_bind_text(&binder, result->report_json);
	if (sqlite_run(store, &binder, "result add", err, err_size) != 0)
		return -1;
	*result_id = sqlite3_last_insert_rowid(store->db);
	for (size_t i = 0; i < result->test_count; i++) {
		if (sqlite_test_add(store, *result_id, &result->tests[i], err, err_size) != 0)
			return -1;
	}
	if (!store_result_registers_tokens(result))
		return 0;
	return sqlite_early_arrivals_link(store, *result_id, err, err_size);
}

/* sqlite_result_add - a result and its tests, all or nothing. */
static int
sqlite_result_add(void *impl, int64_t run_id, const struct store_result *result,
    int64_t *result_id, char *err, size_t err_size)
{
	struct sqlite_store *store = impl;

	if (sqlite_simple(store, SQLITE_STMT_BEGIN, err, err_size) != 0)
		return -1;
	if (sqlite_result_add_locked(store, run_id, result, result_id, err, err_size) != 0 ||
	    sqlite_simple(store, SQLITE_STMT_COMMIT, err, err_size) != 0) {
		sqlite_rollback(store);
		return -1;
	}
	return 0;
}

/* The result a known token belongs to, as found before the upgrade. */
struct sqlite_token_owner {
	int64_t result_id;
	char *test_id;
	char *verdict;
	char *stage;
	char *tricks;
	char *verdict_before;
	char *stage_before;
};

/* sqlite_column_copy - a copy of a text column, NULL for NULL. */
static char *
sqlite_column_copy(sqlite3_stmt *statement, int column)
{
	const unsigned char *text = sqlite3_column_text(statement, column);

	return text != NULL ? xstrdup((const char *)text) : NULL;
}

/* sqlite_token_owner_free - free the copies held by owner. */
static void
sqlite_token_owner_free(struct sqlite_token_owner *owner)
{
	free(owner->test_id);
	free(owner->verdict);
	free(owner->stage);
	free(owner->tricks);
	free(owner->verdict_before);
	free(owner->stage_before);
}

/* sqlite_token_find - look the token up; *found false when no test registered it. */
static int
sqlite_token_find(struct sqlite_store *store, const char *token,
    struct sqlite_token_owner *owner, bool *found, char *err, size_t err_size)
{
	sqlite3_stmt *statement = store->statements[SQLITE_STMT_TOKEN_FIND];
	struct sqlite_binder binder = sqlite_binder_start(statement);
	int rc;

	*found = false;
	sqlite_bind_text(&binder, token);
	if (binder.rc != SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: token find: %s",
		    sqlite3_errstr(binder.rc));
	rc = sqlite3_step(statement);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(statement);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite_fail(store, "token find", err, err_size);
		sqlite3_reset(statement);
		return -1;
	}
	owner->result_id = sqlite3_column_int64(statement, 0);
	owner->test_id = sqlite_column_copy(statement, 1);
	owner->verdict = sqlite_column_copy(statement, 2);
	owner->stage = sqlite_column_copy(statement, 3);
	owner->tricks = sqlite_column_copy(statement, 4);
	owner->verdict_before = sqlite_column_copy(statement, 5);
	owner->stage_before = sqlite_column_copy(statement, 6);
	sqlite3_reset(statement);
	*found = true;
	return 0;
}

/* sqlite_upgrade - mark the token's test delivered and its result open/delivered. */
static int
sqlite_upgrade(struct sqlite_store *store, const struct store_arrival *arrival,
    const struct sqlite_token_owner *owner, char *err, size_t err_size)
{
	struct store_upgrade plan;
	struct sqlite_binder binder;
	char *tricks;
	int status;

	store_upgrade_plan(owner->verdict, owner->stage, owner->verdict_before,
	    owner->stage_before, &plan);
	tricks = store_tricks_with(owner->tricks, owner->test_id);
	binder = sqlite_binder_start(store->statements[SQLITE_STMT_RESULT_UPGRADE]);
	sqlite_bind_text(&binder, STORE_VERDICT_CONFIRMED);
	sqlite_bind_text(&binder, STORE_STAGE_CONFIRMED);
	sqlite_bind_text(&binder, tricks);
	sqlite_bind_text(&binder, plan.verdict_before);
	sqlite_bind_text(&binder, plan.stage_before);
	if (plan.verdict_before != NULL)
		sqlite_bind_int64(&binder, arrival->arrived_at);
	else
		sqlite_bind_null(&binder);
	sqlite_bind_int64(&binder, owner->result_id);
	status = sqlite_run(store, &binder, "result upgrade", err, err_size);
	free(tricks);
	if (status != 0)
		return -1;

	binder = sqlite_binder_start(store->statements[SQLITE_STMT_TEST_DELIVERED]);
	sqlite_bind_text(&binder, STORE_OUTCOME_CONFIRMED);
	sqlite_bind_text(&binder, STORE_STAGE_CONFIRMED);
	sqlite_bind_int64(&binder, arrival->arrived_at);
	sqlite_bind_text(&binder, arrival->token);
	return sqlite_run(store, &binder, "test delivered", err, err_size);
}

/* sqlite_early_arrival_find - of result_id's tokens, the one whose first unlinked arrival came
 * earliest: a copy in *token (NULL when no token has one) and that arrival's time. */
static int
sqlite_early_arrival_find(struct sqlite_store *store, int64_t result_id, char **token,
    int64_t *arrived_at, char *err, size_t err_size)
{
	sqlite3_stmt *statement = store->statements[SQLITE_STMT_EARLY_ARRIVAL_FIND];
	struct sqlite_binder binder = sqlite_binder_start(statement);
	int rc;

	*token = NULL;
	sqlite_bind_int64(&binder, result_id);
	if (binder.rc != SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: early arrival find: %s",
		    sqlite3_errstr(binder.rc));
	rc = sqlite3_step(statement);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite_fail(store, "early arrival find", err, err_size);
		sqlite3_reset(statement);
		return -1;
	}
	if (rc == SQLITE_ROW) {
		*token = sqlite_column_copy(statement, 0);
		*arrived_at = sqlite3_column_int64(statement, 1);
	}
	sqlite3_reset(statement);
	return 0;
}

/* sqlite_early_arrival_apply - the upgrade a token's first arrival would have made had the
 * result been stored before it, then every unlinked arrival of the token linked. */
static int
sqlite_early_arrival_apply(struct sqlite_store *store, const struct store_arrival *arrival,
    char *err, size_t err_size)
{
	struct sqlite_token_owner owner = { 0 };
	struct sqlite_binder binder;
	bool found;
	int status;

	if (sqlite_token_find(store, arrival->token, &owner, &found, err, err_size) != 0)
		return -1;
	if (!found)
		return store_fail(err, err_size, "sqlite store: early arrival: token vanished");
	status = sqlite_upgrade(store, arrival, &owner, err, err_size);
	if (status == 0) {
		binder = sqlite_binder_start(store->statements[SQLITE_STMT_EARLY_ARRIVALS_LINK]);
		sqlite_bind_int64(&binder, owner.result_id);
		sqlite_bind_text(&binder, owner.test_id);
		sqlite_bind_text(&binder, arrival->token);
		status = sqlite_run(store, &binder, "early arrivals link", err, err_size);
	}
	/* Each pass must link something, or sqlite_early_arrivals_link would never end. */
	if (status == 0 && sqlite3_changes(store->db) == 0)
		status = store_fail(err, err_size, "sqlite store: early arrivals link: no arrival "
		    "linked");
	sqlite_token_owner_free(&owner);
	return status;
}

/* sqlite_early_arrivals_link - inside store_result_add's transaction: the arrivals of
 * result_id's tokens recorded before the result, applied token by token in the order they
 * first arrived, exactly as store_arrival_record would have applied them. */
static int
sqlite_early_arrivals_link(struct sqlite_store *store, int64_t result_id, char *err,
    size_t err_size)
{
	for (;;) {
		struct store_arrival arrival = { 0 };
		char *token;
		int status;

		if (sqlite_early_arrival_find(store, result_id, &token, &arrival.arrived_at, err,
		    err_size) != 0)
			return -1;
		if (token == NULL)
			return 0;
		arrival.token = token;
		status = sqlite_early_arrival_apply(store, &arrival, err, err_size);
		free(token);
		if (status != 0)
			return -1;
	}
}

/* sqlite_arrival_record_locked - the work of store_arrival_record inside its transaction. */
static int
sqlite_arrival_record_locked(struct sqlite_store *store, const struct store_arrival *arrival,
    bool *matched, char *err, size_t err_size)
{
	struct sqlite_token_owner owner = { 0 };
	struct sqlite_binder binder;
	int status;

	if (sqlite_token_find(store, arrival->token, &owner, matched, err, err_size) != 0)
		return -1;
	if (*matched && sqlite_upgrade(store, arrival, &owner, err, err_size) != 0) {
		sqlite_token_owner_free(&owner);
		return -1;
	}
	binder = sqlite_binder_start(store->statements[SQLITE_STMT_ARRIVAL_ADD]);
	sqlite_bind_text(&binder, arrival->token);
	sqlite_bind_text(&binder, arrival->peer);
	sqlite_bind_text(&binder, arrival->mail_from);
	sqlite_bind_text(&binder, arrival->rcpt_to);
	sqlite_bind_int64(&binder, arrival->arrived_at);
	if (*matched) {
		sqlite_bind_int64(&binder, owner.result_id);
		sqlite_bind_text(&binder, owner.test_id);
	} else {
		sqlite_bind_null(&binder);
		sqlite_bind_null(&binder);
	}
	status = sqlite_run(store, &binder, "arrival add", err, err_size);
	sqlite_token_owner_free(&owner);
	return status;
}

/* sqlite_arrival_record - record an arrival and apply it, all or nothing. */
static int
sqlite_arrival_record(void *impl, const struct store_arrival *arrival, bool *matched,
    char *err, size_t err_size)
{
	struct sqlite_store *store = impl;

	if (sqlite_simple(store, SQLITE_STMT_BEGIN, err, err_size) != 0)
		return -1;
	if (sqlite_arrival_record_locked(store, arrival, matched, err, err_size) != 0 ||
	    sqlite_simple(store, SQLITE_STMT_COMMIT, err, err_size) != 0) {
		sqlite_rollback(store);
		*matched = false;
		return -1;
	}
	return 0;
}

/* sqlite_column_text - a text column as char *, NULL for NULL. */
static const char *
sqlite_column_text(sqlite3_stmt *statement, int column)
{
	return (const char *)sqlite3_column_text(statement, column);
}

/* sqlite_history - step through the matching results and hand each to fn. */
static int
sqlite_history(void *impl, const struct store_query *query, store_history_fn fn, void *arg,
    char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	enum sqlite_statement which = query->match != NULL ? SQLITE_STMT_HISTORY_MATCH :
	    SQLITE_STMT_HISTORY_ALL;
	sqlite3_stmt *statement = store->statements[which];
	struct sqlite_binder binder = sqlite_binder_start(statement);
	int rc;

	if (query->match != NULL) {
		sqlite_bind_text(&binder, query->match);
		sqlite_bind_text(&binder, query->match);
	}
	sqlite_bind_int64(&binder, query->since);
	sqlite_bind_limit(&binder, query->limit);
	if (binder.rc != SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: history: %s",
		    sqlite3_errstr(binder.rc));
	while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
		struct store_history_row row = {
			.result_id = sqlite3_column_int64(statement, 0),
			.run_id = sqlite3_column_int64(statement, 1),
			.target = sqlite_column_text(statement, 2),
			.address = sqlite_column_text(statement, 3),
			.port = sqlite3_column_int(statement, 4),
			.verdict = sqlite_column_text(statement, 5),
			.stage = sqlite_column_text(statement, 6),
			.tricks = sqlite_column_text(statement, 7),
			.reason = sqlite_column_text(statement, 8),
			.started_at = sqlite3_column_int64(statement, 9),
			.software = sqlite_column_text(statement, 10),
			.report_json = sqlite_column_text(statement, 11),
		};
		fn(arg, &row);
	}
	if (rc != SQLITE_DONE) {
		sqlite_fail(store, "history", err, err_size);
		sqlite3_reset(statement);
		return -1;
	}
	sqlite3_reset(statement);
	return 0;
}

/* sqlite_arrivals_page - read up to limit arrivals after after_id, oldest first, into page. */
static int
sqlite_arrivals_page(void *impl, int64_t after_id, size_t limit,
    struct store_arrival_page *page, char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	sqlite3_stmt *statement = store->statements[SQLITE_STMT_ARRIVALS_AFTER];
	struct sqlite_binder binder = sqlite_binder_start(statement);
	int rc;

	sqlite_bind_int64(&binder, after_id);
	sqlite_bind_limit(&binder, limit);
	if (binder.rc != SQLITE_OK)
		return store_fail(err, err_size, "sqlite store: arrivals after: %s",
		    sqlite3_errstr(binder.rc));
	while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
		struct store_arrival_row row = {
			.id = sqlite3_column_int64(statement, 0),
			.token = sqlite_column_text(statement, 1),
			.peer = sqlite_column_text(statement, 2),
			.mail_from = sqlite_column_text(statement, 3),
			.rcpt_to = sqlite_column_text(statement, 4),
			.arrived_at = sqlite3_column_int64(statement, 5),
		};
		store_arrival_page_add(page, &row);
	}
	if (rc != SQLITE_DONE) {
		sqlite_fail(store, "arrivals after", err, err_size);
		sqlite3_reset(statement);
		return -1;
	}
	sqlite3_reset(statement);
	return 0;
}

/* sqlite_arrivals_last_id - the highest arrival id, 0 for an empty table. */
static int
sqlite_arrivals_last_id(void *impl, int64_t *last_id, char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	sqlite3_stmt *statement = store->statements[SQLITE_STMT_ARRIVALS_LAST_ID];
	int rc;

	sqlite3_reset(statement);
	rc = sqlite3_step(statement);
	if (rc != SQLITE_ROW) {
		sqlite_fail(store, "arrivals last id", err, err_size);
		sqlite3_reset(statement);
		return -1;
	}
	*last_id = sqlite3_column_int64(statement, 0);
	sqlite3_reset(statement);
	return 0;
}

/* ---- listings ------------------------------------------------------------------------- */

/* sqlite_listing_begin - the write lock for a listing change. */
static int
sqlite_listing_begin(void *impl, char *err, size_t err_size)
{
	return sqlite_simple(impl, SQLITE_STMT_BEGIN, err, err_size);
}

/* sqlite_listing_commit - make the listing change visible. */
static int
sqlite_listing_commit(void *impl, char *err, size_t err_size)
{
	return sqlite_simple(impl, SQLITE_STMT_COMMIT, err, err_size);
}

/* sqlite_listing_rollback - abandon the listing change. */
static void
sqlite_listing_rollback(void *impl)
{
	sqlite_rollback(impl);
}

/* sqlite_bind_optional - bind value, or NULL when it is 0 ("none", "never"). */
static void
sqlite_bind_optional(struct sqlite_binder *binder, int64_t value)
{
	if (value == 0)
		sqlite_bind_null(binder);
	else
		sqlite_bind_int64(binder, value);
}

/* sqlite_listing_at - the listing in the row's columns first.. first+8 (the order of
 * STORE_SQL_LISTING_COLUMNS); NULL integers read as 0. */
static void
sqlite_listing_at(sqlite3_stmt *statement, int first, struct store_listing *listing)
{
	*listing = (struct store_listing){
		.id = sqlite3_column_int64(statement, first),
		.prefix = sqlite_column_text(statement, first + 1),
		.reason = sqlite_column_text(statement, first + 2),
		.origin = sqlite_column_text(statement, first + 3),
		.comment = sqlite_column_text(statement, first + 4),
		.result_id = sqlite3_column_int64(statement, first + 5),
		.listed_at = sqlite3_column_int64(statement, first + 6),
		.confirmed_at = sqlite3_column_int64(statement, first + 7),
		.expires_at = sqlite3_column_int64(statement, first + 8),
	};
}

/* sqlite_step_rows - step a bound statement, handing each row to row_fn; reset it after. */
static int
sqlite_step_rows(struct sqlite_store *store, struct sqlite_binder *binder, const char *what,
    void (*row_fn)(sqlite3_stmt *statement, void *context), void *context, char *err,
    size_t err_size)
{
	int rc;

	if (binder->rc != SQLITE_OK) {
		store_fail(err, err_size, "sqlite store: %s: %s", what, sqlite3_errstr(binder->rc));
		sqlite3_reset(binder->statement);
		return -1;
	}
	while ((rc = sqlite3_step(binder->statement)) == SQLITE_ROW)
		row_fn(binder->statement, context);
	if (rc != SQLITE_DONE) {
		sqlite_fail(store, what, err, err_size);
		sqlite3_reset(binder->statement);
		return -1;
	}
	sqlite3_reset(binder->statement);
	return 0;
}

/* The caller's callback (the one its query kind uses) and its argument. */
struct sqlite_callback {
	store_listing_fn listing;
	store_listing_event_fn event;
	store_candidate_fn candidate;
	store_stale_fn stale;
	void *arg;
};

/* sqlite_listing_row - hand one listing row to a store_listing_fn. */
static void
sqlite_listing_row(sqlite3_stmt *statement, void *context)
{
	struct sqlite_callback *callback = context;
	struct store_listing listing;

	sqlite_listing_at(statement, 0, &listing);
	callback->listing(callback->arg, &listing);
}

/* sqlite_listings_select - one listing, all of them, or the expired ones. */
static int
sqlite_listings_select(void *impl, const struct store_listing_query *query,
    store_listing_fn fn, void *arg, char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_callback callback = { .listing = fn, .arg = arg };
	enum sqlite_statement which = SQLITE_STMT_LISTINGS_ALL;
	struct sqlite_binder binder;

	if (query->which == STORE_LISTINGS_BY_PREFIX)
		which = SQLITE_STMT_LISTING_BY_PREFIX;
	else if (query->which == STORE_LISTINGS_EXPIRED)
		which = SQLITE_STMT_LISTINGS_EXPIRED;
	binder = sqlite_binder_start(store->statements[which]);
	if (query->which == STORE_LISTINGS_BY_PREFIX)
		sqlite_bind_text(&binder, query->prefix);
	else if (query->which == STORE_LISTINGS_EXPIRED)
		sqlite_bind_int64(&binder, query->now);
	return sqlite_step_rows(store, &binder, "listings", sqlite_listing_row, &callback, err,
	    err_size);
}

/* sqlite_listing_insert - a new listing; its id to *id. */
static int
sqlite_listing_insert(void *impl, const struct store_listing_row *row, int64_t *id, char *err,
    size_t err_size)
{
	struct sqlite_store *store = impl;
	const struct store_listing *listing = &row->listing;
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_LISTING_INSERT]);

	sqlite_bind_text(&binder, listing->prefix);
	sqlite_bind_text(&binder, row->address);
	sqlite_bind_int64(&binder, row->length);
	sqlite_bind_text(&binder, row->family);
	sqlite_bind_text(&binder, listing->reason);
	sqlite_bind_text(&binder, listing->origin);
	sqlite_bind_optional(&binder, listing->result_id);
	sqlite_bind_text(&binder, store_text_or_null(listing->comment));
	sqlite_bind_int64(&binder, listing->listed_at);
	sqlite_bind_int64(&binder, listing->confirmed_at);
	sqlite_bind_optional(&binder, listing->expires_at);
	if (sqlite_run(store, &binder, "listing insert", err, err_size) != 0)
		return -1;
	*id = sqlite3_last_insert_rowid(store->db);
	return 0;
}

/* sqlite_listing_update - new reason, evidence and expiry of an existing listing. */
static int
sqlite_listing_update(void *impl, const struct store_listing *listing, char *err,
    size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_LISTING_UPDATE]);

	sqlite_bind_text(&binder, listing->reason);
	sqlite_bind_text(&binder, listing->origin);
	sqlite_bind_optional(&binder, listing->result_id);
	sqlite_bind_text(&binder, store_text_or_null(listing->comment));
	sqlite_bind_int64(&binder, listing->confirmed_at);
	sqlite_bind_optional(&binder, listing->expires_at);
	sqlite_bind_int64(&binder, listing->id);
	return sqlite_run(store, &binder, "listing update", err, err_size);
}

/* sqlite_listing_delete - drop a listing (its history stays). */
static int
sqlite_listing_delete(void *impl, int64_t id, char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_LISTING_DELETE]);

	sqlite_bind_int64(&binder, id);
	return sqlite_run(store, &binder, "listing delete", err, err_size);
}

/* sqlite_listing_event_add - one history row; its id is the new listing serial. */
static int
sqlite_listing_event_add(void *impl, const struct store_listing_event *event, int64_t *serial,
    char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_EVENT_ADD]);

	sqlite_bind_int64(&binder, event->listing_id);
	sqlite_bind_text(&binder, event->prefix);
	sqlite_bind_text(&binder, event->action);
	sqlite_bind_text(&binder, event->reason);
	sqlite_bind_text(&binder, event->origin);
	sqlite_bind_optional(&binder, event->result_id);
	sqlite_bind_text(&binder, store_text_or_null(event->comment));
	sqlite_bind_int64(&binder, event->at);
	sqlite_bind_int64(&binder, event->confirmed_at);
	sqlite_bind_optional(&binder, event->expires_at);
	if (sqlite_run(store, &binder, "listing history add", err, err_size) != 0)
		return -1;
	*serial = sqlite3_last_insert_rowid(store->db);
	return 0;
}

/* sqlite_event_row - hand one history row to a store_listing_event_fn. */
static void
sqlite_event_row(sqlite3_stmt *statement, void *context)
{
	struct sqlite_callback *callback = context;
	struct store_listing_event event = {
		.serial = sqlite3_column_int64(statement, 0),
		.listing_id = sqlite3_column_int64(statement, 1),
		.prefix = sqlite_column_text(statement, 2),
		.action = sqlite_column_text(statement, 3),
		.reason = sqlite_column_text(statement, 4),
		.origin = sqlite_column_text(statement, 5),
		.comment = sqlite_column_text(statement, 6),
		.result_id = sqlite3_column_int64(statement, 7),
		.at = sqlite3_column_int64(statement, 8),
		.confirmed_at = sqlite3_column_int64(statement, 9),
		.expires_at = sqlite3_column_int64(statement, 10),
	};

	event.listed = store_listing_action_lists(event.action);
	callback->event(callback->arg, &event);
}

/* sqlite_listing_events - history rows after a serial, of one prefix or all. */
static int
sqlite_listing_events(void *impl, const char *prefix, int64_t after, size_t limit,
    store_listing_event_fn fn, void *arg, char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_callback callback = { .event = fn, .arg = arg };
	struct sqlite_binder binder = sqlite_binder_start(store->statements[prefix != NULL ?
	    SQLITE_STMT_EVENTS_PREFIX : SQLITE_STMT_EVENTS_ALL]);

	if (prefix != NULL)
		sqlite_bind_text(&binder, prefix);
	sqlite_bind_int64(&binder, after);
	sqlite_bind_limit(&binder, limit);
	return sqlite_step_rows(store, &binder, "listing history", sqlite_event_row, &callback,
	    err, err_size);
}

/* sqlite_listing_serial - the newest history row's id and time (0, 0 when none). */
static int
sqlite_listing_serial(void *impl, int64_t *serial, int64_t *changed_at, char *err,
    size_t err_size)
{
	struct sqlite_store *store = impl;
	sqlite3_stmt *statement = store->statements[SQLITE_STMT_LISTING_SERIAL];
	int rc;

	sqlite3_reset(statement);
	*serial = 0;
	*changed_at = 0;
	rc = sqlite3_step(statement);
	if (rc == SQLITE_ROW) {
		*serial = sqlite3_column_int64(statement, 0);
		*changed_at = sqlite3_column_int64(statement, 1);
	} else if (rc != SQLITE_DONE) {
		sqlite_fail(store, "listing serial", err, err_size);
		sqlite3_reset(statement);
		return -1;
	}
	sqlite3_reset(statement);
	return 0;
}

/* sqlite_candidate_row - hand one candidate row to a store_candidate_fn. */
static void
sqlite_candidate_row(sqlite3_stmt *statement, void *context)
{
	struct sqlite_callback *callback = context;
	struct store_listing_candidate candidate = {
		.result_id = sqlite3_column_int64(statement, 0),
		.address = sqlite_column_text(statement, 1),
		.prefix = sqlite_column_text(statement, 2),
		.verdict = sqlite_column_text(statement, 3),
		.stage = sqlite_column_text(statement, 4),
		.seen_at = sqlite3_column_int64(statement, 5),
	};

	sqlite_listing_at(statement, 6, &candidate.listing);
	callback->candidate(callback->arg, &candidate);
}

/* sqlite_listing_candidates - the addresses whose listing the results may change. */
static int
sqlite_listing_candidates(void *impl, int64_t since, store_candidate_fn fn, void *arg,
    char *err, size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_callback callback = { .candidate = fn, .arg = arg };
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_LISTING_CANDIDATES]);

	sqlite_bind_int64(&binder, since);
	return sqlite_step_rows(store, &binder, "listing candidates", sqlite_candidate_row,
	    &callback, err, err_size);
}

/* sqlite_stale_row - hand one stale listing to a store_stale_fn. */
static void
sqlite_stale_row(sqlite3_stmt *statement, void *context)
{
	struct sqlite_callback *callback = context;
	struct store_stale_listing stale = {
		.address = sqlite_column_text(statement, 0),
		.port = sqlite3_column_int(statement, 1),
		.checked_at = sqlite3_column_int64(statement, 2),
	};

	callback->stale(callback->arg, &stale);
}

/* sqlite_listings_stale - listed single addresses not checked since before. */
static int
sqlite_listings_stale(void *impl, int64_t before, store_stale_fn fn, void *arg, char *err,
    size_t err_size)
{
	struct sqlite_store *store = impl;
	struct sqlite_callback callback = { .stale = fn, .arg = arg };
	struct sqlite_binder binder =
	    sqlite_binder_start(store->statements[SQLITE_STMT_LISTINGS_STALE]);

	sqlite_bind_int64(&binder, before);
	return sqlite_step_rows(store, &binder, "stale listings", sqlite_stale_row, &callback,
	    err, err_size);
}
