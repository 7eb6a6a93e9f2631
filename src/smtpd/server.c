/* server.c - listeners, worker threads and per-connection glue of relayguard smtpd: accepts on
 * the main loop, hands sockets to worker loops through an eventfd, runs each session over a
 * bufferevent (plain, STARTTLS or implicit TLS). Never parses client bytes itself. */
#include "smtpd/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "smtpd/dnsbl_client.h"
#include "smtpd/relay_policy.h"
#include "smtpd/session.h"
#include "smtpd/users.h"

/* Buckets of the per-client connection count table (a power of two). */
#define CLIENT_TABLE_BUCKETS 4096
/* Room for a refusal written straight to a socket at accept time. */
#define SERVER_REFUSAL_MAX 512
/* Room for "ADDRESS:PORT" / "[ADDRESS]:PORT" of a listener. */
#define LISTENER_TEXT_MAX (NETADDR_TEXT_MAX + 8)
/* Room for an OpenSSL error string. */
#define TLS_ERROR_MAX 256

struct client_count {
	struct client_count *next;
	struct netaddr address;
	unsigned count;
};

struct server_listener {
	struct smtpd_server *server;
	struct smtpd_listener config;
	int fd;
	struct event *event;
	char text[LISTENER_TEXT_MAX];
};

/* A socket accepted by the main loop, waiting for its worker. */
struct handoff {
	TAILQ_ENTRY(handoff) entry;
	int fd;
	struct netaddr peer;
	uint16_t peer_port;
	const struct server_listener *listener;
};

struct connection;

struct worker {
	struct smtpd_server *server;
	size_t index;
	pthread_t thread;
	bool thread_started;
	struct event_base *base;
	int wakeup_fd;			/* eventfd: handoffs or a stop request wait */
	struct event *wakeup;
	struct event *stop_deadline;
	struct dnsbl_client *dns;
	pthread_mutex_t lock;
	TAILQ_HEAD(, handoff) handoffs;	/* under lock */
	bool stop_requested;		/* under lock */
	bool stopping;			/* worker thread only from here on */
	TAILQ_HEAD(, connection) connections;
	atomic_size_t connection_count;
	uint64_t next_session;
};

struct connection {
	TAILQ_ENTRY(connection) entry;
	struct worker *worker;
	const struct server_listener *listener;
	struct bufferevent *bev;
	struct session *session;
	struct dnsbl_lookup *rdns_lookup;
	struct dnsbl_lookup *dnsbl_lookup;
	struct event *greeting_timer;
	struct event *flush_deadline;
	struct netaddr peer;
	uint64_t read_timeout_ms;	/* the read timeout set on bev now */
	bool greeting_delay_over;
	bool handshake_done;
	bool greeted;
	bool close_requested;		/* the session said: flush and close */
	bool tls_requested;		/* the session said: start TLS */
	bool tls_switch_pending;	/* waiting for the 220 to leave before the switch */
	bool closing;			/* flushing the last replies */
	bool committing;		/* the queue holds a pointer to us */
	bool dead;			/* socket gone while committing */
	bool eof;			/* the client closed its side */
	bool output_blocked;		/* stopped feeding until the output drains */
	char id[32];
	char peer_text[NETADDR_TEXT_MAX];
};

struct smtpd_server {
	const struct smtpd_config *config;
	struct server_listener listeners[SMTPD_LISTENERS_MAX];
	size_t listener_count;
	SSL_CTX *tls;
	struct user_table *users;
	struct relay_policy *policy;
	struct session_settings settings;
	struct queue *queue;
	struct event_base *base;
	struct event *accept_resume;
	struct worker *workers;
	size_t worker_count;
	atomic_size_t connection_count;
	pthread_mutex_t clients_lock;
	struct client_count *clients[CLIENT_TABLE_BUCKETS];
	bool stopping;
};

static bool connection_process(struct connection *conn);
static void connection_free(struct connection *conn);

/* ---- per-client connection counts (shared by the acceptor and the workers) ------------ */

/* client_bucket - hash of an address. */
static size_t
client_bucket(const struct netaddr *address)
{
	uint32_t hash = 2166136261u;

	for (size_t i = 0; i < sizeof(address->bytes); i++) {
		hash ^= address->bytes[i];
		hash *= 16777619u;
	}
	return hash & (CLIENT_TABLE_BUCKETS - 1);
}

/* client_acquire - count one more connection from address; false (nothing counted) when
 * it already has limit. */
static bool
client_acquire(struct smtpd_server *server, const struct netaddr *address, unsigned limit)
{
	size_t bucket = client_bucket(address);
	struct client_count *entry;
	bool ok = true;

	pthread_mutex_lock(&server->clients_lock);
	for (entry = server->clients[bucket]; entry != NULL; entry = entry->next) {
		if (netaddr_equal(&entry->address, address))
			break;
	}
	if (entry == NULL) {
		entry = xcalloc(1, sizeof(*entry));
		entry->address = *address;
		entry->next = server->clients[bucket];
		server->clients[bucket] = entry;
	}
	if (limit > 0 && entry->count >= limit)
		ok = false;
	else
		entry->count++;
	pthread_mutex_unlock(&server->clients_lock);
	return ok;
}

/* client_release - one connection from address fewer. */
static void
client_release(struct smtpd_server *server, const struct netaddr *address)
{
	size_t bucket = client_bucket(address);
	struct client_count **link;

	pthread_mutex_lock(&server->clients_lock);
	for (link = &server->clients[bucket]; *link != NULL; link = &(*link)->next) {
		struct client_count *entry = *link;
		if (!netaddr_equal(&entry->address, address))
			continue;
		if (entry->count > 0)
			entry->count--;
		if (entry->count == 0) {
			*link = entry->next;
			free(entry);
		}
		break;
	}
	pthread_mutex_unlock(&server->clients_lock);
}

/* ---- session effects --------------------------------------------------------------------- */

static void
op_write(void *io, const char *data, size_t length)
{
	struct connection *conn = io;

	if (conn->bev != NULL)
		evbuffer_add(bufferevent_get_output(conn->bev), data, length);
}

static void
op_start_tls(void *io)
{
	struct connection *conn = io;

	conn->tls_requested = true;
}

static void
op_close(void *io)
{
	struct connection *conn = io;

	conn->close_requested = true;
}

static void
op_queue_id_new(void *io, char out[QUEUE_ID_MAX])
{
	struct connection *conn = io;

	queue_id_new(conn->worker->server->queue, out);
}

static void *
op_message_begin(void *io, const struct queue_envelope *envelope, char *err, size_t err_size)
{
	struct connection *conn = io;

	return queue_writer_begin(conn->worker->server->queue, envelope, err, err_size);
}

static bool
op_message_append(void *io, void *message, const char *data, size_t length)
{
	(void)io;
	return queue_writer_append(message, data, length);
}

/* connection_committed - the queue's answer: 250 or 451, then go on with pipelined input. */
static void
connection_committed(void *arg, bool ok, const char *queue_id)
{
	struct connection *conn = arg;

	conn->committing = false;
	if (conn->dead) {
		connection_free(conn);
		return;
	}
	session_commit_done(conn->session, ok, queue_id);
	if (conn->worker->stopping)
		session_shutdown(conn->session);
	connection_process(conn);
}

static void
op_message_commit(void *io, void *message)
{
	struct connection *conn = io;

	conn->committing = true;
	queue_writer_commit(message, connection_committed, conn);
}

static void
op_message_abort(void *io, void *message)
{
	(void)io;
	queue_writer_abort(message);
}

static const struct session_ops connection_ops = {
	.write = op_write,
	.start_tls = op_start_tls,
	.close = op_close,
	.queue_id_new = op_queue_id_new,
	.message_begin = op_message_begin,
	.message_append = op_message_append,
	.message_commit = op_message_commit,
	.message_abort = op_message_abort,
};

/* ---- connections ------------------------------------------------------------------------- */

/* connection_release_lookups - the DNS answers are no longer wanted. */
static void
connection_release_lookups(struct connection *conn)
{
	dnsbl_lookup_cancel(conn->rdns_lookup);
	conn->rdns_lookup = NULL;
	dnsbl_lookup_cancel(conn->dnsbl_lookup);
	conn->dnsbl_lookup = NULL;
}

/* connection_free - close the socket and forget the client; a stopping worker ends its
 * loop with its last connection. */
static void
connection_free(struct connection *conn)
{
	struct worker *worker = conn->worker;
	struct smtpd_server *server = worker->server;

	connection_release_lookups(conn);
	if (conn->greeting_timer != NULL)
		event_free(conn->greeting_timer);
	if (conn->flush_deadline != NULL)
		event_free(conn->flush_deadline);
	if (conn->bev != NULL)
		bufferevent_free(conn->bev);
	log_info("event=disconnect session=%s client=%s messages=%u errors=%u", conn->id,
	    conn->peer_text, session_messages(conn->session), session_errors(conn->session));
	session_free(conn->session);
	TAILQ_REMOVE(&worker->connections, conn, entry);
	atomic_fetch_sub(&worker->connection_count, 1);
	atomic_fetch_sub(&server->connection_count, 1);
	client_release(server, &conn->peer);
	free(conn);
	if (worker->stopping && TAILQ_EMPTY(&worker->connections))
		event_base_loopexit(worker->base, NULL);
}

/* connection_lost - the socket is unusable: free now, or (committing) close the socket and
 * wait for the queue's answer, which must find us. */
static void
connection_lost(struct connection *conn)
{
	if (!conn->committing) {
		connection_free(conn);
		return;
	}
	conn->dead = true;
	connection_release_lookups(conn);
	if (conn->bev != NULL) {
		bufferevent_free(conn->bev);
		conn->bev = NULL;
	}
}

/* connection_flush_deadline_cb - a closing client does not read its last reply. */
static void
connection_flush_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connection_free(arg);
}

/* connection_begin_close - stop reading, flush what is written, then free. Returns false
 * when the connection is already gone. */
static bool
connection_begin_close(struct connection *conn)
{
	if (conn->committing) {
		conn->eof = true;	/* close once the queue has answered */
		return true;
	}
	if (conn->bev == NULL) {
		connection_free(conn);
		return false;
	}
	struct evbuffer *input = bufferevent_get_input(conn->bev);
	evbuffer_drain(input, evbuffer_get_length(input));
	bufferevent_disable(conn->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
		connection_free(conn);
		return false;
	}
	if (!conn->closing) {
		conn->closing = true;
		struct timeval deadline = event_loop_timeval(SERVER_CLOSE_FLUSH_MS);
		conn->flush_deadline = evtimer_new(conn->worker->base,
		    connection_flush_deadline_cb, conn);
		if (conn->flush_deadline == NULL)
			fatal("event=evtimer_new_failed");
		evtimer_add(conn->flush_deadline, &deadline);
	}
	return true;
}

/* connection_set_timeouts - the session's read timeout for its state (unchanged values are
 * not set again: every call re-arms an event). */
static void
connection_set_timeouts(struct connection *conn)
{
	uint64_t read_ms = session_read_timeout_ms(conn->session);

	if (conn->bev == NULL || read_ms == conn->read_timeout_ms)
		return;
	conn->read_timeout_ms = read_ms;
	struct timeval read_timeout = event_loop_timeval(read_ms);
	struct timeval write_timeout = event_loop_timeval(conn->worker->server->config->
	    command_timeout_ms);
	bufferevent_set_timeouts(conn->bev, read_ms > 0 ? &read_timeout : NULL, &write_timeout);
}

static void connection_read_cb(struct bufferevent *bev, void *arg);
static void connection_write_cb(struct bufferevent *bev, void *arg);
static void connection_event_cb(struct bufferevent *bev, short events, void *arg);

/* connection_attach - callbacks, watermarks and timeouts of a new bufferevent. */
static void
connection_attach(struct connection *conn, struct bufferevent *bev)
{
	conn->bev = bev;
	bufferevent_setcb(bev, connection_read_cb, connection_write_cb, connection_event_cb,
	    conn);
	bufferevent_setwatermark(bev, EV_READ, 0, SERVER_INPUT_HIGH);
	conn->read_timeout_ms = UINT64_MAX;
	connection_set_timeouts(conn);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* connection_switch_tls - the 220 has left: the same socket under OpenSSL (RFC 3207). */
static bool
connection_switch_tls(struct connection *conn)
{
	struct smtpd_server *server = conn->worker->server;
	evutil_socket_t fd = bufferevent_getfd(conn->bev);

	/* Detach the socket so that freeing the plaintext bufferevent does not close it. */
	bufferevent_setfd(conn->bev, -1);
	bufferevent_free(conn->bev);
	conn->bev = NULL;
	SSL *ssl = SSL_new(server->tls);
	struct bufferevent *bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(
	    conn->worker->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_error("event=tls_setup_failed session=%s client=%s", conn->id,
		    conn->peer_text);
		if (ssl != NULL)
			SSL_free(ssl);
		close(fd);
		connection_lost(conn);
		return false;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	conn->handshake_done = false;
	connection_attach(conn, bev);
	return true;
}

/* connection_start_tls - drop every plaintext byte received after STARTTLS (the command
 * injection of CVE-2011-0411 and friends), then switch once the 220 is out. */
static bool
connection_start_tls(struct connection *conn)
{
	struct evbuffer *input = bufferevent_get_input(conn->bev);
	size_t dropped = evbuffer_get_length(input);

	if (dropped > 0)
		log_info("event=starttls_plaintext_dropped session=%s client=%s bytes=%zu",
		    conn->id, conn->peer_text, dropped);
	evbuffer_drain(input, dropped);
	bufferevent_disable(conn->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0) {
		conn->tls_switch_pending = true;
		return true;
	}
	return connection_switch_tls(conn);
}

/* connection_settle - carry out what the session asked for; false when conn is gone. */
static bool
connection_settle(struct connection *conn)
{
	if (conn->dead)
		return true;
	if (conn->close_requested)
		return connection_begin_close(conn);
	if (conn->tls_requested) {
		conn->tls_requested = false;
		return connection_start_tls(conn);
	}
	if (conn->eof && !session_is_waiting(conn->session))
		return connection_begin_close(conn);
	connection_set_timeouts(conn);
	return true;
}

/* connection_process - feed the buffered input to the session, chunk by chunk, while it
 * takes input and the client reads its replies. false when conn is gone. */
static bool
connection_process(struct connection *conn)
{
	if (conn->dead || conn->closing || conn->tls_switch_pending || conn->bev == NULL)
		return true;
	struct evbuffer *input = bufferevent_get_input(conn->bev);
	struct evbuffer *output = bufferevent_get_output(conn->bev);
	while (evbuffer_get_length(input) > 0 && !session_is_waiting(conn->session) &&
	    !conn->close_requested && !conn->tls_requested) {
		if (evbuffer_get_length(output) >= SERVER_OUTPUT_HIGH) {
			conn->output_blocked = true;
			break;
		}
		struct evbuffer_iovec chunk;
		if (evbuffer_peek(input, -1, NULL, &chunk, 1) < 1)
			break;
		size_t used = session_feed(conn->session, chunk.iov_base, chunk.iov_len);
		evbuffer_drain(input, used);
		if (used == 0)
			break;
	}
	return connection_settle(conn);
}

/* connection_greet - the banner once the greeting delay is over and TLS (smtps) is up. */
static bool
connection_greet(struct connection *conn)
{
	if (conn->greeted || !conn->greeting_delay_over || !conn->handshake_done)
		return true;
	conn->greeted = true;
	session_greet(conn->session);
	return connection_process(conn);
}

static void
connection_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	connection_process(arg);
}

/* connection_write_cb - the output drained: close, switch to TLS, or feed again. */
static void
connection_write_cb(struct bufferevent *bev, void *arg)
{
	struct connection *conn = arg;

	(void)bev;
	if (conn->closing) {
		connection_free(conn);
		return;
	}
	if (conn->tls_switch_pending) {
		conn->tls_switch_pending = false;
		connection_switch_tls(conn);
		return;
	}
	if (conn->output_blocked) {
		conn->output_blocked = false;
		connection_process(conn);
	}
}

/* connection_log_tls_error - why a handshake or TLS stream failed. */
static void
connection_log_tls_error(struct connection *conn)
{
	char reason[TLS_ERROR_MAX] = "closed";
	unsigned long code = bufferevent_get_openssl_error(conn->bev);

	if (code != 0)
		ERR_error_string_n(code, reason, sizeof(reason));
	log_info("event=tls_failed session=%s client=%s reason=\"%s\"", conn->id,
	    conn->peer_text, reason);
}

/* connection_event_cb - handshake done, timeout, end of file or error. */
static void
connection_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct connection *conn = arg;

	if (events & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		conn->handshake_done = true;
		session_tls_started(conn->session, ssl != NULL ? SSL_get_version(ssl) : "",
		    ssl != NULL ? SSL_get_cipher_name(ssl) : "");
		if (!connection_settle(conn))
			return;
		if (!conn->greeted)
			connection_greet(conn);
		else
			connection_process(conn);
		return;
	}
	if (events & BEV_EVENT_TIMEOUT) {
		if ((events & BEV_EVENT_READING) && !conn->closing && conn->handshake_done) {
			session_timeout(conn->session);
			connection_settle(conn);
			return;
		}
		log_info("event=timeout session=%s client=%s state=%s", conn->id,
		    conn->peer_text, conn->handshake_done ? "writing" : "tls_handshake");
		connection_lost(conn);
		return;
	}
	if ((events & BEV_EVENT_EOF) && conn->handshake_done && !conn->closing) {
		/* Half-closed: replies to what was read still go out. */
		conn->eof = true;
		connection_process(conn);
		return;
	}
	if (!conn->handshake_done || (events & BEV_EVENT_ERROR)) {
		if (bufferevent_openssl_get_ssl(bev) != NULL)
			connection_log_tls_error(conn);
	}
	connection_lost(conn);
}

/* connection_greeting_cb - the greeting delay is over. */
static void
connection_greeting_cb(evutil_socket_t fd, short what, void *arg)
{
	struct connection *conn = arg;

	(void)fd;
	(void)what;
	conn->greeting_delay_over = true;
	connection_greet(conn);
}

/* connection_rdns_done - the verified reverse name arrived. */
static void
connection_rdns_done(void *arg, const char *name)
{
	struct connection *conn = arg;

	conn->rdns_lookup = NULL;
	session_set_rdns(conn->session, name);
	connection_process(conn);
}

/* connection_dnsbl_done - the DNSBL verdict arrived. */
static void
connection_dnsbl_done(void *arg, const struct dnsbl_result *result)
{
	struct connection *conn = arg;

	conn->dnsbl_lookup = NULL;
	session_set_dnsbl(conn->session, result);
	connection_process(conn);
}

/* connection_new - a session for an accepted socket, on the worker's loop. */
static void
connection_new(struct worker *worker, const struct handoff *handoff)
{
	struct smtpd_server *server = worker->server;
	const struct smtpd_config *config = server->config;
	const struct server_listener *listener = handoff->listener;
	struct connection *conn = xcalloc(1, sizeof(*conn));
	struct bufferevent *bev;
	SSL *ssl = NULL;

	conn->worker = worker;
	conn->listener = listener;
	conn->peer = handoff->peer;
	netaddr_format(&conn->peer, conn->peer_text, sizeof(conn->peer_text));
	snprintf(conn->id, sizeof(conn->id), "%zx.%llx", worker->index,
	    (unsigned long long)++worker->next_session);
	/* worker->connection_count was raised by the acceptor already. */
	TAILQ_INSERT_TAIL(&worker->connections, conn, entry);

	if (listener->config.mode == LISTENER_SMTPS) {
		ssl = SSL_new(server->tls);
		bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(worker->base,
		    handoff->fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(worker->base, handoff->fd, BEV_OPT_CLOSE_ON_FREE);
		conn->handshake_done = true;
	}
	struct session_client client = {
		.address = handoff->peer,
		.port = handoff->peer_port,
		.mode = listener->config.mode,
		.id = conn->id,
	};
	struct sockaddr_storage local;
	socklen_t local_length = sizeof(local);
	if (getsockname(handoff->fd, (struct sockaddr *)&local, &local_length) == 0 &&
	    netaddr_from_sockaddr((struct sockaddr *)&local, &client.local_address,
	    &client.local_port))
		netaddr_unmap(&client.local_address);
	conn->session = session_new(&server->settings, &client, &connection_ops, conn);
	if (bev == NULL) {
		log_error("event=connection_setup_failed session=%s client=%s", conn->id,
		    conn->peer_text);
		if (ssl != NULL)
			SSL_free(ssl);
		close(handoff->fd);
		connection_free(conn);
		return;
	}
	log_info("event=connect session=%s client=%s port=%u listener=%s mode=%s", conn->id,
	    conn->peer_text, handoff->peer_port, listener->text,
	    listener->config.mode == LISTENER_SMTPS ? "smtps" :
	    listener->config.mode == LISTENER_SUBMISSION ? "submission" : "smtp");
	connection_attach(conn, bev);

	conn->rdns_lookup = dnsbl_client_rdns(worker->dns, &conn->peer, connection_rdns_done,
	    conn);
	if (config->dnsbl_count > 0) {
		conn->dnsbl_lookup = dnsbl_client_check(worker->dns, &conn->peer,
		    connection_dnsbl_done, conn);
	} else {
		struct dnsbl_result pass;
		memset(&pass, 0, sizeof(pass));
		pass.verdict = DNSBL_PASS;
		session_set_dnsbl(conn->session, &pass);
	}
	if (config->greeting_delay_ms > 0) {
		struct timeval delay = event_loop_timeval(config->greeting_delay_ms);
		conn->greeting_timer = evtimer_new(worker->base, connection_greeting_cb, conn);
		if (conn->greeting_timer == NULL)
			fatal("event=evtimer_new_failed");
		evtimer_add(conn->greeting_timer, &delay);
	} else {
		conn->greeting_delay_over = true;
	}
	connection_greet(conn);
}

/* ---- workers ----------------------------------------------------------------------------- */

/* worker_stop_deadline_cb - sessions did not finish in time: end the loop anyway. */
static void
worker_stop_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *worker = arg;

	(void)fd;
	(void)what;
	log_warn("event=worker_stop_forced worker=%zu sessions=%zu", worker->index,
	    atomic_load(&worker->connection_count));
	event_base_loopbreak(worker->base);
}

/* worker_begin_stop - 421 to every session not committing; end when the last one goes. */
static void
worker_begin_stop(struct worker *worker)
{
	struct connection *conn, *next;

	worker->stopping = true;
	struct timeval grace = event_loop_timeval(SERVER_STOP_GRACE_MS);
	worker->stop_deadline = evtimer_new(worker->base, worker_stop_deadline_cb, worker);
	if (worker->stop_deadline == NULL)
		fatal("event=evtimer_new_failed");
	evtimer_add(worker->stop_deadline, &grace);
	if (TAILQ_EMPTY(&worker->connections)) {
		event_base_loopexit(worker->base, NULL);
		return;
	}
	for (conn = TAILQ_FIRST(&worker->connections); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		if (conn->dead || conn->closing)
			continue;
		session_shutdown(conn->session);
		connection_settle(conn);
	}
}

/* worker_wakeup_cb - new sockets or a stop request from the main thread. */
static void
worker_wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *worker = arg;
	uint64_t count;
	TAILQ_HEAD(, handoff) ready = TAILQ_HEAD_INITIALIZER(ready);
	struct handoff *handoff;

	(void)what;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("event=worker_wakeup_read_failed worker=%zu error=\"%s\"", worker->index,
		    strerror(errno));
	pthread_mutex_lock(&worker->lock);
	TAILQ_CONCAT(&ready, &worker->handoffs, entry);
	bool stop = worker->stop_requested;
	pthread_mutex_unlock(&worker->lock);
	while ((handoff = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, handoff, entry);
		if (worker->stopping || stop) {
			close(handoff->fd);
			client_release(worker->server, &handoff->peer);
			atomic_fetch_sub(&worker->connection_count, 1);
			atomic_fetch_sub(&worker->server->connection_count, 1);
		} else {
			connection_new(worker, handoff);
		}
		free(handoff);
	}
	if (stop && !worker->stopping)
		worker_begin_stop(worker);
}

/* worker_notify - wake a worker's loop from another thread. */
static void
worker_notify(struct worker *worker)
{
	uint64_t one = 1;

	if (write(worker->wakeup_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=worker_wakeup_write_failed worker=%zu error=\"%s\"",
		    worker->index, strerror(errno));
}

/* worker_main - the worker thread: attach to the queue, run the loop until stopped. */
static void *
worker_main(void *arg)
{
	struct worker *worker = arg;
	char err[256];

	if (!queue_attach_loop(worker->server->queue, worker->base, err, sizeof(err)))
		fatal("event=queue_attach_failed worker=%zu reason=\"%s\"", worker->index, err);
	event_base_dispatch(worker->base);
	return NULL;
}

/* ---- accepting ----------------------------------------------------------------------------- */

/* server_refuse - a one-line 421 written straight to a new socket, then close. The client
 * has not spoken yet, so the reply fits the empty send buffer and close() sends a FIN. */
static void
server_refuse(int fd, const char *reply)
{
	ssize_t written = send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)written;
	close(fd);
}

/* server_pick_worker - the worker with the fewest sessions. */
static struct worker *
server_pick_worker(struct smtpd_server *server)
{
	struct worker *best = &server->workers[0];
	size_t best_count = atomic_load(&best->connection_count);

	for (size_t i = 1; i < server->worker_count; i++) {
		size_t count = atomic_load(&server->workers[i].connection_count);
		if (count < best_count) {
			best = &server->workers[i];
			best_count = count;
		}
	}
	return best;
}

/* server_accept_one - limits, then hand the socket to a worker. */
static void
server_accept_one(struct server_listener *listener, int fd, const struct sockaddr *address)
{
	struct smtpd_server *server = listener->server;
	const struct smtpd_config *config = server->config;
	struct netaddr peer;
	uint16_t port = 0;
	char reply[SERVER_REFUSAL_MAX];
	char text[NETADDR_TEXT_MAX];
	int one = 1;

	if (!netaddr_from_sockaddr(address, &peer, &port)) {
		close(fd);
		return;
	}
	netaddr_unmap(&peer);
	netaddr_format(&peer, text, sizeof(text));
	if (atomic_load(&server->connection_count) >= config->max_connections) {
		log_info("event=reject client=%s reason=too_many_connections limit=%u", text,
		    config->max_connections);
		snprintf(reply, sizeof(reply), "421 4.7.0 %s Error: too many connections\r\n",
		    config->hostname);
		server_refuse(fd, reply);
		return;
	}
	/* Trusted networks are exempt, as Postfix exempts $mynetworks from anvil limits. */
	bool trusted = netprefix_set_find(&config->relay_clients, &peer) != NULL;
	if (!client_acquire(server, &peer, trusted ? 0 : config->max_connections_per_client)) {
		log_info("event=reject client=%s reason=too_many_connections_from_client limit=%u",
		    text, config->max_connections_per_client);
		snprintf(reply, sizeof(reply), "421 4.7.0 %s Error: too many connections from %s\r\n",
		    config->hostname, text);
		server_refuse(fd, reply);
		return;
	}
	atomic_fetch_add(&server->connection_count, 1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct handoff *handoff = xcalloc(1, sizeof(*handoff));
	handoff->fd = fd;
	handoff->peer = peer;
	handoff->peer_port = port;
	handoff->listener = listener;
	struct worker *worker = server_pick_worker(server);
	/* Counted now so that the next pick in this batch sees it. */
	atomic_fetch_add(&worker->connection_count, 1);
	pthread_mutex_lock(&worker->lock);
	TAILQ_INSERT_TAIL(&worker->handoffs, handoff, entry);
	pthread_mutex_unlock(&worker->lock);
	worker_notify(worker);
}

/* server_accept_resume_cb - descriptors may be free again. */
static void
server_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_server *server = arg;

	(void)fd;
	(void)what;
	if (server->stopping)
		return;
	for (size_t i = 0; i < server->listener_count; i++)
		event_add(server->listeners[i].event, NULL);
}

/* server_accept_pause - out of descriptors: stop accepting for a moment instead of
 * spinning on a listener that stays readable. */
static void
server_accept_pause(struct smtpd_server *server)
{
	struct timeval pause = event_loop_timeval(SERVER_ACCEPT_PAUSE_MS);

	for (size_t i = 0; i < server->listener_count; i++)
		event_del(server->listeners[i].event);
	evtimer_add(server->accept_resume, &pause);
}

/* server_accept_cb - accept until EAGAIN (or a batch), never blocking. */
static void
server_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_listener *listener = arg;

	(void)what;
	for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage address;
		socklen_t length = sizeof(address);
		int client = accept4(fd, (struct sockaddr *)&address, &length,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (client >= 0) {
			server_accept_one(listener, client, (struct sockaddr *)&address);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("event=accept_paused listener=%s error=\"%s\"", listener->text,
			    strerror(errno));
			server_accept_pause(listener->server);
			return;
		}
		log_warn("event=accept_failed listener=%s error=\"%s\"", listener->text,
		    strerror(errno));
		return;
	}
}

/* ---- setup ------------------------------------------------------------------------------- */

/* server_error - format a message into err. */
static void __attribute__((format(printf, 3, 4)))
server_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* listener_open - socket, options, bind, listen. */
static bool
listener_open(struct server_listener *listener, char *err, size_t err_size)
{
	struct sockaddr_storage address;
	socklen_t length = netaddr_to_sockaddr(&listener->config.address, listener->config.port,
	    &address);
	int one = 1;

	if (length == 0) {
		server_error(err, err_size, "listener %s: bad address", listener->text);
		return false;
	}
	int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		server_error(err, err_size, "listener %s: socket: %s", listener->text,
		    strerror(errno));
		return false;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* An IPv6 listener takes IPv6 only: an IPv4 client must meet the IPv4 rules. */
	if (address.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&address, length) != 0) {
		server_error(err, err_size, "listener %s: bind: %s", listener->text,
		    strerror(errno));
		close(fd);
		return false;
	}
	if (listen(fd, SERVER_LISTEN_BACKLOG) != 0) {
		server_error(err, err_size, "listener %s: listen: %s", listener->text,
		    strerror(errno));
		close(fd);
		return false;
	}
	listener->fd = fd;
	return true;
}

/* server_tls_context - the server context from tls_cert and tls_key (TLS 1.2 or newer). */
static SSL_CTX *
server_tls_context(const struct smtpd_config *config, char *err, size_t err_size)
{
	char reason[TLS_ERROR_MAX];
	SSL_CTX *context = SSL_CTX_new(TLS_server_method());

	if (context == NULL) {
		server_error(err, err_size, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
	SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(context, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(context, config->tls_cert) != 1) {
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		server_error(err, err_size, "tls_cert %s: %s", config->tls_cert, reason);
		SSL_CTX_free(context);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(context, config->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(context) != 1) {
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		server_error(err, err_size, "tls_key %s: %s", config->tls_key, reason);
		SSL_CTX_free(context);
		return NULL;
	}
	return context;
}

/* smtpd_server_new - listeners, TLS, users and policy, while we still hold privileges. */
struct smtpd_server *
smtpd_server_new(const struct smtpd_config *config, char *err, size_t err_size)
{
	struct smtpd_server *server = xcalloc(1, sizeof(*server));
	struct netaddr own[SMTPD_LISTENERS_MAX];

	server->config = config;
	pthread_mutex_init(&server->clients_lock, NULL);
	for (size_t i = 0; i < config->listener_count; i++) {
		struct server_listener *listener = &server->listeners[i];
		char address[NETADDR_TEXT_MAX];
		listener->server = server;
		listener->config = config->listeners[i];
		listener->fd = -1;
		netaddr_format(&listener->config.address, address, sizeof(address));
		snprintf(listener->text, sizeof(listener->text),
		    listener->config.address.family == AF_INET6 ? "[%s]:%u" : "%s:%u", address,
		    listener->config.port);
		own[i] = listener->config.address;
		server->listener_count = i + 1;
		if (!listener_open(listener, err, err_size))
			goto fail;
	}
	bool need_tls = false;
	for (size_t i = 0; i < config->listener_count; i++)
		need_tls |= config->listeners[i].mode == LISTENER_SMTPS;
	if (config->tls_cert[0] != '\0' || config->tls_key[0] != '\0' || need_tls) {
		if (config->tls_cert[0] == '\0' || config->tls_key[0] == '\0') {
			server_error(err, err_size, "an smtps listener and STARTTLS need both "
			    "tls_cert and tls_key");
			goto fail;
		}
		server->tls = server_tls_context(config, err, err_size);
		if (server->tls == NULL)
			goto fail;
	}
	if (config->users[0] != '\0') {
		server->users = user_table_load(config->users, err, err_size);
		if (server->users == NULL)
			goto fail;
	}
	server->policy = relay_policy_new(config, own, config->listener_count);
	if (server->policy == NULL) {
		server_error(err, err_size, "cannot build the relay policy (see the log)");
		goto fail;
	}
	server->settings.config = config;
	server->settings.policy = server->policy;
	server->settings.users = server->users;
	server->settings.tls_available = server->tls != NULL;
	return server;
fail:
	smtpd_server_free(server);
	return NULL;
}

/* worker_init - a loop, a DNS client and a wake-up eventfd (made on the main thread:
 * c-ares' library init is not thread-safe). */
static bool
worker_init(struct smtpd_server *server, struct worker *worker, size_t index, char *err,
    size_t err_size)
{
	worker->server = server;
	worker->index = index;
	worker->wakeup_fd = -1;
	pthread_mutex_init(&worker->lock, NULL);
	TAILQ_INIT(&worker->handoffs);
	TAILQ_INIT(&worker->connections);
	worker->base = event_loop_new();
	worker->dns = dnsbl_client_new(worker->base, server->config, err, err_size);
	if (worker->dns == NULL)
		return false;
	worker->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (worker->wakeup_fd < 0) {
		server_error(err, err_size, "eventfd: %s", strerror(errno));
		return false;
	}
	worker->wakeup = event_new(worker->base, worker->wakeup_fd, EV_READ | EV_PERSIST,
	    worker_wakeup_cb, worker);
	if (worker->wakeup == NULL || event_add(worker->wakeup, NULL) != 0) {
		server_error(err, err_size, "cannot watch a worker's eventfd");
		return false;
	}
	return true;
}

/* smtpd_server_start - workers first, then the listeners on the caller's loop. */
bool
smtpd_server_start(struct smtpd_server *server, struct event_base *base, struct queue *queue,
    char *err, size_t err_size)
{
	const struct smtpd_config *config = server->config;
	sigset_t blocked, previous;

	server->base = base;
	server->queue = queue;
	server->worker_count = config->workers > 0 ? config->workers : 1;
	server->workers = xcalloc(server->worker_count, sizeof(*server->workers));
	for (size_t i = 0; i < server->worker_count; i++) {
		if (!worker_init(server, &server->workers[i], i, err, err_size))
			return false;
	}
	/* Signals belong to the main loop: workers start with them blocked. */
	sigfillset(&blocked);
	pthread_sigmask(SIG_BLOCK, &blocked, &previous);
	for (size_t i = 0; i < server->worker_count; i++) {
		struct worker *worker = &server->workers[i];
		int status = pthread_create(&worker->thread, NULL, worker_main, worker);
		if (status != 0) {
			pthread_sigmask(SIG_SETMASK, &previous, NULL);
			server_error(err, err_size, "pthread_create: %s", strerror(status));
			return false;
		}
		worker->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	server->accept_resume = evtimer_new(base, server_accept_resume_cb, server);
	if (server->accept_resume == NULL)
		fatal("event=evtimer_new_failed");
	for (size_t i = 0; i < server->listener_count; i++) {
		struct server_listener *listener = &server->listeners[i];
		listener->event = event_new(base, listener->fd, EV_READ | EV_PERSIST,
		    server_accept_cb, listener);
		if (listener->event == NULL || event_add(listener->event, NULL) != 0) {
			server_error(err, err_size, "cannot watch listener %s", listener->text);
			return false;
		}
		log_info("event=listening listener=%s mode=%s", listener->text,
		    listener->config.mode == LISTENER_SMTPS ? "smtps" :
		    listener->config.mode == LISTENER_SUBMISSION ? "submission" : "smtp");
	}
	log_info("event=started workers=%zu hostname=%s tls=%s auth=%s dnsbl_zones=%zu",
	    server->worker_count, config->hostname, server->tls != NULL ? "yes" : "no",
	    server->users != NULL && user_table_can_authenticate(server->users) ? "yes" : "no",
	    config->dnsbl_count);
	return true;
}

/* smtpd_server_stop - close the listeners and ask every worker to finish. */
void
smtpd_server_stop(struct smtpd_server *server)
{
	if (server->stopping)
		return;
	server->stopping = true;
	if (server->accept_resume != NULL)
		evtimer_del(server->accept_resume);
	for (size_t i = 0; i < server->listener_count; i++) {
		struct server_listener *listener = &server->listeners[i];
		if (listener->event != NULL)
			event_del(listener->event);
		if (listener->fd >= 0)
			close(listener->fd);
		listener->fd = -1;
	}
	for (size_t i = 0; i < server->worker_count; i++) {
		struct worker *worker = &server->workers[i];
		if (!worker->thread_started)
			continue;
		pthread_mutex_lock(&worker->lock);
		worker->stop_requested = true;
		pthread_mutex_unlock(&worker->lock);
		worker_notify(worker);
	}
	log_info("event=stopping sessions=%zu", smtpd_server_connections(server));
}

/* smtpd_server_wait - join the workers and close what they left behind. */
void
smtpd_server_wait(struct smtpd_server *server)
{
	struct connection *conn;
	struct handoff *handoff;

	for (size_t i = 0; i < server->worker_count; i++) {
		struct worker *worker = &server->workers[i];
		if (worker->thread_started) {
			pthread_join(worker->thread, NULL);
			worker->thread_started = false;
		}
		worker->stopping = false;	/* no loopexit from connection_free now */
		while ((conn = TAILQ_FIRST(&worker->connections)) != NULL) {
			/* A commit still in flight is abandoned: queue_close drops its done(). */
			conn->committing = false;
			connection_free(conn);
		}
		while ((handoff = TAILQ_FIRST(&worker->handoffs)) != NULL) {
			TAILQ_REMOVE(&worker->handoffs, handoff, entry);
			close(handoff->fd);
			free(handoff);
		}
	}
}

/* smtpd_server_free - everything smtpd_server_new and _start made. */
void
smtpd_server_free(struct smtpd_server *server)
{
	if (server == NULL)
		return;
	for (size_t i = 0; i < server->worker_count; i++) {
		struct worker *worker = &server->workers[i];
		if (worker->wakeup != NULL)
			event_free(worker->wakeup);
		if (worker->stop_deadline != NULL)
			event_free(worker->stop_deadline);
		if (worker->wakeup_fd >= 0)
			close(worker->wakeup_fd);
		dnsbl_client_free(worker->dns);
		if (worker->base != NULL)
			event_base_free(worker->base);
		pthread_mutex_destroy(&worker->lock);
	}
	free(server->workers);
	for (size_t i = 0; i < server->listener_count; i++) {
		struct server_listener *listener = &server->listeners[i];
		if (listener->event != NULL)
			event_free(listener->event);
		if (listener->fd >= 0)
			close(listener->fd);
	}
	if (server->accept_resume != NULL)
		event_free(server->accept_resume);
	for (size_t i = 0; i < CLIENT_TABLE_BUCKETS; i++) {
		struct client_count *entry, *next;
		for (entry = server->clients[i]; entry != NULL; entry = next) {
			next = entry->next;
			free(entry);
		}
	}
	pthread_mutex_destroy(&server->clients_lock);
	relay_policy_free(server->policy);
	user_table_free(server->users);
	if (server->tls != NULL)
		SSL_CTX_free(server->tls);
	free(server);
}

/* smtpd_server_connections - sessions counted by the acceptor right now. */
size_t
smtpd_server_connections(const struct smtpd_server *server)
{
	return atomic_load(&server->connection_count);
}
