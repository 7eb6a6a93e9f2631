/* server.h - the listeners and worker loops of relayguard smtpd: accept (until EAGAIN, large
 * backlog), hand each connection to the least busy worker thread, and glue its bufferevent,
 * TLS, DNS checks and the queue to a struct session. Called by smtpd_main.c only. */
#ifndef RELAYGUARD_SMTPD_SERVER_H
#define RELAYGUARD_SMTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "smtpd/config.h"
#include "smtpd/queue.h"

struct event_base;

/* listen(2) backlog; the kernel caps it at net.core.somaxconn. A small backlog drops SYNs
 * under bursts (OpenSMTPD's 5 fell to 9-16 messages/s here). */
#define SERVER_LISTEN_BACKLOG 4096
/* Connections accepted per wake-up before the loop serves other events. */
#define SERVER_ACCEPT_BATCH 256
/* Pause after accept(2) ran out of descriptors. */
#define SERVER_ACCEPT_PAUSE_MS 100
/* Per connection: stop feeding the session while this much output waits for the client,
 * and stop reading while this much input waits for the session. */
#define SERVER_OUTPUT_HIGH (64 * 1024)
#define SERVER_INPUT_HIGH (64 * 1024)
/* How long a stopping worker waits for its sessions (and commits) to finish. */
#define SERVER_STOP_GRACE_MS 10000
/* Longest time spent flushing the last reply of a closing connection. */
#define SERVER_CLOSE_FLUSH_MS 5000

struct smtpd_server;

/* smtpd_server_new - everything that needs privileges or may fail early: bind and listen on
 * every configured listener, load the TLS certificate and key, the users file and the
 * relay policy. Call it as root before dropping privileges. config must outlive the
 * server. NULL and a message in err on failure. */
struct smtpd_server *smtpd_server_new(const struct smtpd_config *config, char *err,
    size_t err_size);
/* smtpd_server_start - start the worker threads (each with its own loop, DNS client and
 * queue_attach_loop) and accept on base, the caller's loop. false and a message on
 * failure. */
bool smtpd_server_start(struct smtpd_server *server, struct event_base *base,
    struct queue *queue, char *err, size_t err_size);
/* smtpd_server_stop - stop accepting; every worker answers its idle sessions 421 4.3.2,
 * lets commits in flight finish (at most SERVER_STOP_GRACE_MS), then ends. Non-blocking. */
void smtpd_server_stop(struct smtpd_server *server);
/* smtpd_server_wait - join the workers (after smtpd_server_stop) and close the sessions
 * they left. Call queue_close() after this and before smtpd_server_free(): the queue's
 * per-loop events live on the workers' loops. */
void smtpd_server_wait(struct smtpd_server *server);
/* smtpd_server_free - free the loops, DNS clients, listeners, TLS and policy. */
void smtpd_server_free(struct smtpd_server *server);
/* smtpd_server_connections - sessions open right now (all workers). */
size_t smtpd_server_connections(const struct smtpd_server *server);

#endif
