/* netaddr.c - parse, format and match IPv4/IPv6 addresses and prefixes; load prefix files.
 * Called by check (--exclude) and the daemons (client networks); never resolves names. */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define NETADDR_V4_BYTES 4
#define NETADDR_V6_BYTES 16
#define NETADDR_V4_BITS 32
#define NETADDR_V6_BITS 128
/* ::ffff:0:0/96 holds the IPv4-mapped addresses (RFC 4291 2.5.5.2). */
#define NETADDR_MAPPED_PREFIX_BYTES 12
#define NETADDR_MAPPED_PREFIX_BITS 96
#define NETPREFIX_LENGTH_DIGITS_MAX 3
/* Lines of a prefix file longer than this are bad lines, not silently cut. */
#define NETPREFIX_FILE_LINE_MAX 512
/* How much of a bad line is quoted back in the error message. */
#define NETPREFIX_ERROR_QUOTE_MAX 64
#define NETPREFIX_SET_INITIAL_CAPACITY 16

static const uint8_t netaddr_mapped_head[NETADDR_MAPPED_PREFIX_BYTES] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* netaddr_width - number of address bytes used by the family (0 if unknown). */
static size_t
netaddr_width(int family)
{
	if (family == AF_INET)
		return NETADDR_V4_BYTES;
	if (family == AF_INET6)
		return NETADDR_V6_BYTES;
	return 0;
}

/* netaddr_bits - number of address bits of the family (0 if unknown). */
static unsigned
netaddr_bits(int family)
{
	return (unsigned)netaddr_width(family) * 8;
}

bool
netaddr_parse(const char *text, struct netaddr *out)
{
	return netaddr_parse_n(text, strlen(text), out);
}

bool
netaddr_parse_n(const char *text, size_t length, struct netaddr *out)
{
	char copy[NETADDR_TEXT_MAX];
	struct netaddr parsed;

	if (length == 0 || length >= sizeof(copy))
		return false;
	if (memchr(text, '\0', length) != NULL)
		return false;
	memcpy(copy, text, length);
	copy[length] = '\0';

	memset(&parsed, 0, sizeof(parsed));
	if (memchr(copy, ':', length) != NULL) {
		parsed.family = AF_INET6;
		if (inet_pton(AF_INET6, copy, parsed.bytes) != 1)
			return false;
	} else {
		parsed.family = AF_INET;
		if (inet_pton(AF_INET, copy, parsed.bytes) != 1)
			return false;
	}
	*out = parsed;
	return true;
}

int
netaddr_format(const struct netaddr *address, char *out, size_t out_size)
{
	char text[NETADDR_TEXT_MAX];
	size_t length;

	if (out_size > 0)
		out[0] = '\0';
	if (netaddr_width(address->family) == 0)
		return -1;
	if (inet_ntop(address->family, address->bytes, text, sizeof(text)) == NULL)
		return -1;
	length = strlen(text);
	if (length >= out_size)
		return -1;
	memcpy(out, text, length + 1);
	return (int)length;
}

bool
netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	size_t width = netaddr_width(a->family);

	if (a->family != b->family || width == 0)
		return false;
	return memcmp(a->bytes, b->bytes, width) == 0;
}

bool
netaddr_is_v4_mapped(const struct netaddr *address)
{
	return address->family == AF_INET6 &&
	    memcmp(address->bytes, netaddr_mapped_head, sizeof(netaddr_mapped_head)) == 0;
}

void
netaddr_unmap(struct netaddr *address)
{
	uint8_t v4[NETADDR_V4_BYTES];

	if (!netaddr_is_v4_mapped(address))
		return;
	memcpy(v4, address->bytes + NETADDR_MAPPED_PREFIX_BYTES, sizeof(v4));
	memset(address->bytes, 0, sizeof(address->bytes));
	memcpy(address->bytes, v4, sizeof(v4));
	address->family = AF_INET;
}

bool
netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out, uint16_t *port_out)
{
	struct netaddr parsed;
	uint16_t port;

	memset(&parsed, 0, sizeof(parsed));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		parsed.family = AF_INET;
		memcpy(parsed.bytes, &sin->sin_addr, NETADDR_V4_BYTES);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		parsed.family = AF_INET6;
		memcpy(parsed.bytes, &sin6->sin6_addr, NETADDR_V6_BYTES);
		port = ntohs(sin6->sin6_port);
	} else
		return false;
	*out = parsed;
	if (port_out != NULL)
		*port_out = port;
	return true;
}

socklen_t
netaddr_to_sockaddr(const struct netaddr *address, uint16_t port,
    struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (address->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, address->bytes, NETADDR_V4_BYTES);
		return sizeof(*sin);
	}
	if (address->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, address->bytes, NETADDR_V6_BYTES);
		return sizeof(*sin6);
	}
	return 0;
}

bool
netaddr_is_loopback(const struct netaddr *address)
{
	static const uint8_t v6_loopback[NETADDR_V6_BYTES] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	};
	struct netaddr unmapped = *address;

	netaddr_unmap(&unmapped);
	if (unmapped.family == AF_INET)
		return unmapped.bytes[0] == 127;
	if (unmapped.family == AF_INET6)
		return memcmp(unmapped.bytes, v6_loopback, sizeof(v6_loopback)) == 0;
	return false;
}

/* netaddr_mask - clear every bit of address beyond the first length bits. */
static void
netaddr_mask(struct netaddr *address, unsigned length)
{
	size_t width = netaddr_width(address->family);

	for (size_t i = 0; i < width; i++) {
		unsigned first_bit = (unsigned)i * 8;
		if (length >= first_bit + 8)
			continue;
		if (length <= first_bit)
			address->bytes[i] = 0;
		else
			address->bytes[i] &= (uint8_t)(0xff << (8 - (length - first_bit)));
	}
	for (size_t i = width; i < sizeof(address->bytes); i++)
		address->bytes[i] = 0;
}

/* netprefix_length_parse - decimal prefix length, 1 to 3 digits, at most max. */
static bool
netprefix_length_parse(const char *text, size_t length, unsigned max, unsigned *out)
{
	unsigned value = 0;

	if (length == 0 || length > NETPREFIX_LENGTH_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (unsigned)(text[i] - '0');
	}
	if (value > max)
		return false;
	*out = value;
	return true;
}

bool
netprefix_parse(const char *text, struct netprefix *out)
{
	return netprefix_parse_n(text, strlen(text), out);
}

bool
netprefix_parse_n(const char *text, size_t length, struct netprefix *out)
{
	struct netprefix parsed;
	const char *slash = memchr(text, '/', length);
	size_t address_length = slash != NULL ? (size_t)(slash - text) : length;

	memset(&parsed, 0, sizeof(parsed));
	if (!netaddr_parse_n(text, address_length, &parsed.address))
		return false;
	parsed.length = netaddr_bits(parsed.address.family);
	if (slash != NULL) {
		size_t digits = length - address_length - 1;
		if (!netprefix_length_parse(slash + 1, digits, parsed.length, &parsed.length))
			return false;
	}
	netaddr_mask(&parsed.address, parsed.length);
	*out = parsed;
	return true;
}

/* netprefix_unmap - turn a prefix inside ::ffff:0:0/96 into the IPv4 prefix it covers. */
static void
netprefix_unmap(struct netprefix *prefix)
{
	if (prefix->length < NETADDR_MAPPED_PREFIX_BITS ||
	    !netaddr_is_v4_mapped(&prefix->address))
		return;
	netaddr_unmap(&prefix->address);
	prefix->length -= NETADDR_MAPPED_PREFIX_BITS;
}

bool
netprefix_contains(const struct netprefix *prefix, const struct netaddr *address)
{
	struct netprefix wanted = *prefix;
	struct netaddr candidate = *address;

	netprefix_unmap(&wanted);
	netaddr_unmap(&candidate);
	if (wanted.address.family != candidate.family)
		return false;
	if (wanted.length > netaddr_bits(candidate.family))
		return false;
	netaddr_mask(&candidate, wanted.length);
	netaddr_mask(&wanted.address, wanted.length);
	return netaddr_equal(&wanted.address, &candidate);
}

int
netprefix_format(const struct netprefix *prefix, char *out, size_t out_size)
{
	int address_length = netaddr_format(&prefix->address, out, out_size);
	int total;

	if (address_length < 0)
		return -1;
	total = snprintf(out + address_length, out_size - (size_t)address_length, "/%u",
	    prefix->length);
	if (total < 0 || (size_t)total >= out_size - (size_t)address_length) {
		out[0] = '\0';
		return -1;
	}
	return address_length + total;
}

void
netprefix_set_init(struct netprefix_set *set)
{
	set->items = NULL;
	set->count = 0;
	set->capacity = 0;
}

void
netprefix_set_free(struct netprefix_set *set)
{
	free(set->items);
	netprefix_set_init(set);
}

void
netprefix_set_add(struct netprefix_set *set, const struct netprefix *prefix)
{
	if (set->count == set->capacity) {
		size_t capacity = set->capacity ? set->capacity * 2 : NETPREFIX_SET_INITIAL_CAPACITY;
		if (capacity > SIZE_MAX / sizeof(*set->items))
			fatal("event=netprefix_set_overflow count=%zu", set->count);
		set->items = xrealloc(set->items, capacity * sizeof(*set->items));
		set->capacity = capacity;
	}
	set->items[set->count++] = *prefix;
}

const struct netprefix *
netprefix_set_find(const struct netprefix_set *set, const struct netaddr *address)
{
	for (size_t i = 0; i < set->count; i++) {
		if (netprefix_contains(&set->items[i], address))
			return &set->items[i];
	}
	return NULL;
}

/* prefix_file_read_line - read one line into line (without the LF), keeping at most
 * line_size - 1 bytes; *overlong and *has_nul report what did not fit or is not text.
 * Returns false at end of file when nothing was read. */
static bool
prefix_file_read_line(FILE *file, char *line, size_t line_size, size_t *length,
    bool *overlong, bool *has_nul)
{
	int c;
	bool any = false;

	*length = 0;
	*overlong = false;
	*has_nul = false;
	while ((c = getc(file)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c == '\0')
			*has_nul = true;
		if (*length + 1 < line_size)
			line[(*length)++] = (char)c;
		else
			*overlong = true;
	}
	line[*length] = '\0';
	return any;
}

/* prefix_file_is_space - the whitespace a prefix file may have around its entries. */
static bool
prefix_file_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* prefix_file_quote - printable copy of a bad entry for an error message. */
static void
prefix_file_quote(const char *text, size_t length, char *out, size_t out_size)
{
	size_t used = 0;

	if (length > NETPREFIX_ERROR_QUOTE_MAX)
		length = NETPREFIX_ERROR_QUOTE_MAX;
	for (size_t i = 0; i < length && used + 1 < out_size; i++) {
		unsigned char c = (unsigned char)text[i];
		out[used++] = (c >= ' ' && c < 0x7f && c != '\'') ? (char)c : '?';
	}
	out[used] = '\0';
}

int
netprefix_set_load_file(struct netprefix_set *set, const char *path, char *err,
    size_t err_size)
{
	char line[NETPREFIX_FILE_LINE_MAX + 1];
	char quoted[NETPREFIX_ERROR_QUOTE_MAX + 1];
	size_t original_count = set->count;
	unsigned long line_number = 0;
	size_t length;
	bool overlong, has_nul;
	int added = 0;
	FILE *file;

	if (err_size > 0)
		err[0] = '\0';
	file = fopen(path, "r");
	if (file == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (prefix_file_read_line(file, line, sizeof(line), &length, &overlong, &has_nul)) {
		struct netprefix prefix;
		char *comment = has_nul ? NULL : memchr(line, '#', length);
		const char *start = line;
		const char *end;

		line_number++;
		if (comment != NULL)
			length = (size_t)(comment - line);
		end = line + length;
		while (start < end && prefix_file_is_space(*start))
			start++;
		while (end > start && prefix_file_is_space(end[-1]))
			end--;
		if (start == end && !has_nul && !overlong)
			continue;
		if (has_nul || overlong || added == INT_MAX ||
		    !netprefix_parse_n(start, (size_t)(end - start), &prefix)) {
			prefix_file_quote(start, (size_t)(end - start), quoted, sizeof(quoted));
			snprintf(err, err_size, "%s:%lu: bad address or prefix '%s'", path,
			    line_number, quoted);
			set->count = original_count;
			fclose(file);
			return -1;
		}
		netprefix_set_add(set, &prefix);
		added++;
	}
	if (ferror(file)) {
		snprintf(err, err_size, "%s: read error", path);
		set->count = original_count;
		fclose(file);
		return -1;
	}
	fclose(file);
	return added;
}
