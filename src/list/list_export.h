/* list_export.h - writes DNSBL listings as rbldnsd data (ip4set, ip6trie) and as a BIND zone
 * file, for rsync mirrors and secondary servers. Called by `relayguard list export`; pure
 * writers: entries in, text out on a stream, no store and no network. */
#ifndef RELAYGUARD_LIST_EXPORT_H
#define RELAYGUARD_LIST_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/netaddr.h"

/* Name servers an export names at most. */
#define LIST_EXPORT_NS_MAX 8
/* Room for a domain name in text form, with its NUL. */
#define LIST_EXPORT_NAME_MAX 256
/* Longest TXT text an export writes (one DNS character-string). */
#define LIST_EXPORT_TXT_MAX 255

/* One listed prefix and what it answers. */
struct list_export_entry {
	struct netprefix prefix;
	unsigned code;		/* A record 127.0.0.code */
	const char *txt;	/* TXT template: "$" is the queried address, "$$" a dollar */
};

/* The zone's apex: SOA, NS and TTLs. */
struct list_export_zone {
	char name[LIST_EXPORT_NAME_MAX];		/* "relays.bl.example.org" */
	char ns[LIST_EXPORT_NS_MAX][LIST_EXPORT_NAME_MAX];
	size_t ns_count;				/* at least 1 */
	char hostmaster[LIST_EXPORT_NAME_MAX];		/* SOA RNAME as a domain name */
	uint32_t serial;
	uint32_t ttl;					/* of A, TXT and NS */
	uint32_t refresh;
	uint32_t retry;
	uint32_t expire;
	uint32_t minimum;				/* negative-answer TTL */
};

/* list_export_rbldnsd - rbldnsd data for the entries of one family: AF_INET writes an ip4set
 * file, AF_INET6 an ip6trie file ($SOA, $NS, $TTL, then "prefix :127.0.0.N:TXT" lines).
 * Returns false when the stream fails (errno set). */
bool list_export_rbldnsd(FILE *out, const struct list_export_zone *zone,
    const struct list_export_entry *entries, size_t count, int family);

/* list_export_bind - an RFC 1035 master file of the zone: SOA, NS, then A and TXT records of
 * every entry (both families). Prefixes that are not a whole name become wildcards
 * (*.2.0.192 for 192.0.2.0/24; other lengths are split into the next whole octet or
 * nibble), and a wildcard is repeated at every name that a more specific entry creates under
 * it (RFC 4592: an existing name hides the wildcard above it), so a secondary answers every
 * address as the longest listed prefix does. "$" in a TXT becomes the address, or the
 * prefix for wildcards. Returns false when the stream fails. */
bool list_export_bind(FILE *out, const struct list_export_zone *zone,
    const struct list_export_entry *entries, size_t count);

#endif
