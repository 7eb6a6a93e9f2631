/* list_import.c - the rbldnsd data-line parser of `relayguard list import`: bytes in, the
 * listed prefixes out. Pure (no I/O, no globals); bad lines are reported, never guessed. */
#include "list/list_import.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Longest address token read from a line ("ffff:...:ffff/128" and a little). */
#define TOKEN_MAX 64
#define OCTETS 4
#define OCTET_MAX 255
#define IPV4_BITS 32
#define IPV6_BITS 128
/* ip6tset lines name a /64 as its first four groups. */
#define IP6TSET_LENGTH 64
#define IP6TSET_COLONS 3

/* import_prefix4 - the prefix of host-order address and length */
static struct netprefix
import_prefix4(uint32_t address, unsigned length)
{
	struct netprefix prefix = { .address = { .family = AF_INET }, .length = length };

	prefix.address.bytes[0] = (uint8_t)(address >> 24);
	prefix.address.bytes[1] = (uint8_t)(address >> 16);
	prefix.address.bytes[2] = (uint8_t)(address >> 8);
	prefix.address.bytes[3] = (uint8_t)address;
	return prefix;
}

/* list_import_range - the fewest CIDRs that cover first..last exactly */
size_t
list_import_range(uint32_t first, uint32_t last, struct netprefix *out, size_t max)
{
	size_t count = 0;
	uint64_t at = first;

	if (first > last)
		return 0;
	while (at <= last && count < max) {
		unsigned size = 0;	/* host bits of the largest block that starts at `at` */
		while (size < IPV4_BITS && (at & ((1ull << (size + 1)) - 1)) == 0 &&
		    at + (1ull << (size + 1)) - 1 <= last)
			size++;
		out[count++] = import_prefix4((uint32_t)at, IPV4_BITS - size);
		at += 1ull << size;
	}
	return count;
}

/* import_octets - "a", "a.b", "a.b.c" or "a.b.c.d" of decimal octets; the count, 0 when the
 * text is not that */
static unsigned
import_octets(const char *text, size_t length, unsigned octets[OCTETS])
{
	unsigned count = 0;
	size_t i = 0;

	while (i < length) {
		unsigned value = 0;
		size_t digits = 0;
		if (count == OCTETS)
			return 0;
		while (i < length && isdigit((unsigned char)text[i]) && digits < 4) {
			value = value * 10 + (unsigned)(text[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || value > OCTET_MAX)
			return 0;
		octets[count++] = value;
		if (i == length)
			break;
		if (text[i] != '.' || i + 1 == length)
			return 0;
		i++;
	}
	return count;
}

/* import_join - host-order address of count octets padded with `pad` */
static uint32_t
import_join(const unsigned octets[OCTETS], unsigned count, unsigned pad)
{
	uint32_t address = 0;

	for (unsigned i = 0; i < OCTETS; i++)
		address = address << 8 | (i < count ? octets[i] : pad);
	return address;
}

/* import_ipv4 - an ip4set address, partial address, CIDR or range into out */
static bool
import_ipv4(const char *token, size_t length, struct list_import_line *out)
{
	unsigned octets[OCTETS];
	const char *slash = memchr(token, '/', length);
	const char *dash = memchr(token, '-', length);
	size_t head = slash != NULL ? (size_t)(slash - token) : dash != NULL ?
	    (size_t)(dash - token) : length;
	unsigned count = import_octets(token, head, octets);

	if (count == 0 || (slash != NULL && dash != NULL))
		return false;
	uint32_t first = import_join(octets, count, 0);
	if (slash != NULL) {
		unsigned prefix_length = 0;
		size_t digits = 0;
		for (const char *p = slash + 1; p < token + length; p++, digits++) {
			if (!isdigit((unsigned char)*p) || digits >= 2)
				return false;
			prefix_length = prefix_length * 10 + (unsigned)(*p - '0');
		}
		if (digits == 0 || prefix_length > IPV4_BITS)
			return false;
		uint32_t mask = prefix_length == 0 ? 0 : ~0u << (IPV4_BITS - prefix_length);
		out->prefixes[0] = import_prefix4(first & mask, prefix_length);
		out->prefix_count = 1;
		return true;
	}
	if (dash == NULL) {
		out->prefixes[0] = import_prefix4(first, count * 8);
		out->prefix_count = 1;
		return true;
	}
	/* "a.b.c.d-e.f.g.h", or "a.b.c.d-N" / "a.b-N": N ends the last octet written */
	unsigned last_octets[OCTETS];
	const char *tail = dash + 1;
	size_t tail_length = length - (size_t)(tail - token);
	unsigned tail_count = import_octets(tail, tail_length, last_octets);
	uint32_t last;
	if (tail_count == OCTETS) {
		last = import_join(last_octets, OCTETS, 0);
	} else if (tail_count == 1) {
		octets[count - 1] = last_octets[0];
		last = import_join(octets, count, OCTET_MAX);
	} else {
		return false;
	}
	if (last < first)
		return false;
	out->prefix_count = list_import_range(first, last, out->prefixes,
	    LIST_IMPORT_PREFIXES_MAX);
	return out->prefix_count > 0;
}

/* import_ipv6 - an ip6trie address or prefix, or an ip6tset /64 of four groups */
static bool
import_ipv6(const char *token, size_t length, struct list_import_line *out)
{
	char text[TOKEN_MAX];
	size_t colons = 0;

	if (length + 3 > sizeof(text))
		return false;
	memcpy(text, token, length);
	text[length] = '\0';
	if (netprefix_parse(text, &out->prefixes[0]) &&
	    out->prefixes[0].address.family == AF_INET6) {
		out->prefix_count = 1;
		return true;
	}
	for (size_t i = 0; i < length; i++)
		colons += text[i] == ':';
	if (colons != IP6TSET_COLONS || strstr(text, "::") != NULL || strchr(text, '/') != NULL)
		return false;
	memcpy(text + length, "::", 3);
	if (!netaddr_parse(text, &out->prefixes[0].address))
		return false;
	out->prefixes[0].length = IP6TSET_LENGTH;
	out->prefix_count = 1;
	return true;
}

/* import_value - ":A:TXT", ":A", or a TXT after the address */
static bool
import_value(const char *text, size_t length, struct list_import_line *out)
{
	while (length > 0 && isspace((unsigned char)text[length - 1]))
		length--;
	if (length == 0)
		return true;
	if (text[0] != ':') {
		snprintf(out->txt, sizeof(out->txt), "%.*s", (int)length, text);
		return true;
	}
	const char *end = memchr(text + 1, ':', length - 1);
	size_t a_length = end != NULL ? (size_t)(end - text - 1) : length - 1;
	unsigned octets[OCTETS];
	unsigned count = import_octets(text + 1, a_length, octets);
	if (count == OCTETS && octets[0] == 127 && octets[1] == 0 && octets[2] == 0)
		out->code = octets[3];
	else if (count == 1)
		out->code = octets[0];
	else if (a_length != 0)
		return false;
	if (end != NULL)
		snprintf(out->txt, sizeof(out->txt), "%.*s", (int)(length - (size_t)(end + 1 - text)),
		    end + 1);
	return true;
}

/* list_import_parse - one rbldnsd data line into its listed prefixes */
void
list_import_parse(const char *line, size_t length, struct list_import_line *out)
{
	size_t start = 0;

	memset(out, 0, sizeof(*out));
	while (start < length && isspace((unsigned char)line[start]))
		start++;
	if (start == length || line[start] == '#' || line[start] == ';' || line[start] == ':' ||
	    line[start] == '$') {
		out->kind = LIST_IMPORT_NOTHING;
		return;
	}
	if (line[start] == '!') {
		out->kind = LIST_IMPORT_EXCLUSION;
		return;
	}
	size_t end = start;
	while (end < length && !isspace((unsigned char)line[end]))
		end++;
	const char *token = line + start;
	size_t token_length = end - start;
	/* An IPv4 entry may run into its value ("192.0.2.1:127.0.0.2:text"). */
	const char *colon = memchr(token, ':', token_length);
	const char *dot = memchr(token, '.', token_length);
	bool ipv4 = colon == NULL || (dot != NULL && dot < colon);
	if (ipv4 && colon != NULL) {
		end = start + (size_t)(colon - token);
		token_length = end - start;
	}
	if (token_length >= TOKEN_MAX ||
	    !(ipv4 ? import_ipv4(token, token_length, out) : import_ipv6(token, token_length,
	    out))) {
		out->kind = LIST_IMPORT_ERROR;
		out->error = "not an address, prefix or range";
		return;
	}
	while (end < length && isspace((unsigned char)line[end]) && line[end] != ':')
		end++;
	if (!import_value(line + end, length - end, out)) {
		out->kind = LIST_IMPORT_ERROR;
		out->prefix_count = 0;
		out->error = "bad :A:TXT value";
		return;
	}
	out->kind = LIST_IMPORT_ENTRY;
}
