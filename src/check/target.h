/* target.h - expand a command-line target (address, host:port, mail domain) into concrete
 * (address, port) targets through the resolver: MX, then A and AAAA. Never connects. */
#ifndef RELAYGUARD_CHECK_TARGET_H
#define RELAYGUARD_CHECK_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hostport.h"
#include "core/netaddr.h"
#include "core/resolver.h"

/* Room for the argument as typed: a host and a ":65535" port, or "[v6]:port". */
#define TARGET_INPUT_MAX (HOSTPORT_HOST_MAX + 16)
/* Room for the message given to target_done_fn. */
#define TARGET_MESSAGE_MAX 512

struct check_target {
	char input[TARGET_INPUT_MAX];		/* the argument as typed */
	/* the host name connected to ("" for a literal input) */
	char host[HOSTPORT_HOST_MAX];
	/* the domain whose MX this came from ("" if none) */
	char mail_domain[HOSTPORT_HOST_MAX];
	char mx_host[HOSTPORT_HOST_MAX];	/* MX host name ("" if not from MX) */
	unsigned mx_preference;
	bool from_mx;
	struct netaddr address;
	uint16_t port;
};

enum target_expand_status {
	TARGET_EXPAND_OK,
	TARGET_EXPAND_NULL_MX,		/* the domain publishes "MX 0 ." (RFC 7505) */
	TARGET_EXPAND_NO_ADDRESS,	/* names found, but no A or AAAA anywhere */
	TARGET_EXPAND_NXDOMAIN,		/* the name does not exist */
	TARGET_EXPAND_DNS_FAILURE,	/* server failure or timeout, nothing found */
	TARGET_EXPAND_BAD_SYNTAX,	/* not an address, host:port or DNS name */
};

/* found: one concrete target; the struct lives until the callback returns. */
typedef void (*target_found_fn)(void *arg, const struct check_target *target);
/* done is called exactly once per input after all found() calls, with a status and a
 * human-readable message ("null MX (RFC 7505): example.net accepts no mail"). */
typedef void (*target_done_fn)(void *arg, const char *input, enum target_expand_status status,
    const char *message);

/* target_expand - start expanding input; every callback runs later, from the resolver's
 * event loop (never from inside target_expand). Address literal: one target. "host:port":
 * the host's A then AAAA (a port means a host, no MX). Bare name: its MX hosts in
 * preference order, each A then AAAA; with no MX (NODATA) the name's own A/AAAA (implicit
 * MX, RFC 5321 5.1). Duplicate addresses are reported once. Status OK when at least one
 * target was found, even if some lookups failed (the message says which). Each expansion
 * holds its own heap state, freed after done(); thousands may run at once. resolver_free
 * ends every pending expansion from inside it: done() with TARGET_EXPAND_DNS_FAILURE
 * ("...: cancelled (resolver shut down)"; bad syntax stays TARGET_EXPAND_BAD_SYNTAX) and
 * no found() calls. */
void target_expand(struct resolver *resolver, const char *input, uint16_t default_port,
    target_found_fn found, target_done_fn done, void *arg);

/* "ok", "null_mx", "no_address", "nxdomain", "dns_failure", "bad_syntax" */
const char *target_expand_status_name(enum target_expand_status status);

#endif
