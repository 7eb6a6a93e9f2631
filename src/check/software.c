/* software.c - names the MTA behind a banner/EHLO reply and loads the advisory data file.
 * Recognition is pure and bounded (hand-written scanning, no regex); only loading does I/O. */
#include "check/software.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

#define VERSION_SKIP_ROUNDS 4    /* separators/keywords skipped between a name and its version */
#define SENDMAIL_MAJOR_DIGITS 2  /* "8.9.3": a sendmail version starts with 1-2 digits */
#define ADVISORY_ID_MAX 64
#define ADVISORY_SUMMARY_MAX 400
#define ADVISORY_SOURCE_MAX 400
#define ADVISORY_ERROR_MAX 256
#define ADVISORY_QUOTED_MAX 96   /* file text quoted in an error message */
#define ADVISORY_VERSIONS_MAX 32 /* entries in one versions = list */

static const char *const software_names[] = {
	"Sendmail", "Postfix", "Exim", "OpenSMTPD", "qmail", "Microsoft Exchange",
	"Microsoft IIS SMTP", "Lotus Domino", "Netscape Messaging Server", "IMail", "MDaemon",
	"cc:Mail",
};

/* How the version that follows a product name is found. */
enum version_rule {
	VERSION_NONE,     /* the banner carries no version (what follows is a date) */
	VERSION_AFTER,    /* the next token, past separators and "Version"/"Release" */
	VERSION_SENDMAIL, /* "8.8.8/8.8.8", "SMI-8.6/SMI-SVR4", "AIX4.3/8.9.3", "x.SGI.8.6.12" */
};

struct product_rule {
	const char *marker;         /* words in the text; a space matches any run of blanks */
	const char *name;           /* what software_id.name gets */
	enum version_rule version;
	const char *version_marker; /* fallback: a version after this word on the same line */
};

/* First match in table order wins, so specific markers come before general ones. */
static const struct product_rule product_rules[] = {
	/* Exchange 2007 and later: no version in the banner. */
	{ "Microsoft ESMTP MAIL Service ready at", "Microsoft Exchange", VERSION_NONE, NULL },
	/* IIS SMTP (Windows 2000/2003, also under Exchange 2000/2003): ", Version: 5.0.2195.6713". */
	{ "Microsoft ESMTP MAIL Service", "Microsoft IIS SMTP", VERSION_AFTER, NULL },
	/* NT4 Option Pack: "Microsoft SMTP MAIL ready at <date> Version: 5.5.1877.197.19". */
	{ "Microsoft SMTP MAIL", "Microsoft IIS SMTP", VERSION_AFTER, "Version" },
	{ "Microsoft Exchange Internet Mail Service", "Microsoft Exchange", VERSION_AFTER, NULL },
	{ "Microsoft Exchange", "Microsoft Exchange", VERSION_AFTER, NULL },
	/* "ESMTP Service (Lotus Domino Release 5.0.8) ready at ...", also IBM/HCL Domino. */
	{ "Lotus Domino", "Lotus Domino", VERSION_AFTER, "Release" },
	{ "IBM Domino", "Lotus Domino", VERSION_AFTER, "Release" },
	{ "HCL Domino", "Lotus Domino", VERSION_AFTER, "Release" },
	{ "Lotus Notes", "Lotus Domino", VERSION_AFTER, "Release" },
	{ "Lotus SMTP MTA", "Lotus Domino", VERSION_AFTER, "Release" },
	{ "Netscape Messaging Server", "Netscape Messaging Server", VERSION_AFTER, NULL },
	{ "Sendmail", "Sendmail", VERSION_SENDMAIL, NULL },
	{ "Postfix", "Postfix", VERSION_AFTER, NULL },
	{ "Exim", "Exim", VERSION_AFTER, NULL },
	{ "OpenSMTPD", "OpenSMTPD", VERSION_AFTER, NULL },
	{ "MDaemon", "MDaemon", VERSION_AFTER, NULL },
	{ "IMail", "IMail", VERSION_AFTER, NULL },
	{ "cc:Mail", "cc:Mail", VERSION_AFTER, NULL },
	{ "netqmail", "qmail", VERSION_AFTER, NULL },
	{ "qmail", "qmail", VERSION_AFTER, NULL },
};

/* EHLO keywords that only Exchange (2000 and later) advertises. */
static const char *const exchange_ehlo_keywords[] = {
	"XEXCH50", "X-LINK2STATE", "X-ANONYMOUSTLS", "XRDST", "XSHADOW", "XSHADOWREQUEST",
};

/* The only EHLO keywords a qmail-smtpd (with the usual patches) advertises. */
static const char *const qmail_ehlo_keywords[] = {
	"PIPELINING", "8BITMIME", "SIZE", "STARTTLS", "AUTH",
};

/* A bounded view of untrusted text; the bytes are never written. */
struct text {
	const char *bytes;
	size_t length;
};

static bool
ascii_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
ascii_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
ascii_is_alnum(unsigned char c)
{
	return ascii_is_digit(c) || ascii_is_alpha(c);
}

static unsigned char
ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* is_word_byte - bytes that continue a host name or token: a product name inside
 * "exim.example.com" or "postfix-mx" is not the product. */
static bool
is_word_byte(unsigned char c)
{
	return ascii_is_alnum(c) || c == '.' || c == '-' || c == '_' || c == '@';
}

/* text_of - view of at most SOFTWARE_TEXT_MAX bytes of a C string (NULL is empty). */
static struct text
text_of(const char *string)
{
	struct text text = { "", 0 };

	if (string != NULL) {
		text.bytes = string;
		text.length = strnlen(string, SOFTWARE_TEXT_MAX);
	}
	return text;
}

/* line_end - index of the '\n' ending the line that holds pos, or the text length. */
static size_t
line_end(struct text text, size_t pos)
{
	while (pos < text.length && text.bytes[pos] != '\n')
		pos++;
	return pos;
}

/* marker_match_at - end of marker matched case-insensitively at pos (a space in the marker
 * matches one or more blanks), or 0 when it does not match. */
static size_t
marker_match_at(struct text text, size_t pos, const char *marker)
{
	for (const char *m = marker; *m != '\0'; m++) {
		if (*m == ' ') {
			if (pos >= text.length || !is_blank((unsigned char)text.bytes[pos]))
				return 0;
			while (pos < text.length && is_blank((unsigned char)text.bytes[pos]))
				pos++;
			continue;
		}
		if (pos >= text.length ||
		    ascii_lower((unsigned char)text.bytes[pos]) != ascii_lower((unsigned char)*m))
			return 0;
		pos++;
	}
	return pos;
}

/* ends_word - true when the token that ends at end is over: a following '.' or '-' counts
 * as punctuation only when no letter or digit comes after it. */
static bool
ends_word(struct text text, size_t end)
{
	if (end >= text.length)
		return true;
	unsigned char next = (unsigned char)text.bytes[end];
	if (!is_word_byte(next))
		return true;
	if (next == '.' || next == '-')
		return end + 1 >= text.length || !ascii_is_alnum((unsigned char)text.bytes[end + 1]);
	return false;
}

/* find_marker - first whole-word occurrence of marker at or after from, bounded by limit.
 * Sets *start and *end and returns true when found. */
static bool
find_marker(struct text text, size_t from, size_t limit, const char *marker, size_t *start,
    size_t *end)
{
	unsigned char first = ascii_lower((unsigned char)marker[0]);

	for (size_t pos = from; pos < limit; pos++) {
		if (ascii_lower((unsigned char)text.bytes[pos]) != first)
			continue;
		if (pos > 0 && is_word_byte((unsigned char)text.bytes[pos - 1]))
			continue;
		size_t matched = marker_match_at(text, pos, marker);
		if (matched == 0 || matched > limit || !ends_word(text, matched))
			continue;
		*start = pos;
		*end = matched;
		return true;
	}
	return false;
}

/* copy_token - copy text[start, end) into out; false (out untouched) when it does not fit. */
static bool
copy_token(struct text text, size_t start, size_t end, char *out, size_t out_size)
{
	size_t length = end - start;

	if (length == 0 || length >= out_size)
		return false;
	memcpy(out, text.bytes + start, length);
	out[length] = '\0';
	return true;
}

/* version_token - a version starting at pos: a digit, then letters, digits, '.', '-', '_';
 * trailing punctuation is dropped. False when there is none or it is too long. */
static bool
version_token(struct text text, size_t pos, size_t limit, char *out, size_t out_size)
{
	size_t end = pos;

	if (pos >= limit || !ascii_is_digit((unsigned char)text.bytes[pos]))
		return false;
	while (end < limit) {
		unsigned char c = (unsigned char)text.bytes[end];
		if (!ascii_is_alnum(c) && c != '.' && c != '-' && c != '_')
			break;
		end++;
	}
	while (end > pos && strchr(".-_", text.bytes[end - 1]) != NULL)
		end--;
	return copy_token(text, pos, end, out, out_size);
}

/* skip_version_keyword - past "Version", "Ver." or "Release" at pos, else pos. */
static size_t
skip_version_keyword(struct text text, size_t pos, size_t limit)
{
	static const char *const keywords[] = { "version", "ver.", "ver", "release" };

	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		size_t end = marker_match_at(text, pos, keywords[i]);
		if (end == 0 || end > limit)
			continue;
		if (end < limit && ascii_is_alpha((unsigned char)text.bytes[end]))
			continue;
		return end;
	}
	return pos;
}

/* version_after - the version following a product name on the same line:
 * "Exim 4.96", "Postfix (3.7.11)", "Server - Version 3.6", "Service, Version: 5.0.2195". */
static bool
version_after(struct text text, size_t pos, char *out, size_t out_size)
{
	size_t limit = line_end(text, pos);

	for (int round = 0; round < VERSION_SKIP_ROUNDS; round++) {
		while (pos < limit && strchr(" \t\r,:(-", text.bytes[pos]) != NULL)
			pos++;
		size_t after = skip_version_keyword(text, pos, limit);
		if (after == pos)
			break;
		pos = after;
	}
	/* "V4.1" */
	if (pos + 1 < limit && ascii_lower((unsigned char)text.bytes[pos]) == 'v' &&
	    ascii_is_digit((unsigned char)text.bytes[pos + 1]))
		pos++;
	return version_token(text, pos, limit, out, out_size);
}

/* version_after_marker - a version right after a later word on the same line
 * ("... ready at <date> Version: 5.5.1877.197.19"). */
static bool
version_after_marker(struct text text, size_t pos, const char *marker, char *out,
    size_t out_size)
{
	size_t limit = line_end(text, pos);
	size_t start, end;

	if (!find_marker(text, pos, limit, marker, &start, &end))
		return false;
	return version_after(text, start, out, out_size);
}

/* sendmail_candidate - the first dotted number in text[start, end) that is not glued to
 * letters before it ("AIX4.3" is AIX's version) and starts with 1-2 digits ("950413" is a
 * date); letters right after the digits stay ("8.11.7p1"). */
static bool
sendmail_candidate(struct text text, size_t start, size_t end, char *out, size_t out_size)
{
	size_t pos = start;

	while (pos < end) {
		if (!ascii_is_digit((unsigned char)text.bytes[pos])) {
			pos++;
			continue;
		}
		size_t run_end = pos;
		while (run_end < end && (ascii_is_digit((unsigned char)text.bytes[run_end]) ||
		    text.bytes[run_end] == '.'))
			run_end++;
		bool glued = pos > start && ascii_is_alnum((unsigned char)text.bytes[pos - 1]);
		size_t numeric_end = run_end;
		while (numeric_end > pos && text.bytes[numeric_end - 1] == '.')
			numeric_end--;
		size_t major = pos;
		while (major < numeric_end && ascii_is_digit((unsigned char)text.bytes[major]))
			major++;
		bool dotted = major < numeric_end;
		if (!glued && dotted && major - pos <= SENDMAIL_MAJOR_DIGITS) {
			size_t token_end = numeric_end;
			if (numeric_end == run_end)
				while (token_end < end &&
				    ascii_is_alnum((unsigned char)text.bytes[token_end]))
					token_end++;
			return copy_token(text, pos, token_end, out, out_size);
		}
		pos = run_end;
	}
	return false;
}

/* version_sendmail - "Sendmail 8.8.8/8.8.8;": the first '/'-separated part of the next word
 * that holds a sendmail version (binary version first, then the configuration's). */
static bool
version_sendmail(struct text text, size_t pos, char *out, size_t out_size)
{
	size_t limit = line_end(text, pos);

	while (pos < limit && is_blank((unsigned char)text.bytes[pos]))
		pos++;
	size_t word_end = pos;
	while (word_end < limit && strchr(" \t\r;,()", text.bytes[word_end]) == NULL)
		word_end++;
	while (pos < word_end) {
		size_t part_end = pos;
		while (part_end < word_end && text.bytes[part_end] != '/')
			part_end++;
		if (sendmail_candidate(text, pos, part_end, out, out_size))
			return true;
		pos = part_end + 1;
	}
	return false;
}

/* recognise_by_name - a product named in the text, and its version when one follows. */
static bool
recognise_by_name(struct text text, struct software_id *out)
{
	for (size_t i = 0; i < sizeof(product_rules) / sizeof(product_rules[0]); i++) {
		const struct product_rule *rule = &product_rules[i];
		size_t start, end;

		if (!find_marker(text, 0, text.length, rule->marker, &start, &end))
			continue;
		snprintf(out->name, sizeof(out->name), "%s", rule->name);
		out->version[0] = '\0';
		bool found = false;
		if (rule->version == VERSION_SENDMAIL)
			found = version_sendmail(text, end, out->version, sizeof(out->version));
		else if (rule->version == VERSION_AFTER)
			found = version_after(text, end, out->version, sizeof(out->version));
		if (!found && rule->version_marker != NULL)
			found = version_after_marker(text, end, rule->version_marker, out->version,
			    sizeof(out->version));
		if (!found)
			out->version[0] = '\0';
		return true;
	}
	return false;
}

/* trimmed_line - the line starting at pos without surrounding blanks; returns the index
 * after the line's '\n' (or the text length). */
static size_t
trimmed_line(struct text text, size_t pos, size_t *start, size_t *end)
{
	size_t limit = line_end(text, pos);

	*start = pos;
	*end = limit;
	while (*start < *end && is_blank((unsigned char)text.bytes[*start]))
		(*start)++;
	while (*end > *start && is_blank((unsigned char)text.bytes[*end - 1]))
		(*end)--;
	return limit < text.length ? limit + 1 : limit;
}

/* keyword_is - true when the EHLO line text[start, end) advertises keyword
 * ("AUTH PLAIN", "AUTH=LOGIN" and "SIZE 1000" advertise AUTH and SIZE). */
static bool
keyword_is(struct text text, size_t start, size_t end, const char *keyword)
{
	size_t length = strlen(keyword);

	if (end - start < length || strncasecmp(text.bytes + start, keyword, length) != 0)
		return false;
	return start + length == end || text.bytes[start + length] == ' ' ||
	    text.bytes[start + length] == '=';
}

/* ehlo_has_keyword - true when a line after the EHLO greeting advertises keyword. */
static bool
ehlo_has_keyword(struct text ehlo, const char *keyword)
{
	size_t start, end;
	size_t pos = trimmed_line(ehlo, 0, &start, &end);

	while (pos < ehlo.length) {
		pos = trimmed_line(ehlo, pos, &start, &end);
		if (keyword_is(ehlo, start, end, keyword))
			return true;
	}
	return false;
}

/* recognise_by_ehlo - products that an EHLO reply gives away without naming them. */
static bool
recognise_by_ehlo(struct text ehlo, struct software_id *out)
{
	size_t start, end, phrase_start, phrase_end;

	if (ehlo.length == 0)
		return false;
	for (size_t i = 0; i < sizeof(exchange_ehlo_keywords) / sizeof(exchange_ehlo_keywords[0]);
	    i++)
		if (ehlo_has_keyword(ehlo, exchange_ehlo_keywords[i])) {
			snprintf(out->name, sizeof(out->name), "Microsoft Exchange");
			return true;
		}
	/* sendmail: "host Hello client [addr], pleased to meet you" and the VERB extension
	 * (OpenSMTPD and Domino greet the same way but do not offer VERB). */
	trimmed_line(ehlo, 0, &start, &end);
	if (find_marker(ehlo, start, end, "pleased to meet you", &phrase_start, &phrase_end) &&
	    ehlo_has_keyword(ehlo, "VERB")) {
		snprintf(out->name, sizeof(out->name), "Sendmail");
		return true;
	}
	return false;
}

/* recognise_qmail - qmail-smtpd names nothing: it greets "220 <greeting> ESMTP", repeats
 * <greeting> as the first EHLO line and offers only PIPELINING and 8BITMIME (plus SIZE,
 * STARTTLS, AUTH with common patches). Postfix with a bare banner also offers VRFY, ETRN,
 * ENHANCEDSTATUSCODES, so it does not pass. */
static bool
recognise_qmail(struct text banner, struct text ehlo, struct software_id *out)
{
	static const char suffix[] = " ESMTP";
	size_t start, end, ehlo_start, ehlo_end;

	if (banner.length == 0 || ehlo.length == 0)
		return false;
	if (trimmed_line(banner, 0, &start, &end) < banner.length)
		return false; /* a multi-line banner */
	size_t suffix_length = sizeof(suffix) - 1;
	if (end - start <= suffix_length ||
	    strncasecmp(banner.bytes + end - suffix_length, suffix, suffix_length) != 0)
		return false;
	size_t host_end = end - suffix_length;
	for (size_t i = start; i < host_end; i++)
		if (is_blank((unsigned char)banner.bytes[i]))
			return false;
	size_t pos = trimmed_line(ehlo, 0, &ehlo_start, &ehlo_end);
	if (ehlo_end - ehlo_start != host_end - start ||
	    strncasecmp(ehlo.bytes + ehlo_start, banner.bytes + start, host_end - start) != 0)
		return false;
	bool pipelining = false, eightbit = false;
	while (pos < ehlo.length) {
		pos = trimmed_line(ehlo, pos, &ehlo_start, &ehlo_end);
		if (ehlo_start == ehlo_end)
			continue;
		bool allowed = false;
		for (size_t i = 0; i < sizeof(qmail_ehlo_keywords) / sizeof(qmail_ehlo_keywords[0]);
		    i++)
			if (keyword_is(ehlo, ehlo_start, ehlo_end, qmail_ehlo_keywords[i]))
				allowed = true;
		if (!allowed)
			return false;
		pipelining |= keyword_is(ehlo, ehlo_start, ehlo_end, "PIPELINING");
		eightbit |= keyword_is(ehlo, ehlo_start, ehlo_end, "8BITMIME");
	}
	if (!pipelining || !eightbit)
		return false;
	snprintf(out->name, sizeof(out->name), "qmail");
	return true;
}

bool
software_recognise(const char *banner, const char *ehlo, struct software_id *out)
{
	struct text banner_text = text_of(banner);
	struct text ehlo_text = text_of(ehlo);

	memset(out, 0, sizeof(*out));
	if (recognise_by_name(banner_text, out) || recognise_by_name(ehlo_text, out) ||
	    recognise_by_ehlo(ehlo_text, out) || recognise_qmail(banner_text, ehlo_text, out))
		return true;
	memset(out, 0, sizeof(*out));
	return false;
}

bool
software_name_is_known(const char *name)
{
	for (size_t i = 0; i < sizeof(software_names) / sizeof(software_names[0]); i++)
		if (strcasecmp(name, software_names[i]) == 0)
			return true;
	return false;
}

/* compare_numbers - compare two runs of decimal digits of any length. */
static int
compare_numbers(const char *a, size_t a_length, const char *b, size_t b_length)
{
	while (a_length > 0 && *a == '0') {
		a++;
		a_length--;
	}
	while (b_length > 0 && *b == '0') {
		b++;
		b_length--;
	}
	if (a_length != b_length)
		return a_length < b_length ? -1 : 1;
	int order = a_length == 0 ? 0 : memcmp(a, b, a_length);
	return (order > 0) - (order < 0);
}

/* digit_run - length of the run of digits at text. */
static size_t
digit_run(const char *text, size_t length)
{
	size_t run = 0;

	while (run < length && ascii_is_digit((unsigned char)text[run]))
		run++;
	return run;
}

/* compare_suffixes - the letters after a component's number: none sorts first, then
 * letters case-insensitively and embedded numbers numerically ("FP9" < "FP10"). */
static int
compare_suffixes(const char *a, size_t a_length, const char *b, size_t b_length)
{
	size_t i = 0, j = 0;

	while (i < a_length && j < b_length) {
		size_t a_run = digit_run(a + i, a_length - i);
		size_t b_run = digit_run(b + j, b_length - j);
		if (a_run > 0 && b_run > 0) {
			int order = compare_numbers(a + i, a_run, b + j, b_run);
			if (order != 0)
				return order;
			i += a_run;
			j += b_run;
			continue;
		}
		unsigned char ca = ascii_lower((unsigned char)a[i]);
		unsigned char cb = ascii_lower((unsigned char)b[j]);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		i++;
		j++;
	}
	if (i < a_length)
		return 1;
	if (j < b_length)
		return -1;
	return 0;
}

/* version_component - split off one '.'-separated component at *cursor: its leading
 * digits and the rest; a missing component is empty (counts as 0). */
static void
version_component(const char **cursor, const char **digits, size_t *digit_count,
    const char **suffix, size_t *suffix_length)
{
	const char *p = *cursor;
	size_t length = strcspn(p, ".");

	*digits = p;
	*digit_count = digit_run(p, length);
	*suffix = p + *digit_count;
	*suffix_length = length - *digit_count;
	p += length;
	if (*p == '.')
		p++;
	*cursor = p;
}

int
software_version_compare(const char *a, const char *b)
{
	const char *cursor_a = a != NULL ? a : "";
	const char *cursor_b = b != NULL ? b : "";

	while (*cursor_a != '\0' || *cursor_b != '\0') {
		const char *digits_a, *digits_b, *suffix_a, *suffix_b;
		size_t count_a, count_b, suffix_length_a, suffix_length_b;

		version_component(&cursor_a, &digits_a, &count_a, &suffix_a, &suffix_length_a);
		version_component(&cursor_b, &digits_b, &count_b, &suffix_b, &suffix_length_b);
		int order = compare_numbers(digits_a, count_a, digits_b, count_b);
		if (order == 0)
			order = compare_suffixes(suffix_a, suffix_length_a, suffix_b, suffix_length_b);
		if (order != 0)
			return order;
	}
	return 0;
}

const char *
advisory_severity_name(enum advisory_severity severity)
{
	return severity == ADVISORY_SEVERITY_RELAY ? "relay" : "insecure";
}

/* ---- the advisory data file ---- */

struct advisory_db {
	struct advisory *entries;
	size_t count;
	size_t capacity;
};

enum advisory_key {
	KEY_SOFTWARE = 1 << 0,
	KEY_VERSION_BELOW = 1 << 1,
	KEY_VERSION_FROM = 1 << 2,
	KEY_VERSIONS = 1 << 3,
	KEY_ANY_VERSION = 1 << 4,
	KEY_SUMMARY = 1 << 5,
	KEY_SOURCE = 1 << 6,
	KEY_SEVERITY = 1 << 7,
};

static const struct {
	const char *name;
	enum advisory_key key;
} advisory_keys[] = {
	{ "software", KEY_SOFTWARE },
	{ "version_below", KEY_VERSION_BELOW },
	{ "version_from", KEY_VERSION_FROM },
	{ "versions", KEY_VERSIONS },
	{ "any_version", KEY_ANY_VERSION },
	{ "summary", KEY_SUMMARY },
	{ "source", KEY_SOURCE },
	{ "severity", KEY_SEVERITY },
};

/* One remembered error: the one on the earliest line wins. */
struct load_error {
	unsigned line; /* 0 until an error is recorded */
	char text[ADVISORY_ERROR_MAX];
};

/* The state of one load: inih calls advisory_reader for every line and advisory_handler
 * for every key, so the reader counts lines and notices [section] headers. */
struct advisory_loader {
	struct advisory_db *db;
	FILE *file;
	unsigned line;         /* the line inih is working on */
	unsigned header_line;  /* line of the latest [section] header */
	unsigned header_count; /* headers read so far */
	unsigned entry_header; /* header_count when the open entry began; 0 when none */
	unsigned keyed_header; /* header_count when a key was last read */
	unsigned keys_seen;    /* enum advisory_key bits of the open entry */
	struct load_error error;      /* a bad line: syntax, key or value */
	struct load_error incomplete; /* an entry lacking keys; reported only without the above,
	                               * since a bad line is often why a key is missing */
};

static void record_error(struct load_error *error, unsigned line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* record_error - keep the error on the earliest line. */
static void
record_error(struct load_error *error, unsigned line, const char *fmt, va_list ap)
{
	if (error->line != 0 && error->line <= line)
		return;
	error->line = line;
	vsnprintf(error->text, sizeof(error->text), fmt, ap);
}

static void loader_error(struct advisory_loader *loader, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void loader_incomplete(struct advisory_loader *loader, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* loader_error - a line of the file is wrong. */
static void
loader_error(struct advisory_loader *loader, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_error(&loader->error, line, fmt, ap);
	va_end(ap);
}

/* loader_incomplete - an entry as a whole is wrong (reported at its [section] line). */
static void
loader_incomplete(struct advisory_loader *loader, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_error(&loader->incomplete, line, fmt, ap);
	va_end(ap);
}

/* quoted - file text made safe to print in an error message. */
static const char *
quoted(const char *text, char *out, size_t out_size)
{
	return log_escape(text, strnlen(text, ADVISORY_QUOTED_MAX), out, out_size);
}

/* loader_check_keyed - a [section] without any key would be skipped by inih unseen. */
static void
loader_check_keyed(struct advisory_loader *loader)
{
	if (loader->header_count > 0 && loader->keyed_header != loader->header_count)
		loader_incomplete(loader, loader->header_line, "section has no keys");
}

/* advisory_reader - fgets for inih that counts lines, notices [section] headers and
 * refuses lines longer than inih's buffer (inih would split them silently). */
static char *
advisory_reader(char *str, int num, void *stream)
{
	struct advisory_loader *loader = stream;

	if (fgets(str, num, loader->file) == NULL)
		return NULL;
	loader->line++;
	size_t length = strlen(str);
	if (length > 0 && str[length - 1] != '\n') {
		int c = getc(loader->file);
		if (c != EOF && c != '\n') {
			loader_error(loader, loader->line, "line longer than %d bytes", num - 3);
			while (c != EOF && c != '\n')
				c = getc(loader->file);
		}
	}
	const char *p = str;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		loader_check_keyed(loader);
		loader->header_count++;
		loader->header_line = loader->line;
	}
	return str;
}

/* version_is_valid - a version in the data file: a digit first, then [A-Za-z0-9._-]. */
static bool
version_is_valid(const char *version)
{
	size_t length = strlen(version);

	if (length == 0 || length >= SOFTWARE_VERSION_MAX ||
	    !ascii_is_digit((unsigned char)version[0]))
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)version[i];
		if (!ascii_is_alnum(c) && c != '.' && c != '-' && c != '_')
			return false;
	}
	return true;
}

/* id_is_valid - a section name: [A-Za-z0-9._-], at most ADVISORY_ID_MAX bytes. */
static bool
id_is_valid(const char *id)
{
	size_t length = strlen(id);

	if (length == 0 || length > ADVISORY_ID_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!ascii_is_alnum(c) && c != '.' && c != '-' && c != '_')
			return false;
	}
	return true;
}

/* loader_entry - the entry being filled. */
static struct advisory *
loader_entry(struct advisory_loader *loader)
{
	return &loader->db->entries[loader->db->count - 1];
}

/* loader_finish_entry - check that the open entry is complete and consistent. */
static void
loader_finish_entry(struct advisory_loader *loader)
{
	struct advisory *entry = loader_entry(loader);
	unsigned keys = loader->keys_seen;
	unsigned range = KEY_VERSION_BELOW | KEY_VERSION_FROM;
	char id[ADVISORY_QUOTED_MAX];

	loader->entry_header = 0;
	quoted(entry->id, id, sizeof(id));
	if (!(keys & KEY_SOFTWARE))
		loader_incomplete(loader, entry->line, "[%s] has no software key", id);
	else if (!(keys & KEY_SUMMARY))
		loader_incomplete(loader, entry->line, "[%s] has no summary", id);
	else if (!(keys & KEY_SOURCE))
		loader_incomplete(loader, entry->line, "[%s] cites no source", id);
	else if (!(keys & (range | KEY_VERSIONS)) && !entry->any_version)
		loader_incomplete(loader, entry->line,
		    "[%s] needs version_below, version_from, versions or any_version = yes", id);
	else if (entry->any_version && (keys & (range | KEY_VERSIONS)))
		loader_incomplete(loader, entry->line,
		    "[%s]: any_version = yes cannot be combined with version keys", id);
	else if ((keys & KEY_VERSIONS) && (keys & range))
		loader_incomplete(loader, entry->line,
		    "[%s]: versions cannot be combined with version_from/version_below", id);
	else if (entry->version_from != NULL && entry->version_below != NULL &&
	    software_version_compare(entry->version_from, entry->version_below) >= 0)
		loader_incomplete(loader, entry->line,
		    "[%s]: version_from must be lower than version_below", id);
}

/* loader_start_entry - open a new entry for section; false when its name is unusable. */
static bool
loader_start_entry(struct advisory_loader *loader, const char *section)
{
	struct advisory_db *db = loader->db;
	char id[ADVISORY_QUOTED_MAX];
	bool ok = true;

	if (!id_is_valid(section)) {
		loader_error(loader, loader->header_line,
		    "bad advisory id [%s] (use letters, digits, '.', '-', '_')",
		    quoted(section, id, sizeof(id)));
		ok = false;
	}
	for (size_t i = 0; i < db->count; i++)
		if (strcmp(db->entries[i].id, section) == 0) {
			loader_error(loader, loader->header_line,
			    "advisory [%s] already defined on line %u",
			    quoted(section, id, sizeof(id)), db->entries[i].line);
			ok = false;
		}
	if (db->count == db->capacity) {
		db->capacity = db->capacity == 0 ? 16 : db->capacity * 2;
		db->entries = xrealloc(db->entries, db->capacity * sizeof(db->entries[0]));
	}
	struct advisory *entry = &db->entries[db->count++];
	memset(entry, 0, sizeof(*entry));
	entry->id = xstrdup(section);
	entry->severity = ADVISORY_SEVERITY_INSECURE;
	entry->line = loader->header_line;
	loader->entry_header = loader->header_count;
	loader->keys_seen = 0;
	return ok;
}

/* parse_versions - split "8.9.0, 8.9.1" into entry->versions; false on a bad item. */
static bool
parse_versions(struct advisory *entry, const char *value, char *bad, size_t bad_size)
{
	const char *p = value;

	while (*p != '\0') {
		p += strspn(p, ", \t");
		if (*p == '\0')
			break;
		size_t length = strcspn(p, ", \t");
		char *item = xstrndup(p, length);
		if (!version_is_valid(item) || entry->version_count == ADVISORY_VERSIONS_MAX) {
			quoted(item, bad, bad_size);
			free(item);
			return false;
		}
		entry->versions = xrealloc(entry->versions,
		    (entry->version_count + 1) * sizeof(entry->versions[0]));
		entry->versions[entry->version_count++] = item;
		p += length;
	}
	if (entry->version_count == 0) {
		snprintf(bad, bad_size, "(empty list)");
		return false;
	}
	return true;
}

/* set_key - store one key of the open entry; false (with an error) when the value is bad. */
static bool
set_key(struct advisory_loader *loader, enum advisory_key key, const char *name,
    const char *value)
{
	struct advisory *entry = loader_entry(loader);
	unsigned line = loader->line;
	char shown[ADVISORY_QUOTED_MAX];

	switch (key) {
	case KEY_SOFTWARE:
		if (!software_name_is_known(value)) {
			loader_error(loader, line, "unknown software %s (use a name the banner "
			    "recogniser reports, e.g. Sendmail, Microsoft Exchange)",
			    quoted(value, shown, sizeof(shown)));
			return false;
		}
		entry->software = xstrdup(value);
		return true;
	case KEY_VERSION_BELOW:
	case KEY_VERSION_FROM:
		if (!version_is_valid(value)) {
			loader_error(loader, line, "%s: bad version %s", name,
			    quoted(value, shown, sizeof(shown)));
			return false;
		}
		if (key == KEY_VERSION_BELOW)
			entry->version_below = xstrdup(value);
		else
			entry->version_from = xstrdup(value);
		return true;
	case KEY_VERSIONS:
		if (!parse_versions(entry, value, shown, sizeof(shown))) {
			loader_error(loader, line, "versions: bad version %s", shown);
			return false;
		}
		return true;
	case KEY_ANY_VERSION:
		if (strcasecmp(value, "yes") == 0)
			entry->any_version = true;
		else if (strcasecmp(value, "no") != 0) {
			loader_error(loader, line, "any_version must be yes or no");
			return false;
		}
		return true;
	case KEY_SUMMARY:
		if (strlen(value) > ADVISORY_SUMMARY_MAX) {
			loader_error(loader, line, "summary longer than %d bytes",
			    ADVISORY_SUMMARY_MAX);
			return false;
		}
		entry->summary = xstrdup(value);
		return true;
	case KEY_SOURCE:
		if ((strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) ||
		    strpbrk(value, " \t") != NULL || strlen(value) > ADVISORY_SOURCE_MAX) {
			loader_error(loader, line, "source must be one http:// or https:// URL");
			return false;
		}
		entry->source = xstrdup(value);
		return true;
	case KEY_SEVERITY:
		if (strcmp(value, "relay") == 0)
			entry->severity = ADVISORY_SEVERITY_RELAY;
		else if (strcmp(value, "insecure") == 0)
			entry->severity = ADVISORY_SEVERITY_INSECURE;
		else {
			loader_error(loader, line, "severity must be relay or insecure");
			return false;
		}
		return true;
	}
	return false;
}

/* advisory_handler - inih callback for one "name = value" line. */
static int
advisory_handler(void *user, const char *section, const char *name, const char *value)
{
	struct advisory_loader *loader = user;
	unsigned line = loader->line;
	char shown[ADVISORY_QUOTED_MAX];
	bool ok = true;

	if (section[0] == '\0') {
		loader_error(loader, line, "key %s outside any [section]",
		    quoted(name, shown, sizeof(shown)));
		return 0;
	}
	if (loader->entry_header != loader->header_count) {
		if (loader->entry_header != 0)
			loader_finish_entry(loader);
		ok = loader_start_entry(loader, section);
	}
	loader->keyed_header = loader->header_count;
	enum advisory_key key = 0;
	for (size_t i = 0; i < sizeof(advisory_keys) / sizeof(advisory_keys[0]); i++)
		if (strcmp(name, advisory_keys[i].name) == 0)
			key = advisory_keys[i].key;
	if (key == 0) {
		loader_error(loader, line, "unknown key %s", quoted(name, shown, sizeof(shown)));
		return 0;
	}
	if (loader->keys_seen & key) {
		loader_error(loader, line, "%s given twice (or a continuation line)", name);
		return 0;
	}
	loader->keys_seen |= key;
	if (value[0] == '\0') {
		loader_error(loader, line, "%s has no value", name);
		return 0;
	}
	return set_key(loader, key, name, value) && ok;
}

static void
advisory_free_fields(struct advisory *entry)
{
	free(entry->id);
	free(entry->software);
	free(entry->summary);
	free(entry->source);
	free(entry->version_from);
	free(entry->version_below);
	for (size_t i = 0; i < entry->version_count; i++)
		free(entry->versions[i]);
	free(entry->versions);
}

void
advisory_db_free(struct advisory_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->count; i++)
		advisory_free_fields(&db->entries[i]);
	free(db->entries);
	free(db);
}

struct advisory_db *
advisory_db_load(const char *path, char *err, size_t err_size)
{
	struct advisory_loader loader;

	memset(&loader, 0, sizeof(loader));
	loader.file = fopen(path, "r");
	if (loader.file == NULL) {
		snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	loader.db = xcalloc(1, sizeof(*loader.db));
	int parsed = ini_parse_stream(advisory_reader, &loader, advisory_handler, &loader);
	bool read_failed = ferror(loader.file) != 0;
	fclose(loader.file);
	if (loader.entry_header != 0)
		loader_finish_entry(&loader);
	loader_check_keyed(&loader);
	if (parsed > 0)
		loader_error(&loader, (unsigned)parsed,
		    "syntax error: expected [id], key = value, or a comment");
	if (read_failed) {
		snprintf(err, err_size, "%s: read error", path);
		advisory_db_free(loader.db);
		return NULL;
	}
	if (parsed < 0) {
		snprintf(err, err_size, "%s: cannot parse (inih error %d)", path, parsed);
		advisory_db_free(loader.db);
		return NULL;
	}
	const struct load_error *error = loader.error.line != 0 ? &loader.error :
	    &loader.incomplete;
	if (error->line != 0) {
		snprintf(err, err_size, "%s:%u: %s", path, error->line, error->text);
		advisory_db_free(loader.db);
		return NULL;
	}
	return loader.db;
}

/* advisory_applies - the version rule of one advisory against a recognised version. */
static bool
advisory_applies(const struct advisory *entry, const char *version)
{
	if (entry->any_version)
		return true;
	if (version[0] == '\0')
		return false;
	if (entry->version_count > 0) {
		for (size_t i = 0; i < entry->version_count; i++)
			if (software_version_compare(version, entry->versions[i]) == 0)
				return true;
		return false;
	}
	if (entry->version_from != NULL &&
	    software_version_compare(version, entry->version_from) < 0)
		return false;
	if (entry->version_below != NULL &&
	    software_version_compare(version, entry->version_below) >= 0)
		return false;
	return true;
}

size_t
advisory_db_match(const struct advisory_db *db, const struct software_id *id,
    const struct advisory **out, size_t max)
{
	size_t written = 0;

	if (db == NULL || id == NULL || id->name[0] == '\0')
		return 0;
	for (size_t i = 0; i < db->count && written < max; i++) {
		const struct advisory *entry = &db->entries[i];
		if (strcasecmp(entry->software, id->name) == 0 &&
		    advisory_applies(entry, id->version))
			out[written++] = entry;
	}
	return written;
}

size_t
advisory_db_count(const struct advisory_db *db)
{
	return db == NULL ? 0 : db->count;
}

const struct advisory *
advisory_db_entry(const struct advisory_db *db, size_t index)
{
	if (db == NULL || index >= db->count)
		return NULL;
	return &db->entries[index];
}
