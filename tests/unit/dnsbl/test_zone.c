/* test_zone.c - unit tests of DNSBL zone answers (dnsbl/zone.h): the rules of issue 5 item 2
 * and RFC 5782, checked on whole query packets against snapshots built from small datasets. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <cmocka.h>

#include "dnsbl/dataset.h"
#include "dnsbl/dns_packet.h"
#include "dnsbl/zone.h"
#include "dns_test_packets.h"

#define SERVER_UDP_MAX 1232
#define ERR_SIZE 512
#define ZONE "relays.bl.test"
#define NO_EDNS NULL

/* The main test zone: default A/TXT, the RFC 5782 test entry, a range with a hole, a
 * second value, $SOA and $NS. */
static const char ip4_data[] =
    "$SOA 3600 ns1.relays.bl.test. hostmaster.example.org. 2026112701 3600 600 604800 60\n"
    "$NS 3600 ns1.relays.bl.test. ns2.example.net.\n"
    "$TTL 900\n"
    ":127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$\n"
    "127.0.0.2\n"
    "192.0.2.0/24\n"
    "!192.0.2.77\n"
    "198.51.100.7 :3:Confirmed relay $\n"
    "203.0.113.9 :4:\n";

static const char ip6_data[] =
    ":127.0.0.5:IPv6 relay $\n"
    "2001:db8::/32\n";

static uint8_t packet[TEST_PACKET_MAX];
static uint8_t out[TEST_PACKET_MAX];

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

/* test_defaults - what dnsbl_main would fill in */
static struct zone_defaults
test_defaults(void)
{
	struct zone_defaults defaults;

	memset(&defaults, 0, sizeof(defaults));
	defaults.ttl = 2100;
	defaults.negative_ttl = 60;
	defaults.serial = 42;
	snprintf(defaults.ns[0], sizeof(defaults.ns[0]), "ns.example.org");
	defaults.ns_count = 1;
	return defaults;
}

/* build_one - a snapshot of one zone made of datasets (references handed over) */
static struct zone_snapshot *
build_one(const char *name, struct zone_data **data, size_t count,
    const struct zone_defaults *defaults)
{
	char err[ERR_SIZE] = "";
	struct zone_spec spec = { name, data, count };
	struct zone_snapshot *snapshot = zone_snapshot_build(&spec, 1, defaults, 1, err,
	    sizeof(err));

	if (snapshot == NULL)
		fail_msg("snapshot: %s", err);
	for (size_t i = 0; i < count; i++)
		zone_data_unref(data[i]);
	return snapshot;
}

/* main_zone - relays.bl.test with the IPv4 and IPv6 data above */
static struct zone_snapshot *
main_zone(void)
{
	struct zone_defaults defaults = test_defaults();
	struct zone_data *data[2] = { load(DATASET_IP4SET, ip4_data),
		load(DATASET_IP6TRIE, ip6_data) };

	return build_one(ZONE, data, 2, &defaults);
}

/* ask - send name/qtype to the snapshot over UDP, decode the reply */
static struct test_reply
ask(const struct zone_snapshot *snapshot, const char *name, uint16_t qtype,
    const struct test_query_options *options, struct zone_answer_info *info_out)
{
	struct test_reply reply;
	struct zone_answer_info info;
	size_t length = test_build_query(packet, name, qtype, options);
	size_t reply_length = zone_answer_packet(snapshot, packet, length, false, SERVER_UDP_MAX,
	    out, SERVER_UDP_MAX, &info);

	assert_true(reply_length >= 12);
	assert_true(reply_length <= SERVER_UDP_MAX);
	if (!test_decode_reply(out, reply_length, &reply))
		fail_msg("undecodable reply to %s", name);
	assert_int_equal(reply.id, options ? options->id : 0x1234);
	assert_true(reply.qr);
	if (info_out != NULL)
		*info_out = info;
	return reply;
}

/* assert_negative_soa - NXDOMAIN/NODATA shape: nothing in answer, the zone SOA in authority */
static void
assert_negative_soa(const struct test_reply *reply, uint32_t ttl)
{
	assert_int_equal(reply->counts[0], 0);
	const struct test_rr *soa = test_find_type(reply, 1, DNS_TYPE_SOA);
	assert_non_null(soa);
	assert_string_equal(soa->owner, ZONE);
	assert_int_equal(soa->ttl, ttl);
	assert_true(reply->aa);
}

static void
test_listed_address_gets_a_127_0_0_2(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;

	(void)state;
	struct test_reply reply = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_A, NO_EDNS, &info);
	assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
	assert_true(reply.aa);
	assert_int_equal(reply.counts[0], 1);
	assert_int_equal(reply.rr[0].type, DNS_TYPE_A);
	assert_string_equal(reply.rr[0].data, "127.0.0.2");
	assert_int_equal(reply.rr[0].ttl, 900);
	assert_int_equal(info.result, ZONE_RESULT_LISTED);
	assert_int_equal(info.zone, 0);
	zone_snapshot_free(snapshot);
}

static void
test_listed_address_txt_names_the_address(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply reply = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_TXT, NO_EDNS, NULL);
	assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(reply.counts[0], 1);
	assert_int_equal(reply.rr[0].type, DNS_TYPE_TXT);
	assert_string_equal(reply.rr[0].data,
	    "Open relay 127.0.0.2 - see https://bl.test/lookup?ip=127.0.0.2");
	zone_snapshot_free(snapshot);
}

static void
test_entry_value_gives_its_own_code_and_text(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply a = ask(snapshot, "7.100.51.198." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_string_equal(a.rr[0].data, "127.0.0.3");
	struct test_reply txt = ask(snapshot, "7.100.51.198." ZONE, DNS_TYPE_TXT, NO_EDNS, NULL);
	assert_string_equal(txt.rr[0].data, "Confirmed relay 198.51.100.7");
	zone_snapshot_free(snapshot);
}

static void
test_txt_query_without_template_is_nodata(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;

	(void)state;
	/* "203.0.113.9 :4:" lists with A 127.0.0.4 and no TXT */
	struct test_reply a = ask(snapshot, "9.113.0.203." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_string_equal(a.rr[0].data, "127.0.0.4");
	struct test_reply txt = ask(snapshot, "9.113.0.203." ZONE, DNS_TYPE_TXT, NO_EDNS, &info);
	assert_int_equal(txt.rcode, DNS_RCODE_NOERROR);
	assert_negative_soa(&txt, 60);
	assert_int_equal(info.result, ZONE_RESULT_NODATA);
	zone_snapshot_free(snapshot);
}

static void
test_127_0_0_1_is_nxdomain_with_soa(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;

	(void)state;
	/* RFC 5782 5: MUST NOT list 127.0.0.1; rspamd expects NXDOMAIN, not NODATA */
	struct test_reply reply = ask(snapshot, "1.0.0.127." ZONE, DNS_TYPE_A, NO_EDNS, &info);
	assert_int_equal(reply.rcode, DNS_RCODE_NXDOMAIN);
	assert_negative_soa(&reply, 60);
	assert_string_equal(test_find_type(&reply, 1, DNS_TYPE_SOA)->data,
	    "ns1.relays.bl.test hostmaster.example.org 2026112701 3600 600 604800 60");
	assert_int_equal(info.result, ZONE_RESULT_NXDOMAIN);
	zone_snapshot_free(snapshot);
}

static void
test_v4_mapped_ipv6_test_entry_is_listed(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	/* ::FFFF:7F00:2 as 32 reversed nibbles (RFC 5782 5) */
	struct test_reply reply = ask(snapshot, "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(reply.counts[0], 1);
	assert_string_equal(reply.rr[0].data, "127.0.0.2");
	struct test_reply one = ask(snapshot, "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(one.rcode, DNS_RCODE_NXDOMAIN);
	zone_snapshot_free(snapshot);
}

static void
test_ipv6_listing_answers_by_nibbles(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	/* 2001:db8::1 */
	struct test_reply reply = ask(snapshot, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.b.d.0.1.0.0.2." ZONE, DNS_TYPE_TXT, NO_EDNS, NULL);
	assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
	assert_string_equal(reply.rr[0].data, "IPv6 relay 2001:db8::1");
	struct test_reply outside = ask(snapshot, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "9.b.d.0.1.0.0.2." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(outside.rcode, DNS_RCODE_NXDOMAIN);
	zone_snapshot_free(snapshot);
}

static void
test_range_listing_and_exclusion_hole(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply inside = ask(snapshot, "5.2.0.192." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(inside.rcode, DNS_RCODE_NOERROR);
	assert_string_equal(inside.rr[0].data, "127.0.0.2");
	struct test_reply hole = ask(snapshot, "77.2.0.192." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(hole.rcode, DNS_RCODE_NXDOMAIN);
	zone_snapshot_free(snapshot);
}

static void
test_apex_soa_and_ns(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;

	(void)state;
	struct test_reply soa = ask(snapshot, ZONE, DNS_TYPE_SOA, NO_EDNS, &info);
	assert_int_equal(soa.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(soa.counts[0], 1);
	assert_int_equal(soa.rr[0].type, DNS_TYPE_SOA);
	assert_int_equal(soa.rr[0].ttl, 3600);
	assert_int_equal(info.result, ZONE_RESULT_APEX);
	struct test_reply ns = ask(snapshot, ZONE, DNS_TYPE_NS, NO_EDNS, NULL);
	assert_int_equal(test_count_type(&ns, 0, DNS_TYPE_NS), 2);
	assert_string_equal(ns.rr[0].data, "ns1.relays.bl.test");
	assert_string_equal(ns.rr[1].data, "ns2.example.net");
	struct test_reply any = ask(snapshot, ZONE, DNS_TYPE_ANY, NO_EDNS, NULL);
	assert_int_equal(test_count_type(&any, 0, DNS_TYPE_SOA), 1);
	assert_int_equal(test_count_type(&any, 0, DNS_TYPE_NS), 2);
	zone_snapshot_free(snapshot);
}

static void
test_apex_a_query_is_nodata(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply reply = ask(snapshot, ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
	assert_negative_soa(&reply, 60);
	zone_snapshot_free(snapshot);
}

static void
test_other_types_on_listed_name_are_nodata(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	const uint16_t types[] = { DNS_TYPE_AAAA, DNS_TYPE_MX, DNS_TYPE_NS, 65, DNS_TYPE_CAA,
		250, 65535, 0 };

	(void)state;
	/* rbldnsd answers NOTIMP from type 250 up; every type must be NODATA here */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct test_reply reply = ask(snapshot, "2.0.0.127." ZONE, types[i], NO_EDNS, NULL);
		assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
		assert_negative_soa(&reply, 60);
	}
	zone_snapshot_free(snapshot);
}

static void
test_other_types_on_unlisted_name_are_nxdomain(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply caa = ask(snapshot, "1.0.0.127." ZONE, DNS_TYPE_CAA, NO_EDNS, NULL);
	assert_int_equal(caa.rcode, DNS_RCODE_NXDOMAIN);
	assert_negative_soa(&caa, 60);
	struct test_reply top = ask(snapshot, "1.0.0.127." ZONE, 65535, NO_EDNS, NULL);
	assert_int_equal(top.rcode, DNS_RCODE_NXDOMAIN);
	zone_snapshot_free(snapshot);
}

static void
test_any_on_listed_name_gives_a_and_txt(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply reply = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_ANY, NO_EDNS, NULL);
	assert_int_equal(test_count_type(&reply, 0, DNS_TYPE_A), 1);
	assert_int_equal(test_count_type(&reply, 0, DNS_TYPE_TXT), 1);
	zone_snapshot_free(snapshot);
}

static void
test_empty_non_terminals_are_nodata(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	const char *names[] = { "127." ZONE, "0.127." ZONE, "0.0.127." ZONE, "0." ZONE,
		"0.0.0.0." ZONE, "f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." ZONE,
		"8.b.d.0.1.0.0.2." ZONE };

	(void)state;
	/* RFC 8020: NXDOMAIN here would hide every listed name below from QNAME
	 * minimising resolvers (rbldnsd issue 17) */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct zone_answer_info info;
		struct test_reply reply = ask(snapshot, names[i], DNS_TYPE_A, NO_EDNS, &info);
		if (reply.rcode != DNS_RCODE_NOERROR)
			fail_msg("%s: rcode %u, want NOERROR", names[i], reply.rcode);
		assert_negative_soa(&reply, 60);
		assert_int_equal(info.result, ZONE_RESULT_NODATA);
	}
	zone_snapshot_free(snapshot);
}

static void
test_names_that_cannot_exist_are_nxdomain(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	const char *names[] = { "www." ZONE, "256.0.0.127." ZONE, "02.0.0.127." ZONE,
		"1.2.0.0.127." ZONE, "x.2.0.0.127." ZONE, "ff.0." ZONE };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct test_reply reply = ask(snapshot, names[i], DNS_TYPE_A, NO_EDNS, NULL);
		if (reply.rcode != DNS_RCODE_NXDOMAIN)
			fail_msg("%s: rcode %u, want NXDOMAIN", names[i], reply.rcode);
		assert_negative_soa(&reply, 60);
	}
	zone_snapshot_free(snapshot);
}

static void
test_names_outside_zones_are_refused(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;

	(void)state;
	struct test_reply other = ask(snapshot, "example.com", DNS_TYPE_A, NO_EDNS, &info);
	assert_int_equal(other.rcode, DNS_RCODE_REFUSED);
	assert_false(other.aa);
	assert_int_equal(other.counts[0] + other.counts[1], 0);
	assert_int_equal(info.result, ZONE_RESULT_REFUSED);
	assert_int_equal(info.zone, -1);
	/* a suffix that is not on a label boundary is not the zone */
	struct test_reply glued = ask(snapshot, "2.0.0.127.xrelays.bl.test", DNS_TYPE_A, NO_EDNS,
	    NULL);
	assert_int_equal(glued.rcode, DNS_RCODE_REFUSED);
	struct test_reply parent = ask(snapshot, "bl.test", DNS_TYPE_SOA, NO_EDNS, NULL);
	assert_int_equal(parent.rcode, DNS_RCODE_REFUSED);
	zone_snapshot_free(snapshot);
}

static void
test_names_match_case_insensitively(void **state)
{
	struct zone_snapshot *snapshot = main_zone();

	(void)state;
	struct test_reply reply = ask(snapshot, "2.0.0.127.ReLaYs.BL.Test", DNS_TYPE_A, NO_EDNS,
	    NULL);
	assert_int_equal(reply.rcode, DNS_RCODE_NOERROR);
	assert_string_equal(reply.qname, "2.0.0.127.ReLaYs.BL.Test");
	assert_string_equal(reply.rr[0].data, "127.0.0.2");
	struct test_reply nibble = ask(snapshot, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.B.D.0.1.0.0.2." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(nibble.rcode, DNS_RCODE_NOERROR);
	zone_snapshot_free(snapshot);
}

static void
test_every_reply_to_edns_query_has_opt(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct test_query_options edns = { .id = 77, .edns = true, .edns_size = 4096 };
	const char *names[] = { "2.0.0.127." ZONE, "1.0.0.127." ZONE, "127." ZONE, ZONE,
		"example.com" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct test_reply reply = ask(snapshot, names[i], DNS_TYPE_A, &edns, NULL);
		if (!reply.opt)
			fail_msg("no OPT in the reply for %s", names[i]);
		assert_int_equal(reply.opt_size, SERVER_UDP_MAX);
	}
	struct test_reply plain = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_false(plain.opt);
	zone_snapshot_free(snapshot);
}

static void
test_zone_transfer_and_chaos_are_refused(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;

	(void)state;
	struct test_reply axfr = ask(snapshot, ZONE, DNS_TYPE_AXFR, NO_EDNS, NULL);
	assert_int_equal(axfr.rcode, DNS_RCODE_REFUSED);
	size_t length = test_build_query(packet, "version.bind", DNS_TYPE_TXT, NULL);
	test_put16(packet + length - 2, DNS_CLASS_CH);
	size_t reply_length = zone_answer_packet(snapshot, packet, length, false, SERVER_UDP_MAX,
	    out, SERVER_UDP_MAX, &info);
	struct test_reply chaos;
	assert_true(test_decode_reply(out, reply_length, &chaos));
	assert_int_equal(chaos.rcode, DNS_RCODE_REFUSED);
	zone_snapshot_free(snapshot);
}

static void
test_malformed_packet_is_formerr_and_response_is_dropped(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct zone_answer_info info;
	struct test_reply reply;

	(void)state;
	size_t length = test_build_query(packet, "2.0.0.127." ZONE, DNS_TYPE_A, NULL);
	size_t reply_length = zone_answer_packet(snapshot, packet, length - 3, false,
	    SERVER_UDP_MAX, out, SERVER_UDP_MAX, &info);
	assert_true(test_decode_reply(out, reply_length, &reply));
	assert_int_equal(reply.rcode, DNS_RCODE_FORMERR);
	assert_int_equal(info.result, ZONE_RESULT_FORMERR);
	packet[2] |= 0x80;
	assert_int_equal(zone_answer_packet(snapshot, packet, length, false, SERVER_UDP_MAX, out,
	    SERVER_UDP_MAX, &info), 0);
	assert_int_equal(info.result, ZONE_RESULT_IGNORED);
	zone_snapshot_free(snapshot);
}

static void
test_edns_version_1_gets_badvers(void **state)
{
	struct zone_snapshot *snapshot = main_zone();
	struct test_query_options edns1 = { .id = 5, .edns = true, .edns_size = 1232,
		.edns_version = 1 };

	(void)state;
	struct test_reply reply = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_A, &edns1, NULL);
	assert_int_equal(reply.rcode, DNS_RCODE_BADVERS);
	assert_true(reply.opt);
	assert_int_equal(reply.counts[0], 0);
	zone_snapshot_free(snapshot);
}

/* many_ns_zone - a zone whose apex NS set is far larger than 512 octets */
static struct zone_snapshot *
many_ns_zone(void)
{
	struct zone_defaults defaults = test_defaults();
	struct zone_data *data[1] = { load(DATASET_IP4SET, "127.0.0.2\n") };

	defaults.ns_count = 20;
	for (size_t i = 0; i < defaults.ns_count; i++)
		snprintf(defaults.ns[i], sizeof(defaults.ns[i]),
		    "a-rather-long-name-server-name-%02zu.example.org", i);
	return build_one(ZONE, data, 1, &defaults);
}

static void
test_answer_too_big_for_udp_is_truncated(void **state)
{
	struct zone_snapshot *snapshot = many_ns_zone();
	struct zone_answer_info info;

	(void)state;
	struct test_reply reply = ask(snapshot, ZONE, DNS_TYPE_NS, NO_EDNS, &info);
	assert_true(reply.tc);
	assert_int_equal(reply.counts[0], 0);
	assert_true(info.truncated);
	zone_snapshot_free(snapshot);
}

static void
test_big_answer_fits_larger_edns_size_and_tcp(void **state)
{
	struct zone_snapshot *snapshot = many_ns_zone();
	struct test_query_options edns = { .edns = true, .edns_size = 4096, .id = 0x1234 };
	struct zone_answer_info info;
	struct test_reply reply;

	(void)state;
	struct test_reply big = ask(snapshot, ZONE, DNS_TYPE_NS, &edns, NULL);
	assert_false(big.tc);
	assert_int_equal(test_count_type(&big, 0, DNS_TYPE_NS), 20);
	size_t length = test_build_query(packet, ZONE, DNS_TYPE_NS, NULL);
	size_t reply_length = zone_answer_packet(snapshot, packet, length, true, SERVER_UDP_MAX,
	    out, sizeof(out), &info);
	assert_true(reply_length > 512);
	assert_true(test_decode_reply(out, reply_length, &reply));
	assert_false(reply.tc);
	assert_int_equal(test_count_type(&reply, 0, DNS_TYPE_NS), 20);
	zone_snapshot_free(snapshot);
}

static void
test_default_soa_and_ns_when_data_has_none(void **state)
{
	struct zone_defaults defaults = test_defaults();
	struct zone_data *data[1] = { load(DATASET_IP4TSET, "127.0.0.2\n") };
	struct zone_snapshot *snapshot = build_one("Other.BL.test", data, 1, &defaults);

	(void)state;
	/* expurgate issue 7: a zone without SOA/NS makes resolvers SERVFAIL */
	struct test_reply soa = ask(snapshot, "other.bl.test", DNS_TYPE_SOA, NO_EDNS, NULL);
	assert_int_equal(soa.counts[0], 1);
	assert_string_equal(soa.rr[0].data,
	    "ns.example.org hostmaster.other.bl.test 42 3600 600 604800 60");
	assert_int_equal(soa.rr[0].ttl, 2100);
	struct test_reply ns = ask(snapshot, "other.bl.test", DNS_TYPE_NS, NO_EDNS, NULL);
	assert_string_equal(ns.rr[0].data, "ns.example.org");
	struct test_reply a = ask(snapshot, "2.0.0.127.other.bl.test", DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(a.rr[0].ttl, 2100);
	assert_string_equal(zone_snapshot_zone_name(snapshot, 0), "other.bl.test");
	zone_snapshot_free(snapshot);
}

static void
test_ttl_bounds_apply_to_every_ttl(void **state)
{
	struct zone_defaults defaults = test_defaults();
	struct zone_data *data[1] = { load(DATASET_IP4SET, "$TTL 30\n127.0.0.2\n") };

	(void)state;
	defaults.ttl_min = 120;
	defaults.ttl_max = 1000;
	struct zone_snapshot *snapshot = build_one(ZONE, data, 1, &defaults);
	struct test_reply a = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(a.rr[0].ttl, 120);
	struct test_reply soa = ask(snapshot, ZONE, DNS_TYPE_SOA, NO_EDNS, NULL);
	assert_int_equal(soa.rr[0].ttl, 1000);
	struct test_reply negative = ask(snapshot, "1.0.0.127." ZONE, DNS_TYPE_A, NO_EDNS, NULL);
	assert_int_equal(test_find_type(&negative, 1, DNS_TYPE_SOA)->ttl, 120);
	zone_snapshot_free(snapshot);
}

static void
test_longest_zone_name_wins(void **state)
{
	struct zone_defaults defaults = test_defaults();
	struct zone_data *outer = load(DATASET_IP4SET, "127.0.0.2 :2:outer\n");
	struct zone_data *inner = load(DATASET_IP4SET, "127.0.0.2 :9:inner\n");
	struct zone_spec specs[2] = { { "bl.test", &outer, 1 }, { ZONE, &inner, 1 } };
	char err[ERR_SIZE];
	struct zone_snapshot *snapshot = zone_snapshot_build(specs, 2, &defaults, 1, err,
	    sizeof(err));

	(void)state;
	assert_non_null(snapshot);
	zone_data_unref(outer);
	zone_data_unref(inner);
	struct zone_answer_info info;
	struct test_reply a = ask(snapshot, "2.0.0.127." ZONE, DNS_TYPE_A, NO_EDNS, &info);
	assert_string_equal(a.rr[0].data, "127.0.0.9");
	assert_int_equal(info.zone, 1);
	struct test_reply b = ask(snapshot, "2.0.0.127.bl.test", DNS_TYPE_A, NO_EDNS, &info);
	assert_string_equal(b.rr[0].data, "127.0.0.2");
	assert_int_equal(info.zone, 0);
	zone_snapshot_free(snapshot);
}

static void
test_same_zone_twice_is_an_error(void **state)
{
	struct zone_defaults defaults = test_defaults();
	struct zone_data *data = load(DATASET_IP4SET, "127.0.0.2\n");
	struct zone_spec specs[2] = { { ZONE, &data, 1 }, { "RELAYS.bl.test.", &data, 1 } };
	char err[ERR_SIZE] = "";

	(void)state;
	assert_null(zone_snapshot_build(specs, 2, &defaults, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
	struct zone_spec bad = { "bad..name", &data, 1 };
	assert_null(zone_snapshot_build(&bad, 1, &defaults, 1, err, sizeof(err)));
	zone_data_unref(data);
}

static void
test_no_snapshot_refuses_everything(void **state)
{
	struct zone_answer_info info;

	(void)state;
	size_t length = test_build_query(packet, "2.0.0.127." ZONE, DNS_TYPE_A, NULL);
	size_t reply_length = zone_answer_packet(NULL, packet, length, false, SERVER_UDP_MAX, out,
	    SERVER_UDP_MAX, &info);
	struct test_reply reply;
	assert_true(test_decode_reply(out, reply_length, &reply));
	assert_int_equal(reply.rcode, DNS_RCODE_REFUSED);
}

/* The swap test's shared state. */
struct swap_test {
	struct zone_snapshot_slot *slot;
	struct zone_snapshot *next;
	atomic_bool swapped;
};

/* swap_thread - swap in the next snapshot (blocks while the old one is held) */
static void *
swap_thread(void *arg)
{
	struct swap_test *test = arg;

	zone_snapshot_swap(test->slot, test->next);
	atomic_store(&test->swapped, true);
	return NULL;
}

static void
test_swap_waits_for_readers_of_the_old_snapshot(void **state)
{
	struct swap_test test;
	pthread_t thread;

	(void)state;
	test.slot = zone_snapshot_slot_new();
	test.next = main_zone();
	atomic_init(&test.swapped, false);
	zone_snapshot_swap(test.slot, many_ns_zone());
	const struct zone_snapshot *held = zone_snapshot_acquire(test.slot);
	assert_non_null(held);
	assert_int_equal(pthread_create(&thread, NULL, swap_thread, &test), 0);
	/* new readers see the new snapshot at once, while the old one is still held */
	const struct zone_snapshot *fresh = NULL;
	for (int i = 0; i < 2000 && fresh != test.next; i++) {
		zone_snapshot_release(fresh);
		fresh = zone_snapshot_acquire(test.slot);
		if (fresh != test.next)
			usleep(1000);
	}
	assert_ptr_equal(fresh, test.next);
	usleep(20000);
	assert_false(atomic_load(&test.swapped));
	/* the held snapshot still answers */
	struct test_reply reply = ask(held, ZONE, DNS_TYPE_NS, NULL, NULL);
	assert_true(reply.tc);
	zone_snapshot_release(held);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_true(atomic_load(&test.swapped));
	zone_snapshot_release(fresh);
	zone_snapshot_slot_free(test.slot);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed_address_gets_a_127_0_0_2),
		cmocka_unit_test(test_listed_address_txt_names_the_address),
		cmocka_unit_test(test_entry_value_gives_its_own_code_and_text),
		cmocka_unit_test(test_txt_query_without_template_is_nodata),
		cmocka_unit_test(test_127_0_0_1_is_nxdomain_with_soa),
		cmocka_unit_test(test_v4_mapped_ipv6_test_entry_is_listed),
		cmocka_unit_test(test_ipv6_listing_answers_by_nibbles),
		cmocka_unit_test(test_range_listing_and_exclusion_hole),
		cmocka_unit_test(test_apex_soa_and_ns),
		cmocka_unit_test(test_apex_a_query_is_nodata),
		cmocka_unit_test(test_other_types_on_listed_name_are_nodata),
		cmocka_unit_test(test_other_types_on_unlisted_name_are_nxdomain),
		cmocka_unit_test(test_any_on_listed_name_gives_a_and_txt),
		cmocka_unit_test(test_empty_non_terminals_are_nodata),
		cmocka_unit_test(test_names_that_cannot_exist_are_nxdomain),
		cmocka_unit_test(test_names_outside_zones_are_refused),
		cmocka_unit_test(test_names_match_case_insensitively),
		cmocka_unit_test(test_every_reply_to_edns_query_has_opt),
		cmocka_unit_test(test_zone_transfer_and_chaos_are_refused),
		cmocka_unit_test(test_malformed_packet_is_formerr_and_response_is_dropped),
		cmocka_unit_test(test_edns_version_1_gets_badvers),
		cmocka_unit_test(test_answer_too_big_for_udp_is_truncated),
		cmocka_unit_test(test_big_answer_fits_larger_edns_size_and_tcp),
		cmocka_unit_test(test_default_soa_and_ns_when_data_has_none),
		cmocka_unit_test(test_ttl_bounds_apply_to_every_ttl),
		cmocka_unit_test(test_longest_zone_name_wins),
		cmocka_unit_test(test_same_zone_twice_is_an_error),
		cmocka_unit_test(test_no_snapshot_refuses_everything),
		cmocka_unit_test(test_swap_waits_for_readers_of_the_old_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
