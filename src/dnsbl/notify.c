/* notify.c - NOTIFY (RFC 1996) to the secondaries of `relayguard dnsbl`: requests come
 * from the loader thread after a swap (a queue and an eventfd), messages go out and are
 * retried from the main event loop, answers are matched by id, zone and sender.
 * Never sends anywhere but the configured secondaries; never blocks the loop. */
#include "dnsbl/notify.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/hostport.h"
#include "core/log.h"

#define FLAG_QR 0x8000u
#define FLAG_AA 0x0400u
#define OPCODE_SHIFT 11
#define OPCODE_MASK 0x0fu
#define RCODE_MASK 0x0fu
#define QUESTION_FIXED_SIZE 4
/* How often pending messages are looked at for a retry. */
#define NOTIFY_TICK_MS 250

/* One message waiting for its answer: a zone's serial to one secondary. */
struct pending {
	char zone[DNS_NAME_TEXT_MAX];
	uint8_t wire[DNS_NAME_WIRE_MAX];
	size_t wire_length;
	uint32_t serial;
	size_t target;			/* index into targets */
	uint16_t id;
	unsigned tries;			/* sent so far */
	uint64_t next_ms;		/* when to send again */
};

/* A change handed over by another thread. */
struct request {
	char zone[DNS_NAME_TEXT_MAX];
	uint32_t serial;
};

struct notify {
	struct notify_target *targets;
	size_t target_count;
	struct event_base *base;
	int sockets[2];			/* IPv4, IPv6; -1 until needed */
	struct event *readers[2];
	struct event *wake;		/* the eventfd of requests */
	struct event *tick;
	int wake_fd;

	pthread_mutex_t lock;		/* guards requests */
	struct request *requests;
	size_t request_count;

	struct pending *pending;	/* main loop only */
	size_t pending_count;
};

/* ---- messages -------------------------------------------------------------------------- */



bool
notify_target_parse(const char *text, struct notify_target *out, char *err, size_t err_size)
{
	struct hostport where;
	char reason[256];

	if (!hostport_parse(text, &where, reason, sizeof(reason))) {
		snprintf(err, err_size, "notify wants ADDRESS[:PORT], not '%s': %s", text, reason);
		return false;
	}
	if (!where.is_address) {
		snprintf(err, err_size, "notify wants an address, not the name '%s' (the server "
		    "does not resolve names)", text);
		return false;
	}
	out->address = where.address;
	out->port = where.port ? where.port : NOTIFY_DEFAULT_PORT;
	return true;
}

size_t
notify_message_build(uint16_t id, const uint8_t *zone, size_t zone_length, uint8_t *out,
    size_t out_size)
{
	size_t length = DNS_HEADER_SIZE + zone_length + QUESTION_FIXED_SIZE;

	if (length > out_size || zone_length == 0 || zone_length > DNS_NAME_WIRE_MAX)
		return 0;
	memset(out, 0, DNS_HEADER_SIZE);
	dns_put16(out, id);
	dns_put16(out + 2, (uint16_t)(NOTIFY_OPCODE << OPCODE_SHIFT) | FLAG_AA);
	dns_put16(out + 4, 1);
	memcpy(out + DNS_HEADER_SIZE, zone, zone_length);
	dns_put16(out + DNS_HEADER_SIZE + zone_length, DNS_TYPE_SOA);
	dns_put16(out + DNS_HEADER_SIZE + zone_length + 2, DNS_CLASS_IN);
	return length;
}

/* name_equal - two wire names, ignoring ASCII case; a is uncompressed in packet */
static bool
name_equal(const uint8_t *a, size_t a_room, const uint8_t *b, size_t b_length)
{
	if (b_length > a_room)
		return false;
	for (size_t i = 0; i < b_length; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + ('a' - 'A'));
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + ('a' - 'A'));
		if (x != y)
			return false;
	}
	return true;
}

bool
notify_response_matches(const uint8_t *packet, size_t length, uint16_t id,
    const uint8_t *zone, size_t zone_length, uint16_t *rcode)
{
	if (length < DNS_HEADER_SIZE + zone_length + QUESTION_FIXED_SIZE)
		return false;
	uint16_t flags = dns_get16(packet + 2);
	if (dns_get16(packet) != id || !(flags & FLAG_QR) ||
	    ((flags >> OPCODE_SHIFT) & OPCODE_MASK) != NOTIFY_OPCODE || dns_get16(packet + 4) != 1)
		return false;
	if (!name_equal(packet + DNS_HEADER_SIZE, length - DNS_HEADER_SIZE, zone, zone_length))
		return false;
	*rcode = flags & RCODE_MASK;
	return true;
}

/* ---- sending --------------------------------------------------------------------------- */

/* random_id - a message id nobody can guess (RFC 5452) */
static uint16_t
random_id(void)
{
	uint16_t id = 0;

	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		id = (uint16_t)(event_loop_now_ms() * 2654435761u >> 16);
	return id;
}

/* family_slot - 0 for IPv4 targets, 1 for IPv6 */
static size_t
family_slot(const struct notify_target *target)
{
	return target->address.family == AF_INET ? 0 : 1;
}

static void on_readable(evutil_socket_t fd, short events, void *arg);

/* open_socket - the unbound UDP socket of a family, made on first use */
static int
open_socket(struct notify *notify, size_t slot)
{
	if (notify->sockets[slot] >= 0)
		return notify->sockets[slot];
	int fd = socket(slot == 0 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		log_warn("event=notify_socket_failed error=\"%s\"", strerror(errno));
		return -1;
	}
	notify->sockets[slot] = fd;
	notify->readers[slot] = event_new(notify->base, fd, EV_READ | EV_PERSIST, on_readable,
	    notify);
	if (notify->readers[slot] == NULL || event_add(notify->readers[slot], NULL) != 0)
		fatal("event=notify_event_failed");
	return fd;
}

/* send_pending - send (again) one pending message */
static void
send_pending(struct notify *notify, struct pending *p)
{
	const struct notify_target *target = &notify->targets[p->target];
	uint8_t message[NOTIFY_MESSAGE_MAX];
	struct sockaddr_storage address;
	socklen_t address_length = netaddr_to_sockaddr(&target->address, target->port,
	    &address);
	size_t length = notify_message_build(p->id, p->wire, p->wire_length, message,
	    sizeof(message));
	char text[NETADDR_TEXT_MAX];
	int fd = open_socket(notify, family_slot(target));

	p->tries++;
	p->next_ms = event_loop_now_ms() + ((uint64_t)NOTIFY_RETRY_FIRST_MS << (p->tries - 1));
	netaddr_format(&target->address, text, sizeof(text));
	if (fd < 0 || length == 0)
		return;
	if (sendto(fd, message, length, 0, (struct sockaddr *)&address, address_length) < 0)
		log_warn("event=notify_send_failed zone=%s secondary=%s port=%u error=\"%s\"",
		    p->zone, text, (unsigned)target->port, strerror(errno));
	else
		log_info("event=notify_sent zone=%s serial=%u secondary=%s port=%u try=%u", p->zone,
		    p->serial, text, (unsigned)target->port, p->tries);
}

/* pending_remove - forget pending message index */
static void
pending_remove(struct notify *notify, size_t index)
{
	notify->pending[index] = notify->pending[--notify->pending_count];
}

/* take_requests - turn the queued changes into pending messages and send them */
static void
take_requests(struct notify *notify)
{
	struct request *requests;
	size_t count;

	pthread_mutex_lock(&notify->lock);
	requests = notify->requests;
	count = notify->request_count;
	notify->requests = NULL;
	notify->request_count = 0;
	pthread_mutex_unlock(&notify->lock);
	for (size_t r = 0; r < count; r++) {
		uint8_t wire[DNS_NAME_WIRE_MAX];
		size_t wire_length;
		if (!dns_name_from_text(requests[r].zone, wire, sizeof(wire), &wire_length))
			continue;
		for (size_t t = 0; t < notify->target_count; t++) {
			/* a newer serial replaces the one still being sent */
			for (size_t i = 0; i < notify->pending_count; i++) {
				if (notify->pending[i].target == t &&
				    strcmp(notify->pending[i].zone, requests[r].zone) == 0) {
					pending_remove(notify, i);
					break;
				}
			}
			notify->pending = xrealloc(notify->pending, (notify->pending_count + 1) *
			    sizeof(*notify->pending));
			struct pending *p = &notify->pending[notify->pending_count++];
			memset(p, 0, sizeof(*p));
			snprintf(p->zone, sizeof(p->zone), "%s", requests[r].zone);
			memcpy(p->wire, wire, wire_length);
			p->wire_length = wire_length;
			p->serial = requests[r].serial;
			p->target = t;
			p->id = random_id();
			send_pending(notify, p);
		}
	}
	free(requests);
}

/* on_wake - the loader queued changes */
static void
on_wake(evutil_socket_t fd, short events, void *arg)
{
	uint64_t value;

	(void)events;
	while (read(fd, &value, sizeof(value)) > 0)
		;
	take_requests(arg);
}

/* on_tick - send again what is due; give up after NOTIFY_TRIES */
static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
	struct notify *notify = arg;
	uint64_t now = event_loop_now_ms();

	(void)fd;
	(void)events;
	for (size_t i = 0; i < notify->pending_count;) {
		struct pending *p = &notify->pending[i];
		if (p->next_ms > now) {
			i++;
			continue;
		}
		if (p->tries >= NOTIFY_TRIES) {
			char text[NETADDR_TEXT_MAX];
			netaddr_format(&notify->targets[p->target].address, text, sizeof(text));
			log_warn("event=notify_unanswered zone=%s serial=%u secondary=%s port=%u "
				 "tries=%u", p->zone, p->serial, text,
			    (unsigned)notify->targets[p->target].port, p->tries);
			pending_remove(notify, i);
			continue;
		}
		send_pending(notify, p);
		i++;
	}
}

/* on_readable - answers from secondaries */
static void
on_readable(evutil_socket_t fd, short events, void *arg)
{
	struct notify *notify = arg;
	uint8_t packet[NOTIFY_MESSAGE_MAX];
	struct sockaddr_storage from;

	(void)events;
	for (;;) {
		socklen_t from_length = sizeof(from);
		ssize_t length = recvfrom(fd, packet, sizeof(packet), 0, (struct sockaddr *)&from,
		    &from_length);
		if (length < 0)
			return;
		struct netaddr sender;
		uint16_t port;
		if (!netaddr_from_sockaddr((struct sockaddr *)&from, &sender, &port))
			continue;
		for (size_t i = 0; i < notify->pending_count; i++) {
			struct pending *p = &notify->pending[i];
			const struct notify_target *target = &notify->targets[p->target];
			uint16_t rcode;
			if (target->port != port || !netaddr_equal(&target->address, &sender) ||
			    !notify_response_matches(packet, (size_t)length, p->id, p->wire,
			    p->wire_length, &rcode))
				continue;
			char text[NETADDR_TEXT_MAX];
			const char *name = dns_rcode_name(rcode);
			netaddr_format(&sender, text, sizeof(text));
			if (rcode == DNS_RCODE_NOERROR)
				log_info("event=notify_answered zone=%s serial=%u secondary=%s port=%u",
				    p->zone, p->serial, text, (unsigned)port);
			else
				log_warn("event=notify_rejected zone=%s serial=%u secondary=%s port=%u "
					 "rcode=%s", p->zone, p->serial, text, (unsigned)port,
				    name != NULL ? name : "other");
			pending_remove(notify, i);
			break;
		}
	}
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct notify *
notify_new(const struct notify_target *targets, size_t count)
{
	struct notify *notify = xcalloc(1, sizeof(*notify));

	notify->targets = xcalloc(count ? count : 1, sizeof(*notify->targets));
	memcpy(notify->targets, targets, count * sizeof(*targets));
	notify->target_count = count;
	notify->sockets[0] = notify->sockets[1] = -1;
	notify->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (notify->wake_fd < 0)
		fatal("event=eventfd_failed error=\"%s\"", strerror(errno));
	if (pthread_mutex_init(&notify->lock, NULL) != 0)
		fatal("event=mutex_init_failed");
	return notify;
}

bool
notify_start(struct notify *notify, struct event_base *base, char *err, size_t err_size)
{
	struct timeval tick = event_loop_timeval(NOTIFY_TICK_MS);

	notify->base = base;
	notify->wake = event_new(base, notify->wake_fd, EV_READ | EV_PERSIST, on_wake, notify);
	notify->tick = event_new(base, -1, EV_PERSIST, on_tick, notify);
	if (notify->wake == NULL || notify->tick == NULL || event_add(notify->wake, NULL) != 0 ||
	    event_add(notify->tick, &tick) != 0) {
		snprintf(err, err_size, "cannot set up NOTIFY events");
		return false;
	}
	/* changes queued before the loop existed (the first load) go out now */
	take_requests(notify);
	return true;
}

void
notify_zone_changed(struct notify *notify, const char *zone, uint32_t serial)
{
	uint64_t one = 1;

	pthread_mutex_lock(&notify->lock);
	for (size_t i = 0; i < notify->request_count; i++) {
		if (strcmp(notify->requests[i].zone, zone) == 0) {
			notify->requests[i].serial = serial;
			pthread_mutex_unlock(&notify->lock);
			return;
		}
	}
	notify->requests = xrealloc(notify->requests, (notify->request_count + 1) *
	    sizeof(*notify->requests));
	struct request *request = &notify->requests[notify->request_count++];
	snprintf(request->zone, sizeof(request->zone), "%s", zone);
	request->serial = serial;
	pthread_mutex_unlock(&notify->lock);
	if (write(notify->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=notify_wake_failed error=\"%s\"", strerror(errno));
}

size_t
notify_pending(struct notify *notify)
{
	size_t queued;

	pthread_mutex_lock(&notify->lock);
	queued = notify->request_count;
	pthread_mutex_unlock(&notify->lock);
	return queued + notify->pending_count;
}

void
notify_free(struct notify *notify)
{
	if (notify == NULL)
		return;
	for (size_t i = 0; i < 2; i++) {
		if (notify->readers[i] != NULL)
			event_free(notify->readers[i]);
		if (notify->sockets[i] >= 0)
			close(notify->sockets[i]);
	}
	if (notify->wake != NULL)
		event_free(notify->wake);
	if (notify->tick != NULL)
		event_free(notify->tick);
	close(notify->wake_fd);
	pthread_mutex_destroy(&notify->lock);
	free(notify->requests);
	free(notify->pending);
	free(notify->targets);
	free(notify);
}
