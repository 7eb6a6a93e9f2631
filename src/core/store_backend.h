/* store_backend.h - what a store backend provides (a table of functions) and the helpers the
 * backends share. Included only by store*.c; everyone else uses core/store.h. */
#ifndef RELAYGUARD_CORE_STORE_BACKEND_H
#define RELAYGUARD_CORE_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/store.h"

/* The schema version this program writes: each backend holds exactly this many migrations,
 * numbered 1..STORE_SCHEMA_VERSION (docs/store.md, "Version history"). */
#define STORE_SCHEMA_VERSION 2

/* What a late arrival turns a result into (DESIGN.md: confirmed by the receiver). */
#define STORE_VERDICT_CONFIRMED "open"
#define STORE_STAGE_CONFIRMED "delivered"
#define STORE_OUTCOME_CONFIRMED "delivered"

struct store_arrival {
	const char *token;
	const char *peer;
	const char *mail_from;
	const char *rcpt_to;
	int64_t arrived_at;
};

struct store_query {
	const char *match;	/* address or target, NULL for all */
	int64_t since;
	size_t limit;		/* 0: no limit */
};

/* store_arrivals_after reads arrivals a page at a time, each page completely, and hands its
 * rows to the caller's callback only then: no query is in progress while the callback runs,
 * so it may use the store (check's callback finishes probes, which store their results). */
#define STORE_ARRIVALS_PAGE 256

/* One page of arrivals; the row strings are copies owned by the page. */
struct store_arrival_page {
	size_t count;
	struct store_arrival_row rows[STORE_ARRIVALS_PAGE];
};

/* A listing to insert, with the parts of its prefix kept in their own columns. */
struct store_listing_row {
	struct store_listing listing;	/* id ignored */
	const char *address;		/* the prefix's network address, "192.0.2.0" */
	unsigned length;
	const char *family;		/* "ipv4" or "ipv6" */
};

/* Which listings store_ops.listings_select reads. */
enum store_listing_select {
	STORE_LISTINGS_BY_PREFIX,	/* the one of query->prefix */
	STORE_LISTINGS_ALL,		/* every listing, id order */
	STORE_LISTINGS_EXPIRED,		/* expires_at <= query->now, id order */
};

struct store_listing_query {
	enum store_listing_select which;
	const char *prefix;
	int64_t now;
};

/* An address whose latest open-or-closed result may change its listing
 * (store_listings_from_results); listing.id is 0 when the address is not listed. */
struct store_listing_candidate {
	int64_t result_id;
	const char *address;
	const char *prefix;		/* the address as a host prefix, "192.0.2.1/32" */
	const char *verdict;		/* "open" or "closed" */
	const char *stage;
	int64_t seen_at;		/* the later of its start and its upgrade by an arrival */
	struct store_listing listing;
};
typedef void (*store_candidate_fn)(void *arg, const struct store_listing_candidate *candidate);

/* The automatic reasons as SQL sees them (store.c's reason table says the same). */
#define STORE_SQL_AUTOMATIC_REASONS "('delivered', 'data')"

/* The candidates of store_listings_from_results, one statement for both backends ($1 is a
 * numbered parameter in PostgreSQL and a named one in SQLite, bound by position in both):
 * per address, the latest result (started_at, then id) among the open-at-data-or-later and
 * closed ones seen since $1, joined with the address's own listing; only the rows that call
 * for a change come back. A result listed once and expired, or older than an operator's
 * removal, does not list the address again. */
#define STORE_SQL_LISTING_CANDIDATES \
	"WITH latest AS (" \
	"  SELECT id, address, verdict, stage," \
	"    CASE WHEN upgraded_at IS NOT NULL AND upgraded_at > started_at THEN upgraded_at" \
	"      ELSE started_at END AS seen_at," \
	"    address || CASE WHEN address LIKE '%:%' THEN '/128' ELSE '/32' END AS host_prefix," \
	"    ROW_NUMBER() OVER (PARTITION BY address ORDER BY started_at DESC, id DESC) AS n" \
	"  FROM results" \
	"  WHERE address IS NOT NULL AND address <> '127.0.0.1' AND address NOT LIKE '::ffff:%'" \
	"    AND (verdict = 'closed' OR (verdict = 'open' AND stage IN ('data', 'delivered')))" \
	"    AND (started_at >= $1 OR upgraded_at >= $1))" \
	" SELECT l.id, l.address, l.host_prefix, l.verdict, l.stage, l.seen_at," \
	"  li.id, li.prefix, li.reason, li.origin, li.comment, li.result_id, li.listed_at," \
	"  li.confirmed_at, li.expires_at" \
	" FROM latest l LEFT JOIN listings li ON li.prefix = l.host_prefix" \
	" WHERE l.n = 1 AND (" \
	"  (l.verdict = 'open' AND li.id IS NULL AND NOT EXISTS (" \
	"    SELECT 1 FROM listing_history h WHERE h.prefix = l.host_prefix" \
	"      AND ((h.action = 'removed' AND h.at >= l.seen_at)" \
	"        OR (h.action = 'expired' AND h.result_id = l.id))))" \
	"  OR (l.verdict = 'open' AND li.id IS NOT NULL AND (li.result_id IS NULL" \
	"    OR li.result_id <> l.id" \
	"    OR li.reason <> CASE WHEN l.stage = 'delivered' THEN 'delivered' ELSE 'data' END))" \
	"  OR (l.verdict = 'closed' AND li.reason IN " STORE_SQL_AUTOMATIC_REASONS "))" \
	" ORDER BY l.id"

/* Listed single addresses not checked since $1, with the port to check them on. */
#define STORE_SQL_LISTINGS_STALE \
	"SELECT li.address," \
	"  COALESCE((SELECT r.port FROM results r WHERE r.id = li.result_id)," \
	"    (SELECT r.port FROM results r WHERE r.address = li.address" \
	"      ORDER BY r.started_at DESC, r.id DESC LIMIT 1), 0)," \
	"  COALESCE((SELECT MAX(r.started_at) FROM results r WHERE r.address = li.address), 0)" \
	" FROM listings li" \
	" WHERE li.length = CASE li.family WHEN 'ipv6' THEN 128 ELSE 32 END" \
	"  AND NOT EXISTS (SELECT 1 FROM results r WHERE r.address = li.address" \
	"    AND r.started_at >= $1)" \
	" ORDER BY li.id"

#define STORE_SQL_LISTING_COLUMNS \
	"SELECT id, prefix, reason, origin, comment, result_id, listed_at, confirmed_at, " \
	"expires_at FROM listings "
#define STORE_SQL_EVENT_COLUMNS \
	"SELECT id, listing_id, prefix, action, reason, origin, comment, result_id, at, " \
	"confirmed_at, expires_at FROM listing_history "

/* One backend. impl is the backend's own connection state. */
struct store_ops {
	const char *name;
	void (*close)(void *impl);
	int (*run_begin)(void *impl, const struct store_run *run, int64_t *run_id,
	    char *err, size_t err_size);
	int (*run_end)(void *impl, int64_t run_id, int64_t finished_at, const char *status,
	    char *err, size_t err_size);
	int (*result_add)(void *impl, int64_t run_id, const struct store_result *result,
	    int64_t *result_id, char *err, size_t err_size);
	int (*arrival_record)(void *impl, const struct store_arrival *arrival, bool *matched,
	    char *err, size_t err_size);
	int (*history)(void *impl, const struct store_query *query, store_history_fn fn,
	    void *arg, char *err, size_t err_size);
	/* arrivals_page - at most limit (1..STORE_ARRIVALS_PAGE) arrivals with id > after_id,
	 * in id order, appended to the empty page. */
	int (*arrivals_page)(void *impl, int64_t after_id, size_t limit,
	    struct store_arrival_page *page, char *err, size_t err_size);
	int (*arrivals_last_id)(void *impl, int64_t *last_id, char *err, size_t err_size);

	/* Listings: the decisions are store.c's; each of these runs one statement. Writes
	 * happen between listing_begin (the write lock: SQLite BEGIN IMMEDIATE; PostgreSQL a
	 * lock on listing_history, so serials commit in order) and listing_commit. */
	int (*listing_begin)(void *impl, char *err, size_t err_size);
	int (*listing_commit)(void *impl, char *err, size_t err_size);
	void (*listing_rollback)(void *impl);
	int (*listings_select)(void *impl, const struct store_listing_query *query,
	    store_listing_fn fn, void *arg, char *err, size_t err_size);
	int (*listing_insert)(void *impl, const struct store_listing_row *row, int64_t *id,
	    char *err, size_t err_size);
	/* listing_update - reason, origin, comment, result_id, confirmed_at, expires_at */
	int (*listing_update)(void *impl, const struct store_listing *listing, char *err,
	    size_t err_size);
	int (*listing_delete)(void *impl, int64_t id, char *err, size_t err_size);
	/* listing_event_add - a listing_history row (event->serial and ->listed ignored) */
	int (*listing_event_add)(void *impl, const struct store_listing_event *event,
	    int64_t *serial, char *err, size_t err_size);
	/* listing_events - rows with id > after (of one prefix, or all when prefix is NULL),
	 * in id order, at most limit (0: all) */
	int (*listing_events)(void *impl, const char *prefix, int64_t after, size_t limit,
	    store_listing_event_fn fn, void *arg, char *err, size_t err_size);
	int (*listing_serial)(void *impl, int64_t *serial, int64_t *changed_at, char *err,
	    size_t err_size);
	int (*listing_candidates)(void *impl, int64_t since, store_candidate_fn fn, void *arg,
	    char *err, size_t err_size);
	int (*listings_stale)(void *impl, int64_t before, store_stale_fn fn, void *arg,
	    char *err, size_t err_size);
};

/* store_sqlite_open - open or create the SQLite file at path and migrate it. */
int store_sqlite_open(const char *path, const struct store_ops **ops, void **impl,
    char *err, size_t err_size);
/* store_postgresql_open - connect with a libpq URL and migrate the database. */
int store_postgresql_open(const char *url, const struct store_ops **ops, void **impl,
    char *err, size_t err_size);

/* store_fail - write a message into err (when there is room) and return -1. */
int store_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* store_arrival_page_add - append a copy of one arrival to page (the backend's bug if full). */
void store_arrival_page_add(struct store_arrival_page *page,
    const struct store_arrival_row *row);
/* store_arrival_page_clear - free the page's copies and empty it. */
void store_arrival_page_clear(struct store_arrival_page *page);

/* store_text_clean - text fit for a TEXT column: NULL stays NULL; valid UTF-8 is returned as
 * is; otherwise a copy with each invalid byte replaced by '?' is returned and also put in
 * *owned for the caller to free (*owned is NULL when nothing was copied). */
const char *store_text_clean(const char *text, char **owned);

/* store_text_or_null - NULL for NULL or "", else text: optional columns store NULL. */
const char *store_text_or_null(const char *text);

/* store_result_registers_tokens - some test of result carries a token (store_result_add then
 * looks for arrivals of those tokens recorded before it: docs/store.md). */
bool store_result_registers_tokens(const struct store_result *result);

/* store_tricks_with - tricks ("R01,R02", NULL or "") with test_id added when it is not one of
 * its items; a new string to free. */
char *store_tricks_with(const char *tricks, const char *test_id);

/* store_listing_action_lists - whether a listing_history action leaves the prefix listed. */
bool store_listing_action_lists(const char *action);

/* store_upgrade - the before-columns of a result that a confirmed arrival upgrades: the first
 * upgrade keeps the verdict and stage it replaces; later ones keep what the first kept; a
 * result already open/delivered keeps NULL. */
struct store_upgrade {
	const char *verdict_before;
	const char *stage_before;
};
void store_upgrade_plan(const char *verdict, const char *stage, const char *verdict_before,
    const char *stage_before, struct store_upgrade *out);

#endif
