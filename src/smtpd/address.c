/* address.c - RFC 5321 4.1.2 path parser for MAIL FROM / RCPT TO, and its inverse.
 * Pure and bounded: never reads past text + length, never writes past the struct's arrays;
 * judging the mailbox (ours? relayed?) is relay_policy.c's job, not this file's. */
#include "smtpd/address.h"

#include <string.h>

#include "core/smtp_path.h"

/* A cursor over the input: lengths travel with the pointer. */
struct scan {
	const char *text;
	size_t length;
	size_t at;
};

/* scan_peek - the byte at the cursor, or -1 at the end. */
static int
scan_peek(const struct scan *scan)
{
	if (scan->at >= scan->length)
		return -1;
	return (unsigned char)scan->text[scan->at];
}

/* is_atext - RFC 5321 / RFC 5322 atext. */
static bool
is_atext(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c > 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* is_domain_byte - letters, digits, '-' and '.' (the alphabet of Domain). */
static bool
is_domain_byte(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.';
}

/* is_qtext - qtextSMTP: %d32-33 / %d35-91 / %d93-126. */
static bool
is_qtext(int c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

/* is_dcontent - %d33-90 / %d94-126 (inside an address literal). */
static bool
is_dcontent(int c)
{
	return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

/* scan_domain - a Domain at the cursor; one trailing dot is accepted when allow_trailing_dot
 * and left out of *out_length. */
static enum address_status
scan_domain(struct scan *scan, bool allow_trailing_dot, const char **out, size_t *out_length)
{
	size_t start = scan->at;

	while (is_domain_byte(scan_peek(scan)))
		scan->at++;
	const char *domain = scan->text + start;
	size_t length = scan->at - start;
	if (allow_trailing_dot && length > 1 && domain[length - 1] == '.' &&
	    domain[length - 2] != '.')
		length--;
	if (length > SMTP_DOMAIN_MAX)
		return ADDRESS_TOO_LONG;
	if (!smtp_domain_is_valid(domain, length))
		return ADDRESS_SYNTAX;
	*out = domain;
	*out_length = length;
	return ADDRESS_OK;
}

/* scan_source_route - A-d-l ":" (RFC 5321 4.1.2): checked, then forgotten. */
static enum address_status
scan_source_route(struct scan *scan)
{
	for (;;) {
		const char *domain;
		size_t length;
		enum address_status status;

		if (scan_peek(scan) != '@')
			return ADDRESS_SYNTAX;
		scan->at++;
		status = scan_domain(scan, false, &domain, &length);
		if (status != ADDRESS_OK)
			return status;
		if (scan_peek(scan) == ':') {
			scan->at++;
			return ADDRESS_OK;
		}
		if (scan_peek(scan) != ',')
			return ADDRESS_SYNTAX;
		scan->at++;
	}
}

/* scan_local_part - Dot-string or Quoted-string into out (quotes removed, escapes resolved). */
static enum address_status
scan_local_part(struct scan *scan, struct smtp_mailbox *out)
{
	size_t start = scan->at, written = 0;

	if (scan_peek(scan) == '"') {
		out->local_quoted = true;
		scan->at++;
		for (;;) {
			int c = scan_peek(scan);
			if (c == '"')
				break;
			if (c == '\\') {
				scan->at++;
				c = scan_peek(scan);
				if (c < 32 || c > 126)
					return ADDRESS_SYNTAX;
			} else if (!is_qtext(c)) {
				return ADDRESS_SYNTAX;
			}
			scan->at++;
			if (scan->at - start > SMTP_LOCAL_PART_MAX)
				return ADDRESS_TOO_LONG;
			out->local[written++] = (char)c;
		}
		scan->at++;
		if (scan->at - start > SMTP_LOCAL_PART_MAX)
			return ADDRESS_TOO_LONG;
		out->local[written] = '\0';
		return ADDRESS_OK;
	}
	bool after_dot = true;
	for (;;) {
		int c = scan_peek(scan);
		if (c == '.') {
			if (after_dot)
				return ADDRESS_SYNTAX;
			after_dot = true;
		} else if (is_atext(c)) {
			after_dot = false;
		} else {
			break;
		}
		scan->at++;
		if (scan->at - start > SMTP_LOCAL_PART_MAX)
			return ADDRESS_TOO_LONG;
		out->local[written++] = (char)c;
	}
	if (after_dot)		/* empty, or a trailing dot */
		return ADDRESS_SYNTAX;
	out->local[written] = '\0';
	return ADDRESS_OK;
}

/* scan_address_literal - "[" ... "]" holding an IPv4 or IPv6 address literal. */
static enum address_status
scan_address_literal(struct scan *scan, struct smtp_mailbox *out)
{
	size_t start = scan->at;

	scan->at++;
	while (is_dcontent(scan_peek(scan)))
		scan->at++;
	if (scan_peek(scan) != ']')
		return ADDRESS_SYNTAX;
	scan->at++;
	size_t length = scan->at - start;
	if (length > SMTP_DOMAIN_MAX)
		return ADDRESS_TOO_LONG;
	if (!smtp_address_literal_parse(scan->text + start, length, &out->literal))
		return ADDRESS_SYNTAX;
	memcpy(out->domain, scan->text + start, length);
	out->domain[length] = '\0';
	out->domain_literal = true;
	return ADDRESS_OK;
}

/* smtp_path_parse - "<...>" per RFC 5321 4.1.2; see address.h for the exact rules. */
enum address_status
smtp_path_parse(const char *text, size_t length, bool allow_null, struct smtp_mailbox *out,
    const char **rest)
{
	struct scan scan = { text, length, 0 };
	enum address_status status;

	memset(out, 0, sizeof(*out));
	if (scan_peek(&scan) != '<')
		return ADDRESS_SYNTAX;
	scan.at++;
	if (scan_peek(&scan) == '>') {
		if (!allow_null)
			return ADDRESS_SYNTAX;
		out->null = true;
		*rest = text + scan.at + 1;
		return ADDRESS_OK;
	}
	if (scan_peek(&scan) == '@') {
		status = scan_source_route(&scan);
		if (status != ADDRESS_OK)
			return status;
		out->had_source_route = true;
	}
	status = scan_local_part(&scan, out);
	if (status != ADDRESS_OK)
		return status;
	if (scan_peek(&scan) == '@') {
		scan.at++;
		if (scan_peek(&scan) == '[') {
			status = scan_address_literal(&scan, out);
		} else {
			const char *domain;
			size_t domain_length;
			status = scan_domain(&scan, true, &domain, &domain_length);
			if (status == ADDRESS_OK) {
				memcpy(out->domain, domain, domain_length);
				out->domain[domain_length] = '\0';
			}
		}
		if (status != ADDRESS_OK)
			return status;
	}
	if (scan_peek(&scan) != '>')
		return ADDRESS_SYNTAX;
	scan.at++;
	if (scan.at > SMTP_PATH_MAX)
		return ADDRESS_TOO_LONG;
	*rest = text + scan.at;
	return ADDRESS_OK;
}

/* smtp_mailbox_format - local@domain without brackets or source route. */
int
smtp_mailbox_format(const struct smtp_mailbox *mailbox, char *out, size_t out_size)
{
	int length;

	if (out_size == 0)
		return -1;
	if (mailbox->null) {
		out[0] = '\0';
		return 0;
	}
	if (!mailbox->local_quoted) {
		length = smtp_mailbox_write(out, out_size, mailbox->local,
		    mailbox->domain[0] != '\0' ? mailbox->domain : NULL);
		if (length < 0)
			out[0] = '\0';
		return length;
	}
	/* keep the quotes that were written: a reply must show what the client sent */
	length = smtp_quoted_string_write(out, out_size, mailbox->local, strlen(mailbox->local));
	if (length < 0) {
		out[0] = '\0';
		return -1;
	}
	if (mailbox->domain[0] == '\0')
		return length;
	size_t domain_length = strlen(mailbox->domain);
	if ((size_t)length + 1 + domain_length >= out_size) {
		out[0] = '\0';
		return -1;
	}
	out[length] = '@';
	memcpy(out + length + 1, mailbox->domain, domain_length + 1);
	return length + 1 + (int)domain_length;
}
