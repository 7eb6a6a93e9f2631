/* notify.h - DNS NOTIFY (RFC 1996) from `relayguard dnsbl` to its secondaries: one message
 * per zone and secondary whenever a zone's serial changes, sent again until the secondary
 * answers or the tries run out. Message building and parsing are pure; the sender runs on
 * the main event loop and takes requests from any thread. */
#ifndef RELAYGUARD_DNSBL_NOTIFY_H
#define RELAYGUARD_DNSBL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "dnsbl/dns_packet.h"

/* Opcode of NOTIFY (RFC 1996 3.1). */
#define NOTIFY_OPCODE 4
/* Port of a secondary given without one. */
#define NOTIFY_DEFAULT_PORT 53
/* Tries per zone change and secondary, and the wait before the second one (doubled for
 * each further try: 2, 4, 8, 16 s). */
#define NOTIFY_TRIES 5
#define NOTIFY_RETRY_FIRST_MS 2000
/* Largest NOTIFY message we write or read. */
#define NOTIFY_MESSAGE_MAX 512

struct notify_target {
	struct netaddr address;
	uint16_t port;
};

/* notify_target_parse - "192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53" (an address,
 * not a name: no resolver in the server); false and a message otherwise */
bool notify_target_parse(const char *text, struct notify_target *out, char *err,
    size_t err_size);
/* notify_message_build - a NOTIFY for zone (wire form): the question "zone SOA IN" with
 * AA set and no answer section, so the secondary asks for our SOA itself (RFC 1996 3.7,
 * 3.11); returns the length, 0 when out_size is too small */
size_t notify_message_build(uint16_t id, const uint8_t *zone, size_t zone_length,
    uint8_t *out, size_t out_size);
/* notify_response_matches - packet answers our NOTIFY id for zone: a response with opcode
 * NOTIFY, the same id and question; *rcode gets its rcode */
bool notify_response_matches(const uint8_t *packet, size_t length, uint16_t id,
    const uint8_t *zone, size_t zone_length, uint16_t *rcode);

struct notify;
struct event_base;
/* notify_new - a sender to these secondaries (copied) */
struct notify *notify_new(const struct notify_target *targets, size_t count);
/* notify_start - open the sockets and send from base's loop (queued changes go out now) */
bool notify_start(struct notify *notify, struct event_base *base, char *err, size_t err_size);
/* notify_zone_changed - zone (text) now serves serial: tell every secondary. Any thread;
 * a newer change of the same zone replaces one still being sent. */
void notify_zone_changed(struct notify *notify, const char *zone, uint32_t serial);
/* notify_pending - NOTIFY messages still waiting for an answer (tests, status) */
size_t notify_pending(struct notify *notify);
void notify_free(struct notify *notify);

#endif
