/* resolver.h - non-blocking DNS lookups (MX, A, AAAA, TXT, PTR): c-ares bound to libevent.
 * Used by check (target expansion, PTR of targets) and smtpd (DNSBL); never blocks the loop. */
#ifndef RELAYGUARD_CORE_RESOLVER_H
#define RELAYGUARD_CORE_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/netaddr.h"

struct event_base;

/* Defaults used by resolver_new(): first try's timeout and number of tries. c-ares doubles
 * the timeout on each later round, so a dead server costs 2 + 4 = 6 seconds. */
#define RESOLVER_DEFAULT_TIMEOUT_MS 2000
#define RESOLVER_DEFAULT_TRIES 2
#define RESOLVER_DEFAULT_PORT 53
/* Room for a DNS name in text form (as struct hostport). */
#define RESOLVER_NAME_MAX 256

enum resolver_status {
	RESOLVER_OK,
	RESOLVER_NXDOMAIN,	/* the name does not exist */
	RESOLVER_NODATA,	/* the name exists but has no record of that type */
	RESOLVER_FAILURE,	/* server failure, refusal, timeout, bad name, cancelled */
};

struct resolver_mx {
	char host[RESOLVER_NAME_MAX];	/* lower-case, no trailing dot; "" for null MX "." */
	unsigned preference;
};

struct resolver;

/* resolver_new - server NULL: system configuration (/etc/resolv.conf); else "ADDR" or
 * "ADDR:PORT" or "[V6]:PORT" (port default 53) used exclusively. Uses
 * RESOLVER_DEFAULT_TIMEOUT_MS and RESOLVER_DEFAULT_TRIES. NULL and a message in err on
 * failure. */
struct resolver *resolver_new(struct event_base *base, const char *server,
    char *err, size_t err_size);
/* resolver_new_options - resolver_new with the first try's timeout (milliseconds, later
 * rounds doubled by c-ares) and the number of tries per server. */
struct resolver *resolver_new_options(struct event_base *base, const char *server,
    unsigned timeout_ms, unsigned tries, char *err, size_t err_size);
/* resolver_free - cancels pending queries: their callbacks get RESOLVER_FAILURE, called
 * from inside resolver_free. Must not be called from inside a resolver callback of a
 * query still being cancelled (i.e. not twice); calling it from an ordinary callback is
 * fine. */
void resolver_free(struct resolver *resolver);
/* resolver_event_base - the loop the resolver runs on (for callers that defer work). */
struct event_base *resolver_event_base(struct resolver *resolver);
/* resolver_is_closing - true while resolver_free is cancelling queries (their callbacks
 * see RESOLVER_FAILURE and can tell a cancellation from a real failure with this). */
bool resolver_is_closing(const struct resolver *resolver);

/* resolver_defer - run fn from the loop, like an answer that needs no query: status
 * RESOLVER_OK from the loop, or RESOLVER_FAILURE from resolver_free if cancelled first.
 * Lets callers with nothing to look up keep the "never re-entrant" promise and still be
 * cleaned up by resolver_free. */
typedef void (*resolver_defer_fn)(void *arg, enum resolver_status status);
void resolver_defer(struct resolver *resolver, resolver_defer_fn fn, void *arg);

/* Every callback below is called exactly once per query, from the event loop (never from
 * inside resolver_query_*). The arrays and strings it receives live until it returns. */

/* records sorted by preference, then name */
typedef void (*resolver_mx_fn)(void *arg, enum resolver_status status,
    const struct resolver_mx *records, size_t count);
void resolver_query_mx(struct resolver *resolver, const char *domain, resolver_mx_fn fn,
    void *arg);

typedef void (*resolver_address_fn)(void *arg, enum resolver_status status,
    const struct netaddr *addresses, size_t count);
/* family AF_INET -> A, AF_INET6 -> AAAA only (no synthesis, no fallback); any other family
 * is answered with RESOLVER_FAILURE. */
void resolver_query_address(struct resolver *resolver, const char *name, int family,
    resolver_address_fn fn, void *arg);

/* Like resolver_address_fn, plus a TTL for caches (DNSBL): when RESOLVER_OK the smallest
 * TTL of the answer's A/AAAA records; for RESOLVER_NXDOMAIN and RESOLVER_NODATA the negative
 * caching TTL of the SOA in the authority section (RFC 2308 5: the smaller of the SOA
 * record's own TTL and its MINIMUM field), 0 when the answer has no SOA; 0 on failure. */
typedef void (*resolver_address_ttl_fn)(void *arg, enum resolver_status status,
    const struct netaddr *addresses, size_t count, unsigned ttl);
void resolver_query_address_ttl(struct resolver *resolver, const char *name, int family,
    resolver_address_ttl_fn fn, void *arg);

/* texts: one string per TXT record, its character-strings concatenated (RFC 7208 3.3);
 * ttl: the smallest TTL of the TXT records (0 unless RESOLVER_OK). */
typedef void (*resolver_txt_fn)(void *arg, enum resolver_status status,
    const char *const *texts, size_t count, unsigned ttl);
void resolver_query_txt(struct resolver *resolver, const char *name, resolver_txt_fn fn,
    void *arg);

/* name: the first PTR target (no trailing dot), NULL unless RESOLVER_OK */
typedef void (*resolver_ptr_fn)(void *arg, enum resolver_status status, const char *name);
void resolver_query_ptr(struct resolver *resolver, const struct netaddr *address,
    resolver_ptr_fn fn, void *arg);

/* "ok", "nxdomain", "nodata", "failure" */
const char *resolver_status_name(enum resolver_status status);

/* resolver_negative_ttl - the RFC 2308 negative caching TTL of a DNS response: the smaller
 * of the TTL and the MINIMUM field of the first SOA record in its authority section; 0 when
 * there is none or the message is malformed. Pure (bytes in, number out). */
unsigned resolver_negative_ttl(const unsigned char *message, size_t length);

/* resolver_reversed_name - octets or nibbles of address reversed under suffix (the form of
 * reverse-DNS and of DNSBL names); length, or -1 when out is too small. */
int resolver_reversed_name(const struct netaddr *address, const char *suffix, char *out,
    size_t out_size);
/* resolver_reverse_name - "4.3.2.1.in-addr.arpa" / 32 nibbles + ".ip6.arpa" for address;
 * returns the length or -1 when out is too small or the family is unknown. Pure. */
int resolver_reverse_name(const struct netaddr *address, char *out, size_t out_size);

#endif
