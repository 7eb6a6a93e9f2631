/* dns_test_server.c - a tiny UDP DNS responder on 127.0.0.1 (ephemeral port) in a thread,
 * answering from a fixed table; #included by test_resolver.c and test_target.c. Loopback only. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_TEST_TYPE_A 1
#define DNS_TEST_TYPE_PTR 12
#define DNS_TEST_TYPE_MX 15
#define DNS_TEST_TYPE_TXT 16
#define DNS_TEST_TYPE_AAAA 28
#define DNS_TEST_CLASS_IN 1
#define DNS_TEST_RCODE_NOERROR 0
#define DNS_TEST_RCODE_SERVFAIL 2
#define DNS_TEST_RCODE_NXDOMAIN 3
#define DNS_TEST_HEADER_SIZE 12
#define DNS_TEST_PACKET_MAX 1232
#define DNS_TEST_NAME_MAX 256
#define DNS_TEST_LOG_MAX 4096
#define DNS_TEST_POLL_MS 50
#define DNS_TEST_RECEIVE_BUFFER (4 * 1024 * 1024)

/* Names with special behaviour. */
#define DNS_TEST_SILENT_NAME "never.test"		/* never answered: timeouts */
#define DNS_TEST_SERVFAIL_NAME "servfail.test"		/* always SERVFAIL */

/* One record of the table; data is the address text (A/AAAA), the target name (MX, PTR;
 * "" is the root) or character-strings separated by '|' (TXT). */
struct dns_test_record {
	const char *name;
	uint16_t type;
	uint32_t ttl;
	uint16_t preference;
	const char *data;
};

static const struct dns_test_record dns_test_records[] = {
	/* MX 20 listed first on purpose: the resolver must sort. */
	{ "two-mx.test", DNS_TEST_TYPE_MX, 300, 20, "mx2.two-mx.test" },
	{ "two-mx.test", DNS_TEST_TYPE_MX, 300, 10, "mx1.two-mx.test" },
	{ "mx1.two-mx.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.21" },
	{ "mx2.two-mx.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.22" },
	{ "mx2.two-mx.test", DNS_TEST_TYPE_AAAA, 300, 0, "::1" },
	{ "nullmx.test", DNS_TEST_TYPE_MX, 300, 0, "" },
	{ "nomx.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.23" },
	/* Equal preferences: sorted by name. */
	{ "tie.test", DNS_TEST_TYPE_MX, 300, 10, "b.tie.test" },
	{ "tie.test", DNS_TEST_TYPE_MX, 300, 10, "a.tie.test" },
	{ "a.tie.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.31" },
	{ "b.tie.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.32" },
	/* Two MX hosts sharing an address, and one MX host listed twice. */
	{ "dup-mx.test", DNS_TEST_TYPE_MX, 300, 10, "a.dup-mx.test" },
	{ "dup-mx.test", DNS_TEST_TYPE_MX, 300, 20, "b.dup-mx.test" },
	{ "dup-mx.test", DNS_TEST_TYPE_MX, 300, 30, "a.dup-mx.test" },
	{ "a.dup-mx.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.41" },
	{ "b.dup-mx.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.41" },
	{ "b.dup-mx.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.42" },
	/* An MX host that does not exist. */
	{ "noaddr-mx.test", DNS_TEST_TYPE_MX, 300, 10, "ghost.noaddr-mx.test" },
	/* One good MX host, one that never answers. */
	{ "partial.test", DNS_TEST_TYPE_MX, 300, 10, "mx1.two-mx.test" },
	{ "partial.test", DNS_TEST_TYPE_MX, 300, 20, DNS_TEST_SILENT_NAME },
	/* Host with several A records and no AAAA. */
	{ "multi.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.51" },
	{ "multi.test", DNS_TEST_TYPE_A, 300, 0, "127.0.2.52" },
	/* TXT: a record of two character-strings and a plain one, different TTLs. */
	{ "txt.test", DNS_TEST_TYPE_TXT, 600, 0, "v=spf1 |-all" },
	{ "txt.test", DNS_TEST_TYPE_TXT, 120, 0, "listed: see https://example.org/" },
	{ "21.2.0.127.in-addr.arpa", DNS_TEST_TYPE_PTR, 300, 0, "mx1.two-mx.test" },
	{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
	    DNS_TEST_TYPE_PTR, 300, 0, "localhost.test" },
};

struct dns_test_query {
	char name[DNS_TEST_NAME_MAX];
	uint16_t type;
};

struct dns_test_server {
	int fd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	struct dns_test_query log[DNS_TEST_LOG_MAX];
	size_t log_count;
};

/* dns_test_read_name - a question name (no compression in questions) as lower-case text. */
static bool
dns_test_read_name(const uint8_t *packet, size_t length, size_t *offset, char *out,
    size_t out_size)
{
	size_t used = 0;

	while (*offset < length) {
		uint8_t label = packet[(*offset)++];
		if (label == 0) {
			out[used] = '\0';
			return true;
		}
		if (label > 63 || *offset + label > length || used + label + 2 > out_size)
			return false;
		if (used > 0)
			out[used++] = '.';
		for (uint8_t i = 0; i < label; i++)
			out[used++] = (char)tolower(packet[(*offset)++]);
	}
	return false;
}

/* dns_test_put16 / dns_test_put32 - append big-endian integers. */
static void
dns_test_put16(uint8_t *packet, size_t *used, uint16_t value)
{
	packet[(*used)++] = (uint8_t)(value >> 8);
	packet[(*used)++] = (uint8_t)value;
}

static void
dns_test_put32(uint8_t *packet, size_t *used, uint32_t value)
{
	dns_test_put16(packet, used, (uint16_t)(value >> 16));
	dns_test_put16(packet, used, (uint16_t)value);
}

/* dns_test_put_name - append a name in uncompressed wire form ("" is the root). */
static void
dns_test_put_name(uint8_t *packet, size_t *used, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t label = dot != NULL ? (size_t)(dot - name) : strlen(name);
		packet[(*used)++] = (uint8_t)label;
		memcpy(packet + *used, name, label);
		*used += label;
		name += label;
		if (*name == '.')
			name++;
	}
	packet[(*used)++] = 0;
}

/* dns_test_put_rdata - append one record's RDATA with its length. */
static void
dns_test_put_rdata(uint8_t *packet, size_t *used, const struct dns_test_record *record)
{
	size_t length_at = *used;

	*used += 2;
	switch (record->type) {
	case DNS_TEST_TYPE_A:
		inet_pton(AF_INET, record->data, packet + *used);
		*used += 4;
		break;
	case DNS_TEST_TYPE_AAAA:
		inet_pton(AF_INET6, record->data, packet + *used);
		*used += 16;
		break;
	case DNS_TEST_TYPE_MX:
		dns_test_put16(packet, used, record->preference);
		dns_test_put_name(packet, used, record->data);
		break;
	case DNS_TEST_TYPE_PTR:
		dns_test_put_name(packet, used, record->data);
		break;
	case DNS_TEST_TYPE_TXT: {
		const char *piece = record->data;
		for (;;) {
			const char *bar = strchr(piece, '|');
			size_t length = bar != NULL ? (size_t)(bar - piece) : strlen(piece);
			packet[(*used)++] = (uint8_t)length;
			memcpy(packet + *used, piece, length);
			*used += length;
			if (bar == NULL)
				break;
			piece = bar + 1;
		}
		break;
	}
	}
	size_t rdlength = *used - length_at - 2;
	packet[length_at] = (uint8_t)(rdlength >> 8);
	packet[length_at + 1] = (uint8_t)rdlength;
}

/* dns_test_answer - build the reply to one query; 0 means stay silent. */
static size_t
dns_test_answer(struct dns_test_server *server, const uint8_t *query, size_t length,
    uint8_t *reply)
{
	char name[DNS_TEST_NAME_MAX];
	size_t offset = DNS_TEST_HEADER_SIZE;

	if (length < DNS_TEST_HEADER_SIZE || (query[2] & 0x80) != 0)
		return 0;
	if (!dns_test_read_name(query, length, &offset, name, sizeof(name)) ||
	    offset + 4 > length)
		return 0;
	uint16_t type = (uint16_t)(query[offset] << 8 | query[offset + 1]);
	size_t question_end = offset + 4;

	pthread_mutex_lock(&server->lock);
	if (server->log_count < DNS_TEST_LOG_MAX) {
		snprintf(server->log[server->log_count].name, DNS_TEST_NAME_MAX, "%s", name);
		server->log[server->log_count].type = type;
		server->log_count++;
	}
	pthread_mutex_unlock(&server->lock);

	if (strcmp(name, DNS_TEST_SILENT_NAME) == 0)
		return 0;
	bool exists = false;
	size_t matches = 0;
	size_t records = sizeof(dns_test_records) / sizeof(dns_test_records[0]);
	for (size_t i = 0; i < records; i++) {
		if (strcmp(dns_test_records[i].name, name) != 0)
			continue;
		exists = true;
		if (dns_test_records[i].type == type)
			matches++;
	}
	uint8_t rcode = exists ? DNS_TEST_RCODE_NOERROR : DNS_TEST_RCODE_NXDOMAIN;
	if (strcmp(name, DNS_TEST_SERVFAIL_NAME) == 0) {
		rcode = DNS_TEST_RCODE_SERVFAIL;
		matches = 0;
	}

	size_t used = 0;
	memcpy(reply, query, 2);			/* id */
	used = 2;
	reply[used++] = (uint8_t)(0x80 | 0x04 | (query[2] & 0x79));	/* QR, AA, opcode, RD */
	reply[used++] = (uint8_t)(0x80 | rcode);	/* RA, rcode */
	dns_test_put16(reply, &used, 1);
	dns_test_put16(reply, &used, (uint16_t)matches);
	dns_test_put16(reply, &used, 0);
	dns_test_put16(reply, &used, 0);
	memcpy(reply + used, query + DNS_TEST_HEADER_SIZE, question_end - DNS_TEST_HEADER_SIZE);
	used += question_end - DNS_TEST_HEADER_SIZE;
	for (size_t i = 0; i < records && matches > 0; i++) {
		const struct dns_test_record *record = &dns_test_records[i];
		if (strcmp(record->name, name) != 0 || record->type != type)
			continue;
		dns_test_put16(reply, &used, 0xc000 | DNS_TEST_HEADER_SIZE);	/* the qname */
		dns_test_put16(reply, &used, record->type);
		dns_test_put16(reply, &used, DNS_TEST_CLASS_IN);
		dns_test_put32(reply, &used, record->ttl);
		dns_test_put_rdata(reply, &used, record);
	}
	return used;
}

/* dns_test_server_run - the responder thread: answer until told to stop. */
static void *
dns_test_server_run(void *arg)
{
	struct dns_test_server *server = arg;
	uint8_t query[DNS_TEST_PACKET_MAX], reply[DNS_TEST_PACKET_MAX];

	while (!atomic_load(&server->stop)) {
		struct pollfd pfd = { .fd = server->fd, .events = POLLIN };
		if (poll(&pfd, 1, DNS_TEST_POLL_MS) <= 0)
			continue;
		struct sockaddr_storage peer;
		socklen_t peer_length = sizeof(peer);
		ssize_t got = recvfrom(server->fd, query, sizeof(query), 0,
		    (struct sockaddr *)&peer, &peer_length);
		if (got <= 0)
			continue;
		size_t length = dns_test_answer(server, query, (size_t)got, reply);
		if (length > 0)
			sendto(server->fd, reply, length, 0, (struct sockaddr *)&peer,
			    peer_length);
	}
	return NULL;
}

/* dns_test_server_start - bind 127.0.0.1:0 and start answering; false on failure. */
static bool
dns_test_server_start(struct dns_test_server *server)
{
	struct sockaddr_in address;
	socklen_t length = sizeof(address);

	memset(server, 0, sizeof(*server));
	pthread_mutex_init(&server->lock, NULL);
	server->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (server->fd < 0)
		return false;
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	address.sin_port = 0;
	/* Room for a burst of queries (capped by net.core.rmem_max; best effort). */
	int buffer = DNS_TEST_RECEIVE_BUFFER;
	setsockopt(server->fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
	if (bind(server->fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
	    getsockname(server->fd, (struct sockaddr *)&address, &length) != 0) {
		close(server->fd);
		return false;
	}
	server->port = ntohs(address.sin_port);
	atomic_store(&server->stop, false);
	if (pthread_create(&server->thread, NULL, dns_test_server_run, server) != 0) {
		close(server->fd);
		return false;
	}
	return true;
}

/* dns_test_server_stop - stop the thread and close the socket. */
static void
dns_test_server_stop(struct dns_test_server *server)
{
	atomic_store(&server->stop, true);
	pthread_join(server->thread, NULL);
	close(server->fd);
	pthread_mutex_destroy(&server->lock);
}

/* dns_test_server_queries - how many queries for (name, type) arrived so far. */
static size_t __attribute__((unused))
dns_test_server_queries(struct dns_test_server *server, const char *name, uint16_t type)
{
	size_t count = 0;

	pthread_mutex_lock(&server->lock);
	for (size_t i = 0; i < server->log_count; i++) {
		if (server->log[i].type == type && strcmp(server->log[i].name, name) == 0)
			count++;
	}
	pthread_mutex_unlock(&server->lock);
	return count;
}

/* dns_test_server_address - "127.0.0.1:PORT" for resolver_new. */
static void __attribute__((unused))
dns_test_server_address(const struct dns_test_server *server, char *out, size_t out_size)
{
	snprintf(out, out_size, "127.0.0.1:%u", (unsigned)server->port);
}

/* dns_test_server_total_queries - how many queries of any kind arrived so far. */
static size_t __attribute__((unused))
dns_test_server_total_queries(struct dns_test_server *server)
{
	size_t count;

	pthread_mutex_lock(&server->lock);
	count = server->log_count;
	pthread_mutex_unlock(&server->lock);
	return count;
}
