/* test_netaddr.c - unit tests of addresses, prefixes and prefix sets (core/netaddr.h).
 * Only documentation and loopback addresses; prefix files are written to a temp dir. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/netaddr.h"

#define ERR_SIZE 256
#define PATH_SIZE 64

/* parse_or_fail - parse text that the test knows to be a valid address. */
static struct netaddr
parse_or_fail(const char *text)
{
	struct netaddr address;

	assert_true(netaddr_parse(text, &address));
	return address;
}

/* prefix_or_fail - parse text that the test knows to be a valid prefix. */
static struct netprefix
prefix_or_fail(const char *text)
{
	struct netprefix prefix;

	assert_true(netprefix_parse(text, &prefix));
	return prefix;
}

/* contains - does the prefix text contain the address text? */
static bool
contains(const char *prefix_text, const char *address_text)
{
	struct netprefix prefix = prefix_or_fail(prefix_text);
	struct netaddr address = parse_or_fail(address_text);

	return netprefix_contains(&prefix, &address);
}

/* write_temp_file - write content to a new temp file; its name goes into path. */
static void
write_temp_file(char path[PATH_SIZE], const char *content)
{
	int fd;
	size_t length = strlen(content);

	snprintf(path, PATH_SIZE, "/tmp/relayguard-netaddr-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, length), (ssize_t)length);
	assert_int_equal(close(fd), 0);
}

static void
test_ipv4_dotted_quad_is_parsed(void **state)
{
	struct netaddr address = parse_or_fail("192.0.2.1");

	(void)state;
	assert_int_equal(address.family, AF_INET);
	assert_int_equal(address.bytes[0], 192);
	assert_int_equal(address.bytes[1], 0);
	assert_int_equal(address.bytes[2], 2);
	assert_int_equal(address.bytes[3], 1);
	for (size_t i = 4; i < sizeof(address.bytes); i++)
		assert_int_equal(address.bytes[i], 0);
}

static void
test_ipv6_text_is_parsed(void **state)
{
	struct netaddr address = parse_or_fail("2001:db8::1");

	(void)state;
	assert_int_equal(address.family, AF_INET6);
	assert_int_equal(address.bytes[0], 0x20);
	assert_int_equal(address.bytes[1], 0x01);
	assert_int_equal(address.bytes[2], 0x0d);
	assert_int_equal(address.bytes[3], 0xb8);
	assert_int_equal(address.bytes[15], 1);
}

static void
test_malformed_addresses_are_refused(void **state)
{
	const char *const bad[] = {
		"", "192.0.2", "192.0.2.1.5", "256.0.2.1", "192.0.2.01", " 192.0.2.1",
		"192.0.2.1 ", "[::1]", "::1%lo", "192.0.2.1:25", "2001:db8::g", "1::2::3",
		"example.com", "0x7f.0.0.1",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netaddr address;
		assert_false(netaddr_parse(bad[i], &address));
	}
}

static void
test_parse_n_uses_only_the_given_length(void **state)
{
	struct netaddr address;

	(void)state;
	assert_true(netaddr_parse_n("192.0.2.1/24", 9, &address));
	assert_int_equal(address.bytes[3], 1);
	assert_false(netaddr_parse_n("192.0.2.1", 8, &address));
	assert_false(netaddr_parse_n("192.0.2.1\0junk", 14, &address));
	assert_false(netaddr_parse_n("192.0.2.1", 0, &address));
}

static void
test_format_writes_canonical_text(void **state)
{
	struct netaddr v4 = parse_or_fail("192.0.2.1");
	struct netaddr v6 = parse_or_fail("2001:0db8:0000:0000:0000:0000:0000:0001");
	char out[NETADDR_TEXT_MAX];

	(void)state;
	assert_int_equal(netaddr_format(&v4, out, sizeof(out)), 9);
	assert_string_equal(out, "192.0.2.1");
	assert_int_equal(netaddr_format(&v6, out, sizeof(out)), 11);
	assert_string_equal(out, "2001:db8::1");
}

static void
test_format_into_small_buffer_fails_cleanly(void **state)
{
	struct netaddr v4 = parse_or_fail("192.0.2.1");
	char out[9];

	(void)state;
	memset(out, 'z', sizeof(out));
	assert_int_equal(netaddr_format(&v4, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(netaddr_format(&v4, out, 0), -1);
}

static void
test_format_refuses_unknown_family(void **state)
{
	struct netaddr address;
	char out[NETADDR_TEXT_MAX];

	(void)state;
	memset(&address, 0, sizeof(address));
	address.family = AF_UNIX;
	assert_int_equal(netaddr_format(&address, out, sizeof(out)), -1);
}

static void
test_equal_compares_family_and_bytes(void **state)
{
	struct netaddr a = parse_or_fail("192.0.2.1");
	struct netaddr b = parse_or_fail("192.0.2.1");
	struct netaddr c = parse_or_fail("192.0.2.2");
	struct netaddr mapped = parse_or_fail("::ffff:192.0.2.1");

	(void)state;
	assert_true(netaddr_equal(&a, &b));
	assert_false(netaddr_equal(&a, &c));
	assert_false(netaddr_equal(&a, &mapped));
	assert_true(netaddr_equal(&mapped, &mapped));
}

static void
test_unmap_turns_mapped_address_into_ipv4(void **state)
{
	struct netaddr mapped = parse_or_fail("::ffff:192.0.2.1");
	struct netaddr v4 = parse_or_fail("192.0.2.1");

	(void)state;
	assert_true(netaddr_is_v4_mapped(&mapped));
	netaddr_unmap(&mapped);
	assert_int_equal(mapped.family, AF_INET);
	assert_true(netaddr_equal(&mapped, &v4));
	assert_int_equal(mapped.bytes[12], 0);
}

static void
test_unmap_leaves_other_addresses_alone(void **state)
{
	const char *const texts[] = { "2001:db8::1", "::1", "::192.0.2.1", "192.0.2.1" };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct netaddr address = parse_or_fail(texts[i]);
		struct netaddr copy = address;
		netaddr_unmap(&address);
		assert_true(netaddr_equal(&address, &copy));
	}
}

static void
test_sockaddr_round_trip_keeps_address_and_port(void **state)
{
	const char *const texts[] = { "127.0.0.1", "::1" };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct netaddr address = parse_or_fail(texts[i]);
		struct netaddr back;
		struct sockaddr_storage storage;
		uint16_t port = 0;
		socklen_t length = netaddr_to_sockaddr(&address, 2525, &storage);

		assert_int_equal(length, address.family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		assert_int_equal(storage.ss_family, address.family);
		assert_true(netaddr_from_sockaddr((struct sockaddr *)&storage, &back, &port));
		assert_true(netaddr_equal(&address, &back));
		assert_int_equal(port, 2525);
		assert_true(netaddr_from_sockaddr((struct sockaddr *)&storage, &back, NULL));
	}
}

static void
test_sockaddr_port_is_in_network_order(void **state)
{
	struct netaddr address = parse_or_fail("127.0.0.1");
	struct sockaddr_storage storage;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&storage;

	(void)state;
	netaddr_to_sockaddr(&address, 25, &storage);
	assert_int_equal(ntohs(sin->sin_port), 25);
}

static void
test_sockaddr_of_other_family_is_refused(void **state)
{
	struct sockaddr_storage storage;
	struct netaddr address;

	(void)state;
	memset(&storage, 0, sizeof(storage));
	storage.ss_family = AF_UNIX;
	assert_false(netaddr_from_sockaddr((struct sockaddr *)&storage, &address, NULL));
	memset(&address, 0, sizeof(address));
	address.family = AF_UNIX;
	assert_int_equal(netaddr_to_sockaddr(&address, 25, &storage), 0);
}

static void
test_loopback_addresses_are_recognised(void **state)
{
	const char *const loopback[] = { "127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1" };
	const char *const other[] = { "128.0.0.1", "126.255.255.255", "::2", "::", "192.0.2.1",
		"2001:db8::1", "::ffff:192.0.2.1" };

	(void)state;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		struct netaddr address = parse_or_fail(loopback[i]);
		assert_true(netaddr_is_loopback(&address));
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		struct netaddr address = parse_or_fail(other[i]);
		assert_false(netaddr_is_loopback(&address));
	}
}

static void
test_prefix_is_parsed_with_its_length(void **state)
{
	struct netprefix v4 = prefix_or_fail("192.0.2.0/24");
	struct netprefix v6 = prefix_or_fail("2001:db8::/32");

	(void)state;
	assert_int_equal(v4.address.family, AF_INET);
	assert_int_equal(v4.length, 24);
	assert_int_equal(v6.address.family, AF_INET6);
	assert_int_equal(v6.length, 32);
}

static void
test_bare_address_is_a_host_prefix(void **state)
{
	struct netprefix v4 = prefix_or_fail("192.0.2.7");
	struct netprefix v6 = prefix_or_fail("2001:db8::7");

	(void)state;
	assert_int_equal(v4.length, 32);
	assert_int_equal(v4.address.bytes[3], 7);
	assert_int_equal(v6.length, 128);
	assert_int_equal(v6.address.bytes[15], 7);
}

static void
test_prefix_host_bits_are_masked_off(void **state)
{
	struct netprefix v4 = prefix_or_fail("192.0.2.77/26");
	struct netprefix v6 = prefix_or_fail("2001:db8:ffff::1/33");
	struct netaddr expected_v4 = parse_or_fail("192.0.2.64");
	struct netaddr expected_v6 = parse_or_fail("2001:db8:8000::");

	(void)state;
	assert_true(netaddr_equal(&v4.address, &expected_v4));
	assert_true(netaddr_equal(&v6.address, &expected_v6));
}

static void
test_malformed_prefixes_are_refused(void **state)
{
	const char *const bad[] = {
		"192.0.2.0/33", "192.0.2.0/-1", "192.0.2.0/", "/24", "192.0.2.0/+8",
		"192.0.2.0/0024", "192.0.2.0/24/8", "192.0.2.0/2x", "2001:db8::/129",
		"192.0.2.0 /24", "192.0.2.0/ 24", "", "/",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netprefix prefix;
		assert_false(netprefix_parse(bad[i], &prefix));
	}
}

static void
test_prefix_contains_addresses_inside_only(void **state)
{
	(void)state;
	assert_true(contains("192.0.2.0/24", "192.0.2.0"));
	assert_true(contains("192.0.2.0/24", "192.0.2.255"));
	assert_false(contains("192.0.2.0/24", "192.0.3.0"));
	assert_false(contains("192.0.2.0/24", "192.0.1.255"));
	assert_true(contains("198.51.100.32/27", "198.51.100.63"));
	assert_false(contains("198.51.100.32/27", "198.51.100.64"));
	assert_false(contains("198.51.100.32/27", "198.51.100.31"));
	assert_true(contains("203.0.113.9", "203.0.113.9"));
	assert_false(contains("203.0.113.9", "203.0.113.8"));
	assert_true(contains("0.0.0.0/0", "203.0.113.8"));
	assert_true(contains("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(contains("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(contains("::/0", "2001:db8::1"));
}

static void
test_families_do_not_mix_except_through_mapping(void **state)
{
	(void)state;
	assert_false(contains("192.0.2.0/24", "2001:db8::1"));
	assert_false(contains("2001:db8::/32", "192.0.2.1"));
	/* ::/0 is "all IPv6": it must not quietly take in IPv4 (fail closed). */
	assert_false(contains("::/0", "192.0.2.1"));
	assert_false(contains("::/0", "::ffff:192.0.2.1"));
}

static void
test_ipv4_address_matches_mapped_ipv6_prefix(void **state)
{
	(void)state;
	assert_true(contains("::ffff:192.0.2.0/120", "192.0.2.99"));
	assert_false(contains("::ffff:192.0.2.0/120", "192.0.3.99"));
	assert_true(contains("::ffff:0:0/96", "203.0.113.1"));
	assert_true(contains("::ffff:192.0.2.1", "192.0.2.1"));
}

static void
test_mapped_address_matches_ipv4_prefix(void **state)
{
	(void)state;
	assert_true(contains("192.0.2.0/24", "::ffff:192.0.2.99"));
	assert_false(contains("192.0.2.0/24", "::ffff:192.0.3.99"));
	assert_true(contains("::ffff:192.0.2.0/120", "::ffff:192.0.2.1"));
}

static void
test_prefix_format_always_shows_the_length(void **state)
{
	struct netprefix v4 = prefix_or_fail("192.0.2.77/24");
	struct netprefix host = prefix_or_fail("2001:db8::1");
	char out[NETPREFIX_TEXT_MAX];

	(void)state;
	assert_int_equal(netprefix_format(&v4, out, sizeof(out)), 12);
	assert_string_equal(out, "192.0.2.0/24");
	assert_int_equal(netprefix_format(&host, out, sizeof(out)), 15);
	assert_string_equal(out, "2001:db8::1/128");
}

static void
test_prefix_format_into_small_buffer_fails_cleanly(void **state)
{
	struct netprefix v4 = prefix_or_fail("192.0.2.0/24");
	char out[13];

	(void)state;
	/* The address fits, "/24" does not. */
	assert_int_equal(netprefix_format(&v4, out, 12), -1);
	assert_string_equal(out, "");
	assert_int_equal(netprefix_format(&v4, out, 13), 12);
	assert_string_equal(out, "192.0.2.0/24");
}

static void
test_set_find_returns_first_containing_prefix(void **state)
{
	struct netprefix_set set;
	struct netprefix wide = prefix_or_fail("192.0.2.0/24");
	struct netprefix narrow = prefix_or_fail("192.0.2.128/25");
	struct netprefix v6 = prefix_or_fail("2001:db8::/32");
	struct netaddr inside = parse_or_fail("192.0.2.200");
	struct netaddr v6_inside = parse_or_fail("2001:db8::5");
	struct netaddr outside = parse_or_fail("198.51.100.1");
	const struct netprefix *found;

	(void)state;
	netprefix_set_init(&set);
	assert_null(netprefix_set_find(&set, &inside));
	netprefix_set_add(&set, &narrow);
	netprefix_set_add(&set, &wide);
	netprefix_set_add(&set, &v6);
	assert_int_equal(set.count, 3);
	found = netprefix_set_find(&set, &inside);
	assert_non_null(found);
	assert_int_equal(found->length, 25);
	found = netprefix_set_find(&set, &v6_inside);
	assert_non_null(found);
	assert_int_equal(found->length, 32);
	assert_null(netprefix_set_find(&set, &outside));
	netprefix_set_free(&set);
	assert_int_equal(set.count, 0);
	assert_null(set.items);
}

static void
test_set_grows_past_its_first_allocation(void **state)
{
	struct netprefix_set set;
	struct netaddr last;
	char text[NETPREFIX_TEXT_MAX];

	(void)state;
	netprefix_set_init(&set);
	for (unsigned i = 0; i < 300; i++) {
		struct netprefix prefix;
		snprintf(text, sizeof(text), "10.%u.%u.0/24", i / 256, i % 256);
		prefix = prefix_or_fail(text);
		netprefix_set_add(&set, &prefix);
	}
	assert_int_equal(set.count, 300);
	last = parse_or_fail("10.1.43.9");
	assert_non_null(netprefix_set_find(&set, &last));
	netprefix_set_free(&set);
}

static void
test_load_file_skips_comments_blanks_and_whitespace(void **state)
{
	char path[PATH_SIZE];
	char err[ERR_SIZE];
	struct netprefix_set set;
	struct netaddr address;

	(void)state;
	write_temp_file(path, "# exclude list\n"
	    "\n"
	    "   192.0.2.0/24   \n"
	    "\t2001:db8::/32 # documentation\r\n"
	    "203.0.113.7\n"
	    "   # indented comment\n"
	    "198.51.100.0/25");
	netprefix_set_init(&set);
	assert_int_equal(netprefix_set_load_file(&set, path, err, sizeof(err)), 4);
	assert_int_equal(set.count, 4);
	address = parse_or_fail("198.51.100.127");
	assert_non_null(netprefix_set_find(&set, &address));
	address = parse_or_fail("203.0.113.7");
	assert_non_null(netprefix_set_find(&set, &address));
	address = parse_or_fail("203.0.113.8");
	assert_null(netprefix_set_find(&set, &address));
	netprefix_set_free(&set);
	unlink(path);
}

static void
test_load_file_reports_bad_line_and_changes_nothing(void **state)
{
	char path[PATH_SIZE];
	char err[ERR_SIZE];
	char expected[ERR_SIZE];
	struct netprefix_set set;
	struct netprefix kept = prefix_or_fail("127.0.0.0/8");

	(void)state;
	write_temp_file(path, "192.0.2.0/24\n# comment\n  not-an-address  \n198.51.100.0/24\n");
	netprefix_set_init(&set);
	netprefix_set_add(&set, &kept);
	assert_int_equal(netprefix_set_load_file(&set, path, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "%s:3: bad address or prefix 'not-an-address'", path);
	assert_string_equal(err, expected);
	assert_int_equal(set.count, 1);
	assert_int_equal(set.items[0].length, 8);
	netprefix_set_free(&set);
	unlink(path);
}

static void
test_load_file_quotes_bad_bytes_safely(void **state)
{
	char path[PATH_SIZE];
	char err[ERR_SIZE];
	char expected[ERR_SIZE];
	struct netprefix_set set;

	(void)state;
	write_temp_file(path, "192.0.2.1/24'\x1b[31m\n");
	netprefix_set_init(&set);
	assert_int_equal(netprefix_set_load_file(&set, path, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "%s:1: bad address or prefix '192.0.2.1/24??[31m'",
	    path);
	assert_string_equal(err, expected);
	netprefix_set_free(&set);
	unlink(path);
}

static void
test_load_file_refuses_overlong_line(void **state)
{
	char path[PATH_SIZE];
	char err[ERR_SIZE];
	char content[2000];
	struct netprefix_set set;

	(void)state;
	/* A valid address followed by 1000 spaces would be fine if it were cut; it must not be. */
	memset(content, ' ', sizeof(content));
	memcpy(content, "192.0.2.1", 9);
	memcpy(content + 1500, "x\n", 3);
	write_temp_file(path, content);
	netprefix_set_init(&set);
	assert_int_equal(netprefix_set_load_file(&set, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: bad address or prefix '192.0.2.1"));
	assert_int_equal(set.count, 0);
	netprefix_set_free(&set);
	unlink(path);
}

static void
test_load_missing_file_fails_with_its_name(void **state)
{
	char err[ERR_SIZE];
	struct netprefix_set set;

	(void)state;
	netprefix_set_init(&set);
	assert_int_equal(netprefix_set_load_file(&set, "/nonexistent/relayguard-exclude", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/relayguard-exclude: "));
	assert_int_equal(set.count, 0);
}

static void
test_load_error_message_is_truncated_to_err_size(void **state)
{
	char path[PATH_SIZE];
	char err[16];
	struct netprefix_set set;

	(void)state;
	write_temp_file(path, "bogus\n");
	netprefix_set_init(&set);
	memset(err, 'z', sizeof(err));
	assert_int_equal(netprefix_set_load_file(&set, path, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, path, sizeof(err) - 1);
	unlink(path);
}

static void
test_load_empty_file_adds_nothing(void **state)
{
	char path[PATH_SIZE];
	char err[ERR_SIZE];
	struct netprefix_set set;

	(void)state;
	write_temp_file(path, "# nothing here\n\n");
	netprefix_set_init(&set);
	assert_int_equal(netprefix_set_load_file(&set, path, err, sizeof(err)), 0);
	assert_int_equal(set.count, 0);
	netprefix_set_free(&set);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_dotted_quad_is_parsed),
		cmocka_unit_test(test_ipv6_text_is_parsed),
		cmocka_unit_test(test_malformed_addresses_are_refused),
		cmocka_unit_test(test_parse_n_uses_only_the_given_length),
		cmocka_unit_test(test_format_writes_canonical_text),
		cmocka_unit_test(test_format_into_small_buffer_fails_cleanly),
		cmocka_unit_test(test_format_refuses_unknown_family),
		cmocka_unit_test(test_equal_compares_family_and_bytes),
		cmocka_unit_test(test_unmap_turns_mapped_address_into_ipv4),
		cmocka_unit_test(test_unmap_leaves_other_addresses_alone),
		cmocka_unit_test(test_sockaddr_round_trip_keeps_address_and_port),
		cmocka_unit_test(test_sockaddr_port_is_in_network_order),
		cmocka_unit_test(test_sockaddr_of_other_family_is_refused),
		cmocka_unit_test(test_loopback_addresses_are_recognised),
		cmocka_unit_test(test_prefix_is_parsed_with_its_length),
		cmocka_unit_test(test_bare_address_is_a_host_prefix),
		cmocka_unit_test(test_prefix_host_bits_are_masked_off),
		cmocka_unit_test(test_malformed_prefixes_are_refused),
		cmocka_unit_test(test_prefix_contains_addresses_inside_only),
		cmocka_unit_test(test_families_do_not_mix_except_through_mapping),
		cmocka_unit_test(test_ipv4_address_matches_mapped_ipv6_prefix),
		cmocka_unit_test(test_mapped_address_matches_ipv4_prefix),
		cmocka_unit_test(test_prefix_format_always_shows_the_length),
		cmocka_unit_test(test_prefix_format_into_small_buffer_fails_cleanly),
		cmocka_unit_test(test_set_find_returns_first_containing_prefix),
		cmocka_unit_test(test_set_grows_past_its_first_allocation),
		cmocka_unit_test(test_load_file_skips_comments_blanks_and_whitespace),
		cmocka_unit_test(test_load_file_reports_bad_line_and_changes_nothing),
		cmocka_unit_test(test_load_file_quotes_bad_bytes_safely),
		cmocka_unit_test(test_load_file_refuses_overlong_line),
		cmocka_unit_test(test_load_missing_file_fails_with_its_name),
		cmocka_unit_test(test_load_error_message_is_truncated_to_err_size),
		cmocka_unit_test(test_load_empty_file_adds_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
