/* fuzz_smtp_command.c - libFuzzer harness for smtpd's command side: the command-line parser,
 * MAIL parameters, base64, the DATA reader, and whole sessions fed in arbitrary pieces with
 * the server's answers (TLS up, commits, DNS) simulated. Checks the reply invariants. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "smtpd/config.h"
#include "smtpd/relay_policy.h"
#include "smtpd/session.h"
#include "smtpd/users.h"

#define FUZZ_CHUNK_MAX 97
#define FUZZ_PROBLEMS_MAX 32
#define FUZZ_DECODED_MAX 512
/* An MD5-crypt hash ("fuzz"): cheap enough to check thousands of times a second. */
#define FUZZ_USERS_LINE "user@example.org:$1$fuzzsalt$IhOXDVvbaPfanij.nvbdW0\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* require - stop the fuzzer on a broken invariant. */
static void
require(bool condition)
{
	if (!condition)
		__builtin_trap();
}

struct fuzz_world {
	struct smtpd_config config;
	struct relay_policy *policy;
	struct user_table *users;
	struct session_settings settings;
	bool ready;
};

static struct fuzz_world world;

/* What one session did. */
struct fuzz_io {
	char line[SESSION_REPLY_MAX + 2];	/* the reply line being written */
	size_t line_length;
	bool closed;
	bool tls_started;
	int messages_open;
	int token;
	bool message_bad;		/* a committed message must never hold a bare LF */
	bool last_cr;
};

/* world_init - one configuration, policy and users file for every run. */
static void
world_init(void)
{
	char path[] = "/tmp/fuzz_smtp_command_users.XXXXXX";
	char users_override[64];
	struct config_problem problems[FUZZ_PROBLEMS_MAX];
	size_t problem_count = 0;
	char err[256];

	if (world.ready)
		return;
	log_init("fuzz_smtp_command", LOG_SINK_STDERR, LOG_LEVEL_ERROR);
	int fd = mkstemp(path);
	require(fd >= 0);
	require(write(fd, FUZZ_USERS_LINE, strlen(FUZZ_USERS_LINE)) ==
	    (ssize_t)strlen(FUZZ_USERS_LINE));
	close(fd);
	snprintf(users_override, sizeof(users_override), "users=%s", path);
	char *overrides[] = { "hostname=mx.example.org", "local_domains=example.org",
		"relay_domains=relay.example.net", "relay_clients=198.51.100.0/24",
		"queue_dir=/nonexistent/fuzz-queue", "max_errors=50", "max_recipients=100",
		"message_size_limit=64k", users_override };
	require(smtpd_config_load(NULL, overrides, sizeof(overrides) / sizeof(overrides[0]),
	    &world.config, problems, FUZZ_PROBLEMS_MAX, &problem_count));
	struct netaddr own;
	require(netaddr_parse("192.0.2.25", &own));
	world.policy = relay_policy_new(&world.config, &own, 1);
	require(world.policy != NULL);
	world.users = user_table_load(path, err, sizeof(err));
	require(world.users != NULL);
	unlink(path);
	world.settings.config = &world.config;
	world.settings.policy = world.policy;
	world.settings.users = world.users;
	world.ready = true;
}

/* fuzz_write - every reply line: "ddd" then ' ' or '-', CRLF-terminated, bounded. */
static void
fuzz_write(void *arg, const char *data, size_t length)
{
	struct fuzz_io *io = arg;

	require(!io->closed);
	for (size_t i = 0; i < length; i++) {
		require(io->line_length < sizeof(io->line));
		io->line[io->line_length++] = data[i];
		if (data[i] != '\n')
			continue;
		require(io->line_length >= 6);
		require(io->line[io->line_length - 2] == '\r');
		for (int d = 0; d < 3; d++)
			require(io->line[d] >= '0' && io->line[d] <= '9');
		require(io->line[0] >= '2' && io->line[0] <= '5');
		require(io->line[3] == ' ' || io->line[3] == '-');
		for (size_t j = 0; j + 2 < io->line_length; j++)
			require(io->line[j] != '\r' && io->line[j] != '\n' && io->line[j] != '\0');
		io->line_length = 0;
	}
}

static void
fuzz_start_tls(void *arg)
{
	struct fuzz_io *io = arg;

	io->tls_started = true;
}

static void
fuzz_close(void *arg)
{
	struct fuzz_io *io = arg;

	io->closed = true;
}

static void
fuzz_queue_id(void *arg, char out[QUEUE_ID_MAX])
{
	(void)arg;
	snprintf(out, QUEUE_ID_MAX, "FUZZ0001");
}

static void *
fuzz_begin(void *arg, const struct queue_envelope *envelope, char *err, size_t err_size)
{
	struct fuzz_io *io = arg;

	(void)err;
	(void)err_size;
	require(envelope->recipient_count > 0);
	for (size_t i = 0; i < envelope->recipient_count; i++)
		require(relay_decision_accepts(envelope->recipients[i].decision));
	require(strstr(envelope->received_header, "\r\n") != NULL);
	require(io->messages_open == 0);
	io->messages_open++;
	io->message_bad = false;
	io->last_cr = false;
	return &io->token;
}

static bool
fuzz_append(void *arg, void *message, const char *data, size_t length)
{
	struct fuzz_io *io = arg;

	require(message == &io->token && io->messages_open == 1);
	for (size_t i = 0; i < length; i++) {
		if (data[i] == '\n' && !io->last_cr)
			io->message_bad = true;
		io->last_cr = data[i] == '\r';
	}
	return true;
}

static void
fuzz_commit(void *arg, void *message)
{
	struct fuzz_io *io = arg;

	require(message == &io->token && io->messages_open == 1);
	/* SMTP smuggling: nothing with a bare LF is ever handed to the queue. */
	require(!io->message_bad);
	io->messages_open--;
}

static void
fuzz_abort(void *arg, void *message)
{
	struct fuzz_io *io = arg;

	require(message == &io->token && io->messages_open == 1);
	io->messages_open--;
}

static const struct session_ops fuzz_ops = {
	.write = fuzz_write,
	.start_tls = fuzz_start_tls,
	.close = fuzz_close,
	.queue_id_new = fuzz_queue_id,
	.message_begin = fuzz_begin,
	.message_append = fuzz_append,
	.message_commit = fuzz_commit,
	.message_abort = fuzz_abort,
};

/* fuzz_pure_parsers - the parsers on the raw input, line by line. */
static void
fuzz_pure_parsers(const char *text, size_t size)
{
	struct smtp_command command;
	struct smtp_mail_parameters parameters;
	unsigned char decoded[FUZZ_DECODED_MAX];

	for (size_t start = 0; start < size;) {
		const char *newline = memchr(text + start, '\n', size - start);
		size_t length = newline != NULL ? (size_t)(newline - text - start) : size - start;
		if (smtp_command_parse(text + start, length, &command) == SMTP_COMMAND_OK) {
			require(command.argument >= text + start);
			require(command.argument + command.argument_length <= text + start + length);
		}
		smtp_mail_parameters_parse(text + start, length, &parameters);
		int decoded_length = smtp_base64_decode(text + start, length, decoded,
		    sizeof(decoded));
		require(decoded_length <= (int)sizeof(decoded));
		start += length + 1;
	}
}

static void
fuzz_discard(void *arg, const char *data, size_t length)
{
	size_t *total = arg;

	(void)data;
	*total += length;
}

/* fuzz_data_reader - the DATA reader in pieces: it never emits more than it took. */
static void
fuzz_data_reader(const char *text, size_t size)
{
	struct smtp_data_reader reader;
	size_t emitted = 0, used = 0;
	bool done = false;

	smtp_data_reader_init(&reader);
	while (used < size && !done) {
		size_t piece = 1 + (size_t)(unsigned char)text[used] % FUZZ_CHUNK_MAX;
		if (piece > size - used)
			piece = size - used;
		size_t took = smtp_data_read(&reader, text + used, piece, fuzz_discard, &emitted,
		    &done);
		require(took <= piece);
		require(done || took == piece);
		used += took;
	}
	require(emitted <= used);
	require(reader.size == emitted);
}

/* fuzz_session - a whole session; the first byte picks the client and what the server
 * answers, the rest is the client's bytes in pieces. */
static void
fuzz_session(const uint8_t *data, size_t size)
{
	struct fuzz_io io;
	struct session_client client;
	struct dnsbl_result dnsbl;

	if (size == 0)
		return;
	uint8_t flags = data[0];
	memset(&io, 0, sizeof(io));
	memset(&client, 0, sizeof(client));
	require(netaddr_parse((flags & 0x01) ? "198.51.100.9" : "203.0.113.7", &client.address));
	require(netaddr_parse("192.0.2.25", &client.local_address));
	client.mode = (flags & 0x06) == 0x02 ? LISTENER_SUBMISSION : LISTENER_SMTP;
	client.id = "fuzz";
	struct session_settings settings = world.settings;
	settings.tls_available = (flags & 0x08) != 0;
	struct session *session = session_new(&settings, &client, &fuzz_ops, &io);
	memset(&dnsbl, 0, sizeof(dnsbl));
	dnsbl.verdict = (flags & 0x30) == 0x10 ? DNSBL_LISTED :
	    (flags & 0x30) == 0x20 ? DNSBL_TEMPFAIL : DNSBL_PASS;
	snprintf(dnsbl.zone, sizeof(dnsbl.zone), "bl.example.net");
	snprintf(dnsbl.reason, sizeof(dnsbl.reason), "listed");
	if ((flags & 0x40) == 0)
		session_greet(session);
	const char *text = (const char *)data + 1;
	size_t left = size - 1, used = 0;
	for (int stalls = 0; used < left && stalls < 4;) {
		size_t piece = 1 + (size_t)(unsigned char)text[used] % FUZZ_CHUNK_MAX;
		if (piece > left - used)
			piece = left - used;
		size_t took = session_feed(session, text + used, piece);
		require(took <= piece);
		used += took;
		if (session_state(session) == SESSION_PREGREET && took == 0)
			session_greet(session);
		if (!session_is_waiting(session)) {
			stalls = took == 0 ? stalls + 1 : 0;
			continue;
		}
		/* The server's side of a waiting session. */
		if (io.closed)
			break;
		stalls++;
		switch (session_state(session)) {
		case SESSION_COMMITTING:
			session_commit_done(session, (flags & 0x80) == 0, "FUZZ0001");
			break;
		case SESSION_TLS_STARTING:
			session_tls_started(session, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
			break;
		default:
			if (session_needs_rdns(session))
				session_set_rdns(session, (flags & 0x01) ? "" : "client.example.net");
			if (session_needs_dnsbl(session))
				session_set_dnsbl(session, &dnsbl);
			break;
		}
	}
	if (session_state(session) == SESSION_COMMITTING)
		session_commit_done(session, true, "FUZZ0001");
	session_timeout(session);
	session_free(session);
	require(io.messages_open == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	world_init();
	fuzz_pure_parsers((const char *)data, size);
	fuzz_data_reader((const char *)data, size);
	fuzz_session(data, size);
	return 0;
}
