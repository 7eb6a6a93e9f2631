/* target.c - turn one command-line target into concrete (address, port) targets: literal,
 * host:port (A/AAAA), or mail domain (MX, implicit MX, null MX). Called by check_main. */
#include "check/target.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* Lookups per host: A first, then AAAA (the order targets are reported in). */
#define TARGET_FAMILIES 2

enum target_mode {
	TARGET_MODE_BAD_SYNTAX,	/* input rejected by hostport_parse */
	TARGET_MODE_LITERAL,	/* an address literal, with or without a port */
	TARGET_MODE_HOST,	/* "host:port": the host's own addresses, no MX */
	TARGET_MODE_MX,		/* bare name with MX records */
	TARGET_MODE_IMPLICIT_MX,	/* bare name without MX records (RFC 5321 5.1) */
};

struct target_expansion;

/* One A or AAAA lookup of one host. */
struct target_lookup {
	struct target_expansion *expansion;
	int family;
	enum resolver_status status;
	struct netaddr *addresses;
	size_t count;
};

/* One host whose addresses become targets: an MX host or the name itself. */
struct target_host {
	char name[HOSTPORT_HOST_MAX];
	unsigned preference;
	struct target_lookup lookups[TARGET_FAMILIES];
};

/* The heap state of one input, from target_expand until done(). */
struct target_expansion {
	struct resolver *resolver;
	char *input;
	struct hostport parsed;
	uint16_t port;
	enum target_mode mode;
	target_found_fn found;
	target_done_fn done;
	void *arg;
	struct target_host *hosts;
	size_t host_count;
	size_t pending;
	char message[TARGET_MESSAGE_MAX];
};

static const int target_families[TARGET_FAMILIES] = { AF_INET, AF_INET6 };

static const char *const target_status_names[] = {
	[TARGET_EXPAND_OK] = "ok",
	[TARGET_EXPAND_NULL_MX] = "null_mx",
	[TARGET_EXPAND_NO_ADDRESS] = "no_address",
	[TARGET_EXPAND_NXDOMAIN] = "nxdomain",
	[TARGET_EXPAND_DNS_FAILURE] = "dns_failure",
	[TARGET_EXPAND_BAD_SYNTAX] = "bad_syntax",
};

/* target_expand_status_name - text for logs and reports. */
const char *
target_expand_status_name(enum target_expand_status status)
{
	if ((unsigned)status >= sizeof(target_status_names) / sizeof(target_status_names[0]))
		return "unknown";
	return target_status_names[status];
}

/* target_copy - copy a string into a fixed field, cut to fit, always NUL-terminated. */
static void
target_copy(char *out, size_t out_size, const char *text)
{
	size_t length = strlen(text);

	if (length >= out_size)
		length = out_size - 1;
	memcpy(out, text, length);
	out[length] = '\0';
}

/* target_message - append formatted text to the expansion's message, cut to fit. */
static void __attribute__((format(printf, 2, 3)))
target_message(struct target_expansion *expansion, const char *fmt, ...)
{
	size_t used = strlen(expansion->message);
	va_list ap;

	if (used + 1 >= sizeof(expansion->message))
		return;
	va_start(ap, fmt);
	vsnprintf(expansion->message + used, sizeof(expansion->message) - used, fmt, ap);
	va_end(ap);
}

/* target_finish - report the end of this input and free its state. */
static void
target_finish(struct target_expansion *expansion, enum target_expand_status status)
{
	expansion->done(expansion->arg, expansion->input, status, expansion->message);
	for (size_t i = 0; i < expansion->host_count; i++) {
		for (size_t f = 0; f < TARGET_FAMILIES; f++)
			free(expansion->hosts[i].lookups[f].addresses);
	}
	free(expansion->hosts);
	free(expansion->input);
	free(expansion);
}

/* target_fill - the fields every target of this expansion shares. */
static void
target_fill(const struct target_expansion *expansion, struct check_target *target)
{
	memset(target, 0, sizeof(*target));
	target_copy(target->input, sizeof(target->input), expansion->input);
	target->port = expansion->port;
}

/* target_cancel - the resolver is being freed: end without reporting any target. */
static void
target_cancel(struct target_expansion *expansion)
{
	expansion->message[0] = '\0';
	target_message(expansion, "%s: cancelled (resolver shut down)", expansion->input);
	target_finish(expansion, TARGET_EXPAND_DNS_FAILURE);
}

/* target_deliver_cb - from the loop: report a literal or a syntax error. */
static void
target_deliver_cb(void *arg, enum resolver_status status)
{
	struct target_expansion *expansion = arg;
	struct check_target target;

	if (expansion->mode == TARGET_MODE_BAD_SYNTAX) {
		target_finish(expansion, TARGET_EXPAND_BAD_SYNTAX);
		return;
	}
	if (status != RESOLVER_OK) {
		target_cancel(expansion);
		return;
	}
	target_fill(expansion, &target);
	target.address = expansion->parsed.address;
	expansion->found(expansion->arg, &target);
	target_message(expansion, "%s: address literal, port %u", expansion->parsed.host,
	    (unsigned)expansion->port);
	target_finish(expansion, TARGET_EXPAND_OK);
}

/* target_seen - true if address was already reported for this input. */
static bool
target_seen(const struct netaddr *seen, size_t count, const struct netaddr *address)
{
	for (size_t i = 0; i < count; i++) {
		if (netaddr_equal(&seen[i], address))
			return true;
	}
	return false;
}

/* target_describe_failures - name the lookups that failed, for the done() message. */
static void
target_describe_failures(struct target_expansion *expansion)
{
	bool first = true;

	for (size_t i = 0; i < expansion->host_count; i++) {
		for (size_t f = 0; f < TARGET_FAMILIES; f++) {
			const struct target_lookup *lookup = &expansion->hosts[i].lookups[f];
			if (lookup->status != RESOLVER_FAILURE)
				continue;
			target_message(expansion, "%s%s %s", first ? "; lookups failed: " : ", ",
			    expansion->hosts[i].name, lookup->family == AF_INET ? "A" : "AAAA");
			first = false;
		}
	}
}

/* target_conclude - every address lookup is back: report targets in order, then done. */
static void
target_conclude(struct target_expansion *expansion)
{
	size_t total = 0, reported = 0;
	bool any_failure = false, all_nxdomain = true;
	const char *name = expansion->parsed.host;

	for (size_t i = 0; i < expansion->host_count; i++) {
		for (size_t f = 0; f < TARGET_FAMILIES; f++) {
			const struct target_lookup *lookup = &expansion->hosts[i].lookups[f];
			total += lookup->count;
			if (lookup->status == RESOLVER_FAILURE)
				any_failure = true;
			if (lookup->status != RESOLVER_NXDOMAIN)
				all_nxdomain = false;
		}
	}
	struct netaddr *seen = xcalloc(total, sizeof(*seen));
	for (size_t i = 0; i < expansion->host_count; i++) {
		const struct target_host *host = &expansion->hosts[i];
		for (size_t f = 0; f < TARGET_FAMILIES; f++) {
			const struct target_lookup *lookup = &host->lookups[f];
			for (size_t a = 0; a < lookup->count; a++) {
				struct check_target target;
				if (target_seen(seen, reported, &lookup->addresses[a]))
					continue;
				seen[reported++] = lookup->addresses[a];
				target_fill(expansion, &target);
				target.address = lookup->addresses[a];
				target_copy(target.host, sizeof(target.host), host->name);
				if (expansion->mode == TARGET_MODE_MX) {
					target_copy(target.mail_domain, sizeof(target.mail_domain),
					    name);
					target_copy(target.mx_host, sizeof(target.mx_host),
					    host->name);
					target.mx_preference = host->preference;
					target.from_mx = true;
				} else if (expansion->mode == TARGET_MODE_IMPLICIT_MX) {
					target_copy(target.mail_domain, sizeof(target.mail_domain),
					    name);
				}
				expansion->found(expansion->arg, &target);
			}
		}
	}
	free(seen);

	if (reported > 0) {
		switch (expansion->mode) {
		case TARGET_MODE_MX:
			target_message(expansion, "%s: %zu target(s) from %zu MX host(s)", name,
			    reported, expansion->host_count);
			break;
		case TARGET_MODE_IMPLICIT_MX:
			target_message(expansion, "%s: no MX, implicit MX (RFC 5321 5.1): "
			    "%zu target(s) from its own A/AAAA", name, reported);
			break;
		default:
			target_message(expansion, "%s: %zu target(s) from A/AAAA "
			    "(a port was given: no MX lookup)", name, reported);
			break;
		}
		target_describe_failures(expansion);
		target_finish(expansion, TARGET_EXPAND_OK);
		return;
	}
	if (any_failure) {
		target_message(expansion, "%s: address lookup failed (server failure or timeout)",
		    name);
		target_describe_failures(expansion);
		target_finish(expansion, TARGET_EXPAND_DNS_FAILURE);
		return;
	}
	if (expansion->mode == TARGET_MODE_HOST && all_nxdomain) {
		target_message(expansion, "%s: no such domain (NXDOMAIN)", name);
		target_finish(expansion, TARGET_EXPAND_NXDOMAIN);
		return;
	}
	switch (expansion->mode) {
	case TARGET_MODE_MX:
		target_message(expansion, "%s: none of its %zu MX host(s) has an A or AAAA record",
		    name, expansion->host_count);
		break;
	case TARGET_MODE_IMPLICIT_MX:
		target_message(expansion, "%s: no MX and no A or AAAA record", name);
		break;
	default:
		target_message(expansion, "%s: no A or AAAA record", name);
		break;
	}
	target_finish(expansion, TARGET_EXPAND_NO_ADDRESS);
}

/* target_address_cb - one A or AAAA answer for one host. */
static void
target_address_cb(void *arg, enum resolver_status status, const struct netaddr *addresses,
    size_t count)
{
	struct target_lookup *lookup = arg;
	struct target_expansion *expansion = lookup->expansion;

	lookup->status = status;
	if (status == RESOLVER_OK && count > 0) {
		lookup->addresses = xcalloc(count, sizeof(*lookup->addresses));
		memcpy(lookup->addresses, addresses, count * sizeof(*addresses));
		lookup->count = count;
	}
	if (--expansion->pending > 0)
		return;
	if (resolver_is_closing(expansion->resolver))
		target_cancel(expansion);
	else
		target_conclude(expansion);
}

/* target_add_host - append a host to look up (hosts was sized by the caller). */
static void
target_add_host(struct target_expansion *expansion, const char *name, unsigned preference)
{
	struct target_host *host = &expansion->hosts[expansion->host_count++];

	target_copy(host->name, sizeof(host->name), name);
	host->preference = preference;
	for (size_t f = 0; f < TARGET_FAMILIES; f++) {
		host->lookups[f].expansion = expansion;
		host->lookups[f].family = target_families[f];
		host->lookups[f].status = RESOLVER_FAILURE;
	}
}

/* target_start_lookups - ask A and AAAA for every host at once. */
static void
target_start_lookups(struct target_expansion *expansion)
{
	/* Count first: answers never arrive before this function returns. */
	expansion->pending = expansion->host_count * TARGET_FAMILIES;
	for (size_t i = 0; i < expansion->host_count; i++) {
		struct target_host *host = &expansion->hosts[i];
		for (size_t f = 0; f < TARGET_FAMILIES; f++)
			resolver_query_address(expansion->resolver, host->name,
			    host->lookups[f].family, target_address_cb, &host->lookups[f]);
	}
}

/* target_host_known - true if an MX host of that name is already in the list. */
static bool
target_host_known(const struct target_expansion *expansion, const char *name)
{
	for (size_t i = 0; i < expansion->host_count; i++) {
		if (strcmp(expansion->hosts[i].name, name) == 0)
			return true;
	}
	return false;
}

/* target_mx_cb - the mail domain's MX answer decides what to look up next. */
static void
target_mx_cb(void *arg, enum resolver_status status, const struct resolver_mx *records,
    size_t count)
{
	struct target_expansion *expansion = arg;
	const char *name = expansion->parsed.host;

	if (resolver_is_closing(expansion->resolver)) {
		target_cancel(expansion);
		return;
	}
	switch (status) {
	case RESOLVER_OK:
		break;
	case RESOLVER_NODATA:
		/* RFC 5321 5.1: no MX, so the name itself is the implicit MX. */
		expansion->mode = TARGET_MODE_IMPLICIT_MX;
		expansion->hosts = xcalloc(1, sizeof(*expansion->hosts));
		target_add_host(expansion, name, 0);
		target_start_lookups(expansion);
		return;
	case RESOLVER_NXDOMAIN:
		target_message(expansion, "%s: no such domain (NXDOMAIN)", name);
		target_finish(expansion, TARGET_EXPAND_NXDOMAIN);
		return;
	case RESOLVER_FAILURE:
	default:
		target_message(expansion, "%s: MX lookup failed (server failure or timeout)",
		    name);
		target_finish(expansion, TARGET_EXPAND_DNS_FAILURE);
		return;
	}
	/* Records come sorted by preference; the first occurrence of a host wins. A "."
	 * exchange (null MX, RFC 7505) names no host. */
	expansion->hosts = xcalloc(count, sizeof(*expansion->hosts));
	for (size_t i = 0; i < count; i++) {
		if (records[i].host[0] == '\0' || target_host_known(expansion, records[i].host))
			continue;
		target_add_host(expansion, records[i].host, records[i].preference);
	}
	if (expansion->host_count == 0) {
		target_message(expansion, "null MX (RFC 7505): %s accepts no mail", name);
		target_finish(expansion, TARGET_EXPAND_NULL_MX);
		return;
	}
	target_start_lookups(expansion);
}

/* target_expand - see target.h. */
void
target_expand(struct resolver *resolver, const char *input, uint16_t default_port,
    target_found_fn found, target_done_fn done, void *arg)
{
	struct target_expansion *expansion = xcalloc(1, sizeof(*expansion));

	expansion->resolver = resolver;
	expansion->input = xstrdup(input != NULL ? input : "");
	expansion->found = found;
	expansion->done = done;
	expansion->arg = arg;
	if (!hostport_parse(expansion->input, &expansion->parsed, expansion->message,
	    sizeof(expansion->message))) {
		expansion->mode = TARGET_MODE_BAD_SYNTAX;
	} else if (expansion->parsed.is_address) {
		expansion->mode = TARGET_MODE_LITERAL;
	} else if (expansion->parsed.port != 0) {
		expansion->mode = TARGET_MODE_HOST;
	} else {
		expansion->mode = TARGET_MODE_MX;
	}
	expansion->port = expansion->parsed.port != 0 ? expansion->parsed.port : default_port;

	switch (expansion->mode) {
	case TARGET_MODE_BAD_SYNTAX:
	case TARGET_MODE_LITERAL:
		/* Nothing to look up, but callbacks still come from the loop, and
		 * resolver_free still ends this expansion if the loop never runs again. */
		resolver_defer(resolver, target_deliver_cb, expansion);
		break;
	case TARGET_MODE_HOST:
		expansion->hosts = xcalloc(1, sizeof(*expansion->hosts));
		target_add_host(expansion, expansion->parsed.host, 0);
		target_start_lookups(expansion);
		break;
	case TARGET_MODE_MX:
	case TARGET_MODE_IMPLICIT_MX:
		resolver_query_mx(resolver, expansion->parsed.host, target_mx_cb, expansion);
		break;
	}
}
