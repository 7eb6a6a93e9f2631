/* test_target_source.c - the lazy target stream: arguments, files, CIDR walking, shards,
 * deduplication fingerprints and the reserved ranges (issue 3, "Target streams"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/target_source.h"

static struct target_source *
source_for(char **arguments, size_t count, char **files, size_t file_count, uint64_t max)
{
	char err[256];
	struct target_source_options options = {
		.arguments = arguments, .argument_count = count,
		.files = files, .file_count = file_count, .max_targets = max,
	};
	struct target_source *source = target_source_new(&options, err, sizeof(err));
	assert_non_null(source);
	return source;
}

static void
test_range_is_walked_one_address_at_a_time(void **state)
{
	char *arguments[] = { "192.0.2.252/30" };
	struct target_source *source = source_for(arguments, 1, NULL, 0, 1024);
	struct target_source_entry entry;
	char err[256];
	char text[64];

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(target_source_next(source, &entry, err, sizeof(err)),
		    TARGET_SOURCE_ADDRESS);
		netaddr_format(&entry.address, text, sizeof(text));
		char expected[32];
		snprintf(expected, sizeof(expected), "192.0.2.%d", 252 + i);
		assert_string_equal(text, expected);
		assert_string_equal(entry.input, "192.0.2.252/30");
	}
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)), TARGET_SOURCE_END);
	assert_int_equal(target_source_known_total(source), 4);
	target_source_free(source);
}

static void
test_ipv6_range_carries_into_higher_bytes(void **state)
{
	char *arguments[] = { "2001:db8::fe/127", "2001:db8::ff:ffff/126" };
	struct target_source *source = source_for(arguments, 2, NULL, 0, 1024);
	struct target_source_entry entry;
	char err[256], text[64];

	(void)state;
	const char *expected[] = { "2001:db8::fe", "2001:db8::ff", "2001:db8::ff:fffc",
		"2001:db8::ff:fffd", "2001:db8::ff:fffe", "2001:db8::ff:ffff" };
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(target_source_next(source, &entry, err, sizeof(err)),
		    TARGET_SOURCE_ADDRESS);
		netaddr_format(&entry.address, text, sizeof(text));
		assert_string_equal(text, expected[i]);
	}
	target_source_free(source);
}

static void
test_range_over_max_targets_is_an_error_and_the_stream_goes_on(void **state)
{
	char *arguments[] = { "2001:db8::/64", "192.0.2.1" };
	struct target_source *source = source_for(arguments, 2, NULL, 0, 65536);
	struct target_source_entry entry;
	char err[256];

	(void)state;
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)), TARGET_SOURCE_ERROR);
	assert_non_null(strstr(err, "--max-targets"));
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)),
	    TARGET_SOURCE_ADDRESS);
	assert_true(entry.named_explicitly);
	target_source_free(source);
}

static void
test_file_lines_with_comments_and_errors_name_the_line(void **state)
{
	char path[] = "/tmp/relayguard-targets-XXXXXX";
	int fd = mkstemp(path);
	const char *content = "# a comment\n\nmail.example.net  # trailing comment\n"
			      "192.0.2.7:2525\nnot a target!\n";
	char *files[] = { path };
	struct target_source_entry entry;
	char err[512];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	struct target_source *source = source_for(NULL, 0, files, 1, 1024);
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)), TARGET_SOURCE_NAME);
	assert_string_equal(entry.input, "mail.example.net");
	assert_int_equal(target_source_known_total(source), 0);  /* file not finished yet */
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)),
	    TARGET_SOURCE_ADDRESS);
	assert_int_equal(entry.port, 2525);
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)), TARGET_SOURCE_ERROR);
	assert_non_null(strstr(err, ":5:"));
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)), TARGET_SOURCE_END);
	assert_int_equal(target_source_known_total(source), 2);
	target_source_free(source);
	unlink(path);
}

static void
test_missing_file_fails_before_anything_starts(void **state)
{
	char *files[] = { "/nonexistent/relayguard-targets" };
	char err[256];
	struct target_source_options options = { .files = files, .file_count = 1,
		.max_targets = 10 };

	(void)state;
	assert_null(target_source_new(&options, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/relayguard-targets"));
}

static void
test_range_inside_a_reserved_block_counts_as_named(void **state)
{
	char *arguments[] = { "10.1.2.0/31", "0.0.0.0/31" };
	struct target_source *source = source_for(arguments, 2, NULL, 0, 1024);
	struct target_source_entry entry;
	char err[256];

	(void)state;
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)),
	    TARGET_SOURCE_ADDRESS);
	assert_true(entry.named_explicitly);
	target_source_next(source, &entry, err, sizeof(err));
	assert_int_equal(target_source_next(source, &entry, err, sizeof(err)),
	    TARGET_SOURCE_ADDRESS);
	assert_true(entry.named_explicitly);  /* 0.0.0.0/31 lies inside 0.0.0.0/8 */
	target_source_free(source);
}

static void
test_shards_split_the_space_exactly(void **state)
{
	struct netaddr address = { .family = AF_INET };
	unsigned owners[4] = { 0 };

	(void)state;
	for (unsigned i = 0; i < 4096; i++) {
		address.bytes[0] = 192;
		address.bytes[2] = (uint8_t)(i >> 8);
		address.bytes[3] = (uint8_t)i;
		unsigned owned = 0;
		for (unsigned k = 1; k <= 4; k++) {
			if (target_shard_owns(&address, k, 4)) {
				owners[k - 1]++;
				owned++;
			}
		}
		assert_int_equal(owned, 1);
	}
	for (unsigned k = 0; k < 4; k++)
		assert_true(owners[k] > 800 && owners[k] < 1250);
	assert_true(target_shard_owns(&address, 1, 1));
}

static void
test_seen_set_deduplicates_address_and_port(void **state)
{
	struct target_seen *seen = target_seen_new();
	struct netaddr address = { .family = AF_INET, .bytes = { 192, 0, 2, 1 } };

	(void)state;
	assert_true(target_seen_add(seen, &address, 25));
	assert_false(target_seen_add(seen, &address, 25));
	assert_true(target_seen_add(seen, &address, 587));
	for (unsigned i = 0; i < 100000; i++) {
		address.bytes[1] = (uint8_t)(i >> 16);
		address.bytes[2] = (uint8_t)(i >> 8);
		address.bytes[3] = (uint8_t)i;
		target_seen_add(seen, &address, 2525);
	}
	address.bytes[1] = 0;
	address.bytes[2] = 0;
	address.bytes[3] = 77;
	assert_false(target_seen_add(seen, &address, 2525));
	target_seen_free(seen);
}

static void
test_default_exclusions_cover_private_but_not_loopback(void **state)
{
	struct netprefix_set set;
	struct netaddr address;

	(void)state;
	netprefix_set_init(&set);
	target_default_exclusions(&set);
	assert_true(netaddr_parse("10.9.8.7", &address));
	assert_non_null(netprefix_set_find(&set, &address));
	assert_true(netaddr_parse("192.168.1.1", &address));
	assert_non_null(netprefix_set_find(&set, &address));
	assert_true(netaddr_parse("fd00::1", &address));
	assert_non_null(netprefix_set_find(&set, &address));
	assert_true(netaddr_parse("127.0.2.1", &address));
	assert_null(netprefix_set_find(&set, &address));
	assert_true(netaddr_parse("::1", &address));
	assert_null(netprefix_set_find(&set, &address));
	assert_true(netaddr_parse("192.0.2.1", &address));
	assert_null(netprefix_set_find(&set, &address));
	netprefix_set_free(&set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_is_walked_one_address_at_a_time),
		cmocka_unit_test(test_ipv6_range_carries_into_higher_bytes),
		cmocka_unit_test(test_range_over_max_targets_is_an_error_and_the_stream_goes_on),
		cmocka_unit_test(test_file_lines_with_comments_and_errors_name_the_line),
		cmocka_unit_test(test_missing_file_fails_before_anything_starts),
		cmocka_unit_test(test_range_inside_a_reserved_block_counts_as_named),
		cmocka_unit_test(test_shards_split_the_space_exactly),
		cmocka_unit_test(test_seen_set_deduplicates_address_and_port),
		cmocka_unit_test(test_default_exclusions_cover_private_but_not_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
