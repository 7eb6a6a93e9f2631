/* dnsbl_server.h - the sockets of `relayguard dnsbl`: UDP worker threads (one per core, each
 * with its own SO_REUSEPORT socket, recvmmsg/sendmmsg batches) and TCP on the main loop.
 * Answers come from zone_answer_packet() on the current snapshot; nothing else here decides. */
#ifndef RELAYGUARD_DNSBL_SERVER_H
#define RELAYGUARD_DNSBL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "dnsbl/metrics.h"
#include "dnsbl/zone.h"

/* Datagrams taken (and replies sent) per system call. */
#define DNSBL_UDP_BATCH 64
/* Default largest UDP reply (the DNS flag day 2020 size, no IP fragmentation). */
#define DNSBL_UDP_MAX_DEFAULT 1232
#define DNSBL_UDP_MAX_LIMIT 4096

struct dnsbl_server_config {
	size_t workers;			/* UDP threads (and sockets) per listen address */
	size_t udp_max;			/* largest UDP reply, 512..4096 */
	bool tcp;			/* serve TCP too */
	size_t tcp_max_clients;		/* open TCP connections at most */
	unsigned tcp_idle_timeout_s;	/* close a TCP connection idle this long */
	unsigned spin_us;		/* poll this long after a batch before sleeping */
};

struct event_base;
struct dnsbl_server;

/* dnsbl_server_workers_default - one worker per CPU this process may run on */
size_t dnsbl_server_workers_default(void);
/* dnsbl_server_new - a server answering from slot; metrics needs one shard per UDP worker
 * of every listen address plus one for TCP (see dnsbl_server_shards) */
struct dnsbl_server *dnsbl_server_new(const struct dnsbl_server_config *config,
    struct zone_snapshot_slot *slot, struct metrics *metrics);
/* dnsbl_server_shards - metrics shards the server needs for listen_count addresses */
size_t dnsbl_server_shards(const struct dnsbl_server_config *config, size_t listen_count);
/* dnsbl_server_listen - bind the UDP sockets (and the TCP one) of one address now, before
 * privileges are dropped; false and a message when the port cannot be had */
bool dnsbl_server_listen(struct dnsbl_server *server, const struct netaddr *address,
    uint16_t port, char *err, size_t err_size);
/* dnsbl_server_start - start the UDP threads and accept TCP on base */
bool dnsbl_server_start(struct dnsbl_server *server, struct event_base *base, char *err,
    size_t err_size);
/* dnsbl_server_stop - stop accepting, wake and join the UDP threads, close TCP clients */
void dnsbl_server_stop(struct dnsbl_server *server);
void dnsbl_server_free(struct dnsbl_server *server);
struct xfr_service;
/* dnsbl_server_set_xfr - serve AXFR/IXFR over TCP to the clients xfr allows (before
 * dnsbl_server_start); without it every transfer is REFUSED */
void dnsbl_server_set_xfr(struct dnsbl_server *server, struct xfr_service *xfr);

#endif
