/* hostport.h - parse a command-line target or server string: name, address literal, port.
 * Pure: no resolver, no I/O; callers decide what a name means (MX or host). */
#ifndef RELAYGUARD_CORE_HOSTPORT_H
#define RELAYGUARD_CORE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"

/* Room for the longest DNS name in text form (253 octets) and the NUL, rounded up. */
#define HOSTPORT_HOST_MAX 256
/* Longest DNS name (RFC 1035 2.3.4, text form without the trailing dot). */
#define HOSTPORT_NAME_MAX 253
/* Longest DNS label (RFC 1035 2.3.4). */
#define HOSTPORT_LABEL_MAX 63

struct hostport {
	/* name (lower-cased, trailing dot removed) or address text without brackets */
	char host[HOSTPORT_HOST_MAX];
	uint16_t port;			/* 0 when none was given */
	bool is_address;		/* host is an IP address literal */
	struct netaddr address;		/* valid when is_address */
};

/* hostport_parse - "host", "host:port", "192.0.2.1", "192.0.2.1:25", "2001:db8::1" (bare IPv6,
 * no port possible), "[2001:db8::1]", "[2001:db8::1]:2525", "[::1]:2525". Rejects empty
 * strings, ports outside 1..65535, junk, names that are not valid DNS names, and writes a
 * precise message into err ("bad port '99999' in 'x:99999'"). err may be NULL. */
bool hostport_parse(const char *text, struct hostport *out, char *err, size_t err_size);

/* hostport_name_valid - true for a DNS host name (letters, digits, hyphens; labels of 1..63
 * octets not starting or ending with a hyphen; 253 octets at most; one trailing dot allowed;
 * the last label not all digits). On false, writes the reason into err (may be NULL). */
bool hostport_name_valid(const char *name, size_t length, char *err, size_t err_size);

#endif
