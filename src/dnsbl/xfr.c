/* xfr.c - AXFR and IXFR of DNSBL zones: the data written as ordinary DNS names (wildcards
 * for blocks, explicit names for addresses, CNAMEs to "excluded" for holes), the transfer
 * messages, and the service glue (ACL, journal, NOTIFY at every snapshot swap).
 * Runs in the main loop (transfers) and the loader thread (swap hooks); never touches the
 * UDP workers' path and never changes a snapshot that is being served. */
#include "dnsbl/xfr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "dnsbl/dataset.h"
#include "dnsbl/journal.h"
#include "dnsbl/notify.h"

typedef unsigned __int128 xfr_key;

/* No answer: the address is not listed (or excluded). */
#define ANSWER_NONE UINT32_MAX
/* rbldnsd (and dataset_txt_render) write at most 254 bytes of expanded TXT. */
#define TXT_RENDER_MAX 254
/* IPv4 names: 4 labels of 8 bits; IPv6 names: 32 labels of 4 bits. */
#define IPV4_DEPTH 4
#define IPV4_LABEL_BITS 8
#define IPV4_KEY_BITS 32
#define IPV6_DEPTH 32
#define IPV6_LABEL_BITS 4
#define IPV6_KEY_BITS 128
/* Nodes this shallow whose labels are all decimal digits are shared by the IPv4 and the
 * IPv6 tree of a zone serving both: no wildcard may sit there (it would answer names of
 * the other family). Four labels is the depth of an IPv4 name. */
#define SHARED_DEPTH_MAX 3
#define DIGIT_LABEL_MAX 9
/* A v4-mapped address (::ffff:0:0/96) in the IPv6 tree: 24 nibbles of prefix. */
#define MAPPED_PREFIX_NIBBLES 24
#define MAPPED_PREFIX_ZERO_NIBBLES 20
/* Records of one name at most: distinct A values and TXT texts of its answer. */
#define NAME_RECORDS_MAX (2 * ZONE_VALUES_MAX)
#define INITIAL_CAPACITY 64
/* Transfers sent at once (each holds its zone's answers, ~12 bytes per stretch): more
 * are refused until one ends. */
#define XFR_CONCURRENT_MAX 8
/* Labels right below the apex: 256 octets (IPv4), 16 nibbles (IPv6). */
#define TOP_LABELS 256
#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull
/* Header flags of a reply (RFC 1035 4.1.1). */
#define FLAG_QR 0x8000u
#define FLAG_AA 0x0400u
#define FLAG_RD 0x0100u
#define OPCODE_SHIFT 11
#define RCODE_MASK 0x0fu
#define POINTER 0xc000u
#define RR_FIXED_SIZE 10
#define QUESTION_FIXED_SIZE 4
#define SOA_NUMBERS_SIZE 20
#define OPT_SIZE DNS_OPT_RECORD_SIZE
/* An encoded record (xfr_record_encode): tree, depth, wildcard, labels, type, ttl, data. */
#define ENCODED_HEAD_SIZE 3
#define ENCODED_TAIL_SIZE 6

/* ---- small helpers --------------------------------------------------------------------- */





bool
xfr_serial_newer(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0;
}

/* grow - make room for one more element of size in *array */
static void *
grow(void *array, size_t count, size_t *capacity, size_t size)
{
	if (count < *capacity)
		return array;
	*capacity = *capacity == 0 ? INITIAL_CAPACITY : *capacity * 2;
	return xrealloc(array, *capacity * size);
}

/* ---- zone copies ----------------------------------------------------------------------- */

/* soa_copy - a zone's SOA into a transfer's own form */
static void
soa_copy(const struct dns_soa *soa, uint32_t ttl, struct xfr_soa *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->mname, soa->mname, soa->mname_length);
	out->mname_length = soa->mname_length;
	memcpy(out->rname, soa->rname, soa->rname_length);
	out->rname_length = soa->rname_length;
	out->ttl = ttl;
	out->serial = soa->serial;
	out->refresh = soa->refresh;
	out->retry = soa->retry;
	out->expire = soa->expire;
	out->minimum = soa->minimum;
}

struct xfr_zone *
xfr_zone_new(const struct zone_view *view)
{
	struct xfr_zone *zone = xcalloc(1, sizeof(*zone));
	size_t room = view->data_count ? view->data_count : 1;

	snprintf(zone->name, sizeof(zone->name), "%s", view->name);
	memcpy(zone->wire, view->wire, view->wire_length);
	zone->wire_length = view->wire_length;
	soa_copy(view->soa, view->soa_ttl, &zone->soa);
	for (size_t i = 0; i < view->ns_count && i < ZONE_NS_MAX; i++) {
		memcpy(zone->ns[i], view->ns[i], view->ns_length[i]);
		zone->ns_length[i] = view->ns_length[i];
		zone->ns_count++;
	}
	zone->ns_ttl = view->ns_ttl;
	zone->data = xcalloc(room, sizeof(*zone->data));
	zone->data_ttl = xcalloc(room, sizeof(*zone->data_ttl));
	for (size_t i = 0; i < view->data_count; i++) {
		zone_data_ref(view->data[i]);
		zone->data[i] = view->data[i];
		zone->data_ttl[i] = view->data_ttl[i];
	}
	zone->data_count = view->data_count;
	zone->has_ipv4 = view->has_ipv4;
	zone->has_ipv6 = view->has_ipv6;
	return zone;
}

void
xfr_zone_free(struct xfr_zone *zone)
{
	if (zone == NULL)
		return;
	for (size_t i = 0; i < zone->data_count; i++)
		zone_data_unref(zone->data[i]);
	free(zone->data);
	free(zone->data_ttl);
	free(zone);
}

bool
xfr_soa_same_but_serial(const struct xfr_soa *a, const struct xfr_soa *b)
{
	return a->mname_length == b->mname_length && a->rname_length == b->rname_length &&
	    memcmp(a->mname, b->mname, a->mname_length) == 0 &&
	    memcmp(a->rname, b->rname, a->rname_length) == 0 && a->ttl == b->ttl &&
	    a->refresh == b->refresh && a->retry == b->retry && a->expire == b->expire &&
	    a->minimum == b->minimum;
}

bool
xfr_zone_same_data(const struct xfr_zone *a, const struct xfr_zone *b)
{
	if (a->data_count != b->data_count || a->ns_count != b->ns_count ||
	    a->ns_ttl != b->ns_ttl || a->has_ipv4 != b->has_ipv4 || a->has_ipv6 != b->has_ipv6 ||
	    !xfr_soa_same_but_serial(&a->soa, &b->soa))
		return false;
	for (size_t i = 0; i < a->data_count; i++)
		if (a->data[i] != b->data[i] || a->data_ttl[i] != b->data_ttl[i])
			return false;
	for (size_t i = 0; i < a->ns_count; i++)
		if (a->ns_length[i] != b->ns_length[i] ||
		    memcmp(a->ns[i], b->ns[i], a->ns_length[i]) != 0)
			return false;
	return true;
}

/* ---- answers: what one address gets, deduplicated -------------------------------------- */

/* One value an address gets from one dataset, with that dataset's answer TTL. */
struct answer_item {
	uint32_t a;
	const char *txt;
	uint32_t ttl;
};

/* Distinct lists of items (what a name answers): list i is items[first[i] .. +count[i]). */
struct answer_table {
	struct answer_item *items;
	size_t item_count;
	size_t item_capacity;
	uint32_t *first;
	uint32_t *count;
	size_t answer_count;
	size_t answer_capacity;
	uint32_t *slots;		/* answer id + 1, 0 = empty */
	size_t slot_count;
};

/* items_hash - FNV-1a over a list of items (TXT by content) */
static uint64_t
items_hash(const struct answer_item *items, size_t count)
{
	uint64_t hash = FNV_OFFSET;

	for (size_t i = 0; i < count; i++) {
		uint32_t words[2] = { items[i].a, items[i].ttl };
		const uint8_t *bytes = (const uint8_t *)words;
		for (size_t b = 0; b < sizeof(words); b++)
			hash = (hash ^ bytes[b]) * FNV_PRIME;
		for (const char *t = items[i].txt; t != NULL && *t != '\0'; t++)
			hash = (hash ^ (uint8_t)*t) * FNV_PRIME;
		hash = (hash ^ (items[i].txt != NULL)) * FNV_PRIME;
	}
	return hash;
}

/* item_equal - same A, TTL and TXT text */
static bool
item_equal(const struct answer_item *x, const struct answer_item *y)
{
	if (x->a != y->a || x->ttl != y->ttl)
		return false;
	if (x->txt == NULL || y->txt == NULL)
		return x->txt == y->txt;
	return x->txt == y->txt || strcmp(x->txt, y->txt) == 0;
}

/* answer_table_rehash - a larger slot array */
static void
answer_table_rehash(struct answer_table *table)
{
	size_t count = table->slot_count == 0 ? INITIAL_CAPACITY : table->slot_count * 2;

	free(table->slots);
	table->slots = xcalloc(count, sizeof(*table->slots));
	table->slot_count = count;
	for (size_t id = 0; id < table->answer_count; id++) {
		size_t slot = items_hash(table->items + table->first[id], table->count[id]) &
		    (count - 1);
		while (table->slots[slot] != 0)
			slot = (slot + 1) & (count - 1);
		table->slots[slot] = (uint32_t)id + 1;
	}
}

/* answer_intern - the id of this list of items (count > 0), added when new */
static uint32_t
answer_intern(struct answer_table *table, const struct answer_item *items, size_t count)
{
	if ((table->answer_count + 1) * 2 > table->slot_count)
		answer_table_rehash(table);
	size_t mask = table->slot_count - 1;
	size_t slot = items_hash(items, count) & mask;
	while (table->slots[slot] != 0) {
		uint32_t id = table->slots[slot] - 1;
		bool same = table->count[id] == count;
		for (size_t i = 0; same && i < count; i++)
			same = item_equal(&table->items[table->first[id] + i], &items[i]);
		if (same)
			return id;
		slot = (slot + 1) & mask;
	}
	uint32_t id = (uint32_t)table->answer_count;
	if (table->answer_count == table->answer_capacity) {
		size_t capacity = table->answer_capacity;
		table->first = grow(table->first, table->answer_count, &capacity,
		    sizeof(uint32_t));
		table->count = xrealloc(table->count, capacity * sizeof(uint32_t));
		table->answer_capacity = capacity;
	}
	table->first[id] = (uint32_t)table->item_count;
	for (size_t i = 0; i < count; i++) {
		table->items = grow(table->items, table->item_count, &table->item_capacity,
		    sizeof(*table->items));
		table->items[table->item_count++] = items[i];
	}
	table->count[id] = (uint32_t)count;
	table->answer_count++;
	table->slots[slot] = id + 1;
	return id;
}

/* answer_table_free - release the table */
static void
answer_table_free(struct answer_table *table)
{
	free(table->items);
	free(table->first);
	free(table->count);
	free(table->slots);
	memset(table, 0, sizeof(*table));
}

/* ---- segments: the answer of every address of one tree --------------------------------- */

/* Disjoint stretches in address order, each with an answer id; adjacent stretches with the
 * same answer are joined. IPv4 keys are kept in 32 bits (the usual big zone). */
struct segments {
	bool ipv6;
	uint32_t *start4;
	uint32_t *end4;
	xfr_key *start6;
	xfr_key *end6;
	uint32_t *answer;
	size_t count;
	size_t capacity;
};

/* segment_start - first key of segment i */
static xfr_key
segment_start(const struct segments *s, size_t i)
{
	return s->ipv6 ? s->start6[i] : s->start4[i];
}

/* segment_end - last key of segment i */
static xfr_key
segment_end(const struct segments *s, size_t i)
{
	return s->ipv6 ? s->end6[i] : s->end4[i];
}

/* segments_append - add [start, end] with answer after the last segment */
static void
segments_append(struct segments *s, xfr_key start, xfr_key end, uint32_t answer)
{
	if (s->count > 0 && s->answer[s->count - 1] == answer &&
	    segment_end(s, s->count - 1) + 1 == start) {
		if (s->ipv6)
			s->end6[s->count - 1] = end;
		else
			s->end4[s->count - 1] = (uint32_t)end;
		return;
	}
	if (s->count == s->capacity) {
		s->capacity = s->capacity == 0 ? INITIAL_CAPACITY : s->capacity * 2;
		if (s->ipv6) {
			s->start6 = xrealloc(s->start6, s->capacity * sizeof(*s->start6));
			s->end6 = xrealloc(s->end6, s->capacity * sizeof(*s->end6));
		} else {
			s->start4 = xrealloc(s->start4, s->capacity * sizeof(*s->start4));
			s->end4 = xrealloc(s->end4, s->capacity * sizeof(*s->end4));
		}
		s->answer = xrealloc(s->answer, s->capacity * sizeof(*s->answer));
	}
	if (s->ipv6) {
		s->start6[s->count] = start;
		s->end6[s->count] = end;
	} else {
		s->start4[s->count] = (uint32_t)start;
		s->end4[s->count] = (uint32_t)end;
	}
	s->answer[s->count++] = answer;
}

/* segments_free - release the arrays */
static void
segments_free(struct segments *s)
{
	free(s->start4);
	free(s->end4);
	free(s->start6);
	free(s->end6);
	free(s->answer);
	memset(s, 0, sizeof(*s));
}

/* What dataset_walk() fills: one dataset's stretches in one tree's keys. */
struct collect {
	struct segments *out;
	struct answer_table *answers;
	uint32_t ttl;
	bool mapped;			/* IPv4 data into the IPv6 tree (::ffff:a.b.c.d) */
};

/* key_of - an address as a key of its tree */
static xfr_key
key_of(const struct netaddr *address, bool mapped)
{
	xfr_key key = 0;
	size_t width = address->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < width; i++)
		key = key << 8 | address->bytes[i];
	if (mapped)
		key |= (xfr_key)0xffff << 32;
	return key;
}

/* collect_stretch - dataset_walk callback: one stretch as a segment */
static bool
collect_stretch(void *context, const struct dataset_stretch *stretch)
{
	struct collect *collect = context;
	struct answer_item items[ZONE_VALUES_MAX];
	size_t count = stretch->value_count < ZONE_VALUES_MAX ? stretch->value_count :
	    ZONE_VALUES_MAX;

	if (count == 0)
		return true;
	for (size_t i = 0; i < count; i++) {
		items[i].a = stretch->values[i].a;
		items[i].txt = stretch->values[i].txt;
		items[i].ttl = collect->ttl;
	}
	segments_append(collect->out, key_of(&stretch->first, collect->mapped),
	    key_of(&stretch->last, collect->mapped), answer_intern(collect->answers, items,
	    count));
	return true;
}

/* answer_combine - the answer of an address both lists answer: first's items, then
 * second's (the zone asks its datasets in order), at most ZONE_VALUES_MAX */
static uint32_t
answer_combine(struct answer_table *table, uint32_t first, uint32_t second)
{
	struct answer_item items[ZONE_VALUES_MAX];
	size_t count = 0;

	for (uint32_t i = 0; i < table->count[first] && count < ZONE_VALUES_MAX; i++)
		items[count++] = table->items[table->first[first] + i];
	for (uint32_t i = 0; i < table->count[second] && count < ZONE_VALUES_MAX; i++)
		items[count++] = table->items[table->first[second] + i];
	return answer_intern(table, items, count);
}

/* segments_merge - the stretches of a and b as one list (overlaps get both answers) */
static void
segments_merge(struct answer_table *table, const struct segments *a, const struct segments *b,
    struct segments *out)
{
	size_t i = 0, j = 0;
	xfr_key from_a = a->count ? segment_start(a, 0) : 0;
	xfr_key from_b = b->count ? segment_start(b, 0) : 0;

	memset(out, 0, sizeof(*out));
	out->ipv6 = a->ipv6;
	while (i < a->count || j < b->count) {
		if (j == b->count || (i < a->count && segment_end(a, i) < from_b)) {
			segments_append(out, from_a, segment_end(a, i), a->answer[i]);
			if (++i < a->count)
				from_a = segment_start(a, i);
			continue;
		}
		if (i == a->count || segment_end(b, j) < from_a) {
			segments_append(out, from_b, segment_end(b, j), b->answer[j]);
			if (++j < b->count)
				from_b = segment_start(b, j);
			continue;
		}
		if (from_a < from_b) {
			segments_append(out, from_a, from_b - 1, a->answer[i]);
			from_a = from_b;
			continue;
		}
		if (from_b < from_a) {
			segments_append(out, from_b, from_a - 1, b->answer[j]);
			from_b = from_a;
			continue;
		}
		xfr_key end_a = segment_end(a, i), end_b = segment_end(b, j);
		xfr_key end = end_a < end_b ? end_a : end_b;
		segments_append(out, from_a, end, answer_combine(table, a->answer[i],
		    b->answer[j]));
		if (end_a == end) {
			if (++i < a->count)
				from_a = segment_start(a, i);
		} else
			from_a = end + 1;
		if (end_b == end) {
			if (++j < b->count)
				from_b = segment_start(b, j);
		} else
			from_b = end + 1;
	}
}

/* type_is_ipv4 - datasets keyed by IPv4 addresses */
static bool
type_is_ipv4(enum dataset_type type)
{
	return type == DATASET_IP4SET || type == DATASET_IP4TSET || type == DATASET_IP4TRIE;
}

/* segments_build - the answers of one tree over every dataset of the zone, in zone order
 * (IPv4 datasets into the IPv6 tree as v4-mapped addresses) */
static void
segments_build(const struct xfr_zone *zone, bool ipv6, struct answer_table *answers,
    struct segments *out)
{
	memset(out, 0, sizeof(*out));
	out->ipv6 = ipv6;
	for (size_t d = 0; d < zone->data_count; d++) {
		bool ipv4_data = type_is_ipv4(zone_data_type(zone->data[d]));
		if (!ipv6 && !ipv4_data)
			continue;
		struct segments one = { .ipv6 = ipv6 };
		struct collect collect = { &one, answers, zone->data_ttl[d], ipv6 && ipv4_data };
		dataset_walk(zone_data_dataset(zone->data[d]), collect_stretch, &collect);
		if (out->count == 0) {
			segments_free(out);
			*out = one;
			continue;
		}
		struct segments merged;
		segments_merge(answers, out, &one, &merged);
		segments_free(out);
		segments_free(&one);
		*out = merged;
	}
}

/* ---- the tree of names ----------------------------------------------------------------- */

/* A child of a node that has segments in it. */
struct child {
	uint8_t label;
	bool mixed;			/* not one answer for the whole child */
	uint32_t answer;		/* the answer when not mixed */
};

/* A node being written: its wildcard, then its children in label order. */
struct frame {
	uint8_t depth;
	xfr_key base;			/* the first key of the node's block */
	uint32_t wildcard;		/* answer of "*.node", ANSWER_NONE for none */
	bool wildcard_done;
	struct child *children;		/* children holding segments, by label */
	size_t child_count;
	size_t child_next;
	unsigned label_next;		/* with a wildcard every label is visited */
};

/* A name to write out: its owner, and an answer or a CNAME to "excluded". */
struct name {
	uint8_t tree;
	uint8_t depth;
	bool wildcard;
	uint8_t labels[XFR_LABELS_MAX];
	bool excluded;
	uint32_t answer;
};

/* The parameters of one tree. */
struct tree_shape {
	unsigned depth;			/* labels of a full name */
	unsigned label_bits;
	unsigned key_bits;
};

static const struct tree_shape tree_shapes[] = {
	[XFR_TREE_IPV4] = { IPV4_DEPTH, IPV4_LABEL_BITS, IPV4_KEY_BITS },
	[XFR_TREE_IPV6] = { IPV6_DEPTH, IPV6_LABEL_BITS, IPV6_KEY_BITS },
};

struct xfr_walk {
	const struct xfr_zone *zone;
	struct answer_table answers;
	struct segments trees[XFR_TREE_IPV6 + 1];	/* the answers of each tree */
	uint8_t skip[XFR_TREE_IPV6 + 1][TOP_LABELS];	/* top-level subtrees to leave out */
	uint8_t tree;			/* XFR_TREE_APEX, then the trees */
	bool both_trees;		/* IPv4 and IPv6 names in one zone */
	bool started;			/* the current tree's root frame was pushed */
	size_t ns_next;
	uint8_t path[XFR_LABELS_MAX];
	struct frame frames[XFR_LABELS_MAX + 1];
	size_t frame_count;
	struct child *child_store;	/* (depth + 1) x fanout children */
	struct xfr_record pending[NAME_RECORDS_MAX];
	size_t pending_count;
	size_t pending_next;
	uint32_t excluded_ttl;
};

/* block_last - the last key of the block of a node at depth */
static xfr_key
block_last(const struct tree_shape *shape, xfr_key base, unsigned depth)
{
	unsigned host_bits = shape->key_bits - depth * shape->label_bits;
	xfr_key host = host_bits >= IPV6_KEY_BITS ? ~(xfr_key)0 :
	    (((xfr_key)1 << host_bits) - 1);

	return base | host;
}

/* first_segment_from - index of the first segment ending at or after key */
static size_t
first_segment_from(const struct segments *s, xfr_key key)
{
	size_t low = 0, high = s->count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;
		if (segment_end(s, middle) < key)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

/* wildcard_allowed - may "*.node" exist for the node at path[0 .. depth)? Never at the
 * apex (it would answer every name of the zone); not on nodes both trees share. */
static bool
wildcard_allowed(const struct xfr_walk *walk, unsigned depth)
{
	if (depth == 0)
		return false;
	if (!walk->both_trees || depth > SHARED_DEPTH_MAX)
		return true;
	for (unsigned i = 0; i < depth; i++)
		if (walk->path[i] > DIGIT_LABEL_MAX)
			return true;
	return false;
}

/* classify_children - the children of the node at base/depth that hold segments */
static size_t
classify_children(struct xfr_walk *walk, const struct tree_shape *shape, xfr_key base,
    unsigned depth, struct child *children)
{
	const struct segments *s = &walk->trees[walk->tree];
	unsigned child_bits = shape->key_bits - (depth + 1) * shape->label_bits;
	xfr_key last = block_last(shape, base, depth);
	xfr_key from = base;
	size_t i = first_segment_from(s, base);
	size_t count = 0;

	while (i < s->count && segment_start(s, i) <= last) {
		xfr_key at = segment_start(s, i) > from ? segment_start(s, i) : from;
		unsigned label = (unsigned)((at - base) >> child_bits);
		xfr_key child_first = base + ((xfr_key)label << child_bits);
		xfr_key child_last = child_first + ((((xfr_key)1) << child_bits) - 1);
		size_t j = i;
		while (j + 1 < s->count && segment_start(s, j + 1) <= child_last)
			j++;
		struct child *child = &children[count++];
		child->label = (uint8_t)label;
		child->mixed = !(i == j && segment_start(s, i) <= child_first &&
		    segment_end(s, i) >= child_last);
		child->answer = child->mixed ? ANSWER_NONE : s->answer[i];
		if (child_last == last)
			break;
		from = child_last + 1;
		i = segment_end(s, j) > child_last ? j : j + 1;
	}
	return count;
}

/* choose_wildcard - the answer "*.node" should give: the one most children have, when it
 * saves records (each child answering otherwise needs its own name) */
static uint32_t
choose_wildcard(const struct xfr_walk *walk, const struct tree_shape *shape, unsigned depth,
    const struct child *children, size_t count)
{
	unsigned fanout = 1u << shape->label_bits;
	size_t none = fanout - count;
	uint32_t best = ANSWER_NONE;
	size_t best_count = 0;

	if (!wildcard_allowed(walk, depth))
		return ANSWER_NONE;
	for (size_t i = 0; i < count; i++) {
		if (children[i].mixed || children[i].answer == best)
			continue;
		size_t seen = 0;
		for (size_t j = 0; j < count; j++)
			if (!children[j].mixed && children[j].answer == children[i].answer)
				seen++;
		if (seen > best_count) {
			best = children[i].answer;
			best_count = seen;
		}
	}
	/* A wildcard costs one name and makes every unlisted child an "excluded" name. */
	return best_count > none + 1 ? best : ANSWER_NONE;
}

/* push_frame - start writing the node at path[0 .. depth) */
static void
push_frame(struct xfr_walk *walk, xfr_key base, unsigned depth)
{
	const struct tree_shape *shape = &tree_shapes[walk->tree];
	struct frame *frame = &walk->frames[walk->frame_count++];
	unsigned fanout = 1u << shape->label_bits;

	memset(frame, 0, sizeof(*frame));
	frame->depth = (uint8_t)depth;
	frame->base = base;
	frame->children = walk->child_store + (size_t)depth * fanout;
	frame->child_count = classify_children(walk, shape, base, depth, frame->children);
	frame->wildcard = choose_wildcard(walk, shape, depth, frame->children,
	    frame->child_count);
}

/* name_at - a name for path[0 .. depth) */
static void
name_at(const struct xfr_walk *walk, unsigned depth, bool wildcard, bool excluded,
    uint32_t answer, struct name *out)
{
	out->tree = walk->tree;
	out->depth = (uint8_t)depth;
	out->wildcard = wildcard;
	memcpy(out->labels, walk->path, depth);
	out->excluded = excluded;
	out->answer = answer;
}

/* next_tree - move to the next tree the zone has; false when none is left */
static bool
next_tree(struct xfr_walk *walk)
{
	walk->started = false;
	if (walk->tree == XFR_TREE_IPV6)
		return false;
	walk->tree++;
	return true;
}

/* next_name - the next name of the trees in pre-order; false at the end */
static bool
next_name(struct xfr_walk *walk, struct name *out)
{
	for (;;) {
		if (walk->tree == XFR_TREE_APEX && !next_tree(walk))
			return false;
		const struct tree_shape *shape = &tree_shapes[walk->tree];
		unsigned fanout = 1u << shape->label_bits;
		if (!walk->started) {
			walk->started = true;
			if (walk->trees[walk->tree].count > 0)
				push_frame(walk, 0, 0);
		}
		if (walk->frame_count == 0) {
			if (!next_tree(walk))
				return false;
			continue;
		}
		struct frame *frame = &walk->frames[walk->frame_count - 1];
		if (!frame->wildcard_done) {
			frame->wildcard_done = true;
			if (frame->wildcard != ANSWER_NONE) {
				name_at(walk, frame->depth, true, false, frame->wildcard, out);
				return true;
			}
		}
		struct child none = { 0, false, ANSWER_NONE };
		const struct child *child;
		if (frame->wildcard == ANSWER_NONE) {
			if (frame->child_next == frame->child_count) {
				walk->frame_count--;
				continue;
			}
			child = &frame->children[frame->child_next++];
			/* the apex has no wildcard: only it can leave subtrees out */
			if (frame->depth == 0 && walk->skip[walk->tree][child->label])
				continue;
		} else {
			if (frame->label_next == fanout) {
				walk->frame_count--;
				continue;
			}
			unsigned label = frame->label_next++;
			if (frame->child_next < frame->child_count &&
			    frame->children[frame->child_next].label == label)
				child = &frame->children[frame->child_next++];
			else {
				none.label = (uint8_t)label;
				child = &none;
			}
		}
		unsigned depth = frame->depth + 1u;
		unsigned child_bits = shape->key_bits - depth * shape->label_bits;
		xfr_key base = frame->base + ((xfr_key)child->label << child_bits);
		uint32_t wildcard = frame->wildcard;
		walk->path[depth - 1] = child->label;
		if (!child->mixed) {
			if (child->answer == wildcard)
				continue;
			if (depth == shape->depth || child->answer == ANSWER_NONE) {
				name_at(walk, depth, false, child->answer == ANSWER_NONE,
				    child->answer, out);
				return true;
			}
			if (wildcard_allowed(walk, depth)) {
				name_at(walk, depth, true, false, child->answer, out);
				return true;
			}
		}
		push_frame(walk, base, depth);
	}
}

/* ---- records of a name ----------------------------------------------------------------- */

/* name_address - the address of a full name, or the first address of a node's block */
static void
name_address(const struct name *name, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (name->tree == XFR_TREE_IPV4) {
		out->family = AF_INET;
		for (unsigned i = 0; i < name->depth; i++)
			out->bytes[i] = name->labels[i];
		return;
	}
	out->family = AF_INET6;
	for (unsigned i = 0; i < name->depth; i++)
		out->bytes[i / 2] |= (uint8_t)(i % 2 == 0 ? name->labels[i] << 4 : name->labels[i]);
}

/* name_prefix_text - the block of a wildcard as "192.0.2.0/24" (a block of v4-mapped
 * IPv6 addresses as its IPv4 prefix, as its addresses are written) */
static size_t
name_prefix_text(const struct name *name, char *out, size_t out_size)
{
	struct netprefix prefix;
	bool mapped = name->tree == XFR_TREE_IPV6 && name->depth >= MAPPED_PREFIX_NIBBLES;

	for (unsigned i = 0; mapped && i < MAPPED_PREFIX_NIBBLES; i++)
		mapped = name->labels[i] == (i < MAPPED_PREFIX_ZERO_NIBBLES ? 0 : 0xf);
	name_address(name, &prefix.address);
	prefix.length = name->depth * (name->tree == XFR_TREE_IPV4 ? IPV4_LABEL_BITS :
	    IPV6_LABEL_BITS);
	if (mapped) {
		netaddr_unmap(&prefix.address);
		prefix.length -= IPV6_KEY_BITS - IPV4_KEY_BITS;
	}
	int length = netprefix_format(&prefix, out, out_size);
	return length < 0 ? 0 : (size_t)length;
}

/* render_prefix - a TXT template with "$" standing for a block (rbldnsd's rule: "$$" is a
 * dollar; at most TXT_RENDER_MAX bytes) */
static size_t
render_prefix(const char *template, const char *prefix, size_t prefix_length, char *out,
    size_t out_size)
{
	size_t length = 0;
	size_t limit = out_size - 1 < TXT_RENDER_MAX ? out_size - 1 : TXT_RENDER_MAX;

	for (; *template != '\0' && length < limit; template++) {
		if (*template != '$') {
			out[length++] = *template;
			continue;
		}
		if (template[1] == '$') {
			out[length++] = '$';
			template++;
			continue;
		}
		size_t copy = prefix_length < limit - length ? prefix_length : limit - length;
		memcpy(out + length, prefix, copy);
		length += copy;
	}
	out[length] = '\0';
	return length;
}

/* record_data_compare - order of TXT texts and NS names: bytes, then the shorter first */
static int
record_data_compare(const struct xfr_record *a, const struct xfr_record *b)
{
	size_t common = a->data_length < b->data_length ? a->data_length : b->data_length;
	int order = memcmp(a->data, b->data, common);

	if (order != 0)
		return order;
	return (a->data_length > b->data_length) - (a->data_length < b->data_length);
}

/* owner_compare - the pre-order of owners: a name, its wildcard, then its children */
static int
owner_compare(const struct xfr_record *a, const struct xfr_record *b)
{
	size_t common = a->depth < b->depth ? a->depth : b->depth;

	if (a->tree != b->tree)
		return a->tree < b->tree ? -1 : 1;
	for (size_t i = 0; i < common; i++)
		if (a->labels[i] != b->labels[i])
			return a->labels[i] < b->labels[i] ? -1 : 1;
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->wildcard != b->wildcard)
		return a->wildcard ? 1 : -1;
	return 0;
}

int
xfr_record_compare(const struct xfr_record *a, const struct xfr_record *b)
{
	int order = owner_compare(a, b);

	if (order != 0)
		return order;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->type == DNS_TYPE_A && a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->type == DNS_TYPE_TXT || a->type == DNS_TYPE_NS) {
		order = record_data_compare(a, b);
		if (order != 0)
			return order;
	}
	if (a->ttl != b->ttl)
		return a->ttl < b->ttl ? -1 : 1;
	return 0;
}

/* record_sort_compare - qsort adapter */
static int
record_sort_compare(const void *x, const void *y)
{
	return xfr_record_compare(x, y);
}

/* record_owner - a record owned by name */
static void
record_owner(const struct name *name, uint16_t type, uint32_t ttl, struct xfr_record *out)
{
	memset(out, 0, offsetof(struct xfr_record, data));
	out->tree = name->tree;
	out->depth = name->depth;
	out->wildcard = name->wildcard;
	memcpy(out->labels, name->labels, name->depth);
	out->type = type;
	out->ttl = ttl;
	out->data_length = 0;
	out->soa = NULL;
}

/* expand_name - the records of name into walk->pending, sorted, without duplicates */
static void
expand_name(struct xfr_walk *walk, const struct name *name)
{
	const struct answer_table *table = &walk->answers;
	struct xfr_record *records = walk->pending;
	size_t count = 0;

	walk->pending_count = 0;
	walk->pending_next = 0;
	if (name->excluded) {
		record_owner(name, DNS_TYPE_CNAME, walk->excluded_ttl, &records[0]);
		walk->pending_count = 1;
		return;
	}
	const struct answer_item *items = table->items + table->first[name->answer];
	size_t item_count = table->count[name->answer];
	uint32_t ttl = UINT32_MAX;
	for (size_t i = 0; i < item_count; i++)
		if (items[i].ttl < ttl)
			ttl = items[i].ttl;
	char prefix[NETPREFIX_TEXT_MAX];
	size_t prefix_length = 0;
	struct netaddr address;
	if (name->wildcard)
		prefix_length = name_prefix_text(name, prefix, sizeof(prefix));
	else
		name_address(name, &address);
	for (size_t i = 0; i < item_count && count < NAME_RECORDS_MAX; i++) {
		record_owner(name, DNS_TYPE_A, ttl, &records[count]);
		records[count++].a = items[i].a;
		if (items[i].txt == NULL || count == NAME_RECORDS_MAX)
			continue;
		char text[DATASET_TXT_MAX + 1];
		size_t length = name->wildcard ?
		    render_prefix(items[i].txt, prefix, prefix_length, text, sizeof(text)) :
		    dataset_txt_render(items[i].txt, &address, text, sizeof(text));
		if (length > DNS_TXT_STRING_MAX)
			length = DNS_TXT_STRING_MAX;
		record_owner(name, DNS_TYPE_TXT, ttl, &records[count]);
		memcpy(records[count].data, text, length);
		records[count++].data_length = (uint16_t)length;
	}
	qsort(records, count, sizeof(*records), record_sort_compare);
	size_t kept = 0;
	for (size_t i = 0; i < count; i++)
		if (kept == 0 || xfr_record_compare(&records[kept - 1], &records[i]) != 0)
			records[kept++] = records[i];
	walk->pending_count = kept;
}

/* ---- the walk -------------------------------------------------------------------------- */

/* ns_compare - qsort order of the apex NS names */
static int
ns_compare(const void *x, const void *y)
{
	return record_data_compare(x, y);
}

struct xfr_walk *
xfr_walk_new(const struct xfr_zone *zone)
{
	struct xfr_walk *walk = xcalloc(1, sizeof(*walk));
	size_t fanout = (size_t)1 << IPV4_LABEL_BITS;

	walk->zone = zone;
	walk->tree = XFR_TREE_APEX;
	walk->both_trees = zone->has_ipv4 && zone->has_ipv6;
	/* enough for either tree: 5 x 256 (IPv4) > 33 x 16 (IPv6) */
	walk->child_store = xcalloc((IPV4_DEPTH + 1) * fanout, sizeof(*walk->child_store));
	walk->excluded_ttl = zone->soa.minimum < zone->soa.ttl ? zone->soa.minimum :
	    zone->soa.ttl;
	if (zone->has_ipv4)
		segments_build(zone, false, &walk->answers, &walk->trees[XFR_TREE_IPV4]);
	if (zone->has_ipv6)
		segments_build(zone, true, &walk->answers, &walk->trees[XFR_TREE_IPV6]);
	/* the NS records go first, sorted; pending holds them until they are read */
	for (size_t i = 0; i < zone->ns_count && walk->pending_count < NAME_RECORDS_MAX; i++) {
		struct xfr_record *record = &walk->pending[walk->pending_count++];
		memset(record, 0, sizeof(*record));
		record->tree = XFR_TREE_APEX;
		record->type = DNS_TYPE_NS;
		record->ttl = zone->ns_ttl;
		memcpy(record->data, zone->ns[i], zone->ns_length[i]);
		record->data_length = (uint16_t)zone->ns_length[i];
	}
	qsort(walk->pending, walk->pending_count, sizeof(walk->pending[0]), ns_compare);
	return walk;
}

bool
xfr_walk_next(struct xfr_walk *walk, struct xfr_record *out)
{
	struct name name;

	while (walk->pending_next == walk->pending_count) {
		if (!next_name(walk, &name))
			return false;
		expand_name(walk, &name);
	}
	*out = walk->pending[walk->pending_next++];
	return true;
}

void
xfr_walk_free(struct xfr_walk *walk)
{
	if (walk == NULL)
		return;
	for (size_t t = 0; t <= XFR_TREE_IPV6; t++)
		segments_free(&walk->trees[t]);
	answer_table_free(&walk->answers);
	free(walk->child_store);
	free(walk);
}

/* answers_equal - answer x of table a gives what answer y of table b gives */
static bool
answers_equal(const struct answer_table *a, uint32_t x, const struct answer_table *b,
    uint32_t y)
{
	if (a->count[x] != b->count[y])
		return false;
	for (uint32_t i = 0; i < a->count[x]; i++)
		if (!item_equal(&a->items[a->first[x] + i], &b->items[b->first[y] + i]))
			return false;
	return true;
}

/* block_same - a and b answer every address of [first, last] alike */
static bool
block_same(const struct xfr_walk *a, const struct xfr_walk *b, uint8_t tree, xfr_key first,
    xfr_key last)
{
	const struct segments *x = &a->trees[tree], *y = &b->trees[tree];
	size_t i = first_segment_from(x, first), j = first_segment_from(y, first);

	for (;;) {
		bool more_x = i < x->count && segment_start(x, i) <= last;
		bool more_y = j < y->count && segment_start(y, j) <= last;
		if (!more_x || !more_y)
			return more_x == more_y;
		xfr_key start_x = segment_start(x, i) < first ? first : segment_start(x, i);
		xfr_key start_y = segment_start(y, j) < first ? first : segment_start(y, j);
		xfr_key end_x = segment_end(x, i) > last ? last : segment_end(x, i);
		xfr_key end_y = segment_end(y, j) > last ? last : segment_end(y, j);
		if (start_x != start_y || end_x != end_y ||
		    !answers_equal(&a->answers, x->answer[i], &b->answers, y->answer[j]))
			return false;
		i++;
		j++;
	}
}

void
xfr_walk_pair(const struct xfr_zone *a, const struct xfr_zone *b, struct xfr_walk **walk_a,
    struct xfr_walk **walk_b)
{
	struct xfr_walk *x = xfr_walk_new(a);
	struct xfr_walk *y = xfr_walk_new(b);

	*walk_a = x;
	*walk_b = y;
	/* what every name depends on: the trees sharing names, and the CNAME TTL */
	if (x->both_trees != y->both_trees || x->excluded_ttl != y->excluded_ttl)
		return;
	for (uint8_t tree = XFR_TREE_IPV4; tree <= XFR_TREE_IPV6; tree++) {
		const struct tree_shape *shape = &tree_shapes[tree];
		unsigned top = 1u << shape->label_bits;
		unsigned shift = shape->key_bits - shape->label_bits;
		for (unsigned label = 0; label < top; label++) {
			xfr_key first = (xfr_key)label << shift;
			xfr_key last = first + (((xfr_key)1 << shift) - 1);
			if (block_same(x, y, tree, first, last))
				x->skip[tree][label] = y->skip[tree][label] = 1;
		}
	}
}

/* ---- record bytes ---------------------------------------------------------------------- */

size_t
xfr_record_encode(const struct xfr_record *record, uint8_t *out, size_t out_size)
{
	size_t payload = record->type == DNS_TYPE_A ? 4 :
	    record->type == DNS_TYPE_CNAME ? 0 : 1 + (size_t)record->data_length;
	size_t size = ENCODED_HEAD_SIZE + record->depth + ENCODED_TAIL_SIZE + payload;

	if (size > out_size || record->type == DNS_TYPE_SOA)
		return 0;
	out[0] = record->tree;
	out[1] = record->depth;
	out[2] = record->wildcard;
	memcpy(out + ENCODED_HEAD_SIZE, record->labels, record->depth);
	uint8_t *p = out + ENCODED_HEAD_SIZE + record->depth;
	dns_put16(p, record->type);
	dns_put32(p + 2, record->ttl);
	p += ENCODED_TAIL_SIZE;
	if (record->type == DNS_TYPE_A)
		dns_put32(p, record->a);
	else if (record->type != DNS_TYPE_CNAME) {
		p[0] = (uint8_t)record->data_length;
		memcpy(p + 1, record->data, record->data_length);
	}
	return size;
}

bool
xfr_record_decode(const uint8_t *buffer, size_t length, size_t *offset,
    struct xfr_record *out)
{
	size_t at = *offset;

	if (at + ENCODED_HEAD_SIZE > length)
		return false;
	uint8_t depth = buffer[at + 1];
	if (depth > XFR_LABELS_MAX || at + ENCODED_HEAD_SIZE + depth + ENCODED_TAIL_SIZE > length)
		return false;
	memset(out, 0, offsetof(struct xfr_record, data));
	out->tree = buffer[at];
	out->depth = depth;
	out->wildcard = buffer[at + 2] != 0;
	memcpy(out->labels, buffer + at + ENCODED_HEAD_SIZE, depth);
	at += ENCODED_HEAD_SIZE + depth;
	out->type = dns_get16(buffer + at);
	out->ttl = dns_get32(buffer + at + 2);
	at += ENCODED_TAIL_SIZE;
	out->data_length = 0;
	out->soa = NULL;
	if (out->type == DNS_TYPE_A) {
		if (at + 4 > length)
			return false;
		out->a = dns_get32(buffer + at);
		at += 4;
	} else if (out->type != DNS_TYPE_CNAME) {
		if (at + 1 > length || at + 1 + buffer[at] > length)
			return false;
		out->data_length = buffer[at];
		memcpy(out->data, buffer + at + 1, out->data_length);
		at += 1 + (size_t)out->data_length;
	}
	*offset = at;
	return true;
}

/* label_text - one owner label as text: decimal octet or hex nibble */
static size_t
label_text(const struct xfr_record *record, size_t index, char *out)
{
	if (record->tree == XFR_TREE_IPV6) {
		out[0] = "0123456789abcdef"[record->labels[index] & 0xf];
		return 1;
	}
	return (size_t)snprintf(out, 4, "%u", (unsigned)record->labels[index]);
}

size_t
xfr_record_owner_text(const struct xfr_record *record, const struct xfr_zone *zone,
    char *out, size_t out_size)
{
	char apex[DNS_NAME_TEXT_MAX];
	size_t length = 0;

	if (dns_name_to_text(zone->wire, zone->wire_length, apex, sizeof(apex)) == 0)
		return 0;
	if (record->wildcard)
		length += (size_t)snprintf(out + length, out_size - length, "*.");
	for (size_t i = record->depth; i > 0 && length < out_size; i--) {
		char label[4];
		size_t label_length = label_text(record, i - 1, label);
		length += (size_t)snprintf(out + length, out_size - length, "%.*s.",
		    (int)label_length, label);
	}
	if (length >= out_size)
		return 0;
	length += (size_t)snprintf(out + length, out_size - length, "%s", apex);
	return length < out_size ? length : 0;
}

/* ---- messages -------------------------------------------------------------------------- */

void
xfr_writer_start(struct xfr_writer *writer, const struct dns_query *query,
    const struct xfr_zone *zone, uint16_t rcode, uint8_t *buffer, size_t buffer_size,
    size_t limit)
{
	memset(writer, 0, sizeof(*writer));
	writer->buffer = buffer;
	writer->limit = limit < buffer_size ? limit : buffer_size;
	if (writer->limit > XFR_MESSAGE_MAX)
		writer->limit = XFR_MESSAGE_MAX;
	writer->query = query;
	writer->zone = zone;
	writer->rcode = rcode;
	writer->reserved = query->edns ? OPT_SIZE : 0;
	writer->length = DNS_HEADER_SIZE;
	if (query->question != NULL &&
	    DNS_HEADER_SIZE + query->question_length + writer->reserved <= writer->limit) {
		memcpy(buffer + DNS_HEADER_SIZE, query->question, query->question_length);
		writer->length += query->question_length;
		writer->question = true;
	}
}

/* name_size - bytes a name from data takes: labels, then a pointer to the apex in the
 * question when it ends with the apex (or the whole name) */
static size_t
name_size(const struct xfr_writer *writer, const uint8_t *name, size_t length,
    size_t *prefix)
{
	const struct xfr_zone *zone = writer->zone;
	size_t at = 0;

	while (at < length && name[at] != 0) {
		if (length - at == zone->wire_length &&
		    memcmp(name + at, zone->wire, zone->wire_length) == 0) {
			*prefix = at;
			return at + 2;
		}
		at += 1 + (size_t)name[at];
	}
	if (length == zone->wire_length && memcmp(name, zone->wire, length) == 0) {
		*prefix = 0;
		return 2;
	}
	*prefix = length;
	return length;
}

/* put_name - write a name measured by name_size */
static void
put_name(struct xfr_writer *writer, const uint8_t *name, size_t length, size_t prefix)
{
	memcpy(writer->buffer + writer->length, name, prefix);
	writer->length += prefix;
	if (prefix < length) {
		dns_put16(writer->buffer + writer->length, (uint16_t)(POINTER | DNS_HEADER_SIZE));
		writer->length += 2;
	}
}

/* owner_size - bytes of a record's owner: its labels and a pointer to the apex */
static size_t
owner_size(const struct xfr_record *record)
{
	size_t size = 2 + (record->wildcard ? 2 : 0);
	char label[4];

	for (size_t i = 0; i < record->depth; i++)
		size += 1 + label_text(record, i, label);
	return size;
}

/* put_owner - write a record's owner */
static void
put_owner(struct xfr_writer *writer, const struct xfr_record *record)
{
	uint8_t *p = writer->buffer + writer->length;
	size_t at = 0;

	if (record->wildcard) {
		p[at++] = 1;
		p[at++] = '*';
	}
	for (size_t i = record->depth; i > 0; i--) {
		char label[4];
		size_t length = label_text(record, i - 1, label);
		p[at++] = (uint8_t)length;
		memcpy(p + at, label, length);
		at += length;
	}
	dns_put16(p + at, (uint16_t)(POINTER | DNS_HEADER_SIZE));
	writer->length += at + 2;
}

bool
xfr_writer_add(struct xfr_writer *writer, const struct xfr_record *record)
{
	size_t mname_prefix = 0, rname_prefix = 0, ns_prefix = 0;
	size_t rdata;

	if (!writer->question || writer->count == UINT16_MAX)
		return false;	/* no question: the limit is too small for anything */
	switch (record->type) {
	case DNS_TYPE_A:
		rdata = 4;
		break;
	case DNS_TYPE_TXT:
		rdata = 1 + (size_t)record->data_length;
		break;
	case DNS_TYPE_CNAME:
		rdata = 1 + strlen(XFR_EXCLUDED_LABEL) + 2;
		break;
	case DNS_TYPE_NS:
		rdata = name_size(writer, record->data, record->data_length, &ns_prefix);
		break;
	case DNS_TYPE_SOA:
		rdata = name_size(writer, record->soa->mname, record->soa->mname_length,
		    &mname_prefix) + name_size(writer, record->soa->rname,
		    record->soa->rname_length, &rname_prefix) + SOA_NUMBERS_SIZE;
		break;
	default:
		return false;
	}
	size_t size = owner_size(record) + RR_FIXED_SIZE + rdata;
	if (writer->length + size + writer->reserved > writer->limit)
		return false;
	put_owner(writer, record);
	uint8_t *p = writer->buffer + writer->length;
	dns_put16(p, record->type);
	dns_put16(p + 2, DNS_CLASS_IN);
	dns_put32(p + 4, record->type == DNS_TYPE_SOA ? record->soa->ttl : record->ttl);
	dns_put16(p + 8, (uint16_t)rdata);
	writer->length += RR_FIXED_SIZE;
	p = writer->buffer + writer->length;
	switch (record->type) {
	case DNS_TYPE_A:
		dns_put32(p, record->a);
		writer->length += 4;
		break;
	case DNS_TYPE_TXT:
		p[0] = (uint8_t)record->data_length;
		memcpy(p + 1, record->data, record->data_length);
		writer->length += rdata;
		break;
	case DNS_TYPE_CNAME:
		p[0] = (uint8_t)strlen(XFR_EXCLUDED_LABEL);
		memcpy(p + 1, XFR_EXCLUDED_LABEL, strlen(XFR_EXCLUDED_LABEL));
		dns_put16(p + 1 + strlen(XFR_EXCLUDED_LABEL), (uint16_t)(POINTER | DNS_HEADER_SIZE));
		writer->length += rdata;
		break;
	case DNS_TYPE_NS:
		put_name(writer, record->data, record->data_length, ns_prefix);
		break;
	case DNS_TYPE_SOA:
		put_name(writer, record->soa->mname, record->soa->mname_length, mname_prefix);
		put_name(writer, record->soa->rname, record->soa->rname_length, rname_prefix);
		p = writer->buffer + writer->length;
		dns_put32(p, record->soa->serial);
		dns_put32(p + 4, record->soa->refresh);
		dns_put32(p + 8, record->soa->retry);
		dns_put32(p + 12, record->soa->expire);
		dns_put32(p + 16, record->soa->minimum);
		writer->length += SOA_NUMBERS_SIZE;
		break;
	}
	writer->count++;
	return true;
}

size_t
xfr_writer_finish(struct xfr_writer *writer)
{
	const struct dns_query *query = writer->query;
	uint8_t *b = writer->buffer;
	uint16_t flags = FLAG_QR | FLAG_AA | (uint16_t)((query->opcode & 0x0f) << OPCODE_SHIFT) |
	    (writer->rcode & RCODE_MASK);
	uint16_t additional = 0;

	if (query->recursion_desired)
		flags |= FLAG_RD;
	if (query->edns && writer->length + OPT_SIZE <= writer->limit) {
		uint8_t *p = b + writer->length;
		p[0] = 0;
		dns_put16(p + 1, DNS_TYPE_OPT);
		dns_put16(p + 3, DNS_UDP_PAYLOAD_MIN);
		dns_put32(p + 5, (uint32_t)(writer->rcode >> 4) << 24);
		dns_put16(p + 9, 0);
		writer->length += OPT_SIZE;
		additional = 1;
	}
	dns_put16(b, query->id);
	dns_put16(b + 2, flags);
	dns_put16(b + 4, writer->question ? 1 : 0);
	dns_put16(b + 6, writer->count);
	dns_put16(b + 8, 0);
	dns_put16(b + 10, additional);
	return writer->length;
}

/* ---- queries --------------------------------------------------------------------------- */

bool
xfr_ixfr_serial(const uint8_t *packet, size_t length, uint32_t *serial)
{
	size_t at = DNS_HEADER_SIZE;

	if (length < DNS_HEADER_SIZE || dns_get16(packet + 4) != 1)
		return false;
	if (!dns_name_skip(packet, length, &at) || at + QUESTION_FIXED_SIZE > length)
		return false;
	at += QUESTION_FIXED_SIZE;
	size_t answers = dns_get16(packet + 6);
	size_t authority = dns_get16(packet + 8);
	for (size_t i = 0; i < answers + authority; i++) {
		if (!dns_name_skip(packet, length, &at) || at + RR_FIXED_SIZE > length)
			return false;
		uint16_t type = dns_get16(packet + at);
		size_t rdata_length = dns_get16(packet + at + 8);
		size_t rdata = at + RR_FIXED_SIZE;
		if (rdata + rdata_length > length)
			return false;
		if (i >= answers && type == DNS_TYPE_SOA) {
			size_t p = rdata;
			if (!dns_name_skip(packet, rdata + rdata_length, &p) ||
			    !dns_name_skip(packet, rdata + rdata_length, &p) ||
			    p + SOA_NUMBERS_SIZE > rdata + rdata_length)
				return false;
			*serial = dns_get32(packet + p);
			return true;
		}
		at = rdata + rdata_length;
	}
	return false;
}

bool
xfr_query_is_transfer(const uint8_t *packet, size_t length)
{
	struct dns_query query;

	return dns_query_parse(packet, length, &query) == DNS_PARSE_OK &&
	    (query.qtype == DNS_TYPE_AXFR || query.qtype == DNS_TYPE_IXFR);
}

/* ---- transfers ------------------------------------------------------------------------- */

enum transfer_kind {
	TRANSFER_ERROR,		/* one message with an rcode */
	TRANSFER_CURRENT,	/* IXFR from our serial or a newer one: our SOA only */
	TRANSFER_FULL,		/* AXFR, or IXFR the journal cannot answer */
	TRANSFER_INCREMENTAL,	/* IXFR from the journal */
};

/* Where a transfer is in its list of records. */
enum transfer_step {
	STEP_FIRST_SOA,
	STEP_RECORDS,		/* the walk (full) or the journal entries (incremental) */
	STEP_LAST_SOA,
	STEP_DONE,
};

/* Where an incremental transfer is inside one journal entry. */
enum entry_part {
	PART_FROM_SOA,
	PART_DELETED,
	PART_TO_SOA,
	PART_ADDED,
};

struct xfr_transfer {
	uint8_t *packet;		/* our copy of the query: the parsed query points here */
	size_t packet_length;
	struct dns_query query;
	enum transfer_kind kind;
	bool ixfr;
	uint16_t rcode;
	size_t message_max;
	struct xfr_zone *zone;
	struct xfr_walk *walk;
	struct journal_entry **entries;
	size_t entry_count;
	size_t entry_index;
	enum entry_part part;
	size_t part_offset;
	enum transfer_step step;
	bool have_pending;
	struct xfr_record pending;
	bool error_sent;
	uint32_t client_serial;
	size_t messages;
	size_t records;
};

/* soa_item - an SOA record item of a transfer */
static void
soa_item(const struct xfr_soa *soa, struct xfr_record *out)
{
	memset(out, 0, offsetof(struct xfr_record, data));
	out->tree = XFR_TREE_APEX;
	out->type = DNS_TYPE_SOA;
	out->ttl = soa->ttl;
	out->soa = soa;
}

/* next_entry_item - the next record of the journal entries; false after the last */
static bool
next_entry_item(struct xfr_transfer *t, struct xfr_record *out)
{
	while (t->entry_index < t->entry_count) {
		struct journal_entry *entry = t->entries[t->entry_index];
		switch (t->part) {
		case PART_FROM_SOA:
			t->part = PART_DELETED;
			t->part_offset = 0;
			soa_item(&entry->from, out);
			return true;
		case PART_DELETED:
			if (xfr_record_decode(entry->deleted, entry->deleted_length,
			    &t->part_offset, out))
				return true;
			t->part = PART_TO_SOA;
			break;
		case PART_TO_SOA:
			t->part = PART_ADDED;
			t->part_offset = 0;
			soa_item(&entry->to, out);
			return true;
		case PART_ADDED:
			if (xfr_record_decode(entry->added, entry->added_length, &t->part_offset,
			    out))
				return true;
			t->part = PART_FROM_SOA;
			t->entry_index++;
			break;
		}
	}
	return false;
}

/* next_item - the next record the transfer sends; false when all were given */
static bool
next_item(struct xfr_transfer *t, struct xfr_record *out)
{
	for (;;) {
		switch (t->step) {
		case STEP_FIRST_SOA:
			t->step = t->kind == TRANSFER_CURRENT ? STEP_DONE : STEP_RECORDS;
			soa_item(&t->zone->soa, out);
			return true;
		case STEP_RECORDS:
			if (t->kind == TRANSFER_FULL && xfr_walk_next(t->walk, out))
				return true;
			if (t->kind == TRANSFER_INCREMENTAL && next_entry_item(t, out))
				return true;
			t->step = STEP_LAST_SOA;
			break;
		case STEP_LAST_SOA:
			t->step = STEP_DONE;
			soa_item(&t->zone->soa, out);
			return true;
		case STEP_DONE:
			return false;
		}
	}
}

/* find_zone - the zone of the snapshot whose apex is the query name; -1 if none */
static int
find_zone(const struct zone_snapshot *snapshot, const struct dns_query *query)
{
	if (snapshot == NULL)
		return -1;
	for (size_t i = 0; i < zone_snapshot_zone_count(snapshot); i++) {
		struct zone_view view;
		zone_snapshot_zone_view(snapshot, i, &view);
		if (view.wire_length == query->name_length &&
		    memcmp(view.wire, query->name, view.wire_length) == 0)
			return (int)i;
	}
	return -1;
}

struct xfr_transfer *
xfr_transfer_start(const struct zone_snapshot *snapshot, struct journal *journal,
    const uint8_t *packet, size_t length, size_t message_max)
{
	struct xfr_transfer *t;
	struct zone_view view;

	if (!xfr_query_is_transfer(packet, length))
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->packet = xmalloc(length);
	memcpy(t->packet, packet, length);
	t->packet_length = length;
	dns_query_parse(t->packet, length, &t->query);
	t->ixfr = t->query.qtype == DNS_TYPE_IXFR;
	t->message_max = message_max < XFR_MESSAGE_MAX ? message_max : XFR_MESSAGE_MAX;
	t->kind = TRANSFER_ERROR;
	int index = t->query.qclass == DNS_CLASS_IN ? find_zone(snapshot, &t->query) : -1;
	if (t->query.qclass != DNS_CLASS_IN) {
		t->rcode = DNS_RCODE_REFUSED;
		return t;
	}
	if (index < 0) {
		t->rcode = XFR_RCODE_NOTAUTH;
		return t;
	}
	zone_snapshot_zone_view(snapshot, (size_t)index, &view);
	t->zone = xfr_zone_new(&view);
	if (t->ixfr) {
		if (!xfr_ixfr_serial(t->packet, length, &t->client_serial)) {
			t->rcode = DNS_RCODE_FORMERR;
			return t;
		}
		if (!xfr_serial_newer(t->zone->soa.serial, t->client_serial)) {
			t->kind = TRANSFER_CURRENT;
			return t;
		}
		if (journal != NULL && journal_chain(journal, t->zone->name, t->client_serial,
		    t->zone->soa.serial, &t->entries, &t->entry_count)) {
			t->kind = TRANSFER_INCREMENTAL;
			return t;
		}
	}
	t->kind = TRANSFER_FULL;
	t->walk = xfr_walk_new(t->zone);
	return t;
}

size_t
xfr_transfer_next(struct xfr_transfer *t, uint8_t *out, size_t out_size)
{
	struct xfr_writer writer;

	if (t->kind == TRANSFER_ERROR) {
		if (t->error_sent)
			return 0;
		t->error_sent = true;
		t->messages++;
		xfr_writer_start(&writer, &t->query, t->zone, t->rcode, out, out_size,
		    t->message_max);
		return xfr_writer_finish(&writer);
	}
	if (t->step == STEP_DONE && !t->have_pending)
		return 0;
	xfr_writer_start(&writer, &t->query, t->zone, DNS_RCODE_NOERROR, out, out_size,
	    t->message_max);
	for (;;) {
		if (!t->have_pending) {
			if (!next_item(t, &t->pending))
				break;
			t->have_pending = true;
		}
		if (!xfr_writer_add(&writer, &t->pending)) {
			if (writer.count == 0) {
				/* cannot happen with XFR_MESSAGE_MAX: a record is < 600 bytes */
				log_warn("event=xfr_record_too_large zone=%s limit=%zu", t->zone->name,
				    t->message_max);
				t->have_pending = false;
				t->step = STEP_DONE;
			}
			break;
		}
		t->have_pending = false;
		t->records++;
	}
	if (writer.count == 0)
		return 0;
	t->messages++;
	return xfr_writer_finish(&writer);
}

void
xfr_transfer_summary(const struct xfr_transfer *t, struct xfr_transfer_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->zone = t->zone != NULL ? t->zone->name : "";
	out->rcode = t->kind == TRANSFER_ERROR ? t->rcode : DNS_RCODE_NOERROR;
	out->serial = t->zone != NULL ? t->zone->soa.serial : 0;
	out->client_serial = t->client_serial;
	out->messages = t->messages;
	out->records = t->records;
	switch (t->kind) {
	case TRANSFER_ERROR:
		out->kind = "error";
		break;
	case TRANSFER_CURRENT:
		out->kind = "IXFR-current";
		break;
	case TRANSFER_FULL:
		out->kind = t->ixfr ? "IXFR-full" : "AXFR";
		break;
	case TRANSFER_INCREMENTAL:
		out->kind = "IXFR";
		break;
	}
}

void
xfr_transfer_free(struct xfr_transfer *t)
{
	if (t == NULL)
		return;
	xfr_walk_free(t->walk);
	journal_chain_release(t->entries, t->entry_count);
	xfr_zone_free(t->zone);
	free(t->packet);
	free(t);
}

/* ---- the service ----------------------------------------------------------------------- */

struct xfr_service {
	struct netprefix_set allow;
	size_t active;			/* transfers begun and not finished (main loop) */
	struct journal *journal;
	struct notify *notify;		/* NULL without secondaries to notify */
	struct zone_snapshot_slot *slot;
};

/* served_zone_index - the zone of served named like next's zone, or -1 */
static int
served_zone_index(const struct zone_snapshot *served, const char *name)
{
	if (served == NULL)
		return -1;
	for (size_t i = 0; i < zone_snapshot_zone_count(served); i++)
		if (strcmp(zone_snapshot_zone_name(served, i), name) == 0)
			return (int)i;
	return -1;
}

/* before_swap - give every zone of next its serial and journal its changes */
static void
before_swap(void *context, const struct zone_snapshot *served, struct zone_snapshot *next)
{
	struct xfr_service *service = context;
	size_t count = zone_snapshot_zone_count(next);
	const char **names = xcalloc(count ? count : 1, sizeof(*names));

	for (size_t i = 0; i < count; i++) {
		struct zone_view view;
		zone_snapshot_zone_view(next, i, &view);
		names[i] = view.name;
		struct xfr_zone *fresh = xfr_zone_new(&view);
		struct xfr_zone *old = NULL;
		int index = served_zone_index(served, view.name);
		if (index >= 0) {
			struct zone_view served_view;
			zone_snapshot_zone_view(served, (size_t)index, &served_view);
			old = xfr_zone_new(&served_view);
		}
		zone_snapshot_set_serial(next, i, journal_update(service->journal, old, fresh));
		xfr_zone_free(old);
		xfr_zone_free(fresh);
	}
	journal_forget_others(service->journal, names, count);
	free(names);
}

/* after_swap - NOTIFY the secondaries of every zone whose serial changed */
static void
after_swap(void *context, const struct zone_snapshot *served, struct zone_snapshot *next)
{
	struct xfr_service *service = context;

	if (service->notify == NULL)
		return;
	for (size_t i = 0; i < zone_snapshot_zone_count(next); i++) {
		size_t entries, bytes;
		uint32_t serial, served_serial = 0;
		const char *name = zone_snapshot_zone_name(next, i);
		int index = served_zone_index(served, name);
		zone_snapshot_zone_stats(next, i, &entries, &bytes, &serial);
		if (index >= 0)
			zone_snapshot_zone_stats(served, (size_t)index, &entries, &bytes,
			    &served_serial);
		if (index < 0 || served_serial != serial)
			notify_zone_changed(service->notify, name, serial);
	}
}

struct xfr_service *
xfr_service_new(const struct xfr_service_config *config, struct zone_snapshot_slot *slot,
    char *err, size_t err_size)
{
	struct xfr_service *service = xcalloc(1, sizeof(*service));
	struct notify_target *targets = xcalloc(config->notify_count ? config->notify_count : 1,
	    sizeof(*targets));

	netprefix_set_init(&service->allow);
	for (size_t i = 0; i < config->allow_count; i++) {
		struct netprefix prefix;
		if (!netprefix_parse(config->allow[i], &prefix)) {
			snprintf(err, err_size, "xfr_allow wants an address or CIDR prefix, not '%s'",
			    config->allow[i]);
			goto fail;
		}
		netprefix_set_add(&service->allow, &prefix);
	}
	for (size_t i = 0; i < config->notify_count; i++)
		if (!notify_target_parse(config->notify[i], &targets[i], err, err_size))
			goto fail;
	if (config->notify_count > 0)
		service->notify = notify_new(targets, config->notify_count);
	free(targets);
	service->journal = journal_new(config->journal_bytes);
	service->slot = slot;
	zone_snapshot_slot_set_hooks(slot, before_swap, after_swap, service);
	return service;
fail:
	free(targets);
	netprefix_set_free(&service->allow);
	free(service);
	return NULL;
}

bool
xfr_service_start(struct xfr_service *service, struct event_base *base, char *err,
    size_t err_size)
{
	if (service->notify == NULL)
		return true;
	return notify_start(service->notify, base, err, err_size);
}

bool
xfr_service_allows(const struct xfr_service *service, const struct netaddr *client)
{
	return netprefix_set_find(&service->allow, client) != NULL;
}

struct xfr_transfer *
xfr_service_begin(struct xfr_service *service, const struct netaddr *client,
    const uint8_t *packet, size_t length)
{
	char address[NETADDR_TEXT_MAX];
	struct xfr_transfer *transfer;

	netaddr_format(client, address, sizeof(address));
	if (!xfr_service_allows(service, client)) {
		log_warn("event=xfr_refused client=%s reason=\"not in xfr_allow\"", address);
		return NULL;
	}
	if (service->active >= XFR_CONCURRENT_MAX) {
		log_warn("event=xfr_refused client=%s reason=\"%d transfers are being sent\"",
		    address, XFR_CONCURRENT_MAX);
		return NULL;
	}
	const struct zone_snapshot *snapshot = zone_snapshot_acquire(service->slot);
	transfer = xfr_transfer_start(snapshot, service->journal, packet, length,
	    XFR_MESSAGE_MAX);
	zone_snapshot_release(snapshot);
	if (transfer != NULL) {
		service->active++;
		struct xfr_transfer_summary summary;
		xfr_transfer_summary(transfer, &summary);
		log_info("event=xfr_start client=%s zone=%s kind=%s serial=%u client_serial=%u",
		    address, summary.zone[0] ? summary.zone : "-", summary.kind, summary.serial,
		    summary.client_serial);
	}
	return transfer;
}

void
xfr_service_finish(struct xfr_service *service, const struct netaddr *client,
    struct xfr_transfer *transfer, bool complete)
{
	char address[NETADDR_TEXT_MAX];
	struct xfr_transfer_summary summary;
	const char *rcode;

	service->active--;
	netaddr_format(client, address, sizeof(address));
	xfr_transfer_summary(transfer, &summary);
	rcode = summary.rcode == XFR_RCODE_NOTAUTH ? "NOTAUTH" : dns_rcode_name(summary.rcode);
	if (complete)
		log_info("event=xfr_done client=%s zone=%s kind=%s rcode=%s serial=%u messages=%zu "
			 "records=%zu", address, summary.zone[0] ? summary.zone : "-", summary.kind,
		    rcode != NULL ? rcode : "other", summary.serial, summary.messages,
		    summary.records);
	else
		log_warn("event=xfr_aborted client=%s zone=%s kind=%s serial=%u messages=%zu "
			 "records=%zu detail=\"connection closed before the end\"", address,
		    summary.zone[0] ? summary.zone : "-", summary.kind, summary.serial,
		    summary.messages, summary.records);
	xfr_transfer_free(transfer);
}

struct journal *
xfr_service_journal(struct xfr_service *service)
{
	return service->journal;
}

void
xfr_service_free(struct xfr_service *service)
{
	if (service == NULL)
		return;
	notify_free(service->notify);
	journal_free(service->journal);
	netprefix_set_free(&service->allow);
	free(service);
}
