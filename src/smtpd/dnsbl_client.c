/* dnsbl_client.c - DNSBL lookups (RFC 5782) and verified reverse names for smtpd sessions,
 * over core/resolver.h with TTL-bounded caches. Never blocks and never trusts DNS text: TXT
 * reasons are cleaned before they reach an SMTP reply. */
#include "smtpd/dnsbl_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "core/resolver.h"
#include "core/smtp_path.h"

/* Hash buckets per cache (a power of two). */
#define DNSBL_CACHE_BUCKETS 4096
/* A DNSBL query name: 32 nibbles with dots (64) and a zone of up to 255 octets. */
#define DNSBL_QUERY_NAME_MAX (64 + DNSBL_ZONE_MAX)
/* Prefix of the reverse-name cache keys (DNSBL keys are query names, never this). */
#define DNSBL_RDNS_KEY_PREFIX "rdns:"
#define DNSBL_RDNS_KEY_MAX (sizeof(DNSBL_RDNS_KEY_PREFIX) + NETADDR_TEXT_MAX)
#define DNSBL_MS_PER_SECOND 1000u

struct cache_entry {
	TAILQ_ENTRY(cache_entry) lru;		/* least recently used first */
	struct cache_entry *next;		/* hash chain */
	uint32_t hash;
	uint64_t expires_ms;
	char *key;
	bool positive;				/* listed / has a verified name */
	char *value;				/* TXT reason / verified name */
};

struct cache {
	struct cache_entry *buckets[DNSBL_CACHE_BUCKETS];
	TAILQ_HEAD(, cache_entry) lru;
	size_t count;
};

/* What one zone said about the client. */
struct zone_answer {
	struct dnsbl_lookup *lookup;
	size_t index;				/* into config->dnsbl */
	char name[DNSBL_QUERY_NAME_MAX];
	bool cached;				/* answered from the cache */
	bool listed;
	bool failed;
	unsigned a_ttl;				/* seconds, 0: do not cache */
	char reason[DNSBL_REASON_MAX];
};

enum lookup_kind {
	LOOKUP_DNSBL,
	LOOKUP_RDNS,
};

struct dnsbl_lookup {
	LIST_ENTRY(dnsbl_lookup) entry;
	struct dnsbl_client *client;
	enum lookup_kind kind;
	bool cancelled;
	unsigned pending;			/* resolver callbacks still to come */
	struct netaddr address;
	void *arg;
	dnsbl_check_fn check_fn;
	dnsbl_rdns_fn rdns_fn;
	/* DNSBL */
	struct zone_answer *zones;
	size_t zone_count;
	/* reverse name */
	char ptr_name[RESOLVER_NAME_MAX];
	bool verified;
	bool rdns_cacheable;
	const char *fixed_name;			/* cache hit or loopback: answer with this */
};

struct dnsbl_client {
	const struct smtpd_config *config;
	struct resolver *resolver;
	bool closing;
	struct cache dnsbl_cache;
	struct cache rdns_cache;
	LIST_HEAD(, dnsbl_lookup) lookups;
};

/* ---- cache -------------------------------------------------------------------------- */

/* cache_hash - FNV-1a of the key. */
static uint32_t
cache_hash(const char *key)
{
	uint32_t hash = 2166136261u;

	for (; *key != '\0'; key++) {
		hash ^= (unsigned char)*key;
		hash *= 16777619u;
	}
	return hash;
}

static void
cache_init(struct cache *cache)
{
	memset(cache->buckets, 0, sizeof(cache->buckets));
	TAILQ_INIT(&cache->lru);
	cache->count = 0;
}

/* cache_remove - unlink and free one entry. */
static void
cache_remove(struct cache *cache, struct cache_entry *entry)
{
	struct cache_entry **link = &cache->buckets[entry->hash & (DNSBL_CACHE_BUCKETS - 1)];

	while (*link != entry)
		link = &(*link)->next;
	*link = entry->next;
	TAILQ_REMOVE(&cache->lru, entry, lru);
	cache->count--;
	free(entry->key);
	free(entry->value);
	free(entry);
}

static void
cache_free(struct cache *cache)
{
	struct cache_entry *entry;

	while ((entry = TAILQ_FIRST(&cache->lru)) != NULL)
		cache_remove(cache, entry);
}

/* cache_find - the live entry for key (expired ones are dropped), or NULL. */
static struct cache_entry *
cache_find(struct cache *cache, const char *key, uint64_t now_ms)
{
	uint32_t hash = cache_hash(key);
	struct cache_entry *entry = cache->buckets[hash & (DNSBL_CACHE_BUCKETS - 1)];

	for (; entry != NULL; entry = entry->next) {
		if (entry->hash == hash && strcmp(entry->key, key) == 0)
			break;
	}
	if (entry == NULL)
		return NULL;
	if (entry->expires_ms <= now_ms) {
		cache_remove(cache, entry);
		return NULL;
	}
	TAILQ_REMOVE(&cache->lru, entry, lru);
	TAILQ_INSERT_TAIL(&cache->lru, entry, lru);
	return entry;
}

/* cache_put - remember key for ttl_ms (0: not at all), replacing an older entry and
 * evicting the least recently used one when full. */
static void
cache_put(struct cache *cache, const char *key, bool positive, const char *value,
    uint64_t ttl_ms, uint64_t now_ms)
{
	struct cache_entry *old = cache_find(cache, key, now_ms);

	if (old != NULL)
		cache_remove(cache, old);
	if (ttl_ms == 0)
		return;
	if (cache->count >= DNSBL_CACHE_ENTRIES_MAX)
		cache_remove(cache, TAILQ_FIRST(&cache->lru));
	struct cache_entry *entry = xcalloc(1, sizeof(*entry));
	entry->hash = cache_hash(key);
	entry->key = xstrdup(key);
	entry->positive = positive;
	entry->value = xstrdup(value != NULL ? value : "");
	entry->expires_ms = now_ms + ttl_ms;
	size_t bucket = entry->hash & (DNSBL_CACHE_BUCKETS - 1);
	entry->next = cache->buckets[bucket];
	cache->buckets[bucket] = entry;
	TAILQ_INSERT_TAIL(&cache->lru, entry, lru);
	cache->count++;
}

/* cache_ttl_ms - a DNS TTL in seconds as a cache lifetime, capped. */
static uint64_t
cache_ttl_ms(unsigned ttl)
{
	uint64_t ms = (uint64_t)ttl * DNSBL_MS_PER_SECOND;

	return ms > DNSBL_CACHE_TTL_MAX_MS ? DNSBL_CACHE_TTL_MAX_MS : ms;
}

/* ---- pure helpers -------------------------------------------------------------------- */

/* dnsbl_query_name - RFC 5782 2.1 (IPv4) and 2.4 (IPv6) names under zone. */
int
dnsbl_query_name(const struct netaddr *address, const char *zone, char *out, size_t out_size)
{
	struct netaddr plain = *address;

	/* A v4-mapped client is looked up as the IPv4 address it is. */
	netaddr_unmap(&plain);
	return resolver_reversed_name(&plain, zone, out, out_size);
}

/* dnsbl_reason_clean - printable ASCII only, so DNS text cannot break an SMTP reply. */
void
dnsbl_reason_clean(const char *text, char *out, size_t out_size)
{
	size_t used = 0;

	if (out_size == 0)
		return;
	for (; text != NULL && *text != '\0' && used + 1 < out_size; text++) {
		unsigned char c = (unsigned char)*text;
		out[used++] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	out[used] = '\0';
}

/* dnsbl_answer_lists - 127.0.0.0/8 lists, except 127.255.255.0/24 (list errors). */
bool
dnsbl_answer_lists(const struct netaddr *answer)
{
	if (answer->family != AF_INET || answer->bytes[0] != 127)
		return false;
	return !(answer->bytes[1] == 255 && answer->bytes[2] == 255);
}

/* answer_is_list_error - 127.255.255.0/24: the list refused to answer us. */
static bool
answer_is_list_error(const struct netaddr *answer)
{
	return answer->family == AF_INET && answer->bytes[0] == 127 &&
	    answer->bytes[1] == 255 && answer->bytes[2] == 255;
}

/* ---- lookups ------------------------------------------------------------------------- */

/* lookup_new - a lookup registered with the client. */
static struct dnsbl_lookup *
lookup_new(struct dnsbl_client *client, enum lookup_kind kind, const struct netaddr *address,
    void *arg)
{
	struct dnsbl_lookup *lookup = xcalloc(1, sizeof(*lookup));

	lookup->client = client;
	lookup->kind = kind;
	lookup->address = *address;
	netaddr_unmap(&lookup->address);
	lookup->arg = arg;
	LIST_INSERT_HEAD(&client->lookups, lookup, entry);
	return lookup;
}

static void
lookup_free(struct dnsbl_lookup *lookup)
{
	LIST_REMOVE(lookup, entry);
	free(lookup->zones);
	free(lookup);
}

/* dnsbl_lookup_cancel - forget the caller; the lookup goes away when its queries end. */
void
dnsbl_lookup_cancel(struct dnsbl_lookup *lookup)
{
	if (lookup != NULL)
		lookup->cancelled = true;
}

/* dnsbl_finish - every zone answered: score, cache, and tell the caller. */
static void
dnsbl_finish(struct dnsbl_lookup *lookup)
{
	struct dnsbl_client *client = lookup->client;
	const struct smtpd_config *config = client->config;
	struct dnsbl_result result;
	uint64_t now = event_loop_now_ms();
	int best_weight = 0;

	memset(&result, 0, sizeof(result));
	for (size_t i = 0; i < lookup->zone_count; i++) {
		struct zone_answer *zone = &lookup->zones[i];
		const struct smtpd_dnsbl_zone *configured = &config->dnsbl[zone->index];
		if (!zone->cached && !zone->failed && !client->closing)
			cache_put(&client->dnsbl_cache, zone->name, zone->listed, zone->reason,
			    cache_ttl_ms(zone->a_ttl), now);
		if (zone->failed) {
			result.failed_zones++;
			continue;
		}
		if (!zone->listed)
			continue;
		result.listed_zones++;
		result.score += configured->weight;
		if (result.listed_zones == 1 || configured->weight > best_weight) {
			best_weight = configured->weight;
			snprintf(result.zone, sizeof(result.zone), "%s", configured->zone);
			snprintf(result.reason, sizeof(result.reason), "%s", zone->reason);
		}
	}
	if (result.listed_zones > 0 && result.score >= config->dnsbl_threshold)
		result.verdict = DNSBL_LISTED;
	else if (result.failed_zones > 0 && config->dnsbl_fail_closed)
		result.verdict = DNSBL_TEMPFAIL;
	else
		result.verdict = DNSBL_PASS;
	if (!lookup->cancelled)
		lookup->check_fn(lookup->arg, &result);
	lookup_free(lookup);
}

/* lookup_settle - one callback fewer to wait for; finish when it was the last. */
static void
lookup_settle(struct dnsbl_lookup *lookup)
{
	if (--lookup->pending > 0)
		return;
	if (lookup->kind == LOOKUP_DNSBL) {
		dnsbl_finish(lookup);
		return;
	}
	struct dnsbl_client *client = lookup->client;
	const char *name = lookup->fixed_name;
	if (name == NULL) {
		name = lookup->verified ? lookup->ptr_name : "";
		if (lookup->rdns_cacheable && !client->closing) {
			char key[DNSBL_RDNS_KEY_MAX], text[NETADDR_TEXT_MAX];
			netaddr_format(&lookup->address, text, sizeof(text));
			snprintf(key, sizeof(key), "%s%s", DNSBL_RDNS_KEY_PREFIX, text);
			cache_put(&client->rdns_cache, key, lookup->verified, name,
			    DNSBL_RDNS_CACHE_TTL_MS, event_loop_now_ms());
		}
	}
	if (!lookup->cancelled)
		lookup->rdns_fn(lookup->arg, name);
	lookup_free(lookup);
}

/* lookup_deferred - a lookup answered without a query (cache, loopback, no zones). */
static void
lookup_deferred(void *arg, enum resolver_status status)
{
	(void)status;
	lookup_settle(arg);
}

/* zone_a_answered - the A records of one zone's query name. */
static void
zone_a_answered(void *arg, enum resolver_status status, const struct netaddr *addresses,
    size_t count, unsigned ttl)
{
	struct zone_answer *zone = arg;
	struct dnsbl_lookup *lookup = zone->lookup;

	switch (status) {
	case RESOLVER_OK:
		zone->a_ttl = ttl;
		for (size_t i = 0; i < count; i++) {
			if (dnsbl_answer_lists(&addresses[i]))
				zone->listed = true;
		}
		if (!zone->listed) {
			for (size_t i = 0; i < count; i++) {
				if (answer_is_list_error(&addresses[i]))
					zone->failed = true;
			}
		}
		break;
	case RESOLVER_NXDOMAIN:
	case RESOLVER_NODATA:
		zone->a_ttl = ttl;
		break;
	case RESOLVER_FAILURE:
		zone->failed = true;
		break;
	}
	if (zone->failed && !lookup->client->closing)
		log_warn("event=dnsbl_lookup_failed name=%s status=%s", zone->name,
		    resolver_status_name(status));
	lookup_settle(lookup);
}

/* zone_txt_answered - the TXT reason of one zone's query name (used only when listed). */
static void
zone_txt_answered(void *arg, enum resolver_status status, const char *const *texts,
    size_t count, unsigned ttl)
{
	struct zone_answer *zone = arg;

	(void)ttl;
	if (status == RESOLVER_OK && count > 0)
		dnsbl_reason_clean(texts[0], zone->reason, sizeof(zone->reason));
	lookup_settle(zone->lookup);
}

/* dnsbl_client_check - every zone in parallel (A and TXT), cached zones answered at once. */
struct dnsbl_lookup *
dnsbl_client_check(struct dnsbl_client *client, const struct netaddr *address,
    dnsbl_check_fn fn, void *arg)
{
	const struct smtpd_config *config = client->config;
	struct dnsbl_lookup *lookup = lookup_new(client, LOOKUP_DNSBL, address, arg);
	uint64_t now = event_loop_now_ms();

	lookup->check_fn = fn;
	lookup->zones = xcalloc(config->dnsbl_count, sizeof(*lookup->zones));
	lookup->zone_count = config->dnsbl_count;
	/* One extra count keeps the lookup alive until every query has been sent. */
	lookup->pending = 1;
	for (size_t i = 0; i < config->dnsbl_count; i++) {
		struct zone_answer *zone = &lookup->zones[i];
		zone->lookup = lookup;
		zone->index = i;
		if (dnsbl_query_name(&lookup->address, config->dnsbl[i].zone, zone->name,
		    sizeof(zone->name)) < 0) {
			zone->failed = true;
			zone->cached = true;
			continue;
		}
		struct cache_entry *hit = cache_find(&client->dnsbl_cache, zone->name, now);
		if (hit != NULL) {
			zone->cached = true;
			zone->listed = hit->positive;
			snprintf(zone->reason, sizeof(zone->reason), "%s", hit->value);
			continue;
		}
		lookup->pending += 2;
		resolver_query_address_ttl(client->resolver, zone->name, AF_INET,
		    zone_a_answered, zone);
		resolver_query_txt(client->resolver, zone->name, zone_txt_answered, zone);
	}
	/* The extra count is settled from the loop, never from inside this call. */
	resolver_defer(client->resolver, lookup_deferred, lookup);
	return lookup;
}

/* rdns_forward_answered - the A/AAAA records of the PTR name: does one match? */
static void
rdns_forward_answered(void *arg, enum resolver_status status,
    const struct netaddr *addresses, size_t count)
{
	struct dnsbl_lookup *lookup = arg;

	if (status == RESOLVER_OK) {
		for (size_t i = 0; i < count; i++) {
			struct netaddr address = addresses[i];
			netaddr_unmap(&address);
			if (netaddr_equal(&address, &lookup->address))
				lookup->verified = true;
		}
	}
	lookup->rdns_cacheable = status != RESOLVER_FAILURE;
	lookup_settle(lookup);
}

/* rdns_ptr_answered - the PTR name; then its addresses of the client's family. */
static void
rdns_ptr_answered(void *arg, enum resolver_status status, const char *name)
{
	struct dnsbl_lookup *lookup = arg;

	if (status == RESOLVER_OK && name != NULL &&
	    smtp_domain_is_valid(name, strlen(name)) && !lookup->client->closing) {
		snprintf(lookup->ptr_name, sizeof(lookup->ptr_name), "%s", name);
		lookup->pending++;
		resolver_query_address(lookup->client->resolver, lookup->ptr_name,
		    lookup->address.family, rdns_forward_answered, lookup);
	} else {
		lookup->rdns_cacheable = status == RESOLVER_NXDOMAIN ||
		    status == RESOLVER_NODATA || status == RESOLVER_OK;
	}
	lookup_settle(lookup);
}

/* dnsbl_client_rdns - PTR then forward confirmation (FCrDNS), cached. */
struct dnsbl_lookup *
dnsbl_client_rdns(struct dnsbl_client *client, const struct netaddr *address,
    dnsbl_rdns_fn fn, void *arg)
{
	struct dnsbl_lookup *lookup = lookup_new(client, LOOKUP_RDNS, address, arg);
	char key[DNSBL_RDNS_KEY_MAX], text[NETADDR_TEXT_MAX];

	lookup->rdns_fn = fn;
	lookup->pending = 1;
	if (netaddr_is_loopback(&lookup->address)) {
		lookup->fixed_name = DNSBL_LOOPBACK_NAME;
		resolver_defer(client->resolver, lookup_deferred, lookup);
		return lookup;
	}
	netaddr_format(&lookup->address, text, sizeof(text));
	snprintf(key, sizeof(key), "%s%s", DNSBL_RDNS_KEY_PREFIX, text);
	struct cache_entry *hit = cache_find(&client->rdns_cache, key, event_loop_now_ms());
	if (hit != NULL) {
		snprintf(lookup->ptr_name, sizeof(lookup->ptr_name), "%s", hit->value);
		lookup->fixed_name = lookup->ptr_name;
		resolver_defer(client->resolver, lookup_deferred, lookup);
		return lookup;
	}
	resolver_query_ptr(client->resolver, &lookup->address, rdns_ptr_answered, lookup);
	return lookup;
}

/* dnsbl_client_new - the resolver and two empty caches. */
struct dnsbl_client *
dnsbl_client_new(struct event_base *base, const struct smtpd_config *config, char *err,
    size_t err_size)
{
	struct dnsbl_client *client = xcalloc(1, sizeof(*client));

	client->config = config;
	client->resolver = resolver_new(base, config->dns_server[0] != '\0' ?
	    config->dns_server : NULL, err, err_size);
	if (client->resolver == NULL) {
		free(client);
		return NULL;
	}
	cache_init(&client->dnsbl_cache);
	cache_init(&client->rdns_cache);
	LIST_INIT(&client->lookups);
	return client;
}

/* dnsbl_client_free - cancel every lookup, then let the resolver fail what is in flight
 * (each lookup frees itself on its last callback). */
void
dnsbl_client_free(struct dnsbl_client *client)
{
	struct dnsbl_lookup *lookup;

	if (client == NULL)
		return;
	client->closing = true;
	LIST_FOREACH(lookup, &client->lookups, entry)
		lookup->cancelled = true;
	resolver_free(client->resolver);
	/* Every query was answered inside resolver_free, so nothing should be left. */
	while ((lookup = LIST_FIRST(&client->lookups)) != NULL)
		lookup_free(lookup);
	cache_free(&client->dnsbl_cache);
	cache_free(&client->rdns_cache);
	free(client);
}

/* dnsbl_client_cache_size - entries held by both caches. */
size_t
dnsbl_client_cache_size(const struct dnsbl_client *client)
{
	return client->dnsbl_cache.count + client->rdns_cache.count;
}
