/* receiver_main.c - `relayguard receiver`: the --confirm receiver as a long-lived process.
 * Records every probe arrival in the store, so relays that deliver late still count. */
#include "check/receiver_main.h"

#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/receiver.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/smtp_path.h"
#include "core/store.h"

struct receiver_run {
	struct event_base *base;
	struct store *store;
	unsigned long arrivals;
	unsigned long matched;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard receiver --db URL --listen ADDR:PORT --probe-domain DOMAIN [-q|-v]\n"
	    "  Accepts mail for the probe domain only and records each probe token that\n"
	    "  arrives in the store, upgrading the result of the check that sent it.\n");
}

static void
arrival(void *arg, const char *token, const char *peer, const char *mail_from,
    const char *rcpt_to)
{
	struct receiver_run *run = arg;
	char err[512];
	bool matched = false;

	run->arrivals++;
	if (store_arrival_record(run->store, token, peer, mail_from, rcpt_to, (int64_t)time(NULL),
	    &matched, err, sizeof(err)) != 0) {
		log_error("event=store_failed token=%s error=\"%s\"", token, err);
		return;
	}
	if (matched)
		run->matched++;
	log_info("event=arrival_recorded token=%s peer=%s matched=%s", token, peer,
	    matched ? "yes" : "no");
}

static void
stop(void *arg, int signo)
{
	struct receiver_run *run = arg;

	log_info("event=stopping signal=%d arrivals=%lu matched=%lu", signo, run->arrivals,
	    run->matched);
	event_base_loopexit(run->base, NULL);
}

int
receiver_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "probe-domain", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *listen = NULL, *domain = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	struct receiver_run run = { 0 };
	char err[512];
	int option;

	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, ":qvh", options, NULL)) != -1) {
		switch (option) {
		case 'd': db = optarg; break;
		case 'l': listen = optarg; break;
		case 'p': domain = optarg; break;
		case 'q': level = LOG_LEVEL_WARN; break;
		case 'v': level = LOG_LEVEL_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "relayguard receiver: bad option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (db == NULL || listen == NULL || domain == NULL || optind != argc) {
		fprintf(stderr, "relayguard receiver: --db, --listen and --probe-domain are needed\n");
		usage(stderr);
		return 2;
	}
	if (!smtp_domain_is_valid(domain, strlen(domain))) {
		fprintf(stderr, "relayguard receiver: '%s' is not a valid domain\n", domain);
		return 2;
	}
	log_init("relayguard-receiver", LOG_SINK_STDERR, level);
	run.store = store_open(db, err, sizeof(err));
	if (run.store == NULL) {
		fprintf(stderr, "relayguard receiver: --db: %s\n", err);
		return 2;
	}
	run.base = event_loop_new();
	struct receiver *receiver = receiver_start(run.base, listen, domain, arrival, &run, err,
	    sizeof(err));
	if (receiver == NULL) {
		fprintf(stderr, "relayguard receiver: %s\n", err);
		store_close(run.store);
		event_base_free(run.base);
		return 2;
	}
	struct event_loop_signals *signals = event_loop_stop_on_signals(run.base, stop, &run);
	log_info("event=listening address=%s probe_domain=%s store=%s", listen, domain,
	    store_backend_name(run.store));
	event_base_dispatch(run.base);
	event_loop_signals_free(signals);
	receiver_free(receiver);
	store_close(run.store);
	event_base_free(run.base);
	return 0;
}
