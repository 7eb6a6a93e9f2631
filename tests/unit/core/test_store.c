/* test_store.c - one conformance suite for every store backend (core/store.h): a fresh SQLite
 * file per test, or a fresh database per test on the PostgreSQL of RELAYGUARD_TEST_STORE_URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/store.h"
#include "core/store_backend.h"

#define ERR_SIZE 512
#define URL_MAX 1024
#define TEXT_MAX 256
#define HISTORY_MAX 16
#define ARRIVALS_MAX 16
#define TEST_DB_NAME_MAX 64
#define URL_ENV "RELAYGUARD_TEST_STORE_URL"
/* A fixed "now" so that results sort the same on every run: 2023-11-14T22:13:20Z. */
#define T0 ((int64_t)1700000000)

/* The PostgreSQL server to test against, or NULL for SQLite. */
static const char *pg_base_url;
static unsigned test_counter;

struct fixture {
	char url[URL_MAX];		/* what store_open gets */
	char dir[PATH_MAX];		/* SQLite: the temp dir */
	char path[PATH_MAX];		/* SQLite: the database file */
	char dbname[TEST_DB_NAME_MAX];	/* PostgreSQL: this test's database */
	struct store *store;
	int64_t run_id;
};

/* pg_admin_exec - run literal SQL on the base PostgreSQL database (create/drop databases). */
static void
pg_admin_exec(const char *sql)
{
	PGconn *conn = PQconnectdb(pg_base_url);
	PGresult *result;

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", pg_base_url, PQerrorMessage(conn));
	result = PQexec(conn, sql);
	if (PQresultStatus(result) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	PQclear(result);
	PQfinish(conn);
}

/* pg_url_with_database - base URL with its database (path) replaced by dbname, query kept. */
static void
pg_url_with_database(const char *base, const char *dbname, char *out, size_t out_size)
{
	const char *authority = strstr(base, "://");
	size_t authority_end, query;

	assert_non_null(authority);
	authority += 3;
	authority_end = (size_t)(authority - base) + strcspn(authority, "/?");
	query = authority_end + strcspn(base + authority_end, "?");
	assert_true((size_t)snprintf(out, out_size, "%.*s/%s%s", (int)authority_end, base, dbname,
	    base + query) < out_size);
}

/* fixture_store_open - open the fixture's URL, failing the test with the message if it
 * does not open. */
static struct store *
fixture_store_open(struct fixture *fx)
{
	char err[ERR_SIZE] = "";
	struct store *store = store_open(fx->url, err, sizeof(err));

	if (store == NULL)
		fail_msg("store_open(%s): %s", fx->url, err);
	return store;
}

/* setup - a fresh, empty store and one run in it. */
static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	char err[ERR_SIZE] = "";

	if (pg_base_url != NULL) {
		char sql[TEXT_MAX];
		snprintf(fx->dbname, sizeof(fx->dbname), "relayguard_test_%ld_%u",
		    (long)getpid(), test_counter++);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fx->dbname);
		pg_admin_exec(sql);
		pg_url_with_database(pg_base_url, fx->dbname, fx->url, sizeof(fx->url));
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(fx->dir, sizeof(fx->dir), "%s/relayguard-store-XXXXXX",
		    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
		assert_non_null(mkdtemp(fx->dir));
		assert_true((size_t)snprintf(fx->path, sizeof(fx->path), "%s/store.db", fx->dir) <
		    sizeof(fx->path));
		assert_true((size_t)snprintf(fx->url, sizeof(fx->url), "%s", fx->path) <
		    sizeof(fx->url));
	}
	fx->store = fixture_store_open(fx);
	struct store_run run = {
		.command = "check", .version = "0.1.0", .node = "node1.example.org",
		.shard = NULL, .started_at = T0,
	};
	if (store_run_begin(fx->store, &run, &fx->run_id, err, sizeof(err)) != 0)
		fail_msg("store_run_begin: %s", err);
	*state = fx;
	return 0;
}

/* teardown - close the store and remove its file or database. */
static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 8];

	store_close(fx->store);
	if (pg_base_url != NULL) {
		char sql[TEXT_MAX];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx->dbname);
		pg_admin_exec(sql);
	} else {
		static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
			snprintf(path, sizeof(path), "%s%s", fx->path, suffixes[i]);
			unlink(path);
		}
		rmdir(fx->dir);
	}
	free(fx);
	return 0;
}

/* raw_exec - run literal SQL straight on the backend, behind the store's back. */
static void
raw_exec(struct fixture *fx, const char *sql)
{
	if (pg_base_url != NULL) {
		PGconn *conn = PQconnectdb(fx->url);
		PGresult *result = PQexec(conn, sql);
		if (PQresultStatus(result) != PGRES_COMMAND_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(conn));
		PQclear(result);
		PQfinish(conn);
		return;
	}
	sqlite3 *db;
	char *message = NULL;
	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
	sqlite3_close(db);
}

/* raw_text - the first column of the first row of a literal query, "(null)" for NULL,
 * "(none)" when there is no row. */
static void
raw_text(struct fixture *fx, const char *sql, char *out, size_t out_size)
{
	if (pg_base_url != NULL) {
		PGconn *conn = PQconnectdb(fx->url);
		PGresult *result = PQexec(conn, sql);
		if (PQresultStatus(result) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(conn));
		if (PQntuples(result) == 0)
			snprintf(out, out_size, "(none)");
		else if (PQgetisnull(result, 0, 0))
			snprintf(out, out_size, "(null)");
		else
			snprintf(out, out_size, "%s", PQgetvalue(result, 0, 0));
		PQclear(result);
		PQfinish(conn);
		return;
	}
	sqlite3 *db;
	sqlite3_stmt *statement;
	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	int rc = sqlite3_step(statement);
	if (rc == SQLITE_DONE)
		snprintf(out, out_size, "(none)");
	else if (rc != SQLITE_ROW)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	else if (sqlite3_column_type(statement, 0) == SQLITE_NULL)
		snprintf(out, out_size, "(null)");
	else
		snprintf(out, out_size, "%s", (const char *)sqlite3_column_text(statement, 0));
	sqlite3_finalize(statement);
	sqlite3_close(db);
}

/* raw_int - raw_text read as a number. */
static long long
raw_int(struct fixture *fx, const char *sql)
{
	char text[TEXT_MAX];

	raw_text(fx, sql, text, sizeof(text));
	return strtoll(text, NULL, 10);
}

/* The three probes most results below carry; the tokens are unique per test database. */
static const struct store_test sample_tests[] = {
	{ .test_id = "S01", .outcome = "refused", .stage = "rcpt", .mail_from = "<>",
	    .rcpt_to = "<u@relay-victim.example.net>",
	    .replies_json = "[{\"command\":\"RCPT\",\"code\":550}]", .attempts = 1,
	    .elapsed_ms = 12, .token = NULL },
	{ .test_id = "R01", .outcome = "accepted", .stage = "rcpt",
	    .mail_from = "<s@[192.0.2.1]>", .rcpt_to = "<u%relay-victim.example.net@[192.0.2.1]>",
	    .replies_json = "[{\"command\":\"RCPT\",\"code\":250}]", .attempts = 1,
	    .elapsed_ms = 15, .token = "tok-r01" },
	{ .test_id = "R05", .outcome = "data-accepted", .stage = "data",
	    .mail_from = "<s@[192.0.2.1]>", .rcpt_to = "<u@relay-victim.example.net@[192.0.2.1]>",
	    .replies_json = "[{\"command\":\"DOT\",\"code\":250}]", .attempts = 2,
	    .elapsed_ms = 40, .token = "tok-r05" },
};

/* sample_result - a suspect result for target/address started at `started_at`, no tests. */
static struct store_result
sample_result(const char *target, const char *address, int64_t started_at)
{
	return (struct store_result){
		.target = target, .address = address, .port = 25, .family = "ipv4",
		.mx_host = NULL, .mx_preference = 0, .mail_domain = NULL,
		.banner = "220 mail.example.com ESMTP", .software = "Postfix",
		.software_version = NULL, .verdict = "suspect", .stage = "rcpt",
		.reason = "third-party RCPT accepted", .tricks = "R01",
		.started_at = started_at, .elapsed_ms = 850,
		.report_json = "{\"verdict\":\"suspect\"}", .tests = NULL, .test_count = 0,
	};
}

/* add_result - store_result_add that fails the test on error; returns the result id. */
static int64_t
add_result(struct fixture *fx, const struct store_result *result)
{
	char err[ERR_SIZE] = "";
	int64_t id = -1;

	if (store_result_add(fx->store, fx->run_id, result, &id, err, sizeof(err)) != 0)
		fail_msg("store_result_add(%s): %s", result->target, err);
	assert_true(id > 0);
	return id;
}

/* History rows copied out of the callback. */
struct history {
	size_t count;
	int64_t result_id[HISTORY_MAX];
	int64_t run_id[HISTORY_MAX];
	int64_t started_at[HISTORY_MAX];
	char target[HISTORY_MAX][TEXT_MAX];
	char address[HISTORY_MAX][TEXT_MAX];
	char verdict[HISTORY_MAX][TEXT_MAX];
	char stage[HISTORY_MAX][TEXT_MAX];
	char tricks[HISTORY_MAX][TEXT_MAX];
	char reason[HISTORY_MAX][TEXT_MAX];
	char report_json[HISTORY_MAX][TEXT_MAX];
	int port[HISTORY_MAX];
};

/* history_collect - store_history_fn copying each row into a struct history. */
static void
history_collect(void *arg, const struct store_history_row *row)
{
	struct history *history = arg;
	size_t i = history->count++;

	assert_true(i < HISTORY_MAX);
	history->result_id[i] = row->result_id;
	history->run_id[i] = row->run_id;
	history->started_at[i] = row->started_at;
	history->port[i] = row->port;
	snprintf(history->target[i], TEXT_MAX, "%s", row->target);
	snprintf(history->address[i], TEXT_MAX, "%s", row->address ? row->address : "(null)");
	snprintf(history->verdict[i], TEXT_MAX, "%s", row->verdict);
	snprintf(history->stage[i], TEXT_MAX, "%s", row->stage ? row->stage : "(null)");
	snprintf(history->tricks[i], TEXT_MAX, "%s", row->tricks);
	snprintf(history->reason[i], TEXT_MAX, "%s", row->reason ? row->reason : "(null)");
	snprintf(history->report_json[i], TEXT_MAX, "%s",
	    row->report_json ? row->report_json : "(null)");
}

/* history_of - store_history into a fresh struct history, failing the test on error. */
static void
history_of(struct store *store, const char *match, int64_t since, size_t limit,
    struct history *out)
{
	char err[ERR_SIZE] = "";

	memset(out, 0, sizeof(*out));
	if (store_history(store, match, since, limit, history_collect, out, err,
	    sizeof(err)) != 0)
		fail_msg("store_history: %s", err);
}

/* Arrival rows copied out of the callback. */
struct arrivals {
	size_t count;
	int64_t id[ARRIVALS_MAX];
	int64_t arrived_at[ARRIVALS_MAX];
	char token[ARRIVALS_MAX][TEXT_MAX];
	char peer[ARRIVALS_MAX][TEXT_MAX];
	char mail_from[ARRIVALS_MAX][TEXT_MAX];
	char rcpt_to[ARRIVALS_MAX][TEXT_MAX];
};

/* arrivals_collect - store_arrival_fn copying each row into a struct arrivals. */
static void
arrivals_collect(void *arg, const struct store_arrival_row *row)
{
	struct arrivals *arrivals = arg;
	size_t i = arrivals->count++;

	assert_true(i < ARRIVALS_MAX);
	assert_non_null(row->token);
	arrivals->id[i] = row->id;
	arrivals->arrived_at[i] = row->arrived_at;
	snprintf(arrivals->token[i], TEXT_MAX, "%s", row->token);
	snprintf(arrivals->peer[i], TEXT_MAX, "%s", row->peer ? row->peer : "(null)");
	snprintf(arrivals->mail_from[i], TEXT_MAX, "%s",
	    row->mail_from ? row->mail_from : "(null)");
	snprintf(arrivals->rcpt_to[i], TEXT_MAX, "%s", row->rcpt_to ? row->rcpt_to : "(null)");
}

/* arrivals_after - store_arrivals_after into a fresh struct arrivals, failing the test on
 * error; *last_id is passed through as the caller set it. */
static void
arrivals_after(struct store *store, int64_t after_id, size_t limit, struct arrivals *out,
    int64_t *last_id)
{
	char err[ERR_SIZE] = "";

	memset(out, 0, sizeof(*out));
	if (store_arrivals_after(store, after_id, limit, arrivals_collect, out, last_id, err,
	    sizeof(err)) != 0)
		fail_msg("store_arrivals_after: %s", err);
}

/* arrive - store_arrival_record that fails the test on error; returns whether it matched. */
static bool
arrive(struct fixture *fx, const char *token, const char *peer, int64_t arrived_at)
{
	char err[ERR_SIZE] = "";
	bool matched = false;

	if (store_arrival_record(fx->store, token, peer, "<s@example.org>",
	    "<u@relay-victim.example.net>", arrived_at, &matched, err, sizeof(err)) != 0)
		fail_msg("store_arrival_record(%s): %s", token, err);
	return matched;
}

/* last_arrival_id - store_arrivals_last_id, failing the test on error. */
static int64_t
last_arrival_id(struct fixture *fx)
{
	char err[ERR_SIZE] = "";
	int64_t id = -1;

	if (store_arrivals_last_id(fx->store, &id, err, sizeof(err)) != 0)
		fail_msg("store_arrivals_last_id: %s", err);
	return id;
}

static void
test_open_creates_current_schema(void **state)
{
	struct fixture *fx = *state;

	assert_string_equal(store_backend_name(fx->store),
	    pg_base_url != NULL ? "postgresql" : "sqlite");
	assert_int_equal(raw_int(fx, "SELECT MAX(version) FROM schema_version"),
	    STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM results"), 0);
}

static void
test_sqlite_uses_write_ahead_log(void **state)
{
	struct fixture *fx = *state;
	char mode[TEXT_MAX];

	if (pg_base_url != NULL)
		skip();
	raw_text(fx, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
}

static void
test_sqlite_prefix_names_the_same_file(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	char url[URL_MAX];
	struct history history;

	if (pg_base_url != NULL)
		skip();
	struct store_result result = sample_result("prefix.example.com", "192.0.2.9", T0);
	add_result(fx, &result);
	assert_true((size_t)snprintf(url, sizeof(url), "sqlite:%s", fx->path) < sizeof(url));
	struct store *again = store_open(url, err, sizeof(err));
	assert_non_null(again);
	history_of(again, "prefix.example.com", 0, 0, &history);
	store_close(again);
	assert_int_equal(history.count, 1);
}

static void
test_reopen_keeps_data_and_migrates_once(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	int64_t id = add_result(fx, &result);
	store_close(fx->store);
	fx->store = fixture_store_open(fx);

	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 1);
	assert_int_equal(history.result_id[0], id);
	assert_int_equal(history.run_id[0], fx->run_id);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM schema_version"),
	    STORE_SCHEMA_VERSION);
}

static void
test_run_begin_records_a_running_run(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];
	char err[ERR_SIZE] = "";
	int64_t second = 0;

	raw_text(fx, "SELECT status FROM runs", text, sizeof(text));
	assert_string_equal(text, "running");
	raw_text(fx, "SELECT node FROM runs", text, sizeof(text));
	assert_string_equal(text, "node1.example.org");
	raw_text(fx, "SELECT shard FROM runs", text, sizeof(text));
	assert_string_equal(text, "(null)");
	assert_int_equal(raw_int(fx, "SELECT started_at FROM runs"), T0);

	struct store_run run = {
		.command = "check", .version = "0.1.0", .node = "node2.example.org",
		.shard = "2/8", .started_at = T0 + 5,
	};
	assert_int_equal(store_run_begin(fx->store, &run, &second, err, sizeof(err)), 0);
	assert_true(second > fx->run_id);
	raw_text(fx, "SELECT shard FROM runs WHERE node = 'node2.example.org'", text,
	    sizeof(text));
	assert_string_equal(text, "2/8");
}

static void
test_run_end_records_status_and_time(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];
	char err[ERR_SIZE] = "";

	assert_int_equal(store_run_end(fx->store, fx->run_id, T0 + 60, "interrupted", err,
	    sizeof(err)), 0);
	raw_text(fx, "SELECT status FROM runs", text, sizeof(text));
	assert_string_equal(text, "interrupted");
	assert_int_equal(raw_int(fx, "SELECT finished_at FROM runs"), T0 + 60);
}

static void
test_run_end_of_unknown_run_is_an_error(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";

	assert_int_equal(store_run_end(fx->store, fx->run_id + 1000, T0, "finished", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no run"));
}

static void
test_run_end_refuses_an_unknown_status(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";

	assert_int_equal(store_run_end(fx->store, fx->run_id, T0, "done", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "finished"));
}

static void
test_result_is_stored_with_its_tests(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.mx_host = "mx1.example.com";
	result.mx_preference = 10;
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);

	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM tests WHERE result_id = "
	    "(SELECT id FROM results WHERE target = 'mail.example.com')"), 3);
	assert_int_equal(raw_int(fx, "SELECT mx_preference FROM results"), 10);
	raw_text(fx, "SELECT test_id FROM tests WHERE token = 'tok-r05'", text, sizeof(text));
	assert_string_equal(text, "R05");
	raw_text(fx, "SELECT token FROM tests WHERE test_id = 'S01'", text, sizeof(text));
	assert_string_equal(text, "(null)");
	assert_int_equal(raw_int(fx, "SELECT attempts FROM tests WHERE test_id = 'R05'"), 2);
	raw_text(fx, "SELECT rcpt_to FROM tests WHERE test_id = 'R01'", text, sizeof(text));
	assert_string_equal(text, "<u%relay-victim.example.net@[192.0.2.1]>");
}

static void
test_mx_preference_is_null_without_mx_host(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];

	struct store_result result = sample_result("192.0.2.1", "192.0.2.1", T0);
	result.mx_preference = 10;
	add_result(fx, &result);
	raw_text(fx, "SELECT mx_preference FROM results", text, sizeof(text));
	assert_string_equal(text, "(null)");
}

static void
test_failed_result_leaves_nothing_behind(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	int64_t id = 0;

	struct store_result first = sample_result("one.example.com", "192.0.2.1", T0);
	first.tests = sample_tests;
	first.test_count = 3;
	add_result(fx, &first);
	/* The same tokens again: the third test's insert fails, so the result must go too. */
	struct store_result second = sample_result("two.example.com", "192.0.2.2", T0 + 1);
	second.tests = sample_tests;
	second.test_count = 3;
	assert_int_equal(store_result_add(fx->store, fx->run_id, &second, &id, err,
	    sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM results WHERE target = "
	    "'two.example.com'"), 0);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM tests"), 3);

	/* The store is still usable after the rollback. */
	struct store_result third = sample_result("three.example.com", "192.0.2.3", T0 + 2);
	add_result(fx, &third);
}

static void
test_result_of_unknown_run_is_refused(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	int64_t id = 0;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	assert_int_equal(store_result_add(fx->store, fx->run_id + 1000, &result, &id, err,
	    sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM results"), 0);
}

static void
test_verdict_outside_the_vocabulary_is_refused(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	int64_t id = 0;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.verdict = "maybe";
	assert_int_equal(store_result_add(fx->store, fx->run_id, &result, &id, err,
	    sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

static void
test_result_without_target_is_refused(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	int64_t id = 0;

	struct store_result result = sample_result(NULL, "192.0.2.1", T0);
	assert_int_equal(store_result_add(fx->store, fx->run_id, &result, &id, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "target"));
}

static void
test_empty_tokens_are_not_registered(void **state)
{
	struct fixture *fx = *state;
	struct store_test tests[2] = { sample_tests[0], sample_tests[0] };

	tests[0].token = "";
	tests[1].test_id = "S02";
	tests[1].token = "";
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = tests;
	result.test_count = 2;
	add_result(fx, &result);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM tests WHERE token IS NULL"), 2);
}

static void
test_second_result_for_same_target_keeps_the_first(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result first = sample_result("mail.example.com", "192.0.2.1", T0);
	int64_t first_id = add_result(fx, &first);
	struct store_result second = sample_result("mail.example.com", "192.0.2.1", T0 + 3600);
	second.verdict = "closed";
	second.tricks = "";
	int64_t second_id = add_result(fx, &second);

	history_of(fx->store, "mail.example.com", 0, 0, &history);
	assert_int_equal(history.count, 2);
	assert_int_equal(history.result_id[0], second_id);
	assert_string_equal(history.verdict[0], "closed");
	assert_string_equal(history.tricks[0], "");
	assert_int_equal(history.result_id[1], first_id);
	assert_string_equal(history.verdict[1], "suspect");
	assert_string_equal(history.tricks[1], "R01");
}

static void
test_history_filters_by_address(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result a = sample_result("a.example.com", "192.0.2.1", T0);
	struct store_result b = sample_result("b.example.com", "192.0.2.2", T0 + 1);
	struct store_result c = sample_result("192.0.2.1", "192.0.2.1", T0 + 2);
	add_result(fx, &a);
	add_result(fx, &b);
	add_result(fx, &c);

	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 2);
	assert_string_equal(history.address[0], "192.0.2.1");
	assert_string_equal(history.address[1], "192.0.2.1");
	assert_string_equal(history.target[0], "192.0.2.1");
	assert_string_equal(history.target[1], "a.example.com");
	assert_int_equal(history.port[0], 25);
}

static void
test_history_matches_the_target_string(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result a = sample_result("example.net", "198.51.100.7", T0);
	struct store_result b = sample_result("example.org", "198.51.100.8", T0);
	add_result(fx, &a);
	add_result(fx, &b);

	history_of(fx->store, "example.net", 0, 0, &history);
	assert_int_equal(history.count, 1);
	assert_string_equal(history.address[0], "198.51.100.7");
	assert_string_equal(history.report_json[0], "{\"verdict\":\"suspect\"}");
	assert_string_equal(history.reason[0], "third-party RCPT accepted");
}

static void
test_history_filters_by_since(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result old = sample_result("mail.example.com", "192.0.2.1", T0 - 86400);
	struct store_result edge = sample_result("mail.example.com", "192.0.2.1", T0);
	struct store_result recent = sample_result("mail.example.com", "192.0.2.1", T0 + 60);
	add_result(fx, &old);
	add_result(fx, &edge);
	add_result(fx, &recent);

	history_of(fx->store, "192.0.2.1", T0, 0, &history);
	assert_int_equal(history.count, 2);
	assert_int_equal(history.started_at[0], T0 + 60);
	assert_int_equal(history.started_at[1], T0);
}

static void
test_history_orders_newest_first(void **state)
{
	struct fixture *fx = *state;
	struct history history;
	const int64_t order[] = { T0 + 20, T0 - 50, T0 + 90, T0 };

	for (size_t i = 0; i < 4; i++) {
		struct store_result result = sample_result("mail.example.com", "192.0.2.1",
		    order[i]);
		add_result(fx, &result);
	}
	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 4);
	assert_int_equal(history.started_at[0], T0 + 90);
	assert_int_equal(history.started_at[1], T0 + 20);
	assert_int_equal(history.started_at[2], T0);
	assert_int_equal(history.started_at[3], T0 - 50);
}

static void
test_history_ties_put_the_later_result_first(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result first = sample_result("mail.example.com", "192.0.2.1", T0);
	struct store_result second = sample_result("mail.example.com", "192.0.2.1", T0);
	int64_t first_id = add_result(fx, &first);
	int64_t second_id = add_result(fx, &second);
	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 2);
	assert_int_equal(history.result_id[0], second_id);
	assert_int_equal(history.result_id[1], first_id);
}

static void
test_history_limit_keeps_the_newest(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	for (int i = 0; i < 3; i++) {
		struct store_result result = sample_result("mail.example.com", "192.0.2.1",
		    T0 + i);
		add_result(fx, &result);
	}
	history_of(fx->store, "192.0.2.1", 0, 2, &history);
	assert_int_equal(history.count, 2);
	assert_int_equal(history.started_at[0], T0 + 2);
	assert_int_equal(history.started_at[1], T0 + 1);
}

static void
test_history_without_match_lists_everything(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result a = sample_result("a.example.com", "192.0.2.1", T0);
	struct store_result b = sample_result("b.example.com", "2001:db8::25", T0 + 1);
	b.family = "ipv6";
	struct store_result c = sample_result("c.example.com", NULL, T0 + 2);
	c.verdict = "unreachable";
	add_result(fx, &a);
	add_result(fx, &b);
	add_result(fx, &c);

	history_of(fx->store, NULL, 0, 0, &history);
	assert_int_equal(history.count, 3);
	assert_string_equal(history.target[0], "c.example.com");
	assert_string_equal(history.address[0], "(null)");
	assert_string_equal(history.address[1], "2001:db8::25");
	assert_string_equal(history.target[2], "a.example.com");
}

static void
test_history_of_unknown_address_is_empty(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result a = sample_result("a.example.com", "192.0.2.1", T0);
	add_result(fx, &a);
	history_of(fx->store, "203.0.113.1", 0, 0, &history);
	assert_int_equal(history.count, 0);
}

static void
test_arrival_of_known_token_upgrades_verdict_and_tricks(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	char text[TEXT_MAX];
	struct history history;
	bool matched = false;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	int64_t id = add_result(fx, &result);

	assert_int_equal(store_arrival_record(fx->store, "tok-r05", "127.0.0.1",
	    "<s@[192.0.2.1]>", "<u@relay-victim.example.net>", T0 + 300, &matched, err,
	    sizeof(err)), 0);
	assert_true(matched);

	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 1);
	assert_int_equal(history.result_id[0], id);
	assert_string_equal(history.verdict[0], "open");
	assert_string_equal(history.stage[0], "delivered");
	assert_string_equal(history.tricks[0], "R01,R05");
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
	raw_text(fx, "SELECT stage_before FROM results", text, sizeof(text));
	assert_string_equal(text, "rcpt");
	assert_int_equal(raw_int(fx, "SELECT upgraded_at FROM results"), T0 + 300);
	raw_text(fx, "SELECT outcome FROM tests WHERE test_id = 'R05'", text, sizeof(text));
	assert_string_equal(text, "delivered");
	assert_int_equal(raw_int(fx, "SELECT delivered_at FROM tests WHERE test_id = 'R05'"),
	    T0 + 300);
	raw_text(fx, "SELECT outcome FROM tests WHERE test_id = 'R01'", text, sizeof(text));
	assert_string_equal(text, "accepted");
	raw_text(fx, "SELECT test_id FROM arrivals WHERE token = 'tok-r05'", text,
	    sizeof(text));
	assert_string_equal(text, "R05");
	assert_int_equal(raw_int(fx, "SELECT result_id FROM arrivals"), id);
}

static void
test_arrival_of_a_trick_already_listed_does_not_repeat_it(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	struct history history;
	bool matched = false;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);
	assert_int_equal(store_arrival_record(fx->store, "tok-r01", "127.0.0.1", NULL, NULL,
	    T0 + 10, &matched, err, sizeof(err)), 0);
	assert_true(matched);
	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_string_equal(history.tricks[0], "R01");
	assert_string_equal(history.verdict[0], "open");
}

static void
test_second_arrival_keeps_the_first_verdict_before(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	char text[TEXT_MAX];
	struct history history;
	bool matched = false;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tricks = NULL;
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);
	assert_int_equal(store_arrival_record(fx->store, "tok-r05", "127.0.0.1", NULL, NULL,
	    T0 + 10, &matched, err, sizeof(err)), 0);
	assert_int_equal(store_arrival_record(fx->store, "tok-r01", "127.0.0.1", NULL, NULL,
	    T0 + 20, &matched, err, sizeof(err)), 0);
	assert_int_equal(store_arrival_record(fx->store, "tok-r05", "127.0.0.1", NULL, NULL,
	    T0 + 30, &matched, err, sizeof(err)), 0);
	assert_true(matched);

	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_string_equal(history.tricks[0], "R05,R01");
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
	assert_int_equal(raw_int(fx, "SELECT upgraded_at FROM results"), T0 + 10);
	assert_int_equal(raw_int(fx, "SELECT delivered_at FROM tests WHERE test_id = 'R05'"),
	    T0 + 10);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM arrivals"), 3);
}

static void
test_arrival_for_a_confirmed_result_records_no_upgrade(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	char text[TEXT_MAX];
	bool matched = false;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.verdict = "open";
	result.stage = "delivered";
	result.tricks = "R05";
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);
	assert_int_equal(store_arrival_record(fx->store, "tok-r05", "127.0.0.1", NULL, NULL,
	    T0 + 10, &matched, err, sizeof(err)), 0);
	assert_true(matched);
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "(null)");
	raw_text(fx, "SELECT upgraded_at FROM results", text, sizeof(text));
	assert_string_equal(text, "(null)");
}

static void
test_arrival_of_unknown_token_is_recorded_unmatched(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	char text[TEXT_MAX];
	bool matched = true;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);
	assert_int_equal(store_arrival_record(fx->store, "tok-nobody", "127.0.0.5",
	    "<x@example.org>", "<probe@example.net>", T0 + 5, &matched, err, sizeof(err)), 0);
	assert_false(matched);

	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM arrivals WHERE token = "
	    "'tok-nobody' AND result_id IS NULL AND test_id IS NULL"), 1);
	raw_text(fx, "SELECT peer FROM arrivals", text, sizeof(text));
	assert_string_equal(text, "127.0.0.5");
	raw_text(fx, "SELECT mail_from FROM arrivals", text, sizeof(text));
	assert_string_equal(text, "<x@example.org>");
	assert_int_equal(raw_int(fx, "SELECT arrived_at FROM arrivals"), T0 + 5);
	raw_text(fx, "SELECT verdict FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
}

static void
test_arrival_with_empty_token_is_refused(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	bool matched = true;

	assert_int_equal(store_arrival_record(fx->store, "", "127.0.0.1", NULL, NULL, T0,
	    &matched, err, sizeof(err)), -1);
	assert_false(matched);
	assert_non_null(strstr(err, "token"));
}

/* An external receiver can record a probe before the check stores the result that
 * registers its token (docs/store.md, "Arrivals before their result"). */
static void
test_arrival_before_its_result_upgrades_it_when_stored(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];
	struct history history;

	assert_false(arrive(fx, "tok-r05", "127.0.0.1", T0 + 300));
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	int64_t id = add_result(fx, &result);

	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 1);
	assert_string_equal(history.verdict[0], "open");
	assert_string_equal(history.stage[0], "delivered");
	assert_string_equal(history.tricks[0], "R01,R05");
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
	raw_text(fx, "SELECT stage_before FROM results", text, sizeof(text));
	assert_string_equal(text, "rcpt");
	assert_int_equal(raw_int(fx, "SELECT upgraded_at FROM results"), T0 + 300);
	raw_text(fx, "SELECT outcome FROM tests WHERE test_id = 'R05'", text, sizeof(text));
	assert_string_equal(text, "delivered");
	raw_text(fx, "SELECT stage FROM tests WHERE test_id = 'R05'", text, sizeof(text));
	assert_string_equal(text, "delivered");
	assert_int_equal(raw_int(fx, "SELECT delivered_at FROM tests WHERE test_id = 'R05'"),
	    T0 + 300);
	raw_text(fx, "SELECT outcome FROM tests WHERE test_id = 'R01'", text, sizeof(text));
	assert_string_equal(text, "accepted");
	assert_int_equal(raw_int(fx, "SELECT result_id FROM arrivals"), id);
	raw_text(fx, "SELECT test_id FROM arrivals", text, sizeof(text));
	assert_string_equal(text, "R05");
}

static void
test_two_early_arrivals_of_one_token_are_linked_by_one_upgrade(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];
	struct history history;

	/* Recorded out of time order (two receivers): the earlier arrival is the delivery. */
	assert_false(arrive(fx, "tok-r05", "127.0.0.1", T0 + 50));
	assert_false(arrive(fx, "tok-r05", "127.0.0.2", T0 + 20));
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	int64_t id = add_result(fx, &result);

	char sql[TEXT_MAX];
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM arrivals WHERE token = 'tok-r05' AND "
	    "result_id = %lld AND test_id = 'R05'", (long long)id);
	assert_int_equal(raw_int(fx, sql), 2);
	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_string_equal(history.verdict[0], "open");
	assert_string_equal(history.tricks[0], "R01,R05");
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
	assert_int_equal(raw_int(fx, "SELECT upgraded_at FROM results"), T0 + 20);
	assert_int_equal(raw_int(fx, "SELECT delivered_at FROM tests WHERE test_id = 'R05'"),
	    T0 + 20);
}

static void
test_early_arrivals_of_two_tokens_keep_the_stored_verdict_before(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];
	struct history history;

	assert_false(arrive(fx, "tok-r05", "127.0.0.1", T0 + 40));
	assert_false(arrive(fx, "tok-r01", "127.0.0.1", T0 + 10));
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tricks = NULL;
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);

	/* Applied in arrival order, as a receiver recording after the result would have. */
	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_string_equal(history.tricks[0], "R01,R05");
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
	assert_int_equal(raw_int(fx, "SELECT upgraded_at FROM results"), T0 + 10);
	raw_text(fx, "SELECT test_id FROM arrivals WHERE token = 'tok-r01'", text,
	    sizeof(text));
	assert_string_equal(text, "R01");
	raw_text(fx, "SELECT test_id FROM arrivals WHERE token = 'tok-r05'", text,
	    sizeof(text));
	assert_string_equal(text, "R05");
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM tests WHERE outcome = 'delivered'"),
	    2);
}

static void
test_early_arrival_for_a_confirmed_result_is_linked_without_upgrade(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];

	assert_false(arrive(fx, "tok-r05", "127.0.0.1", T0 + 10));
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.verdict = "open";
	result.stage = "delivered";
	result.tricks = "R05";
	result.tests = sample_tests;
	result.test_count = 3;
	int64_t id = add_result(fx, &result);

	assert_int_equal(raw_int(fx, "SELECT result_id FROM arrivals"), id);
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "(null)");
	raw_text(fx, "SELECT upgraded_at FROM results", text, sizeof(text));
	assert_string_equal(text, "(null)");
	raw_text(fx, "SELECT tricks FROM results", text, sizeof(text));
	assert_string_equal(text, "R05");
	assert_int_equal(raw_int(fx, "SELECT delivered_at FROM tests WHERE test_id = 'R05'"),
	    T0 + 10);
}

static void
test_early_arrival_of_another_token_is_left_alone(void **state)
{
	struct fixture *fx = *state;
	char text[TEXT_MAX];

	assert_false(arrive(fx, "tok-nobody", "127.0.0.5", T0 + 5));
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);

	raw_text(fx, "SELECT result_id FROM arrivals WHERE token = 'tok-nobody'", text,
	    sizeof(text));
	assert_string_equal(text, "(null)");
	raw_text(fx, "SELECT test_id FROM arrivals WHERE token = 'tok-nobody'", text,
	    sizeof(text));
	assert_string_equal(text, "(null)");
	raw_text(fx, "SELECT verdict FROM results", text, sizeof(text));
	assert_string_equal(text, "suspect");
	raw_text(fx, "SELECT verdict_before FROM results", text, sizeof(text));
	assert_string_equal(text, "(null)");
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM tests WHERE outcome = 'delivered'"),
	    0);
}

static void
test_arrival_after_an_early_one_is_matched_as_usual(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	assert_false(arrive(fx, "tok-r05", "127.0.0.1", T0 + 10));
	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tricks = NULL;
	result.tests = sample_tests;
	result.test_count = 3;
	int64_t id = add_result(fx, &result);
	assert_true(arrive(fx, "tok-r01", "127.0.0.1", T0 + 20));

	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_string_equal(history.tricks[0], "R05,R01");
	assert_int_equal(raw_int(fx, "SELECT upgraded_at FROM results"), T0 + 10);
	char sql[TEXT_MAX];
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM arrivals WHERE result_id = %lld",
	    (long long)id);
	assert_int_equal(raw_int(fx, sql), 2);
}

static void
test_arrivals_after_lists_them_in_id_order(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	int64_t last = -1;

	/* Recorded out of arrived_at order: the order is the order of recording. */
	arrive(fx, "tok-first", "127.0.0.1", T0 + 30);
	arrive(fx, "tok-second", "127.0.0.2", T0 + 10);
	arrive(fx, "tok-third", "127.0.0.3", T0 + 20);

	arrivals_after(fx->store, 0, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 3);
	assert_string_equal(arrivals.token[0], "tok-first");
	assert_string_equal(arrivals.token[1], "tok-second");
	assert_string_equal(arrivals.token[2], "tok-third");
	assert_true(arrivals.id[0] < arrivals.id[1]);
	assert_true(arrivals.id[1] < arrivals.id[2]);
	assert_int_equal(arrivals.arrived_at[1], T0 + 10);
	assert_int_equal(last, arrivals.id[2]);
}

static void
test_arrivals_after_carries_the_envelope_and_peer(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";
	struct arrivals arrivals;
	int64_t last = 0;
	bool matched = true;

	arrive(fx, "tok-full", "127.0.0.9", T0 + 1);
	assert_int_equal(store_arrival_record(fx->store, "tok-bare", NULL, NULL, NULL, T0 + 2,
	    &matched, err, sizeof(err)), 0);

	arrivals_after(fx->store, 0, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 2);
	assert_string_equal(arrivals.peer[0], "127.0.0.9");
	assert_string_equal(arrivals.mail_from[0], "<s@example.org>");
	assert_string_equal(arrivals.rcpt_to[0], "<u@relay-victim.example.net>");
	assert_int_equal(arrivals.arrived_at[0], T0 + 1);
	assert_string_equal(arrivals.token[1], "tok-bare");
	assert_string_equal(arrivals.peer[1], "(null)");
	assert_string_equal(arrivals.mail_from[1], "(null)");
	assert_string_equal(arrivals.rcpt_to[1], "(null)");
}

static void
test_arrivals_after_includes_unknown_tokens(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	int64_t last = 0;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);
	assert_false(arrive(fx, "tok-nobody", "127.0.0.5", T0 + 1));
	assert_true(arrive(fx, "tok-r05", "127.0.0.6", T0 + 2));

	arrivals_after(fx->store, 0, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 2);
	assert_string_equal(arrivals.token[0], "tok-nobody");
	assert_string_equal(arrivals.token[1], "tok-r05");
}

static void
test_arrivals_after_skips_ids_up_to_after_id(void **state)
{
	struct fixture *fx = *state;
	struct arrivals all, later;
	int64_t last = 0;

	for (int i = 0; i < 4; i++) {
		char token[TEXT_MAX];
		snprintf(token, sizeof(token), "tok-%d", i);
		arrive(fx, token, "127.0.0.1", T0 + i);
	}
	arrivals_after(fx->store, 0, 0, &all, &last);
	assert_int_equal(all.count, 4);

	/* after_id is exclusive: the row with that id is not repeated. */
	arrivals_after(fx->store, all.id[1], 0, &later, &last);
	assert_int_equal(later.count, 2);
	assert_int_equal(later.id[0], all.id[2]);
	assert_string_equal(later.token[0], "tok-2");
	assert_string_equal(later.token[1], "tok-3");
	assert_int_equal(last, all.id[3]);
}

static void
test_arrivals_after_limit_returns_the_oldest_first(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	int64_t last = 0;

	for (int i = 0; i < 5; i++) {
		char token[TEXT_MAX];
		snprintf(token, sizeof(token), "tok-%d", i);
		arrive(fx, token, "127.0.0.1", T0 + i);
	}
	arrivals_after(fx->store, 0, 2, &arrivals, &last);
	assert_int_equal(arrivals.count, 2);
	assert_string_equal(arrivals.token[0], "tok-0");
	assert_string_equal(arrivals.token[1], "tok-1");
	assert_int_equal(last, arrivals.id[1]);

	/* The next page starts where the last one stopped. */
	arrivals_after(fx->store, last, 2, &arrivals, &last);
	assert_int_equal(arrivals.count, 2);
	assert_string_equal(arrivals.token[0], "tok-2");
	assert_string_equal(arrivals.token[1], "tok-3");
	arrivals_after(fx->store, last, 2, &arrivals, &last);
	assert_int_equal(arrivals.count, 1);
	assert_string_equal(arrivals.token[0], "tok-4");
	assert_int_equal(last, last_arrival_id(fx));
}

static void
test_arrivals_after_leaves_last_id_alone_when_none(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	int64_t last = 424242;

	arrivals_after(fx->store, 0, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 0);
	assert_int_equal(last, 424242);

	arrive(fx, "tok-only", "127.0.0.1", T0);
	int64_t only = last_arrival_id(fx);
	last = 424242;
	arrivals_after(fx->store, only, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 0);
	assert_int_equal(last, 424242);
}

static void
test_arrivals_last_id_is_zero_for_an_empty_store(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(last_arrival_id(fx), 0);
}

static void
test_arrivals_last_id_is_the_newest_arrival(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	int64_t last = 0;

	arrive(fx, "tok-a", "127.0.0.1", T0 + 50);
	arrive(fx, "tok-b", "127.0.0.1", T0);
	arrivals_after(fx->store, 0, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 2);
	assert_int_equal(last_arrival_id(fx), arrivals.id[1]);
	assert_int_equal(last_arrival_id(fx), raw_int(fx, "SELECT MAX(id) FROM arrivals"));
}

static void
test_polling_from_last_id_sees_only_new_arrivals(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	int64_t last;

	arrive(fx, "tok-before", "127.0.0.1", T0);
	last = last_arrival_id(fx);
	arrivals_after(fx->store, last, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 0);

	arrive(fx, "tok-during-1", "127.0.0.1", T0 + 1);
	arrive(fx, "tok-during-2", "127.0.0.1", T0 + 2);
	arrivals_after(fx->store, last, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 2);
	assert_string_equal(arrivals.token[0], "tok-during-1");
	assert_string_equal(arrivals.token[1], "tok-during-2");

	/* The same poll again hands nothing over twice. */
	arrivals_after(fx->store, last, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 0);
}

static void
test_arrivals_recorded_by_another_connection_are_seen(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals;
	char err[ERR_SIZE] = "";
	bool matched = true;
	int64_t last;

	/* The receiver is another process with its own connection to the same store. */
	struct store *receiver = fixture_store_open(fx);
	last = last_arrival_id(fx);
	assert_int_equal(store_arrival_record(receiver, "tok-elsewhere", "127.0.0.7", NULL, NULL,
	    T0 + 1, &matched, err, sizeof(err)), 0);
	store_close(receiver);
	arrivals_after(fx->store, last, 0, &arrivals, &last);
	assert_int_equal(arrivals.count, 1);
	assert_string_equal(arrivals.token[0], "tok-elsewhere");
	assert_string_equal(arrivals.peer[0], "127.0.0.7");
}

/* What arrivals_count sees: how many rows, and whether their ids kept increasing. */
struct arrivals_tally {
	size_t count;
	int64_t previous_id;
	bool increasing;
};

/* arrivals_count - store_arrival_fn counting rows and checking their order. */
static void
arrivals_count(void *arg, const struct store_arrival_row *row)
{
	struct arrivals_tally *tally = arg;

	if (row->id <= tally->previous_id)
		tally->increasing = false;
	tally->previous_id = row->id;
	tally->count++;
}

/* arrivals_insert_many - count arrivals "tok-1".."tok-count" behind the store's back, in one
 * statement that both SQLite and PostgreSQL understand. */
static void
arrivals_insert_many(struct fixture *fx, int count)
{
	char sql[TEXT_MAX * 2];

	snprintf(sql, sizeof(sql), "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	    "FROM n WHERE i < %d) INSERT INTO arrivals (token, arrived_at) "
	    "SELECT 'tok-' || i, %lld + i FROM n", count, (long long)T0);
	raw_exec(fx, sql);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM arrivals"), count);
}

static void
test_arrivals_after_reads_past_one_page(void **state)
{
	struct fixture *fx = *state;
	struct arrivals_tally tally = { .increasing = true };
	char err[ERR_SIZE] = "";
	const int total = 2 * STORE_ARRIVALS_PAGE + 3;
	int64_t last = 0;

	arrivals_insert_many(fx, total);
	assert_int_equal(store_arrivals_after(fx->store, 0, 0, arrivals_count, &tally, &last,
	    err, sizeof(err)), 0);
	assert_int_equal(tally.count, total);
	assert_true(tally.increasing);
	assert_int_equal(last, last_arrival_id(fx));
}

static void
test_arrivals_after_limit_above_one_page_is_exact(void **state)
{
	struct fixture *fx = *state;
	struct arrivals_tally tally = { .increasing = true };
	char err[ERR_SIZE] = "";
	char sql[TEXT_MAX], token[TEXT_MAX], expected[TEXT_MAX];
	int64_t last = 0;

	arrivals_insert_many(fx, 2 * STORE_ARRIVALS_PAGE + 3);
	assert_int_equal(store_arrivals_after(fx->store, 0, STORE_ARRIVALS_PAGE + 1,
	    arrivals_count, &tally, &last, err, sizeof(err)), 0);
	assert_int_equal(tally.count, STORE_ARRIVALS_PAGE + 1);
	assert_true(tally.increasing);
	/* The last row handed over is the (page + 1)th arrival, and *last_id names it. */
	snprintf(sql, sizeof(sql), "SELECT token FROM arrivals WHERE id = %lld", (long long)last);
	raw_text(fx, sql, token, sizeof(token));
	snprintf(expected, sizeof(expected), "tok-%d", STORE_ARRIVALS_PAGE + 1);
	assert_string_equal(token, expected);
}

/* What arrival_stores_a_result needs: the fixture, and how the writes went. */
struct arrival_writer {
	struct fixture *fx;
	size_t seen;
	size_t stored;
};

/* arrival_stores_a_result - store_arrival_fn that writes to the store it is called from, as
 * relayguard check does when an arrival finishes a probe and its result is recorded. */
static void
arrival_stores_a_result(void *arg, const struct store_arrival_row *row)
{
	struct arrival_writer *writer = arg;
	char err[ERR_SIZE] = "";
	int64_t id = 0;

	writer->seen++;
	struct store_result result = sample_result(row->token, "192.0.2.1", row->arrived_at);
	if (store_result_add(writer->fx->store, writer->fx->run_id, &result, &id, err,
	    sizeof(err)) == 0)
		writer->stored++;
	else
		print_error("store_result_add inside the callback: %s\n", err);
}

static void
test_arrivals_callback_may_use_the_store(void **state)
{
	struct fixture *fx = *state;
	struct arrival_writer writer = { .fx = fx };
	char err[ERR_SIZE] = "";
	int64_t last = 0;

	arrive(fx, "tok-one", "127.0.0.1", T0 + 1);
	arrive(fx, "tok-two", "127.0.0.1", T0 + 2);
	assert_int_equal(store_arrivals_after(fx->store, 0, 0, arrival_stores_a_result, &writer,
	    &last, err, sizeof(err)), 0);
	assert_int_equal(writer.seen, 2);
	assert_int_equal(writer.stored, 2);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM results WHERE target LIKE 'tok-%'"), 2);
}

static void
test_arrivals_after_without_callback_or_last_id_is_refused(void **state)
{
	struct fixture *fx = *state;
	struct arrivals arrivals = { 0 };
	char err[ERR_SIZE] = "";
	int64_t last = 0;

	assert_int_equal(store_arrivals_after(fx->store, 0, 0, NULL, NULL, &last, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "callback"));
	err[0] = '\0';
	assert_int_equal(store_arrivals_after(fx->store, 0, 0, arrivals_collect, &arrivals, NULL,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "last id"));
	err[0] = '\0';
	assert_int_equal(store_arrivals_last_id(fx->store, NULL, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

static void
test_newer_schema_version_is_refused_with_message(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE] = "";

	store_close(fx->store);
	fx->store = NULL;
	raw_exec(fx, "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)");
	assert_null(store_open(fx->url, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 999"));
	assert_non_null(strstr(err, "newer"));
	/* Refusing must not have touched the schema. */
	assert_int_equal(raw_int(fx, "SELECT MAX(version) FROM schema_version"), 999);
}

/* open_error - store_open(url) must fail; its message goes to err. */
static void
open_error(const char *url, char *err)
{
	err[0] = '\0';
	struct store *store = store_open(url, err, ERR_SIZE);
	if (store != NULL) {
		store_close(store);
		fail_msg("store_open('%s') succeeded", url);
	}
	assert_true(err[0] != '\0');
}

static void
test_bad_urls_are_refused_with_a_message(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	open_error("", err);
	assert_non_null(strstr(err, "empty"));
	open_error("mysql://db.example.com/relayguard", err);
	assert_non_null(strstr(err, "unsupported store URL scheme 'mysql'"));
	open_error("sqlite:", err);
	assert_non_null(strstr(err, "names no file"));
	open_error("sqlite://db.example.com/store.db", err);
	assert_non_null(strstr(err, "names a host"));
	open_error("postgresql://[::1/relayguard", err);
	assert_non_null(strstr(err, "bad URL"));
	open_error("/nonexistent-relayguard-dir/store.db", err);
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_file_that_is_not_a_database_is_refused(void **state)
{
	struct fixture *fx = *state;
	char err[ERR_SIZE];
	char path[PATH_MAX + 16];
	FILE *file;

	if (pg_base_url != NULL)
		skip();
	snprintf(path, sizeof(path), "%s/garbage.db", fx->dir);
	file = fopen(path, "w");
	assert_non_null(file);
	fputs("this is not an SQLite database, only text that is long enough to have a "
	    "header page of garbage in it.\n", file);
	fclose(file);
	open_error(path, err);
	unlink(path);
	assert_non_null(strstr(err, "not a database"));
}

static void
test_invalid_utf8_is_stored_with_question_marks(void **state)
{
	struct fixture *fx = *state;
	struct history history;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.reason = "banner \xff\xfe then \xc3\xa9 and \xe0\x80\x80";
	add_result(fx, &result);
	history_of(fx->store, "192.0.2.1", 0, 0, &history);
	assert_int_equal(history.count, 1);
	assert_string_equal(history.reason[0], "banner ?? then \xc3\xa9 and ???");
}

static void
test_tricks_with_appends_a_missing_id(void **state)
{
	char *tricks;

	(void)state;
	tricks = store_tricks_with("R10,S01", "R1");
	assert_string_equal(tricks, "R10,S01,R1");
	free(tricks);
	tricks = store_tricks_with("R10,S01", "S01");
	assert_string_equal(tricks, "R10,S01");
	free(tricks);
	tricks = store_tricks_with(NULL, "N01");
	assert_string_equal(tricks, "N01");
	free(tricks);
	tricks = store_tricks_with("", "N01");
	assert_string_equal(tricks, "N01");
	free(tricks);
}

static void
test_text_clean_leaves_valid_utf8_alone(void **state)
{
	char *owned = (char *)1;
	const char *text = "caf\xc3\xa9 \xf0\x9f\x93\xa7";

	(void)state;
	assert_ptr_equal(store_text_clean(text, &owned), text);
	assert_null(owned);
	assert_null(store_text_clean(NULL, &owned));
	assert_null(owned);
}

static void
test_text_clean_replaces_surrogates_and_truncated_sequences(void **state)
{
	char *owned = NULL;

	(void)state;
	/* U+D800 encoded (a surrogate, RFC 3629 section 3), then a cut 3-byte sequence. */
	assert_string_equal(store_text_clean("a\xed\xa0\x80z\xe2\x82", &owned), "a???z??");
	assert_non_null(owned);
	free(owned);
}

/* ---- listings (schema version 2) -------------------------------------------------------- */

#define LISTINGS_MAX 16
/* "Now" of the listing tests: after every result they store. */
#define NOW (T0 + 1000)
#define DAY ((int64_t)86400)

/* Listings copied out of the callback. */
struct listings {
	size_t count;
	int64_t id[LISTINGS_MAX];
	int64_t result_id[LISTINGS_MAX];
	int64_t listed_at[LISTINGS_MAX];
	int64_t confirmed_at[LISTINGS_MAX];
	int64_t expires_at[LISTINGS_MAX];
	char prefix[LISTINGS_MAX][TEXT_MAX];
	char reason[LISTINGS_MAX][TEXT_MAX];
	char origin[LISTINGS_MAX][TEXT_MAX];
	char comment[LISTINGS_MAX][TEXT_MAX];
};

/* listings_collect - store_listing_fn copying each listing into a struct listings. */
static void
listings_collect(void *arg, const struct store_listing *listing)
{
	struct listings *listings = arg;
	size_t i = listings->count++;

	assert_true(i < LISTINGS_MAX);
	listings->id[i] = listing->id;
	listings->result_id[i] = listing->result_id;
	listings->listed_at[i] = listing->listed_at;
	listings->confirmed_at[i] = listing->confirmed_at;
	listings->expires_at[i] = listing->expires_at;
	snprintf(listings->prefix[i], TEXT_MAX, "%s", listing->prefix);
	snprintf(listings->reason[i], TEXT_MAX, "%s", listing->reason);
	snprintf(listings->origin[i], TEXT_MAX, "%s", listing->origin);
	snprintf(listings->comment[i], TEXT_MAX, "%s",
	    listing->comment != NULL ? listing->comment : "(null)");
}

/* all_listings - store_listings_list into a fresh struct listings. */
static void
all_listings(struct fixture *fx, struct listings *out)
{
	char err[ERR_SIZE] = "";

	memset(out, 0, sizeof(*out));
	if (store_listings_list(fx->store, listings_collect, out, err, sizeof(err)) != 0)
		fail_msg("store_listings_list: %s", err);
}

/* listing_of - the listing of one prefix into out; returns whether there is one. */
static bool
listing_of(struct fixture *fx, const char *prefix, struct listings *out)
{
	char err[ERR_SIZE] = "";
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (store_listing_get(fx->store, prefix, listings_collect, out, &found, err,
	    sizeof(err)) != 0)
		fail_msg("store_listing_get(%s): %s", prefix, err);
	assert_int_equal(out->count, found ? 1 : 0);
	return found;
}

/* Listing history rows copied out of the callback. */
struct events {
	size_t count;
	int64_t serial[LISTINGS_MAX];
	int64_t listing_id[LISTINGS_MAX];
	int64_t result_id[LISTINGS_MAX];
	int64_t at[LISTINGS_MAX];
	int64_t expires_at[LISTINGS_MAX];
	bool listed[LISTINGS_MAX];
	char prefix[LISTINGS_MAX][TEXT_MAX];
	char action[LISTINGS_MAX][TEXT_MAX];
	char reason[LISTINGS_MAX][TEXT_MAX];
	char origin[LISTINGS_MAX][TEXT_MAX];
};

/* events_collect - store_listing_event_fn copying each row into a struct events. */
static void
events_collect(void *arg, const struct store_listing_event *event)
{
	struct events *events = arg;
	size_t i = events->count++;

	assert_true(i < LISTINGS_MAX);
	events->serial[i] = event->serial;
	events->listing_id[i] = event->listing_id;
	events->result_id[i] = event->result_id;
	events->at[i] = event->at;
	events->expires_at[i] = event->expires_at;
	events->listed[i] = event->listed;
	snprintf(events->prefix[i], TEXT_MAX, "%s", event->prefix);
	snprintf(events->action[i], TEXT_MAX, "%s", event->action);
	snprintf(events->reason[i], TEXT_MAX, "%s", event->reason);
	snprintf(events->origin[i], TEXT_MAX, "%s", event->origin);
}

/* history_of_prefix - store_listing_history into a fresh struct events. */
static void
history_of_prefix(struct fixture *fx, const char *prefix, struct events *out)
{
	char err[ERR_SIZE] = "";

	memset(out, 0, sizeof(*out));
	if (store_listing_history(fx->store, prefix, events_collect, out, err, sizeof(err)) != 0)
		fail_msg("store_listing_history(%s): %s", prefix, err);
}

/* list_prefix - store_listing_add of a manual listing, failing the test on error; returns
 * the listing id. */
static int64_t
list_prefix(struct fixture *fx, const char *prefix, const char *reason, int64_t expires_at,
    bool replace, bool *added)
{
	struct store_listing_request request = {
		.prefix = prefix, .reason = reason, .comment = "spam trap hits",
		.expires_at = expires_at, .replace = replace,
	};
	char err[ERR_SIZE] = "";
	int64_t id = 0;
	bool made = false;

	if (store_listing_add(fx->store, &request, NOW, &id, &made, err, sizeof(err)) != 0)
		fail_msg("store_listing_add(%s): %s", prefix, err);
	assert_true(id > 0);
	if (added != NULL)
		*added = made;
	return id;
}

/* unlist - store_listing_remove, failing the test on error; returns whether it removed. */
static bool
unlist(struct fixture *fx, const char *prefix, int64_t now)
{
	char err[ERR_SIZE] = "";
	bool removed = false;

	if (store_listing_remove(fx->store, prefix, "delisting request", now, &removed, err,
	    sizeof(err)) != 0)
		fail_msg("store_listing_remove(%s): %s", prefix, err);
	return removed;
}

/* add_verdict - a result for address with this verdict and stage, started at started_at. */
static int64_t
add_verdict(struct fixture *fx, const char *address, const char *verdict, const char *stage,
    int64_t started_at)
{
	struct store_result result = sample_result(address, address, started_at);

	result.verdict = verdict;
	result.stage = stage;
	result.family = strchr(address, ':') != NULL ? "ipv6" : "ipv4";
	return add_result(fx, &result);
}

/* sync_results - store_listings_from_results, failing the test on error. */
static struct store_sync_counts
sync_results(struct fixture *fx, int64_t since, int64_t now, int64_t ttl)
{
	struct store_sync_counts counts;
	char err[ERR_SIZE] = "";

	if (store_listings_from_results(fx->store, since, now, ttl, &counts, err,
	    sizeof(err)) != 0)
		fail_msg("store_listings_from_results: %s", err);
	return counts;
}

/* serial_now - store_listing_serial's serial, failing the test on error. */
static int64_t
serial_now(struct fixture *fx, int64_t *changed_at)
{
	char err[ERR_SIZE] = "";
	int64_t serial = -1;
	int64_t at = -1;

	if (store_listing_serial(fx->store, &serial, &at, err, sizeof(err)) != 0)
		fail_msg("store_listing_serial: %s", err);
	if (changed_at != NULL)
		*changed_at = at;
	return serial;
}

static void
test_reasons_have_distinct_answers_from_127_0_0_2(void **state)
{
	size_t count;
	const struct store_reason *reasons = store_reasons(&count);

	(void)state;
	assert_true(count >= 4);
	for (size_t i = 0; i < count; i++) {
		assert_int_equal(reasons[i].code, 2 + i);
		assert_ptr_equal(store_reason_find(reasons[i].name), &reasons[i]);
	}
	assert_string_equal(store_reason_find("delivered")->name, "delivered");
	assert_int_equal(store_reason_find("delivered")->code, 2);
	assert_true(store_reason_find("delivered")->automatic);
	assert_true(store_reason_find("data")->automatic);
	assert_false(store_reason_find("manual")->automatic);
	assert_string_equal(store_reason_find("127.0.0.4")->name, "manual");
	assert_null(store_reason_find("127.0.0.1"));
	assert_null(store_reason_find("spam"));
}

static void
test_prefix_normalize_clears_host_bits_and_unmaps(void **state)
{
	char out[STORE_PREFIX_TEXT_MAX];
	char err[ERR_SIZE];

	(void)state;
	assert_true(store_prefix_normalize("192.0.2.77/24", out, sizeof(out), err, sizeof(err)));
	assert_string_equal(out, "192.0.2.0/24");
	assert_true(store_prefix_normalize("192.0.2.1", out, sizeof(out), err, sizeof(err)));
	assert_string_equal(out, "192.0.2.1/32");
	assert_true(store_prefix_normalize("2001:DB8:0::1", out, sizeof(out), err, sizeof(err)));
	assert_string_equal(out, "2001:db8::1/128");
	assert_true(store_prefix_normalize("::ffff:198.51.100.7", out, sizeof(out), err,
	    sizeof(err)));
	assert_string_equal(out, "198.51.100.7/32");
	assert_false(store_prefix_normalize("192.0.2.300", out, sizeof(out), err, sizeof(err)));
	assert_non_null(strstr(err, "192.0.2.300"));
}

/* RFC 5782 section 5: 127.0.0.1 is never listed; 127.0.0.2 is the test point. */
static void
test_prefix_covering_127_0_0_1_is_refused(void **state)
{
	static const char *const refused[] = { "127.0.0.1", "127.0.0.0/8", "0.0.0.0/0",
		"::ffff:127.0.0.1", "::/0", "::ffff:0:0/96" };
	char out[STORE_PREFIX_TEXT_MAX];
	char err[ERR_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		err[0] = '\0';
		assert_false(store_prefix_normalize(refused[i], out, sizeof(out), err,
		    sizeof(err)));
		assert_non_null(strstr(err, "RFC 5782"));
	}
	assert_true(store_prefix_normalize("127.0.0.2", out, sizeof(out), err, sizeof(err)));
	assert_true(store_prefix_normalize("127.0.2.0/24", out, sizeof(out), err, sizeof(err)));
}

static void
test_listing_add_lists_a_prefix_with_its_history(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;
	bool added = false;

	int64_t id = list_prefix(fx, "192.0.2.77/24", NULL, 0, false, &added);
	assert_true(added);
	assert_true(listing_of(fx, "192.0.2.0/24", &listings));
	assert_int_equal(listings.id[0], id);
	assert_string_equal(listings.prefix[0], "192.0.2.0/24");
	assert_string_equal(listings.reason[0], "manual");
	assert_string_equal(listings.origin[0], "manual");
	assert_string_equal(listings.comment[0], "spam trap hits");
	assert_int_equal(listings.result_id[0], 0);
	assert_int_equal(listings.listed_at[0], NOW);
	assert_int_equal(listings.expires_at[0], 0);

	history_of_prefix(fx, "192.0.2.0/24", &events);
	assert_int_equal(events.count, 1);
	assert_string_equal(events.action[0], "listed");
	assert_true(events.listed[0]);
	assert_int_equal(events.listing_id[0], id);
	assert_int_equal(events.at[0], NOW);
}

static void
test_listing_add_of_a_listed_prefix_keeps_it_unless_replace(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;
	bool added = true;

	int64_t first = list_prefix(fx, "198.51.100.7", "manual", 0, false, NULL);
	int64_t again = list_prefix(fx, "198.51.100.7", "imported", NOW + DAY, false, &added);
	assert_false(added);
	assert_int_equal(again, first);
	assert_true(listing_of(fx, "198.51.100.7", &listings));
	assert_string_equal(listings.reason[0], "manual");
	assert_int_equal(listings.expires_at[0], 0);

	again = list_prefix(fx, "198.51.100.7", "127.0.0.5", NOW + DAY, true, &added);
	assert_false(added);
	assert_int_equal(again, first);
	assert_true(listing_of(fx, "198.51.100.7/32", &listings));
	assert_string_equal(listings.reason[0], "imported");
	assert_int_equal(listings.expires_at[0], NOW + DAY);
	history_of_prefix(fx, "198.51.100.7", &events);
	assert_int_equal(events.count, 2);
	assert_string_equal(events.action[1], "updated");
	assert_string_equal(events.reason[1], "imported");
}

static void
test_listing_add_refuses_an_unknown_reason_and_localhost(void **state)
{
	struct fixture *fx = *state;
	struct store_listing_request request = { .prefix = "192.0.2.1", .reason = "spam" };
	struct listings listings;
	char err[ERR_SIZE] = "";
	int64_t id = -1;
	bool added = true;

	assert_int_equal(store_listing_add(fx->store, &request, NOW, &id, &added, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "spam"));
	assert_false(added);
	request = (struct store_listing_request){ .prefix = "127.0.0.0/24" };
	assert_int_equal(store_listing_add(fx->store, &request, NOW, &id, &added, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "127.0.0.1"));
	all_listings(fx, &listings);
	assert_int_equal(listings.count, 0);
	assert_int_equal(serial_now(fx, NULL), 0);
}

static void
test_listing_remove_ends_it_and_records_why(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;

	list_prefix(fx, "2001:db8::/48", "manual", 0, false, NULL);
	assert_true(unlist(fx, "2001:DB8:0:0::/48", NOW + 5));
	assert_false(listing_of(fx, "2001:db8::/48", &listings));
	assert_false(unlist(fx, "2001:db8::/48", NOW + 6));
	history_of_prefix(fx, "2001:db8::/48", &events);
	assert_int_equal(events.count, 2);
	assert_string_equal(events.action[0], "listed");
	assert_string_equal(events.action[1], "removed");
	assert_false(events.listed[1]);
	assert_string_equal(events.origin[1], "manual");
	assert_int_equal(events.at[1], NOW + 5);
}

static void
test_listing_ids_are_never_reused(void **state)
{
	struct fixture *fx = *state;

	int64_t first = list_prefix(fx, "192.0.2.1", NULL, 0, false, NULL);
	assert_true(unlist(fx, "192.0.2.1", NOW));
	int64_t second = list_prefix(fx, "192.0.2.2", NULL, 0, false, NULL);
	assert_true(second > first);
}

static void
test_listing_serial_moves_with_every_change(void **state)
{
	struct fixture *fx = *state;
	int64_t at = -1;

	assert_int_equal(serial_now(fx, &at), 0);
	assert_int_equal(at, 0);
	list_prefix(fx, "192.0.2.1", NULL, 0, false, NULL);
	int64_t first = serial_now(fx, &at);
	assert_true(first > 0);
	assert_int_equal(at, NOW);
	/* A listing kept as it was is no change. */
	list_prefix(fx, "192.0.2.1", NULL, 0, false, NULL);
	assert_int_equal(serial_now(fx, NULL), first);
	assert_true(unlist(fx, "192.0.2.1", NOW + 7));
	assert_true(serial_now(fx, &at) > first);
	assert_int_equal(at, NOW + 7);
}

static void
test_listing_changes_come_after_a_serial_in_order(void **state)
{
	struct fixture *fx = *state;
	struct events events = { 0 };
	char err[ERR_SIZE] = "";
	int64_t last = 0;

	list_prefix(fx, "192.0.2.1", NULL, 0, false, NULL);
	int64_t after = serial_now(fx, NULL);
	list_prefix(fx, "192.0.2.2", NULL, 0, false, NULL);
	assert_true(unlist(fx, "192.0.2.1", NOW));
	list_prefix(fx, "192.0.2.3", NULL, 0, false, NULL);

	last = after;
	assert_int_equal(store_listing_changes(fx->store, after, 2, events_collect, &events,
	    &last, err, sizeof(err)), 0);
	assert_int_equal(events.count, 2);
	assert_string_equal(events.prefix[0], "192.0.2.2/32");
	assert_true(events.listed[0]);
	assert_string_equal(events.prefix[1], "192.0.2.1/32");
	assert_false(events.listed[1]);
	assert_true(events.serial[0] > after);
	assert_true(events.serial[1] > events.serial[0]);
	assert_int_equal(last, events.serial[1]);

	memset(&events, 0, sizeof(events));
	assert_int_equal(store_listing_changes(fx->store, last, 0, events_collect, &events,
	    &last, err, sizeof(err)), 0);
	assert_int_equal(events.count, 1);
	assert_string_equal(events.prefix[0], "192.0.2.3/32");
	assert_int_equal(last, serial_now(fx, NULL));

	/* Nothing newer: *last_serial stays. */
	int64_t kept = last;
	memset(&events, 0, sizeof(events));
	assert_int_equal(store_listing_changes(fx->store, last, 0, events_collect, &events,
	    &last, err, sizeof(err)), 0);
	assert_int_equal(events.count, 0);
	assert_int_equal(last, kept);
}

static void
test_expire_ends_only_the_listings_whose_time_is_up(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;
	char err[ERR_SIZE] = "";
	size_t expired = 99;

	list_prefix(fx, "192.0.2.1", NULL, NOW + 10, false, NULL);
	list_prefix(fx, "192.0.2.2", NULL, NOW + 20, false, NULL);
	list_prefix(fx, "192.0.2.3", NULL, 0, false, NULL);
	assert_int_equal(store_listings_expire(fx->store, NOW + 10, &expired, err,
	    sizeof(err)), 0);
	assert_int_equal(expired, 1);
	all_listings(fx, &listings);
	assert_int_equal(listings.count, 2);
	assert_string_equal(listings.prefix[0], "192.0.2.2/32");
	assert_string_equal(listings.prefix[1], "192.0.2.3/32");
	history_of_prefix(fx, "192.0.2.1", &events);
	assert_int_equal(events.count, 2);
	assert_string_equal(events.action[1], "expired");
	assert_int_equal(events.at[1], NOW + 10);
	assert_int_equal(store_listings_expire(fx->store, NOW + 10 * DAY, &expired, err,
	    sizeof(err)), 0);
	assert_int_equal(expired, 1);
}

static void
test_sync_lists_an_open_delivered_result_as_delivered(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;

	int64_t result = add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	struct store_sync_counts counts = sync_results(fx, T0, NOW, DAY);
	assert_int_equal(counts.listed, 1);
	assert_int_equal(counts.reconfirmed, 0);
	assert_int_equal(counts.delisted, 0);
	assert_true(listing_of(fx, "192.0.2.10", &listings));
	assert_string_equal(listings.reason[0], "delivered");
	assert_string_equal(listings.origin[0], "sync");
	assert_int_equal(listings.result_id[0], result);
	assert_int_equal(listings.listed_at[0], NOW);
	assert_int_equal(listings.confirmed_at[0], T0 + 5);
	assert_int_equal(listings.expires_at[0], NOW + DAY);
	history_of_prefix(fx, "192.0.2.10", &events);
	assert_int_equal(events.count, 1);
	assert_string_equal(events.action[0], "listed");
	assert_string_equal(events.origin[0], "sync");
	assert_int_equal(events.result_id[0], result);
}

static void
test_sync_lists_open_at_data_as_data_and_ipv6_as_128(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	add_verdict(fx, "192.0.2.11", "open", "data", T0 + 5);
	add_verdict(fx, "2001:db8::25", "open", "data", T0 + 6);
	assert_int_equal(sync_results(fx, T0, NOW, 0).listed, 2);
	assert_true(listing_of(fx, "192.0.2.11/32", &listings));
	assert_string_equal(listings.reason[0], "data");
	/* ttl 0: never expires */
	assert_int_equal(listings.expires_at[0], 0);
	assert_true(listing_of(fx, "2001:db8::25/128", &listings));
	assert_string_equal(listings.reason[0], "data");
}

static void
test_sync_never_lists_suspect_inconclusive_or_closed(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	add_verdict(fx, "192.0.2.12", "suspect", "rcpt", T0 + 1);
	add_verdict(fx, "192.0.2.13", "inconclusive", "mail", T0 + 1);
	add_verdict(fx, "192.0.2.14", "closed", "rcpt", T0 + 1);
	add_verdict(fx, "192.0.2.15", "unreachable", NULL, T0 + 1);
	struct store_sync_counts counts = sync_results(fx, T0, NOW, DAY);
	assert_int_equal(counts.listed + counts.reconfirmed + counts.delisted, 0);
	all_listings(fx, &listings);
	assert_int_equal(listings.count, 0);
	assert_int_equal(serial_now(fx, NULL), 0);
}

static void
test_sync_twice_changes_nothing_the_second_time(void **state)
{
	struct fixture *fx = *state;

	add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	assert_int_equal(sync_results(fx, T0, NOW, DAY).listed, 1);
	int64_t serial = serial_now(fx, NULL);
	struct store_sync_counts counts = sync_results(fx, T0, NOW + 60, DAY);
	assert_int_equal(counts.listed + counts.reconfirmed + counts.delisted, 0);
	assert_int_equal(serial_now(fx, NULL), serial);
}

static void
test_sync_later_closed_result_delists(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;

	add_verdict(fx, "192.0.2.10", "open", "data", T0 + 5);
	sync_results(fx, T0, NOW, DAY);
	int64_t closing = add_verdict(fx, "192.0.2.10", "closed", "rcpt", T0 + 500);
	struct store_sync_counts counts = sync_results(fx, T0, NOW + 60, DAY);
	assert_int_equal(counts.delisted, 1);
	assert_false(listing_of(fx, "192.0.2.10", &listings));
	history_of_prefix(fx, "192.0.2.10", &events);
	assert_int_equal(events.count, 2);
	assert_string_equal(events.action[1], "delisted");
	assert_false(events.listed[1]);
	assert_int_equal(events.result_id[1], closing);
	/* The closed result stays the latest: syncing again lists nothing. */
	assert_int_equal(sync_results(fx, T0, NOW + 120, DAY).listed, 0);
}

static void
test_sync_open_then_closed_before_any_sync_lists_nothing(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	add_verdict(fx, "192.0.2.10", "closed", "rcpt", T0 + 50);
	add_verdict(fx, "192.0.2.10", "suspect", "rcpt", T0 + 90);
	struct store_sync_counts counts = sync_results(fx, T0, NOW, DAY);
	assert_int_equal(counts.listed + counts.delisted, 0);
	all_listings(fx, &listings);
	assert_int_equal(listings.count, 0);
}

static void
test_sync_closed_result_keeps_an_operators_listing(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	list_prefix(fx, "192.0.2.10", "manual", 0, false, NULL);
	add_verdict(fx, "192.0.2.10", "closed", "rcpt", T0 + 5);
	assert_int_equal(sync_results(fx, T0, NOW, DAY).delisted, 0);
	assert_true(listing_of(fx, "192.0.2.10", &listings));
	assert_string_equal(listings.reason[0], "manual");
}

static void
test_sync_newer_open_result_reconfirms_and_extends_the_expiry(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	struct events events;

	add_verdict(fx, "192.0.2.10", "open", "data", T0 + 5);
	sync_results(fx, T0, NOW, DAY);
	int64_t newer = add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 700);
	struct store_sync_counts counts = sync_results(fx, T0, NOW + 3600, DAY);
	assert_int_equal(counts.reconfirmed, 1);
	assert_int_equal(counts.listed, 0);
	assert_true(listing_of(fx, "192.0.2.10", &listings));
	assert_string_equal(listings.reason[0], "delivered");
	assert_int_equal(listings.result_id[0], newer);
	assert_int_equal(listings.confirmed_at[0], T0 + 700);
	assert_int_equal(listings.listed_at[0], NOW);
	assert_int_equal(listings.expires_at[0], NOW + 3600 + DAY);
	history_of_prefix(fx, "192.0.2.10", &events);
	assert_int_equal(events.count, 2);
	assert_string_equal(events.action[1], "reconfirmed");
	assert_int_equal(events.expires_at[1], NOW + 3600 + DAY);
}

static void
test_sync_reconfirming_never_shortens_an_expiry(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	list_prefix(fx, "192.0.2.10", "manual", NOW + 30 * DAY, false, NULL);
	int64_t result = add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	assert_int_equal(sync_results(fx, T0, NOW, DAY).reconfirmed, 1);
	assert_true(listing_of(fx, "192.0.2.10", &listings));
	assert_string_equal(listings.reason[0], "delivered");
	assert_int_equal(listings.result_id[0], result);
	assert_int_equal(listings.expires_at[0], NOW + 30 * DAY);
	/* ... and a listing that never expires stays so. */
	list_prefix(fx, "192.0.2.20", "manual", 0, false, NULL);
	add_verdict(fx, "192.0.2.20", "open", "data", T0 + 6);
	sync_results(fx, T0, NOW, DAY);
	assert_true(listing_of(fx, "192.0.2.20", &listings));
	assert_int_equal(listings.expires_at[0], 0);
}

static void
test_sync_a_late_arrival_upgrades_data_to_delivered(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.verdict = "open";
	result.stage = "data";
	result.tests = sample_tests;
	result.test_count = 3;
	int64_t id = add_result(fx, &result);
	sync_results(fx, T0, NOW, DAY);
	assert_true(listing_of(fx, "192.0.2.1", &listings));
	assert_string_equal(listings.reason[0], "data");

	assert_true(arrive(fx, "tok-r05", "192.0.2.1", NOW + 100));
	struct store_sync_counts counts = sync_results(fx, NOW, NOW + 200, DAY);
	assert_int_equal(counts.reconfirmed, 1);
	assert_true(listing_of(fx, "192.0.2.1", &listings));
	assert_string_equal(listings.reason[0], "delivered");
	assert_int_equal(listings.result_id[0], id);
	assert_int_equal(listings.confirmed_at[0], NOW + 100);
}

static void
test_sync_an_old_result_upgraded_since_is_listed(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	struct store_result result = sample_result("mail.example.com", "192.0.2.1", T0);
	result.tests = sample_tests;
	result.test_count = 3;
	add_result(fx, &result);
	assert_true(arrive(fx, "tok-r01", "192.0.2.1", NOW + 100));
	/* started long before `since`, upgraded after it */
	assert_int_equal(sync_results(fx, NOW, NOW + 200, DAY).listed, 1);
	assert_true(listing_of(fx, "192.0.2.1", &listings));
	assert_string_equal(listings.reason[0], "delivered");
}

static void
test_sync_ignores_results_before_since(void **state)
{
	struct fixture *fx = *state;

	add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	assert_int_equal(sync_results(fx, T0 + 6, NOW, DAY).listed, 0);
	assert_int_equal(sync_results(fx, T0 + 5, NOW, DAY).listed, 1);
}

static void
test_sync_does_not_relist_what_an_operator_removed(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	sync_results(fx, T0, NOW, DAY);
	assert_true(unlist(fx, "192.0.2.10", NOW + 10));
	assert_int_equal(sync_results(fx, T0, NOW + 20, DAY).listed, 0);
	assert_false(listing_of(fx, "192.0.2.10", &listings));
	/* A check after the removal finding it open again lists it again. */
	add_verdict(fx, "192.0.2.10", "open", "delivered", NOW + 30);
	assert_int_equal(sync_results(fx, T0, NOW + 40, DAY).listed, 1);
	assert_true(listing_of(fx, "192.0.2.10", &listings));
}

static void
test_sync_does_not_relist_from_evidence_that_expired(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;
	char err[ERR_SIZE] = "";
	size_t expired = 0;

	add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	sync_results(fx, T0, NOW, 60);
	assert_int_equal(store_listings_expire(fx->store, NOW + 60, &expired, err,
	    sizeof(err)), 0);
	assert_int_equal(expired, 1);
	assert_int_equal(sync_results(fx, T0, NOW + 61, 60).listed, 0);
	assert_false(listing_of(fx, "192.0.2.10", &listings));
	/* A newer open result is new evidence. */
	add_verdict(fx, "192.0.2.10", "open", "data", T0 + 900);
	assert_int_equal(sync_results(fx, T0, NOW + 62, 60).listed, 1);
	assert_true(listing_of(fx, "192.0.2.10", &listings));
	assert_string_equal(listings.reason[0], "data");
}

static void
test_sync_never_lists_127_0_0_1(void **state)
{
	struct fixture *fx = *state;
	struct listings listings;

	add_verdict(fx, "127.0.0.1", "open", "delivered", T0 + 5);
	add_verdict(fx, "127.0.2.2", "open", "delivered", T0 + 5);
	assert_int_equal(sync_results(fx, T0, NOW, DAY).listed, 1);
	all_listings(fx, &listings);
	assert_int_equal(listings.count, 1);
	assert_string_equal(listings.prefix[0], "127.0.2.2/32");
}

/* What stale_collect saw. */
struct stale_rows {
	size_t count;
	char address[LISTINGS_MAX][TEXT_MAX];
	int port[LISTINGS_MAX];
	int64_t checked_at[LISTINGS_MAX];
};

/* stale_collect - store_stale_fn copying each row. */
static void
stale_collect(void *arg, const struct store_stale_listing *stale)
{
	struct stale_rows *rows = arg;
	size_t i = rows->count++;

	assert_true(i < LISTINGS_MAX);
	snprintf(rows->address[i], TEXT_MAX, "%s", stale->address);
	rows->port[i] = stale->port;
	rows->checked_at[i] = stale->checked_at;
}

static void
test_stale_listings_are_addresses_not_checked_since(void **state)
{
	struct fixture *fx = *state;
	struct stale_rows rows = { 0 };
	char err[ERR_SIZE] = "";

	struct store_result result = sample_result("192.0.2.10", "192.0.2.10", T0 + 5);
	result.verdict = "open";
	result.stage = "delivered";
	result.port = 2525;
	add_result(fx, &result);
	add_verdict(fx, "192.0.2.11", "open", "data", T0 + 500);
	sync_results(fx, T0, NOW, DAY);
	list_prefix(fx, "192.0.2.12", NULL, 0, false, NULL);
	list_prefix(fx, "198.51.100.0/24", NULL, 0, false, NULL);

	assert_int_equal(store_listings_stale(fx->store, T0 + 100, stale_collect, &rows, err,
	    sizeof(err)), 0);
	assert_int_equal(rows.count, 2);
	assert_string_equal(rows.address[0], "192.0.2.10");
	assert_int_equal(rows.port[0], 2525);
	assert_int_equal(rows.checked_at[0], T0 + 5);
	/* never checked: no port, no time; a CIDR is never "stale" */
	assert_string_equal(rows.address[1], "192.0.2.12");
	assert_int_equal(rows.port[1], 0);
	assert_int_equal(rows.checked_at[1], 0);
}

static void
test_listing_txt_expands_its_placeholders(void **state)
{
	struct store_listing listing = {
		.id = 42, .prefix = "192.0.2.10/32", .reason = "delivered", .origin = "sync",
		.result_id = 7, .listed_at = T0 + DAY, .confirmed_at = T0,
	};
	char out[TEXT_MAX];

	(void)state;
	size_t length = store_listing_txt(NULL, &listing, out, sizeof(out));
	assert_string_equal(out, "Open relay confirmed by relayguard on 2023-11-14: see "
	    "https://bl.example.org/evidence/42");
	assert_int_equal(length, strlen(out));
	store_listing_txt("{code} {prefix} result {result} ${unknown} {id", &listing, out,
	    sizeof(out));
	assert_string_equal(out, "127.0.0.2 192.0.2.10/32 result 7 ${unknown} {id");
	listing.result_id = 0;
	listing.reason = "manual";
	store_listing_txt("{reason}; {result}", &listing, out, sizeof(out));
	assert_string_equal(out, "Listed by the list operator; none");
	/* truncated to fit */
	assert_int_equal(store_listing_txt("{prefix}", &listing, out, 8), 7);
	assert_string_equal(out, "192.0.2");
}

static void
test_migration_2_applies_to_a_version_1_store(void **state)
{
	struct fixture *fx = *state;

	add_verdict(fx, "192.0.2.10", "open", "delivered", T0 + 5);
	store_close(fx->store);
	fx->store = NULL;
	raw_exec(fx, "DROP TABLE listing_history");
	raw_exec(fx, "DROP TABLE listings");
	raw_exec(fx, "DELETE FROM schema_version WHERE version = 2");
	fx->store = fixture_store_open(fx);
	assert_int_equal(raw_int(fx, "SELECT MAX(version) FROM schema_version"), 2);
	assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM results"), 1);
	assert_int_equal(sync_results(fx, T0, NOW, DAY).listed, 1);
}

int
main(void)
{
	const char *url = getenv(URL_ENV);

	log_init("test_store", LOG_SINK_STDERR, LOG_LEVEL_WARN);
	if (url != NULL && url[0] != '\0') {
		if (strncmp(url, "postgresql://", 13) != 0 &&
		    strncmp(url, "postgres://", 11) != 0) {
			fprintf(stderr, "test_store: %s must be a postgresql:// URL; leave it "
			    "unset to test SQLite\n", URL_ENV);
			return 1;
		}
		pg_base_url = url;
	}
	fprintf(stderr, "test_store: backend %s\n", pg_base_url != NULL ? "postgresql" : "sqlite");

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_current_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_uses_write_ahead_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_prefix_names_the_same_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_migrates_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_begin_records_a_running_run, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_end_records_status_and_time, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_end_of_unknown_run_is_an_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_end_refuses_an_unknown_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_result_is_stored_with_its_tests, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx_preference_is_null_without_mx_host, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failed_result_leaves_nothing_behind, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_result_of_unknown_run_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verdict_outside_the_vocabulary_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_without_target_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_tokens_are_not_registered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_second_result_for_same_target_keeps_the_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_filters_by_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_matches_the_target_string, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_history_filters_by_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_orders_newest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_ties_put_the_later_result_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_history_limit_keeps_the_newest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_history_without_match_lists_everything, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_history_of_unknown_address_is_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_arrival_of_known_token_upgrades_verdict_and_tricks, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_arrival_of_a_trick_already_listed_does_not_repeat_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_arrival_keeps_the_first_verdict_before,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_arrival_for_a_confirmed_result_records_no_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrival_of_unknown_token_is_recorded_unmatched,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrival_with_empty_token_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_arrival_before_its_result_upgrades_it_when_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_two_early_arrivals_of_one_token_are_linked_by_one_upgrade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_early_arrivals_of_two_tokens_keep_the_stored_verdict_before, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_early_arrival_for_a_confirmed_result_is_linked_without_upgrade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_early_arrival_of_another_token_is_left_alone,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrival_after_an_early_one_is_matched_as_usual,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_lists_them_in_id_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_carries_the_envelope_and_peer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_includes_unknown_tokens, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_skips_ids_up_to_after_id, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_limit_returns_the_oldest_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_leaves_last_id_alone_when_none,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_last_id_is_zero_for_an_empty_store,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_last_id_is_the_newest_arrival, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_polling_from_last_id_sees_only_new_arrivals,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_arrivals_recorded_by_another_connection_are_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_reads_past_one_page, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_after_limit_above_one_page_is_exact,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_callback_may_use_the_store, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_arrivals_after_without_callback_or_last_id_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_version_is_refused_with_message,
		    setup, teardown),
		cmocka_unit_test(test_bad_urls_are_refused_with_a_message),
		cmocka_unit_test_setup_teardown(test_file_that_is_not_a_database_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_is_stored_with_question_marks,
		    setup, teardown),
		cmocka_unit_test(test_tricks_with_appends_a_missing_id),
		cmocka_unit_test(test_text_clean_leaves_valid_utf8_alone),
		cmocka_unit_test(test_text_clean_replaces_surrogates_and_truncated_sequences),
		cmocka_unit_test(test_reasons_have_distinct_answers_from_127_0_0_2),
		cmocka_unit_test(test_prefix_normalize_clears_host_bits_and_unmaps),
		cmocka_unit_test(test_prefix_covering_127_0_0_1_is_refused),
		cmocka_unit_test_setup_teardown(test_listing_add_lists_a_prefix_with_its_history,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_add_of_a_listed_prefix_keeps_it_unless_replace,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_add_refuses_an_unknown_reason_and_localhost,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_remove_ends_it_and_records_why,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_ids_are_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_serial_moves_with_every_change,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_changes_come_after_a_serial_in_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_ends_only_the_listings_whose_time_is_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_lists_an_open_delivered_result_as_delivered,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_lists_open_at_data_as_data_and_ipv6_as_128,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_never_lists_suspect_inconclusive_or_closed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_twice_changes_nothing_the_second_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_later_closed_result_delists,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_open_then_closed_before_any_sync_lists_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_closed_result_keeps_an_operators_listing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_newer_open_result_reconfirms_and_extends_the_expiry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_reconfirming_never_shortens_an_expiry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_a_late_arrival_upgrades_data_to_delivered,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_an_old_result_upgraded_since_is_listed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_ignores_results_before_since,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_does_not_relist_what_an_operator_removed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_does_not_relist_from_evidence_that_expired,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_never_lists_127_0_0_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_listings_are_addresses_not_checked_since,
		    setup, teardown),
		cmocka_unit_test(test_listing_txt_expands_its_placeholders),
		cmocka_unit_test_setup_teardown(test_migration_2_applies_to_a_version_1_store,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
