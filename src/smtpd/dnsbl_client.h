/* dnsbl_client.h - the DNS checks made when a client connects: DNSBL zones (weights summed
 * against a threshold, TXT reason, cached by TTL) and the verified reverse name. One per
 * worker loop (not thread-safe); every answer comes from the loop, nothing here blocks. */
#ifndef RELAYGUARD_SMTPD_DNSBL_CLIENT_H
#define RELAYGUARD_SMTPD_DNSBL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "smtpd/config.h"

struct event_base;

/* Room for a listing zone name and for a cleaned TXT reason (both with the NUL). */
#define DNSBL_ZONE_MAX 256
#define DNSBL_REASON_MAX 256
/* Cache lifetimes are the DNS TTLs, capped (postscreen caps at one hour too). */
#define DNSBL_CACHE_TTL_MAX_MS (3600u * 1000u)
/* Verified reverse names carry no TTL through c-ares: kept this long. */
#define DNSBL_RDNS_CACHE_TTL_MS (300u * 1000u)
/* Entries per cache; the least recently used one goes first when it is full. */
#define DNSBL_CACHE_ENTRIES_MAX 65536
/* Name given to loopback clients, which are never looked up (RFC 6761 6.3). */
#define DNSBL_LOOPBACK_NAME "localhost"

enum dnsbl_verdict {
	DNSBL_PASS,		/* score below the threshold (always, with no zones) */
	DNSBL_LISTED,		/* score >= dnsbl_threshold: refuse with 554 5.7.1 */
	DNSBL_TEMPFAIL,		/* not listed, a zone failed and dnsbl_fail_closed: 451 */
};

struct dnsbl_result {
	enum dnsbl_verdict verdict;
	int score;			/* sum of the weights of the zones listing the client */
	unsigned listed_zones;		/* how many zones list it */
	unsigned failed_zones;		/* how many zones could not be asked */
	char zone[DNSBL_ZONE_MAX];	/* the listing zone of greatest weight, "" if none */
	char reason[DNSBL_REASON_MAX];	/* its TXT record, printable ASCII only, "" if none */
};

struct dnsbl_client;
struct dnsbl_lookup;

/* dnsbl_client_new - a resolver on base (config->dns_server, or /etc/resolv.conf when it is
 * "") and empty caches. config must outlive the client. NULL and a message in err when the
 * resolver cannot be made. */
struct dnsbl_client *dnsbl_client_new(struct event_base *base, const struct smtpd_config *config,
    char *err, size_t err_size);
/* dnsbl_client_free - cancels every lookup still running (their callbacks are not called). */
void dnsbl_client_free(struct dnsbl_client *client);

/* dnsbl_client_check - A and TXT of the client's name under every zone, all in parallel,
 * answered from the cache when it can. fn is called exactly once, from the loop (never
 * from inside this call), unless the lookup is cancelled first. */
typedef void (*dnsbl_check_fn)(void *arg, const struct dnsbl_result *result);
struct dnsbl_lookup *dnsbl_client_check(struct dnsbl_client *client,
    const struct netaddr *address, dnsbl_check_fn fn, void *arg);

/* dnsbl_client_rdns - the verified reverse name: the PTR name, kept only when one of its
 * A (IPv4 client) or AAAA (IPv6) records is the client address; "" when there is none
 * (then "unknown" in headers and logs). Loopback clients get DNSBL_LOOPBACK_NAME without a
 * query. Same calling rules as dnsbl_client_check. */
typedef void (*dnsbl_rdns_fn)(void *arg, const char *name);
struct dnsbl_lookup *dnsbl_client_rdns(struct dnsbl_client *client,
    const struct netaddr *address, dnsbl_rdns_fn fn, void *arg);

/* dnsbl_lookup_cancel - the lookup's callback will not be called (the queries still in
 * flight finish quietly and the lookup frees itself). lookup may be NULL. */
void dnsbl_lookup_cancel(struct dnsbl_lookup *lookup);

/* dnsbl_query_name - "d.c.b.a.ZONE" for IPv4, 32 reversed nibbles then ".ZONE" for IPv6
 * (RFC 5782 2.1, 2.4); IPv4-mapped addresses are looked up as IPv4. Returns the length, or
 * -1 when out is too small or the family is unknown. Pure. */
int dnsbl_query_name(const struct netaddr *address, const char *zone, char *out,
    size_t out_size);

/* dnsbl_reason_clean - copy a TXT reason for an SMTP reply: printable ASCII kept, every
 * other byte (CR, LF, NUL, controls, 8-bit) becomes '?', truncated to fit. Pure. */
void dnsbl_reason_clean(const char *text, char *out, size_t out_size);

/* dnsbl_answer_lists - true when a DNSBL A answer means "listed": 127.0.0.0/8 except
 * 127.255.255.0/24 (error codes some lists return to refused resolvers). Pure. */
bool dnsbl_answer_lists(const struct netaddr *answer);

/* dnsbl_client_cache_size - entries in the DNSBL and reverse-name caches (for tests). */
size_t dnsbl_client_cache_size(const struct dnsbl_client *client);

#endif
