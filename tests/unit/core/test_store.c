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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
