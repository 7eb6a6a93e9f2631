/* config_keys.c - THE table of [smtpd] keys: name, type, default, limits, one-line doc.
 * The loader, `relayguard lint` and relayguard.conf(5) follow it; change a key here first. */
#include <stddef.h>
#include <string.h>

#include "core/hostport.h"
#include "smtpd/config.h"

#define MS_SECOND UINT64_C(1000)
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)
#define KIB UINT64_C(1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
/* RFC 5321 4.5.3.1.7: at least 64K octets of message content must be accepted. */
#define RFC5321_MESSAGE_FLOOR (64 * KIB)
/* RFC 5321 4.5.3.1.8: at least 100 recipients must be buffered. */
#define RFC5321_RECIPIENTS_FLOOR 100
#define DOMAIN_LIST_MAX 100000
#define CIDR_LIST_MAX 100000
#define WORKERS_MAX 256
#define COUNT_BIG 1000000

#define FIELD(name) offsetof(struct smtpd_config, name), \
	sizeof(((struct smtpd_config *)0)->name)
#define LIST(name, count) offsetof(struct smtpd_config, name), \
	sizeof(((struct smtpd_config *)0)->name), offsetof(struct smtpd_config, count)

const struct config_key smtpd_config_keys[] = {
	{ "hostname", CONFIG_STRING, "", 0, 255,
	    "host name for the banner, EHLO and Received headers (default: the system host name)",
	    FIELD(hostname), 0, 0, smtpd_config_check_hostname },
	{ "listen", CONFIG_LISTENER_LIST, "127.0.0.1:25", 1, SMTPD_LISTENERS_MAX,
	    "where to listen: [smtp=|submission=|smtps=]ADDRESS:PORT items",
	    FIELD(listeners), 0, 0, NULL },
	{ "local_domains", CONFIG_DOMAIN_LIST, "", 0, DOMAIN_LIST_MAX,
	    "domains delivered here, to the Maildir tree",
	    LIST(local_domains, local_domain_count), 0, NULL },
	{ "relay_domains", CONFIG_DOMAIN_LIST, "", 0, DOMAIN_LIST_MAX,
	    "domains accepted for next_hop (\".example.net\": every subdomain of example.net)",
	    LIST(relay_domains, relay_domain_count), CONFIG_FLAG_SUBDOMAINS, NULL },
	{ "relay_clients", CONFIG_CIDR_LIST, "", 0, CIDR_LIST_MAX,
	    "client addresses or prefixes that may relay to any domain (empty: none)",
	    FIELD(relay_clients), 0, 0, NULL },
	{ "allow_routed_local_parts", CONFIG_BOOL, "no", 0, 0,
	    "accept % ! @ and quotes in local parts of our domains (default: refuse, 553)",
	    FIELD(allow_routed_local_parts), 0, 0, NULL },
	{ "users", CONFIG_PATH, "", 0, PATH_MAX - 1,
	    "users file: local@domain[:crypt-hash] lines; local mailboxes and AUTH accounts",
	    FIELD(users), 0, 0, NULL },
	{ "maildir", CONFIG_PATH, "", 0, PATH_MAX - 1,
	    "root of the Maildir tree: ROOT/domain/local/{tmp,new,cur}",
	    FIELD(maildir), 0, 0, NULL },
	{ "next_hop", CONFIG_STRING, "", 0, 299,
	    "smtp:HOST:PORT or lmtp:HOST:PORT for relay domains and authorised clients",
	    FIELD(next_hop), 0, 0, smtpd_config_check_next_hop },
	{ "direct_mx", CONFIG_BOOL, "no", 0, 0,
	    "deliver mail of authorised clients by MX lookup when next_hop is unset",
	    FIELD(direct_mx), 0, 0, NULL },
	{ "queue_dir", CONFIG_PATH, "/var/spool/relayguard", 1, PATH_MAX - 1,
	    "queue directory (created if missing; must be on one file system)",
	    FIELD(queue_dir), 0, 0, NULL },
	{ "dnsbl", CONFIG_DNSBL_LIST, "", 0, SMTPD_DNSBL_ZONES_MAX,
	    "DNS blocklist zones to ask about clients: zone[*weight] items",
	    FIELD(dnsbl), 0, 0, NULL },
	{ "dnsbl_threshold", CONFIG_COUNT, "1", 1, 1000,
	    "refuse a client whose listed zones' weights add up to at least this",
	    FIELD(dnsbl_threshold), 0, 0, NULL },
	{ "dnsbl_fail_closed", CONFIG_BOOL, "no", 0, 0,
	    "refuse clients (4xx) when a DNSBL lookup fails (default: let them in)",
	    FIELD(dnsbl_fail_closed), 0, 0, NULL },
	{ "dns_server", CONFIG_STRING, "", 0, 79,
	    "ADDRESS[:PORT] of the DNS server for DNSBL lookups (default: /etc/resolv.conf)",
	    FIELD(dns_server), 0, 0, smtpd_config_check_dns_server },
	{ "tls_cert", CONFIG_PATH, "", 0, PATH_MAX - 1,
	    "PEM certificate (chain) for STARTTLS and smtps",
	    FIELD(tls_cert), 0, 0, NULL },
	{ "tls_key", CONFIG_PATH, "", 0, PATH_MAX - 1,
	    "PEM private key of tls_cert",
	    FIELD(tls_key), 0, 0, NULL },
	{ "message_size_limit", CONFIG_SIZE, "10m", RFC5321_MESSAGE_FLOOR, GIB,
	    "largest message accepted, in bytes (announced with SIZE)",
	    FIELD(message_size_limit), 0, 0, NULL },
	{ "max_recipients", CONFIG_COUNT, "100", RFC5321_RECIPIENTS_FLOOR, COUNT_BIG,
	    "recipients per message; more get 452 4.5.3",
	    FIELD(max_recipients), 0, 0, NULL },
	{ "max_errors", CONFIG_COUNT, "20", 1, 1000,
	    "error replies per session before 421 and disconnect (Postfix's hard limit too)",
	    FIELD(max_errors), 0, 0, NULL },
	{ "max_connections", CONFIG_COUNT, "1000", 1, COUNT_BIG,
	    "concurrent sessions in all",
	    FIELD(max_connections), 0, 0, NULL },
	{ "max_connections_per_client", CONFIG_COUNT, "50", 1, COUNT_BIG,
	    "concurrent sessions from one client address",
	    FIELD(max_connections_per_client), 0, 0, NULL },
	{ "greeting_delay", CONFIG_DURATION, "0", 0, 300 * MS_SECOND,
	    "pause before the banner; clients that talk first are refused (0: off)",
	    FIELD(greeting_delay_ms), 0, 0, NULL },
	{ "command_timeout", CONFIG_DURATION, "300s", MS_SECOND, MS_HOUR,
	    "idle time allowed while waiting for a command",
	    FIELD(command_timeout_ms), 0, 0, NULL },
	{ "data_timeout", CONFIG_DURATION, "180s", MS_SECOND, MS_HOUR,
	    "idle time allowed while receiving message data",
	    FIELD(data_timeout_ms), 0, 0, NULL },
	{ "queue_lifetime", CONFIG_DURATION, "5d", MS_MINUTE, 30 * MS_DAY,
	    "how long undeliverable mail is retried before it is bounced",
	    FIELD(queue_lifetime_ms), 0, 0, NULL },
	{ "retry_min", CONFIG_DURATION, "60s", MS_SECOND, MS_DAY,
	    "first delay before a deferred message is retried (then doubled)",
	    FIELD(retry_min_ms), 0, 0, NULL },
	{ "retry_max", CONFIG_DURATION, "1h", MS_SECOND, 7 * MS_DAY,
	    "longest delay between two delivery attempts",
	    FIELD(retry_max_ms), 0, 0, NULL },
	{ "chroot", CONFIG_PATH, "", 0, PATH_MAX - 1,
	    "directory to chroot into after binding, before dropping to user (queue_dir and "
	    "maildir must lie inside it)",
	    FIELD(chroot), 0, 0, NULL },
	{ "user", CONFIG_STRING, "nobody", 1, 63,
	    "user to run as after binding the ports, when started as root",
	    FIELD(user), 0, 0, smtpd_config_check_user },
	{ "workers", CONFIG_COUNT, "0", 0, WORKERS_MAX,
	    "event loops (threads) for sessions (0: one per CPU core)",
	    FIELD(workers), 0, 0, NULL },
	{ "log", CONFIG_STRING, "stderr", 1, 15,
	    "where log lines go: stderr or syslog",
	    FIELD(log), 0, 0, smtpd_config_check_log },
};

const size_t smtpd_config_key_count = sizeof(smtpd_config_keys) / sizeof(smtpd_config_keys[0]);

_Static_assert(sizeof(smtpd_config_keys) / sizeof(smtpd_config_keys[0]) <=
    SMTPD_CONFIG_KEYS_MAX, "raise SMTPD_CONFIG_KEYS_MAX");

/* smtpd_config_key_find - the table entry for name (exact match), or NULL. */
const struct config_key *
smtpd_config_key_find(const char *name)
{
	for (size_t i = 0; i < smtpd_config_key_count; i++)
		if (strcmp(smtpd_config_keys[i].name, name) == 0)
			return &smtpd_config_keys[i];
	return NULL;
}
