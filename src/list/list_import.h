/* list_import.h - reads one line of rbldnsd data (ip4set, ip4tset, ip4trie, ip6trie, ip6tset
 * syntax) into the prefixes it lists, for `relayguard list import`. A pure parser: a line in,
 * a struct out; no I/O, no store. */
#ifndef RELAYGUARD_LIST_IMPORT_H
#define RELAYGUARD_LIST_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"

/* Most prefixes one line yields: an IPv4 range "a-b" splits into at most 62 CIDRs. */
#define LIST_IMPORT_PREFIXES_MAX 64
/* Longest TXT kept from a line. */
#define LIST_IMPORT_TXT_MAX 255

enum list_import_kind {
	LIST_IMPORT_NOTHING,	/* blank, comment, $SOA/$NS/$TTL, a ":A:TXT" default line */
	LIST_IMPORT_ENTRY,	/* a listing: prefixes[], and its own value when it has one */
	LIST_IMPORT_EXCLUSION,	/* "!addr": nothing the store can hold */
	LIST_IMPORT_ERROR,	/* error names what is wrong */
};

struct list_import_line {
	enum list_import_kind kind;
	struct netprefix prefixes[LIST_IMPORT_PREFIXES_MAX];
	size_t prefix_count;
	unsigned code;				/* 127.0.0.code from ":A:", 0 when none */
	char txt[LIST_IMPORT_TXT_MAX + 1];	/* "" when none */
	const char *error;			/* static text */
};

/* list_import_parse - one line (without its newline) of rbldnsd data: addresses, CIDRs,
 * partial addresses ("192.0.2" = 192.0.2.0/24), ranges ("192.0.2.0-192.0.2.127",
 * "192.0.2.0-127", "10.16-31"), IPv6 prefixes and ip6tset /64s ("2001:db8:1:2"), each
 * optionally followed by ":A:TXT" or a TXT. */
void list_import_parse(const char *line, size_t length, struct list_import_line *out);

/* list_import_range - split the IPv4 range first..last (host order) into CIDRs; returns how
 * many were written to out (at most max; 0 when first > last). */
size_t list_import_range(uint32_t first, uint32_t last, struct netprefix *out, size_t max);

#endif
