/* dataset.h - DNSBL datasets: rbldnsd-format parser, compact immutable lookup structures.
 * Built once (builder or loader), then read-only and safe to share between threads. */
#ifndef RELAYGUARD_DNSBL_DATASET_H
#define RELAYGUARD_DNSBL_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"

/* Longest TXT text dataset_txt_render() produces (one DNS character-string). */
#define DATASET_TXT_MAX 255
/* Number of $NS lines kept in dataset_meta. */
#define DATASET_NS_MAX 32
/* Size of a domain name buffer in dataset_meta (incl. the NUL). */
#define DATASET_NAME_MAX 256
/* rbldnsd's default A value for listings without one: 127.0.0.2 (host order). */
#define DATASET_DEFAULT_A 0x7f000002u

enum dataset_type { DATASET_IP4SET, DATASET_IP4TSET, DATASET_IP4TRIE, DATASET_IP6TRIE,
	DATASET_IP6TSET };
/* dataset_type_parse - "ip4set", "ip4tset", "ip4trie", "ip6trie", "ip6tset" */
bool dataset_type_parse(const char *name, enum dataset_type *out);
/* dataset_type_name - the rbldnsd name of type ("ip4set" ...) */
const char *dataset_type_name(enum dataset_type type);

/* $SOA and $NS of the data (the first line of each wins, as in rbldnsd); names are stored
 * as written without a final dot. A ttl of 0 means the server's default TTL (rbldnsd's -t);
 * $TTL sets ttl_present/ttl (the last one wins; "$TTL 0" = the default again). */
struct dataset_soa { bool present; uint32_t ttl; char origin[256]; char person[256];
	uint32_t serial; /* 0 = use newest file mtime */ uint32_t refresh, retry, expire, minimum; };
struct dataset_meta { struct dataset_soa soa; char ns[32][256]; size_t ns_count; uint32_t ns_ttl;
	bool ttl_present; uint32_t ttl; /* $TTL */ int64_t newest_mtime; };

/* A value of a listing: the A record (127.0.0.x, host order uint32) and a TXT template
 * (NULL = no TXT). Templates use rbldnsd rules: "$" = the queried address, "$$" = "$".
 * The loader has already applied $0..$9 and $=. txt points into the dataset: valid until
 * dataset_free(). */
struct dataset_value { uint32_t a; const char *txt; };

struct dataset;                      /* immutable once built; safe to read from many threads */
struct dataset_builder;
/* dataset_builder_new - an empty builder for one dataset type */
struct dataset_builder *dataset_builder_new(enum dataset_type type);
/* add a listed prefix (host bits must be zero) with its value; exclusions punch holes */
bool dataset_builder_add(struct dataset_builder *b, const struct netprefix *prefix,
    uint32_t a, const char *txt, char *err, size_t err_size);
/* dataset_builder_exclude - an exclusion ("!" line): the prefix is not listed */
bool dataset_builder_exclude(struct dataset_builder *b, const struct netprefix *prefix,
    char *err, size_t err_size);
/* dataset_builder_meta - the $SOA/$NS/$TTL data the dataset will carry (writable) */
struct dataset_meta *dataset_builder_meta(struct dataset_builder *b);
struct dataset *dataset_builder_finish(struct dataset_builder *b);   /* frees the builder */
void dataset_builder_free(struct dataset_builder *b);                  /* abandon */

/* dataset_load_files - rbldnsd-format files read as one stream (like rbldnsd "type:f1,f2").
 * A syntax error in a line is a warning (log_warn with FILE:LINE) and the line is skipped,
 * like rbldnsd; a missing/unreadable file is an error (NULL + message) so the caller keeps
 * its last good snapshot. */
struct dataset *dataset_load_files(enum dataset_type type, const char *const *paths,
    size_t count, char *err, size_t err_size);
/* dataset_load_buffer - the same parser on memory (tests, fuzzing); name is used in messages */
struct dataset *dataset_load_buffer(enum dataset_type type, const char *data, size_t length,
    const char *name, size_t *warnings, char *err, size_t err_size);

/* dataset_lookup - longest-prefix match with exclusions. Returns the number of values
 * written (0 = not listed, or excluded). IPv4-mapped IPv6 addresses look up IPv4 data.
 * ip4set (like rbldnsd) answers every entry of the most specific octet level (/32, /24,
 * /16, /8) holding the address, so several values are possible; the other types give one.
 * Values come in the order they first appear in the data; at most max are written.
 * No allocation, no lock: call it from any number of threads. */
size_t dataset_lookup(const struct dataset *set, const struct netaddr *address,
    struct dataset_value *out, size_t max);
/* dataset_txt_render - expand a TXT template for the queried address into out (<=255 bytes
 * of text, truncated as rbldnsd does); returns the length. rbldnsd stops at 254 bytes and
 * so does this (and at out_size - 1). IPv6 is written like rbldnsd (lower-case hex, first
 * longest zero run as "::", no dotted quad); IPv4-mapped addresses as a dotted quad. */
size_t dataset_txt_render(const char *template, const struct netaddr *queried, char *out,
    size_t out_size);
/* dataset_get_meta - the $SOA/$NS/$TTL data read with the dataset */
const struct dataset_meta *dataset_get_meta(const struct dataset *set);
/* dataset_entry_count - listed entries plus exclusions, as loaded (lines, not addresses) */
size_t dataset_entry_count(const struct dataset *set);
size_t dataset_memory_bytes(const struct dataset *set);   /* bytes of the lookup structures */
void dataset_free(struct dataset *set);

/* Most values dataset_walk() reports for one stretch (more are cut, as lookups cut at max). */
#define DATASET_WALK_VALUES_MAX 64

/* One stretch of addresses that dataset_walk() reports: every address from first to last
 * (same family, inclusive) gets the same values. Stretches come in address order and never
 * overlap; addresses between them are not listed (exclusions are already applied). values
 * is valid during the callback only. */
struct dataset_stretch {
	struct netaddr first;
	struct netaddr last;
	const struct dataset_value *values;
	size_t value_count;
};
typedef bool (*dataset_walk_fn)(void *context, const struct dataset_stretch *stretch);
/* dataset_walk - call fn for every listed stretch of set, in address order (zone transfers
 * write a dataset out this way); stops and returns false when fn returns false. */
bool dataset_walk(const struct dataset *set, dataset_walk_fn fn, void *context);

#endif
