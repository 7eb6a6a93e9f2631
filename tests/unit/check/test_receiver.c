/* test_receiver.c - unit tests of the --confirm receiver: command parser, recipient checks, token
 * scanner, the pure session machine, and real loopback sessions. Talks only to 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "check/receiver.h"
#include "check/receiver_protocol.h"
#include "core/log.h"

#define PROBE_DOMAIN "probe.example"
#define TOKEN_A "rg0123456789abcdef01234567"
#define TOKEN_B "rgfedcba9876543210fedcba98"
#define ARRIVALS_MAX 8
#define TEXT_MAX 256
#define CLIENT_BUFFER_MAX 65536
#define LOOP_DEADLINE_SECONDS 20
#define CLIENT_READ_TIMEOUT_SECONDS 10

/* ---------------------------------------------------------------- helpers */

struct arrival {
	char token[RECEIVER_TOKEN_LENGTH + 1];
	char peer[TEXT_MAX];
	char mail_from[TEXT_MAX];
	char rcpt_to[TEXT_MAX];
};

struct arrivals {
	struct arrival list[ARRIVALS_MAX];
	size_t count;
};

/* record_arrival - receiver_arrival_fn keeping what it was told. */
static void
record_arrival(void *arg, const char *token, const char *peer_address, const char *mail_from,
    const char *rcpt_to)
{
	struct arrivals *arrivals = arg;

	assert_true(arrivals->count < ARRIVALS_MAX);
	struct arrival *entry = &arrivals->list[arrivals->count++];
	snprintf(entry->token, sizeof(entry->token), "%s", token);
	snprintf(entry->peer, sizeof(entry->peer), "%s", peer_address);
	snprintf(entry->mail_from, sizeof(entry->mail_from), "%s", mail_from);
	snprintf(entry->rcpt_to, sizeof(entry->rcpt_to), "%s", rcpt_to);
}

struct tokens_seen {
	char list[ARRIVALS_MAX][RECEIVER_TOKEN_LENGTH + 1];
	size_t count;
};

/* record_token - receiver_token_fn keeping the tokens in order. */
static void
record_token(void *arg, const char *token)
{
	struct tokens_seen *seen = arg;

	assert_int_equal(strlen(token), RECEIVER_TOKEN_LENGTH);
	if (seen->count < ARRIVALS_MAX)
		snprintf(seen->list[seen->count], sizeof(seen->list[0]), "%s", token);
	seen->count++;
}

/* parse - receiver_command_parse on a C string. */
static bool
parse(const char *line, struct receiver_command *out)
{
	return receiver_command_parse(line, strlen(line), out);
}

/* argument_is - the parsed argument equals text. */
static void
argument_is(const struct receiver_command *command, const char *text)
{
	assert_int_equal(command->argument_length, strlen(text));
	assert_memory_equal(command->argument, text, strlen(text));
}

/* matches - receiver_domain_matches on C strings. */
static bool
matches(const char *path, const char *domain)
{
	return receiver_domain_matches(path, strlen(path), domain);
}

/* A session driven in memory: feed bytes, read back the replies. */
struct dialogue {
	struct receiver_session *session;
	struct evbuffer *output;
	struct arrivals arrivals;
	char replies[CLIENT_BUFFER_MAX];
	enum receiver_session_status status;
};

/* dialogue_open - a session for peer 192.0.2.7 that reached 127.0.0.1, greeted, replies cleared. */
static struct dialogue *
dialogue_open(void)
{
	struct dialogue *dialogue = calloc(1, sizeof(*dialogue));
	struct sockaddr_in local = { .sin_family = AF_INET };

	assert_non_null(dialogue);
	inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
	dialogue->output = evbuffer_new();
	dialogue->session = receiver_session_new(PROBE_DOMAIN, "192.0.2.7",
	    (struct sockaddr *)&local, record_arrival, &dialogue->arrivals);
	receiver_session_greet(dialogue->session, dialogue->output);
	return dialogue;
}

/* dialogue_take - move the replies so far into dialogue->replies (NUL-terminated). */
static const char *
dialogue_take(struct dialogue *dialogue)
{
	size_t length = evbuffer_get_length(dialogue->output);

	assert_true(length < sizeof(dialogue->replies));
	evbuffer_remove(dialogue->output, dialogue->replies, length);
	dialogue->replies[length] = '\0';
	return dialogue->replies;
}

/* dialogue_send - feed bytes and return every reply they caused. */
static const char *
dialogue_send_bytes(struct dialogue *dialogue, const char *bytes, size_t length)
{
	dialogue_take(dialogue);
	dialogue->status = receiver_session_feed(dialogue->session, bytes, length,
	    dialogue->output);
	return dialogue_take(dialogue);
}

static const char *
dialogue_send(struct dialogue *dialogue, const char *text)
{
	return dialogue_send_bytes(dialogue, text, strlen(text));
}

static void
dialogue_close(struct dialogue *dialogue)
{
	receiver_session_free(dialogue->session);
	evbuffer_free(dialogue->output);
	free(dialogue);
}

/* reply_codes - the first three characters of every reply line, space-separated, with a '-'
 * kept for continuation lines: "220 250-250-250-250 354". */
static void
reply_codes(const char *replies, char *out, size_t out_size)
{
	size_t used = 0;
	const char *line = replies;

	out[0] = '\0';
	while (*line != '\0') {
		const char *end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line >= 4);
		bool more = line[3] == '-';
		int written = snprintf(out + used, out_size - used, "%.3s%s", line,
		    more ? "-" : (end[2] != '\0' ? " " : ""));
		assert_true(written > 0 && (size_t)written < out_size - used);
		used += (size_t)written;
		line = end + 2;
	}
}

/* assert_codes - the replies carry exactly these codes (see reply_codes). */
static void
assert_codes(const char *replies, const char *expected)
{
	char codes[TEXT_MAX * 4];

	reply_codes(replies, codes, sizeof(codes));
	assert_string_equal(codes, expected);
}

/* ---------------------------------------------------------------- command parser */

static void
test_verbs_are_case_insensitive(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_true(parse("eHlO client.example.com", &command));
	assert_int_equal(command.verb, RV_EHLO);
	argument_is(&command, "client.example.com");
	assert_true(parse("rset", &command));
	assert_int_equal(command.verb, RV_RSET);
	assert_true(parse("Quit", &command));
	assert_int_equal(command.verb, RV_QUIT);
}

static void
test_helo_without_a_name_is_a_syntax_error(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_false(parse("HELO", &command));
	assert_int_equal(command.verb, RV_HELO);
	assert_false(parse("EHLO   ", &command));
	assert_int_equal(command.verb, RV_EHLO);
}

static void
test_mail_from_gives_the_path_contents(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_true(parse("MAIL FROM:<s@example.org>", &command));
	assert_int_equal(command.verb, RV_MAIL);
	argument_is(&command, "s@example.org");
	assert_null(command.parameters);
}

static void
test_mail_from_tolerates_a_space_after_the_colon(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_true(parse("mail from: <s@example.org> SIZE=120 BODY=8BITMIME", &command));
	argument_is(&command, "s@example.org");
	assert_int_equal(command.parameters_length, strlen("SIZE=120 BODY=8BITMIME"));
	assert_memory_equal(command.parameters, "SIZE=120 BODY=8BITMIME",
	    command.parameters_length);
}

static void
test_mail_from_null_path_is_accepted(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_true(parse("MAIL FROM:<>", &command));
	assert_int_equal(command.argument_length, 0);
}

static void
test_rcpt_to_null_path_is_a_syntax_error(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_false(parse("RCPT TO:<>", &command));
	assert_int_equal(command.verb, RV_RCPT);
}

static void
test_path_without_angle_brackets_is_a_syntax_error(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_false(parse("RCPT TO:u@probe.example", &command));
	assert_false(parse("RCPT TO:<u@probe.example", &command));
	assert_false(parse("MAIL FROM<s@example.org>", &command));
	assert_false(parse("RCPT TO:<u@probe.example>junk", &command));
	assert_false(parse("RCPT TO:<u @probe.example>", &command));
}

static void
test_quoted_local_part_may_hold_angle_bracket_and_at(void **state)
{
	struct receiver_command command;

	(void)state;
	/* RFC 5321 4.1.2: a Quoted-string local part may contain '>' and '@' */
	assert_true(parse("RCPT TO:<\"u>x@victim.example.net\"@probe.example>", &command));
	argument_is(&command, "\"u>x@victim.example.net\"@probe.example");
	assert_false(parse("RCPT TO:<\"u@probe.example>", &command));
}

static void
test_unknown_verb_is_reported_as_unknown(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_true(parse("STARTTLS", &command));
	assert_int_equal(command.verb, RV_UNKNOWN);
	assert_true(parse("MAILX FROM:<s@example.org>", &command));
	assert_int_equal(command.verb, RV_UNKNOWN);
}

static void
test_empty_line_is_a_syntax_error(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_false(parse("", &command));
	assert_int_equal(command.verb, RV_UNKNOWN);
	assert_false(parse(" NOOP", &command));
}

static void
test_data_rset_quit_take_no_argument(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_false(parse("DATA now", &command));
	assert_int_equal(command.verb, RV_DATA);
	assert_false(parse("RSET x", &command));
	assert_true(parse("QUIT  ", &command));
}

static void
test_control_byte_in_a_line_is_a_syntax_error(void **state)
{
	struct receiver_command command;
	static const char line[] = "NOOP a\0b";

	(void)state;
	assert_false(receiver_command_parse(line, sizeof(line) - 1, &command));
	assert_false(parse("NOOP a\rb", &command));
	assert_true(parse("NOOP a\tb", &command));
}

static void
test_noop_and_vrfy_arguments(void **state)
{
	struct receiver_command command;

	(void)state;
	assert_true(parse("NOOP", &command));
	assert_int_equal(command.verb, RV_NOOP);
	assert_true(parse("VRFY postmaster", &command));
	assert_int_equal(command.verb, RV_VRFY);
	argument_is(&command, "postmaster");
	assert_false(parse("VRFY", &command));
}

/* ---------------------------------------------------------------- recipient checks */

static void
test_domain_match_ignores_case(void **state)
{
	(void)state;
	assert_true(matches(TOKEN_A "@PROBE.Example", PROBE_DOMAIN));
	assert_true(matches("u@probe.example", "PROBE.EXAMPLE"));
}

static void
test_domain_match_ignores_a_trailing_dot(void **state)
{
	(void)state;
	assert_true(matches("u@probe.example.", PROBE_DOMAIN));
	assert_true(matches("u@probe.example", PROBE_DOMAIN "."));
	assert_false(matches("u@probe.example..", PROBE_DOMAIN));
	assert_false(matches("u@.", "."));
}

static void
test_other_domains_do_not_match(void **state)
{
	(void)state;
	assert_false(matches("u@victim.example.net", PROBE_DOMAIN));
	assert_false(matches("u@sub.probe.example", PROBE_DOMAIN));
	assert_false(matches("u@probe.example.net", PROBE_DOMAIN));
	assert_false(matches("u@xprobe.example", PROBE_DOMAIN));
	assert_false(matches("u@probe.exampl", PROBE_DOMAIN));
}

static void
test_source_route_is_stripped_before_matching(void **state)
{
	(void)state;
	/* RFC 5321 4.1.1.3 / appendix C: the mailbox after the route is the destination */
	assert_true(matches("@relay.example.net,@b.example.org:u@probe.example", PROBE_DOMAIN));
	assert_false(matches("@probe.example:u@victim.example.net", PROBE_DOMAIN));
	assert_true(matches("@[IPv6:2001:db8::1]:u@probe.example", PROBE_DOMAIN));
	assert_false(matches("@probe.example", PROBE_DOMAIN));
}

static void
test_domain_is_after_the_last_unquoted_at(void **state)
{
	const char *domain;
	size_t length;

	(void)state;
	assert_false(matches("\"u@probe.example\"@victim.example.net", PROBE_DOMAIN));
	assert_true(matches("\"u@victim.example.net\"@probe.example", PROBE_DOMAIN));
	assert_false(matches("u@probe.example@victim.example.net", PROBE_DOMAIN));
	assert_true(matches("u%victim.example.net@probe.example", PROBE_DOMAIN));
	/* an escaped quote inside the quoted local part does not end it */
	const char *path = "\"a\\\"@b\"@probe.example";
	assert_true(receiver_domain_of(path, strlen(path), &domain, &length));
	assert_int_equal(length, strlen(PROBE_DOMAIN));
	assert_memory_equal(domain, PROBE_DOMAIN, length);
}

static void
test_path_without_a_domain_does_not_match(void **state)
{
	(void)state;
	assert_false(matches("postmaster", PROBE_DOMAIN));
	assert_false(matches("u@", PROBE_DOMAIN));
	assert_false(matches("@probe.example", PROBE_DOMAIN));
	assert_false(matches("", PROBE_DOMAIN));
	assert_false(matches("\"u@probe.example", PROBE_DOMAIN));
}

static void
test_literal_matches_only_our_own_address(void **state)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6 };
	const char *path;

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr);
	path = "u@[127.0.0.1]";
	assert_true(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&v4));
	assert_true(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&mapped));
	assert_false(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&v6));
	path = "u@[192.0.2.1]";
	assert_false(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&v4));
	path = "u@[IPv6:0:0::1]";
	assert_true(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&v6));
	path = "u@[::1]";
	assert_false(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&v6));
	path = "u@127.0.0.1";
	assert_false(receiver_literal_matches(path, strlen(path), (struct sockaddr *)&v4));
	assert_false(receiver_literal_matches(path, strlen(path), NULL));
}

/* ---------------------------------------------------------------- token scanner */

static void
test_token_scan_finds_a_token_in_an_address(void **state)
{
	struct tokens_seen seen = { 0 };
	const char *text = TOKEN_A "@" PROBE_DOMAIN;

	(void)state;
	assert_int_equal(receiver_token_scan(text, strlen(text), record_token, &seen), 1);
	assert_string_equal(seen.list[0], TOKEN_A);
}

static void
test_token_scan_requires_word_boundaries(void **state)
{
	const char *glued_before = "x" TOKEN_A;
	const char *glued_after = TOKEN_A "0";
	const char *bounded = "IMCEASMTP-" TOKEN_A "+40probe.example@example.com";

	(void)state;
	assert_int_equal(receiver_token_scan(glued_before, strlen(glued_before), NULL, NULL), 0);
	assert_int_equal(receiver_token_scan(glued_after, strlen(glued_after), NULL, NULL), 0);
	assert_int_equal(receiver_token_scan(bounded, strlen(bounded), NULL, NULL), 1);
}

static void
test_token_scan_reports_lower_case(void **state)
{
	struct tokens_seen seen = { 0 };
	const char *text = "To: <RG0123456789ABCDEF01234567@PROBE.EXAMPLE>";

	(void)state;
	assert_int_equal(receiver_token_scan(text, strlen(text), record_token, &seen), 1);
	assert_string_equal(seen.list[0], TOKEN_A);
}

static void
test_token_scan_finds_every_token_in_order(void **state)
{
	struct tokens_seen seen = { 0 };
	const char *text = TOKEN_B " and " TOKEN_A "\r\n" TOKEN_B;

	(void)state;
	assert_int_equal(receiver_token_scan(text, strlen(text), record_token, &seen), 3);
	assert_string_equal(seen.list[0], TOKEN_B);
	assert_string_equal(seen.list[1], TOKEN_A);
	assert_string_equal(seen.list[2], TOKEN_B);
}

static void
test_token_scan_ignores_short_and_non_hex_runs(void **state)
{
	const char *short_token = "rg0123456789abcdef0123456";
	const char *non_hex = "rg0123456789abcdef0123456g";
	const char *no_prefix = "rx0123456789abcdef01234567";

	(void)state;
	assert_int_equal(receiver_token_scan(short_token, strlen(short_token), NULL, NULL), 0);
	assert_int_equal(receiver_token_scan(non_hex, strlen(non_hex), NULL, NULL), 0);
	assert_int_equal(receiver_token_scan(no_prefix, strlen(no_prefix), NULL, NULL), 0);
	assert_int_equal(receiver_token_scan("", 0, NULL, NULL), 0);
}

/* ---------------------------------------------------------------- listen address */

static void
test_listen_address_parse(void **state)
{
	struct sockaddr_storage address;
	socklen_t length;

	(void)state;
	assert_true(receiver_listen_address_parse("127.0.0.1:2526", &address, &length));
	assert_int_equal(address.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&address)->sin_port), 2526);
	assert_true(receiver_listen_address_parse("[::1]:0", &address, &length));
	assert_int_equal(address.ss_family, AF_INET6);
	assert_int_equal(length, sizeof(struct sockaddr_in6));
	assert_false(receiver_listen_address_parse("localhost:25", &address, &length));
	assert_false(receiver_listen_address_parse("127.0.0.1", &address, &length));
	assert_false(receiver_listen_address_parse("127.0.0.1:", &address, &length));
	assert_false(receiver_listen_address_parse("127.0.0.1:65536", &address, &length));
	assert_false(receiver_listen_address_parse("127.0.0.1:25x", &address, &length));
	assert_false(receiver_listen_address_parse("::1:25", &address, &length));
	assert_false(receiver_listen_address_parse("[127.0.0.1]:25", &address, &length));
	assert_false(receiver_listen_address_parse("[]:25", &address, &length));
}

/* ---------------------------------------------------------------- session machine */

#define PIPELINED_SESSION \
	"EHLO mx.example.com\r\n" \
	"MAIL FROM:<relayguard@example.org> SIZE=300\r\n" \
	"RCPT TO:<" TOKEN_A "@" PROBE_DOMAIN ">\r\n" \
	"DATA\r\n" \
	"From: <relayguard@example.org>\r\n" \
	"X-Relayguard-Token: " TOKEN_A "\r\n" \
	"Subject: relay probe\r\n" \
	"\r\n" \
	"probe " TOKEN_A "\r\n" \
	".\r\n" \
	"QUIT\r\n"

static void
test_session_pipelined_delivery_reports_the_token_once(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	assert_codes(dialogue_take(dialogue), "220");
	assert_non_null(strstr(dialogue->replies, PROBE_DOMAIN));
	const char *replies = dialogue_send(dialogue, PIPELINED_SESSION);
	assert_codes(replies, "250-250-250-250-250 250 250 354 250 221");
	assert_int_equal(dialogue->status, RECEIVER_SESSION_CLOSED);
	assert_int_equal(dialogue->arrivals.count, 1);
	assert_string_equal(dialogue->arrivals.list[0].token, TOKEN_A);
	assert_string_equal(dialogue->arrivals.list[0].peer, "192.0.2.7");
	assert_string_equal(dialogue->arrivals.list[0].mail_from, "relayguard@example.org");
	assert_string_equal(dialogue->arrivals.list[0].rcpt_to, TOKEN_A "@" PROBE_DOMAIN);
	dialogue_close(dialogue);
}

static void
test_session_byte_by_byte_gives_the_same_replies(void **state)
{
	struct dialogue *dialogue = dialogue_open();
	const char *session = PIPELINED_SESSION;
	char all[CLIENT_BUFFER_MAX] = "";

	(void)state;
	dialogue_take(dialogue);
	for (size_t i = 0; i < strlen(session); i++) {
		const char *replies = dialogue_send_bytes(dialogue, session + i, 1);
		strncat(all, replies, sizeof(all) - strlen(all) - 1);
	}
	assert_codes(all, "250-250-250-250-250 250 250 354 250 221");
	assert_int_equal(dialogue->arrivals.count, 1);
	dialogue_close(dialogue);
}

static void
test_session_ehlo_advertises_the_extensions(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	const char *replies = dialogue_send(dialogue, "EHLO mx.example.com\r\n");
	assert_string_equal(replies, "250-" PROBE_DOMAIN "\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
	    "250-SIZE 1048576\r\n250 ENHANCEDSTATUSCODES\r\n");
	dialogue_close(dialogue);
}

static void
test_session_relaying_to_another_domain_is_refused(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	dialogue_send(dialogue, "HELO mx.example.com\r\nMAIL FROM:<s@example.org>\r\n");
	const char *replies = dialogue_send(dialogue, "RCPT TO:<u@victim.example.net>\r\n");
	assert_string_equal(replies, "550 5.7.1 Relaying denied\r\n");
	replies = dialogue_send(dialogue, "RCPT TO:<\"u@probe.example\"@victim.example.net>\r\n"
	    "RCPT TO:<@probe.example:u@victim.example.net>\r\nRCPT TO:<postmaster>\r\n"
	    "RCPT TO:<u@[192.0.2.1]>\r\nDATA\r\n");
	assert_codes(replies, "550 550 550 550 503");
	assert_int_equal(dialogue->arrivals.count, 0);
	dialogue_close(dialogue);
}

static void
test_session_accepts_our_own_address_literal(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	/* battery N01 with --confirm sends to the receiver's own address literal */
	const char *replies = dialogue_send(dialogue, "HELO mx.example.com\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<" TOKEN_B "@[127.0.0.1]>\r\nDATA\r\n\r\n.\r\n");
	assert_codes(replies, "250 250 250 354 250");
	assert_int_equal(dialogue->arrivals.count, 1);
	assert_string_equal(dialogue->arrivals.list[0].token, TOKEN_B);
	assert_string_equal(dialogue->arrivals.list[0].mail_from, "");
	dialogue_close(dialogue);
}

static void
test_session_long_command_line_gets_500_and_the_session_continues(void **state)
{
	struct dialogue *dialogue = dialogue_open();
	char line[2000 + 3];

	(void)state;
	memset(line, 'a', 2000);
	memcpy(line, "NOOP ", 5);
	memcpy(line + 2000, "\r\n", 3);
	dialogue_send(dialogue, "EHLO mx.example.com\r\n");
	const char *replies = dialogue_send(dialogue, line);
	assert_string_equal(replies, "500 5.5.6 Error: line too long\r\n");
	assert_int_equal(dialogue->status, RECEIVER_SESSION_OPEN);
	replies = dialogue_send(dialogue, "NOOP\r\n");
	assert_string_equal(replies, "250 2.0.0 Ok\r\n");
	dialogue_close(dialogue);
}

static void
test_session_command_line_limit_is_512_octets_with_crlf(void **state)
{
	struct dialogue *dialogue = dialogue_open();
	char line[RECEIVER_COMMAND_LINE_MAX + 2];

	(void)state;
	/* RFC 5321 4.5.3.1.4: 512 octets including the CRLF */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + RECEIVER_COMMAND_LINE_MAX - 2, "\r\n", 3);
	assert_int_equal(strlen(line), RECEIVER_COMMAND_LINE_MAX);
	assert_codes(dialogue_send(dialogue, line), "250");
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + RECEIVER_COMMAND_LINE_MAX - 1, "\r\n", 3);
	assert_codes(dialogue_send(dialogue, line), "500");
	dialogue_close(dialogue);
}

static void
test_session_commands_out_of_order_get_503(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	assert_string_equal(dialogue_send(dialogue, "MAIL FROM:<s@example.org>\r\n"),
	    "503 5.5.1 Error: send HELO/EHLO first\r\n");
	assert_codes(dialogue_send(dialogue, "HELO mx.example.com\r\nRCPT TO:<u@probe.example>\r\n"
	    "DATA\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nDATA\r\n"), "250 503 503 250 503 503");
	dialogue_close(dialogue);
}

static void
test_session_ten_errors_close_with_421(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	dialogue_send(dialogue, "EHLO mx.example.com\r\n");
	const char *replies = dialogue_send(dialogue, "BOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\n"
	    "BOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nNOOP\r\n");
	assert_codes(replies, "502 502 502 502 502 502 502 502 502 502 421");
	assert_non_null(strstr(replies, "421 4.7.0 "));
	assert_int_equal(dialogue->status, RECEIVER_SESSION_CLOSED);
	assert_string_equal(dialogue_send(dialogue, "NOOP\r\n"), "");
	dialogue_close(dialogue);
}

static void
test_session_quit_ignores_what_follows(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	assert_codes(dialogue_send(dialogue, "QUIT\r\nNOOP\r\nNOOP\r\n"), "221");
	assert_int_equal(dialogue->status, RECEIVER_SESSION_CLOSED);
	dialogue_close(dialogue);
}

static void
test_session_helo_rset_noop_vrfy_and_unknown(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	assert_string_equal(dialogue_send(dialogue, "HELO mx.example.com\r\n"),
	    "250 " PROBE_DOMAIN "\r\n");
	assert_codes(dialogue_send(dialogue, "MAIL FROM:<>\r\nRSET\r\nRCPT TO:<u@probe.example>\r\n"
	    "NOOP\r\nVRFY u\r\nEXPN list\r\n\r\nHELO\r\n"), "250 250 503 250 252 502 500 501");
	dialogue_close(dialogue);
}

static void
test_session_stuffed_dot_line_does_not_end_the_message(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	/* RFC 5321 4.5.2: ".." at line start is a stuffed "." */
	dialogue_send(dialogue, "HELO mx.example.com\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<u@probe.example>\r\nDATA\r\n");
	assert_string_equal(dialogue_send(dialogue, "..\r\n"), "");
	assert_string_equal(dialogue_send(dialogue, ".." TOKEN_A "\r\n. \r\n"), "");
	assert_int_equal(dialogue->arrivals.count, 0);
	assert_codes(dialogue_send(dialogue, ".\r\n"), "250");
	assert_int_equal(dialogue->arrivals.count, 1);
	assert_string_equal(dialogue->arrivals.list[0].token, TOKEN_A);
	assert_string_equal(dialogue->arrivals.list[0].rcpt_to, "u@probe.example");
	dialogue_close(dialogue);
}

static void
test_session_reports_each_distinct_token_once(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	const char *replies = dialogue_send(dialogue, "EHLO mx.example.com\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<first@probe.example>\r\nRCPT TO:<" TOKEN_B "@probe.example>\r\nDATA\r\n"
	    TOKEN_A " " TOKEN_B "\r\n" TOKEN_A "\r\n.\r\n");
	assert_codes(replies, "250-250-250-250-250 250 250 250 354 250");
	assert_int_equal(dialogue->arrivals.count, 2);
	/* recipient tokens first, each with its own recipient; body tokens with the first */
	assert_string_equal(dialogue->arrivals.list[0].token, TOKEN_B);
	assert_string_equal(dialogue->arrivals.list[0].rcpt_to, TOKEN_B "@probe.example");
	assert_string_equal(dialogue->arrivals.list[1].token, TOKEN_A);
	assert_string_equal(dialogue->arrivals.list[1].rcpt_to, "first@probe.example");
	dialogue_close(dialogue);
}

static void
test_session_second_message_reports_its_tokens_again(void **state)
{
	struct dialogue *dialogue = dialogue_open();
	const char *message = "MAIL FROM:<>\r\nRCPT TO:<" TOKEN_A "@probe.example>\r\nDATA\r\n"
	    "x\r\n.\r\n";

	(void)state;
	dialogue_send(dialogue, "HELO mx.example.com\r\n");
	assert_codes(dialogue_send(dialogue, message), "250 250 354 250");
	assert_codes(dialogue_send(dialogue, message), "250 250 354 250");
	assert_int_equal(dialogue->arrivals.count, 2);
	dialogue_close(dialogue);
}

static void
test_session_oversized_message_gets_552_after_the_dot(void **state)
{
	struct dialogue *dialogue = dialogue_open();
	char line[800];

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	dialogue_send(dialogue, "HELO mx.example.com\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<" TOKEN_A "@probe.example>\r\nDATA\r\n");
	for (size_t sent = 0; sent <= RECEIVER_MESSAGE_MAX; sent += sizeof(line))
		assert_string_equal(dialogue_send_bytes(dialogue, line, sizeof(line)), "");
	const char *replies = dialogue_send(dialogue, ".\r\n");
	assert_string_equal(replies, "552 5.3.4 Error: message size exceeds fixed limit\r\n");
	assert_int_equal(dialogue->arrivals.count, 0);
	assert_codes(dialogue_send(dialogue, "NOOP\r\n"), "250");
	dialogue_close(dialogue);
}

static void
test_session_declared_size_over_the_limit_is_refused(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	dialogue_send(dialogue, "EHLO mx.example.com\r\n");
	assert_codes(dialogue_send(dialogue, "MAIL FROM:<> SIZE=1048577\r\n"), "552");
	assert_codes(dialogue_send(dialogue, "MAIL FROM:<> SIZE=99999999999999999999\r\n"), "552");
	assert_codes(dialogue_send(dialogue, "MAIL FROM:<> SIZE=12x\r\n"), "501");
	assert_codes(dialogue_send(dialogue, "MAIL FROM:<> SIZE=1048576 BODY=8BITMIME\r\n"), "250");
	dialogue_close(dialogue);
}

static void
test_session_long_text_line_is_accepted_but_truncated(void **state)
{
	struct dialogue *dialogue = dialogue_open();
	char line[1500];

	(void)state;
	dialogue_send(dialogue, "HELO mx.example.com\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<u@probe.example>\r\nDATA\r\n");
	/* a token past the first 1000 octets is not kept; one at the start is */
	memset(line, ' ', sizeof(line));
	memcpy(line, TOKEN_B, RECEIVER_TOKEN_LENGTH);
	memcpy(line + 1200, TOKEN_A, RECEIVER_TOKEN_LENGTH);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	assert_string_equal(dialogue_send_bytes(dialogue, line, sizeof(line)), "");
	/* a token cut by the truncation is not taken for a whole word */
	memset(line, ' ', sizeof(line));
	memcpy(line + RECEIVER_TEXT_LINE_MAX - 1 - RECEIVER_TOKEN_LENGTH, TOKEN_A,
	    RECEIVER_TOKEN_LENGTH);
	memset(line + RECEIVER_TEXT_LINE_MAX - 1, 'f', 10);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	assert_string_equal(dialogue_send_bytes(dialogue, line, sizeof(line)), "");
	assert_codes(dialogue_send(dialogue, ".\r\n"), "250");
	assert_int_equal(dialogue->arrivals.count, 1);
	assert_string_equal(dialogue->arrivals.list[0].token, TOKEN_B);
	dialogue_close(dialogue);
}

static void
test_session_timeout_says_421_and_closes(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	dialogue_take(dialogue);
	receiver_session_timeout(dialogue->session, dialogue->output);
	assert_string_equal(dialogue_take(dialogue),
	    "421 4.4.2 " PROBE_DOMAIN " Error: timeout exceeded\r\n");
	assert_int_equal(receiver_session_feed(dialogue->session, "NOOP\r\n", 6,
	    dialogue->output), RECEIVER_SESSION_CLOSED);
	assert_int_equal(evbuffer_get_length(dialogue->output), 0);
	dialogue_close(dialogue);
}

static void
test_session_too_many_recipients_get_452(void **state)
{
	struct dialogue *dialogue = dialogue_open();

	(void)state;
	dialogue_send(dialogue, "HELO mx.example.com\r\nMAIL FROM:<>\r\n");
	for (int i = 0; i < RECEIVER_RECIPIENT_MAX; i++)
		assert_codes(dialogue_send(dialogue, "RCPT TO:<u@probe.example>\r\n"), "250");
	assert_string_equal(dialogue_send(dialogue, "RCPT TO:<u@probe.example>\r\n"),
	    "452 4.5.3 Error: too many recipients\r\n");
	dialogue_close(dialogue);
}

/* ---------------------------------------------------------------- real sockets */

struct client_run {
	uint16_t port;
	const char *send;		/* sent after the banner */
	size_t send_length;
	char received[CLIENT_BUFFER_MAX];
	size_t received_length;
	int extra_connections;		/* opened (and greeted) before the measured one */
	bool half_close;		/* shut down our sending side after sending */
	atomic_bool done;
};

/* client_connect - a blocking TCP connection to 127.0.0.1:port with a read timeout. */
static int
client_connect(uint16_t port)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval timeout = { CLIENT_READ_TIMEOUT_SECONDS, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* client_read_line - read one reply line (up to LF) into out; its length, 0 on EOF/timeout. */
static size_t
client_read_line(int fd, char *out, size_t out_size)
{
	size_t used = 0;

	while (used + 1 < out_size) {
		ssize_t got = recv(fd, out + used, 1, 0);
		if (got <= 0)
			break;
		if (out[used++] == '\n')
			break;
	}
	out[used] = '\0';
	return used;
}

/* client_main - open the extra connections, then greet, send, read to EOF on the measured one. */
static void *
client_main(void *arg)
{
	struct client_run *run = arg;
	int *extra = calloc((size_t)run->extra_connections + 1, sizeof(int));
	char banner[TEXT_MAX];

	for (int i = 0; i < run->extra_connections; i++) {
		extra[i] = client_connect(run->port);
		if (extra[i] < 0 || client_read_line(extra[i], banner, sizeof(banner)) == 0)
			goto done;
	}
	int fd = client_connect(run->port);
	if (fd < 0)
		goto done;
	if (run->send != NULL) {
		run->received_length = client_read_line(fd, run->received, sizeof(run->received));
		size_t sent = 0;
		while (sent < run->send_length) {
			ssize_t wrote = send(fd, run->send + sent, run->send_length - sent,
			    MSG_NOSIGNAL);
			if (wrote <= 0)
				break;
			sent += (size_t)wrote;
		}
		if (run->half_close)
			shutdown(fd, SHUT_WR);
	}
	for (;;) {
		ssize_t got = recv(fd, run->received + run->received_length,
		    sizeof(run->received) - 1 - run->received_length, 0);
		if (got <= 0)
			break;
		run->received_length += (size_t)got;
	}
	run->received[run->received_length] = '\0';
	close(fd);
done:
	for (int i = 0; i < run->extra_connections; i++) {
		if (extra[i] > 0)
			close(extra[i]);
	}
	free(extra);
	atomic_store(&run->done, true);
	return NULL;
}

/* loop_tick - a timer that keeps event_base_loop(EVLOOP_ONCE) returning often. */
static void
loop_tick(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

/* run_client - run the event loop in this thread while client_main talks to the receiver. */
static void
run_client(struct event_base *base, struct client_run *run)
{
	pthread_t thread;
	struct timeval tick = { 0, 5000 };
	struct event *timer = event_new(base, -1, EV_PERSIST, loop_tick, NULL);
	time_t deadline = time(NULL) + LOOP_DEADLINE_SECONDS;

	event_add(timer, &tick);
	atomic_store(&run->done, false);
	assert_int_equal(pthread_create(&thread, NULL, client_main, run), 0);
	while (!atomic_load(&run->done) && time(NULL) < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	pthread_join(thread, NULL);
	/* let the receiver notice the closed sockets */
	for (int i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(timer);
	assert_true(atomic_load(&run->done));
}

struct socket_fixture {
	struct event_base *base;
	struct receiver *receiver;
	struct arrivals arrivals;
	struct client_run run;
};

static int
socket_setup(void **state)
{
	struct socket_fixture *fixture = calloc(1, sizeof(*fixture));
	char err[TEXT_MAX];

	if (fixture == NULL)
		return -1;
	fixture->base = event_base_new();
	fixture->receiver = receiver_start(fixture->base, "127.0.0.1:0", PROBE_DOMAIN,
	    record_arrival, &fixture->arrivals, err, sizeof(err));
	if (fixture->receiver == NULL) {
		fprintf(stderr, "receiver_start: %s\n", err);
		return -1;
	}
	fixture->run.port = receiver_port(fixture->receiver);
	*state = fixture;
	return 0;
}

static int
socket_teardown(void **state)
{
	struct socket_fixture *fixture = *state;

	receiver_free(fixture->receiver);
	event_base_free(fixture->base);
	free(fixture);
	return 0;
}

/* socket_session - send text after the banner and collect everything until the server closes. */
static const char *
socket_session(struct socket_fixture *fixture, const char *text, size_t length)
{
	fixture->run.send = text;
	fixture->run.send_length = length;
	run_client(fixture->base, &fixture->run);
	return fixture->run.received;
}

static void
test_receiver_listens_on_an_ephemeral_port(void **state)
{
	struct socket_fixture *fixture = *state;

	assert_int_not_equal(receiver_port(fixture->receiver), 0);
}

static void
test_receiver_pipelined_session_reports_the_token(void **state)
{
	struct socket_fixture *fixture = *state;

	const char *received = socket_session(fixture, PIPELINED_SESSION,
	    strlen(PIPELINED_SESSION));
	assert_codes(received, "220 250-250-250-250-250 250 250 354 250 221");
	assert_int_equal(fixture->arrivals.count, 1);
	assert_string_equal(fixture->arrivals.list[0].token, TOKEN_A);
	assert_string_equal(fixture->arrivals.list[0].peer, "127.0.0.1");
	assert_string_equal(fixture->arrivals.list[0].mail_from, "relayguard@example.org");
	assert_string_equal(fixture->arrivals.list[0].rcpt_to, TOKEN_A "@" PROBE_DOMAIN);
}

static void
test_receiver_refuses_to_relay_to_another_domain(void **state)
{
	struct socket_fixture *fixture = *state;
	const char *text = "EHLO mx.example.com\r\nMAIL FROM:<s@example.org>\r\n"
	    "RCPT TO:<" TOKEN_A "@victim.example.net>\r\nQUIT\r\n";

	const char *received = socket_session(fixture, text, strlen(text));
	assert_codes(received, "220 250-250-250-250-250 250 550 221");
	assert_non_null(strstr(received, "550 5.7.1 Relaying denied\r\n"));
	assert_int_equal(fixture->arrivals.count, 0);
}

static void
test_receiver_long_command_line_gets_500_and_the_session_continues(void **state)
{
	struct socket_fixture *fixture = *state;
	char text[2000 + 64];

	memset(text, 'a', 2000);
	memcpy(text, "HELO ", 5);
	memcpy(text + 2000, "\r\nNOOP\r\nQUIT\r\n", 15);
	const char *received = socket_session(fixture, text, strlen(text));
	assert_codes(received, "220 500 250 221");
	assert_non_null(strstr(received, "500 5.5.6"));
}

static void
test_receiver_half_closing_client_still_gets_its_replies(void **state)
{
	struct socket_fixture *fixture = *state;

	/* no QUIT: the client sends, shuts down its side and reads; every reply must arrive */
	const char *text = "HELO mx.example.com\r\nNOOP\r\nNOOP\r\n";
	fixture->run.half_close = true;
	const char *received = socket_session(fixture, text, strlen(text));
	assert_codes(received, "220 250 250 250");
}

static void
test_receiver_session_over_the_limit_gets_421(void **state)
{
	struct socket_fixture *fixture = *state;

	fixture->run.extra_connections = RECEIVER_SESSION_MAX;
	const char *received = socket_session(fixture, NULL, 0);
	assert_string_equal(received, "421 4.3.2 " PROBE_DOMAIN " Error: too many connections\r\n");
}

static void
test_receiver_idle_session_gets_421_and_is_closed(void **state)
{
	struct socket_fixture *fixture = *state;
	struct timeval timeout = { 0, 200000 };

	receiver_set_idle_timeout(fixture->receiver, &timeout);
	const char *received = socket_session(fixture, "HELO mx.example.com\r\n", 21);
	assert_codes(received, "220 250 421");
	assert_non_null(strstr(received, "421 4.4.2 "));
}

static void
test_receiver_start_reports_a_port_in_use(void **state)
{
	struct socket_fixture *fixture = *state;
	char address[INET_ADDRSTRLEN + 8];
	char err[TEXT_MAX];
	char expected[TEXT_MAX];

	snprintf(address, sizeof(address), "127.0.0.1:%u", receiver_port(fixture->receiver));
	assert_null(receiver_start(fixture->base, address, PROBE_DOMAIN, record_arrival, NULL,
	    err, sizeof(err)));
	snprintf(expected, sizeof(expected), "cannot listen on %s: Address already in use",
	    address);
	assert_string_equal(err, expected);
}

static void
test_receiver_start_rejects_a_host_name_and_a_bad_domain(void **state)
{
	struct socket_fixture *fixture = *state;
	char err[TEXT_MAX];

	assert_null(receiver_start(fixture->base, "localhost:2526", PROBE_DOMAIN, record_arrival,
	    NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "localhost:2526"));
	assert_null(receiver_start(fixture->base, "127.0.0.1:0", "probe example\r\n",
	    record_arrival, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "invalid probe domain"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs_are_case_insensitive),
		cmocka_unit_test(test_helo_without_a_name_is_a_syntax_error),
		cmocka_unit_test(test_mail_from_gives_the_path_contents),
		cmocka_unit_test(test_mail_from_tolerates_a_space_after_the_colon),
		cmocka_unit_test(test_mail_from_null_path_is_accepted),
		cmocka_unit_test(test_rcpt_to_null_path_is_a_syntax_error),
		cmocka_unit_test(test_path_without_angle_brackets_is_a_syntax_error),
		cmocka_unit_test(test_quoted_local_part_may_hold_angle_bracket_and_at),
		cmocka_unit_test(test_unknown_verb_is_reported_as_unknown),
		cmocka_unit_test(test_empty_line_is_a_syntax_error),
		cmocka_unit_test(test_data_rset_quit_take_no_argument),
		cmocka_unit_test(test_control_byte_in_a_line_is_a_syntax_error),
		cmocka_unit_test(test_noop_and_vrfy_arguments),
		cmocka_unit_test(test_domain_match_ignores_case),
		cmocka_unit_test(test_domain_match_ignores_a_trailing_dot),
		cmocka_unit_test(test_other_domains_do_not_match),
		cmocka_unit_test(test_source_route_is_stripped_before_matching),
		cmocka_unit_test(test_domain_is_after_the_last_unquoted_at),
		cmocka_unit_test(test_path_without_a_domain_does_not_match),
		cmocka_unit_test(test_literal_matches_only_our_own_address),
		cmocka_unit_test(test_token_scan_finds_a_token_in_an_address),
		cmocka_unit_test(test_token_scan_requires_word_boundaries),
		cmocka_unit_test(test_token_scan_reports_lower_case),
		cmocka_unit_test(test_token_scan_finds_every_token_in_order),
		cmocka_unit_test(test_token_scan_ignores_short_and_non_hex_runs),
		cmocka_unit_test(test_listen_address_parse),
		cmocka_unit_test(test_session_pipelined_delivery_reports_the_token_once),
		cmocka_unit_test(test_session_byte_by_byte_gives_the_same_replies),
		cmocka_unit_test(test_session_ehlo_advertises_the_extensions),
		cmocka_unit_test(test_session_relaying_to_another_domain_is_refused),
		cmocka_unit_test(test_session_accepts_our_own_address_literal),
		cmocka_unit_test(test_session_long_command_line_gets_500_and_the_session_continues),
		cmocka_unit_test(test_session_command_line_limit_is_512_octets_with_crlf),
		cmocka_unit_test(test_session_commands_out_of_order_get_503),
		cmocka_unit_test(test_session_ten_errors_close_with_421),
		cmocka_unit_test(test_session_quit_ignores_what_follows),
		cmocka_unit_test(test_session_helo_rset_noop_vrfy_and_unknown),
		cmocka_unit_test(test_session_stuffed_dot_line_does_not_end_the_message),
		cmocka_unit_test(test_session_reports_each_distinct_token_once),
		cmocka_unit_test(test_session_second_message_reports_its_tokens_again),
		cmocka_unit_test(test_session_oversized_message_gets_552_after_the_dot),
		cmocka_unit_test(test_session_declared_size_over_the_limit_is_refused),
		cmocka_unit_test(test_session_long_text_line_is_accepted_but_truncated),
		cmocka_unit_test(test_session_timeout_says_421_and_closes),
		cmocka_unit_test(test_session_too_many_recipients_get_452),
		cmocka_unit_test_setup_teardown(test_receiver_listens_on_an_ephemeral_port,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(test_receiver_pipelined_session_reports_the_token,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(test_receiver_refuses_to_relay_to_another_domain,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(
		    test_receiver_long_command_line_gets_500_and_the_session_continues,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(
		    test_receiver_half_closing_client_still_gets_its_replies,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(test_receiver_session_over_the_limit_gets_421,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(test_receiver_idle_session_gets_421_and_is_closed,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(test_receiver_start_reports_a_port_in_use,
		    socket_setup, socket_teardown),
		cmocka_unit_test_setup_teardown(
		    test_receiver_start_rejects_a_host_name_and_a_bad_domain,
		    socket_setup, socket_teardown),
	};

	log_init("test_receiver", LOG_SINK_STDERR, LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
