/* resolver.c - c-ares channel driven by a libevent loop: one event per c-ares socket plus a
 * timer from ares_timeout(). Callers get results from the loop, never re-entrantly. */
#include "core/resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/hostport.h"
#include "core/log.h"

/* EDNS payload size we advertise (the DNS flag day 2020 value). */
#define RESOLVER_EDNS_PAYLOAD 1232
/* A DNS message header is 12 octets; a resource record's fixed part after its name 10. */
#define RESOLVER_DNS_HEADER_SIZE 12
#define RESOLVER_DNS_RR_FIXED_SIZE 10
/* TTLs above 2^31 - 1 are read as zero (RFC 2181 8). */
#define RESOLVER_TTL_MAX 0x7fffffffU
/* Queries sent to c-ares at once; the rest wait in order. Keeps a burst of thousands of
 * targets from overflowing UDP socket buffers (ours and the server's) into timeouts. */
#define RESOLVER_IN_FLIGHT_MAX 128
/* SERIAL, REFRESH, RETRY, EXPIRE and MINIMUM of an SOA record: five 32-bit numbers. */
#define RESOLVER_SOA_NUMBERS_SIZE 20
/* Longest reverse name: 32 nibbles with dots and "ip6.arpa" plus the NUL. */
#define RESOLVER_REVERSE_NAME_MAX 74

enum resolver_kind {
	RESOLVER_KIND_MX,
	RESOLVER_KIND_ADDRESS,
	RESOLVER_KIND_ADDRESS_TTL,
	RESOLVER_KIND_TXT,
	RESOLVER_KIND_PTR,
	RESOLVER_KIND_DEFER,
};

/* One query from its submission to the caller's callback. */
struct resolver_request {
	TAILQ_ENTRY(resolver_request) entry;		/* every undelivered request */
	TAILQ_ENTRY(resolver_request) wait_entry;	/* waiting for an in-flight slot */
	struct resolver *resolver;
	enum resolver_kind kind;
	union {
		resolver_mx_fn mx;
		resolver_address_fn address;
		resolver_address_ttl_fn address_ttl;
		resolver_txt_fn txt;
		resolver_ptr_fn ptr;
		resolver_defer_fn defer;
	} fn;
	void *arg;
	int family;			/* for address and PTR queries */
	struct netaddr ptr_address;	/* for PTR queries */
	struct event *deliver;		/* activated once c-ares has answered */
	char *query_name;		/* kept while waiting for an in-flight slot */
	int query_type;
	enum resolver_status status;
	/* Results, owned by the request until the callback returns. */
	struct resolver_mx *mx;
	size_t mx_count;
	struct netaddr *addresses;
	size_t address_count;
	char **texts;
	size_t text_count;
	unsigned ttl;
	char *name;
};

/* One socket c-ares asked us to watch. */
struct resolver_socket {
	LIST_ENTRY(resolver_socket) entry;
	struct resolver *resolver;
	ares_socket_t fd;
	short what;
	struct event *event;
};

struct resolver {
	struct event_base *base;
	ares_channel channel;
	struct event *timer;
	bool closing;
	size_t in_flight;		/* queries handed to c-ares, not yet answered */
	TAILQ_HEAD(, resolver_request) requests;
	TAILQ_HEAD(, resolver_request) waiting;
	LIST_HEAD(, resolver_socket) sockets;
};

static void resolver_pump(struct resolver *resolver);

static const char *const resolver_status_names[] = {
	[RESOLVER_OK] = "ok",
	[RESOLVER_NXDOMAIN] = "nxdomain",
	[RESOLVER_NODATA] = "nodata",
	[RESOLVER_FAILURE] = "failure",
};

/* resolver_status_name - text for logs and reports. */
const char *
resolver_status_name(enum resolver_status status)
{
	if ((unsigned)status >= sizeof(resolver_status_names) / sizeof(resolver_status_names[0]))
		return "unknown";
	return resolver_status_names[status];
}

/* resolver_event_base - the loop this resolver is bound to. */
struct event_base *
resolver_event_base(struct resolver *resolver)
{
	return resolver->base;
}

/* resolver_is_closing - true while resolver_free cancels what is pending. */
bool
resolver_is_closing(const struct resolver *resolver)
{
	return resolver->closing;
}

/* resolver_error - format a message into err when there is room for one. */
static void __attribute__((format(printf, 3, 4)))
resolver_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* resolver_schedule - rearm the timer for c-ares' next timeout, or stop it when idle. */
static void
resolver_schedule(struct resolver *resolver)
{
	struct timeval room, *next;

	if (resolver->closing)
		return;
	next = ares_timeout(resolver->channel, NULL, &room);
	if (next == NULL)
		evtimer_del(resolver->timer);
	else
		evtimer_add(resolver->timer, next);
}

/* resolver_timer_cb - let c-ares retransmit or expire queries whose time has come. */
static void
resolver_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *resolver = arg;

	(void)fd;
	(void)what;
	ares_process_fd(resolver->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_pump(resolver);
}

/* resolver_socket_cb - a c-ares socket is ready; the watch may be freed inside. */
static void
resolver_socket_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_socket *watch = arg;
	struct resolver *resolver = watch->resolver;

	ares_process_fd(resolver->channel,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	resolver_pump(resolver);
}

/* resolver_socket_state_cb - c-ares opened, changed or closed interest in a socket. */
static void
resolver_socket_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *resolver = data;
	struct resolver_socket *watch;
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	LIST_FOREACH(watch, &resolver->sockets, entry) {
		if (watch->fd == fd)
			break;
	}
	if (what == 0) {
		if (watch == NULL)
			return;
		LIST_REMOVE(watch, entry);
		event_free(watch->event);
		free(watch);
		return;
	}
	if (watch != NULL && watch->what == what)
		return;
	if (watch == NULL) {
		watch = xcalloc(1, sizeof(*watch));
		watch->resolver = resolver;
		watch->fd = fd;
		LIST_INSERT_HEAD(&resolver->sockets, watch, entry);
	} else {
		event_free(watch->event);
	}
	watch->what = what;
	watch->event = event_new(resolver->base, (evutil_socket_t)fd, what | EV_PERSIST,
	    resolver_socket_cb, watch);
	if (watch->event == NULL || event_add(watch->event, NULL) != 0)
		fatal("event=resolver_socket_watch_failed fd=%d", (int)fd);
}

/* resolver_set_server - make the "ADDR[:PORT]" server the only one c-ares uses. */
static bool
resolver_set_server(ares_channel channel, const char *server, char *err, size_t err_size)
{
	struct hostport parsed;
	struct ares_addr_port_node node;
	char reason[HOSTPORT_HOST_MAX];

	if (!hostport_parse(server, &parsed, reason, sizeof(reason))) {
		resolver_error(err, err_size, "bad DNS server: %s", reason);
		return false;
	}
	if (!parsed.is_address) {
		resolver_error(err, err_size, "bad DNS server '%s': not an IP address",
		    parsed.host);
		return false;
	}
	memset(&node, 0, sizeof(node));
	node.next = NULL;
	node.family = parsed.address.family;
	if (node.family == AF_INET)
		memcpy(&node.addr.addr4, parsed.address.bytes, sizeof(node.addr.addr4));
	else
		memcpy(&node.addr.addr6, parsed.address.bytes, sizeof(node.addr.addr6));
	node.udp_port = parsed.port != 0 ? parsed.port : RESOLVER_DEFAULT_PORT;
	node.tcp_port = node.udp_port;
	int status = ares_set_servers_ports(channel, &node);
	if (status != ARES_SUCCESS) {
		resolver_error(err, err_size, "cannot use DNS server '%s': %s", server,
		    ares_strerror(status));
		return false;
	}
	return true;
}

/* resolver_new - the resolver with the default timeout and tries. */
struct resolver *
resolver_new(struct event_base *base, const char *server, char *err, size_t err_size)
{
	return resolver_new_options(base, server, RESOLVER_DEFAULT_TIMEOUT_MS,
	    RESOLVER_DEFAULT_TRIES, err, err_size);
}

/* resolver_new_options - create the c-ares channel and bind it to base. */
struct resolver *
resolver_new_options(struct event_base *base, const char *server, unsigned timeout_ms,
    unsigned tries, char *err, size_t err_size)
{
	struct ares_options options;
	struct resolver *resolver;
	int status;

	if (err != NULL && err_size > 0)
		err[0] = '\0';
	status = ares_library_init(ARES_LIB_INIT_ALL);
	if (status != ARES_SUCCESS) {
		resolver_error(err, err_size, "c-ares: %s", ares_strerror(status));
		return NULL;
	}
	resolver = xcalloc(1, sizeof(*resolver));
	resolver->base = base;
	TAILQ_INIT(&resolver->requests);
	TAILQ_INIT(&resolver->waiting);
	LIST_INIT(&resolver->sockets);
	resolver->timer = evtimer_new(base, resolver_timer_cb, resolver);
	if (resolver->timer == NULL)
		fatal("event=resolver_timer_failed");

	memset(&options, 0, sizeof(options));
	/* ares_query never uses the search list or HOSTALIASES; say so anyway, so nothing
	 * but the name asked for is ever looked up. */
	options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	options.timeout = timeout_ms > INT_MAX ? INT_MAX : (int)(timeout_ms ? timeout_ms : 1);
	options.tries = tries > INT_MAX ? INT_MAX : (int)(tries ? tries : 1);
	options.ednspsz = RESOLVER_EDNS_PAYLOAD;
	options.sock_state_cb = resolver_socket_state_cb;
	options.sock_state_cb_data = resolver;
	int optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_STATE_CB;
	status = ares_init_options(&resolver->channel, &options, optmask);
	if (status != ARES_SUCCESS) {
		resolver_error(err, err_size, "c-ares: %s", ares_strerror(status));
		event_free(resolver->timer);
		free(resolver);
		ares_library_cleanup();
		return NULL;
	}
	if (server != NULL && !resolver_set_server(resolver->channel, server, err, err_size)) {
		ares_destroy(resolver->channel);
		event_free(resolver->timer);
		free(resolver);
		ares_library_cleanup();
		return NULL;
	}
	return resolver;
}

/* resolver_request_clear - drop the results a request holds. */
static void
resolver_request_clear(struct resolver_request *request)
{
	free(request->mx);
	request->mx = NULL;
	request->mx_count = 0;
	free(request->addresses);
	request->addresses = NULL;
	request->address_count = 0;
	for (size_t i = 0; i < request->text_count; i++)
		free(request->texts[i]);
	free(request->texts);
	request->texts = NULL;
	request->text_count = 0;
	request->ttl = 0;
	free(request->name);
	request->name = NULL;
}

/* resolver_request_free - release a delivered request. */
static void
resolver_request_free(struct resolver_request *request)
{
	resolver_request_clear(request);
	free(request->query_name);
	if (request->deliver != NULL)
		event_free(request->deliver);
	free(request);
}

/* resolver_request_call - hand the result to the caller's callback. */
static void
resolver_request_call(struct resolver_request *request)
{
	bool ok = request->status == RESOLVER_OK;

	switch (request->kind) {
	case RESOLVER_KIND_MX:
		request->fn.mx(request->arg, request->status, ok ? request->mx : NULL,
		    ok ? request->mx_count : 0);
		break;
	case RESOLVER_KIND_ADDRESS:
		request->fn.address(request->arg, request->status,
		    ok ? request->addresses : NULL, ok ? request->address_count : 0);
		break;
	case RESOLVER_KIND_ADDRESS_TTL:
		request->fn.address_ttl(request->arg, request->status,
		    ok ? request->addresses : NULL, ok ? request->address_count : 0,
		    request->ttl);
		break;
	case RESOLVER_KIND_TXT:
		request->fn.txt(request->arg, request->status,
		    ok ? (const char *const *)request->texts : NULL,
		    ok ? request->text_count : 0, ok ? request->ttl : 0);
		break;
	case RESOLVER_KIND_PTR:
		request->fn.ptr(request->arg, request->status, ok ? request->name : NULL);
		break;
	case RESOLVER_KIND_DEFER:
		request->fn.defer(request->arg, request->status);
		break;
	}
}

/* resolver_deliver_cb - run from the loop once c-ares has answered. The callback may free
 * the resolver, so nothing but the request is touched after it. */
static void
resolver_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_request *request = arg;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&request->resolver->requests, request, entry);
	resolver_request_call(request);
	resolver_request_free(request);
}

/* resolver_status_from_ares - map a c-ares error to our four outcomes. */
static enum resolver_status
resolver_status_from_ares(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return RESOLVER_OK;
	case ARES_ENOTFOUND:
		return RESOLVER_NXDOMAIN;
	case ARES_ENODATA:
		return RESOLVER_NODATA;
	default:
		return RESOLVER_FAILURE;
	}
}

/* resolver_copy_name - copy a name from c-ares: lower-cased, trailing dot removed; false
 * if it does not fit. "." becomes "" (the root, as in a null MX). */
static bool
resolver_copy_name(const char *name, char *out, size_t out_size)
{
	size_t length = strlen(name);

	if (length > 0 && name[length - 1] == '.')
		length--;
	if (length >= out_size)
		return false;
	for (size_t i = 0; i < length; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[length] = '\0';
	return true;
}

/* resolver_mx_compare - preference first, then name, for qsort. */
static int
resolver_mx_compare(const void *a, const void *b)
{
	const struct resolver_mx *left = a, *right = b;

	if (left->preference != right->preference)
		return left->preference < right->preference ? -1 : 1;
	return strcmp(left->host, right->host);
}

/* resolver_parse_mx - MX records, sorted. */
static enum resolver_status
resolver_parse_mx(struct resolver_request *request, const unsigned char *abuf, int alen)
{
	struct ares_mx_reply *replies = NULL;
	size_t count = 0;

	int status = ares_parse_mx_reply(abuf, alen, &replies);
	if (status != ARES_SUCCESS)
		return resolver_status_from_ares(status);
	for (struct ares_mx_reply *reply = replies; reply != NULL; reply = reply->next)
		count++;
	request->mx = xcalloc(count, sizeof(*request->mx));
	for (struct ares_mx_reply *reply = replies; reply != NULL; reply = reply->next) {
		struct resolver_mx *record = &request->mx[request->mx_count];
		if (!resolver_copy_name(reply->host, record->host, sizeof(record->host))) {
			log_warn("event=resolver_mx_name_too_long");
			continue;
		}
		record->preference = reply->priority;
		request->mx_count++;
	}
	ares_free_data(replies);
	if (request->mx_count == 0)
		return count == 0 ? RESOLVER_NODATA : RESOLVER_FAILURE;
	qsort(request->mx, request->mx_count, sizeof(*request->mx), resolver_mx_compare);
	return RESOLVER_OK;
}

/* resolver_parse_address - A or AAAA records (addresses of the name asked, after CNAMEs). */
static enum resolver_status
resolver_parse_address(struct resolver_request *request, const unsigned char *abuf, int alen)
{
	struct hostent *host = NULL;
	int status;
	size_t width = request->family == AF_INET ? 4 : 16;

	if (request->family == AF_INET)
		status = ares_parse_a_reply(abuf, alen, &host, NULL, NULL);
	else
		status = ares_parse_aaaa_reply(abuf, alen, &host, NULL, NULL);
	if (status != ARES_SUCCESS)
		return resolver_status_from_ares(status);
	size_t count = 0;
	if (host->h_addrtype == request->family && (size_t)host->h_length == width) {
		while (host->h_addr_list[count] != NULL)
			count++;
	}
	request->addresses = xcalloc(count, sizeof(*request->addresses));
	for (size_t i = 0; i < count; i++) {
		request->addresses[i].family = request->family;
		memcpy(request->addresses[i].bytes, host->h_addr_list[i], width);
	}
	request->address_count = count;
	ares_free_hostent(host);
	return count > 0 ? RESOLVER_OK : RESOLVER_NODATA;
}

/* resolver_skip_name - move offset past a (possibly compressed) name; false if malformed. */
static bool
resolver_skip_name(const unsigned char *abuf, size_t alen, size_t *offset)
{
	while (*offset < alen) {
		unsigned length = abuf[*offset];
		if ((length & 0xc0) == 0xc0) {
			if (*offset + 2 > alen)
				return false;
			*offset += 2;
			return true;
		}
		if ((length & 0xc0) != 0)
			return false;
		*offset += 1 + length;
		if (length == 0)
			return true;
	}
	return false;
}

/* resolver_answer_ttl - smallest TTL of the answer records of type in a DNS message
 * (c-ares does not report TTLs for TXT); 0 if none or the message is malformed. */
static unsigned
resolver_answer_ttl(const unsigned char *abuf, size_t alen, unsigned type)
{
	size_t offset = RESOLVER_DNS_HEADER_SIZE;
	unsigned smallest = UINT_MAX;

	if (alen < RESOLVER_DNS_HEADER_SIZE)
		return 0;
	unsigned questions = (unsigned)abuf[4] << 8 | abuf[5];
	unsigned answers = (unsigned)abuf[6] << 8 | abuf[7];
	for (unsigned i = 0; i < questions; i++) {
		if (!resolver_skip_name(abuf, alen, &offset) || offset + 4 > alen)
			return 0;
		offset += 4;
	}
	for (unsigned i = 0; i < answers; i++) {
		if (!resolver_skip_name(abuf, alen, &offset) ||
		    offset + RESOLVER_DNS_RR_FIXED_SIZE > alen)
			return 0;
		const unsigned char *fixed = abuf + offset;
		unsigned rr_type = (unsigned)fixed[0] << 8 | fixed[1];
		unsigned rr_class = (unsigned)fixed[2] << 8 | fixed[3];
		uint32_t ttl = (uint32_t)fixed[4] << 24 | (uint32_t)fixed[5] << 16 |
		    (uint32_t)fixed[6] << 8 | fixed[7];
		size_t rdlength = (size_t)fixed[8] << 8 | fixed[9];
		offset += RESOLVER_DNS_RR_FIXED_SIZE + rdlength;
		if (offset > alen)
			return 0;
		if (rr_type != type || rr_class != C_IN)
			continue;
		if (ttl > RESOLVER_TTL_MAX)
			ttl = 0;
		if (ttl < smallest)
			smallest = ttl;
	}
	return smallest == UINT_MAX ? 0 : smallest;
}

/* resolver_read_u32 - a big-endian 32-bit number. */
static uint32_t
resolver_read_u32(const unsigned char *at)
{
	return (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 | (uint32_t)at[2] << 8 | at[3];
}

/* resolver_negative_ttl - min(SOA TTL, SOA MINIMUM) of the first SOA in the authority
 * section (RFC 2308 5), 0 when there is none or the message is malformed. */
unsigned
resolver_negative_ttl(const unsigned char *message, size_t length)
{
	size_t offset = RESOLVER_DNS_HEADER_SIZE;

	if (message == NULL || length < RESOLVER_DNS_HEADER_SIZE)
		return 0;
	unsigned questions = (unsigned)message[4] << 8 | message[5];
	unsigned answers = (unsigned)message[6] << 8 | message[7];
	unsigned authorities = (unsigned)message[8] << 8 | message[9];
	for (unsigned i = 0; i < questions; i++) {
		if (!resolver_skip_name(message, length, &offset) || offset + 4 > length)
			return 0;
		offset += 4;
	}
	for (unsigned i = 0; i < answers + authorities; i++) {
		if (!resolver_skip_name(message, length, &offset) ||
		    offset + RESOLVER_DNS_RR_FIXED_SIZE > length)
			return 0;
		const unsigned char *fixed = message + offset;
		unsigned rr_type = (unsigned)fixed[0] << 8 | fixed[1];
		uint32_t ttl = resolver_read_u32(fixed + 4);
		size_t rdlength = (size_t)fixed[8] << 8 | fixed[9];
		size_t rdata = offset + RESOLVER_DNS_RR_FIXED_SIZE;
		offset = rdata + rdlength;
		if (offset > length)
			return 0;
		if (i < answers || rr_type != T_SOA)
			continue;
		/* MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM (RFC 1035 3.3.13). */
		size_t field = rdata;
		if (!resolver_skip_name(message, offset, &field) ||
		    !resolver_skip_name(message, offset, &field) ||
		    field + RESOLVER_SOA_NUMBERS_SIZE > offset)
			return 0;
		uint32_t minimum = resolver_read_u32(message + field +
		    RESOLVER_SOA_NUMBERS_SIZE - 4);
		uint32_t negative = ttl < minimum ? ttl : minimum;
		return negative > RESOLVER_TTL_MAX ? 0 : negative;
	}
	return 0;
}

/* resolver_parse_txt - TXT records, each one's character-strings joined. */
static enum resolver_status
resolver_parse_txt(struct resolver_request *request, const unsigned char *abuf, int alen)
{
	struct ares_txt_ext *chunks = NULL;
	size_t records = 0;

	int status = ares_parse_txt_reply_ext(abuf, alen, &chunks);
	if (status != ARES_SUCCESS)
		return resolver_status_from_ares(status);
	for (struct ares_txt_ext *chunk = chunks; chunk != NULL; chunk = chunk->next) {
		if (chunk->record_start || chunk == chunks)
			records++;
	}
	request->texts = xcalloc(records, sizeof(*request->texts));
	size_t index = 0;
	for (struct ares_txt_ext *start = chunks; start != NULL; index++) {
		size_t length = start->length;
		struct ares_txt_ext *end = start->next;
		for (; end != NULL && !end->record_start; end = end->next)
			length += end->length;
		char *text = xmalloc(length + 1);
		size_t used = 0;
		for (struct ares_txt_ext *chunk = start; chunk != end; chunk = chunk->next) {
			memcpy(text + used, chunk->txt, chunk->length);
			used += chunk->length;
		}
		text[used] = '\0';
		request->texts[index] = text;
		request->text_count = index + 1;
		start = end;
	}
	ares_free_data(chunks);
	if (request->text_count == 0)
		return RESOLVER_NODATA;
	request->ttl = resolver_answer_ttl(abuf, (size_t)alen, T_TXT);
	return RESOLVER_OK;
}

/* resolver_parse_ptr - the first PTR target of the reverse name. */
static enum resolver_status
resolver_parse_ptr(struct resolver_request *request, const unsigned char *abuf, int alen)
{
	struct hostent *host = NULL;
	char name[RESOLVER_NAME_MAX];
	int width = request->family == AF_INET ? 4 : 16;

	int status = ares_parse_ptr_reply(abuf, alen, request->ptr_address.bytes, width,
	    request->family, &host);
	if (status != ARES_SUCCESS)
		return resolver_status_from_ares(status);
	bool usable = host->h_name != NULL &&
	    resolver_copy_name(host->h_name, name, sizeof(name)) && name[0] != '\0';
	ares_free_hostent(host);
	if (!usable)
		return RESOLVER_FAILURE;
	request->name = xstrdup(name);
	return RESOLVER_OK;
}

/* resolver_answered - c-ares callback: keep the result, deliver it from the loop. */
static void
resolver_answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct resolver_request *request = arg;

	(void)timeouts;
	request->resolver->in_flight--;
	if (status != ARES_SUCCESS || abuf == NULL) {
		request->status = status == ARES_SUCCESS ? RESOLVER_FAILURE :
		    resolver_status_from_ares(status);
		if (request->kind == RESOLVER_KIND_ADDRESS_TTL && abuf != NULL &&
		    (request->status == RESOLVER_NXDOMAIN || request->status == RESOLVER_NODATA))
			request->ttl = resolver_negative_ttl(abuf, (size_t)alen);
	} else {
		switch (request->kind) {
		case RESOLVER_KIND_MX:
			request->status = resolver_parse_mx(request, abuf, alen);
			break;
		case RESOLVER_KIND_ADDRESS:
			request->status = resolver_parse_address(request, abuf, alen);
			break;
		case RESOLVER_KIND_ADDRESS_TTL:
			request->status = resolver_parse_address(request, abuf, alen);
			if (request->status == RESOLVER_OK)
				request->ttl = resolver_answer_ttl(abuf, (size_t)alen,
				    request->family == AF_INET ? T_A : T_AAAA);
			break;
		case RESOLVER_KIND_TXT:
			request->status = resolver_parse_txt(request, abuf, alen);
			break;
		case RESOLVER_KIND_PTR:
			request->status = resolver_parse_ptr(request, abuf, alen);
			break;
		case RESOLVER_KIND_DEFER:
			request->status = RESOLVER_FAILURE;
			break;
		}
		if (request->status != RESOLVER_OK)
			resolver_request_clear(request);
		if (request->kind == RESOLVER_KIND_ADDRESS_TTL &&
		    (request->status == RESOLVER_NXDOMAIN || request->status == RESOLVER_NODATA))
			request->ttl = resolver_negative_ttl(abuf, (size_t)alen);
	}
	/* While the resolver is being freed, resolver_free delivers everything itself. */
	if (!request->resolver->closing)
		event_active(request->deliver, EV_TIMEOUT, 1);
}

/* resolver_request_new - queue a request; while closing it fails at once (delivered by
 * resolver_free's drain loop). */
static struct resolver_request *
resolver_request_new(struct resolver *resolver, enum resolver_kind kind, void *arg)
{
	struct resolver_request *request = xcalloc(1, sizeof(*request));

	request->resolver = resolver;
	request->kind = kind;
	request->arg = arg;
	request->status = RESOLVER_FAILURE;
	TAILQ_INSERT_TAIL(&resolver->requests, request, entry);
	if (resolver->closing)
		return request;
	request->deliver = event_new(resolver->base, -1, 0, resolver_deliver_cb, request);
	if (request->deliver == NULL)
		fatal("event=resolver_event_failed");
	return request;
}

/* resolver_send - hand one query to c-ares. */
static void
resolver_send(struct resolver *resolver, struct resolver_request *request, const char *name,
    int type)
{
	/* Counted before the call: c-ares may call resolver_answered before ares_query
	 * returns (bad name, no server). resolver_answered only activates the delivery
	 * event, so the caller's callback still runs from the loop. */
	resolver->in_flight++;
	ares_query(resolver->channel, name, C_IN, type, resolver_answered, request);
}

/* resolver_pump - send waiting queries while in-flight slots are free. */
static void
resolver_pump(struct resolver *resolver)
{
	struct resolver_request *request;

	while (!resolver->closing && resolver->in_flight < RESOLVER_IN_FLIGHT_MAX &&
	    (request = TAILQ_FIRST(&resolver->waiting)) != NULL) {
		TAILQ_REMOVE(&resolver->waiting, request, wait_entry);
		resolver_send(resolver, request, request->query_name, request->query_type);
		free(request->query_name);
		request->query_name = NULL;
	}
	resolver_schedule(resolver);
}

/* resolver_submit - send the query, queue it behind others, or fail it from the loop when
 * it cannot be sent. */
static void
resolver_submit(struct resolver_request *request, const char *name, int type)
{
	struct resolver *resolver = request->resolver;

	if (resolver->closing)
		return;
	if (name == NULL) {
		event_active(request->deliver, EV_TIMEOUT, 1);
		return;
	}
	if (resolver->in_flight >= RESOLVER_IN_FLIGHT_MAX || !TAILQ_EMPTY(&resolver->waiting)) {
		request->query_name = xstrdup(name);
		request->query_type = type;
		TAILQ_INSERT_TAIL(&resolver->waiting, request, wait_entry);
		return;
	}
	resolver_send(resolver, request, name, type);
	resolver_schedule(resolver);
}

/* resolver_query_mx - look up name's MX records. */
void
resolver_query_mx(struct resolver *resolver, const char *domain, resolver_mx_fn fn, void *arg)
{
	struct resolver_request *request = resolver_request_new(resolver, RESOLVER_KIND_MX, arg);

	request->fn.mx = fn;
	resolver_submit(request, domain, T_MX);
}

/* submit_address - an A (AF_INET) or AAAA (AF_INET6) query; any other family fails from the
 * loop like every other bad request. */
static void
submit_address(struct resolver_request *request, const char *name, int family)
{
	request->family = family;
	if (family != AF_INET && family != AF_INET6) {
		resolver_submit(request, NULL, 0);
		return;
	}
	resolver_submit(request, name, family == AF_INET ? T_A : T_AAAA);
}

/* resolver_query_address - look up name's A (AF_INET) or AAAA (AF_INET6) records. */
void
resolver_query_address(struct resolver *resolver, const char *name, int family,
    resolver_address_fn fn, void *arg)
{
	struct resolver_request *request = resolver_request_new(resolver,
	    RESOLVER_KIND_ADDRESS, arg);

	request->fn.address = fn;
	submit_address(request, name, family);
}

/* resolver_query_address_ttl - resolver_query_address that also reports a cache TTL. */
void
resolver_query_address_ttl(struct resolver *resolver, const char *name, int family,
    resolver_address_ttl_fn fn, void *arg)
{
	struct resolver_request *request = resolver_request_new(resolver,
	    RESOLVER_KIND_ADDRESS_TTL, arg);

	request->fn.address_ttl = fn;
	submit_address(request, name, family);
}

/* resolver_query_txt - look up name's TXT records. */
void
resolver_query_txt(struct resolver *resolver, const char *name, resolver_txt_fn fn, void *arg)
{
	struct resolver_request *request = resolver_request_new(resolver, RESOLVER_KIND_TXT, arg);

	request->fn.txt = fn;
	resolver_submit(request, name, T_TXT);
}

/* resolver_defer - deliver fn from the loop without a query. */
void
resolver_defer(struct resolver *resolver, resolver_defer_fn fn, void *arg)
{
	struct resolver_request *request = resolver_request_new(resolver, RESOLVER_KIND_DEFER,
	    arg);

	request->fn.defer = fn;
	if (resolver->closing)
		return;
	request->status = RESOLVER_OK;
	event_active(request->deliver, EV_TIMEOUT, 1);
}

/* resolver_reversed_name - the address's octets (IPv4) or nibbles (IPv6) in reverse order
 * under suffix: the form of in-addr.arpa / ip6.arpa (RFC 1035 3.5, RFC 3596 2.5) and of DNSBL
 * queries (RFC 5782 2.1, 2.4). Returns the length, or -1 when it does not fit. */
int
resolver_reversed_name(const struct netaddr *address, const char *suffix, char *out,
    size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b = address->bytes;
	int length;

	if (address->family == AF_INET) {
		length = snprintf(out, out_size, "%u.%u.%u.%u.%s", b[3], b[2], b[1], b[0], suffix);
		return length < 0 || (size_t)length >= out_size ? -1 : length;
	}
	if (address->family != AF_INET6)
		return -1;
	size_t suffix_length = strlen(suffix);
	if (out_size < 16 * 4 + suffix_length + 1)
		return -1;
	size_t used = 0;
	for (int i = 15; i >= 0; i--) {
		out[used++] = hex[b[i] & 0x0f];
		out[used++] = '.';
		out[used++] = hex[b[i] >> 4];
		out[used++] = '.';
	}
	memcpy(out + used, suffix, suffix_length + 1);
	return (int)(used + suffix_length);
}

/* resolver_reverse_name - the in-addr.arpa / ip6.arpa name of an address. */
int
resolver_reverse_name(const struct netaddr *address, char *out, size_t out_size)
{
	return resolver_reversed_name(address,
	    address->family == AF_INET ? "in-addr.arpa" : "ip6.arpa", out, out_size);
}

/* resolver_query_ptr - look up the PTR record of an address. */
void
resolver_query_ptr(struct resolver *resolver, const struct netaddr *address,
    resolver_ptr_fn fn, void *arg)
{
	struct resolver_request *request = resolver_request_new(resolver, RESOLVER_KIND_PTR, arg);
	char name[RESOLVER_REVERSE_NAME_MAX];

	request->fn.ptr = fn;
	request->family = address->family;
	request->ptr_address = *address;
	if (resolver_reverse_name(address, name, sizeof(name)) < 0) {
		resolver_submit(request, NULL, 0);
		return;
	}
	resolver_submit(request, name, T_PTR);
}

/* resolver_free - destroy the channel, fail every undelivered query, free everything. */
void
resolver_free(struct resolver *resolver)
{
	struct resolver_request *request;
	struct resolver_socket *watch;

	if (resolver == NULL)
		return;
	resolver->closing = true;
	/* ares_destroy answers every query in flight with ARES_EDESTRUCTION and closes
	 * its sockets (telling resolver_socket_state_cb). */
	ares_destroy(resolver->channel);
	resolver->channel = NULL;
	/* Callbacks may submit new queries; those join the tail and fail here too. */
	while ((request = TAILQ_FIRST(&resolver->requests)) != NULL) {
		TAILQ_REMOVE(&resolver->requests, request, entry);
		resolver_request_clear(request);
		request->status = RESOLVER_FAILURE;
		resolver_request_call(request);
		resolver_request_free(request);
	}
	while ((watch = LIST_FIRST(&resolver->sockets)) != NULL) {
		LIST_REMOVE(watch, entry);
		event_free(watch->event);
		free(watch);
	}
	event_free(resolver->timer);
	free(resolver);
	ares_library_cleanup();
}
