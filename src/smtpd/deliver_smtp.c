/* deliver_smtp.c - the SMTP/LMTP delivery agent: one transaction to a next hop or to a
 * domain's MX hosts, on the queue manager's loop. Reports a result per recipient (LMTP: one
 * reply each); it never blocks, never bounces, and never reports OK without a 2xx. */
#include "smtpd/deliver.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/resolver.h"
#include "core/smtp_reply.h"

/* Addresses tried per transaction (MX hosts times their A and AAAA records). */
#define DELIVER_TARGETS_MAX 16
/* MX hosts looked at per domain. */
#define DELIVER_MX_MAX 8
/* Bytes of input fed to the reply reader at a time. */
#define DELIVER_READ_CHUNK 4096
/* Longest command we send: "RCPT TO:<" + a 512-byte address + ">" + parameters. */
#define DELIVER_COMMAND_MAX 700
/* After our last reply we wait this long for QUIT's answer. */
#define DELIVER_QUIT_TIMEOUT_MS 5000
/* Idle connections kept for the next message to the same address (Postfix's scache). */
#define DELIVER_CACHE_MAX 64
#define DELIVER_CACHE_IDLE_MS 5000

enum client_state {
	STATE_RESOLVING,
	STATE_CONNECTING,
	STATE_GREETING,
	STATE_HELLO,		/* EHLO or LHLO sent */
	STATE_HELO,		/* fallback HELO sent (SMTP only) */
	STATE_MAIL,
	STATE_RCPT,
	STATE_DATA,
	STATE_DOT,		/* message sent, waiting for its reply (LMTP: replies) */
	STATE_DOT_DISCARD,	/* "." sent after an unexpected 354 with no recipient */
	STATE_QUIT,
	STATE_DONE,
};

struct target {
	struct netaddr address;
	char name[RESOLVER_NAME_MAX];
};

/* An idle connection after a finished transaction, ready for the next MAIL FROM. */
struct cached_connection {
	struct deliver_smtp_cache *cache;
	struct bufferevent *bev;
	struct netaddr address;
	uint16_t port;
	bool lmtp;
	bool pipelining;
	bool eightbitmime;
	bool size_extension;
	TAILQ_ENTRY(cached_connection) link;
};

struct deliver_smtp_cache {
	TAILQ_HEAD(, cached_connection) idle;
	size_t count;
};

struct deliver_smtp {
	struct deliver_smtp_request request;
	struct hostport next_hop;
	struct deliver_result *results;
	deliver_smtp_done_fn done;
	void *arg;
	uint16_t port;

	/* resolution: the host names to try, in order, then their addresses */
	char names[DELIVER_MX_MAX][RESOLVER_NAME_MAX];
	size_t name_count;
	size_t name_index;
	int family;
	bool resolve_failed;	/* some lookup failed temporarily */
	struct target targets[DELIVER_TARGETS_MAX];
	size_t target_count;
	size_t target_index;

	/* the connection */
	struct bufferevent *bev;
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	enum client_state state;
	bool pipelining;
	bool eightbitmime;
	bool size_extension;
	size_t rcpt_sent;	/* RCPT commands written */
	size_t rcpt_index;	/* next RCPT reply expected */
	bool *accepted;		/* per recipient: its RCPT got 2xx */
	bool *final;		/* per recipient: its result is set */
	size_t accepted_count;
	size_t dot_index;	/* LMTP: recipient whose reply comes next */
	char remote[DELIVER_REMOTE_MAX];
	char last_error[DELIVER_DIAGNOSTIC_MAX];
	char last_status[DELIVER_STATUS_MAX];
	bool reused;			/* bev came from the cache and has not answered yet */

	struct event *start_event;	/* pending until the transaction starts */
	bool querying;			/* a resolver callback is pending */
	bool aborted;			/* free on that callback, report nothing */
};

static void connect_next(struct deliver_smtp *client);
static void connect_fresh(struct deliver_smtp *client);
static void reconnect(struct deliver_smtp *client);
static void resolve_next(struct deliver_smtp *client);
static void set_remote(struct deliver_smtp *client);

/* set_result - recipient i's final result. */
static void
set_result(struct deliver_smtp *client, size_t i, enum deliver_outcome outcome,
    const char *status, const char *diagnostic)
{
	deliver_result_set(&client->results[i], outcome, status, "%s", diagnostic);
	snprintf(client->results[i].remote, sizeof(client->results[i].remote), "%s",
	    client->remote);
	client->final[i] = true;
}

/* deliver_smtp_cache_new - an empty cache of idle connections. */
struct deliver_smtp_cache *
deliver_smtp_cache_new(void)
{
	struct deliver_smtp_cache *cache = xcalloc(1, sizeof(*cache));

	TAILQ_INIT(&cache->idle);
	return cache;
}

/* cached_free - close an idle connection and forget it. */
static void
cached_free(struct cached_connection *cached)
{
	TAILQ_REMOVE(&cached->cache->idle, cached, link);
	cached->cache->count--;
	bufferevent_free(cached->bev);
	free(cached);
}

/* deliver_smtp_cache_free - close every idle connection. */
void
deliver_smtp_cache_free(struct deliver_smtp_cache *cache)
{
	struct cached_connection *cached;

	if (cache == NULL)
		return;
	while ((cached = TAILQ_FIRST(&cache->idle)) != NULL)
		cached_free(cached);
	free(cache);
}

/* cached_read_cb - an idle server spoke (a 421 before closing, or junk): drop it. */
static void
cached_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	cached_free(arg);
}

/* cached_event_cb - an idle connection closed, failed, or stayed idle too long. */
static void
cached_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	cached_free(arg);
}

/* cache_put - park the client's connection for a later transaction; false if full. */
static bool
cache_put(struct deliver_smtp *client)
{
	struct deliver_smtp_cache *cache = client->request.cache;
	struct timeval idle = event_loop_timeval(DELIVER_CACHE_IDLE_MS);
	struct cached_connection *cached;

	if (cache == NULL || cache->count >= DELIVER_CACHE_MAX ||
	    smtp_reply_reader_pending(&client->reader) ||
	    evbuffer_get_length(bufferevent_get_input(client->bev)) > 0)
		return false;
	cached = xcalloc(1, sizeof(*cached));
	cached->cache = cache;
	cached->bev = client->bev;
	cached->address = client->targets[client->target_index].address;
	cached->port = client->port;
	cached->lmtp = client->request.lmtp;
	cached->pipelining = client->pipelining;
	cached->eightbitmime = client->eightbitmime;
	cached->size_extension = client->size_extension;
	bufferevent_setcb(cached->bev, cached_read_cb, NULL, cached_event_cb, cached);
	bufferevent_set_timeouts(cached->bev, &idle, NULL);
	TAILQ_INSERT_TAIL(&cache->idle, cached, link);
	cache->count++;
	client->bev = NULL;
	return true;
}

/* cache_take - an idle connection to the client's current target, or false. */
static bool
cache_take(struct deliver_smtp *client)
{
	struct deliver_smtp_cache *cache = client->request.cache;
	const struct netaddr *address = &client->targets[client->target_index].address;
	struct cached_connection *cached;

	if (cache == NULL)
		return false;
	TAILQ_FOREACH(cached, &cache->idle, link) {
		if (cached->port == client->port && cached->lmtp == client->request.lmtp &&
		    netaddr_equal(&cached->address, address))
			break;
	}
	if (cached == NULL)
		return false;
	client->bev = cached->bev;
	client->pipelining = cached->pipelining;
	client->eightbitmime = cached->eightbitmime;
	client->size_extension = cached->size_extension;
	TAILQ_REMOVE(&cache->idle, cached, link);
	cache->count--;
	free(cached);
	return true;
}

/* client_free - release the client and its connection. */
static void
client_free(struct deliver_smtp *client)
{
	if (client->start_event != NULL)
		event_free(client->start_event);
	if (client->bev != NULL)
		bufferevent_free(client->bev);
	free(client->accepted);
	free(client->final);
	free(client);
}

/* finish - set every open result to the last temporary error, free, call done. */
static void
finish(struct deliver_smtp *client)
{
	deliver_smtp_done_fn done = client->done;
	void *arg = client->arg;

	for (size_t i = 0; i < client->request.recipient_count; i++)
		if (!client->final[i])
			set_result(client, i, DELIVER_TEMPORARY, client->last_status,
			    client->last_error);
	client_free(client);
	done(arg);
}

/* fail_open_recipients - every recipient without a result gets this one. */
static void
fail_open_recipients(struct deliver_smtp *client, enum deliver_outcome outcome,
    const char *status, const char *diagnostic)
{
	for (size_t i = 0; i < client->request.recipient_count; i++)
		if (!client->final[i])
			set_result(client, i, outcome, status, diagnostic);
}

/* reply_outcome - the outcome, status and "smtp; ..." diagnostic of a reply. */
static enum deliver_outcome
reply_outcome(const struct smtp_reply *reply, char *status, size_t status_size,
    char *diagnostic, size_t diagnostic_size)
{
	int reply_class = smtp_reply_class(reply);
	enum deliver_outcome outcome = reply_class == 2 ? DELIVER_OK :
	    reply_class == 5 ? DELIVER_PERMANENT : DELIVER_TEMPORARY;

	if (reply->enhanced[0] != '\0' && reply->enhanced[0] == '0' + reply_class)
		snprintf(status, status_size, "%s", reply->enhanced);
	else
		snprintf(status, status_size, "%s", outcome == DELIVER_OK ? "2.0.0" :
		    outcome == DELIVER_PERMANENT ? "5.0.0" : "4.0.0");
	snprintf(diagnostic, diagnostic_size, "smtp; %d %.*s", reply->code,
	    (int)reply->text_length, reply->text);
	for (char *p = diagnostic; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return outcome;
}

/* send_line - queue one command. */
static void __attribute__((format(printf, 2, 3)))
send_line(struct deliver_smtp *client, const char *fmt, ...)
{
	char line[DELIVER_COMMAND_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = (int)strlen(line);
	memcpy(line + n, "\r\n", 2);
	bufferevent_write(client->bev, line, (size_t)n + 2);
}

/* send_quit - say goodbye and wait (briefly) for the answer. */
static void
send_quit(struct deliver_smtp *client)
{
	struct timeval quit_timeout = event_loop_timeval(DELIVER_QUIT_TIMEOUT_MS);

	send_line(client, "QUIT");
	bufferevent_set_timeouts(client->bev, &quit_timeout, &quit_timeout);
	client->state = STATE_QUIT;
}

/* transaction_over - every reply is in: keep the connection for the next message, or QUIT. */
static void
transaction_over(struct deliver_smtp *client)
{
	if (cache_put(client)) {
		client->state = STATE_DONE;
		finish(client);
		return;
	}
	send_quit(client);
}

/* send_rcpt - the next RCPT TO. */
static void
send_rcpt(struct deliver_smtp *client)
{
	send_line(client, "RCPT TO:<%s>", client->request.recipients[client->rcpt_sent]);
	client->rcpt_sent++;
}

/* send_mail - MAIL FROM, and with PIPELINING every RCPT and DATA too (RFC 2920). */
static void
send_mail(struct deliver_smtp *client)
{
	char size[48] = "";

	if (client->size_extension)
		snprintf(size, sizeof(size), " SIZE=%zu", client->request.message_length);
	send_line(client, "MAIL FROM:<%s>%s%s", client->request.mail_from,
	    client->request.body_8bit && client->eightbitmime ? " BODY=8BITMIME" : "", size);
	client->state = STATE_MAIL;
	if (client->pipelining) {
		while (client->rcpt_sent < client->request.recipient_count)
			send_rcpt(client);
		send_line(client, "DATA");
	}
}

/* send_message - the message, dot-stuffed (RFC 5321 4.5.2), then "." */
static void
send_message(struct deliver_smtp *client)
{
	struct evbuffer *out = bufferevent_get_output(client->bev);
	const char *p = client->request.message;
	const char *end = p + client->request.message_length;

	if (p < end && *p == '.')
		evbuffer_add(out, ".", 1);
	while (p < end) {
		const char *q = memmem(p, (size_t)(end - p), "\n.", 2);

		if (q == NULL) {
			evbuffer_add_reference(out, p, (size_t)(end - p), NULL, NULL);
			break;
		}
		evbuffer_add_reference(out, p, (size_t)(q + 1 - p), NULL, NULL);
		evbuffer_add(out, ".", 1);
		p = q + 1;
	}
	if (client->request.message_length < 2 || end[-2] != '\r' || end[-1] != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
}

/* parse_extensions - the EHLO/LHLO keywords we use. */
static void
parse_extensions(struct deliver_smtp *client, const struct smtp_reply *reply)
{
	const char *line = reply->text;
	const char *end = reply->text + reply->text_length;

	client->pipelining = client->eightbitmime = client->size_extension = false;
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t length = eol != NULL ? (size_t)(eol - line) : (size_t)(end - line);
		size_t word = 0;

		while (word < length && line[word] != ' ')
			word++;
		if (word == strlen("PIPELINING") && strncasecmp(line, "PIPELINING", word) == 0)
			client->pipelining = true;
		else if (word == strlen("8BITMIME") && strncasecmp(line, "8BITMIME", word) == 0)
			client->eightbitmime = true;
		else if (word == strlen("SIZE") && strncasecmp(line, "SIZE", word) == 0)
			client->size_extension = true;
		line += length + 1;
	}
}

static void next_target(struct deliver_smtp *client, const char *status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* next_target - this address is no good: close it and try the next one. */
static void
next_target(struct deliver_smtp *client, const char *status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(client->last_error, sizeof(client->last_error), fmt, ap);
	va_end(ap);
	snprintf(client->last_status, sizeof(client->last_status), "%s", status);
	log_info("queue_id=%s event=delivery_connect_failed remote=%s reason=\"%s\"",
	    client->request.queue_id, client->remote, client->last_error);
	if (client->bev != NULL)
		bufferevent_free(client->bev);
	client->bev = NULL;
	client->target_index++;
	connect_next(client);
}

/* lost - the connection broke in the middle of a transaction. */
static void
lost(struct deliver_smtp *client, const char *what)
{
	static const char *const stage[] = {
		[STATE_RESOLVING] = "resolving", [STATE_CONNECTING] = "connecting",
		[STATE_GREETING] = "the greeting", [STATE_HELLO] = "EHLO",
		[STATE_HELO] = "HELO", [STATE_MAIL] = "MAIL FROM", [STATE_RCPT] = "RCPT TO",
		[STATE_DATA] = "DATA", [STATE_DOT] = "the end of data",
		[STATE_DOT_DISCARD] = "the end of data", [STATE_QUIT] = "QUIT",
		[STATE_DONE] = "done",
	};

	if (client->reused) {
		/* a cached connection the server had closed meanwhile: not an error */
		reconnect(client);
		return;
	}
	if (client->state <= STATE_HELO) {
		next_target(client, "4.4.2", "%s with %s during %s", what, client->remote,
		    stage[client->state]);
		return;
	}
	if (client->state < STATE_QUIT) {
		snprintf(client->last_error, sizeof(client->last_error), "%s with %s during %s",
		    what, client->remote, stage[client->state]);
		snprintf(client->last_status, sizeof(client->last_status), "4.4.2");
		log_info("queue_id=%s event=delivery_lost remote=%s reason=\"%s\"",
		    client->request.queue_id, client->remote, client->last_error);
	}
	finish(client);
}

/* rcpt_reply - the reply to RCPT number client->rcpt_index. */
static void
rcpt_reply(struct deliver_smtp *client, const struct smtp_reply *reply)
{
	char status[DELIVER_STATUS_MAX], diagnostic[DELIVER_DIAGNOSTIC_MAX];
	size_t i = client->rcpt_index++;
	enum deliver_outcome outcome;

	outcome = reply_outcome(reply, status, sizeof(status), diagnostic, sizeof(diagnostic));
	if (outcome == DELIVER_OK) {
		client->accepted[i] = true;
		client->accepted_count++;
	} else {
		set_result(client, i, outcome, status, diagnostic);
	}
	if (client->rcpt_index < client->request.recipient_count) {
		if (!client->pipelining)
			send_rcpt(client);
		return;
	}
	if (client->accepted_count == 0 && !client->pipelining) {
		send_quit(client);
		return;
	}
	if (!client->pipelining)
		send_line(client, "DATA");
	client->state = STATE_DATA;
}

/* next_accepted - the next accepted recipient at or after from (LMTP reply order). */
static size_t
next_accepted(const struct deliver_smtp *client, size_t from)
{
	while (from < client->request.recipient_count && !client->accepted[from])
		from++;
	return from;
}

/* handle_reply - the state machine: one complete reply in, commands out. Returns false
 * when the client is gone or its connection was replaced (read nothing more from it). */
static bool
handle_reply(struct deliver_smtp *client, const struct smtp_reply *reply)
{
	char status[DELIVER_STATUS_MAX], diagnostic[DELIVER_DIAGNOSTIC_MAX];
	enum deliver_outcome outcome;
	int reply_class = smtp_reply_class(reply);

	outcome = reply_outcome(reply, status, sizeof(status), diagnostic, sizeof(diagnostic));
	if (client->reused) {
		client->reused = false;
		if (reply->code == 421) {
			/* the server is closing the idle connection: start afresh */
			reconnect(client);
			return false;
		}
	}
	switch (client->state) {
	case STATE_GREETING:
		if (reply_class != 2) {
			next_target(client, "4.4.2", "%s refused to talk to me: %s",
			    client->remote, diagnostic);
			return false;
		}
		send_line(client, "%s %s", client->request.lmtp ? "LHLO" : "EHLO",
		    client->request.helo_name);
		client->state = STATE_HELLO;
		return true;
	case STATE_HELLO:
		if (reply_class == 2) {
			parse_extensions(client, reply);
			send_mail(client);
			return true;
		}
		if (!client->request.lmtp && reply_class == 5) {
			send_line(client, "HELO %s", client->request.helo_name);
			client->state = STATE_HELO;
			return true;
		}
		next_target(client, "4.4.2", "%s refused %s: %s", client->remote,
		    client->request.lmtp ? "LHLO" : "EHLO", diagnostic);
		return false;
	case STATE_HELO:
		if (reply_class != 2) {
			next_target(client, "4.4.2", "%s refused HELO: %s", client->remote,
			    diagnostic);
			return false;
		}
		client->pipelining = client->eightbitmime = client->size_extension = false;
		send_mail(client);
		return true;
	case STATE_MAIL:
		if (outcome != DELIVER_OK) {
			fail_open_recipients(client, outcome, status, diagnostic);
			send_quit(client);
			return true;
		}
		client->state = STATE_RCPT;
		if (!client->pipelining)
			send_rcpt(client);
		return true;
	case STATE_RCPT:
		rcpt_reply(client, reply);
		return true;
	case STATE_DATA:
		if (client->accepted_count == 0) {
			/* Pipelined DATA after no accepted recipient (RFC 2920 3.1). */
			if (reply_class == 3) {
				send_line(client, ".");
				client->state = STATE_DOT_DISCARD;
			} else {
				send_quit(client);
			}
			return true;
		}
		if (reply_class != 3) {
			fail_open_recipients(client, outcome == DELIVER_OK ? DELIVER_TEMPORARY :
			    outcome, status, diagnostic);
			send_quit(client);
			return true;
		}
		send_message(client);
		client->state = STATE_DOT;
		client->dot_index = next_accepted(client, 0);
		return true;
	case STATE_DOT:
		if (!client->request.lmtp) {
			fail_open_recipients(client, outcome, status, diagnostic);
			transaction_over(client);
			return false;
		}
		set_result(client, client->dot_index, outcome, status, diagnostic);
		client->dot_index = next_accepted(client, client->dot_index + 1);
		if (client->dot_index >= client->request.recipient_count) {
			transaction_over(client);
			return false;
		}
		return true;
	case STATE_DOT_DISCARD:
		send_quit(client);
		return true;
	case STATE_QUIT:
		client->state = STATE_DONE;
		finish(client);
		return false;
	default:
		return false;
	}
}

/* read_cb - feed the reply reader; act on every complete reply. */
static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct deliver_smtp *client = arg;
	struct evbuffer *input = bufferevent_get_input(bev);

	while (evbuffer_get_length(input) > 0) {
		size_t length = evbuffer_get_length(input), consumed = 0;
		const char *data;
		enum smtp_reply_status status;

		if (length > DELIVER_READ_CHUNK)
			length = DELIVER_READ_CHUNK;
		data = (const char *)evbuffer_pullup(input, (ssize_t)length);
		status = smtp_reply_reader_feed(&client->reader, data, length, &consumed,
		    &client->reply);
		evbuffer_drain(input, consumed);
		if (status == SMTP_REPLY_NEED_MORE)
			continue;
		if (status == SMTP_REPLY_MALFORMED) {
			lost(client, "malformed reply");
			return;
		}
		if (!handle_reply(client, &client->reply))
			return;
	}
}

/* event_cb - connected, or the connection failed, closed or timed out. */
static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct deliver_smtp *client = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		client->state = STATE_GREETING;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		lost(client, "timeout");
	else if (what & BEV_EVENT_EOF)
		lost(client, "connection closed");
	else
		lost(client, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* reconnect - drop a stale cached connection and open a fresh one to the same address. */
static void
reconnect(struct deliver_smtp *client)
{
	client->reused = false;
	bufferevent_free(client->bev);
	client->bev = NULL;
	memset(client->accepted, 0, client->request.recipient_count * sizeof(bool));
	connect_fresh(client);
}

/* connect_next - try the next address (an idle cached connection first), or give up. */
static void
connect_next(struct deliver_smtp *client)
{
	struct timeval timeout = event_loop_timeval(client->request.timeout_ms);

	if (client->target_index >= client->target_count) {
		finish(client);
		return;
	}
	if (!cache_take(client)) {
		connect_fresh(client);
		return;
	}
	set_remote(client);
	smtp_reply_reader_init(&client->reader);
	client->rcpt_sent = client->rcpt_index = client->accepted_count = 0;
	client->reused = true;
	bufferevent_setcb(client->bev, read_cb, NULL, event_cb, client);
	bufferevent_set_timeouts(client->bev, &timeout, &timeout);
	bufferevent_enable(client->bev, EV_READ | EV_WRITE);
	send_mail(client);
}

/* set_remote - "name[address]:port" of the current target, for logs and DSNs. */
static void
set_remote(struct deliver_smtp *client)
{
	const struct target *target = &client->targets[client->target_index];
	char text[NETADDR_TEXT_MAX];

	netaddr_format(&target->address, text, sizeof(text));
	snprintf(client->remote, sizeof(client->remote), "%s[%s]:%u", target->name, text,
	    (unsigned)client->port);
}

/* connect_fresh - open a new connection to the current target. */
static void
connect_fresh(struct deliver_smtp *client)
{
	struct sockaddr_storage address;
	struct timeval timeout = event_loop_timeval(client->request.timeout_ms);
	const struct target *target = &client->targets[client->target_index];
	socklen_t length;

	set_remote(client);
	length = netaddr_to_sockaddr(&target->address, client->port, &address);
	smtp_reply_reader_init(&client->reader);
	client->state = STATE_CONNECTING;
	client->rcpt_sent = client->rcpt_index = client->accepted_count = 0;
	client->bev = bufferevent_socket_new(client->request.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (client->bev == NULL)
		fatal("deliver: bufferevent_socket_new failed");
	bufferevent_setcb(client->bev, read_cb, NULL, event_cb, client);
	bufferevent_set_timeouts(client->bev, &timeout, &timeout);
	bufferevent_enable(client->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(client->bev, (struct sockaddr *)&address,
	    (int)length) != 0) {
		next_target(client, "4.4.1", "connect to %s: %s", client->remote,
		    strerror(errno));
		return;
	}
}

/* add_target - remember one address to try (duplicates and overflow ignored). */
static void
add_target(struct deliver_smtp *client, const char *name, const struct netaddr *address)
{
	if (client->target_count == DELIVER_TARGETS_MAX)
		return;
	for (size_t i = 0; i < client->target_count; i++)
		if (netaddr_equal(&client->targets[i].address, address))
			return;
	char *slot_name = client->targets[client->target_count].name;
	size_t length = strnlen(name, RESOLVER_NAME_MAX - 1);
	client->targets[client->target_count].address = *address;
	/* name may already live in the table: move, do not copy over itself. */
	memmove(slot_name, name, length);
	slot_name[length] = '\0';
	client->target_count++;
}

/* address_cb - A or AAAA answer for names[name_index]. */
static void
address_cb(void *arg, enum resolver_status status, const struct netaddr *addresses,
    size_t count)
{
	struct deliver_smtp *client = arg;

	client->querying = false;
	if (client->aborted) {
		client_free(client);
		return;
	}
	if (status == RESOLVER_OK) {
		for (size_t i = 0; i < count; i++)
			add_target(client, client->names[client->name_index], &addresses[i]);
	} else if (status == RESOLVER_FAILURE) {
		client->resolve_failed = true;
	}
	if (client->family == AF_INET) {
		client->family = AF_INET6;
	} else {
		client->family = AF_INET;
		client->name_index++;
	}
	resolve_next(client);
}

/* resolve_next - look up the next name's addresses, or start connecting. */
static void
resolve_next(struct deliver_smtp *client)
{
	if (client->name_index < client->name_count) {
		client->querying = true;
		resolver_query_address(client->request.resolver, client->names[client->name_index],
		    client->family, address_cb, client);
		return;
	}
	if (client->target_count == 0) {
		snprintf(client->last_status, sizeof(client->last_status), "4.4.3");
		snprintf(client->last_error, sizeof(client->last_error),
		    "%s: no address found for %s%s", client->resolve_failed ?
		    "DNS failure" : "no such host", client->names[0],
		    client->name_count > 1 ? " (nor its other MX hosts)" : "");
		finish(client);
		return;
	}
	client->target_index = 0;
	connect_next(client);
}

/* mx_cb - the domain's MX records (RFC 5321 5.1). */
static void
mx_cb(void *arg, enum resolver_status status, const struct resolver_mx *records, size_t count)
{
	struct deliver_smtp *client = arg;
	const char *domain = client->request.mx_domain;

	client->querying = false;
	if (client->aborted) {
		client_free(client);
		return;
	}
	switch (status) {
	case RESOLVER_OK:
		if (count == 1 && records[0].host[0] == '\0') {
			/* RFC 7505: a null MX says the domain accepts no mail. */
			fail_open_recipients(client, DELIVER_PERMANENT, "5.1.10",
			    "the domain publishes a null MX: it accepts no mail");
			finish(client);
			return;
		}
		for (size_t i = 0; i < count && client->name_count < DELIVER_MX_MAX; i++) {
			if (records[i].host[0] == '\0')
				continue;
			snprintf(client->names[client->name_count++], RESOLVER_NAME_MAX, "%s",
			    records[i].host);
		}
		break;
	case RESOLVER_NODATA:
		/* No MX: the domain itself is the implicit MX. */
		snprintf(client->names[client->name_count++], RESOLVER_NAME_MAX, "%s", domain);
		break;
	case RESOLVER_NXDOMAIN:
		fail_open_recipients(client, DELIVER_PERMANENT, "5.1.2",
		    "the recipient domain does not exist (NXDOMAIN)");
		finish(client);
		return;
	default:
		snprintf(client->last_status, sizeof(client->last_status), "4.4.3");
		snprintf(client->last_error, sizeof(client->last_error),
		    "DNS failure looking up the MX of %s", domain);
		finish(client);
		return;
	}
	if (client->name_count == 0) {
		snprintf(client->last_status, sizeof(client->last_status), "4.4.3");
		snprintf(client->last_error, sizeof(client->last_error), "no usable MX for %s",
		    domain);
		finish(client);
		return;
	}
	client->family = AF_INET;
	resolve_next(client);
}

/* start_cb - from the loop: begin with the address, the name or the MX lookup. */
static void
start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver_smtp *client = arg;

	(void)fd;
	(void)what;
	event_free(client->start_event);
	client->start_event = NULL;
	if (client->request.next_hop != NULL && client->next_hop.is_address) {
		add_target(client, client->next_hop.host, &client->next_hop.address);
		connect_next(client);
		return;
	}
	if (client->request.resolver == NULL) {
		snprintf(client->last_status, sizeof(client->last_status), "4.4.3");
		snprintf(client->last_error, sizeof(client->last_error),
		    "no DNS resolver available");
		finish(client);
		return;
	}
	client->family = AF_INET;
	if (client->request.next_hop != NULL) {
		snprintf(client->names[0], RESOLVER_NAME_MAX, "%s", client->next_hop.host);
		client->name_count = 1;
		resolve_next(client);
		return;
	}
	client->querying = true;
	resolver_query_mx(client->request.resolver, client->request.mx_domain, mx_cb, client);
}

/* deliver_smtp_start - set up the transaction; it starts from the loop. */
struct deliver_smtp *
deliver_smtp_start(const struct deliver_smtp_request *request,
    struct deliver_result *results, deliver_smtp_done_fn done, void *arg)
{
	struct deliver_smtp *client = xcalloc(1, sizeof(*client));
	struct timeval now = { 0, 0 };

	client->request = *request;
	client->results = results;
	client->done = done;
	client->arg = arg;
	client->accepted = xcalloc(request->recipient_count + 1, sizeof(bool));
	client->final = xcalloc(request->recipient_count + 1, sizeof(bool));
	snprintf(client->last_status, sizeof(client->last_status), "4.4.1");
	snprintf(client->last_error, sizeof(client->last_error), "no address to connect to");
	if (request->next_hop != NULL) {
		client->next_hop = *request->next_hop;
		client->request.next_hop = &client->next_hop;
		client->port = request->next_hop->port;
	} else {
		client->port = DELIVER_SMTP_PORT;
	}
	snprintf(client->remote, sizeof(client->remote), "%s",
	    request->next_hop != NULL ? request->next_hop->host : request->mx_domain);
	client->start_event = evtimer_new(request->base, start_cb, client);
	if (client->start_event == NULL || evtimer_add(client->start_event, &now) != 0)
		fatal("deliver: cannot schedule a delivery");
	return client;
}

/* deliver_smtp_abort - stop without calling done (shutdown). A pending DNS query keeps the
 * client alive until the resolver calls back (resolver_free does, cancelling). */
void
deliver_smtp_abort(struct deliver_smtp *client)
{
	if (client->querying) {
		client->aborted = true;
		return;
	}
	client_free(client);
}
