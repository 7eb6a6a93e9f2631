/* test_list_import.c - the rbldnsd data-line parser of `relayguard list import`, and the
 * durations of `relayguard list` options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "list/list_import.h"
#include "list/list_main.h"

/* parse - list_import_parse of a NUL-terminated line */
static void
parse(const char *line, struct list_import_line *out)
{
	list_import_parse(line, strlen(line), out);
}

/* assert_prefix - prefix number i of a parsed line is this text */
static void
assert_prefix(const struct list_import_line *line, size_t i, const char *expected)
{
	char text[NETPREFIX_TEXT_MAX];

	assert_true(i < line->prefix_count);
	assert_true(netprefix_format(&line->prefixes[i], text, sizeof(text)) > 0);
	assert_string_equal(text, expected);
}

static void
test_an_address_is_a_host_prefix_without_a_value(void **state)
{
	struct list_import_line line;

	(void)state;
	parse("192.0.2.1", &line);
	assert_int_equal(line.kind, LIST_IMPORT_ENTRY);
	assert_int_equal(line.prefix_count, 1);
	assert_prefix(&line, 0, "192.0.2.1/32");
	assert_int_equal(line.code, 0);
	assert_string_equal(line.txt, "");
}

static void
test_partial_addresses_and_cidrs_are_whole_octet_prefixes(void **state)
{
	struct list_import_line line;

	(void)state;
	parse("192.0.2", &line);
	assert_prefix(&line, 0, "192.0.2.0/24");
	parse("198.51", &line);
	assert_prefix(&line, 0, "198.51.0.0/16");
	parse("  10/8  ", &line);
	assert_prefix(&line, 0, "10.0.0.0/8");
	parse("192.0.2.77/25", &line);
	assert_prefix(&line, 0, "192.0.2.0/25");
}

static void
test_ranges_split_into_cidrs(void **state)
{
	struct list_import_line line;

	(void)state;
	parse("203.0.113.0-203.0.113.5", &line);
	assert_int_equal(line.kind, LIST_IMPORT_ENTRY);
	assert_int_equal(line.prefix_count, 2);
	assert_prefix(&line, 0, "203.0.113.0/30");
	assert_prefix(&line, 1, "203.0.113.4/31");
	parse("192.0.2.0-127", &line);
	assert_int_equal(line.prefix_count, 1);
	assert_prefix(&line, 0, "192.0.2.0/25");
	parse("10.16-31", &line);
	assert_int_equal(line.prefix_count, 1);
	assert_prefix(&line, 0, "10.16.0.0/12");
	parse("192.0.2.9-192.0.2.3", &line);
	assert_int_equal(line.kind, LIST_IMPORT_ERROR);
}

static void
test_range_split_covers_exactly_the_range(void **state)
{
	struct netprefix prefixes[LIST_IMPORT_PREFIXES_MAX];

	(void)state;
	/* 0.0.0.1 - 255.255.255.254: the worst case, 62 prefixes */
	assert_int_equal(list_import_range(1, 0xfffffffeu, prefixes, LIST_IMPORT_PREFIXES_MAX),
	    62);
	assert_int_equal(prefixes[0].length, 32);
	assert_int_equal(prefixes[30].length, 2);
	assert_int_equal(prefixes[31].length, 2);
	assert_int_equal(prefixes[61].length, 32);
	assert_int_equal(list_import_range(0, 0xffffffffu, prefixes, LIST_IMPORT_PREFIXES_MAX), 1);
	assert_int_equal(prefixes[0].length, 0);
	assert_int_equal(list_import_range(5, 4, prefixes, LIST_IMPORT_PREFIXES_MAX), 0);
}

static void
test_values_give_a_code_and_a_txt(void **state)
{
	struct list_import_line line;

	(void)state;
	parse("198.51.100.7 :3:Confirmed open relay $", &line);
	assert_int_equal(line.kind, LIST_IMPORT_ENTRY);
	assert_int_equal(line.code, 3);
	assert_string_equal(line.txt, "Confirmed open relay $");
	parse("198.51.100.8:127.0.0.4:joined", &line);
	assert_prefix(&line, 0, "198.51.100.8/32");
	assert_int_equal(line.code, 4);
	assert_string_equal(line.txt, "joined");
	parse("198.51.100.9\tjust a text ", &line);
	assert_int_equal(line.code, 0);
	assert_string_equal(line.txt, "just a text");
	parse("198.51.100.10 :x:bad", &line);
	assert_int_equal(line.kind, LIST_IMPORT_ERROR);
}

static void
test_ipv6_prefixes_and_ip6tset_groups(void **state)
{
	struct list_import_line line;

	(void)state;
	parse("2001:db8::/32 :5:v6", &line);
	assert_int_equal(line.kind, LIST_IMPORT_ENTRY);
	assert_prefix(&line, 0, "2001:db8::/32");
	assert_int_equal(line.code, 5);
	parse("2001:db8::1", &line);
	assert_prefix(&line, 0, "2001:db8::1/128");
	parse("2001:db8:1:2", &line);
	assert_prefix(&line, 0, "2001:db8:1:2::/64");
}

static void
test_comments_specials_defaults_and_exclusions_list_nothing(void **state)
{
	static const char *const nothing[] = { "", "   ", "# comment", "; comment",
		"$SOA 0 ns hm 0 1 1 1 1", "$TTL 900", ":127.0.0.2:default text" };
	struct list_import_line line;

	(void)state;
	for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
		parse(nothing[i], &line);
		assert_int_equal(line.kind, LIST_IMPORT_NOTHING);
		assert_int_equal(line.prefix_count, 0);
	}
	parse("!192.0.2.77", &line);
	assert_int_equal(line.kind, LIST_IMPORT_EXCLUSION);
	assert_int_equal(line.prefix_count, 0);
}

static void
test_garbage_is_an_error_never_a_guess(void **state)
{
	static const char *const bad[] = { "not-an-address", "192.0.2.256", "1.2.3.4.5",
		"192.0.2.1/33", "192..2", "2001:db8::/129", "192.0.2.1/24-5" };
	struct list_import_line line;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(bad[i], &line);
		assert_int_equal(line.kind, LIST_IMPORT_ERROR);
		assert_non_null(line.error);
		assert_int_equal(line.prefix_count, 0);
	}
}

static void
test_durations_take_units_and_never(void **state)
{
	int64_t seconds = -1;

	(void)state;
	assert_true(list_duration_parse("90", false, &seconds));
	assert_int_equal(seconds, 90);
	assert_true(list_duration_parse("45s", false, &seconds));
	assert_int_equal(seconds, 45);
	assert_true(list_duration_parse("30m", false, &seconds));
	assert_int_equal(seconds, 1800);
	assert_true(list_duration_parse("12h", false, &seconds));
	assert_int_equal(seconds, 43200);
	assert_true(list_duration_parse("7d", false, &seconds));
	assert_int_equal(seconds, 604800);
	assert_true(list_duration_parse("2w", false, &seconds));
	assert_int_equal(seconds, 1209600);
	assert_true(list_duration_parse("never", true, &seconds));
	assert_int_equal(seconds, 0);
	assert_false(list_duration_parse("never", false, &seconds));
	assert_false(list_duration_parse("-5", false, &seconds));
	assert_false(list_duration_parse("5y", false, &seconds));
	assert_false(list_duration_parse("", false, &seconds));
	assert_false(list_duration_parse("99999999999999999999w", false, &seconds));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_address_is_a_host_prefix_without_a_value),
		cmocka_unit_test(test_partial_addresses_and_cidrs_are_whole_octet_prefixes),
		cmocka_unit_test(test_ranges_split_into_cidrs),
		cmocka_unit_test(test_range_split_covers_exactly_the_range),
		cmocka_unit_test(test_values_give_a_code_and_a_txt),
		cmocka_unit_test(test_ipv6_prefixes_and_ip6tset_groups),
		cmocka_unit_test(test_comments_specials_defaults_and_exclusions_list_nothing),
		cmocka_unit_test(test_garbage_is_an_error_never_a_guess),
		cmocka_unit_test(test_durations_take_units_and_never),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
