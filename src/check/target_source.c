/* target_source.c - lazy target stream: arguments, -f files, CIDR ranges one address at a
 * time, shards and fingerprints for deduplication. Memory never grows with a range's size. */
#include "check/target_source.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostport.h"
#include "core/log.h"

/* Reserved ranges (RFC 6890 and friends) skipped unless the user names them: loopback is
 * deliberately absent so that tests and demos on 127.0.0.0/8 and ::1 run. */
static const char *const default_exclusions[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
	"192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "fc00::/7", "fe80::/10", "ff00::/8",
};

struct target_source {
	struct target_source_options options;
	size_t next_argument;
	size_t next_file;
	FILE *file;                 /* the -f file being read */
	const char *file_name;
	unsigned long line_number;
	char *line;
	size_t line_capacity;
	/* the range being walked */
	bool in_range;
	struct netprefix range;
	uint8_t cursor[16];         /* next address of the range */
	uint64_t range_left;        /* addresses still to give, including cursor */
	char range_input[TARGET_SOURCE_LINE_MAX];
	bool range_explicit;
	struct netprefix_set reserved;
	uint64_t total;             /* entries counted so far (ranges counted whole) */
	bool ended;
};

void
target_default_exclusions(struct netprefix_set *set)
{
	for (size_t i = 0; i < sizeof(default_exclusions) / sizeof(default_exclusions[0]); i++) {
		struct netprefix prefix;
		if (!netprefix_parse(default_exclusions[i], &prefix))
			fatal("event=bad_builtin_prefix prefix=%s", default_exclusions[i]);
		netprefix_set_add(set, &prefix);
	}
}

/* fnv1a - 64-bit FNV-1a over bytes, continuing from hash. */
static uint64_t
fnv1a(uint64_t hash, const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		hash ^= bytes[i];
		hash *= UINT64_C(1099511628211);
	}
	return hash;
}

static uint64_t
address_hash(const struct netaddr *address, uint16_t port)
{
	uint64_t hash = UINT64_C(14695981039346656037);
	uint8_t port_bytes[2] = { (uint8_t)(port >> 8), (uint8_t)port };

	hash = fnv1a(hash, address->bytes, address->family == AF_INET ? 4 : 16);
	return fnv1a(hash, port_bytes, sizeof(port_bytes));
}

bool
target_shard_owns(const struct netaddr *address, unsigned index, unsigned count)
{
	/* docs/store.md: FNV-1a-64 of the address bytes in network order, mod N. */
	uint64_t hash = fnv1a(UINT64_C(14695981039346656037), address->bytes,
	    address->family == AF_INET ? 4 : 16);

	if (count <= 1)
		return true;
	return hash % count == (uint64_t)(index - 1);
}

struct target_source *
target_source_new(const struct target_source_options *options, char *err, size_t err_size)
{
	struct target_source *source = xcalloc(1, sizeof(*source));

	source->options = *options;
	netprefix_set_init(&source->reserved);
	target_default_exclusions(&source->reserved);
	/* Open every file now so that a typo fails before anything is contacted. */
	for (size_t i = 0; i < options->file_count; i++) {
		const char *name = options->files[i];
		if (strcmp(name, "-") == 0)
			continue;
		FILE *probe = fopen(name, "r");
		if (probe == NULL) {
			snprintf(err, err_size, "cannot read '%s': %s", name, strerror(errno));
			target_source_free(source);
			return NULL;
		}
		fclose(probe);
	}
	return source;
}

void
target_source_free(struct target_source *source)
{
	if (source == NULL)
		return;
	if (source->file != NULL && source->file != stdin)
		fclose(source->file);
	free(source->line);
	netprefix_set_free(&source->reserved);
	free(source);
}

uint64_t
target_source_known_total(const struct target_source *source)
{
	if (source->options.file_count > 0 && !source->ended)
		return 0;
	return source->total;
}

/* range_inside_reserved - the whole range lies in one reserved block (named explicitly). */
static bool
range_inside_reserved(const struct target_source *source, const struct netprefix *range)
{
	for (size_t i = 0; i < source->reserved.count; i++) {
		const struct netprefix *reserved = &source->reserved.items[i];
		if (reserved->address.family == range->address.family &&
		    reserved->length <= range->length &&
		    netprefix_contains(reserved, &range->address))
			return true;
	}
	return false;
}

/* start_range - begin walking a CIDR range; false and a message when it is too large. */
static bool
start_range(struct target_source *source, const char *text, const struct netprefix *range,
    char *err, size_t err_size)
{
	unsigned bits = (range->address.family == AF_INET ? 32 : 128) - range->length;
	uint64_t size = bits >= 64 ? UINT64_MAX : UINT64_C(1) << bits;

	if (size > source->options.max_targets) {
		snprintf(err, err_size, "range %s holds %s%llu addresses, more than --max-targets %llu",
		    text, bits >= 64 ? "over " : "", (unsigned long long)(bits >= 64 ? UINT64_MAX
		    : size), (unsigned long long)source->options.max_targets);
		return false;
	}
	source->in_range = true;
	source->range = *range;
	memcpy(source->cursor, range->address.bytes, sizeof(source->cursor));
	source->range_left = size;
	snprintf(source->range_input, sizeof(source->range_input), "%s", text);
	source->range_explicit = range_inside_reserved(source, range);
	source->total += size;
	return true;
}

/* next_from_range - the cursor's address, then advance it. */
static void
next_from_range(struct target_source *source, struct target_source_entry *out)
{
	size_t width = source->range.address.family == AF_INET ? 4 : 16;

	memset(out, 0, sizeof(*out));
	snprintf(out->input, sizeof(out->input), "%s", source->range_input);
	out->address.family = source->range.address.family;
	memcpy(out->address.bytes, source->cursor, width);
	out->named_explicitly = source->range_explicit;
	for (size_t i = width; i-- > 0;)
		if (++source->cursor[i] != 0)
			break;
	if (--source->range_left == 0)
		source->in_range = false;
}

/* classify - turn one target text into an entry (a name, an address) or start a range. */
static enum target_source_kind
classify(struct target_source *source, const char *text, struct target_source_entry *out,
    char *err, size_t err_size)
{
	struct netprefix prefix;
	struct hostport parsed;
	char reason[256];

	memset(out, 0, sizeof(*out));
	snprintf(out->input, sizeof(out->input), "%s", text);
	if (strchr(text, '/') != NULL) {
		if (!netprefix_parse(text, &prefix)) {
			snprintf(err, err_size, "bad range '%s'", text);
			return TARGET_SOURCE_ERROR;
		}
		if (prefix.length == (prefix.address.family == AF_INET ? 32u : 128u)) {
			out->address = prefix.address;
			out->named_explicitly = true;
			source->total++;
			return TARGET_SOURCE_ADDRESS;
		}
		if (!start_range(source, text, &prefix, err, err_size))
			return TARGET_SOURCE_ERROR;
		next_from_range(source, out);
		return TARGET_SOURCE_ADDRESS;
	}
	if (!hostport_parse(text, &parsed, reason, sizeof(reason))) {
		snprintf(err, err_size, "bad target '%s': %s", text, reason);
		return TARGET_SOURCE_ERROR;
	}
	source->total++;
	if (parsed.is_address) {
		out->address = parsed.address;
		out->port = parsed.port;
		out->named_explicitly = true;
		return TARGET_SOURCE_ADDRESS;
	}
	return TARGET_SOURCE_NAME;
}

/* next_line - the next target text of the -f files: comments and blanks skipped. */
static const char *
next_line(struct target_source *source, char *where, size_t where_size)
{
	for (;;) {
		if (source->file == NULL) {
			if (source->next_file >= source->options.file_count)
				return NULL;
			source->file_name = source->options.files[source->next_file++];
			source->file = strcmp(source->file_name, "-") == 0 ? stdin
			    : fopen(source->file_name, "r");
			source->line_number = 0;
			if (source->file == NULL) {
				log_error("event=target_file_unreadable file=%s error=\"%s\"",
				    source->file_name, strerror(errno));
				continue;
			}
		}
		ssize_t length = getline(&source->line, &source->line_capacity, source->file);
		if (length < 0) {
			if (source->file != stdin)
				fclose(source->file);
			source->file = NULL;
			continue;
		}
		source->line_number++;
		char *text = source->line;
		char *comment = strchr(text, '#');
		if (comment != NULL)
			*comment = '\0';
		while (isspace((unsigned char)*text))
			text++;
		size_t used = strlen(text);
		while (used > 0 && isspace((unsigned char)text[used - 1]))
			text[--used] = '\0';
		if (used == 0)
			continue;
		snprintf(where, where_size, "%s:%lu", source->file_name, source->line_number);
		return text;
	}
}

enum target_source_kind
target_source_next(struct target_source *source, struct target_source_entry *out, char *err,
    size_t err_size)
{
	char where[512];

	if (source->in_range) {
		next_from_range(source, out);
		return TARGET_SOURCE_ADDRESS;
	}
	if (source->next_argument < source->options.argument_count) {
		const char *text = source->options.arguments[source->next_argument++];
		return classify(source, text, out, err, err_size);
	}
	const char *text = next_line(source, where, sizeof(where));
	if (text == NULL) {
		source->ended = true;
		return TARGET_SOURCE_END;
	}
	if (strlen(text) >= TARGET_SOURCE_LINE_MAX) {
		snprintf(err, err_size, "%s: line too long", where);
		return TARGET_SOURCE_ERROR;
	}
	char reason[TARGET_SOURCE_LINE_MAX + 320];
	enum target_source_kind kind = classify(source, text, out, reason, sizeof(reason));
	if (kind == TARGET_SOURCE_ERROR)
		snprintf(err, err_size, "%s: %s", where, reason);
	return kind;
}

/* ---- fingerprints ------------------------------------------------------------------ */

struct target_seen {
	uint64_t *slots;     /* 0 = empty; fingerprints are never 0 */
	size_t capacity;     /* a power of two */
	size_t count;
};

struct target_seen *
target_seen_new(void)
{
	struct target_seen *seen = xcalloc(1, sizeof(*seen));

	seen->capacity = 1024;
	seen->slots = xcalloc(seen->capacity, sizeof(*seen->slots));
	return seen;
}

void
target_seen_free(struct target_seen *seen)
{
	if (seen == NULL)
		return;
	free(seen->slots);
	free(seen);
}

/* seen_insert - open addressing with linear probing; true when newly inserted. */
static bool
seen_insert(uint64_t *slots, size_t capacity, uint64_t fingerprint)
{
	for (size_t i = fingerprint & (capacity - 1);; i = (i + 1) & (capacity - 1)) {
		if (slots[i] == fingerprint)
			return false;
		if (slots[i] == 0) {
			slots[i] = fingerprint;
			return true;
		}
	}
}

bool
target_seen_add(struct target_seen *seen, const struct netaddr *address, uint16_t port)
{
	uint64_t fingerprint = address_hash(address, port) | 1u;

	if ((seen->count + 1) * 4 > seen->capacity * 3) {
		size_t capacity = seen->capacity * 2;
		uint64_t *slots = xcalloc(capacity, sizeof(*slots));
		for (size_t i = 0; i < seen->capacity; i++)
			if (seen->slots[i] != 0)
				seen_insert(slots, capacity, seen->slots[i]);
		free(seen->slots);
		seen->slots = slots;
		seen->capacity = capacity;
	}
	if (!seen_insert(seen->slots, seen->capacity, fingerprint))
		return false;
	seen->count++;
	return true;
}
