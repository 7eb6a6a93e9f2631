/* fuzz_receiver_command.c - libFuzzer harness for the --confirm receiver's pure parts: command
 * parser, recipient checks, token scanner and whole sessions fed in arbitrary pieces. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "check/receiver_protocol.h"
#include "core/log.h"

#define FUZZ_PROBE_DOMAIN "probe.example"
#define FUZZ_CHUNK_MAX 64
#define FUZZ_REPLY_LINE_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* require - stop the fuzzer on a broken invariant. */
static void
require(bool condition)
{
	if (!condition)
		__builtin_trap();
}

/* check_token - a reported token is "rg" + 24 lower-case hex digits. */
static void
check_token(void *arg, const char *token)
{
	(void)arg;
	require(strlen(token) == RECEIVER_TOKEN_LENGTH);
	require(token[0] == 'r' && token[1] == 'g');
	for (size_t i = RECEIVER_TOKEN_PREFIX_LENGTH; i < RECEIVER_TOKEN_LENGTH; i++)
		require((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f'));
}

/* check_arrival - an arrival carries a valid token and an accepted recipient. */
static void
check_arrival(void *arg, const char *token, const char *peer_address, const char *mail_from,
    const char *rcpt_to)
{
	const struct sockaddr *local = arg;

	check_token(NULL, token);
	require(strcmp(peer_address, "192.0.2.7") == 0);
	require(mail_from != NULL);
	require(receiver_domain_matches(rcpt_to, strlen(rcpt_to), FUZZ_PROBE_DOMAIN) ||
	    receiver_literal_matches(rcpt_to, strlen(rcpt_to), local));
}

/* check_replies - every reply line is "NNN" + ' ' or '-' + text + CRLF, and short. */
static void
check_replies(struct evbuffer *output)
{
	size_t length = evbuffer_get_length(output);
	const char *text = (const char *)evbuffer_pullup(output, -1);
	size_t start = 0;

	for (size_t i = 0; i < length; i++) {
		if (text[i] != '\n')
			continue;
		size_t line_length = i + 1 - start;
		require(line_length >= 6 && line_length <= FUZZ_REPLY_LINE_MAX);
		require(text[i - 1] == '\r');
		require(text[start] >= '2' && text[start] <= '5');
		require(text[start + 1] >= '0' && text[start + 1] <= '9');
		require(text[start + 2] >= '0' && text[start + 2] <= '9');
		require(text[start + 3] == ' ' || text[start + 3] == '-');
		start = i + 1;
	}
	require(start == length);
	evbuffer_drain(output, length);
}

/* fuzz_session - the input (after its first byte) as a client's bytes, in pieces whose size the
 * first byte chooses. */
static void
fuzz_session(const uint8_t *data, size_t size, const struct sockaddr *local)
{
	if (size == 0)
		return;
	size_t chunk = (size_t)(data[0] % FUZZ_CHUNK_MAX) + 1;
	struct evbuffer *output = evbuffer_new();
	struct receiver_session *session = receiver_session_new(FUZZ_PROBE_DOMAIN, "192.0.2.7",
	    local, check_arrival, (void *)local);

	receiver_session_greet(session, output);
	check_replies(output);
	for (size_t offset = 1; offset < size; offset += chunk) {
		size_t piece = size - offset < chunk ? size - offset : chunk;
		enum receiver_session_status status = receiver_session_feed(session,
		    (const char *)data + offset, piece, output);
		check_replies(output);
		if (status == RECEIVER_SESSION_CLOSED)
			break;
	}
	receiver_session_timeout(session, output);
	check_replies(output);
	receiver_session_free(session);
	evbuffer_free(output);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialised;
	const char *line = (const char *)data;
	struct receiver_command command;
	struct sockaddr_in local = { .sin_family = AF_INET };
	const char *domain;
	size_t domain_length;

	if (!initialised) {
		log_init("fuzz_receiver_command", LOG_SINK_STDERR, LOG_LEVEL_ERROR);
		initialised = true;
	}
	inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);

	if (receiver_command_parse(line, size, &command)) {
		require(command.argument >= line);
		require(command.argument + command.argument_length <= line + size);
		if (command.parameters != NULL) {
			require(command.parameters > command.argument);
			require(command.parameters + command.parameters_length <= line + size);
		}
	}
	if (receiver_domain_of(line, size, &domain, &domain_length)) {
		require(domain_length > 0);
		require(domain > line && domain + domain_length == line + size);
	}
	(void)receiver_domain_matches(line, size, FUZZ_PROBE_DOMAIN);
	(void)receiver_literal_matches(line, size, (const struct sockaddr *)&local);
	size_t found = receiver_token_scan(line, size, check_token, NULL);
	require(found <= size / RECEIVER_TOKEN_LENGTH);

	fuzz_session(data, size, (const struct sockaddr *)&local);
	return 0;
}
