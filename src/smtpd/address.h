/* address.h - parse an SMTP Reverse-path / Forward-path ("<...>") into a struct smtp_mailbox.
 * Pure: bytes in, struct or error out; no I/O, no globals. Called by the session for MAIL and
 * RCPT and by the relay policy's tests; fuzzed by tests/fuzz/fuzz_smtp_path.c. */
#ifndef RELAYGUARD_SMTPD_ADDRESS_H
#define RELAYGUARD_SMTPD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/netaddr.h"

struct smtp_mailbox {
	bool null;			/* "<>" */
	char local[256];		/* local part as written, quotes removed, escapes resolved */
	bool local_quoted;		/* it was written as a Quoted-string */
	char domain[256];		/* as written (case kept), one trailing dot removed;
					   "" when the path had no "@domain" (see below);
					   an address literal keeps its brackets: "[192.0.2.1]" */
	bool domain_literal;
	struct netaddr literal;		/* valid when domain_literal */
	bool had_source_route;		/* "@a,@b:" was present and stripped (RFC 5321 4.1.2) */
};

enum address_status {
	ADDRESS_OK,
	ADDRESS_SYNTAX,
	ADDRESS_TOO_LONG,
};

/* smtp_path_parse - "<...>" path per RFC 5321 4.1.2 strictly (Reverse-path / Forward-path);
 * *rest points after '>' (the ESMTP parameters). allow_null for MAIL.
 *  - text must start with '<' (callers skip any blanks after "FROM:"/"TO:" themselves);
 *  - a source route "@a.example,@b.example:" is checked (At-domain = "@" Domain, so address
 *    literals are refused there) and stripped; had_source_route says it was there;
 *  - Local-part is a Dot-string or a Quoted-string (ASCII only: no SMTPUTF8);
 *  - the domain is a Domain (one trailing dot accepted and removed) or an IPv4/IPv6
 *    address literal; General-address-literals are refused (ADDRESS_SYNTAX);
 *  - a mailbox WITHOUT "@domain" (e.g. "<postmaster>", "<u>", "<\"u@v\">") is returned as
 *    ADDRESS_OK with domain[0] == '\0': callers MUST check domain[0] (RCPT: the relay policy
 *    does; MAIL: the session decides);
 *  - ADDRESS_TOO_LONG: path over SMTP_PATH_MAX (256) octets with brackets, local part over
 *    64 octets as written, or domain over 255 octets (RFC 5321 4.5.3.1).
 * *rest is set only on ADDRESS_OK. */
enum address_status smtp_path_parse(const char *text, size_t length, bool allow_null,
    struct smtp_mailbox *out, const char **rest);

/* smtp_mailbox_format - the mailbox as it would be written in a path, without the angle
 * brackets and without any source route: local part quoted when it was quoted or needs it,
 * "@" and the domain as stored; "" for the null path, just the local part when there is no
 * domain. Returns the length or -1 when it does not fit (out is then ""). Never writes CR
 * or LF. */
int smtp_mailbox_format(const struct smtp_mailbox *mailbox, char *out, size_t out_size);

#endif
