/* hostport.c - split "host", "host:port", "[v6]:port", bare IPv4/IPv6 into a struct hostport.
 * Called by check target expansion and resolver_new; pure: never resolves or logs. */
#include "core/hostport.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longest piece of untrusted input quoted back in an error message. */
#define HOSTPORT_QUOTE_MAX 80
/* Digits in the largest port, 65535. */
#define HOSTPORT_PORT_DIGITS_MAX 5
#define HOSTPORT_PORT_MAX 65535

/* hostport_quote - copy text into out for an error message: non-printable bytes become '?',
 * long text is cut with "..." (always NUL-terminated). */
static void
hostport_quote(const char *text, size_t length, char *out, size_t out_size)
{
	size_t used = 0;
	size_t limit = length;
	bool cut = false;

	if (out_size == 0)
		return;
	if (limit > HOSTPORT_QUOTE_MAX) {
		limit = HOSTPORT_QUOTE_MAX;
		cut = true;
	}
	for (size_t i = 0; i < limit && used + 1 < out_size; i++) {
		unsigned char c = (unsigned char)text[i];
		out[used++] = (c >= ' ' && c < 0x7f) ? (char)c : '?';
	}
	if (cut) {
		for (int i = 0; i < 3 && used + 1 < out_size; i++)
			out[used++] = '.';
	}
	out[used] = '\0';
}

/* hostport_error - format a message into err when the caller gave room for one. */
static bool __attribute__((format(printf, 3, 4)))
hostport_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return false;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return false;
}

/* hostport_parse_port - digits only, 1..65535; false for anything else. */
static bool
hostport_parse_port(const char *text, size_t length, uint16_t *out)
{
	unsigned long value = 0;

	if (length == 0 || length > HOSTPORT_PORT_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (unsigned long)(text[i] - '0');
	}
	if (value == 0 || value > HOSTPORT_PORT_MAX)
		return false;
	*out = (uint16_t)value;
	return true;
}

/* hostport_is_ldh - letter, digit or hyphen: the characters of a host name label. */
static bool
hostport_is_ldh(unsigned char c)
{
	return isascii(c) && (isalnum(c) || c == '-');
}

/* hostport_name_valid - check the host name syntax of RFC 1035 2.3.1 / RFC 1123 2.1. */
bool
hostport_name_valid(const char *name, size_t length, char *err, size_t err_size)
{
	char quoted[HOSTPORT_QUOTE_MAX + 4];
	size_t label_start = 0;
	bool last_label_numeric = true;

	hostport_quote(name, length, quoted, sizeof(quoted));
	if (length > 0 && name[length - 1] == '.')
		length--;
	if (length == 0)
		return hostport_error(err, err_size, "empty host name in '%s'", quoted);
	if (length > HOSTPORT_NAME_MAX)
		return hostport_error(err, err_size,
		    "host name longer than %d characters in '%s'", HOSTPORT_NAME_MAX, quoted);
	for (size_t i = 0; i <= length; i++) {
		if (i < length && name[i] != '.') {
			if (!hostport_is_ldh((unsigned char)name[i]))
				return hostport_error(err, err_size,
				    "bad character in host name '%s'", quoted);
			continue;
		}
		size_t label_length = i - label_start;
		if (label_length == 0)
			return hostport_error(err, err_size, "empty label in host name '%s'",
			    quoted);
		if (label_length > HOSTPORT_LABEL_MAX)
			return hostport_error(err, err_size,
			    "label longer than %d characters in host name '%s'",
			    HOSTPORT_LABEL_MAX, quoted);
		if (name[label_start] == '-' || name[i - 1] == '-')
			return hostport_error(err, err_size,
			    "label starts or ends with '-' in host name '%s'", quoted);
		last_label_numeric = true;
		for (size_t j = label_start; j < i; j++) {
			if (!isdigit((unsigned char)name[j]))
				last_label_numeric = false;
		}
		label_start = i + 1;
	}
	/* RFC 1123 2.1: a top-level label is never all digits, so "192.0.2.300" is a bad
	 * address, not a name to look up. */
	if (last_label_numeric)
		return hostport_error(err, err_size,
		    "'%s' is neither an IP address nor a host name", quoted);
	return true;
}

/* hostport_set_address - fill out with an address literal and its canonical text. */
static void
hostport_set_address(struct hostport *out, const struct netaddr *address, uint16_t port)
{
	out->is_address = true;
	out->address = *address;
	out->port = port;
	if (netaddr_format(address, out->host, sizeof(out->host)) < 0)
		out->host[0] = '\0';
}

/* hostport_set_name - fill out with a validated name: lower-cased, trailing dot removed. */
static void
hostport_set_name(struct hostport *out, const char *name, size_t length, uint16_t port)
{
	if (length > 0 && name[length - 1] == '.')
		length--;
	for (size_t i = 0; i < length; i++)
		out->host[i] = (char)tolower((unsigned char)name[i]);
	out->host[length] = '\0';
	out->is_address = false;
	out->port = port;
}

/* hostport_parse_bracketed - "[address]" or "[address]:port". */
static bool
hostport_parse_bracketed(const char *text, size_t length, struct hostport *out, char *err,
    size_t err_size)
{
	char quoted[HOSTPORT_QUOTE_MAX + 4];
	const char *close = memchr(text, ']', length);
	struct netaddr address;
	uint16_t port = 0;

	hostport_quote(text, length, quoted, sizeof(quoted));
	if (close == NULL)
		return hostport_error(err, err_size, "missing ']' in '%s'", quoted);
	size_t inner_length = (size_t)(close - text) - 1;
	if (inner_length == 0)
		return hostport_error(err, err_size, "empty address in '%s'", quoted);
	if (!netaddr_parse_n(text + 1, inner_length, &address)) {
		char inner[HOSTPORT_QUOTE_MAX + 4];
		hostport_quote(text + 1, inner_length, inner, sizeof(inner));
		return hostport_error(err, err_size, "bad IP address '%s' in '%s'", inner,
		    quoted);
	}
	const char *rest = close + 1;
	size_t rest_length = length - (size_t)(rest - text);
	if (rest_length > 0) {
		if (rest[0] != ':')
			return hostport_error(err, err_size, "junk after ']' in '%s'", quoted);
		if (!hostport_parse_port(rest + 1, rest_length - 1, &port)) {
			char bad[HOSTPORT_QUOTE_MAX + 4];
			hostport_quote(rest + 1, rest_length - 1, bad, sizeof(bad));
			return hostport_error(err, err_size, "bad port '%s' in '%s'", bad,
			    quoted);
		}
	}
	hostport_set_address(out, &address, port);
	return true;
}

/* hostport_parse - see hostport.h. */
bool
hostport_parse(const char *text, struct hostport *out, char *err, size_t err_size)
{
	char quoted[HOSTPORT_QUOTE_MAX + 4];
	struct netaddr address;
	uint16_t port = 0;

	memset(out, 0, sizeof(*out));
	if (err != NULL && err_size > 0)
		err[0] = '\0';
	if (text == NULL || text[0] == '\0')
		return hostport_error(err, err_size, "empty target");
	size_t length = strlen(text);
	hostport_quote(text, length, quoted, sizeof(quoted));
	if (text[0] == '[')
		return hostport_parse_bracketed(text, length, out, err, err_size);

	const char *colon = memchr(text, ':', length);
	if (colon != NULL && memchr(colon + 1, ':', length - (size_t)(colon - text) - 1) != NULL) {
		/* Two colons or more: a bare IPv6 address, which cannot carry a port. */
		if (!netaddr_parse_n(text, length, &address) || address.family != AF_INET6)
			return hostport_error(err, err_size,
			    "bad IPv6 address '%s' (write [address]:port for a port)", quoted);
		hostport_set_address(out, &address, 0);
		return true;
	}

	size_t host_length = length;
	if (colon != NULL) {
		host_length = (size_t)(colon - text);
		const char *port_text = colon + 1;
		size_t port_length = length - host_length - 1;
		if (!hostport_parse_port(port_text, port_length, &port)) {
			char bad[HOSTPORT_QUOTE_MAX + 4];
			hostport_quote(port_text, port_length, bad, sizeof(bad));
			return hostport_error(err, err_size, "bad port '%s' in '%s'", bad, quoted);
		}
		if (host_length == 0)
			return hostport_error(err, err_size, "empty host in '%s'", quoted);
	}
	if (netaddr_parse_n(text, host_length, &address)) {
		hostport_set_address(out, &address, port);
		return true;
	}
	if (!hostport_name_valid(text, host_length, err, err_size))
		return false;
	hostport_set_name(out, text, host_length, port);
	return true;
}
