/* check_run.c - drives one `relayguard check` run: pulls targets lazily from the source,
 * filters them (exclusions, shards, duplicates), runs probes within the limits, keeps results. */
#include "check/check_run.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/report.h"
#include "check/target.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/resolver.h"
#include "core/smtp_reply.h"

/* How far ahead of the probes the source is read: memory grows with concurrency only. */
#define QUEUE_AHEAD_FACTOR 2
#define EXPANSIONS_MAX 256

static void run_pump(struct check_run *run);

/* ---- results ----------------------------------------------------------------------- */

static void
keep_result(struct check_run *run, struct target_result *result)
{
	char tricks[256];
	char address[INET6_ADDRSTRLEN] = "-";

	run->counts.done++;
	run->counts.by_verdict[result->verdict]++;
	if (result->expanded)
		netaddr_format(&result->target.address, address, sizeof(address));
	report_tricks(result, tricks, sizeof(tricks));
	log_info("event=target_checked target=%s address=%s port=%u verdict=%s stage=%s "
		 "tricks=%s elapsed_ms=%llu", result->target.input, address,
	    (unsigned)result->target.port, verdict_name(result->verdict),
	    stage_name(result->stage) ? stage_name(result->stage) : "-",
	    tricks[0] ? tricks : "-", (unsigned long long)result->elapsed_ms);
	if (run->store != NULL)
		check_store_result(run, result);
	if (run->options.json) {
		report_json_write(stdout, result);
		result_free(result);
		return;
	}
	if (run->result_count == run->result_capacity) {
		run->result_capacity = run->result_capacity ? run->result_capacity * 2 : 16;
		run->results = xrealloc(run->results, run->result_capacity * sizeof(*run->results));
	}
	run->results[run->result_count++] = result;
}

/* unreached_result - a result for a target we never talked to (DNS, exclusion). */
static struct target_result *
unreached_result(const struct check_target *target, bool expanded, const char *reason)
{
	struct target_result *result = xcalloc(1, sizeof(*result));
	size_t count;
	const struct battery_test *tests = battery_all(&count);

	result->target = *target;
	result->expanded = expanded;
	clock_gettime(CLOCK_REALTIME, &result->started);
	result->test_count = count;
	for (size_t i = 0; i < count; i++)
		result->tests[i].test = &tests[i];
	result->verdict = VERDICT_UNREACHABLE;
	snprintf(result->reason, sizeof(result->reason), "%s", reason);
	return result;
}

/* ---- probes ------------------------------------------------------------------------ */

/* The argument a probe gets back: which run, and which probe it is. */
struct probe_slot {
	struct check_run *run;
	struct probe *probe;
};

static void
slot_done(void *arg, struct target_result *result)
{
	struct probe_slot *slot = arg;
	struct check_run *run = slot->run;

	for (size_t i = 0; i < run->active_count; i++) {
		if (run->active[i] == slot->probe) {
			run->active_count--;
			run->active[i] = run->active[run->active_count];
			run->active_address[i] = run->active_address[run->active_count];
			break;
		}
	}
	if (result->banner != NULL || result->ehlo != NULL) {
		result->have_software = software_recognise(result->banner, result->ehlo,
		    &result->software);
		if (result->have_software && run->advisories != NULL)
			result->advisory_count = advisory_db_match(run->advisories,
			    &result->software, result->advisories, RESULT_ADVISORIES_MAX);
	}
	keep_result(run, result);
	free(slot);
	run_pump(run);
}

/* slot_park - a probe waits for a greylist retry: it leaves the concurrency limit while the
 * retry queue (--retry-queue) has room. */
static bool
slot_park(void *arg, bool parking)
{
	struct probe_slot *slot = arg;
	struct check_run *run = slot->run;

	if (!parking) {
		run->parked_count--;
		return true;
	}
	if (run->parked_count >= run->options.retry_queue)
		return false;
	run->parked_count++;
	run_pump(run);
	return true;
}

/* connect_delay - --rate: reserve the next connection slot, return how long to wait. */
static uint64_t
connect_delay(void *arg)
{
	struct check_run *run = arg;
	uint64_t now = event_loop_now_ms();
	uint64_t interval = 1000u / run->options.rate;

	if (interval == 0) {
		/* Above 1000/s: let bursts of rate/1000 through per millisecond. */
		interval = 1;
	}
	uint64_t slot = run->next_connect_ms > now ? run->next_connect_ms : now;
	run->next_connect_ms = slot + interval;
	return slot - now;
}

/* address_busy - a probe is already talking to this address. */
static bool
address_busy(const struct check_run *run, const struct netaddr *address)
{
	for (size_t i = 0; i < run->active_count; i++)
		if (netaddr_equal(&run->active_address[i], address))
			return true;
	return false;
}

static void
start_probe(struct check_run *run, const struct check_target *target)
{
	struct probe_slot *slot = xcalloc(1, sizeof(*slot));

	if (run->active_count == run->active_capacity) {
		run->active_capacity = run->active_capacity ? run->active_capacity * 2 : 64;
		run->active = xrealloc(run->active, run->active_capacity * sizeof(*run->active));
		run->active_address = xrealloc(run->active_address,
		    run->active_capacity * sizeof(*run->active_address));
	}
	slot->run = run;
	run->active_address[run->active_count] = target->address;
	/* Registered before probe_start: a probe never finishes synchronously, but be exact. */
	run->active[run->active_count++] = NULL;
	slot->probe = probe_start(run->base, &run->probe_config, target, slot_done, slot);
	run->active[run->active_count - 1] = slot->probe;
}

/* ---- the queue --------------------------------------------------------------------- */

static void
queue_push(struct check_run *run, const struct check_target *target)
{
	if (run->queue_head + run->queue_count == run->queue_capacity) {
		if (run->queue_head > 0) {
			memmove(run->queue, run->queue + run->queue_head,
			    run->queue_count * sizeof(*run->queue));
			run->queue_head = 0;
		}
		if (run->queue_count == run->queue_capacity) {
			run->queue_capacity = run->queue_capacity ? run->queue_capacity * 2 : 64;
			run->queue = xrealloc(run->queue, run->queue_capacity * sizeof(*run->queue));
		}
	}
	run->queue[run->queue_head + run->queue_count++] = *target;
}

/* queue_take_startable - the first queued target whose address is free, or false. */
static bool
queue_take_startable(struct check_run *run, struct check_target *out)
{
	for (size_t i = 0; i < run->queue_count; i++) {
		struct check_target *candidate = &run->queue[run->queue_head + i];
		if (address_busy(run, &candidate->address))
			continue;
		*out = *candidate;
		/* Keep order: shift the ones before it by one. */
		memmove(run->queue + run->queue_head + 1, run->queue + run->queue_head,
		    i * sizeof(*run->queue));
		run->queue_head++;
		run->queue_count--;
		if (run->queue_count == 0)
			run->queue_head = 0;
		return true;
	}
	return false;
}

/* ---- admitting targets ------------------------------------------------------------- */

/* admit - filters every concrete target passes before it may be contacted.
 * explicit: the user typed this address itself (reserved ranges allowed then);
 * report_skips: say why a skipped target was skipped (not for addresses of a range). */
static void
admit(struct check_run *run, const struct check_target *target, bool explicit,
    bool report_skips)
{
	const struct netprefix *hit;
	char prefix[NETPREFIX_TEXT_MAX];
	char reason[RESULT_REASON_MAX];

	if (!target_shard_owns(&target->address, run->options.shard_index,
	    run->options.shard_count) || !target_seen_add(run->seen, &target->address,
	    target->port)) {
		run->counts.skipped++;
		return;
	}
	hit = netprefix_set_find(&run->exclusions, &target->address);
	if (hit != NULL) {
		netprefix_format(hit, prefix, sizeof(prefix));
		snprintf(reason, sizeof(reason), "excluded by --exclude (%s): never contacted",
		    prefix);
	} else if (!explicit && (hit = netprefix_set_find(&run->reserved, &target->address))) {
		netprefix_format(hit, prefix, sizeof(prefix));
		snprintf(reason, sizeof(reason), "reserved range %s is never scanned unless "
		    "named explicitly: give the address itself", prefix);
	}
	if (hit != NULL) {
		if (report_skips)
			keep_result(run, unreached_result(target, true, reason));
		else
			run->counts.skipped++;
		return;
	}
	queue_push(run, target);
}

static void
target_found(void *arg, const struct check_target *target)
{
	struct check_run *run = arg;

	if (run->closing || run->interrupted)
		return;
	admit(run, target, false, true);
	run_pump(run);
}

static void
target_done(void *arg, const char *input, enum target_expand_status status, const char *message)
{
	struct check_run *run = arg;

	run->expansions_pending--;
	if (run->closing || run->interrupted)
		return;
	if (status != TARGET_EXPAND_OK) {
		struct check_target target;
		memset(&target, 0, sizeof(target));
		snprintf(target.input, sizeof(target.input), "%s", input);
		keep_result(run, unreached_result(&target, false, message));
	}
	run_pump(run);
}

/* pull_source - read targets until the queue holds enough to keep every slot busy. */
static void
pull_source(struct check_run *run)
{
	struct target_source_entry entry;
	char err[TARGET_SOURCE_LINE_MAX + 128];
	size_t ahead = (size_t)run->options.concurrency * QUEUE_AHEAD_FACTOR;

	while (!run->source_ended && run->queue_count < ahead &&
	    run->expansions_pending < EXPANSIONS_MAX) {
		switch (target_source_next(run->source, &entry, err, sizeof(err))) {
		case TARGET_SOURCE_END:
			run->source_ended = true;
			break;
		case TARGET_SOURCE_ERROR:
			run->counts.input_errors++;
			log_error("event=bad_target detail=\"%s\"", err);
			break;
		case TARGET_SOURCE_NAME:
			run->expansions_pending++;
			target_expand(run->resolver, entry.input, run->options.port, target_found,
			    target_done, run);
			break;
		case TARGET_SOURCE_ADDRESS: {
			struct check_target target;
			memset(&target, 0, sizeof(target));
			snprintf(target.input, sizeof(target.input), "%s", entry.input);
			target.address = entry.address;
			target.port = entry.port ? entry.port : run->options.port;
			/* Addresses of a range are skipped silently; a typed address is reported. */
			bool from_range = strchr(entry.input, '/') != NULL;
			admit(run, &target, entry.named_explicitly, !from_range);
			break;
		}
		}
	}
}

/* run_pump - read ahead, start probes while there is room, stop when all is done. */
static void
run_pump(struct check_run *run)
{
	struct check_target target;

	if (run->closing)
		return;
	if (!run->interrupted)
		pull_source(run);
	while (!run->interrupted &&
	    run->active_count - run->parked_count < run->options.concurrency &&
	    queue_take_startable(run, &target))
		start_probe(run, &target);
	bool nothing_left = run->source_ended && run->expansions_pending == 0 &&
	    run->queue_count == 0;
	if ((nothing_left || run->interrupted) && run->active_count == 0)
		event_base_loopexit(run->base, NULL);
}

/* ---- entry points ------------------------------------------------------------------ */

static void
pump_soon(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_pump(arg);
}

void
check_run_start(struct check_run *run)
{
	run->started_ms = event_loop_now_ms();
	run->seen = target_seen_new();
	run->probe_config.park = slot_park;
	run->scratch_reply = xmalloc(sizeof(*run->scratch_reply));
	run->probe_config.scratch_reply = run->scratch_reply;
	if (run->options.rate > 0) {
		run->probe_config.connect_delay = connect_delay;
		run->probe_config.connect_delay_arg = run;
	}
	if (event_base_once(run->base, -1, EV_TIMEOUT, pump_soon, run, NULL) != 0)
		fatal("event=event_base_once_failed");
}

void
check_run_interrupt(struct check_run *run)
{
	run->interrupted = true;
	run->queue_count = 0;
	run->queue_head = 0;
	while (run->active_count > 0)
		probe_stop(run->active[run->active_count - 1]);
	run_pump(run);
}

void
check_run_token_arrived(struct check_run *run, const char *token, const char *peer)
{
	for (size_t i = 0; i < run->active_count; i++)
		if (run->active[i] != NULL && probe_token_arrived(run->active[i], token, peer))
			return;
	log_info("event=token_unknown token=%s peer=%s", token, peer);
}
