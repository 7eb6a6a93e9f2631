/* test_session.c - the smtpd session state machine driven as dialogues, without sockets: a fake
 * sink stands in for the queue, the real config loader, relay policy and users file are used.
 * Also the pure parsers (command lines, MAIL parameters, DATA reader, base64). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "smtpd/config.h"
#include "smtpd/relay_policy.h"
#include "smtpd/session.h"
#include "smtpd/users.h"

#define HOSTNAME "mx.example.org"
#define CLIENT_ADDRESS "192.0.2.10"
#define TRUSTED_ADDRESS "198.51.100.7"
#define USER_NAME "user@example.org"
#define USER_PASSWORD "correct horse"
/* openssl passwd -6 -salt relayguardsalt 'correct horse' */
#define USER_HASH "$6$relayguardsalt$DX2EaY87FTgRkkszHu71DSGwLsPNhmW9AtFI/EGW0vp8jWhqBjdET2Zo" \
	"R/8yNtRUlsQdLVR6RO/sV7dmdTOv3/"
/* base64 of "\0user@example.org\0correct horse" */
#define PLAIN_GOOD "AHVzZXJAZXhhbXBsZS5vcmcAY29ycmVjdCBob3JzZQ=="
/* base64 of "\0user@example.org\0wrong" */
#define PLAIN_BAD "AHVzZXJAZXhhbXBsZS5vcmcAd3Jvbmc="
#define LOGIN_USER "dXNlckBleGFtcGxlLm9yZw=="		/* "user@example.org" */
#define LOGIN_PASSWORD "Y29ycmVjdCBob3JzZQ=="		/* "correct horse" */
#define OVERRIDES_MAX 16
#define PROBLEMS_MAX 32
#define RECIPIENTS_MAX 8
#define MEGABYTE (1024 * 1024)
#define FEED_CHUNK 4096

struct harness {
	struct smtpd_config config;
	struct relay_policy *policy;
	struct user_table *users;
	struct session_settings settings;
	struct session *session;
	char users_path[64];
	/* what the session wrote and asked for */
	char *output;
	size_t output_length;
	bool closed;
	int tls_starts;
	/* the fake sink */
	int begins;
	int commits;
	int aborts;
	bool fail_begin;
	bool fail_append;
	char mail_from[600];
	char recipients[RECIPIENTS_MAX][600];
	enum relay_decision decisions[RECIPIENTS_MAX];
	size_t recipient_count;
	char received[4096];
	char *data;
	size_t data_length;
	unsigned next_id;
	int message_token;
};

/* ---------------------------------------------------------------- fake world */

static void
fake_write(void *io, const char *data, size_t length)
{
	struct harness *h = io;

	h->output = xrealloc(h->output, h->output_length + length + 1);
	memcpy(h->output + h->output_length, data, length);
	h->output_length += length;
	h->output[h->output_length] = '\0';
}

static void
fake_start_tls(void *io)
{
	struct harness *h = io;

	h->tls_starts++;
}

static void
fake_close(void *io)
{
	struct harness *h = io;

	h->closed = true;
}

static void
fake_queue_id_new(void *io, char out[QUEUE_ID_MAX])
{
	struct harness *h = io;

	snprintf(out, QUEUE_ID_MAX, "TESTID%04u", ++h->next_id);
}

static void *
fake_message_begin(void *io, const struct queue_envelope *envelope, char *err, size_t err_size)
{
	struct harness *h = io;

	h->begins++;
	if (h->fail_begin) {
		snprintf(err, err_size, "disk on fire");
		return NULL;
	}
	snprintf(h->mail_from, sizeof(h->mail_from), "%s", envelope->mail_from);
	h->recipient_count = envelope->recipient_count;
	assert_true(h->recipient_count <= RECIPIENTS_MAX);
	for (size_t i = 0; i < envelope->recipient_count; i++) {
		snprintf(h->recipients[i], sizeof(h->recipients[i]), "%s",
		    envelope->recipients[i].address);
		h->decisions[i] = envelope->recipients[i].decision;
	}
	snprintf(h->received, sizeof(h->received), "%s", envelope->received_header);
	free(h->data);
	h->data = NULL;
	h->data_length = 0;
	return &h->message_token;
}

static bool
fake_message_append(void *io, void *message, const char *data, size_t length)
{
	struct harness *h = io;

	assert_ptr_equal(message, &h->message_token);
	if (h->fail_append)
		return false;
	h->data = xrealloc(h->data, h->data_length + length + 1);
	memcpy(h->data + h->data_length, data, length);
	h->data_length += length;
	h->data[h->data_length] = '\0';
	return true;
}

static void
fake_message_commit(void *io, void *message)
{
	struct harness *h = io;

	assert_ptr_equal(message, &h->message_token);
	h->commits++;
}

static void
fake_message_abort(void *io, void *message)
{
	struct harness *h = io;

	assert_ptr_equal(message, &h->message_token);
	h->aborts++;
}

static const struct session_ops fake_ops = {
	.write = fake_write,
	.start_tls = fake_start_tls,
	.close = fake_close,
	.queue_id_new = fake_queue_id_new,
	.message_begin = fake_message_begin,
	.message_append = fake_message_append,
	.message_commit = fake_message_commit,
	.message_abort = fake_message_abort,
};

/* harness_new - a configuration from defaults plus overrides (NULL-terminated), a users
 * file with one account, the relay policy; no session yet. */
static struct harness *
harness_new(const char *first, ...)
{
	struct harness *h = xcalloc(1, sizeof(*h));
	char *overrides[OVERRIDES_MAX];
	size_t count = 0;
	struct config_problem problems[PROBLEMS_MAX];
	size_t problem_count = 0;
	char users_override[96];
	va_list ap;

	snprintf(h->users_path, sizeof(h->users_path), "/tmp/test_session_users.XXXXXX");
	int fd = mkstemp(h->users_path);
	assert_true(fd >= 0);
	FILE *users = fdopen(fd, "w");
	assert_non_null(users);
	fprintf(users, "%s:%s\npostmaster@example.org\n", USER_NAME, USER_HASH);
	fclose(users);
	snprintf(users_override, sizeof(users_override), "users=%s", h->users_path);

	overrides[count++] = "hostname=" HOSTNAME;
	overrides[count++] = "local_domains=example.org";
	overrides[count++] = "relay_domains=relay.example.net";
	overrides[count++] = "relay_clients=" TRUSTED_ADDRESS;
	overrides[count++] = "queue_dir=/nonexistent/test-session-queue";
	overrides[count++] = users_override;
	va_start(ap, first);
	for (const char *item = first; item != NULL; item = va_arg(ap, const char *)) {
		assert_true(count < OVERRIDES_MAX);
		overrides[count++] = (char *)item;
	}
	va_end(ap);
	bool loaded = smtpd_config_load(NULL, overrides, count, &h->config, problems,
	    PROBLEMS_MAX, &problem_count);
	for (size_t i = 0; i < problem_count; i++) {
		if (problems[i].fatal)
			fprintf(stderr, "config problem: %s: %s\n", problems[i].key,
			    problems[i].message);
	}
	assert_true(loaded);
	struct netaddr own;
	assert_true(netaddr_parse("127.0.0.1", &own));
	h->policy = relay_policy_new(&h->config, &own, 1);
	assert_non_null(h->policy);
	char err[256];
	h->users = user_table_load(h->users_path, err, sizeof(err));
	assert_non_null(h->users);
	h->settings.config = &h->config;
	h->settings.policy = h->policy;
	h->settings.users = h->users;
	h->settings.tls_available = true;
	return h;
}

/* harness_start_from - a session from address on a listener of mode, lookups answered
 * (no reverse name, DNSBL pass) unless answer_lookups is false; the banner is not sent. */
static void
harness_start_from(struct harness *h, const char *address, enum listener_mode mode,
    bool answer_lookups)
{
	struct session_client client;

	memset(&client, 0, sizeof(client));
	assert_true(netaddr_parse(address, &client.address));
	client.port = 40000;
	assert_true(netaddr_parse("127.0.0.1", &client.local_address));
	client.local_port = 25;
	client.mode = mode;
	client.id = "test.1";
	h->session = session_new(&h->settings, &client, &fake_ops, h);
	if (answer_lookups) {
		struct dnsbl_result pass;
		memset(&pass, 0, sizeof(pass));
		session_set_rdns(h->session, "");
		session_set_dnsbl(h->session, &pass);
	}
}

/* harness_start - the usual: a stranger on the SMTP port, greeted. */
static void
harness_start(struct harness *h)
{
	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, true);
	session_greet(h->session);
}

static void
harness_free(struct harness *h)
{
	session_free(h->session);
	relay_policy_free(h->policy);
	user_table_free(h->users);
	smtpd_config_free(&h->config);
	unlink(h->users_path);
	free(h->output);
	free(h->data);
	free(h);
}

/* take - what the session wrote since the last take (caller frees). */
static char *
take(struct harness *h)
{
	char *text = xstrdup(h->output != NULL ? h->output : "");

	free(h->output);
	h->output = NULL;
	h->output_length = 0;
	return text;
}

/* feed - give bytes to the session; returns how many it took. */
static size_t
feed(struct harness *h, const char *data, size_t length)
{
	return session_feed(h->session, data, length);
}

/* say - a whole string that the session must take entirely. */
static void
say(struct harness *h, const char *text)
{
	assert_int_equal(feed(h, text, strlen(text)), strlen(text));
}

/* expect - the next replies are exactly expected. */
static void
expect(struct harness *h, const char *expected)
{
	char *got = take(h);

	assert_string_equal(got, expected);
	free(got);
}

/* expect_prefix - the next reply starts with prefix (later lines ignored). */
static void
expect_prefix(struct harness *h, const char *prefix)
{
	char *got = take(h);

	if (strncmp(got, prefix, strlen(prefix)) != 0)
		fail_msg("expected a reply starting with \"%s\", got \"%s\"", prefix, got);
	free(got);
}

/* exchange - say text, then expect exactly the replies. */
static void
exchange(struct harness *h, const char *text, const char *expected)
{
	say(h, text);
	expect(h, expected);
}

/* ehlo - EHLO, its extension list checked only for its first line. */
static void
ehlo(struct harness *h)
{
	say(h, "EHLO c.example.net\r\n");
	expect_prefix(h, "250-" HOSTNAME "\r\n");
}

/* transaction_to - HELO, MAIL and one accepted RCPT. */
static void
transaction_to(struct harness *h, const char *recipient)
{
	char line[300];

	exchange(h, "HELO client.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<sender@example.net>\r\n", "250 2.1.0 Ok\r\n");
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", recipient);
	say(h, line);
	expect_prefix(h, "250 ");
}

/* start_tls - STARTTLS answered and the handshake reported done. */
static void
start_tls(struct harness *h)
{
	exchange(h, "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(h->tls_starts, 1);
	assert_true(session_is_waiting(h->session));
	session_tls_started(h->session, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	assert_false(session_is_waiting(h->session));
}

static int
setup(void **state)
{
	*state = harness_new(NULL);
	return 0;
}

static int
teardown(void **state)
{
	harness_free(*state);
	return 0;
}

/* ---------------------------------------------------------------- greeting and HELO */

static void
test_banner_names_the_host(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	expect(h, "220 " HOSTNAME " ESMTP relayguard\r\n");
	assert_int_equal(session_state(h->session), SESSION_GREETED);
}

/* Early talkers (postscreen's pregreet test): bytes before the banner -> 554 and close. */
static void
test_client_talking_before_the_banner_is_refused(void **state)
{
	struct harness *h = *state;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, true);
	feed(h, "EHLO spam.example\r\n", 19);
	expect(h, "554 5.5.0 " HOSTNAME " Error: talked before the greeting\r\n");
	assert_true(h->closed);
	assert_int_equal(session_state(h->session), SESSION_CLOSING);
}

static void
test_ehlo_lists_extensions_without_starttls_when_no_certificate(void **state)
{
	struct harness *h = *state;

	h->settings.tls_available = false;
	harness_start(h);
	free(take(h));
	exchange(h, "EHLO client.example.net\r\n",
	    "250-" HOSTNAME "\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n");
}

/* RFC 4954 14 / issue point 3: AUTH is never offered over plaintext. */
static void
test_ehlo_offers_starttls_but_not_auth_before_tls(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	say(h, "EHLO client.example.net\r\n");
	char *reply = take(h);
	assert_non_null(strstr(reply, "250-STARTTLS\r\n"));
	assert_null(strstr(reply, "AUTH"));
	free(reply);
}

static void
test_ehlo_offers_auth_after_tls_and_no_more_starttls(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	start_tls(h);
	say(h, "EHLO client.example.net\r\n");
	char *reply = take(h);
	assert_non_null(strstr(reply, "250-AUTH PLAIN LOGIN\r\n"));
	assert_null(strstr(reply, "STARTTLS"));
	free(reply);
}

static void
test_helo_without_a_name_is_501(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO\r\n", "501 5.5.4 Syntax: HELO hostname\r\n");
	exchange(h, "EHLO two words\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
}

/* ---------------------------------------------------------------- sequence */

static void
test_mail_before_helo_is_503(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n");
}

static void
test_rcpt_before_mail_is_503(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "RCPT TO:<postmaster@example.org>\r\n", "503 5.5.1 Error: need MAIL command\r\n");
}

/* RFC 5321 3.3: DATA with no accepted recipient gets 503 or 554 and no 354. */
static void
test_data_without_an_accepted_recipient_is_554(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<victim@example.com>\r\n");
	expect_prefix(h, "554 5.7.1");
	exchange(h, "DATA\r\n", "554 5.5.1 Error: no valid recipients\r\n");
	assert_int_equal(h->begins, 0);
}

static void
test_nested_mail_is_503(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "MAIL FROM:<b@example.net>\r\n", "503 5.5.1 Error: nested MAIL command\r\n");
}

static void
test_rset_forgets_the_transaction(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "RSET\r\n", "250 2.0.0 Ok\r\n");
	exchange(h, "DATA\r\n", "503 5.5.1 Error: need RCPT command\r\n");
	exchange(h, "MAIL FROM:<b@example.net>\r\n", "250 2.1.0 Ok\r\n");
}

static void
test_quit_says_221_and_closes(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "QUIT\r\n", "221 2.0.0 Bye\r\n");
	assert_true(h->closed);
	assert_true(session_is_waiting(h->session));
}

static void
test_unknown_command_is_500(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "BDAT 10 LAST\r\n", "500 5.5.2 Error: command not recognized\r\n");
	assert_int_equal(session_errors(h->session), 1);
}

/* ---------------------------------------------------------------- VRFY, EXPN, HELP */

static void
test_vrfy_never_discloses_users(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	const char *reply = "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
	    "delivery\r\n";
	exchange(h, "VRFY user@example.org\r\n", reply);
	exchange(h, "VRFY nosuchuser@example.org\r\n", reply);
}

static void
test_expn_is_refused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "EXPN staff\r\n", "502 5.5.1 EXPN not available\r\n");
}

static void
test_help_lists_commands(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	say(h, "HELP\r\n");
	expect_prefix(h, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA");
}

/* ---------------------------------------------------------------- relay policy at RCPT */

static void
test_foreign_recipient_is_relay_denied(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<victim@example.com>\r\n");
	expect_prefix(h, "554 5.7.1 ");
}

/* Battery R01: the percent hack for our own domain is refused, never passed on. */
static void
test_percent_hack_for_our_domain_is_refused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<u%victim.example.com@example.org>\r\n");
	expect_prefix(h, "553 5.7.1 ");
}

/* Battery R10: the source route is stripped and the final mailbox judged. */
static void
test_source_route_to_a_stranger_is_denied(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<@example.org:u@victim.example.com>\r\n");
	expect_prefix(h, "554 5.7.1 ");
}

static void
test_unknown_local_user_is_refused_at_rcpt(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<nosuchuser@example.org>\r\n");
	expect_prefix(h, "550 5.1.1 ");
}

static void
test_trusted_client_may_relay_anywhere(void **state)
{
	struct harness *h = *state;

	harness_start_from(h, TRUSTED_ADDRESS, LISTENER_SMTP, true);
	session_greet(h->session);
	free(take(h));
	transaction_to(h, "friend@example.com");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(h->decisions[0], RELAY_OUTBOUND);
}

static void
test_bad_recipient_syntax_is_501(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	exchange(h, "RCPT TO:<a b@example.org>\r\n", "501 5.1.3 Bad recipient address syntax\r\n");
	exchange(h, "RCPT TO:postmaster@example.org\r\n",
	    "501 5.1.3 Bad recipient address syntax\r\n");
	exchange(h, "RCPT <postmaster@example.org>\r\n", "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
}

/* RFC 5321 4.5.3.1.10: recipients beyond the limit get 452 (try again later), which is
 * not counted as an error. */
static void
test_recipients_over_the_limit_get_452(void **state)
{
	struct harness *h = harness_new("max_recipients=100", NULL);
	char line[100];

	(void)state;
	harness_start_from(h, TRUSTED_ADDRESS, LISTENER_SMTP, true);
	session_greet(h->session);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<friend%d@example.com>\r\n", i);
		say(h, line);
		expect_prefix(h, "250 ");
	}
	exchange(h, "RCPT TO:<one-more@example.com>\r\n", "452 4.5.3 Error: too many recipients\r\n");
	assert_int_equal(session_errors(h->session), 0);
	harness_free(h);
}

static void
test_duplicate_recipient_is_queued_once(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	say(h, "RCPT TO:<POSTMASTER@example.org>\r\n");
	expect_prefix(h, "250 ");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(h->recipient_count, 1);
}

/* ---------------------------------------------------------------- MAIL parameters */

static void
test_size_parameter_over_the_limit_is_552(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	ehlo(h);
	exchange(h, "MAIL FROM:<a@example.net> SIZE=99999999999\r\n",
	    "552 5.3.4 Message size exceeds fixed limit\r\n");
	exchange(h, "MAIL FROM:<a@example.net> SIZE=1000 BODY=8BITMIME\r\n", "250 2.1.0 Ok\r\n");
}

static void
test_unknown_mail_parameter_is_555(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	ehlo(h);
	exchange(h, "MAIL FROM:<a@example.net> RET=HDRS\r\n",
	    "555 5.5.4 Unsupported MAIL parameter\r\n");
}

static void
test_sender_without_domain_is_refused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<s>\r\n", "553 5.1.7 Sender address must have a domain\r\n");
	exchange(h, "MAIL FROM:<>\r\n", "250 2.1.0 Ok\r\n");
}

/* ---------------------------------------------------------------- DATA and the queue */

/* Issue point 5 / STYLE 13: a 250 is a promise, sent only when the queue says it is on
 * disk; pipelined commands wait for it. */
static void
test_250_is_sent_only_after_the_queue_commits(void **state)
{
	struct harness *h = *state;
	const char *tail = "QUIT\r\n";

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	const char *message = "Subject: test\r\n\r\nhello\r\n.\r\nQUIT\r\n";
	size_t used = feed(h, message, strlen(message));
	assert_int_equal(used, strlen(message) - strlen(tail));
	expect(h, "");
	assert_int_equal(h->commits, 1);
	assert_int_equal(session_state(h->session), SESSION_COMMITTING);
	assert_true(session_is_waiting(h->session));
	session_commit_done(h->session, true, "TESTID0001");
	expect(h, "250 2.0.0 Ok: queued as TESTID0001\r\n");
	exchange(h, tail, "221 2.0.0 Bye\r\n");
	assert_string_equal(h->data, "Subject: test\r\n\r\nhello\r\n");
	assert_string_equal(h->mail_from, "sender@example.net");
	assert_string_equal(h->recipients[0], "postmaster@example.org");
	assert_int_equal(h->decisions[0], RELAY_LOCAL);
	assert_int_equal(session_messages(h->session), 1);
}

static void
test_failed_commit_is_451(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	say(h, "x\r\n.\r\n");
	session_commit_done(h->session, false, NULL);
	expect(h, "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(session_state(h->session), SESSION_READY);
}

static void
test_queue_that_cannot_open_gives_451_not_354(void **state)
{
	struct harness *h = *state;

	h->fail_begin = true;
	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "451 4.3.0 Error: queue file write error\r\n");
}

static void
test_append_failure_gives_451_after_the_dot(void **state)
{
	struct harness *h = *state;

	h->fail_append = true;
	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	exchange(h, "body\r\n.\r\n", "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(h->aborts, 1);
	assert_int_equal(h->commits, 0);
}

/* RFC 5321 4.5.2: a leading dot is doubled by the client and removed here. */
static void
test_leading_dots_are_unstuffed(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	say(h, "..one\r\n...\r\n.x\r\n.\r\n");
	assert_string_equal(h->data, ".one\r\n..\r\nx\r\n");
}

/* SMTP smuggling: <LF>.<LF> and <LF>.<CR><LF> must not end the data; the message is then
 * refused with 554 5.5.2 at the real end, so nothing smuggled is ever accepted. */
static void
test_bare_lf_dot_does_not_end_data_and_is_refused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	say(h, "legit\r\n\n.\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<victim@example.com>\r\n"
	    "\n.\r\nDATA\r\n");
	expect(h, "");
	assert_int_equal(session_state(h->session), SESSION_DATA);
	exchange(h, ".\r\n",
	    "554 5.5.2 Error: bare <LF> or <CR> in message data (RFC 5321 2.3.8)\r\n");
	assert_int_equal(h->commits, 0);
	assert_int_equal(h->aborts, 1);
	assert_int_equal(session_state(h->session), SESSION_READY);
}

static void
test_bare_cr_in_data_is_refused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	exchange(h, "a\rb\r\n.\r\n",
	    "554 5.5.2 Error: bare <LF> or <CR> in message data (RFC 5321 2.3.8)\r\n");
}

static void
test_nul_in_data_is_refused(void **state)
{
	struct harness *h = *state;
	const char body[] = "a\0b\r\n.\r\n";

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(feed(h, body, sizeof(body) - 1), sizeof(body) - 1);
	expect(h, "554 5.6.0 Error: NUL byte in message data\r\n");
}

/* RFC 5321 4.5.3.1.6: 1000 octets with the CRLF are accepted, 1001 refused. */
static void
test_text_line_of_1000_octets_is_accepted(void **state)
{
	struct harness *h = *state;
	char line[SESSION_TEXT_LINE_MAX + 1];

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	memset(line, 'a', SESSION_TEXT_LINE_MAX - 2);
	memcpy(line + SESSION_TEXT_LINE_MAX - 2, "\r\n", 3);
	say(h, line);
	say(h, ".\r\n");
	assert_int_equal(h->commits, 1);
	assert_int_equal(h->data_length, SESSION_TEXT_LINE_MAX);
}

static void
test_text_line_of_1001_octets_is_refused(void **state)
{
	struct harness *h = *state;
	char line[SESSION_TEXT_LINE_MAX + 2];

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	memset(line, 'a', SESSION_TEXT_LINE_MAX - 1);
	memcpy(line + SESSION_TEXT_LINE_MAX - 1, "\r\n", 3);
	say(h, line);
	exchange(h, ".\r\n", "554 5.6.0 Error: message line longer than 1000 octets "
	    "(RFC 5321 4.5.3.1.6)\r\n");
	assert_int_equal(h->commits, 0);
}

/* The size limit is checked while reading; the reply comes after the dot (the client would
 * not read it earlier), and the session goes on. */
static void
test_message_over_the_size_limit_gets_552_after_the_dot(void **state)
{
	struct harness *h = harness_new("message_size_limit=64k", NULL);
	char line[1002];

	(void)state;
	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	memset(line, 'b', 998);
	memcpy(line + 998, "\r\n", 3);
	for (int i = 0; i < 70; i++)
		say(h, line);
	expect(h, "");
	exchange(h, ".\r\n", "552 5.3.4 Error: message file too big\r\n");
	assert_int_equal(h->aborts, 1);
	assert_int_equal(h->commits, 0);
	exchange(h, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	harness_free(h);
}

static void
test_end_of_data_split_across_reads_is_found(void **state)
{
	struct harness *h = *state;
	const char *message = "line\r\n.\r\n";

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	for (size_t i = 0; message[i] != '\0'; i++)
		assert_int_equal(feed(h, message + i, 1), 1);
	assert_int_equal(h->commits, 1);
	assert_string_equal(h->data, "line\r\n");
}

/* RFC 5321 4.4: the Received header names HELO, verified rDNS and address, protocol, id. */
static void
test_received_header_names_client_helo_and_tls(void **state)
{
	struct harness *h = *state;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, false);
	struct dnsbl_result pass;
	memset(&pass, 0, sizeof(pass));
	session_set_dnsbl(h->session, &pass);
	session_set_rdns(h->session, "mail.example.net");
	session_greet(h->session);
	free(take(h));
	start_tls(h);
	exchange(h, "EHLO (evil) name\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
	say(h, "EHLO client(x).example.net\r\n");
	free(take(h));
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<postmaster@example.org>\r\n");
	free(take(h));
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_non_null(strstr(h->received, "Received: from client_x_.example.net "
	    "(mail.example.net [192.0.2.10])\r\n\tby " HOSTNAME " (relayguard) with ESMTPS id "
	    "TESTID0001\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
	    "\tfor <postmaster@example.org>;\r\n\t"));
	size_t length = strlen(h->received);
	assert_true(length > 2);
	assert_string_equal(h->received + length - 2, "\r\n");
}

/* ---------------------------------------------------------------- line limits */

/* RFC 5321 4.5.3.1.4: 512 octets with the CRLF are a legal command line. */
static void
test_command_line_of_512_octets_is_accepted(void **state)
{
	struct harness *h = *state;
	char line[SESSION_COMMAND_LINE_MAX + 1];

	harness_start(h);
	free(take(h));
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', SESSION_COMMAND_LINE_MAX - 7);
	memcpy(line + SESSION_COMMAND_LINE_MAX - 2, "\r\n", 3);
	assert_int_equal(strlen(line), SESSION_COMMAND_LINE_MAX);
	exchange(h, line, "250 2.0.0 Ok\r\n");
}

static void
test_command_line_of_513_octets_is_500_and_the_session_goes_on(void **state)
{
	struct harness *h = *state;
	char line[SESSION_COMMAND_LINE_MAX + 2];

	harness_start(h);
	free(take(h));
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', SESSION_COMMAND_LINE_MAX - 6);
	memcpy(line + SESSION_COMMAND_LINE_MAX - 1, "\r\n", 3);
	assert_int_equal(strlen(line), SESSION_COMMAND_LINE_MAX + 1);
	exchange(h, line, "500 5.5.6 Error: line too long\r\n");
	exchange(h, "NOOP\r\n", "250 2.0.0 Ok\r\n");
}

/* DESIGN.md: a 1 MB HELO must never crash; it gets one 500 and the session goes on. */
static void
test_megabyte_helo_gets_one_500_and_the_session_goes_on(void **state)
{
	struct harness *h = *state;
	char *chunk = xmalloc(FEED_CHUNK);

	harness_start(h);
	free(take(h));
	say(h, "HELO ");
	memset(chunk, 'a', FEED_CHUNK);
	for (size_t sent = 0; sent < MEGABYTE; sent += FEED_CHUNK)
		assert_int_equal(feed(h, chunk, FEED_CHUNK), FEED_CHUNK);
	free(chunk);
	expect(h, "");
	exchange(h, "\r\n", "500 5.5.6 Error: line too long\r\n");
	exchange(h, "HELO client.example.net\r\n", "250 " HOSTNAME "\r\n");
}

static void
test_nul_in_a_command_is_500(void **state)
{
	struct harness *h = *state;
	const char line[] = "HELO a\0b\r\n";

	harness_start(h);
	free(take(h));
	assert_int_equal(feed(h, line, sizeof(line) - 1), sizeof(line) - 1);
	expect(h, "500 5.5.2 Error: invalid characters in command\r\n");
}

/* Command lines ending in a bare LF are taken (only DATA is sensitive to line ends). */
static void
test_bare_lf_ends_a_command_line(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	exchange(h, "NOOP\n", "250 2.0.0 Ok\r\n");
}

/* ---------------------------------------------------------------- pipelining and errors */

/* RFC 2920: pipelined commands are answered in order, all in one go. */
static void
test_pipelined_commands_are_answered_in_order(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	ehlo(h);
	exchange(h, "MAIL FROM:<a@example.net>\r\nRCPT TO:<victim@example.com>\r\n"
	    "RCPT TO:<postmaster@example.org>\r\nDATA\r\n",
	    "250 2.1.0 Ok\r\n554 5.7.1 <victim@example.com>: relay access denied\r\n"
	    "250 2.1.5 <postmaster@example.org>: recipient ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
}

static void
test_too_many_errors_end_the_session_with_421(void **state)
{
	struct harness *h = harness_new("max_errors=3", NULL);

	(void)state;
	harness_start(h);
	free(take(h));
	exchange(h, "FOO\r\n", "500 5.5.2 Error: command not recognized\r\n");
	exchange(h, "FOO\r\n", "500 5.5.2 Error: command not recognized\r\n");
	size_t used = feed(h, "FOO\r\nNOOP\r\n", 11);
	assert_int_equal(used, 5);
	expect(h, "500 5.5.2 Error: command not recognized\r\n421 4.7.0 " HOSTNAME
	    " Error: too many errors\r\n");
	assert_true(h->closed);
	harness_free(h);
}

static void
test_timeout_says_421_and_closes(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	session_timeout(h->session);
	expect(h, "421 4.4.2 " HOSTNAME " Error: timeout exceeded\r\n");
	assert_true(h->closed);
}

static void
test_timeouts_depend_on_the_state(void **state)
{
	struct harness *h = harness_new("command_timeout=7s", "data_timeout=9s", NULL);

	(void)state;
	harness_start(h);
	free(take(h));
	assert_int_equal(session_read_timeout_ms(h->session), 7000);
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(session_read_timeout_ms(h->session), 9000);
	say(h, ".\r\n");
	assert_int_equal(session_read_timeout_ms(h->session), 0);
	harness_free(h);
}

static void
test_shutdown_aborts_a_message_being_read(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	say(h, "partial\r\n");
	session_shutdown(h->session);
	expect(h, "421 4.3.2 " HOSTNAME " Service shutting down\r\n");
	assert_int_equal(h->aborts, 1);
}

/* ---------------------------------------------------------------- STARTTLS */

/* The STARTTLS command injection (CVE-2011-0411 style): bytes pipelined after STARTTLS are
 * not taken; the server drops them before the handshake. */
static void
test_starttls_takes_nothing_pipelined_after_it(void **state)
{
	struct harness *h = *state;
	const char *input = "STARTTLS\r\nMAIL FROM:<a@evil.example>\r\n";

	harness_start(h);
	free(take(h));
	ehlo(h);
	assert_int_equal(feed(h, input, strlen(input)), strlen("STARTTLS\r\n"));
	expect(h, "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(h->tls_starts, 1);
	assert_true(session_is_waiting(h->session));
}

/* RFC 3207 4.2: after the handshake the client must EHLO again. */
static void
test_after_tls_the_client_must_greet_again(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	ehlo(h);
	start_tls(h);
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n");
	exchange(h, "STARTTLS\r\n", "554 5.5.1 Error: TLS already active\r\n");
}

static void
test_starttls_without_a_certificate_is_502(void **state)
{
	struct harness *h = *state;

	h->settings.tls_available = false;
	harness_start(h);
	free(take(h));
	exchange(h, "STARTTLS\r\n", "502 5.5.1 Error: command not implemented\r\n");
	assert_int_equal(h->tls_starts, 0);
}

/* ---------------------------------------------------------------- AUTH */

static void
test_auth_before_tls_is_538(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	ehlo(h);
	exchange(h, "AUTH PLAIN " PLAIN_GOOD "\r\n",
	    "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
}

static void
test_auth_plain_lets_the_user_relay(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH PLAIN " PLAIN_GOOD "\r\n", "235 2.7.0 Authentication successful\r\n");
	exchange(h, "MAIL FROM:<user@example.org>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<friend@example.com>\r\n");
	expect_prefix(h, "250 ");
	exchange(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(h->decisions[0], RELAY_OUTBOUND);
	assert_non_null(strstr(h->received, "with ESMTPSA"));
	assert_non_null(strstr(h->received, "(authenticated as user@example.org)"));
}

static void
test_auth_plain_in_two_steps(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH PLAIN\r\n", "334 \r\n");
	exchange(h, PLAIN_GOOD "\r\n", "235 2.7.0 Authentication successful\r\n");
}

static void
test_auth_login_succeeds(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	exchange(h, LOGIN_USER "\r\n", "334 UGFzc3dvcmQ6\r\n");
	exchange(h, LOGIN_PASSWORD "\r\n", "235 2.7.0 Authentication successful\r\n");
	exchange(h, "AUTH LOGIN\r\n", "503 5.5.1 Error: already authenticated\r\n");
}

static void
test_auth_with_a_wrong_password_is_535_and_relay_stays_closed(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH PLAIN " PLAIN_BAD "\r\n",
	    "535 5.7.8 Authentication credentials invalid\r\n");
	exchange(h, "MAIL FROM:<user@example.org>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<friend@example.com>\r\n");
	expect_prefix(h, "554 5.7.1 ");
}

static void
test_auth_cancelled_with_a_star_is_501(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	free(take(h));
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	exchange(h, "*\r\n", "501 5.7.0 Authentication aborted\r\n");
	exchange(h, "AUTH CRAM-MD5\r\n", "504 5.5.4 Unrecognized authentication type\r\n");
	exchange(h, "AUTH PLAIN !!!!\r\n", "501 5.5.2 Cannot decode response\r\n");
}

/* Submission (587) requires AUTH before MAIL (RFC 6409 4.3). */
static void
test_submission_requires_auth_before_mail(void **state)
{
	struct harness *h = *state;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SUBMISSION, true);
	session_greet(h->session);
	free(take(h));
	ehlo(h);
	exchange(h, "MAIL FROM:<user@example.org>\r\n", "530 5.7.0 Authentication required\r\n");
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH PLAIN " PLAIN_GOOD "\r\n", "235 2.7.0 Authentication successful\r\n");
	exchange(h, "MAIL FROM:<user@example.org>\r\n", "250 2.1.0 Ok\r\n");
}

/* ---------------------------------------------------------------- DNSBL */

static void
test_rcpt_waits_for_the_dnsbl_answer(void **state)
{
	struct harness *h = *state;
	struct dnsbl_result listed;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, false);
	session_set_rdns(h->session, "");
	session_greet(h->session);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	const char *input = "RCPT TO:<postmaster@example.org>\r\nQUIT\r\n";
	size_t used = feed(h, input, strlen(input));
	assert_int_equal(used, strlen("RCPT TO:<postmaster@example.org>\r\n"));
	expect(h, "");
	assert_true(session_is_waiting(h->session));
	assert_true(session_needs_dnsbl(h->session));
	memset(&listed, 0, sizeof(listed));
	listed.verdict = DNSBL_LISTED;
	listed.score = 1;
	listed.listed_zones = 1;
	snprintf(listed.zone, sizeof(listed.zone), "dnsbl.example.net");
	snprintf(listed.reason, sizeof(listed.reason), "listed: open relay, see example.net");
	session_set_dnsbl(h->session, &listed);
	expect(h, "554 5.7.1 Service unavailable; client [192.0.2.10] blocked using "
	    "dnsbl.example.net; listed: open relay, see example.net\r\n");
	assert_false(session_is_waiting(h->session));
	exchange(h, "QUIT\r\n", "221 2.0.0 Bye\r\n");
}

/* Authenticated users are not refused for their address (baruwa2#107). */
static void
test_dnsbl_listing_does_not_apply_to_authenticated_users(void **state)
{
	struct harness *h = *state;
	struct dnsbl_result listed;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, false);
	session_set_rdns(h->session, "");
	memset(&listed, 0, sizeof(listed));
	listed.verdict = DNSBL_LISTED;
	snprintf(listed.zone, sizeof(listed.zone), "dnsbl.example.net");
	session_set_dnsbl(h->session, &listed);
	session_greet(h->session);
	free(take(h));
	start_tls(h);
	say(h, "EHLO c.example.net\r\n");
	free(take(h));
	exchange(h, "AUTH PLAIN " PLAIN_GOOD "\r\n", "235 2.7.0 Authentication successful\r\n");
	exchange(h, "MAIL FROM:<user@example.org>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<friend@example.com>\r\n");
	expect_prefix(h, "250 ");
}

static void
test_dnsbl_failure_fail_closed_is_451(void **state)
{
	struct harness *h = *state;
	struct dnsbl_result failed;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, false);
	session_set_rdns(h->session, "");
	memset(&failed, 0, sizeof(failed));
	failed.verdict = DNSBL_TEMPFAIL;
	failed.failed_zones = 1;
	session_set_dnsbl(h->session, &failed);
	session_greet(h->session);
	free(take(h));
	exchange(h, "HELO c.example.net\r\n", "250 " HOSTNAME "\r\n");
	exchange(h, "MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok\r\n");
	say(h, "RCPT TO:<postmaster@example.org>\r\n");
	expect_prefix(h, "451 4.7.1 ");
	assert_int_equal(session_errors(h->session), 0);
}

static void
test_data_waits_for_the_reverse_name(void **state)
{
	struct harness *h = *state;
	struct dnsbl_result pass;

	harness_start_from(h, CLIENT_ADDRESS, LISTENER_SMTP, false);
	memset(&pass, 0, sizeof(pass));
	session_set_dnsbl(h->session, &pass);
	session_greet(h->session);
	free(take(h));
	transaction_to(h, "postmaster@example.org");
	assert_int_equal(feed(h, "DATA\r\n", 6), 6);
	expect(h, "");
	assert_int_equal(h->begins, 0);
	session_set_rdns(h->session, "");
	expect(h, "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_non_null(strstr(h->received, "(unknown [192.0.2.10])"));
}

/* ---------------------------------------------------------------- pure parsers */

static void
test_command_parser_splits_verb_and_argument(void **state)
{
	struct smtp_command command;

	(void)state;
	assert_int_equal(smtp_command_parse("mail from: <a@b.example> SIZE=1", 31, &command),
	    SMTP_COMMAND_OK);
	assert_int_equal(command.verb, SMTP_VERB_MAIL);
	assert_int_equal(command.argument_length, strlen("<a@b.example> SIZE=1"));
	assert_memory_equal(command.argument, "<a@b.example> SIZE=1", command.argument_length);
	assert_int_equal(smtp_command_parse("StartTLS", 8, &command), SMTP_COMMAND_OK);
	assert_int_equal(command.verb, SMTP_VERB_STARTTLS);
	assert_int_equal(smtp_command_parse("MAILFROM:<a@b>", 14, &command), SMTP_COMMAND_OK);
	assert_int_equal(command.verb, SMTP_VERB_UNKNOWN);
	assert_int_equal(smtp_command_parse("MAIL TO:<a@b>", 13, &command),
	    SMTP_COMMAND_BAD_SYNTAX);
	assert_int_equal(smtp_command_parse("NOOP \x01", 6, &command), SMTP_COMMAND_BAD_BYTES);
}

static void
test_mail_parameters_are_parsed_strictly(void **state)
{
	struct smtp_mail_parameters parameters;

	(void)state;
	assert_int_equal(smtp_mail_parameters_parse(" SIZE=1024 BODY=8BITMIME AUTH=<>", 32,
	    &parameters), SMTP_PARAMETERS_OK);
	assert_true(parameters.has_size);
	assert_int_equal(parameters.size, 1024);
	assert_int_equal(parameters.body, SMTP_BODY_8BITMIME);
	assert_true(parameters.has_auth);
	assert_int_equal(smtp_mail_parameters_parse(" SIZE=1 SIZE=2", 14, &parameters),
	    SMTP_PARAMETERS_SYNTAX);
	assert_int_equal(smtp_mail_parameters_parse(" SIZE=x", 7, &parameters),
	    SMTP_PARAMETERS_SYNTAX);
	assert_int_equal(smtp_mail_parameters_parse(" BODY=BINARYMIME", 16, &parameters),
	    SMTP_PARAMETERS_SYNTAX);
	assert_int_equal(smtp_mail_parameters_parse(" SMTPUTF8", 9, &parameters),
	    SMTP_PARAMETERS_UNKNOWN);
	assert_int_equal(smtp_mail_parameters_parse(" SIZE=99999999999999999999999", 29,
	    &parameters), SMTP_PARAMETERS_SYNTAX);
	assert_int_equal(smtp_mail_parameters_parse("", 0, &parameters), SMTP_PARAMETERS_OK);
	assert_false(parameters.has_size);
}

static void
test_base64_decoder_is_strict(void **state)
{
	unsigned char out[16];

	(void)state;
	assert_int_equal(smtp_base64_decode("Zm9vYmFy", 8, out, sizeof(out)), 6);
	assert_memory_equal(out, "foobar", 6);
	assert_int_equal(smtp_base64_decode("Zm8=", 4, out, sizeof(out)), 2);
	assert_memory_equal(out, "fo", 2);
	assert_int_equal(smtp_base64_decode("Zg==", 4, out, sizeof(out)), 1);
	assert_int_equal(smtp_base64_decode("Zm9", 3, out, sizeof(out)), -1);
	assert_int_equal(smtp_base64_decode("Z===", 4, out, sizeof(out)), -1);
	assert_int_equal(smtp_base64_decode("Zh==", 4, out, sizeof(out)), -1);
	assert_int_equal(smtp_base64_decode("Zg==Zg==", 8, out, sizeof(out)), -1);
	assert_int_equal(smtp_base64_decode("Zm9vYmFy", 8, out, 5), -1);
}

/* collect - an emit function gathering the data reader's output. */
struct collected {
	char text[256];
	size_t length;
};

static void
collect(void *arg, const char *data, size_t length)
{
	struct collected *collected = arg;

	assert_true(collected->length + length < sizeof(collected->text));
	memcpy(collected->text + collected->length, data, length);
	collected->length += length;
	collected->text[collected->length] = '\0';
}

static void
test_data_reader_stops_exactly_after_the_end_marker(void **state)
{
	struct smtp_data_reader reader;
	struct collected collected = { .length = 0 };
	const char *input = "a\r\n.\r\nQUIT\r\n";
	bool done;

	(void)state;
	smtp_data_reader_init(&reader);
	assert_int_equal(smtp_data_read(&reader, input, strlen(input), collect, &collected,
	    &done), strlen("a\r\n.\r\n"));
	assert_true(done);
	assert_string_equal(collected.text, "a\r\n");
	assert_int_equal(reader.problems, 0);
	assert_int_equal(reader.size, 3);
}

static void
test_data_reader_empty_message(void **state)
{
	struct smtp_data_reader reader;
	struct collected collected = { .length = 0 };
	bool done;

	(void)state;
	smtp_data_reader_init(&reader);
	assert_int_equal(smtp_data_read(&reader, ".\r\n", 3, collect, &collected, &done), 3);
	assert_true(done);
	assert_int_equal(collected.length, 0);
}

static void
test_data_reader_dot_cr_without_lf_is_a_bare_cr(void **state)
{
	struct smtp_data_reader reader;
	struct collected collected = { .length = 0 };
	bool done;

	(void)state;
	smtp_data_reader_init(&reader);
	assert_int_equal(smtp_data_read(&reader, ".\rx\r\n", 5, collect, &collected, &done), 5);
	assert_false(done);
	assert_string_equal(collected.text, "\rx\r\n");
	assert_true(reader.problems & SMTP_DATA_BARE_CR);
}

static void
test_data_reader_notes_eight_bit_content(void **state)
{
	struct smtp_data_reader reader;
	struct collected collected = { .length = 0 };
	bool done;

	(void)state;
	smtp_data_reader_init(&reader);
	smtp_data_read(&reader, "caf\xc3\xa9\r\n", 7, collect, &collected, &done);
	assert_true(reader.eight_bit);
	assert_int_equal(reader.problems, 0);
}

int
main(void)
{
	log_init("test_session", LOG_SINK_STDERR, LOG_LEVEL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_banner_names_the_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_talking_before_the_banner_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ehlo_lists_extensions_without_starttls_when_no_certificate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ehlo_offers_starttls_but_not_auth_before_tls,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ehlo_offers_auth_after_tls_and_no_more_starttls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helo_without_a_name_is_501, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_before_helo_is_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcpt_before_mail_is_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_without_an_accepted_recipient_is_554,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_mail_is_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rset_forgets_the_transaction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quit_says_221_and_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_command_is_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrfy_never_discloses_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expn_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help_lists_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_recipient_is_relay_denied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_percent_hack_for_our_domain_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_source_route_to_a_stranger_is_denied, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_local_user_is_refused_at_rcpt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_trusted_client_may_relay_anywhere, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_recipient_syntax_is_501, setup, teardown),
		cmocka_unit_test(test_recipients_over_the_limit_get_452),
		cmocka_unit_test_setup_teardown(test_duplicate_recipient_is_queued_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_size_parameter_over_the_limit_is_552, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_mail_parameter_is_555, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sender_without_domain_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_250_is_sent_only_after_the_queue_commits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_commit_is_451, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_that_cannot_open_gives_451_not_354,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_failure_gives_451_after_the_dot, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_leading_dots_are_unstuffed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_lf_dot_does_not_end_data_and_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_cr_in_data_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_data_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_line_of_1000_octets_is_accepted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_text_line_of_1001_octets_is_refused, setup,
		    teardown),
		cmocka_unit_test(test_message_over_the_size_limit_gets_552_after_the_dot),
		cmocka_unit_test_setup_teardown(test_end_of_data_split_across_reads_is_found,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_received_header_names_client_helo_and_tls,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_line_of_512_octets_is_accepted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_command_line_of_513_octets_is_500_and_the_session_goes_on, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_megabyte_helo_gets_one_500_and_the_session_goes_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_a_command_is_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_lf_ends_a_command_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_commands_are_answered_in_order,
		    setup, teardown),
		cmocka_unit_test(test_too_many_errors_end_the_session_with_421),
		cmocka_unit_test_setup_teardown(test_timeout_says_421_and_closes, setup, teardown),
		cmocka_unit_test(test_timeouts_depend_on_the_state),
		cmocka_unit_test_setup_teardown(test_shutdown_aborts_a_message_being_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_starttls_takes_nothing_pipelined_after_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_tls_the_client_must_greet_again, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_starttls_without_a_certificate_is_502, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_before_tls_is_538, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_plain_lets_the_user_relay, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_plain_in_two_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_login_succeeds, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_auth_with_a_wrong_password_is_535_and_relay_stays_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_cancelled_with_a_star_is_501, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_submission_requires_auth_before_mail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rcpt_waits_for_the_dnsbl_answer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_dnsbl_listing_does_not_apply_to_authenticated_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_failure_fail_closed_is_451, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_data_waits_for_the_reverse_name, setup,
		    teardown),
		cmocka_unit_test(test_command_parser_splits_verb_and_argument),
		cmocka_unit_test(test_mail_parameters_are_parsed_strictly),
		cmocka_unit_test(test_base64_decoder_is_strict),
		cmocka_unit_test(test_data_reader_stops_exactly_after_the_end_marker),
		cmocka_unit_test(test_data_reader_empty_message),
		cmocka_unit_test(test_data_reader_dot_cr_without_lf_is_a_bare_cr),
		cmocka_unit_test(test_data_reader_notes_eight_bit_content),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
