/* queue_manager.c - the queue manager thread: scans the spool at start, schedules messages,
 * drives the delivery agents, retries with backoff, expires, bounces, removes. Owns its own
 * event loop. A queue file is removed only when every recipient is delivered or failed. */
#include "smtpd/queue_manager.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "core/resolver.h"
#include "core/smtp_path.h"
#include "smtpd/bounce.h"
#include "smtpd/deliver.h"
#include "smtpd/queue_file.h"
#include "smtpd/users.h"

#define MS_PER_SECOND 1000
#define NS_PER_MS 1000000
/* Queue files larger than this are not mapped (the session's size limit is far below). */
#define QUEUE_FILE_SIZE_MAX ((uint64_t)1 << 34)
/* Room for log values built from addresses and diagnostics. */
#define LOG_VALUE_MAX 700

/* One queued message the manager knows about. */
struct entry {
	char id[QUEUE_ID_MAX];
	enum queue_area area;
	uint64_t due_ms;		/* wall clock of the next attempt */
	size_t heap_index;
};

struct job;

/* One SMTP/LMTP transaction of a job: a subset of its recipients. */
struct transaction {
	struct job *job;
	struct deliver_smtp *handle;	/* NULL once done */
	size_t *indexes;		/* into the job's recipients */
	const char **addresses;
	struct deliver_result *results;
	size_t count;
	char domain[SMTP_DOMAIN_MAX + 1];
	struct hostport literal;	/* for a domain that is an address literal */
};

/* One delivery attempt of one message. */
struct job {
	struct queue_manager *manager;
	struct entry *entry;
	int fd;
	char *map;
	size_t map_length;
	struct queue_file file;
	char *mail_from;		/* NUL-terminated copies */
	char **addresses;
	struct deliver_result *results;	/* per recipient */
	bool *attempted;		/* pending when the attempt began */
	struct transaction *transactions;
	size_t transaction_count;
	size_t outstanding;		/* transactions in flight */
	uint64_t started_ms;
	TAILQ_ENTRY(job) link;
};

TAILQ_HEAD(job_list, job);

struct queue_manager {
	const struct smtpd_config *config;
	const struct queue_spool *spool;
	struct event_base *base;
	struct resolver *resolver;
	struct deliver_smtp_cache *connections;
	struct user_table *users;
	bool have_next_hop;
	enum next_hop_protocol next_hop_protocol;
	struct hostport next_hop;

	pthread_t thread;
	bool thread_started;
	int wake_fd;
	struct event *wake_event;
	struct event *timer;
	struct event *pump_event;

	pthread_mutex_t lock;		/* guards the three fields below */
	char (*submitted)[QUEUE_ID_MAX];
	size_t submitted_count;
	size_t submitted_capacity;
	bool stopping;

	struct entry **heap;		/* waiting entries, earliest due first */
	size_t heap_count;
	size_t heap_capacity;
	struct job_list jobs;
	size_t running;
};

/* queue_manager_next_delay - back off by the message's age, within the configured bounds. */
uint64_t
queue_manager_next_delay(uint64_t age_ms, uint64_t retry_min_ms, uint64_t retry_max_ms)
{
	uint64_t delay = age_ms;

	if (delay < retry_min_ms)
		delay = retry_min_ms;
	if (delay > retry_max_ms)
		delay = retry_max_ms;
	if (delay == 0)
		delay = 1;
	return delay;
}

/* ---- the schedule: a binary min-heap on due_ms ---- */

/* heap_swap - exchange two heap slots, keeping their indexes right. */
static void
heap_swap(struct queue_manager *manager, size_t a, size_t b)
{
	struct entry *t = manager->heap[a];

	manager->heap[a] = manager->heap[b];
	manager->heap[b] = t;
	manager->heap[a]->heap_index = a;
	manager->heap[b]->heap_index = b;
}

/* heap_push - schedule an entry. */
static void
heap_push(struct queue_manager *manager, struct entry *entry)
{
	size_t i;

	if (manager->heap_count == manager->heap_capacity) {
		manager->heap_capacity = manager->heap_capacity == 0 ? 64 :
		    manager->heap_capacity * 2;
		manager->heap = xrealloc(manager->heap,
		    manager->heap_capacity * sizeof(manager->heap[0]));
	}
	i = manager->heap_count++;
	manager->heap[i] = entry;
	entry->heap_index = i;
	while (i > 0 && manager->heap[(i - 1) / 2]->due_ms > manager->heap[i]->due_ms) {
		heap_swap(manager, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* heap_pop - take the earliest entry. */
static struct entry *
heap_pop(struct queue_manager *manager)
{
	struct entry *top = manager->heap[0];
	size_t i = 0;

	manager->heap_count--;
	if (manager->heap_count > 0) {
		manager->heap[0] = manager->heap[manager->heap_count];
		manager->heap[0]->heap_index = 0;
	}
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, smallest = i;

		if (left < manager->heap_count &&
		    manager->heap[left]->due_ms < manager->heap[smallest]->due_ms)
			smallest = left;
		if (right < manager->heap_count &&
		    manager->heap[right]->due_ms < manager->heap[smallest]->due_ms)
			smallest = right;
		if (smallest == i)
			break;
		heap_swap(manager, i, smallest);
		i = smallest;
	}
	return top;
}

/* entry_new - a message to deliver at due_ms. */
static struct entry *
entry_new(const char *id, enum queue_area area, uint64_t due_ms)
{
	struct entry *entry = xcalloc(1, sizeof(*entry));

	snprintf(entry->id, sizeof(entry->id), "%s", id);
	entry->area = area;
	entry->due_ms = due_ms;
	return entry;
}

/* schedule_pump - run pump() soon, from the loop (never re-entrantly). */
static void
schedule_pump(struct queue_manager *manager)
{
	event_active(manager->pump_event, EV_TIMEOUT, 0);
}

/* ---- logging ---- */

/* log_result - one key=value line per recipient and attempt. */
static void
log_result(const struct job *job, size_t i, const char *event, const char *status,
    const char *diagnostic)
{
	const struct queue_file_recipient *r = &job->file.recipients[i];
	char to[LOG_VALUE_MAX], diag[LOG_VALUE_MAX], remote[LOG_VALUE_MAX];

	log_escape(r->address, r->address_length, to, sizeof(to));
	log_escape(diagnostic, strlen(diagnostic), diag, sizeof(diag));
	if (job->results[i].remote[0] != '\0')
		log_escape(job->results[i].remote, strlen(job->results[i].remote), remote,
		    sizeof(remote));
	else
		snprintf(remote, sizeof(remote), "-");
	log_info("queue_id=%s event=%s to=%s relay=%s remote=%s status=%s delay_ms=%" PRIu64
	    " diagnostic=%s", job->file.id, event, to, queue_file_decision_name(r->decision),
	    remote, status,
	    job->started_ms > job->file.arrival_ms ? job->started_ms - job->file.arrival_ms : 0,
	    diag);
}

/* ---- bounces ---- */

/* bounce_decision - how the DSN reaches the sender: our domain, a relay domain, outbound. */
static enum relay_decision
bounce_decision(const struct queue_manager *manager, const char *domain)
{
	if (smtpd_config_is_local_domain(manager->config, domain, strlen(domain)))
		return RELAY_LOCAL;
	if (smtpd_config_is_relay_domain(manager->config, domain, strlen(domain)))
		return RELAY_FORWARD;
	return RELAY_OUTBOUND;
}

/* queue_bounce - build the DSN for the failed recipients and store it durably in the queue
 * (from <>, so it is never bounced itself). false when it could not be stored. */
static bool
queue_bounce(struct job *job, const size_t *failed, size_t failed_count)
{
	struct queue_manager *manager = job->manager;
	struct bounce_recipient *recipients = xcalloc(failed_count, sizeof(*recipients));
	struct bounce_request request;
	struct queue_recipient to;
	char id[QUEUE_ID_MAX], err[256];
	const char *at = strrchr(job->mail_from, '@');
	char *message, *envelope;
	size_t message_length, envelope_size;
	long envelope_length;
	bool ok = false, eight_bit = false;

	if (at == NULL || at[1] == '\0') {
		log_warn("queue_id=%s event=dsn_dropped reason=\"sender has no domain\"",
		    job->file.id);
		free(recipients);
		return true;
	}
	for (size_t k = 0; k < failed_count; k++) {
		size_t i = failed[k];

		recipients[k].address = job->file.recipients[i].address;
		recipients[k].address_length = job->file.recipients[i].address_length;
		recipients[k].status = job->results[i].status;
		recipients[k].diagnostic = job->results[i].diagnostic;
		recipients[k].remote_mta = job->results[i].remote;
	}
	queue_id_generate(id);
	memset(&request, 0, sizeof(request));
	request.reporting_mta = manager->config->hostname;
	request.original_queue_id = job->file.id;
	request.bounce_queue_id = id;
	request.sender = job->mail_from;
	request.sender_length = strlen(job->mail_from);
	request.arrival_ms = job->file.arrival_ms;
	request.now_ms = queue_wall_ms();
	request.recipients = recipients;
	request.recipient_count = failed_count;
	request.original = job->file.message;
	request.original_length = job->file.message_length;
	message = bounce_build(&request, &message_length);
	free(recipients);
	if (message == NULL) {
		log_warn("queue_id=%s event=dsn_dropped reason=\"cannot build a DSN\"",
		    job->file.id);
		return true;
	}
	for (size_t k = 0; k < message_length && !eight_bit; k++)
		eight_bit = (unsigned char)message[k] >= 0x80;
	to.address = job->mail_from;
	to.decision = bounce_decision(manager, at + 1);
	envelope_size = queue_file_envelope_size("", &to, 1);
	envelope = xmalloc(envelope_size);
	envelope_length = queue_file_write_envelope(envelope, envelope_size, id,
	    request.now_ms, "", eight_bit, &to, 1);
	if (envelope_length < 0) {
		log_warn("queue_id=%s event=dsn_dropped reason=\"sender cannot be queued\"",
		    job->file.id);
		ok = true;
	} else if (!queue_spool_store(manager->spool, id, envelope, (size_t)envelope_length,
	    message, message_length, err, sizeof(err))) {
		log_error("queue_id=%s event=dsn_store_failed error=\"%s\"", job->file.id, err);
	} else {
		log_info("queue_id=%s event=dsn_queued dsn_queue_id=%s recipients=%zu",
		    job->file.id, id, failed_count);
		heap_push(manager, entry_new(id, QUEUE_AREA_INCOMING, request.now_ms));
		ok = true;
	}
	free(envelope);
	free(message);
	return ok;
}

/* ---- one attempt ---- */

/* job_free - release an attempt's resources (not its entry). */
static void
job_free(struct job *job)
{
	for (size_t t = 0; t < job->transaction_count; t++) {
		if (job->transactions[t].handle != NULL)
			deliver_smtp_abort(job->transactions[t].handle);
		free(job->transactions[t].indexes);
		free(job->transactions[t].addresses);
		free(job->transactions[t].results);
	}
	free(job->transactions);
	if (job->addresses != NULL)
		for (size_t i = 0; i < job->file.recipient_count; i++)
			free(job->addresses[i]);
	free(job->addresses);
	free(job->mail_from);
	free(job->results);
	free(job->attempted);
	queue_file_free(&job->file);
	if (job->map != NULL)
		munmap(job->map, job->map_length);
	if (job->fd >= 0)
		close(job->fd);
	free(job);
}

/* job_done - the attempt is over: its slot is free for the next message. */
static void
job_done(struct job *job)
{
	struct queue_manager *manager = job->manager;

	TAILQ_REMOVE(&manager->jobs, job, link);
	manager->running--;
	job_free(job);
	schedule_pump(manager);
}

/* mark - rewrite a recipient's status byte in place. */
static bool
mark(struct job *job, size_t i, enum queue_rcpt_status status)
{
	char byte = (char)status;

	return pwrite(job->fd, &byte, 1, (off_t)job->file.recipients[i].status_offset) == 1;
}

/* job_finish - record the results: remove, or write progress and defer. */
static void
job_finish(struct job *job)
{
	struct queue_manager *manager = job->manager;
	const struct smtpd_config *config = manager->config;
	struct entry *entry = job->entry;
	uint64_t now = queue_wall_ms();
	uint64_t age = now > job->file.arrival_ms ? now - job->file.arrival_ms : 0;
	bool expired = age >= config->queue_lifetime_ms;
	size_t count = job->file.recipient_count, failed_count = 0, pending = 0;
	size_t *failed = xcalloc(count, sizeof(*failed));
	enum queue_rcpt_status *status = xcalloc(count, sizeof(*status));
	bool changed = false, write_ok = true;

	for (size_t i = 0; i < count; i++) {
		struct deliver_result *r = &job->results[i];

		status[i] = job->file.recipients[i].status;
		if (!job->attempted[i])
			continue;
		if (r->outcome == DELIVER_OK) {
			status[i] = QUEUE_RCPT_DELIVERED;
			log_result(job, i, "delivered", r->status, r->diagnostic);
		} else if (r->outcome == DELIVER_PERMANENT) {
			status[i] = QUEUE_RCPT_FAILED;
			failed[failed_count++] = i;
			log_result(job, i, "bounced", r->status, r->diagnostic);
		} else if (expired) {
			char last[DELIVER_DIAGNOSTIC_MAX];

			snprintf(last, sizeof(last), "%s", r->diagnostic);
			deliver_result_set(r, DELIVER_PERMANENT, "4.4.7",
			    "message expired after %" PRIu64 " s in the queue; last error: %s",
			    age / MS_PER_SECOND, last);
			status[i] = QUEUE_RCPT_FAILED;
			failed[failed_count++] = i;
			log_result(job, i, "expired", r->status, r->diagnostic);
		} else {
			log_result(job, i, "deferred", r->status, r->diagnostic);
		}
	}
	if (failed_count > 0) {
		if (job->mail_from[0] == '\0') {
			log_info("queue_id=%s event=dsn_skipped reason=null_sender recipients=%zu",
			    job->file.id, failed_count);
		} else if (!queue_bounce(job, failed, failed_count)) {
			/* Keep them: the next attempt fails again and bounces then. */
			for (size_t k = 0; k < failed_count; k++)
				status[failed[k]] = QUEUE_RCPT_PENDING;
		}
	}
	for (size_t i = 0; i < count; i++) {
		if (status[i] == QUEUE_RCPT_PENDING)
			pending++;
		if (status[i] != job->file.recipients[i].status)
			changed = true;
	}
	free(failed);
	if (pending == 0) {
		char id[QUEUE_ID_MAX];

		snprintf(id, sizeof(id), "%s", entry->id);
		free(entry);
		free(status);
		/* Unmapped and closed first: a removed file may be reused by the next message at
		 * once (queue_spool_remove). Not synced: a crash before the removal reaches the
		 * disk means one duplicate. */
		job_done(job);
		if (!queue_spool_remove(manager->spool, QUEUE_AREA_ACTIVE, id))
			log_error("queue_id=%s event=remove_failed error=\"%s\"", id,
			    strerror(errno));
		else
			log_info("queue_id=%s event=removed", id);
		return;
	}
	if (changed) {
		for (size_t i = 0; i < count && write_ok; i++)
			if (status[i] != job->file.recipients[i].status)
				write_ok = mark(job, i, status[i]);
		if (!write_ok || fdatasync(job->fd) != 0)
			log_error("queue_id=%s event=progress_write_failed error=\"%s\"", entry->id,
			    strerror(errno));
	}
	free(status);
	entry->due_ms = now + queue_manager_next_delay(age, config->retry_min_ms,
	    config->retry_max_ms);
	{
		struct timespec times[2];

		times[0].tv_sec = times[1].tv_sec = (time_t)(entry->due_ms / MS_PER_SECOND);
		times[0].tv_nsec = times[1].tv_nsec = (long)(entry->due_ms % MS_PER_SECOND) *
		    NS_PER_MS;
		if (futimens(job->fd, times) != 0)
			log_warn("queue_id=%s event=schedule_write_failed error=\"%s\"", entry->id,
			    strerror(errno));
	}
	if (queue_spool_move(manager->spool, entry->id, QUEUE_AREA_ACTIVE, QUEUE_AREA_DEFERRED))
		entry->area = QUEUE_AREA_DEFERRED;
	log_info("queue_id=%s event=scheduled pending=%zu retry_in_ms=%" PRIu64, entry->id,
	    pending, entry->due_ms - now);
	heap_push(manager, entry);
	job_done(job);
}

/* transaction_done - a delivery agent reported: copy its results into the job. */
static void
transaction_done(void *arg)
{
	struct transaction *transaction = arg;
	struct job *job = transaction->job;

	transaction->handle = NULL;
	for (size_t k = 0; k < transaction->count; k++)
		job->results[transaction->indexes[k]] = transaction->results[k];
	if (--job->outstanding == 0)
		job_finish(job);
}

/* transaction_for - the transaction that carries domain (all remote recipients share one
 * when a next hop is set: domain is then ""). */
static struct transaction *
transaction_for(struct job *job, const char *domain)
{
	struct transaction *t;

	for (size_t k = 0; k < job->transaction_count; k++)
		if (strcasecmp(job->transactions[k].domain, domain) == 0)
			return &job->transactions[k];
	t = &job->transactions[job->transaction_count++];
	memset(t, 0, sizeof(*t));
	t->job = job;
	snprintf(t->domain, sizeof(t->domain), "%s", domain);
	t->indexes = xcalloc(job->file.recipient_count, sizeof(*t->indexes));
	t->addresses = xcalloc(job->file.recipient_count, sizeof(*t->addresses));
	t->results = xcalloc(job->file.recipient_count, sizeof(*t->results));
	return t;
}

/* route_remote - group the pending remote recipients into transactions; recipients with
 * no route get a temporary result now. */
static void
route_remote(struct job *job)
{
	struct queue_manager *manager = job->manager;

	for (size_t i = 0; i < job->file.recipient_count; i++) {
		struct transaction *t;
		const char *at;

		if (!job->attempted[i] || job->file.recipients[i].decision == RELAY_LOCAL)
			continue;
		at = strrchr(job->addresses[i], '@');
		if (manager->have_next_hop) {
			t = transaction_for(job, "");
		} else if (!manager->config->direct_mx) {
			deliver_result_set(&job->results[i], DELIVER_TEMPORARY, "4.3.5",
			    "no route: next_hop is empty and direct_mx is off");
			continue;
		} else if (at == NULL || at[1] == '\0' || strlen(at + 1) > SMTP_DOMAIN_MAX) {
			deliver_result_set(&job->results[i], DELIVER_PERMANENT, "5.1.3",
			    "recipient address has no usable domain");
			continue;
		} else {
			t = transaction_for(job, at + 1);
		}
		t->indexes[t->count] = i;
		t->addresses[t->count] = job->addresses[i];
		t->count++;
	}
}

/* start_transactions - hand every transaction to the SMTP/LMTP agent. */
static void
start_transactions(struct job *job)
{
	struct queue_manager *manager = job->manager;
	const struct smtpd_config *config = manager->config;

	for (size_t k = 0; k < job->transaction_count; k++) {
		struct transaction *t = &job->transactions[k];
		struct deliver_smtp_request request;

		memset(&request, 0, sizeof(request));
		request.base = manager->base;
		request.cache = manager->connections;
		request.resolver = manager->resolver;
		request.helo_name = config->hostname;
		request.mail_from = job->mail_from;
		request.body_8bit = job->file.body_8bit;
		request.recipients = t->addresses;
		request.recipient_count = t->count;
		request.message = job->file.message;
		request.message_length = job->file.message_length;
		request.timeout_ms = config->command_timeout_ms;
		request.queue_id = job->file.id;
		if (manager->have_next_hop) {
			request.next_hop = &manager->next_hop;
			request.lmtp = manager->next_hop_protocol == NEXT_HOP_LMTP;
		} else if (t->domain[0] == '[') {
			if (!smtp_address_literal_parse(t->domain, strlen(t->domain),
			    &t->literal.address)) {
				for (size_t j = 0; j < t->count; j++)
					deliver_result_set(&t->results[j], DELIVER_PERMANENT, "5.1.2",
					    "unusable address literal %s", t->domain);
				continue;
			}
			t->literal.is_address = true;
			t->literal.port = DELIVER_SMTP_PORT;
			netaddr_format(&t->literal.address, t->literal.host,
			    sizeof(t->literal.host));
			request.next_hop = &t->literal;
		} else {
			request.mx_domain = t->domain;
		}
		job->outstanding++;
		t->handle = deliver_smtp_start(&request, t->results, transaction_done, t);
	}
	/* Transactions that could not start report now (the loop calls nothing for them). */
	for (size_t k = 0; k < job->transaction_count; k++) {
		struct transaction *t = &job->transactions[k];

		if (t->handle == NULL)
			for (size_t j = 0; j < t->count; j++)
				job->results[t->indexes[j]] = t->results[j];
	}
}

/* quarantine - a file we cannot use goes to corrupt/ for the operator. */
static void
quarantine(struct queue_manager *manager, struct entry *entry, const char *reason)
{
	log_error("queue_id=%s event=corrupt reason=\"%s\" moved_to=corrupt", entry->id, reason);
	if (!queue_spool_move(manager->spool, entry->id, QUEUE_AREA_ACTIVE, QUEUE_AREA_CORRUPT))
		log_error("queue_id=%s event=quarantine_failed error=\"%s\"", entry->id,
		    strerror(errno));
}

/* job_load_failed - the file could not be taken up: gone (ENOENT: forget it) or an I/O
 * problem (keep it scheduled: try again after retry_min rather than lose it). */
static bool
job_load_failed(struct job *job, const char *what)
{
	struct queue_manager *manager = job->manager;
	struct entry *entry = job->entry;

	if (errno == ENOENT) {
		log_warn("queue_id=%s event=vanished area=%s", entry->id,
		    queue_area_name(entry->area));
		return false;
	}
	log_error("queue_id=%s event=load_failed step=%s error=\"%s\"", entry->id, what,
	    strerror(errno));
	entry->due_ms = queue_wall_ms() + manager->config->retry_min_ms;
	heap_push(manager, entry);
	job->entry = NULL;
	return false;
}

/* job_load - take the file into active/, map it and parse it. false: not deliverable now
 * (job->entry is NULL when the entry went back on the schedule). */
static bool
job_load(struct job *job)
{
	struct queue_manager *manager = job->manager;
	struct entry *entry = job->entry;
	char err[128];
	struct stat st;

	if (entry->area != QUEUE_AREA_ACTIVE) {
		if (!queue_spool_move(manager->spool, entry->id, entry->area, QUEUE_AREA_ACTIVE))
			return job_load_failed(job, "move to active");
		entry->area = QUEUE_AREA_ACTIVE;
	}
	job->fd = openat(manager->spool->area_fd[QUEUE_AREA_ACTIVE], entry->id,
	    O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (job->fd < 0)
		return job_load_failed(job, "open");
	if (fstat(job->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > QUEUE_FILE_SIZE_MAX) {
		quarantine(manager, entry, "not a regular file of a sane size");
		return false;
	}
	job->map_length = (size_t)st.st_size;
	job->map = mmap(NULL, job->map_length, PROT_READ, MAP_SHARED, job->fd, 0);
	if (job->map == MAP_FAILED) {
		job->map = NULL;
		return job_load_failed(job, "mmap");
	}
	if (!queue_file_parse(job->map, job->map_length, &job->file, err, sizeof(err))) {
		quarantine(manager, entry, err);
		return false;
	}
	if (strcmp(job->file.id, entry->id) != 0) {
		quarantine(manager, entry, "the id inside does not match the file name");
		return false;
	}
	return true;
}

/* job_start - one delivery attempt for entry (taken off the schedule). */
static void
job_start(struct queue_manager *manager, struct entry *entry)
{
	struct job *job = xcalloc(1, sizeof(*job));
	size_t count;

	job->manager = manager;
	job->entry = entry;
	job->fd = -1;
	job->started_ms = queue_wall_ms();
	if (!job_load(job)) {
		if (job->entry != NULL)
			free(entry);
		job_free(job);
		return;
	}
	count = job->file.recipient_count;
	job->mail_from = xstrndup(job->file.mail_from, job->file.mail_from_length);
	job->addresses = xcalloc(count, sizeof(*job->addresses));
	job->results = xcalloc(count, sizeof(*job->results));
	job->attempted = xcalloc(count, sizeof(*job->attempted));
	job->transactions = xcalloc(count, sizeof(*job->transactions));
	for (size_t i = 0; i < count; i++) {
		job->addresses[i] = xstrndup(job->file.recipients[i].address,
		    job->file.recipients[i].address_length);
		job->attempted[i] = job->file.recipients[i].status == QUEUE_RCPT_PENDING;
		deliver_result_set(&job->results[i], DELIVER_TEMPORARY, "4.3.0",
		    "not attempted");
	}
	TAILQ_INSERT_TAIL(&manager->jobs, job, link);
	manager->running++;
	{
		char from[LOG_VALUE_MAX];

		log_escape(job->mail_from, strlen(job->mail_from), from, sizeof(from));
		log_info("queue_id=%s event=attempt from=%s recipients=%zu size=%zu", entry->id,
		    job->mail_from[0] != '\0' ? from : "<>", count, job->file.message_length);
	}

	/* Local recipients: synchronous, on this thread. */
	for (size_t i = 0; i < count; i++) {
		if (!job->attempted[i] || job->file.recipients[i].decision != RELAY_LOCAL)
			continue;
		deliver_maildir(manager->config->maildir, manager->users, manager->config->hostname,
		    job->mail_from, job->addresses[i], job->file.message,
		    job->file.message_length, &job->results[i]);
	}
	route_remote(job);
	start_transactions(job);
	if (job->outstanding == 0)
		job_finish(job);
}

/* pump - start every due message while there is room; arm the timer for the next one. */
static void
pump(struct queue_manager *manager)
{
	uint64_t now = queue_wall_ms();

	while (manager->running < QUEUE_MANAGER_CONCURRENCY && manager->heap_count > 0 &&
	    manager->heap[0]->due_ms <= now)
		job_start(manager, heap_pop(manager));
	evtimer_del(manager->timer);
	if (manager->heap_count > 0 && manager->running < QUEUE_MANAGER_CONCURRENCY) {
		uint64_t wait = manager->heap[0]->due_ms > now ? manager->heap[0]->due_ms - now : 0;
		struct timeval tv = event_loop_timeval(wait);

		evtimer_add(manager->timer, &tv);
	}
}

/* pump_cb - the timer or a finished job. */
static void
pump_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

/* wake_cb - new messages were committed, or we are told to stop. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_manager *manager = arg;
	char (*ids)[QUEUE_ID_MAX];
	size_t count;
	uint64_t value, now;
	bool stopping;

	(void)what;
	if (read(fd, &value, sizeof(value)) < 0 && errno != EAGAIN)
		log_warn("event=queue_manager_wake_read error=\"%s\"", strerror(errno));
	pthread_mutex_lock(&manager->lock);
	ids = manager->submitted;
	count = manager->submitted_count;
	manager->submitted = NULL;
	manager->submitted_count = manager->submitted_capacity = 0;
	stopping = manager->stopping;
	pthread_mutex_unlock(&manager->lock);
	now = queue_wall_ms();
	for (size_t i = 0; i < count; i++)
		heap_push(manager, entry_new(ids[i], QUEUE_AREA_INCOMING, now));
	free(ids);
	if (stopping) {
		event_base_loopbreak(manager->base);
		return;
	}
	pump(manager);
}

/* queue_manager_submit - called by the flusher thread for every committed message. */
void
queue_manager_submit(struct queue_manager *manager, const char *id)
{
	uint64_t one = 1;
	bool was_empty;

	pthread_mutex_lock(&manager->lock);
	if (manager->submitted_count == manager->submitted_capacity) {
		manager->submitted_capacity = manager->submitted_capacity == 0 ? 64 :
		    manager->submitted_capacity * 2;
		manager->submitted = xrealloc(manager->submitted,
		    manager->submitted_capacity * sizeof(manager->submitted[0]));
	}
	snprintf(manager->submitted[manager->submitted_count++], QUEUE_ID_MAX, "%s", id);
	was_empty = manager->submitted_count == 1;
	pthread_mutex_unlock(&manager->lock);
	if (was_empty && write(manager->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=queue_manager_wake_write error=\"%s\"", strerror(errno));
}

/* scan_area - load what a previous run left in one area. tmp/ is emptied: nothing there
 * was ever acknowledged. */
static void
scan_area(struct queue_manager *manager, enum queue_area area)
{
	int fd = openat(manager->spool->area_fd[area], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint64_t now = queue_wall_ms();
	size_t found = 0;
	struct dirent *d;
	DIR *dir;

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		log_error("event=queue_scan_failed area=%s error=\"%s\"", queue_area_name(area),
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		struct stat st;
		uint64_t due = now;

		if (d->d_name[0] == '.')
			continue;
		if (!queue_file_id_valid(d->d_name, strlen(d->d_name))) {
			log_warn("event=queue_stray_file area=%s name=\"%.64s\"",
			    queue_area_name(area), d->d_name);
			continue;
		}
		if (area == QUEUE_AREA_TMP) {
			unlinkat(manager->spool->area_fd[area], d->d_name, 0);
			log_info("queue_id=%s event=unfinished_removed", d->d_name);
			continue;
		}
		if (area == QUEUE_AREA_DEFERRED &&
		    fstatat(manager->spool->area_fd[area], d->d_name, &st, 0) == 0) {
			due = (uint64_t)st.st_mtim.tv_sec * MS_PER_SECOND +
			    (uint64_t)st.st_mtim.tv_nsec / NS_PER_MS;
			if (due < now)
				due = now;
		}
		heap_push(manager, entry_new(d->d_name, area, due));
		found++;
	}
	closedir(dir);
	if (area != QUEUE_AREA_TMP && found > 0)
		log_info("event=queue_resumed area=%s messages=%zu", queue_area_name(area), found);
}

/* manager_main - the thread: run the loop until told to stop. */
static void *
manager_main(void *arg)
{
	struct queue_manager *manager = arg;

	pump(manager);
	event_base_dispatch(manager->base);
	return NULL;
}

/* manager_free - release everything (the thread is not running). */
static void
manager_free(struct queue_manager *manager)
{
	struct job *job;

	while ((job = TAILQ_FIRST(&manager->jobs)) != NULL) {
		TAILQ_REMOVE(&manager->jobs, job, link);
		free(job->entry);
		job_free(job);
	}
	if (manager->resolver != NULL)
		resolver_free(manager->resolver);
	deliver_smtp_cache_free(manager->connections);
	for (size_t i = 0; i < manager->heap_count; i++)
		free(manager->heap[i]);
	free(manager->heap);
	free(manager->submitted);
	if (manager->wake_event != NULL)
		event_free(manager->wake_event);
	if (manager->timer != NULL)
		event_free(manager->timer);
	if (manager->pump_event != NULL)
		event_free(manager->pump_event);
	if (manager->wake_fd >= 0)
		close(manager->wake_fd);
	if (manager->base != NULL)
		event_base_free(manager->base);
	if (manager->users != NULL)
		user_table_free(manager->users);
	pthread_mutex_destroy(&manager->lock);
	free(manager);
}

/* queue_manager_start - set up the loop, scan the spool, start the thread. */
struct queue_manager *
queue_manager_start(const struct smtpd_config *config, const struct queue_spool *spool,
    char *err, size_t err_size)
{
	struct queue_manager *manager = xcalloc(1, sizeof(*manager));
	char reason[256];
	sigset_t all, previous;
	int error;

	manager->config = config;
	manager->spool = spool;
	manager->wake_fd = -1;
	TAILQ_INIT(&manager->jobs);
	pthread_mutex_init(&manager->lock, NULL);
	if (config->next_hop[0] != '\0') {
		if (!smtpd_next_hop_parse(config->next_hop, &manager->next_hop_protocol,
		    &manager->next_hop, reason, sizeof(reason))) {
			snprintf(err, err_size, "next_hop: %s", reason);
			manager_free(manager);
			return NULL;
		}
		manager->have_next_hop = true;
	}
	if (config->users[0] != '\0') {
		manager->users = user_table_load(config->users, reason, sizeof(reason));
		if (manager->users == NULL)
			log_warn("event=queue_users_unreadable error=\"%s\" fallback=maildir_tree",
			    reason);
	}
	manager->base = event_loop_new();
	manager->connections = deliver_smtp_cache_new();
	/* DNS only when something needs it: MX delivery or a next hop given by name. */
	if (config->direct_mx || (manager->have_next_hop && !manager->next_hop.is_address)) {
		manager->resolver = resolver_new(manager->base,
		    config->dns_server[0] != '\0' ? config->dns_server : NULL, reason,
		    sizeof(reason));
		if (manager->resolver == NULL)
			log_warn("event=queue_resolver_unavailable error=\"%s\"", reason);
	}
	manager->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (manager->wake_fd < 0) {
		snprintf(err, err_size, "eventfd: %s", strerror(errno));
		manager_free(manager);
		return NULL;
	}
	manager->wake_event = event_new(manager->base, manager->wake_fd, EV_READ | EV_PERSIST,
	    wake_cb, manager);
	manager->timer = evtimer_new(manager->base, pump_cb, manager);
	manager->pump_event = evtimer_new(manager->base, pump_cb, manager);
	if (manager->wake_event == NULL || manager->timer == NULL ||
	    manager->pump_event == NULL || event_add(manager->wake_event, NULL) != 0) {
		snprintf(err, err_size, "cannot set up the queue manager's events");
		manager_free(manager);
		return NULL;
	}
	/* Synchronously, before any session can write into tmp/ or the flusher into incoming/. */
	for (int area = QUEUE_AREA_TMP; area <= QUEUE_AREA_DEFERRED; area++)
		scan_area(manager, (enum queue_area)area);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &previous);
	error = pthread_create(&manager->thread, NULL, manager_main, manager);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	if (error != 0) {
		snprintf(err, err_size, "cannot start the queue manager: %s", strerror(error));
		manager_free(manager);
		return NULL;
	}
	manager->thread_started = true;
	return manager;
}

/* queue_manager_stop - stop the loop, join the thread, free. */
void
queue_manager_stop(struct queue_manager *manager)
{
	uint64_t one = 1;

	pthread_mutex_lock(&manager->lock);
	manager->stopping = true;
	pthread_mutex_unlock(&manager->lock);
	if (write(manager->wake_fd, &one, sizeof(one)) < 0)
		log_warn("event=queue_manager_wake_write error=\"%s\"", strerror(errno));
	if (manager->thread_started)
		pthread_join(manager->thread, NULL);
	manager_free(manager);
}
