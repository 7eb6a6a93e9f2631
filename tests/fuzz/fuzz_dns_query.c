/* fuzz_dns_query.c - libFuzzer harness for the DNS query parser and the DNSBL answer path
 * (dnsbl/dns_packet.h, dnsbl/zone.h): any bytes as a UDP and as a TCP query against a small
 * zone; checks the parser's bounds and that every reply is a well-formed, bounded answer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "dnsbl/dataset.h"
#include "dnsbl/dns_packet.h"
#include "dnsbl/zone.h"

#define SERVER_UDP_MAX 1232
#define ERR_SIZE 256
#define REPLY_BUFFER_SIZE 65536

static const char zone_data[] =
    "$SOA 3600 ns1.relays.bl.test. hostmaster.example.org. 1 3600 600 604800 60\n"
    "$NS 3600 ns1.relays.bl.test. ns2.relays.bl.test.\n"
    ":127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$\n"
    "127.0.0.2\n192.0.2.0/24\n!192.0.2.77\n198.51.100.7 :3:Confirmed $$ relay $\n";
static const char zone6_data[] = ":5:IPv6 relay $\n2001:db8::/32\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* require - stop the fuzzer with a crash when an invariant is broken. */
static void
require(bool condition)
{
	if (!condition)
		abort();
}

/* snapshot - built once: relays.bl.test with IPv4 and IPv6 data */
static const struct zone_snapshot *
snapshot(void)
{
	static struct zone_snapshot *built;
	char err[ERR_SIZE];
	size_t warnings;

	if (built != NULL)
		return built;
	log_init("fuzz_dns_query", LOG_SINK_STDERR, LOG_LEVEL_ERROR);
	struct dataset *four = dataset_load_buffer(DATASET_IP4SET, zone_data, strlen(zone_data),
	    "fuzz", &warnings, err, sizeof(err));
	struct dataset *six = dataset_load_buffer(DATASET_IP6TRIE, zone6_data, strlen(zone6_data),
	    "fuzz6", &warnings, err, sizeof(err));
	require(four != NULL && six != NULL);
	struct zone_data *data[2] = { zone_data_new(four, DATASET_IP4SET),
		zone_data_new(six, DATASET_IP6TRIE) };
	struct zone_defaults defaults;
	memset(&defaults, 0, sizeof(defaults));
	defaults.ttl = 2100;
	defaults.negative_ttl = 60;
	defaults.serial = 1;
	snprintf(defaults.ns[0], sizeof(defaults.ns[0]), "ns.example.org");
	defaults.ns_count = 1;
	struct zone_spec specs[2] = { { "relays.bl.test", data, 2 }, { "bl.test", data, 1 } };
	built = zone_snapshot_build(specs, 2, &defaults, 1, err, sizeof(err));
	require(built != NULL);
	zone_data_unref(data[0]);
	zone_data_unref(data[1]);
	return built;
}

/* check_query - what the parser promises about a parsed query */
static void
check_query(const uint8_t *data, size_t size, const struct dns_query *query,
    enum dns_parse_status status)
{
	if (status != DNS_PARSE_OK && status != DNS_PARSE_BADVERS)
		return;
	require(query->name_length >= 1 && query->name_length <= DNS_NAME_WIRE_MAX);
	require(query->name[query->name_length - 1] == 0);
	require(query->label_count <= DNS_LABELS_MAX);
	require(query->question == data + DNS_HEADER_SIZE);
	require(query->question_length == query->name_length + 4);
	require(DNS_HEADER_SIZE + query->question_length <= size);
	size_t at = 0;
	for (size_t i = 0; i < query->label_count; i++) {
		require(query->labels[i] == at);
		uint8_t length = query->name[at];
		require(length >= 1 && length <= DNS_LABEL_MAX);
		for (size_t j = 1; j <= length; j++)
			require(query->name[at + j] < 'A' || query->name[at + j] > 'Z');
		at += 1 + length;
	}
	require(at == query->name_length - 1);
}

/* check_reply - a reply: bounded, a response to this query, counts that fit its length */
static void
check_reply(const uint8_t *query, size_t query_size, const uint8_t *reply, size_t length,
    size_t limit)
{
	if (length == 0)
		return;
	require(length >= DNS_HEADER_SIZE && length <= limit);
	require(query_size >= DNS_HEADER_SIZE);
	require(reply[0] == query[0] && reply[1] == query[1]);
	require((reply[2] & 0x80) != 0);
	require((reply[2] & 0x78) == (query[2] & 0x78));	/* opcode echoed */
	unsigned records = 0;
	for (size_t i = 6; i < 12; i += 2)
		records += ((unsigned)reply[i] << 8) | reply[i + 1];
	/* every record takes at least 11 octets (OPT) */
	require(DNS_HEADER_SIZE + records * 11 <= length);
	/* a truncated reply carries no answer or authority records */
	if (reply[2] & 0x02)
		require(reply[6] == 0 && reply[7] == 0 && reply[8] == 0 && reply[9] == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[REPLY_BUFFER_SIZE];
	struct dns_query query;
	struct zone_answer_info info;
	const struct zone_snapshot *zones = snapshot();

	enum dns_parse_status status = dns_query_parse(data, size, &query);
	check_query(data, size, &query, status);
	size_t udp = zone_answer_packet(zones, data, size, false, SERVER_UDP_MAX, reply,
	    SERVER_UDP_MAX, &info);
	check_reply(data, size, reply, udp, SERVER_UDP_MAX);
	if (status == DNS_PARSE_OK && !query.edns)
		require(udp <= DNS_UDP_PAYLOAD_MIN);
	require((udp == 0) == (status == DNS_PARSE_IGNORE));
	size_t tcp = zone_answer_packet(zones, data, size, true, SERVER_UDP_MAX, reply,
	    sizeof(reply), &info);
	check_reply(data, size, reply, tcp, DNS_MESSAGE_MAX);
	require((tcp == 0) == (udp == 0));
	return 0;
}
