/* relay_policy.h - who may send mail to which recipient: local, forward, outbound or refused.
 * Built once from the configuration; decisions are pure except one stat() of the Maildir
 * tree when no users file is configured. Never relays for an unauthorised client. */
#ifndef RELAYGUARD_SMTPD_RELAY_POLICY_H
#define RELAYGUARD_SMTPD_RELAY_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/netaddr.h"
#include "smtpd/address.h"
#include "smtpd/config.h"

/* Room for any reply relay_policy_decide writes (one line, no CRLF). */
#define RELAY_REPLY_MAX 512

enum relay_decision {
	RELAY_LOCAL,		/* a local domain: deliver to the Maildir */
	RELAY_FORWARD,		/* a relay domain: pass to next_hop (shielded MTA) */
	RELAY_OUTBOUND,		/* authorised client to anywhere: next_hop or MX */
	RELAY_DENIED,		/* 554 5.7.1 relay access denied */
	RELAY_ROUTED,		/* 553 5.7.1 routed local part (% ! @ quoted) for our domain */
	RELAY_UNKNOWN_USER,	/* 550 5.1.1 no such user (no backscatter) */
	RELAY_NO_DOMAIN,	/* 553 5.1.3: recipient without a domain (postmaster excepted) */
};

struct relay_policy;

/* relay_policy_new - built once from the config + our listening addresses (concrete ones:
 * 0.0.0.0 and :: are ignored). Loads the users file when config->users is set; NULL (and a
 * log_error line) when it cannot be read. Defence in depth: relay_clients prefixes shorter
 * than /8 (IPv4) or /32 (IPv6) and catch-all relay domains are ignored with a log_warn. */
struct relay_policy *relay_policy_new(const struct smtpd_config *config,
    const struct netaddr *own_addresses, size_t own_count);
void relay_policy_free(struct relay_policy *policy);

struct relay_client {
	struct netaddr address;
	bool authenticated;
};

/* relay_policy_decide - the heart: domains compare case-insensitively, trailing dot removed;
 * an address literal is ours only if it is one of our own listening addresses; unknown local
 * users (users file, else the Maildir tree) are refused at RCPT. reply gets the full SMTP
 * reply line to send ("554 5.7.1 <u@x>: relay access denied"), or "250 2.1.5 <u@x>: ok".
 * Order: no domain -> postmaster@hostname is local, else NO_DOMAIN; our domain (local,
 * relay, or our own literal) with % ! @ or quotes in the local part -> ROUTED (unless
 * allow_routed_local_parts); local -> LOCAL or UNKNOWN_USER (postmaster always exists);
 * relay -> FORWARD; anything else -> OUTBOUND for an authorised client, else DENIED. */
enum relay_decision relay_policy_decide(const struct relay_policy *policy,
    const struct relay_client *client, const struct smtp_mailbox *recipient,
    char *reply, size_t reply_size);

/* relay_policy_recipient_address - the address to put in the queue for a recipient that got
 * decision: "postmaster" alone -> "postmaster@HOSTNAME"; our own address literal ->
 * "local@HOSTNAME"; domain lower-cased without a trailing dot; for RELAY_LOCAL the local
 * part is lower-cased too, so Maildir delivery goes to MAILDIR/DOMAIN/LOCAL as written here.
 * Returns the length or -1 (does not fit). */
int relay_policy_recipient_address(const struct relay_policy *policy,
    const struct smtp_mailbox *recipient, enum relay_decision decision, char *out,
    size_t out_size);

/* relay_decision_name - "LOCAL", "FORWARD", ... for logs and golden files. */
const char *relay_decision_name(enum relay_decision decision);
/* relay_decision_accepts - true for LOCAL, FORWARD and OUTBOUND. */
bool relay_decision_accepts(enum relay_decision decision);

#endif
