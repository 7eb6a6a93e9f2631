/* session.h - one inbound SMTP conversation as an explicit state machine: bytes in, replies
 * and effects out. No sockets, clocks or threads here: server.c (or a unit test, or the
 * fuzzer) feeds it, performs the effects it asks for through session_ops, and reports back.
 * Also the pure parsers it is built from (command lines, MAIL parameters, DATA, base64). */
#ifndef RELAYGUARD_SMTPD_SESSION_H
#define RELAYGUARD_SMTPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "smtpd/config.h"
#include "smtpd/dnsbl_client.h"
#include "smtpd/queue.h"
#include "smtpd/relay_policy.h"
#include "smtpd/users.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF. Longer lines get
 * 500 5.5.6, their rest is discarded, and the session goes on. */
#define SESSION_COMMAND_LINE_MAX 512
/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define SESSION_TEXT_LINE_MAX 1000
/* Longest reply line we write, CRLF included (replies quote at most a 512-octet command). */
#define SESSION_REPLY_MAX 1024
/* Longest AUTH PLAIN / LOGIN credential after base64 decoding. */
#define SESSION_AUTH_DECODED_MAX 384

/* ---- Command lines -------------------------------------------------------------------- */

enum smtp_verb {
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_UNKNOWN,
};

enum smtp_command_status {
	SMTP_COMMAND_OK,
	SMTP_COMMAND_BAD_BYTES,		/* NUL, CR, LF or another control byte in the line */
	SMTP_COMMAND_BAD_SYNTAX,	/* MAIL without "FROM:", RCPT without "TO:", a verb
					   glued to its argument, ... (verb still set) */
};

struct smtp_command {
	enum smtp_verb verb;
	const char *argument;		/* after the verb and its blank (after "FROM:"/"TO:"
					   and any blanks for MAIL/RCPT); trailing blanks cut */
	size_t argument_length;
};

/* smtp_command_parse - one command line WITHOUT its line end. Verbs are case-insensitive;
 * an unknown verb is SMTP_VERB_UNKNOWN with SMTP_COMMAND_OK. Never reads past length. */
enum smtp_command_status smtp_command_parse(const char *line, size_t length,
    struct smtp_command *out);
/* smtp_verb_name - "HELO", ..., "UNKNOWN" (for logs). */
const char *smtp_verb_name(enum smtp_verb verb);

/* ---- MAIL parameters (RFC 5321 4.1.2 esmtp-param, RFC 1870 SIZE, RFC 6152 BODY) ---------- */

enum smtp_body_type {
	SMTP_BODY_UNSPECIFIED,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail_parameters {
	bool has_size;
	uint64_t size;			/* SIZE=n; saturates at UINT64_MAX */
	enum smtp_body_type body;
	bool has_auth;			/* AUTH=<mailbox> (RFC 4954 5): accepted, ignored */
};

enum smtp_parameters_status {
	SMTP_PARAMETERS_OK,
	SMTP_PARAMETERS_SYNTAX,		/* 501 5.5.4 */
	SMTP_PARAMETERS_UNKNOWN,	/* 555 5.5.4: a keyword we did not advertise */
};

/* smtp_mail_parameters_parse - the text after MAIL's path (" SIZE=123 BODY=8BITMIME").
 * Keywords are case-insensitive; a repeated keyword is a syntax error. Pure. */
enum smtp_parameters_status smtp_mail_parameters_parse(const char *text, size_t length,
    struct smtp_mail_parameters *out);

/* ---- Message data (RFC 5321 4.1.1.4, 4.5.2) ------------------------------------------ */

/* Problems found in message data; any of them refuses the message after its end. */
#define SMTP_DATA_BARE_LF 0x01		/* LF not preceded by CR */
#define SMTP_DATA_BARE_CR 0x02		/* CR not followed by LF */
#define SMTP_DATA_NUL 0x04		/* a NUL byte */
#define SMTP_DATA_LONG_LINE 0x08	/* a line over SESSION_TEXT_LINE_MAX with its CRLF */

/* Private state of the reader: zero it (or smtp_data_reader_init) before the first byte. */
struct smtp_data_reader {
	uint64_t size;			/* octets handed to emit so far */
	size_t line_length;		/* octets of the current line on the wire, no CRLF */
	bool line_start;		/* the next byte starts a line */
	bool dot_line;			/* the current line started with a (removed) dot */
	bool last_cr;			/* the last byte seen was a CR */
	bool held_cr;			/* "." CR seen on a line: CR kept back until we know */
	bool eight_bit;			/* a byte >= 0x80 was seen */
	unsigned problems;		/* SMTP_DATA_* */
};

typedef void (*smtp_data_emit_fn)(void *arg, const char *data, size_t length);

/* smtp_data_reader_init - ready for the first byte after the 354 (a line start). */
void smtp_data_reader_init(struct smtp_data_reader *reader);
/* smtp_data_read - consume message data up to and including the end marker: only
 * CRLF "." CRLF ends the data (a bare LF or bare CR never does: SMTP smuggling). emit gets
 * the content dot-unstuffed, line ends exactly as sent, without the final "." CRLF.
 * Returns the octets consumed; *done is set when the end marker was consumed (the bytes
 * after it are the next commands). Pure apart from emit. */
size_t smtp_data_read(struct smtp_data_reader *reader, const char *data, size_t length,
    smtp_data_emit_fn emit, void *arg, bool *done);

/* ---- base64 (RFC 4648 4) for AUTH --------------------------------------------------- */

/* smtp_base64_decode - strict base64 (padding required, no blanks) into out. Returns the
 * decoded length or -1 for bad input or when out is too small. Pure. */
int smtp_base64_decode(const char *text, size_t length, unsigned char *out, size_t out_size);

/* ---- The session ------------------------------------------------------------------- */

enum session_state {
	SESSION_PREGREET,		/* greeting delay: the client must not talk yet */
	SESSION_GREETED,		/* banner sent, waiting for HELO/EHLO */
	SESSION_READY,			/* greeted, no mail transaction */
	SESSION_MAIL,			/* MAIL accepted, no recipient yet */
	SESSION_RCPT,			/* at least one recipient accepted */
	SESSION_DATA,			/* reading message data up to the final dot */
	SESSION_COMMITTING,		/* message handed to the queue, waiting for its fsync */
	SESSION_AUTH_PLAIN,		/* 334 sent, waiting for the PLAIN response */
	SESSION_AUTH_LOGIN_USER,	/* 334 Username sent */
	SESSION_AUTH_LOGIN_PASSWORD,	/* 334 Password sent */
	SESSION_TLS_STARTING,		/* 220 sent to STARTTLS, waiting for the handshake */
	SESSION_CLOSING,		/* 221 or 421/554 sent: flush the output, then close */
};

/* What the session needs from the world. io is the server's per-connection pointer. */
struct session_ops {
	/* append reply bytes (CRLF-terminated lines) to the output */
	void (*write)(void *io, const char *data, size_t length);
	/* "220 Ready to start TLS" was written: drop every byte already received (plaintext
	 * pipelined after STARTTLS is an injection), flush, start the handshake; report
	 * with session_tls_started() or close the connection on failure */
	void (*start_tls)(void *io);
	/* the session is over: flush the output, then close */
	void (*close)(void *io);
	/* the message sink (queue.h in the daemon) */
	void (*queue_id_new)(void *io, char out[QUEUE_ID_MAX]);
	void *(*message_begin)(void *io, const struct queue_envelope *envelope, char *err,
	    size_t err_size);
	bool (*message_append)(void *io, void *message, const char *data, size_t length);
	/* hand the message over; report with session_commit_done() later, from the loop */
	void (*message_commit)(void *io, void *message);
	void (*message_abort)(void *io, void *message);
};

struct session_settings {
	const struct smtpd_config *config;
	const struct relay_policy *policy;
	const struct user_table *users;	/* NULL: AUTH is never offered */
	bool tls_available;		/* a certificate is loaded: STARTTLS may be offered */
};

struct session_client {
	struct netaddr address;		/* the client (IPv4-mapped already unmapped) */
	uint16_t port;
	struct netaddr local_address;	/* where it connected */
	uint16_t local_port;
	enum listener_mode mode;
	const char *id;			/* session id for logs, copied */
};

struct session;

/* session_new - a session in SESSION_PREGREET; call session_greet() when the greeting delay
 * is over (at once when there is none). settings and the strings it points to must outlive
 * the session; client is copied. */
struct session *session_new(const struct session_settings *settings,
    const struct session_client *client, const struct session_ops *ops, void *io);
void session_free(struct session *session);

/* session_greet - write the 220 banner (smtps: after the TLS handshake). */
void session_greet(struct session *session);
/* session_feed - process client bytes in order (pipelining), writing replies as it goes.
 * Returns how many were consumed: fewer than length when the session must wait (lookup,
 * queue commit, TLS start) or is closing; feed the rest again after session_set_rdns,
 * session_set_dnsbl, session_commit_done or session_tls_started. */
size_t session_feed(struct session *session, const char *data, size_t length);
/* session_is_waiting - true while the session cannot take more input. */
bool session_is_waiting(const struct session *session);

/* session_set_rdns - the verified reverse name ("" when there is none). */
void session_set_rdns(struct session *session, const char *name);
/* session_set_dnsbl - the DNSBL verdict for the client. */
void session_set_dnsbl(struct session *session, const struct dnsbl_result *result);
/* session_tls_started - the handshake succeeded (STARTTLS or implicit TLS): the session
 * forgets everything it learnt before (RFC 3207 4.2) and waits for EHLO. */
void session_tls_started(struct session *session, const char *version, const char *cipher);
/* session_commit_done - the queue's answer for the message handed over by message_commit. */
void session_commit_done(struct session *session, bool ok, const char *queue_id);
/* session_timeout - the client was silent too long: 421 4.4.2 and close. */
void session_timeout(struct session *session);
/* session_shutdown - the server is stopping: 421 4.3.2 and close (unless committing). */
void session_shutdown(struct session *session);

enum session_state session_state(const struct session *session);
const char *session_state_name(enum session_state state);
/* session_read_timeout_ms - how long the client may stay silent in the current state
 * (data_timeout in DATA, command_timeout elsewhere; 0 while the server itself is busy). */
uint64_t session_read_timeout_ms(const struct session *session);
/* session_needs_rdns / session_needs_dnsbl - true until the answer has been set. */
bool session_needs_rdns(const struct session *session);
bool session_needs_dnsbl(const struct session *session);
/* session_errors - error replies sent so far (for tests and logs). */
unsigned session_errors(const struct session *session);
/* session_messages - messages accepted (250 after the dot) in this session. */
unsigned session_messages(const struct session *session);

#endif
