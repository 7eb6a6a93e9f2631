/* test_xfr.c - unit tests of DNSBL zone transfers (dnsbl/xfr.h, journal.h, notify.h): the
 * names AXFR writes, checked by a small secondary that resolves them with the RFC 1034 /
 * RFC 4592 rules and must answer like zone_answer_packet; message splitting; journal diffs,
 * serials and IXFR; NOTIFY messages; the transfer ACL. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnsbl/dataset.h"
#include "dnsbl/dns_packet.h"
#include "dnsbl/journal.h"
#include "dnsbl/notify.h"
#include "dnsbl/xfr.h"
#include "dnsbl/zone.h"
#include "dns_test_packets.h"

#define ZONE "relays.bl.test"
#define ERR_SIZE 512
#define SERVER_UDP_MAX 1232
#define JOURNAL_BYTES (16u * 1024 * 1024)
#define TYPE_CNAME 5

/* ---- building zones -------------------------------------------------------------------- */

/* load - a zone_data from rbldnsd-format text that must load without warnings */
static struct zone_data *
load(enum dataset_type type, const char *text)
{
	char err[ERR_SIZE] = "";
	size_t warnings = 0;
	struct dataset *set = dataset_load_buffer(type, text, strlen(text), "test", &warnings,
	    err, sizeof(err));

	if (set == NULL)
		fail_msg("dataset did not load: %s", err);
	assert_int_equal(warnings, 0);
	return zone_data_new(set, type);
}

/* load_lenient - the same for generated data, where a prefix may come twice (skipped
 * with a warning, as rbldnsd does) */
static struct zone_data *
load_lenient(enum dataset_type type, const char *text)
{
	char err[ERR_SIZE] = "";
	size_t warnings = 0;
	struct dataset *set = dataset_load_buffer(type, text, strlen(text), "test", &warnings,
	    err, sizeof(err));

	if (set == NULL)
		fail_msg("dataset did not load: %s", err);
	return zone_data_new(set, type);
}

/* defaults - what dnsbl_main would fill in */
static struct zone_defaults
defaults(void)
{
	struct zone_defaults d;

	memset(&d, 0, sizeof(d));
	d.ttl = 2100;
	d.negative_ttl = 60;
	d.serial = 1000;
	snprintf(d.ns[0], sizeof(d.ns[0]), "ns1.example.org");
	snprintf(d.ns[1], sizeof(d.ns[1]), "ns2.relays.bl.test");
	d.ns_count = 2;
	return d;
}

/* build - a snapshot of ZONE from count datasets (references handed over) */
static struct zone_snapshot *
build(struct zone_data **data, size_t count)
{
	char err[ERR_SIZE] = "";
	struct zone_defaults d = defaults();
	struct zone_spec spec = { ZONE, data, count };
	struct zone_snapshot *snapshot = zone_snapshot_build(&spec, 1, &d, 1, err, sizeof(err));

	if (snapshot == NULL)
		fail_msg("snapshot: %s", err);
	for (size_t i = 0; i < count; i++)
		zone_data_unref(data[i]);
	return snapshot;
}

/* build1 - a snapshot of one dataset */
static struct zone_snapshot *
build1(enum dataset_type type, const char *text)
{
	struct zone_data *data = load(type, text);

	return build(&data, 1);
}

/* zone_copy - the transfer copy of the snapshot's zone */
static struct xfr_zone *
zone_copy(const struct zone_snapshot *snapshot)
{
	struct zone_view view;

	zone_snapshot_zone_view(snapshot, 0, &view);
	return xfr_zone_new(&view);
}

/* ---- decoding transfers ---------------------------------------------------------------- */

struct rec {
	char owner[300];
	uint16_t type;
	uint32_t ttl;
	char data[700];
};

struct rec_list {
	struct rec *items;
	size_t count;
	size_t capacity;
};

/* rec_add - append one record */
static struct rec *
rec_add(struct rec_list *list)
{
	if (list->count == list->capacity) {
		list->capacity = list->capacity ? list->capacity * 2 : 256;
		list->items = realloc(list->items, list->capacity * sizeof(*list->items));
		assert_non_null(list->items);
	}
	memset(&list->items[list->count], 0, sizeof(list->items[0]));
	return &list->items[list->count++];
}

/* decode_message - one transfer message (an independent decoder: CNAME, SOA, NS, A, TXT)
 * appended to list; checks the header */
static void
decode_message(const uint8_t *p, size_t length, uint16_t id, unsigned rcode,
    struct rec_list *list)
{
	size_t at = 12;
	char qname[300];

	assert_true(length >= 12);
	assert_int_equal(test_get16(p), id);
	assert_true(p[2] & 0x80);	/* QR */
	assert_true(p[2] & 0x04);	/* AA */
	assert_int_equal(p[3] & 0x0f, rcode);
	assert_int_equal(test_get16(p + 4), 1);
	assert_true(test_read_name(p, length, &at, qname, sizeof(qname)));
	assert_string_equal(qname, ZONE);
	at += 4;
	unsigned answers = test_get16(p + 6);
	assert_int_equal(test_get16(p + 8), 0);
	for (unsigned i = 0; i < answers; i++) {
		struct rec *r = rec_add(list);
		assert_true(test_read_name(p, length, &at, r->owner, sizeof(r->owner)));
		assert_true(at + 10 <= length);
		r->type = test_get16(p + at);
		assert_int_equal(test_get16(p + at + 2), 1);
		r->ttl = test_get32(p + at + 4);
		size_t rdlength = test_get16(p + at + 8);
		at += 10;
		size_t rd = at;
		assert_true(at + rdlength <= length);
		if (r->type == DNS_TYPE_A) {
			assert_int_equal(rdlength, 4);
			snprintf(r->data, sizeof(r->data), "%u.%u.%u.%u", p[rd], p[rd + 1],
			    p[rd + 2], p[rd + 3]);
		} else if (r->type == DNS_TYPE_TXT) {
			assert_int_equal(p[rd] + 1u, rdlength);
			memcpy(r->data, p + rd + 1, p[rd]);
			r->data[p[rd]] = '\0';
		} else if (r->type == DNS_TYPE_NS || r->type == TYPE_CNAME) {
			size_t name_at = rd;
			assert_true(test_read_name(p, length, &name_at, r->data, sizeof(r->data)));
			assert_int_equal(name_at, rd + rdlength);
		} else if (r->type == DNS_TYPE_SOA) {
			char mname[300], rname[300];
			size_t name_at = rd;
			assert_true(test_read_name(p, length, &name_at, mname, sizeof(mname)));
			assert_true(test_read_name(p, length, &name_at, rname, sizeof(rname)));
			assert_int_equal(name_at + 20, rd + rdlength);
			snprintf(r->data, sizeof(r->data), "%s %s %u", mname, rname,
			    test_get32(p + name_at));
		} else {
			fail_msg("unexpected type %u", r->type);
		}
		at += rdlength;
	}
	/* an OPT record only when the query had one: none here */
	assert_int_equal(test_get16(p + 10), 0);
	assert_int_equal(at, length);
}

/* transfer - run an AXFR (or the IXFR packet given) through xfr_transfer and decode every
 * message; returns the number of messages */
static size_t
transfer(const struct zone_snapshot *snapshot, struct journal *journal,
    const uint8_t *query, size_t query_length, size_t limit, unsigned rcode,
    struct rec_list *out)
{
	static uint8_t message[XFR_MESSAGE_MAX];
	struct xfr_transfer *t = xfr_transfer_start(snapshot, journal, query, query_length,
	    limit);
	size_t messages = 0, length;

	assert_non_null(t);
	while ((length = xfr_transfer_next(t, message, sizeof(message))) > 0) {
		assert_true(length <= limit);
		decode_message(message, length, test_get16(query), rcode, out);
		messages++;
	}
	xfr_transfer_free(t);
	return messages;
}

/* axfr - the records of an AXFR of ZONE in messages of at most limit bytes */
static size_t
axfr(const struct zone_snapshot *snapshot, size_t limit, struct rec_list *out)
{
	uint8_t query[512];
	size_t length = test_build_query(query, ZONE, DNS_TYPE_AXFR, NULL);

	return transfer(snapshot, NULL, query, length, limit, 0, out);
}

/* ---- a small secondary: RFC 1034 4.3.2 with RFC 4592 wildcards ------------------------- */

/* An owner's path from the apex: labels joined by '/' ("192/0/2" then a "*" label). */
struct owner_key {
	char path[200];
	size_t record;
};

struct secondary {
	struct rec_list records;
	struct owner_key *owners;	/* one per record, sorted by path */
	size_t owner_count;
	char **nodes;			/* every existing node: owners and their ancestors */
	size_t node_count;
};

/* path_of - the apex-first path of an owner name in ZONE */
static void
path_of(const char *owner, char *out, size_t out_size)
{
	char copy[300];
	char *labels[64];
	size_t count = 0, suffix = strlen("." ZONE);
	size_t length = strlen(owner);

	out[0] = '\0';
	if (strcmp(owner, ZONE) == 0)
		return;
	assert_true(length > suffix && strcmp(owner + length - suffix, "." ZONE) == 0);
	snprintf(copy, sizeof(copy), "%.*s", (int)(length - suffix), owner);
	for (char *label = strtok(copy, "."); label != NULL; label = strtok(NULL, "."))
		labels[count++] = label;
	size_t at = 0;
	for (size_t i = count; i > 0; i--)
		at += (size_t)snprintf(out + at, out_size - at, "%s%s", at ? "/" : "",
		    labels[i - 1]);
}

static int
owner_key_compare(const void *x, const void *y)
{
	return strcmp(((const struct owner_key *)x)->path, ((const struct owner_key *)y)->path);
}

static int
string_compare(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* secondary_load - index the records of a transfer (SOA excluded) */
static void
secondary_load(struct secondary *s, const struct rec_list *records)
{
	memset(s, 0, sizeof(*s));
	s->records = *records;
	s->owners = calloc(records->count + 1, sizeof(*s->owners));
	s->nodes = calloc(records->count * 33 + 1, sizeof(*s->nodes));
	for (size_t i = 0; i < records->count; i++) {
		if (records->items[i].type == DNS_TYPE_SOA)
			continue;
		struct owner_key *key = &s->owners[s->owner_count++];
		path_of(records->items[i].owner, key->path, sizeof(key->path));
		key->record = i;
		/* the owner and every ancestor exist */
		char node[200];
		snprintf(node, sizeof(node), "%s", key->path);
		for (;;) {
			s->nodes[s->node_count++] = strdup(node);
			char *slash = strrchr(node, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
	}
	qsort(s->owners, s->owner_count, sizeof(*s->owners), owner_key_compare);
	qsort(s->nodes, s->node_count, sizeof(*s->nodes), string_compare);
}

/* secondary_free - release the indexes (not the records) */
static void
secondary_free(struct secondary *s)
{
	for (size_t i = 0; i < s->node_count; i++)
		free(s->nodes[i]);
	free(s->nodes);
	free(s->owners);
}

/* node_exists - a node with records or with names below it */
static bool
node_exists(const struct secondary *s, const char *path)
{
	const char *key = path;

	if (path[0] == '\0')
		return true;	/* the apex */
	return bsearch(&key, s->nodes, s->node_count, sizeof(*s->nodes), string_compare) != NULL;
}

/* owner_first - index of the first owner key equal to path, or owner_count */
static size_t
owner_first(const struct secondary *s, const char *path)
{
	size_t low = 0, high = s->owner_count;

	while (low < high) {
		size_t middle = (low + high) / 2;
		if (strcmp(s->owners[middle].path, path) < 0)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

/* What the secondary answers for an A or TXT query. */
struct resolution {
	enum { RES_NXDOMAIN, RES_EXCLUDED, RES_DATA } kind;
	bool wildcard;			/* synthesised from a wildcard */
	char values[32][300];		/* A as dotted quads or TXT texts, sorted */
	size_t count;
	uint32_t ttl;
};

/* collect - the records of type at owner path into r (CNAME makes it excluded) */
static bool
collect(const struct secondary *s, const char *path, uint16_t type, struct resolution *r)
{
	size_t i = owner_first(s, path);
	bool any = false;

	for (; i < s->owner_count && strcmp(s->owners[i].path, path) == 0; i++) {
		const struct rec *rec = &s->records.items[s->owners[i].record];
		any = true;
		if (rec->type == TYPE_CNAME) {
			assert_string_equal(rec->data, XFR_EXCLUDED_LABEL "." ZONE);
			r->kind = RES_EXCLUDED;
			return true;
		}
		if (rec->type == type) {
			assert_true(r->count < 32);
			snprintf(r->values[r->count++], sizeof(r->values[0]), "%.299s", rec->data);
			r->ttl = rec->ttl;
		}
	}
	return any;
}

/* secondary_resolve - the answer to path (apex-first labels) for type */
static void
secondary_resolve(const struct secondary *s, const char *path, uint16_t type,
    struct resolution *r)
{
	char encloser[200];

	memset(r, 0, sizeof(*r));
	r->kind = RES_DATA;
	if (node_exists(s, path)) {
		collect(s, path, type, r);
	} else {
		snprintf(encloser, sizeof(encloser), "%s", path);
		for (;;) {
			char *slash = strrchr(encloser, '/');
			if (slash == NULL)
				encloser[0] = '\0';
			else
				*slash = '\0';
			if (node_exists(s, encloser))
				break;
		}
		char wildcard[210];
		snprintf(wildcard, sizeof(wildcard), "%s%s*", encloser, encloser[0] ? "/" : "");
		r->wildcard = true;
		if (!collect(s, wildcard, type, r))
			r->kind = RES_NXDOMAIN;
	}
	qsort(r->values, r->count, sizeof(r->values[0]),
	    (int (*)(const void *, const void *))strcmp);
}

/* ---- comparing with the server's own answers ------------------------------------------- */

static uint8_t query_packet[TEST_PACKET_MAX];
static uint8_t reply_packet[TEST_PACKET_MAX];

/* server_answer - zone_answer_packet's answer to name/type: rcode, sorted values */
static unsigned
server_answer(const struct zone_snapshot *snapshot, const char *name, uint16_t type,
    char values[][300], size_t *count, uint32_t *ttl)
{
	struct zone_answer_info info;
	struct test_reply reply;
	size_t length = test_build_query(query_packet, name, type, NULL);
	size_t reply_length = zone_answer_packet(snapshot, query_packet, length, true,
	    SERVER_UDP_MAX, reply_packet, sizeof(reply_packet), &info);

	assert_true(test_decode_reply(reply_packet, reply_length, &reply));
	*count = 0;
	for (size_t i = 0; i < reply.rr_count; i++) {
		if (reply.rr[i].section == 0 && reply.rr[i].type == type) {
			snprintf(values[(*count)++], 300, "%.299s", reply.rr[i].data);
			*ttl = reply.rr[i].ttl;
		}
	}
	qsort(values, *count, 300, (int (*)(const void *, const void *))strcmp);
	return reply.rcode;
}

/* ipv4_path / ipv6_path - the apex-first path and the query name of an address */
static void
ipv4_path(uint32_t address, char *path, size_t path_size, char *name, size_t name_size)
{
	snprintf(path, path_size, "%u/%u/%u/%u", address >> 24, (address >> 16) & 255,
	    (address >> 8) & 255, address & 255);
	snprintf(name, name_size, "%u.%u.%u.%u." ZONE, address & 255, (address >> 8) & 255,
	    (address >> 16) & 255, address >> 24);
}

static void
ipv6_path(const uint8_t bytes[16], char *path, size_t path_size, char *name, size_t name_size)
{
	size_t p = 0, n = 0;

	for (int i = 0; i < 32; i++) {
		unsigned nibble = i % 2 == 0 ? bytes[i / 2] >> 4 : bytes[i / 2] & 15;
		p += (size_t)snprintf(path + p, path_size - p, "%s%x", i ? "/" : "", nibble);
	}
	for (int i = 31; i >= 0; i--) {
		unsigned nibble = i % 2 == 0 ? bytes[i / 2] >> 4 : bytes[i / 2] & 15;
		n += (size_t)snprintf(name + n, name_size - n, "%x.", nibble);
	}
	snprintf(name + n, name_size - n, "%s", ZONE);
}

/* expect_same_answer - the secondary and the server agree on name: listed or not, the A
 * values and their TTL, and the TXT texts where the secondary has an explicit name */
static void
expect_same_answer(const struct zone_snapshot *snapshot, const struct secondary *s,
    const char *path, const char *name)
{
	char values[32][300];
	size_t count;
	uint32_t ttl = 0;
	struct resolution r;
	unsigned rcode = server_answer(snapshot, name, DNS_TYPE_A, values, &count, &ttl);

	secondary_resolve(s, path, DNS_TYPE_A, &r);
	if (rcode == DNS_RCODE_NXDOMAIN) {
		if (r.kind == RES_DATA)
			fail_msg("%s: server NXDOMAIN, secondary has %zu A (%s)", name, r.count,
			    r.count ? r.values[0] : "-");
		return;
	}
	assert_int_equal(rcode, DNS_RCODE_NOERROR);
	if (r.kind != RES_DATA || r.count != count)
		fail_msg("%s: server %zu A, secondary kind %d with %zu A", name, count, r.kind,
		    r.count);
	for (size_t i = 0; i < count; i++)
		assert_string_equal(values[i], r.values[i]);
	if (count > 0)
		assert_int_equal(ttl, r.ttl);
	if (r.wildcard)
		return;
	rcode = server_answer(snapshot, name, DNS_TYPE_TXT, values, &count, &ttl);
	secondary_resolve(s, path, DNS_TYPE_TXT, &r);
	assert_int_equal(r.count, count);
	for (size_t i = 0; i < count; i++)
		assert_string_equal(values[i], r.values[i]);
}

/* expect_same_ipv4 - compare first..last (inclusive) */
static void
expect_same_ipv4(const struct zone_snapshot *snapshot, const struct secondary *s,
    uint32_t first, uint32_t last)
{
	char path[200], name[300];

	for (uint64_t a = first; a <= last; a++) {
		ipv4_path((uint32_t)a, path, sizeof(path), name, sizeof(name));
		expect_same_answer(snapshot, s, path, name);
	}
}

/* expect_same_ipv6 - compare one IPv6 address (text) */
static void
expect_same_ipv6(const struct zone_snapshot *snapshot, const struct secondary *s,
    const char *text)
{
	struct netaddr address;
	char path[200], name[300];

	assert_true(netaddr_parse(text, &address));
	ipv6_path(address.bytes, path, sizeof(path), name, sizeof(name));
	expect_same_answer(snapshot, s, path, name);
}

/* records_without_apex - the records of a transfer other than SOA and NS, as "owner TYPE
 * data" lines in order */
static size_t
find_record(const struct rec_list *records, const char *owner, uint16_t type,
    const char *data)
{
	size_t found = 0;

	for (size_t i = 0; i < records->count; i++)
		if (strcmp(records->items[i].owner, owner) == 0 && records->items[i].type == type &&
		    (data == NULL || strcmp(records->items[i].data, data) == 0))
			found++;
	return found;
}

/* count_type - records of one type */
static size_t
count_type(const struct rec_list *records, uint16_t type)
{
	size_t count = 0;

	for (size_t i = 0; i < records->count; i++)
		if (records->items[i].type == type)
			count++;
	return count;
}

/* ---- what AXFR writes ------------------------------------------------------------------ */

static void
test_block_becomes_a_wildcard_and_its_hole_a_cname(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET,
	    "192.0.2.0/24\n!192.0.2.7\n");
	struct rec_list records = { 0 };

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	/* SOA, 2 NS, the wildcard, the exclusion, SOA */
	assert_int_equal(records.count, 6);
	assert_int_equal(find_record(&records, "*.2.0.192." ZONE, DNS_TYPE_A, "127.0.0.2"), 1);
	assert_int_equal(find_record(&records, "7.2.0.192." ZONE, TYPE_CNAME,
	    "excluded." ZONE), 1);
	assert_int_equal(count_type(&records, DNS_TYPE_NS), 2);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_single_addresses_are_explicit_names_with_their_text(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET,
	    ":127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$\n127.0.0.2\n"
	    "203.0.113.9 :4:\n198.51.100.7 :3:Confirmed $$5 relay $\n");
	struct rec_list records = { 0 };

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	assert_int_equal(find_record(&records, "2.0.0.127." ZONE, DNS_TYPE_A, "127.0.0.2"), 1);
	assert_int_equal(find_record(&records, "2.0.0.127." ZONE, DNS_TYPE_TXT,
	    "Open relay 127.0.0.2 - see https://bl.test/lookup?ip=127.0.0.2"), 1);
	assert_int_equal(find_record(&records, "9.113.0.203." ZONE, DNS_TYPE_A, "127.0.0.4"),
	    1);
	assert_int_equal(find_record(&records, "9.113.0.203." ZONE, DNS_TYPE_TXT, NULL), 0);
	assert_int_equal(find_record(&records, "7.100.51.198." ZONE, DNS_TYPE_TXT,
	    "Confirmed $5 relay 198.51.100.7"), 1);
	assert_int_equal(count_type(&records, DNS_TYPE_A), 3);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_wildcard_text_names_the_block(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET,
	    ":127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$\n192.0.2.0/24\n");
	struct rec_list records = { 0 };

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	assert_int_equal(find_record(&records, "*.2.0.192." ZONE, DNS_TYPE_TXT,
	    "Open relay 192.0.2.0/24 - see https://bl.test/lookup?ip=192.0.2.0/24"), 1);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_hole_in_a_big_block_gets_a_wildcard_on_every_level(void **state)
{
	(void)state;
	/* as rbldnsd -d writes it: *.10, *.1.10, *.2.1.10 and the CNAME; the names that
	 * lead to 3.2.1.10 exist, so *.10 no longer answers below them */
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET, "10.0.0.0/8\n!10.1.2.3\n");
	struct rec_list records = { 0 };

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	assert_int_equal(records.count, 1 + 2 + 4 + 1);	/* SOA, NS x2, the four, SOA */
	assert_int_equal(find_record(&records, "*.10." ZONE, DNS_TYPE_A, "127.0.0.2"), 1);
	assert_int_equal(find_record(&records, "*.1.10." ZONE, DNS_TYPE_A, "127.0.0.2"), 1);
	assert_int_equal(find_record(&records, "*.2.1.10." ZONE, DNS_TYPE_A, "127.0.0.2"), 1);
	assert_int_equal(find_record(&records, "3.2.1.10." ZONE, TYPE_CNAME, NULL), 1);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_unaligned_range_becomes_octet_blocks(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET,
	    "198.51.96.0/20 :3:\n203.0.113.16/28\n");
	struct rec_list records = { 0 };
	char owner[300];

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	for (unsigned third = 96; third < 112; third++) {
		snprintf(owner, sizeof(owner), "*.%u.51.198." ZONE, third);
		assert_int_equal(find_record(&records, owner, DNS_TYPE_A, "127.0.0.3"), 1);
	}
	for (unsigned fourth = 16; fourth < 32; fourth++) {
		snprintf(owner, sizeof(owner), "%u.113.0.203." ZONE, fourth);
		assert_int_equal(find_record(&records, owner, DNS_TYPE_A, "127.0.0.2"), 1);
	}
	assert_int_equal(count_type(&records, DNS_TYPE_A), 32);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_every_address_answers_as_the_server_does(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET,
	    ":127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$\n"
	    "127.0.0.2\n"
	    "192.0.2.0/24\n!192.0.2.77\n192.0.2.78 :5:Also $\n"
	    "198.51.96.0/20 :3:Range $\n!198.51.100.0/26\n198.51.100.9 :4:\n"
	    "203.0.113.16/28\n203.0.113.200-203.0.113.203 :6:\n"
	    "10.0.0.0/8\n!10.1.2.3\n!10.7.0.0/16\n10.7.3.4\n");
	struct rec_list records = { 0 };
	struct secondary s;

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	secondary_load(&s, &records);
	expect_same_ipv4(snapshot, &s, 0x7f000000, 0x7f0000ff);	/* 127.0.0.0/24 */
	expect_same_ipv4(snapshot, &s, 0xc0000200, 0xc00002ff);	/* 192.0.2.0/24 */
	expect_same_ipv4(snapshot, &s, 0xc6335f00, 0xc63370ff);	/* 198.51.95-112 */
	expect_same_ipv4(snapshot, &s, 0xcb007100, 0xcb0071ff);	/* 203.0.113.0/24 */
	expect_same_ipv4(snapshot, &s, 0x0a010000, 0x0a0103ff);	/* 10.1.0-3 */
	expect_same_ipv4(snapshot, &s, 0x0a070000, 0x0a0704ff);	/* 10.7.0-4 */
	expect_same_ipv4(snapshot, &s, 0x0afffff0, 0x0b00000f);	/* the end of 10/8 */
	secondary_free(&s);
	free(records.items);
	zone_snapshot_free(snapshot);
}

/* next_random - a small PRNG (xorshift) so the random tests repeat */
static uint32_t
next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (uint32_t)(*state >> 16);
}

/* random_data - random prefixes of a few /8s with values and exclusions */
static char *
random_data(uint64_t *seed, size_t lines, bool trie)
{
	size_t size = lines * 64 + 64, at = 0;
	char *text = malloc(size);
	static const unsigned octets[] = { 10, 192, 198, 203 };

	assert_non_null(text);
	for (size_t i = 0; i < lines; i++) {
		unsigned first = octets[next_random(seed) % 4];
		uint32_t address = first << 24 | (next_random(seed) & 0x00ffffff);
		unsigned lengths[] = { 16, 20, 24, 24, 26, 28, 30, 32, 32, 32 };
		unsigned length = lengths[next_random(seed) % 10];
		if (!trie && (length == 20 || length == 26 || length == 30))
			length = 24;
		address &= length == 32 ? 0xffffffffu : ~((1u << (32 - length)) - 1);
		bool excluded = next_random(seed) % 4 == 0;
		unsigned code = 2 + next_random(seed) % 3;
		if (excluded)	/* an exclusion line takes no value */
			at += (size_t)snprintf(text + at, size - at, "!%u.%u.%u.%u/%u\n",
			    address >> 24, (address >> 16) & 255, (address >> 8) & 255, address & 255,
			    length);
		else
			at += (size_t)snprintf(text + at, size - at, "%u.%u.%u.%u/%u :%u:Code %u for "
			    "$\n", address >> 24, (address >> 16) & 255, (address >> 8) & 255,
			    address & 255, length, code, code);
	}
	text[at] = '\0';
	return text;
}

/* check_random_zone - addresses near every boundary and at random agree */
static void
check_random_zone(enum dataset_type type, uint64_t seed, size_t lines)
{
	char *text = random_data(&seed, lines, type == DATASET_IP4TRIE);
	struct zone_data *data = load_lenient(type, text);
	struct zone_snapshot *snapshot = build(&data, 1);
	struct rec_list records = { 0 };
	struct secondary s;
	static const unsigned octets[] = { 10, 192, 198, 203 };

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	secondary_load(&s, &records);
	for (size_t i = 0; i < 3000; i++) {
		uint32_t address = octets[next_random(&seed) % 4] << 24 |
		    (next_random(&seed) & 0x00ffffff);
		expect_same_ipv4(snapshot, &s, address, address);
	}
	/* every line's first and last address and their neighbours */
	for (char *line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
		unsigned a, b, c, d, length;
		const char *start = line[0] == '!' ? line + 1 : line;
		if (sscanf(start, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &length) != 5)
			fail_msg("bad generated line");
		uint32_t first = a << 24 | b << 16 | c << 8 | d;
		uint32_t last = first | (length == 32 ? 0 : (1u << (32 - length)) - 1);
		expect_same_ipv4(snapshot, &s, first - 1, first + 1);
		expect_same_ipv4(snapshot, &s, last - 1, last + 1);
	}
	secondary_free(&s);
	free(records.items);
	zone_snapshot_free(snapshot);
	free(text);
}

static void
test_random_ip4trie_data_answers_as_the_server_does(void **state)
{
	(void)state;
	check_random_zone(DATASET_IP4TRIE, 0x5782, 400);
}

static void
test_random_ip4set_data_answers_as_the_server_does(void **state)
{
	(void)state;
	check_random_zone(DATASET_IP4SET, 0x1995, 400);
}

static void
test_ipv6_and_mapped_names_answer_as_the_server_does(void **state)
{
	(void)state;
	struct zone_data *data[2] = {
		load(DATASET_IP4SET, ":127.0.0.2:Relay $\n127.0.0.2\n1.2.3.4 :3:\n"
		    "192.0.2.0/24\n!192.0.2.9\n"),
		load(DATASET_IP6TRIE, ":127.0.0.5:IPv6 relay $\n2001:db8::/48\n"
		    "!2001:db8::1\n2001:db8:0:1::/64 :6:Block $\n1234::/16 :7:\n"),
	};
	struct zone_snapshot *snapshot = build(data, 2);
	struct rec_list records = { 0 };
	struct secondary s;
	static const char *const addresses[] = {
		"::ffff:127.0.0.2", "::ffff:127.0.0.1", "::ffff:192.0.2.1", "::ffff:192.0.2.9",
		"::ffff:1.2.3.4", "2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::5",
		"2001:db8:0:2::", "2001:db8:1::", "2001:db9::", "1234::", "1234:ffff::1",
		"1235::", "1233:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1",
	};

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	secondary_load(&s, &records);
	for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++)
		expect_same_ipv6(snapshot, &s, addresses[i]);
	expect_same_ipv4(snapshot, &s, 0x7f000000, 0x7f000004);
	expect_same_ipv4(snapshot, &s, 0x01020300, 0x010203ff);
	expect_same_ipv4(snapshot, &s, 0xc0000200, 0xc00002ff);
	/* the IPv6 tree is written as blocks, not as 2^80 names */
	assert_true(records.count < 600);
	secondary_free(&s);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_no_wildcard_on_names_both_families_share(void **state)
{
	(void)state;
	/* 1.2.3.0/24 would be *.3.2.1, which also answers IPv6 names below 3.2.1 (nibbles
	 * 1, 2, 3: 123::/12) in a zone that has IPv6 data */
	struct zone_data *data[2] = {
		load(DATASET_IP4SET, "1.2.3.0/24\n"),
		load(DATASET_IP6TRIE, "2001:db8::/32\n"),
	};
	struct zone_snapshot *snapshot = build(data, 2);
	struct rec_list records = { 0 };
	struct secondary s;

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	secondary_load(&s, &records);
	/* IPv6 names below 3.2.1: nibbles 1, 2, 3 first */
	expect_same_ipv6(snapshot, &s, "1230::1");
	expect_same_ipv6(snapshot, &s, "123f:ffff::1");
	expect_same_ipv6(snapshot, &s, "2001:db8:ffff::1");
	expect_same_ipv4(snapshot, &s, 0x01020300, 0x010203ff);
	assert_int_equal(find_record(&records, "*.3.2.1." ZONE, DNS_TYPE_A, NULL), 0);
	assert_int_equal(find_record(&records, "77.3.2.1." ZONE, DNS_TYPE_A, "127.0.0.2"), 1);
	secondary_free(&s);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_walk_is_in_canonical_order(void **state)
{
	(void)state;
	struct zone_data *data[2] = {
		load(DATASET_IP4SET, "10.0.0.0/8\n!10.1.2.3\n192.0.2.0/25\n192.0.2.200\n"),
		load(DATASET_IP6TRIE, "2001:db8::/48\n!2001:db8::1\n"),
	};
	struct zone_snapshot *snapshot = build(data, 2);
	struct xfr_zone *zone = zone_copy(snapshot);
	struct xfr_walk *walk = xfr_walk_new(zone);
	struct xfr_record previous, current;
	size_t count = 0;

	while (xfr_walk_next(walk, &current)) {
		if (count > 0)
			assert_true(xfr_record_compare(&previous, &current) < 0);
		previous = current;
		count++;
	}
	assert_true(count > 10);
	xfr_walk_free(walk);
	xfr_zone_free(zone);
	zone_snapshot_free(snapshot);
}

static void
test_record_encoding_round_trips(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET,
	    ":127.0.0.2:Text $\n10.0.0.0/8\n!10.1.2.3\n192.0.2.1\n");
	struct xfr_zone *zone = zone_copy(snapshot);
	struct xfr_walk *walk = xfr_walk_new(zone);
	struct xfr_record record, back;
	uint8_t buffer[1024];
	size_t records = 0;

	while (xfr_walk_next(walk, &record)) {
		size_t length = xfr_record_encode(&record, buffer, sizeof(buffer));
		size_t offset = 0;
		assert_true(length > 0);
		assert_true(xfr_record_decode(buffer, length, &offset, &back));
		assert_int_equal(offset, length);
		assert_int_equal(xfr_record_compare(&record, &back), 0);
		assert_false(xfr_record_decode(buffer, length, &offset, &back));
		records++;
	}
	assert_true(records >= 6);
	xfr_walk_free(walk);
	xfr_zone_free(zone);
	zone_snapshot_free(snapshot);
}

/* ---- messages -------------------------------------------------------------------------- */

/* big_zone - count single addresses with text, so that a transfer needs several messages */
static struct zone_snapshot *
big_zone(size_t count)
{
	size_t size = count * 24 + 128, at = 0;
	char *text = malloc(size);
	struct zone_snapshot *snapshot;

	assert_non_null(text);
	at += (size_t)snprintf(text, size, ":127.0.0.2:Open relay $ see https://bl.test/\n");
	/* one address per /24: neighbours with one value would be joined into a block */
	for (size_t i = 0; i < count; i++)
		at += (size_t)snprintf(text + at, size - at, "10.%zu.%zu.1\n", i & 255,
		    (i >> 8) & 255);
	snapshot = build1(DATASET_IP4SET, text);
	free(text);
	return snapshot;
}

static void
test_transfer_is_split_into_messages_within_the_limit(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = big_zone(3000);
	struct rec_list small = { 0 }, large = { 0 };
	size_t small_messages = axfr(snapshot, 512, &small);
	size_t large_messages = axfr(snapshot, XFR_MESSAGE_MAX, &large);

	/* SOA, 2 NS, 3000 x (A + TXT), SOA */
	assert_int_equal(small.count, 6004);
	assert_int_equal(large.count, 6004);
	assert_true(small_messages > 300);
	assert_true(large_messages >= 3 && large_messages < small_messages);
	for (size_t i = 0; i < small.count; i++) {
		assert_string_equal(small.items[i].owner, large.items[i].owner);
		assert_int_equal(small.items[i].type, large.items[i].type);
		assert_string_equal(small.items[i].data, large.items[i].data);
	}
	free(small.items);
	free(large.items);
	zone_snapshot_free(snapshot);
}

static void
test_axfr_starts_and_ends_with_the_soa(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = big_zone(50);
	struct rec_list records = { 0 };

	axfr(snapshot, XFR_MESSAGE_MAX, &records);
	assert_int_equal(records.items[0].type, DNS_TYPE_SOA);
	assert_int_equal(records.items[records.count - 1].type, DNS_TYPE_SOA);
	assert_string_equal(records.items[0].data, records.items[records.count - 1].data);
	assert_int_equal(count_type(&records, DNS_TYPE_SOA), 2);
	assert_string_equal(records.items[0].owner, ZONE);
	free(records.items);
	zone_snapshot_free(snapshot);
}

static void
test_transfer_of_a_zone_we_do_not_serve_is_notauth(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = big_zone(5);
	uint8_t query[512], message[XFR_MESSAGE_MAX];
	size_t length = test_build_query(query, "2.0.0.127." ZONE, DNS_TYPE_AXFR, NULL);
	struct xfr_transfer *t = xfr_transfer_start(snapshot, NULL, query, length,
	    XFR_MESSAGE_MAX);
	struct test_reply reply;

	assert_non_null(t);
	length = xfr_transfer_next(t, message, sizeof(message));
	assert_true(test_decode_reply(message, length, &reply));
	assert_int_equal(reply.rcode, XFR_RCODE_NOTAUTH);
	assert_int_equal(reply.counts[0], 0);
	assert_int_equal(xfr_transfer_next(t, message, sizeof(message)), 0);
	xfr_transfer_free(t);
	length = test_build_query(query, ZONE, DNS_TYPE_A, NULL);
	assert_null(xfr_transfer_start(snapshot, NULL, query, length, XFR_MESSAGE_MAX));
	zone_snapshot_free(snapshot);
}

/* ixfr_query - an IXFR query for ZONE carrying serial in its authority SOA */
static size_t
ixfr_query(uint8_t *out, uint32_t serial, bool with_soa)
{
	size_t at = test_build_query(out, ZONE, DNS_TYPE_IXFR, NULL);

	if (!with_soa)
		return at;
	test_put16(out + 8, 1);
	/* owner: a pointer to the question name; mname and rname the root */
	test_put16(out + at, 0xc00c);
	test_put16(out + at + 2, DNS_TYPE_SOA);
	test_put16(out + at + 4, 1);
	memset(out + at + 6, 0, 4);
	test_put16(out + at + 10, 22);
	at += 12;
	out[at++] = 0;
	out[at++] = 0;
	uint32_t numbers[5] = { serial, 3600, 600, 86400, 60 };
	for (int i = 0; i < 5; i++) {
		out[at++] = (uint8_t)(numbers[i] >> 24);
		out[at++] = (uint8_t)(numbers[i] >> 16);
		out[at++] = (uint8_t)(numbers[i] >> 8);
		out[at++] = (uint8_t)numbers[i];
	}
	return at;
}

static void
test_ixfr_serial_comes_from_the_authority_soa(void **state)
{
	(void)state;
	uint8_t query[512];
	uint32_t serial = 0;
	size_t length = ixfr_query(query, 2026112701, true);

	assert_true(xfr_ixfr_serial(query, length, &serial));
	assert_int_equal(serial, 2026112701);
	assert_true(xfr_query_is_transfer(query, length));
	assert_false(xfr_ixfr_serial(query, length - 1, &serial));
	length = ixfr_query(query, 0, false);
	assert_false(xfr_ixfr_serial(query, length, &serial));
}

static void
test_ixfr_without_a_soa_is_formerr(void **state)
{
	(void)state;
	struct zone_snapshot *snapshot = big_zone(5);
	uint8_t query[512];
	size_t length = ixfr_query(query, 0, false);
	struct rec_list records = { 0 };

	assert_int_equal(transfer(snapshot, NULL, query, length, XFR_MESSAGE_MAX,
	    DNS_RCODE_FORMERR, &records), 1);
	assert_int_equal(records.count, 0);
	zone_snapshot_free(snapshot);
}

/* ---- the journal ----------------------------------------------------------------------- */

/* encoded_count - records in an encoded buffer */
static size_t
encoded_count(const uint8_t *buffer, size_t length, struct xfr_record *first)
{
	size_t offset = 0, count = 0;
	struct xfr_record record;

	while (xfr_record_decode(buffer, length, &offset, &record)) {
		if (count == 0 && first != NULL)
			*first = record;
		count++;
	}
	assert_int_equal(offset, length);
	return count;
}

static void
test_diff_holds_only_the_changes(void **state)
{
	(void)state;
	struct zone_snapshot *old = build1(DATASET_IP4SET,
	    "127.0.0.2\n192.0.2.0/24\n198.51.100.7\n203.0.113.9\n");
	struct zone_snapshot *new = build1(DATASET_IP4SET,
	    "127.0.0.2\n192.0.2.0/24\n!192.0.2.50\n198.51.100.8\n203.0.113.9\n");
	struct xfr_zone *a = zone_copy(old), *b = zone_copy(new);
	struct journal_entry entry;
	struct xfr_record record;
	char owner[300];

	assert_true(journal_diff(a, b, JOURNAL_BYTES, &entry));
	assert_int_equal(entry.deleted_count, 1);
	assert_int_equal(encoded_count(entry.deleted, entry.deleted_length, &record), 1);
	xfr_record_owner_text(&record, a, owner, sizeof(owner));
	assert_string_equal(owner, "7.100.51.198." ZONE);
	assert_int_equal(entry.added_count, 2);
	assert_int_equal(encoded_count(entry.added, entry.added_length, &record), 2);
	xfr_record_owner_text(&record, b, owner, sizeof(owner));
	assert_string_equal(owner, "50.2.0.192." ZONE);
	assert_int_equal(record.type, TYPE_CNAME);
	free(entry.deleted);
	free(entry.added);
	/* too small a budget: no entry */
	assert_false(journal_diff(a, b, 64, &entry));
	xfr_zone_free(a);
	xfr_zone_free(b);
	zone_snapshot_free(old);
	zone_snapshot_free(new);
}

/* record_set - every record of a zone copy, encoded one per slot, sorted */
struct record_set {
	struct xfr_record *items;
	size_t count;
};

static void
record_set_of(const struct xfr_zone *zone, struct record_set *out)
{
	struct xfr_walk *walk = xfr_walk_new(zone);
	size_t capacity = 1024;

	out->items = malloc(capacity * sizeof(*out->items));
	out->count = 0;
	while (xfr_walk_next(walk, &out->items[out->count])) {
		if (++out->count == capacity) {
			capacity *= 2;
			out->items = realloc(out->items, capacity * sizeof(*out->items));
		}
	}
	xfr_walk_free(walk);
}

static int
record_qsort(const void *x, const void *y)
{
	return xfr_record_compare(x, y);
}

static void
test_diff_applied_to_the_old_zone_gives_the_new_one(void **state)
{
	(void)state;
	uint64_t seed = 0x1996;
	char *old_text = random_data(&seed, 300, true);
	char *new_text = random_data(&seed, 300, true);
	/* the new version keeps half of the old lines and adds its own */
	size_t keep = strlen(old_text) / 2;
	while (old_text[keep] != '\n')
		keep++;
	char *mixed = malloc(keep + strlen(new_text) + 2);
	memcpy(mixed, old_text, keep + 1);
	strcpy(mixed + keep + 1, new_text);
	struct zone_data *old_data = load_lenient(DATASET_IP4TRIE, old_text);
	struct zone_data *new_data = load_lenient(DATASET_IP4TRIE, mixed);
	struct zone_snapshot *old = build(&old_data, 1);
	struct zone_snapshot *new = build(&new_data, 1);
	struct xfr_zone *a = zone_copy(old), *b = zone_copy(new);
	struct journal_entry entry;
	struct record_set before, after;

	assert_true(journal_diff(a, b, JOURNAL_BYTES, &entry));
	assert_true(entry.deleted_count > 0 && entry.added_count > 0);
	record_set_of(a, &before);
	record_set_of(b, &after);
	/* old minus deleted plus added */
	struct xfr_record *result = malloc((before.count + entry.added_count + 1) *
	    sizeof(*result));
	size_t count = 0, offset = 0;
	struct xfr_record deleted;
	bool have_deleted = xfr_record_decode(entry.deleted, entry.deleted_length, &offset,
	    &deleted);
	for (size_t i = 0; i < before.count; i++) {
		if (have_deleted && xfr_record_compare(&before.items[i], &deleted) == 0) {
			have_deleted = xfr_record_decode(entry.deleted, entry.deleted_length, &offset,
			    &deleted);
			continue;
		}
		result[count++] = before.items[i];
	}
	assert_false(have_deleted);	/* every deletion was in the old zone, in order */
	offset = 0;
	while (xfr_record_decode(entry.added, entry.added_length, &offset, &result[count]))
		count++;
	qsort(result, count, sizeof(*result), record_qsort);
	assert_int_equal(count, after.count);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(xfr_record_compare(&result[i], &after.items[i]), 0);
	free(result);
	free(before.items);
	free(after.items);
	free(entry.deleted);
	free(entry.added);
	xfr_zone_free(a);
	xfr_zone_free(b);
	zone_snapshot_free(old);
	zone_snapshot_free(new);
	free(old_text);
	free(new_text);
	free(mixed);
}

/* full_diff - the differences of two whole walks, encoded, for comparison */
static void
full_diff(const struct xfr_zone *a, const struct xfr_zone *b, uint8_t **deleted,
    size_t *deleted_length, uint8_t **added, size_t *added_length)
{
	struct xfr_walk *x = xfr_walk_new(a), *y = xfr_walk_new(b);
	struct xfr_record ra, rb;
	bool have_a = xfr_walk_next(x, &ra), have_b = xfr_walk_next(y, &rb);
	size_t room = 1 << 20;

	*deleted = malloc(room);
	*added = malloc(room);
	*deleted_length = *added_length = 0;
	while (have_a || have_b) {
		int order = !have_a ? 1 : !have_b ? -1 : xfr_record_compare(&ra, &rb);
		if (order < 0)
			*deleted_length += xfr_record_encode(&ra, *deleted + *deleted_length,
			    room - *deleted_length);
		if (order > 0)
			*added_length += xfr_record_encode(&rb, *added + *added_length,
			    room - *added_length);
		if (order <= 0)
			have_a = xfr_walk_next(x, &ra);
		if (order >= 0)
			have_b = xfr_walk_next(y, &rb);
	}
	xfr_walk_free(x);
	xfr_walk_free(y);
}

static void
test_diff_leaves_out_unchanged_subtrees_but_no_change(void **state)
{
	(void)state;
	/* many first octets; the new version changes two of them (one only in a TXT) */
	char old_text[8192], new_text[8192];
	size_t o = 0, n = 0;
	for (unsigned first = 1; first < 200; first += 3) {
		o += (size_t)snprintf(old_text + o, sizeof(old_text) - o,
		    "%u.1.2.0/24 :2:Net $\n!%u.1.2.9\n%u.5.6.7\n", first, first, first);
		if (first == 34)
			n += (size_t)snprintf(new_text + n, sizeof(new_text) - n,
			    "%u.1.2.0/24 :2:Other $\n!%u.1.2.9\n%u.5.6.7\n", first, first, first);
		else if (first == 100)
			n += (size_t)snprintf(new_text + n, sizeof(new_text) - n,
			    "%u.1.2.0/24 :2:Net $\n%u.5.6.8\n", first, first);
		else
			n += (size_t)snprintf(new_text + n, sizeof(new_text) - n,
			    "%u.1.2.0/24 :2:Net $\n!%u.1.2.9\n%u.5.6.7\n", first, first, first);
	}
	struct zone_snapshot *old = build1(DATASET_IP4TRIE, old_text);
	struct zone_snapshot *new = build1(DATASET_IP4TRIE, new_text);
	struct xfr_zone *a = zone_copy(old), *b = zone_copy(new);
	struct journal_entry entry;
	uint8_t *deleted, *added;
	size_t deleted_length, added_length;

	assert_true(journal_diff(a, b, JOURNAL_BYTES, &entry));
	full_diff(a, b, &deleted, &deleted_length, &added, &added_length);
	/* 34: the wildcard's TXT; 100: the CNAME of .9 and 5.6.7 out, 5.6.8 in */
	assert_int_equal(entry.deleted_count, 3);
	assert_int_equal(entry.added_count, 2);
	assert_int_equal(entry.deleted_length, deleted_length);
	assert_memory_equal(entry.deleted, deleted, deleted_length);
	assert_int_equal(entry.added_length, added_length);
	assert_memory_equal(entry.added, added, added_length);
	free(deleted);
	free(added);
	free(entry.deleted);
	free(entry.added);
	xfr_zone_free(a);
	xfr_zone_free(b);
	zone_snapshot_free(old);
	zone_snapshot_free(new);
}

/* zone_with_serial - a zone copy of text whose SOA serial is serial */
static struct xfr_zone *
zone_with_serial(const char *text, uint32_t serial)
{
	char data[1024];

	snprintf(data, sizeof(data), "$SOA 3600 ns1.example.org. hostmaster.example.org. %u 3600 "
	    "600 604800 60\n%s", serial, text);
	struct zone_snapshot *snapshot = build1(DATASET_IP4SET, data);
	struct xfr_zone *zone = zone_copy(snapshot);
	zone_snapshot_free(snapshot);
	return zone;
}

static void
test_serial_stays_when_nothing_a_secondary_sees_changed(void **state)
{
	(void)state;
	struct journal *journal = journal_new(JOURNAL_BYTES);
	struct xfr_zone *a = zone_with_serial("127.0.0.2\n192.0.2.0/24\n", 100);
	/* reloaded (other data objects), written differently, same meaning, newer serial */
	struct xfr_zone *b = zone_with_serial("127.0.0.2\n192.0.2.0-192.0.2.255\n", 200);
	size_t entries, bytes;

	assert_int_equal(journal_update(journal, NULL, a), 100);
	assert_int_equal(journal_update(journal, a, b), 100);
	journal_stats(journal, ZONE, &entries, &bytes);
	assert_int_equal(entries, 0);
	xfr_zone_free(a);
	xfr_zone_free(b);
	journal_free(journal);
}

static void
test_serial_never_goes_back(void **state)
{
	(void)state;
	struct journal *journal = journal_new(JOURNAL_BYTES);
	struct xfr_zone *a = zone_with_serial("127.0.0.2\n", 500);
	struct xfr_zone *b = zone_with_serial("127.0.0.2\n192.0.2.1\n", 400);
	struct xfr_zone *c = zone_with_serial("127.0.0.2\n192.0.2.2\n", 900);

	assert_int_equal(journal_update(journal, a, b), 501);	/* the data's is older */
	b->soa.serial = 501;
	assert_int_equal(journal_update(journal, b, c), 900);	/* the data's is newer */
	xfr_zone_free(a);
	xfr_zone_free(b);
	xfr_zone_free(c);
	journal_free(journal);
}

static void
test_chain_links_changes_and_knows_where_it_ends(void **state)
{
	(void)state;
	struct journal *journal = journal_new(JOURNAL_BYTES);
	struct xfr_zone *v1 = zone_with_serial("127.0.0.2\n", 1);
	struct xfr_zone *v2 = zone_with_serial("127.0.0.2\n192.0.2.1\n", 2);
	struct xfr_zone *v3 = zone_with_serial("127.0.0.2\n192.0.2.2\n", 3);
	struct journal_entry **entries;
	size_t count;

	assert_int_equal(journal_update(journal, v1, v2), 2);
	assert_int_equal(journal_update(journal, v2, v3), 3);
	assert_true(journal_chain(journal, ZONE, 1, 3, &entries, &count));
	assert_int_equal(count, 2);
	assert_int_equal(entries[0]->from.serial, 1);
	assert_int_equal(entries[1]->to.serial, 3);
	journal_chain_release(entries, count);
	assert_true(journal_chain(journal, ZONE, 2, 3, &entries, &count));
	assert_int_equal(count, 1);
	journal_chain_release(entries, count);
	assert_false(journal_chain(journal, ZONE, 0, 3, &entries, &count));
	assert_false(journal_chain(journal, "other.bl.test", 1, 3, &entries, &count));
	xfr_zone_free(v1);
	xfr_zone_free(v2);
	xfr_zone_free(v3);
	journal_free(journal);
}

static void
test_journal_budget_drops_the_oldest_changes(void **state)
{
	(void)state;
	/* room for about one small change */
	struct journal *journal = journal_new(sizeof(struct journal_entry) + 200);
	struct xfr_zone *v1 = zone_with_serial("127.0.0.2\n", 1);
	struct xfr_zone *v2 = zone_with_serial("127.0.0.2\n192.0.2.1\n", 2);
	struct xfr_zone *v3 = zone_with_serial("127.0.0.2\n192.0.2.2\n", 3);
	struct journal_entry **entries;
	size_t count, bytes;

	journal_update(journal, v1, v2);
	journal_update(journal, v2, v3);
	journal_stats(journal, NULL, &count, &bytes);
	assert_int_equal(count, 1);
	assert_true(bytes <= sizeof(struct journal_entry) + 200);
	assert_false(journal_chain(journal, ZONE, 1, 3, &entries, &count));
	assert_true(journal_chain(journal, ZONE, 2, 3, &entries, &count));
	journal_chain_release(entries, count);
	xfr_zone_free(v1);
	xfr_zone_free(v2);
	xfr_zone_free(v3);
	journal_free(journal);
}

/* ---- IXFR ------------------------------------------------------------------------------ */

/* The served versions of a zone through the swap hooks of a real xfr_service. */
struct versions {
	struct zone_snapshot_slot *slot;
	struct xfr_service *service;
};

static void
versions_start(struct versions *v)
{
	char err[ERR_SIZE];
	struct xfr_service_config config = { NULL, 0, NULL, 0, JOURNAL_BYTES };

	v->slot = zone_snapshot_slot_new();
	v->service = xfr_service_new(&config, v->slot, err, sizeof(err));
	assert_non_null(v->service);
}

/* versions_serve - swap in data whose $SOA serial is serial; the served serial back */
static uint32_t
versions_serve(struct versions *v, const char *text, uint32_t serial)
{
	char data[1024];
	size_t entries, bytes;
	uint32_t served;

	snprintf(data, sizeof(data), "$SOA 3600 ns1.example.org. hostmaster.example.org. %u 3600 "
	    "600 604800 60\n%s", serial, text);
	zone_snapshot_swap(v->slot, build1(DATASET_IP4SET, data));
	const struct zone_snapshot *snapshot = zone_snapshot_acquire(v->slot);
	zone_snapshot_zone_stats(snapshot, 0, &entries, &bytes, &served);
	zone_snapshot_release(snapshot);
	return served;
}

static void
versions_stop(struct versions *v)
{
	xfr_service_free(v->service);
	zone_snapshot_slot_free(v->slot);
}

/* ixfr - an IXFR from client_serial against the served snapshot */
static size_t
ixfr(struct versions *v, uint32_t client_serial, struct rec_list *out)
{
	uint8_t query[512];
	size_t length = ixfr_query(query, client_serial, true);
	const struct zone_snapshot *snapshot = zone_snapshot_acquire(v->slot);
	size_t messages = transfer(snapshot, xfr_service_journal(v->service), query, length,
	    XFR_MESSAGE_MAX, 0, out);

	zone_snapshot_release(snapshot);
	return messages;
}

static void
test_ixfr_sends_each_change_in_rfc1995_order(void **state)
{
	(void)state;
	struct versions v;
	struct rec_list records = { 0 };

	versions_start(&v);
	assert_int_equal(versions_serve(&v, "127.0.0.2\n198.51.100.7\n", 10), 10);
	assert_int_equal(versions_serve(&v, "127.0.0.2\n198.51.100.8\n", 10), 11);
	assert_int_equal(versions_serve(&v, "127.0.0.2\n198.51.100.8\n203.0.113.1\n", 5), 12);
	ixfr(&v, 10, &records);
	/* SOA 12, SOA 10, -7, SOA 11, +8, SOA 11, SOA 12, +203.0.113.1, SOA 12 */
	assert_int_equal(records.count, 9);
	static const char *const expected[] = { "12", "10", NULL, "11", NULL, "11", "12", NULL,
		"12" };
	for (size_t i = 0; i < records.count; i++) {
		if (expected[i] == NULL)
			continue;
		assert_int_equal(records.items[i].type, DNS_TYPE_SOA);
		assert_non_null(strstr(records.items[i].data, expected[i]));
	}
	assert_string_equal(records.items[2].owner, "7.100.51.198." ZONE);
	assert_string_equal(records.items[4].owner, "8.100.51.198." ZONE);
	assert_string_equal(records.items[7].owner, "1.113.0.203." ZONE);
	free(records.items);
	versions_stop(&v);
}

static void
test_ixfr_from_the_current_serial_sends_one_soa(void **state)
{
	(void)state;
	struct versions v;
	struct rec_list records = { 0 };

	versions_start(&v);
	versions_serve(&v, "127.0.0.2\n", 77);
	assert_int_equal(ixfr(&v, 77, &records), 1);
	assert_int_equal(records.count, 1);
	assert_int_equal(records.items[0].type, DNS_TYPE_SOA);
	records.count = 0;
	ixfr(&v, 78, &records);		/* newer than ours: the same */
	assert_int_equal(records.count, 1);
	free(records.items);
	versions_stop(&v);
}

static void
test_ixfr_beyond_the_journal_sends_the_whole_zone(void **state)
{
	(void)state;
	struct versions v;
	struct rec_list records = { 0 };

	versions_start(&v);
	versions_serve(&v, "127.0.0.2\n", 20);
	versions_serve(&v, "127.0.0.2\n192.0.2.0/24\n", 21);
	ixfr(&v, 3, &records);
	/* AXFR form: SOA, NS x2, 2.0.0.127, *.2.0.192, SOA */
	assert_int_equal(records.count, 6);
	assert_int_equal(records.items[0].type, DNS_TYPE_SOA);
	assert_int_equal(records.items[1].type, DNS_TYPE_NS);
	assert_int_equal(records.items[5].type, DNS_TYPE_SOA);
	assert_int_equal(find_record(&records, "*.2.0.192." ZONE, DNS_TYPE_A, NULL), 1);
	free(records.items);
	versions_stop(&v);
}

/* ---- NOTIFY and the ACL ---------------------------------------------------------------- */

static void
test_notify_message_asks_for_the_zone_soa(void **state)
{
	(void)state;
	uint8_t wire[DNS_NAME_WIRE_MAX], message[NOTIFY_MESSAGE_MAX];
	size_t wire_length;
	uint16_t rcode = 99;

	assert_true(dns_name_from_text(ZONE, wire, sizeof(wire), &wire_length));
	size_t length = notify_message_build(0xbeef, wire, wire_length, message,
	    sizeof(message));
	assert_int_equal(length, 12 + wire_length + 4);
	assert_int_equal(test_get16(message), 0xbeef);
	assert_int_equal((message[2] >> 3) & 0x0f, NOTIFY_OPCODE);
	assert_true(message[2] & 0x04);		/* AA */
	assert_false(message[2] & 0x80);	/* a request */
	assert_int_equal(test_get16(message + 12 + wire_length), DNS_TYPE_SOA);
	/* the secondary's answer: the same with QR set */
	message[2] |= 0x80;
	message[12 + 1] = 'R';			/* case does not matter */
	assert_true(notify_response_matches(message, length, 0xbeef, wire, wire_length, &rcode));
	assert_int_equal(rcode, 0);
	assert_false(notify_response_matches(message, length, 0xbeee, wire, wire_length,
	    &rcode));
	message[2] &= (uint8_t)~0x80;
	assert_false(notify_response_matches(message, length, 0xbeef, wire, wire_length,
	    &rcode));
}

static void
test_notify_targets_are_addresses_with_a_port(void **state)
{
	(void)state;
	struct notify_target target;
	char err[ERR_SIZE];

	assert_true(notify_target_parse("127.0.0.1:5353", &target, err, sizeof(err)));
	assert_int_equal(target.port, 5353);
	assert_true(notify_target_parse("[::1]", &target, err, sizeof(err)));
	assert_int_equal(target.port, NOTIFY_DEFAULT_PORT);
	assert_int_equal(target.address.family, AF_INET6);
	assert_false(notify_target_parse("ns2.example.net:53", &target, err, sizeof(err)));
	assert_false(notify_target_parse("127.0.0.1:99999", &target, err, sizeof(err)));
}

static void
test_transfers_are_refused_unless_allowed(void **state)
{
	(void)state;
	char err[ERR_SIZE];
	struct zone_snapshot_slot *slot = zone_snapshot_slot_new();
	struct xfr_service_config none = { NULL, 0, NULL, 0, JOURNAL_BYTES };
	const char *allow[] = { "127.0.0.9/32", "2001:db8::/32" };
	struct xfr_service_config some = { allow, 2, NULL, 0, JOURNAL_BYTES };
	const char *bad[] = { "192.0.2.300/24" };
	struct xfr_service_config broken = { bad, 1, NULL, 0, JOURNAL_BYTES };
	struct netaddr client;

	struct xfr_service *service = xfr_service_new(&none, slot, err, sizeof(err));
	assert_true(netaddr_parse("127.0.0.1", &client));
	assert_false(xfr_service_allows(service, &client));
	uint8_t query[512];
	size_t length = test_build_query(query, ZONE, DNS_TYPE_AXFR, NULL);
	assert_null(xfr_service_begin(service, &client, query, length));
	xfr_service_free(service);
	service = xfr_service_new(&some, slot, err, sizeof(err));
	assert_false(xfr_service_allows(service, &client));
	assert_true(netaddr_parse("127.0.0.9", &client));
	assert_true(xfr_service_allows(service, &client));
	assert_true(netaddr_parse("2001:db8::53", &client));
	assert_true(xfr_service_allows(service, &client));
	xfr_service_free(service);
	assert_null(xfr_service_new(&broken, slot, err, sizeof(err)));
	assert_non_null(strstr(err, "192.0.2.300/24"));
	zone_snapshot_slot_free(slot);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_becomes_a_wildcard_and_its_hole_a_cname),
		cmocka_unit_test(test_single_addresses_are_explicit_names_with_their_text),
		cmocka_unit_test(test_wildcard_text_names_the_block),
		cmocka_unit_test(test_hole_in_a_big_block_gets_a_wildcard_on_every_level),
		cmocka_unit_test(test_unaligned_range_becomes_octet_blocks),
		cmocka_unit_test(test_every_address_answers_as_the_server_does),
		cmocka_unit_test(test_random_ip4trie_data_answers_as_the_server_does),
		cmocka_unit_test(test_random_ip4set_data_answers_as_the_server_does),
		cmocka_unit_test(test_ipv6_and_mapped_names_answer_as_the_server_does),
		cmocka_unit_test(test_no_wildcard_on_names_both_families_share),
		cmocka_unit_test(test_walk_is_in_canonical_order),
		cmocka_unit_test(test_record_encoding_round_trips),
		cmocka_unit_test(test_transfer_is_split_into_messages_within_the_limit),
		cmocka_unit_test(test_axfr_starts_and_ends_with_the_soa),
		cmocka_unit_test(test_transfer_of_a_zone_we_do_not_serve_is_notauth),
		cmocka_unit_test(test_ixfr_serial_comes_from_the_authority_soa),
		cmocka_unit_test(test_ixfr_without_a_soa_is_formerr),
		cmocka_unit_test(test_diff_holds_only_the_changes),
		cmocka_unit_test(test_diff_applied_to_the_old_zone_gives_the_new_one),
		cmocka_unit_test(test_diff_leaves_out_unchanged_subtrees_but_no_change),
		cmocka_unit_test(test_serial_stays_when_nothing_a_secondary_sees_changed),
		cmocka_unit_test(test_serial_never_goes_back),
		cmocka_unit_test(test_chain_links_changes_and_knows_where_it_ends),
		cmocka_unit_test(test_journal_budget_drops_the_oldest_changes),
		cmocka_unit_test(test_ixfr_sends_each_change_in_rfc1995_order),
		cmocka_unit_test(test_ixfr_from_the_current_serial_sends_one_soa),
		cmocka_unit_test(test_ixfr_beyond_the_journal_sends_the_whole_zone),
		cmocka_unit_test(test_notify_message_asks_for_the_zone_soa),
		cmocka_unit_test(test_notify_targets_are_addresses_with_a_port),
		cmocka_unit_test(test_transfers_are_refused_unless_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
