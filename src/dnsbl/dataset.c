/* dataset.c - build and query compact DNSBL datasets with rbldnsd's matching rules.
 * Called by the rbldnsd-format parser and the zone code; lookups never allocate or lock. */
#include "dnsbl/dataset.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "dnsbl/dataset_internal.h"

/*
 * How it works. Every entry becomes a record: an address interval, a priority, and a value
 * or "excluded". For one address, the covering records with the highest priority decide:
 * an exclusion among them means "not listed", otherwise all their values are the answer.
 * The priority gives each type rbldnsd's meaning:
 *   ip4set    the octet level of the block (/8 < /16 < /24 < /32), i.e. rbldnsd's four
 *             buckets: ranges are split into octet-aligned blocks like rbldnsd does, but a
 *             run of blocks stays one record instead of one entry per block;
 *   ip4trie, ip6trie   the prefix length: longest-prefix match;
 *   ip4tset   one level;  ip6tset   /64 listings below /128 exclusions.
 * finish() sorts the records, sweeps them once and writes the answer as disjoint segments,
 * each with a set id (a deduplicated list of values). Single IPv4 addresses become a sorted
 * uint32 array plus a 0-4 byte set index; single /64s a uint64 array; the rest ranges.
 */

typedef unsigned __int128 dataset_key;

#define DATASET_KEY_MAX (~(dataset_key)0)
#define DATASET_NO_SET UINT32_MAX
#define DATASET_INITIAL_CAPACITY 64
/* ip4set levels, most specific highest (rbldnsd's E08, E16, E24, E32 buckets). */
#define IP4SET_LEVEL_8 1
#define IP4SET_LEVEL_32 4
#define IP4SET_OCTET_STEPS 3
#define IP6TSET_LISTING_PRIORITY 0
#define IP6TSET_EXCLUSION_PRIORITY 1
#define IP6TSET_LISTING_LENGTH 64
#define IP6TSET_EXCLUSION_LENGTH 128
/* The top 16 bits of a single IPv4 address pick a slice of the sorted array. */
#define DATASET_BUCKET_SHIFT 16
#define DATASET_BUCKET_COUNT (1u << 16)
/* Below this many single addresses the slice table costs more than it saves. */
#define DATASET_BUCKET_MIN_SINGLES 65536
/* Radix sort of IPv4 records: two passes of 16 bits. */
#define DATASET_RADIX_BITS 16
#define DATASET_RADIX_SIZE (1u << DATASET_RADIX_BITS)
#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

struct record4 {
	uint32_t start;
	uint32_t end;
	uint32_t value;		/* value id; unused when excluded */
	uint8_t priority;
	uint8_t excluded;
};

struct record6 {
	dataset_key start;
	dataset_key end;
	uint32_t value;
	uint8_t priority;
	uint8_t excluded;
};

/* Distinct (A, TXT) pairs: ids are dense, slots hold id + 1 (0 = empty). */
struct value_table {
	uint32_t *a;
	char **txt;
	size_t count;
	size_t capacity;
	uint32_t *slots;
	size_t slot_count;
};

/* Distinct sorted lists of value ids: set i is members[offsets[i] .. offsets[i + 1]). */
struct set_table {
	uint32_t *offsets;
	uint32_t *members;
	size_t count;
	size_t capacity;
	size_t member_count;
	size_t member_capacity;
	uint32_t *slots;
	size_t slot_count;
	uint32_t *of_single_value;	/* value id -> id of the set {value}, or DATASET_NO_SET */
};

struct dataset_builder {
	enum dataset_type type;
	bool ipv6;
	struct record4 *records4;
	size_t count4;
	size_t capacity4;
	struct record6 *records6;
	size_t count6;
	size_t capacity6;
	struct value_table values;
	uint64_t *prefix_slots;		/* trie types: prefix_slot_value() of each prefix */
	size_t prefix_slot_count;
	size_t prefix_count;
	bool have_last_value;		/* one-entry cache: most lines share a value */
	uint32_t last_value;
	struct dataset_meta meta;
	size_t entries;
};

/* Set ids stored in width bytes each; width 0 means every id is 0 (one set only). */
struct set_index {
	uint8_t *data;
	unsigned width;
};

/* Segments written by the sweep, still with 32-bit set ids. */
struct segments {
	uint32_t *single4;
	uint32_t *single4_set;
	size_t single4_count;
	size_t single4_capacity;
	uint32_t *range4_start;
	uint32_t *range4_end;
	uint32_t *range4_set;
	size_t range4_count;
	size_t range4_capacity;
	uint64_t *block6;
	uint32_t *block6_set;
	size_t block6_count;
	size_t block6_capacity;
	dataset_key *range6_start;
	dataset_key *range6_end;
	uint32_t *range6_set;
	size_t range6_count;
	size_t range6_capacity;
	bool pending;			/* the segment being extended */
	dataset_key pending_start;
	dataset_key pending_end;
	uint32_t pending_set;
};

struct dataset {
	enum dataset_type type;
	struct dataset_meta meta;
	size_t entries;
	struct dataset_value *values;
	size_t value_count;
	char *text;
	size_t text_size;
	uint32_t *set_offsets;
	uint32_t *set_members;
	size_t set_count;
	size_t member_count;
	uint32_t *single4;
	struct set_index single4_set;
	size_t single4_count;
	uint32_t *bucket4;		/* DATASET_BUCKET_COUNT + 1 slice starts, or NULL */
	uint32_t *range4_start;
	uint32_t *range4_end;
	struct set_index range4_set;
	size_t range4_count;
	uint64_t *block6;
	struct set_index block6_set;
	size_t block6_count;
	dataset_key *range6_start;
	dataset_key *range6_end;
	struct set_index range6_set;
	size_t range6_count;
	size_t memory_bytes;
};

static const char *const dataset_type_names[] = {
	[DATASET_IP4SET] = "ip4set",
	[DATASET_IP4TSET] = "ip4tset",
	[DATASET_IP4TRIE] = "ip4trie",
	[DATASET_IP6TRIE] = "ip6trie",
	[DATASET_IP6TSET] = "ip6tset",
};

bool
dataset_type_parse(const char *name, enum dataset_type *out)
{
	size_t i;

	if (name == NULL)
		return false;
	for (i = 0; i < sizeof(dataset_type_names) / sizeof(dataset_type_names[0]); i++) {
		if (strcmp(name, dataset_type_names[i]) == 0) {
			*out = (enum dataset_type)i;
			return true;
		}
	}
	return false;
}

const char *
dataset_type_name(enum dataset_type type)
{
	if ((size_t)type >= sizeof(dataset_type_names) / sizeof(dataset_type_names[0]))
		return "unknown";
	return dataset_type_names[type];
}

/* type_is_ipv6 - true for the types keyed by IPv6 addresses */
static bool
type_is_ipv6(enum dataset_type type)
{
	return type == DATASET_IP6TRIE || type == DATASET_IP6TSET;
}

/* grow - make room for one more element of size bytes in an array of *capacity */
static void *
grow(void *array, size_t count, size_t *capacity, size_t size)
{
	if (count < *capacity)
		return array;
	*capacity = *capacity == 0 ? DATASET_INITIAL_CAPACITY : *capacity * 2;
	return xrealloc(array, *capacity * size);
}

/* key_from_bytes - 16 network-order bytes as one 128-bit number */
static dataset_key
key_from_bytes(const uint8_t bytes[16])
{
	dataset_key key = 0;
	size_t i;

	for (i = 0; i < 16; i++)
		key = (key << 8) | bytes[i];
	return key;
}

/* ip4_from_bytes - 4 network-order bytes as a host-order number */
static uint32_t
ip4_from_bytes(const uint8_t bytes[4])
{
	return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
	    bytes[3];
}

/* hash_mix - FNV-1a over length bytes, continuing from hash */
static uint64_t
hash_mix(uint64_t hash, const void *data, size_t length)
{
	const uint8_t *bytes = data;
	size_t i;

	for (i = 0; i < length; i++) {
		hash ^= bytes[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

/* value_hash - hash of one (A, TXT) pair; NULL and "" TXT differ */
static uint64_t
value_hash(uint32_t a, const char *txt)
{
	uint64_t hash = hash_mix(FNV_OFFSET, &a, sizeof(a));
	uint8_t marker = txt == NULL ? 0 : 1;

	hash = hash_mix(hash, &marker, sizeof(marker));
	if (txt != NULL)
		hash = hash_mix(hash, txt, strlen(txt));
	return hash;
}

/* value_equal - same A and same TXT (both absent or both equal text) */
static bool
value_equal(const struct value_table *table, uint32_t id, uint32_t a, const char *txt)
{
	if (table->a[id] != a)
		return false;
	if (table->txt[id] == NULL || txt == NULL)
		return table->txt[id] == txt;
	return strcmp(table->txt[id], txt) == 0;
}

/* value_table_rehash - rebuild the slots with slot_count slots */
static void
value_table_rehash(struct value_table *table, size_t slot_count)
{
	size_t i;

	free(table->slots);
	table->slots = xcalloc(slot_count, sizeof(*table->slots));
	table->slot_count = slot_count;
	for (i = 0; i < table->count; i++) {
		size_t slot = value_hash(table->a[i], table->txt[i]) & (slot_count - 1);

		while (table->slots[slot] != 0)
			slot = (slot + 1) & (slot_count - 1);
		table->slots[slot] = (uint32_t)i + 1;
	}
}

/* value_table_intern - the id of (a, txt), added (with a copy of txt) when new */
static uint32_t
value_table_intern(struct value_table *table, uint32_t a, const char *txt)
{
	size_t slot;

	if ((table->count + 1) * 2 > table->slot_count)
		value_table_rehash(table, table->slot_count == 0 ? DATASET_INITIAL_CAPACITY :
		    table->slot_count * 2);
	slot = value_hash(a, txt) & (table->slot_count - 1);
	while (table->slots[slot] != 0) {
		uint32_t id = table->slots[slot] - 1;

		if (value_equal(table, id, a, txt))
			return id;
		slot = (slot + 1) & (table->slot_count - 1);
	}
	if (table->count == table->capacity) {
		table->capacity = table->capacity == 0 ? DATASET_INITIAL_CAPACITY :
		    table->capacity * 2;
		table->a = xrealloc(table->a, table->capacity * sizeof(*table->a));
		table->txt = xrealloc(table->txt, table->capacity * sizeof(*table->txt));
	}
	table->a[table->count] = a;
	table->txt[table->count] = txt == NULL ? NULL : xstrdup(txt);
	table->slots[slot] = (uint32_t)table->count + 1;
	return (uint32_t)table->count++;
}

/* value_table_free - release the table and its texts */
static void
value_table_free(struct value_table *table)
{
	size_t i;

	for (i = 0; i < table->count; i++)
		free(table->txt[i]);
	free(table->a);
	free(table->txt);
	free(table->slots);
	memset(table, 0, sizeof(*table));
}

struct dataset_builder *
dataset_builder_new(enum dataset_type type)
{
	struct dataset_builder *b = xcalloc(1, sizeof(*b));

	b->type = type;
	b->ipv6 = type_is_ipv6(type);
	return b;
}

struct dataset_meta *
dataset_builder_meta(struct dataset_builder *b)
{
	return &b->meta;
}

void
dataset_builder_free(struct dataset_builder *b)
{
	if (b == NULL)
		return;
	free(b->records4);
	free(b->records6);
	value_table_free(&b->values);
	free(b->prefix_slots);
	free(b);
}

/* builder_value - the value id of (a, txt); "" is stored as no TXT */
static uint32_t
builder_value(struct dataset_builder *b, uint32_t a, const char *txt)
{
	if (txt != NULL && txt[0] == '\0')
		txt = NULL;
	if (b->have_last_value && value_equal(&b->values, b->last_value, a, txt))
		return b->last_value;
	b->last_value = value_table_intern(&b->values, a, txt);
	b->have_last_value = true;
	return b->last_value;
}

/* builder_push4 - append one IPv4 record */
static void
builder_push4(struct dataset_builder *b, uint32_t start, uint32_t end, uint32_t value,
    unsigned priority, bool excluded)
{
	b->records4 = grow(b->records4, b->count4, &b->capacity4, sizeof(*b->records4));
	b->records4[b->count4++] = (struct record4){ .start = start, .end = end,
		.value = value, .priority = (uint8_t)priority, .excluded = excluded };
}

/* builder_push6 - append one IPv6 record */
static void
builder_push6(struct dataset_builder *b, dataset_key start, dataset_key end, uint32_t value,
    unsigned priority, bool excluded)
{
	b->records6 = grow(b->records6, b->count6, &b->capacity6, sizeof(*b->records6));
	b->records6[b->count6++] = (struct record6){ .start = start, .end = end,
		.value = value, .priority = (uint8_t)priority, .excluded = excluded };
}

/* builder_split_ip4set - rbldnsd's ip4set range expansion without the expansion: the part
 * of [first,last] before the first /24 boundary and after the last one are /32 blocks, the
 * same again with /24 blocks inside /16s and /16 blocks inside /8s, the middle /8 blocks.
 * Each run of equal blocks is one record at that block's level. */
static void
builder_split_ip4set(struct dataset_builder *b, uint32_t first, uint32_t last, uint32_t value,
    bool excluded)
{
	uint64_t low = first, high = last;	/* in units of 256^step addresses */
	unsigned step;

	for (step = 0; step < IP4SET_OCTET_STEPS; step++) {
		unsigned shift = 8 * step;
		unsigned level = IP4SET_LEVEL_32 - step;

		if ((low | 0xff) >= high) {
			if (low > high)
				return;
			/* a whole block of the next size is one entry of the next level */
			builder_push4(b, (uint32_t)(low << shift),
			    (uint32_t)(((high + 1) << shift) - 1), value,
			    high - low == 0xff ? level - 1 : level, excluded);
			return;
		}
		if ((low & 0xff) != 0) {
			builder_push4(b, (uint32_t)(low << shift),
			    (uint32_t)((((low | 0xff) + 1) << shift) - 1), value, level, excluded);
			low = (low >> 8) + 1;
		} else
			low >>= 8;
		if ((high & 0xff) != 0xff) {
			builder_push4(b, (uint32_t)((high & ~(uint64_t)0xff) << shift),
			    (uint32_t)(((high + 1) << shift) - 1), value, level, excluded);
			high = (high >> 8) - 1;
		} else
			high >>= 8;
	}
	if (low <= high)
		builder_push4(b, (uint32_t)(low << 24), (uint32_t)(((high + 1) << 24) - 1), value,
		    IP4SET_LEVEL_8, excluded);
}

/* mix64 - spread the bits of x over all 64 (the murmur3 finalizer) */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* prefix_slot_value - what the duplicate table holds for record index (never 0): IPv4
 * keeps the prefix itself, so probing touches no record; IPv6 the record index + 1 */
static uint64_t
prefix_slot_value(const struct dataset_builder *b, size_t index)
{
	if (b->ipv6)
		return (uint64_t)index + 1;
	return ((uint64_t)b->records4[index].start << 8 | b->records4[index].priority) + 1;
}

/* prefix_slot_hash - hash of the prefix behind a slot value */
static uint64_t
prefix_slot_hash(const struct dataset_builder *b, uint64_t value)
{
	const struct record6 *r;

	if (!b->ipv6)
		return mix64(value);
	r = &b->records6[value - 1];
	return mix64((uint64_t)(r->start >> 64) ^ mix64((uint64_t)r->start ^ r->priority));
}

/* prefix_slot_equal - the slot value stands for the same prefix as record index */
static bool
prefix_slot_equal(const struct dataset_builder *b, uint64_t value, size_t index)
{
	const struct record6 *x, *y;

	if (!b->ipv6)
		return value == prefix_slot_value(b, index);
	x = &b->records6[value - 1];
	y = &b->records6[index];
	return x->start == y->start && x->priority == y->priority;
}

/* prefix_insert - remember record index; false if its prefix is already there */
static bool
prefix_insert(struct dataset_builder *b, size_t index)
{
	uint64_t value = prefix_slot_value(b, index);
	size_t slot, mask;

	if ((b->prefix_count + 1) * 2 > b->prefix_slot_count) {
		size_t old_count = b->prefix_slot_count, i;
		uint64_t *old = b->prefix_slots;

		b->prefix_slot_count = old_count == 0 ? DATASET_INITIAL_CAPACITY : old_count * 2;
		b->prefix_slots = xcalloc(b->prefix_slot_count, sizeof(*b->prefix_slots));
		mask = b->prefix_slot_count - 1;
		for (i = 0; i < old_count; i++) {
			if (old[i] == 0)
				continue;
			slot = prefix_slot_hash(b, old[i]) & mask;
			while (b->prefix_slots[slot] != 0)
				slot = (slot + 1) & mask;
			b->prefix_slots[slot] = old[i];
		}
		free(old);
	}
	mask = b->prefix_slot_count - 1;
	slot = prefix_slot_hash(b, value) & mask;
	while (b->prefix_slots[slot] != 0) {
		if (prefix_slot_equal(b, b->prefix_slots[slot], index))
			return false;
		slot = (slot + 1) & mask;
	}
	b->prefix_slots[slot] = value;
	b->prefix_count++;
	return true;
}

/* builder_error - write a message for the caller */
static bool
builder_error(char *err, size_t err_size, const char *message, const struct netprefix *prefix)
{
	char text[NETPREFIX_TEXT_MAX];

	if (err == NULL || err_size == 0)
		return false;
	if (prefix == NULL || netprefix_format(prefix, text, sizeof(text)) < 0)
		snprintf(err, err_size, "%s", message);
	else
		snprintf(err, err_size, "%s %s", message, text);
	return false;
}

/* builder_check_prefix - the prefix fits the dataset type and has no host bits */
static bool
builder_check_prefix(const struct dataset_builder *b, const struct netprefix *prefix,
    bool excluded, char *err, size_t err_size)
{
	uint8_t bytes[16];
	unsigned width = b->ipv6 ? 128 : 32;

	if (prefix == NULL)
		return builder_error(err, err_size, "no prefix", NULL);
	if (prefix->address.family != (b->ipv6 ? AF_INET6 : AF_INET))
		return builder_error(err, err_size, b->ipv6 ? "not an IPv6 prefix:" :
		    "not an IPv4 prefix:", prefix);
	if (prefix->length > width)
		return builder_error(err, err_size, "prefix length out of range:", NULL);
	if (b->type == DATASET_IP4TSET && (excluded || prefix->length != 32))
		return builder_error(err, err_size, excluded ? "ip4tset has no exclusions:" :
		    "ip4tset holds single addresses only:", prefix);
	if (b->type == DATASET_IP6TSET && prefix->length !=
	    (excluded ? IP6TSET_EXCLUSION_LENGTH : IP6TSET_LISTING_LENGTH))
		return builder_error(err, err_size, excluded ?
		    "ip6tset excludes single /128 addresses only:" :
		    "ip6tset lists /64 prefixes only:", prefix);
	memset(bytes, 0, sizeof(bytes));
	memcpy(bytes, prefix->address.bytes, width / 8);
	if (prefix->length < width) {
		dataset_key key = b->ipv6 ? key_from_bytes(bytes) : ip4_from_bytes(bytes);
		dataset_key host = prefix->length == 0 ? DATASET_KEY_MAX :
		    ((dataset_key)1 << (width - prefix->length)) - 1;

		if ((key & host) != 0)
			return builder_error(err, err_size, "host bits set in", prefix);
	}
	return true;
}

/* builder_add_prefix - the common part of add and exclude */
static bool
builder_add_prefix(struct dataset_builder *b, const struct netprefix *prefix, uint32_t value,
    bool excluded, char *err, size_t err_size)
{
	if (!b->ipv6) {
		uint32_t start = ip4_from_bytes(prefix->address.bytes);
		uint32_t end = start | (uint32_t)((UINT64_C(1) << (32 - prefix->length)) - 1);

		switch (b->type) {
		case DATASET_IP4SET:
			builder_split_ip4set(b, start, end, value, excluded);
			break;
		case DATASET_IP4TSET:
			builder_push4(b, start, end, value, 0, false);
			break;
		default:
			builder_push4(b, start, end, value, prefix->length, excluded);
			if (!prefix_insert(b, b->count4 - 1)) {
				b->count4--;
				return builder_error(err, err_size, "duplicated entry for", prefix);
			}
			break;
		}
	} else {
		dataset_key start = key_from_bytes(prefix->address.bytes);
		dataset_key end = start | (prefix->length == 0 ? DATASET_KEY_MAX :
		    ((dataset_key)1 << (128 - prefix->length)) - 1);

		if (b->type == DATASET_IP6TSET) {
			builder_push6(b, start, end, value, excluded ? IP6TSET_EXCLUSION_PRIORITY :
			    IP6TSET_LISTING_PRIORITY, excluded);
		} else {
			builder_push6(b, start, end, value, prefix->length, excluded);
			if (!prefix_insert(b, b->count6 - 1)) {
				b->count6--;
				return builder_error(err, err_size, "duplicated entry for", prefix);
			}
		}
	}
	b->entries++;
	return true;
}

bool
dataset_builder_add(struct dataset_builder *b, const struct netprefix *prefix, uint32_t a,
    const char *txt, char *err, size_t err_size)
{
	if (!builder_check_prefix(b, prefix, false, err, err_size))
		return false;
	return builder_add_prefix(b, prefix, builder_value(b, a, txt), false, err, err_size);
}

bool
dataset_builder_exclude(struct dataset_builder *b, const struct netprefix *prefix, char *err,
    size_t err_size)
{
	if (!builder_check_prefix(b, prefix, true, err, err_size))
		return false;
	return builder_add_prefix(b, prefix, 0, true, err, err_size);
}

bool
dataset_builder_add_range4(struct dataset_builder *b, uint32_t first, uint32_t last,
    uint32_t a, const char *txt, bool excluded)
{
	if (b->type != DATASET_IP4SET || first > last)
		return false;
	builder_split_ip4set(b, first, last, excluded ? 0 : builder_value(b, a, txt), excluded);
	b->entries++;
	return true;
}

void
dataset_builder_remap_values(struct dataset_builder *b, dataset_value_remap_fn fn,
    void *context)
{
	struct value_table *table = &b->values;
	size_t i;

	for (i = 0; i < table->count; i++) {
		uint32_t a = table->a[i];
		char *txt = fn(context, &a, table->txt[i]);

		free(table->txt[i]);
		table->a[i] = a;
		table->txt[i] = txt;
	}
	/* Two values may now be equal: finish() merges them; keep the slots consistent. */
	if (table->slot_count != 0)
		value_table_rehash(table, table->slot_count);
	b->have_last_value = false;
}

/* builder_canonical_values - merge equal values (after a remap) into one id each and
 * renumber the records; returns the table to keep. */
static void
builder_canonical_values(struct dataset_builder *b, struct value_table *canonical)
{
	struct value_table *old = &b->values;
	uint32_t *map;
	bool changed = false;
	size_t i;

	memset(canonical, 0, sizeof(*canonical));
	if (old->count == 0)
		return;
	map = xmalloc(old->count * sizeof(*map));
	for (i = 0; i < old->count; i++) {
		map[i] = value_table_intern(canonical, old->a[i], old->txt[i]);
		if (map[i] != i)
			changed = true;
	}
	if (changed) {
		for (i = 0; i < b->count4; i++)
			if (!b->records4[i].excluded)
				b->records4[i].value = map[b->records4[i].value];
		for (i = 0; i < b->count6; i++)
			if (!b->records6[i].excluded)
				b->records6[i].value = map[b->records6[i].value];
	}
	free(map);
	value_table_free(old);
}

/* sort_records4 - order IPv4 records by start: two stable 16-bit radix passes */
static void
sort_records4(struct dataset_builder *b)
{
	struct record4 *from = b->records4, *to;
	size_t n = b->count4, i, pass;
	uint32_t *count;

	for (i = 1; i < n; i++)
		if (from[i - 1].start > from[i].start)
			break;
	if (i >= n)
		return;
	to = xmalloc(n * sizeof(*to));
	count = xmalloc(DATASET_RADIX_SIZE * sizeof(*count));
	for (pass = 0; pass < 2; pass++) {
		unsigned shift = (unsigned)pass * DATASET_RADIX_BITS;
		uint32_t total = 0;
		struct record4 *swap;

		memset(count, 0, DATASET_RADIX_SIZE * sizeof(*count));
		for (i = 0; i < n; i++)
			count[(from[i].start >> shift) & (DATASET_RADIX_SIZE - 1)]++;
		for (i = 0; i < DATASET_RADIX_SIZE; i++) {
			uint32_t here = count[i];

			count[i] = total;
			total += here;
		}
		for (i = 0; i < n; i++)
			to[count[(from[i].start >> shift) & (DATASET_RADIX_SIZE - 1)]++] = from[i];
		swap = from;
		from = to;
		to = swap;
	}
	/* after an even number of passes the sorted data is back in the first array */
	b->records4 = from;
	free(to);
	free(count);
}

/* compare_records6 - qsort order of IPv6 records: by start */
static int
compare_records6(const void *x, const void *y)
{
	const struct record6 *a = x, *b = y;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return 0;
}

/* set_table_hash - hash of a list of value ids */
static uint64_t
set_table_hash(const uint32_t *members, size_t count)
{
	return hash_mix(FNV_OFFSET, members, count * sizeof(*members));
}

/* set_table_rehash - rebuild the slots with slot_count slots */
static void
set_table_rehash(struct set_table *sets, size_t slot_count)
{
	size_t i;

	free(sets->slots);
	sets->slots = xcalloc(slot_count, sizeof(*sets->slots));
	sets->slot_count = slot_count;
	for (i = 0; i < sets->count; i++) {
		size_t slot = set_table_hash(sets->members + sets->offsets[i],
		    sets->offsets[i + 1] - sets->offsets[i]) & (slot_count - 1);

		while (sets->slots[slot] != 0)
			slot = (slot + 1) & (slot_count - 1);
		sets->slots[slot] = (uint32_t)i + 1;
	}
}

/* set_table_intern - the id of the sorted, duplicate-free list members[0..count) */
static uint32_t
set_table_intern(struct set_table *sets, const uint32_t *members, size_t count)
{
	size_t slot;

	if ((sets->count + 1) * 2 > sets->slot_count)
		set_table_rehash(sets, sets->slot_count == 0 ? DATASET_INITIAL_CAPACITY :
		    sets->slot_count * 2);
	slot = set_table_hash(members, count) & (sets->slot_count - 1);
	while (sets->slots[slot] != 0) {
		uint32_t id = sets->slots[slot] - 1;
		size_t length = sets->offsets[id + 1] - sets->offsets[id];

		if (length == count && memcmp(sets->members + sets->offsets[id], members,
		    count * sizeof(*members)) == 0)
			return id;
		slot = (slot + 1) & (sets->slot_count - 1);
	}
	if (sets->count + 2 > sets->capacity) {
		sets->capacity = sets->capacity == 0 ? DATASET_INITIAL_CAPACITY :
		    sets->capacity * 2;
		sets->offsets = xrealloc(sets->offsets, sets->capacity * sizeof(*sets->offsets));
	}
	while (sets->member_count + count > sets->member_capacity) {
		sets->member_capacity = sets->member_capacity == 0 ? DATASET_INITIAL_CAPACITY :
		    sets->member_capacity * 2;
		sets->members = xrealloc(sets->members,
		    sets->member_capacity * sizeof(*sets->members));
	}
	if (sets->count == 0)
		sets->offsets[0] = 0;
	memcpy(sets->members + sets->member_count, members, count * sizeof(*members));
	sets->member_count += count;
	sets->offsets[sets->count + 1] = (uint32_t)sets->member_count;
	sets->slots[slot] = (uint32_t)sets->count + 1;
	return (uint32_t)sets->count++;
}

/* set_table_single - the id of the set holding only value */
static uint32_t
set_table_single(struct set_table *sets, uint32_t value)
{
	if (sets->of_single_value[value] == DATASET_NO_SET)
		sets->of_single_value[value] = set_table_intern(sets, &value, 1);
	return sets->of_single_value[value];
}

/* The sweep over sorted records: a min-heap (by end) of the records covering position. */
struct sweep {
	const struct dataset_builder *b;
	uint32_t *heap;
	size_t heap_count;
	size_t heap_capacity;
	uint32_t *scratch;
	size_t scratch_capacity;
	struct set_table *sets;
	struct segments *out;
};

/* record_start - start of record i, either family */
static inline dataset_key
record_start(const struct dataset_builder *b, size_t i)
{
	return b->ipv6 ? b->records6[i].start : b->records4[i].start;
}

/* record_end - last address of record i */
static inline dataset_key
record_end(const struct dataset_builder *b, size_t i)
{
	return b->ipv6 ? b->records6[i].end : b->records4[i].end;
}

/* sweep_push - add record i to the heap of covering records */
static void
sweep_push(struct sweep *s, uint32_t i)
{
	size_t at;

	s->heap = grow(s->heap, s->heap_count, &s->heap_capacity, sizeof(*s->heap));
	at = s->heap_count++;
	while (at > 0) {
		size_t parent = (at - 1) / 2;

		if (record_end(s->b, s->heap[parent]) <= record_end(s->b, i))
			break;
		s->heap[at] = s->heap[parent];
		at = parent;
	}
	s->heap[at] = i;
}

/* sweep_pop - drop the record that ends first */
static void
sweep_pop(struct sweep *s)
{
	uint32_t last = s->heap[--s->heap_count];
	dataset_key last_end = record_end(s->b, last);
	size_t at = 0;

	if (s->heap_count == 0)
		return;
	for (;;) {
		size_t child = 2 * at + 1;

		if (child >= s->heap_count)
			break;
		if (child + 1 < s->heap_count && record_end(s->b, s->heap[child + 1]) <
		    record_end(s->b, s->heap[child]))
			child++;
		if (last_end <= record_end(s->b, s->heap[child]))
			break;
		s->heap[at] = s->heap[child];
		at = child;
	}
	s->heap[at] = last;
}

/* compare_u32 - qsort order of value ids */
static int
compare_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* sweep_active_set - the set id answering for the covering records, or DATASET_NO_SET */
static uint32_t
sweep_active_set(struct sweep *s)
{
	const struct dataset_builder *b = s->b;
	unsigned best = 0;
	size_t i, count = 0, unique;

	if (s->heap_count == 1) {
		uint32_t r = s->heap[0];
		bool excluded = b->ipv6 ? b->records6[r].excluded : b->records4[r].excluded;

		if (excluded)
			return DATASET_NO_SET;
		return set_table_single(s->sets, b->ipv6 ? b->records6[r].value :
		    b->records4[r].value);
	}
	for (i = 0; i < s->heap_count; i++) {
		uint32_t r = s->heap[i];
		unsigned priority = b->ipv6 ? b->records6[r].priority : b->records4[r].priority;

		if (priority > best)
			best = priority;
	}
	for (i = 0; i < s->heap_count; i++) {
		uint32_t r = s->heap[i];
		unsigned priority = b->ipv6 ? b->records6[r].priority : b->records4[r].priority;
		bool excluded = b->ipv6 ? b->records6[r].excluded : b->records4[r].excluded;

		if (priority != best)
			continue;
		if (excluded)
			return DATASET_NO_SET;
		s->scratch = grow(s->scratch, count, &s->scratch_capacity, sizeof(*s->scratch));
		s->scratch[count++] = b->ipv6 ? b->records6[r].value : b->records4[r].value;
	}
	if (count == 1)
		return set_table_single(s->sets, s->scratch[0]);
	qsort(s->scratch, count, sizeof(*s->scratch), compare_u32);
	for (i = 1, unique = 1; i < count; i++)
		if (s->scratch[i] != s->scratch[unique - 1])
			s->scratch[unique++] = s->scratch[i];
	if (unique == 1)
		return set_table_single(s->sets, s->scratch[0]);
	return set_table_intern(s->sets, s->scratch, unique);
}

/* next_capacity - the capacity after growing one that is full */
static size_t
next_capacity(size_t capacity)
{
	return capacity == 0 ? DATASET_INITIAL_CAPACITY : capacity * 2;
}

/* segments_flush - store the pending segment as a single, a /64 block or a range */
static void
segments_flush(struct segments *out, bool ipv6)
{
	const dataset_key low64 = (dataset_key)UINT64_MAX;
	size_t at;

	if (!out->pending)
		return;
	out->pending = false;
	if (!ipv6 && out->pending_start == out->pending_end) {
		if (out->single4_count == out->single4_capacity) {
			out->single4_capacity = next_capacity(out->single4_capacity);
			out->single4 = xrealloc(out->single4,
			    out->single4_capacity * sizeof(*out->single4));
			out->single4_set = xrealloc(out->single4_set,
			    out->single4_capacity * sizeof(*out->single4_set));
		}
		at = out->single4_count++;
		out->single4[at] = (uint32_t)out->pending_start;
		out->single4_set[at] = out->pending_set;
	} else if (!ipv6) {
		if (out->range4_count == out->range4_capacity) {
			out->range4_capacity = next_capacity(out->range4_capacity);
			out->range4_start = xrealloc(out->range4_start,
			    out->range4_capacity * sizeof(*out->range4_start));
			out->range4_end = xrealloc(out->range4_end,
			    out->range4_capacity * sizeof(*out->range4_end));
			out->range4_set = xrealloc(out->range4_set,
			    out->range4_capacity * sizeof(*out->range4_set));
		}
		at = out->range4_count++;
		out->range4_start[at] = (uint32_t)out->pending_start;
		out->range4_end[at] = (uint32_t)out->pending_end;
		out->range4_set[at] = out->pending_set;
	} else if ((out->pending_start & low64) == 0 &&
	    out->pending_end == (out->pending_start | low64)) {
		if (out->block6_count == out->block6_capacity) {
			out->block6_capacity = next_capacity(out->block6_capacity);
			out->block6 = xrealloc(out->block6,
			    out->block6_capacity * sizeof(*out->block6));
			out->block6_set = xrealloc(out->block6_set,
			    out->block6_capacity * sizeof(*out->block6_set));
		}
		at = out->block6_count++;
		out->block6[at] = (uint64_t)(out->pending_start >> 64);
		out->block6_set[at] = out->pending_set;
	} else {
		if (out->range6_count == out->range6_capacity) {
			out->range6_capacity = next_capacity(out->range6_capacity);
			out->range6_start = xrealloc(out->range6_start,
			    out->range6_capacity * sizeof(*out->range6_start));
			out->range6_end = xrealloc(out->range6_end,
			    out->range6_capacity * sizeof(*out->range6_end));
			out->range6_set = xrealloc(out->range6_set,
			    out->range6_capacity * sizeof(*out->range6_set));
		}
		at = out->range6_count++;
		out->range6_start[at] = out->pending_start;
		out->range6_end[at] = out->pending_end;
		out->range6_set[at] = out->pending_set;
	}
}

/* segments_emit - [start,end] answers with set (DATASET_NO_SET: not listed); adjacent
 * segments with the same set are merged */
static void
segments_emit(struct segments *out, bool ipv6, dataset_key start, dataset_key end,
    uint32_t set)
{
	if (set == DATASET_NO_SET) {
		segments_flush(out, ipv6);
		return;
	}
	if (out->pending && out->pending_set == set && out->pending_end + 1 == start) {
		out->pending_end = end;
		return;
	}
	segments_flush(out, ipv6);
	out->pending = true;
	out->pending_start = start;
	out->pending_end = end;
	out->pending_set = set;
}

/* sweep_run - walk the sorted records once and emit every segment */
static void
sweep_run(struct sweep *s, size_t n)
{
	const struct dataset_builder *b = s->b;
	dataset_key position = 0;
	size_t next = 0;

	while (next < n || s->heap_count > 0) {
		dataset_key segment_end;

		if (s->heap_count == 0)
			position = record_start(b, next);
		while (next < n && record_start(b, next) == position)
			sweep_push(s, (uint32_t)next++);
		segment_end = record_end(b, s->heap[0]);
		if (next < n && record_start(b, next) - 1 < segment_end)
			segment_end = record_start(b, next) - 1;
		segments_emit(s->out, b->ipv6, position, segment_end, sweep_active_set(s));
		if (segment_end == DATASET_KEY_MAX)
			break;
		position = segment_end + 1;
		while (s->heap_count > 0 && record_end(b, s->heap[0]) < position)
			sweep_pop(s);
	}
	segments_flush(s->out, b->ipv6);
}

/* set_index_width - bytes per set id for count sets */
static unsigned
set_index_width(size_t count)
{
	if (count <= 1)
		return 0;
	if (count <= UINT8_MAX + 1)
		return 1;
	if (count <= UINT16_MAX + 1)
		return 2;
	return 4;
}

/* set_index_make - narrow 32-bit set ids to width bytes each (frees ids) */
static struct set_index
set_index_make(uint32_t *ids, size_t count, unsigned width)
{
	struct set_index index = { .data = NULL, .width = width };
	size_t i;

	if (width != 0 && count != 0) {
		index.data = xmalloc(count * width);
		for (i = 0; i < count; i++) {
			if (width == 1) {
				index.data[i] = (uint8_t)ids[i];
			} else if (width == 2) {
				uint16_t id = (uint16_t)ids[i];

				memcpy(index.data + 2 * i, &id, sizeof(id));
			} else
				memcpy(index.data + 4 * i, &ids[i], sizeof(ids[i]));
		}
	}
	free(ids);
	return index;
}

/* set_index_get - the set id at position i */
static inline uint32_t
set_index_get(const struct set_index *index, size_t i)
{
	uint16_t narrow;
	uint32_t wide;

	switch (index->width) {
	case 0:
		return 0;
	case 1:
		return index->data[i];
	case 2:
		memcpy(&narrow, index->data + 2 * i, sizeof(narrow));
		return narrow;
	default:
		memcpy(&wide, index->data + 4 * i, sizeof(wide));
		return wide;
	}
}

/* shrink - give back the unused tail of an array */
static void *
shrink(void *array, size_t count, size_t size)
{
	if (count == 0) {
		free(array);
		return NULL;
	}
	return xrealloc(array, count * size);
}

/* dataset_take_values - copy the values into one text pool owned by the dataset */
static void
dataset_take_values(struct dataset *set, const struct value_table *values)
{
	size_t i, total = 0, at = 0;

	set->value_count = values->count;
	set->values = xcalloc(values->count == 0 ? 1 : values->count, sizeof(*set->values));
	for (i = 0; i < values->count; i++)
		if (values->txt[i] != NULL)
			total += strlen(values->txt[i]) + 1;
	set->text_size = total;
	set->text = total == 0 ? NULL : xmalloc(total);
	for (i = 0; i < values->count; i++) {
		set->values[i].a = values->a[i];
		if (values->txt[i] != NULL) {
			size_t length = strlen(values->txt[i]) + 1;

			memcpy(set->text + at, values->txt[i], length);
			set->values[i].txt = set->text + at;
			at += length;
		}
	}
}

/* dataset_take_segments - move the swept segments into the dataset with narrow set ids */
static void
dataset_take_segments(struct dataset *set, struct segments *out, unsigned width)
{
	size_t h, i = 0;

	set->single4_count = out->single4_count;
	set->single4 = shrink(out->single4, out->single4_count, sizeof(uint32_t));
	set->single4_set = set_index_make(out->single4_set, out->single4_count, width);
	set->range4_count = out->range4_count;
	set->range4_start = shrink(out->range4_start, out->range4_count, sizeof(uint32_t));
	set->range4_end = shrink(out->range4_end, out->range4_count, sizeof(uint32_t));
	set->range4_set = set_index_make(out->range4_set, out->range4_count, width);
	set->block6_count = out->block6_count;
	set->block6 = shrink(out->block6, out->block6_count, sizeof(uint64_t));
	set->block6_set = set_index_make(out->block6_set, out->block6_count, width);
	set->range6_count = out->range6_count;
	set->range6_start = shrink(out->range6_start, out->range6_count, sizeof(dataset_key));
	set->range6_end = shrink(out->range6_end, out->range6_count, sizeof(dataset_key));
	set->range6_set = set_index_make(out->range6_set, out->range6_count, width);
	if (set->single4_count >= DATASET_BUCKET_MIN_SINGLES) {
		set->bucket4 = xmalloc((DATASET_BUCKET_COUNT + 1) * sizeof(*set->bucket4));
		for (h = 0; h <= DATASET_BUCKET_COUNT; h++) {
			while (i < set->single4_count &&
			    (set->single4[i] >> DATASET_BUCKET_SHIFT) < h)
				i++;
			set->bucket4[h] = (uint32_t)i;
		}
	}
}

/* dataset_account - total bytes of the lookup structures */
static size_t
dataset_account(const struct dataset *set)
{
	size_t total = 0;

	total += set->value_count * sizeof(*set->values) + set->text_size;
	total += (set->set_count + 1) * sizeof(uint32_t) + set->member_count * sizeof(uint32_t);
	total += set->single4_count * (sizeof(uint32_t) + set->single4_set.width);
	total += set->bucket4 == NULL ? 0 : (DATASET_BUCKET_COUNT + 1) * sizeof(uint32_t);
	total += set->range4_count * (2 * sizeof(uint32_t) + set->range4_set.width);
	total += set->block6_count * (sizeof(uint64_t) + set->block6_set.width);
	total += set->range6_count * (2 * sizeof(dataset_key) + set->range6_set.width);
	return total;
}

struct dataset *
dataset_builder_finish(struct dataset_builder *b)
{
	struct dataset *set = xcalloc(1, sizeof(*set));
	struct value_table values;
	struct set_table sets;
	struct segments out;
	struct sweep sweep;
	size_t i, n;

	set->type = b->type;
	set->meta = b->meta;
	set->entries = b->entries;
	builder_canonical_values(b, &values);
	free(b->prefix_slots);
	b->prefix_slots = NULL;
	if (b->ipv6) {
		if (b->count6 > 1)
			qsort(b->records6, b->count6, sizeof(*b->records6), compare_records6);
		n = b->count6;
	} else {
		sort_records4(b);
		n = b->count4;
	}

	memset(&sets, 0, sizeof(sets));
	sets.of_single_value = xmalloc((values.count == 0 ? 1 : values.count) *
	    sizeof(*sets.of_single_value));
	for (i = 0; i < values.count; i++)
		sets.of_single_value[i] = DATASET_NO_SET;
	memset(&out, 0, sizeof(out));
	memset(&sweep, 0, sizeof(sweep));
	sweep.b = b;
	sweep.sets = &sets;
	sweep.out = &out;
	sweep_run(&sweep, n);
	free(sweep.heap);
	free(sweep.scratch);

	dataset_take_values(set, &values);
	value_table_free(&values);
	set->set_count = sets.count;
	set->member_count = sets.member_count;
	set->set_offsets = sets.count == 0 ? NULL : shrink(sets.offsets, sets.count + 1,
	    sizeof(uint32_t));
	if (sets.count == 0)
		free(sets.offsets);
	set->set_members = shrink(sets.members, sets.member_count, sizeof(uint32_t));
	free(sets.slots);
	free(sets.of_single_value);
	dataset_take_segments(set, &out, set_index_width(sets.count));
	set->memory_bytes = dataset_account(set);
	dataset_builder_free(b);
	/* give the builder's large temporary arrays back to the system now */
	malloc_trim(0);
	return set;
}

/* lookup4 - set id of an IPv4 address (host order), or DATASET_NO_SET */
static uint32_t
lookup4(const struct dataset *set, uint32_t key)
{
	size_t low = 0, high = set->single4_count;

	if (set->bucket4 != NULL) {
		low = set->bucket4[key >> DATASET_BUCKET_SHIFT];
		high = set->bucket4[(key >> DATASET_BUCKET_SHIFT) + 1];
	}
	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (set->single4[middle] < key)
			low = middle + 1;
		else
			high = middle;
	}
	if (low < set->single4_count && set->single4[low] == key)
		return set_index_get(&set->single4_set, low);
	/* the last range starting at or before key */
	low = 0;
	high = set->range4_count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (set->range4_start[middle] <= key)
			low = middle + 1;
		else
			high = middle;
	}
	if (low > 0 && key <= set->range4_end[low - 1])
		return set_index_get(&set->range4_set, low - 1);
	return DATASET_NO_SET;
}

/* lookup6 - set id of an IPv6 address, or DATASET_NO_SET */
static uint32_t
lookup6(const struct dataset *set, dataset_key key)
{
	uint64_t block = (uint64_t)(key >> 64);
	size_t low = 0, high = set->block6_count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (set->block6[middle] < block)
			low = middle + 1;
		else
			high = middle;
	}
	if (low < set->block6_count && set->block6[low] == block)
		return set_index_get(&set->block6_set, low);
	low = 0;
	high = set->range6_count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (set->range6_start[middle] <= key)
			low = middle + 1;
		else
			high = middle;
	}
	if (low > 0 && key <= set->range6_end[low - 1])
		return set_index_get(&set->range6_set, low - 1);
	return DATASET_NO_SET;
}

size_t
dataset_lookup(const struct dataset *set, const struct netaddr *address,
    struct dataset_value *out, size_t max)
{
	uint32_t id = DATASET_NO_SET, first, count, i;

	if (set == NULL || address == NULL || out == NULL || max == 0)
		return 0;
	if (!type_is_ipv6(set->type)) {
		if (address->family == AF_INET)
			id = lookup4(set, ip4_from_bytes(address->bytes));
		else if (netaddr_is_v4_mapped(address))
			id = lookup4(set, ip4_from_bytes(address->bytes + 12));
	} else if (address->family == AF_INET6)
		id = lookup6(set, key_from_bytes(address->bytes));
	if (id == DATASET_NO_SET)
		return 0;
	first = set->set_offsets[id];
	count = set->set_offsets[id + 1] - first;
	if (count > max)
		count = (uint32_t)max;
	for (i = 0; i < count; i++)
		out[i] = set->values[set->set_members[first + i]];
	return count;
}

const struct dataset_meta *
dataset_get_meta(const struct dataset *set)
{
	return &set->meta;
}

size_t
dataset_entry_count(const struct dataset *set)
{
	return set->entries;
}

size_t
dataset_memory_bytes(const struct dataset *set)
{
	return set->memory_bytes;
}

void
dataset_free(struct dataset *set)
{
	if (set == NULL)
		return;
	free(set->values);
	free(set->text);
	free(set->set_offsets);
	free(set->set_members);
	free(set->single4);
	free(set->single4_set.data);
	free(set->bucket4);
	free(set->range4_start);
	free(set->range4_end);
	free(set->range4_set.data);
	free(set->block6);
	free(set->block6_set.data);
	free(set->range6_start);
	free(set->range6_end);
	free(set->range6_set.data);
	free(set);
}


/* ---- walking (zone transfers) ----------------------------------------------------------- */

/* walk_address - a host-order IPv4 number or a 128-bit key as an address */
static void
walk_address(bool ipv6, dataset_key key, struct netaddr *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->family = ipv6 ? AF_INET6 : AF_INET;
	for (i = ipv6 ? 16 : 4; i > 0; i--) {
		out->bytes[i - 1] = (uint8_t)key;
		key >>= 8;
	}
}

/* walk_report - hand one stretch and the values of its set to fn */
static bool
walk_report(const struct dataset *set, bool ipv6, dataset_key first, dataset_key last,
    uint32_t id, struct dataset_value *values, dataset_walk_fn fn, void *context)
{
	struct dataset_stretch stretch;
	uint32_t start = set->set_offsets[id];
	uint32_t count = set->set_offsets[id + 1] - start, i;

	if (count > DATASET_WALK_VALUES_MAX)
		count = DATASET_WALK_VALUES_MAX;
	for (i = 0; i < count; i++)
		values[i] = set->values[set->set_members[start + i]];
	walk_address(ipv6, first, &stretch.first);
	walk_address(ipv6, last, &stretch.last);
	stretch.values = values;
	stretch.value_count = count;
	return fn(context, &stretch);
}

bool
dataset_walk(const struct dataset *set, dataset_walk_fn fn, void *context)
{
	struct dataset_value values[DATASET_WALK_VALUES_MAX];
	size_t s = 0, r = 0;

	if (!type_is_ipv6(set->type)) {
		/* singles and ranges are disjoint: merge the two sorted lists */
		while (s < set->single4_count || r < set->range4_count) {
			bool single = r == set->range4_count || (s < set->single4_count &&
			    set->single4[s] < set->range4_start[r]);
			bool more = single ?
			    walk_report(set, false, set->single4[s], set->single4[s],
				set_index_get(&set->single4_set, s), values, fn, context) :
			    walk_report(set, false, set->range4_start[r], set->range4_end[r],
				set_index_get(&set->range4_set, r), values, fn, context);
			if (!more)
				return false;
			if (single)
				s++;
			else
				r++;
		}
		return true;
	}
	while (s < set->block6_count || r < set->range6_count) {
		bool block = r == set->range6_count || (s < set->block6_count &&
		    ((dataset_key)set->block6[s] << 64) < set->range6_start[r]);
		dataset_key first = block ? (dataset_key)set->block6[s] << 64 : set->range6_start[r];
		dataset_key last = block ? first | (dataset_key)UINT64_MAX : set->range6_end[r];
		uint32_t id = block ? set_index_get(&set->block6_set, s) :
		    set_index_get(&set->range6_set, r);

		if (!walk_report(set, true, first, last, id, values, fn, context))
			return false;
		if (block)
			s++;
		else
			r++;
	}
	return true;
}
