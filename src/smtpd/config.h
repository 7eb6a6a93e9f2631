/* config.h - the [smtpd] configuration: one key table, the parsed struct, load and lint.
 * Read by every smtpd module; only config.c writes a struct smtpd_config. */
#ifndef RELAYGUARD_SMTPD_CONFIG_H
#define RELAYGUARD_SMTPD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hostport.h"
#include "core/netaddr.h"

#define SMTPD_CONFIG_SECTION "smtpd"
#define SMTPD_LISTENERS_MAX 16
#define SMTPD_DNSBL_ZONES_MAX 16
/* Room for the bookkeeping of every key of the table (config.c checks it fits). */
#define SMTPD_CONFIG_KEYS_MAX 48

enum listener_mode {
	LISTENER_SMTP,
	LISTENER_SUBMISSION,	/* 587: AUTH required */
	LISTENER_SMTPS,		/* 465: implicit TLS */
};

struct smtpd_listener {
	struct netaddr address;
	uint16_t port;
	enum listener_mode mode;
};

struct smtpd_dnsbl_zone {
	char zone[256];
	int weight;
};

struct smtpd_config {
	char path[PATH_MAX];		/* the file it came from ("" = none) */
	char hostname[256];		/* banner/EHLO name (default: gethostname) */
	struct smtpd_listener listeners[SMTPD_LISTENERS_MAX];
	size_t listener_count;		/* key listen, e.g. "127.0.0.1:2525
					   smtps=127.0.0.1:4465 submission=[::1]:5587" */
	char **local_domains;		/* lower-case, no trailing dot */
	size_t local_domain_count;
	char **relay_domains;		/* idem; ".example.net" = every subdomain of it */
	size_t relay_domain_count;
	struct netprefix_set relay_clients;
	bool allow_routed_local_parts;	/* default false: % ! @ in local parts -> 553 */
	char users[PATH_MAX];		/* users file: "local@domain[:crypt-hash]" lines */
	char maildir[PATH_MAX];		/* Maildir root: ROOT/domain/local/{tmp,new,cur} */
	char next_hop[300];		/* "smtp:host:port" or "lmtp:host:port" or "" */
	bool direct_mx;			/* deliver relay mail by MX when no next_hop */
	char queue_dir[PATH_MAX];
	struct smtpd_dnsbl_zone dnsbl[SMTPD_DNSBL_ZONES_MAX];
	size_t dnsbl_count;
	int dnsbl_threshold;
	bool dnsbl_fail_closed;		/* default false: DNS failure lets the client in */
	char dns_server[80];		/* "" = /etc/resolv.conf; tests point it at loopback */
	char tls_cert[PATH_MAX];
	char tls_key[PATH_MAX];
	size_t message_size_limit;	/* default 10 MiB */
	unsigned max_recipients;	/* default 100 (RFC 5321 floor 100) */
	unsigned max_errors;		/* default 10, then 421 */
	unsigned max_connections;	/* 1000 */
	unsigned max_connections_per_client;	/* 50 */
	uint64_t greeting_delay_ms;	/* wait before the banner to catch early talkers; 0=off */
	uint64_t command_timeout_ms;	/* 300 s */
	uint64_t data_timeout_ms;	/* 180 s */
	uint64_t queue_lifetime_ms;	/* 5 days */
	uint64_t retry_min_ms;		/* backoff 60 s .. */
	uint64_t retry_max_ms;		/* .. 1 h */
	char chroot[PATH_MAX];		/* chroot here after binding ("" = none); queue_dir
					   and maildir must lie inside it */
	char user[64];			/* drop to this user after binding (default "nobody"
					   when started as root; ignored otherwise) */
	unsigned workers;		/* event loops (default: number of cores) */
	char log[16];			/* "stderr" or "syslog" */

	/* Bookkeeping for problem messages, indexed like smtpd_config_keys[]: the file line
	 * that set the key (0: default or -o), and the 1-based -o override that set it last
	 * (0: none). Readers other than config.c never need these. */
	unsigned key_line[SMTPD_CONFIG_KEYS_MAX];
	unsigned key_override[SMTPD_CONFIG_KEYS_MAX];
};

/* One problem found by load or lint. line: the file line, 0 when the problem comes from a
 * default, an -o override (then message says which) or the configuration as a whole. */
struct config_problem {
	unsigned line;
	char key[64];
	char message[256];
	bool fatal;
};

/* The key table: the parser, lint and the man page are all driven from it. */
enum config_type {
	CONFIG_STRING,		/* free text, checked by the key's own rule */
	CONFIG_PATH,		/* a file or directory name ("" = unset) */
	CONFIG_BOOL,		/* yes/no, true/false, on/off, 1/0 */
	CONFIG_SIZE,		/* bytes; suffixes k, m, g (binary: 1k = 1024) */
	CONFIG_DURATION,	/* milliseconds internally; suffixes ms, s, m, h, d, w; bare = s */
	CONFIG_COUNT,		/* a non-negative integer */
	CONFIG_DOMAIN_LIST,	/* domain names separated by commas and/or blanks */
	CONFIG_CIDR_LIST,	/* addresses or prefixes separated by commas and/or blanks */
	CONFIG_LISTENER_LIST,	/* [mode=]ADDRESS:PORT items, mode smtp|submission|smtps */
	CONFIG_DNSBL_LIST,	/* zone[*weight] items */
};

/* CONFIG_DOMAIN_LIST flag: ".parent" / "*.parent" entries (every subdomain) allowed. */
#define CONFIG_FLAG_SUBDOMAINS 0x1u

struct config_key {
	const char *name;
	enum config_type type;
	const char *default_value;	/* as it would be written in the file */
	uint64_t minimum;		/* SIZE/DURATION(ms)/COUNT bounds; list: min items */
	uint64_t maximum;		/* SIZE/DURATION(ms)/COUNT bounds; list: max items;
					   STRING/PATH: longest value in bytes */
	const char *doc;		/* one line for lint and the man page */
	/* where the value goes (config.c only) */
	size_t offset;			/* of the field in struct smtpd_config */
	size_t field_size;		/* its size */
	size_t count_offset;		/* DOMAIN_LIST: of the matching _count field */
	unsigned flags;
	/* STRING keys: extra syntax check; false and a reason in err */
	bool (*check)(const char *value, char *err, size_t err_size);
};

extern const struct config_key smtpd_config_keys[];
extern const size_t smtpd_config_key_count;

/* The table's checks of STRING keys (config.c): false and a reason in err. */
bool smtpd_config_check_hostname(const char *value, char *err, size_t err_size);
bool smtpd_config_check_next_hop(const char *value, char *err, size_t err_size);
bool smtpd_config_check_dns_server(const char *value, char *err, size_t err_size);
bool smtpd_config_check_user(const char *value, char *err, size_t err_size);
bool smtpd_config_check_log(const char *value, char *err, size_t err_size);

/* smtpd_config_key_find - the table entry for name (exact match), or NULL. */
const struct config_key *smtpd_config_key_find(const char *name);

/* smtpd_config_load - defaults, then the file (if path), then the overrides ("key=value").
 * Returns false on any fatal problem; problems[] name the file line or the -o override.
 * out is always initialised (smtpd_config_free it even when false is returned). */
bool smtpd_config_load(const char *path, char *const *overrides, size_t override_count,
    struct smtpd_config *out, struct config_problem *problems, size_t max_problems,
    size_t *problem_count);

/* smtpd_config_lint - the "cannot be an open relay" rules (each one documented in
 * relayguard.conf(5), LINT RULES): returns how many problems it stored in problems[]
 * (at most max_problems; when full, a fatal problem replaces a stored warning, so a fatal
 * problem is never lost while max_problems >= 1). Every daemon start calls it and refuses
 * to start when any returned problem is fatal. load's *problem_count works the same way. */
size_t smtpd_config_lint(const struct smtpd_config *config, struct config_problem *problems,
    size_t max_problems);

/* smtpd_config_problem_format - "FILE:LINE: key: message" (or "FILE: key: message" without
 * a line, "key: message" without a file), with "warning: " before the message when the
 * problem is not fatal. Returns the length written or -1 when truncated. */
int smtpd_config_problem_format(const struct smtpd_config *config,
    const struct config_problem *problem, char *out, size_t out_size);

void smtpd_config_free(struct smtpd_config *config);

/* smtpd_config_is_local_domain / _is_relay_domain - domain (any case, one trailing dot
 * allowed) is in local_domains / matches relay_domains (exact, or a ".parent" entry). */
bool smtpd_config_is_local_domain(const struct smtpd_config *config, const char *domain,
    size_t length);
bool smtpd_config_is_relay_domain(const struct smtpd_config *config, const char *domain,
    size_t length);

enum next_hop_protocol {
	NEXT_HOP_SMTP,
	NEXT_HOP_LMTP,
};

/* smtpd_next_hop_parse - "smtp:HOST:PORT" or "lmtp:HOST:PORT" (HOST a name, an IPv4 address
 * or a [bracketed IPv6] address; the port is required). false and a reason in err. */
bool smtpd_next_hop_parse(const char *text, enum next_hop_protocol *protocol,
    struct hostport *host, char *err, size_t err_size);

#endif
