/* target_source.h - the stream of targets of one `relayguard check` run, read lazily:
 * arguments, then -f files (or stdin), CIDR ranges walked one address at a time. */
#ifndef RELAYGUARD_CHECK_TARGET_SOURCE_H
#define RELAYGUARD_CHECK_TARGET_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/target.h"
#include "core/netaddr.h"

#define TARGET_SOURCE_LINE_MAX TARGET_INPUT_MAX

struct target_source_options {
	char **arguments;            /* command-line targets, in order */
	size_t argument_count;
	char **files;                /* -f FILE ("-" is standard input), read after the arguments */
	size_t file_count;
	uint64_t max_targets;        /* a CIDR range holding more addresses is refused */
	unsigned shard_index;        /* 1..shard_count; shard_count 0 or 1 = no sharding */
	unsigned shard_count;
};

/* What target_source_next() produced. */
enum target_source_kind {
	TARGET_SOURCE_NAME,     /* a name or host:port: expand it through DNS (target_expand) */
	TARGET_SOURCE_ADDRESS,  /* a concrete address (a literal, or one address of a range) */
	TARGET_SOURCE_END,      /* nothing left */
	TARGET_SOURCE_ERROR,    /* a bad line or range: message in err; the stream goes on */
};

struct target_source_entry {
	char input[TARGET_SOURCE_LINE_MAX]; /* the argument or line as given (the range for CIDRs) */
	struct netaddr address;            /* TARGET_SOURCE_ADDRESS */
	uint16_t port;                     /* TARGET_SOURCE_ADDRESS: 0 = the default port */
	bool named_explicitly;             /* the user typed exactly this address (a literal or a /32) */
};

struct target_source;

/* target_source_new - NULL and a message when a -f file cannot be opened. */
struct target_source *target_source_new(const struct target_source_options *options,
    char *err, size_t err_size);
void target_source_free(struct target_source *source);
/* target_source_next - the next entry; errors name the file and line ("FILE:LINE: ..."). */
enum target_source_kind target_source_next(struct target_source *source,
    struct target_source_entry *out, char *err, size_t err_size);
/* target_source_known_total - how many entries exist in all, once the stream has ended
 * or holds only ranges and arguments; 0 when not known yet (files still being read). */
uint64_t target_source_known_total(const struct target_source *source);

/* target_shard_owns - true when address:port belongs to shard index of count (1-based);
 * the same FNV-1a hash on every machine, so N nodes split one target space exactly. */
bool target_shard_owns(const struct netaddr *address, unsigned index, unsigned count);

/* The reserved ranges never scanned unless named explicitly (loopback stays allowed). */
void target_default_exclusions(struct netprefix_set *set);

/* A set of (address, port) fingerprints: 8 bytes a target, for deduplication. */
struct target_seen;
struct target_seen *target_seen_new(void);
void target_seen_free(struct target_seen *seen);
/* target_seen_add - true the first time this address and port are added. */
bool target_seen_add(struct target_seen *seen, const struct netaddr *address, uint16_t port);

#endif
