/* store_feed.h - the "store" dataset of `relayguard dnsbl` (ZONE:store:URL): the current
 * listings of a relayguard store as an ip4trie and an ip6trie dataset, rebuilt when the
 * store's listing serial moves. Used by reload.c's loader thread; writes to the store only
 * when told to sync. */
#ifndef RELAYGUARD_DNSBL_STORE_FEED_H
#define RELAYGUARD_DNSBL_STORE_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/store.h"
#include "dnsbl/dataset.h"

/* The dataset type name of a store-fed zone: "ZONE:store:URL". */
#define STORE_FEED_TYPE_NAME "store"
/* A sync after the first looks this far behind the previous one's start: a result is stored
 * when its check ends, up to this long after the time it is stored under. */
#define STORE_FEED_SYNC_SLACK ((int64_t)3600)

struct store_feed_config {
	const char *url;	/* store URL as `relayguard list --db` takes it */
	const char *txt;	/* TXT template (store_listing_txt); NULL or "": the default */
	bool sync;		/* run the automatic listing and the expiry before each look */
	int64_t listing_ttl;	/* TTL of listings the sync makes (0: never expire) */
};

/* The two datasets built from one look at the listings. */
struct store_feed_data {
	struct dataset *ipv4;		/* ip4trie: IPv4 listings and the 127.0.0.2 test point */
	struct dataset *ipv6;		/* ip6trie: IPv6 listings */
	int64_t next_expiry;		/* earliest expires_at still in the future; 0: none */
};

struct store_feed;

/* store_feed_new - a feed for this configuration (copied); the store is opened on first use */
struct store_feed *store_feed_new(const struct store_feed_config *config);
void store_feed_free(struct store_feed *feed);
/* store_feed_url - the configured URL (for log lines) */
const char *store_feed_url(const struct store_feed *feed);

enum store_feed_status {
	STORE_FEED_UNCHANGED,	/* nothing to load: *out untouched */
	STORE_FEED_LOADED,	/* *out holds new datasets for the caller */
	STORE_FEED_FAILED,	/* err says why; the caller keeps what it serves */
};

/* store_feed_poll - sync first when configured; then, when force is set, or the listing
 * serial differs from the last load's, or a listing loaded then has expired by now, read the
 * listings and build new datasets into *out. A store that cannot be reached is reopened on
 * the next poll. */
enum store_feed_status store_feed_poll(struct store_feed *feed, bool force, int64_t now,
    struct store_feed_data *out, char *err, size_t err_size);

/* store_feed_build - the datasets of these listings as of `now` (expired ones left out),
 * each with the A record 127.0.0.<reason code> and the TXT of txt_template; the 127.0.0.2
 * test point unless a listing names it; the SOA serial time changed_at (dataset meta
 * newest_mtime). Pure: no store, no I/O. */
bool store_feed_build(const struct store_listing *listings, size_t count,
    const char *txt_template, int64_t now, int64_t changed_at, struct store_feed_data *out,
    char *err, size_t err_size);

#endif
