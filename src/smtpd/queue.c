/* queue.c - the writer side of the queue: sessions write queue files; a flusher thread makes
 * them durable in batches (group commit) and reports back on each session's own loop.
 * Must never call done(ok=true) before file fsync, rename and directory fsync are done. */
#include "smtpd/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "smtpd/queue_file.h"
#include "smtpd/queue_manager.h"
#include "smtpd/queue_spool.h"

/* Message bytes kept in memory before a write(2): most messages need one write. */
#define QUEUE_WRITER_BUFFER_SIZE (32 * 1024)
/* Flusher threads: batches are synced concurrently, so the kernel can merge their journal
 * commits while one batch waits for the disk. */
#define QUEUE_FLUSHERS 4

struct queue_loop;

struct queue_writer {
	struct queue *queue;
	struct queue_loop *loop;	/* where done() runs; set at commit */
	char id[QUEUE_ID_MAX];
	int fd;
	off_t length;			/* bytes written to the file so far */
	off_t stale_size;		/* old bytes of a recycled file: truncated at commit */
	char *buffer;
	size_t used;
	bool failed;			/* an I/O error: commit reports false */
	bool ok;			/* the flusher's verdict */
	queue_commit_fn done;
	void *arg;
	TAILQ_ENTRY(queue_writer) link;
};

TAILQ_HEAD(writer_list, queue_writer);

/* One event loop that receives commit results (a session worker). */
struct queue_loop {
	struct queue *queue;
	struct event_base *base;
	pthread_t thread;
	int notify_fd;			/* eventfd: results are waiting */
	struct event *notify_event;
	pthread_mutex_t lock;		/* guards finished */
	struct writer_list finished;
	struct queue_loop *next;
};

struct queue {
	const struct smtpd_config *config;
	struct queue_spool spool;
	struct queue_manager *manager;

	pthread_mutex_t lock;		/* guards what follows */
	pthread_cond_t wake;
	struct writer_list pending;	/* committed by sessions, not yet flushed */
	bool stopping;
	struct queue_loop *loops;

	pthread_t flushers[QUEUE_FLUSHERS];
	size_t flusher_count;		/* started */
};

/* loop_notify_cb - results arrived: call every done() on this loop's thread. */
static void
loop_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_loop *loop = arg;
	struct writer_list ready;
	struct queue_writer *writer;
	uint64_t count;

	(void)what;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("event=queue_notify_read error=\"%s\"", strerror(errno));
	TAILQ_INIT(&ready);
	pthread_mutex_lock(&loop->lock);
	TAILQ_CONCAT(&ready, &loop->finished, link);
	pthread_mutex_unlock(&loop->lock);
	while ((writer = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, writer, link);
		writer->done(writer->arg, writer->ok, writer->id);
		free(writer);
	}
}

/* loop_attach - register base as the loop of the calling thread. */
static bool
loop_attach(struct queue *queue, struct event_base *base, char *err, size_t err_size)
{
	struct queue_loop *loop = xcalloc(1, sizeof(*loop));

	loop->queue = queue;
	loop->base = base;
	loop->thread = pthread_self();
	TAILQ_INIT(&loop->finished);
	pthread_mutex_init(&loop->lock, NULL);
	loop->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->notify_fd < 0) {
		snprintf(err, err_size, "eventfd: %s", strerror(errno));
		pthread_mutex_destroy(&loop->lock);
		free(loop);
		return false;
	}
	loop->notify_event = event_new(base, loop->notify_fd, EV_READ | EV_PERSIST,
	    loop_notify_cb, loop);
	if (loop->notify_event == NULL || event_add(loop->notify_event, NULL) != 0) {
		snprintf(err, err_size, "cannot watch the queue's eventfd");
		if (loop->notify_event != NULL)
			event_free(loop->notify_event);
		close(loop->notify_fd);
		pthread_mutex_destroy(&loop->lock);
		free(loop);
		return false;
	}
	pthread_mutex_lock(&queue->lock);
	loop->next = queue->loops;
	queue->loops = loop;
	pthread_mutex_unlock(&queue->lock);
	return true;
}

/* loop_for_this_thread - the loop attached by the calling thread; fatal if none (a
 * session committing from a thread that never attached its loop is our own bug). */
static struct queue_loop *
loop_for_this_thread(struct queue *queue)
{
	struct queue_loop *loop;

	pthread_mutex_lock(&queue->lock);
	for (loop = queue->loops; loop != NULL; loop = loop->next)
		if (pthread_equal(loop->thread, pthread_self()))
			break;
	pthread_mutex_unlock(&queue->lock);
	if (loop == NULL)
		fatal("queue: commit from a thread without an attached loop");
	return loop;
}

/* loop_post - hand a finished writer to its loop (any thread). */
static void
loop_post(struct queue_loop *loop, struct queue_writer *writer)
{
	uint64_t one = 1;
	bool was_empty;

	pthread_mutex_lock(&loop->lock);
	was_empty = TAILQ_EMPTY(&loop->finished);
	TAILQ_INSERT_TAIL(&loop->finished, writer, link);
	pthread_mutex_unlock(&loop->lock);
	if (was_empty && write(loop->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=queue_notify_write error=\"%s\"", strerror(errno));
}

/* loop_free - detach and free a loop; drops results nobody will collect. */
static void
loop_free(struct queue_loop *loop)
{
	struct queue_writer *writer;

	event_free(loop->notify_event);
	close(loop->notify_fd);
	while ((writer = TAILQ_FIRST(&loop->finished)) != NULL) {
		TAILQ_REMOVE(&loop->finished, writer, link);
		free(writer);
	}
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

/* flush_batch - make a batch durable: fsync each file, rename them all into incoming,
 * one fsync of incoming for the whole batch, then report every result. */
static void
flush_batch(struct queue *queue, struct writer_list *batch)
{
	const struct queue_spool *spool = &queue->spool;
	struct queue_writer *writer;
	size_t renamed = 0;
	bool directory_ok = true;

	TAILQ_FOREACH(writer, batch, link) {
		writer->ok = !writer->failed;
		if (writer->ok && writer->stale_size > writer->length &&
		    ftruncate(writer->fd, writer->length) != 0) {
			log_error("queue_id=%s event=queue_truncate_failed error=\"%s\"", writer->id,
			    strerror(errno));
			writer->ok = false;
		}
		if (writer->ok && fsync(writer->fd) != 0) {
			log_error("queue_id=%s event=queue_fsync_failed error=\"%s\"", writer->id,
			    strerror(errno));
			writer->ok = false;
		}
		if (close(writer->fd) != 0 && writer->ok) {
			log_error("queue_id=%s event=queue_close_failed error=\"%s\"", writer->id,
			    strerror(errno));
			writer->ok = false;
		}
		writer->fd = -1;
		if (writer->ok && !queue_spool_move(spool, writer->id, QUEUE_AREA_TMP,
		    QUEUE_AREA_INCOMING)) {
			log_error("queue_id=%s event=queue_rename_failed error=\"%s\"", writer->id,
			    strerror(errno));
			writer->ok = false;
		}
		if (writer->ok)
			renamed++;
		else
			unlinkat(spool->area_fd[QUEUE_AREA_TMP], writer->id, 0);
	}
	if (renamed > 0 && !queue_spool_sync_area(spool, QUEUE_AREA_INCOMING)) {
		log_error("event=queue_dir_fsync_failed error=\"%s\" messages=%zu",
		    strerror(errno), renamed);
		directory_ok = false;
	}
	while ((writer = TAILQ_FIRST(batch)) != NULL) {
		TAILQ_REMOVE(batch, writer, link);
		if (writer->ok && !directory_ok) {
			/* Not durable: the client gets 451 and will send it again. */
			unlinkat(spool->area_fd[QUEUE_AREA_INCOMING], writer->id, 0);
			writer->ok = false;
		}
		if (writer->ok) {
			log_info("queue_id=%s event=queued", writer->id);
			if (queue->manager != NULL)
				queue_manager_submit(queue->manager, writer->id);
		}
		loop_post(writer->loop, writer);
	}
}

/* flusher_main - the group-commit thread: everything committed while one batch was being
 * synced forms the next batch, so N sessions share one directory fsync. */
static void *
flusher_main(void *arg)
{
	struct queue *queue = arg;
	struct writer_list batch;

	TAILQ_INIT(&batch);
	pthread_mutex_lock(&queue->lock);
	for (;;) {
		while (TAILQ_EMPTY(&queue->pending) && !queue->stopping)
			pthread_cond_wait(&queue->wake, &queue->lock);
		if (TAILQ_EMPTY(&queue->pending) && queue->stopping)
			break;
		TAILQ_CONCAT(&batch, &queue->pending, link);
		pthread_mutex_unlock(&queue->lock);
		flush_batch(queue, &batch);
		pthread_mutex_lock(&queue->lock);
	}
	pthread_mutex_unlock(&queue->lock);
	return NULL;
}

/* start_thread - pthread_create with every signal blocked in the new thread. */
static int
start_thread(pthread_t *thread, void *(*main_fn)(void *), void *arg)
{
	sigset_t all, previous;
	int error;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &previous);
	error = pthread_create(thread, NULL, main_fn, arg);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	return error;
}

/* queue_open_flags - open the spool, start the flusher and (unless told not to) the manager. */
struct queue *
queue_open_flags(struct event_base *base, const struct smtpd_config *config, unsigned flags,
    char *err, size_t err_size)
{
	struct queue *queue = xcalloc(1, sizeof(*queue));
	int error;

	queue->config = config;
	TAILQ_INIT(&queue->pending);
	pthread_mutex_init(&queue->lock, NULL);
	pthread_cond_init(&queue->wake, NULL);
	if (!queue_spool_open(&queue->spool, config->queue_dir, err, err_size)) {
		pthread_cond_destroy(&queue->wake);
		pthread_mutex_destroy(&queue->lock);
		free(queue);
		return NULL;
	}
	if (!loop_attach(queue, base, err, err_size)) {
		queue_close(queue);
		return NULL;
	}
	/* The manager first: the flushers read queue->manager from their own threads. */
	if ((flags & QUEUE_OPEN_NO_MANAGER) == 0) {
		queue->manager = queue_manager_start(config, &queue->spool, err, err_size);
		if (queue->manager == NULL) {
			queue_close(queue);
			return NULL;
		}
	}
	for (size_t i = 0; i < QUEUE_FLUSHERS; i++) {
		error = start_thread(&queue->flushers[i], flusher_main, queue);
		if (error != 0) {
			snprintf(err, err_size, "cannot start the queue flusher: %s",
			    strerror(error));
			queue_close(queue);
			return NULL;
		}
		queue->flusher_count++;
	}
	log_info("event=queue_open queue_dir=%s manager=%s", config->queue_dir,
	    queue->manager != NULL ? "yes" : "no");
	return queue;
}

/* queue_open - the queue with its manager. */
struct queue *
queue_open(struct event_base *base, const struct smtpd_config *config, char *err,
    size_t err_size)
{
	return queue_open_flags(base, config, 0, err, err_size);
}

/* queue_attach_loop - register another worker's loop. */
bool
queue_attach_loop(struct queue *queue, struct event_base *base, char *err, size_t err_size)
{
	return loop_attach(queue, base, err, err_size);
}

/* queue_id_new - a new unique queue id. */
void
queue_id_new(struct queue *queue, char out[QUEUE_ID_MAX])
{
	(void)queue;
	queue_id_generate(out);
}

/* writer_flush - write the buffered bytes to the file. */
static bool
writer_flush(struct queue_writer *writer)
{
	if (writer->failed)
		return false;
	if (writer->used > 0 && !queue_spool_write_all(writer->fd, writer->buffer,
	    writer->used)) {
		log_error("queue_id=%s event=queue_write_failed error=\"%s\"", writer->id,
		    strerror(errno));
		writer->failed = true;
	}
	writer->length += (off_t)writer->used;
	writer->used = 0;
	return !writer->failed;
}

/* queue_writer_begin - create tmp/ID and buffer the envelope and the Received header. */
struct queue_writer *
queue_writer_begin(struct queue *queue, const struct queue_envelope *env, char *err,
    size_t err_size)
{
	struct queue_writer *writer;
	size_t envelope_size, header_length;
	char *envelope;
	long length;

	if (env->queue_id == NULL || !queue_file_id_valid(env->queue_id, strlen(env->queue_id))) {
		snprintf(err, err_size, "bad queue id");
		return NULL;
	}
	header_length = env->received_header != NULL ? strlen(env->received_header) : 0;
	envelope_size = queue_file_envelope_size(env->mail_from, env->recipients,
	    env->recipient_count);
	envelope = xmalloc(envelope_size);
	length = queue_file_write_envelope(envelope, envelope_size, env->queue_id,
	    queue_wall_ms(), env->mail_from, env->body_8bit, env->recipients,
	    env->recipient_count);
	if (length < 0) {
		snprintf(err, err_size, "envelope cannot be queued (bad address or decision)");
		free(envelope);
		return NULL;
	}
	writer = xcalloc(1, sizeof(*writer));
	writer->queue = queue;
	snprintf(writer->id, sizeof(writer->id), "%s", env->queue_id);
	writer->fd = queue_spool_create(&queue->spool, writer->id, &writer->stale_size);
	if (writer->fd < 0) {
		snprintf(err, err_size, "create tmp/%s: %s", writer->id, strerror(errno));
		log_error("queue_id=%s event=queue_create_failed error=\"%s\"", writer->id,
		    strerror(errno));
		free(envelope);
		free(writer);
		return NULL;
	}
	writer->buffer = xmalloc(QUEUE_WRITER_BUFFER_SIZE);
	if (!queue_writer_append(writer, envelope, (size_t)length) ||
	    !queue_writer_append(writer, env->received_header != NULL ? env->received_header : "",
	    header_length)) {
		snprintf(err, err_size, "write tmp/%s: %s", writer->id, strerror(errno));
		free(envelope);
		queue_writer_abort(writer);
		return NULL;
	}
	free(envelope);
	return writer;
}

/* queue_writer_append - buffer data; write(2) whenever the buffer fills. */
bool
queue_writer_append(struct queue_writer *writer, const char *data, size_t length)
{
	if (writer->failed)
		return false;
	if (length >= QUEUE_WRITER_BUFFER_SIZE) {
		if (!writer_flush(writer))
			return false;
		if (!queue_spool_write_all(writer->fd, data, length)) {
			log_error("queue_id=%s event=queue_write_failed error=\"%s\"", writer->id,
			    strerror(errno));
			writer->failed = true;
			return false;
		}
		writer->length += (off_t)length;
		return true;
	}
	if (QUEUE_WRITER_BUFFER_SIZE - writer->used < length && !writer_flush(writer))
		return false;
	memcpy(writer->buffer + writer->used, data, length);
	writer->used += length;
	return true;
}

/* queue_writer_commit - write the rest and hand the file to the flusher. */
void
queue_writer_commit(struct queue_writer *writer, queue_commit_fn done, void *arg)
{
	struct queue *queue = writer->queue;

	writer_flush(writer);
	free(writer->buffer);
	writer->buffer = NULL;
	writer->done = done;
	writer->arg = arg;
	writer->loop = loop_for_this_thread(queue);
	pthread_mutex_lock(&queue->lock);
	TAILQ_INSERT_TAIL(&queue->pending, writer, link);
	pthread_cond_signal(&queue->wake);
	pthread_mutex_unlock(&queue->lock);
}

/* queue_writer_abort - drop an uncommitted message. */
void
queue_writer_abort(struct queue_writer *writer)
{
	if (writer->fd >= 0) {
		close(writer->fd);
		unlinkat(writer->queue->spool.area_fd[QUEUE_AREA_TMP], writer->id, 0);
	}
	free(writer->buffer);
	free(writer);
}

/* queue_close - stop the manager and the flusher (after it synced what is pending). */
void
queue_close(struct queue *queue)
{
	struct queue_loop *loop;

	/* The flushers first: they finish pending commits and may still submit to the manager. */
	pthread_mutex_lock(&queue->lock);
	queue->stopping = true;
	pthread_cond_broadcast(&queue->wake);
	pthread_mutex_unlock(&queue->lock);
	for (size_t i = 0; i < queue->flusher_count; i++)
		pthread_join(queue->flushers[i], NULL);
	if (queue->manager != NULL)
		queue_manager_stop(queue->manager);
	queue->manager = NULL;
	while ((loop = queue->loops) != NULL) {
		queue->loops = loop->next;
		loop_free(loop);
	}
	queue_spool_close(&queue->spool);
	pthread_cond_destroy(&queue->wake);
	pthread_mutex_destroy(&queue->lock);
	free(queue);
}
