/* test_dns_packet.c - unit tests of the DNS query parser and reply writer (dnsbl/dns_packet.h).
 * Packets are built by hand here and replies read back with an independent decoder. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnsbl/dns_packet.h"
#include "dns_test_packets.h"

#define SERVER_UDP_MAX 1232
#define BUFFER_SIZE 4096

static uint8_t packet[TEST_PACKET_MAX];
static uint8_t out[TEST_PACKET_MAX];

/* parse_ok - parse a packet the test knows to be a valid query */
static struct dns_query
parse_ok(const uint8_t *data, size_t length)
{
	struct dns_query query;

	assert_int_equal(dns_query_parse(data, length, &query), DNS_PARSE_OK);
	return query;
}

/* wire - a name in wire form from text, for the writer's name arguments */
static size_t
wire(const char *text, uint8_t *buffer)
{
	size_t length;

	assert_true(dns_name_from_text(text, buffer, DNS_NAME_WIRE_MAX, &length));
	return length;
}

static void
test_query_name_is_lower_cased_with_labels(void **state)
{
	(void)state;
	size_t length = test_build_query(packet, "2.0.0.127.Relays.BL.test", DNS_TYPE_A, NULL);
	struct dns_query query = parse_ok(packet, length);

	assert_int_equal(query.qtype, DNS_TYPE_A);
	assert_int_equal(query.qclass, DNS_CLASS_IN);
	assert_int_equal(query.label_count, 7);
	assert_int_equal(query.name_length, 26);
	assert_memory_equal(query.name + query.labels[4], "\6relays\2bl\4test\0", 16);
	assert_int_equal(query.question_length, 26 + 4);
	assert_false(query.edns);
	assert_true(query.recursion_desired);
}

static void
test_packet_shorter_than_header_is_ignored(void **state)
{
	struct dns_query query;

	(void)state;
	memset(packet, 0, 11);
	assert_int_equal(dns_query_parse(packet, 11, &query), DNS_PARSE_IGNORE);
}

static void
test_response_is_never_answered(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "example.test", DNS_TYPE_A, NULL);
	packet[2] |= 0x80;
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_IGNORE);
}

static void
test_two_questions_are_formerr(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "example.test", DNS_TYPE_A, NULL);
	test_put16(packet + 4, 2);
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_FORMERR);
	assert_int_equal(query.id, 0x1234);
}

static void
test_no_question_is_formerr(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "example.test", DNS_TYPE_A, NULL);
	test_put16(packet + 4, 0);
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_FORMERR);
}

static void
test_compression_pointer_in_question_is_formerr(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "a.test", DNS_TYPE_A, NULL);
	packet[12 + 2] = 0xc0;	/* "\1a" then a pointer instead of "\4test" */
	packet[12 + 3] = 12;
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_FORMERR);
}

static void
test_name_over_255_octets_is_formerr(void **state)
{
	struct dns_query query;
	char name[400];
	size_t used = 0;

	(void)state;
	/* 64 labels of "abc" = 256 octets with the root */
	for (int i = 0; i < 64; i++)
		used += (size_t)snprintf(name + used, sizeof(name) - used, "%sabc", i ? "." : "");
	size_t length = test_build_query(packet, name, DNS_TYPE_A, NULL);
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_FORMERR);
}

static void
test_name_of_255_octets_is_accepted(void **state)
{
	char name[400];
	size_t used = 0;

	(void)state;
	/* 63 labels of "abc" (252) and one of "a" (2) plus the root = 255 */
	for (int i = 0; i < 63; i++)
		used += (size_t)snprintf(name + used, sizeof(name) - used, "abc.");
	snprintf(name + used, sizeof(name) - used, "a");
	size_t length = test_build_query(packet, name, DNS_TYPE_A, NULL);
	struct dns_query query = parse_ok(packet, length);
	assert_int_equal(query.name_length, 255);
	assert_int_equal(query.label_count, 64);
}

static void
test_question_cut_short_is_formerr(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "example.test", DNS_TYPE_A, NULL);
	assert_int_equal(dns_query_parse(packet, length - 1, &query), DNS_PARSE_FORMERR);
	assert_int_equal(dns_query_parse(packet, 14, &query), DNS_PARSE_FORMERR);
}

static void
test_opcode_notify_is_notimp(void **state)
{
	struct dns_query query;
	struct test_query_options options = { .id = 7, .opcode = 4 };

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_SOA, &options);
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_NOTIMP);
	size_t reply_length = dns_error_reply(&query, DNS_RCODE_NOTIMP, out, sizeof(out));
	struct test_reply reply;
	assert_true(test_decode_reply(out, reply_length, &reply));
	assert_int_equal(reply.id, 7);
	assert_int_equal(reply.opcode, 4);
	assert_int_equal(reply.rcode, DNS_RCODE_NOTIMP);
	assert_true(reply.qr);
}

static void
test_edns_size_and_do_bit_are_read(void **state)
{
	struct test_query_options options = { .id = 1, .edns = true, .edns_size = 4096,
		.edns_do = true };

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, &options);
	struct dns_query query = parse_ok(packet, length);
	assert_true(query.edns);
	assert_int_equal(query.edns_udp_size, 4096);
	assert_true(query.edns_dnssec_ok);
	assert_int_equal(query.edns_version, 0);
}

static void
test_two_opt_records_are_formerr(void **state)
{
	struct dns_query query;
	struct test_query_options options = { .edns = true, .edns_size = 1232 };

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, &options);
	memcpy(packet + length, packet + length - 11, 11);
	test_put16(packet + 10, 2);
	assert_int_equal(dns_query_parse(packet, length + 11, &query), DNS_PARSE_FORMERR);
	assert_false(query.edns);
}

static void
test_opt_with_an_owner_name_is_formerr(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, NULL);
	test_put16(packet + 10, 1);
	const uint8_t opt[] = { 1, 'x', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0 };
	memcpy(packet + length, opt, sizeof(opt));
	assert_int_equal(dns_query_parse(packet, length + sizeof(opt), &query),
	    DNS_PARSE_FORMERR);
}

static void
test_opt_option_running_past_rdata_is_formerr(void **state)
{
	struct dns_query query;

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, NULL);
	test_put16(packet + 10, 1);
	/* RDLENGTH 6: option 10 (cookie) claiming 8 octets but holding 2 */
	const uint8_t opt[] = { 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2 };
	memcpy(packet + length, opt, sizeof(opt));
	assert_int_equal(dns_query_parse(packet, length + sizeof(opt), &query),
	    DNS_PARSE_FORMERR);
}

static void
test_edns_version_1_is_badvers(void **state)
{
	struct dns_query query;
	struct dns_reply reply;
	struct test_reply decoded;
	struct test_query_options options = { .id = 9, .edns = true, .edns_size = 1232,
		.edns_version = 1 };

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, &options);
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_BADVERS);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE, 512, DNS_RCODE_BADVERS, false);
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_true(decoded.opt);
	assert_int_equal(decoded.rcode, DNS_RCODE_BADVERS);
	assert_int_equal(decoded.opt_version, 0);
}

static void
test_bytes_after_the_records_are_ignored(void **state)
{
	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, NULL);
	memset(packet + length, 0xff, 5);
	struct dns_query query = parse_ok(packet, length + 5);
	assert_int_equal(query.qtype, DNS_TYPE_A);
}

static void
test_record_in_answer_section_of_query_is_skipped(void **state)
{
	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, NULL);
	test_put16(packet + 6, 1);
	/* a compressed owner pointing at the question, type A, 4 octets of data */
	const uint8_t rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1 };
	memcpy(packet + length, rr, sizeof(rr));
	struct dns_query query = parse_ok(packet, length + sizeof(rr));
	assert_int_equal(query.qtype, DNS_TYPE_A);
}

static void
test_reply_echoes_question_in_original_case(void **state)
{
	struct dns_reply reply;
	struct test_reply decoded;

	(void)state;
	size_t length = test_build_query(packet, "2.0.0.127.ReLaYs.bl.TEST", DNS_TYPE_A, NULL);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE, 512, DNS_RCODE_NOERROR, true);
	assert_true(dns_reply_add_a(&reply, DNS_SECTION_ANSWER, dns_reply_owner(&query, 0), 900,
	    0x7f000002));
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_string_equal(decoded.qname, "2.0.0.127.ReLaYs.bl.TEST");
	assert_int_equal(decoded.id, 0x1234);
	assert_true(decoded.qr);
	assert_true(decoded.aa);
	assert_true(decoded.rd);
	assert_false(decoded.tc);
	assert_int_equal(decoded.rr_count, 1);
	assert_string_equal(decoded.rr[0].owner, "2.0.0.127.ReLaYs.bl.TEST");
	assert_string_equal(decoded.rr[0].data, "127.0.0.2");
	assert_int_equal(decoded.rr[0].ttl, 900);
	assert_false(decoded.opt);
}

static void
test_reply_to_edns_query_carries_opt_with_do_copied(void **state)
{
	struct dns_reply reply;
	struct test_reply decoded;
	struct test_query_options options = { .edns = true, .edns_size = 4096, .edns_do = true };

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_TXT, &options);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE,
	    dns_reply_udp_limit(&query, SERVER_UDP_MAX), DNS_RCODE_NXDOMAIN, true);
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_true(decoded.opt);
	assert_true(decoded.opt_do);
	assert_int_equal(decoded.opt_size, SERVER_UDP_MAX);
	assert_int_equal(decoded.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(decoded.counts[2], 1);
}

static void
test_udp_limit_follows_edns_size_within_bounds(void **state)
{
	struct test_query_options small = { .edns = true, .edns_size = 100 };
	struct test_query_options large = { .edns = true, .edns_size = 4096 };
	struct test_query_options medium = { .edns = true, .edns_size = 800 };

	(void)state;
	struct dns_query query = parse_ok(packet, test_build_query(packet, "a.test", 1, NULL));
	assert_int_equal(dns_reply_udp_limit(&query, SERVER_UDP_MAX), 512);
	query = parse_ok(packet, test_build_query(packet, "a.test", 1, &small));
	assert_int_equal(dns_reply_udp_limit(&query, SERVER_UDP_MAX), 512);
	query = parse_ok(packet, test_build_query(packet, "a.test", 1, &large));
	assert_int_equal(dns_reply_udp_limit(&query, SERVER_UDP_MAX), SERVER_UDP_MAX);
	query = parse_ok(packet, test_build_query(packet, "a.test", 1, &medium));
	assert_int_equal(dns_reply_udp_limit(&query, SERVER_UDP_MAX), 800);
}

static void
test_answer_that_does_not_fit_sets_tc_and_keeps_opt(void **state)
{
	struct dns_reply reply;
	struct test_reply decoded;
	struct test_query_options options = { .edns = true, .edns_size = 512 };
	char text[DNS_TXT_STRING_MAX];

	(void)state;
	memset(text, 'x', sizeof(text));
	size_t length = test_build_query(packet, "2.0.0.127.relays.bl.test", DNS_TYPE_TXT,
	    &options);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE, 512, DNS_RCODE_NOERROR, true);
	assert_true(dns_reply_add_txt(&reply, DNS_SECTION_ANSWER, 12, 60, text, sizeof(text)));
	assert_false(dns_reply_add_txt(&reply, DNS_SECTION_ANSWER, 12, 60, text, sizeof(text)));
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(reply_length <= 512);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_true(decoded.tc);
	assert_int_equal(decoded.counts[0], 0);
	assert_int_equal(decoded.qdcount, 1);
	assert_true(decoded.opt);
}

static void
test_same_answer_fits_over_tcp_size(void **state)
{
	struct dns_reply reply;
	struct test_reply decoded;
	char text[DNS_TXT_STRING_MAX];

	(void)state;
	memset(text, 'y', sizeof(text));
	size_t length = test_build_query(packet, "2.0.0.127.relays.bl.test", DNS_TYPE_TXT, NULL);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, sizeof(out), DNS_MESSAGE_MAX, DNS_RCODE_NOERROR,
	    true);
	for (int i = 0; i < 10; i++)
		assert_true(dns_reply_add_txt(&reply, DNS_SECTION_ANSWER, 12, 60, text,
		    sizeof(text)));
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(reply_length > 2560);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_false(decoded.tc);
	assert_int_equal(decoded.counts[0], 10);
}

static void
test_txt_longer_than_255_is_cut(void **state)
{
	struct dns_reply reply;
	struct test_reply decoded;
	char text[300];

	(void)state;
	memset(text, 'z', sizeof(text));
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_TXT, NULL);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE, 4096, DNS_RCODE_NOERROR, true);
	assert_true(dns_reply_add_txt(&reply, DNS_SECTION_ANSWER, 12, 60, text, sizeof(text)));
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_int_equal(strlen(decoded.rr[0].data), 255);
}

static void
test_soa_names_are_compressed_against_the_question(void **state)
{
	struct dns_reply reply;
	struct test_reply decoded;
	uint8_t mname[DNS_NAME_WIRE_MAX];
	uint8_t rname[DNS_NAME_WIRE_MAX];
	struct dns_soa soa = { .mname = mname, .rname = rname, .serial = 2026112701,
		.refresh = 3600, .retry = 600, .expire = 604800, .minimum = 60 };

	(void)state;
	soa.mname_length = wire("ns1.relays.bl.test", mname);
	soa.rname_length = wire("hostmaster.example.org", rname);
	size_t length = test_build_query(packet, "1.0.0.127.relays.bl.test", DNS_TYPE_A, NULL);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE, 512, DNS_RCODE_NXDOMAIN, true);
	assert_true(dns_reply_add_soa(&reply, DNS_SECTION_AUTHORITY, dns_reply_owner(&query, 4),
	    60, &soa));
	size_t reply_length = dns_reply_finish(&reply, SERVER_UDP_MAX);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_int_equal(decoded.rr_count, 1);
	assert_int_equal(decoded.rr[0].section, 1);
	assert_string_equal(decoded.rr[0].owner, "relays.bl.test");
	assert_string_equal(decoded.rr[0].data,
	    "ns1.relays.bl.test hostmaster.example.org 2026112701 3600 600 604800 60");
	/* header 12 + question 30 + owner 2 + fixed 10 + "\3ns1"+ptr 6 + rname 24 + 20 */
	assert_int_equal(reply_length, 12 + 30 + 2 + 10 + 6 + 24 + 20);
}

static void
test_records_in_order_of_sections(void **state)
{
	struct dns_reply reply;

	(void)state;
	size_t length = test_build_query(packet, "relays.bl.test", DNS_TYPE_A, NULL);
	struct dns_query query = parse_ok(packet, length);
	dns_reply_start(&reply, &query, out, BUFFER_SIZE, 512, DNS_RCODE_NOERROR, true);
	assert_true(dns_reply_add_a(&reply, DNS_SECTION_AUTHORITY, 12, 60, 1));
	assert_false(dns_reply_add_a(&reply, DNS_SECTION_ANSWER, 12, 60, 1));
}

static void
test_formerr_reply_is_header_only(void **state)
{
	struct dns_query query;
	struct test_reply decoded;

	(void)state;
	size_t length = test_build_query(packet, "example.test", DNS_TYPE_A, NULL);
	test_put16(packet + 4, 3);
	assert_int_equal(dns_query_parse(packet, length, &query), DNS_PARSE_FORMERR);
	size_t reply_length = dns_error_reply(&query, DNS_RCODE_FORMERR, out, sizeof(out));
	assert_int_equal(reply_length, 12);
	assert_true(test_decode_reply(out, reply_length, &decoded));
	assert_int_equal(decoded.rcode, DNS_RCODE_FORMERR);
	assert_int_equal(decoded.qdcount, 0);
	assert_int_equal(decoded.id, 0x1234);
}

static void
test_name_from_text_lower_cases_and_takes_trailing_dot(void **state)
{
	uint8_t name[DNS_NAME_WIRE_MAX];
	size_t length;

	(void)state;
	assert_true(dns_name_from_text("Relays.BL.test.", name, sizeof(name), &length));
	assert_int_equal(length, 16);
	assert_memory_equal(name, "\6relays\2bl\4test\0", 16);
	assert_true(dns_name_from_text(".", name, sizeof(name), &length));
	assert_int_equal(length, 1);
	assert_false(dns_name_from_text("a..b", name, sizeof(name), &length));
	assert_false(dns_name_from_text("a b.test", name, sizeof(name), &length));
	assert_false(dns_name_from_text(
	    "a234567890123456789012345678901234567890123456789012345678901234.test", name,
	    sizeof(name), &length));
}

static void
test_name_to_text_escapes_odd_octets(void **state)
{
	char text[DNS_NAME_TEXT_MAX];
	const uint8_t name[] = "\3a.b\4test";

	(void)state;
	assert_int_equal(dns_name_to_text(name, sizeof(name), text, sizeof(text)), 11);
	assert_string_equal(text, "a\\046b.test");
	assert_int_equal(dns_name_to_text((const uint8_t *)"", 1, text, sizeof(text)), 1);
	assert_string_equal(text, ".");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_name_is_lower_cased_with_labels),
		cmocka_unit_test(test_packet_shorter_than_header_is_ignored),
		cmocka_unit_test(test_response_is_never_answered),
		cmocka_unit_test(test_two_questions_are_formerr),
		cmocka_unit_test(test_no_question_is_formerr),
		cmocka_unit_test(test_compression_pointer_in_question_is_formerr),
		cmocka_unit_test(test_name_over_255_octets_is_formerr),
		cmocka_unit_test(test_name_of_255_octets_is_accepted),
		cmocka_unit_test(test_question_cut_short_is_formerr),
		cmocka_unit_test(test_opcode_notify_is_notimp),
		cmocka_unit_test(test_edns_size_and_do_bit_are_read),
		cmocka_unit_test(test_two_opt_records_are_formerr),
		cmocka_unit_test(test_opt_with_an_owner_name_is_formerr),
		cmocka_unit_test(test_opt_option_running_past_rdata_is_formerr),
		cmocka_unit_test(test_edns_version_1_is_badvers),
		cmocka_unit_test(test_bytes_after_the_records_are_ignored),
		cmocka_unit_test(test_record_in_answer_section_of_query_is_skipped),
		cmocka_unit_test(test_reply_echoes_question_in_original_case),
		cmocka_unit_test(test_reply_to_edns_query_carries_opt_with_do_copied),
		cmocka_unit_test(test_udp_limit_follows_edns_size_within_bounds),
		cmocka_unit_test(test_answer_that_does_not_fit_sets_tc_and_keeps_opt),
		cmocka_unit_test(test_same_answer_fits_over_tcp_size),
		cmocka_unit_test(test_txt_longer_than_255_is_cut),
		cmocka_unit_test(test_soa_names_are_compressed_against_the_question),
		cmocka_unit_test(test_records_in_order_of_sections),
		cmocka_unit_test(test_formerr_reply_is_header_only),
		cmocka_unit_test(test_name_from_text_lower_cases_and_takes_trailing_dot),
		cmocka_unit_test(test_name_to_text_escapes_odd_octets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
