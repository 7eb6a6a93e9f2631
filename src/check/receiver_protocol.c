/* receiver_protocol.c - parser, recipient checks, token scanner and session state machine of the
 * --confirm receiver. Faces the hostile Internet: bounded, never relays, trusts nothing. */
#include "check/receiver_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/log.h"

#define RECEIVER_LOG_VALUE_MAX 600	/* escaped client text in one log value */
#define RECEIVER_LITERAL_MAX 64		/* longest address literal we look inside */
#define RECEIVER_PORT_MAX 65535
#define RECEIVER_SIZE_DIGITS_MAX 20

enum session_phase {
	PHASE_GREETED,		/* banner sent, waiting for HELO/EHLO */
	PHASE_READY,		/* greeted, no transaction */
	PHASE_MAIL,		/* MAIL accepted, no recipient yet */
	PHASE_RCPT,		/* at least one recipient accepted */
	PHASE_DATA,		/* reading message lines up to the final dot */
	PHASE_CLOSED,		/* QUIT answered or 421 sent */
};

struct session_token {
	char token[RECEIVER_TOKEN_LENGTH + 1];
	size_t recipient;	/* index of the recipient reported with it */
};

struct receiver_session {
	enum session_phase phase;
	char *probe_domain;
	char *peer_address;
	struct sockaddr_storage local_address;
	bool has_local_address;
	receiver_arrival_fn arrival_fn;
	void *arrival_arg;

	/* the line being read; commands keep RECEIVER_COMMAND_LINE_MAX - 1 octets before the LF,
	 * message lines RECEIVER_TEXT_LINE_MAX - 1; the rest of a longer line is dropped */
	char line[RECEIVER_TEXT_LINE_MAX];
	size_t line_length;
	size_t line_wire_length;	/* octets of the line so far, dropped ones included */
	bool line_overflow;
	unsigned int errors;

	/* the transaction */
	char *mail_from;
	char *recipients[RECEIVER_RECIPIENT_MAX];
	size_t recipient_count;
	size_t message_size;
	bool message_oversized;
	struct session_token tokens[RECEIVER_MESSAGE_TOKEN_MAX];
	size_t token_count;
	bool tokens_dropped;
	size_t scan_recipient;	/* recipient index credited by token_collect */
};

static const struct {
	const char *name;
	enum receiver_verb verb;
} verb_table[] = {
	{ "HELO", RV_HELO },
	{ "EHLO", RV_EHLO },
	{ "MAIL", RV_MAIL },
	{ "RCPT", RV_RCPT },
	{ "DATA", RV_DATA },
	{ "RSET", RV_RSET },
	{ "NOOP", RV_NOOP },
	{ "QUIT", RV_QUIT },
	{ "VRFY", RV_VRFY },
};

/* ascii_lower - lower-case an ASCII letter, leave every other byte alone (no locale). */
static unsigned char
ascii_lower(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c - 'A' + 'a');
	return c;
}

/* ascii_equal_nocase - compare two byte ranges of equal length ignoring ASCII case. */
static bool
ascii_equal_nocase(const char *a, const char *b, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return false;
	}
	return true;
}

/* is_word_byte - ASCII letter or digit: what may not touch a token on either side. */
static bool
is_word_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_hex_byte - an ASCII hex digit of either case. */
static bool
is_hex_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* is_blank - SP or HT. */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* trim_blanks - shrink [*text, *text + *length) past leading and trailing blanks. */
static void
trim_blanks(const char **text, size_t *length)
{
	while (*length > 0 && is_blank(**text)) {
		(*text)++;
		(*length)--;
	}
	while (*length > 0 && is_blank((*text)[*length - 1]))
		(*length)--;
}

/* parse_path - " KEYWORD<path>[ parameters]" after MAIL/RCPT; keyword includes the colon. */
static bool
parse_path(const char *rest, size_t length, const char *keyword, bool allow_empty,
    struct receiver_command *out)
{
	size_t keyword_length = strlen(keyword);
	size_t i = 0;

	if (length < 1 + keyword_length || rest[0] != ' ')
		return false;
	if (!ascii_equal_nocase(rest + 1, keyword, keyword_length))
		return false;
	i = 1 + keyword_length;
	while (i < length && rest[i] == ' ')
		i++;
	if (i >= length || rest[i] != '<')
		return false;
	size_t start = ++i;
	bool quoted = false;
	for (; i < length; i++) {
		char c = rest[i];
		if (quoted) {
			if (c == '\\') {
				if (++i >= length)
					return false;
			} else if (c == '"')
				quoted = false;
			continue;
		}
		if (c == '"')
			quoted = true;
		else if (c == '>')
			break;
		else if (c == '<' || is_blank(c))
			return false;
	}
	if (i >= length)
		return false;
	out->argument = rest + start;
	out->argument_length = i - start;
	if (out->argument_length == 0 && !allow_empty)
		return false;

	const char *tail = rest + i + 1;
	size_t tail_length = length - i - 1;
	if (tail_length > 0 && tail[0] != ' ')
		return false;
	trim_blanks(&tail, &tail_length);
	if (tail_length > 0) {
		out->parameters = tail;
		out->parameters_length = tail_length;
	}
	return true;
}

/* receiver_command_parse - split one command line into verb, argument and parameters. */
bool
receiver_command_parse(const char *line, size_t length, struct receiver_command *out)
{
	size_t verb_length = 0;

	out->verb = RV_UNKNOWN;
	out->argument = line;
	out->argument_length = 0;
	out->parameters = NULL;
	out->parameters_length = 0;

	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
	}
	while (verb_length < length && line[verb_length] != ' ')
		verb_length++;
	if (verb_length == 0)
		return false;

	const char *rest = line + verb_length;
	size_t rest_length = length - verb_length;
	const char *text = rest;
	size_t text_length = rest_length;
	trim_blanks(&text, &text_length);

	for (size_t v = 0; v < sizeof(verb_table) / sizeof(verb_table[0]); v++) {
		if (strlen(verb_table[v].name) == verb_length &&
		    ascii_equal_nocase(line, verb_table[v].name, verb_length)) {
			out->verb = verb_table[v].verb;
			break;
		}
	}

	switch (out->verb) {
	case RV_MAIL:
		return parse_path(rest, rest_length, "FROM:", true, out);
	case RV_RCPT:
		return parse_path(rest, rest_length, "TO:", false, out);
	case RV_DATA:
	case RV_RSET:
	case RV_QUIT:
		return text_length == 0;
	case RV_HELO:
	case RV_EHLO:
	case RV_VRFY:
		out->argument = text;
		out->argument_length = text_length;
		return text_length > 0;
	case RV_NOOP:
	case RV_UNKNOWN:
		out->argument = text;
		out->argument_length = text_length;
		return true;
	}
	return false;
}

/* skip_source_route - offset of the mailbox after an "@a,@b:" source route (0 when none);
 * false when a route is opened but never closed. Colons inside [literals] do not count. */
static bool
skip_source_route(const char *path, size_t length, size_t *mailbox)
{
	bool bracketed = false;

	*mailbox = 0;
	if (length == 0 || path[0] != '@')
		return true;
	for (size_t i = 0; i < length; i++) {
		if (path[i] == '[')
			bracketed = true;
		else if (path[i] == ']')
			bracketed = false;
		else if (path[i] == ':' && !bracketed) {
			*mailbox = i + 1;
			return true;
		}
	}
	return false;
}

/* receiver_domain_of - the final mailbox domain of a path, source route stripped. */
bool
receiver_domain_of(const char *path, size_t length, const char **domain, size_t *domain_length)
{
	size_t start;
	size_t at = SIZE_MAX;
	bool quoted = false;

	if (!skip_source_route(path, length, &start))
		return false;
	for (size_t i = start; i < length; i++) {
		char c = path[i];
		if (quoted) {
			if (c == '\\' && i + 1 < length)
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (c == '"')
			quoted = true;
		else if (c == '@')
			at = i;
	}
	if (quoted || at == SIZE_MAX || at == start || at + 1 >= length)
		return false;
	*domain = path + at + 1;
	*domain_length = length - at - 1;
	return true;
}

/* receiver_domain_matches - is the path's domain this one (case and trailing dot ignored)? */
bool
receiver_domain_matches(const char *path, size_t length, const char *domain)
{
	const char *found;
	size_t found_length;
	size_t wanted_length = strlen(domain);

	if (!receiver_domain_of(path, length, &found, &found_length))
		return false;
	if (found_length > 0 && found[found_length - 1] == '.')
		found_length--;
	if (wanted_length > 0 && domain[wanted_length - 1] == '.')
		wanted_length--;
	if (found_length == 0 || found_length != wanted_length)
		return false;
	return ascii_equal_nocase(found, domain, found_length);
}

/* receiver_literal_matches - is the path's domain an address literal naming address? */
bool
receiver_literal_matches(const char *path, size_t length, const struct sockaddr *address)
{
	static const char ipv6_tag[] = "IPv6:";
	const size_t ipv6_tag_length = sizeof(ipv6_tag) - 1;
	const char *domain;
	size_t domain_length;
	char text[RECEIVER_LITERAL_MAX];
	int family = AF_INET;
	unsigned char literal[sizeof(struct in6_addr)];

	if (address == NULL || !receiver_domain_of(path, length, &domain, &domain_length))
		return false;
	if (domain_length < 3 || domain[0] != '[' || domain[domain_length - 1] != ']')
		return false;
	domain++;
	domain_length -= 2;
	if (domain_length > ipv6_tag_length &&
	    ascii_equal_nocase(domain, ipv6_tag, ipv6_tag_length)) {
		family = AF_INET6;
		domain += ipv6_tag_length;
		domain_length -= ipv6_tag_length;
	}
	if (domain_length >= sizeof(text))
		return false;
	memcpy(text, domain, domain_length);
	text[domain_length] = '\0';
	if (inet_pton(family, text, literal) != 1)
		return false;

	if (address->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)address;
		return family == AF_INET && memcmp(literal, &sin->sin_addr, sizeof(sin->sin_addr)) == 0;
	}
	if (address->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)address;
		if (family == AF_INET6)
			return memcmp(literal, &sin6->sin6_addr, sizeof(sin6->sin6_addr)) == 0;
		/* an IPv4 client reaching a dual-stack socket shows up as ::ffff:a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return memcmp(literal, sin6->sin6_addr.s6_addr + 12, 4) == 0;
	}
	return false;
}

/* receiver_token_scan - report every word-bounded "rg" + 24 hex token in data. */
size_t
receiver_token_scan(const char *data, size_t length, receiver_token_fn fn, void *arg)
{
	size_t found = 0;
	char token[RECEIVER_TOKEN_LENGTH + 1];

	for (size_t i = 0; i + RECEIVER_TOKEN_LENGTH <= length; i++) {
		const unsigned char *p = (const unsigned char *)data + i;
		if (ascii_lower(p[0]) != 'r' || ascii_lower(p[1]) != 'g')
			continue;
		if (i > 0 && is_word_byte(p[-1]))
			continue;
		size_t hex = RECEIVER_TOKEN_PREFIX_LENGTH;
		while (hex < RECEIVER_TOKEN_LENGTH && is_hex_byte(p[hex]))
			hex++;
		if (hex < RECEIVER_TOKEN_LENGTH)
			continue;
		if (i + RECEIVER_TOKEN_LENGTH < length && is_word_byte(p[RECEIVER_TOKEN_LENGTH]))
			continue;
		for (size_t k = 0; k < RECEIVER_TOKEN_LENGTH; k++)
			token[k] = (char)ascii_lower(p[k]);
		token[RECEIVER_TOKEN_LENGTH] = '\0';
		found++;
		if (fn != NULL)
			fn(arg, token);
		i += RECEIVER_TOKEN_LENGTH - 1;
	}
	return found;
}

/* receiver_listen_address_parse - numeric "ADDR:PORT" / "[V6]:PORT" to a sockaddr. */
bool
receiver_listen_address_parse(const char *text, struct sockaddr_storage *out,
    socklen_t *out_length)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon = strrchr(text, ':');
	const char *host_start = text;
	size_t host_length;
	unsigned long port = 0;

	if (colon == NULL || colon[1] == '\0')
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || p - colon > 5)
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > RECEIVER_PORT_MAX)
		return false;
	host_length = (size_t)(colon - text);
	if (text[0] == '[') {
		if (host_length < 3 || colon[-1] != ']')
			return false;
		host_start = text + 1;
		host_length -= 2;
	}
	if (host_length == 0 || host_length >= sizeof(host))
		return false;
	memcpy(host, host_start, host_length);
	host[host_length] = '\0';

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*out_length = sizeof(*sin6);
		return true;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return false;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*out_length = sizeof(*sin);
	return true;
}

/* size_parameter - find SIZE=n among MAIL parameters; false when SIZE is malformed.
 * A value too large to represent reads as SIZE_MAX. */
static bool
size_parameter(const char *parameters, size_t length, size_t *size)
{
	static const char keyword[] = "SIZE=";
	const size_t keyword_length = sizeof(keyword) - 1;
	size_t i = 0;

	*size = 0;
	while (i < length) {
		while (i < length && parameters[i] == ' ')
			i++;
		size_t start = i;
		while (i < length && parameters[i] != ' ')
			i++;
		size_t word_length = i - start;
		if (word_length < keyword_length ||
		    !ascii_equal_nocase(parameters + start, keyword, keyword_length))
			continue;
		size_t digits = word_length - keyword_length;
		if (digits == 0 || digits > RECEIVER_SIZE_DIGITS_MAX)
			return false;
		size_t value = 0;
		for (size_t k = start + keyword_length; k < i; k++) {
			char c = parameters[k];
			if (c < '0' || c > '9')
				return false;
			if (value > (SIZE_MAX - 9) / 10)
				value = SIZE_MAX;
			else
				value = value * 10 + (size_t)(c - '0');
		}
		*size = value;
	}
	return true;
}

/* receiver_session_new - a fresh session waiting for HELO/EHLO. */
struct receiver_session *
receiver_session_new(const char *probe_domain, const char *peer_address,
    const struct sockaddr *local_address, receiver_arrival_fn fn, void *arg)
{
	struct receiver_session *session = xcalloc(1, sizeof(*session));

	session->phase = PHASE_GREETED;
	session->probe_domain = xstrdup(probe_domain);
	session->peer_address = xstrdup(peer_address != NULL ? peer_address : "unknown");
	if (local_address != NULL && (local_address->sa_family == AF_INET ||
	    local_address->sa_family == AF_INET6)) {
		size_t size = local_address->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		memcpy(&session->local_address, local_address, size);
		session->has_local_address = true;
	}
	session->arrival_fn = fn;
	session->arrival_arg = arg;
	return session;
}

/* session_reset - forget the transaction (MAIL, recipients, message state). */
static void
session_reset(struct receiver_session *session)
{
	free(session->mail_from);
	session->mail_from = NULL;
	for (size_t i = 0; i < session->recipient_count; i++)
		free(session->recipients[i]);
	session->recipient_count = 0;
	session->message_size = 0;
	session->message_oversized = false;
	session->token_count = 0;
	session->tokens_dropped = false;
	if (session->phase != PHASE_GREETED && session->phase != PHASE_CLOSED)
		session->phase = PHASE_READY;
}

/* receiver_session_free - release a session and its transaction. */
void
receiver_session_free(struct receiver_session *session)
{
	if (session == NULL)
		return;
	session_reset(session);
	free(session->probe_domain);
	free(session->peer_address);
	free(session);
}

/* session_reply - append one reply line (text without CRLF). */
static void
session_reply(struct evbuffer *output, const char *text)
{
	evbuffer_add(output, text, strlen(text));
	evbuffer_add(output, "\r\n", 2);
}

/* session_error - append an error reply the client caused and count it; after
 * RECEIVER_ERROR_LIMIT of them say 421 and close. */
static void
session_error(struct receiver_session *session, struct evbuffer *output, const char *text)
{
	session_reply(output, text);
	if (++session->errors < RECEIVER_ERROR_LIMIT)
		return;
	evbuffer_add_printf(output, "421 4.7.0 %s Error: too many errors\r\n",
	    session->probe_domain);
	log_info("event=receiver_too_many_errors peer=%s errors=%u", session->peer_address,
	    session->errors);
	session->phase = PHASE_CLOSED;
}

/* receiver_session_greet - the 220 banner. */
void
receiver_session_greet(struct receiver_session *session, struct evbuffer *output)
{
	evbuffer_add_printf(output, "220 %s ESMTP relayguard probe receiver\r\n",
	    session->probe_domain);
}

/* receiver_session_timeout - the idle 421; the session is closed afterwards. */
void
receiver_session_timeout(struct receiver_session *session, struct evbuffer *output)
{
	if (session->phase == PHASE_CLOSED)
		return;
	evbuffer_add_printf(output, "421 4.4.2 %s Error: timeout exceeded\r\n",
	    session->probe_domain);
	log_info("event=receiver_timeout peer=%s", session->peer_address);
	session->phase = PHASE_CLOSED;
}

/* token_collect - receiver_token_fn adding a token to the message's distinct set. */
static void
token_collect(void *arg, const char *token)
{
	struct receiver_session *session = arg;

	for (size_t i = 0; i < session->token_count; i++) {
		if (memcmp(session->tokens[i].token, token, RECEIVER_TOKEN_LENGTH) == 0)
			return;
	}
	if (session->token_count == RECEIVER_MESSAGE_TOKEN_MAX) {
		session->tokens_dropped = true;
		return;
	}
	struct session_token *entry = &session->tokens[session->token_count++];
	memcpy(entry->token, token, RECEIVER_TOKEN_LENGTH + 1);
	entry->recipient = session->scan_recipient;
}

/* session_command_rcpt - accept a recipient only in the probe domain (or our own literal). */
static void
session_command_rcpt(struct receiver_session *session, const struct receiver_command *command,
    struct evbuffer *output)
{
	char escaped[RECEIVER_LOG_VALUE_MAX];

	if (session->phase != PHASE_MAIL && session->phase != PHASE_RCPT) {
		session_error(session, output, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (!receiver_domain_matches(command->argument, command->argument_length,
	    session->probe_domain) && !(session->has_local_address &&
	    receiver_literal_matches(command->argument, command->argument_length,
	    (const struct sockaddr *)&session->local_address))) {
		log_info("event=receiver_relay_denied peer=%s rcpt=%s", session->peer_address,
		    log_escape(command->argument, command->argument_length, escaped,
		    sizeof(escaped)));
		session_error(session, output, "550 5.7.1 Relaying denied");
		return;
	}
	if (session->recipient_count == RECEIVER_RECIPIENT_MAX) {
		session_reply(output, "452 4.5.3 Error: too many recipients");
		return;
	}
	session->recipients[session->recipient_count++] = xstrndup(command->argument,
	    command->argument_length);
	session->phase = PHASE_RCPT;
	session_reply(output, "250 2.1.5 Ok");
}

/* session_command_mail - start a transaction, refusing a declared SIZE over the limit. */
static void
session_command_mail(struct receiver_session *session, const struct receiver_command *command,
    struct evbuffer *output)
{
	size_t declared;

	if (session->phase == PHASE_GREETED) {
		session_error(session, output, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (session->phase != PHASE_READY) {
		session_error(session, output, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (!size_parameter(command->parameters, command->parameters_length, &declared)) {
		session_error(session, output, "501 5.5.4 Error: bad SIZE parameter");
		return;
	}
	if (declared > RECEIVER_MESSAGE_MAX) {
		session_error(session, output, "552 5.3.4 Error: message size exceeds fixed limit");
		return;
	}
	session->mail_from = xstrndup(command->argument, command->argument_length);
	session->phase = PHASE_MAIL;
	session_reply(output, "250 2.1.0 Ok");
}

/* session_command_data - switch to message mode; the recipients are scanned for tokens first
 * so that a token in an address is reported with that address. */
static void
session_command_data(struct receiver_session *session, struct evbuffer *output)
{
	if (session->phase == PHASE_GREETED) {
		session_error(session, output, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (session->phase == PHASE_READY) {
		session_error(session, output, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (session->phase != PHASE_RCPT) {
		session_error(session, output, "503 5.5.1 Error: need RCPT command");
		return;
	}
	for (size_t i = 0; i < session->recipient_count; i++) {
		session->scan_recipient = i;
		receiver_token_scan(session->recipients[i], strlen(session->recipients[i]),
		    token_collect, session);
	}
	session->scan_recipient = 0;
	session->message_size = 0;
	session->message_oversized = false;
	session->phase = PHASE_DATA;
	session_reply(output, "354 End data with <CR><LF>.<CR><LF>");
}

/* session_command - handle one complete command line (CRLF already removed). */
static void
session_command(struct receiver_session *session, const char *line, size_t length,
    struct evbuffer *output)
{
	struct receiver_command command;

	if (!receiver_command_parse(line, length, &command)) {
		if (command.verb == RV_UNKNOWN)
			session_error(session, output, "500 5.5.2 Error: bad syntax");
		else
			session_error(session, output, "501 5.5.4 Error: syntax error in parameters");
		return;
	}
	switch (command.verb) {
	case RV_HELO:
		session_reset(session);
		session->phase = PHASE_READY;
		evbuffer_add_printf(output, "250 %s\r\n", session->probe_domain);
		return;
	case RV_EHLO:
		session_reset(session);
		session->phase = PHASE_READY;
		evbuffer_add_printf(output, "250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
		    "250-SIZE %d\r\n250 ENHANCEDSTATUSCODES\r\n", session->probe_domain,
		    RECEIVER_MESSAGE_MAX);
		return;
	case RV_MAIL:
		session_command_mail(session, &command, output);
		return;
	case RV_RCPT:
		session_command_rcpt(session, &command, output);
		return;
	case RV_DATA:
		session_command_data(session, output);
		return;
	case RV_RSET:
		session_reset(session);
		session_reply(output, "250 2.0.0 Ok");
		return;
	case RV_NOOP:
		session_reply(output, "250 2.0.0 Ok");
		return;
	case RV_QUIT:
		session_reply(output, "221 2.0.0 Bye");
		session->phase = PHASE_CLOSED;
		return;
	case RV_VRFY:
		session_reply(output, "252 2.5.0 Cannot VRFY user, but will accept message");
		return;
	case RV_UNKNOWN:
		session_error(session, output, "502 5.5.2 Error: command not recognized");
		return;
	}
}

/* session_deliver - the final dot arrived: report each distinct token, then answer. */
static void
session_deliver(struct receiver_session *session, struct evbuffer *output)
{
	char token_text[RECEIVER_LOG_VALUE_MAX];
	char from_text[RECEIVER_LOG_VALUE_MAX];
	char rcpt_text[RECEIVER_LOG_VALUE_MAX];

	if (session->message_oversized) {
		log_info("event=receiver_message_too_big peer=%s size=%zu", session->peer_address,
		    session->message_size);
		session_reset(session);
		session_error(session, output, "552 5.3.4 Error: message size exceeds fixed limit");
		return;
	}
	if (session->tokens_dropped)
		log_warn("event=receiver_tokens_dropped peer=%s kept=%d", session->peer_address,
		    RECEIVER_MESSAGE_TOKEN_MAX);
	for (size_t i = 0; i < session->token_count; i++) {
		const struct session_token *entry = &session->tokens[i];
		const char *rcpt = session->recipients[entry->recipient];
		log_info("event=probe_arrived token=%s peer=%s mail_from=%s rcpt_to=%s",
		    log_escape(entry->token, RECEIVER_TOKEN_LENGTH, token_text, sizeof(token_text)),
		    session->peer_address,
		    log_escape(session->mail_from, strlen(session->mail_from), from_text,
		    sizeof(from_text)),
		    log_escape(rcpt, strlen(rcpt), rcpt_text, sizeof(rcpt_text)));
		if (session->arrival_fn != NULL)
			session->arrival_fn(session->arrival_arg, entry->token,
			    session->peer_address, session->mail_from, rcpt);
	}
	session_reset(session);
	session_reply(output, "250 2.0.0 Ok: message accepted");
}

/* session_message_line - one message line (CRLF removed, possibly truncated): the end of data,
 * or content to count and scan after dot-unstuffing (RFC 5321 4.5.2). */
static void
session_message_line(struct receiver_session *session, const char *line, size_t length,
    size_t wire_length, bool truncated, struct evbuffer *output)
{
	if (!truncated && length == 1 && line[0] == '.') {
		session_deliver(session, output);
		return;
	}
	if (session->message_size + wire_length > RECEIVER_MESSAGE_MAX)
		session->message_oversized = true;
	session->message_size += wire_length;
	if (session->message_oversized)
		return;
	if (length > 0 && line[0] == '.') {
		line++;
		length--;
	}
	/* a word cut by the truncation is not a whole word: it cannot be a token */
	if (truncated) {
		while (length > 0 && is_word_byte((unsigned char)line[length - 1]))
			length--;
	}
	receiver_token_scan(line, length, token_collect, session);
}

/* session_line - a complete line arrived (the LF seen); dispatch on the phase. */
static void
session_line(struct receiver_session *session, size_t wire_length, struct evbuffer *output)
{
	size_t length = session->line_length;
	bool overflow = session->line_overflow;

	session->line_length = 0;
	session->line_overflow = false;
	session->line_wire_length = 0;
	if (!overflow && length > 0 && session->line[length - 1] == '\r')
		length--;
	if (session->phase == PHASE_DATA) {
		session_message_line(session, session->line, length, wire_length, overflow, output);
		return;
	}
	if (overflow) {
		session_error(session, output, "500 5.5.6 Error: line too long");
		return;
	}
	session_command(session, session->line, length, output);
}

/* receiver_session_feed - split bytes into lines (bounded) and act on each in order. */
enum receiver_session_status
receiver_session_feed(struct receiver_session *session, const char *bytes, size_t length,
    struct evbuffer *output)
{
	size_t i = 0;
	while (i < length && session->phase != PHASE_CLOSED) {
		size_t keep = session->phase == PHASE_DATA ? RECEIVER_TEXT_LINE_MAX - 1 :
		    RECEIVER_COMMAND_LINE_MAX - 1;
		const char *newline = memchr(bytes + i, '\n', length - i);
		size_t segment = newline != NULL ? (size_t)(newline - (bytes + i)) : length - i;

		if (session->line_length < keep) {
			size_t room = keep - session->line_length;
			size_t copy = segment < room ? segment : room;
			memcpy(session->line + session->line_length, bytes + i, copy);
			session->line_length += copy;
			if (copy < segment)
				session->line_overflow = true;
		} else if (segment > 0)
			session->line_overflow = true;
		session->line_wire_length += segment;
		i += segment;
		if (newline == NULL)
			break;
		i++;
		session_line(session, session->line_wire_length + 1, output);
	}
	return session->phase == PHASE_CLOSED ? RECEIVER_SESSION_CLOSED : RECEIVER_SESSION_OPEN;
}
