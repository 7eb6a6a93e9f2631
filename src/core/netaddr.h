/* netaddr.h - IPv4/IPv6 addresses, prefixes and prefix sets (exclude lists, relay networks).
 * Pure value code: parsing and matching never touch the network or the resolver. */
#ifndef RELAYGUARD_CORE_NETADDR_H
#define RELAYGUARD_CORE_NETADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text netaddr_format() writes ("ffff:...:255.255.255.255") plus the NUL. */
#define NETADDR_TEXT_MAX 46
/* Longest text netprefix_format() writes: an address, "/128" and the NUL. */
#define NETPREFIX_TEXT_MAX (NETADDR_TEXT_MAX + 4)

/* An address; bytes beyond the family's width (4 for IPv4) are always zero. */
struct netaddr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t bytes[16];	/* network byte order; 4 used for IPv4 */
};

/* A prefix; host bits of address beyond length are always zero. */
struct netprefix {
	struct netaddr address;
	unsigned length;	/* 0..32 for IPv4, 0..128 for IPv6 */
};

struct netprefix_set {
	struct netprefix *items;
	size_t count;
	size_t capacity;
};

/* netaddr_parse - dotted quad or IPv6 text; no brackets, no port, no zone id. */
bool netaddr_parse(const char *text, struct netaddr *out);
/* netaddr_parse_n - same as netaddr_parse for text that is not NUL-terminated. */
bool netaddr_parse_n(const char *text, size_t length, struct netaddr *out);
/* netaddr_format - "192.0.2.1" / "2001:db8::1"; returns the length or -1 if out is too small. */
int netaddr_format(const struct netaddr *address, char *out, size_t out_size);
/* netaddr_equal - same family and same bytes (no unmapping: call netaddr_unmap first). */
bool netaddr_equal(const struct netaddr *a, const struct netaddr *b);
/* netaddr_is_v4_mapped - true for ::ffff:a.b.c.d */
bool netaddr_is_v4_mapped(const struct netaddr *address);
/* netaddr_unmap - turn ::ffff:a.b.c.d into AF_INET a.b.c.d (in place); others unchanged. */
void netaddr_unmap(struct netaddr *address);
/* netaddr_from_sockaddr - copy an AF_INET/AF_INET6 socket address (not unmapped);
 * false for any other family. */
bool netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out,
    uint16_t *port_out /* may be NULL */);
/* netaddr_to_sockaddr - fill out (zeroed first); returns its length, 0 for a bad family. */
socklen_t netaddr_to_sockaddr(const struct netaddr *address, uint16_t port,
    struct sockaddr_storage *out);
/* netaddr_is_loopback - 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104 */
bool netaddr_is_loopback(const struct netaddr *address);

/* netprefix_parse - "a.b.c.d/n", "v6/n", or a bare address (host prefix); host bits set
 * in the address are masked off ("192.0.2.77/24" -> 192.0.2.0/24). */
bool netprefix_parse(const char *text, struct netprefix *out);
/* netprefix_parse_n - same as netprefix_parse for text that is not NUL-terminated. */
bool netprefix_parse_n(const char *text, size_t length, struct netprefix *out);
/* netprefix_contains - true if address lies in prefix. IPv4-mapped addresses and
 * ::ffff:0:0/96-or-longer prefixes are unmapped first, so 192.0.2.1 matches both
 * 192.0.2.0/24 and ::ffff:192.0.2.0/120. Otherwise families must agree: an IPv4
 * address never matches a shorter IPv6 prefix such as ::/0 (fail closed). */
bool netprefix_contains(const struct netprefix *prefix, const struct netaddr *address);
/* netprefix_format - "192.0.2.0/24"; always with the length; returns length or -1. */
int netprefix_format(const struct netprefix *prefix, char *out, size_t out_size);

void netprefix_set_init(struct netprefix_set *set);
void netprefix_set_free(struct netprefix_set *set);
/* netprefix_set_add - append a copy of prefix (allocation failure is fatal). */
void netprefix_set_add(struct netprefix_set *set, const struct netprefix *prefix);
/* netprefix_set_find - the first prefix containing address, or NULL */
const struct netprefix *netprefix_set_find(const struct netprefix_set *set,
    const struct netaddr *address);
/* netprefix_set_load_file - one address or prefix per line, '#' comments and blank lines
 * allowed, surrounding whitespace ignored. On a bad line returns -1, leaves set as it
 * was and writes "FILE:LINE: bad address or prefix 'xxx'" into err (or
 * "FILE: <reason>" when the file cannot be read). Returns the number of prefixes added. */
int netprefix_set_load_file(struct netprefix_set *set, const char *path, char *err,
    size_t err_size);

#endif
