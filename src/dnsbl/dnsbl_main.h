/* dnsbl_main.h - entry point of `relayguard dnsbl`, the authoritative DNSBL server, and its
 * configuration: the [dnsbl] INI section and the rbldnsd-style command line. Called by
 * main.c (dnsbl_main) and by whatever audits configurations (the key table). */
#ifndef RELAYGUARD_DNSBL_MAIN_H
#define RELAYGUARD_DNSBL_MAIN_H

#include <stdbool.h>
#include <stddef.h>

/* A repeatable key's values (listen, zone, ns). */
struct dnsbl_list {
	char **items;
	size_t count;
};

/* Everything `relayguard dnsbl` is told, after defaults, the INI file and the options. */
struct dnsbl_config {
	struct dnsbl_list listen;	/* ADDR[:PORT], port 53 when none */
	struct dnsbl_list zone;		/* rbldnsd "zone[,zone]:type:file[,file]", or
					 * "zone[,zone]:store:URL" */
	char *store_txt;		/* TXT template of store-fed zones; "" = the default */
	bool store_sync;		/* store-fed zones run `relayguard list sync` themselves */
	unsigned listing_ttl;		/* seconds a listing of that sync lives (0: forever) */
	char *user;			/* "" = "nobody" when started as root */
	unsigned ttl;
	unsigned ttl_min;
	unsigned ttl_max;		/* 0 = no upper bound */
	unsigned negative_ttl;
	struct dnsbl_list ns;		/* "" = this host's name */
	char *hostmaster;
	unsigned check_interval;
	unsigned workers;		/* 0 = one per CPU */
	unsigned max_udp_size;
	unsigned udp_spin_us;
	bool tcp;
	unsigned tcp_max_clients;
	unsigned tcp_idle_timeout;
	char *metrics_listen;		/* "" = no metrics endpoint */
	char *control_socket;		/* "" = no control socket */
	struct dnsbl_list xfr_allow;	/* prefixes that may transfer zones; none: refuse */
	struct dnsbl_list notify;	/* ADDR[:PORT] of secondaries to NOTIFY */
	unsigned xfr_journal_kb;	/* IXFR journal size */
	char *log;			/* stderr | syslog */
	char *log_level;		/* debug | info | warn | error */
};

enum dnsbl_key_type {
	DNSBL_KEY_STRING,
	DNSBL_KEY_LIST,		/* repeatable: each line adds a value */
	DNSBL_KEY_UNSIGNED,
	DNSBL_KEY_BOOL,		/* yes/no, true/false, on/off, 1/0 */
};

/* One key of the [dnsbl] section: the parser, the man page and lint follow this table. */
struct dnsbl_config_key {
	const char *name;
	enum dnsbl_key_type type;
	size_t offset;			/* of the field in struct dnsbl_config */
	const char *default_value;	/* as text, "" for none */
	unsigned minimum;		/* unsigned keys only */
	unsigned maximum;
	const char *doc;
};

/* dnsbl_config_keys - the table of [dnsbl] keys */
const struct dnsbl_config_key *dnsbl_config_keys(size_t *count);
/* dnsbl_config_init - every key at its default */
void dnsbl_config_init(struct dnsbl_config *config);
void dnsbl_config_free(struct dnsbl_config *config);
/* dnsbl_config_set - one key = value (a list key adds a value); false and a message for
 * an unknown key or a bad value */
bool dnsbl_config_set(struct dnsbl_config *config, const char *key, const char *value,
    char *err, size_t err_size);
/* dnsbl_config_load_file - the [dnsbl] section of an INI file (other sections are left to
 * the other commands); false and "FILE:LINE: message" on the first bad line */
bool dnsbl_config_load_file(struct dnsbl_config *config, const char *path, char *err,
    size_t err_size);
/* dnsbl_config_parse_args - defaults, then --config FILE, then the options and ZONE
 * arguments (a list given on the command line replaces the file's). *exit_now is set for
 * --help (usage printed on stdout). False and a message on a usage error. */
bool dnsbl_config_parse_args(int argc, char **argv, struct dnsbl_config *config,
    bool *exit_now, char *err, size_t err_size);

/* dnsbl_main - run `relayguard dnsbl` with argv[0] == "dnsbl"; returns the exit status. */
int dnsbl_main(int argc, char **argv);

#endif
