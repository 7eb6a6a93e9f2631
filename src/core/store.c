/* store.c - the store's public functions: pick a backend from the URL, check arguments, and
 * dispatch through its table; plus the helpers both backends share. Never formats SQL. */
#include "core/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
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
