/* session.c - the inbound SMTP state machine of relayguard smtpd and its pure parsers.
 * Faces the hostile Internet: every line is bounded, every byte checked, nothing relayed
 * unless relay_policy_decide says so; it never touches a socket, a file or a clock. */
#include "smtpd/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/smtp_path.h"
#include "smtpd/address.h"

/* Longest HELO/EHLO argument kept (a domain is at most 255 octets, RFC 5321 4.5.3.1.2). */
#define SESSION_HELO_MAX 255
/* Room for escaped client text in one log value. */
#define SESSION_LOG_VALUE_MAX 300
/* Room for the Received header: a 255-octet HELO, names, TLS and AUTH comments, date. */
#define SESSION_RECEIVED_MAX 4096
/* Room for a formatted mailbox ("local@domain", quoted local part) with its NUL. */
#define SESSION_MAILBOX_MAX 600
/* The RFC 5322 date of the Received header: "Thu, 01 Jan 1970 00:00:00 +0000". */
#define SESSION_DATE_MAX 64
/* Decimal digits of a uint64_t. */
#define SESSION_DIGITS_MAX 20

enum reply_kind {
	REPLY_OK,		/* 2xx/3xx, or a 4xx/5xx that is not the client's fault */
	REPLY_CLIENT_ERROR,	/* counts towards max_errors */
};

struct session {
	const struct session_settings *settings;
	const struct smtpd_config *config;
	const struct session_ops *ops;
	void *io;
	struct session_client client;
	char id[32];
	char client_text[NETADDR_TEXT_MAX];
	enum session_state state;

	/* The command line being read: at most SESSION_COMMAND_LINE_MAX octets are kept (a
	 * CR may take the last place); the rest of a longer line is discarded. */
	char line[SESSION_COMMAND_LINE_MAX];
	size_t line_length;
	bool line_overflow;
	bool line_pending;		/* a complete line waits for a lookup answer */

	/* What we know about the client. */
	char *helo;
	bool esmtp;
	bool rdns_known;
	char *rdns;			/* verified reverse name, "" when none */
	bool dnsbl_known;
	enum dnsbl_verdict dnsbl_verdict;
	char *dnsbl_reply;		/* the 554/451 line for RCPT, NULL when passed */
	bool tls;
	char *tls_version;
	char *tls_cipher;
	bool authenticated;
	char *auth_user;
	char *auth_login_user;		/* AUTH LOGIN: the user name, until the password */
	unsigned errors;
	unsigned messages;

	/* The mail transaction. */
	char *mail_from;		/* formatted, "" for <> */
	struct smtp_mail_parameters mail_parameters;
	struct queue_recipient *recipients;
	size_t recipient_count;

	/* Message data. */
	struct smtp_data_reader data;
	void *message;			/* the sink's handle while reading data */
	uint64_t message_size;
	bool message_too_big;
	bool message_failed;		/* the sink refused an append */
	char queue_id[QUEUE_ID_MAX];
};

static const char *const state_names[] = {
	[SESSION_PREGREET] = "pregreet",
	[SESSION_GREETED] = "greeted",
	[SESSION_READY] = "ready",
	[SESSION_MAIL] = "mail",
	[SESSION_RCPT] = "rcpt",
	[SESSION_DATA] = "data",
	[SESSION_COMMITTING] = "committing",
	[SESSION_AUTH_PLAIN] = "auth_plain",
	[SESSION_AUTH_LOGIN_USER] = "auth_login_user",
	[SESSION_AUTH_LOGIN_PASSWORD] = "auth_login_password",
	[SESSION_TLS_STARTING] = "tls_starting",
	[SESSION_CLOSING] = "closing",
};

#define STATE_BIT(state) (1u << (state))

/* Every transition the protocol allows, from -> set of next states; anything else is a bug
 * of ours (fatal). Self-transitions listed are RSET/HELO/RCPT repeats. */
static const unsigned state_transitions[] = {
	[SESSION_PREGREET] = STATE_BIT(SESSION_GREETED) | STATE_BIT(SESSION_CLOSING),
	[SESSION_GREETED] = STATE_BIT(SESSION_GREETED) | STATE_BIT(SESSION_READY) |
	    STATE_BIT(SESSION_TLS_STARTING) | STATE_BIT(SESSION_CLOSING),
	[SESSION_READY] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_MAIL) |
	    STATE_BIT(SESSION_AUTH_PLAIN) | STATE_BIT(SESSION_AUTH_LOGIN_USER) |
	    STATE_BIT(SESSION_AUTH_LOGIN_PASSWORD) | STATE_BIT(SESSION_TLS_STARTING) |
	    STATE_BIT(SESSION_CLOSING),
	[SESSION_MAIL] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_RCPT) |
	    STATE_BIT(SESSION_CLOSING),
	[SESSION_RCPT] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_RCPT) |
	    STATE_BIT(SESSION_DATA) | STATE_BIT(SESSION_CLOSING),
	[SESSION_DATA] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_COMMITTING) |
	    STATE_BIT(SESSION_CLOSING),
	[SESSION_COMMITTING] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_CLOSING),
	[SESSION_AUTH_PLAIN] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_CLOSING),
	[SESSION_AUTH_LOGIN_USER] = STATE_BIT(SESSION_READY) |
	    STATE_BIT(SESSION_AUTH_LOGIN_PASSWORD) | STATE_BIT(SESSION_CLOSING),
	[SESSION_AUTH_LOGIN_PASSWORD] = STATE_BIT(SESSION_READY) | STATE_BIT(SESSION_CLOSING),
	[SESSION_TLS_STARTING] = STATE_BIT(SESSION_GREETED) | STATE_BIT(SESSION_CLOSING),
	[SESSION_CLOSING] = 0,
};

static const struct {
	const char *name;
	enum smtp_verb verb;
} verb_table[] = {
	{ "HELO", SMTP_VERB_HELO },
	{ "EHLO", SMTP_VERB_EHLO },
	{ "MAIL", SMTP_VERB_MAIL },
	{ "RCPT", SMTP_VERB_RCPT },
	{ "DATA", SMTP_VERB_DATA },
	{ "RSET", SMTP_VERB_RSET },
	{ "NOOP", SMTP_VERB_NOOP },
	{ "QUIT", SMTP_VERB_QUIT },
	{ "VRFY", SMTP_VERB_VRFY },
	{ "EXPN", SMTP_VERB_EXPN },
	{ "HELP", SMTP_VERB_HELP },
	{ "STARTTLS", SMTP_VERB_STARTTLS },
	{ "AUTH", SMTP_VERB_AUTH },
};

/* ---- small pure helpers -------------------------------------------------------------- */

/* ascii_lower - lower-case an ASCII letter, leave every other byte alone (no locale). */
static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ascii_equal_nocase - two byte ranges of equal length, ASCII case ignored. */
static bool
ascii_equal_nocase(const char *a, const char *b, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return false;
	}
	return true;
}

/* is_blank - SP or HT. */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* smtp_verb_name - the verb as written in the protocol. */
const char *
smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < sizeof(verb_table) / sizeof(verb_table[0]); i++) {
		if (verb_table[i].verb == verb)
			return verb_table[i].name;
	}
	return "UNKNOWN";
}

/* smtp_command_parse - verb, then the argument after one or more blanks. */
enum smtp_command_status
smtp_command_parse(const char *line, size_t length, struct smtp_command *out)
{
	size_t verb_length = 0;

	out->verb = SMTP_VERB_UNKNOWN;
	out->argument = line;
	out->argument_length = 0;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return SMTP_COMMAND_BAD_BYTES;
	}
	while (verb_length < length && !is_blank(line[verb_length]))
		verb_length++;
	for (size_t i = 0; i < sizeof(verb_table) / sizeof(verb_table[0]); i++) {
		if (strlen(verb_table[i].name) == verb_length &&
		    ascii_equal_nocase(line, verb_table[i].name, verb_length)) {
			out->verb = verb_table[i].verb;
			break;
		}
	}
	if (out->verb == SMTP_VERB_UNKNOWN) {
		/* "MAIL:" or "HELO.x": a known verb glued to junk is still unknown to us, but
		 * MAIL FROM:/RCPT TO: are checked below only for the real verbs. */
		return SMTP_COMMAND_OK;
	}
	size_t start = verb_length;
	while (start < length && is_blank(line[start]))
		start++;
	size_t end = length;
	while (end > start && is_blank(line[end - 1]))
		end--;
	out->argument = line + start;
	out->argument_length = end - start;

	const char *keyword = NULL;
	if (out->verb == SMTP_VERB_MAIL)
		keyword = "FROM:";
	else if (out->verb == SMTP_VERB_RCPT)
		keyword = "TO:";
	if (keyword == NULL)
		return SMTP_COMMAND_OK;
	/* RFC 5321 4.1.1.2: "MAIL FROM:<path>"; blanks after the colon are tolerated, as
	 * every widespread server does, but not between the keyword and its colon. */
	size_t keyword_length = strlen(keyword);
	if (start == verb_length || out->argument_length < keyword_length ||
	    !ascii_equal_nocase(out->argument, keyword, keyword_length))
		return SMTP_COMMAND_BAD_SYNTAX;
	out->argument += keyword_length;
	out->argument_length -= keyword_length;
	while (out->argument_length > 0 && is_blank(out->argument[0])) {
		out->argument++;
		out->argument_length--;
	}
	if (out->argument_length == 0)
		return SMTP_COMMAND_BAD_SYNTAX;
	return SMTP_COMMAND_OK;
}

/* is_esmtp_keyword_byte - ALPHA / DIGIT / "-" (RFC 5321 4.1.2 esmtp-keyword). */
static bool
is_esmtp_keyword_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-';
}

/* is_esmtp_value_byte - %d33-60 / %d62-126 (RFC 5321 4.1.2 esmtp-value). */
static bool
is_esmtp_value_byte(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '=';
}

/* keyword_is - the parameter's keyword equals name, any case. */
static bool
keyword_is(const char *keyword, size_t length, const char *name)
{
	return strlen(name) == length && ascii_equal_nocase(keyword, name, length);
}

/* parse_size_value - decimal digits, saturating; false when not all digits. */
static bool
parse_size_value(const char *value, size_t length, uint64_t *out)
{
	uint64_t size = 0;

	if (length == 0 || length > SESSION_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		if (value[i] < '0' || value[i] > '9')
			return false;
		unsigned digit = (unsigned)(value[i] - '0');
		if (size > (UINT64_MAX - digit) / 10)
			size = UINT64_MAX;
		else
			size = size * 10 + digit;
	}
	*out = size;
	return true;
}

/* smtp_mail_parameters_parse - esmtp-param *( SP esmtp-param ) after MAIL's path. */
enum smtp_parameters_status
smtp_mail_parameters_parse(const char *text, size_t length, struct smtp_mail_parameters *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < length) {
		if (!is_blank(text[i]))
			return SMTP_PARAMETERS_SYNTAX;
		while (i < length && is_blank(text[i]))
			i++;
		if (i == length)
			break;
		size_t keyword_start = i;
		while (i < length && is_esmtp_keyword_byte((unsigned char)text[i]))
			i++;
		size_t keyword_length = i - keyword_start;
		if (keyword_length == 0 || !((text[keyword_start] >= 'a' &&
		    text[keyword_start] <= 'z') || (text[keyword_start] >= 'A' &&
		    text[keyword_start] <= 'Z') || (text[keyword_start] >= '0' &&
		    text[keyword_start] <= '9')))
			return SMTP_PARAMETERS_SYNTAX;
		const char *value = NULL;
		size_t value_length = 0;
		if (i < length && text[i] == '=') {
			value = text + ++i;
			while (i < length && is_esmtp_value_byte((unsigned char)text[i]))
				i++;
			value_length = (size_t)(text + i - value);
			if (value_length == 0)
				return SMTP_PARAMETERS_SYNTAX;
		}
		if (i < length && !is_blank(text[i]))
			return SMTP_PARAMETERS_SYNTAX;
		const char *keyword = text + keyword_start;
		if (keyword_is(keyword, keyword_length, "SIZE")) {
			if (out->has_size || value == NULL ||
			    !parse_size_value(value, value_length, &out->size))
				return SMTP_PARAMETERS_SYNTAX;
			out->has_size = true;
		} else if (keyword_is(keyword, keyword_length, "BODY")) {
			if (out->body != SMTP_BODY_UNSPECIFIED || value == NULL)
				return SMTP_PARAMETERS_SYNTAX;
			if (keyword_is(value, value_length, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (keyword_is(value, value_length, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else
				return SMTP_PARAMETERS_SYNTAX;
		} else if (keyword_is(keyword, keyword_length, "AUTH")) {
			if (out->has_auth || value == NULL)
				return SMTP_PARAMETERS_SYNTAX;
			out->has_auth = true;
		} else {
			return SMTP_PARAMETERS_UNKNOWN;
		}
	}
	return SMTP_PARAMETERS_OK;
}

/* smtp_data_reader_init - the first byte after the 354 starts a line. */
void
smtp_data_reader_init(struct smtp_data_reader *reader)
{
	memset(reader, 0, sizeof(*reader));
	reader->line_start = true;
}

/* data_emit - hand a run of content to emit, counting it. */
static void
data_emit(struct smtp_data_reader *reader, const char *data, size_t length,
    smtp_data_emit_fn emit, void *arg)
{
	if (length == 0)
		return;
	reader->size += length;
	emit(arg, data, length);
}

/* data_count_byte - one more octet of the current line on the wire. */
static void
data_count_byte(struct smtp_data_reader *reader)
{
	reader->line_length++;
	if (reader->line_length > SESSION_TEXT_LINE_MAX - 2)
		reader->problems |= SMTP_DATA_LONG_LINE;
}

/* smtp_data_read - the DATA byte loop: runs of input are emitted as they are, except the
 * stuffed leading dot of a line and the final "." CRLF, which are dropped. */
size_t
smtp_data_read(struct smtp_data_reader *reader, const char *data, size_t length,
    smtp_data_emit_fn emit, void *arg, bool *done)
{
	size_t run = 0;		/* start of the run not yet emitted */

	*done = false;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)data[i];

		if (reader->held_cr) {
			/* "." CR on a line: CR LF ends the data, anything else is a bare CR. */
			reader->held_cr = false;
			if (c == '\n') {
				*done = true;
				return i + 1;
			}
			data_emit(reader, "\r", 1, emit, arg);
			reader->problems |= SMTP_DATA_BARE_CR;
			data_count_byte(reader);
			run = i;
		}
		if (reader->line_start) {
			reader->line_start = false;
			reader->line_length = 0;
			reader->dot_line = false;
			if (c == '.') {
				data_emit(reader, data + run, i - run, emit, arg);
				run = i + 1;
				reader->dot_line = true;
				data_count_byte(reader);
				continue;
			}
		}
		if (c == '\r' && reader->dot_line && reader->line_length == 1 &&
		    !reader->last_cr) {
			data_emit(reader, data + run, i - run, emit, arg);
			run = i + 1;
			reader->held_cr = true;
			continue;
		}
		if (c == '\n') {
			if (reader->last_cr) {
				reader->last_cr = false;
				reader->line_start = true;
				continue;
			}
			reader->problems |= SMTP_DATA_BARE_LF;
			data_count_byte(reader);
			continue;
		}
		if (reader->last_cr) {
			reader->problems |= SMTP_DATA_BARE_CR;
			data_count_byte(reader);	/* the CR was not a line end after all */
		}
		reader->last_cr = c == '\r';
		if (c == '\r')
			continue;
		if (c == '\0')
			reader->problems |= SMTP_DATA_NUL;
		else if (c >= 0x80)
			reader->eight_bit = true;
		data_count_byte(reader);
	}
	data_emit(reader, data + run, length - run, emit, arg);
	return length;
}

/* base64_value - the 6-bit value of a base64 letter, -1 for anything else. */
static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* smtp_base64_decode - four letters at a time; '=' only as the last one or two. */
int
smtp_base64_decode(const char *text, size_t length, unsigned char *out, size_t out_size)
{
	size_t used = 0;

	if (length % 4 != 0)
		return -1;
	for (size_t i = 0; i < length; i += 4) {
		int values[4];
		size_t padding = 0;
		for (size_t j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)text[i + j];
			if (c == '=' && i + 4 == length && j >= 2) {
				padding++;
				values[j] = 0;
				continue;
			}
			if (padding > 0)
				return -1;
			values[j] = base64_value(c);
			if (values[j] < 0)
				return -1;
		}
		uint32_t group = (uint32_t)values[0] << 18 | (uint32_t)values[1] << 12 |
		    (uint32_t)values[2] << 6 | (uint32_t)values[3];
		size_t bytes = 3 - padding;
		/* Non-canonical encodings (leftover bits set before the padding) are refused. */
		if ((padding == 1 && (group & 0xff) != 0) ||
		    (padding == 2 && (group & 0xffff) != 0))
			return -1;
		if (used + bytes > out_size)
			return -1;
		out[used++] = (unsigned char)(group >> 16);
		if (bytes > 1)
			out[used++] = (unsigned char)(group >> 8);
		if (bytes > 2)
			out[used++] = (unsigned char)group;
	}
	if (used > (size_t)INT32_MAX)
		return -1;
	return (int)used;
}

/* ---- the session: replies, transitions, transaction ---------------------------------- */

/* session_state_name - for logs. */
const char *
session_state_name(enum session_state state)
{
	if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[state];
}

/* session_transition - the one place where the state changes; a transition the table does
 * not allow is a bug of ours. */
static void
session_transition(struct session *session, enum session_state next)
{
	if ((state_transitions[session->state] & STATE_BIT(next)) == 0)
		fatal("event=session_bad_transition session=%s from=%s to=%s", session->id,
		    session_state_name(session->state), session_state_name(next));
	session->state = next;
}

/* session_write - raw reply bytes to the client. */
static void
session_write(struct session *session, const char *data, size_t length)
{
	session->ops->write(session->io, data, length);
}

/* session_close - the last reply is written: flush and close. */
static void
session_close(struct session *session)
{
	if (session->state == SESSION_CLOSING)
		return;
	session->line_pending = false;
	session_transition(session, SESSION_CLOSING);
	session->ops->close(session->io);
}

/* session_reply - one reply line (CRLF added). A client error counts towards max_errors;
 * reaching it adds 421 4.7.0 and closes the session (RFC 5321 4.5.3.1.9 spirit). */
static void __attribute__((format(printf, 3, 4)))
session_reply(struct session *session, enum reply_kind kind, const char *fmt, ...)
{
	char line[SESSION_REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	int length = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (length < 0)
		length = 0;
	if ((size_t)length > sizeof(line) - 3)
		length = (int)(sizeof(line) - 3);
	line[length++] = '\r';
	line[length++] = '\n';
	session_write(session, line, (size_t)length);
	if (kind != REPLY_CLIENT_ERROR)
		return;
	session->errors++;
	if (session->config->max_errors > 0 && session->errors >= session->config->max_errors &&
	    session->state != SESSION_CLOSING) {
		log_info("event=too_many_errors session=%s client=%s errors=%u", session->id,
		    session->client_text, session->errors);
		session_reply(session, REPLY_OK, "421 4.7.0 %s Error: too many errors",
		    session->config->hostname);
		session_close(session);
	}
}

/* session_log_refusal - one log line for a refused command, with its reply. */
static void
session_log_refusal(struct session *session, const char *command, const char *reply)
{
	char escaped[SESSION_LOG_VALUE_MAX];

	log_info("event=reject session=%s client=%s rdns=%s command=%s reply=%s", session->id,
	    session->client_text, session->rdns != NULL && session->rdns[0] != '\0' ?
	    session->rdns : "unknown", command, log_escape(reply, strlen(reply), escaped,
	    sizeof(escaped)));
}

/* session_abort_message - drop a message being read (data refused, timeout, close). */
static void
session_abort_message(struct session *session)
{
	if (session->message == NULL)
		return;
	session->ops->message_abort(session->io, session->message);
	session->message = NULL;
}

/* session_reset_transaction - forget MAIL, RCPT and the message (RSET, HELO, the end of a
 * message, a TLS start). */
static void
session_reset_transaction(struct session *session)
{
	free(session->mail_from);
	session->mail_from = NULL;
	memset(&session->mail_parameters, 0, sizeof(session->mail_parameters));
	for (size_t i = 0; i < session->recipient_count; i++)
		free((char *)session->recipients[i].address);
	session->recipient_count = 0;
	session->message_size = 0;
	session->message_too_big = false;
	session->message_failed = false;
	session->queue_id[0] = '\0';
}

/* session_rdns_text - the verified reverse name for headers and logs. */
static const char *
session_rdns_text(const struct session *session)
{
	if (session->rdns == NULL || session->rdns[0] == '\0')
		return "unknown";
	return session->rdns;
}

/* session_new - a session waiting for its greeting. */
struct session *
session_new(const struct session_settings *settings, const struct session_client *client,
    const struct session_ops *ops, void *io)
{
	struct session *session = xcalloc(1, sizeof(*session));

	session->settings = settings;
	session->config = settings->config;
	session->ops = ops;
	session->io = io;
	session->client = *client;
	session->client.id = NULL;
	snprintf(session->id, sizeof(session->id), "%s", client->id != NULL ? client->id : "-");
	if (netaddr_format(&client->address, session->client_text,
	    sizeof(session->client_text)) < 0)
		snprintf(session->client_text, sizeof(session->client_text), "unknown");
	session->state = SESSION_PREGREET;
	return session;
}

/* session_free - release everything; a message still being read is aborted. */
void
session_free(struct session *session)
{
	if (session == NULL)
		return;
	if (session->state != SESSION_COMMITTING)
		session_abort_message(session);
	session_reset_transaction(session);
	free(session->recipients);
	free(session->helo);
	free(session->rdns);
	free(session->dnsbl_reply);
	free(session->tls_version);
	free(session->tls_cipher);
	free(session->auth_user);
	free(session->auth_login_user);
	free(session);
}

/* session_greet - the 220 banner, and the end of the pregreet watch. */
void
session_greet(struct session *session)
{
	if (session->state != SESSION_PREGREET)
		return;
	session_transition(session, SESSION_GREETED);
	session_reply(session, REPLY_OK, "220 %s ESMTP relayguard", session->config->hostname);
}

/* ---- commands ------------------------------------------------------------------------ */

/* helo_name_is_acceptable - one token of printable ASCII, at most SESSION_HELO_MAX octets.
 * Stricter checks (a valid domain) would refuse real clients with underscores in their
 * names; the name is only recorded, never trusted. */
static bool
helo_name_is_acceptable(const char *name, size_t length)
{
	if (length == 0 || length > SESSION_HELO_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c >= 0x7f)
			return false;
	}
	return true;
}

/* session_auth_offered - AUTH is advertised and accepted: a users file with at least one
 * password, and TLS active (RFC 4954 14: no plaintext passwords on the wire). */
static bool
session_auth_offered(const struct session *session)
{
	return session->tls && session->settings->users != NULL &&
	    user_table_can_authenticate(session->settings->users);
}

/* command_helo - HELO and EHLO: record the name, reset, and list extensions for EHLO. */
static void
command_helo(struct session *session, const struct smtp_command *command)
{
	bool esmtp = command->verb == SMTP_VERB_EHLO;

	if (!helo_name_is_acceptable(command->argument, command->argument_length)) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	session_reset_transaction(session);
	free(session->helo);
	session->helo = xstrndup(command->argument, command->argument_length);
	session->esmtp = esmtp;
	session_transition(session, SESSION_READY);
	if (!esmtp) {
		session_reply(session, REPLY_OK, "250 %s", session->config->hostname);
		return;
	}
	const char *lines[8];
	char size_line[64];
	size_t count = 0;
	snprintf(size_line, sizeof(size_line), "SIZE %zu", session->config->message_size_limit);
	lines[count++] = "PIPELINING";
	lines[count++] = size_line;
	lines[count++] = "8BITMIME";
	lines[count++] = "ENHANCEDSTATUSCODES";
	if (session->settings->tls_available && !session->tls)
		lines[count++] = "STARTTLS";
	if (session_auth_offered(session))
		lines[count++] = "AUTH PLAIN LOGIN";
	lines[count++] = "HELP";
	session_reply(session, REPLY_OK, "250-%s", session->config->hostname);
	for (size_t i = 0; i < count; i++)
		session_reply(session, REPLY_OK, "250%c%s", i + 1 == count ? ' ' : '-', lines[i]);
}

/* command_mail - start a transaction: sender syntax, parameters, size, submission AUTH. */
static void
command_mail(struct session *session, const struct smtp_command *command)
{
	struct smtp_mailbox sender;
	struct smtp_mail_parameters parameters;
	const char *rest = NULL;
	char formatted[SESSION_MAILBOX_MAX];

	if (session->client.mode == LISTENER_SUBMISSION && !session->authenticated) {
		session_reply(session, REPLY_CLIENT_ERROR, "530 5.7.0 Authentication required");
		return;
	}
	enum address_status status = smtp_path_parse(command->argument,
	    command->argument_length, true, &sender, &rest);
	if (status == ADDRESS_TOO_LONG) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.1.7 Sender address too long");
		return;
	}
	if (status != ADDRESS_OK) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if (!sender.null && sender.domain[0] == '\0') {
		session_reply(session, REPLY_CLIENT_ERROR,
		    "553 5.1.7 Sender address must have a domain");
		return;
	}
	size_t rest_length = (size_t)(command->argument + command->argument_length - rest);
	switch (smtp_mail_parameters_parse(rest, rest_length, &parameters)) {
	case SMTP_PARAMETERS_OK:
		break;
	case SMTP_PARAMETERS_SYNTAX:
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Bad MAIL parameter syntax");
		return;
	case SMTP_PARAMETERS_UNKNOWN:
		session_reply(session, REPLY_CLIENT_ERROR, "555 5.5.4 Unsupported MAIL parameter");
		return;
	}
	if (parameters.has_size && parameters.size > session->config->message_size_limit) {
		session_reply(session, REPLY_CLIENT_ERROR,
		    "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (smtp_mailbox_format(&sender, formatted, sizeof(formatted)) < 0) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.1.7 Sender address too long");
		return;
	}
	session->mail_from = xstrdup(formatted);
	session->mail_parameters = parameters;
	session_transition(session, SESSION_MAIL);
	session_reply(session, REPLY_OK, "250 2.1.0 Ok");
}

/* session_dnsbl_exempt - clients the DNSBL verdict does not apply to: authenticated users
 * and relay_clients (trusted networks), like permit_mynetworks and
 * permit_sasl_authenticated placed before reject_rbl_client in Postfix. */
static bool
session_dnsbl_exempt(const struct session *session)
{
	return session->authenticated ||
	    netprefix_set_find(&session->config->relay_clients, &session->client.address) !=
	    NULL;
}

/* recipient_known - the address is already a recipient of this transaction. */
static bool
recipient_known(const struct session *session, const char *address)
{
	for (size_t i = 0; i < session->recipient_count; i++) {
		if (strcmp(session->recipients[i].address, address) == 0)
			return true;
	}
	return false;
}

/* command_rcpt - one recipient: limits, DNSBL verdict, syntax, then the relay policy. */
static void
command_rcpt(struct session *session, const struct smtp_command *command)
{
	struct smtp_mailbox recipient;
	const char *rest = NULL;
	char reply[RELAY_REPLY_MAX];
	char address[SESSION_MAILBOX_MAX];

	if (session->recipient_count >= session->config->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452 makes the client send the rest later. */
		session_reply(session, REPLY_OK, "452 4.5.3 Error: too many recipients");
		return;
	}
	enum address_status status = smtp_path_parse(command->argument,
	    command->argument_length, false, &recipient, &rest);
	if (status == ADDRESS_TOO_LONG) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.1.3 Recipient address too long");
		return;
	}
	if (status != ADDRESS_OK) {
		session_reply(session, REPLY_CLIENT_ERROR,
		    "501 5.1.3 Bad recipient address syntax");
		return;
	}
	size_t rest_length = (size_t)(command->argument + command->argument_length - rest);
	for (size_t i = 0; i < rest_length; i++) {
		if (!is_blank(rest[i])) {
			session_reply(session, REPLY_CLIENT_ERROR,
			    "555 5.5.4 Unsupported RCPT parameter");
			return;
		}
	}
	if (!session_dnsbl_exempt(session) && session->dnsbl_reply != NULL) {
		bool listed = session->dnsbl_verdict == DNSBL_LISTED;
		session_reply(session, listed ? REPLY_CLIENT_ERROR : REPLY_OK, "%s",
		    session->dnsbl_reply);
		session_log_refusal(session, "RCPT", session->dnsbl_reply);
		return;
	}
	struct relay_client client = {
		.address = session->client.address,
		.authenticated = session->authenticated,
	};
	reply[0] = '\0';
	enum relay_decision decision = relay_policy_decide(session->settings->policy, &client,
	    &recipient, reply, sizeof(reply));
	if (!relay_decision_accepts(decision)) {
		if (reply[0] == '\0')
			snprintf(reply, sizeof(reply), "554 5.7.1 Relay access denied");
		session_reply(session, REPLY_CLIENT_ERROR, "%s", reply);
		session_log_refusal(session, "RCPT", reply);
		return;
	}
	if (relay_policy_recipient_address(session->settings->policy, &recipient, decision,
	    address, sizeof(address)) < 0) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.1.3 Recipient address too long");
		return;
	}
	if (!recipient_known(session, address)) {
		/* Allocated at the first recipient: idle sessions stay small. */
		if (session->recipients == NULL)
			session->recipients = xcalloc(session->config->max_recipients,
			    sizeof(*session->recipients));
		session->recipients[session->recipient_count].address = xstrdup(address);
		session->recipients[session->recipient_count].decision = decision;
		session->recipient_count++;
	}
	session_transition(session, SESSION_RCPT);
	if (reply[0] == '\0' || reply[0] != '2')
		snprintf(reply, sizeof(reply), "250 2.1.5 Ok");
	session_reply(session, REPLY_OK, "%s", reply);
}

/* received_clean - copy client text for the Received header: letters, digits and
 * ".-_:[]@" kept, anything else (parentheses, quotes, blanks) becomes '_'. */
static void
received_clean(const char *text, char *out, size_t out_size)
{
	size_t used = 0;

	for (; *text != '\0' && used + 1 < out_size; text++) {
		unsigned char c = (unsigned char)*text;
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != '\0' && strchr(".-_:[]@", c) != NULL);
		out[used++] = keep ? (char)c : '_';
	}
	out[used] = '\0';
}

/* session_received - the Received header of RFC 5321 4.4 (with RFC 3848 protocol names),
 * folded so that no line comes near 998 octets. */
static void
session_received(const struct session *session, char *out, size_t out_size)
{
	char helo[SESSION_HELO_MAX + 1];
	char literal[SMTP_ADDRESS_LITERAL_MAX];
	char date[SESSION_DATE_MAX];
	char tls[200] = "";
	char auth[SESSION_LOG_VALUE_MAX + 40] = "";
	char recipient[SESSION_MAILBOX_MAX + 16] = "";
	struct tm tm;
	time_t now = time(NULL);

	received_clean(session->helo != NULL ? session->helo : "unknown", helo, sizeof(helo));
	if (smtp_address_literal_write(literal, sizeof(literal), &session->client.address) < 0)
		snprintf(literal, sizeof(literal), "[unknown]");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	const char *protocol;
	if (!session->esmtp)
		protocol = "SMTP";
	else if (session->tls && session->authenticated)
		protocol = "ESMTPSA";
	else if (session->tls)
		protocol = "ESMTPS";
	else if (session->authenticated)
		protocol = "ESMTPA";
	else
		protocol = "ESMTP";
	if (session->tls) {
		char version[64], cipher[100];
		received_clean(session->tls_version != NULL ? session->tls_version : "", version,
		    sizeof(version));
		received_clean(session->tls_cipher != NULL ? session->tls_cipher : "", cipher,
		    sizeof(cipher));
		snprintf(tls, sizeof(tls), "\r\n\t(using %s with cipher %s)", version, cipher);
	}
	if (session->authenticated) {
		char user[SESSION_LOG_VALUE_MAX];
		received_clean(session->auth_user, user, sizeof(user));
		snprintf(auth, sizeof(auth), "\r\n\t(authenticated as %s)", user);
	}
	/* Name the recipient only when there is one (RFC 5321 7.2: no list disclosure). */
	if (session->recipient_count == 1)
		snprintf(recipient, sizeof(recipient), "\r\n\tfor <%s>",
		    session->recipients[0].address);
	snprintf(out, out_size,
	    "Received: from %s (%s %s)\r\n"
	    "\tby %s (relayguard) with %s id %s%s%s%s;\r\n"
	    "\t%s\r\n",
	    helo, session_rdns_text(session), literal, session->config->hostname, protocol,
	    session->queue_id, tls, auth, recipient, date);
}

/* command_data - check the transaction, open the queue file, then 354. */
static void
command_data(struct session *session, const struct smtp_command *command)
{
	char received[SESSION_RECEIVED_MAX];
	char err[256];

	if (command->argument_length > 0) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: DATA");
		return;
	}
	session->ops->queue_id_new(session->io, session->queue_id);
	session_received(session, received, sizeof(received));
	struct queue_envelope envelope = {
		.mail_from = session->mail_from,
		.recipients = session->recipients,
		.recipient_count = session->recipient_count,
		.received_header = received,
		.queue_id = session->queue_id,
		.body_8bit = session->mail_parameters.body == SMTP_BODY_8BITMIME,
	};
	err[0] = '\0';
	session->message = session->ops->message_begin(session->io, &envelope, err,
	    sizeof(err));
	if (session->message == NULL) {
		log_error("event=queue_begin_failed session=%s queue_id=%s reason=\"%s\"",
		    session->id, session->queue_id, err);
		session_reset_transaction(session);
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_OK, "451 4.3.0 Error: queue file write error");
		return;
	}
	smtp_data_reader_init(&session->data);
	session->message_size = 0;
	session_transition(session, SESSION_DATA);
	session_reply(session, REPLY_OK, "354 End data with <CR><LF>.<CR><LF>");
}

/* command_rset - abort the transaction (RFC 5321 4.1.1.5). */
static void
command_rset(struct session *session, const struct smtp_command *command)
{
	if (command->argument_length > 0) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: RSET");
		return;
	}
	session_reset_transaction(session);
	if (session->state != SESSION_GREETED)
		session_transition(session, SESSION_READY);
	session_reply(session, REPLY_OK, "250 2.0.0 Ok");
}

/* command_noop - nothing (its argument is ignored, RFC 5321 4.1.1.9). */
static void
command_noop(struct session *session, const struct smtp_command *command)
{
	(void)command;
	session_reply(session, REPLY_OK, "250 2.0.0 Ok");
}

/* command_quit - 221 and close. */
static void
command_quit(struct session *session, const struct smtp_command *command)
{
	(void)command;
	session_reply(session, REPLY_OK, "221 2.0.0 Bye");
	session_close(session);
}

/* command_vrfy - 252: never says whether a user exists (RFC 5321 3.5.3, 7.3). */
static void
command_vrfy(struct session *session, const struct smtp_command *command)
{
	if (command->argument_length == 0) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	session_reply(session, REPLY_OK,
	    "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

/* command_expn - mailing lists are never expanded for strangers (RFC 5321 7.3). */
static void
command_expn(struct session *session, const struct smtp_command *command)
{
	(void)command;
	session_reply(session, REPLY_CLIENT_ERROR, "502 5.5.1 EXPN not available");
}

/* command_help - one line, no version. */
static void
command_help(struct session *session, const struct smtp_command *command)
{
	(void)command;
	session_reply(session, REPLY_OK, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET "
	    "NOOP QUIT VRFY HELP%s%s", session->settings->tls_available && !session->tls ?
	    " STARTTLS" : "", session_auth_offered(session) ? " AUTH" : "");
}

/* command_starttls - RFC 3207: 220, then the server discards pipelined plaintext and
 * starts the handshake; the session waits in SESSION_TLS_STARTING. */
static void
command_starttls(struct session *session, const struct smtp_command *command)
{
	if (!session->settings->tls_available) {
		session_reply(session, REPLY_CLIENT_ERROR, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (session->tls) {
		session_reply(session, REPLY_CLIENT_ERROR, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (command->argument_length > 0) {
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	session_reset_transaction(session);
	session_transition(session, SESSION_TLS_STARTING);
	session_reply(session, REPLY_OK, "220 2.0.0 Ready to start TLS");
	session->ops->start_tls(session->io);
}

/* auth_finish - check a user name and password, answer 235 or 535. */
static void
auth_finish(struct session *session, const char *user, size_t user_length,
    const char *password, size_t password_length)
{
	char escaped[SESSION_LOG_VALUE_MAX];

	session_transition(session, SESSION_READY);
	log_escape(user, user_length, escaped, sizeof(escaped));
	if (!user_table_authenticate(session->settings->users, user, user_length, password,
	    password_length)) {
		log_info("event=auth_failed session=%s client=%s user=%s", session->id,
		    session->client_text, escaped);
		session_reply(session, REPLY_CLIENT_ERROR,
		    "535 5.7.8 Authentication credentials invalid");
		return;
	}
	session->authenticated = true;
	free(session->auth_user);
	session->auth_user = xstrndup(user, user_length);
	log_info("event=auth session=%s client=%s user=%s", session->id, session->client_text,
	    escaped);
	session_reply(session, REPLY_OK, "235 2.7.0 Authentication successful");
}

/* auth_decode - a base64 client response; false (and a 501 written) when it is "*" or
 * does not decode. */
static bool
auth_decode(struct session *session, const char *text, size_t length, unsigned char *out,
    size_t out_size, size_t *out_length)
{
	if (length == 1 && text[0] == '*') {
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.7.0 Authentication aborted");
		return false;
	}
	if (length == 1 && text[0] == '=') {	/* RFC 4954 4: an empty initial response */
		*out_length = 0;
		return true;
	}
	int decoded = smtp_base64_decode(text, length, out, out_size);
	if (decoded < 0) {
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.2 Cannot decode response");
		return false;
	}
	*out_length = (size_t)decoded;
	return true;
}

/* auth_plain - "[authzid] NUL authcid NUL passwd" (RFC 4616 2); authzid must be empty or
 * the same user. */
static void
auth_plain(struct session *session, const char *text, size_t length)
{
	unsigned char decoded[SESSION_AUTH_DECODED_MAX];
	size_t decoded_length;

	if (!auth_decode(session, text, length, decoded, sizeof(decoded), &decoded_length))
		return;
	const char *bytes = (const char *)decoded;
	const char *first = memchr(bytes, '\0', decoded_length);
	const char *second = first != NULL ? memchr(first + 1, '\0',
	    decoded_length - (size_t)(first + 1 - bytes)) : NULL;
	if (second == NULL) {
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_CLIENT_ERROR,
		    "535 5.7.8 Authentication credentials invalid");
		return;
	}
	size_t authzid_length = (size_t)(first - bytes);
	const char *user = first + 1;
	size_t user_length = (size_t)(second - user);
	const char *password = second + 1;
	size_t password_length = decoded_length - (size_t)(password - bytes);
	if (authzid_length > 0 && (authzid_length != user_length ||
	    !ascii_equal_nocase(bytes, user, user_length))) {
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_CLIENT_ERROR,
		    "535 5.7.8 Authentication credentials invalid");
		return;
	}
	auth_finish(session, user, user_length, password, password_length);
}

/* auth_login_user - the user name of AUTH LOGIN; ask for the password. */
static void
auth_login_user(struct session *session, const char *text, size_t length)
{
	unsigned char decoded[SESSION_AUTH_DECODED_MAX];
	size_t decoded_length;

	if (!auth_decode(session, text, length, decoded, sizeof(decoded), &decoded_length))
		return;
	free(session->auth_login_user);
	session->auth_login_user = xstrndup((const char *)decoded, decoded_length);
	session_transition(session, SESSION_AUTH_LOGIN_PASSWORD);
	session_reply(session, REPLY_OK, "334 UGFzc3dvcmQ6");	/* "Password:" */
}

/* auth_login_password - the password of AUTH LOGIN. */
static void
auth_login_password(struct session *session, const char *text, size_t length)
{
	unsigned char decoded[SESSION_AUTH_DECODED_MAX];
	size_t decoded_length;

	if (!auth_decode(session, text, length, decoded, sizeof(decoded), &decoded_length))
		return;
	char *user = session->auth_login_user;
	session->auth_login_user = NULL;
	/* A user name with a NUL was cut by xstrndup: it cannot match anyway. */
	auth_finish(session, user, strlen(user), (const char *)decoded, decoded_length);
	free(user);
}

/* command_auth - RFC 4954 with PLAIN (RFC 4616) and LOGIN, only under TLS. */
static void
command_auth(struct session *session, const struct smtp_command *command)
{
	if (session->settings->users == NULL ||
	    !user_table_can_authenticate(session->settings->users)) {
		session_reply(session, REPLY_CLIENT_ERROR,
		    "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (!session->tls) {
		session_reply(session, REPLY_CLIENT_ERROR,
		    "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if (session->authenticated) {
		session_reply(session, REPLY_CLIENT_ERROR, "503 5.5.1 Error: already authenticated");
		return;
	}
	const char *mechanism = command->argument;
	size_t mechanism_length = 0;
	while (mechanism_length < command->argument_length &&
	    !is_blank(mechanism[mechanism_length]))
		mechanism_length++;
	const char *initial = mechanism + mechanism_length;
	size_t initial_length = command->argument_length - mechanism_length;
	while (initial_length > 0 && is_blank(initial[0])) {
		initial++;
		initial_length--;
	}
	if (keyword_is(mechanism, mechanism_length, "PLAIN")) {
		session_transition(session, SESSION_AUTH_PLAIN);
		if (initial_length > 0)
			auth_plain(session, initial, initial_length);
		else
			session_reply(session, REPLY_OK, "334 ");
		return;
	}
	if (keyword_is(mechanism, mechanism_length, "LOGIN")) {
		session_transition(session, SESSION_AUTH_LOGIN_USER);
		if (initial_length > 0)
			auth_login_user(session, initial, initial_length);
		else
			session_reply(session, REPLY_OK, "334 VXNlcm5hbWU6");	/* "Username:" */
		return;
	}
	if (mechanism_length == 0)
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: AUTH mechanism");
	else
		session_reply(session, REPLY_CLIENT_ERROR,
		    "504 5.5.4 Unrecognized authentication type");
}

typedef void (*command_handler)(struct session *, const struct smtp_command *);

#define STATES_COMMAND (STATE_BIT(SESSION_GREETED) | STATE_BIT(SESSION_READY) | \
    STATE_BIT(SESSION_MAIL) | STATE_BIT(SESSION_RCPT))
#define STATES_NO_TRANSACTION (STATE_BIT(SESSION_GREETED) | STATE_BIT(SESSION_READY))

/* The command table: the states in which a verb is in sequence, and its handler. The
 * reply for an out-of-sequence verb depends on the state (command_out_of_sequence). */
static const struct {
	enum smtp_verb verb;
	unsigned allowed;
	command_handler handler;
	bool needs_dnsbl;		/* wait for the DNSBL answer first */
	bool needs_rdns;		/* wait for the reverse name first */
} command_table[] = {
	{ SMTP_VERB_HELO, STATES_COMMAND, command_helo, false, false },
	{ SMTP_VERB_EHLO, STATES_COMMAND, command_helo, false, false },
	{ SMTP_VERB_MAIL, STATE_BIT(SESSION_READY), command_mail, false, false },
	{ SMTP_VERB_RCPT, STATE_BIT(SESSION_MAIL) | STATE_BIT(SESSION_RCPT), command_rcpt, true,
	    false },
	{ SMTP_VERB_DATA, STATE_BIT(SESSION_RCPT), command_data, false, true },
	{ SMTP_VERB_RSET, STATES_COMMAND, command_rset, false, false },
	{ SMTP_VERB_NOOP, STATES_COMMAND, command_noop, false, false },
	{ SMTP_VERB_QUIT, STATES_COMMAND, command_quit, false, false },
	{ SMTP_VERB_VRFY, STATES_COMMAND, command_vrfy, false, false },
	{ SMTP_VERB_EXPN, STATES_COMMAND, command_expn, false, false },
	{ SMTP_VERB_HELP, STATES_COMMAND, command_help, false, false },
	{ SMTP_VERB_STARTTLS, STATES_NO_TRANSACTION, command_starttls, false, false },
	{ SMTP_VERB_AUTH, STATE_BIT(SESSION_READY), command_auth, false, false },
};

/* command_out_of_sequence - the 503 (or 554) for a verb sent in the wrong state. */
static void
command_out_of_sequence(struct session *session, enum smtp_verb verb)
{
	const char *reply;

	switch (verb) {
	case SMTP_VERB_MAIL:
		reply = session->state == SESSION_GREETED ? "503 5.5.1 Error: send HELO/EHLO first" :
		    "503 5.5.1 Error: nested MAIL command";
		break;
	case SMTP_VERB_RCPT:
		reply = "503 5.5.1 Error: need MAIL command";
		break;
	case SMTP_VERB_DATA:
		/* RFC 5321 3.3: DATA without any accepted recipient: 503 or 554. */
		reply = session->state == SESSION_MAIL ? "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command";
		break;
	case SMTP_VERB_AUTH:
		reply = session->state == SESSION_GREETED ? "503 5.5.1 Error: send EHLO first" :
		    "503 5.5.1 Error: MAIL transaction in progress";
		break;
	case SMTP_VERB_STARTTLS:
		reply = "503 5.5.1 Error: MAIL transaction in progress";
		break;
	default:
		reply = "503 5.5.1 Error: bad sequence of commands";
		break;
	}
	session_reply(session, REPLY_CLIENT_ERROR, "%s", reply);
}

/* session_command - run one complete command line; false when it must wait for a lookup
 * answer (the line stays in session->line). */
static bool
session_command(struct session *session, const char *line, size_t length)
{
	struct smtp_command command;

	switch (smtp_command_parse(line, length, &command)) {
	case SMTP_COMMAND_OK:
		break;
	case SMTP_COMMAND_BAD_BYTES:
		session_reply(session, REPLY_CLIENT_ERROR,
		    "500 5.5.2 Error: invalid characters in command");
		return true;
	case SMTP_COMMAND_BAD_SYNTAX:
		session_reply(session, REPLY_CLIENT_ERROR, "501 5.5.4 Syntax: %s",
		    command.verb == SMTP_VERB_MAIL ? "MAIL FROM:<address>" : "RCPT TO:<address>");
		return true;
	}
	for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++) {
		if (command_table[i].verb != command.verb)
			continue;
		if ((command_table[i].allowed & STATE_BIT(session->state)) == 0) {
			command_out_of_sequence(session, command.verb);
			return true;
		}
		if (command_table[i].needs_dnsbl && !session->dnsbl_known &&
		    !session_dnsbl_exempt(session))
			return false;
		if (command_table[i].needs_rdns && !session->rdns_known)
			return false;
		command_table[i].handler(session, &command);
		return true;
	}
	session_reply(session, REPLY_CLIENT_ERROR, "500 5.5.2 Error: command not recognized");
	return true;
}

/* session_line - one complete line, as a command or as an AUTH response. */
static bool
session_line(struct session *session, const char *line, size_t length)
{
	switch (session->state) {
	case SESSION_AUTH_PLAIN:
		auth_plain(session, line, length);
		return true;
	case SESSION_AUTH_LOGIN_USER:
		auth_login_user(session, line, length);
		return true;
	case SESSION_AUTH_LOGIN_PASSWORD:
		auth_login_password(session, line, length);
		return true;
	default:
		return session_command(session, line, length);
	}
}

/* session_line_too_long - 500 5.5.6 for an overlong line; an AUTH exchange ends with it. */
static void
session_line_too_long(struct session *session)
{
	bool auth = session->state == SESSION_AUTH_PLAIN ||
	    session->state == SESSION_AUTH_LOGIN_USER ||
	    session->state == SESSION_AUTH_LOGIN_PASSWORD;

	if (auth) {
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_CLIENT_ERROR,
		    "500 5.5.6 Authentication Exchange line is too long");
		return;
	}
	log_info("event=line_too_long session=%s client=%s", session->id,
	    session->client_text);
	session_reply(session, REPLY_CLIENT_ERROR, "500 5.5.6 Error: line too long");
}

/* session_run_pending - run the line kept while waiting for a lookup, if it can run now. */
static void
session_run_pending(struct session *session)
{
	if (!session->line_pending || session->state == SESSION_CLOSING)
		return;
	if (!session_line(session, session->line, session->line_length))
		return;
	session->line_pending = false;
	session->line_length = 0;
}

/* ---- message data -------------------------------------------------------------------- */

/* session_data_emit - content from the DATA reader into the sink, within the size limit. */
static void
session_data_emit(void *arg, const char *data, size_t length)
{
	struct session *session = arg;

	session->message_size += length;
	if (session->message == NULL)
		return;
	if (session->message_size > session->config->message_size_limit) {
		session->message_too_big = true;
		session_abort_message(session);
		return;
	}
	if (!session->ops->message_append(session->io, session->message, data, length)) {
		session->message_failed = true;
		session_abort_message(session);
	}
}

/* session_data_refusal - the reply for a message that cannot be accepted, NULL if none.
 * Bare LF / bare CR: RFC 5321 2.3.8 allows CRLF only; refusing (rather than repairing)
 * keeps a smuggled "<LF>.<LF>" from ever meaning anything downstream. */
static const char *
session_data_refusal(const struct session *session)
{
	if (session->message_too_big)
		return "552 5.3.4 Error: message file too big";
	if (session->data.problems & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR))
		return "554 5.5.2 Error: bare <LF> or <CR> in message data (RFC 5321 2.3.8)";
	if (session->data.problems & SMTP_DATA_NUL)
		return "554 5.6.0 Error: NUL byte in message data";
	if (session->data.problems & SMTP_DATA_LONG_LINE)
		return "554 5.6.0 Error: message line longer than 1000 octets "
		    "(RFC 5321 4.5.3.1.6)";
	return NULL;
}

/* session_data_end - the final dot: refuse, or hand the message to the queue. */
static void
session_data_end(struct session *session)
{
	const char *refusal = session_data_refusal(session);

	if (refusal != NULL) {
		session_abort_message(session);
		session_log_refusal(session, "DATA", refusal);
		session_reset_transaction(session);
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_CLIENT_ERROR, "%s", refusal);
		return;
	}
	if (session->message_failed || session->message == NULL) {
		session_abort_message(session);
		session_reset_transaction(session);
		session_transition(session, SESSION_READY);
		session_reply(session, REPLY_OK, "451 4.3.0 Error: queue file write error");
		return;
	}
	void *message = session->message;
	session->message = NULL;
	session_transition(session, SESSION_COMMITTING);
	session->ops->message_commit(session->io, message);
}

/* session_commit_done - 250 only now: the queue file is on disk. */
void
session_commit_done(struct session *session, bool ok, const char *queue_id)
{
	if (session->state != SESSION_COMMITTING)
		fatal("event=session_commit_unexpected session=%s state=%s", session->id,
		    session_state_name(session->state));
	session_transition(session, SESSION_READY);
	if (!ok) {
		log_error("event=queue_commit_failed session=%s queue_id=%s", session->id,
		    session->queue_id);
		session_reset_transaction(session);
		session_reply(session, REPLY_OK, "451 4.3.0 Error: queue file write error");
		return;
	}
	session->messages++;
	char escaped[SESSION_LOG_VALUE_MAX];
	log_info("event=queued session=%s queue_id=%s client=%s rdns=%s from=%s recipients=%zu "
	    "size=%llu tls=%s auth=%s", session->id, queue_id != NULL ? queue_id :
	    session->queue_id, session->client_text, session_rdns_text(session),
	    log_escape(session->mail_from, strlen(session->mail_from), escaped, sizeof(escaped)),
	    session->recipient_count, (unsigned long long)session->message_size,
	    session->tls ? "yes" : "no", session->authenticated ? "yes" : "no");
	session_reply(session, REPLY_OK, "250 2.0.0 Ok: queued as %s",
	    queue_id != NULL ? queue_id : session->queue_id);
	session_reset_transaction(session);
}

/* ---- input --------------------------------------------------------------------------- */

/* session_is_waiting - no input is taken while the server works for the session. */
bool
session_is_waiting(const struct session *session)
{
	return session->line_pending || session->state == SESSION_COMMITTING ||
	    session->state == SESSION_TLS_STARTING || session->state == SESSION_CLOSING;
}

/* session_feed_line - read command-line bytes until a line is complete; returns the
 * octets used. Lines end with LF; a CR right before it is dropped (bare LF is tolerated
 * on command lines, where it cannot smuggle anything: only DATA is sensitive). */
static size_t
session_feed_line(struct session *session, const char *data, size_t length)
{
	const char *newline = memchr(data, '\n', length);
	size_t take = newline != NULL ? (size_t)(newline - data) : length;

	if (!session->line_overflow) {
		size_t room = sizeof(session->line) - session->line_length;
		if (take > room) {
			session->line_overflow = true;
		} else {
			memcpy(session->line + session->line_length, data, take);
			session->line_length += take;
		}
	}
	if (newline == NULL)
		return length;
	size_t line_length = session->line_length;
	if (line_length > 0 && session->line[line_length - 1] == '\r')
		line_length--;
	if (session->line_overflow || line_length > SESSION_COMMAND_LINE_MAX - 2) {
		session->line_overflow = false;
		session->line_length = 0;
		session_line_too_long(session);
		return take + 1;
	}
	session->line_length = line_length;
	if (session_line(session, session->line, session->line_length))
		session->line_length = 0;
	else
		session->line_pending = true;
	return take + 1;
}

/* session_feed - the input loop: commands, AUTH responses, or message data. */
size_t
session_feed(struct session *session, const char *data, size_t length)
{
	size_t used = 0;

	while (used < length && !session_is_waiting(session)) {
		if (session->state == SESSION_PREGREET) {
			/* RFC 5321 4.3.1: the client waits for the greeting. Talking first is
			 * what spam engines do (postscreen's pregreet test). */
			log_info("event=early_talker session=%s client=%s", session->id,
			    session->client_text);
			session_reply(session, REPLY_OK,
			    "554 5.5.0 %s Error: talked before the greeting", session->config->hostname);
			session_close(session);
			return length;
		}
		if (session->state == SESSION_DATA) {
			bool done = false;
			used += smtp_data_read(&session->data, data + used, length - used,
			    session_data_emit, session, &done);
			if (done)
				session_data_end(session);
			continue;
		}
		used += session_feed_line(session, data + used, length - used);
	}
	return used;
}

/* ---- answers from the server ------------------------------------------------------------ */

/* session_set_rdns - remember the verified name; run a DATA that waited for it. */
void
session_set_rdns(struct session *session, const char *name)
{
	free(session->rdns);
	session->rdns = xstrdup(name != NULL ? name : "");
	session->rdns_known = true;
	session_run_pending(session);
}

/* session_set_dnsbl - remember the verdict as the reply RCPT will give; run a waiting
 * RCPT. */
void
session_set_dnsbl(struct session *session, const struct dnsbl_result *result)
{
	char reply[SESSION_REPLY_MAX];

	session->dnsbl_known = true;
	session->dnsbl_verdict = result->verdict;
	free(session->dnsbl_reply);
	session->dnsbl_reply = NULL;
	if (result->verdict == DNSBL_LISTED) {
		snprintf(reply, sizeof(reply), "554 5.7.1 Service unavailable; client [%s] "
		    "blocked using %s%s%s", session->client_text, result->zone,
		    result->reason[0] != '\0' ? "; " : "", result->reason);
		session->dnsbl_reply = xstrdup(reply);
		log_info("event=dnsbl_listed session=%s client=%s zone=%s score=%d",
		    session->id, session->client_text, result->zone, result->score);
	} else if (result->verdict == DNSBL_TEMPFAIL) {
		snprintf(reply, sizeof(reply), "451 4.7.1 Service unavailable; client [%s] "
		    "could not be checked against DNSBLs, try again later", session->client_text);
		session->dnsbl_reply = xstrdup(reply);
		log_info("event=dnsbl_tempfail session=%s client=%s failed_zones=%u",
		    session->id, session->client_text, result->failed_zones);
	}
	session_run_pending(session);
}

/* session_tls_started - RFC 3207 4.2: discard what was learnt, wait for EHLO again. */
void
session_tls_started(struct session *session, const char *version, const char *cipher)
{
	session->tls = true;
	free(session->tls_version);
	free(session->tls_cipher);
	session->tls_version = xstrdup(version != NULL ? version : "");
	session->tls_cipher = xstrdup(cipher != NULL ? cipher : "");
	free(session->helo);
	session->helo = NULL;
	session->esmtp = false;
	session->line_length = 0;
	session->line_overflow = false;
	session->line_pending = false;
	session_reset_transaction(session);
	log_info("event=tls session=%s client=%s version=%s cipher=%s", session->id,
	    session->client_text, session->tls_version, session->tls_cipher);
	if (session->state == SESSION_TLS_STARTING)
		session_transition(session, SESSION_GREETED);
}

/* session_timeout - the per-state timer of the server fired. */
void
session_timeout(struct session *session)
{
	if (session->state == SESSION_CLOSING)
		return;
	log_info("event=timeout session=%s client=%s state=%s", session->id,
	    session->client_text, session_state_name(session->state));
	if (session->state != SESSION_COMMITTING)
		session_abort_message(session);
	session_reply(session, REPLY_OK, "421 4.4.2 %s Error: timeout exceeded",
	    session->config->hostname);
	session_close(session);
}

/* session_shutdown - the daemon stops; a commit in flight finishes first. */
void
session_shutdown(struct session *session)
{
	if (session->state == SESSION_CLOSING || session->state == SESSION_COMMITTING)
		return;
	session_abort_message(session);
	session_reply(session, REPLY_OK, "421 4.3.2 %s Service shutting down",
	    session->config->hostname);
	session_close(session);
}

enum session_state
session_state(const struct session *session)
{
	return session->state;
}

/* session_read_timeout_ms - per-state client timeouts (RFC 5321 4.5.3.2). */
uint64_t
session_read_timeout_ms(const struct session *session)
{
	switch (session->state) {
	case SESSION_DATA:
		return session->config->data_timeout_ms;
	case SESSION_COMMITTING:
	case SESSION_CLOSING:
		return 0;
	default:
		return session->line_pending ? 0 : session->config->command_timeout_ms;
	}
}

bool
session_needs_rdns(const struct session *session)
{
	return !session->rdns_known;
}

bool
session_needs_dnsbl(const struct session *session)
{
	return !session->dnsbl_known;
}

unsigned
session_errors(const struct session *session)
{
	return session->errors;
}

unsigned
session_messages(const struct session *session)
{
	return session->messages;
}
