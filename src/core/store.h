/* store.h - the result store (runs, results, tests, late arrivals, history, DNSBL listings)
 * over SQLite or PostgreSQL (docs/store.md). Used by check, receiver, list and dnsbl; never
 * aborts on a DB error. */
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
 * are registered (token -> result, test id) so that late arrivals can upgrade the result.
 * Arrivals of those tokens recorded before it (unmatched then) are linked to it in the same
 * transaction and upgrade it as store_arrival_record would have (docs/store.md). */
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

/* ---- DNSBL listings (schema version 2; docs/store.md "Listings") -------------------------- */

/* A listing reason: the name stored in listings.reason, the DNS answer 127.0.0.code, and a
 * text for TXT records. Automatic reasons are made from check results by
 * store_listings_from_results, and a later closed result delists them; the others are an
 * operator's, which only a removal or the expiry ends. */
struct store_reason {
	const char *name;
	unsigned code;		/* the A record is 127.0.0.code */
	bool automatic;
	const char *text;	/* reads well before " on DATE" */
};

/* The default listing TTL of automatic listings: a week unless re-confirmed. */
#define STORE_LISTING_TTL_DEFAULT ((int64_t)7 * 24 * 3600)
/* The default TXT template (store_listing_txt); operators set their own evidence URL. */
#define STORE_LISTING_TXT_DEFAULT \
	"{reason} on {date}: see https://bl.example.org/evidence/{id}"
/* RFC 5782 section 5: every IPv4 list answers 127.0.0.2 (its test point), and never
 * 127.0.0.1; publishers add the test point to what they serve from the listings. */
#define STORE_TEST_PREFIX "127.0.0.2/32"
#define STORE_TEST_CODE 2u
#define STORE_TEST_TXT "Test entry (RFC 5782): 127.0.0.2 is always listed"
/* Room for any prefix text the store writes ("ffff:...:ffff/128"). */
#define STORE_PREFIX_TEXT_MAX 64

/* store_reasons - the reason table: delivered 127.0.0.2, data 127.0.0.3, manual 127.0.0.4,
 * imported 127.0.0.5. */
const struct store_reason *store_reasons(size_t *count);
/* store_reason_find - a reason by name ("manual") or by its answer ("127.0.0.4"); NULL when
 * there is none. */
const struct store_reason *store_reason_find(const char *name);

/* store_prefix_normalize - an address or CIDR as the store keys it: canonical text, host bits
 * cleared, IPv4-mapped IPv6 written as IPv4. Refuses anything that covers 127.0.0.1 (RFC
 * 5782: never listed). Returns false with a message in err. */
bool store_prefix_normalize(const char *text, char *out, size_t out_size, char *err,
    size_t err_size);

/* One current listing. */
struct store_listing {
	int64_t id;		/* never reused: the evidence id of TXT records */
	const char *prefix;	/* canonical, "192.0.2.1/32", "2001:db8::/64" */
	const char *reason;	/* a store_reason name */
	const char *origin;	/* who made it: "sync", "manual" or "import" */
	const char *comment;	/* may be NULL */
	int64_t result_id;	/* the evidence (results.id); 0 when none */
	int64_t listed_at;
	int64_t confirmed_at;	/* time of the evidence (its check or arrival), else listed_at */
	int64_t expires_at;	/* 0: never */
};

/* One change of a listing, as listing_history keeps it; its id is the listing serial. */
struct store_listing_event {
	int64_t serial;		/* listing_history.id: grows with every change, commit order */
	int64_t listing_id;
	const char *prefix;
	const char *action;	/* listed, reconfirmed, updated, removed, delisted, expired */
	bool listed;		/* whether the prefix is listed after this change */
	const char *reason;	/* the listing's reason after (or, when it ended, before) */
	const char *origin;	/* who made the change: "sync", "manual" or "import" */
	const char *comment;	/* may be NULL */
	int64_t result_id;	/* evidence, or the closed result that delisted; 0 when none */
	int64_t at;
	int64_t confirmed_at;
	int64_t expires_at;	/* 0: never */
};

/* Rows and their strings are valid only during the call; fn must not use the store. */
typedef void (*store_listing_fn)(void *arg, const struct store_listing *listing);
typedef void (*store_listing_event_fn)(void *arg, const struct store_listing_event *event);

/* What store_listing_add should do. */
struct store_listing_request {
	const char *prefix;	/* any form store_prefix_normalize takes */
	const char *reason;	/* a reason name or answer; NULL: "manual" */
	const char *origin;	/* "manual" or "import"; NULL: "manual" */
	const char *comment;	/* may be NULL */
	int64_t result_id;	/* evidence, 0 for none */
	int64_t expires_at;	/* 0: never */
	bool replace;		/* an existing listing of the prefix is updated (else kept) */
};

/* store_listing_add - list a prefix (history "listed"), or update its listing (history
 * "updated") when replace is set; *listing_id gets the id and *added whether a new listing
 * was made (false: it existed, and was updated only with replace). */
int store_listing_add(struct store *store, const struct store_listing_request *request,
    int64_t now, int64_t *listing_id, bool *added, char *err, size_t err_size);
/* store_listing_remove - delist a prefix (history "removed"); *removed false when it was
 * not listed. */
int store_listing_remove(struct store *store, const char *prefix, const char *comment,
    int64_t now, bool *removed, char *err, size_t err_size);
/* store_listing_get - the listing of exactly this prefix (*found false when none). */
int store_listing_get(struct store *store, const char *prefix, store_listing_fn fn,
    void *arg, bool *found, char *err, size_t err_size);
/* store_listings_list - every current listing, in id order, expired ones included until
 * store_listings_expire ends them (publishers skip expires_at <= now themselves). */
int store_listings_list(struct store *store, store_listing_fn fn, void *arg, char *err,
    size_t err_size);
/* store_listings_expire - end every listing with expires_at <= now (history "expired"). */
int store_listings_expire(struct store *store, int64_t now, size_t *expired, char *err,
    size_t err_size);
/* store_listing_history - the changes of one prefix, oldest first. */
int store_listing_history(struct store *store, const char *prefix, store_listing_event_fn fn,
    void *arg, char *err, size_t err_size);
/* store_listing_changes - every change with serial > after_serial, in serial order, at most
 * limit (0 = all); *last_serial gets the highest serial handed over (unchanged when none).
 * What an IXFR journal or a mirror needs: serials are committed in order. */
int store_listing_changes(struct store *store, int64_t after_serial, size_t limit,
    store_listing_event_fn fn, void *arg, int64_t *last_serial, char *err, size_t err_size);
/* store_listing_serial - the newest change: its serial (0 when none) and time. Publishers
 * poll it and reload when it moves. */
int store_listing_serial(struct store *store, int64_t *serial, int64_t *changed_at,
    char *err, size_t err_size);

/* What one run of store_listings_from_results did. */
struct store_sync_counts {
	size_t listed;		/* new listings from open results */
	size_t reconfirmed;	/* listings given newer evidence and a later expiry */
	size_t delisted;	/* automatic listings ended by a later closed result */
};

/* store_listings_from_results - the automatic listing, in one transaction. For every address
 * with a result started (or upgraded by an arrival) at or after `since`, the address's latest
 * result with verdict open (stage data or delivered; never suspect) or closed decides:
 * - open, not listed: list address/32 (/128), reason "delivered" or "data", evidence = that
 *   result, expires_at = now + ttl (ttl 0: never); unless an operator removed the address
 *   at or after that result, or a listing made from that very result has expired;
 * - open, listed with other evidence or reason: re-confirm it (evidence, reason, and
 *   expires_at = max(expires_at, now + ttl); a listing that never expires stays so);
 * - closed, listed with an automatic reason: delist it.
 * 127.0.0.1 is never listed (RFC 5782). */
int store_listings_from_results(struct store *store, int64_t since, int64_t now, int64_t ttl,
    struct store_sync_counts *counts, char *err, size_t err_size);

/* A listed single address whose latest check is older than the cut-off. */
struct store_stale_listing {
	const char *address;	/* "192.0.2.1" */
	int port;		/* of the evidence result, else of the latest result; 0: none */
	int64_t checked_at;	/* start of the latest result for the address; 0: never */
};
typedef void (*store_stale_fn)(void *arg, const struct store_stale_listing *stale);
/* store_listings_stale - listings of one address (/32, /128) with no result started at or
 * after `before`, in listing id order (what `relayguard list recheck` checks again). */
int store_listings_stale(struct store *store, int64_t before, store_stale_fn fn, void *arg,
    char *err, size_t err_size);

/* store_listing_txt - the TXT text of a listing from a template: {reason} the reason's text,
 * {code} "127.0.0.N", {date} the confirmation date (UTC, YYYY-MM-DD), {id} the listing id,
 * {result} the evidence result id ("none"), {prefix}; other text is copied, "$" included
 * (DNS servers replace it with the queried address). Truncated to fit out; returns the
 * length. */
size_t store_listing_txt(const char *template, const struct store_listing *listing, char *out,
    size_t out_size);

#endif
