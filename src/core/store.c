/* store.c - the store's public functions: pick a backend from the URL, check arguments, and
 * dispatch through its table; the listing lifecycle's decisions (made once here, run through
 * each backend's single statements); plus the helpers both backends share. Never formats
 * SQL. */
#include "core/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/netaddr.h"
#include "core/store_backend.h"

#define STORE_SQLITE_PREFIX "sqlite:"
#define STORE_POSTGRESQL_PREFIX "postgresql://"
#define STORE_POSTGRES_PREFIX "postgres://"
/* Longest URL scheme quoted back in an error message. */
#define STORE_SCHEME_QUOTE_MAX 32

struct store {
	const struct store_ops *ops;
	void *impl;
};

/* store_fail - write a message into err (when there is room) and return -1. */
int
store_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -1;
}

/* store_has_prefix - text starts with prefix. */
static bool
store_has_prefix(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* store_scheme_length - length of a leading "scheme://" scheme (RFC 3986 3.1), 0 if none. */
static size_t
store_scheme_length(const char *url)
{
	size_t length = 0;

	if (!isalpha((unsigned char)url[0]))
		return 0;
	while (isalnum((unsigned char)url[length]) || url[length] == '+' ||
	    url[length] == '-' || url[length] == '.')
		length++;
	if (strncmp(url + length, "://", 3) != 0)
		return 0;
	return length;
}

/* store_open - choose the backend from the URL, open it, and migrate its schema. */
struct store *
store_open(const char *url, char *err, size_t err_size)
{
	const struct store_ops *ops = NULL;
	void *impl = NULL;
	int status;

	if (err != NULL && err_size > 0)
		err[0] = '\0';
	if (url == NULL || url[0] == '\0') {
		store_fail(err, err_size, "empty store URL: give a file name, sqlite:FILE or "
		    "postgresql://...");
		return NULL;
	}
	if (store_has_prefix(url, STORE_POSTGRESQL_PREFIX) ||
	    store_has_prefix(url, STORE_POSTGRES_PREFIX)) {
		status = store_postgresql_open(url, &ops, &impl, err, err_size);
	} else if (store_has_prefix(url, STORE_SQLITE_PREFIX)) {
		const char *path = url + strlen(STORE_SQLITE_PREFIX);
		/* "sqlite:///abs/file" is the URL form of "sqlite:/abs/file"; "sqlite://x"
		 * would name a host, which a file database does not have. */
		if (store_has_prefix(path, "///"))
			path += 2;
		else if (store_has_prefix(path, "//")) {
			store_fail(err, err_size, "store URL '%s' names a host: use sqlite:FILE or "
			    "sqlite:///ABSOLUTE/PATH", url);
			return NULL;
		}
		if (path[0] == '\0') {
			store_fail(err, err_size, "store URL 'sqlite:' names no file");
			return NULL;
		}
		status = store_sqlite_open(path, &ops, &impl, err, err_size);
	} else if (store_scheme_length(url) > 0) {
		size_t length = store_scheme_length(url);
		if (length > STORE_SCHEME_QUOTE_MAX)
			length = STORE_SCHEME_QUOTE_MAX;
		store_fail(err, err_size, "unsupported store URL scheme '%.*s': use a file name, "
		    "sqlite:FILE or postgresql://...", (int)length, url);
		return NULL;
	} else {
		status = store_sqlite_open(url, &ops, &impl, err, err_size);
	}
	if (status != 0)
		return NULL;

	struct store *store = xcalloc(1, sizeof(*store));
	store->ops = ops;
	store->impl = impl;
	return store;
}

/* store_close - close the backend and free the store. */
void
store_close(struct store *store)
{
	if (store == NULL)
		return;
	store->ops->close(store->impl);
	free(store);
}

/* store_backend_name - "sqlite" or "postgresql". */
const char *
store_backend_name(const struct store *store)
{
	return store->ops->name;
}

/* store_run_begin - check the run's required fields, then record it. */
int
store_run_begin(struct store *store, const struct store_run *run, int64_t *run_id,
    char *err, size_t err_size)
{
	if (run == NULL || run_id == NULL)
		return store_fail(err, err_size, "store_run_begin: no run or no place for its id");
	if (run->command == NULL || run->version == NULL || run->node == NULL)
		return store_fail(err, err_size, "store_run_begin: command, version and node are "
		    "required");
	return store->ops->run_begin(store->impl, run, run_id, err, err_size);
}

/* store_run_end - only the two end states of a run are accepted. */
int
store_run_end(struct store *store, int64_t run_id, int64_t finished_at, const char *status,
    char *err, size_t err_size)
{
	if (status == NULL || (strcmp(status, "finished") != 0 &&
	    strcmp(status, "interrupted") != 0))
		return store_fail(err, err_size, "store_run_end: status must be 'finished' or "
		    "'interrupted'");
	return store->ops->run_end(store->impl, run_id, finished_at, status, err, err_size);
}

/* store_result_add - check the result and its tests, then write them in one transaction. */
int
store_result_add(struct store *store, int64_t run_id, const struct store_result *result,
    int64_t *result_id, char *err, size_t err_size)
{
	if (result == NULL || result_id == NULL)
		return store_fail(err, err_size, "store_result_add: no result or no place for "
		    "its id");
	if (result->target == NULL || result->verdict == NULL)
		return store_fail(err, err_size, "store_result_add: target and verdict are "
		    "required");
	if (result->test_count > 0 && result->tests == NULL)
		return store_fail(err, err_size, "store_result_add: %zu tests announced, none "
		    "given", result->test_count);
	for (size_t i = 0; i < result->test_count; i++) {
		const struct store_test *test = &result->tests[i];
		if (test->test_id == NULL || test->test_id[0] == '\0' || test->outcome == NULL)
			return store_fail(err, err_size, "store_result_add: test %zu of %s has "
			    "no test id or no outcome", i, result->target);
	}
	return store->ops->result_add(store->impl, run_id, result, result_id, err, err_size);
}

/* store_arrival_record - record an arrival and upgrade the result its token belongs to. */
int
store_arrival_record(struct store *store, const char *token, const char *peer,
    const char *mail_from, const char *rcpt_to, int64_t arrived_at, bool *matched,
    char *err, size_t err_size)
{
	struct store_arrival arrival = {
		.token = token,
		.peer = peer,
		.mail_from = mail_from,
		.rcpt_to = rcpt_to,
		.arrived_at = arrived_at,
	};

	if (matched == NULL)
		return store_fail(err, err_size, "store_arrival_record: no place for matched");
	*matched = false;
	if (token == NULL || token[0] == '\0')
		return store_fail(err, err_size, "store_arrival_record: empty token");
	return store->ops->arrival_record(store->impl, &arrival, matched, err, err_size);
}

/* store_history - results of one address or target (or all), newest first. */
int
store_history(struct store *store, const char *match, int64_t since, size_t limit,
    store_history_fn fn, void *arg, char *err, size_t err_size)
{
	struct store_query query = {
		.match = match,
		.since = since,
		.limit = limit,
	};

	if (fn == NULL)
		return store_fail(err, err_size, "store_history: no callback");
	return store->ops->history(store->impl, &query, fn, arg, err, err_size);
}

/* store_arrivals_after - arrivals recorded after after_id, oldest first, for a poller: read
 * page by page, each page handed to fn once it is read in full. */
int
store_arrivals_after(struct store *store, int64_t after_id, size_t limit,
    store_arrival_fn fn, void *arg, int64_t *last_id, char *err, size_t err_size)
{
	struct store_arrival_page *page;
	size_t delivered = 0;
	int status = 0;

	if (fn == NULL)
		return store_fail(err, err_size, "store_arrivals_after: no callback");
	if (last_id == NULL)
		return store_fail(err, err_size, "store_arrivals_after: no place for the last id");
	page = xcalloc(1, sizeof(*page));
	while (limit == 0 || delivered < limit) {
		size_t want = STORE_ARRIVALS_PAGE;
		if (limit != 0 && limit - delivered < want)
			want = limit - delivered;
		status = store->ops->arrivals_page(store->impl, after_id, want, page, err,
		    err_size);
		if (status != 0)
			break;
		size_t got = page->count;
		for (size_t i = 0; i < got; i++) {
			fn(arg, &page->rows[i]);
			/* Rows come in id order: the latest is the highest seen. */
			after_id = page->rows[i].id;
			*last_id = after_id;
		}
		store_arrival_page_clear(page);
		delivered += got;
		if (got < want)
			break;
	}
	store_arrival_page_clear(page);
	free(page);
	return status;
}

/* store_arrivals_last_id - where a poller that wants only new arrivals starts. */
int
store_arrivals_last_id(struct store *store, int64_t *last_id, char *err, size_t err_size)
{
	if (last_id == NULL)
		return store_fail(err, err_size, "store_arrivals_last_id: no place for the id");
	return store->ops->arrivals_last_id(store->impl, last_id, err, err_size);
}

/* store_text_copy - a copy of text, NULL for NULL. */
static char *
store_text_copy(const char *text)
{
	return text != NULL ? xstrdup(text) : NULL;
}

/* store_arrival_page_add - one more row, its strings copied: the backend may reuse its own. */
void
store_arrival_page_add(struct store_arrival_page *page, const struct store_arrival_row *row)
{
	if (page->count >= STORE_ARRIVALS_PAGE)
		fatal("store=any error=\"arrival page overflow\" rows=%zu", page->count);
	page->rows[page->count++] = (struct store_arrival_row){
		.id = row->id,
		.token = store_text_copy(row->token),
		.peer = store_text_copy(row->peer),
		.mail_from = store_text_copy(row->mail_from),
		.rcpt_to = store_text_copy(row->rcpt_to),
		.arrived_at = row->arrived_at,
	};
}

/* store_arrival_page_clear - free what store_arrival_page_add copied. */
void
store_arrival_page_clear(struct store_arrival_page *page)
{
	for (size_t i = 0; i < page->count; i++) {
		struct store_arrival_row *row = &page->rows[i];
		free((char *)row->token);
		free((char *)row->peer);
		free((char *)row->mail_from);
		free((char *)row->rcpt_to);
	}
	page->count = 0;
}

/* store_utf8_sequence_length - length of the valid UTF-8 sequence at text (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF), or 0 when the byte there starts none. */
static size_t
store_utf8_sequence_length(const unsigned char *text)
{
	unsigned char c = text[0];
	size_t length;
	unsigned char low = 0x80, high = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		length = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		length = 3;
		if (c == 0xe0)
			low = 0xa0;
		else if (c == 0xed)
			high = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		length = 4;
		if (c == 0xf0)
			low = 0x90;
		else if (c == 0xf4)
			high = 0x8f;
	} else
		return 0;
	/* The first continuation byte has the narrowed range, the others the full one. */
	if (text[1] < low || text[1] > high)
		return 0;
	for (size_t i = 2; i < length; i++) {
		if (text[i] < 0x80 || text[i] > 0xbf)
			return 0;
	}
	return length;
}

/* store_text_clean - valid UTF-8 as is, anything else copied with '?' for each bad byte. */
const char *
store_text_clean(const char *text, char **owned)
{
	const unsigned char *bytes = (const unsigned char *)text;
	size_t at = 0;

	*owned = NULL;
	if (text == NULL)
		return NULL;
	while (bytes[at] != '\0') {
		size_t length = store_utf8_sequence_length(bytes + at);
		if (length == 0)
			break;
		at += length;
	}
	if (bytes[at] == '\0')
		return text;

	char *copy = xstrdup(text);
	while (copy[at] != '\0') {
		size_t length = store_utf8_sequence_length((unsigned char *)copy + at);
		if (length == 0) {
			copy[at] = '?';
			length = 1;
		}
		at += length;
	}
	*owned = copy;
	return copy;
}

/* store_text_or_null - optional columns hold NULL rather than "". */
const char *
store_text_or_null(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return NULL;
	return text;
}

/* store_result_registers_tokens - a token is registered exactly when the test stores one. */
bool
store_result_registers_tokens(const struct store_result *result)
{
	for (size_t i = 0; i < result->test_count; i++) {
		if (store_text_or_null(result->tests[i].token) != NULL)
			return true;
	}
	return false;
}

/* store_tricks_has - test_id is one of the comma-separated items of tricks. */
static bool
store_tricks_has(const char *tricks, const char *test_id)
{
	size_t id_length = strlen(test_id);
	const char *item = tricks;

	while (*item != '\0') {
		const char *end = strchr(item, ',');
		size_t length = end == NULL ? strlen(item) : (size_t)(end - item);
		if (length == id_length && memcmp(item, test_id, length) == 0)
			return true;
		if (end == NULL)
			break;
		item = end + 1;
	}
	return false;
}

/* store_tricks_with - tricks plus test_id, appended with a comma when it is missing. */
char *
store_tricks_with(const char *tricks, const char *test_id)
{
	if (tricks == NULL || tricks[0] == '\0')
		return xstrdup(test_id);
	if (store_tricks_has(tricks, test_id))
		return xstrdup(tricks);

	size_t tricks_length = strlen(tricks);
	size_t id_length = strlen(test_id);
	char *out = xmalloc(tricks_length + 1 + id_length + 1);
	memcpy(out, tricks, tricks_length);
	out[tricks_length] = ',';
	memcpy(out + tricks_length + 1, test_id, id_length + 1);
	return out;
}

/* store_upgrade_plan - which verdict and stage a confirmed arrival records as "before". */
void
store_upgrade_plan(const char *verdict, const char *stage, const char *verdict_before,
    const char *stage_before, struct store_upgrade *out)
{
	if (verdict_before != NULL) {
		out->verdict_before = verdict_before;
		out->stage_before = stage_before;
		return;
	}
	if (strcmp(verdict, STORE_VERDICT_CONFIRMED) == 0 && stage != NULL &&
	    strcmp(stage, STORE_STAGE_CONFIRMED) == 0) {
		out->verdict_before = NULL;
		out->stage_before = NULL;
		return;
	}
	out->verdict_before = verdict;
	out->stage_before = stage;
}

/* ---- listings ------------------------------------------------------------------------- */

/* The reasons of a listing; the answer 127.0.0.code tells them apart (docs/store.md). */
static const struct store_reason store_reason_table[] = {
	{ "delivered", 2, true, "Open relay confirmed by relayguard" },
	{ "data", 3, true, "Open relay (probe accepted at end of data) found by relayguard" },
	{ "manual", 4, false, "Listed by the list operator" },
	{ "imported", 5, false, "Imported listing" },
};
#define STORE_REASON_COUNT (sizeof(store_reason_table) / sizeof(store_reason_table[0]))
#define STORE_REASON_DEFAULT "manual"
#define STORE_ORIGIN_SYNC "sync"
#define STORE_ORIGIN_MANUAL "manual"
#define STORE_ORIGIN_IMPORT "import"
/* "127.0.0." before a reason's code in its textual answer. */
#define STORE_ANSWER_PREFIX "127.0.0."
/* Bits in an IPv4-mapped IPv6 prefix before the IPv4 part (::ffff:0:0/96). */
#define STORE_MAPPED_BITS 96
/* Room for "YYYY-MM-DD" and for a decimal int64. */
/* Room for the text of any TXT template placeholder (the longest is a reason text). */
#define STORE_PLACEHOLDER_MAX 256
/* Room for a message about one skipped address. */
#define STORE_SKIP_MESSAGE_MAX 256

/* store_reasons - the reason table. */
const struct store_reason *
store_reasons(size_t *count)
{
	*count = STORE_REASON_COUNT;
	return store_reason_table;
}

/* store_reason_find - a reason by its name or by its answer "127.0.0.N". */
const struct store_reason *
store_reason_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < STORE_REASON_COUNT; i++) {
		const struct store_reason *reason = &store_reason_table[i];
		char answer[sizeof(STORE_ANSWER_PREFIX) + 4];
		snprintf(answer, sizeof(answer), STORE_ANSWER_PREFIX "%u", reason->code);
		if (strcmp(name, reason->name) == 0 || strcmp(name, answer) == 0)
			return reason;
	}
	return NULL;
}

/* store_listing_action_lists - listed, reconfirmed and updated leave the prefix listed. */
bool
store_listing_action_lists(const char *action)
{
	return action != NULL && (strcmp(action, "listed") == 0 ||
	    strcmp(action, "reconfirmed") == 0 || strcmp(action, "updated") == 0);
}

/* store_prefix_bits_match - the first `bits` bits of a and b are equal. */
static bool
store_prefix_bits_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8;
	unsigned rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* store_prefix_covers_localhost - the prefix holds 127.0.0.1 or ::ffff:127.0.0.1. */
static bool
store_prefix_covers_localhost(const struct netprefix *prefix)
{
	static const uint8_t localhost4[4] = { 127, 0, 0, 1 };
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
		127, 0, 0, 1 };

	if (prefix->address.family == AF_INET)
		return store_prefix_bits_match(prefix->address.bytes, localhost4, prefix->length);
	return store_prefix_bits_match(prefix->address.bytes, mapped, prefix->length);
}

/* store_prefix_parse - text as a normalized prefix (see store_prefix_normalize). */
static bool
store_prefix_parse(const char *text, struct netprefix *prefix, char *err, size_t err_size)
{
	if (text == NULL || !netprefix_parse(text, prefix)) {
		store_fail(err, err_size, "'%.*s' is not an address or CIDR prefix", 64,
		    text != NULL ? text : "");
		return false;
	}
	if (prefix->address.family == AF_INET6 && prefix->length >= STORE_MAPPED_BITS &&
	    netaddr_is_v4_mapped(&prefix->address)) {
		netaddr_unmap(&prefix->address);
		prefix->length -= STORE_MAPPED_BITS;
	}
	if (store_prefix_covers_localhost(prefix)) {
		store_fail(err, err_size, "'%.*s' covers 127.0.0.1, which a DNSBL never lists "
		    "(RFC 5782 section 5)", 64, text);
		return false;
	}
	return true;
}

/* store_prefix_normalize - canonical prefix text, or false and a message. */
bool
store_prefix_normalize(const char *text, char *out, size_t out_size, char *err,
    size_t err_size)
{
	struct netprefix prefix;

	if (!store_prefix_parse(text, &prefix, err, err_size))
		return false;
	if (netprefix_format(&prefix, out, out_size) < 0) {
		store_fail(err, err_size, "no room for prefix '%.*s'", 64, text);
		return false;
	}
	return true;
}

/* store_listing_free_copy - free the strings of a listing copied by store_listing_copy. */
static void
store_listing_free_copy(struct store_listing *listing)
{
	free((char *)listing->prefix);
	free((char *)listing->reason);
	free((char *)listing->origin);
	free((char *)listing->comment);
	memset(listing, 0, sizeof(*listing));
}

/* store_listing_copy - a copy of a listing whose strings it owns. */
static void
store_listing_copy(const struct store_listing *from, struct store_listing *to)
{
	*to = *from;
	to->prefix = store_text_copy(from->prefix);
	to->reason = store_text_copy(from->reason);
	to->origin = store_text_copy(from->origin);
	to->comment = store_text_copy(from->comment);
}

/* A growing array of listing copies. */
struct store_listing_list {
	struct store_listing *items;
	size_t count;
	size_t capacity;
};

/* store_listing_collect - store_listing_fn appending a copy to a store_listing_list. */
static void
store_listing_collect(void *arg, const struct store_listing *listing)
{
	struct store_listing_list *list = arg;

	if (list->count == list->capacity) {
		list->capacity = list->capacity ? list->capacity * 2 : 16;
		list->items = xrealloc(list->items, list->capacity * sizeof(*list->items));
	}
	store_listing_copy(listing, &list->items[list->count++]);
}

/* store_listing_list_free - free the copies and the array. */
static void
store_listing_list_free(struct store_listing_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		store_listing_free_copy(&list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* store_listing_find - the listing of a normalized prefix, copied into *out (out->id 0 when
 * there is none). */
static int
store_listing_find(struct store *store, const char *prefix, struct store_listing *out,
    char *err, size_t err_size)
{
	struct store_listing_query query = { .which = STORE_LISTINGS_BY_PREFIX, .prefix = prefix };
	struct store_listing_list found = { 0 };

	memset(out, 0, sizeof(*out));
	if (store->ops->listings_select(store->impl, &query, store_listing_collect, &found, err,
	    err_size) != 0) {
		store_listing_list_free(&found);
		return -1;
	}
	/* A prefix is UNIQUE: at most one row. The copy's strings move to *out. */
	if (found.count > 0) {
		*out = found.items[0];
		memset(&found.items[0], 0, sizeof(found.items[0]));
	}
	store_listing_list_free(&found);
	return 0;
}

/* store_listing_event_write - record one change of listing in listing_history. */
static int
store_listing_event_write(struct store *store, const struct store_listing *listing,
    const char *action, const char *origin, const char *comment, int64_t result_id,
    int64_t now, char *err, size_t err_size)
{
	struct store_listing_event event = {
		.listing_id = listing->id,
		.prefix = listing->prefix,
		.action = action,
		.reason = listing->reason,
		.origin = origin,
		.comment = comment,
		.result_id = result_id,
		.at = now,
		.confirmed_at = listing->confirmed_at,
		.expires_at = listing->expires_at,
	};
	int64_t serial;

	return store->ops->listing_event_add(store->impl, &event, &serial, err, err_size);
}

/* store_listing_insert - a new listing of a normalized prefix, and its "listed" history. */
static int
store_listing_insert(struct store *store, struct store_listing *listing, char *err,
    size_t err_size)
{
	struct netprefix prefix;
	char address[NETADDR_TEXT_MAX];

	if (!store_prefix_parse(listing->prefix, &prefix, err, err_size) ||
	    netaddr_format(&prefix.address, address, sizeof(address)) < 0)
		return store_fail(err, err_size, "listing insert: bad prefix '%s'",
		    listing->prefix);
	struct store_listing_row row = {
		.listing = *listing,
		.address = address,
		.length = prefix.length,
		.family = prefix.address.family == AF_INET6 ? "ipv6" : "ipv4",
	};
	if (store->ops->listing_insert(store->impl, &row, &listing->id, err, err_size) != 0)
		return -1;
	return store_listing_event_write(store, listing, "listed", listing->origin,
	    listing->comment, listing->result_id, listing->listed_at, err, err_size);
}

/* store_listing_write_begin - start a listing change (the write lock). */
static int
store_listing_write_begin(struct store *store, char *err, size_t err_size)
{
	return store->ops->listing_begin(store->impl, err, err_size);
}

/* store_listing_write_end - commit when status is 0, else roll back; returns the status. */
static int
store_listing_write_end(struct store *store, int status, char *err, size_t err_size)
{
	if (status == 0 && store->ops->listing_commit(store->impl, err, err_size) == 0)
		return 0;
	store->ops->listing_rollback(store->impl);
	return -1;
}

/* store_listing_add_locked - the work of store_listing_add inside its transaction. */
static int
store_listing_add_locked(struct store *store, const struct store_listing_request *request,
    const char *prefix, const struct store_reason *reason, const char *origin, int64_t now,
    int64_t *listing_id, bool *added, char *err, size_t err_size)
{
	struct store_listing existing;
	int status;

	if (store_listing_find(store, prefix, &existing, err, err_size) != 0)
		return -1;
	if (existing.id == 0) {
		struct store_listing listing = {
			.prefix = prefix,
			.reason = reason->name,
			.origin = origin,
			.comment = store_text_or_null(request->comment),
			.result_id = request->result_id,
			.listed_at = now,
			.confirmed_at = now,
			.expires_at = request->expires_at,
		};
		if (store_listing_insert(store, &listing, err, err_size) != 0)
			return -1;
		*listing_id = listing.id;
		*added = true;
		return 0;
	}
	*listing_id = existing.id;
	if (!request->replace) {
		store_listing_free_copy(&existing);
		return 0;
	}
	struct store_listing updated = existing;
	updated.reason = reason->name;
	updated.origin = origin;
	if (store_text_or_null(request->comment) != NULL)
		updated.comment = request->comment;
	if (request->result_id != 0)
		updated.result_id = request->result_id;
	updated.expires_at = request->expires_at;
	status = store->ops->listing_update(store->impl, &updated, err, err_size);
	if (status == 0)
		status = store_listing_event_write(store, &updated, "updated", origin,
		    request->comment, updated.result_id, now, err, err_size);
	store_listing_free_copy(&existing);
	return status;
}

/* store_listing_add - list a prefix, or update its listing when asked to. */
int
store_listing_add(struct store *store, const struct store_listing_request *request,
    int64_t now, int64_t *listing_id, bool *added, char *err, size_t err_size)
{
	char prefix[STORE_PREFIX_TEXT_MAX];
	const struct store_reason *reason;
	const char *origin;

	if (request == NULL || listing_id == NULL || added == NULL)
		return store_fail(err, err_size, "store_listing_add: no request or no place for "
		    "the result");
	*listing_id = 0;
	*added = false;
	if (!store_prefix_normalize(request->prefix, prefix, sizeof(prefix), err, err_size))
		return -1;
	reason = store_reason_find(request->reason != NULL ? request->reason :
	    STORE_REASON_DEFAULT);
	if (reason == NULL)
		return store_fail(err, err_size, "unknown listing reason '%.*s'", 64,
		    request->reason);
	origin = request->origin != NULL ? request->origin : STORE_ORIGIN_MANUAL;
	if (strcmp(origin, STORE_ORIGIN_MANUAL) != 0 && strcmp(origin, STORE_ORIGIN_IMPORT) != 0)
		return store_fail(err, err_size, "store_listing_add: origin must be 'manual' or "
		    "'import'");
	if (request->expires_at < 0)
		return store_fail(err, err_size, "store_listing_add: negative expiry");
	if (store_listing_write_begin(store, err, err_size) != 0)
		return -1;
	int status = store_listing_add_locked(store, request, prefix, reason, origin, now,
	    listing_id, added, err, err_size);
	if (store_listing_write_end(store, status, err, err_size) != 0) {
		*listing_id = 0;
		*added = false;
		return -1;
	}
	return 0;
}

/* store_listing_end - record how a listing ended and delete it (inside a transaction). */
static int
store_listing_end(struct store *store, const struct store_listing *listing, const char *action,
    const char *origin, const char *comment, int64_t result_id, int64_t now, char *err,
    size_t err_size)
{
	if (store_listing_event_write(store, listing, action, origin, comment, result_id, now,
	    err, err_size) != 0)
		return -1;
	return store->ops->listing_delete(store->impl, listing->id, err, err_size);
}

/* store_listing_remove - an operator's delisting. */
int
store_listing_remove(struct store *store, const char *prefix, const char *comment,
    int64_t now, bool *removed, char *err, size_t err_size)
{
	char normalized[STORE_PREFIX_TEXT_MAX];
	struct store_listing existing;
	int status;

	if (removed == NULL)
		return store_fail(err, err_size, "store_listing_remove: no place for removed");
	*removed = false;
	if (!store_prefix_normalize(prefix, normalized, sizeof(normalized), err, err_size))
		return -1;
	if (store_listing_write_begin(store, err, err_size) != 0)
		return -1;
	status = store_listing_find(store, normalized, &existing, err, err_size);
	if (status == 0 && existing.id != 0) {
		status = store_listing_end(store, &existing, "removed", STORE_ORIGIN_MANUAL,
		    comment, existing.result_id, now, err, err_size);
		*removed = status == 0;
	}
	store_listing_free_copy(&existing);
	if (store_listing_write_end(store, status, err, err_size) != 0) {
		*removed = false;
		return -1;
	}
	return 0;
}

/* store_listing_get - the listing of one prefix. */
int
store_listing_get(struct store *store, const char *prefix, store_listing_fn fn, void *arg,
    bool *found, char *err, size_t err_size)
{
	char normalized[STORE_PREFIX_TEXT_MAX];
	struct store_listing listing;

	if (fn == NULL || found == NULL)
		return store_fail(err, err_size, "store_listing_get: no callback or no place for "
		    "found");
	*found = false;
	if (!store_prefix_normalize(prefix, normalized, sizeof(normalized), err, err_size))
		return -1;
	if (store_listing_find(store, normalized, &listing, err, err_size) != 0)
		return -1;
	if (listing.id != 0) {
		*found = true;
		fn(arg, &listing);
	}
	store_listing_free_copy(&listing);
	return 0;
}

/* store_listings_list - every listing, id order. */
int
store_listings_list(struct store *store, store_listing_fn fn, void *arg, char *err,
    size_t err_size)
{
	struct store_listing_query query = { .which = STORE_LISTINGS_ALL };

	if (fn == NULL)
		return store_fail(err, err_size, "store_listings_list: no callback");
	return store->ops->listings_select(store->impl, &query, fn, arg, err, err_size);
}

/* store_listings_expire - end the listings whose time is up. */
int
store_listings_expire(struct store *store, int64_t now, size_t *expired, char *err,
    size_t err_size)
{
	struct store_listing_query query = { .which = STORE_LISTINGS_EXPIRED, .now = now };
	struct store_listing_list due = { 0 };
	int status;

	if (expired == NULL)
		return store_fail(err, err_size, "store_listings_expire: no place for the count");
	*expired = 0;
	if (store_listing_write_begin(store, err, err_size) != 0)
		return -1;
	status = store->ops->listings_select(store->impl, &query, store_listing_collect, &due,
	    err, err_size);
	for (size_t i = 0; status == 0 && i < due.count; i++)
		status = store_listing_end(store, &due.items[i], "expired", STORE_ORIGIN_SYNC,
		    NULL, due.items[i].result_id, now, err, err_size);
	if (store_listing_write_end(store, status, err, err_size) == 0)
		*expired = due.count;
	else
		status = -1;
	store_listing_list_free(&due);
	return status;
}

/* store_listing_history - the changes of one prefix, oldest first. */
int
store_listing_history(struct store *store, const char *prefix, store_listing_event_fn fn,
    void *arg, char *err, size_t err_size)
{
	char normalized[STORE_PREFIX_TEXT_MAX];

	if (fn == NULL)
		return store_fail(err, err_size, "store_listing_history: no callback");
	if (!store_prefix_normalize(prefix, normalized, sizeof(normalized), err, err_size))
		return -1;
	return store->ops->listing_events(store->impl, normalized, 0, 0, fn, arg, err,
	    err_size);
}

/* The caller's callback of store_listing_changes and the serial it has seen. */
struct store_changes_context {
	store_listing_event_fn fn;
	void *arg;
	int64_t *last_serial;
};

/* store_changes_row - hand a change on and note its serial. */
static void
store_changes_row(void *arg, const struct store_listing_event *event)
{
	struct store_changes_context *context = arg;

	context->fn(context->arg, event);
	*context->last_serial = event->serial;
}

/* store_listing_changes - the changes after a serial, in serial order. */
int
store_listing_changes(struct store *store, int64_t after_serial, size_t limit,
    store_listing_event_fn fn, void *arg, int64_t *last_serial, char *err, size_t err_size)
{
	if (fn == NULL || last_serial == NULL)
		return store_fail(err, err_size, "store_listing_changes: no callback or no place "
		    "for the last serial");
	struct store_changes_context context = { .fn = fn, .arg = arg,
		.last_serial = last_serial };
	return store->ops->listing_events(store->impl, NULL, after_serial, limit,
	    store_changes_row, &context, err, err_size);
}

/* store_listing_serial - the newest change's serial and time. */
int
store_listing_serial(struct store *store, int64_t *serial, int64_t *changed_at, char *err,
    size_t err_size)
{
	if (serial == NULL || changed_at == NULL)
		return store_fail(err, err_size, "store_listing_serial: no place for the serial");
	return store->ops->listing_serial(store->impl, serial, changed_at, err, err_size);
}

/* Candidates copied out of the backend's query before any of them is acted on. */
struct store_candidate_list {
	struct store_listing_candidate *items;
	size_t count;
	size_t capacity;
};

/* store_candidate_collect - store_candidate_fn appending a copy. */
static void
store_candidate_collect(void *arg, const struct store_listing_candidate *candidate)
{
	struct store_candidate_list *list = arg;

	if (list->count == list->capacity) {
		list->capacity = list->capacity ? list->capacity * 2 : 64;
		list->items = xrealloc(list->items, list->capacity * sizeof(*list->items));
	}
	struct store_listing_candidate *copy = &list->items[list->count++];
	*copy = *candidate;
	copy->address = store_text_copy(candidate->address);
	copy->prefix = store_text_copy(candidate->prefix);
	copy->verdict = store_text_copy(candidate->verdict);
	copy->stage = store_text_copy(candidate->stage);
	store_listing_copy(&candidate->listing, &copy->listing);
}

/* store_candidate_list_free - free the copies and the array. */
static void
store_candidate_list_free(struct store_candidate_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		struct store_listing_candidate *candidate = &list->items[i];
		free((char *)candidate->address);
		free((char *)candidate->prefix);
		free((char *)candidate->verdict);
		free((char *)candidate->stage);
		store_listing_free_copy(&candidate->listing);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* store_expiry_after - when a listing confirmed now expires: now + ttl, never for ttl 0. */
static int64_t
store_expiry_after(int64_t now, int64_t ttl)
{
	return ttl > 0 ? now + ttl : 0;
}

/* store_candidate_apply - list, re-confirm or delist one candidate (inside the transaction). */
static int
store_candidate_apply(struct store *store, const struct store_listing_candidate *candidate,
    int64_t now, int64_t ttl, struct store_sync_counts *counts, char *err, size_t err_size)
{
	const char *reason = candidate->stage != NULL &&
	    strcmp(candidate->stage, STORE_STAGE_CONFIRMED) == 0 ? "delivered" : "data";
	const struct store_listing *listed = &candidate->listing;

	if (strcmp(candidate->verdict, "closed") == 0) {
		if (listed->id == 0)
			return 0;
		counts->delisted++;
		return store_listing_end(store, listed, "delisted", STORE_ORIGIN_SYNC,
		    "a later check found it closed", candidate->result_id, now, err, err_size);
	}
	if (listed->id == 0) {
		char prefix[STORE_PREFIX_TEXT_MAX];
		char why[STORE_SKIP_MESSAGE_MAX];
		if (!store_prefix_normalize(candidate->prefix, prefix, sizeof(prefix), why,
		    sizeof(why))) {
			char quoted[STORE_PREFIX_TEXT_MAX];
			log_warn("store=%s event=listing-skipped address=%s error=\"%s\"",
			    store->ops->name, log_escape(candidate->address,
			    strlen(candidate->address), quoted, sizeof(quoted)), why);
			return 0;
		}
		struct store_listing listing = {
			.prefix = prefix,
			.reason = reason,
			.origin = STORE_ORIGIN_SYNC,
			.result_id = candidate->result_id,
			.listed_at = now,
			.confirmed_at = candidate->seen_at,
			.expires_at = store_expiry_after(now, ttl),
		};
		counts->listed++;
		return store_listing_insert(store, &listing, err, err_size);
	}
	struct store_listing updated = *listed;
	int64_t expiry = store_expiry_after(now, ttl);
	updated.reason = reason;
	updated.result_id = candidate->result_id;
	updated.confirmed_at = candidate->seen_at;
	if (listed->expires_at != 0 && (expiry == 0 || expiry > listed->expires_at))
		updated.expires_at = expiry;
	counts->reconfirmed++;
	if (store->ops->listing_update(store->impl, &updated, err, err_size) != 0)
		return -1;
	return store_listing_event_write(store, &updated, "reconfirmed", STORE_ORIGIN_SYNC, NULL,
	    candidate->result_id, now, err, err_size);
}

/* store_listings_from_results - the automatic listing (store.h), one transaction. */
int
store_listings_from_results(struct store *store, int64_t since, int64_t now, int64_t ttl,
    struct store_sync_counts *counts, char *err, size_t err_size)
{
	struct store_candidate_list candidates = { 0 };
	struct store_sync_counts done = { 0 };
	int status;

	if (counts == NULL)
		return store_fail(err, err_size, "store_listings_from_results: no place for the "
		    "counts");
	memset(counts, 0, sizeof(*counts));
	if (ttl < 0)
		return store_fail(err, err_size, "store_listings_from_results: negative ttl");
	if (store_listing_write_begin(store, err, err_size) != 0)
		return -1;
	/* Read them all first: PostgreSQL cannot run a statement while another streams. */
	status = store->ops->listing_candidates(store->impl, since, store_candidate_collect,
	    &candidates, err, err_size);
	for (size_t i = 0; status == 0 && i < candidates.count; i++)
		status = store_candidate_apply(store, &candidates.items[i], now, ttl, &done, err,
		    err_size);
	store_candidate_list_free(&candidates);
	if (store_listing_write_end(store, status, err, err_size) != 0)
		return -1;
	*counts = done;
	return 0;
}

/* store_listings_stale - listed addresses whose latest check is older than before. */
int
store_listings_stale(struct store *store, int64_t before, store_stale_fn fn, void *arg,
    char *err, size_t err_size)
{
	if (fn == NULL)
		return store_fail(err, err_size, "store_listings_stale: no callback");
	return store->ops->listings_stale(store->impl, before, fn, arg, err, err_size);
}

/* A bounded text being written: what does not fit is dropped. */
struct store_text_out {
	char *data;
	size_t size;
	size_t length;
};

/* store_text_append - append length bytes of text, as much as fits. */
static void
store_text_append(struct store_text_out *out, const char *text, size_t length)
{
	if (out->size == 0)
		return;
	size_t room = out->size - 1 - out->length;
	if (length > room)
		length = room;
	memcpy(out->data + out->length, text, length);
	out->length += length;
	out->data[out->length] = '\0';
}

/* store_listing_placeholder - the text of one {name} of a TXT template; false when the name
 * is not one (then it is copied as written). */
static bool
store_listing_placeholder(const char *name, size_t length, const struct store_listing *listing,
    char *out, size_t out_size)
{
	const struct store_reason *reason = store_reason_find(listing->reason);

#define STORE_IS(word) (length == sizeof(word) - 1 && memcmp(name, word, length) == 0)
	if (STORE_IS("reason")) {
		snprintf(out, out_size, "%s", reason != NULL ? reason->text : listing->reason);
	} else if (STORE_IS("code")) {
		snprintf(out, out_size, STORE_ANSWER_PREFIX "%u", reason != NULL ? reason->code :
		    STORE_TEST_CODE);
	} else if (STORE_IS("date")) {
		time_t when = (time_t)(listing->confirmed_at != 0 ? listing->confirmed_at :
		    listing->listed_at);
		struct tm tm;
		if (gmtime_r(&when, &tm) == NULL || strftime(out, out_size, "%Y-%m-%d", &tm) == 0)
			snprintf(out, out_size, "?");
	} else if (STORE_IS("id")) {
		snprintf(out, out_size, "%lld", (long long)listing->id);
	} else if (STORE_IS("result")) {
		if (listing->result_id != 0)
			snprintf(out, out_size, "%lld", (long long)listing->result_id);
		else
			snprintf(out, out_size, "none");
	} else if (STORE_IS("prefix")) {
		snprintf(out, out_size, "%s", listing->prefix != NULL ? listing->prefix : "");
	} else {
		return false;
	}
#undef STORE_IS
	return true;
}

/* store_listing_txt - expand a TXT template for one listing. */
size_t
store_listing_txt(const char *template, const struct store_listing *listing, char *out,
    size_t out_size)
{
	struct store_text_out text = { .data = out, .size = out_size };
	const char *at = template != NULL ? template : STORE_LISTING_TXT_DEFAULT;

	if (out_size == 0)
		return 0;
	out[0] = '\0';
	while (*at != '\0') {
		const char *open = strchr(at, '{');
		if (open == NULL) {
			store_text_append(&text, at, strlen(at));
			break;
		}
		store_text_append(&text, at, (size_t)(open - at));
		const char *close = strchr(open + 1, '}');
		char value[STORE_PLACEHOLDER_MAX];
		if (close != NULL && store_listing_placeholder(open + 1, (size_t)(close - open - 1),
		    listing, value, sizeof(value))) {
			store_text_append(&text, value, strlen(value));
			at = close + 1;
		} else {
			store_text_append(&text, open, 1);
			at = open + 1;
		}
	}
	return text.length;
}
