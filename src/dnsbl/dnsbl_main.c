/* dnsbl_main.c - `relayguard dnsbl`: the [dnsbl] configuration (one key table), the
 * rbldnsd-style command line, and the start-up order: bind, drop privileges, load, serve.
 * Exits only at start-up (bad configuration, data that cannot be loaded) or on a signal. */
#include "dnsbl/dnsbl_main.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "dnsbl/dataset.h"
#include "dnsbl/dns_packet.h"
#include "dnsbl/dnsbl_server.h"
#include "dnsbl/metrics.h"
#include "dnsbl/reload.h"
#include "dnsbl/xfr.h"
#include "dnsbl/store_feed.h"
#include "dnsbl/zone.h"

#define DNS_PORT 53
#define ERR_SIZE 1024
#define UNPRIVILEGED_USER "nobody"
#define FALLBACK_NS "localhost"
#define SECONDS_MAX 604800u
#define TTL_MAX 2147483647u	/* RFC 2181 8 */
/* Longest listing_ttl: ten years. */
#define LISTING_TTL_MAX 315360000u
/* Values of a command-line option remembered until the INI file has been read. */
#define ARGS_MAX 256
/* Largest IXFR journal (xfr_journal_kb): 4 GiB. */
#define XFR_JOURNAL_KB_MAX 4194304u
#define BYTES_PER_KB 1024

static const struct dnsbl_config_key config_keys[] = {
	{ "listen", DNSBL_KEY_LIST, offsetof(struct dnsbl_config, listen), "", 0, 0,
	  "address to answer on, ADDR[:PORT] or [IPv6]:PORT (port 53 when none); repeatable; "
	  "UDP and TCP" },
	{ "zone", DNSBL_KEY_LIST, offsetof(struct dnsbl_config, zone), "", 0, 0,
	  "zone[,zone]:type:file[,file] as rbldnsd (types ip4set, ip4tset, ip4trie, ip6trie, "
	  "ip6tset); repeat for several datasets in one zone; zone[,zone]:store:URL serves the "
	  "listings of a relayguard store (relayguard-list(1))" },
	{ "store_txt", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, store_txt), "", 0, 0,
	  "TXT of store-fed zones: {reason} {date} {id} {result} {code} {prefix} are the "
	  "listing's, $ the address (default \"" STORE_LISTING_TXT_DEFAULT "\")" },
	{ "store_sync", DNSBL_KEY_BOOL, offsetof(struct dnsbl_config, store_sync), "no", 0, 0,
	  "store-fed zones list open relays from check results, expire and delist before each "
	  "look at the store, as relayguard list sync does" },
	{ "listing_ttl", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, listing_ttl),
	  "604800", 0, LISTING_TTL_MAX, "seconds a listing made by store_sync lives unless a "
	  "later check confirms it again (0: forever)" },
	{ "user", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, user), "", 0, 0,
	  "user to run as after binding (default nobody when started as root)" },
	{ "ttl", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, ttl), "2100", 0, TTL_MAX,
	  "TTL of answers from datasets without $TTL (rbldnsd's 35 minutes)" },
	{ "ttl_min", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, ttl_min), "0", 0,
	  TTL_MAX, "every TTL served is raised to at least this" },
	{ "ttl_max", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, ttl_max), "0", 0,
	  TTL_MAX, "every TTL served is lowered to at most this (0: no bound)" },
	{ "negative_ttl", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, negative_ttl), "60",
	  0, TTL_MAX, "SOA minimum, the cache time of NXDOMAIN/NODATA, for zones without $SOA" },
	{ "ns", DNSBL_KEY_LIST, offsetof(struct dnsbl_config, ns), "", 0, 0,
	  "name server of zones without $NS; repeatable (default: this host's name)" },
	{ "hostmaster", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, hostmaster), "", 0, 0,
	  "SOA mailbox of zones without $SOA (default hostmaster.ZONE)" },
	{ "check_interval", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, check_interval),
	  "60", 0, SECONDS_MAX, "seconds between looks at the data files besides inotify "
	  "(0: inotify and SIGHUP only)" },
	{ "workers", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, workers), "0", 0, 256,
	  "UDP threads per listen address (0: one per CPU)" },
	{ "max_udp_size", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, max_udp_size),
	  "1232", DNS_UDP_PAYLOAD_MIN, DNSBL_UDP_MAX_LIMIT,
	  "largest UDP reply; larger answers are sent with TC set" },
	{ "udp_spin_us", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, udp_spin_us), "0",
	  0, 10000, "microseconds a UDP worker keeps polling after a batch before it sleeps "
	  "(bigger batches at very high load, more CPU per query below it; 0: sleep at once)" },
	{ "tcp", DNSBL_KEY_BOOL, offsetof(struct dnsbl_config, tcp), "yes", 0, 0,
	  "answer over TCP too" },
	{ "tcp_max_clients", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, tcp_max_clients),
	  "256", 1, 100000, "open TCP connections at most" },
	{ "tcp_idle_timeout", DNSBL_KEY_UNSIGNED,
	  offsetof(struct dnsbl_config, tcp_idle_timeout), "10", 1, 3600,
	  "seconds before an idle TCP connection is closed" },
	{ "metrics_listen", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, metrics_listen), "",
	  0, 0, "ADDR:PORT of the Prometheus endpoint /metrics (keep it on loopback)" },
	{ "control_socket", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, control_socket), "",
	  0, 0, "Unix socket path for status, reload and metrics commands" },
	{ "xfr_allow", DNSBL_KEY_LIST, offsetof(struct dnsbl_config, xfr_allow), "", 0, 0,
	  "address or CIDR prefix allowed to transfer zones (AXFR, IXFR over TCP); repeatable; "
	  "none by default: every transfer is refused" },
	{ "notify", DNSBL_KEY_LIST, offsetof(struct dnsbl_config, notify), "", 0, 0,
	  "secondary to send NOTIFY to when a zone's serial changes, ADDR[:PORT] (port 53 when "
	  "none); repeatable" },
	{ "xfr_journal_kb", DNSBL_KEY_UNSIGNED, offsetof(struct dnsbl_config, xfr_journal_kb),
	  "65536", 0, XFR_JOURNAL_KB_MAX, "KiB of zone changes kept for IXFR; older changes, "
	  "and a change larger than this, are sent as a whole zone (0: always)" },
	{ "log", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, log), "stderr", 0, 0,
	  "where log lines go: stderr or syslog" },
	{ "log_level", DNSBL_KEY_STRING, offsetof(struct dnsbl_config, log_level), "info", 0, 0,
	  "lowest level logged: debug, info, warn or error" },
};
#define CONFIG_KEY_COUNT (sizeof(config_keys) / sizeof(config_keys[0]))

/* ---- configuration --------------------------------------------------------------------- */

const struct dnsbl_config_key *
dnsbl_config_keys(size_t *count)
{
	*count = CONFIG_KEY_COUNT;
	return config_keys;
}

/* find_key - the table entry of name, or NULL */
static const struct dnsbl_config_key *
find_key(const char *name)
{
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* list_clear - drop a list's values */
static void
list_clear(struct dnsbl_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* list_add - append a copy of value */
static void
list_add(struct dnsbl_list *list, const char *value)
{
	list->items = xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
	list->items[list->count++] = xstrdup(value);
}

/* parse_bool - yes/no words */
static bool
parse_bool(const char *text, bool *out)
{
	if (strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0 ||
	    strcasecmp(text, "on") == 0 || strcmp(text, "1") == 0) {
		*out = true;
		return true;
	}
	if (strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0 ||
	    strcasecmp(text, "off") == 0 || strcmp(text, "0") == 0) {
		*out = false;
		return true;
	}
	return false;
}

/* parse_unsigned - a decimal number in [minimum, maximum] */
static bool
parse_unsigned(const char *text, unsigned minimum, unsigned maximum, unsigned *out)
{
	char *end;

	errno = 0;
	unsigned long value = strtoul(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value < minimum ||
	    value > maximum)
		return false;
	*out = (unsigned)value;
	return true;
}

bool
dnsbl_config_set(struct dnsbl_config *config, const char *key, const char *value, char *err,
    size_t err_size)
{
	const struct dnsbl_config_key *entry = find_key(key);

	if (entry == NULL) {
		snprintf(err, err_size, "unknown key '%s' in [dnsbl]", key);
		return false;
	}
	void *field = (char *)config + entry->offset;
	switch (entry->type) {
	case DNSBL_KEY_STRING:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		break;
	case DNSBL_KEY_LIST:
		if (value[0] != '\0')
			list_add(field, value);
		break;
	case DNSBL_KEY_UNSIGNED:
		if (!parse_unsigned(value, entry->minimum, entry->maximum, field)) {
			snprintf(err, err_size, "%s wants a number from %u to %u, not '%s'", key,
			    entry->minimum, entry->maximum, value);
			return false;
		}
		break;
	case DNSBL_KEY_BOOL:
		if (!parse_bool(value, field)) {
			snprintf(err, err_size, "%s wants yes or no, not '%s'", key, value);
			return false;
		}
		break;
	}
	return true;
}

void
dnsbl_config_init(struct dnsbl_config *config)
{
	char err[ERR_SIZE];

	memset(config, 0, sizeof(*config));
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
		if (!dnsbl_config_set(config, config_keys[i].name, config_keys[i].default_value,
		    err, sizeof(err)))
			fatal("event=bad_default key=%s error=\"%s\"", config_keys[i].name, err);
}

void
dnsbl_config_free(struct dnsbl_config *config)
{
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		void *field = (char *)config + config_keys[i].offset;
		if (config_keys[i].type == DNSBL_KEY_STRING)
			free(*(char **)field);
		else if (config_keys[i].type == DNSBL_KEY_LIST)
			list_clear(field);
	}
	memset(config, 0, sizeof(*config));
}

/* The INI handler's state: where to store, and the first error. */
struct ini_context {
	struct dnsbl_config *config;
	char error[ERR_SIZE];
};

/* config_ini_line - keys of [dnsbl]; other sections belong to other commands */
static int
config_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct ini_context *context = user;

	if (strcmp(section, "dnsbl") != 0)
		return 1;
	if (context->error[0] != '\0')
		return 0;
	return dnsbl_config_set(context->config, name, value, context->error,
	    sizeof(context->error)) ? 1 : 0;
}

bool
dnsbl_config_load_file(struct dnsbl_config *config, const char *path, char *err,
    size_t err_size)
{
	struct ini_context context = { .config = config };
	int line = ini_parse(path, config_ini_line, &context);

	if (line == 0)
		return true;
	if (line < 0)
		snprintf(err, err_size, "%s: cannot read: %s", path, line == -1 ?
		    strerror(errno) : "out of memory");
	else
		snprintf(err, err_size, "%s:%d: %s", path, line, context.error[0] ?
		    context.error : "syntax error");
	return false;
}

/* ---- command line ---------------------------------------------------------------------- */

enum long_only_option {
	OPT_ZONE = 1000,
	OPT_NS,
	OPT_HOSTMASTER,
	OPT_NEGATIVE_TTL,
	OPT_MAX_UDP_SIZE,
	OPT_UDP_SPIN_US,
	OPT_NO_TCP,
	OPT_TCP_MAX_CLIENTS,
	OPT_TCP_IDLE_TIMEOUT,
	OPT_METRICS,
	OPT_CONTROL,
	OPT_CONFIG,
	OPT_SYSLOG,
	OPT_XFR_ALLOW,
	OPT_NOTIFY,
	OPT_STORE_TXT,
	OPT_STORE_SYNC,
	OPT_LISTING_TTL,
};

static const struct option long_options[] = {
	{ "listen", required_argument, NULL, 'b' },
	{ "zone", required_argument, NULL, OPT_ZONE },
	{ "user", required_argument, NULL, 'u' },
	{ "ttl", required_argument, NULL, 't' },
	{ "check-interval", required_argument, NULL, 'c' },
	{ "workers", required_argument, NULL, 'w' },
	{ "ns", required_argument, NULL, OPT_NS },
	{ "hostmaster", required_argument, NULL, OPT_HOSTMASTER },
	{ "negative-ttl", required_argument, NULL, OPT_NEGATIVE_TTL },
	{ "max-udp-size", required_argument, NULL, OPT_MAX_UDP_SIZE },
	{ "udp-spin-us", required_argument, NULL, OPT_UDP_SPIN_US },
	{ "no-tcp", no_argument, NULL, OPT_NO_TCP },
	{ "tcp-max-clients", required_argument, NULL, OPT_TCP_MAX_CLIENTS },
	{ "tcp-idle-timeout", required_argument, NULL, OPT_TCP_IDLE_TIMEOUT },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "xfr-allow", required_argument, NULL, OPT_XFR_ALLOW },
	{ "notify", required_argument, NULL, OPT_NOTIFY },
	{ "store-txt", required_argument, NULL, OPT_STORE_TXT },
	{ "store-sync", no_argument, NULL, OPT_STORE_SYNC },
	{ "listing-ttl", required_argument, NULL, OPT_LISTING_TTL },
	{ "foreground", no_argument, NULL, 'f' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* usage - the options, briefly; relayguard-dnsbl(8) has the rest */
static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard dnsbl [OPTIONS] [ZONE:TYPE:FILE[,FILE]...]\n"
	    "  -b, --listen ADDR[:PORT]  answer on this address (ADDR/PORT as rbldnsd too)\n"
	    "  --zone Z[,Z]:TYPE:F[,F]   serve zone Z from files F (ip4set, ip4tset, ip4trie,\n"
	    "                            ip6trie, ip6tset); also as plain arguments\n"
	    "  -u, --user USER           run as USER after binding (nobody when root)\n"
	    "  -t, --ttl TTL[:MIN:MAX]   TTL without $TTL (2100), and bounds of every TTL\n"
	    "  -c, --check-interval SEC  look at the data files this often (60)\n"
	    "  -w, --workers N           UDP threads per address (one per CPU)\n"
	    "  --ns NAME                 name server of zones without $NS (this host)\n"
	    "  --hostmaster NAME         SOA mailbox of zones without $SOA\n"
	    "  --negative-ttl SEC        SOA minimum of zones without $SOA (60)\n"
	    "  --max-udp-size N          largest UDP reply (1232)\n"
	    "  --udp-spin-us N           poll N microseconds after a batch (0)\n"
	    "  --no-tcp                  do not answer over TCP\n"
	    "  --tcp-max-clients N       open TCP connections at most (256)\n"
	    "  --tcp-idle-timeout SEC    close idle TCP connections (10)\n"
	    "  --metrics ADDR:PORT       Prometheus endpoint /metrics\n"
	    "  --control PATH            control socket (status, reload, metrics)\n"
	    "  --config FILE             read the [dnsbl] section of an INI file first\n"
	    "  --syslog                  log to syslog instead of stderr\n"
	    "  --xfr-allow CIDR          may transfer zones (AXFR/IXFR); none by default\n"
	    "  --notify ADDR[:PORT]      secondary to NOTIFY when a zone changes\n"
	    "  --store-txt TEMPLATE      TXT of ZONE:store:URL zones ({reason} on {date} ...)\n"
	    "  --store-sync              store zones list, expire and delist by themselves\n"
	    "  --listing-ttl SEC         life of listings made by --store-sync (604800)\n"
	    "  -f, -n                    accepted for rbldnsd: always in the foreground, and\n"
	    "                            reloads never stop the answers\n"
	    "  -q, --quiet               log warnings and errors only\n"
	    "  -v, --verbose             log debug lines too\n"
	    "signals: HUP looks at the data files now, TERM/INT stop, USR1 logs counters\n");
}

/* One option value waiting for the INI file to be read first. */
struct pending_value {
	const char *key;
	const char *value;
};

/* rbldnsd_listen - rbldnsd writes ADDR/PORT; we want ADDR:PORT ([v6]:port) */
static char *
rbldnsd_listen(const char *text)
{
	const char *slash = strrchr(text, '/');
	char buffer[HOSTPORT_HOST_MAX + 16];

	if (slash == NULL)
		return xstrdup(text);
	if (strchr(text, ':') != NULL && text[0] != '[')
		snprintf(buffer, sizeof(buffer), "[%.*s]:%s", (int)(slash - text), text,
		    slash + 1);
	else
		snprintf(buffer, sizeof(buffer), "%.*s:%s", (int)(slash - text), text, slash + 1);
	return xstrdup(buffer);
}

/* apply_values - pending values in order; a list named on the command line loses the
 * values it had from the file */
static bool
apply_values(struct dnsbl_config *config, const struct pending_value *values, size_t count,
    char *err, size_t err_size)
{
	for (size_t i = 0; i < count; i++) {
		const struct dnsbl_config_key *entry = find_key(values[i].key);
		bool first = true;
		for (size_t j = 0; j < i; j++)
			if (strcmp(values[j].key, values[i].key) == 0)
				first = false;
		if (entry != NULL && entry->type == DNSBL_KEY_LIST && first)
			list_clear((struct dnsbl_list *)((char *)config + entry->offset));
		if (!dnsbl_config_set(config, values[i].key, values[i].value, err, err_size))
			return false;
	}
	return true;
}

/* pending_ttl - rbldnsd's -t def[:min:max] as up to three pending values */
static bool
pending_ttl(char *text, struct pending_value *values, size_t *count, char *err,
    size_t err_size)
{
	static const char *const keys[] = { "ttl", "ttl_min", "ttl_max" };
	char *rest = text;

	for (size_t i = 0; i < 3 && rest != NULL; i++) {
		char *colon = strchr(rest, ':');
		if (colon != NULL)
			*colon = '\0';
		if (rest[0] != '\0') {
			if (*count >= ARGS_MAX) {
				snprintf(err, err_size, "too many options");
				return false;
			}
			values[(*count)++] = (struct pending_value){ keys[i], rest };
		}
		rest = colon != NULL ? colon + 1 : NULL;
	}
	if (rest != NULL) {
		snprintf(err, err_size, "-t wants TTL[:MIN:MAX]");
		return false;
	}
	return true;
}

bool
dnsbl_config_parse_args(int argc, char **argv, struct dnsbl_config *config, bool *exit_now,
    char *err, size_t err_size)
{
	struct pending_value values[ARGS_MAX];
	char *owned[ARGS_MAX];
	size_t value_count = 0;
	size_t owned_count = 0;
	const char *config_file = NULL;
	bool ok = false;
	int option;

	*exit_now = false;
	dnsbl_config_init(config);
	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, ":b:u:t:c:w:fnqvh", long_options, NULL)) != -1) {
		const char *key = NULL;
		const char *value = optarg;
		if (value_count >= ARGS_MAX - 3 || owned_count >= ARGS_MAX) {
			snprintf(err, err_size, "too many options");
			goto done;
		}
		switch (option) {
		case 'b':
			owned[owned_count] = rbldnsd_listen(optarg);
			value = owned[owned_count++];
			key = "listen";
			break;
		case OPT_ZONE: key = "zone"; break;
		case 'u': key = "user"; break;
		case 't':
			owned[owned_count] = xstrdup(optarg);
			if (!pending_ttl(owned[owned_count++], values, &value_count, err, err_size))
				goto done;
			break;
		case 'c': key = "check_interval"; break;
		case 'w': key = "workers"; break;
		case OPT_NS: key = "ns"; break;
		case OPT_HOSTMASTER: key = "hostmaster"; break;
		case OPT_NEGATIVE_TTL: key = "negative_ttl"; break;
		case OPT_MAX_UDP_SIZE: key = "max_udp_size"; break;
		case OPT_UDP_SPIN_US: key = "udp_spin_us"; break;
		case OPT_NO_TCP: key = "tcp"; value = "no"; break;
		case OPT_TCP_MAX_CLIENTS: key = "tcp_max_clients"; break;
		case OPT_TCP_IDLE_TIMEOUT: key = "tcp_idle_timeout"; break;
		case OPT_METRICS: key = "metrics_listen"; break;
		case OPT_CONTROL: key = "control_socket"; break;
		case OPT_CONFIG: config_file = optarg; break;
		case OPT_SYSLOG: key = "log"; value = "syslog"; break;
		case OPT_XFR_ALLOW: key = "xfr_allow"; break;
		case OPT_NOTIFY: key = "notify"; break;
		case OPT_STORE_TXT: key = "store_txt"; break;
		case OPT_STORE_SYNC: key = "store_sync"; value = "yes"; break;
		case OPT_LISTING_TTL: key = "listing_ttl"; break;
		case 'f':
		case 'n':
			break;	/* rbldnsd's fork-on-reload and no-daemon: what we always do */
		case 'q': key = "log_level"; value = "warn"; break;
		case 'v': key = "log_level"; value = "debug"; break;
		case 'h':
			usage(stdout);
			*exit_now = true;
			ok = true;
			goto done;
		case ':':
			snprintf(err, err_size, "option %s wants a value", argv[optind - 1]);
			goto done;
		default:
			snprintf(err, err_size, "unknown option %s", argv[optind - 1]);
			goto done;
		}
		if (key != NULL)
			values[value_count++] = (struct pending_value){ key, value };
	}
	for (int i = optind; i < argc; i++) {
		if (value_count >= ARGS_MAX) {
			snprintf(err, err_size, "too many zone arguments");
			goto done;
		}
		values[value_count++] = (struct pending_value){ "zone", argv[i] };
	}
	if (config_file != NULL && !dnsbl_config_load_file(config, config_file, err, err_size))
		goto done;
	ok = apply_values(config, values, value_count, err, err_size);
done:
	for (size_t i = 0; i < owned_count; i++)
		free(owned[i]);
	return ok;
}

/* ---- zones ----------------------------------------------------------------------------- */

/* split - text cut at each sep into a new list (empty pieces kept, so they can be refused) */
static void
split(const char *text, char sep, struct dnsbl_list *out)
{
	const char *start = text;

	for (;;) {
		const char *end = strchr(start, sep);
		size_t length = end ? (size_t)(end - start) : strlen(start);
		char *piece = xstrndup(start, length);
		out->items = xrealloc(out->items, (out->count + 1) * sizeof(*out->items));
		out->items[out->count++] = piece;
		if (end == NULL)
			return;
		start = end + 1;
	}
}

/* zone_find_or_add - the zone config of name, appended when new */
static struct reload_zone_config *
zone_find_or_add(struct reload_zone_config **zones, size_t *count, const char *name)
{
	for (size_t i = 0; i < *count; i++)
		if (strcasecmp((*zones)[i].name, name) == 0)
			return &(*zones)[i];
	*zones = xrealloc(*zones, (*count + 1) * sizeof(**zones));
	struct reload_zone_config *zone = &(*zones)[(*count)++];
	memset(zone, 0, sizeof(*zone));
	zone->name = xstrdup(name);
	return zone;
}

/* zones_free - what zones_from_specs made */
static void
zones_free(struct reload_zone_config *zones, size_t count)
{
	for (size_t z = 0; z < count; z++) {
		for (size_t d = 0; d < zones[z].dataset_count; d++) {
			for (size_t p = 0; p < zones[z].datasets[d].path_count; p++)
				free(zones[z].datasets[d].paths[p]);
			free(zones[z].datasets[d].paths);
			if (zones[z].datasets[d].store != NULL)
				free((char *)zones[z].datasets[d].store->url);
			free(zones[z].datasets[d].store);
		}
		free(zones[z].datasets);
		free(zones[z].name);
	}
	free(zones);
}

/* store_feed_config_new - the store feed of a "zone:store:URL" spec; the TXT template and
 * the sync settings come from the configuration (which outlives the zones) */
static struct store_feed_config *
store_feed_config_new(const struct dnsbl_config *config, const char *url)
{
	struct store_feed_config *store = xcalloc(1, sizeof(*store));

	store->url = xstrdup(url);
	store->txt = config->store_txt;
	store->sync = config->store_sync;
	store->listing_ttl = config->listing_ttl;
	return store;
}

/* zones_from_specs - group "zone[,zone]:type:file[,file]" and "zone[,zone]:store:URL" specs
 * by zone */
static bool
zones_from_specs(const struct dnsbl_config *config, const struct dnsbl_list *specs,
    struct reload_zone_config **out, size_t *out_count, char *err, size_t err_size)
{
	struct reload_zone_config *zones = NULL;
	size_t count = 0;

	for (size_t s = 0; s < specs->count; s++) {
		const char *spec = specs->items[s];
		const char *first = strchr(spec, ':');
		const char *second = first ? strchr(first + 1, ':') : NULL;
		enum dataset_type type;
		if (second == NULL || first == spec || second[1] == '\0') {
			snprintf(err, err_size, "zone '%s' wants ZONE:TYPE:FILE[,FILE]", spec);
			goto fail;
		}
		char *type_name = xstrndup(first + 1, (size_t)(second - first - 1));
		/* store: the rest is one store URL, commas and colons included */
		bool store_fed = strcmp(type_name, STORE_FEED_TYPE_NAME) == 0;
		bool known = store_fed || dataset_type_parse(type_name, &type);
		if (store_fed)
			type = DATASET_IP4TRIE;
		if (!known)
			snprintf(err, err_size, "zone '%s': unknown dataset type '%s' (ip4set, ip4tset, "
			    "ip4trie, ip6trie, ip6tset, store)", spec, type_name);
		free(type_name);
		if (!known)
			goto fail;
		struct dnsbl_list names = { 0 };
		struct dnsbl_list files = { 0 };
		char *name_text = xstrndup(spec, (size_t)(first - spec));
		split(name_text, ',', &names);
		if (store_fed)
			list_add(&files, second + 1);
		else
			split(second + 1, ',', &files);
		free(name_text);
		bool good = true;
		for (size_t f = 0; f < files.count; f++)
			if (files.items[f][0] == '\0')
				good = false;
		for (size_t n = 0; n < names.count && good; n++) {
			uint8_t wire[DNS_NAME_WIRE_MAX];
			size_t length;
			if (!dns_name_from_text(names.items[n], wire, sizeof(wire), &length) ||
			    length <= 1) {
				snprintf(err, err_size, "zone '%s': '%s' is not a domain name", spec,
				    names.items[n]);
				good = false;
				break;
			}
			struct reload_zone_config *zone = zone_find_or_add(&zones, &count,
			    names.items[n]);
			zone->datasets = xrealloc(zone->datasets, (zone->dataset_count + 1) *
			    sizeof(*zone->datasets));
			struct reload_dataset_config *dataset = &zone->datasets[zone->dataset_count++];
			memset(dataset, 0, sizeof(*dataset));
			dataset->type = type;
			if (store_fed) {
				dataset->store = store_feed_config_new(config, files.items[0]);
				continue;
			}
			dataset->path_count = files.count;
			dataset->paths = xcalloc(files.count, sizeof(char *));
			for (size_t f = 0; f < files.count; f++)
				dataset->paths[f] = xstrdup(files.items[f]);
		}
		if (good == false && err[0] == '\0')
			snprintf(err, err_size, "zone '%s': empty file name", spec);
		list_clear(&names);
		list_clear(&files);
		if (!good)
			goto fail;
	}
	*out = zones;
	*out_count = count;
	return true;
fail:
	zones_free(zones, count);
	return false;
}

/* fill_defaults - zone defaults from the configuration; NS falls back on the host name */
static bool
fill_defaults(const struct dnsbl_config *config, struct zone_defaults *defaults, char *err,
    size_t err_size)
{
	memset(defaults, 0, sizeof(*defaults));
	defaults->ttl = config->ttl;
	defaults->ttl_min = config->ttl_min;
	defaults->ttl_max = config->ttl_max;
	defaults->negative_ttl = config->negative_ttl;
	if (config->ttl_max != 0 && config->ttl_min > config->ttl_max) {
		snprintf(err, err_size, "ttl_min %u is above ttl_max %u", config->ttl_min,
		    config->ttl_max);
		return false;
	}
	snprintf(defaults->hostmaster, sizeof(defaults->hostmaster), "%s", config->hostmaster);
	for (size_t i = 0; i < config->ns.count && i < ZONE_NS_MAX; i++)
		snprintf(defaults->ns[defaults->ns_count++], DNS_NAME_TEXT_MAX, "%s",
		    config->ns.items[i]);
	if (defaults->ns_count == 0) {
		char host[DNS_NAME_TEXT_MAX] = "";
		uint8_t wire[DNS_NAME_WIRE_MAX];
		size_t length;
		gethostname(host, sizeof(host) - 1);
		bool usable = strchr(host, '.') != NULL &&
		    dns_name_from_text(host, wire, sizeof(wire), &length);
		snprintf(defaults->ns[0], DNS_NAME_TEXT_MAX, "%s", usable ? host : FALLBACK_NS);
		defaults->ns_count = 1;
	}
	return true;
}

/* ---- privileges ------------------------------------------------------------------------ */

/* drop_privileges - become the configured user (nobody by default) when started as root */
static bool
drop_privileges(const char *user, char *err, size_t err_size)
{
	const char *name = user[0] != '\0' ? user : UNPRIVILEGED_USER;

	if (geteuid() != 0) {
		struct passwd *self = getpwuid(geteuid());
		if (user[0] != '\0' && (self == NULL || strcmp(self->pw_name, user) != 0)) {
			snprintf(err, err_size, "cannot become user %s: not started as root", user);
			return false;
		}
		return true;
	}
	struct passwd *account = getpwnam(name);
	if (account == NULL) {
		snprintf(err, err_size, "unknown user '%s'", name);
		return false;
	}
	if (account->pw_uid == 0) {
		log_warn("event=running_as_root user=%s detail=\"no privileges dropped\"", name);
		return true;
	}
	if (setgroups(1, &account->pw_gid) != 0 || setgid(account->pw_gid) != 0 ||
	    setuid(account->pw_uid) != 0) {
		snprintf(err, err_size, "cannot become user %s: %s", name, strerror(errno));
		return false;
	}
	if (setuid(0) == 0) {
		snprintf(err, err_size, "could become root again after dropping to %s", name);
		return false;
	}
	log_info("event=privileges_dropped user=%s uid=%u", name, (unsigned)account->pw_uid);
	return true;
}

/* ---- running --------------------------------------------------------------------------- */

/* What the signal handlers need. */
struct dnsbl_run {
	struct event_base *base;
	struct reload *reload;
	struct metrics *metrics;
	struct zone_snapshot_slot *slot;
};

/* on_stop - SIGINT/SIGTERM */
static void
on_stop(void *arg, int signo)
{
	struct dnsbl_run *run = arg;

	log_info("event=stopping signal=%d", signo);
	event_base_loopbreak(run->base);
}

/* on_hup - look at the data files now */
static void
on_hup(evutil_socket_t signo, short events, void *arg)
{
	struct dnsbl_run *run = arg;

	(void)signo;
	(void)events;
	log_info("event=reload_requested signal=HUP");
	reload_request(run->reload, false);
}

/* on_usr1 - log the counters in one line */
static void
on_usr1(evutil_socket_t signo, short events, void *arg)
{
	struct dnsbl_run *run = arg;
	struct reload_status status;

	(void)signo;
	(void)events;
	reload_get_status(run->reload, &status);
	log_info("event=counters queries=%llu generation=%llu loads=%llu failures=%llu",
	    (unsigned long long)metrics_total_queries(run->metrics),
	    (unsigned long long)status.generation, (unsigned long long)status.loads,
	    (unsigned long long)status.failures);
}

/* log_level_of - the log_level key's value */
static bool
log_level_of(const char *text, enum log_level *out)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

/* bind_everything - the DNS, metrics and control sockets, while still privileged */
static bool
bind_everything(const struct dnsbl_config *config, struct dnsbl_server *server,
    int *metrics_fd, int *control_fd, char *err, size_t err_size)
{
	for (size_t i = 0; i < config->listen.count; i++) {
		struct hostport where;
		char reason[256];
		if (!hostport_parse(config->listen.items[i], &where, reason, sizeof(reason)) ||
		    !where.is_address) {
			snprintf(err, err_size, "listen wants ADDRESS[:PORT], not '%s'",
			    config->listen.items[i]);
			return false;
		}
		uint16_t port = where.port ? where.port : DNS_PORT;
		if (!dnsbl_server_listen(server, &where.address, port, err, err_size))
			return false;
		log_info("event=listening address=%s port=%u tcp=%s", where.host, (unsigned)port,
		    config->tcp ? "yes" : "no");
	}
	if (config->metrics_listen[0] != '\0') {
		*metrics_fd = metrics_listen_tcp(config->metrics_listen, err, err_size);
		if (*metrics_fd < 0)
			return false;
	}
	if (config->control_socket[0] != '\0') {
		*control_fd = metrics_listen_control(config->control_socket, err, err_size);
		if (*control_fd < 0)
			return false;
	}
	return true;
}

/* serve - everything after the configuration is known; returns the exit status */
static int
serve(const struct dnsbl_config *config, struct reload_zone_config *zones, size_t zone_count)
{
	char err[ERR_SIZE] = "";
	struct zone_defaults defaults;
	int status = 2;
	int metrics_fd = -1;
	int control_fd = -1;
	struct dnsbl_server_config server_config = {
		.workers = config->workers ? config->workers : dnsbl_server_workers_default(),
		.udp_max = config->max_udp_size,
		.tcp = config->tcp,
		.tcp_max_clients = config->tcp_max_clients,
		.tcp_idle_timeout_s = config->tcp_idle_timeout,
		.spin_us = config->udp_spin_us,
	};
	const char **names = xcalloc(zone_count, sizeof(*names));
	struct dnsbl_run run = { 0 };
	struct dnsbl_server *server = NULL;
	struct metrics_service *service = NULL;
	struct event_loop_signals *signals = NULL;
	struct event *hup = NULL;
	struct event *usr1 = NULL;
	struct xfr_service *xfr = NULL;

	for (size_t i = 0; i < zone_count; i++)
		names[i] = zones[i].name;
	if (!fill_defaults(config, &defaults, err, sizeof(err)))
		goto done;
	run.slot = zone_snapshot_slot_new();
	run.metrics = metrics_new(names, zone_count,
	    dnsbl_server_shards(&server_config, config->listen.count));
	server = dnsbl_server_new(&server_config, run.slot, run.metrics);
	if (!bind_everything(config, server, &metrics_fd, &control_fd, err, sizeof(err)) ||
	    !drop_privileges(config->user, err, sizeof(err)))
		goto done;
	if (config->xfr_allow.count > 0 || config->notify.count > 0) {
		/* before the first load: every snapshot swap feeds the journal and NOTIFY */
		struct xfr_service_config xfr_config = {
			(const char *const *)config->xfr_allow.items, config->xfr_allow.count,
			(const char *const *)config->notify.items, config->notify.count,
			(size_t)config->xfr_journal_kb * BYTES_PER_KB,
		};
		xfr = xfr_service_new(&xfr_config, run.slot, err, sizeof(err));
		if (xfr == NULL)
			goto done;
		dnsbl_server_set_xfr(server, xfr);
	}
	run.reload = reload_new(zones, zone_count, &defaults, run.slot, config->check_interval);
	if (!reload_load_initial(run.reload, err, sizeof(err)))
		goto done;
	run.base = event_loop_new();
	signals = event_loop_stop_on_signals(run.base, on_stop, &run);
	hup = evsignal_new(run.base, SIGHUP, on_hup, &run);
	usr1 = evsignal_new(run.base, SIGUSR1, on_usr1, &run);
	if (hup == NULL || usr1 == NULL || evsignal_add(hup, NULL) != 0 ||
	    evsignal_add(usr1, NULL) != 0)
		fatal("event=signal_setup_failed");
	service = metrics_service_new(run.base, run.metrics, run.slot, run.reload, metrics_fd,
	    control_fd);
	metrics_fd = -1;
	control_fd = -1;
	if ((xfr != NULL && !xfr_service_start(xfr, run.base, err, sizeof(err))) ||
	    !dnsbl_server_start(server, run.base, err, sizeof(err)) ||
	    !reload_start(run.reload, err, sizeof(err)))
		goto done;
	log_info("event=started zones=%zu listen=%zu workers=%zu max_udp_size=%u tcp=%s",
	    zone_count, config->listen.count, server_config.workers, config->max_udp_size,
	    config->tcp ? "yes" : "no");
	event_base_dispatch(run.base);
	status = 0;
done:
	if (status != 0)
		fprintf(stderr, "relayguard dnsbl: %s\n", err);
	if (server != NULL)
		dnsbl_server_stop(server);
	reload_free(run.reload);
	metrics_service_free(service);
	dnsbl_server_free(server);
	xfr_service_free(xfr);
	if (hup != NULL)
		event_free(hup);
	if (usr1 != NULL)
		event_free(usr1);
	if (signals != NULL)
		event_loop_signals_free(signals);
	if (run.base != NULL)
		event_base_free(run.base);
	if (metrics_fd >= 0)
		close(metrics_fd);
	if (control_fd >= 0)
		close(control_fd);
	metrics_free(run.metrics);
	zone_snapshot_slot_free(run.slot);
	free(names);
	if (status == 0)
		log_info("event=stopped");
	return status;
}

#define DNSBL_MMAP_THRESHOLD (128 * 1024)

int
dnsbl_main(int argc, char **argv)
{
	struct dnsbl_config config;
	char err[ERR_SIZE] = "";
	bool exit_now;
	enum log_level level;
	struct reload_zone_config *zones = NULL;
	size_t zone_count = 0;

	/* Datasets are large arrays freed at every reload: with glibc's sliding mmap threshold
	 * they would move to the heap after the first free and RSS would grow with each reload
	 * (13 -> 29 MB after three at 1M entries); keep them in mmap'd chunks. */
	mallopt(M_MMAP_THRESHOLD, DNSBL_MMAP_THRESHOLD);
	if (!dnsbl_config_parse_args(argc, argv, &config, &exit_now, err, sizeof(err))) {
		fprintf(stderr, "relayguard dnsbl: %s\n", err);
		usage(stderr);
		dnsbl_config_free(&config);
		return 2;
	}
	if (exit_now) {
		dnsbl_config_free(&config);
		return 0;
	}
	if (!log_level_of(config.log_level, &level) ||
	    (strcmp(config.log, "stderr") != 0 && strcmp(config.log, "syslog") != 0)) {
		fprintf(stderr, "relayguard dnsbl: log wants stderr or syslog and log_level debug, "
		    "info, warn or error\n");
		dnsbl_config_free(&config);
		return 2;
	}
	if (config.listen.count == 0 || config.zone.count == 0) {
		fprintf(stderr, "relayguard dnsbl: say where to answer and what: --listen "
		    "ADDR[:PORT] and --zone ZONE:TYPE:FILE (see relayguard-dnsbl(8))\n");
		dnsbl_config_free(&config);
		return 2;
	}
	if (!zones_from_specs(&config, &config.zone, &zones, &zone_count, err, sizeof(err))) {
		fprintf(stderr, "relayguard dnsbl: %s\n", err);
		dnsbl_config_free(&config);
		return 2;
	}
	log_init("relayguard-dnsbl", strcmp(config.log, "syslog") == 0 ? LOG_SINK_SYSLOG :
	    LOG_SINK_STDERR, level);
	/* A TCP client that hangs up must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	int status = serve(&config, zones, zone_count);
	zones_free(zones, zone_count);
	dnsbl_config_free(&config);
	return status;
}
