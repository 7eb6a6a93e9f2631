/* probe.h - one target's whole SMTP conversation: banner, EHLO/HELO, STARTTLS, the battery,
 * reconnects, greylist retries and the wait for confirmations. Called by check_main.c. */
#ifndef RELAYGUARD_CHECK_PROBE_H
#define RELAYGUARD_CHECK_PROBE_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "check/result.h"
#include "check/target.h"

struct event_base;
struct probe;
struct smtp_reply;

struct probe_config {
	const char *helo_name;
	const char *sender_local;      /* s */
	const char *recipient_local;   /* u (replaced by a token with confirm) */
	const char *victim_domain;     /* V (the probe domain with confirm) */
	const char *message_from;      /* From: header address of test messages */
	enum depth depth;
	bool confirm;
	const char *receiver_literal4; /* "[127.0.0.1]": N01 with confirm, or NULL */
	const char *receiver_literal6; /* "[IPv6:...]": N02 with confirm, or NULL */
	bool starttls_allowed;
	bool implicit_tls;             /* TLS from the first byte (SMTPS), also on port 465 */
	SSL_CTX *tls_context;
	uint64_t greeting_timeout_ms;
	uint64_t reply_timeout_ms;
	uint64_t deadline_ms;
	uint64_t greylist_delay_ms;
	unsigned greylist_retries;
	uint64_t confirm_wait_ms;
	bool selected[BATTERY_SIZE];
	/* Optional: reserve a slot for a new connection (--rate); returns the milliseconds to
	 * wait before connecting (0 = now). */
	uint64_t (*connect_delay)(void *arg);
	void *connect_delay_arg;
	/* Optional: before waiting for a greylisting retry a probe asks to park (true when
	 * allowed: the retry queue has room) and says when it wakes (parking false).
	 * done_arg is the probe's done argument. */
	bool (*park)(void *done_arg, bool parking);
	/* Optional: one reply buffer shared by every probe of the loop (replies are handled
	 * before the next read); saves 8 KiB per conversation. */
	struct smtp_reply *scratch_reply;
};

/* Called once when the probe has finished; the result now belongs to the callee.
 * The probe frees itself after the callback returns. */
typedef void (*probe_done_fn)(void *arg, struct target_result *result);

/* probe_start - begin checking one concrete target; never calls done synchronously. */
struct probe *probe_start(struct event_base *base, const struct probe_config *config,
    const struct check_target *target, probe_done_fn done, void *arg);
/* probe_token_arrived - a probe message with this token reached the receiver;
 * true when the token was one of this probe's. */
bool probe_token_arrived(struct probe *probe, const char *token, const char *peer);
/* probe_stop - finish now (interrupt): untested probes become skipped; done is called. */
void probe_stop(struct probe *probe);

#endif
