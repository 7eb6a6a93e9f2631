/* receiver.c - the socket half of the --confirm receiver: listener, per-client bufferevents,
 * limits and timeouts around the pure session machine. Started by check_main; never relays. */
#include "check/receiver.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "core/log.h"

#define RECEIVER_READ_CHUNK 4096		/* bytes handed to the session at a time */
#define RECEIVER_OUTPUT_HIGH_WATER 65536	/* stop reading while this much is unsent */
#define RECEIVER_ACCEPT_RETRY_SECONDS 1	/* pause after accept() fails (EMFILE, ...) */
#define RECEIVER_DOMAIN_MAX 253
#define RECEIVER_PEER_MAX (INET6_ADDRSTRLEN + 1)

struct receiver_connection {
	TAILQ_ENTRY(receiver_connection) entry;
	struct receiver *receiver;
	struct bufferevent *bev;
	struct receiver_session *session;
	char peer[RECEIVER_PEER_MAX];
	bool closing;		/* last reply queued: close once it is written */
	bool paused;		/* reading stopped until the client reads our replies */
};

TAILQ_HEAD(receiver_connection_list, receiver_connection);

struct receiver {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *accept_retry;
	char *probe_domain;
	receiver_arrival_fn fn;
	void *arg;
	struct timeval idle_timeout;
	struct receiver_connection_list connections;
	size_t connection_count;
};

/* probe_domain_valid - a plain host name: what we may print in the banner and compare to. */
static bool
probe_domain_valid(const char *domain)
{
	size_t length = strlen(domain);

	if (length == 0 || length > RECEIVER_DOMAIN_MAX + 1)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = domain[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* address_text - the numeric form of a socket address, without the port. */
static void
address_text(const struct sockaddr *address, char *out, size_t out_size)
{
	const void *raw = NULL;

	if (address->sa_family == AF_INET)
		raw = &((const struct sockaddr_in *)address)->sin_addr;
	else if (address->sa_family == AF_INET6)
		raw = &((const struct sockaddr_in6 *)address)->sin6_addr;
	if (raw == NULL || inet_ntop(address->sa_family, raw, out, (socklen_t)out_size) == NULL)
		snprintf(out, out_size, "unknown");
}

/* connection_free - forget one client: its bufferevent (and socket) and its session. */
static void
connection_free(struct receiver_connection *connection)
{
	struct receiver *receiver = connection->receiver;

	TAILQ_REMOVE(&receiver->connections, connection, entry);
	receiver->connection_count--;
	bufferevent_free(connection->bev);
	receiver_session_free(connection->session);
	log_debug("event=receiver_disconnect peer=%s", connection->peer);
	free(connection);
}

/* connection_close_after_flush - stop reading; close when the queued replies are written. */
static void
connection_close_after_flush(struct receiver_connection *connection)
{
	struct evbuffer *input = bufferevent_get_input(connection->bev);

	connection->closing = true;
	evbuffer_drain(input, evbuffer_get_length(input));
	bufferevent_disable(connection->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(connection->bev)) == 0) {
		connection_free(connection);
		return;
	}
	bufferevent_enable(connection->bev, EV_WRITE);
}

/* connection_process - hand buffered input to the session, pausing when the client does not
 * read its replies (pipelining must not make our output grow without bound). */
static void
connection_process(struct receiver_connection *connection)
{
	struct evbuffer *input = bufferevent_get_input(connection->bev);
	struct evbuffer *output = bufferevent_get_output(connection->bev);
	char chunk[RECEIVER_READ_CHUNK];

	while (evbuffer_get_length(input) > 0) {
		if (evbuffer_get_length(output) >= RECEIVER_OUTPUT_HIGH_WATER) {
			connection->paused = true;
			bufferevent_disable(connection->bev, EV_READ);
			return;
		}
		int got = evbuffer_remove(input, chunk, sizeof(chunk));
		if (got <= 0)
			break;
		if (receiver_session_feed(connection->session, chunk, (size_t)got, output) ==
		    RECEIVER_SESSION_CLOSED) {
			connection_close_after_flush(connection);
			return;
		}
	}
}

/* connection_read - bufferevent read callback. */
static void
connection_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	connection_process(arg);
}

/* connection_write - output drained: close if we were closing, else resume reading. */
static void
connection_write(struct bufferevent *bev, void *arg)
{
	struct receiver_connection *connection = arg;

	(void)bev;
	if (connection->closing) {
		connection_free(connection);
		return;
	}
	if (connection->paused) {
		connection->paused = false;
		bufferevent_enable(connection->bev, EV_READ);
		connection_process(connection);
	}
}

/* connection_event - timeout, EOF or socket error. */
static void
connection_event(struct bufferevent *bev, short events, void *arg)
{
	struct receiver_connection *connection = arg;

	(void)bev;
	if ((events & BEV_EVENT_TIMEOUT) && (events & BEV_EVENT_READING) &&
	    !connection->closing) {
		receiver_session_timeout(connection->session, bufferevent_get_output(connection->bev));
		connection_close_after_flush(connection);
		return;
	}
	/* a client that half-closes after pipelining still gets its replies */
	if ((events & BEV_EVENT_EOF) && !connection->closing &&
	    evbuffer_get_length(bufferevent_get_output(connection->bev)) > 0) {
		connection_close_after_flush(connection);
		return;
	}
	if (events & BEV_EVENT_ERROR)
		log_debug("event=receiver_socket_error peer=%s error=\"%s\"", connection->peer,
		    strerror(EVUTIL_SOCKET_ERROR()));
	connection_free(connection);
}

/* refuse_connection - the session limit is reached: one 421 line, best effort, and close. */
static void
refuse_connection(struct receiver *receiver, evutil_socket_t fd, const char *peer)
{
	char reply[RECEIVER_DOMAIN_MAX + 64];
	int length = snprintf(reply, sizeof(reply), "421 4.3.2 %s Error: too many connections\r\n",
	    receiver->probe_domain);

	if (length > 0 && (size_t)length < sizeof(reply) &&
	    send(fd, reply, (size_t)length, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("event=receiver_refuse_send_failed peer=%s", peer);
	evutil_closesocket(fd);
	log_warn("event=receiver_session_limit peer=%s sessions=%zu", peer,
	    receiver->connection_count);
}

/* receiver_accept - evconnlistener callback: one new client. */
static void
receiver_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address,
    int address_length, void *arg)
{
	struct receiver *receiver = arg;
	struct sockaddr_storage local;
	socklen_t local_length = sizeof(local);
	char peer[RECEIVER_PEER_MAX];

	(void)listener;
	(void)address_length;
	address_text(address, peer, sizeof(peer));
	if (receiver->connection_count >= RECEIVER_SESSION_MAX) {
		refuse_connection(receiver, fd, peer);
		return;
	}
	bool has_local = getsockname(fd, (struct sockaddr *)&local, &local_length) == 0;

	struct bufferevent *bev = bufferevent_socket_new(receiver->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warn("event=receiver_bufferevent_failed peer=%s", peer);
		evutil_closesocket(fd);
		return;
	}
	struct receiver_connection *connection = xcalloc(1, sizeof(*connection));
	connection->receiver = receiver;
	connection->bev = bev;
	snprintf(connection->peer, sizeof(connection->peer), "%s", peer);
	connection->session = receiver_session_new(receiver->probe_domain, peer,
	    has_local ? (struct sockaddr *)&local : NULL, receiver->fn, receiver->arg);
	TAILQ_INSERT_TAIL(&receiver->connections, connection, entry);
	receiver->connection_count++;

	bufferevent_setcb(bev, connection_read, connection_write, connection_event, connection);
	bufferevent_set_timeouts(bev, &receiver->idle_timeout, &receiver->idle_timeout);
	receiver_session_greet(connection->session, bufferevent_get_output(bev));
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	log_debug("event=receiver_connect peer=%s sessions=%zu", peer, receiver->connection_count);
}

/* receiver_accept_resume - listen again after an accept() failure pause. */
static void
receiver_accept_resume(evutil_socket_t fd, short events, void *arg)
{
	struct receiver *receiver = arg;

	(void)fd;
	(void)events;
	evconnlistener_enable(receiver->listener);
}

/* receiver_accept_error - accept() failed (out of descriptors, ...): pause instead of spinning. */
static void
receiver_accept_error(struct evconnlistener *listener, void *arg)
{
	struct receiver *receiver = arg;
	struct timeval pause = { RECEIVER_ACCEPT_RETRY_SECONDS, 0 };
	int error = EVUTIL_SOCKET_ERROR();

	log_warn("event=receiver_accept_failed error=\"%s\"", evutil_socket_error_to_string(error));
	evconnlistener_disable(listener);
	evtimer_add(receiver->accept_retry, &pause);
}

/* listen_socket - socket, SO_REUSEADDR, bind, listen; -1 with errno set on failure. */
static int
listen_socket(const struct sockaddr_storage *address, socklen_t address_length)
{
	int one = 1;
	int fd = socket(address->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (address->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)address, address_length) < 0 ||
	    listen(fd, RECEIVER_LISTEN_BACKLOG) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* receiver_start - validate, bind and listen, then accept clients on base. */
struct receiver *
receiver_start(struct event_base *base, const char *listen_address, const char *probe_domain,
    receiver_arrival_fn fn, void *arg, char *err, size_t err_size)
{
	struct sockaddr_storage address;
	socklen_t address_length;

	if (!probe_domain_valid(probe_domain)) {
		snprintf(err, err_size, "invalid probe domain \"%s\"", probe_domain);
		return NULL;
	}
	if (!receiver_listen_address_parse(listen_address, &address, &address_length)) {
		snprintf(err, err_size, "invalid receiver address \"%s\" (want ADDR:PORT or "
		    "[IPV6]:PORT)", listen_address);
		return NULL;
	}
	int fd = listen_socket(&address, address_length);
	if (fd < 0) {
		snprintf(err, err_size, "cannot listen on %s: %s", listen_address, strerror(errno));
		return NULL;
	}

	struct receiver *receiver = xcalloc(1, sizeof(*receiver));
	receiver->base = base;
	receiver->probe_domain = xstrdup(probe_domain);
	receiver->fn = fn;
	receiver->arg = arg;
	receiver->idle_timeout.tv_sec = RECEIVER_IDLE_TIMEOUT_SECONDS;
	TAILQ_INIT(&receiver->connections);
	receiver->accept_retry = evtimer_new(base, receiver_accept_resume, receiver);
	receiver->listener = evconnlistener_new(base, receiver_accept, receiver,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (receiver->accept_retry == NULL || receiver->listener == NULL) {
		snprintf(err, err_size, "cannot listen on %s: event loop setup failed",
		    listen_address);
		if (receiver->listener == NULL)
			close(fd);
		receiver_free(receiver);
		return NULL;
	}
	evconnlistener_set_error_cb(receiver->listener, receiver_accept_error);
	log_info("event=receiver_listening address=%s port=%u probe_domain=%s", listen_address,
	    (unsigned int)receiver_port(receiver), probe_domain);
	return receiver;
}

/* receiver_port - the local port of the listening socket. */
uint16_t
receiver_port(const struct receiver *receiver)
{
	struct sockaddr_storage address;
	socklen_t length = sizeof(address);

	if (receiver == NULL || receiver->listener == NULL)
		return 0;
	if (getsockname(evconnlistener_get_fd(receiver->listener), (struct sockaddr *)&address,
	    &length) < 0)
		return 0;
	if (address.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&address)->sin_port);
	if (address.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
	return 0;
}

/* receiver_set_idle_timeout - idle limit for sessions accepted from now on. */
void
receiver_set_idle_timeout(struct receiver *receiver, const struct timeval *timeout)
{
	receiver->idle_timeout = *timeout;
}

/* receiver_free - close every session, then the listener. */
void
receiver_free(struct receiver *receiver)
{
	struct receiver_connection *connection;

	if (receiver == NULL)
		return;
	while ((connection = TAILQ_FIRST(&receiver->connections)) != NULL)
		connection_free(connection);
	if (receiver->listener != NULL)
		evconnlistener_free(receiver->listener);
	if (receiver->accept_retry != NULL)
		event_free(receiver->accept_retry);
	free(receiver->probe_domain);
	free(receiver);
}
