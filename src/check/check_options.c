/* check_options.c - getopt_long parsing of `relayguard check` with defaults and validation.
 * Bad input is a clear message on stderr and CHECK_OPTIONS_ERROR, never a guess. */
#include "check/check_options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/smtp_path.h"

#define DEFAULT_PORT 25
#define DEFAULT_VICTIM_DOMAIN "relay-victim.example.net"
#define DEFAULT_SENDER_LOCAL "relayguard"
#define DEFAULT_RECIPIENT_LOCAL "relaytest"
#define DEFAULT_HELO_FALLBACK "relayguard.invalid"
#define DEFAULT_GREETING_TIMEOUT_S 60
#define DEFAULT_REPLY_TIMEOUT_S 30
#define DEFAULT_DEADLINE_S 600
#define DEFAULT_GREYLIST_DELAY_S 60
#define DEFAULT_GREYLIST_RETRIES 3
#define DEFAULT_CONFIRM_WAIT_S 60
#define DEFAULT_CONCURRENCY 32
#define MAX_CONCURRENCY 100000
#define MAX_SECONDS 86400
#define DEFAULT_MAX_TARGETS (UINT64_C(1) << 24)
#define MAX_RATE 1000000

enum long_only_option {
	OPT_DNS = 1000,
	OPT_EXCLUDE,
	OPT_TESTS,
	OPT_DEPTH,
	OPT_CONFIRM,
	OPT_PROBE_DOMAIN,
	OPT_RECEIVER,
	OPT_CONFIRM_WAIT,
	OPT_VICTIM_DOMAIN,
	OPT_FROM,
	OPT_TO,
	OPT_HELO,
	OPT_GREETING_TIMEOUT,
	OPT_TIMEOUT,
	OPT_DEADLINE,
	OPT_GREYLIST_DELAY,
	OPT_GREYLIST_RETRIES,
	OPT_NO_STARTTLS,
	OPT_IMPLICIT_TLS,
	OPT_CONCURRENCY,
	OPT_ADVISORIES,
	OPT_JSON,
	OPT_TRANSCRIPT,
	OPT_MAX_TARGETS,
	OPT_SHARD,
	OPT_RATE,
	OPT_RETRY_QUEUE,
	OPT_DB,
	OPT_SINCE,
	OPT_NO_PROGRESS,
};

static const struct option long_options[] = {
	{ "port", required_argument, NULL, 'p' },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "tests", required_argument, NULL, OPT_TESTS },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "confirm", no_argument, NULL, OPT_CONFIRM },
	{ "probe-domain", required_argument, NULL, OPT_PROBE_DOMAIN },
	{ "receiver", required_argument, NULL, OPT_RECEIVER },
	{ "confirm-wait", required_argument, NULL, OPT_CONFIRM_WAIT },
	{ "victim-domain", required_argument, NULL, OPT_VICTIM_DOMAIN },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "helo", required_argument, NULL, OPT_HELO },
	{ "greeting-timeout", required_argument, NULL, OPT_GREETING_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "deadline", required_argument, NULL, OPT_DEADLINE },
	{ "greylist-delay", required_argument, NULL, OPT_GREYLIST_DELAY },
	{ "greylist-retries", required_argument, NULL, OPT_GREYLIST_RETRIES },
	{ "no-starttls", no_argument, NULL, OPT_NO_STARTTLS },
	{ "implicit-tls", no_argument, NULL, OPT_IMPLICIT_TLS },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "advisories", required_argument, NULL, OPT_ADVISORIES },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "transcript", no_argument, NULL, OPT_TRANSCRIPT },
	{ "file", required_argument, NULL, 'f' },
	{ "max-targets", required_argument, NULL, OPT_MAX_TARGETS },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "retry-queue", required_argument, NULL, OPT_RETRY_QUEUE },
	{ "db", required_argument, NULL, OPT_DB },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void
check_options_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard check [OPTIONS] TARGET...\n"
	    "       relayguard check --db URL --since WHEN [TARGET...]\n"
	    "  TARGET: host, host:port, IPv4, IPv6, [IPv6]:port, a CIDR range or a mail domain\n"
	    "  -f, --file FILE           more targets, one per line ('-' = standard input)\n"
	    "  -p, --port N              port for targets without one (25)\n"
	    "  --max-targets N           largest CIDR range accepted (16777216)\n"
	    "  --shard K/N               check only the K-th of N shards of the targets\n"
	    "  --rate N                  new connections per second (unlimited)\n"
	    "  --retry-queue N           greylisted targets waiting at once (4 x concurrency)\n"
	    "  --db URL                  record results: SQLite file or postgresql:// URL\n"
	    "  --since WHEN              with --db: show stored results since WHEN\n"
	    "  --no-progress             no live status line on a terminal\n"
	    "  --dns ADDR[:PORT]         DNS server to use (default: /etc/resolv.conf)\n"
	    "  --exclude FILE            addresses and CIDRs never to contact\n"
	    "  --tests LIST              ids or classes to run: S01,R05 or S,R,N,X (all)\n"
	    "  --depth rcpt|data         stop at RCPT, or send a test message (data)\n"
	    "  --confirm                 prove delivery (needs --probe-domain, --receiver)\n"
	    "  --probe-domain DOMAIN     domain whose mail reaches --receiver\n"
	    "  --receiver ADDR:PORT      where the built-in receiver listens\n"
	    "  --confirm-wait SECONDS    wait for probe messages (60)\n"
	    "  --victim-domain DOMAIN    third-party domain (relay-victim.example.net)\n"
	    "  --from ADDRESS            sender local part (relayguard)\n"
	    "  --to LOCAL                recipient local part (relaytest)\n"
	    "  --helo NAME               EHLO/HELO name (this host's name)\n"
	    "  --greeting-timeout SEC    wait for the whole banner (60)\n"
	    "  --timeout SEC             wait for each reply (30)\n"
	    "  --deadline SEC            hard limit per target (600)\n"
	    "  --greylist-delay SEC      wait before retrying a 4xx (60)\n"
	    "  --greylist-retries N      retries of a 4xx (3)\n"
	    "  --no-starttls             never use STARTTLS\n"
	    "  --implicit-tls            TLS from the first byte (SMTPS; always on port 465)\n"
	    "  --concurrency N           targets checked at once (32)\n"
	    "  --advisories FILE         banner advisory data file\n"
	    "  --json                    one JSON object per target per line\n"
	    "  --transcript              print every transcript after the table\n"
	    "  -q, --quiet               only errors on stderr\n"
	    "  -v, --verbose             debug lines on stderr\n"
	    "exit status: 0 no open relay, 1 open relay found, 2 usage or runtime error\n");
}

/* parse_number - a decimal integer within [minimum, maximum]; false and a message if not. */
static bool
parse_number(const char *option, const char *text, unsigned long minimum, unsigned long maximum,
    unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long value = strtoul(text, &end, 10);
	if (text[0] == '\0' || text[0] == '-' || *end != '\0' || errno != 0 ||
	    value < minimum || value > maximum) {
		fprintf(stderr, "relayguard check: %s wants a number from %lu to %lu, not '%s'\n",
		    option, minimum, maximum, text);
		return false;
	}
	*out = value;
	return true;
}

/* parse_seconds - a number of seconds into milliseconds. */
static bool
parse_seconds(const char *option, const char *text, unsigned long minimum, uint64_t *out)
{
	unsigned long value;

	if (!parse_number(option, text, minimum, MAX_SECONDS, &value))
		return false;
	*out = (uint64_t)value * 1000u;
	return true;
}

/* valid_domain - an RFC 5321 domain with at least one dot? No: any valid domain. */
static bool
valid_domain(const char *option, const char *text)
{
	if (!smtp_domain_is_valid(text, strlen(text))) {
		fprintf(stderr, "relayguard check: %s: '%s' is not a valid domain name\n", option,
		    text);
		return false;
	}
	return true;
}

/* valid_local_part - a Dot-string local part (the battery quotes and mangles it itself). */
static bool
valid_local_part(const char *option, const char *text, size_t length)
{
	if (length == 0 || length > 64 || smtp_local_part_needs_quoting(text, length)) {
		fprintf(stderr, "relayguard check: %s: '%.*s' is not a plain local part "
		    "(letters, digits and !#$%%&'*+-/=?^_`{|}~ separated by dots)\n",
		    option, (int)length, text);
		return false;
	}
	return true;
}

/* parse_shard - "K/N" with 1 <= K <= N. */
static bool
parse_shard(const char *text, struct check_options *options)
{
	unsigned index, count;
	char tail;

	if (sscanf(text, "%u/%u%c", &index, &count, &tail) != 2 || count == 0 || index == 0 ||
	    index > count || count > 65536) {
		fprintf(stderr, "relayguard check: --shard wants K/N with 1 <= K <= N, not '%s'\n",
		    text);
		return false;
	}
	options->shard_index = index;
	options->shard_count = count;
	return true;
}

/* parse_since - "2026-11-01", "2026-11-01T12:00:00Z", or a duration back from now:
 * "90m", "24h", "7d". */
static bool
parse_since(const char *text, int64_t *out)
{
	struct tm tm;
	char unit;
	unsigned long amount;
	char tail;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(text, "%lu%c%c", &amount, &unit, &tail) == 2 &&
	    (unit == 'm' || unit == 'h' || unit == 'd')) {
		int64_t seconds = (int64_t)amount * (unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400);
		*out = (int64_t)time(NULL) - seconds;
		return true;
	}
	const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(text, "%Y-%m-%d", &tm);
	}
	if (end == NULL || *end != '\0') {
		fprintf(stderr, "relayguard check: --since wants YYYY-MM-DD, "
		    "YYYY-MM-DDTHH:MM:SSZ or 90m/24h/7d, not '%s'\n", text);
		return false;
	}
	*out = (int64_t)timegm(&tm);
	return true;
}

/* set_defaults - everything not given on the command line. */
static void
set_defaults(struct check_options *options)
{
	memset(options, 0, sizeof(*options));
	options->port = DEFAULT_PORT;
	for (size_t i = 0; i < BATTERY_SIZE; i++)
		options->selected[i] = true;
	options->depth = DEPTH_DATA;
	options->confirm_wait_ms = DEFAULT_CONFIRM_WAIT_S * 1000u;
	options->victim_domain = DEFAULT_VICTIM_DOMAIN;
	snprintf(options->sender_local, sizeof(options->sender_local), "%s",
	    DEFAULT_SENDER_LOCAL);
	options->recipient_local = DEFAULT_RECIPIENT_LOCAL;
	options->greeting_timeout_ms = DEFAULT_GREETING_TIMEOUT_S * 1000u;
	options->reply_timeout_ms = DEFAULT_REPLY_TIMEOUT_S * 1000u;
	options->deadline_ms = DEFAULT_DEADLINE_S * 1000u;
	options->greylist_delay_ms = DEFAULT_GREYLIST_DELAY_S * 1000u;
	options->greylist_retries = DEFAULT_GREYLIST_RETRIES;
	options->starttls_allowed = true;
	options->concurrency = DEFAULT_CONCURRENCY;
	options->max_targets = DEFAULT_MAX_TARGETS;
	options->progress = true;
	if (gethostname(options->helo_name, sizeof(options->helo_name) - 1) != 0 ||
	    !smtp_domain_is_valid(options->helo_name, strlen(options->helo_name)) ||
	    strchr(options->helo_name, '.') == NULL)
		snprintf(options->helo_name, sizeof(options->helo_name), "%s",
		    DEFAULT_HELO_FALLBACK);
}

/* set_sender - --from ADDRESS or LOCAL: the local part is s, the whole is the From: header. */
static bool
set_sender(struct check_options *options, const char *text)
{
	const char *at = strrchr(text, '@');
	size_t local_length = at ? (size_t)(at - text) : strlen(text);

	if (!valid_local_part("--from", text, local_length))
		return false;
	if (at != NULL && !valid_domain("--from", at + 1))
		return false;
	snprintf(options->sender_local, sizeof(options->sender_local), "%.*s", (int)local_length,
	    text);
	if (at != NULL)
		snprintf(options->message_from, sizeof(options->message_from), "%s", text);
	return true;
}

enum check_options_status
check_options_parse(int argc, char **argv, struct check_options *options)
{
	unsigned long number;
	char err[256];
	int option;

	set_defaults(options);
	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, ":p:f:qvh", long_options, NULL)) != -1) {
		switch (option) {
		case 'p':
			if (!parse_number("--port", optarg, 1, 65535, &number))
				return CHECK_OPTIONS_ERROR;
			options->port = (uint16_t)number;
			break;
		case OPT_DNS:
			options->dns_server = optarg;
			break;
		case OPT_EXCLUDE:
			options->exclude_file = optarg;
			break;
		case OPT_TESTS:
			if (!battery_select(optarg, options->selected, err, sizeof(err))) {
				fprintf(stderr, "relayguard check: --tests: %s\n", err);
				return CHECK_OPTIONS_ERROR;
			}
			break;
		case OPT_DEPTH:
			if (strcmp(optarg, "rcpt") == 0) {
				options->depth = DEPTH_RCPT;
			} else if (strcmp(optarg, "data") == 0) {
				options->depth = DEPTH_DATA;
			} else {
				fprintf(stderr, "relayguard check: --depth is rcpt or data, not '%s'\n",
				    optarg);
				return CHECK_OPTIONS_ERROR;
			}
			break;
		case OPT_CONFIRM:
			options->confirm = true;
			break;
		case OPT_PROBE_DOMAIN:
			if (!valid_domain("--probe-domain", optarg))
				return CHECK_OPTIONS_ERROR;
			options->probe_domain = optarg;
			break;
		case OPT_RECEIVER:
			options->receiver_address = optarg;
			break;
		case OPT_CONFIRM_WAIT:
			if (!parse_seconds("--confirm-wait", optarg, 0, &options->confirm_wait_ms))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_VICTIM_DOMAIN:
			if (!valid_domain("--victim-domain", optarg))
				return CHECK_OPTIONS_ERROR;
			options->victim_domain = optarg;
			break;
		case OPT_FROM:
			if (!set_sender(options, optarg))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_TO:
			if (!valid_local_part("--to", optarg, strlen(optarg)))
				return CHECK_OPTIONS_ERROR;
			options->recipient_local = optarg;
			break;
		case OPT_HELO:
			if (!valid_domain("--helo", optarg))
				return CHECK_OPTIONS_ERROR;
			snprintf(options->helo_name, sizeof(options->helo_name), "%s", optarg);
			break;
		case OPT_GREETING_TIMEOUT:
			if (!parse_seconds("--greeting-timeout", optarg, 1,
			    &options->greeting_timeout_ms))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_TIMEOUT:
			if (!parse_seconds("--timeout", optarg, 1, &options->reply_timeout_ms))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_DEADLINE:
			if (!parse_seconds("--deadline", optarg, 1, &options->deadline_ms))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_GREYLIST_DELAY:
			if (!parse_seconds("--greylist-delay", optarg, 0, &options->greylist_delay_ms))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_GREYLIST_RETRIES:
			if (!parse_number("--greylist-retries", optarg, 0, 100, &number))
				return CHECK_OPTIONS_ERROR;
			options->greylist_retries = (unsigned)number;
			break;
		case OPT_NO_STARTTLS:
			options->starttls_allowed = false;
			break;
		case OPT_IMPLICIT_TLS:
			options->implicit_tls = true;
			break;
		case OPT_CONCURRENCY:
			if (!parse_number("--concurrency", optarg, 1, MAX_CONCURRENCY, &number))
				return CHECK_OPTIONS_ERROR;
			options->concurrency = (unsigned)number;
			break;
		case OPT_ADVISORIES:
			options->advisories_file = optarg;
			break;
		case OPT_JSON:
			options->json = true;
			break;
		case OPT_TRANSCRIPT:
			options->transcript = true;
			break;
		case 'f':
			if (options->file_count == CHECK_OPTIONS_FILES_MAX) {
				fprintf(stderr, "relayguard check: at most %d -f files\n",
				    CHECK_OPTIONS_FILES_MAX);
				return CHECK_OPTIONS_ERROR;
			}
			options->files[options->file_count++] = optarg;
			break;
		case OPT_MAX_TARGETS:
			if (!parse_number("--max-targets", optarg, 1, ULONG_MAX, &number))
				return CHECK_OPTIONS_ERROR;
			options->max_targets = number;
			break;
		case OPT_SHARD:
			if (!parse_shard(optarg, options))
				return CHECK_OPTIONS_ERROR;
			break;
		case OPT_RATE:
			if (!parse_number("--rate", optarg, 0, MAX_RATE, &number))
				return CHECK_OPTIONS_ERROR;
			options->rate = (unsigned)number;
			break;
		case OPT_RETRY_QUEUE:
			if (!parse_number("--retry-queue", optarg, 0, MAX_CONCURRENCY * 4, &number))
				return CHECK_OPTIONS_ERROR;
			options->retry_queue = (unsigned)number;
			options->retry_queue_set = true;
			break;
		case OPT_DB:
			options->db_url = optarg;
			break;
		case OPT_SINCE:
			if (!parse_since(optarg, &options->since))
				return CHECK_OPTIONS_ERROR;
			options->history = true;
			break;
		case OPT_NO_PROGRESS:
			options->progress = false;
			break;
		case 'q':
			options->quiet = true;
			break;
		case 'v':
			options->verbose = true;
			break;
		case 'h':
			check_options_usage(stdout);
			return CHECK_OPTIONS_HELP;
		case ':':
			fprintf(stderr, "relayguard check: option '%s' needs a value\n",
			    argv[optind - 1]);
			return CHECK_OPTIONS_ERROR;
		default:
			fprintf(stderr, "relayguard check: unknown option '%s'\n", argv[optind - 1]);
			check_options_usage(stderr);
			return CHECK_OPTIONS_ERROR;
		}
	}
	options->targets = argv + optind;
	options->target_count = argc - optind;
	if (!options->retry_queue_set)
		options->retry_queue = options->concurrency * 4;
	if (options->history) {
		if (options->db_url == NULL) {
			fprintf(stderr, "relayguard check: --since reads the store: give --db too\n");
			return CHECK_OPTIONS_ERROR;
		}
		return CHECK_OPTIONS_OK;
	}
	if (options->target_count == 0 && options->file_count == 0) {
		fprintf(stderr, "relayguard check: no target given\n");
		check_options_usage(stderr);
		return CHECK_OPTIONS_ERROR;
	}
	if (options->confirm && (options->probe_domain == NULL ||
	    (options->receiver_address == NULL && options->db_url == NULL))) {
		fprintf(stderr, "relayguard check: --confirm needs --probe-domain, and --receiver "
		    "(built-in receiver) or --db (arrivals recorded by relayguard receiver)\n");
		return CHECK_OPTIONS_ERROR;
	}
	if (!options->confirm && (options->probe_domain != NULL ||
	    options->receiver_address != NULL)) {
		fprintf(stderr, "relayguard check: --probe-domain and --receiver only make sense "
		    "with --confirm\n");
		return CHECK_OPTIONS_ERROR;
	}
	if (options->confirm && options->depth == DEPTH_RCPT) {
		fprintf(stderr, "relayguard check: --confirm sends messages; it cannot be used "
		    "with --depth rcpt\n");
		return CHECK_OPTIONS_ERROR;
	}
	if (options->message_from[0] == '\0')
		snprintf(options->message_from, sizeof(options->message_from), "%s@%s",
		    options->sender_local, options->helo_name);
	return CHECK_OPTIONS_OK;
}
