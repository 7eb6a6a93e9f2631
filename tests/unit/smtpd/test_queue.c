/* test_queue.c - unit tests of the queue (smtpd/queue.h) and its manager: durable commit
 * before done(), group commit across threads, Maildir and SMTP/LMTP delivery to an in-test
 * sink on 127.0.0.1, retry, expiry, DSNs, restart. Talks to loopback only. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "smtpd/config.h"
#include "smtpd/queue.h"
#include "smtpd/queue_file.h"
#include "smtpd/queue_manager.h"

#define PATH_SIZE 512
#define WAIT_MS 15000
#define POLL_MS 20
#define SINK_LINE_MAX 1024
#define SINK_MESSAGE_MAX (256 * 1024)
#define RECEIVED "Received: from client.example.org (client.example.org [192.0.2.10])\r\n" \
	"\tby mx.example.com with ESMTP id TEST; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
#define BODY "Subject: test\r\n\r\nhello\r\n.leading dot\r\n"

/* ---- an SMTP/LMTP sink on 127.0.0.1, one connection at a time ---- */

struct sink {
	int listen_fd;
	uint16_t port;
	bool lmtp;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool refuse_later;	/* "later" recipients get 451 while set */
	atomic_bool abandon;		/* after a transaction, stop answering that connection */
	atomic_uint connections;	/* connections accepted */
	int abandoned[8];		/* connections left open but unanswered */
	size_t abandoned_count;
	pthread_mutex_t lock;
	unsigned messages;		/* complete transactions accepted */
	unsigned recipients;		/* recipients of those */
	char last_message[SINK_MESSAGE_MAX];	/* as received (dot-stuffed), with "." line */
	char last_mail[SINK_LINE_MAX];
};

/* sink_read_line - one line (without CRLF) from fd using a small buffer in buf/len. */
static bool
sink_read_line(int fd, char *buf, size_t *len, char *line, size_t line_size)
{
	for (;;) {
		char *lf = memchr(buf, '\n', *len);

		if (lf != NULL) {
			size_t n = (size_t)(lf - buf) + 1;
			size_t copy = n - 1;

			if (copy > 0 && buf[copy - 1] == '\r')
				copy--;
			if (copy >= line_size)
				copy = line_size - 1;
			memcpy(line, buf, copy);
			line[copy] = '\0';
			memmove(buf, buf + n, *len - n);
			*len -= n;
			return true;
		}
		if (*len == SINK_LINE_MAX)
			return false;
		ssize_t got = recv(fd, buf + *len, SINK_LINE_MAX - *len, 0);

		if (got <= 0)
			return false;
		*len += (size_t)got;
	}
}

/* sink_say - send a reply line (a failure shows up as a missing delivery). */
static void
sink_say(int fd, const char *text)
{
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0)
		return;
}

/* sink_session - serve one client (until QUIT, or until a transaction when abandoning). */
static void
sink_session(struct sink *sink, int fd)
{
	char buf[SINK_LINE_MAX], line[SINK_LINE_MAX];
	char accepted[16][SINK_LINE_MAX];
	size_t len = 0, accepted_count = 0;

	sink_say(fd, "220 sink.example.net ESMTP\r\n");
	while (sink_read_line(fd, buf, &len, line, sizeof(line))) {
		if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "LHLO", 4) == 0) {
			sink_say(fd, "250-sink.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			accepted_count = 0;
			pthread_mutex_lock(&sink->lock);
			snprintf(sink->last_mail, sizeof(sink->last_mail), "%s", line);
			pthread_mutex_unlock(&sink->lock);
			sink_say(fd, "250 2.1.0 ok\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			if (strstr(line, "reject") != NULL) {
				sink_say(fd, "550 5.1.1 no such user here\r\n");
			} else if (strstr(line, "later") != NULL && atomic_load(&sink->refuse_later)) {
				sink_say(fd, "451 4.3.0 try again later\r\n");
			} else {
				if (accepted_count < 16)
					snprintf(accepted[accepted_count++], SINK_LINE_MAX, "%s", line);
				sink_say(fd, "250 2.1.5 ok\r\n");
			}
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			size_t used = 0;
			char *message = calloc(1, SINK_MESSAGE_MAX);

			if (message == NULL)
				abort();
			if (accepted_count == 0) {
				sink_say(fd, "554 5.5.1 no valid recipients\r\n");
				free(message);
				continue;
			}
			sink_say(fd, "354 go ahead\r\n");
			while (sink_read_line(fd, buf, &len, line, sizeof(line))) {
				size_t n = strlen(line);

				if (used + n + 3 < SINK_MESSAGE_MAX) {
					memcpy(message + used, line, n);
					memcpy(message + used + n, "\r\n", 2);
					used += n + 2;
				}
				if (strcmp(line, ".") == 0)
					break;
			}
			pthread_mutex_lock(&sink->lock);
			memcpy(sink->last_message, message, used + 1);
			sink->messages++;
			pthread_mutex_unlock(&sink->lock);
			free(message);
			if (!sink->lmtp) {
				pthread_mutex_lock(&sink->lock);
				sink->recipients += (unsigned)accepted_count;
				pthread_mutex_unlock(&sink->lock);
				sink_say(fd, "250 2.0.0 queued\r\n");
				if (atomic_load(&sink->abandon) && sink->abandoned_count < 8) {
					sink->abandoned[sink->abandoned_count++] = fd;
					return;
				}
				continue;
			}
			for (size_t i = 0; i < accepted_count; i++) {
				if (strstr(accepted[i], "lmtpfail") != NULL) {
					sink_say(fd, "552 5.2.2 mailbox full\r\n");
					continue;
				}
				pthread_mutex_lock(&sink->lock);
				sink->recipients++;
				pthread_mutex_unlock(&sink->lock);
				sink_say(fd, "250 2.0.0 delivered\r\n");
			}
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			sink_say(fd, "221 2.0.0 bye\r\n");
			break;
		} else {
			sink_say(fd, "250 2.0.0 ok\r\n");
		}
	}
	close(fd);
}

/* sink_main - accept until told to stop. */
static void *
sink_main(void *arg)
{
	struct sink *sink = arg;

	while (!atomic_load(&sink->stop)) {
		struct pollfd pfd = { sink->listen_fd, POLLIN, 0 };

		if (poll(&pfd, 1, POLL_MS) <= 0)
			continue;
		int fd = accept(sink->listen_fd, NULL, NULL);

		if (fd >= 0) {
			atomic_fetch_add(&sink->connections, 1);
			sink_session(sink, fd);
		}
	}
	return NULL;
}

/* sink_bind - a listening socket on 127.0.0.1 (port 0: any free port). */
static int
sink_bind(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in address;
	socklen_t length = sizeof(address);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons(port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
	*bound = ntohs(address.sin_port);
	return fd;
}

/* free_port - a port on 127.0.0.1 that nothing listens on right now. */
static uint16_t
free_port(void)
{
	uint16_t port;
	int fd = sink_bind(0, &port);

	close(fd);
	return port;
}

/* sink_start - listen on port (0: any) and serve from a thread. */
static struct sink *
sink_start(uint16_t port, bool lmtp)
{
	struct sink *sink = calloc(1, sizeof(*sink));

	assert_non_null(sink);
	sink->lmtp = lmtp;
	pthread_mutex_init(&sink->lock, NULL);
	sink->listen_fd = sink_bind(port, &sink->port);
	assert_int_equal(listen(sink->listen_fd, 16), 0);
	assert_int_equal(pthread_create(&sink->thread, NULL, sink_main, sink), 0);
	return sink;
}

static void
sink_stop(struct sink *sink)
{
	atomic_store(&sink->stop, true);
	pthread_join(sink->thread, NULL);
	for (size_t i = 0; i < sink->abandoned_count; i++)
		close(sink->abandoned[i]);
	close(sink->listen_fd);
	pthread_mutex_destroy(&sink->lock);
	free(sink);
}

static unsigned
sink_recipients(struct sink *sink)
{
	unsigned n;

	pthread_mutex_lock(&sink->lock);
	n = sink->recipients;
	pthread_mutex_unlock(&sink->lock);
	return n;
}

/* ---- fixture: a queue directory, a Maildir root and a configuration ---- */

struct fixture {
	char dir[64];
	char queue_dir[PATH_SIZE];
	char maildir[PATH_SIZE];
	struct smtpd_config config;
	struct event_base *base;
};

/* configure - load the configuration the way the daemon does, with -o style overrides. */
static void
configure(struct fixture *f, const char *next_hop)
{
	char queue_dir[PATH_SIZE + 16], maildir[PATH_SIZE + 16], hop[128];
	char *overrides[] = { queue_dir, maildir, "local_domains=example.com",
	    "relay_domains=example.net", "hostname=mx.example.com", "retry_min=1s",
	    "retry_max=2s", hop };
	struct config_problem problems[8];
	size_t problem_count = 0;

	snprintf(queue_dir, sizeof(queue_dir), "queue_dir=%s", f->queue_dir);
	snprintf(maildir, sizeof(maildir), "maildir=%s", f->maildir);
	snprintf(hop, sizeof(hop), "next_hop=%s", next_hop);
	smtpd_config_free(&f->config);
	assert_true(smtpd_config_load(NULL, overrides, 8, &f->config, problems, 8,
	    &problem_count));
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[PATH_SIZE + 64];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/relayguard-queue-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->queue_dir, sizeof(f->queue_dir), "%s/queue", f->dir);
	snprintf(f->maildir, sizeof(f->maildir), "%s/mail", f->dir);
	mkdir(f->maildir, 0700);
	snprintf(path, sizeof(path), "%s/example.com", f->maildir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/example.com/user", f->maildir);
	mkdir(path, 0700);
	configure(f, "");
	f->base = event_loop_new();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char command[PATH_SIZE];

	event_base_free(f->base);
	smtpd_config_free(&f->config);
	snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
	if (system(command) != 0)
		return -1;
	free(f);
	return 0;
}

/* count_files - regular entries of dir (relative to the fixture), or -1. */
static int
count_files(struct fixture *f, const char *dir)
{
	char path[PATH_SIZE + 128];
	struct dirent *d;
	int count = 0;
	DIR *handle;

	snprintf(path, sizeof(path), "%s/%s", f->dir, dir);
	handle = opendir(path);
	if (handle == NULL)
		return -1;
	while ((d = readdir(handle)) != NULL)
		if (d->d_name[0] != '.')
			count++;
	closedir(handle);
	return count;
}

/* file_exists - dir/name under the fixture. */
static bool
file_exists(struct fixture *f, const char *dir, const char *name)
{
	char path[PATH_SIZE + 128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, dir, name);
	return stat(path, &st) == 0;
}

/* read_first - the content of the first file in dir (malloc'd), or NULL. */
static char *
read_first(struct fixture *f, const char *dir)
{
	char path[PATH_SIZE + 512];
	struct dirent *d;
	char *content = NULL;
	DIR *handle;

	snprintf(path, sizeof(path), "%s/%s", f->dir, dir);
	handle = opendir(path);
	if (handle == NULL)
		return NULL;
	while ((d = readdir(handle)) != NULL) {
		FILE *file;
		long size;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", f->dir, dir, d->d_name);
		file = fopen(path, "rb");
		assert_non_null(file);
		fseek(file, 0, SEEK_END);
		size = ftell(file);
		rewind(file);
		content = calloc(1, (size_t)size + 1);
		assert_non_null(content);
		assert_int_equal(fread(content, 1, (size_t)size, file), (size_t)size);
		fclose(file);
		break;
	}
	closedir(handle);
	return content;
}

/* wait_for_count - poll until dir holds want files; false on timeout. */
static bool
wait_for_count(struct fixture *f, const char *dir, int want)
{
	for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
		if (count_files(f, dir) == want)
			return true;
		usleep(POLL_MS * 1000);
	}
	return false;
}

/* queue_empty - nothing left to deliver. */
static bool
queue_empty(struct fixture *f)
{
	return count_files(f, "queue/incoming") == 0 && count_files(f, "queue/active") == 0 &&
	    count_files(f, "queue/deferred") == 0;
}

static bool
wait_for_empty_queue(struct fixture *f)
{
	for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
		if (queue_empty(f))
			return true;
		usleep(POLL_MS * 1000);
	}
	return false;
}

struct commit_result {
	bool called;
	bool ok;
	char id[QUEUE_ID_MAX];
	pthread_t thread;
};

static void
commit_done(void *arg, bool ok, const char *queue_id)
{
	struct commit_result *result = arg;

	result->called = true;
	result->ok = ok;
	snprintf(result->id, sizeof(result->id), "%s", queue_id);
	result->thread = pthread_self();
}

/* run_until - run base until *flag is set; false on timeout. */
static bool
run_until(struct event_base *base, const bool *flag)
{
	for (int waited = 0; waited < WAIT_MS && !*flag; waited += POLL_MS) {
		struct timeval tick = event_loop_timeval(POLL_MS);

		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	return *flag;
}

/* enqueue - one message through the writer API, committed and acknowledged. */
static void
enqueue(struct fixture *f, struct queue *queue, const char *from,
    const struct queue_recipient *recipients, size_t count, char id[QUEUE_ID_MAX])
{
	struct queue_envelope env;
	struct commit_result result;
	struct queue_writer *writer;
	char err[256];

	memset(&result, 0, sizeof(result));
	queue_id_new(queue, id);
	memset(&env, 0, sizeof(env));
	env.mail_from = from;
	env.recipients = recipients;
	env.recipient_count = count;
	env.received_header = RECEIVED;
	env.queue_id = id;
	writer = queue_writer_begin(queue, &env, err, sizeof(err));
	assert_non_null(writer);
	assert_true(queue_writer_append(writer, BODY, strlen(BODY)));
	queue_writer_commit(writer, commit_done, &result);
	assert_true(run_until(f->base, &result.called));
	assert_true(result.ok);
	assert_string_equal(result.id, id);
}

static struct queue *
open_queue(struct fixture *f, unsigned flags)
{
	char err[256];
	struct queue *queue = queue_open_flags(f->base, &f->config, flags, err, sizeof(err));

	if (queue == NULL)
		fail_msg("queue_open: %s", err);
	return queue;
}

/* ---- writer and group commit ---- */

static void
test_done_comes_after_the_file_is_in_incoming(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL } };
	struct queue_envelope env = { "s@example.org", rcpt, 1, RECEIVED, NULL, false };
	struct commit_result result;
	struct queue_writer *writer;
	char id[QUEUE_ID_MAX], err[256];

	memset(&result, 0, sizeof(result));
	queue_id_new(queue, id);
	env.queue_id = id;
	writer = queue_writer_begin(queue, &env, err, sizeof(err));
	assert_non_null(writer);
	assert_true(file_exists(f, "queue/tmp", id));
	assert_true(queue_writer_append(writer, BODY, strlen(BODY)));
	queue_writer_commit(writer, commit_done, &result);
	/* done() is never called from inside commit */
	assert_false(result.called);
	assert_true(run_until(f->base, &result.called));
	assert_true(result.ok);
	assert_true(file_exists(f, "queue/incoming", id));
	assert_false(file_exists(f, "queue/tmp", id));
	queue_close(queue);
}

static void
test_committed_file_holds_envelope_received_header_and_data(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL },
	    { "x@example.net", RELAY_FORWARD } };
	struct queue_file file;
	char id[QUEUE_ID_MAX], err[128];
	char *content;

	enqueue(f, queue, "s@example.org", rcpt, 2, id);
	content = read_first(f, "queue/incoming");
	assert_non_null(content);
	assert_true(queue_file_parse(content, strlen(content), &file, err, sizeof(err)));
	assert_string_equal(file.id, id);
	assert_int_equal(file.recipient_count, 2);
	assert_int_equal(file.recipients[1].decision, RELAY_FORWARD);
	assert_int_equal(file.message_length, strlen(RECEIVED BODY));
	assert_memory_equal(file.message, RECEIVED BODY, file.message_length);
	queue_file_free(&file);
	free(content);
	queue_close(queue);
}

static void
test_abort_leaves_nothing_behind(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL } };
	struct queue_envelope env = { "s@example.org", rcpt, 1, RECEIVED, NULL, false };
	struct queue_writer *writer;
	char id[QUEUE_ID_MAX], err[256];

	queue_id_new(queue, id);
	env.queue_id = id;
	writer = queue_writer_begin(queue, &env, err, sizeof(err));
	assert_non_null(writer);
	assert_true(queue_writer_append(writer, BODY, strlen(BODY)));
	queue_writer_abort(writer);
	assert_int_equal(count_files(f, "queue/tmp"), 0);
	assert_int_equal(count_files(f, "queue/incoming"), 0);
	queue_close(queue);
}

static void
test_envelope_with_line_break_is_refused_at_begin(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	const struct queue_recipient rcpt[] = { { "user@example.com\r\nrcpt P outbound v@x",
	    RELAY_LOCAL } };
	struct queue_envelope env = { "s@example.org", rcpt, 1, RECEIVED, NULL, false };
	char id[QUEUE_ID_MAX], err[256] = "";

	queue_id_new(queue, id);
	env.queue_id = id;
	assert_null(queue_writer_begin(queue, &env, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_int_equal(count_files(f, "queue/tmp"), 0);
	queue_close(queue);
}

#define MANY 200

/* Many sessions committing at once share directory fsyncs; every one is acknowledged. */
static void
test_many_concurrent_commits_are_all_acknowledged(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL } };
	struct commit_result *results = calloc(MANY, sizeof(*results));
	char (*ids)[QUEUE_ID_MAX] = calloc(MANY, QUEUE_ID_MAX);
	bool all = false;

	assert_non_null(results);
	assert_non_null(ids);
	for (int i = 0; i < MANY; i++) {
		struct queue_envelope env = { "s@example.org", rcpt, 1, RECEIVED, ids[i], false };
		struct queue_writer *writer;
		char err[256];

		queue_id_new(queue, ids[i]);
		writer = queue_writer_begin(queue, &env, err, sizeof(err));
		assert_non_null(writer);
		assert_true(queue_writer_append(writer, BODY, strlen(BODY)));
		queue_writer_commit(writer, commit_done, &results[i]);
	}
	for (int waited = 0; waited < WAIT_MS && !all; waited += POLL_MS) {
		struct timeval tick = event_loop_timeval(POLL_MS);

		event_base_loopexit(f->base, &tick);
		event_base_dispatch(f->base);
		all = true;
		for (int i = 0; i < MANY; i++)
			all = all && results[i].called;
	}
	assert_true(all);
	for (int i = 0; i < MANY; i++) {
		assert_true(results[i].ok);
		assert_string_equal(results[i].id, ids[i]);
	}
	assert_int_equal(count_files(f, "queue/incoming"), MANY);
	free(results);
	free(ids);
	queue_close(queue);
}

struct worker_args {
	struct event_base *base;	/* freed by the test after queue_close */
	struct queue *queue;
	struct commit_result result;
	bool attached;
};

/* worker_main - a second session loop: attach, commit, run until done. */
static void *
worker_main(void *arg)
{
	struct worker_args *w = arg;
	struct event_base *base = event_loop_new();
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL } };
	char id[QUEUE_ID_MAX], err[256];

	w->base = base;
	struct queue_envelope env = { "s@example.org", rcpt, 1, RECEIVED, id, false };
	struct queue_writer *writer;

	w->attached = queue_attach_loop(w->queue, base, err, sizeof(err));
	if (w->attached) {
		queue_id_new(w->queue, id);
		writer = queue_writer_begin(w->queue, &env, err, sizeof(err));
		if (writer != NULL) {
			queue_writer_append(writer, BODY, strlen(BODY));
			queue_writer_commit(writer, commit_done, &w->result);
			run_until(base, &w->result.called);
		}
	}
	/* The loop stays attached until queue_close: the base must outlive the queue. */
	return NULL;
}

static void
test_done_runs_on_the_committing_threads_loop(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	struct worker_args w;
	pthread_t thread;

	memset(&w, 0, sizeof(w));
	w.queue = queue;
	assert_int_equal(pthread_create(&thread, NULL, worker_main, &w), 0);
	pthread_join(thread, NULL);
	assert_true(w.attached);
	assert_true(w.result.called);
	assert_true(w.result.ok);
	assert_true(pthread_equal(w.result.thread, thread));
	queue_close(queue);
	event_base_free(w.base);
}

static void
test_queue_ids_are_unique_and_safe_file_names(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX];

	for (int i = 0; i < 1000; i++) {
		queue_id_new(queue, a);
		queue_id_new(queue, b);
		assert_string_not_equal(a, b);
		assert_true(queue_file_id_valid(a, strlen(a)));
	}
	queue_close(queue);
}

static void
test_retry_delay_doubles_within_bounds(void **state)
{
	(void)state;
	assert_int_equal(queue_manager_next_delay(0, 60000, 3600000), 60000);
	assert_int_equal(queue_manager_next_delay(60000, 60000, 3600000), 60000);
	assert_int_equal(queue_manager_next_delay(120000, 60000, 3600000), 120000);
	assert_int_equal(queue_manager_next_delay(240000, 60000, 3600000), 240000);
	assert_int_equal(queue_manager_next_delay(86400000, 60000, 3600000), 3600000);
}

/* ---- the manager and the delivery agents ---- */

static void
test_local_recipient_lands_in_maildir_new(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, 0);
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL } };
	char id[QUEUE_ID_MAX];
	char *mail;

	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	assert_true(wait_for_count(f, "mail/example.com/user/new", 1));
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(count_files(f, "mail/example.com/user/tmp"), 0);
	mail = read_first(f, "mail/example.com/user/new");
	assert_non_null(mail);
	assert_true(strncmp(mail, "Return-Path: <s@example.org>\nDelivered-To: "
	    "user@example.com\nReceived: from client.example.org", 82) == 0);
	/* Maildir files use LF line ends, and the body is not dot-stuffed */
	assert_null(strchr(mail, '\r'));
	assert_non_null(strstr(mail, "\nhello\n.leading dot\n"));
	free(mail);
	queue_close(queue);
}

static void
test_unknown_local_mailbox_bounces_to_the_sender(void **state)
{
	struct fixture *f = *state;
	struct queue *queue = open_queue(f, 0);
	const struct queue_recipient rcpt[] = { { "nobody@example.com", RELAY_LOCAL } };
	char id[QUEUE_ID_MAX];
	char *dsn;

	enqueue(f, queue, "postmaster@example.com", rcpt, 1, id);
	assert_true(wait_for_count(f, "mail/example.com/postmaster/new", 1));
	assert_true(wait_for_empty_queue(f));
	dsn = read_first(f, "mail/example.com/postmaster/new");
	assert_non_null(dsn);
	assert_non_null(strstr(dsn, "Return-Path: <>\n"));
	assert_non_null(strstr(dsn, "report-type=delivery-status"));
	assert_non_null(strstr(dsn, "Final-Recipient: rfc822; nobody@example.com\n"));
	assert_non_null(strstr(dsn, "Status: 5.1.1\n"));
	assert_non_null(strstr(dsn, id));
	/* no mailbox was created for the unknown user */
	assert_false(file_exists(f, "mail/example.com", "nobody"));
	free(dsn);
	queue_close(queue);
}

static void
test_relay_recipient_goes_to_the_next_hop(void **state)
{
	struct fixture *f = *state;
	struct sink *sink = sink_start(0, false);
	const struct queue_recipient rcpt[] = { { "a@example.net", RELAY_FORWARD },
	    { "b@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;

	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", sink->port);
	configure(f, hop);
	queue = open_queue(f, 0);
	enqueue(f, queue, "s@example.org", rcpt, 2, id);
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(sink_recipients(sink), 2);
	pthread_mutex_lock(&sink->lock);
	assert_int_equal(sink->messages, 1);
	assert_string_equal(sink->last_mail, "MAIL FROM:<s@example.org>");
	/* RFC 5321 4.5.2: the leading dot is doubled on the wire */
	assert_non_null(strstr(sink->last_message, "\r\nhello\r\n..leading dot\r\n.\r\n"));
	assert_true(strncmp(sink->last_message, "Received: from client.example.org", 33) == 0);
	pthread_mutex_unlock(&sink->lock);
	queue_close(queue);
	sink_stop(sink);
}

static void
test_lmtp_next_hop_reports_each_recipient(void **state)
{
	struct fixture *f = *state;
	struct sink *sink = sink_start(0, true);
	const struct queue_recipient rcpt[] = { { "ok@example.net", RELAY_FORWARD },
	    { "lmtpfail@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;
	char *dsn;

	snprintf(hop, sizeof(hop), "lmtp:127.0.0.1:%u", sink->port);
	configure(f, hop);
	queue = open_queue(f, 0);
	enqueue(f, queue, "postmaster@example.com", rcpt, 2, id);
	assert_true(wait_for_count(f, "mail/example.com/postmaster/new", 1));
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(sink_recipients(sink), 1);
	dsn = read_first(f, "mail/example.com/postmaster/new");
	assert_non_null(dsn);
	assert_non_null(strstr(dsn, "Final-Recipient: rfc822; lmtpfail@example.net\n"));
	assert_non_null(strstr(dsn, "Status: 5.2.2\n"));
	assert_null(strstr(dsn, "Final-Recipient: rfc822; ok@example.net"));
	free(dsn);
	queue_close(queue);
	sink_stop(sink);
}

static void
test_temporary_failure_is_retried_until_accepted(void **state)
{
	struct fixture *f = *state;
	struct sink *sink = sink_start(0, false);
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL },
	    { "later@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX], err[128];
	struct queue_file file;
	struct queue *queue;
	char *content;

	atomic_store(&sink->refuse_later, true);
	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", sink->port);
	configure(f, hop);
	queue = open_queue(f, 0);
	enqueue(f, queue, "s@example.org", rcpt, 2, id);
	assert_true(wait_for_count(f, "queue/deferred", 1));
	/* the local copy is done and marked so: a retry must not deliver it twice */
	content = read_first(f, "queue/deferred");
	assert_non_null(content);
	assert_true(queue_file_parse(content, strlen(content), &file, err, sizeof(err)));
	assert_int_equal(file.recipients[0].status, QUEUE_RCPT_DELIVERED);
	assert_int_equal(file.recipients[1].status, QUEUE_RCPT_PENDING);
	queue_file_free(&file);
	free(content);
	assert_int_equal(sink_recipients(sink), 0);
	atomic_store(&sink->refuse_later, false);
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(sink_recipients(sink), 1);
	assert_int_equal(count_files(f, "mail/example.com/user/new"), 1);
	queue_close(queue);
	sink_stop(sink);
}

static void
test_next_hop_down_then_back_delivers_on_retry(void **state)
{
	struct fixture *f = *state;
	const struct queue_recipient rcpt[] = { { "a@example.net", RELAY_FORWARD } };
	uint16_t port = free_port();
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;
	struct sink *sink;

	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", port);
	configure(f, hop);
	queue = open_queue(f, 0);
	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	assert_true(wait_for_count(f, "queue/deferred", 1));
	assert_true(file_exists(f, "queue/deferred", id));
	sink = sink_start(port, false);
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(sink_recipients(sink), 1);
	queue_close(queue);
	sink_stop(sink);
}

static void
test_expired_message_bounces_with_the_last_error(void **state)
{
	struct fixture *f = *state;
	const struct queue_recipient rcpt[] = { { "a@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;
	char *dsn;

	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", free_port());
	configure(f, hop);
	f->config.queue_lifetime_ms = 0;
	queue = open_queue(f, 0);
	enqueue(f, queue, "postmaster@example.com", rcpt, 1, id);
	assert_true(wait_for_count(f, "mail/example.com/postmaster/new", 1));
	assert_true(wait_for_empty_queue(f));
	dsn = read_first(f, "mail/example.com/postmaster/new");
	assert_non_null(dsn);
	assert_non_null(strstr(dsn, "Status: 4.4.7\n"));
	assert_non_null(strstr(dsn, "message expired"));
	free(dsn);
	queue_close(queue);
}

/* A failure of mail from <> (a DSN itself) is logged and dropped, never bounced. */
static void
test_failure_of_null_sender_mail_is_not_bounced(void **state)
{
	struct fixture *f = *state;
	struct sink *sink = sink_start(0, false);
	const struct queue_recipient rcpt[] = { { "reject@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;

	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", sink->port);
	configure(f, hop);
	queue = open_queue(f, 0);
	enqueue(f, queue, "", rcpt, 1, id);
	assert_true(wait_for_empty_queue(f));
	usleep(200 * 1000);
	assert_true(queue_empty(f));
	assert_int_equal(count_files(f, "mail/example.com"), 1);	/* only "user" */
	pthread_mutex_lock(&sink->lock);
	assert_int_equal(sink->messages, 0);
	pthread_mutex_unlock(&sink->lock);
	queue_close(queue);
	sink_stop(sink);
}

/* Postfix's connection cache idea: the second message reuses the idle connection. */
static void
test_next_hop_connection_is_reused_for_the_next_message(void **state)
{
	struct fixture *f = *state;
	struct sink *sink = sink_start(0, false);
	const struct queue_recipient rcpt[] = { { "a@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;

	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", sink->port);
	configure(f, hop);
	queue = open_queue(f, 0);
	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	assert_true(wait_for_empty_queue(f));
	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(sink_recipients(sink), 2);
	assert_int_equal(atomic_load(&sink->connections), 1);
	queue_close(queue);
	sink_stop(sink);
}

/* A cached connection the server stopped answering costs a timeout, not the message. */
static void
test_dead_cached_connection_is_replaced_by_a_fresh_one(void **state)
{
	struct fixture *f = *state;
	struct sink *sink = sink_start(0, false);
	const struct queue_recipient rcpt[] = { { "a@example.net", RELAY_FORWARD } };
	char hop[64], id[QUEUE_ID_MAX];
	struct queue *queue;

	atomic_store(&sink->abandon, true);
	snprintf(hop, sizeof(hop), "smtp:127.0.0.1:%u", sink->port);
	configure(f, hop);
	f->config.command_timeout_ms = 300;
	queue = open_queue(f, 0);
	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	assert_true(wait_for_empty_queue(f));
	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	assert_true(wait_for_empty_queue(f));
	assert_int_equal(count_files(f, "queue/deferred"), 0);
	assert_int_equal(sink_recipients(sink), 2);
	assert_int_equal(atomic_load(&sink->connections), 2);
	queue_close(queue);
	sink_stop(sink);
}

static void
test_restart_resumes_the_queue(void **state)
{
	struct fixture *f = *state;
	const struct queue_recipient rcpt[] = { { "user@example.com", RELAY_LOCAL } };
	char id[QUEUE_ID_MAX];
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);

	enqueue(f, queue, "s@example.org", rcpt, 1, id);
	queue_close(queue);
	assert_int_equal(count_files(f, "queue/incoming"), 1);
	assert_true(count_files(f, "mail/example.com/user/new") <= 0);	/* none or no new/ */
	queue = open_queue(f, 0);
	assert_true(wait_for_count(f, "mail/example.com/user/new", 1));
	assert_true(wait_for_empty_queue(f));
	queue_close(queue);
}

static void
test_unfinished_temp_files_are_removed_at_start(void **state)
{
	struct fixture *f = *state;
	char path[PATH_SIZE + 64];
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	FILE *file;

	queue_close(queue);
	snprintf(path, sizeof(path), "%s/tmp/18A3F0C2B9D1E4F2C7A0B", f->queue_dir);
	file = fopen(path, "w");
	assert_non_null(file);
	fputs("relayguard-queue 1\nid 18A3F0C2B9D1E4F2C7A0B\n", file);
	fclose(file);
	queue = open_queue(f, 0);
	assert_int_equal(count_files(f, "queue/tmp"), 0);
	assert_true(queue_empty(f));
	queue_close(queue);
}

static void
test_corrupt_queue_file_is_quarantined(void **state)
{
	struct fixture *f = *state;
	char path[PATH_SIZE + 64];
	struct queue *queue = open_queue(f, QUEUE_OPEN_NO_MANAGER);
	FILE *file;

	queue_close(queue);
	snprintf(path, sizeof(path), "%s/incoming/ABCDEF", f->queue_dir);
	file = fopen(path, "w");
	assert_non_null(file);
	fputs("this is not a queue file\n", file);
	fclose(file);
	queue = open_queue(f, 0);
	assert_true(wait_for_count(f, "queue/corrupt", 1));
	assert_true(file_exists(f, "queue/corrupt", "ABCDEF"));
	assert_true(queue_empty(f));
	queue_close(queue);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_done_comes_after_the_file_is_in_incoming,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_committed_file_holds_envelope_received_header_and_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_with_line_break_is_refused_at_begin,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_concurrent_commits_are_all_acknowledged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_runs_on_the_committing_threads_loop,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_ids_are_unique_and_safe_file_names,
		    setup, teardown),
		cmocka_unit_test(test_retry_delay_doubles_within_bounds),
		cmocka_unit_test_setup_teardown(test_local_recipient_lands_in_maildir_new,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_local_mailbox_bounces_to_the_sender,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_recipient_goes_to_the_next_hop,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lmtp_next_hop_reports_each_recipient,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_temporary_failure_is_retried_until_accepted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_hop_down_then_back_delivers_on_retry,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_message_bounces_with_the_last_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_of_null_sender_mail_is_not_bounced,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_next_hop_connection_is_reused_for_the_next_message, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dead_cached_connection_is_replaced_by_a_fresh_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resumes_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unfinished_temp_files_are_removed_at_start,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_queue_file_is_quarantined,
		    setup, teardown),
	};

	log_init("test_queue", LOG_SINK_STDERR, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
