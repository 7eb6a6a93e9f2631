/* test_resolver.c - resolver against a real DNS responder on 127.0.0.1 (never the system
 * resolver): every status, MX sorting, A/AAAA separation, TXT, PTR, timeouts, cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/netaddr.h"
#include "core/resolver.h"

#include "../dns_test_server.c"

/* Short enough for the never-answered name: 200 ms then 400 ms. */
#define TEST_TIMEOUT_MS 200
#define TEST_TRIES 2
#define TEST_GUARD_SECONDS 10
#define TEST_RECORDS_MAX 8
#define TEST_MANY_QUERIES 300

static struct dns_test_server test_server;

struct fixture {
	struct event_base *base;
	struct resolver *resolver;
};

struct mx_result {
	int calls;
	enum resolver_status status;
	struct resolver_mx records[TEST_RECORDS_MAX];
	size_t count;
};

struct address_result {
	int calls;
	enum resolver_status status;
	struct netaddr addresses[TEST_RECORDS_MAX];
	size_t count;
};

struct txt_result {
	int calls;
	enum resolver_status status;
	char texts[TEST_RECORDS_MAX][128];
	size_t count;
	unsigned ttl;
};

struct ptr_result {
	int calls;
	enum resolver_status status;
	char name[RESOLVER_NAME_MAX];
	bool name_was_null;
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
mx_cb(void *arg, enum resolver_status status, const struct resolver_mx *records, size_t count)
{
	struct mx_result *result = arg;

	result->calls++;
	result->status = status;
	result->count = count;
	for (size_t i = 0; i < count && i < TEST_RECORDS_MAX; i++)
		result->records[i] = records[i];
}

static void
address_cb(void *arg, enum resolver_status status, const struct netaddr *addresses, size_t count)
{
	struct address_result *result = arg;

	result->calls++;
	result->status = status;
	result->count = count;
	for (size_t i = 0; i < count && i < TEST_RECORDS_MAX; i++)
		result->addresses[i] = addresses[i];
}

static void
txt_cb(void *arg, enum resolver_status status, const char *const *texts, size_t count,
    unsigned ttl)
{
	struct txt_result *result = arg;

	result->calls++;
	result->status = status;
	result->count = count;
	result->ttl = ttl;
	for (size_t i = 0; i < count && i < TEST_RECORDS_MAX; i++)
		snprintf(result->texts[i], sizeof(result->texts[i]), "%s", texts[i]);
}

static void
ptr_cb(void *arg, enum resolver_status status, const char *name)
{
	struct ptr_result *result = arg;

	result->calls++;
	result->status = status;
	result->name_was_null = name == NULL;
	if (name != NULL)
		snprintf(result->name, sizeof(result->name), "%s", name);
}

static void
assert_address(const struct netaddr *address, const char *expected)
{
	char text[NETADDR_TEXT_MAX];

	assert_true(netaddr_format(address, text, sizeof(text)) > 0);
	assert_string_equal(text, expected);
}

static void
test_mx_records_are_sorted_by_preference(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	/* The server lists preference 20 before 10. */
	resolver_query_mx(fixture->resolver, "two-mx.test", mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 2);
	assert_string_equal(result.records[0].host, "mx1.two-mx.test");
	assert_int_equal(result.records[0].preference, 10);
	assert_string_equal(result.records[1].host, "mx2.two-mx.test");
	assert_int_equal(result.records[1].preference, 20);
}

static void
test_mx_records_with_equal_preference_are_sorted_by_name(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	resolver_query_mx(fixture->resolver, "tie.test", mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 2);
	assert_string_equal(result.records[0].host, "a.tie.test");
	assert_string_equal(result.records[1].host, "b.tie.test");
}

static void
test_mx_query_name_is_case_insensitive_and_may_end_in_dot(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	resolver_query_mx(fixture->resolver, "Two-MX.Test.", mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 2);
}

/* RFC 7505: "MX 0 ." means the domain accepts no mail; reported as host "". */
static void
test_null_mx_is_reported_as_empty_host(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	resolver_query_mx(fixture->resolver, "nullmx.test", mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 1);
	assert_string_equal(result.records[0].host, "");
	assert_int_equal(result.records[0].preference, 0);
}

static void
test_mx_of_name_without_mx_is_nodata(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	resolver_query_mx(fixture->resolver, "nomx.test", mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_NODATA);
	assert_int_equal(result.count, 0);
}

static void
test_mx_of_missing_name_is_nxdomain(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	resolver_query_mx(fixture->resolver, "missing.test", mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_NXDOMAIN);
	assert_int_equal(result.count, 0);
}

static void
test_a_query_returns_ipv4_addresses(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };

	resolver_query_address(fixture->resolver, "multi.test", AF_INET, address_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 2);
	assert_int_equal(result.addresses[0].family, AF_INET);
	assert_address(&result.addresses[0], "127.0.2.51");
	assert_address(&result.addresses[1], "127.0.2.52");
}

/* AF_INET6 asks AAAA and nothing else: no A query, no synthesised mapped address. */
static void
test_aaaa_query_asks_only_aaaa(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };
	size_t a_before = dns_test_server_queries(&test_server, "mx2.two-mx.test",
	    DNS_TEST_TYPE_A);

	resolver_query_address(fixture->resolver, "mx2.two-mx.test", AF_INET6, address_cb,
	    &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.addresses[0].family, AF_INET6);
	assert_address(&result.addresses[0], "::1");
	assert_int_equal(dns_test_server_queries(&test_server, "mx2.two-mx.test",
	    DNS_TEST_TYPE_A), a_before);
}

static void
test_aaaa_of_name_with_only_a_is_nodata(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };

	resolver_query_address(fixture->resolver, "nomx.test", AF_INET6, address_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_NODATA);
	assert_int_equal(result.count, 0);
}

static void
test_a_of_missing_name_is_nxdomain(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };

	resolver_query_address(fixture->resolver, "missing.test", AF_INET, address_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_NXDOMAIN);
}

static void
test_address_query_with_unknown_family_fails_from_the_loop(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };

	resolver_query_address(fixture->resolver, "nomx.test", AF_UNIX, address_cb, &result);
	assert_int_equal(result.calls, 0);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_FAILURE);
}

/* RFC 7208 3.3: the character-strings of one TXT record are joined without spaces. */
static void
test_txt_records_join_strings_and_report_smallest_ttl(void **state)
{
	struct fixture *fixture = *state;
	struct txt_result result = { 0 };

	resolver_query_txt(fixture->resolver, "txt.test", txt_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_int_equal(result.count, 2);
	assert_string_equal(result.texts[0], "v=spf1 -all");
	assert_string_equal(result.texts[1], "listed: see https://example.org/");
	assert_int_equal(result.ttl, 120);
}

static void
test_txt_of_name_without_txt_is_nodata(void **state)
{
	struct fixture *fixture = *state;
	struct txt_result result = { 0 };

	resolver_query_txt(fixture->resolver, "nomx.test", txt_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_NODATA);
	assert_int_equal(result.ttl, 0);
}

static void
test_ptr_of_ipv4_address(void **state)
{
	struct fixture *fixture = *state;
	struct ptr_result result = { 0 };
	struct netaddr address;

	assert_true(netaddr_parse("127.0.2.21", &address));
	resolver_query_ptr(fixture->resolver, &address, ptr_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_string_equal(result.name, "mx1.two-mx.test");
}

static void
test_ptr_of_ipv6_address(void **state)
{
	struct fixture *fixture = *state;
	struct ptr_result result = { 0 };
	struct netaddr address;

	assert_true(netaddr_parse("::1", &address));
	resolver_query_ptr(fixture->resolver, &address, ptr_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_string_equal(result.name, "localhost.test");
}

static void
test_ptr_of_address_without_ptr_is_nxdomain_with_null_name(void **state)
{
	struct fixture *fixture = *state;
	struct ptr_result result = { 0 };
	struct netaddr address;

	assert_true(netaddr_parse("127.0.2.99", &address));
	resolver_query_ptr(fixture->resolver, &address, ptr_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_NXDOMAIN);
	assert_true(result.name_was_null);
}

static void
test_unanswered_query_times_out_as_failure_after_all_tries(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };
	size_t before = dns_test_server_queries(&test_server, DNS_TEST_SILENT_NAME,
	    DNS_TEST_TYPE_MX);

	resolver_query_mx(fixture->resolver, DNS_TEST_SILENT_NAME, mx_cb, &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.calls, 1);
	assert_int_equal(result.status, RESOLVER_FAILURE);
	assert_int_equal(dns_test_server_queries(&test_server, DNS_TEST_SILENT_NAME,
	    DNS_TEST_TYPE_MX) - before, TEST_TRIES);
}

static void
test_servfail_is_failure(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };

	resolver_query_address(fixture->resolver, DNS_TEST_SERVFAIL_NAME, AF_INET, address_cb,
	    &result);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_FAILURE);
}

static void
test_callback_never_runs_inside_the_query_call(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result result = { 0 };

	resolver_query_mx(fixture->resolver, "two-mx.test", mx_cb, &result);
	assert_int_equal(result.calls, 0);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.calls, 1);
}

/* c-ares refuses a 64-octet label before sending anything; the failure still comes later. */
static void
test_bad_name_fails_from_the_loop(void **state)
{
	struct fixture *fixture = *state;
	struct address_result result = { 0 };
	char name[80];

	memset(name, 'a', 64);
	memcpy(name + 64, ".test", sizeof(".test"));
	resolver_query_address(fixture->resolver, name, AF_INET, address_cb, &result);
	assert_int_equal(result.calls, 0);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.calls, 1);
	assert_int_equal(result.status, RESOLVER_FAILURE);
}

static void
test_free_cancels_pending_queries_with_failure(void **state)
{
	struct fixture *fixture = *state;
	struct mx_result silent = { 0 }, normal = { 0 };

	resolver_query_mx(fixture->resolver, DNS_TEST_SILENT_NAME, mx_cb, &silent);
	resolver_query_mx(fixture->resolver, "two-mx.test", mx_cb, &normal);
	resolver_free(fixture->resolver);
	fixture->resolver = NULL;
	assert_int_equal(silent.calls, 1);
	assert_int_equal(silent.status, RESOLVER_FAILURE);
	assert_int_equal(normal.calls, 1);
	assert_int_equal(normal.status, RESOLVER_FAILURE);
	/* Nothing is left on the loop to call them again. */
	event_base_loop(fixture->base, EVLOOP_NONBLOCK);
	assert_int_equal(silent.calls, 1);
	assert_int_equal(normal.calls, 1);
}

struct free_inside {
	struct fixture *fixture;
	int calls;
	struct mx_result other;
};

static void
free_inside_cb(void *arg, enum resolver_status status, const struct resolver_mx *records,
    size_t count)
{
	struct free_inside *context = arg;

	(void)status;
	(void)records;
	(void)count;
	context->calls++;
	resolver_free(context->fixture->resolver);
	context->fixture->resolver = NULL;
}

static void
test_free_from_inside_a_callback_fails_the_other_queries(void **state)
{
	struct fixture *fixture = *state;
	struct free_inside context = { .fixture = fixture };

	resolver_query_mx(fixture->resolver, DNS_TEST_SILENT_NAME, mx_cb, &context.other);
	resolver_query_mx(fixture->resolver, "two-mx.test", free_inside_cb, &context);
	run_until(fixture->base, &context.calls, 1);
	assert_int_equal(context.other.calls, 1);
	assert_int_equal(context.other.status, RESOLVER_FAILURE);
}

struct defer_result {
	int calls;
	enum resolver_status status;
	bool closing;
	struct resolver *resolver;
};

static void
defer_cb(void *arg, enum resolver_status status)
{
	struct defer_result *result = arg;

	result->calls++;
	result->status = status;
	result->closing = resolver_is_closing(result->resolver);
}

static void
test_deferred_call_runs_from_the_loop(void **state)
{
	struct fixture *fixture = *state;
	struct defer_result result = { .resolver = fixture->resolver };

	resolver_defer(fixture->resolver, defer_cb, &result);
	assert_int_equal(result.calls, 0);
	run_until(fixture->base, &result.calls, 1);
	assert_int_equal(result.status, RESOLVER_OK);
	assert_false(result.closing);
}

static void
test_deferred_call_is_cancelled_by_free(void **state)
{
	struct fixture *fixture = *state;
	struct defer_result result = { .resolver = fixture->resolver };

	resolver_defer(fixture->resolver, defer_cb, &result);
	resolver_free(fixture->resolver);
	fixture->resolver = NULL;
	assert_int_equal(result.calls, 1);
	assert_int_equal(result.status, RESOLVER_FAILURE);
	assert_true(result.closing);
}

struct many_context {
	int calls;
	int per_query[TEST_MANY_QUERIES];
	enum resolver_status statuses[TEST_MANY_QUERIES];
};

struct many_slot {
	struct many_context *context;
	int index;
};

static void
many_cb(void *arg, enum resolver_status status, const struct netaddr *addresses, size_t count)
{
	struct many_slot *slot = arg;

	(void)addresses;
	(void)count;
	slot->context->calls++;
	slot->context->per_query[slot->index]++;
	slot->context->statuses[slot->index] = status;
}

/* More queries than c-ares gets at once (the rest wait their turn): each answered once. */
static void
test_many_queries_in_flight_are_each_answered_once(void **state)
{
	struct fixture *fixture = *state;
	static struct many_context context;
	static struct many_slot slots[TEST_MANY_QUERIES];
	static const char *const names[] = { "mx1.two-mx.test", "missing.test", "nomx.test" };
	static const enum resolver_status expected[] = { RESOLVER_OK, RESOLVER_NXDOMAIN,
	    RESOLVER_NODATA };

	memset(&context, 0, sizeof(context));
	for (int i = 0; i < TEST_MANY_QUERIES; i++) {
		slots[i].context = &context;
		slots[i].index = i;
		/* nomx.test has A only: ask AAAA there to get NODATA. */
		int family = i % 3 == 2 ? AF_INET6 : AF_INET;
		resolver_query_address(fixture->resolver, names[i % 3], family, many_cb,
		    &slots[i]);
	}
	run_until(fixture->base, &context.calls, TEST_MANY_QUERIES);
	for (int i = 0; i < TEST_MANY_QUERIES; i++) {
		assert_int_equal(context.per_query[i], 1);
		assert_int_equal(context.statuses[i], expected[i % 3]);
	}
}

static void
test_free_fails_queries_still_waiting_for_their_turn(void **state)
{
	struct fixture *fixture = *state;
	static struct many_context context;
	static struct many_slot slots[TEST_MANY_QUERIES];

	memset(&context, 0, sizeof(context));
	for (int i = 0; i < TEST_MANY_QUERIES; i++) {
		slots[i].context = &context;
		slots[i].index = i;
		resolver_query_address(fixture->resolver, DNS_TEST_SILENT_NAME, AF_INET, many_cb,
		    &slots[i]);
	}
	/* Let the first batch reach the wire, then give up on all of them. */
	event_base_loop(fixture->base, EVLOOP_NONBLOCK);
	resolver_free(fixture->resolver);
	fixture->resolver = NULL;
	assert_int_equal(context.calls, TEST_MANY_QUERIES);
	for (int i = 0; i < TEST_MANY_QUERIES; i++) {
		assert_int_equal(context.per_query[i], 1);
		assert_int_equal(context.statuses[i], RESOLVER_FAILURE);
	}
}

static void
test_server_that_is_a_name_is_rejected(void **state)
{
	struct fixture *fixture = *state;
	char err[256] = "";

	assert_null(resolver_new(fixture->base, "dns.example.com", err, sizeof(err)));
	assert_non_null(strstr(err, "not an IP address"));
}

static void
test_server_with_bad_port_is_rejected(void **state)
{
	struct fixture *fixture = *state;
	char err[256] = "";

	assert_null(resolver_new(fixture->base, "127.0.0.1:99999", err, sizeof(err)));
	assert_non_null(strstr(err, "bad port '99999'"));
}

static void
test_ipv6_server_with_port_is_accepted(void **state)
{
	struct fixture *fixture = *state;
	char err[256] = "";
	struct resolver *resolver = resolver_new(fixture->base, "[::1]:5353", err, sizeof(err));

	assert_non_null(resolver);
	assert_ptr_equal(resolver_event_base(resolver), fixture->base);
	resolver_free(resolver);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(resolver_status_name(RESOLVER_OK), "ok");
	assert_string_equal(resolver_status_name(RESOLVER_NXDOMAIN), "nxdomain");
	assert_string_equal(resolver_status_name(RESOLVER_NODATA), "nodata");
	assert_string_equal(resolver_status_name(RESOLVER_FAILURE), "failure");
}

static void
test_reverse_name_of_ipv4_reverses_octets(void **state)
{
	struct netaddr address;
	char name[80];

	(void)state;
	assert_true(netaddr_parse("192.0.2.1", &address));
	assert_int_equal(resolver_reverse_name(&address, name, sizeof(name)),
	    (int)strlen("1.2.0.192.in-addr.arpa"));
	assert_string_equal(name, "1.2.0.192.in-addr.arpa");
}

/* RFC 3596 2.5: 32 nibbles, least significant first. */
static void
test_reverse_name_of_ipv6_lists_32_nibbles(void **state)
{
	struct netaddr address;
	char name[80];

	(void)state;
	assert_true(netaddr_parse("2001:db8::567:89ab", &address));
	assert_int_equal(resolver_reverse_name(&address, name, sizeof(name)), 72);
	assert_string_equal(name,
	    "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_int_equal(resolver_reverse_name(&address, name, 72), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mx_records_are_sorted_by_preference, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_mx_records_with_equal_preference_are_sorted_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_mx_query_name_is_case_insensitive_and_may_end_in_dot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_mx_is_reported_as_empty_host, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx_of_name_without_mx_is_nodata, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx_of_missing_name_is_nxdomain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_query_returns_ipv4_addresses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_aaaa_query_asks_only_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aaaa_of_name_with_only_a_is_nodata, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_of_missing_name_is_nxdomain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_address_query_with_unknown_family_fails_from_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_txt_records_join_strings_and_report_smallest_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_of_name_without_txt_is_nodata, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ptr_of_ipv4_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_of_ipv6_address, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ptr_of_address_without_ptr_is_nxdomain_with_null_name, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unanswered_query_times_out_as_failure_after_all_tries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_is_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_never_runs_inside_the_query_call,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_name_fails_from_the_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_cancels_pending_queries_with_failure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_free_from_inside_a_callback_fails_the_other_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_call_runs_from_the_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deferred_call_is_cancelled_by_free, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_many_queries_in_flight_are_each_answered_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_free_fails_queries_still_waiting_for_their_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_that_is_a_name_is_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_with_bad_port_is_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_server_with_port_is_accepted, setup,
		    teardown),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_reverse_name_of_ipv4_reverses_octets),
		cmocka_unit_test(test_reverse_name_of_ipv6_lists_32_nibbles),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
