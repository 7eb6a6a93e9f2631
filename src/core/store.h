/* store.h - the result store (runs, results, tests, late arrivals, history) over SQLite or
 * PostgreSQL (docs/store.md). Used by check, receiver and list; never aborts on a DB error. */
#ifndef RELAYGUARD_CORE_STORE_H
#define RELAYGUARD_CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* store_open - "FILE", "sqlite:FILE" or "postgresql://..." / "postgres://..." (libpq
 * connection URL). Creates or migrates the schema; refuses a store whose schema is newer
 * than this program. Returns NULL with a message in err on failure. */
struct store *store_open(const char *url, char *err, size_t err_size);
/* store_close - close the connection and free the store; NULL is accepted. */
void store_close(struct store *store);
/* store_backend_name - "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *store);

struct store_run {
	const char *command;	/* "check", "receiver", ... */
	const char *version;	/* relayguard version */
	const char *node;	/* host name of the machine doing the run */
	const char *shard;	/* "2/8" or NULL */
	int64_t started_at;	/* unix seconds */
};

/* store_run_begin - record a run as "running"; its id goes to *run_id. */
int store_run_begin(struct store *store, const struct store_run *run, int64_t *run_id,
    char *err, size_t err_size);
/* store_run_end - close a run: status is "finished" or "interrupted". */
int store_run_end(struct store *store, int64_t run_id, int64_t finished_at, const char *status,
    char *err, size_t err_size);

struct store_test {
	const char *test_id;		/* battery id: "S01", "R05", ... */
	const char *outcome;		/* "refused", "accepted", "data-accepted", ... */
	const char *stage;		/* how far this probe got, or NULL */
	const char *mail_from;
	const char *rcpt_to;
	const char *replies_json;	/* JSON array of the replies, or NULL */
	unsigned attempts;
	int64_t elapsed_ms;
	const char *token;		/* probe token, or NULL / "" when none was sent */
};

struct store_result {
	const char *target;		/* as named on the command line */
	const char *address;		/* NULL when the target never expanded to one */
	int port;
	const char *family;		/* "ipv4", "ipv6" or NULL */
	const char *mx_host;		/* NULL when not reached through MX */
	int mx_preference;		/* ignored (stored as NULL) when mx_host is NULL */
	const char *mail_domain;
	const char *banner;
	const char *software;
	const char *software_version;
	const char *verdict;		/* open, suspect, closed, inconclusive, unreachable */
	const char *stage;
	const char *reason;
	const char *tricks;		/* "R01,R02" or NULL / "" */
	int64_t started_at;		/* unix seconds */
	int64_t elapsed_ms;
	const char *report_json;	/* the whole JSON object as printed by --json */
	const struct store_test *tests;
	size_t test_count;
};

/* store_result_add - one target's result and its tests in ONE transaction; the tests' tokens
 * are registered (token -> result, test id) so that late arrivals can upgrade the result. */
int store_result_add(struct store *store, int64_t run_id, const struct store_result *result,
    int64_t *result_id, char *err, size_t err_size);

/* store_arrival_record - the receiver saw a token: record the arrival (always, even for an
 * unknown token); if the token is known, mark that test "delivered" and upgrade its result to
 * verdict "open", stage "delivered" (the old verdict and stage kept in verdict_before and
 * stage_before) and append the test id to tricks if missing. *matched tells whether the token
 * was known. */
int store_arrival_record(struct store *store, const char *token, const char *peer,
    const char *mail_from, const char *rcpt_to, int64_t arrived_at, bool *matched,
    char *err, size_t err_size);

struct store_history_row {
	int64_t result_id;
	int64_t run_id;
	const char *target;
	const char *address;	/* may be NULL */
	int port;
	const char *verdict;
	const char *stage;	/* may be NULL */
	const char *tricks;	/* "" when none */
	const char *reason;	/* may be NULL */
	int64_t started_at;
	const char *software;	/* may be NULL */
	const char *report_json; /* may be NULL */
};

/* The row and its strings are valid only during the call; fn must not use the store. */
typedef void (*store_history_fn)(void *arg, const struct store_history_row *row);

/* store_history - results started at or after `since` (unix seconds), newest first, whose
 * address or target string equals match, or all when match is NULL; limit 0 = no limit. */
int store_history(struct store *store, const char *match, int64_t since, size_t limit,
    store_history_fn fn, void *arg, char *err, size_t err_size);

/* One recorded arrival (matched or not), as store_arrivals_after hands it over. */
struct store_arrival_row {
	int64_t id;		/* arrivals.id: increases in the order arrivals were committed */
	const char *token;
	const char *peer;	/* may be NULL */
	const char *mail_from;	/* may be NULL */
	const char *rcpt_to;	/* may be NULL */
	int64_t arrived_at;
};

/* The row and its strings are valid only during the call. fn may use the store (no query is
 * in progress while it runs), but must not free it. */
typedef void (*store_arrival_fn)(void *arg, const struct store_arrival_row *row);

/* store_arrivals_after - arrivals with id > after_id in id order, at most limit (0 = all);
 * *last_id receives the highest id seen (unchanged when none). Polling with the last id it
 * returned sees every arrival once, whichever process recorded it (docs/store.md). On error
 * *last_id still covers the rows already handed to fn. */
int store_arrivals_after(struct store *store, int64_t after_id, size_t limit,
    store_arrival_fn fn, void *arg, int64_t *last_id, char *err, size_t err_size);
/* store_arrivals_last_id - the highest arrival id now (0 when none), to start polling from. */
int store_arrivals_last_id(struct store *store, int64_t *last_id, char *err, size_t err_size);

#endif
