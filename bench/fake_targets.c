/* fake_targets.c - benchmark target farm: N fake SMTP servers on N loopback addresses, one loop.
 * Started by bench/check-vs-nmap; refuses any address outside 127.0.0.0/8, never connects out. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define FAKE_DEFAULT_COUNT 1000
#define FAKE_MAX_COUNT 65536
#define FAKE_DEFAULT_BASE "127.1.0.1"
#define FAKE_DEFAULT_PORT 25
#define FAKE_DEFAULT_MIX "closed=90,open=5,slow=4,drop=1"
#define FAKE_LISTEN_BACKLOG 4096
#define FAKE_COMMAND_LINE_MAX 512        /* RFC 5321 4.5.3.1.4, CRLF included */
#define FAKE_TEXT_LINE_MAX 1000          /* RFC 5321 4.5.3.1.6, CRLF included */
#define FAKE_OVERLONG_INPUT 4096         /* no CRLF within this many bytes: junk */
#define FAKE_READ_HIGH_WATER (64 * 1024)
#define FAKE_MESSAGE_MAX (10 * 1024 * 1024)
#define FAKE_MAX_RECIPIENTS 100
#define FAKE_MAX_ERRORS 10               /* bad commands before 421 */
#define FAKE_IDLE_TIMEOUT_S 120
#define FAKE_SLOW_GREETING_MIN_MS 500
#define FAKE_SLOW_GREETING_SPAN_MS 1500
#define FAKE_SLOW_REPLY_MIN_MS 50
#define FAKE_SLOW_REPLY_SPAN_MS 150
#define FAKE_HOST_NAME_MAX 64
#define FAKE_MAIL_DOMAIN "fake.test"
#define FAKE_LOOPBACK_NET 0x7f000000u
#define FAKE_LOOPBACK_MASK 0xff000000u

enum behaviour {
	BEHAVIOUR_CLOSED,  /* refuses every third-party recipient: 554 5.7.1 */
	BEHAVIOUR_OPEN,    /* accepts every recipient and every message */
	BEHAVIOUR_SLOW,    /* closed, with a 0.5-2 s greeting pause and 50-200 ms replies */
	BEHAVIOUR_DROP,    /* accepts every recipient, then hangs up at DATA */
	BEHAVIOUR_COUNT,
};

static const char *const behaviour_names[BEHAVIOUR_COUNT] = { "closed", "open", "slow", "drop" };

enum session_state {
	SESSION_GREETING,  /* banner not sent yet (slow servers) */
	SESSION_COMMAND,
	SESSION_DATA,
	SESSION_CLOSING,   /* last reply queued; free once it is written */
};

struct farm;

/* One fake server: an address, its behaviour and its names. */
struct fake_server {
	struct farm *farm;
	struct evconnlistener *listener;
	uint32_t address;                       /* host byte order */
	enum behaviour behaviour;
	uint32_t hash;
	char host_name[FAKE_HOST_NAME_MAX];     /* H: mx-127-1-0-5.fake.test */
	char address_literal[24];               /* I: [127.1.0.5] */
};

struct session {
	struct fake_server *server;
	struct bufferevent *connection;
	struct event *delay;                    /* slow servers: the reply waits for this */
	struct evbuffer *reply;                 /* replies not yet handed to the connection */
	enum session_state state;
	bool waiting;                           /* a delayed reply is pending */
	bool greeted;
	bool in_transaction;
	bool skipping_long_line;                /* drop input until the next line end */
	bool data_in_long_line;
	unsigned recipients;
	unsigned errors;
	size_t message_bytes;
	uint32_t random;                        /* xorshift state for reply delays */
};

/* The whole process: the loop, the servers and the counters SIGUSR1 prints. */
struct farm {
	struct event_base *base;
	struct fake_server *servers;
	size_t server_count;
	uint16_t port;
	uint64_t connections;
	uint64_t commands;
	uint64_t messages;
	uint64_t live_sessions;
	uint64_t peak_sessions;
	uint64_t accept_errors;
	uint64_t queue_serial;
};

struct farm_options {
	size_t count;
	uint32_t base;
	uint16_t port;
	unsigned weights[BEHAVIOUR_COUNT];
	const char *list_file;
};

static void session_process(struct session *session);

/* ---- pure helpers ------------------------------------------------------------------ */

/* mix32 - a 32-bit integer finaliser: spreads neighbouring addresses over the mix. */
static uint32_t
mix32(uint32_t value)
{
	value ^= value >> 16;
	value *= 0x7feb352du;
	value ^= value >> 15;
	value *= 0x846ca68bu;
	value ^= value >> 16;
	return value;
}

/* behaviour_for - the behaviour of an address under the weights (deterministic). */
static enum behaviour
behaviour_for(uint32_t hash, const unsigned weights[BEHAVIOUR_COUNT])
{
	unsigned total = 0;

	for (size_t i = 0; i < BEHAVIOUR_COUNT; i++)
		total += weights[i];
	unsigned pick = hash % total;
	for (size_t i = 0; i < BEHAVIOUR_COUNT; i++) {
		if (pick < weights[i])
			return (enum behaviour)i;
		pick -= weights[i];
	}
	return BEHAVIOUR_CLOSED;
}

/* mix_parse - "closed=90,open=5,slow=4,drop=1" into weights; unnamed behaviours get 0. */
static bool
mix_parse(const char *text, unsigned weights[BEHAVIOUR_COUNT], char *err, size_t err_size)
{
	const char *cursor = text;
	unsigned total = 0;

	for (size_t i = 0; i < BEHAVIOUR_COUNT; i++)
		weights[i] = 0;
	while (*cursor != '\0') {
		size_t length = strcspn(cursor, ",");
		const char *equals = memchr(cursor, '=', length);
		if (equals == NULL) {
			snprintf(err, err_size, "'%.*s' is not NAME=WEIGHT", (int)length, cursor);
			return false;
		}
		size_t name_length = (size_t)(equals - cursor);
		size_t which = BEHAVIOUR_COUNT;
		for (size_t i = 0; i < BEHAVIOUR_COUNT; i++)
			if (strlen(behaviour_names[i]) == name_length &&
			    memcmp(behaviour_names[i], cursor, name_length) == 0)
				which = i;
		if (which == BEHAVIOUR_COUNT) {
			snprintf(err, err_size, "unknown behaviour '%.*s' (closed, open, slow, drop)",
			    (int)name_length, cursor);
			return false;
		}
		char number[16];
		size_t number_length = length - name_length - 1;
		if (number_length == 0 || number_length >= sizeof(number)) {
			snprintf(err, err_size, "bad weight for %s", behaviour_names[which]);
			return false;
		}
		memcpy(number, equals + 1, number_length);
		number[number_length] = '\0';
		char *end;
		errno = 0;
		unsigned long weight = strtoul(number, &end, 10);
		if (*end != '\0' || number[0] == '-' || errno != 0 || weight > 1000000) {
			snprintf(err, err_size, "bad weight '%s' for %s", number,
			    behaviour_names[which]);
			return false;
		}
		weights[which] = (unsigned)weight;
		total += (unsigned)weight;
		cursor += length;
		if (*cursor == ',')
			cursor++;
	}
	if (total == 0) {
		snprintf(err, err_size, "the weights add up to 0");
		return false;
	}
	return true;
}

/* random_next - xorshift32: reply delays of slow servers. */
static uint32_t
random_next(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* verb_is - the command line starts with this verb, followed by a space or nothing. */
static bool
verb_is(const char *line, size_t length, const char *verb)
{
	size_t verb_length = strlen(verb);

	if (length < verb_length || strncasecmp(line, verb, verb_length) != 0)
		return false;
	return length == verb_length || line[verb_length] == ' ';
}

/* path_argument - the text between '<' and its '>' after "FROM:" / "TO:", or NULL. */
static const char *
path_argument(const char *line, size_t length, const char *keyword, size_t *path_length)
{
	size_t keyword_length = strlen(keyword);
	const char *p = line;
	const char *end = line + length;

	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	if ((size_t)(end - p) < keyword_length || strncasecmp(p, keyword, keyword_length) != 0)
		return NULL;
	p += keyword_length;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p != '<')
		return NULL;
	p++;
	const char *close = NULL;
	bool quoted = false;
	for (const char *q = p; q < end; q++) {
		if (*q == '\\' && quoted && q + 1 < end) {
			q++;
			continue;
		}
		if (*q == '"')
			quoted = !quoted;
		else if (*q == '>' && !quoted) {
			close = q;
			break;
		}
	}
	if (close == NULL)
		return NULL;
	*path_length = (size_t)(close - p);
	return p;
}

enum recipient_class {
	RECIPIENT_LOCAL_KNOWN,    /* postmaster or abuse at one of our names */
	RECIPIENT_LOCAL_UNKNOWN,  /* a plain local part at one of our names */
	RECIPIENT_ROUTED,         /* % ! @ or quotes in the local part: a relay attempt */
	RECIPIENT_FOREIGN,        /* somebody else's domain */
};

/* recipient_classify - what a closed server makes of a recipient path (source route stripped,
 * split at the last unquoted '@'); a domain-less recipient is local. */
static enum recipient_class
recipient_classify(const char *path, size_t length, const struct fake_server *server)
{
	const char *start = path;
	const char *end = path + length;

	if (start < end && *start == '@') {
		/* RFC 5321 4.1.1.3: a source route is ignored; the mailbox follows the ':'. */
		const char *colon = memchr(start, ':', length);
		if (colon == NULL)
			return RECIPIENT_ROUTED;
		start = colon + 1;
	}
	const char *at = NULL;
	bool quoted = false;
	for (const char *p = start; p < end; p++) {
		if (*p == '\\' && quoted && p + 1 < end) {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			at = p;
	}
	const char *local_end = at ? at : end;
	size_t local_length = (size_t)(local_end - start);
	if (at != NULL) {
		const char *domain = at + 1;
		size_t domain_length = (size_t)(end - domain);
		while (domain_length > 0 && domain[domain_length - 1] == '.')
			domain_length--;
		bool ours = (domain_length == strlen(server->host_name) &&
		    strncasecmp(domain, server->host_name, domain_length) == 0) ||
		    (domain_length == strlen(FAKE_MAIL_DOMAIN) &&
		    strncasecmp(domain, FAKE_MAIL_DOMAIN, domain_length) == 0) ||
		    (domain_length == strlen(server->address_literal) &&
		    memcmp(domain, server->address_literal, domain_length) == 0);
		if (!ours)
			return RECIPIENT_FOREIGN;
	}
	if (local_length == 0 || memchr(start, '%', local_length) != NULL ||
	    memchr(start, '!', local_length) != NULL || memchr(start, '@', local_length) != NULL ||
	    memchr(start, '"', local_length) != NULL)
		return RECIPIENT_ROUTED;
	if ((local_length == 10 && strncasecmp(start, "postmaster", 10) == 0) ||
	    (local_length == 5 && strncasecmp(start, "abuse", 5) == 0))
		return RECIPIENT_LOCAL_KNOWN;
	return RECIPIENT_LOCAL_UNKNOWN;
}

/* ---- sessions ---------------------------------------------------------------------- */

/* session_free - close the connection and forget the session. */
static void
session_free(struct session *session)
{
	struct farm *farm = session->server->farm;

	if (session->delay != NULL)
		event_free(session->delay);
	evbuffer_free(session->reply);
	bufferevent_free(session->connection);
	farm->live_sessions--;
	free(session);
}

/* reply_add - queue one reply line (or several, already CRLF-joined) for sending. */
static void __attribute__((format(printf, 2, 3)))
reply_add(struct session *session, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(session->reply, fmt, ap);
	va_end(ap);
	evbuffer_add(session->reply, "\r\n", 2);
}

/* reply_release - hand queued replies to the connection; start closing if asked to. */
static void
reply_release(struct session *session)
{
	bufferevent_write_buffer(session->connection, session->reply);
	if (session->state == SESSION_CLOSING) {
		bufferevent_disable(session->connection, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(session->connection)) == 0)
			session_free(session);
		/* else connection_written frees it once the last byte is out */
	}
}

/* reply_send - send queued replies now, or after the slow server's pause. */
static void
reply_send(struct session *session, uint64_t delay_ms)
{
	if (delay_ms == 0) {
		reply_release(session);
		return;
	}
	struct timeval tv = { (time_t)(delay_ms / 1000u), (suseconds_t)(delay_ms % 1000u) * 1000 };
	session->waiting = true;
	evtimer_add(session->delay, &tv);
}

/* reply_delay_ms - how long this server waits before each reply. */
static uint64_t
reply_delay_ms(struct session *session)
{
	if (session->server->behaviour != BEHAVIOUR_SLOW)
		return 0;
	return FAKE_SLOW_REPLY_MIN_MS + random_next(&session->random) %
	    (FAKE_SLOW_REPLY_SPAN_MS + 1);
}

/* transaction_reset - forget MAIL, RCPT and message state (RSET, EHLO, end of data). */
static void
transaction_reset(struct session *session)
{
	session->in_transaction = false;
	session->recipients = 0;
	session->message_bytes = 0;
	session->data_in_long_line = false;
}

/* command_error - count a bad command; too many end the session with 421. */
static void
command_error(struct session *session, const char *reply)
{
	reply_add(session, "%s", reply);
	if (++session->errors >= FAKE_MAX_ERRORS) {
		reply_add(session, "421 4.7.0 %s Error: too many errors",
		    session->server->host_name);
		session->state = SESSION_CLOSING;
	}
}

/* command_ehlo - EHLO (multi-line, with extensions) or HELO. */
static void
command_ehlo(struct session *session, const char *line, size_t length, bool extended)
{
	const struct fake_server *server = session->server;
	size_t argument = 4;

	while (argument < length && line[argument] == ' ')
		argument++;
	if (argument == length) {
		command_error(session, extended ? "501 5.5.4 Syntax: EHLO hostname"
						: "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	transaction_reset(session);
	session->greeted = true;
	if (!extended) {
		reply_add(session, "250 %s", server->host_name);
		return;
	}
	reply_add(session, "250-%s", server->host_name);
	reply_add(session, "250-PIPELINING");
	reply_add(session, "250-SIZE %d", FAKE_MESSAGE_MAX);
	reply_add(session, "250-VRFY");
	reply_add(session, "250-ENHANCEDSTATUSCODES");
	reply_add(session, "250-8BITMIME");
	reply_add(session, "250 DSN");
}

/* command_mail - MAIL FROM: any well-formed path is accepted once per transaction. */
static void
command_mail(struct session *session, const char *line, size_t length)
{
	size_t path_length;

	if (!session->greeted) {
		command_error(session, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (session->in_transaction) {
		command_error(session, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (path_argument(line, length, "FROM:", &path_length) == NULL) {
		command_error(session, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	session->in_transaction = true;
	reply_add(session, "250 2.1.0 Ok");
}

/* command_rcpt - RCPT TO: the behaviour's relay policy decides. */
static void
command_rcpt(struct session *session, const char *line, size_t length)
{
	const struct fake_server *server = session->server;
	size_t path_length;

	if (!session->in_transaction) {
		command_error(session, "503 5.5.1 Error: need MAIL command");
		return;
	}
	const char *path = path_argument(line, length, "TO:", &path_length);
	if (path == NULL || path_length == 0) {
		command_error(session, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (session->recipients >= FAKE_MAX_RECIPIENTS) {
		reply_add(session, "452 4.5.3 Error: too many recipients");
		return;
	}
	int shown = path_length > 256 ? 256 : (int)path_length;
	if (server->behaviour == BEHAVIOUR_OPEN || server->behaviour == BEHAVIOUR_DROP) {
		session->recipients++;
		reply_add(session, "250 2.1.5 Ok");
		return;
	}
	switch (recipient_classify(path, path_length, server)) {
	case RECIPIENT_LOCAL_KNOWN:
		session->recipients++;
		reply_add(session, "250 2.1.5 Ok");
		return;
	case RECIPIENT_LOCAL_UNKNOWN:
		reply_add(session, "550 5.1.1 <%.*s>: Recipient address rejected: User unknown in "
		    "local recipient table", shown, path);
		return;
	case RECIPIENT_ROUTED:
	case RECIPIENT_FOREIGN:
		reply_add(session, "554 5.7.1 <%.*s>: Relay access denied", shown, path);
		return;
	}
}

/* command_data - DATA: 354 and message mode, once a recipient was accepted. */
static void
command_data(struct session *session, size_t length)
{
	if (length != 4) {
		command_error(session, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!session->in_transaction) {
		command_error(session, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (session->recipients == 0) {
		command_error(session, "554 5.5.1 Error: no valid recipients");
		return;
	}
	session->state = SESSION_DATA;
	session->message_bytes = 0;
	session->data_in_long_line = false;
	reply_add(session, "354 End data with <CR><LF>.<CR><LF>");
}

/* command_handle - one command line (without its CRLF); replies go to session->reply.
 * Returns false when the session was freed. */
static bool
command_handle(struct session *session, const char *line, size_t length)
{
	struct farm *farm = session->server->farm;

	farm->commands++;
	if (length + 2 > FAKE_COMMAND_LINE_MAX) {
		command_error(session, "500 5.5.2 Error: line too long");
		return true;
	}
	if (verb_is(line, length, "EHLO")) {
		command_ehlo(session, line, length, true);
	} else if (verb_is(line, length, "HELO")) {
		command_ehlo(session, line, length, false);
	} else if (verb_is(line, length, "MAIL")) {
		command_mail(session, line, length);
	} else if (verb_is(line, length, "RCPT")) {
		command_rcpt(session, line, length);
	} else if (verb_is(line, length, "DATA")) {
		if (session->server->behaviour == BEHAVIOUR_DROP && session->recipients > 0 &&
		    length == 4) {
			/* The accept-everything-then-hang-up server: no reply, just gone. */
			session_free(session);
			return false;
		}
		command_data(session, length);
	} else if (verb_is(line, length, "RSET")) {
		transaction_reset(session);
		reply_add(session, "250 2.0.0 Ok");
	} else if (verb_is(line, length, "NOOP")) {
		reply_add(session, "250 2.0.0 Ok");
	} else if (verb_is(line, length, "VRFY")) {
		reply_add(session, "252 2.0.0 Send some mail, I'll try my best");
	} else if (verb_is(line, length, "QUIT")) {
		reply_add(session, "221 2.0.0 Bye");
		session->state = SESSION_CLOSING;
	} else if (verb_is(line, length, "STARTTLS") || verb_is(line, length, "AUTH") ||
	    verb_is(line, length, "EXPN") || verb_is(line, length, "HELP") ||
	    verb_is(line, length, "TURN") || verb_is(line, length, "ETRN")) {
		command_error(session, "502 5.5.1 Error: command not implemented");
	} else {
		command_error(session, "500 5.5.2 Error: command not recognized");
	}
	return true;
}

/* data_line - one line of message content; the lone "." ends it. */
static void
data_line(struct session *session, const char *line, size_t length)
{
	struct farm *farm = session->server->farm;

	session->message_bytes += length + 2;
	if (length == 1 && line[0] == '.' && !session->data_in_long_line) {
		session->state = SESSION_COMMAND;
		if (session->message_bytes > FAKE_MESSAGE_MAX) {
			reply_add(session, "552 5.3.4 Error: message file too big");
		} else {
			farm->messages++;
			farm->queue_serial++;
			reply_add(session, "250 2.0.0 Ok: queued as Q%08llX",
			    (unsigned long long)farm->queue_serial);
		}
		transaction_reset(session);
		return;
	}
	session->data_in_long_line = false;
}

/* session_step - consume one line of input; false when there is none (or we are gone). */
static bool
session_step(struct session *session)
{
	struct evbuffer *input = bufferevent_get_input(session->connection);
	size_t eol_length = 0;
	struct evbuffer_ptr eol = evbuffer_search_eol(input, NULL, &eol_length, EVBUFFER_EOL_CRLF);

	if (eol.pos < 0) {
		size_t pending = evbuffer_get_length(input);
		if (pending < FAKE_OVERLONG_INPUT)
			return false;
		/* No line end in sight: throw the bytes away and remember we are mid-line. */
		evbuffer_drain(input, pending);
		if (session->state == SESSION_DATA) {
			session->message_bytes += pending;
			session->data_in_long_line = true;
			return false;
		}
		if (!session->skipping_long_line) {
			session->skipping_long_line = true;
			command_error(session, "500 5.5.2 Error: line too long");
			return true;
		}
		return false;
	}
	size_t length = (size_t)eol.pos;
	char line[FAKE_OVERLONG_INPUT + 1];
	size_t kept = length < FAKE_OVERLONG_INPUT ? length : FAKE_OVERLONG_INPUT;
	evbuffer_remove(input, line, kept);
	evbuffer_drain(input, length - kept + eol_length);
	line[kept] = '\0';

	if (session->state == SESSION_DATA) {
		if (length > kept)
			session->data_in_long_line = true;
		data_line(session, line, length);
		return true;
	}
	if (session->skipping_long_line) {
		/* The tail of an overlong line already answered. */
		session->skipping_long_line = false;
		return true;
	}
	return command_handle(session, line, length);
}

/* session_process - answer every complete line we have, unless a reply is being delayed. */
static void
session_process(struct session *session)
{
	while (!session->waiting && session->state != SESSION_GREETING &&
	    session->state != SESSION_CLOSING) {
		if (!session_step(session))
			return;  /* need more input, or the session is gone */
		if (evbuffer_get_length(session->reply) > 0) {
			bool closing = session->state == SESSION_CLOSING;
			uint64_t delay = reply_delay_ms(session);
			reply_send(session, delay);
			if (closing && delay == 0)
				return;  /* freed, or freed once written */
		}
	}
}

/* delay_over - a slow server's pause ended: send, then read on. */
static void
delay_over(evutil_socket_t fd, short what, void *arg)
{
	struct session *session = arg;

	(void)fd;
	(void)what;
	session->waiting = false;
	if (session->state == SESSION_GREETING)
		session->state = SESSION_COMMAND;
	if (session->state == SESSION_CLOSING) {
		reply_release(session);
		return;
	}
	reply_release(session);
	session_process(session);
}

/* connection_readable - new input: answer what is complete. */
static void
connection_readable(struct bufferevent *connection, void *arg)
{
	(void)connection;
	session_process(arg);
}

/* connection_written - output drained: a closing session can go now. */
static void
connection_written(struct bufferevent *connection, void *arg)
{
	struct session *session = arg;

	if (session->state == SESSION_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(connection)) == 0)
		session_free(session);
}

/* connection_event - idle timeout (421 and close), EOF or error (close). */
static void
connection_event(struct bufferevent *connection, short events, void *arg)
{
	struct session *session = arg;

	if ((events & BEV_EVENT_TIMEOUT) && session->state != SESSION_CLOSING) {
		/* RFC 5321 4.5.3.2.7: an idle client is told why before we hang up. */
		evbuffer_drain(session->reply, evbuffer_get_length(session->reply));
		reply_add(session, "421 4.4.2 %s Error: timeout exceeded",
		    session->server->host_name);
		session->state = SESSION_CLOSING;
		if (session->delay != NULL)
			evtimer_del(session->delay);
		session->waiting = false;
		bufferevent_enable(connection, EV_WRITE);
		reply_release(session);
		return;
	}
	/* EOF or error: the client is gone, nothing more to say. */
	session_free(session);
}

/* connection_accepted - a new client: set up its session and greet it (later, if slow). */
static void
connection_accepted(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *address, int address_length, void *arg)
{
	struct fake_server *server = arg;
	struct farm *farm = server->farm;
	struct session *session = xcalloc(1, sizeof(*session));

	(void)listener;
	(void)address;
	(void)address_length;
	session->server = server;
	session->connection = bufferevent_socket_new(farm->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (session->connection == NULL)
		fatal("event=bufferevent_socket_new_failed");
	session->reply = evbuffer_new();
	if (session->reply == NULL)
		fatal("event=evbuffer_new_failed");
	session->delay = evtimer_new(farm->base, delay_over, session);
	if (session->delay == NULL)
		fatal("event=evtimer_new_failed");
	session->random = mix32(server->hash ^ (uint32_t)farm->connections) | 1u;
	farm->connections++;
	farm->live_sessions++;
	if (farm->live_sessions > farm->peak_sessions)
		farm->peak_sessions = farm->live_sessions;

	struct timeval idle = { FAKE_IDLE_TIMEOUT_S, 0 };
	bufferevent_set_timeouts(session->connection, &idle, NULL);
	bufferevent_setwatermark(session->connection, EV_READ, 0, FAKE_READ_HIGH_WATER);
	bufferevent_setcb(session->connection, connection_readable, connection_written,
	    connection_event, session);
	bufferevent_enable(session->connection, EV_READ | EV_WRITE);

	reply_add(session, "220 %s ESMTP fake_targets (%s)", server->host_name,
	    behaviour_names[server->behaviour] /* shown so transcripts explain themselves */);
	if (server->behaviour == BEHAVIOUR_SLOW) {
		session->state = SESSION_GREETING;
		reply_send(session, FAKE_SLOW_GREETING_MIN_MS +
		    random_next(&session->random) % (FAKE_SLOW_GREETING_SPAN_MS + 1));
		return;
	}
	session->state = SESSION_COMMAND;
	reply_release(session);
}

/* listener_failed - accept() failed (descriptors exhausted?): count and log it. */
static void
listener_failed(struct evconnlistener *listener, void *arg)
{
	struct fake_server *server = arg;
	int error = EVUTIL_SOCKET_ERROR();

	(void)listener;
	server->farm->accept_errors++;
	log_warn("event=accept_failed address=%s error=\"%s\"", server->address_literal,
	    evutil_socket_error_to_string(error));
}

/* ---- the farm ---------------------------------------------------------------------- */

/* farm_stats - one line for the benchmark script; "reset" starts a new measuring window. */
static void
farm_stats(struct farm *farm, bool reset)
{
	printf("STATS connections=%llu commands=%llu messages=%llu peak_sessions=%llu "
	    "live_sessions=%llu accept_errors=%llu\n", (unsigned long long)farm->connections,
	    (unsigned long long)farm->commands, (unsigned long long)farm->messages,
	    (unsigned long long)farm->peak_sessions, (unsigned long long)farm->live_sessions,
	    (unsigned long long)farm->accept_errors);
	fflush(stdout);
	if (reset) {
		farm->connections = 0;
		farm->commands = 0;
		farm->messages = 0;
		farm->accept_errors = 0;
		farm->peak_sessions = farm->live_sessions;
	}
}

/* signal_stats - SIGUSR1: print STATS and start a new measuring window. */
static void
signal_stats(evutil_socket_t signo, short what, void *arg)
{
	(void)signo;
	(void)what;
	farm_stats(arg, true);
}

/* signal_stop - SIGINT/SIGTERM: print STATS and leave the loop. */
static void
signal_stop(evutil_socket_t signo, short what, void *arg)
{
	struct farm *farm = arg;

	(void)what;
	log_info("event=stopping signal=%d", (int)signo);
	farm_stats(farm, false);
	event_base_loopexit(farm->base, NULL);
}

/* raise_fd_limit - as many descriptors as we may have: one per listener and per session. */
static void
raise_fd_limit(size_t needed)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
		fatal("event=getrlimit_failed error=\"%s\"", strerror(errno));
	limit.rlim_cur = limit.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
		log_warn("event=setrlimit_failed error=\"%s\"", strerror(errno));
	if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed + 64)
		log_warn("event=fd_limit_low limit=%llu listeners=%zu",
		    (unsigned long long)limit.rlim_cur, needed);
}

/* farm_listen - bind every address and decide its behaviour; fatal if one cannot listen. */
static void
farm_listen(struct farm *farm, const struct farm_options *options)
{
	farm->servers = xcalloc(options->count, sizeof(*farm->servers));
	farm->server_count = options->count;
	farm->port = options->port;
	for (size_t i = 0; i < options->count; i++) {
		struct fake_server *server = &farm->servers[i];
		uint32_t address = options->base + (uint32_t)i;
		struct sockaddr_in sin;

		server->farm = farm;
		server->address = address;
		server->hash = mix32(address);
		server->behaviour = behaviour_for(server->hash, options->weights);
		snprintf(server->host_name, sizeof(server->host_name), "mx-%u-%u-%u-%u.%s",
		    address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff, address & 0xff,
		    FAKE_MAIL_DOMAIN);
		snprintf(server->address_literal, sizeof(server->address_literal), "[%u.%u.%u.%u]",
		    address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff, address & 0xff);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(options->port);
		sin.sin_addr.s_addr = htonl(address);
		server->listener = evconnlistener_new_bind(farm->base, connection_accepted, server,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
		    FAKE_LISTEN_BACKLOG, (struct sockaddr *)&sin, (int)sizeof(sin));
		if (server->listener == NULL)
			fatal("event=listen_failed address=%s port=%u error=\"%s\"",
			    server->address_literal, (unsigned)options->port, strerror(errno));
		evconnlistener_set_error_cb(server->listener, listener_failed);
	}
}

/* farm_write_list - "ADDRESS behaviour" per line: the truth the benchmark compares with. */
static bool
farm_write_list(const struct farm *farm, const char *path)
{
	FILE *out = fopen(path, "w");

	if (out == NULL) {
		fprintf(stderr, "fake_targets: --list %s: %s\n", path, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < farm->server_count; i++) {
		const struct fake_server *server = &farm->servers[i];
		struct in_addr in = { htonl(server->address) };
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in, text, sizeof(text));
		fprintf(out, "%s %s\n", text, behaviour_names[server->behaviour]);
	}
	if (fclose(out) != 0) {
		fprintf(stderr, "fake_targets: --list %s: %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

/* usage - the command line summary. */
static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: fake_targets [--count N] [--base ADDR] [--port N] [--mix SPEC] [--list FILE]\n"
	    "  --count N     fake servers, one per address (%d; at most %d)\n"
	    "  --base ADDR   first address; all must lie in 127.0.0.0/8 (%s)\n"
	    "  --port N      TCP port on every address (%d)\n"
	    "  --mix SPEC    behaviour weights (%s)\n"
	    "                closed: 554 5.7.1 to third-party recipients\n"
	    "                open:   every RCPT 250, every message accepted\n"
	    "                slow:   closed, greeting after 0.5-2 s, each reply after 50-200 ms\n"
	    "                drop:   every RCPT 250, then hangs up at DATA\n"
	    "  --list FILE   write \"ADDRESS behaviour\" per line\n"
	    "Prints READY once listening; SIGUSR1 prints a STATS line and starts a new window;\n"
	    "SIGINT/SIGTERM print STATS and exit.\n",
	    FAKE_DEFAULT_COUNT, FAKE_MAX_COUNT, FAKE_DEFAULT_BASE, FAKE_DEFAULT_PORT,
	    FAKE_DEFAULT_MIX);
}

/* options_parse - the command line; false (after a message) when it is unusable. */
static bool
options_parse(int argc, char **argv, struct farm_options *options, bool *help)
{
	static const struct option long_options[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "base", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "mix", required_argument, NULL, 'm' },
		{ "list", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base_text = FAKE_DEFAULT_BASE;
	const char *mix_text = FAKE_DEFAULT_MIX;
	char err[256];
	int option;

	memset(options, 0, sizeof(*options));
	options->count = FAKE_DEFAULT_COUNT;
	options->port = FAKE_DEFAULT_PORT;
	*help = false;
	while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		char *end;
		unsigned long value;
		switch (option) {
		case 'c':
			errno = 0;
			value = strtoul(optarg, &end, 10);
			if (*end != '\0' || optarg[0] == '\0' || optarg[0] == '-' || errno != 0 ||
			    value < 1 || value > FAKE_MAX_COUNT) {
				fprintf(stderr, "fake_targets: --count wants 1 to %d\n",
				    FAKE_MAX_COUNT);
				return false;
			}
			options->count = value;
			break;
		case 'b':
			base_text = optarg;
			break;
		case 'p':
			errno = 0;
			value = strtoul(optarg, &end, 10);
			if (*end != '\0' || optarg[0] == '\0' || optarg[0] == '-' || errno != 0 ||
			    value < 1 || value > 65535) {
				fprintf(stderr, "fake_targets: --port wants 1 to 65535\n");
				return false;
			}
			options->port = (uint16_t)value;
			break;
		case 'm':
			mix_text = optarg;
			break;
		case 'l':
			options->list_file = optarg;
			break;
		case 'h':
			*help = true;
			return true;
		default:
			usage(stderr);
			return false;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fake_targets: unexpected argument '%s'\n", argv[optind]);
		return false;
	}
	struct in_addr base;
	if (inet_pton(AF_INET, base_text, &base) != 1) {
		fprintf(stderr, "fake_targets: --base '%s' is not an IPv4 address\n", base_text);
		return false;
	}
	options->base = ntohl(base.s_addr);
	uint64_t last = (uint64_t)options->base + options->count - 1;
	/* The network rule: loopback only, every address of the range. */
	if ((options->base & FAKE_LOOPBACK_MASK) != FAKE_LOOPBACK_NET ||
	    last > UINT32_MAX || (((uint32_t)last) & FAKE_LOOPBACK_MASK) != FAKE_LOOPBACK_NET) {
		fprintf(stderr, "fake_targets: %s + %zu addresses leaves 127.0.0.0/8\n", base_text,
		    options->count);
		return false;
	}
	if (!mix_parse(mix_text, options->weights, err, sizeof(err))) {
		fprintf(stderr, "fake_targets: --mix: %s\n", err);
		return false;
	}
	return true;
}

/* main - parse, listen on every address, print READY, serve until told to stop. */
int
main(int argc, char **argv)
{
	struct farm_options options;
	struct farm farm;
	bool help;

	log_init("fake_targets", LOG_SINK_STDERR, LOG_LEVEL_INFO);
	if (!options_parse(argc, argv, &options, &help))
		return 2;
	if (help) {
		usage(stdout);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(options.count);
	memset(&farm, 0, sizeof(farm));
	farm.base = event_base_new();
	if (farm.base == NULL)
		fatal("event=event_base_new_failed");
	farm_listen(&farm, &options);
	if (options.list_file != NULL && !farm_write_list(&farm, options.list_file))
		return 2;

	struct event *stats = evsignal_new(farm.base, SIGUSR1, signal_stats, &farm);
	struct event *interrupt = evsignal_new(farm.base, SIGINT, signal_stop, &farm);
	struct event *terminate = evsignal_new(farm.base, SIGTERM, signal_stop, &farm);
	if (stats == NULL || interrupt == NULL || terminate == NULL)
		fatal("event=evsignal_new_failed");
	evsignal_add(stats, NULL);
	evsignal_add(interrupt, NULL);
	evsignal_add(terminate, NULL);

	size_t counts[BEHAVIOUR_COUNT] = { 0 };
	for (size_t i = 0; i < farm.server_count; i++)
		counts[farm.servers[i].behaviour]++;
	printf("READY count=%zu port=%u closed=%zu open=%zu slow=%zu drop=%zu\n",
	    farm.server_count, (unsigned)farm.port, counts[BEHAVIOUR_CLOSED],
	    counts[BEHAVIOUR_OPEN], counts[BEHAVIOUR_SLOW], counts[BEHAVIOUR_DROP]);
	fflush(stdout);

	event_base_dispatch(farm.base);

	event_free(stats);
	event_free(interrupt);
	event_free(terminate);
	for (size_t i = 0; i < farm.server_count; i++)
		evconnlistener_free(farm.servers[i].listener);
	free(farm.servers);
	/* Sessions still open die with the process; their sockets close on exit. */
	event_base_free(farm.base);
	return 0;
}
