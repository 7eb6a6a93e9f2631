/* smtp_path.h - write RFC 5321 mailboxes, paths and address literals; check domains.
 * Pure writers into caller buffers: they never produce CR or LF, so no command injection. */
#ifndef RELAYGUARD_CORE_SMTP_PATH_H
#define RELAYGUARD_CORE_SMTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/netaddr.h"

#define SMTP_LOCAL_PART_MAX 64		/* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255		/* RFC 5321 4.5.3.1.2 */
#define SMTP_DOMAIN_LABEL_MAX 63	/* RFC 1035 2.3.4 */
#define SMTP_PATH_MAX 256		/* RFC 5321 4.5.3.1.3, with the angle brackets */
/* "[IPv6:" + the longest IPv6 text + "]" and the NUL. */
#define SMTP_ADDRESS_LITERAL_MAX (NETADDR_TEXT_MAX + 7)

/* smtp_local_part_needs_quoting - true if local is not a valid RFC 5321 Dot-string
 * (empty, leading/trailing/double dot, or any byte that is not atext). */
bool smtp_local_part_needs_quoting(const char *local, size_t length);
/* smtp_quoted_string_write - write local as an RFC 5321 Quoted-string ("..." with \" and
 * \\ escaped); returns bytes written (excluding NUL) or -1 if it does not fit or contains
 * a byte that cannot be quoted (NUL, CR, LF or any other control byte 0x00-0x1f, 0x7f;
 * bytes >= 0x80 are passed through for SMTPUTF8). out is always NUL-terminated. */
int smtp_quoted_string_write(char *out, size_t out_size, const char *local, size_t length);
/* smtp_mailbox_write - write local@domain, quoting local when needed; domain is written as
 * given (a name, or an address literal made by smtp_address_literal_write). domain NULL or
 * "" -> just the (possibly quoted) local part. Returns length or -1 (does not fit, local
 * cannot be quoted, or domain holds CR or LF). */
int smtp_mailbox_write(char *out, size_t out_size, const char *local, const char *domain);
/* smtp_address_literal_write - "[192.0.2.1]" or "[IPv6:2001:db8::1]" from a struct netaddr;
 * returns length or -1. */
int smtp_address_literal_write(char *out, size_t out_size, const struct netaddr *address);
/* smtp_address_literal_parse - the reverse: "[192.0.2.1]" or "[IPv6:2001:db8::1]" (the
 * tag is case-insensitive); false for General-address-literals and anything else. */
bool smtp_address_literal_parse(const char *text, size_t length, struct netaddr *out);
/* smtp_path_write - "<...>" around mailbox text (mailbox NULL or "" gives "<>");
 * returns length or -1 (does not fit, or mailbox holds CR or LF). */
int smtp_path_write(char *out, size_t out_size, const char *mailbox);
/* smtp_domain_is_valid - RFC 5321 Domain (sub-domain labels: let-dig, ldh, <=63, total
 * <=255); no trailing dot, no address literal. */
bool smtp_domain_is_valid(const char *domain, size_t length);

#endif
