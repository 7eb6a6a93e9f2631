/* receiver.h - the built-in SMTP receiver of `relayguard check --confirm`: listens where the probe
 * domain's MX points and reports probe tokens that arrive. Used by check_main; never relays. */
#ifndef RELAYGUARD_CHECK_RECEIVER_H
#define RELAYGUARD_CHECK_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#include "check/receiver_protocol.h"	/* RECEIVER_TOKEN_LENGTH, receiver_arrival_fn */

struct event_base;
struct timeval;
struct receiver;

/* receiver_start - listen on "ADDR:PORT" / "[V6]:PORT" (non-blocking, libevent evconnlistener,
 * SO_REUSEADDR, backlog 1024); NULL + message in err on failure (e.g. "cannot listen on
 * 127.0.0.1:2526: Address already in use"). fn is called once per distinct token per received
 * message, from the event loop; it must not call receiver_free. */
struct receiver *receiver_start(struct event_base *base, const char *listen_address,
    const char *probe_domain, receiver_arrival_fn fn, void *arg, char *err, size_t err_size);

/* receiver_port - the port actually listened on (useful after listening on port 0). */
uint16_t receiver_port(const struct receiver *receiver);

/* receiver_set_idle_timeout - change the idle timeout (default RECEIVER_IDLE_TIMEOUT_SECONDS)
 * for sessions accepted from now on. */
void receiver_set_idle_timeout(struct receiver *receiver, const struct timeval *timeout);

/* receiver_free - close the listener and all sessions. */
void receiver_free(struct receiver *receiver);

#endif
