/* metrics.c - per-worker counters, the Prometheus text endpoint and the control socket of
 * `relayguard dnsbl`. Workers only add to their own shard (plain relaxed stores); readers on
 * the main loop sum the shards. Never blocks a worker, never answers DNS. */
#include "dnsbl/metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/hostport.h"
#include "core/log.h"
#include "core/netaddr.h"

/* Response codes counted by name (index), the rest as "other". */
static const uint16_t counted_rcodes[] = { DNS_RCODE_NOERROR, DNS_RCODE_FORMERR,
	DNS_RCODE_SERVFAIL, DNS_RCODE_NXDOMAIN, DNS_RCODE_NOTIMP, DNS_RCODE_REFUSED,
	DNS_RCODE_BADVERS };
#define RCODE_SLOTS (sizeof(counted_rcodes) / sizeof(counted_rcodes[0]) + 1)
/* Query types counted by name, the rest as "other". */
static const uint16_t counted_types[] = { DNS_TYPE_A, DNS_TYPE_NS, DNS_TYPE_CNAME,
	DNS_TYPE_SOA, DNS_TYPE_PTR, DNS_TYPE_MX, DNS_TYPE_TXT, DNS_TYPE_AAAA, DNS_TYPE_IXFR,
	DNS_TYPE_AXFR, DNS_TYPE_ANY, DNS_TYPE_CAA };
#define TYPE_SLOTS (sizeof(counted_types) / sizeof(counted_types[0]) + 1)
static const char *const result_names[ZONE_RESULT_COUNT] = { "listed", "nxdomain", "nodata",
	"apex", "refused", "formerr", "notimp", "badvers", "ignored" };
static const uint64_t latency_bounds_us[METRICS_LATENCY_BUCKETS - 1] =
    METRICS_LATENCY_BOUNDS_US;

#define CACHE_LINE 64
#define NS_PER_US 1000
#define NS_PER_SECOND 1e9
#define US_PER_SECOND 1e6
/* Control socket: longest command line, idle limit, listen backlog. */
#define CONTROL_LINE_MAX 256
#define CONTROL_TIMEOUT_S 10
#define LISTEN_BACKLOG 64
#define CONTROL_SOCKET_MODE 0660

typedef _Atomic uint64_t counter_t;

struct metrics_shard {
	counter_t *by_zone_rcode;	/* (zone_count + 1) x RCODE_SLOTS; row 0: no zone */
	counter_t by_type[TYPE_SLOTS];
	counter_t by_result[ZONE_RESULT_COUNT];
	counter_t latency[METRICS_LATENCY_BUCKETS];
	counter_t latency_sum_ns;
	counter_t truncated;
	counter_t edns;
	counter_t kernel_drops;
	counter_t send_errors;
	counter_t tcp_connections;
	counter_t tcp_refused;
} __attribute__((aligned(CACHE_LINE)));

struct metrics {
	char **zone_names;
	size_t zone_count;
	struct metrics_shard *shards;
	size_t shard_count;
};

/* add - the single writer's increment: no locked instruction needed */
static inline void
add(counter_t *counter, uint64_t amount)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) +
	    amount, memory_order_relaxed);
}

/* read_counter - a reader's look at a counter */
static inline uint64_t
read_counter(counter_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

struct metrics *
metrics_new(const char *const *zone_names, size_t zone_count, size_t shard_count)
{
	struct metrics *metrics = xcalloc(1, sizeof(*metrics));

	metrics->zone_count = zone_count;
	metrics->zone_names = xcalloc(zone_count ? zone_count : 1, sizeof(char *));
	for (size_t i = 0; i < zone_count; i++)
		metrics->zone_names[i] = xstrdup(zone_names[i]);
	metrics->shard_count = shard_count;
	metrics->shards = aligned_alloc(CACHE_LINE, shard_count * sizeof(*metrics->shards));
	if (metrics->shards == NULL)
		fatal("event=out_of_memory what=metrics");
	memset(metrics->shards, 0, shard_count * sizeof(*metrics->shards));
	for (size_t s = 0; s < shard_count; s++)
		metrics->shards[s].by_zone_rcode = xcalloc((zone_count + 1) * RCODE_SLOTS,
		    sizeof(counter_t));
	return metrics;
}

void
metrics_free(struct metrics *metrics)
{
	if (metrics == NULL)
		return;
	for (size_t s = 0; s < metrics->shard_count; s++)
		free(metrics->shards[s].by_zone_rcode);
	free(metrics->shards);
	for (size_t i = 0; i < metrics->zone_count; i++)
		free(metrics->zone_names[i]);
	free(metrics->zone_names);
	free(metrics);
}

struct metrics_shard *
metrics_shard_get(struct metrics *metrics, size_t index)
{
	return &metrics->shards[index];
}

/* rcode_slot - the counter index of an rcode */
static size_t
rcode_slot(uint16_t rcode)
{
	for (size_t i = 0; i < RCODE_SLOTS - 1; i++)
		if (counted_rcodes[i] == rcode)
			return i;
	return RCODE_SLOTS - 1;
}

/* type_slot - the counter index of a query type */
static size_t
type_slot(uint16_t type)
{
	for (size_t i = 0; i < TYPE_SLOTS - 1; i++)
		if (counted_types[i] == type)
			return i;
	return TYPE_SLOTS - 1;
}

void
metrics_count_answer(struct metrics_shard *shard, const struct zone_answer_info *info)
{
	add(&shard->by_result[info->result], 1);
	if (info->result == ZONE_RESULT_IGNORED)
		return;
	/* Row 0 counts queries outside every zone, row z + 1 those of zone z. */
	size_t row = info->zone >= 0 ? (size_t)info->zone + 1 : 0;
	add(&shard->by_zone_rcode[row * RCODE_SLOTS + rcode_slot(info->rcode)], 1);
	add(&shard->by_type[type_slot(info->qtype)], 1);
	if (info->truncated)
		add(&shard->truncated, 1);
	if (info->edns)
		add(&shard->edns, 1);
}

void
metrics_count_latency(struct metrics_shard *shard, uint64_t nanoseconds, size_t queries)
{
	size_t bucket = METRICS_LATENCY_BUCKETS - 1;

	for (size_t i = 0; i < METRICS_LATENCY_BUCKETS - 1; i++) {
		if (nanoseconds <= latency_bounds_us[i] * NS_PER_US) {
			bucket = i;
			break;
		}
	}
	add(&shard->latency[bucket], queries);
	add(&shard->latency_sum_ns, nanoseconds * queries);
}

void
metrics_note_kernel_drops(struct metrics_shard *shard, uint32_t dropped_total)
{
	if (dropped_total > read_counter(&shard->kernel_drops))
		atomic_store_explicit(&shard->kernel_drops, dropped_total, memory_order_relaxed);
}

void
metrics_count_send_error(struct metrics_shard *shard)
{
	add(&shard->send_errors, 1);
}

void
metrics_count_tcp_connection(struct metrics_shard *shard, bool refused)
{
	add(refused ? &shard->tcp_refused : &shard->tcp_connections, 1);
}

uint64_t
metrics_total_queries(struct metrics *metrics)
{
	uint64_t total = 0;

	for (size_t s = 0; s < metrics->shard_count; s++)
		for (size_t r = 0; r < ZONE_RESULT_COUNT; r++)
			if (r != ZONE_RESULT_IGNORED)
				total += read_counter(&metrics->shards[s].by_result[r]);
	return total;
}

/* sum - one field over every shard */
#define SUM(metrics, field, out) do {                                        \
	(out) = 0;                                                           \
	for (size_t s_ = 0; s_ < (metrics)->shard_count; s_++)               \
		(out) += read_counter(&(metrics)->shards[s_].field);         \
} while (0)

/* header - the HELP and TYPE lines of one metric family */
static void
header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* render_queries - the per zone and rcode counter */
static void
render_queries(struct metrics *metrics, struct evbuffer *out)
{
	header(out, "relayguard_dnsbl_queries_total", "counter",
	    "Queries answered, by zone (\"\" outside every zone) and response code.");
	for (size_t row = 0; row <= metrics->zone_count; row++) {
		const char *zone = row == 0 ? "" : metrics->zone_names[row - 1];
		for (size_t r = 0; r < RCODE_SLOTS; r++) {
			uint64_t total = 0;
			for (size_t s = 0; s < metrics->shard_count; s++)
				total += read_counter(&metrics->shards[s].by_zone_rcode[row *
				    RCODE_SLOTS + r]);
			if (total == 0 && !(row > 0 && r == 0))
				continue;	/* keep the output short; always show NOERROR */
			const char *name = r < RCODE_SLOTS - 1 ?
			    dns_rcode_name(counted_rcodes[r]) : "other";
			evbuffer_add_printf(out,
			    "relayguard_dnsbl_queries_total{zone=\"%s\",rcode=\"%s\"} %llu\n", zone,
			    name, (unsigned long long)total);
		}
	}
	header(out, "relayguard_dnsbl_queries_by_type_total", "counter",
	    "Queries answered, by query type.");
	for (size_t t = 0; t < TYPE_SLOTS; t++) {
		uint64_t total;
		SUM(metrics, by_type[t], total);
		evbuffer_add_printf(out, "relayguard_dnsbl_queries_by_type_total{qtype=\"%s\"} "
		    "%llu\n", t < TYPE_SLOTS - 1 ? dns_type_name(counted_types[t]) : "other",
		    (unsigned long long)total);
	}
	header(out, "relayguard_dnsbl_answers_total", "counter",
	    "Packets by what the answer was (listed, nxdomain, nodata, apex, refused, ...).");
	for (size_t r = 0; r < ZONE_RESULT_COUNT; r++) {
		uint64_t total;
		SUM(metrics, by_result[r], total);
		evbuffer_add_printf(out, "relayguard_dnsbl_answers_total{result=\"%s\"} %llu\n",
		    result_names[r], (unsigned long long)total);
	}
}

/* render_latency - the histogram of arrival-to-send times */
static void
render_latency(struct metrics *metrics, struct evbuffer *out)
{
	uint64_t cumulative = 0;
	uint64_t sum_ns;

	header(out, "relayguard_dnsbl_query_duration_seconds", "histogram",
	    "Time from a query's arrival at the socket to its reply being sent.");
	for (size_t b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
		uint64_t count;
		SUM(metrics, latency[b], count);
		cumulative += count;
		if (b < METRICS_LATENCY_BUCKETS - 1)
			evbuffer_add_printf(out, "relayguard_dnsbl_query_duration_seconds_bucket"
			    "{le=\"%g\"} %llu\n", (double)latency_bounds_us[b] / US_PER_SECOND,
			    (unsigned long long)cumulative);
		else
			evbuffer_add_printf(out, "relayguard_dnsbl_query_duration_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
	}
	SUM(metrics, latency_sum_ns, sum_ns);
	evbuffer_add_printf(out, "relayguard_dnsbl_query_duration_seconds_sum %.9f\n"
	    "relayguard_dnsbl_query_duration_seconds_count %llu\n", (double)sum_ns / NS_PER_SECOND,
	    (unsigned long long)cumulative);
}

/* render_counter - one plain counter summed over the shards */
static void
render_counter(struct evbuffer *out, const char *name, const char *help, uint64_t value)
{
	header(out, name, "counter", help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)value);
}

void
metrics_render(struct metrics *metrics, const struct zone_snapshot *snapshot,
    const struct reload_status *status, struct evbuffer *out)
{
	uint64_t value;

	render_queries(metrics, out);
	render_latency(metrics, out);
	SUM(metrics, truncated, value);
	render_counter(out, "relayguard_dnsbl_truncated_total",
	    "UDP replies sent with TC set because the answer did not fit.", value);
	SUM(metrics, edns, value);
	render_counter(out, "relayguard_dnsbl_edns_queries_total", "Queries with an OPT record.",
	    value);
	SUM(metrics, kernel_drops, value);
	render_counter(out, "relayguard_dnsbl_udp_receive_drops_total",
	    "Datagrams the kernel dropped because a socket's receive queue was full.", value);
	SUM(metrics, send_errors, value);
	render_counter(out, "relayguard_dnsbl_send_errors_total", "Replies that could not be sent.",
	    value);
	SUM(metrics, tcp_connections, value);
	render_counter(out, "relayguard_dnsbl_tcp_connections_total", "TCP connections accepted.",
	    value);
	SUM(metrics, tcp_refused, value);
	render_counter(out, "relayguard_dnsbl_tcp_refused_total",
	    "TCP connections closed at once because too many were open.", value);
	if (snapshot != NULL) {
		header(out, "relayguard_dnsbl_zone_entries", "gauge",
		    "Entries (listings and exclusions) served per zone.");
		for (size_t z = 0; z < zone_snapshot_zone_count(snapshot); z++) {
			size_t entries, bytes;
			uint32_t serial;
			zone_snapshot_zone_stats(snapshot, z, &entries, &bytes, &serial);
			evbuffer_add_printf(out, "relayguard_dnsbl_zone_entries{zone=\"%s\"} %zu\n",
			    zone_snapshot_zone_name(snapshot, z), entries);
		}
		header(out, "relayguard_dnsbl_zone_bytes", "gauge",
		    "Bytes of the lookup structures per zone.");
		for (size_t z = 0; z < zone_snapshot_zone_count(snapshot); z++) {
			size_t entries, bytes;
			uint32_t serial;
			zone_snapshot_zone_stats(snapshot, z, &entries, &bytes, &serial);
			evbuffer_add_printf(out, "relayguard_dnsbl_zone_bytes{zone=\"%s\"} %zu\n",
			    zone_snapshot_zone_name(snapshot, z), bytes);
		}
		header(out, "relayguard_dnsbl_zone_serial", "gauge", "SOA serial per zone.");
		for (size_t z = 0; z < zone_snapshot_zone_count(snapshot); z++) {
			size_t entries, bytes;
			uint32_t serial;
			zone_snapshot_zone_stats(snapshot, z, &entries, &bytes, &serial);
			evbuffer_add_printf(out, "relayguard_dnsbl_zone_serial{zone=\"%s\"} %u\n",
			    zone_snapshot_zone_name(snapshot, z), serial);
		}
	}
	header(out, "relayguard_dnsbl_snapshot_generation", "gauge",
	    "Generation of the snapshot being served (1 = as started).");
	evbuffer_add_printf(out, "relayguard_dnsbl_snapshot_generation %llu\n",
	    (unsigned long long)status->generation);
	header(out, "relayguard_dnsbl_dataset_loads_total", "counter",
	    "Dataset loads, by result (a failed load keeps the last good data).");
	evbuffer_add_printf(out, "relayguard_dnsbl_dataset_loads_total{result=\"ok\"} %llu\n"
	    "relayguard_dnsbl_dataset_loads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)status->loads, (unsigned long long)status->failures);
	header(out, "relayguard_dnsbl_last_reload_success_timestamp_seconds", "gauge",
	    "Unix time of the last snapshot swap.");
	evbuffer_add_printf(out, "relayguard_dnsbl_last_reload_success_timestamp_seconds %lld\n",
	    (long long)status->last_success);
}

/* ---- sockets --------------------------------------------------------------------------- */

int
metrics_listen_tcp(const char *address, char *err, size_t err_size)
{
	struct hostport where;
	struct sockaddr_storage storage;
	char reason[256];
	int one = 1;

	if (!hostport_parse(address, &where, reason, sizeof(reason)) || !where.is_address ||
	    where.port == 0) {
		snprintf(err, err_size, "metrics address wants ADDRESS:PORT, not '%s'", address);
		return -1;
	}
	if (!netaddr_is_loopback(&where.address))
		log_warn("event=metrics_not_loopback address=%s detail=\"the metrics endpoint is "
			 "reachable from the network\"", address);
	socklen_t length = netaddr_to_sockaddr(&where.address, where.port, &storage);
	int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "metrics socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&storage, length) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, err_size, "cannot listen on %s for metrics: %s", address,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
metrics_listen_control(const char *path, char *err, size_t err_size)
{
	struct sockaddr_un where;
	struct stat st;

	memset(&where, 0, sizeof(where));
	where.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(where.sun_path)) {
		snprintf(err, err_size, "control socket path too long: %s", path);
		return -1;
	}
	memcpy(where.sun_path, path, strlen(path));
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err_size, "%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "control socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&where, sizeof(where)) != 0 ||
	    chmod(path, CONTROL_SOCKET_MODE) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, err_size, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- service --------------------------------------------------------------------------- */

/* A control connection waiting for its reply. */
struct control_client {
	struct metrics_service *service;
	struct bufferevent *bev;
	uint64_t ticket;		/* reload ticket awaited, 0 = none */
	struct control_client *next;
};

struct metrics_service {
	struct event_base *base;
	struct metrics *metrics;
	struct zone_snapshot_slot *slot;
	struct reload *reload;
	struct evhttp *http;
	struct evconnlistener *control;
	struct event *reload_done;
	struct control_client *clients;
};

/* http_metrics - GET /metrics */
static void
http_metrics(struct evhttp_request *request, void *arg)
{
	struct metrics_service *service = arg;
	struct evbuffer *body = evbuffer_new();
	struct reload_status status;

	if (body == NULL)
		fatal("event=out_of_memory what=metrics_body");
	reload_get_status(service->reload, &status);
	const struct zone_snapshot *snapshot = zone_snapshot_acquire(service->slot);
	metrics_render(service->metrics, snapshot, &status, body);
	zone_snapshot_release(snapshot);
	evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(request, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* http_other - every other path */
static void
http_other(struct evhttp_request *request, void *arg)
{
	(void)arg;
	evhttp_send_error(request, HTTP_NOTFOUND, "try /metrics");
}

/* status_json - the control socket's status line */
static char *
status_json(struct metrics_service *service)
{
	struct reload_status status;
	json_t *root = json_object();
	json_t *zones = json_array();

	reload_get_status(service->reload, &status);
	const struct zone_snapshot *snapshot = zone_snapshot_acquire(service->slot);
	for (size_t z = 0; snapshot != NULL && z < zone_snapshot_zone_count(snapshot); z++) {
		size_t entries, bytes;
		uint32_t serial;
		zone_snapshot_zone_stats(snapshot, z, &entries, &bytes, &serial);
		json_array_append_new(zones, json_pack("{s:s,s:I,s:I,s:I}", "name",
		    zone_snapshot_zone_name(snapshot, z), "entries", (json_int_t)entries, "bytes",
		    (json_int_t)bytes, "serial", (json_int_t)serial));
	}
	zone_snapshot_release(snapshot);
	json_object_set_new(root, "generation", json_integer((json_int_t)status.generation));
	json_object_set_new(root, "zones", zones);
	json_object_set_new(root, "queries",
	    json_integer((json_int_t)metrics_total_queries(service->metrics)));
	json_object_set_new(root, "loads", json_integer((json_int_t)status.loads));
	json_object_set_new(root, "failures", json_integer((json_int_t)status.failures));
	json_object_set_new(root, "last_success", json_integer(status.last_success));
	json_object_set_new(root, "last_failure", json_integer(status.last_failure));
	json_object_set_new(root, "last_error", status.last_error[0] ?
	    json_string(status.last_error) : json_null());
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		fatal("event=out_of_memory what=status_json");
	return text;
}

/* control_forget - unlink a client from the waiting list and free it */
static void
control_forget(struct control_client *client)
{
	struct control_client **link = &client->service->clients;

	while (*link != NULL && *link != client)
		link = &(*link)->next;
	if (*link == client)
		*link = client->next;
	bufferevent_free(client->bev);
	free(client);
}

/* control_written - close once the reply has left */
static void
control_written(struct bufferevent *bev, void *arg)
{
	struct control_client *client = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_forget(client);
}

/* control_reply - send text and a newline, then close */
static void
control_reply(struct control_client *client, const char *text)
{
	bufferevent_disable(client->bev, EV_READ);
	bufferevent_setcb(client->bev, NULL, control_written, NULL, client);
	evbuffer_add_printf(bufferevent_get_output(client->bev), "%s\n", text);
}

/* control_reply_status - the status line as the reply */
static void
control_reply_status(struct control_client *client)
{
	char *text = status_json(client->service);

	control_reply(client, text);
	free(text);
}

/* control_event - error, EOF or timeout on a control connection */
static void
control_event(struct bufferevent *bev, short events, void *arg)
{
	(void)bev;
	(void)events;
	control_forget(arg);
}

/* control_read - one command: status | reload [force] | metrics */
static void
control_read(struct bufferevent *bev, void *arg)
{
	struct control_client *client = arg;
	struct evbuffer *input = bufferevent_get_input(bev);
	size_t length;
	char *line = evbuffer_readln(input, &length, EVBUFFER_EOL_CRLF);

	if (line == NULL) {
		if (evbuffer_get_length(input) > CONTROL_LINE_MAX)
			control_reply(client, "error line too long");
		return;
	}
	log_info("event=control_command command=\"%.32s\"", line);
	if (strcmp(line, "status") == 0) {
		control_reply_status(client);
	} else if (strcmp(line, "reload") == 0 || strcmp(line, "reload force") == 0) {
		client->ticket = reload_request(client->service->reload, line[6] != '\0');
		bufferevent_disable(bev, EV_READ);
	} else if (strcmp(line, "metrics") == 0) {
		struct reload_status status;
		reload_get_status(client->service->reload, &status);
		const struct zone_snapshot *snapshot = zone_snapshot_acquire(client->service->slot);
		bufferevent_disable(bev, EV_READ);
		bufferevent_setcb(bev, NULL, control_written, NULL, client);
		metrics_render(client->service->metrics, snapshot, &status,
		    bufferevent_get_output(bev));
		zone_snapshot_release(snapshot);
	} else {
		control_reply(client, "error unknown command (status, reload, reload force, "
		    "metrics)");
	}
	free(line);
}

/* control_accept - a new control connection */
static void
control_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address,
    int length, void *arg)
{
	struct metrics_service *service = arg;
	struct control_client *client = xcalloc(1, sizeof(*client));
	struct timeval timeout = { CONTROL_TIMEOUT_S, 0 };

	(void)listener;
	(void)address;
	(void)length;
	client->service = service;
	client->bev = bufferevent_socket_new(service->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (client->bev == NULL) {
		close(fd);
		free(client);
		return;
	}
	client->next = service->clients;
	service->clients = client;
	bufferevent_setcb(client->bev, control_read, NULL, control_event, client);
	bufferevent_set_timeouts(client->bev, &timeout, &timeout);
	bufferevent_enable(client->bev, EV_READ);
}

/* reload_finished - the loader ended a round: answer the clients whose reload is done */
static void
reload_finished(evutil_socket_t fd, short events, void *arg)
{
	struct metrics_service *service = arg;
	struct control_client *client = service->clients;

	(void)fd;
	(void)events;
	reload_notify_drain(service->reload);
	while (client != NULL) {
		struct control_client *next = client->next;
		if (client->ticket != 0 && reload_ticket_done(service->reload, client->ticket)) {
			client->ticket = 0;
			control_reply_status(client);
		}
		client = next;
	}
}

struct metrics_service *
metrics_service_new(struct event_base *base, struct metrics *metrics,
    struct zone_snapshot_slot *slot, struct reload *reload, int http_fd, int control_fd)
{
	struct metrics_service *service = xcalloc(1, sizeof(*service));

	service->base = base;
	service->metrics = metrics;
	service->slot = slot;
	service->reload = reload;
	if (http_fd >= 0) {
		service->http = evhttp_new(base);
		if (service->http == NULL || evhttp_accept_socket(service->http, http_fd) != 0)
			fatal("event=metrics_http_failed");
		evhttp_set_allowed_methods(service->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
		evhttp_set_cb(service->http, "/metrics", http_metrics, service);
		evhttp_set_gencb(service->http, http_other, service);
	}
	if (control_fd >= 0) {
		service->control = evconnlistener_new(base, control_accept, service,
		    LEV_OPT_CLOSE_ON_FREE, 0, control_fd);
		if (service->control == NULL)
			fatal("event=control_listener_failed");
	}
	service->reload_done = event_new(base, reload_notify_fd(reload), EV_READ | EV_PERSIST,
	    reload_finished, service);
	if (service->reload_done == NULL || event_add(service->reload_done, NULL) != 0)
		fatal("event=reload_event_failed");
	return service;
}

void
metrics_service_free(struct metrics_service *service)
{
	if (service == NULL)
		return;
	while (service->clients != NULL)
		control_forget(service->clients);
	if (service->http != NULL)
		evhttp_free(service->http);
	if (service->control != NULL)
		evconnlistener_free(service->control);
	event_free(service->reload_done);
	free(service);
}
