/* test_store_feed.c - the datasets a store-fed DNSBL zone is built from (store_feed_build):
 * answers per reason, the RFC 5782 test point, expiry, IPv6. No store, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/netaddr.h"
#include "core/store.h"
#include "dnsbl/dataset.h"
#include "dnsbl/store_feed.h"

#define ERR_SIZE 256
#define VALUES_MAX 4
/* 2023-11-14T22:13:20Z */
#define T0 ((int64_t)1700000000)
#define NOW (T0 + 1000)

/* lookup - the values of address in the dataset of its family */
static size_t
lookup(const struct store_feed_data *data, const char *text, struct dataset_value *values)
{
	struct netaddr address;

	assert_true(netaddr_parse(text, &address));
	return dataset_lookup(address.family == AF_INET6 ? data->ipv6 : data->ipv4, &address,
	    values, VALUES_MAX);
}

/* build - store_feed_build that fails the test on error */
static void
build(const struct store_listing *listings, size_t count, const char *template,
    int64_t changed_at, struct store_feed_data *out)
{
	char err[ERR_SIZE] = "";

	if (!store_feed_build(listings, count, template, NOW, changed_at, out, err, sizeof(err)))
		fail_msg("store_feed_build: %s", err);
	assert_non_null(out->ipv4);
	assert_non_null(out->ipv6);
}

/* release - free both datasets */
static void
release(struct store_feed_data *data)
{
	dataset_free(data->ipv4);
	dataset_free(data->ipv6);
}

static void
test_a_listing_answers_its_reason_code_and_evidence_txt(void **state)
{
	struct store_listing listings[] = {
		{ .id = 7, .prefix = "192.0.2.1/32", .reason = "delivered", .result_id = 3,
		    .listed_at = T0, .confirmed_at = T0 },
		{ .id = 8, .prefix = "192.0.2.2/32", .reason = "data", .listed_at = T0,
		    .confirmed_at = T0 },
	};
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];
	char txt[DATASET_TXT_MAX + 1];
	struct netaddr queried;

	(void)state;
	build(listings, 2, NULL, T0, &data);
	assert_int_equal(lookup(&data, "192.0.2.1", values), 1);
	assert_int_equal(values[0].a, 0x7f000002u);
	assert_true(netaddr_parse("192.0.2.1", &queried));
	dataset_txt_render(values[0].txt, &queried, txt, sizeof(txt));
	assert_string_equal(txt, "Open relay confirmed by relayguard on 2023-11-14: see "
	    "https://bl.example.org/evidence/7");
	assert_int_equal(lookup(&data, "192.0.2.2", values), 1);
	assert_int_equal(values[0].a, 0x7f000003u);
	assert_int_equal(lookup(&data, "192.0.2.3", values), 0);
	release(&data);
}

static void
test_the_test_point_is_listed_and_127_0_0_1_is_not(void **state)
{
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];
	char txt[DATASET_TXT_MAX + 1];
	struct netaddr queried;

	(void)state;
	build(NULL, 0, NULL, 0, &data);
	assert_int_equal(lookup(&data, "127.0.0.2", values), 1);
	assert_int_equal(values[0].a, 0x7f000002u);
	assert_true(netaddr_parse("127.0.0.2", &queried));
	dataset_txt_render(values[0].txt, &queried, txt, sizeof(txt));
	assert_string_equal(txt, STORE_TEST_TXT);
	/* RFC 5782: ::FFFF:7F00:2 answers like 127.0.0.2 */
	assert_int_equal(lookup(&data, "::ffff:127.0.0.2", values), 0);
	assert_true(netaddr_parse("::ffff:127.0.0.2", &queried));
	assert_int_equal(dataset_lookup(data.ipv4, &queried, values, VALUES_MAX), 1);
	assert_int_equal(lookup(&data, "127.0.0.1", values), 0);
	release(&data);
}

static void
test_a_listing_of_the_test_point_replaces_it(void **state)
{
	struct store_listing listings[] = {
		{ .id = 1, .prefix = STORE_TEST_PREFIX, .reason = "manual", .listed_at = T0,
		    .confirmed_at = T0 },
	};
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];

	(void)state;
	build(listings, 1, "{code}", T0, &data);
	assert_int_equal(lookup(&data, "127.0.0.2", values), 1);
	assert_int_equal(values[0].a, 0x7f000004u);
	assert_string_equal(values[0].txt, "127.0.0.4");
	release(&data);
}

static void
test_the_longest_listed_prefix_answers(void **state)
{
	struct store_listing listings[] = {
		{ .id = 1, .prefix = "198.51.100.0/24", .reason = "manual", .listed_at = T0 },
		{ .id = 2, .prefix = "198.51.100.7/32", .reason = "delivered", .listed_at = T0 },
	};
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];

	(void)state;
	build(listings, 2, NULL, T0, &data);
	assert_int_equal(lookup(&data, "198.51.100.7", values), 1);
	assert_int_equal(values[0].a, 0x7f000002u);
	assert_int_equal(lookup(&data, "198.51.100.8", values), 1);
	assert_int_equal(values[0].a, 0x7f000004u);
	assert_int_equal(lookup(&data, "198.51.101.8", values), 0);
	release(&data);
}

static void
test_expired_listings_are_left_out_and_count_as_a_change(void **state)
{
	struct store_listing listings[] = {
		{ .id = 1, .prefix = "192.0.2.1/32", .reason = "manual", .expires_at = NOW - 5 },
		{ .id = 2, .prefix = "192.0.2.2/32", .reason = "manual", .expires_at = NOW },
		{ .id = 3, .prefix = "192.0.2.3/32", .reason = "manual", .expires_at = NOW + 50 },
		{ .id = 4, .prefix = "192.0.2.4/32", .reason = "manual", .expires_at = NOW + 9 },
		{ .id = 5, .prefix = "192.0.2.5/32", .reason = "manual", .expires_at = 0 },
	};
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];

	(void)state;
	build(listings, 5, NULL, T0, &data);
	assert_int_equal(lookup(&data, "192.0.2.1", values), 0);
	assert_int_equal(lookup(&data, "192.0.2.2", values), 0);
	assert_int_equal(lookup(&data, "192.0.2.3", values), 1);
	assert_int_equal(lookup(&data, "192.0.2.4", values), 1);
	assert_int_equal(lookup(&data, "192.0.2.5", values), 1);
	/* the next reload is due when 192.0.2.4 expires */
	assert_int_equal(data.next_expiry, NOW + 9);
	/* the serial time is the last expiry when it is later than the last change */
	assert_int_equal(dataset_get_meta(data.ipv4)->newest_mtime, NOW);
	assert_int_equal(dataset_get_meta(data.ipv6)->newest_mtime, NOW);
	release(&data);
}

static void
test_ipv6_listings_go_to_the_ipv6_dataset(void **state)
{
	struct store_listing listings[] = {
		{ .id = 1, .prefix = "2001:db8:1::/48", .reason = "imported", .listed_at = T0 },
	};
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];

	(void)state;
	build(listings, 1, NULL, T0 + 77, &data);
	assert_int_equal(lookup(&data, "2001:db8:1::25", values), 1);
	assert_int_equal(values[0].a, 0x7f000005u);
	assert_int_equal(lookup(&data, "2001:db8:2::25", values), 0);
	assert_int_equal(dataset_entry_count(data.ipv6), 1);
	assert_int_equal(dataset_get_meta(data.ipv6)->newest_mtime, T0 + 77);
	release(&data);
}

static void
test_the_template_keeps_dollar_for_the_queried_address(void **state)
{
	struct store_listing listings[] = {
		{ .id = 12, .prefix = "203.0.113.0/24", .reason = "manual", .listed_at = T0 },
	};
	struct store_feed_data data;
	struct dataset_value values[VALUES_MAX];
	char txt[DATASET_TXT_MAX + 1];
	struct netaddr queried;

	(void)state;
	build(listings, 1, "$ is in {prefix} (listing {id})", T0, &data);
	assert_true(netaddr_parse("203.0.113.9", &queried));
	assert_int_equal(dataset_lookup(data.ipv4, &queried, values, VALUES_MAX), 1);
	dataset_txt_render(values[0].txt, &queried, txt, sizeof(txt));
	assert_string_equal(txt, "203.0.113.9 is in 203.0.113.0/24 (listing 12)");
	release(&data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_listing_answers_its_reason_code_and_evidence_txt),
		cmocka_unit_test(test_the_test_point_is_listed_and_127_0_0_1_is_not),
		cmocka_unit_test(test_a_listing_of_the_test_point_replaces_it),
		cmocka_unit_test(test_the_longest_listed_prefix_answers),
		cmocka_unit_test(test_expired_listings_are_left_out_and_count_as_a_change),
		cmocka_unit_test(test_ipv6_listings_go_to_the_ipv6_dataset),
		cmocka_unit_test(test_the_template_keeps_dollar_for_the_queried_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
