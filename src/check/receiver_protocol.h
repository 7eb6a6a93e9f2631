/* receiver_protocol.h - the pure half of the --confirm receiver: SMTP command parser, recipient
 * checks, probe-token scanner and the session state machine. No sockets, no clocks, no globals. */
#ifndef RELAYGUARD_CHECK_RECEIVER_PROTOCOL_H
#define RELAYGUARD_CHECK_RECEIVER_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct evbuffer;

#define RECEIVER_TOKEN_LENGTH 26		/* "rg" + 24 lowercase hex digits */
#define RECEIVER_TOKEN_PREFIX_LENGTH 2
#define RECEIVER_COMMAND_LINE_MAX 512		/* octets with CRLF, RFC 5321 4.5.3.1.4 */
#define RECEIVER_TEXT_LINE_MAX 1000		/* octets with CRLF, RFC 5321 4.5.3.1.6 */
#define RECEIVER_MESSAGE_MAX (1024 * 1024)	/* octets of message content */
#define RECEIVER_RECIPIENT_MAX 100		/* RFC 5321 4.5.3.1.8 minimum */
#define RECEIVER_ERROR_LIMIT 10		/* error replies before 421 and close */
#define RECEIVER_MESSAGE_TOKEN_MAX 64		/* distinct tokens reported per message */
#define RECEIVER_IDLE_TIMEOUT_SECONDS 300	/* RFC 5321 4.5.3.2.7 */
#define RECEIVER_SESSION_MAX 256		/* concurrent sessions; the next one gets 421 */
#define RECEIVER_LISTEN_BACKLOG 1024

/* called once per distinct token per received message (after the final dot was accepted);
 * mail_from and rcpt_to are path contents without the angle brackets ("" for the null path). */
typedef void (*receiver_arrival_fn)(void *arg, const char *token, const char *peer_address,
    const char *mail_from, const char *rcpt_to);

/* called by receiver_token_scan with a NUL-terminated, lower-cased token */
typedef void (*receiver_token_fn)(void *arg, const char *token);

enum receiver_verb {
	RV_HELO,
	RV_EHLO,
	RV_MAIL,
	RV_RCPT,
	RV_DATA,
	RV_RSET,
	RV_NOOP,
	RV_QUIT,
	RV_VRFY,
	RV_UNKNOWN,
};

struct receiver_command {
	enum receiver_verb verb;
	const char *argument;		/* HELO/EHLO name, path contents, VRFY/NOOP text, ... */
	size_t argument_length;
	const char *parameters;		/* MAIL/RCPT ESMTP parameters after the path, else NULL */
	size_t parameters_length;
};

/* receiver_command_parse - one command line WITHOUT the CRLF; case-insensitive verbs;
 * "MAIL FROM:<...>" and "RCPT TO:<...>" give the path contents (between < >) as argument,
 * tolerating spaces after the colon; an unknown verb is RV_UNKNOWN and true; false for syntax
 * errors (out->verb then says which command was malformed, RV_UNKNOWN for a malformed line). */
bool receiver_command_parse(const char *line, size_t length, struct receiver_command *out);

/* receiver_domain_of - the domain of a path's final mailbox, after stripping a source route
 * (@a,@b:); the text after the last '@' outside a quoted local part. False when there is none. */
bool receiver_domain_of(const char *path, size_t length, const char **domain,
    size_t *domain_length);

/* receiver_domain_matches - true only if the path's final mailbox domain equals domain,
 * ASCII case-insensitively, ignoring one trailing dot on either side. */
bool receiver_domain_matches(const char *path, size_t length, const char *domain);

/* receiver_literal_matches - true only if the path's final mailbox domain is an address literal
 * ("[192.0.2.1]", "[IPv6:2001:db8::1]") naming address (AF_INET or AF_INET6). */
bool receiver_literal_matches(const char *path, size_t length, const struct sockaddr *address);

/* receiver_token_scan - find every "rg" + 24 hex token in data (word-bounded: no ASCII letter
 * or digit right before or after; matched case-insensitively, reported lower-cased), calling
 * fn (may be NULL) for each. Returns how many were found. */
size_t receiver_token_scan(const char *data, size_t length, receiver_token_fn fn, void *arg);

/* receiver_listen_address_parse - "A.B.C.D:PORT" or "[IPv6]:PORT" (numeric only, port 0-65535)
 * into a socket address. False on anything else. */
bool receiver_listen_address_parse(const char *text, struct sockaddr_storage *out,
    socklen_t *out_length);

/* The session state machine: bytes from the client in, replies appended to an evbuffer. */
struct receiver_session;

enum receiver_session_status {
	RECEIVER_SESSION_OPEN,
	RECEIVER_SESSION_CLOSED,	/* QUIT or 421 sent: flush the output, then close */
};

/* receiver_session_new - a session for one client. probe_domain is the only domain accepted
 * in RCPT; local_address (may be NULL) is the address the client reached, whose literal is
 * accepted too. fn (may be NULL) hears about arrivals. Copies every string it is given. */
struct receiver_session *receiver_session_new(const char *probe_domain, const char *peer_address,
    const struct sockaddr *local_address, receiver_arrival_fn fn, void *arg);

/* receiver_session_greet - append the 220 banner. */
void receiver_session_greet(struct receiver_session *session, struct evbuffer *output);

/* receiver_session_feed - process length bytes from the client in order (pipelining allowed),
 * appending every reply to output. Bytes after the session closed are ignored. */
enum receiver_session_status receiver_session_feed(struct receiver_session *session,
    const char *bytes, size_t length, struct evbuffer *output);

/* receiver_session_timeout - append the idle-timeout 421 and close the session. */
void receiver_session_timeout(struct receiver_session *session, struct evbuffer *output);

void receiver_session_free(struct receiver_session *session);

#endif
