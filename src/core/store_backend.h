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
#define STORE_SCHEMA_VERSION 1

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

/* store_tricks_with - tricks ("R01,R02", NULL or "") with test_id added when it is not one of
 * its items; a new string to free. */
char *store_tricks_with(const char *tricks, const char *test_id);

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
