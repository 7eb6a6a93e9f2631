/* test_dnsbl_client.c - DNSBL checks and verified reverse names against a DNS responder of this
 * test on 127.0.0.1 (never the system resolver): listings, weights, TXT reasons, TTL caches
 * (positive and SOA-minimum negative), failures, cancellation, and the pure helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "core/resolver.h"
#include "smtpd/config.h"
#include "smtpd/dnsbl_client.h"

#define TYPE_A 1
#define TYPE_SOA 6
#define TYPE_PTR 12
#define TYPE_TXT 16
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
#define PACKET_MAX 1232
#define NAME_MAX_TEXT 256
#define POLL_MS 50
#define GUARD_SECONDS 10
#define POSITIVE_TTL 300
#define SOA_TTL 600
#define SOA_MINIMUM 120
#define LISTED_REASON "listed: open relay, see https://bl.example.net/"

/* The zone this responder serves: names not listed are NXDOMAIN with an SOA. */
struct record {
	const char *name;
	uint16_t type;
	const char *data;	/* address text, PTR target, or TXT text */
};

static const struct record records[] = {
	{ "2.0.0.127.bl.test", TYPE_A, "127.0.0.2" },
	{ "2.0.0.127.bl.test", TYPE_TXT, LISTED_REASON "\x01\r\n" },
	{ "2.0.0.127.second.test", TYPE_A, "127.0.0.3" },
	{ "4.0.0.127.bl.test", TYPE_A, "127.255.255.254" },
	{ "20.2.0.192.in-addr.arpa", TYPE_PTR, "mail.example.net" },
	{ "mail.example.net", TYPE_A, "192.0.2.20" },
	{ "21.2.0.192.in-addr.arpa", TYPE_PTR, "liar.example.net" },
	{ "liar.example.net", TYPE_A, "192.0.2.99" },
};

static struct {
	int fd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	atomic_int queries;
} server;

/* put16 / put32 - big-endian numbers. */
static void
put16(uint8_t *packet, size_t *used, uint16_t value)
{
	packet[(*used)++] = (uint8_t)(value >> 8);
	packet[(*used)++] = (uint8_t)value;
}

static void
put32(uint8_t *packet, size_t *used, uint32_t value)
{
	put16(packet, used, (uint16_t)(value >> 16));
	put16(packet, used, (uint16_t)value);
}

/* put_name - an uncompressed name. */
static void
put_name(uint8_t *packet, size_t *used, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t label = dot != NULL ? (size_t)(dot - name) : strlen(name);
		packet[(*used)++] = (uint8_t)label;
		memcpy(packet + *used, name, label);
		*used += label;
		name += label + (dot != NULL ? 1 : 0);
	}
	packet[(*used)++] = 0;
}

/* answer - the reply to one query, 0 for silence. */
static size_t
answer(const uint8_t *query, size_t length, uint8_t *reply)
{
	char name[NAME_MAX_TEXT];
	size_t offset = 12, used = 0, name_used = 0;

	if (length < 12)
		return 0;
	while (offset < length && query[offset] != 0) {
		uint8_t label = query[offset++];
		if (offset + label > length || name_used + label + 2 > sizeof(name))
			return 0;
		if (name_used > 0)
			name[name_used++] = '.';
		for (uint8_t i = 0; i < label; i++)
			name[name_used++] = (char)tolower(query[offset++]);
	}
	name[name_used] = '\0';
	offset++;
	if (offset + 4 > length)
		return 0;
	uint16_t type = (uint16_t)(query[offset] << 8 | query[offset + 1]);
	size_t question_end = offset + 4;
	atomic_fetch_add(&server.queries, 1);

	bool exists = false;
	size_t matches = 0;
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		if (strcmp(records[i].name, name) != 0)
			continue;
		exists = true;
		matches += records[i].type == type;
	}
	uint8_t rcode = exists ? 0 : RCODE_NXDOMAIN;
	if (strstr(name, "servfail.test") != NULL) {
		rcode = RCODE_SERVFAIL;
		matches = 0;
	}
	bool soa = rcode != RCODE_SERVFAIL && matches == 0;
	memcpy(reply, query, 2);
	used = 2;
	reply[used++] = (uint8_t)(0x80 | 0x04 | (query[2] & 0x79));
	reply[used++] = (uint8_t)(0x80 | rcode);
	put16(reply, &used, 1);
	put16(reply, &used, (uint16_t)matches);
	put16(reply, &used, soa ? 1 : 0);
	put16(reply, &used, 0);
	memcpy(reply + used, query + 12, question_end - 12);
	used += question_end - 12;
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]) && matches > 0; i++) {
		if (strcmp(records[i].name, name) != 0 || records[i].type != type)
			continue;
		put_name(reply, &used, name);
		put16(reply, &used, type);
		put16(reply, &used, 1);
		put32(reply, &used, POSITIVE_TTL);
		size_t length_at = used;
		used += 2;
		if (type == TYPE_A) {
			inet_pton(AF_INET, records[i].data, reply + used);
			used += 4;
		} else if (type == TYPE_PTR) {
			put_name(reply, &used, records[i].data);
		} else {
			size_t text = strlen(records[i].data);
			reply[used++] = (uint8_t)text;
			memcpy(reply + used, records[i].data, text);
			used += text;
		}
		size_t rdlength = used - length_at - 2;
		reply[length_at] = (uint8_t)(rdlength >> 8);
		reply[length_at + 1] = (uint8_t)rdlength;
	}
	if (soa) {
		put_name(reply, &used, "test");
		put16(reply, &used, TYPE_SOA);
		put16(reply, &used, 1);
		put32(reply, &used, SOA_TTL);
		size_t length_at = used;
		used += 2;
		put_name(reply, &used, "ns.test");
		put_name(reply, &used, "hostmaster.test");
		put32(reply, &used, 1);
		put32(reply, &used, 3600);
		put32(reply, &used, 600);
		put32(reply, &used, 86400);
		put32(reply, &used, SOA_MINIMUM);
		size_t rdlength = used - length_at - 2;
		reply[length_at] = (uint8_t)(rdlength >> 8);
		reply[length_at + 1] = (uint8_t)rdlength;
	}
	return used;
}

static void *
server_main(void *arg)
{
	uint8_t query[PACKET_MAX], reply[PACKET_MAX * 2];

	(void)arg;
	while (!atomic_load(&server.stop)) {
		struct pollfd pfd = { .fd = server.fd, .events = POLLIN };
		if (poll(&pfd, 1, POLL_MS) <= 0)
			continue;
		struct sockaddr_storage peer;
		socklen_t peer_length = sizeof(peer);
		ssize_t got = recvfrom(server.fd, query, sizeof(query), 0,
		    (struct sockaddr *)&peer, &peer_length);
		if (got <= 0)
			continue;
		size_t length = answer(query, (size_t)got, reply);
		if (length > 0)
			sendto(server.fd, reply, length, 0, (struct sockaddr *)&peer, peer_length);
	}
	return NULL;
}

static int
group_setup(void **state)
{
	struct sockaddr_in address;
	socklen_t length = sizeof(address);

	(void)state;
	server.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (server.fd < 0)
		return -1;
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(server.fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
	    getsockname(server.fd, (struct sockaddr *)&address, &length) != 0)
		return -1;
	server.port = ntohs(address.sin_port);
	atomic_store(&server.stop, false);
	return pthread_create(&server.thread, NULL, server_main, NULL) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	atomic_store(&server.stop, true);
	pthread_join(server.thread, NULL);
	close(server.fd);
	return 0;
}

/* ---------------------------------------------------------------- fixture */

struct fixture {
	struct event_base *base;
	struct smtpd_config config;
	struct dnsbl_client *client;
	int calls;
	struct dnsbl_result result;
	char name[NAME_MAX_TEXT];
};

/* fixture_new - zones "zone*weight" (NULL-terminated) and a client bound to the responder. */
static struct fixture *
fixture_new(int threshold, bool fail_closed, ...)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	va_list ap;
	char err[256];

	f->base = event_loop_new();
	snprintf(f->config.dns_server, sizeof(f->config.dns_server), "127.0.0.1:%u",
	    server.port);
	f->config.dnsbl_threshold = threshold;
	f->config.dnsbl_fail_closed = fail_closed;
	va_start(ap, fail_closed);
	for (const char *zone = va_arg(ap, const char *); zone != NULL;
	    zone = va_arg(ap, const char *)) {
		struct smtpd_dnsbl_zone *entry = &f->config.dnsbl[f->config.dnsbl_count++];
		const char *star = strchr(zone, '*');
		size_t length = star != NULL ? (size_t)(star - zone) : strlen(zone);
		snprintf(entry->zone, sizeof(entry->zone), "%.*s", (int)length, zone);
		entry->weight = star != NULL ? atoi(star + 1) : 1;
	}
	va_end(ap);
	f->client = dnsbl_client_new(f->base, &f->config, err, sizeof(err));
	assert_non_null(f->client);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	dnsbl_client_free(f->client);
	event_base_free(f->base);
	free(f);
}

static void
on_check(void *arg, const struct dnsbl_result *result)
{
	struct fixture *f = arg;

	f->calls++;
	f->result = *result;
	event_base_loopbreak(f->base);
}

static void
on_rdns(void *arg, const char *name)
{
	struct fixture *f = arg;

	f->calls++;
	snprintf(f->name, sizeof(f->name), "%s", name);
	event_base_loopbreak(f->base);
}

/* run - the loop until a callback fires (or the guard expires). */
static void
run(struct fixture *f)
{
	struct timeval guard = { .tv_sec = GUARD_SECONDS, .tv_usec = 0 };

	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
}

/* check - one DNSBL check of address, run to completion. */
static void
check(struct fixture *f, const char *address)
{
	struct netaddr client;

	assert_true(netaddr_parse(address, &client));
	int before = f->calls;
	dnsbl_client_check(f->client, &client, on_check, f);
	assert_int_equal(f->calls, before);	/* never from inside the call */
	run(f);
	assert_int_equal(f->calls, before + 1);
}

/* rdns - one reverse-name lookup, run to completion. */
static void
rdns(struct fixture *f, const char *address)
{
	struct netaddr client;

	assert_true(netaddr_parse(address, &client));
	int before = f->calls;
	dnsbl_client_rdns(f->client, &client, on_rdns, f);
	assert_int_equal(f->calls, before);
	run(f);
	assert_int_equal(f->calls, before + 1);
}

/* ---------------------------------------------------------------- DNSBL */

static void
test_listed_client_gets_the_zone_and_a_clean_txt_reason(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);

	(void)state;
	check(f, "127.0.0.2");
	assert_int_equal(f->result.verdict, DNSBL_LISTED);
	assert_int_equal(f->result.score, 1);
	assert_string_equal(f->result.zone, "bl.test");
	/* control bytes of the TXT never reach an SMTP reply */
	assert_string_equal(f->result.reason, LISTED_REASON "???");
	fixture_free(f);
}

static void
test_unlisted_client_passes(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);

	(void)state;
	check(f, "192.0.2.10");
	assert_int_equal(f->result.verdict, DNSBL_PASS);
	assert_int_equal(f->result.listed_zones, 0);
	assert_string_equal(f->result.zone, "");
	fixture_free(f);
}

/* postscreen-style scoring: listed weights add up against the threshold. */
static void
test_weights_add_up_against_the_threshold(void **state)
{
	struct fixture *below = fixture_new(3, false, "bl.test*1", "second.test*1", NULL);
	struct fixture *at = fixture_new(3, false, "bl.test*1", "second.test*2", NULL);

	(void)state;
	check(below, "127.0.0.2");
	assert_int_equal(below->result.verdict, DNSBL_PASS);
	assert_int_equal(below->result.score, 2);
	assert_int_equal(below->result.listed_zones, 2);
	check(at, "127.0.0.2");
	assert_int_equal(at->result.verdict, DNSBL_LISTED);
	assert_int_equal(at->result.score, 3);
	/* the reason shown is the heaviest listing's */
	assert_string_equal(at->result.zone, "second.test");
	fixture_free(below);
	fixture_free(at);
}

static void
test_positive_answers_are_cached(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);

	(void)state;
	check(f, "127.0.0.2");
	int queries = atomic_load(&server.queries);
	check(f, "127.0.0.2");
	assert_int_equal(atomic_load(&server.queries), queries);
	assert_int_equal(f->result.verdict, DNSBL_LISTED);
	assert_string_equal(f->result.reason, LISTED_REASON "???");
	fixture_free(f);
}

/* RFC 2308: NXDOMAIN is cached for min(SOA TTL, SOA MINIMUM). */
static void
test_negative_answers_are_cached(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);

	(void)state;
	check(f, "192.0.2.11");
	assert_int_equal(dnsbl_client_cache_size(f->client), 1);
	int queries = atomic_load(&server.queries);
	check(f, "192.0.2.11");
	assert_int_equal(atomic_load(&server.queries), queries);
	assert_int_equal(f->result.verdict, DNSBL_PASS);
	fixture_free(f);
}

static void
on_address_ttl(void *arg, enum resolver_status status, const struct netaddr *addresses,
    size_t count, unsigned ttl)
{
	unsigned *out = arg;

	(void)addresses;
	(void)count;
	out[0] = (unsigned)status;
	out[1] = ttl;
	out[2] = 1;
}

static void
test_resolver_reports_answer_and_negative_ttls(void **state)
{
	struct event_base *base = event_loop_new();
	char server_text[32], err[128];
	unsigned positive[3] = { 0 }, negative[3] = { 0 };

	(void)state;
	snprintf(server_text, sizeof(server_text), "127.0.0.1:%u", server.port);
	struct resolver *resolver = resolver_new(base, server_text, err, sizeof(err));
	assert_non_null(resolver);
	resolver_query_address_ttl(resolver, "2.0.0.127.bl.test", AF_INET, on_address_ttl,
	    positive);
	resolver_query_address_ttl(resolver, "9.9.9.9.bl.test", AF_INET, on_address_ttl,
	    negative);
	while (!(positive[2] && negative[2]))
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(positive[0], RESOLVER_OK);
	assert_int_equal(positive[1], POSITIVE_TTL);
	assert_int_equal(negative[0], RESOLVER_NXDOMAIN);
	assert_int_equal(negative[1], SOA_MINIMUM);
	resolver_free(resolver);
	event_base_free(base);
}

static void
test_dns_failure_fails_open_by_default(void **state)
{
	struct fixture *f = fixture_new(1, false, "servfail.test", NULL);

	(void)state;
	check(f, "192.0.2.10");
	assert_int_equal(f->result.verdict, DNSBL_PASS);
	assert_int_equal(f->result.failed_zones, 1);
	assert_int_equal(dnsbl_client_cache_size(f->client), 0);
	fixture_free(f);
}

static void
test_dns_failure_fail_closed_is_a_tempfail(void **state)
{
	struct fixture *f = fixture_new(1, true, "servfail.test", NULL);

	(void)state;
	check(f, "192.0.2.10");
	assert_int_equal(f->result.verdict, DNSBL_TEMPFAIL);
	fixture_free(f);
}

/* 127.255.255.x is a list's "you may not ask" code, not a listing. */
static void
test_list_error_codes_are_not_listings(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);

	(void)state;
	check(f, "127.0.0.4");
	assert_int_equal(f->result.verdict, DNSBL_PASS);
	assert_int_equal(f->result.failed_zones, 1);
	fixture_free(f);
}

static void
test_without_zones_the_answer_is_pass(void **state)
{
	struct fixture *f = fixture_new(1, false, NULL);

	(void)state;
	int queries = atomic_load(&server.queries);
	check(f, "127.0.0.2");
	assert_int_equal(f->result.verdict, DNSBL_PASS);
	assert_int_equal(atomic_load(&server.queries), queries);
	fixture_free(f);
}

static void
test_cancelled_lookup_never_calls_back(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);
	struct netaddr client;
	struct timeval wait = { .tv_sec = 1, .tv_usec = 0 };

	(void)state;
	assert_true(netaddr_parse("127.0.0.2", &client));
	struct dnsbl_lookup *lookup = dnsbl_client_check(f->client, &client, on_check, f);
	dnsbl_lookup_cancel(lookup);
	event_base_loopexit(f->base, &wait);
	event_base_dispatch(f->base);
	assert_int_equal(f->calls, 0);
	fixture_free(f);
}

static void
test_freeing_the_client_with_lookups_in_flight_calls_nobody(void **state)
{
	struct fixture *f = fixture_new(1, false, "bl.test", NULL);
	struct netaddr client;

	(void)state;
	assert_true(netaddr_parse("192.0.2.33", &client));
	dnsbl_client_check(f->client, &client, on_check, f);
	dnsbl_client_rdns(f->client, &client, on_rdns, f);
	dnsbl_client_free(f->client);
	f->client = NULL;
	assert_int_equal(f->calls, 0);
	event_base_free(f->base);
	free(f);
}

/* ---------------------------------------------------------------- reverse names */

static void
test_reverse_name_confirmed_by_its_address_is_kept(void **state)
{
	struct fixture *f = fixture_new(1, false, NULL);

	(void)state;
	rdns(f, "192.0.2.20");
	assert_string_equal(f->name, "mail.example.net");
	int queries = atomic_load(&server.queries);
	rdns(f, "192.0.2.20");
	assert_string_equal(f->name, "mail.example.net");
	assert_int_equal(atomic_load(&server.queries), queries);
	fixture_free(f);
}

static void
test_reverse_name_not_confirmed_is_unknown(void **state)
{
	struct fixture *f = fixture_new(1, false, NULL);

	(void)state;
	rdns(f, "192.0.2.21");
	assert_string_equal(f->name, "");
	rdns(f, "192.0.2.22");
	assert_string_equal(f->name, "");
	fixture_free(f);
}

static void
test_loopback_client_is_localhost_without_a_query(void **state)
{
	struct fixture *f = fixture_new(1, false, NULL);

	(void)state;
	int queries = atomic_load(&server.queries);
	rdns(f, "127.0.0.1");
	assert_string_equal(f->name, DNSBL_LOOPBACK_NAME);
	rdns(f, "::1");
	assert_string_equal(f->name, DNSBL_LOOPBACK_NAME);
	assert_int_equal(atomic_load(&server.queries), queries);
	fixture_free(f);
}

/* ---------------------------------------------------------------- pure helpers */

static void
test_query_names_follow_rfc5782(void **state)
{
	struct netaddr address;
	char name[300];

	(void)state;
	assert_true(netaddr_parse("192.0.2.99", &address));
	assert_int_equal(dnsbl_query_name(&address, "bl.example.net", name, sizeof(name)),
	    (int)strlen("99.2.0.192.bl.example.net"));
	assert_string_equal(name, "99.2.0.192.bl.example.net");
	assert_true(netaddr_parse("::ffff:192.0.2.99", &address));
	dnsbl_query_name(&address, "bl.example.net", name, sizeof(name));
	assert_string_equal(name, "99.2.0.192.bl.example.net");
	assert_true(netaddr_parse("2001:db8:1:2:3:4:567:89ab", &address));
	dnsbl_query_name(&address, "bl.example.net", name, sizeof(name));
	assert_string_equal(name, "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2."
	    "bl.example.net");
	assert_int_equal(dnsbl_query_name(&address, "bl.example.net", name, 20), -1);
}

static void
test_reason_clean_keeps_printable_ascii_only(void **state)
{
	char out[16];

	(void)state;
	dnsbl_reason_clean("a\r\nb\x80\tc", out, sizeof(out));
	assert_string_equal(out, "a??b??c");
	dnsbl_reason_clean("0123456789abcdefghij", out, sizeof(out));
	assert_string_equal(out, "0123456789abcde");
}

static void
test_answer_codes(void **state)
{
	struct netaddr address;

	(void)state;
	assert_true(netaddr_parse("127.0.0.2", &address));
	assert_true(dnsbl_answer_lists(&address));
	assert_true(netaddr_parse("127.0.0.10", &address));
	assert_true(dnsbl_answer_lists(&address));
	assert_true(netaddr_parse("127.255.255.254", &address));
	assert_false(dnsbl_answer_lists(&address));
	assert_true(netaddr_parse("198.51.100.1", &address));
	assert_false(dnsbl_answer_lists(&address));
}

/* A hand-made NXDOMAIN: header, question "x.test A", SOA in the authority section with a
 * compressed owner name, TTL 600, MINIMUM 45. */
static void
test_negative_ttl_is_the_smaller_of_soa_ttl_and_minimum(void **state)
{
	uint8_t packet[128];
	size_t used = 0;

	(void)state;
	put16(packet, &used, 0x1234);
	put16(packet, &used, 0x8183);
	put16(packet, &used, 1);
	put16(packet, &used, 0);
	put16(packet, &used, 1);
	put16(packet, &used, 0);
	put_name(packet, &used, "x.test");
	put16(packet, &used, TYPE_A);
	put16(packet, &used, 1);
	put16(packet, &used, 0xc00e);		/* "test" inside the question */
	put16(packet, &used, TYPE_SOA);
	put16(packet, &used, 1);
	put32(packet, &used, 600);
	size_t length_at = used;
	used += 2;
	put_name(packet, &used, "ns.test");
	put16(packet, &used, 0xc00e);
	put32(packet, &used, 1);
	put32(packet, &used, 2);
	put32(packet, &used, 3);
	put32(packet, &used, 4);
	put32(packet, &used, 45);
	packet[length_at] = 0;
	packet[length_at + 1] = (uint8_t)(used - length_at - 2);
	assert_int_equal(resolver_negative_ttl(packet, used), 45);
	/* truncated anywhere: 0, never a read past the end */
	for (size_t cut = 0; cut < used; cut++)
		assert_int_equal(resolver_negative_ttl(packet, cut), 0);
}

int
main(void)
{
	log_init("test_dnsbl_client", LOG_SINK_STDERR, LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed_client_gets_the_zone_and_a_clean_txt_reason),
		cmocka_unit_test(test_unlisted_client_passes),
		cmocka_unit_test(test_weights_add_up_against_the_threshold),
		cmocka_unit_test(test_positive_answers_are_cached),
		cmocka_unit_test(test_negative_answers_are_cached),
		cmocka_unit_test(test_resolver_reports_answer_and_negative_ttls),
		cmocka_unit_test(test_dns_failure_fails_open_by_default),
		cmocka_unit_test(test_dns_failure_fail_closed_is_a_tempfail),
		cmocka_unit_test(test_list_error_codes_are_not_listings),
		cmocka_unit_test(test_without_zones_the_answer_is_pass),
		cmocka_unit_test(test_cancelled_lookup_never_calls_back),
		cmocka_unit_test(test_freeing_the_client_with_lookups_in_flight_calls_nobody),
		cmocka_unit_test(test_reverse_name_confirmed_by_its_address_is_kept),
		cmocka_unit_test(test_reverse_name_not_confirmed_is_unknown),
		cmocka_unit_test(test_loopback_client_is_localhost_without_a_query),
		cmocka_unit_test(test_query_names_follow_rfc5782),
		cmocka_unit_test(test_reason_clean_keeps_printable_ascii_only),
		cmocka_unit_test(test_answer_codes),
		cmocka_unit_test(test_negative_ttl_is_the_smaller_of_soa_ttl_and_minimum),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
