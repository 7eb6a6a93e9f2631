/* probe.c - the SMTP client state machine that runs the battery against one target.
 * One explicit state enum, one place per reply (probe_handle_reply); never trusts a byte it reads. */
#include "check/probe.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "check/battery.h"
#include "check/verdict.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/smtp_path.h"
#include "core/smtp_reply.h"
#include "core/tls_client.h"

#define PROBE_COMMAND_MAX 1024
#define PROBE_READ_CHUNK 4096
#define PROBE_READ_HIGH_WATER (256 * 1024)
#define PROBE_RECONNECT_PAUSE_MS 500
#define PROBE_QUIT_WAIT_MS 2000
#define PROBE_MAX_CONNECT_FAILURES 2   /* consecutive connections that never got greeted */
#define PROBE_MAX_CONNECTIONS 40       /* per target, whatever happens */
#define PROBE_MAX_DROPS_PER_TEST 2
#define PROBE_MAX_GARBAGE 3
#define PROBE_MAX_CONSECUTIVE_TIMEOUTS 3  /* then the server is a tarpit: stop */
#define PROBE_TRANSCRIPT_TEXT_MAX 1024
#define PROBE_FOREIGN_LITERAL4 "[192.0.2.1]"
#define PROBE_FOREIGN_LITERAL6 "[IPv6:2001:db8::1]"

enum probe_state {
	PS_IDLE,              /* no connection, nothing scheduled */
	PS_CONNECTING,
	PS_BANNER,
	PS_EHLO,
	PS_HELO,
	PS_STARTTLS,
	PS_TLS_HANDSHAKE,
	PS_RSET,
	PS_AUTH,
	PS_MAIL,
	PS_RCPT,
	PS_DATA,
	PS_DOT,
	PS_QUIT,
	PS_WAIT_RECONNECT,    /* closed; timer reconnects (pause or greylist delay) */
	PS_WAIT_CONFIRM,      /* battery over; waiting for tokens at the receiver */
	PS_DONE,
};

/* Per-test bookkeeping that the report does not need. */
struct test_progress {
	bool final;           /* outcome decided (awaiting a token still counts as final) */
	uint64_t retry_at_ms; /* greylist: not before this time */
	unsigned drops;       /* connections lost while this test ran */
	uint64_t started_ms;
};

struct probe {
	struct event_base *base;
	const struct probe_config *config;
	struct target_result *result;
	probe_done_fn done;
	void *done_arg;

	enum probe_state state;
	struct bufferevent *connection;
	struct event *timer;
	struct event *deadline;
	struct smtp_reply_reader reader;
	struct smtp_reply *reply;
	uint64_t started_ms;

	/* connection-level facts */
	unsigned connections;
	unsigned consecutive_failures;
	unsigned garbage_replies;
	unsigned consecutive_timeouts;
	bool greeted_now;        /* this connection got 250 to EHLO/HELO */
	bool tls_active;
	bool tls_failed;         /* handshake failed once: do not try again */
	bool starttls_offered;
	bool transaction_open;   /* MAIL was sent since the last RSET */
	bool names_known;        /* H and T were derived */
	bool connect_slot;       /* a --rate slot is reserved: connect without asking again */
	bool parked;             /* waiting for a greylist retry outside the concurrency limit */
	struct session_summary session;

	/* the test being run */
	size_t current;          /* index into result->tests; BATTERY_SIZE when none */
	struct test_progress progress[BATTERY_SIZE];

	char host_name[256];     /* H */
	char mail_domain[256];   /* T */
	char address_literal[64];/* I */
	char random_label[16];   /* R */
	char failure[RESULT_REASON_MAX];
};

static void probe_connect(struct probe *probe);
static void probe_next_test(struct probe *probe);
static void probe_finish(struct probe *probe);
static void probe_connection_lost(struct probe *probe, const char *why);

/* ---- transcript -------------------------------------------------------------------- */

/* sanitise - copy text into out keeping printable ASCII and line breaks (the '\n' that
 * joins a multi-line reply); other bytes become \xNN. */
static void
sanitise(const char *text, size_t length, char *out, size_t out_size)
{
	size_t used = 0;

	for (size_t i = 0; i < length && used + 5 < out_size; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c >= 0x20 && c < 0x7f) || c == '\n') {
			out[used++] = (char)c;
		} else {
			snprintf(out + used, out_size - used, "\\x%02x", c);
			used += 4;
		}
	}
	out[used] = '\0';
}

/* transcript_add - append one line to the target's transcript. */
static void
transcript_add(struct probe *probe, char direction, const char *text, size_t length)
{
	struct target_result *result = probe->result;
	char clean[PROBE_TRANSCRIPT_TEXT_MAX];

	if (result->transcript_count == result->transcript_capacity) {
		size_t capacity = result->transcript_capacity ? result->transcript_capacity * 2 : 64;
		result->transcript = xrealloc(result->transcript,
		    capacity * sizeof(*result->transcript));
		result->transcript_capacity = capacity;
	}
	sanitise(text, length, clean, sizeof(clean));
	struct transcript_line *line = &result->transcript[result->transcript_count++];
	line->t_ms = event_loop_now_ms() - probe->started_ms;
	line->direction = direction;
	line->test_index = probe->current < BATTERY_SIZE ? (int)probe->current : -1;
	line->text = xstrdup(clean);
}

/* transcript_info - an 'I' line from a format. */
static void __attribute__((format(printf, 2, 3)))
transcript_info(struct probe *probe, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	transcript_add(probe, 'I', text, strlen(text));
}

/* transcript_reply - one 'S' line per line of a reply, "250-..." / "250 ...". */
static void
transcript_reply(struct probe *probe, const struct smtp_reply *reply)
{
	const char *text = reply->text;
	char line[PROBE_TRANSCRIPT_TEXT_MAX];

	if (reply->code == 0) {
		transcript_add(probe, 'S', reply->text, reply->text_length);
		return;
	}
	for (;;) {
		const char *newline = strchr(text, '\n');
		size_t length = newline ? (size_t)(newline - text) : strlen(text);
		int prefix = snprintf(line, sizeof(line), "%d%c", reply->code, newline ? '-' : ' ');
		size_t room = sizeof(line) - (size_t)prefix - 1;
		if (length > room)
			length = room;
		memcpy(line + prefix, text, length);
		line[(size_t)prefix + length] = '\0';
		transcript_add(probe, 'S', line, (size_t)prefix + length);
		if (newline == NULL)
			break;
		text = newline + 1;
	}
}

/* ---- timers and sending ------------------------------------------------------------ */

static void
timer_arm(struct probe *probe, uint64_t milliseconds)
{
	struct timeval tv = event_loop_timeval(milliseconds);
	evtimer_add(probe->timer, &tv);
}

/* send_line - write one command with CRLF, log it, and wait for its reply. */
static void __attribute__((format(printf, 3, 4)))
send_line(struct probe *probe, enum probe_state next_state, const char *fmt, ...)
{
	char line[PROBE_COMMAND_MAX];
	va_list ap;

	va_start(ap, fmt);
	int length = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (length < 0 || (size_t)length >= sizeof(line) - 2)
		fatal("event=command_too_long state=%d", (int)next_state);
	transcript_add(probe, 'C', line, (size_t)length);
	memcpy(line + length, "\r\n", 2);
	bufferevent_write(probe->connection, line, (size_t)length + 2);
	probe->state = next_state;
	timer_arm(probe, probe->config->reply_timeout_ms);
}

/* ---- test bookkeeping -------------------------------------------------------------- */

static struct test_result *
current_test(struct probe *probe)
{
	return probe->current < BATTERY_SIZE ? &probe->result->tests[probe->current] : NULL;
}

/* record_reply - keep a reply with the current test (replies of the latest attempt). */
static void
record_reply(struct probe *probe, const char *command, const struct smtp_reply *reply)
{
	struct test_result *test = current_test(probe);
	char clean[PROBE_TRANSCRIPT_TEXT_MAX];

	if (test == NULL || test->reply_count >= RESULT_REPLIES_MAX)
		return;
	struct test_reply *slot = &test->replies[test->reply_count++];
	snprintf(slot->command, sizeof(slot->command), "%s", command);
	slot->code = reply ? reply->code : 0;
	sanitise(reply ? reply->text : "", reply ? reply->text_length : 0, clean, sizeof(clean));
	slot->text = xstrdup(clean);
}

/* test_conclude - give the current test its outcome and move on. */
static void
test_conclude(struct probe *probe, enum test_outcome outcome, enum stage stage,
    const char *error)
{
	struct test_result *test = current_test(probe);

	if (test == NULL)
		return;
	test->outcome = outcome;
	test->stage = stage;
	test->error = error;
	test->elapsed_ms = event_loop_now_ms() - probe->progress[probe->current].started_ms;
	probe->progress[probe->current].final = true;
	probe->current = BATTERY_SIZE;
}

/* test_defer - a 4xx: retry after the greylist delay, or give up after the last retry. */
static void
test_defer(struct probe *probe, enum stage stage)
{
	struct test_result *test = current_test(probe);
	struct test_progress *progress = &probe->progress[probe->current];

	if (test->greylist_retries >= probe->config->greylist_retries) {
		test_conclude(probe, OUTCOME_DEFERRED, stage,
		    "temporary failure (4xx) after every greylisting retry");
		return;
	}
	test->greylist_retries++;
	test->outcome = OUTCOME_DEFERRED;
	test->stage = stage;
	test->error = "temporary failure (4xx)";
	progress->retry_at_ms = event_loop_now_ms() + probe->config->greylist_delay_ms;
	transcript_info(probe, "%s deferred; retry %u of %u in %llu ms", test->test->id,
	    test->greylist_retries, probe->config->greylist_retries,
	    (unsigned long long)probe->config->greylist_delay_ms);
	probe->current = BATTERY_SIZE;
}

/* ---- addresses of one test --------------------------------------------------------- */

/* make_token - "rg" + 24 random hex digits. */
static void
make_token(char *out, size_t out_size)
{
	unsigned char random[12];

	if (RAND_bytes(random, sizeof(random)) != 1)
		fatal("event=rand_bytes_failed");
	size_t used = (size_t)snprintf(out, out_size, "rg");
	for (size_t i = 0; i < sizeof(random) && used + 2 < out_size; i++)
		used += (size_t)snprintf(out + used, out_size - used, "%02x", random[i]);
}

/* derive_names - H, T and I for this target, from the banner, EHLO reply and DNS. */
static void
derive_names(struct probe *probe)
{
	struct target_result *result = probe->result;
	char word[256];

	probe->host_name[0] = '\0';
	const char *sources[2] = { result->banner, result->ehlo };
	for (size_t i = 0; i < 2 && probe->host_name[0] == '\0'; i++) {
		if (sources[i] == NULL)
			continue;
		size_t length = strcspn(sources[i], " \t\r\n");
		if (length == 0 || length >= sizeof(word))
			continue;
		memcpy(word, sources[i], length);
		word[length] = '\0';
		/* nmap takes "ESMTP" from "220 ESMTP ..." as the host; a name needs a dot. */
		if (strchr(word, '.') != NULL && smtp_domain_is_valid(word, length)) {
			for (size_t j = 0; j < length; j++)
				word[j] = (char)tolower((unsigned char)word[j]);
			snprintf(probe->host_name, sizeof(probe->host_name), "%s", word);
		}
	}
	if (probe->host_name[0] == '\0' && result->target.host[0] != '\0')
		snprintf(probe->host_name, sizeof(probe->host_name), "%s", result->target.host);
	if (probe->host_name[0] == '\0')
		snprintf(probe->host_name, sizeof(probe->host_name), "%s", probe->address_literal);

	if (result->target.mail_domain[0] != '\0') {
		snprintf(probe->mail_domain, sizeof(probe->mail_domain), "%s",
		    result->target.mail_domain);
	} else {
		const char *first_dot = strchr(probe->host_name, '.');
		const char *second_dot = first_dot ? strchr(first_dot + 1, '.') : NULL;
		if (probe->host_name[0] != '[' && second_dot != NULL)
			snprintf(probe->mail_domain, sizeof(probe->mail_domain), "%s", first_dot + 1);
		else
			snprintf(probe->mail_domain, sizeof(probe->mail_domain), "%s",
			    probe->host_name);
	}
	probe->names_known = true;
}

/* render_addresses - fill mail_from/rcpt_to of test i from its templates. */
static void
render_addresses(struct probe *probe, size_t i)
{
	const struct probe_config *config = probe->config;
	struct test_result *test = &probe->result->tests[i];
	char mailbox[BATTERY_ADDRESS_MAX];
	char path[BATTERY_ADDRESS_MAX + 2];
	struct battery_values values = {
		.sender_local = config->sender_local,
		.recipient_local = config->confirm ? test->token : config->recipient_local,
		.victim_domain = config->victim_domain,
		.host_name = probe->host_name,
		.mail_domain = probe->mail_domain,
		.address_literal = probe->address_literal,
		.random_label = probe->random_label,
		.foreign_literal4 = config->receiver_literal4 ? config->receiver_literal4
							      : PROBE_FOREIGN_LITERAL4,
		.foreign_literal6 = config->receiver_literal6 ? config->receiver_literal6
							      : PROBE_FOREIGN_LITERAL6,
	};

	if (battery_render(test->test->mail_form, &values, mailbox, sizeof(mailbox)) < 0 ||
	    smtp_path_write(path, sizeof(path), mailbox) < 0)
		fatal("event=battery_render_failed id=%s", test->test->id);
	test->mail_from = xstrdup(path);
	if (battery_render(test->test->rcpt_form, &values, mailbox, sizeof(mailbox)) < 0 ||
	    smtp_path_write(path, sizeof(path), mailbox) < 0)
		fatal("event=battery_render_failed id=%s", test->test->id);
	test->rcpt_to = xstrdup(path);
}

/* ---- the message ------------------------------------------------------------------- */

/* send_message - the clearly labelled test message, dot-terminated. */
static void
send_message(struct probe *probe)
{
	const struct test_result *test = current_test(probe);
	const struct probe_config *config = probe->config;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	char address[INET6_ADDRSTRLEN];

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	netaddr_format(&probe->result->target.address, address, sizeof(address));
	struct evbuffer *out = bufferevent_get_output(probe->connection);
	evbuffer_add_printf(out,
	    "Date: %s\r\n"
	    "From: <%s>\r\n"
	    "To: %s\r\n"
	    "Subject: relayguard open relay test %s %s\r\n"
	    "Message-ID: <%s@%s>\r\n"
	    "X-Relayguard-Token: %s\r\n"
	    "X-Relayguard-Test: %s\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "This message is an automated open-relay test sent by relayguard.\r\n"
	    "It was handed to the mail server at %s port %u by %s,\r\n"
	    "addressed to a third party. If you can read it, that server relays\r\n"
	    "mail for strangers (an open relay) and should be fixed.\r\n"
	    "\r\n"
	    "Test: %s (%s)\r\n"
	    "Token: %s\r\n"
	    ".\r\n",
	    date, config->message_from, test->rcpt_to, test->test->id, test->token, test->token,
	    config->helo_name, test->token, test->test->id, address,
	    (unsigned)probe->result->target.port, config->helo_name, test->test->id,
	    test->test->summary, test->token);
	transcript_info(probe, "test message for %s sent (token %s)", test->test->id, test->token);
	transcript_add(probe, 'C', ".", 1);
	probe->state = PS_DOT;
	timer_arm(probe, probe->config->reply_timeout_ms);
}

/* ---- connection -------------------------------------------------------------------- */

static void
close_connection(struct probe *probe)
{
	if (probe->connection != NULL) {
		bufferevent_free(probe->connection);
		probe->connection = NULL;
	}
	evtimer_del(probe->timer);
	probe->tls_active = false;
	probe->greeted_now = false;
	probe->starttls_offered = false;
	probe->transaction_open = false;
}

/* note_vantage_point - say so when the checker sits in the target's own network. */
static void
note_vantage_point(struct probe *probe)
{
	struct sockaddr_storage local;
	socklen_t length = sizeof(local);
	struct netaddr ours;
	const struct netaddr *theirs = &probe->result->target.address;

	if (probe->connections != 1)
		return;
	int fd = bufferevent_getfd(probe->connection);
	if (getsockname(fd, (struct sockaddr *)&local, &length) != 0 ||
	    !netaddr_from_sockaddr((struct sockaddr *)&local, &ours, NULL))
		return;
	netaddr_unmap(&ours);
	char text[INET6_ADDRSTRLEN];
	netaddr_format(&ours, text, sizeof(text));
	transcript_info(probe, "connected from %s", text);
	if (ours.family != theirs->family)
		return;
	unsigned prefix_bytes = ours.family == AF_INET ? 3 : 8;
	if (netaddr_is_loopback(&ours) && netaddr_is_loopback(theirs)) {
		char note[256];
		snprintf(note, sizeof(note), "checker and target are both on loopback (%s): "
		    "a server may trust local clients and relay for them only", text);
		result_add_note(probe->result, note);
	} else if (memcmp(ours.bytes, theirs->bytes, prefix_bytes) == 0) {
		char note[256];
		snprintf(note, sizeof(note), "the checker's address %s is in the target's own "
		    "network (same /%u): a server that trusts its network may relay for it only",
		    text, prefix_bytes * 8);
		result_add_note(probe->result, note);
	}
}

/* uses_implicit_tls - SMTPS: --implicit-tls, or the submissions port 465 (RFC 8314). */
static bool
uses_implicit_tls(const struct probe *probe)
{
	return probe->config->implicit_tls || probe->result->target.port == 465;
}

/* tls_established - record the TLS state of the connection in the result and transcript. */
static void
tls_established(struct probe *probe)
{
	struct tls_description description;
	SSL *ssl = bufferevent_openssl_get_ssl(probe->connection);
	struct tls_state *tls = &probe->result->tls;

	tls_client_describe(ssl, &description);
	probe->tls_active = true;
	tls->used = true;
	snprintf(tls->version, sizeof(tls->version), "%s", description.version);
	snprintf(tls->cipher, sizeof(tls->cipher), "%s", description.cipher);
	snprintf(tls->peer_subject, sizeof(tls->peer_subject), "%s", description.peer_subject);
	transcript_info(probe, "TLS established: %s %s, peer %s", tls->version, tls->cipher,
	    tls->peer_subject[0] ? tls->peer_subject : "(none)");
}

static void
connection_event(struct bufferevent *connection, short events, void *arg)
{
	struct probe *probe = arg;

	(void)connection;
	if (events & BEV_EVENT_CONNECTED) {
		if (probe->state == PS_CONNECTING) {
			probe->session.connected = true;
			note_vantage_point(probe);
			if (uses_implicit_tls(probe))
				tls_established(probe);
			probe->state = PS_BANNER;
			timer_arm(probe, probe->config->greeting_timeout_ms);
			return;
		}
		if (probe->state == PS_TLS_HANDSHAKE) {
			tls_established(probe);
			send_line(probe, PS_EHLO, "EHLO %s", probe->config->helo_name);
			return;
		}
		return;
	}
	if (probe->state == PS_CONNECTING && uses_implicit_tls(probe) &&
	    bufferevent_get_openssl_error(probe->connection) != 0) {
		char reason[256];
		char why[320];
		ERR_error_string_n(bufferevent_get_openssl_error(probe->connection), reason,
		    sizeof(reason));
		snprintf(why, sizeof(why), "implicit TLS handshake failed: %s", reason);
		probe_connection_lost(probe, why);
		return;
	}
	if (probe->state == PS_CONNECTING) {
		int error = EVUTIL_SOCKET_ERROR();
		char why[256];
		snprintf(why, sizeof(why), "cannot connect: %s",
		    error ? evutil_socket_error_to_string(error) : "connection failed");
		probe_connection_lost(probe, why);
		return;
	}
	if (probe->state == PS_TLS_HANDSHAKE) {
		char reason[256];
		char why[320];
		tls_client_last_error(reason, sizeof(reason));
		snprintf(why, sizeof(why), "TLS handshake failed: %s", reason);
		probe->tls_failed = true;
		probe_connection_lost(probe, why);
		return;
	}
	if (probe->state == PS_QUIT) {
		close_connection(probe);
		probe->state = PS_IDLE;
		probe_next_test(probe);
		return;
	}
	probe_connection_lost(probe, (events & BEV_EVENT_EOF) ? "connection closed by the server"
							       : "connection error");
}

static void connection_readable(struct bufferevent *connection, void *arg);

static void
probe_connect(struct probe *probe)
{
	struct sockaddr_storage address;
	const struct check_target *target = &probe->result->target;

	if (probe->config->connect_delay != NULL && !probe->connect_slot) {
		uint64_t wait = probe->config->connect_delay(probe->config->connect_delay_arg);
		if (wait > 0) {
			probe->connect_slot = true;
			probe->state = PS_WAIT_RECONNECT;
			timer_arm(probe, wait);
			return;
		}
	}
	probe->connect_slot = false;
	if (probe->connections >= PROBE_MAX_CONNECTIONS) {
		snprintf(probe->failure, sizeof(probe->failure),
		    "gave up after %u connections", probe->connections);
		probe_finish(probe);
		return;
	}
	probe->connections++;
	socklen_t length = netaddr_to_sockaddr(&target->address, target->port, &address);
	if (uses_implicit_tls(probe)) {
		/* SMTPS (RFC 8314): the handshake comes before the banner. */
		SSL *ssl = tls_client_session_new(probe->config->tls_context, target->host);
		if (ssl == NULL)
			fatal("event=ssl_new_failed");
		probe->connection = bufferevent_openssl_socket_new(probe->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else {
		probe->connection = bufferevent_socket_new(probe->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (probe->connection == NULL)
		fatal("event=bufferevent_socket_new_failed");
	bufferevent_setcb(probe->connection, connection_readable, NULL, connection_event, probe);
	bufferevent_setwatermark(probe->connection, EV_READ, 0, PROBE_READ_HIGH_WATER);
	bufferevent_enable(probe->connection, EV_READ | EV_WRITE);
	smtp_reply_reader_init(&probe->reader);
	probe->state = PS_CONNECTING;
	probe->greeted_now = false;
	timer_arm(probe, probe->config->reply_timeout_ms);
	char text[INET6_ADDRSTRLEN];
	netaddr_format(&target->address, text, sizeof(text));
	transcript_info(probe, "connecting to %s port %u (connection %u)", text,
	    (unsigned)target->port, probe->connections);
	if (bufferevent_socket_connect(probe->connection, (struct sockaddr *)&address,
	    (int)length) != 0) {
		/* The error event has not been delivered; report it ourselves. */
		probe_connection_lost(probe, "cannot connect");
	}
}

/* schedule_reconnect - close and come back after a pause (or at a greylist retry time). */
static void
schedule_reconnect(struct probe *probe, uint64_t delay_ms)
{
	close_connection(probe);
	probe->state = PS_WAIT_RECONNECT;
	timer_arm(probe, delay_ms);
}

/* probe_connection_lost - the server went away, timed out or refused service. */
static void
probe_connection_lost(struct probe *probe, const char *why)
{
	bool was_connecting = probe->state == PS_CONNECTING;
	bool greeted = probe->greeted_now;

	transcript_info(probe, "%s", why);
	close_connection(probe);
	struct test_result *test = current_test(probe);
	if (test != NULL) {
		struct test_progress *progress = &probe->progress[probe->current];
		progress->drops++;
		if (progress->drops >= PROBE_MAX_DROPS_PER_TEST) {
			test_conclude(probe, OUTCOME_ERROR, test->stage == STAGE_NONE ? STAGE_MAIL
										: test->stage,
			    "connection lost during the test");
		} else {
			probe->current = BATTERY_SIZE;  /* run it again after reconnecting */
		}
	}
	if (!greeted) {
		probe->consecutive_failures++;
		if (probe->failure[0] == '\0' || was_connecting)
			snprintf(probe->failure, sizeof(probe->failure), "%s", why);
		if (!probe->session.connected || probe->consecutive_failures >=
		    PROBE_MAX_CONNECT_FAILURES) {
			probe_finish(probe);
			return;
		}
	}
	schedule_reconnect(probe, PROBE_RECONNECT_PAUSE_MS);
}

/* start_tls - wrap the connection after "220 ready to start TLS". */
static void
start_tls(struct probe *probe)
{
	struct evbuffer *pending = bufferevent_get_input(probe->connection);

	if (evbuffer_get_length(pending) > 0) {
		/* Plaintext after the 220 would be read as if it came through TLS. */
		transcript_info(probe, "discarded %zu bytes sent after the STARTTLS reply",
		    evbuffer_get_length(pending));
		evbuffer_drain(pending, evbuffer_get_length(pending));
	}
	SSL *ssl = tls_client_session_new(probe->config->tls_context, probe->result->target.host);
	if (ssl == NULL) {
		probe->tls_failed = true;
		probe_connection_lost(probe, "cannot create a TLS session");
		return;
	}
	struct bufferevent *wrapped = bufferevent_openssl_filter_new(probe->base,
	    probe->connection, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (wrapped == NULL) {
		SSL_free(ssl);
		probe->tls_failed = true;
		probe_connection_lost(probe, "cannot start TLS");
		return;
	}
	probe->connection = wrapped;
	bufferevent_setcb(wrapped, connection_readable, NULL, connection_event, probe);
	bufferevent_setwatermark(wrapped, EV_READ, 0, PROBE_READ_HIGH_WATER);
	bufferevent_enable(wrapped, EV_READ | EV_WRITE);
	smtp_reply_reader_init(&probe->reader);
	probe->state = PS_TLS_HANDSHAKE;
	timer_arm(probe, probe->config->reply_timeout_ms);
}

/* ---- running tests ----------------------------------------------------------------- */

/* next_runnable - the first test that may run now, or BATTERY_SIZE. */
static size_t
next_runnable(const struct probe *probe, uint64_t now, uint64_t *soonest_retry)
{
	*soonest_retry = 0;
	for (size_t i = 0; i < probe->result->test_count; i++) {
		const struct test_progress *progress = &probe->progress[i];
		if (!probe->result->tests[i].selected || progress->final)
			continue;
		if (progress->retry_at_ms <= now)
			return i;
		if (*soonest_retry == 0 || progress->retry_at_ms < *soonest_retry)
			*soonest_retry = progress->retry_at_ms;
	}
	return BATTERY_SIZE;
}

/* awaiting_tokens - tests accepted at end of data whose token has not arrived yet. */
static size_t
awaiting_tokens(const struct probe *probe)
{
	size_t count = 0;

	for (size_t i = 0; i < probe->result->test_count; i++)
		if (probe->result->tests[i].outcome == OUTCOME_DATA_ACCEPTED)
			count++;
	return count;
}

/* begin_test - send the first command of test i. */
static void
begin_test(struct probe *probe, size_t i)
{
	struct test_result *test = &probe->result->tests[i];

	probe->current = i;
	test->attempts++;
	for (size_t r = 0; r < test->reply_count; r++)
		free(test->replies[r].text);
	test->reply_count = 0;
	test->stage = STAGE_NONE;
	probe->progress[i].started_ms = event_loop_now_ms();
	if (test->test->flags & BATTERY_AUTH_FIRST) {
		/* RFC 4616 PLAIN: authzid NUL authcid NUL password, deliberately wrong. */
		static const unsigned char bogus[] = "\0relaytest\0relayguard-bogus-password";
		unsigned char encoded[128];
		EVP_EncodeBlock(encoded, bogus, (int)sizeof(bogus) - 1);
		send_line(probe, PS_AUTH, "AUTH PLAIN %s", (const char *)encoded);
		return;
	}
	probe->transaction_open = true;
	send_line(probe, PS_MAIL, "MAIL FROM:%s", test->mail_from);
}

static void
probe_next_test(struct probe *probe)
{
	uint64_t soonest_retry;
	uint64_t now = event_loop_now_ms();
	size_t next = next_runnable(probe, now, &soonest_retry);

	if (next < BATTERY_SIZE) {
		if (probe->connection == NULL) {
			probe_connect(probe);
			return;
		}
		if (!probe->greeted_now)
			return;  /* the greeting will call us again */
		if (probe->transaction_open) {
			send_line(probe, PS_RSET, "RSET");
			return;
		}
		begin_test(probe, next);
		return;
	}
	/* Nothing can run now: say goodbye politely before waiting or finishing. */
	if (probe->connection != NULL) {
		if (probe->state != PS_QUIT) {
			send_line(probe, PS_QUIT, "QUIT");
			timer_arm(probe, PROBE_QUIT_WAIT_MS);
		}
		return;
	}
	if (soonest_retry != 0 && probe->config->park != NULL && !probe->parked) {
		if (!probe->config->park(probe->done_arg, true)) {
			/* The retry queue is full: these tests stay deferred, the rest goes on. */
			transcript_info(probe, "retry queue full: deferred tests are not retried");
			for (size_t i = 0; i < probe->result->test_count; i++) {
				if (probe->result->tests[i].selected && !probe->progress[i].final) {
					probe->progress[i].final = true;
					probe->result->tests[i].error =
					    "temporary failure (4xx); retry queue full";
				}
			}
			probe_next_test(probe);
			return;
		}
		probe->parked = true;
	}
	if (soonest_retry != 0) {
		probe->state = PS_WAIT_RECONNECT;
		timer_arm(probe, soonest_retry > now ? soonest_retry - now : 0);
		return;
	}
	if (probe->config->confirm && awaiting_tokens(probe) > 0) {
		probe->state = PS_WAIT_CONFIRM;
		transcript_info(probe, "waiting up to %llu ms for %zu probe message(s) to arrive",
		    (unsigned long long)probe->config->confirm_wait_ms, awaiting_tokens(probe));
		timer_arm(probe, probe->config->confirm_wait_ms);
		return;
	}
	probe_finish(probe);
}

/* is_tls_demand - a 530 (or 5.7.0 "STARTTLS") asking for TLS first. */
static bool
is_tls_demand(const struct smtp_reply *reply)
{
	return reply->code == 530 || (smtp_reply_class(reply) == 5 &&
	    strcasestr(reply->text, "STARTTLS") != NULL);
}

/* handle_refusal_demand - a 530 to MAIL/RCPT: start TLS if we can, else the test errs. */
static bool
handle_tls_or_auth_demand(struct probe *probe, const struct smtp_reply *reply, enum stage stage)
{
	if (!is_tls_demand(reply))
		return false;
	bool mentions_tls = strcasestr(reply->text, "TLS") != NULL;
	if (!probe->tls_active && mentions_tls && probe->config->starttls_allowed &&
	    !probe->tls_failed) {
		/* Run this test again once TLS is up. */
		struct test_result *test = current_test(probe);
		test->attempts--;
		probe->current = BATTERY_SIZE;
		probe->transaction_open = false;
		send_line(probe, PS_STARTTLS, "STARTTLS");
		return true;
	}
	if (!probe->tls_active && mentions_tls)
		test_conclude(probe, OUTCOME_ERROR, stage,
		    probe->config->starttls_allowed ? "server demands TLS and the handshake failed"
						    : "server demands TLS and --no-starttls forbids it");
	else
		/* Refused to an unauthenticated stranger: exactly what a relay test asks. A server
		 * that relays once authenticated is not an open relay. */
		test_conclude(probe, OUTCOME_REFUSED, stage,
		    "refused: the server demands authentication (530)");
	probe_next_test(probe);
	return true;
}

/* parse_ehlo - note the extensions we care about. */
static void
parse_ehlo(struct probe *probe, const struct smtp_reply *reply)
{
	const char *line = reply->text;

	probe->starttls_offered = false;
	while (line != NULL && *line != '\0') {
		if (strncasecmp(line, "STARTTLS", 8) == 0 && (line[8] == '\0' || line[8] == '\n' ||
		    line[8] == ' '))
			probe->starttls_offered = true;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
}

/* greeting_done - EHLO or HELO was accepted on this connection. */
static void
greeting_done(struct probe *probe, const char *greeting, const struct smtp_reply *reply)
{
	struct target_result *result = probe->result;

	probe->greeted_now = true;
	probe->session.greeted = true;
	probe->consecutive_failures = 0;
	probe->transaction_open = false;
	result->greeting = greeting;
	if (strcmp(greeting, "EHLO") == 0 && !probe->tls_active) {
		free(result->ehlo);
		char clean[SMTP_REPLY_TEXT_MAX];
		sanitise(reply->text, reply->text_length, clean, sizeof(clean));
		result->ehlo = xstrdup(clean);
		parse_ehlo(probe, reply);
	}
	if (!probe->names_known)
		derive_names(probe);
	/* Render every test's addresses once H and T are known. */
	for (size_t i = 0; i < result->test_count; i++)
		if (result->tests[i].mail_from == NULL)
			render_addresses(probe, i);
	if (!probe->tls_active && probe->starttls_offered && probe->config->starttls_allowed &&
	    !probe->tls_failed) {
		send_line(probe, PS_STARTTLS, "STARTTLS");
		return;
	}
	probe_next_test(probe);
}

/* probe_handle_reply - the one place where replies move the state machine. */
static void
probe_handle_reply(struct probe *probe, const struct smtp_reply *reply)
{
	int klass = smtp_reply_class(reply);
	struct test_result *test = current_test(probe);

	evtimer_del(probe->timer);
	probe->consecutive_timeouts = 0;
	if (reply->code == 421 && probe->state != PS_QUIT && probe->state != PS_BANNER) {
		/* RFC 5321 3.8: the server is closing the channel. */
		if (test != NULL)
			record_reply(probe, "421", reply);
		probe_connection_lost(probe, "server closed the session with 421");
		return;
	}
	switch (probe->state) {
	case PS_BANNER: {
		char clean[SMTP_REPLY_TEXT_MAX];
		sanitise(reply->text, reply->text_length, clean, sizeof(clean));
		if (reply->code != 220) {
			char why[RESULT_REASON_MAX];
			snprintf(why, sizeof(why), "server refused service at connect: %d %.200s",
			    reply->code, clean);
			probe_connection_lost(probe, why);
			return;
		}
		if (probe->result->banner == NULL)
			probe->result->banner = xstrdup(clean);
		send_line(probe, PS_EHLO, "EHLO %s", probe->config->helo_name);
		return;
	}
	case PS_EHLO:
		if (klass == 2) {
			greeting_done(probe, "EHLO", reply);
			return;
		}
		send_line(probe, PS_HELO, "HELO %s", probe->config->helo_name);
		return;
	case PS_HELO:
		if (klass == 2) {
			greeting_done(probe, "HELO", reply);
			return;
		}
		snprintf(probe->failure, sizeof(probe->failure),
		    "server refused both EHLO and HELO (%d)", reply->code);
		probe_connection_lost(probe, probe->failure);
		return;
	case PS_STARTTLS:
		if (reply->code == 220) {
			start_tls(probe);
			return;
		}
		transcript_info(probe, "STARTTLS refused; going on without TLS");
		probe->tls_failed = true;
		probe_next_test(probe);
		return;
	case PS_RSET:
		probe->transaction_open = false;
		if (klass != 2) {
			probe_connection_lost(probe, "RSET refused; reconnecting");
			return;
		}
		probe_next_test(probe);
		return;
	case PS_AUTH:
		record_reply(probe, "AUTH", reply);
		if (reply->code == 334) {
			/* RFC 4954: "*" cancels the exchange. */
			send_line(probe, PS_AUTH, "*");
			return;
		}
		if (reply->code == 235)
			transcript_info(probe, "server accepted a bogus AUTH credential");
		probe->transaction_open = true;
		send_line(probe, PS_MAIL, "MAIL FROM:%s", test->mail_from);
		return;
	case PS_MAIL:
		record_reply(probe, "MAIL", reply);
		test->stage = STAGE_MAIL;
		if (klass == 2 && (test->test->flags & BATTERY_RCPT_DESPITE_MAIL_REFUSAL)) {
			/* X03 tests servers that ignore their own MAIL refusal; this one accepted. */
			test_conclude(probe, OUTCOME_NOT_APPLICABLE, STAGE_MAIL,
			    "MAIL was accepted, so the trick does not apply");
			probe_next_test(probe);
			return;
		}
		if (klass == 2) {
			send_line(probe, PS_RCPT, "RCPT TO:%s", test->rcpt_to);
			return;
		}
		if (handle_tls_or_auth_demand(probe, reply, STAGE_MAIL))
			return;
		if (klass == 4) {
			test_defer(probe, STAGE_MAIL);
		} else if (test->test->flags & BATTERY_RCPT_DESPITE_MAIL_REFUSAL) {
			send_line(probe, PS_RCPT, "RCPT TO:%s", test->rcpt_to);
			return;
		} else {
			test_conclude(probe, OUTCOME_REFUSED, STAGE_MAIL, NULL);
		}
		probe_next_test(probe);
		return;
	case PS_RCPT:
		record_reply(probe, "RCPT", reply);
		test->stage = STAGE_RCPT;
		if (klass == 2) {
			if (probe->config->depth == DEPTH_RCPT) {
				test_conclude(probe, OUTCOME_ACCEPTED, STAGE_RCPT, NULL);
				probe_next_test(probe);
				return;
			}
			send_line(probe, PS_DATA, "DATA");
			return;
		}
		if (handle_tls_or_auth_demand(probe, reply, STAGE_RCPT))
			return;
		if (klass == 4)
			test_defer(probe, STAGE_RCPT);
		else
			test_conclude(probe, OUTCOME_REFUSED, STAGE_RCPT, NULL);
		probe_next_test(probe);
		return;
	case PS_DATA:
		record_reply(probe, "DATA", reply);
		test->stage = STAGE_DATA;
		if (reply->code == 354) {
			send_message(probe);
			return;
		}
		if (klass == 4)
			test_defer(probe, STAGE_DATA);
		else if (klass == 5)
			test_conclude(probe, OUTCOME_DATA_REFUSED, STAGE_DATA, NULL);
		else
			test_conclude(probe, OUTCOME_ERROR, STAGE_DATA,
			    "unexpected reply to DATA");
		probe_next_test(probe);
		return;
	case PS_DOT:
		record_reply(probe, "DOT", reply);
		test->stage = STAGE_DATA;
		if (klass == 2)
			test_conclude(probe, OUTCOME_DATA_ACCEPTED, STAGE_DATA, NULL);
		else if (klass == 4)
			test_defer(probe, STAGE_DATA);
		else
			test_conclude(probe, OUTCOME_DATA_REFUSED, STAGE_DATA, NULL);
		probe->transaction_open = false;
		probe_next_test(probe);
		return;
	case PS_QUIT:
		close_connection(probe);
		probe->state = PS_IDLE;
		probe_next_test(probe);
		return;
	default:
		transcript_info(probe, "unsolicited reply ignored");
		return;
	}
}

/* give_up - every test not yet decided errs with this reason, and the probe finishes. */
static void
give_up(struct probe *probe, const char *reason)
{
	for (size_t i = 0; i < probe->result->test_count; i++) {
		if (probe->result->tests[i].selected && !probe->progress[i].final) {
			probe->result->tests[i].outcome = OUTCOME_ERROR;
			probe->result->tests[i].error = reason;
			probe->progress[i].final = true;
		}
	}
	probe->current = BATTERY_SIZE;
	probe_finish(probe);
}

/* handle_garbage - a reply that is not SMTP: count it, and treat the session as lost. */
static void
handle_garbage(struct probe *probe)
{
	struct test_result *test = current_test(probe);

	probe->garbage_replies++;
	if (test != NULL) {
		/* A reply we cannot read proves nothing either way: no retry. */
		record_reply(probe, "?", probe->reply);
		test_conclude(probe, OUTCOME_ERROR, test->stage == STAGE_NONE ? STAGE_MAIL
									: test->stage,
		    "garbage reply (not SMTP)");
	}
	if (!probe->greeted_now)
		snprintf(probe->failure, sizeof(probe->failure), "garbage reply (not SMTP)");
	if (probe->garbage_replies >= PROBE_MAX_GARBAGE) {
		/* A server that keeps talking nonsense: stop, every untested probe errs. */
		transcript_info(probe, "%u garbage replies: giving up on this target",
		    probe->garbage_replies);
		give_up(probe, "garbage reply (not SMTP)");
		return;
	}
	probe_connection_lost(probe, "garbage reply (not SMTP)");
}

static void
connection_readable(struct bufferevent *connection, void *arg)
{
	struct probe *probe = arg;
	struct evbuffer *input = bufferevent_get_input(connection);
	char chunk[PROBE_READ_CHUNK];

	while (probe->connection == connection && evbuffer_get_length(input) > 0) {
		ev_ssize_t copied = evbuffer_copyout(input, chunk, sizeof(chunk));
		if (copied <= 0)
			return;
		size_t offset = 0;
		while (offset < (size_t)copied && probe->connection == connection) {
			size_t consumed = 0;
			enum smtp_reply_status status = smtp_reply_reader_feed(&probe->reader,
			    chunk + offset, (size_t)copied - offset, &consumed, probe->reply);
			offset += consumed;
			evbuffer_drain(input, consumed);
			if (status == SMTP_REPLY_NEED_MORE)
				break;
			transcript_reply(probe, probe->reply);
			if (status == SMTP_REPLY_MALFORMED) {
				handle_garbage(probe);
				return;
			}
			if (probe->state == PS_CONNECTING || probe->state == PS_TLS_HANDSHAKE)
				continue;
			probe_handle_reply(probe, probe->reply);
		}
	}
}

/* ---- timers ------------------------------------------------------------------------ */

/* unpark - a parked probe wakes up and counts against the concurrency limit again. */
static void
unpark(struct probe *probe)
{
	if (!probe->parked)
		return;
	probe->parked = false;
	probe->config->park(probe->done_arg, false);
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct probe *probe = arg;

	(void)fd;
	(void)what;
	switch (probe->state) {
	case PS_WAIT_RECONNECT:
		unpark(probe);
		probe->state = PS_IDLE;
		probe_next_test(probe);
		return;
	case PS_WAIT_CONFIRM:
		probe_finish(probe);
		return;
	case PS_QUIT:
		close_connection(probe);
		probe->state = PS_IDLE;
		probe_next_test(probe);
		return;
	case PS_CONNECTING:
		probe_connection_lost(probe, "connect timed out");
		return;
	case PS_BANNER:
		probe_connection_lost(probe, "no complete banner within the greeting timeout");
		return;
	default: {
		char why[128];
		snprintf(why, sizeof(why), "no reply within %llu ms (tarpit?)",
		    (unsigned long long)probe->config->reply_timeout_ms);
		if (++probe->consecutive_timeouts >= PROBE_MAX_CONSECUTIVE_TIMEOUTS) {
			transcript_info(probe, "%s; %u timeouts in a row: giving up on this target",
			    why, probe->consecutive_timeouts);
			give_up(probe, "no reply within the timeout (tarpit?)");
			return;
		}
		struct test_result *test = current_test(probe);
		if (test != NULL && probe->progress[probe->current].drops + 1 >=
		    PROBE_MAX_DROPS_PER_TEST) {
			test_conclude(probe, OUTCOME_ERROR, test->stage == STAGE_NONE ? STAGE_MAIL
										: test->stage,
			    "no reply within the timeout (tarpit?)");
		}
		probe_connection_lost(probe, why);
		return;
	}
	}
}

static void
deadline_fired(evutil_socket_t fd, short what, void *arg)
{
	struct probe *probe = arg;

	(void)fd;
	(void)what;
	transcript_info(probe, "deadline of %llu ms reached",
	    (unsigned long long)probe->config->deadline_ms);
	if (probe->failure[0] == '\0')
		snprintf(probe->failure, sizeof(probe->failure), "deadline reached");
	probe_finish(probe);
}

/* ---- start and finish -------------------------------------------------------------- */

static void
start_soon(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	probe_next_test(arg);
}

struct probe *
probe_start(struct event_base *base, const struct probe_config *config,
    const struct check_target *target, probe_done_fn done, void *arg)
{
	struct probe *probe = xcalloc(1, sizeof(*probe));
	struct target_result *result = xcalloc(1, sizeof(*result));
	size_t count;
	const struct battery_test *tests = battery_all(&count);

	probe->base = base;
	probe->config = config;
	probe->result = result;
	probe->done = done;
	probe->done_arg = arg;
	probe->reply = config->scratch_reply ? config->scratch_reply
					     : xmalloc(sizeof(*probe->reply));
	probe->current = BATTERY_SIZE;
	probe->started_ms = event_loop_now_ms();
	probe->session.confirm = config->confirm;
	result->target = *target;
	result->expanded = true;
	clock_gettime(CLOCK_REALTIME, &result->started);
	result->test_count = count;
	for (size_t i = 0; i < count; i++) {
		result->tests[i].test = &tests[i];
		result->tests[i].selected = config->selected[i];
		result->tests[i].outcome = OUTCOME_SKIPPED;
		make_token(result->tests[i].token, sizeof(result->tests[i].token));
	}
	if (smtp_address_literal_write(probe->address_literal, sizeof(probe->address_literal),
	    &target->address) < 0)
		fatal("event=address_literal_failed");
	char random_token[RESULT_TOKEN_SIZE];
	make_token(random_token, sizeof(random_token));
	snprintf(probe->random_label, sizeof(probe->random_label), "r%.8s", random_token + 2);

	probe->timer = evtimer_new(base, timer_fired, probe);
	probe->deadline = evtimer_new(base, deadline_fired, probe);
	if (probe->timer == NULL || probe->deadline == NULL)
		fatal("event=evtimer_new_failed");
	struct timeval deadline = event_loop_timeval(config->deadline_ms);
	evtimer_add(probe->deadline, &deadline);
	probe->state = PS_IDLE;
	if (event_base_once(base, -1, EV_TIMEOUT, start_soon, probe, NULL) != 0)
		fatal("event=event_base_once_failed");
	return probe;
}

bool
probe_token_arrived(struct probe *probe, const char *token, const char *peer)
{
	struct target_result *result = probe->result;

	for (size_t i = 0; i < result->test_count; i++) {
		struct test_result *test = &result->tests[i];
		if (!test->selected || strcmp(test->token, token) != 0)
			continue;
		size_t running = probe->current;
		probe->current = i;  /* file the arrival under its test */
		transcript_info(probe, "probe message for %s (token %s) arrived at the receiver "
		    "from %s", test->test->id, token, peer);
		probe->current = running;
		if (test->outcome == OUTCOME_DATA_ACCEPTED || test->outcome == OUTCOME_NOT_DELIVERED ||
		    test->outcome == OUTCOME_DATA_REFUSED || test->outcome == OUTCOME_ERROR) {
			/* It arrived: whatever the server said, it relayed. */
			test->outcome = OUTCOME_DELIVERED;
			test->stage = STAGE_DELIVERED;
			test->error = NULL;
		}
		if (probe->state == PS_WAIT_CONFIRM && awaiting_tokens(probe) == 0)
			probe_finish(probe);
		return true;
	}
	return false;
}

void
probe_stop(struct probe *probe)
{
	if (probe->failure[0] == '\0')
		snprintf(probe->failure, sizeof(probe->failure), "interrupted");
	transcript_info(probe, "interrupted");
	probe_finish(probe);
}

static void
probe_free(evutil_socket_t fd, short what, void *arg)
{
	struct probe *probe = arg;

	(void)fd;
	(void)what;
	if (probe->reply != probe->config->scratch_reply)
		free(probe->reply);
	free(probe);
}

/* probe_finish - close everything, judge, hand the result over, free ourselves later. */
static void
probe_finish(struct probe *probe)
{
	struct target_result *result = probe->result;

	if (probe->state == PS_DONE)
		return;
	unpark(probe);
	close_connection(probe);
	probe->state = PS_DONE;
	event_free(probe->timer);
	event_free(probe->deadline);
	probe->timer = NULL;
	probe->deadline = NULL;
	const char *unfinished = probe->failure[0] ? probe->failure : "not run";
	for (size_t i = 0; i < result->test_count; i++) {
		struct test_result *test = &result->tests[i];
		if (!test->selected)
			continue;
		if (test->outcome == OUTCOME_DATA_ACCEPTED && probe->config->confirm) {
			test->outcome = OUTCOME_NOT_DELIVERED;
			test->error = "accepted but never delivered";
		} else if (!probe->progress[i].final && test->outcome != OUTCOME_DEFERRED) {
			test->outcome = OUTCOME_SKIPPED;
			test->error = unfinished;
		} else if (!probe->progress[i].final) {
			test->error = "temporary failure (4xx); retries cut short";
		}
	}
	probe->session.failure = probe->failure[0] ? probe->failure : NULL;
	result->elapsed_ms = event_loop_now_ms() - probe->started_ms;
	verdict_decide(result, &probe->session);
	probe->result = NULL;
	probe->done(probe->done_arg, result);
	/* Callers may still be on our stack: free on the next loop turn. */
	if (event_base_once(probe->base, -1, EV_TIMEOUT, probe_free, probe, NULL) != 0)
		fatal("event=event_base_once_failed");
}
