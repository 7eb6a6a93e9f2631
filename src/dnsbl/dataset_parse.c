/* dataset_parse.c - read rbldnsd data files (ip4set, ip4tset, ip4trie, ip6trie, ip6tset) into
 * a dataset builder with rbldnsd's syntax and meaning. A bad line is a warning, never fatal;
 * only an unreadable file fails the load. The line parsers do no I/O and keep no globals. */
/*
 * Checked against rbldnsd 1.0~20210120 (Debian) with dig on the same files: ranges in every
 * notation, exclusions, octet-level buckets, LPM, duplicates, defaults per file, $n, $=,
 * specials and the warnings (same lines). Deliberate differences:
 *  - a CR before the newline is dropped (rbldnsd keeps it: "192.0.2.1\r" is invalid there
 *    and the CR ends up in TXT);
 *  - a line over 64 KiB is skipped with a warning (rbldnsd parses the first part);
 *  - the last line without a newline is read without a warning (rbldnsd reads and warns);
 *  - gzip files are refused with an error (rbldnsd decompresses them);
 *  - $TIMESTAMP is ignored with a warning (rbldnsd refuses future data, expires old data);
 *  - the first 10 warnings of a load are logged, then a count (rbldnsd: 5);
 *  - $SOA/$NS names with backslash escapes are refused; there is no -e (host bits in a
 *    CIDR are always an error, rbldnsd's default);
 *  - TXT for an IPv4-mapped query writes the dotted quad even in ip6 datasets.
 */
#include "dnsbl/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "dnsbl/dataset_internal.h"

/* Longer lines are skipped with a warning (rbldnsd cuts them; we refuse to guess). */
#define DATASET_LINE_MAX 65536
/* Warnings logged per load; the rest are only counted (rbldnsd logs 5). */
#define DATASET_WARNINGS_LOGGED 10
#define DATASET_READ_CHUNK 65536
#define DATASET_MESSAGE_MAX 256
#define DATASET_NAME_QUOTE_MAX 256
#define DATASET_LABEL_MAX 63
/* A domain name of 255 wire bytes is at most 253 characters of text. */
#define DATASET_DOMAIN_TEXT_MAX 253
#define IP4_LOOPBACK_NET 0x7f000000u
#define IP6_BYTES 16
#define IP6_GROUP_BYTES 2
#define SECONDS_MINUTE 60u
#define SECONDS_HOUR 3600u
#define SECONDS_DAY 86400u
#define SECONDS_WEEK 604800u
/* gzip's magic: rbldnsd reads compressed files, we refuse them with a clear error. */
#define GZIP_MAGIC_0 0x1f
#define GZIP_MAGIC_1 0x8b

struct parse_state {
	enum dataset_type type;
	struct dataset_builder *builder;
	struct dataset_meta *meta;
	const char *name;		/* file name (or buffer name) for messages */
	size_t line_number;		/* restarts at 1 in every file, like rbldnsd */
	size_t warnings;
	char *line;			/* NUL-terminated copy of the current line */
	uint32_t default_a;		/* the ":A:TXT" default in scope */
	char *default_txt;
	bool tset_default_set;		/* ip4tset/ip6tset: the first default line wins */
	char *variables[DATASET_SUBST_COUNT];	/* $0..$9 and $=, first definition wins */
	uint32_t max_range;		/* $MAXRANGE4, 0 = none */
	bool ns_seen;			/* the first $NS line that names a server wins */
};

/* Results of a special ("$...") line. */
enum special_result {
	SPECIAL_OK,
	SPECIAL_INVALID,
};

/* is_space - rbldnsd's field separators */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* is_comment - rbldnsd's comment characters */
static bool
is_comment(char c)
{
	return c == '#' || c == ';';
}

/* is_digit - ASCII decimal digit */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* skip_space - the first character of s that is not a separator */
static char *
skip_space(char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* ends_entry - true if c may follow an address: end, separator, comment or value */
static bool
ends_entry(char c)
{
	return c == '\0' || is_space(c) || is_comment(c) || c == ':';
}

/* parse_warn - count a warning and log it with FILE:LINE (the first few only) */
static void
parse_warn(struct parse_state *state, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
parse_warn(struct parse_state *state, const char *fmt, ...)
{
	char message[DATASET_MESSAGE_MAX], name[DATASET_NAME_QUOTE_MAX];
	va_list ap;

	state->warnings++;
	if (state->warnings > DATASET_WARNINGS_LOGGED)
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_escape(state->name, strlen(state->name), name, sizeof(name));
	log_warn("event=dataset_warning where=%s:%zu type=%s problem=\"%s\"", name,
	    state->line_number, dataset_type_name(state->type), message);
}

/* ip4_mask - network mask of a prefix length (0..32), host order */
static uint32_t
ip4_mask(unsigned bits)
{
	return bits == 0 ? 0 : UINT32_MAX << (32 - bits);
}

/* parse_ip4_prefix - one to four dotted decimal octets ("127", "127.0.0", ...); returns the
 * bits given (8, 16, 24 or 32) with *address left-aligned, or -1. *next: where it stopped. */
static int
parse_ip4_prefix(char *s, uint32_t *address, char **next)
{
	uint32_t result = 0;
	int bits;

	for (bits = 8;; bits += 8) {
		unsigned octet;

		if (!is_digit(*s)) {
			*next = s;
			return -1;
		}
		octet = (unsigned)(*s++ - '0');
		while (is_digit(*s)) {
			octet = octet * 10 + (unsigned)(*s++ - '0');
			if (octet > 255) {
				*next = s - 1;
				return -1;
			}
		}
		result |= octet << (32 - bits);
		if (bits == 32 || *s != '.')
			break;
		s++;
	}
	*address = result;
	*next = s;
	return bits;
}

/* parse_mask_bits - the digits after "/" (0..32) */
static int
parse_mask_bits(char *s, char **next)
{
	int bits;

	if (!is_digit(*s)) {
		*next = s;
		return -1;
	}
	bits = *s++ - '0';
	while (is_digit(*s)) {
		bits = bits * 10 + (*s++ - '0');
		if (bits > 32) {
			*next = s - 1;
			return -1;
		}
	}
	*next = s;
	return bits;
}

/* parse_ip4_range - every ip4set notation: "a.b.c.d/n", "a.b.c" (a /24), "a.b/n",
 * "a-b" with prefixes of the same length, "a.b.c.d-e" (last octet only). Sets
 * [*first,*last] and returns the prefix length (32 for a dash range), or -1. */
static int
parse_ip4_range(char *s, uint32_t *first, uint32_t *last, char **next)
{
	uint32_t a, b;
	int bits = parse_ip4_prefix(s, &a, &s), last_bits;

	if (bits < 0) {
		*next = s;
		return -1;
	}
	if (*s == '-') {
		last_bits = parse_ip4_prefix(s + 1, &b, &s);
		*next = s;
		if (last_bits < 0)
			return -1;
		if (last_bits == 8) {
			/* "127.0.0.1-255": the number replaces the last octet given */
			b = (b >> (bits - 8)) | (a & ip4_mask((unsigned)bits - 8));
			last_bits = bits;
		} else if (last_bits != bits)
			return -1;
		if (last_bits != 32)
			b |= ~ip4_mask((unsigned)last_bits);
		if (a > b)
			return -1;
		*first = a;
		*last = b;
		return 32;
	}
	if (*s == '/') {
		bits = parse_mask_bits(s + 1, &s);
		if (bits < 0) {
			*next = s;
			return -1;
		}
	} else if (bits == 8) {
		/* a bare number is not an address; "127/8" is */
		*next = s;
		return -1;
	}
	*first = a;
	*last = a | ~ip4_mask((unsigned)bits);
	*next = s;
	return bits;
}

/* parse_ip4_cidr - ip4trie notation: "a.b.c.d/n" or a prefix of 2..4 octets */
static int
parse_ip4_cidr(char *s, uint32_t *address, char **next)
{
	int bits = parse_ip4_prefix(s, address, &s);

	if (bits < 0) {
		*next = s;
		return -1;
	}
	if (*s == '/')
		return parse_mask_bits(s + 1, next);
	*next = s;
	return bits == 8 ? -1 : bits;
}

/* parse_ip4_value - an A value like inet_aton: "2" is x.0.0.2, "1.2" is 1.0.0.2 */
static int
parse_ip4_value(char *s, uint32_t *address, char **next)
{
	int bits = parse_ip4_prefix(s, address, next);

	if (bits == 8)
		*address >>= 24;
	else if (bits == 16)
		*address = (*address & 0xff000000u) | ((*address >> 16) & 0xff);
	else if (bits == 24)
		*address = (*address & 0xffff0000u) | ((*address >> 8) & 0xff);
	return bits;
}

/* hex_value - value of a hex digit or -1 */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* parse_ip6_prefix - colon-separated groups; "::" anywhere. Returns 16 bits per group
 * given ("2001:db8:1:2" = 64) or 128 when "::" is used, or -1. No dotted quads. */
static int
parse_ip6_prefix(char *s, uint8_t bytes[IP6_BYTES], char **next)
{
	size_t filled = 0;
	int gap = -1, bits = -1;

	memset(bytes, 0, IP6_BYTES);
	if (s[0] == ':' && s[1] == ':') {
		gap = 0;
		s += 2;
	}
	for (;;) {
		unsigned value = 0;
		char *field = s;
		int digit;

		while ((digit = hex_value(*s)) >= 0) {
			value = value * 16 + (unsigned)digit;
			if (value > 0xffff)
				break;
			s++;
		}
		if (s == field || value > 0xffff)
			break;
		bytes[filled++] = (uint8_t)(value >> 8);
		bytes[filled++] = (uint8_t)value;
		if (*s != ':' || filled + IP6_GROUP_BYTES > IP6_BYTES) {
			bits = (int)filled * 8;
			break;
		}
		s++;
		if (gap < 0 && *s == ':') {
			gap = (int)filled;
			s++;
		}
	}
	if (gap >= 0) {
		size_t zeros = IP6_BYTES - filled;

		if (zeros == 0) {
			bits = -1;
		} else {
			memmove(bytes + gap + zeros, bytes + gap, filled - (size_t)gap);
			memset(bytes + gap, 0, zeros);
			bits = 128;
		}
	}
	*next = s;
	return bits;
}

/* parse_ip6_cidr - ip6trie notation: a prefix as above, optionally "/n" (0..128); a bare
 * single group is not accepted */
static int
parse_ip6_cidr(char *s, uint8_t bytes[IP6_BYTES], char **next)
{
	int bits = parse_ip6_prefix(s, bytes, &s);

	if (bits >= 0 && *s == '/') {
		s++;
		if (!is_digit(*s)) {
			bits = -1;
		} else {
			bits = *s++ - '0';
			while (is_digit(*s)) {
				bits = bits * 10 + (*s++ - '0');
				if (bits > 128) {
					bits = -1;
					break;
				}
			}
		}
	} else if (bits == 16)
		bits = -1;
	*next = s;
	return bits;
}

/* ip6_clear_host - zero the bits after length; returns true if any were set */
static bool
ip6_clear_host(uint8_t bytes[IP6_BYTES], unsigned length)
{
	bool had_host = false;
	size_t i;

	for (i = 0; i < IP6_BYTES; i++) {
		unsigned keep = length >= 8 * (i + 1) ? 8 : length > 8 * i ? length - 8 * (unsigned)i : 0;
		uint8_t mask = (uint8_t)(keep == 0 ? 0 : 0xff << (8 - keep));

		if ((bytes[i] & ~mask) != 0)
			had_host = true;
		bytes[i] &= mask;
	}
	return had_host;
}

/* parse_value - an entry's value: ":A:TXT", ":A:" (no TXT), ":A" (default TXT) or "TXT"
 * (default A). A may be "2" for 127.0.0.2. TXT longer than 255 bytes is cut (in place). */
static bool
parse_value(struct parse_state *state, char *s, uint32_t default_a, char *default_txt,
    uint32_t *a, char **txt)
{
	size_t length;

	if (*s == ':') {
		uint32_t address = 0;
		int bits = parse_ip4_value(s + 1, &address, &s);

		if (bits < 0 || address == 0) {
			parse_warn(state, "invalid A RR");
			return false;
		}
		if (bits == 8)
			address |= IP4_LOOPBACK_NET;
		s = skip_space(s);
		if (*s == ':') {
			s = skip_space(s + 1);
		} else if (*s != '\0') {
			parse_warn(state, "unrecognized value for an entry");
			return false;
		} else {
			*a = address;
			*txt = default_txt;
			return true;
		}
		*a = address;
	} else
		*a = default_a;
	length = strlen(s);
	if (length > DATASET_TXT_ENTRY_MAX) {
		parse_warn(state, "TXT RR truncated to %d bytes", DATASET_TXT_ENTRY_MAX);
		s[DATASET_TXT_ENTRY_MAX] = '\0';
	}
	*txt = s;
	return true;
}

/* set_default - a ":A:TXT" line: the default for the following entries; false (and a
 * warning) if the value is bad */
static bool
set_default(struct parse_state *state, char *s)
{
	uint32_t a;
	char *txt;

	if (!parse_value(state, s, DATASET_DEFAULT_A, NULL, &a, &txt))
		return false;
	free(state->default_txt);
	state->default_txt = txt == NULL || txt[0] == '\0' ? NULL : xstrdup(txt);
	state->default_a = a;
	return true;
}

/* entry_value - the value after an address: none or a comment means the default */
static bool
entry_value(struct parse_state *state, char *s, uint32_t *a, char **txt)
{
	s = skip_space(s);
	if (*s == '\0' || is_comment(*s)) {
		*a = state->default_a;
		*txt = state->default_txt;
		return true;
	}
	return parse_value(state, s, state->default_a, state->default_txt, a, txt);
}

/* line_ip4set - "[!]range [value]" or ":A:TXT" */
static void
line_ip4set(struct parse_state *state, char *s)
{
	bool excluded = false;
	uint32_t first, last, a = 0;
	char *txt = NULL;
	int bits;

	if (*s == ':') {
		(void)set_default(state, s);
		return;
	}
	if (*s == '!') {
		excluded = true;
		s = skip_space(s + 1);
	}
	bits = parse_ip4_range(s, &first, &last, &s);
	if (bits <= 0 || !ends_entry(*s)) {
		parse_warn(state, "invalid address");
		return;
	}
	if ((first & ~ip4_mask((unsigned)bits)) != 0) {
		parse_warn(state, "invalid range (non-zero host part)");
		return;
	}
	if (state->max_range != 0 && state->max_range <= last - first) {
		parse_warn(state, "too large range (%u) ignored (%u max)", last - first + 1,
		    state->max_range);
		return;
	}
	if (!excluded && !entry_value(state, s, &a, &txt))
		return;
	dataset_builder_add_range4(state->builder, first, last, a, txt, excluded);
}

/* prefix_make - a netprefix from raw bytes */
static struct netprefix
prefix_make(int family, const uint8_t *bytes, unsigned length)
{
	struct netprefix prefix;

	memset(&prefix, 0, sizeof(prefix));
	prefix.address.family = family;
	memcpy(prefix.address.bytes, bytes, family == AF_INET ? 4 : IP6_BYTES);
	prefix.length = length;
	return prefix;
}

/* prefix_make4 - a netprefix from a host-order IPv4 address */
static struct netprefix
prefix_make4(uint32_t address, unsigned length)
{
	uint8_t bytes[4] = { (uint8_t)(address >> 24), (uint8_t)(address >> 16),
		(uint8_t)(address >> 8), (uint8_t)address };

	return prefix_make(AF_INET, bytes, length);
}

/* builder_put - add or exclude; a refusal (a duplicated prefix) is a warning */
static void
builder_put(struct parse_state *state, const struct netprefix *prefix, bool excluded,
    uint32_t a, const char *txt)
{
	char err[DATASET_MESSAGE_MAX];
	bool ok;

	if (excluded)
		ok = dataset_builder_exclude(state->builder, prefix, err, sizeof(err));
	else
		ok = dataset_builder_add(state->builder, prefix, a, txt, err, sizeof(err));
	if (!ok)
		parse_warn(state, "%s", err);
}

/* line_ip4tset - a full dotted quad per line, or the dataset's single ":A:TXT" */
static void
line_ip4tset(struct parse_state *state, char *s)
{
	struct netprefix prefix;
	uint32_t address;

	if (*s == ':') {
		if (!state->tset_default_set)
			state->tset_default_set = set_default(state, s);
		return;
	}
	if (parse_ip4_prefix(s, &address, &s) != 32 || !ends_entry(*s)) {
		parse_warn(state, "invalid address");
		return;
	}
	prefix = prefix_make4(address, 32);
	builder_put(state, &prefix, false, DATASET_DEFAULT_A, NULL);
}

/* line_ip4trie - "[!]a.b.c.d/n [value]" or ":A:TXT" */
static void
line_ip4trie(struct parse_state *state, char *s)
{
	struct netprefix prefix;
	bool excluded = false;
	uint32_t address, a = 0;
	char *txt = NULL;
	int bits;

	if (*s == ':') {
		(void)set_default(state, s);
		return;
	}
	if (*s == '!') {
		excluded = true;
		s = skip_space(s + 1);
	}
	bits = parse_ip4_cidr(s, &address, &s);
	if (bits < 0 || !ends_entry(*s)) {
		parse_warn(state, "invalid address");
		return;
	}
	if ((address & ~ip4_mask((unsigned)bits)) != 0) {
		parse_warn(state, "invalid range (non-zero host part)");
		return;
	}
	if (state->max_range != 0 && state->max_range <= ~ip4_mask((unsigned)bits)) {
		parse_warn(state, "too large range (%u) ignored (%u max)",
		    ~ip4_mask((unsigned)bits) + 1, state->max_range);
		return;
	}
	if (!excluded && !entry_value(state, s, &a, &txt))
		return;
	prefix = prefix_make4(address, (unsigned)bits);
	builder_put(state, &prefix, excluded, a, txt);
}

/* line_ip6trie - "[!]v6prefix[/n] [value]" or ":A:TXT" (a line starting "::" is an
 * address) */
static void
line_ip6trie(struct parse_state *state, char *s)
{
	struct netprefix prefix;
	uint8_t bytes[IP6_BYTES];
	bool excluded = false;
	uint32_t a = 0;
	char *txt = NULL;
	int bits;

	if (s[0] == ':' && s[1] != ':') {
		(void)set_default(state, s);
		return;
	}
	if (*s == '!') {
		excluded = true;
		s = skip_space(s + 1);
	}
	bits = parse_ip6_cidr(s, bytes, &s);
	if (bits < 0 || !ends_entry(*s)) {
		parse_warn(state, "invalid address");
		return;
	}
	if (ip6_clear_host(bytes, (unsigned)bits)) {
		parse_warn(state, "invalid range (non-zero host part)");
		return;
	}
	if (!excluded && !entry_value(state, s, &a, &txt))
		return;
	prefix = prefix_make(AF_INET6, bytes, (unsigned)bits);
	builder_put(state, &prefix, excluded, a, txt);
}

/* line_ip6tset - a /64 as four groups, "!" and a full /128 to exclude, or the dataset's
 * single ":A:TXT" */
static void
line_ip6tset(struct parse_state *state, char *s)
{
	struct netprefix prefix;
	uint8_t bytes[IP6_BYTES];
	bool excluded = false;
	int bits, wanted;

	if (*s == ':') {
		if (!state->tset_default_set)
			state->tset_default_set = set_default(state, s);
		return;
	}
	if (*s == '!') {
		excluded = true;
		s = skip_space(s + 1);
	}
	bits = parse_ip6_prefix(s, bytes, &s);
	if (bits < 0 || !ends_entry(*s)) {
		parse_warn(state, "invalid address");
		return;
	}
	wanted = excluded ? 128 : 64;
	if (bits != wanted) {
		parse_warn(state, "invalid address for %s (should be %d bits)",
		    excluded ? "exclusion" : "regular entry", wanted);
		return;
	}
	prefix = prefix_make(AF_INET6, bytes, (unsigned)bits);
	builder_put(state, &prefix, excluded, DATASET_DEFAULT_A, NULL);
}

/* first_word - if line starts with word (any case) and a separator, the text after the
 * separators; else NULL */
static char *
first_word(char *line, const char *word)
{
	size_t length = strlen(word);

	if (strncasecmp(line, word, length) != 0 || !is_space(line[length]))
		return NULL;
	return skip_space(line + length);
}

/* parse_number - decimal uint32; then the end or separators (skipped) */
static char *
parse_number(char *s, uint32_t *value)
{
	uint64_t n = 0;

	if (!is_digit(*s))
		return NULL;
	while (is_digit(*s)) {
		n = n * 10 + (uint64_t)(*s++ - '0');
		if (n > UINT32_MAX)
			return NULL;
	}
	if (*s != '\0') {
		if (!is_space(*s))
			return NULL;
		s = skip_space(s);
	}
	*value = (uint32_t)n;
	return s;
}

/* parse_time - a number of seconds with an optional unit s, m, h, d or w */
static char *
parse_time(char *s, uint32_t *value)
{
	uint64_t n = 0, unit = 1;

	if (!is_digit(*s))
		return NULL;
	while (is_digit(*s)) {
		n = n * 10 + (uint64_t)(*s++ - '0');
		if (n > UINT32_MAX)
			return NULL;
	}
	switch (*s) {
	case 'w': case 'W': unit = SECONDS_WEEK; break;
	case 'd': case 'D': unit = SECONDS_DAY; break;
	case 'h': case 'H': unit = SECONDS_HOUR; break;
	case 'm': case 'M': unit = SECONDS_MINUTE; break;
	case 's': case 'S': break;
	default: unit = 0; break;
	}
	if (unit != 0) {
		s++;
		if (n * unit > UINT32_MAX)
			return NULL;
		n *= unit;
	}
	if (*s != '\0') {
		if (!is_space(*s))
			return NULL;
		s = skip_space(s);
	}
	*value = (uint32_t)n;
	return s;
}

/* parse_domain - one domain name word into out (without a final dot); labels of 1..63
 * characters, at most 253 characters. Returns the text after it, or NULL. */
static char *
parse_domain(char *s, char out[DATASET_NAME_MAX])
{
	size_t length = 0, label = 0, i;
	char *rest;

	while (s[length] != '\0' && !is_space(s[length]))
		length++;
	if (length == 0)
		return NULL;
	if (length > 1 && s[length - 1] == '.') {
		if (length - 1 > DATASET_DOMAIN_TEXT_MAX)
			return NULL;
	} else if (length > DATASET_DOMAIN_TEXT_MAX && !(length == 1 && s[0] == '.'))
		return NULL;
	for (i = 0; i < length; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 && !(length == 1 && i == 0))
				return NULL;
			label = 0;
		} else if (c == '\\' || (unsigned char)c <= ' ' || (unsigned char)c >= 0x7f) {
			return NULL;
		} else if (++label > DATASET_LABEL_MAX)
			return NULL;
	}
	rest = skip_space(s + length);
	if (s[length - 1] == '.')
		length--;
	memcpy(out, s, length);
	out[length] = '\0';
	return rest;
}

/* special_soa - "$SOA ttl origin person serial refresh retry expire minimum" */
static enum special_result
special_soa(struct parse_state *state, char *s)
{
	struct dataset_soa soa;

	if (state->meta->soa.present)
		return SPECIAL_OK;	/* the first one wins */
	memset(&soa, 0, sizeof(soa));
	if ((s = parse_time(s, &soa.ttl)) == NULL ||
	    (s = parse_domain(s, soa.origin)) == NULL ||
	    (s = parse_domain(s, soa.person)) == NULL ||
	    (s = parse_number(s, &soa.serial)) == NULL ||
	    (s = parse_time(s, &soa.refresh)) == NULL ||
	    (s = parse_time(s, &soa.retry)) == NULL ||
	    (s = parse_time(s, &soa.expire)) == NULL ||
	    (s = parse_time(s, &soa.minimum)) == NULL || *s != '\0')
		return SPECIAL_INVALID;
	if (soa.ttl == 0 && state->meta->ttl_present)
		soa.ttl = state->meta->ttl;
	soa.present = true;
	state->meta->soa = soa;
	return SPECIAL_OK;
}

/* special_ns - "$NS ttl name...": "-name" is skipped, 32 names kept, first line wins */
static enum special_result
special_ns(struct parse_state *state, char *s)
{
	struct dataset_meta *meta = state->meta;
	char name[DATASET_NAME_MAX];
	uint32_t ttl;

	if (state->ns_seen)
		return SPECIAL_OK;
	if ((s = parse_time(s, &ttl)) == NULL)
		return SPECIAL_INVALID;
	do {
		if (*s == '-') {
			while (*s != '\0' && !is_space(*s))
				s++;
			s = skip_space(s);
			continue;
		}
		if ((s = parse_domain(s, name)) == NULL)
			return SPECIAL_INVALID;
		state->ns_seen = true;
		if (meta->ns_count < DATASET_NS_MAX) {
			memcpy(meta->ns[meta->ns_count], name, sizeof(name));
			meta->ns_count++;
		}
	} while (*s != '\0');
	if (ttl == 0 && meta->ttl_present)
		ttl = meta->ttl;
	meta->ns_ttl = ttl;
	return SPECIAL_OK;
}

/* special_line - a "$..." line (after the "$", "#$", ";$" or ":$") */
static enum special_result
special_line(struct parse_state *state, char *s)
{
	char *rest;
	uint32_t value;
	bool prefix_form;

	if ((rest = first_word(s, "soa")) != NULL)
		return special_soa(state, rest);
	if ((rest = first_word(s, "ns")) != NULL || (rest = first_word(s, "nameserver")) != NULL)
		return special_ns(state, rest);
	if ((rest = first_word(s, "ttl")) != NULL) {
		if ((rest = parse_time(rest, &value)) == NULL || *rest != '\0')
			return SPECIAL_INVALID;
		/* the last $TTL wins; 0 means the server's default */
		state->meta->ttl_present = value != 0;
		state->meta->ttl = value;
		return SPECIAL_OK;
	}
	if ((rest = first_word(s, "maxrange4")) != NULL) {
		prefix_form = *rest == '/';
		if (prefix_form)
			rest++;
		if ((rest = parse_number(rest, &value)) == NULL || *rest != '\0' || value == 0)
			return SPECIAL_INVALID;
		if (prefix_form) {
			if (value > 32)
				return SPECIAL_INVALID;
			value = ~ip4_mask(value) + 1;
		}
		if (state->max_range != 0 && state->max_range < value)
			parse_warn(state, "ignoring attempt to increase $MAXRANGE4 from %u to %u",
			    state->max_range, value);
		else
			state->max_range = value;
		return SPECIAL_OK;
	}
	if ((rest = first_word(s, "timestamp")) != NULL) {
		parse_warn(state, "$TIMESTAMP is not supported (ignored)");
		return SPECIAL_OK;
	}
	if ((is_digit(s[0]) || s[0] == '=') && is_space(s[1])) {
		size_t index = s[0] == '=' ? DATASET_SUBST_BASE : (size_t)(s[0] - '0');

		rest = skip_space(s + 2);
		if (*rest == '\0')
			return SPECIAL_INVALID;
		if (state->variables[index] == NULL)
			state->variables[index] = xstrdup(rest);
		return SPECIAL_OK;
	}
	return SPECIAL_INVALID;
}

/* parse_line - one line of length bytes (no newline) */
static void
parse_line(struct parse_state *state, const char *data, size_t length)
{
	char *s, *end;

	state->line_number++;
	if (length > DATASET_LINE_MAX) {
		parse_warn(state, "line longer than %d bytes (skipped)", DATASET_LINE_MAX);
		return;
	}
	memcpy(state->line, data, length);
	state->line[length] = '\0';
	/* text after a NUL byte is not seen, as in rbldnsd's C strings */
	end = state->line + strlen(state->line);
	s = skip_space(state->line);
	/* trailing separators go; so does a CR of a CRLF file (rbldnsd keeps it) */
	while (end > s && (is_space(end[-1]) || end[-1] == '\r'))
		end--;
	*end = '\0';
	if (s[0] == '$' || ((is_comment(s[0]) || s[0] == ':') && s[1] == '$')) {
		if (special_line(state, s[0] == '$' ? s + 1 : s + 2) != SPECIAL_OK)
			parse_warn(state, "invalid or unrecognized special entry");
		return;
	}
	if (s[0] == '\0' || is_comment(s[0]))
		return;
	switch (state->type) {
	case DATASET_IP4SET:
		line_ip4set(state, s);
		break;
	case DATASET_IP4TSET:
		line_ip4tset(state, s);
		break;
	case DATASET_IP4TRIE:
		line_ip4trie(state, s);
		break;
	case DATASET_IP6TRIE:
		line_ip6trie(state, s);
		break;
	case DATASET_IP6TSET:
		line_ip6tset(state, s);
		break;
	}
}

/* parse_start_file - a new file: line numbers restart and, except for the tset types
 * (whose one default is dataset-wide), so does the default value */
static void
parse_start_file(struct parse_state *state, const char *name)
{
	state->name = name;
	state->line_number = 0;
	if (state->type != DATASET_IP4TSET && state->type != DATASET_IP6TSET) {
		free(state->default_txt);
		state->default_txt = NULL;
		state->default_a = DATASET_DEFAULT_A;
	}
}

/* parse_init - an empty state for type */
static bool
parse_init(struct parse_state *state, enum dataset_type type, char *err, size_t err_size)
{
	memset(state, 0, sizeof(*state));
	if ((unsigned)type > DATASET_IP6TSET) {
		snprintf(err, err_size, "unknown dataset type %d", (int)type);
		return false;
	}
	state->type = type;
	state->builder = dataset_builder_new(type);
	state->meta = dataset_builder_meta(state->builder);
	state->line = xmalloc(DATASET_LINE_MAX + 1);
	state->default_a = DATASET_DEFAULT_A;
	return true;
}

/* parse_release - free what the state owns (not the builder) */
static void
parse_release(struct parse_state *state)
{
	size_t i;

	for (i = 0; i < DATASET_SUBST_COUNT; i++)
		free(state->variables[i]);
	free(state->default_txt);
	free(state->line);
}

/* resolve_value - the remap run once everything is read: apply $n and $=; the tset types
 * answer every entry with the one default */
static char *
resolve_value(void *context, uint32_t *a, const char *txt)
{
	struct parse_state *state = context;

	if (state->type == DATASET_IP4TSET || state->type == DATASET_IP6TSET) {
		*a = state->default_a;
		txt = state->default_txt;
	}
	return dataset_txt_resolve(txt, (const char *const *)state->variables);
}

/* parse_finish - resolve templates and build the dataset */
static struct dataset *
parse_finish(struct parse_state *state)
{
	struct dataset *set;
	char name[DATASET_NAME_QUOTE_MAX];

	if (state->warnings > DATASET_WARNINGS_LOGGED) {
		log_escape(state->name, strlen(state->name), name, sizeof(name));
		log_warn("event=dataset_warnings_suppressed where=%s type=%s count=%zu", name,
		    dataset_type_name(state->type), state->warnings - DATASET_WARNINGS_LOGGED);
	}
	dataset_builder_remap_values(state->builder, resolve_value, state);
	set = dataset_builder_finish(state->builder);
	state->builder = NULL;
	parse_release(state);
	return set;
}

/* parse_memory - split data into lines and parse them */
static void
parse_memory(struct parse_state *state, const char *data, size_t length)
{
	while (length > 0) {
		const char *newline = memchr(data, '\n', length);
		size_t line = newline == NULL ? length : (size_t)(newline - data);

		parse_line(state, data, line);
		if (newline == NULL)
			break;
		data += line + 1;
		length -= line + 1;
	}
}

struct dataset *
dataset_load_buffer(enum dataset_type type, const char *data, size_t length,
    const char *name, size_t *warnings, char *err, size_t err_size)
{
	struct parse_state state;
	struct dataset *set;

	if (warnings != NULL)
		*warnings = 0;
	if (data == NULL && length > 0) {
		snprintf(err, err_size, "no data");
		return NULL;
	}
	if (!parse_init(&state, type, err, err_size))
		return NULL;
	parse_start_file(&state, name == NULL ? "buffer" : name);
	parse_memory(&state, data, length);
	if (warnings != NULL)
		*warnings = state.warnings;
	set = parse_finish(&state);
	return set;
}

/* read_fully - read up to size bytes, retrying on EINTR; -1 on error */
static ssize_t
read_fully(int fd, char *buffer, size_t size)
{
	size_t total = 0;

	while (total < size) {
		ssize_t got = read(fd, buffer + total, size - total);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		total += (size_t)got;
	}
	return (ssize_t)total;
}

/* parse_file - stream one open file through the line parser with a bounded buffer */
static bool
parse_file(struct parse_state *state, int fd, const char *path, char *err, size_t err_size)
{
	char *buffer = xmalloc(DATASET_LINE_MAX + 1);
	size_t used = 0, size = DATASET_LINE_MAX + 1;
	bool first_read = true, skipping = false;

	for (;;) {
		size_t want = size - used < DATASET_READ_CHUNK ? size - used : DATASET_READ_CHUNK;
		ssize_t got = read_fully(fd, buffer + used, want);
		size_t start = 0;
		const char *newline;

		if (got < 0) {
			snprintf(err, err_size, "%s: %s", path, strerror(errno));
			free(buffer);
			return false;
		}
		if (first_read && got >= 2 && (unsigned char)buffer[0] == GZIP_MAGIC_0 &&
		    (unsigned char)buffer[1] == GZIP_MAGIC_1) {
			snprintf(err, err_size, "%s: compressed data files are not supported", path);
			free(buffer);
			return false;
		}
		first_read = false;
		if (got == 0)
			break;
		used += (size_t)got;
		while ((newline = memchr(buffer + start, '\n', used - start)) != NULL) {
			size_t line = (size_t)(newline - (buffer + start));

			if (skipping)
				skipping = false;	/* the end of a line already reported */
			else
				parse_line(state, buffer + start, line);
			start += line + 1;
		}
		memmove(buffer, buffer + start, used - start);
		used -= start;
		if (used == size) {
			/* no newline in DATASET_LINE_MAX + 1 bytes: report once, skip the rest */
			if (!skipping)
				parse_line(state, buffer, used);
			skipping = true;
			used = 0;
		}
	}
	if (used > 0 && !skipping)
		parse_line(state, buffer, used);
	free(buffer);
	return true;
}

struct dataset *
dataset_load_files(enum dataset_type type, const char *const *paths, size_t count,
    char *err, size_t err_size)
{
	struct parse_state state;
	size_t i;

	if (paths == NULL || count == 0) {
		snprintf(err, err_size, "no data files given");
		return NULL;
	}
	if (!parse_init(&state, type, err, err_size))
		return NULL;
	for (i = 0; i < count; i++) {
		struct stat before, after;
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		bool ok;

		if (fd < 0 || fstat(fd, &before) < 0) {
			snprintf(err, err_size, "%s: %s", paths[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		if (!S_ISREG(before.st_mode)) {
			snprintf(err, err_size, "%s: not a regular file", paths[i]);
			close(fd);
			goto fail;
		}
		parse_start_file(&state, paths[i]);
		ok = parse_file(&state, fd, paths[i], err, err_size);
		if (ok && fstat(fd, &after) < 0) {
			snprintf(err, err_size, "%s: %s", paths[i], strerror(errno));
			ok = false;
		}
		close(fd);
		if (!ok)
			goto fail;
		if (before.st_size != after.st_size ||
		    before.st_mtim.tv_sec != after.st_mtim.tv_sec ||
		    before.st_mtim.tv_nsec != after.st_mtim.tv_nsec) {
			snprintf(err, err_size, "%s: changed while being read; write data files "
			    "to a temporary file and rename(2) it", paths[i]);
			goto fail;
		}
		if ((int64_t)before.st_mtim.tv_sec > state.meta->newest_mtime)
			state.meta->newest_mtime = (int64_t)before.st_mtim.tv_sec;
	}
	return parse_finish(&state);

fail:
	dataset_builder_free(state.builder);
	parse_release(&state);
	return NULL;
}
