/* test_target.c - target expansion against a real DNS responder on 127.0.0.1: literals,
 * host:port, MX order, implicit MX, null MX, NXDOMAIN, failures, duplicates, many in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check/target.h"
#include "core/netaddr.h"
#include "core/resolver.h"

#include "../dns_test_server.c"

#define TEST_TIMEOUT_MS 200
#define TEST_TRIES 2
#define TEST_GUARD_SECONDS 10
#define TEST_TARGETS_MAX 8
#define TEST_DEFAULT_PORT 25
#define TEST_MANY_INPUTS 500

static struct dns_test_server test_server;

struct fixture {
	struct event_base *base;
	struct resolver *resolver;
};

/* What one input produced. */
struct expansion_result {
	int done_calls;
	int found_after_done;
	enum target_expand_status status;
	char input[TARGET_INPUT_MAX];
	char message[TARGET_MESSAGE_MAX];
	struct check_target targets[TEST_TARGETS_MAX];
	size_t count;
	int *done_counter;	/* shared counter for many inputs, or NULL */
};

static int
group_setup(void **state)
{
	(void)state;
	return dns_test_server_start(&test_server) ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	dns_test_server_stop(&test_server);
	return 0;
}

static int
setup(void **state)
{
	struct fixture *fixture = calloc(1, sizeof(*fixture));
	char server[64], err[256];

	assert_non_null(fixture);
	fixture->base = event_base_new();
	assert_non_null(fixture->base);
	dns_test_server_address(&test_server, server, sizeof(server));
	fixture->resolver = resolver_new_options(fixture->base, server, TEST_TIMEOUT_MS,
	    TEST_TRIES, err, sizeof(err));
	assert_non_null(fixture->resolver);
	*state = fixture;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fixture = *state;

	resolver_free(fixture->resolver);
	event_base_free(fixture->base);
	free(fixture);
	return 0;
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* run_until - run the loop until *calls reaches wanted (fails after TEST_GUARD_SECONDS). */
static void
run_until(struct event_base *base, const int *calls, int wanted)
{
	bool expired = false;
	struct timeval guard_time = { TEST_GUARD_SECONDS, 0 };
	struct event *guard = evtimer_new(base, guard_cb, &expired);

	evtimer_add(guard, &guard_time);
	while (*calls < wanted && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	assert_false(expired);
}

static void
found_cb(void *arg, const struct check_target *target)
{
	struct expansion_result *result = arg;

	if (result->done_calls > 0)
		result->found_after_done++;
	if (result->count < TEST_TARGETS_MAX)
		result->targets[result->count] = *target;
	result->count++;
}

static void
done_cb(void *arg, const char *input, enum target_expand_status status, const char *message)
{
	struct expansion_result *result = arg;

	result->done_calls++;
	result->status = status;
	snprintf(result->input, sizeof(result->input), "%s", input);
	snprintf(result->message, sizeof(result->message), "%s", message);
	if (result->done_counter != NULL)
		(*result->done_counter)++;
}

/* expand - expand one input to completion. */
static void
expand(struct fixture *fixture, const char *input, struct expansion_result *result)
{
	memset(result, 0, sizeof(*result));
	target_expand(fixture->resolver, input, TEST_DEFAULT_PORT, found_cb, done_cb, result);
	assert_int_equal(result->done_calls, 0);
	assert_int_equal(result->count, 0);
	run_until(fixture->base, &result->done_calls, 1);
	assert_int_equal(result->done_calls, 1);
	assert_int_equal(result->found_after_done, 0);
	assert_string_equal(result->input, input);
}

static void
assert_target(const struct check_target *target, const char *address, uint16_t port)
{
	char text[NETADDR_TEXT_MAX];

	assert_true(netaddr_format(&target->address, text, sizeof(text)) > 0);
	assert_string_equal(text, address);
	assert_int_equal(target->port, port);
}

static void
test_ipv4_literal_gives_one_target_on_the_default_port(void **state)
{
	struct expansion_result result;

	expand(*state, "127.0.2.7", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 1);
	assert_target(&result.targets[0], "127.0.2.7", TEST_DEFAULT_PORT);
	assert_string_equal(result.targets[0].input, "127.0.2.7");
	assert_string_equal(result.targets[0].host, "");
	assert_string_equal(result.targets[0].mail_domain, "");
	assert_string_equal(result.targets[0].mx_host, "");
	assert_false(result.targets[0].from_mx);
}

static void
test_bracketed_ipv6_literal_keeps_its_port(void **state)
{
	struct expansion_result result;

	expand(*state, "[::1]:2525", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 1);
	assert_target(&result.targets[0], "::1", 2525);
	assert_string_equal(result.targets[0].input, "[::1]:2525");
}

static void
test_literal_sends_no_dns_query(void **state)
{
	struct expansion_result result;
	size_t before = dns_test_server_total_queries(&test_server);

	expand(*state, "127.0.0.2:2525", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(dns_test_server_total_queries(&test_server), before);
}

static void
test_bad_syntax_is_reported_with_the_parser_message(void **state)
{
	struct expansion_result result;

	expand(*state, "x:99999", &result);
	assert_int_equal(result.status, TARGET_EXPAND_BAD_SYNTAX);
	assert_int_equal(result.count, 0);
	assert_string_equal(result.message, "bad port '99999' in 'x:99999'");
}

/* Every address of every MX host is a target: MX preference order, A before AAAA. */
static void
test_mail_domain_expands_to_mx_hosts_in_preference_order_a_before_aaaa(void **state)
{
	struct expansion_result result;

	expand(*state, "two-mx.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 3);
	assert_target(&result.targets[0], "127.0.2.21", TEST_DEFAULT_PORT);
	assert_target(&result.targets[1], "127.0.2.22", TEST_DEFAULT_PORT);
	assert_target(&result.targets[2], "::1", TEST_DEFAULT_PORT);
	assert_string_equal(result.targets[0].mx_host, "mx1.two-mx.test");
	assert_string_equal(result.targets[0].host, "mx1.two-mx.test");
	assert_int_equal(result.targets[0].mx_preference, 10);
	assert_string_equal(result.targets[1].mx_host, "mx2.two-mx.test");
	assert_int_equal(result.targets[1].mx_preference, 20);
	assert_string_equal(result.targets[2].mx_host, "mx2.two-mx.test");
	assert_int_equal(result.targets[2].mx_preference, 20);
	for (size_t i = 0; i < 3; i++) {
		assert_true(result.targets[i].from_mx);
		assert_string_equal(result.targets[i].mail_domain, "two-mx.test");
		assert_string_equal(result.targets[i].input, "two-mx.test");
	}
	assert_string_equal(result.message, "two-mx.test: 3 target(s) from 2 MX host(s)");
}

static void
test_mail_domain_is_matched_case_insensitively(void **state)
{
	struct expansion_result result;

	expand(*state, "Two-MX.Test.", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 3);
	assert_string_equal(result.targets[0].mail_domain, "two-mx.test");
	assert_string_equal(result.targets[0].input, "Two-MX.Test.");
}

/* RFC 7505. */
static void
test_null_mx_is_reported_and_gives_no_target(void **state)
{
	struct expansion_result result;

	expand(*state, "nullmx.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_NULL_MX);
	assert_int_equal(result.count, 0);
	assert_string_equal(result.message, "null MX (RFC 7505): nullmx.test accepts no mail");
}

/* RFC 5321 5.1: no MX records, so the domain's own address is the implicit MX. */
static void
test_domain_without_mx_uses_its_own_address(void **state)
{
	struct expansion_result result;

	expand(*state, "nomx.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 1);
	assert_target(&result.targets[0], "127.0.2.23", TEST_DEFAULT_PORT);
	assert_false(result.targets[0].from_mx);
	assert_string_equal(result.targets[0].mail_domain, "nomx.test");
	assert_string_equal(result.targets[0].host, "nomx.test");
	assert_string_equal(result.targets[0].mx_host, "");
	assert_non_null(strstr(result.message, "implicit MX"));
}

static void
test_missing_domain_is_nxdomain(void **state)
{
	struct expansion_result result;

	expand(*state, "missing.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_NXDOMAIN);
	assert_int_equal(result.count, 0);
	assert_string_equal(result.message, "missing.test: no such domain (NXDOMAIN)");
}

/* A port means a host: its own A and AAAA, and no MX query at all. */
static void
test_host_with_port_skips_the_mx_lookup(void **state)
{
	struct expansion_result result;
	size_t mx_before = dns_test_server_queries(&test_server, "mx2.two-mx.test",
	    DNS_TEST_TYPE_MX);

	expand(*state, "mx2.two-mx.test:2525", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 2);
	assert_target(&result.targets[0], "127.0.2.22", 2525);
	assert_target(&result.targets[1], "::1", 2525);
	assert_string_equal(result.targets[0].host, "mx2.two-mx.test");
	assert_string_equal(result.targets[0].mail_domain, "");
	assert_string_equal(result.targets[0].mx_host, "");
	assert_false(result.targets[0].from_mx);
	assert_int_equal(dns_test_server_queries(&test_server, "mx2.two-mx.test",
	    DNS_TEST_TYPE_MX), mx_before);
}

static void
test_host_with_port_that_does_not_exist_is_nxdomain(void **state)
{
	struct expansion_result result;

	expand(*state, "missing.test:25", &result);
	assert_int_equal(result.status, TARGET_EXPAND_NXDOMAIN);
	assert_int_equal(result.count, 0);
}

/* A domain with MX records is never also tried at its own address. */
static void
test_host_with_port_and_no_address_is_no_address(void **state)
{
	struct expansion_result result;

	expand(*state, "two-mx.test:25", &result);
	assert_int_equal(result.status, TARGET_EXPAND_NO_ADDRESS);
	assert_int_equal(result.count, 0);
	assert_string_equal(result.message, "two-mx.test: no A or AAAA record");
}

static void
test_every_address_of_a_host_is_a_target(void **state)
{
	struct expansion_result result;

	expand(*state, "multi.test:587", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 2);
	assert_target(&result.targets[0], "127.0.2.51", 587);
	assert_target(&result.targets[1], "127.0.2.52", 587);
}

/* Two MX hosts share 127.0.2.41; a.dup-mx.test is listed at 10 and 30. */
static void
test_duplicate_addresses_are_reported_once(void **state)
{
	struct expansion_result result;

	expand(*state, "dup-mx.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 2);
	assert_target(&result.targets[0], "127.0.2.41", TEST_DEFAULT_PORT);
	assert_string_equal(result.targets[0].mx_host, "a.dup-mx.test");
	assert_int_equal(result.targets[0].mx_preference, 10);
	assert_target(&result.targets[1], "127.0.2.42", TEST_DEFAULT_PORT);
	assert_string_equal(result.targets[1].mx_host, "b.dup-mx.test");
	assert_int_equal(dns_test_server_queries(&test_server, "a.dup-mx.test",
	    DNS_TEST_TYPE_A), 1);
}

static void
test_mx_host_without_address_gives_no_address(void **state)
{
	struct expansion_result result;

	expand(*state, "noaddr-mx.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_NO_ADDRESS);
	assert_int_equal(result.count, 0);
	assert_string_equal(result.message,
	    "noaddr-mx.test: none of its 1 MX host(s) has an A or AAAA record");
}

static void
test_unanswered_mx_lookup_is_dns_failure(void **state)
{
	struct expansion_result result;

	expand(*state, DNS_TEST_SILENT_NAME, &result);
	assert_int_equal(result.status, TARGET_EXPAND_DNS_FAILURE);
	assert_int_equal(result.count, 0);
	assert_string_equal(result.message,
	    "never.test: MX lookup failed (server failure or timeout)");
}

static void
test_failed_address_lookups_are_dns_failure(void **state)
{
	struct expansion_result result;

	expand(*state, DNS_TEST_SERVFAIL_NAME ":25", &result);
	assert_int_equal(result.status, TARGET_EXPAND_DNS_FAILURE);
	assert_int_equal(result.count, 0);
	assert_non_null(strstr(result.message, "lookups failed: servfail.test A, "
	    "servfail.test AAAA"));
}

/* One MX host answers, the other never does: its targets still come, the message tells. */
static void
test_partial_failure_still_gives_the_targets_found(void **state)
{
	struct expansion_result result;

	expand(*state, "partial.test", &result);
	assert_int_equal(result.status, TARGET_EXPAND_OK);
	assert_int_equal(result.count, 1);
	assert_target(&result.targets[0], "127.0.2.21", TEST_DEFAULT_PORT);
	assert_string_equal(result.targets[0].mail_domain, "partial.test");
	assert_non_null(strstr(result.message, "lookups failed: never.test A, never.test AAAA"));
}

/* Every kind of pending input ends once, with no target, when the resolver goes away. */
static void
test_freeing_the_resolver_ends_pending_expansions_with_dns_failure(void **state)
{
	struct fixture *fixture = *state;
	static const char *const inputs[] = { "two-mx.test", "127.0.2.7", "mx2.two-mx.test:25",
	    "x:99999" };
	static const enum target_expand_status expected[] = { TARGET_EXPAND_DNS_FAILURE,
	    TARGET_EXPAND_DNS_FAILURE, TARGET_EXPAND_DNS_FAILURE, TARGET_EXPAND_BAD_SYNTAX };
	struct expansion_result results[4];

	memset(results, 0, sizeof(results));
	for (size_t i = 0; i < 4; i++)
		target_expand(fixture->resolver, inputs[i], TEST_DEFAULT_PORT, found_cb, done_cb,
		    &results[i]);
	resolver_free(fixture->resolver);
	fixture->resolver = NULL;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(results[i].done_calls, 1);
		assert_int_equal(results[i].status, expected[i]);
		assert_int_equal(results[i].count, 0);
		assert_string_equal(results[i].input, inputs[i]);
	}
	assert_string_equal(results[1].message, "127.0.2.7: cancelled (resolver shut down)");
}

/* partial.test: mx1's addresses are known, never.test's lookups still pending. */
static void
test_freeing_the_resolver_between_answers_reports_no_target(void **state)
{
	struct fixture *fixture = *state;
	struct expansion_result result;
	struct timeval shorter_than_timeout = { 0, TEST_TIMEOUT_MS * 1000 / 2 };

	memset(&result, 0, sizeof(result));
	target_expand(fixture->resolver, "partial.test", TEST_DEFAULT_PORT, found_cb, done_cb,
	    &result);
	event_base_loopexit(fixture->base, &shorter_than_timeout);
	event_base_dispatch(fixture->base);
	assert_int_equal(result.done_calls, 0);
	assert_true(dns_test_server_queries(&test_server, "mx1.two-mx.test",
	    DNS_TEST_TYPE_A) > 0);
	resolver_free(fixture->resolver);
	fixture->resolver = NULL;
	assert_int_equal(result.done_calls, 1);
	assert_int_equal(result.status, TARGET_EXPAND_DNS_FAILURE);
	assert_int_equal(result.count, 0);
}

static void
test_many_inputs_in_flight_each_finish_once(void **state)
{
	struct fixture *fixture = *state;
	static struct expansion_result results[TEST_MANY_INPUTS];
	static const char *const inputs[] = { "two-mx.test", "nomx.test", "missing.test",
	    "127.0.2.9", "nullmx.test" };
	static const enum target_expand_status expected[] = { TARGET_EXPAND_OK,
	    TARGET_EXPAND_OK, TARGET_EXPAND_NXDOMAIN, TARGET_EXPAND_OK, TARGET_EXPAND_NULL_MX };
	static const size_t expected_count[] = { 3, 1, 0, 1, 0 };
	size_t kinds = sizeof(inputs) / sizeof(inputs[0]);
	int done = 0;

	memset(results, 0, sizeof(results));
	for (size_t i = 0; i < TEST_MANY_INPUTS; i++) {
		results[i].done_counter = &done;
		target_expand(fixture->resolver, inputs[i % kinds], TEST_DEFAULT_PORT, found_cb,
		    done_cb, &results[i]);
	}
	run_until(fixture->base, &done, TEST_MANY_INPUTS);
	for (size_t i = 0; i < TEST_MANY_INPUTS; i++) {
		assert_int_equal(results[i].done_calls, 1);
		assert_int_equal(results[i].found_after_done, 0);
		assert_int_equal(results[i].status, expected[i % kinds]);
		assert_int_equal(results[i].count, expected_count[i % kinds]);
		assert_string_equal(results[i].input, inputs[i % kinds]);
	}
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(target_expand_status_name(TARGET_EXPAND_OK), "ok");
	assert_string_equal(target_expand_status_name(TARGET_EXPAND_NULL_MX), "null_mx");
	assert_string_equal(target_expand_status_name(TARGET_EXPAND_NO_ADDRESS), "no_address");
	assert_string_equal(target_expand_status_name(TARGET_EXPAND_NXDOMAIN), "nxdomain");
	assert_string_equal(target_expand_status_name(TARGET_EXPAND_DNS_FAILURE),
	    "dns_failure");
	assert_string_equal(target_expand_status_name(TARGET_EXPAND_BAD_SYNTAX), "bad_syntax");
}

#define TARGET_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TARGET_TEST(test_ipv4_literal_gives_one_target_on_the_default_port),
		TARGET_TEST(test_bracketed_ipv6_literal_keeps_its_port),
		TARGET_TEST(test_literal_sends_no_dns_query),
		TARGET_TEST(test_bad_syntax_is_reported_with_the_parser_message),
		TARGET_TEST(test_mail_domain_expands_to_mx_hosts_in_preference_order_a_before_aaaa),
		TARGET_TEST(test_mail_domain_is_matched_case_insensitively),
		TARGET_TEST(test_null_mx_is_reported_and_gives_no_target),
		TARGET_TEST(test_domain_without_mx_uses_its_own_address),
		TARGET_TEST(test_missing_domain_is_nxdomain),
		TARGET_TEST(test_host_with_port_skips_the_mx_lookup),
		TARGET_TEST(test_host_with_port_that_does_not_exist_is_nxdomain),
		TARGET_TEST(test_host_with_port_and_no_address_is_no_address),
		TARGET_TEST(test_every_address_of_a_host_is_a_target),
		TARGET_TEST(test_duplicate_addresses_are_reported_once),
		TARGET_TEST(test_mx_host_without_address_gives_no_address),
		TARGET_TEST(test_unanswered_mx_lookup_is_dns_failure),
		TARGET_TEST(test_failed_address_lookups_are_dns_failure),
		TARGET_TEST(test_partial_failure_still_gives_the_targets_found),
		TARGET_TEST(test_freeing_the_resolver_ends_pending_expansions_with_dns_failure),
		TARGET_TEST(test_freeing_the_resolver_between_answers_reports_no_target),
		TARGET_TEST(test_many_inputs_in_flight_each_finish_once),
		cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
