/* store_feed.c - builds DNSBL datasets from the listings of a relayguard store, and polls the
 * store's listing serial so that reload.c swaps in new data when a listing changes. Runs in
 * the loader thread only; a store that fails is closed and opened again on the next poll,
 * and what is served stays as it was. */
#include "dnsbl/store_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/netaddr.h"

/* The A record of a listing is 127.0.0.<reason code>. */
#define STORE_FEED_A_BASE 0x7f000000u
/* Room for one error message from the store. */
#define STORE_FEED_ERR_MAX 512

struct store_feed {
	char *url;
	char *txt;		/* NULL: the default template */
	bool sync;
	int64_t listing_ttl;
	struct store *store;	/* NULL until opened, and after a failure */
	bool loaded;
	int64_t loaded_serial;
	int64_t next_expiry;
	int64_t last_sync;	/* start of the last sync that worked; 0: none yet */
};

/* The listings of one look, copied out of the store's callback. */
struct feed_listings {
	struct store_listing *items;
	size_t count;
	size_t capacity;
};

/* store_feed_new - a feed of the configured store, not opened yet */
struct store_feed *
store_feed_new(const struct store_feed_config *config)
{
	struct store_feed *feed = xcalloc(1, sizeof(*feed));

	feed->url = xstrdup(config->url);
	if (config->txt != NULL && config->txt[0] != '\0')
		feed->txt = xstrdup(config->txt);
	feed->sync = config->sync;
	feed->listing_ttl = config->listing_ttl;
	return feed;
}

/* store_feed_free - close the store and free the feed; NULL is accepted */
void
store_feed_free(struct store_feed *feed)
{
	if (feed == NULL)
		return;
	store_close(feed->store);
	free(feed->url);
	free(feed->txt);
	free(feed);
}

/* store_feed_url - the store URL the feed reads */
const char *
store_feed_url(const struct store_feed *feed)
{
	return feed->url;
}

/* feed_listings_add - store_listing_fn keeping a copy of what a DNS answer needs */
static void
feed_listings_add(void *arg, const struct store_listing *listing)
{
	struct feed_listings *listings = arg;

	if (listings->count == listings->capacity) {
		listings->capacity = listings->capacity ? listings->capacity * 2 : 256;
		listings->items = xrealloc(listings->items,
		    listings->capacity * sizeof(*listings->items));
	}
	struct store_listing *copy = &listings->items[listings->count++];
	*copy = *listing;
	copy->prefix = xstrdup(listing->prefix);
	copy->reason = xstrdup(listing->reason);
	copy->origin = NULL;
	copy->comment = NULL;
}

/* feed_listings_free - the copies and the array */
static void
feed_listings_free(struct feed_listings *listings)
{
	for (size_t i = 0; i < listings->count; i++) {
		free((char *)listings->items[i].prefix);
		free((char *)listings->items[i].reason);
	}
	free(listings->items);
	memset(listings, 0, sizeof(*listings));
}

/* feed_add_prefix - one listed prefix into the builder of its family; a prefix the store
 * should never have held is logged and left out */
static void
feed_add_prefix(struct dataset_builder *ipv4, struct dataset_builder *ipv6,
    const struct store_listing *listing, uint32_t a, const char *txt)
{
	struct netprefix prefix;
	char err[STORE_FEED_ERR_MAX];

	if (!netprefix_parse(listing->prefix, &prefix)) {
		log_warn("event=store_listing_skipped listing=%lld error=\"not a prefix\"",
		    (long long)listing->id);
		return;
	}
	if (!dataset_builder_add(prefix.address.family == AF_INET6 ? ipv6 : ipv4, &prefix, a,
	    txt, err, sizeof(err)))
		log_warn("event=store_listing_skipped listing=%lld error=\"%s\"",
		    (long long)listing->id, err);
}

/* store_feed_build - ip4trie and ip6trie datasets of the listings, as of now */
bool
store_feed_build(const struct store_listing *listings, size_t count, const char *txt_template,
    int64_t now, int64_t changed_at, struct store_feed_data *out, char *err, size_t err_size)
{
	struct dataset_builder *ipv4 = dataset_builder_new(DATASET_IP4TRIE);
	struct dataset_builder *ipv6 = dataset_builder_new(DATASET_IP6TRIE);
	char txt[DATASET_TXT_MAX + 1];
	bool test_point_listed = false;
	int64_t newest = changed_at;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < count; i++) {
		const struct store_listing *listing = &listings[i];
		if (listing->expires_at != 0 && listing->expires_at <= now) {
			/* Its expiry is a change of the data even before a sync records it. */
			if (listing->expires_at > newest)
				newest = listing->expires_at;
			continue;
		}
		if (listing->expires_at != 0 && (out->next_expiry == 0 ||
		    listing->expires_at < out->next_expiry))
			out->next_expiry = listing->expires_at;
		const struct store_reason *reason = store_reason_find(listing->reason);
		unsigned code = reason != NULL ? reason->code : STORE_TEST_CODE;
		store_listing_txt(txt_template, listing, txt, sizeof(txt));
		feed_add_prefix(ipv4, ipv6, listing, STORE_FEED_A_BASE | code, txt);
		if (strcmp(listing->prefix, STORE_TEST_PREFIX) == 0)
			test_point_listed = true;
	}
	if (!test_point_listed) {
		struct netprefix test_point;
		if (!netprefix_parse(STORE_TEST_PREFIX, &test_point) ||
		    !dataset_builder_add(ipv4, &test_point, STORE_FEED_A_BASE | STORE_TEST_CODE,
		    STORE_TEST_TXT, err, err_size)) {
			dataset_builder_free(ipv4);
			dataset_builder_free(ipv6);
			return false;
		}
	}
	dataset_builder_meta(ipv4)->newest_mtime = newest;
	dataset_builder_meta(ipv6)->newest_mtime = newest;
	out->ipv4 = dataset_builder_finish(ipv4);
	out->ipv6 = dataset_builder_finish(ipv6);
	if (out->ipv4 == NULL || out->ipv6 == NULL) {
		dataset_free(out->ipv4);
		dataset_free(out->ipv6);
		memset(out, 0, sizeof(*out));
		snprintf(err, err_size, "cannot build the datasets of the listings");
		return false;
	}
	return true;
}

/* feed_fail - close the store (it is opened again next time) and return FAILED */
static enum store_feed_status
feed_fail(struct store_feed *feed)
{
	store_close(feed->store);
	feed->store = NULL;
	return STORE_FEED_FAILED;
}

/* feed_sync - the automatic listing and the expiry, as `relayguard list sync` does them */
static bool
feed_sync(struct store_feed *feed, int64_t now, char *err, size_t err_size)
{
	struct store_sync_counts counts;
	size_t expired = 0;
	int64_t since = 0;

	if (feed->last_sync != 0)
		since = feed->last_sync - STORE_FEED_SYNC_SLACK;
	else if (feed->listing_ttl > 0)
		since = now - feed->listing_ttl;
	if (store_listings_from_results(feed->store, since, now, feed->listing_ttl, &counts, err,
	    err_size) != 0 ||
	    store_listings_expire(feed->store, now, &expired, err, err_size) != 0)
		return false;
	feed->last_sync = now;
	if (counts.listed + counts.reconfirmed + counts.delisted + expired > 0)
		log_info("event=store_sync listed=%zu reconfirmed=%zu delisted=%zu expired=%zu",
		    counts.listed, counts.reconfirmed, counts.delisted, expired);
	return true;
}

/* store_feed_poll - sync when configured, then rebuild when the listings changed */
enum store_feed_status
store_feed_poll(struct store_feed *feed, bool force, int64_t now, struct store_feed_data *out,
    char *err, size_t err_size)
{
	struct feed_listings listings = { 0 };
	int64_t serial;
	int64_t changed_at;

	if (feed->store == NULL) {
		char reason[STORE_FEED_ERR_MAX];
		feed->store = store_open(feed->url, reason, sizeof(reason));
		if (feed->store == NULL) {
			snprintf(err, err_size, "store: %s", reason);
			return STORE_FEED_FAILED;
		}
	}
	if (feed->sync && !feed_sync(feed, now, err, err_size))
		return feed_fail(feed);
	if (store_listing_serial(feed->store, &serial, &changed_at, err, err_size) != 0)
		return feed_fail(feed);
	if (!force && feed->loaded && serial == feed->loaded_serial &&
	    (feed->next_expiry == 0 || now < feed->next_expiry))
		return STORE_FEED_UNCHANGED;
	if (store_listings_list(feed->store, feed_listings_add, &listings, err, err_size) != 0) {
		feed_listings_free(&listings);
		return feed_fail(feed);
	}
	bool built = store_feed_build(listings.items, listings.count, feed->txt, now, changed_at,
	    out, err, err_size);
	feed_listings_free(&listings);
	if (!built)
		return STORE_FEED_FAILED;
	feed->loaded = true;
	feed->loaded_serial = serial;
	feed->next_expiry = out->next_expiry;
	return STORE_FEED_LOADED;
}
