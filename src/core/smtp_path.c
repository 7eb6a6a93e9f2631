/* smtp_path.c - RFC 5321 mailbox, path and address-literal writers, domain syntax check.
 * Called by the battery to build MAIL/RCPT arguments; never emits CR, LF or NUL inside. */
#include "core/smtp_path.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#define SMTP_IPV6_TAG "IPv6:"
#define SMTP_IPV6_TAG_LENGTH (sizeof(SMTP_IPV6_TAG) - 1)
#define SMTP_ASCII_DELETE 0x7f

/* A bounded output buffer; once something does not fit, nothing more is written. */
struct smtp_writer {
	char *out;
	size_t size;
	size_t used;
	bool failed;
};

/* smtp_writer_start - begin writing into out (NUL-terminated at once when possible). */
static void
smtp_writer_start(struct smtp_writer *writer, char *out, size_t out_size)
{
	writer->out = out;
	writer->size = out_size;
	writer->used = 0;
	writer->failed = out_size == 0;
	if (out_size > 0)
		out[0] = '\0';
}

/* smtp_writer_put - append bytes, keeping room for the NUL. */
static void
smtp_writer_put(struct smtp_writer *writer, const char *bytes, size_t length)
{
	if (writer->failed)
		return;
	if (length >= writer->size - writer->used) {
		writer->failed = true;
		return;
	}
	memcpy(writer->out + writer->used, bytes, length);
	writer->used += length;
	writer->out[writer->used] = '\0';
}

/* smtp_writer_finish - the length written, or -1 (and an empty out) after any failure. */
static int
smtp_writer_finish(struct smtp_writer *writer)
{
	if (writer->failed || writer->used > (size_t)INT_MAX) {
		if (writer->size > 0)
			writer->out[0] = '\0';
		return -1;
	}
	return (int)writer->used;
}

/* smtp_is_atext - RFC 5322 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~" */
static bool
smtp_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* smtp_is_let_dig - RFC 5321 Let-dig: ALPHA / DIGIT */
static bool
smtp_is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* smtp_has_line_break - true if text holds CR or LF (which would end the command). */
static bool
smtp_has_line_break(const char *text)
{
	return strpbrk(text, "\r\n") != NULL;
}

bool
smtp_local_part_needs_quoting(const char *local, size_t length)
{
	bool atom_empty = true;

	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)local[i];
		if (c == '.') {
			if (atom_empty)
				return true;
			atom_empty = true;
		} else if (smtp_is_atext(c))
			atom_empty = false;
		else
			return true;
	}
	/* Empty, or a trailing dot. */
	return atom_empty;
}

int
smtp_quoted_string_write(char *out, size_t out_size, const char *local, size_t length)
{
	struct smtp_writer writer;

	smtp_writer_start(&writer, out, out_size);
	smtp_writer_put(&writer, "\"", 1);
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)local[i];
		if (c < ' ' || c == SMTP_ASCII_DELETE) {
			writer.failed = true;
			break;
		}
		if (c == '"' || c == '\\')
			smtp_writer_put(&writer, "\\", 1);
		smtp_writer_put(&writer, &local[i], 1);
	}
	smtp_writer_put(&writer, "\"", 1);
	return smtp_writer_finish(&writer);
}

int
smtp_mailbox_write(char *out, size_t out_size, const char *local, const char *domain)
{
	struct smtp_writer writer;
	size_t local_length;

	smtp_writer_start(&writer, out, out_size);
	if (local == NULL || (domain != NULL && smtp_has_line_break(domain))) {
		writer.failed = true;
		return smtp_writer_finish(&writer);
	}
	local_length = strlen(local);
	if (smtp_local_part_needs_quoting(local, local_length)) {
		int quoted = smtp_quoted_string_write(out, out_size, local, local_length);
		if (quoted < 0)
			return -1;
		writer.used = (size_t)quoted;
	} else
		smtp_writer_put(&writer, local, local_length);
	if (domain != NULL && domain[0] != '\0') {
		smtp_writer_put(&writer, "@", 1);
		smtp_writer_put(&writer, domain, strlen(domain));
	}
	return smtp_writer_finish(&writer);
}

int
smtp_address_literal_write(char *out, size_t out_size, const struct netaddr *address)
{
	struct smtp_writer writer;
	char text[NETADDR_TEXT_MAX];
	int length;

	smtp_writer_start(&writer, out, out_size);
	length = netaddr_format(address, text, sizeof(text));
	if (length < 0) {
		writer.failed = true;
		return smtp_writer_finish(&writer);
	}
	smtp_writer_put(&writer, "[", 1);
	if (address->family == AF_INET6)
		smtp_writer_put(&writer, SMTP_IPV6_TAG, SMTP_IPV6_TAG_LENGTH);
	smtp_writer_put(&writer, text, (size_t)length);
	smtp_writer_put(&writer, "]", 1);
	return smtp_writer_finish(&writer);
}

bool
smtp_address_literal_parse(const char *text, size_t length, struct netaddr *out)
{
	struct netaddr parsed;
	const char *inner;
	size_t inner_length;

	if (length < 2 || text[0] != '[' || text[length - 1] != ']')
		return false;
	inner = text + 1;
	inner_length = length - 2;
	if (inner_length > SMTP_IPV6_TAG_LENGTH &&
	    strncasecmp(inner, SMTP_IPV6_TAG, SMTP_IPV6_TAG_LENGTH) == 0) {
		if (!netaddr_parse_n(inner + SMTP_IPV6_TAG_LENGTH,
		    inner_length - SMTP_IPV6_TAG_LENGTH, &parsed) || parsed.family != AF_INET6)
			return false;
	} else if (!netaddr_parse_n(inner, inner_length, &parsed) || parsed.family != AF_INET)
		return false;
	*out = parsed;
	return true;
}

int
smtp_path_write(char *out, size_t out_size, const char *mailbox)
{
	struct smtp_writer writer;

	smtp_writer_start(&writer, out, out_size);
	if (mailbox != NULL && smtp_has_line_break(mailbox)) {
		writer.failed = true;
		return smtp_writer_finish(&writer);
	}
	smtp_writer_put(&writer, "<", 1);
	if (mailbox != NULL)
		smtp_writer_put(&writer, mailbox, strlen(mailbox));
	smtp_writer_put(&writer, ">", 1);
	return smtp_writer_finish(&writer);
}

bool
smtp_domain_is_valid(const char *domain, size_t length)
{
	size_t label_start = 0;

	if (length == 0 || length > SMTP_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= length; i++) {
		size_t label_length;

		if (i < length && domain[i] != '.') {
			unsigned char c = (unsigned char)domain[i];
			if (!smtp_is_let_dig(c) && c != '-')
				return false;
			continue;
		}
		/* domain[label_start .. i) is one sub-domain. */
		label_length = i - label_start;
		if (label_length == 0 || label_length > SMTP_DOMAIN_LABEL_MAX)
			return false;
		if (domain[label_start] == '-' || domain[i - 1] == '-')
			return false;
		label_start = i + 1;
	}
	return true;
}
