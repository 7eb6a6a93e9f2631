/* test_config.c - unit tests of the [smtpd] configuration (smtpd/config.h): the key table,
 * loading (defaults, file, -o), every lint rule of relayguard.conf(5) and the man page sync. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "smtpd/config.h"

#define PROBLEMS_MAX 64
#define MAN_PAGE "docs/relayguard.conf.5"
#define MAN_MAX (256 * 1024)

struct fixture {
	char dir[64];
	char conf[128];
	struct smtpd_config config;
	struct config_problem problems[PROBLEMS_MAX];
	size_t count;
	bool loaded;
};

static int
setup(void **state)
{
	struct fixture *fixture = calloc(1, sizeof(*fixture));

	snprintf(fixture->dir, sizeof(fixture->dir), "/tmp/relayguard-config-XXXXXX");
	if (mkdtemp(fixture->dir) == NULL)
		return -1;
	snprintf(fixture->conf, sizeof(fixture->conf), "%s/relayguard.conf", fixture->dir);
	*state = fixture;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fixture = *state;
	char command[256];

	smtpd_config_free(&fixture->config);
	snprintf(command, sizeof(command), "rm -rf '%s'", fixture->dir);
	assert_int_equal(system(command), 0);
	free(fixture);
	return 0;
}

/* write_conf - the fixture's configuration file. */
static void
write_conf(struct fixture *fixture, const char *text)
{
	FILE *file = fopen(fixture->conf, "w");

	assert_non_null(file);
	fputs(text, file);
	assert_int_equal(fclose(file), 0);
}

/* load - text as the file (NULL: no file) plus overrides. */
static bool
load(struct fixture *fixture, const char *text, const char *const *overrides,
    size_t override_count)
{
	smtpd_config_free(&fixture->config);
	if (text != NULL)
		write_conf(fixture, text);
	fixture->loaded = smtpd_config_load(text != NULL ? fixture->conf : NULL,
	    (char *const *)overrides, override_count, &fixture->config, fixture->problems,
	    PROBLEMS_MAX, &fixture->count);
	return fixture->loaded;
}

/* find_problem - the first problem for key whose message holds text, or NULL. */
static const struct config_problem *
find_problem(const struct config_problem *problems, size_t count, const char *key,
    const char *text)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(problems[i].key, key) == 0 && strstr(problems[i].message, text) != NULL)
			return &problems[i];
	return NULL;
}

/* lint - run lint on the fixture's loaded config into its problem list. */
static void
lint(struct fixture *fixture)
{
	assert_true(fixture->loaded);
	fixture->count = smtpd_config_lint(&fixture->config, fixture->problems, PROBLEMS_MAX);
}

/* has_fatal - any fatal problem stored. */
static bool
has_fatal(const struct fixture *fixture)
{
	for (size_t i = 0; i < fixture->count; i++)
		if (fixture->problems[i].fatal)
			return true;
	return false;
}

/* A configuration that lint accepts without fatal problems (queue_dir in the fixture). */
static void
good_conf(struct fixture *fixture, const char *extra, char *out, size_t out_size)
{
	snprintf(out, out_size,
	    "[smtpd]\n"
	    "hostname = mx.example.org\n"
	    "listen = 127.0.0.1:10025\n"
	    "local_domains = example.org\n"
	    "maildir = %s\n"
	    "queue_dir = %s/queue\n"
	    "next_hop = smtp:127.0.0.1:10026\n"
	    "%s",
	    fixture->dir, fixture->dir, extra);
}

/* load_good - good_conf plus extra lines, loaded and linted. */
static void
load_good(struct fixture *fixture, const char *extra)
{
	char text[4096];

	good_conf(fixture, extra, text, sizeof(text));
	assert_true(load(fixture, text, NULL, 0));
	lint(fixture);
}

/* ---- the table ---- */

static void
test_defaults_load_without_file(void **state)
{
	struct fixture *fixture = *state;
	struct smtpd_config *config = &fixture->config;

	assert_true(load(fixture, NULL, NULL, 0));
	assert_int_equal(config->listener_count, 1);
	assert_int_equal(config->listeners[0].port, 25);
	assert_true(netaddr_is_loopback(&config->listeners[0].address));
	assert_int_equal(config->listeners[0].mode, LISTENER_SMTP);
	assert_int_equal(config->relay_clients.count, 0);
	assert_int_equal(config->local_domain_count, 0);
	assert_false(config->allow_routed_local_parts);
	assert_false(config->dnsbl_fail_closed);
	assert_int_equal(config->message_size_limit, 10 * 1024 * 1024);
	assert_int_equal(config->max_recipients, 100);
	assert_int_equal(config->max_errors, 20);
	assert_int_equal(config->max_connections, 1000);
	assert_int_equal(config->max_connections_per_client, 50);
	assert_int_equal(config->command_timeout_ms, 300000);
	assert_int_equal(config->data_timeout_ms, 180000);
	assert_int_equal(config->queue_lifetime_ms, 5ULL * 24 * 3600 * 1000);
	assert_int_equal(config->retry_min_ms, 60000);
	assert_int_equal(config->retry_max_ms, 3600000);
	assert_int_equal(config->greeting_delay_ms, 0);
	assert_int_equal(config->dnsbl_threshold, 1);
	assert_string_equal(config->user, "nobody");
	assert_string_equal(config->log, "stderr");
	assert_string_equal(config->path, "");
	assert_true(config->workers >= 1);
	assert_true(config->hostname[0] != '\0');
}

static void
test_every_key_is_documented_in_the_table(void **state)
{
	(void)state;
	assert_true(smtpd_config_key_count > 20);
	for (size_t i = 0; i < smtpd_config_key_count; i++) {
		const struct config_key *key = &smtpd_config_keys[i];
		assert_non_null(key->doc);
		assert_true(strlen(key->doc) > 10);
		assert_ptr_equal(smtpd_config_key_find(key->name), key);
	}
	assert_null(smtpd_config_key_find("relay_client"));
}

/* relayguard.conf(5) must list every key with its default ("KEYS" section). */
static void
test_man_page_lists_every_key_with_its_default(void **state)
{
	const char *root = getenv("RELAYGUARD_SOURCE_ROOT");
	char path[512], needle[256], *text = calloc(1, MAN_MAX + 1);

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", root != NULL ? root : ".", MAN_PAGE);
	FILE *file = fopen(path, "r");
	assert_non_null(file);
	size_t length = fread(text, 1, MAN_MAX, file);
	fclose(file);
	assert_true(length < MAN_MAX);
	char *keys = strstr(text, "\n.SH KEYS\n");
	assert_non_null(keys);
	char *end = strstr(keys + 1, "\n.SH ");
	assert_non_null(end);
	*end = '\0';
	for (size_t i = 0; i < smtpd_config_key_count; i++) {
		const struct config_key *key = &smtpd_config_keys[i];
		snprintf(needle, sizeof(needle), "\n.TP\n.B %s\n", key->name);
		const char *entry = strstr(keys, needle);
		if (entry == NULL)
			fail_msg("key %s is missing from %s", key->name, MAN_PAGE);
		const char *next = strchr(entry + strlen(needle), '\n');
		assert_non_null(next);
		snprintf(needle, sizeof(needle), "default: %s",
		    key->default_value[0] != '\0' ? key->default_value : "none");
		const char *found = memmem(entry, (size_t)(next - entry), needle, strlen(needle));
		if (found == NULL || strchr(");", found[strlen(needle)]) == NULL)
			fail_msg("%s: man page does not say \"%s\" on the line after the key",
			    key->name, needle);
	}
	free(text);
}

/* ---- loading ---- */

static void
test_file_values_are_parsed(void **state)
{
	struct fixture *fixture = *state;
	struct smtpd_config *config = &fixture->config;

	assert_true(load(fixture,
	    "; comment\n"
	    "[smtpd]\n"
	    "hostname = MX.Example.ORG.\n"
	    "listen = 127.0.0.1:2525 smtps=127.0.0.1:4465, submission=[::1]:5587\n"
	    "local_domains = Example.ORG., mx.example.org\n"
	    "relay_domains = relay.example.com *.gateway.example.com\n"
	    "relay_clients = 198.51.100.0/24 2001:db8::/48\n"
	    "allow_routed_local_parts = Yes\n"
	    "direct_mx = on\n"
	    "dnsbl = dnsbl.example.net*2 list.example.com\n"
	    "dns_server = 127.0.0.1:10053\n"
	    "message_size_limit = 1m\n"
	    "greeting_delay = 1500ms\n"
	    "command_timeout = 10m\n"
	    "queue_lifetime = 1w\n"
	    "retry_min = 30\n"
	    "workers = 3\n"
	    "log = syslog\n",
	    NULL, 0));
	assert_string_equal(config->path, fixture->conf);
	assert_string_equal(config->hostname, "mx.example.org");
	assert_int_equal(config->listener_count, 3);
	assert_int_equal(config->listeners[0].port, 2525);
	assert_int_equal(config->listeners[1].mode, LISTENER_SMTPS);
	assert_int_equal(config->listeners[1].port, 4465);
	assert_int_equal(config->listeners[2].mode, LISTENER_SUBMISSION);
	assert_int_equal(config->listeners[2].address.family, AF_INET6);
	assert_int_equal(config->local_domain_count, 2);
	assert_string_equal(config->local_domains[0], "example.org");
	assert_string_equal(config->relay_domains[1], ".gateway.example.com");
	assert_int_equal(config->relay_clients.count, 2);
	assert_true(config->allow_routed_local_parts);
	assert_true(config->direct_mx);
	assert_int_equal(config->dnsbl_count, 2);
	assert_string_equal(config->dnsbl[0].zone, "dnsbl.example.net");
	assert_int_equal(config->dnsbl[0].weight, 2);
	assert_int_equal(config->dnsbl[1].weight, 1);
	assert_string_equal(config->dns_server, "127.0.0.1:10053");
	assert_int_equal(config->message_size_limit, 1024 * 1024);
	assert_int_equal(config->greeting_delay_ms, 1500);
	assert_int_equal(config->command_timeout_ms, 600000);
	assert_int_equal(config->queue_lifetime_ms, 7ULL * 24 * 3600 * 1000);
	assert_int_equal(config->retry_min_ms, 30000);
	assert_int_equal(config->workers, 3);
	assert_string_equal(config->log, "syslog");
}

static void
test_unknown_key_is_fatal_with_its_line(void **state)
{
	struct fixture *fixture = *state;

	assert_false(load(fixture, "[smtpd]\nlisten = 127.0.0.1:2525\nrelay_client = 10.0.0.1\n",
	    NULL, 0));
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "relay_client", "unknown key");
	assert_non_null(problem);
	assert_int_equal(problem->line, 3);
	assert_true(problem->fatal);
}

static void
test_bad_values_are_fatal_with_their_line(void **state)
{
	struct fixture *fixture = *state;
	static const struct {
		const char *line;
		const char *key;
		const char *message;
	} cases[] = {
		{ "message_size_limit = 10k", "message_size_limit", "out of range" },
		{ "max_recipients = 99", "max_recipients", "out of range" },
		{ "command_timeout = 5x", "command_timeout", "bad duration" },
		{ "direct_mx = maybe", "direct_mx", "bad boolean" },
		{ "listen = 127.0.0.1", "listen", "need ADDRESS:PORT" },
		{ "listen = mail.example.org:25", "listen", "need ADDRESS:PORT" },
		{ "listen = lmtp=127.0.0.1:25", "listen", "unknown listener mode" },
		{ "listen =", "listen", "at least one listener" },
		{ "local_domains = *.example.org", "local_domains", "bad domain" },
		{ "relay_domains = exa_mple.org", "relay_domains", "bad domain" },
		{ "relay_clients = 192.0.2.0/33", "relay_clients", "bad address or prefix" },
		{ "next_hop = 127.0.0.1:25", "next_hop", "smtp: or lmtp:" },
		{ "next_hop = smtp:127.0.0.1", "next_hop", "port is required" },
		{ "dns_server = dns.example.net", "dns_server", "IP address" },
		{ "dnsbl = zen.example.net*0", "dnsbl", "bad dnsbl weight" },
		{ "log = file", "log", "stderr or syslog" },
		{ "user = -root", "user", "bad user name" },
		{ "hostname = -bad-.example.org", "hostname", "bad host name" },
		{ "queue_dir =", "queue_dir", "must not be empty" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[smtpd]\n\n%s\n", cases[i].line);
		if (load(fixture, text, NULL, 0))
			fail_msg("accepted: %s", cases[i].line);
		const struct config_problem *problem = find_problem(fixture->problems,
		    fixture->count, cases[i].key, cases[i].message);
		if (problem == NULL)
			fail_msg("no \"%s\" problem for: %s (first: %s)", cases[i].message,
			    cases[i].line, fixture->count > 0 ? fixture->problems[0].message : "-");
		assert_int_equal(problem->line, 3);
		assert_true(problem->fatal);
	}
}

static void
test_bad_value_keeps_the_default(void **state)
{
	struct fixture *fixture = *state;

	assert_false(load(fixture, "[smtpd]\nmax_errors = 0\n", NULL, 0));
	assert_int_equal(fixture->config.max_errors, 20);
}

static void
test_continuation_lines_extend_lists(void **state)
{
	struct fixture *fixture = *state;

	assert_true(load(fixture,
	    "[smtpd]\n"
	    "local_domains = example.org\n"
	    "  example.com, mx.example.org\n"
	    "relay_clients = 192.0.2.0/24\n"
	    "\t2001:db8::/32\n", NULL, 0));
	assert_int_equal(fixture->config.local_domain_count, 3);
	assert_string_equal(fixture->config.local_domains[2], "mx.example.org");
	assert_int_equal(fixture->config.relay_clients.count, 2);
}

static void
test_continuation_of_a_scalar_is_refused(void **state)
{
	struct fixture *fixture = *state;

	assert_false(load(fixture, "[smtpd]\nhostname = mx.example.org\n  other.example.org\n",
	    NULL, 0));
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "hostname", "only allowed for lists");
	assert_non_null(problem);
	assert_int_equal(problem->line, 3);
}

static void
test_key_set_twice_warns_and_later_wins(void **state)
{
	struct fixture *fixture = *state;

	assert_true(load(fixture, "[smtpd]\nmax_errors = 5\nmax_errors = 7\n", NULL, 0));
	assert_int_equal(fixture->config.max_errors, 7);
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "max_errors", "set again (line 2)");
	assert_non_null(problem);
	assert_false(problem->fatal);
	assert_int_equal(problem->line, 3);
}

static void
test_other_sections_are_ignored(void **state)
{
	struct fixture *fixture = *state;

	assert_true(load(fixture, "[check]\nwhatever = 1\n[smtpd]\nmax_errors = 3\n[dnsbl]\n"
	    "max_errors = 99\n", NULL, 0));
	assert_int_equal(fixture->config.max_errors, 3);
}

static void
test_file_without_smtpd_section_warns(void **state)
{
	struct fixture *fixture = *state;

	assert_true(load(fixture, "[check]\nwhatever = 1\n", NULL, 0));
	assert_non_null(find_problem(fixture->problems, fixture->count, "", "no [smtpd]"));
}

static void
test_syntax_error_names_the_line(void **state)
{
	struct fixture *fixture = *state;

	assert_false(load(fixture, "[smtpd]\nmax_errors = 3\nthis line has no equals\n", NULL,
	    0));
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "", "syntax error");
	assert_non_null(problem);
	assert_int_equal(problem->line, 3);
}

static void
test_overlong_line_is_refused(void **state)
{
	struct fixture *fixture = *state;
	char text[2048];

	snprintf(text, sizeof(text), "[smtpd]\nlocal_domains = ");
	size_t at = strlen(text);
	for (int i = 0; i < 60; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "d%02d.example.org ", i);
	snprintf(text + at, sizeof(text) - at, "\n");
	assert_false(load(fixture, text, NULL, 0));
	assert_non_null(find_problem(fixture->problems, fixture->count, "", "line longer than"));
}

static void
test_missing_file_is_fatal(void **state)
{
	struct fixture *fixture = *state;

	smtpd_config_free(&fixture->config);
	assert_false(smtpd_config_load("/nonexistent/relayguard.conf", NULL, 0,
	    &fixture->config, fixture->problems, PROBLEMS_MAX, &fixture->count));
	assert_non_null(find_problem(fixture->problems, fixture->count, "", "cannot open"));
}

static void
test_overrides_win_over_the_file(void **state)
{
	struct fixture *fixture = *state;
	const char *overrides[] = { "max_errors=4", " relay_clients = 192.0.2.1 " };

	assert_true(load(fixture, "[smtpd]\nmax_errors = 7\nrelay_clients = 198.51.100.0/24\n",
	    overrides, 2));
	assert_int_equal(fixture->config.max_errors, 4);
	assert_int_equal(fixture->config.relay_clients.count, 1);
	assert_int_equal(fixture->config.relay_clients.items[0].length, 32);
}

static void
test_bad_override_names_the_override(void **state)
{
	struct fixture *fixture = *state;
	const char *overrides[] = { "max_errors=4", "max_errors=0", "nokey=1", "junk" };

	assert_false(load(fixture, NULL, overrides, 4));
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "max_errors", "-o");
	assert_non_null(problem);
	assert_int_equal(problem->line, 0);
	assert_non_null(find_problem(fixture->problems, fixture->count, "nokey",
	    "unknown key"));
	assert_non_null(find_problem(fixture->problems, fixture->count, "", "expected key=value"));
}

static void
test_relay_domain_matching(void **state)
{
	struct fixture *fixture = *state;
	const char *overrides[] = { "relay_domains=relay.example.com .gateway.example.com * .net",
	    "local_domains=example.org" };
	const struct smtpd_config *config = &fixture->config;

	assert_true(load(fixture, NULL, overrides, 2));
	assert_true(smtpd_config_is_relay_domain(config, "Relay.Example.com.", 18));
	assert_true(smtpd_config_is_relay_domain(config, "a.gateway.example.com", 21));
	assert_false(smtpd_config_is_relay_domain(config, "gateway.example.com", 19));
	assert_false(smtpd_config_is_relay_domain(config, "example.net", 11));
	assert_false(smtpd_config_is_relay_domain(config, "x.relay.example.com", 19));
	assert_true(smtpd_config_is_local_domain(config, "EXAMPLE.ORG.", 12));
	assert_false(smtpd_config_is_local_domain(config, "sub.example.org", 15));
}

static void
test_next_hop_parse(void **state)
{
	enum next_hop_protocol protocol;
	struct hostport host;
	char err[256];

	(void)state;
	assert_true(smtpd_next_hop_parse("lmtp:[::1]:10024", &protocol, &host, err,
	    sizeof(err)));
	assert_int_equal(protocol, NEXT_HOP_LMTP);
	assert_int_equal(host.port, 10024);
	assert_true(host.is_address);
	assert_true(smtpd_next_hop_parse("smtp:mail.example.org:25", &protocol, &host, err,
	    sizeof(err)));
	assert_int_equal(protocol, NEXT_HOP_SMTP);
	assert_string_equal(host.host, "mail.example.org");
	assert_false(smtpd_next_hop_parse("smtp:mail.example.org", &protocol, &host, err,
	    sizeof(err)));
	assert_false(smtpd_next_hop_parse("esmtp:127.0.0.1:25", &protocol, &host, err,
	    sizeof(err)));
}

static void
test_problem_format(void **state)
{
	struct fixture *fixture = *state;
	struct config_problem problem = { 7, "relay_clients", "too wide", true };
	char out[512];

	assert_true(load(fixture, "[smtpd]\n", NULL, 0));
	assert_true(smtpd_config_problem_format(&fixture->config, &problem, out,
	    sizeof(out)) > 0);
	char expected[512];
	snprintf(expected, sizeof(expected), "%s:7: relay_clients: too wide", fixture->conf);
	assert_string_equal(out, expected);
	problem.fatal = false;
	problem.line = 0;
	smtpd_config_problem_format(&fixture->config, &problem, out, sizeof(out));
	snprintf(expected, sizeof(expected), "%s: relay_clients: warning: too wide",
	    fixture->conf);
	assert_string_equal(out, expected);
	assert_int_equal(smtpd_config_problem_format(&fixture->config, &problem, out, 10), -1);
}

/* ---- lint ---- */

static void
test_good_configuration_has_no_fatal_problem(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "");
	for (size_t i = 0; i < fixture->count; i++)
		if (fixture->problems[i].fatal)
			fail_msg("fatal: %s: %s", fixture->problems[i].key,
			    fixture->problems[i].message);
}

static void
test_lint_refuses_relay_clients_covering_the_internet(void **state)
{
	struct fixture *fixture = *state;
	const struct config_problem *problem;

	load_good(fixture, "\nrelay_clients = 127.0.0.0/8 0.0.0.0/0\n");
	problem = find_problem(fixture->problems, fixture->count, "relay_clients",
	    "0.0.0.0/0 is shorter than /8");
	assert_non_null(problem);
	assert_true(problem->fatal);
	assert_int_equal(problem->line, 9);
	load_good(fixture, "relay_clients = ::/0\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "relay_clients",
	    "::/0 is shorter than /32"));
	load_good(fixture, "relay_clients = ::ffff:0.0.0.0/100\n");
	assert_true(has_fatal(fixture));
	load_good(fixture, "relay_clients = 2001:db8::/31\n");
	assert_true(has_fatal(fixture));
}

static void
test_lint_warns_about_large_relay_networks(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "relay_clients = 10.0.0.0/8 2001:db8::/40\n");
	assert_false(has_fatal(fixture));
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "relay_clients", "10.0.0.0/8 is a large network");
	assert_non_null(problem);
	assert_false(problem->fatal);
	assert_non_null(find_problem(fixture->problems, fixture->count, "relay_clients",
	    "2001:db8::/40 is a large network"));
}

static void
test_lint_refuses_catch_all_relay_domains(void **state)
{
	struct fixture *fixture = *state;
	static const char *const patterns[] = { "*", ".", ".com", "*.net" };
	char extra[128];

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		snprintf(extra, sizeof(extra), "relay_domains = relay.example.com %s\n",
		    patterns[i]);
		load_good(fixture, extra);
		const struct config_problem *problem = find_problem(fixture->problems,
		    fixture->count, "relay_domains", "open relay");
		if (problem == NULL || !problem->fatal)
			fail_msg("catch-all %s not refused", patterns[i]);
		assert_int_equal(problem->line, 8);
	}
	load_good(fixture, "relay_domains = .example.com\n");
	assert_false(has_fatal(fixture));
}

static void
test_lint_refuses_domain_both_local_and_relayed(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "relay_domains = .org\n");
	assert_true(has_fatal(fixture));
	load_good(fixture, "local_domains = mx.example.org\nrelay_domains = .example.org\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "local_domains",
	    "also matched by relay_domains"));
}

static void
test_lint_refuses_auth_in_clear_on_public_listener(void **state)
{
	struct fixture *fixture = *state;
	char extra[512];

	snprintf(extra, sizeof(extra), "users = %s/users\nlisten = 192.0.2.25:25\n",
	    fixture->dir);
	char users[160];
	snprintf(users, sizeof(users), "%s/users", fixture->dir);
	FILE *file = fopen(users, "w");
	assert_non_null(file);
	fputs("alice@example.org\n", file);
	fclose(file);
	load_good(fixture, extra);
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "listen", "passwords would cross the network in clear");
	assert_non_null(problem);
	assert_true(problem->fatal);
	assert_int_equal(problem->line, 9);
	/* the same on loopback is fine (tests, local submission) */
	snprintf(extra, sizeof(extra), "users = %s\nlisten = 127.0.0.1:10025 [::1]:10025\n",
	    users);
	load_good(fixture, extra);
	assert_false(has_fatal(fixture));
}

static void
test_lint_refuses_smtps_and_submission_that_cannot_work(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "listen = smtps=127.0.0.1:10465\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "listen",
	    "needs tls_cert and tls_key"));
	load_good(fixture, "listen = submission=127.0.0.1:10587\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "listen",
	    "requires AUTH but users is not set"));
}

static void
test_lint_refuses_duplicate_listeners(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "listen = 127.0.0.1:10025 smtps=127.0.0.1:10025\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "listen",
	    "listed twice"));
}

static void
test_lint_refuses_relay_domains_without_next_hop(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "relay_domains = relay.example.com\nnext_hop =\ndirect_mx = yes\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "relay_domains",
	    "need next_hop"));
}

static void
test_lint_refuses_next_hop_that_loops_to_us(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "next_hop = smtp:127.0.0.1:10025\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "next_hop",
	    "mail would loop"));
	load_good(fixture, "listen = 0.0.0.0:10025\nnext_hop = lmtp:127.0.0.1:10025\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "next_hop",
	    "mail would loop"));
}

static void
test_lint_warns_when_authorised_mail_cannot_leave(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "relay_clients = 192.0.2.0/24\nnext_hop =\n");
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "next_hop", "will bounce");
	assert_non_null(problem);
	assert_false(problem->fatal);
}

/* write_pem_pair - a self-signed EC certificate and its key (and another key). */
static void
write_pem_pair(const char *cert_path, const char *key_path, const char *other_key_path,
    bool expired)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	EVP_PKEY *other = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	FILE *file;

	assert_non_null(key);
	assert_non_null(other);
	assert_non_null(cert);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), expired ? -7200 : -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), expired ? -3600 : 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
	    (const unsigned char *)"mx.example.org", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_set_pubkey(cert, key);
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	file = fopen(cert_path, "w");
	assert_non_null(file);
	PEM_write_X509(file, cert);
	fclose(file);
	file = fopen(key_path, "w");
	assert_non_null(file);
	PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL);
	fclose(file);
	file = fopen(other_key_path, "w");
	assert_non_null(file);
	PEM_write_PrivateKey(file, other, NULL, NULL, 0, NULL, NULL);
	fclose(file);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_lint_checks_tls_files(void **state)
{
	struct fixture *fixture = *state;
	char cert[160], key[160], other[160], extra[600];

	snprintf(cert, sizeof(cert), "%s/cert.pem", fixture->dir);
	snprintf(key, sizeof(key), "%s/key.pem", fixture->dir);
	snprintf(other, sizeof(other), "%s/other.pem", fixture->dir);
	write_pem_pair(cert, key, other, false);

	snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\n", cert, key);
	load_good(fixture, extra);
	assert_false(has_fatal(fixture));

	snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\n", cert, other);
	load_good(fixture, extra);
	assert_non_null(find_problem(fixture->problems, fixture->count, "tls_key",
	    "does not match"));

	snprintf(extra, sizeof(extra), "tls_cert = %s\n", cert);
	load_good(fixture, extra);
	assert_non_null(find_problem(fixture->problems, fixture->count, "tls_key",
	    "must be set together"));

	snprintf(extra, sizeof(extra), "tls_cert = %s/none.pem\ntls_key = %s\n", fixture->dir,
	    key);
	load_good(fixture, extra);
	assert_non_null(find_problem(fixture->problems, fixture->count, "tls_cert",
	    "cannot read"));

	snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\n", key, key);
	load_good(fixture, extra);
	assert_non_null(find_problem(fixture->problems, fixture->count, "tls_cert",
	    "holds no PEM certificate"));

	write_pem_pair(cert, key, other, true);
	snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\n", cert, key);
	load_good(fixture, extra);
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "tls_cert", "has expired");
	assert_non_null(problem);
	assert_false(problem->fatal);
}

static void
test_lint_checks_queue_dir_maildir_and_users(void **state)
{
	struct fixture *fixture = *state;
	char extra[512];

	load_good(fixture, "queue_dir = /nonexistent/relayguard/queue\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "queue_dir",
	    "nor its parent directory exists"));
	snprintf(extra, sizeof(extra), "queue_dir = %s\n", fixture->conf);
	load_good(fixture, extra);
	assert_non_null(find_problem(fixture->problems, fixture->count, "queue_dir",
	    "is not a directory"));
	load_good(fixture, "maildir =\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "maildir",
	    "local mail has nowhere to go"));
	snprintf(extra, sizeof(extra), "users = %s\n", fixture->conf);
	load_good(fixture, extra);
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "users", ":1: expected local@domain");
	assert_non_null(problem);
	assert_true(problem->fatal);
}

static void
test_lint_checks_limits(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "retry_min = 2h\nretry_max = 1h\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "retry_min",
	    "longer than retry_max"));
	load_good(fixture, "command_timeout = 10s\nmax_connections = 10\n"
	    "max_connections_per_client = 20\n");
	assert_false(has_fatal(fixture));
	assert_non_null(find_problem(fixture->problems, fixture->count, "command_timeout",
	    "RFC 5321"));
	assert_non_null(find_problem(fixture->problems, fixture->count,
	    "max_connections_per_client", "larger than"));
	load_good(fixture, "dnsbl = a.example.net b.example.net\ndnsbl_threshold = 3\n");
	assert_non_null(find_problem(fixture->problems, fixture->count, "dnsbl_threshold",
	    "no client can ever be refused"));
}

static void
test_lint_warns_about_routed_local_parts_and_useless_config(void **state)
{
	struct fixture *fixture = *state;

	load_good(fixture, "allow_routed_local_parts = yes\n");
	assert_non_null(find_problem(fixture->problems, fixture->count,
	    "allow_routed_local_parts", "%"));
	assert_false(has_fatal(fixture));
	assert_true(load(fixture, "[smtpd]\nhostname = localhost\n", NULL, 0));
	lint(fixture);
	assert_non_null(find_problem(fixture->problems, fixture->count, "local_domains",
	    "every recipient will be refused"));
	assert_non_null(find_problem(fixture->problems, fixture->count, "hostname",
	    "not a fully qualified"));
}

static void
test_override_problem_names_the_override(void **state)
{
	struct fixture *fixture = *state;
	const char *overrides[] = { "max_errors=3", "relay_clients=0.0.0.0/0" };
	char text[4096];

	good_conf(fixture, "", text, sizeof(text));
	assert_true(load(fixture, text, overrides, 2));
	lint(fixture);
	const struct config_problem *problem = find_problem(fixture->problems, fixture->count,
	    "relay_clients", "set by -o #2");
	assert_non_null(problem);
	assert_int_equal(problem->line, 0);
}

/* When the array is full, a fatal problem replaces a warning: it is never lost. */
static void
test_full_problem_list_keeps_fatal_problems(void **state)
{
	struct fixture *fixture = *state;
	struct config_problem one[1];

	load_good(fixture, "command_timeout = 10s\nrelay_clients = 0.0.0.0/0\n");
	assert_int_equal(smtpd_config_lint(&fixture->config, one, 1), 1);
	assert_true(one[0].fatal);
	assert_string_equal(one[0].key, "relay_clients");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults_load_without_file),
		T(test_every_key_is_documented_in_the_table),
		T(test_man_page_lists_every_key_with_its_default),
		T(test_file_values_are_parsed),
		T(test_unknown_key_is_fatal_with_its_line),
		T(test_bad_values_are_fatal_with_their_line),
		T(test_bad_value_keeps_the_default),
		T(test_continuation_lines_extend_lists),
		T(test_continuation_of_a_scalar_is_refused),
		T(test_key_set_twice_warns_and_later_wins),
		T(test_other_sections_are_ignored),
		T(test_file_without_smtpd_section_warns),
		T(test_syntax_error_names_the_line),
		T(test_overlong_line_is_refused),
		T(test_missing_file_is_fatal),
		T(test_overrides_win_over_the_file),
		T(test_bad_override_names_the_override),
		T(test_relay_domain_matching),
		T(test_next_hop_parse),
		T(test_problem_format),
		T(test_good_configuration_has_no_fatal_problem),
		T(test_lint_refuses_relay_clients_covering_the_internet),
		T(test_lint_warns_about_large_relay_networks),
		T(test_lint_refuses_catch_all_relay_domains),
		T(test_lint_refuses_domain_both_local_and_relayed),
		T(test_lint_refuses_auth_in_clear_on_public_listener),
		T(test_lint_refuses_smtps_and_submission_that_cannot_work),
		T(test_lint_refuses_duplicate_listeners),
		T(test_lint_refuses_relay_domains_without_next_hop),
		T(test_lint_refuses_next_hop_that_loops_to_us),
		T(test_lint_warns_when_authorised_mail_cannot_leave),
		T(test_lint_checks_tls_files),
		T(test_lint_checks_queue_dir_maildir_and_users),
		T(test_lint_checks_limits),
		T(test_lint_warns_about_routed_local_parts_and_useless_config),
		T(test_override_problem_names_the_override),
		T(test_full_problem_list_keeps_fatal_problems),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
