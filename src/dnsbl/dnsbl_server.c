/* dnsbl_server.c - UDP worker threads and the TCP service of `relayguard dnsbl`.
 * The hot path: recvmmsg 64 datagrams, answer each straight into its send buffer from one
 * snapshot held for the batch, sendmmsg them; no allocation and no lock per query. */
#include "dnsbl/dnsbl_server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "dnsbl/xfr.h"

/* Largest datagram read (queries are small; anything larger is cut and then FORMERR). */
#define UDP_RECEIVE_SIZE 4096
/* Room for the control messages of one datagram: packet info, timestamp, drop count. */
#define UDP_CONTROL_SIZE 192
/* Receive buffer asked for each UDP socket (the kernel may give less). */
#define UDP_SOCKET_BUFFER (4 * 1024 * 1024)
/* How often a worker blocked in recvmmsg looks at the stop flag anyway. */
#define UDP_WAKE_S 1
#define TCP_BACKLOG 1024
/* A TCP client's unread replies beyond this stop reading its queries until they drain. */
#define TCP_OUTPUT_HIGH (256 * 1024)
#define TCP_LENGTH_SIZE 2
#define NS_PER_SECOND 1000000000ULL
#define NS_PER_US 1000ULL
/* Log at most one receive/send error per worker per this many seconds. */
#define ERROR_LOG_INTERVAL_S 10

struct udp_worker {
	struct dnsbl_server *server;
	int fd;
	bool wildcard;			/* bound to 0.0.0.0 or ::: reply from the query's address */
	pthread_t thread;
	bool started;
	struct metrics_shard *shard;
	time_t last_error_log;
	struct mmsghdr receive[DNSBL_UDP_BATCH];
	struct iovec receive_iov[DNSBL_UDP_BATCH];
	struct sockaddr_storage peers[DNSBL_UDP_BATCH];
	uint8_t receive_control[DNSBL_UDP_BATCH][UDP_CONTROL_SIZE];
	struct mmsghdr send[DNSBL_UDP_BATCH];
	struct iovec send_iov[DNSBL_UDP_BATCH];
	uint8_t send_control[DNSBL_UDP_BATCH][UDP_CONTROL_SIZE];
	uint64_t arrival_ns[DNSBL_UDP_BATCH];
	uint8_t *receive_buffers;	/* DNSBL_UDP_BATCH x UDP_RECEIVE_SIZE */
	uint8_t *send_buffers;		/* DNSBL_UDP_BATCH x udp_max */
};

struct tcp_listener {
	int fd;
	struct evconnlistener *listener;
};

struct tcp_client {
	struct dnsbl_server *server;
	struct bufferevent *bev;
	struct tcp_client *previous;
	struct tcp_client *next;
	struct netaddr peer;
	struct xfr_transfer *transfer;	/* a zone transfer being sent; queries wait */
};

struct dnsbl_server {
	struct dnsbl_server_config config;
	struct zone_snapshot_slot *slot;
	struct metrics *metrics;
	atomic_bool stopping;

	struct udp_worker **workers;
	size_t worker_count;
	struct tcp_listener *listeners;
	size_t listener_count;

	struct event_base *base;
	struct tcp_client *clients;
	size_t client_count;
	uint8_t *tcp_query;		/* one query being answered (main thread only) */
	uint8_t *tcp_reply;		/* its reply, after the two length octets */
	struct xfr_service *xfr;	/* AXFR/IXFR for allowed clients; NULL: refused */
};

/* ---- time ------------------------------------------------------------------------------ */

/* realtime_ns - wall clock in nanoseconds (SO_TIMESTAMPNS uses the same clock) */
static uint64_t
realtime_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * NS_PER_SECOND + (uint64_t)now.tv_nsec;
}

/* ---- sockets --------------------------------------------------------------------------- */

/* is_wildcard - 0.0.0.0 or :: */
static bool
is_wildcard(const struct netaddr *address)
{
	size_t width = address->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < width; i++)
		if (address->bytes[i] != 0)
			return false;
	return true;
}

/* open_socket - a socket bound to address:port with the options every listener wants */
static int
open_socket(const struct netaddr *address, uint16_t port, int type, bool reuse_port,
    char *err, size_t err_size)
{
	struct sockaddr_storage storage;
	socklen_t length = netaddr_to_sockaddr(address, port, &storage);
	int one = 1;
	char text[NETADDR_TEXT_MAX];

	netaddr_format(address, text, sizeof(text));
	int fd = socket(storage.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "socket for %s: %s", text, strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR on UDP would let other sockets share the port: TCP only. */
	if (!(type & SOCK_DGRAM))
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		snprintf(err, err_size, "SO_REUSEPORT on %s: %s", text, strerror(errno));
		close(fd);
		return -1;
	}
	if (storage.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&storage, length) != 0) {
		snprintf(err, err_size, "cannot bind %s port %u (%s): %s", text, (unsigned)port,
		    type == SOCK_DGRAM ? "udp" : "tcp", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* udp_socket_options - timestamps, drop counts, packet info for wildcard binds */
static void
udp_socket_options(int fd, const struct netaddr *address, bool wildcard)
{
	int one = 1;
	int buffer = UDP_SOCKET_BUFFER;
	struct timeval wake = { UDP_WAKE_S, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof(wake));
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (!wildcard)
		return;
	if (address->family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
}

size_t
dnsbl_server_workers_default(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (size_t)CPU_COUNT(&set);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return online > 0 ? (size_t)online : 1;
}

size_t
dnsbl_server_shards(const struct dnsbl_server_config *config, size_t listen_count)
{
	return config->workers * listen_count + 1;
}

struct dnsbl_server *
dnsbl_server_new(const struct dnsbl_server_config *config, struct zone_snapshot_slot *slot,
    struct metrics *metrics)
{
	struct dnsbl_server *server = xcalloc(1, sizeof(*server));

	server->config = *config;
	if (server->config.workers == 0)
		server->config.workers = 1;
	if (server->config.udp_max < DNS_UDP_PAYLOAD_MIN)
		server->config.udp_max = DNS_UDP_PAYLOAD_MIN;
	if (server->config.udp_max > DNSBL_UDP_MAX_LIMIT)
		server->config.udp_max = DNSBL_UDP_MAX_LIMIT;
	server->slot = slot;
	server->metrics = metrics;
	atomic_init(&server->stopping, false);
	server->tcp_query = xmalloc(DNS_MESSAGE_MAX);
	server->tcp_reply = xmalloc(TCP_LENGTH_SIZE + DNS_MESSAGE_MAX);
	return server;
}

/* worker_new - the buffers and message headers of one UDP worker */
static struct udp_worker *
worker_new(struct dnsbl_server *server, int fd, bool wildcard)
{
	struct udp_worker *worker = xcalloc(1, sizeof(*worker));

	worker->server = server;
	worker->fd = fd;
	worker->wildcard = wildcard;
	worker->receive_buffers = xmalloc((size_t)DNSBL_UDP_BATCH * UDP_RECEIVE_SIZE);
	worker->send_buffers = xmalloc((size_t)DNSBL_UDP_BATCH * server->config.udp_max);
	for (size_t i = 0; i < DNSBL_UDP_BATCH; i++) {
		worker->receive_iov[i].iov_base = worker->receive_buffers + i * UDP_RECEIVE_SIZE;
		worker->receive_iov[i].iov_len = UDP_RECEIVE_SIZE;
		worker->receive[i].msg_hdr.msg_iov = &worker->receive_iov[i];
		worker->receive[i].msg_hdr.msg_iovlen = 1;
		worker->send[i].msg_hdr.msg_iov = &worker->send_iov[i];
		worker->send[i].msg_hdr.msg_iovlen = 1;
	}
	return worker;
}

bool
dnsbl_server_listen(struct dnsbl_server *server, const struct netaddr *address, uint16_t port,
    char *err, size_t err_size)
{
	bool wildcard = is_wildcard(address);
	size_t first = server->worker_count;

	/* A port already in use by another SO_REUSEPORT group of the same user (a second
	 * instance) would be shared silently: take it alone for a moment first. */
	int probe = open_socket(address, port, SOCK_DGRAM, false, err, err_size);
	if (probe < 0)
		return false;
	close(probe);
	server->workers = xrealloc(server->workers, (server->worker_count +
	    server->config.workers) * sizeof(*server->workers));
	for (size_t i = 0; i < server->config.workers; i++) {
		int fd = open_socket(address, port, SOCK_DGRAM, true, err, err_size);
		if (fd < 0) {
			while (server->worker_count > first) {
				struct udp_worker *worker = server->workers[--server->worker_count];
				close(worker->fd);
				free(worker->receive_buffers);
				free(worker->send_buffers);
				free(worker);
			}
			return false;
		}
		udp_socket_options(fd, address, wildcard);
		server->workers[server->worker_count++] = worker_new(server, fd, wildcard);
	}
	if (!server->config.tcp)
		return true;
	int fd = open_socket(address, port, SOCK_STREAM | SOCK_NONBLOCK, false, err, err_size);
	if (fd < 0)
		return false;
	if (listen(fd, TCP_BACKLOG) != 0) {
		snprintf(err, err_size, "listen on tcp port %u: %s", (unsigned)port,
		    strerror(errno));
		close(fd);
		return false;
	}
	server->listeners = xrealloc(server->listeners, (server->listener_count + 1) *
	    sizeof(*server->listeners));
	server->listeners[server->listener_count].fd = fd;
	server->listeners[server->listener_count].listener = NULL;
	server->listener_count++;
	return true;
}

/* ---- UDP ------------------------------------------------------------------------------- */

/* log_socket_error - a rate-limited warning about a receive or send failure */
static void
log_socket_error(struct udp_worker *worker, const char *what, int error)
{
	time_t now = time(NULL);

	if (now - worker->last_error_log < ERROR_LOG_INTERVAL_S)
		return;
	worker->last_error_log = now;
	log_warn("event=udp_%s_failed error=\"%s\"", what, strerror(error));
}

/* read_control - the arrival time, the kernel's drop count and the address the datagram
 * was sent to (kept as the source of the reply for wildcard binds) */
static void
read_control(struct udp_worker *worker, size_t index, struct msghdr *reply)
{
	struct msghdr *message = &worker->receive[index].msg_hdr;
	size_t reply_control = 0;

	worker->arrival_ns[index] = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(message); c != NULL; c = CMSG_NXTHDR(message, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
			struct timespec stamp;
			memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
			worker->arrival_ns[index] = (uint64_t)stamp.tv_sec * NS_PER_SECOND +
			    (uint64_t)stamp.tv_nsec;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t dropped;
			memcpy(&dropped, CMSG_DATA(c), sizeof(dropped));
			metrics_note_kernel_drops(worker->shard, dropped);
		} else if (worker->wildcard && c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo info;
			memcpy(&info, CMSG_DATA(c), sizeof(info));
			info.ipi_spec_dst = info.ipi_addr;
			info.ipi_ifindex = 0;
			struct cmsghdr *out = (struct cmsghdr *)worker->send_control[index];
			out->cmsg_level = IPPROTO_IP;
			out->cmsg_type = IP_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(info));
			memcpy(CMSG_DATA(out), &info, sizeof(info));
			reply_control = CMSG_SPACE(sizeof(info));
		} else if (worker->wildcard && c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo info;
			memcpy(&info, CMSG_DATA(c), sizeof(info));
			struct cmsghdr *out = (struct cmsghdr *)worker->send_control[index];
			out->cmsg_level = IPPROTO_IPV6;
			out->cmsg_type = IPV6_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(info));
			memcpy(CMSG_DATA(out), &info, sizeof(info));
			reply_control = CMSG_SPACE(sizeof(info));
		}
	}
	reply->msg_control = reply_control ? worker->send_control[index] : NULL;
	reply->msg_controllen = reply_control;
}

/* answer_batch - answer count received datagrams into the send buffers; returns how many
 * replies there are to send */
static size_t
answer_batch(struct udp_worker *worker, size_t count)
{
	struct dnsbl_server *server = worker->server;
	size_t udp_max = server->config.udp_max;
	size_t replies = 0;
	const struct zone_snapshot *snapshot = zone_snapshot_acquire(server->slot);

	for (size_t i = 0; i < count; i++) {
		struct zone_answer_info info;
		struct msghdr *reply = &worker->send[replies].msg_hdr;
		uint8_t *out = worker->send_buffers + replies * udp_max;
		read_control(worker, i, reply);
		size_t length = zone_answer_packet(snapshot, worker->receive_iov[i].iov_base,
		    worker->receive[i].msg_len, false, udp_max, out, udp_max, &info);
		metrics_count_answer(worker->shard, &info);
		if (length == 0)
			continue;
		reply->msg_name = &worker->peers[i];
		reply->msg_namelen = worker->receive[i].msg_hdr.msg_namelen;
		worker->send_iov[replies].iov_base = out;
		worker->send_iov[replies].iov_len = length;
		/* the arrival time travels with the reply for the latency histogram */
		worker->arrival_ns[replies] = worker->arrival_ns[i];
		if (reply->msg_control != NULL && replies != i)
			memcpy(worker->send_control[replies], worker->send_control[i],
			    reply->msg_controllen);
		if (reply->msg_control != NULL)
			reply->msg_control = worker->send_control[replies];
		replies++;
	}
	zone_snapshot_release(snapshot);
	return replies;
}

/* send_batch - send every reply; a reply the kernel refuses is counted and skipped */
static void
send_batch(struct udp_worker *worker, size_t count)
{
	size_t sent = 0;

	while (sent < count) {
		int done = sendmmsg(worker->fd, worker->send + sent, (unsigned)(count - sent), 0);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			log_socket_error(worker, "send", errno);
			metrics_count_send_error(worker->shard);
			sent++;
			continue;
		}
		sent += (size_t)done;
	}
	uint64_t now = realtime_ns();
	for (size_t i = 0; i < count; i++) {
		uint64_t arrival = worker->arrival_ns[i];
		metrics_count_latency(worker->shard, arrival != 0 && now > arrival ?
		    now - arrival : 0, 1);
	}
}

/* monotonic_ns - a clock for the spin budget */
static uint64_t
monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * NS_PER_SECOND + (uint64_t)now.tv_nsec;
}

/* worker_main - receive a batch, answer it, send it; until the server stops. After a
 * batch the worker polls without sleeping for a short while: under load the next
 * datagrams arrive within microseconds, and a sleep and wake-up per datagram costs more
 * CPU than the polls (and keeps batches at one datagram). */
static void *
worker_main(void *arg)
{
	struct udp_worker *worker = arg;
	struct dnsbl_server *server = worker->server;
	uint64_t spin_until = 0;
	uint64_t spin_ns = server->config.spin_us * NS_PER_US;

	while (!atomic_load_explicit(&server->stopping, memory_order_relaxed)) {
		for (size_t i = 0; i < DNSBL_UDP_BATCH; i++) {
			struct msghdr *message = &worker->receive[i].msg_hdr;
			message->msg_name = &worker->peers[i];
			message->msg_namelen = sizeof(worker->peers[i]);
			message->msg_control = worker->receive_control[i];
			message->msg_controllen = UDP_CONTROL_SIZE;
			message->msg_flags = 0;
		}
		bool spinning = spin_ns > 0 && monotonic_ns() < spin_until;
		int count = recvmmsg(worker->fd, worker->receive, DNSBL_UDP_BATCH,
		    spinning ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
		if (count < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_socket_error(worker, "receive", errno);
			continue;
		}
		if (count == 0 || atomic_load_explicit(&server->stopping, memory_order_relaxed))
			continue;
		size_t replies = answer_batch(worker, (size_t)count);
		if (replies > 0)
			send_batch(worker, replies);
		if (spin_ns > 0)
			spin_until = monotonic_ns() + spin_ns;
	}
	return NULL;
}

/* ---- TCP ------------------------------------------------------------------------------- */

/* tcp_client_free - close one TCP connection */
static void
tcp_client_free(struct tcp_client *client)
{
	struct dnsbl_server *server = client->server;

	if (client->previous != NULL)
		client->previous->next = client->next;
	else
		server->clients = client->next;
	if (client->next != NULL)
		client->next->previous = client->previous;
	server->client_count--;
	if (client->transfer != NULL)
		xfr_service_finish(server->xfr, &client->peer, client->transfer, false);
	bufferevent_free(client->bev);
	free(client);
}

/* tcp_transfer_pump - queue transfer messages until the output is full or the transfer
 * is done (then the client's queries are read again) */
static void
tcp_transfer_pump(struct tcp_client *client)
{
	struct dnsbl_server *server = client->server;
	struct evbuffer *output = bufferevent_get_output(client->bev);

	while (evbuffer_get_length(output) < TCP_OUTPUT_HIGH) {
		size_t length = xfr_transfer_next(client->transfer,
		    server->tcp_reply + TCP_LENGTH_SIZE, DNS_MESSAGE_MAX);
		if (length == 0) {
			xfr_service_finish(server->xfr, &client->peer, client->transfer, true);
			client->transfer = NULL;
			bufferevent_enable(client->bev, EV_READ);
			return;
		}
		server->tcp_reply[0] = (uint8_t)(length >> 8);
		server->tcp_reply[1] = (uint8_t)length;
		evbuffer_add(output, server->tcp_reply, TCP_LENGTH_SIZE + length);
	}
}

/* tcp_read - answer every complete length-prefixed query (RFC 7766 pipelining) */
static void
tcp_read(struct bufferevent *bev, void *arg)
{
	struct tcp_client *client = arg;
	struct dnsbl_server *server = client->server;
	struct evbuffer *input = bufferevent_get_input(bev);
	struct evbuffer *output = bufferevent_get_output(bev);
	struct metrics_shard *shard = metrics_shard_get(server->metrics, server->worker_count);
	const struct zone_snapshot *snapshot = NULL;

	for (;;) {
		uint8_t prefix[TCP_LENGTH_SIZE];
		if (client->transfer != NULL)
			break;
		if (evbuffer_get_length(output) > TCP_OUTPUT_HIGH) {
			bufferevent_disable(bev, EV_READ);
			break;
		}
		if (evbuffer_copyout(input, prefix, sizeof(prefix)) < (ev_ssize_t)sizeof(prefix))
			break;
		size_t length = ((size_t)prefix[0] << 8) | prefix[1];
		if (evbuffer_get_length(input) < TCP_LENGTH_SIZE + length)
			break;
		evbuffer_drain(input, TCP_LENGTH_SIZE);
		evbuffer_remove(input, server->tcp_query, length);
		/* AXFR/IXFR from an allowed client go to xfr.c; others are REFUSED below */
		if (server->xfr != NULL && xfr_query_is_transfer(server->tcp_query, length)) {
			client->transfer = xfr_service_begin(server->xfr, &client->peer,
			    server->tcp_query, length);
			if (client->transfer != NULL) {
				bufferevent_disable(bev, EV_READ);
				tcp_transfer_pump(client);
				continue;
			}
		}
		if (snapshot == NULL)
			snapshot = zone_snapshot_acquire(server->slot);
		uint64_t started = realtime_ns();
		struct zone_answer_info info;
		size_t reply = zone_answer_packet(snapshot, server->tcp_query, length, true,
		    server->config.udp_max, server->tcp_reply + TCP_LENGTH_SIZE, DNS_MESSAGE_MAX,
		    &info);
		metrics_count_answer(shard, &info);
		if (reply == 0)
			continue;
		server->tcp_reply[0] = (uint8_t)(reply >> 8);
		server->tcp_reply[1] = (uint8_t)reply;
		evbuffer_add(output, server->tcp_reply, TCP_LENGTH_SIZE + reply);
		metrics_count_latency(shard, realtime_ns() - started, 1);
	}
	zone_snapshot_release(snapshot);
}

/* tcp_written - go on with a transfer, or read again once the replies have drained */
static void
tcp_written(struct bufferevent *bev, void *arg)
{
	struct tcp_client *client = arg;

	if (client->transfer != NULL) {
		tcp_transfer_pump(client);
		/* queries that came while the transfer was sent */
		if (client->transfer == NULL)
			tcp_read(bev, client);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) <= TCP_OUTPUT_HIGH / 2)
		bufferevent_enable(bev, EV_READ);
}

/* tcp_event - EOF, error or idle timeout: close */
static void
tcp_event(struct bufferevent *bev, short events, void *arg)
{
	(void)bev;
	(void)events;
	tcp_client_free(arg);
}

/* tcp_accept - a new TCP client, unless there are too many already */
static void
tcp_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address,
    int length, void *arg)
{
	struct dnsbl_server *server = arg;
	struct metrics_shard *shard = metrics_shard_get(server->metrics, server->worker_count);
	struct timeval idle = { (time_t)server->config.tcp_idle_timeout_s, 0 };

	(void)listener;
	(void)length;
	if (server->client_count >= server->config.tcp_max_clients) {
		metrics_count_tcp_connection(shard, true);
		close(fd);
		return;
	}
	struct tcp_client *client = xcalloc(1, sizeof(*client));
	client->server = server;
	if (!netaddr_from_sockaddr(address, &client->peer, NULL))
		memset(&client->peer, 0, sizeof(client->peer));
	client->bev = bufferevent_socket_new(server->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (client->bev == NULL) {
		close(fd);
		free(client);
		return;
	}
	metrics_count_tcp_connection(shard, false);
	client->next = server->clients;
	if (server->clients != NULL)
		server->clients->previous = client;
	server->clients = client;
	server->client_count++;
	bufferevent_setcb(client->bev, tcp_read, tcp_written, tcp_event, client);
	bufferevent_set_timeouts(client->bev, &idle, &idle);
	bufferevent_enable(client->bev, EV_READ | EV_WRITE);
}

/* ---- life cycle ------------------------------------------------------------------------ */

bool
dnsbl_server_start(struct dnsbl_server *server, struct event_base *base, char *err,
    size_t err_size)
{
	sigset_t all;
	sigset_t previous;

	server->base = base;
	for (size_t i = 0; i < server->listener_count; i++) {
		struct tcp_listener *tcp = &server->listeners[i];
		tcp->listener = evconnlistener_new(base, tcp_accept, server,
		    LEV_OPT_CLOSE_ON_FREE, 0, tcp->fd);
		if (tcp->listener == NULL) {
			snprintf(err, err_size, "cannot accept TCP connections");
			return false;
		}
	}
	/* Workers take no signals: the main loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &previous);
	for (size_t i = 0; i < server->worker_count; i++) {
		struct udp_worker *worker = server->workers[i];
		worker->shard = metrics_shard_get(server->metrics, i);
		int error = pthread_create(&worker->thread, NULL, worker_main, worker);
		if (error != 0) {
			pthread_sigmask(SIG_SETMASK, &previous, NULL);
			snprintf(err, err_size, "cannot start a UDP worker: %s", strerror(error));
			return false;
		}
		worker->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	return true;
}

void
dnsbl_server_stop(struct dnsbl_server *server)
{
	atomic_store(&server->stopping, true);
	for (size_t i = 0; i < server->worker_count; i++)
		shutdown(server->workers[i]->fd, SHUT_RD);	/* wakes a blocked recvmmsg */
	for (size_t i = 0; i < server->worker_count; i++) {
		if (server->workers[i]->started)
			pthread_join(server->workers[i]->thread, NULL);
		server->workers[i]->started = false;
	}
	for (size_t i = 0; i < server->listener_count; i++) {
		if (server->listeners[i].listener != NULL) {
			evconnlistener_free(server->listeners[i].listener);
			server->listeners[i].listener = NULL;
			server->listeners[i].fd = -1;
		}
	}
	while (server->clients != NULL)
		tcp_client_free(server->clients);
}

void
dnsbl_server_free(struct dnsbl_server *server)
{
	if (server == NULL)
		return;
	dnsbl_server_stop(server);
	for (size_t i = 0; i < server->worker_count; i++) {
		struct udp_worker *worker = server->workers[i];
		close(worker->fd);
		free(worker->receive_buffers);
		free(worker->send_buffers);
		free(worker);
	}
	free(server->workers);
	for (size_t i = 0; i < server->listener_count; i++)
		if (server->listeners[i].fd >= 0)
			close(server->listeners[i].fd);
	free(server->listeners);
	free(server->tcp_query);
	free(server->tcp_reply);
	free(server);
}

void
dnsbl_server_set_xfr(struct dnsbl_server *server, struct xfr_service *xfr)
{
	server->xfr = xfr;
}
