/* list_main.c - `relayguard list`: an operator's view of the DNSBL listings in the store
 * (add, remove, show with history and evidence), the files mirrors load (export), rbldnsd
 * data brought in (import), and the lifecycle a cron job runs (sync, recheck). Reads and
 * writes only the store given with --db; recheck runs `relayguard check` as a child. */
#include "list/list_main.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/netaddr.h"
#include "core/store.h"
#include "list/list_export.h"
#include "list/list_import.h"

#define ERR_SIZE 1024
/* Listing defaults of an export's apex (RFC 1912 2.2 ranges, as relayguard dnsbl uses). */
#define EXPORT_TTL_DEFAULT 2100u
#define EXPORT_NEGATIVE_TTL_DEFAULT 60u
#define EXPORT_REFRESH 3600u
#define EXPORT_RETRY 600u
#define EXPORT_EXPIRE 604800u
#define EXPORT_NS_FALLBACK "localhost"
/* How old the latest check of a listed address may be before recheck checks it again. */
#define RECHECK_OLDER_THAN_DEFAULT ((int64_t)24 * 3600)
/* Room for "YYYY-MM-DD HH:MM:SSZ". */
#define TIME_TEXT_MAX 32
/* Room for a target "[v6]:port" line. */
#define TARGET_TEXT_MAX 80
/* Checks of one address that show prints, newest first. */
#define SHOW_CHECKS_MAX 20
#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_HOUR 3600
#define SECONDS_PER_DAY 86400
#define SECONDS_PER_WEEK 604800
#define DNS_TTL_MAX 2147483647u	/* RFC 2181 8 */

enum list_command {
	LIST_ADD,
	LIST_REMOVE,
	LIST_SHOW,
	LIST_EXPORT,
	LIST_IMPORT,
	LIST_SYNC,
	LIST_RECHECK,
	LIST_COMMAND_COUNT,
};

static const char *const command_names[LIST_COMMAND_COUNT] = {
	[LIST_ADD] = "add",
	[LIST_REMOVE] = "remove",
	[LIST_SHOW] = "show",
	[LIST_EXPORT] = "export",
	[LIST_IMPORT] = "import",
	[LIST_SYNC] = "sync",
	[LIST_RECHECK] = "recheck",
};

/* Everything the options say. */
struct list_options {
	enum list_command command;
	const char *db;
	const char *reason;
	const char *comment;
	int64_t ttl;
	bool ttl_given;
	bool replace;
	const char *format;
	const char *zone;
	const char *output;
	int family;
	const char *ns[LIST_EXPORT_NS_MAX];
	size_t ns_count;
	const char *hostmaster;
	unsigned dns_ttl;
	unsigned negative_ttl;
	const char *txt;
	int64_t since;
	bool since_given;
	int64_t older_than;
	bool dry_run;
	const char *relayguard;
	char **operands;
	int operand_count;
	char **check_args;	/* what follows "--" (recheck) */
	int check_arg_count;
};

/* ---- options --------------------------------------------------------------------------- */

enum list_option {
	OPT_DB = 1000,
	OPT_REASON,
	OPT_TTL,
	OPT_COMMENT,
	OPT_REPLACE,
	OPT_FORMAT,
	OPT_ZONE,
	OPT_FAMILY,
	OPT_NS,
	OPT_HOSTMASTER,
	OPT_DNS_TTL,
	OPT_NEGATIVE_TTL,
	OPT_TXT,
	OPT_SINCE,
	OPT_OLDER_THAN,
	OPT_DRY_RUN,
	OPT_RELAYGUARD,
};

static const struct option long_options[] = {
	{ "db", required_argument, NULL, OPT_DB },
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "comment", required_argument, NULL, OPT_COMMENT },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "zone", required_argument, NULL, OPT_ZONE },
	{ "output", required_argument, NULL, 'o' },
	{ "family", required_argument, NULL, OPT_FAMILY },
	{ "ns", required_argument, NULL, OPT_NS },
	{ "hostmaster", required_argument, NULL, OPT_HOSTMASTER },
	{ "dns-ttl", required_argument, NULL, OPT_DNS_TTL },
	{ "negative-ttl", required_argument, NULL, OPT_NEGATIVE_TTL },
	{ "txt", required_argument, NULL, OPT_TXT },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "older-than", required_argument, NULL, OPT_OLDER_THAN },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "relayguard", required_argument, NULL, OPT_RELAYGUARD },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Which commands take an option (bit per enum list_command). */
#define FOR(command) (1u << (command))
static const struct {
	int option;
	unsigned commands;
} option_commands[] = {
	{ OPT_REASON, FOR(LIST_ADD) | FOR(LIST_IMPORT) },
	{ OPT_TTL, FOR(LIST_ADD) | FOR(LIST_IMPORT) | FOR(LIST_SYNC) | FOR(LIST_RECHECK) },
	{ OPT_COMMENT, FOR(LIST_ADD) | FOR(LIST_REMOVE) },
	{ OPT_REPLACE, FOR(LIST_ADD) | FOR(LIST_IMPORT) },
	{ OPT_FORMAT, FOR(LIST_EXPORT) },
	{ OPT_ZONE, FOR(LIST_EXPORT) },
	{ 'o', FOR(LIST_EXPORT) },
	{ OPT_FAMILY, FOR(LIST_EXPORT) },
	{ OPT_NS, FOR(LIST_EXPORT) },
	{ OPT_HOSTMASTER, FOR(LIST_EXPORT) },
	{ OPT_DNS_TTL, FOR(LIST_EXPORT) },
	{ OPT_NEGATIVE_TTL, FOR(LIST_EXPORT) },
	{ OPT_TXT, FOR(LIST_SHOW) | FOR(LIST_EXPORT) },
	{ OPT_SINCE, FOR(LIST_SYNC) },
	{ OPT_OLDER_THAN, FOR(LIST_RECHECK) },
	{ OPT_DRY_RUN, FOR(LIST_RECHECK) },
	{ OPT_RELAYGUARD, FOR(LIST_RECHECK) },
};
#undef FOR

/* usage - the commands and options, briefly; relayguard-list(1) has the rest */
static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard list COMMAND --db URL [OPTIONS]\n"
	    "  add ADDRESS|CIDR [--reason CODE] [--ttl D] [--comment TEXT] [--replace]\n"
	    "  remove ADDRESS|CIDR [--comment TEXT]\n"
	    "  show [ADDRESS|CIDR]        every listing, or one with history and evidence\n"
	    "  export --format rbldnsd|bind --zone NAME [-o FILE] [--family ipv4|ipv6]\n"
	    "         [--ns NAME]... [--hostmaster NAME] [--dns-ttl SEC] [--negative-ttl SEC]\n"
	    "  import FILE [--reason CODE] [--ttl D] [--replace]   rbldnsd data lines\n"
	    "  sync [--since D] [--ttl D]  list open relays from check results, expire, delist\n"
	    "  recheck [--older-than D] [--dry-run] [--ttl D] [-- CHECK-OPTIONS...]\n"
	    "reasons: delivered 127.0.0.2, data 127.0.0.3, manual 127.0.0.4 (add), imported\n"
	    "  127.0.0.5 (import); D: 90, 45s, 30m, 12h, 7d, 2w or never\n"
	    "  --txt TEMPLATE   TXT of show and export ({reason} on {date}: see .../{id})\n"
	    "  -q, --quiet      only errors on stderr\n"
	    "exit status: 0 done, 1 nothing found or done, 2 usage or store error\n");
}

/* list_duration_parse - a duration with an optional unit, in seconds */
bool
list_duration_parse(const char *text, bool never_ok, int64_t *seconds)
{
	char *end;
	long long value;
	int64_t unit = 1;

	if (never_ok && strcmp(text, "never") == 0) {
		*seconds = 0;
		return true;
	}
	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0)
		return false;
	if (strcmp(end, "w") == 0)
		unit = SECONDS_PER_WEEK;
	else if (strcmp(end, "d") == 0)
		unit = SECONDS_PER_DAY;
	else if (strcmp(end, "h") == 0)
		unit = SECONDS_PER_HOUR;
	else if (strcmp(end, "m") == 0)
		unit = SECONDS_PER_MINUTE;
	else if (strcmp(end, "s") != 0 && end[0] != '\0')
		return false;
	if (value > INT64_MAX / unit)
		return false;
	*seconds = (int64_t)value * unit;
	return true;
}

/* parse_seconds - a DNS TTL in seconds, 0..DNS_TTL_MAX */
static bool
parse_seconds(const char *text, unsigned *out)
{
	int64_t seconds;

	if (!list_duration_parse(text, false, &seconds) || seconds > DNS_TTL_MAX)
		return false;
	*out = (unsigned)seconds;
	return true;
}

/* option_allowed - the command takes this option */
static bool
option_allowed(enum list_command command, int option)
{
	for (size_t i = 0; i < sizeof(option_commands) / sizeof(option_commands[0]); i++)
		if (option_commands[i].option == option)
			return (option_commands[i].commands & (1u << command)) != 0;
	return true;	/* --db, -q, --help: every command */
}

/* parse_option - one option's value into options; false and a message when it is bad */
static bool
parse_option(struct list_options *options, int option, const char *value, char *err,
    size_t err_size)
{
	switch (option) {
	case OPT_DB: options->db = value; break;
	case OPT_REASON:
		if (store_reason_find(value) == NULL) {
			snprintf(err, err_size, "unknown reason '%s' (delivered, data, manual, "
			    "imported, or their answers 127.0.0.2-5)", value);
			return false;
		}
		options->reason = value;
		break;
	case OPT_TTL:
		if (!list_duration_parse(value, true, &options->ttl)) {
			snprintf(err, err_size, "--ttl wants 90, 45s, 30m, 12h, 7d, 2w or never, not "
			    "'%s'", value);
			return false;
		}
		options->ttl_given = true;
		break;
	case OPT_COMMENT: options->comment = value; break;
	case OPT_REPLACE: options->replace = true; break;
	case OPT_FORMAT:
		if (strcmp(value, "rbldnsd") != 0 && strcmp(value, "bind") != 0) {
			snprintf(err, err_size, "--format wants rbldnsd or bind, not '%s'", value);
			return false;
		}
		options->format = value;
		break;
	case OPT_ZONE: options->zone = value; break;
	case 'o': options->output = value; break;
	case OPT_FAMILY:
		if (strcmp(value, "ipv4") == 0)
			options->family = AF_INET;
		else if (strcmp(value, "ipv6") == 0)
			options->family = AF_INET6;
		else {
			snprintf(err, err_size, "--family wants ipv4 or ipv6, not '%s'", value);
			return false;
		}
		break;
	case OPT_NS:
		if (options->ns_count == LIST_EXPORT_NS_MAX) {
			snprintf(err, err_size, "at most %d --ns", LIST_EXPORT_NS_MAX);
			return false;
		}
		options->ns[options->ns_count++] = value;
		break;
	case OPT_HOSTMASTER: options->hostmaster = value; break;
	case OPT_DNS_TTL:
	case OPT_NEGATIVE_TTL:
		if (!parse_seconds(value, option == OPT_DNS_TTL ? &options->dns_ttl :
		    &options->negative_ttl)) {
			snprintf(err, err_size, "%s wants seconds, not '%s'", option == OPT_DNS_TTL ?
			    "--dns-ttl" : "--negative-ttl", value);
			return false;
		}
		break;
	case OPT_TXT: options->txt = value; break;
	case OPT_SINCE:
		if (strcmp(value, "all") == 0)
			options->since = 0;
		else if (list_duration_parse(value, false, &options->since))
			options->since = (int64_t)time(NULL) - options->since;
		else {
			snprintf(err, err_size, "--since wants a duration (7d) or all, not '%s'",
			    value);
			return false;
		}
		options->since_given = true;
		break;
	case OPT_OLDER_THAN:
		if (!list_duration_parse(value, false, &options->older_than)) {
			snprintf(err, err_size, "--older-than wants a duration (1d), not '%s'", value);
			return false;
		}
		break;
	case OPT_DRY_RUN: options->dry_run = true; break;
	case OPT_RELAYGUARD: options->relayguard = value; break;
	default:
		snprintf(err, err_size, "unknown option");
		return false;
	}
	return true;
}

/* parse_args - the command, then its options and operands (argv[0] is "list"); *help set
 * for --help */
static bool
parse_args(int argc, char **argv, struct list_options *options, bool *help, bool *quiet,
    char *err, size_t err_size)
{
	int option;
	bool found = false;

	memset(options, 0, sizeof(*options));
	options->dns_ttl = EXPORT_TTL_DEFAULT;
	options->negative_ttl = EXPORT_NEGATIVE_TTL_DEFAULT;
	options->older_than = RECHECK_OLDER_THAN_DEFAULT;
	options->family = AF_INET;
	*help = false;
	*quiet = false;
	if (argc < 2) {
		snprintf(err, err_size, "say what to do: add, remove, show, export, import, sync "
		    "or recheck");
		return false;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		*help = true;
		return true;
	}
	for (int i = 0; i < LIST_COMMAND_COUNT; i++) {
		if (strcmp(argv[1], command_names[i]) == 0) {
			options->command = (enum list_command)i;
			found = true;
		}
	}
	if (!found) {
		snprintf(err, err_size, "unknown command '%s'", argv[1]);
		return false;
	}
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, ":o:qh", long_options, NULL)) != -1) {
		if (option == 'h') {
			*help = true;
			return true;
		}
		if (option == 'q') {
			*quiet = true;
			continue;
		}
		if (option == ':' || option == '?') {
			snprintf(err, err_size, option == ':' ? "option %s wants a value" :
			    "unknown option %s", argv[optind - 1]);
			return false;
		}
		if (!option_allowed(options->command, option)) {
			snprintf(err, err_size, "list %s does not take %s",
			    command_names[options->command], argv[optind - 1]);
			return false;
		}
		if (!parse_option(options, option, optarg, err, err_size))
			return false;
	}
	options->operands = argv + optind;
	options->operand_count = argc - optind;
	/* getopt_long stops at "--"; what follows it goes to `relayguard check` */
	if (optind > 0 && strcmp(argv[optind - 1], "--") == 0) {
		if (options->command != LIST_RECHECK) {
			snprintf(err, err_size, "only list recheck takes options after --");
			return false;
		}
		options->check_args = argv + optind;
		options->check_arg_count = argc - optind;
		options->operands = NULL;
		options->operand_count = 0;
	}
	if (options->db == NULL || options->db[0] == '\0') {
		snprintf(err, err_size, "say which store: --db FILE, sqlite:FILE or postgresql://...");
		return false;
	}
	return true;
}

/* ---- helpers --------------------------------------------------------------------------- */

/* format_time - "2024-05-01 10:00:00Z", or "never" for 0 */
static const char *
format_time(int64_t when, char *out, size_t out_size)
{
	time_t seconds = (time_t)when;
	struct tm tm;

	if (when == 0) {
		snprintf(out, out_size, "never");
		return out;
	}
	if (gmtime_r(&seconds, &tm) == NULL || strftime(out, out_size, "%Y-%m-%d %H:%M:%SZ",
	    &tm) == 0)
		snprintf(out, out_size, "%lld", (long long)when);
	return out;
}

/* reason_code - the answer octet of a reason name (the test point's for an unknown one) */
static unsigned
reason_code(const char *name)
{
	const struct store_reason *reason = store_reason_find(name);

	return reason != NULL ? reason->code : STORE_TEST_CODE;
}

/* A copy of the current listings, for show and export. */
struct listing_copies {
	struct store_listing *items;
	size_t count;
	size_t capacity;
};

/* listings_keep - store_listing_fn keeping a copy */
static void
listings_keep(void *arg, const struct store_listing *listing)
{
	struct listing_copies *copies = arg;

	if (copies->count == copies->capacity) {
		copies->capacity = copies->capacity ? copies->capacity * 2 : 64;
		copies->items = xrealloc(copies->items, copies->capacity * sizeof(*copies->items));
	}
	struct store_listing *copy = &copies->items[copies->count++];
	*copy = *listing;
	copy->prefix = xstrdup(listing->prefix);
	copy->reason = xstrdup(listing->reason);
	copy->origin = xstrdup(listing->origin);
	copy->comment = listing->comment != NULL ? xstrdup(listing->comment) : NULL;
}

/* listings_release - free the copies */
static void
listings_release(struct listing_copies *copies)
{
	for (size_t i = 0; i < copies->count; i++) {
		free((char *)copies->items[i].prefix);
		free((char *)copies->items[i].reason);
		free((char *)copies->items[i].origin);
		free((char *)copies->items[i].comment);
	}
	free(copies->items);
	memset(copies, 0, sizeof(*copies));
}

/* expiry_of - when a listing made now with the ttl option expires (0: never) */
static int64_t
expiry_of(const struct list_options *options, int64_t now, int64_t fallback_ttl)
{
	int64_t ttl = options->ttl_given ? options->ttl : fallback_ttl;

	return ttl > 0 ? now + ttl : 0;
}

/* ---- add, remove ----------------------------------------------------------------------- */

/* command_add - list one address or CIDR (an operator's listing unless --reason) */
static int
command_add(struct store *store, const struct list_options *options, bool quiet)
{
	char err[ERR_SIZE] = "";
	char when[TIME_TEXT_MAX];
	int64_t now = (int64_t)time(NULL);
	int64_t listing_id;
	bool added;

	if (options->operand_count != 1) {
		fprintf(stderr, "relayguard list add: give one ADDRESS or CIDR\n");
		return 2;
	}
	struct store_listing_request request = {
		.prefix = options->operands[0],
		.reason = options->reason,
		.origin = "manual",
		.comment = options->comment,
		.expires_at = expiry_of(options, now, 0),
		.replace = options->replace,
	};
	if (store_listing_add(store, &request, now, &listing_id, &added, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list add: %s\n", err);
		return 2;
	}
	if (quiet)
		return 0;
	const struct store_reason *reason = store_reason_find(options->reason != NULL ?
	    options->reason : "manual");
	if (added || options->replace)
		printf("%s %s: 127.0.0.%u %s, listing %lld, expires %s\n", added ? "listed" :
		    "updated", options->operands[0], reason->code, reason->name,
		    (long long)listing_id, format_time(request.expires_at, when, sizeof(when)));
	else
		printf("%s is already listed (listing %lld); --replace updates it\n",
		    options->operands[0], (long long)listing_id);
	return 0;
}

/* command_remove - delist one address or CIDR */
static int
command_remove(struct store *store, const struct list_options *options, bool quiet)
{
	char err[ERR_SIZE] = "";
	bool removed;

	if (options->operand_count != 1) {
		fprintf(stderr, "relayguard list remove: give one ADDRESS or CIDR\n");
		return 2;
	}
	if (store_listing_remove(store, options->operands[0], options->comment,
	    (int64_t)time(NULL), &removed, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list remove: %s\n", err);
		return 2;
	}
	if (!removed) {
		fprintf(stderr, "relayguard list remove: %s is not listed\n", options->operands[0]);
		return 1;
	}
	if (!quiet)
		printf("removed %s\n", options->operands[0]);
	return 0;
}

/* ---- show ------------------------------------------------------------------------------ */

/* show_all - one line per current listing */
static int
show_all(struct store *store)
{
	struct listing_copies listings = { 0 };
	char err[ERR_SIZE] = "";
	char listed[TIME_TEXT_MAX];
	char expires[TIME_TEXT_MAX];
	int64_t now = (int64_t)time(NULL);

	if (store_listings_list(store, listings_keep, &listings, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list show: %s\n", err);
		listings_release(&listings);
		return 2;
	}
	printf("%-24s %-10s %-9s %-6s %-20s %-20s %s\n", "PREFIX", "ANSWER", "REASON", "ID",
	    "LISTED", "EXPIRES", "EVIDENCE");
	for (size_t i = 0; i < listings.count; i++) {
		const struct store_listing *listing = &listings.items[i];
		char evidence[TARGET_TEXT_MAX] = "-";
		if (listing->result_id != 0)
			snprintf(evidence, sizeof(evidence), "result %lld",
			    (long long)listing->result_id);
		printf("%-24s 127.0.0.%-2u %-9s %-6lld %-20s %-20s %s%s\n", listing->prefix,
		    reason_code(listing->reason), listing->reason, (long long)listing->id,
		    format_time(listing->listed_at, listed, sizeof(listed)),
		    format_time(listing->expires_at, expires, sizeof(expires)), evidence,
		    listing->expires_at != 0 && listing->expires_at <= now ? " (expired)" : "");
	}
	printf("%zu listings\n", listings.count);
	listings_release(&listings);
	return 0;
}

/* The changes of one prefix as show prints them. */
struct show_history {
	size_t count;
	int64_t evidence;	/* result id of the latest change that carried one */
};

/* show_history_row - one history line */
static void
show_history_row(void *arg, const struct store_listing_event *event)
{
	struct show_history *history = arg;
	char when[TIME_TEXT_MAX];
	char expires[TIME_TEXT_MAX];

	history->count++;
	if (event->result_id != 0 && event->listed)
		history->evidence = event->result_id;
	printf("  %s  %-11s 127.0.0.%-2u %-9s by %-6s", format_time(event->at, when,
	    sizeof(when)), event->action, reason_code(event->reason), event->reason,
	    event->origin);
	if (event->result_id != 0)
		printf(" result %lld", (long long)event->result_id);
	if (event->listed)
		printf(" expires %s", format_time(event->expires_at, expires, sizeof(expires)));
	if (event->comment != NULL)
		printf(" \"%s\"", event->comment);
	printf("\n");
}

/* The checks of one address as show prints them, and the evidence's report. */
struct show_checks {
	size_t count;
	int64_t evidence;	/* result id whose report to keep */
	char *report;		/* its report_json */
	int64_t latest_open;	/* newest open result, when no listing names one */
	char *latest_open_report;
};

/* show_check_row - one line per stored check of the address */
static void
show_check_row(void *arg, const struct store_history_row *row)
{
	struct show_checks *checks = arg;
	char when[TIME_TEXT_MAX];

	if (row->result_id == checks->evidence && row->report_json != NULL &&
	    checks->report == NULL)
		checks->report = xstrdup(row->report_json);
	if (checks->latest_open == 0 && strcmp(row->verdict, "open") == 0) {
		checks->latest_open = row->result_id;
		if (row->report_json != NULL)
			checks->latest_open_report = xstrdup(row->report_json);
	}
	if (checks->count++ >= SHOW_CHECKS_MAX)
		return;
	printf("  %s  %-12s %-9s %-15s port %-5d result %lld\n", format_time(row->started_at,
	    when, sizeof(when)), row->verdict, row->stage != NULL ? row->stage : "-",
	    row->tricks[0] != '\0' ? row->tricks : "-", row->port, (long long)row->result_id);
}

/* show_transcript - the transcript lines of a check's JSON report */
static void
show_transcript(int64_t result_id, const char *report_json)
{
	json_error_t error;
	json_t *report = json_loads(report_json, 0, &error);
	json_t *lines = report != NULL ? json_object_get(report, "transcript") : NULL;
	json_t *line;
	size_t index;

	printf("evidence transcript (result %lld", (long long)result_id);
	if (report != NULL && json_is_string(json_object_get(report, "started")))
		printf(", %s", json_string_value(json_object_get(report, "started")));
	if (report != NULL && json_is_string(json_object_get(report, "target")))
		printf(", target %s", json_string_value(json_object_get(report, "target")));
	printf("):\n");
	if (!json_is_array(lines)) {
		printf("  (the stored report has no transcript)\n");
		json_decref(report);
		return;
	}
	json_array_foreach(lines, index, line) {
		json_t *t_ms = json_object_get(line, "t_ms");
		json_t *dir = json_object_get(line, "dir");
		json_t *text = json_object_get(line, "text");
		json_t *test = json_object_get(line, "test");
		printf("  %+6lldms %s: %s", json_is_integer(t_ms) ?
		    (long long)json_integer_value(t_ms) : 0LL, json_is_string(dir) ?
		    json_string_value(dir) : "?", json_is_string(text) ? json_string_value(text) :
		    "");
		if (json_is_string(test))
			printf("   [%s]", json_string_value(test));
		printf("\n");
	}
	json_decref(report);
}

/* show_one - a prefix: its listing, the listings covering it, its history, the checks of
 * the address, and the transcript of the evidence */
static int
show_one(struct store *store, const char *text, const char *txt_template)
{
	char err[ERR_SIZE] = "";
	char prefix_text[STORE_PREFIX_TEXT_MAX];
	char address[NETADDR_TEXT_MAX];
	char listed[TIME_TEXT_MAX];
	char confirmed[TIME_TEXT_MAX];
	char expires[TIME_TEXT_MAX];
	char txt[LIST_EXPORT_TXT_MAX + 1];
	struct netprefix prefix;
	struct listing_copies all = { 0 };
	struct show_history history = { 0 };
	struct show_checks checks = { 0 };
	const struct store_listing *current = NULL;
	size_t covering = 0;
	int status = 0;

	if (!store_prefix_normalize(text, prefix_text, sizeof(prefix_text), err, sizeof(err)) ||
	    !netprefix_parse(prefix_text, &prefix)) {
		fprintf(stderr, "relayguard list show: %s\n", err);
		return 2;
	}
	netaddr_format(&prefix.address, address, sizeof(address));
	bool host = prefix.length == (prefix.address.family == AF_INET6 ? 128u : 32u);
	if (store_listings_list(store, listings_keep, &all, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list show: %s\n", err);
		listings_release(&all);
		return 2;
	}
	for (size_t i = 0; i < all.count; i++)
		if (strcmp(all.items[i].prefix, prefix_text) == 0)
			current = &all.items[i];
	if (current != NULL) {
		const struct store_reason *reason = store_reason_find(current->reason);
		printf("%s: listed, 127.0.0.%u %s (%s)\n", prefix_text, reason_code(current->reason),
		    current->reason, reason != NULL ? reason->text : "unknown reason");
		printf("  listing %lld, listed %s by %s, confirmed %s, expires %s\n",
		    (long long)current->id, format_time(current->listed_at, listed, sizeof(listed)),
		    current->origin, format_time(current->confirmed_at, confirmed,
		    sizeof(confirmed)), format_time(current->expires_at, expires, sizeof(expires)));
		if (current->result_id != 0)
			printf("  evidence: result %lld\n", (long long)current->result_id);
		if (current->comment != NULL)
			printf("  comment: %s\n", current->comment);
		store_listing_txt(txt_template, current, txt, sizeof(txt));
		printf("  TXT: %s\n", txt);
	} else {
		printf("%s: not listed\n", prefix_text);
	}
	for (size_t i = 0; i < all.count; i++) {
		struct netprefix other;
		if (&all.items[i] == current || !netprefix_parse(all.items[i].prefix, &other) ||
		    other.length >= prefix.length || !netprefix_contains(&other, &prefix.address))
			continue;
		if (covering++ == 0)
			printf("covered by:\n");
		printf("  %s (127.0.0.%u %s, listing %lld)\n", all.items[i].prefix,
		    reason_code(all.items[i].reason), all.items[i].reason, (long long)all.items[i].id);
	}
	printf("history:\n");
	if (store_listing_history(store, prefix_text, show_history_row, &history, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list show: %s\n", err);
		status = 2;
		goto done;
	}
	if (history.count == 0)
		printf("  (never listed)\n");
	checks.evidence = current != NULL && current->result_id != 0 ? current->result_id :
	    history.evidence;
	if (host) {
		printf("checks of %s (newest first):\n", address);
		if (store_history(store, address, 0, 0, show_check_row, &checks, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "relayguard list show: %s\n", err);
			status = 2;
			goto done;
		}
		if (checks.count == 0)
			printf("  (none stored)\n");
		else if (checks.count > SHOW_CHECKS_MAX)
			printf("  ... %zu older\n", checks.count - SHOW_CHECKS_MAX);
	}
	if (checks.report != NULL)
		show_transcript(checks.evidence, checks.report);
	else if (checks.evidence == 0 && checks.latest_open_report != NULL)
		show_transcript(checks.latest_open, checks.latest_open_report);
	else if (checks.evidence != 0)
		printf("evidence: result %lld has no stored report\n", (long long)checks.evidence);
	if (current == NULL && history.count == 0 && checks.count == 0 && covering == 0)
		status = 1;
done:
	free(checks.report);
	free(checks.latest_open_report);
	listings_release(&all);
	return status;
}

/* ---- export ---------------------------------------------------------------------------- */

/* export_zone_apex - SOA and NS of the export from the options */
static bool
export_zone_apex(const struct list_options *options, uint32_t serial,
    struct list_export_zone *zone)
{
	memset(zone, 0, sizeof(*zone));
	snprintf(zone->name, sizeof(zone->name), "%s", options->zone);
	size_t length = strlen(zone->name);
	if (length > 0 && zone->name[length - 1] == '.')
		zone->name[length - 1] = '\0';
	if (zone->name[0] == '\0' || strchr(zone->name, ' ') != NULL)
		return false;
	for (size_t i = 0; i < options->ns_count; i++)
		snprintf(zone->ns[zone->ns_count++], LIST_EXPORT_NAME_MAX, "%s", options->ns[i]);
	if (zone->ns_count == 0) {
		char host[LIST_EXPORT_NAME_MAX] = "";
		gethostname(host, sizeof(host) - 1);
		snprintf(zone->ns[zone->ns_count++], LIST_EXPORT_NAME_MAX, "%s",
		    strchr(host, '.') != NULL ? host : EXPORT_NS_FALLBACK);
	}
	if (options->hostmaster != NULL)
		snprintf(zone->hostmaster, sizeof(zone->hostmaster), "%s", options->hostmaster);
	else
		snprintf(zone->hostmaster, sizeof(zone->hostmaster), "hostmaster.%.200s",
		    zone->name);
	zone->serial = serial;
	zone->ttl = options->dns_ttl;
	zone->refresh = EXPORT_REFRESH;
	zone->retry = EXPORT_RETRY;
	zone->expire = EXPORT_EXPIRE;
	zone->minimum = options->negative_ttl;
	return true;
}

/* export_write - the chosen format to out */
static bool
export_write(FILE *out, const struct list_options *options, const struct list_export_zone *zone,
    const struct list_export_entry *entries, size_t count)
{
	if (strcmp(options->format, "bind") == 0)
		return list_export_bind(out, zone, entries, count);
	return list_export_rbldnsd(out, zone, entries, count, options->family);
}

/* export_to_file - write to a temporary file beside path, then rename it over path: a mirror
 * or a server reading path sees the old file or the new one, never half of one */
static bool
export_to_file(const char *path, const struct list_options *options,
    const struct list_export_zone *zone, const struct list_export_entry *entries, size_t count,
    char *err, size_t err_size)
{
	size_t length = strlen(path);
	char *temporary = xmalloc(length + sizeof(".XXXXXX"));
	FILE *out;
	int fd;

	memcpy(temporary, path, length);
	memcpy(temporary + length, ".XXXXXX", sizeof(".XXXXXX"));
	fd = mkstemp(temporary);
	if (fd < 0) {
		snprintf(err, err_size, "%s: %s", temporary, strerror(errno));
		free(temporary);
		return false;
	}
	out = fdopen(fd, "w");
	if (out == NULL)
		fatal("event=fdopen_failed error=\"%s\"", strerror(errno));
	bool good = fchmod(fd, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH) == 0 &&
	    export_write(out, options, zone, entries, count) && fsync(fd) == 0;
	int saved = errno;
	if (fclose(out) != 0 && good) {
		good = false;
		saved = errno;
	}
	if (good && rename(temporary, path) != 0) {
		good = false;
		saved = errno;
	}
	if (!good) {
		snprintf(err, err_size, "%s: %s", path, strerror(saved));
		unlink(temporary);
	}
	free(temporary);
	return good;
}

/* command_export - the current listings as rbldnsd data or a BIND zone */
static int
command_export(struct store *store, const struct list_options *options, bool quiet)
{
	struct listing_copies listings = { 0 };
	struct list_export_entry *entries;
	struct list_export_zone zone;
	char err[ERR_SIZE] = "";
	int64_t now = (int64_t)time(NULL);
	int64_t serial_number;
	int64_t changed_at;
	size_t count = 0;
	bool test_point_listed = false;
	int status = 2;

	if (options->format == NULL || options->zone == NULL || options->operand_count != 0) {
		fprintf(stderr, "relayguard list export: give --format rbldnsd|bind and --zone "
		    "NAME\n");
		return 2;
	}
	if (store_listing_serial(store, &serial_number, &changed_at, err, sizeof(err)) != 0 ||
	    store_listings_list(store, listings_keep, &listings, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list export: %s\n", err);
		listings_release(&listings);
		return 2;
	}
	entries = xcalloc(listings.count + 1, sizeof(*entries));
	char (*texts)[LIST_EXPORT_TXT_MAX + 1] = xcalloc(listings.count + 1, sizeof(*texts));
	for (size_t i = 0; i < listings.count; i++) {
		const struct store_listing *listing = &listings.items[i];
		if (listing->expires_at != 0 && listing->expires_at <= now) {
			/* gone from the data: a change as of its expiry */
			if (listing->expires_at > changed_at)
				changed_at = listing->expires_at;
			continue;
		}
		if (!netprefix_parse(listing->prefix, &entries[count].prefix))
			continue;
		store_listing_txt(options->txt, listing, texts[count], sizeof(texts[count]));
		entries[count].code = reason_code(listing->reason);
		entries[count].txt = texts[count];
		if (strcmp(listing->prefix, STORE_TEST_PREFIX) == 0)
			test_point_listed = true;
		count++;
	}
	if (!test_point_listed && netprefix_parse(STORE_TEST_PREFIX, &entries[count].prefix)) {
		entries[count].code = STORE_TEST_CODE;
		entries[count].txt = STORE_TEST_TXT;
		count++;
	}
	if (changed_at == 0)
		changed_at = now;
	if (!export_zone_apex(options, (uint32_t)changed_at, &zone)) {
		fprintf(stderr, "relayguard list export: '%s' is not a zone name\n", options->zone);
		goto done;
	}
	if (options->output != NULL && strcmp(options->output, "-") != 0) {
		if (!export_to_file(options->output, options, &zone, entries, count, err,
		    sizeof(err))) {
			fprintf(stderr, "relayguard list export: %s\n", err);
			goto done;
		}
		if (!quiet)
			fprintf(stderr, "relayguard list export: wrote %s (%s, serial %u)\n",
			    options->output, options->format, zone.serial);
	} else if (!export_write(stdout, options, &zone, entries, count)) {
		fprintf(stderr, "relayguard list export: standard output: %s\n", strerror(errno));
		goto done;
	}
	status = 0;
done:
	free(texts);
	free(entries);
	listings_release(&listings);
	return status;
}

/* ---- import ---------------------------------------------------------------------------- */

/* What an import did. */
struct import_counts {
	size_t lines;
	size_t listed;
	size_t kept;
	size_t updated;
	size_t refused;
	size_t exclusions;
	size_t bad;
};

/* import_prefix - list one prefix of an imported line; false on a store error */
static bool
import_prefix(struct store *store, const struct list_options *options,
    const struct netprefix *prefix, const char *txt, int64_t now, struct import_counts *counts,
    char *err, size_t err_size)
{
	char text[NETPREFIX_TEXT_MAX];
	char normalized[STORE_PREFIX_TEXT_MAX];
	char why[ERR_SIZE];
	int64_t listing_id;
	bool added;

	netprefix_format(prefix, text, sizeof(text));
	if (!store_prefix_normalize(text, normalized, sizeof(normalized), why, sizeof(why)) ||
	    strcmp(normalized, STORE_TEST_PREFIX) == 0) {
		/* 127.0.0.1 is never listed; 127.0.0.2 is every publisher's own test point */
		counts->refused++;
		return true;
	}
	struct store_listing_request request = {
		.prefix = normalized,
		.reason = options->reason != NULL ? options->reason : "imported",
		.origin = "import",
		.comment = txt[0] != '\0' ? txt : NULL,
		.expires_at = expiry_of(options, now, 0),
		.replace = options->replace,
	};
	if (store_listing_add(store, &request, now, &listing_id, &added, err, err_size) != 0)
		return false;
	if (added)
		counts->listed++;
	else if (options->replace)
		counts->updated++;
	else
		counts->kept++;
	return true;
}

/* command_import - list every entry of an rbldnsd data file ("-": standard input) */
static int
command_import(struct store *store, const struct list_options *options, bool quiet)
{
	struct import_counts counts = { 0 };
	struct list_import_line parsed;
	char err[ERR_SIZE] = "";
	char *line = NULL;
	size_t room = 0;
	ssize_t length;
	int64_t now = (int64_t)time(NULL);
	FILE *in;
	int status = 0;

	if (options->operand_count != 1) {
		fprintf(stderr, "relayguard list import: give one FILE ('-': standard input)\n");
		return 2;
	}
	const char *path = options->operands[0];
	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (in == NULL) {
		fprintf(stderr, "relayguard list import: %s: %s\n", path, strerror(errno));
		return 2;
	}
	while (status == 0 && (length = getline(&line, &room, in)) >= 0) {
		counts.lines++;
		while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
			length--;
		list_import_parse(line, (size_t)length, &parsed);
		switch (parsed.kind) {
		case LIST_IMPORT_NOTHING:
			break;
		case LIST_IMPORT_EXCLUSION:
			counts.exclusions++;
			break;
		case LIST_IMPORT_ERROR:
			counts.bad++;
			if (!quiet)
				fprintf(stderr, "relayguard list import: %s:%zu: %s\n", path,
				    counts.lines, parsed.error);
			break;
		case LIST_IMPORT_ENTRY:
			for (size_t i = 0; status == 0 && i < parsed.prefix_count; i++)
				if (!import_prefix(store, options, &parsed.prefixes[i], parsed.txt, now,
				    &counts, err, sizeof(err))) {
					fprintf(stderr, "relayguard list import: %s:%zu: %s\n", path,
					    counts.lines, err);
					status = 2;
				}
			break;
		}
	}
	if (status == 0 && ferror(in)) {
		fprintf(stderr, "relayguard list import: %s: %s\n", path, strerror(errno));
		status = 2;
	}
	free(line);
	if (in != stdin)
		fclose(in);
	if (!quiet)
		printf("import %s: %zu lines, %zu listed, %zu already listed (kept), %zu updated, "
		    "%zu not listable (127.0.0.1, 127.0.0.2), %zu exclusions skipped, %zu bad "
		    "lines\n", path, counts.lines, counts.listed, counts.kept, counts.updated,
		    counts.refused, counts.exclusions, counts.bad);
	return status;
}

/* ---- sync, recheck --------------------------------------------------------------------- */

/* run_sync - the automatic listing from results since `since`, then the expiry */
static int
run_sync(struct store *store, int64_t since, int64_t ttl, bool quiet, const char *command)
{
	struct store_sync_counts counts;
	char err[ERR_SIZE] = "";
	int64_t now = (int64_t)time(NULL);
	size_t expired = 0;

	if (store_listings_from_results(store, since, now, ttl, &counts, err, sizeof(err)) != 0 ||
	    store_listings_expire(store, now, &expired, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard list %s: %s\n", command, err);
		return 2;
	}
	if (!quiet)
		printf("%s: %zu listed, %zu reconfirmed, %zu delisted, %zu expired\n", command,
		    counts.listed, counts.reconfirmed, counts.delisted, expired);
	return 0;
}

/* command_sync - what a cron job runs after checks */
static int
command_sync(struct store *store, const struct list_options *options, bool quiet)
{
	int64_t ttl = options->ttl_given ? options->ttl : STORE_LISTING_TTL_DEFAULT;
	int64_t since = options->since;

	if (options->operand_count != 0) {
		fprintf(stderr, "relayguard list sync: takes no operands\n");
		return 2;
	}
	/* A result older than a listing's life would give a listing that has expired by now. */
	if (!options->since_given)
		since = ttl > 0 ? (int64_t)time(NULL) - ttl : 0;
	return run_sync(store, since, ttl, quiet, "sync");
}

/* The targets recheck writes for `relayguard check -f`. */
struct recheck_targets {
	FILE *file;
	size_t count;
	bool print;
};

/* recheck_target - one stale listed address as a check target ("[v6]:port") */
static void
recheck_target(void *arg, const struct store_stale_listing *stale)
{
	struct recheck_targets *targets = arg;
	char target[TARGET_TEXT_MAX];
	char when[TIME_TEXT_MAX];

	if (stale->port <= 0)
		snprintf(target, sizeof(target), "%s", stale->address);
	else if (strchr(stale->address, ':') != NULL)
		snprintf(target, sizeof(target), "[%s]:%d", stale->address, stale->port);
	else
		snprintf(target, sizeof(target), "%s:%d", stale->address, stale->port);
	targets->count++;
	if (targets->file != NULL)
		fprintf(targets->file, "%s\n", target);
	if (targets->print)
		printf("%s (last checked %s)\n", target, stale->checked_at != 0 ?
		    format_time(stale->checked_at, when, sizeof(when)) : "never");
}

/* recheck_binary - the relayguard to run: --relayguard, else this very program */
static bool
recheck_binary(const struct list_options *options, char *out, size_t out_size)
{
	ssize_t length;

	if (options->relayguard != NULL) {
		snprintf(out, out_size, "%s", options->relayguard);
		return true;
	}
	length = readlink("/proc/self/exe", out, out_size - 1);
	if (length <= 0)
		return false;
	out[length] = '\0';
	return true;
}

/* recheck_run_check - run `relayguard check --db URL -f FILE [CHECK-OPTIONS]` and wait;
 * returns its exit status, or -1 when it could not run */
static int
recheck_run_check(const struct list_options *options, const char *binary, const char *file)
{
	size_t fixed = 6;
	char **argv = xcalloc(fixed + (size_t)options->check_arg_count + 1, sizeof(*argv));
	int status;
	pid_t child;

	argv[0] = (char *)binary;
	argv[1] = (char *)"check";
	argv[2] = (char *)"--db";
	argv[3] = (char *)options->db;
	argv[4] = (char *)"-f";
	argv[5] = (char *)file;
	for (int i = 0; i < options->check_arg_count; i++)
		argv[fixed + (size_t)i] = options->check_args[i];
	fflush(stdout);
	fflush(stderr);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "relayguard list recheck: fork: %s\n", strerror(errno));
		free(argv);
		return -1;
	}
	if (child == 0) {
		execv(binary, argv);
		fprintf(stderr, "relayguard list recheck: %s: %s\n", binary, strerror(errno));
		_exit(127);
	}
	free(argv);
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "relayguard list recheck: waitpid: %s\n", strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* command_recheck - check again every listed address whose latest check is older than
 * --older-than, through `relayguard check` as a child, then sync on what it found */
static int
command_recheck(struct store *store, const struct list_options *options, bool quiet)
{
	struct recheck_targets targets = { .print = options->dry_run };
	char err[ERR_SIZE] = "";
	char binary[PATH_MAX];
	char file[] = "/tmp/relayguard-recheck.XXXXXX";
	int64_t started = (int64_t)time(NULL);
	int64_t ttl = options->ttl_given ? options->ttl : STORE_LISTING_TTL_DEFAULT;
	int fd = -1;

	if (options->operand_count != 0) {
		fprintf(stderr, "relayguard list recheck: takes no operands (check options go "
		    "after --)\n");
		return 2;
	}
	if (!options->dry_run) {
		fd = mkstemp(file);
		if (fd < 0 || (targets.file = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "relayguard list recheck: %s: %s\n", file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return 2;
		}
	}
	/* --older-than 0: every listed address, even one checked this very second */
	int64_t before = options->older_than == 0 ? INT64_MAX : started - options->older_than;
	int listed = store_listings_stale(store, before, recheck_target, &targets, err,
	    sizeof(err));
	if (targets.file != NULL && fclose(targets.file) != 0 && listed == 0) {
		snprintf(err, sizeof(err), "%s: %s", file, strerror(errno));
		listed = -1;
	}
	if (listed != 0 || options->dry_run || targets.count == 0) {
		if (!options->dry_run)
			unlink(file);
		if (listed != 0) {
			fprintf(stderr, "relayguard list recheck: %s\n", err);
			return 2;
		}
		if (!quiet && targets.count == 0)
			printf("recheck: no listed address was checked longer ago than %llds\n",
			    (long long)options->older_than);
		return targets.count == 0 ? 1 : 0;
	}
	if (!recheck_binary(options, binary, sizeof(binary))) {
		unlink(file);
		fprintf(stderr, "relayguard list recheck: cannot find the relayguard program: "
		    "give --relayguard PATH\n");
		return 2;
	}
	if (!quiet)
		printf("recheck: checking %zu listed addresses with %s check\n", targets.count,
		    binary);
	int checked = recheck_run_check(options, binary, file);
	unlink(file);
	if (checked != 0 && checked != 1) {
		fprintf(stderr, "relayguard list recheck: relayguard check failed (status %d); "
		    "listings left as they were\n", checked);
		return 2;
	}
	/* The new results started after `started`: that is all the sync has to read. */
	return run_sync(store, started, ttl, quiet, "recheck");
}

/* ---- main ------------------------------------------------------------------------------ */

/* list_main - parse the command line, open the store, run the command */
int
list_main(int argc, char **argv)
{
	struct list_options options;
	char err[ERR_SIZE] = "";
	bool help;
	bool quiet;
	int status = 2;

	if (!parse_args(argc, argv, &options, &help, &quiet, err, sizeof(err))) {
		fprintf(stderr, "relayguard list: %s\n", err);
		usage(stderr);
		return 2;
	}
	if (help) {
		usage(stdout);
		return 0;
	}
	log_init("relayguard-list", LOG_SINK_STDERR, quiet ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN);
	struct store *store = store_open(options.db, err, sizeof(err));
	if (store == NULL) {
		fprintf(stderr, "relayguard list: --db: %s\n", err);
		return 2;
	}
	switch (options.command) {
	case LIST_ADD: status = command_add(store, &options, quiet); break;
	case LIST_REMOVE: status = command_remove(store, &options, quiet); break;
	case LIST_SHOW:
		if (options.operand_count > 1) {
			fprintf(stderr, "relayguard list show: give at most one ADDRESS or CIDR\n");
			status = 2;
		} else if (options.operand_count == 1)
			status = show_one(store, options.operands[0], options.txt);
		else
			status = show_all(store);
		break;
	case LIST_EXPORT: status = command_export(store, &options, quiet); break;
	case LIST_IMPORT: status = command_import(store, &options, quiet); break;
	case LIST_SYNC: status = command_sync(store, &options, quiet); break;
	case LIST_RECHECK: status = command_recheck(store, &options, quiet); break;
	case LIST_COMMAND_COUNT: break;
	}
	store_close(store);
	return status;
}
