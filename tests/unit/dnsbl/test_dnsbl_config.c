/* test_dnsbl_config.c - unit tests of the [dnsbl] key table and the rbldnsd-style command
 * line (dnsbl/dnsbl_main.h); also checks that the man page describes every key. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dnsbl/dnsbl_main.h"

#define ERR_SIZE 512
#define PATH_SIZE 64
#define MAN_PAGE "docs/relayguard-dnsbl.8"
#define MAN_PAGE_MAX (256 * 1024)

/* parse - run the parser on a NULL-terminated argument list (argv[0] = "dnsbl") */
static bool
parse(struct dnsbl_config *config, char *err, const char *first, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	bool exit_now;

	argv[argc++] = (char *)"dnsbl";
	va_start(ap, first);
	for (const char *arg = first; arg != NULL && argc < 63; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	bool ok = dnsbl_config_parse_args(argc, argv, config, &exit_now, err, ERR_SIZE);
	assert_false(exit_now);
	return ok;
}

/* write_ini - a temporary INI file */
static void
write_ini(char path[PATH_SIZE], const char *content)
{
	snprintf(path, PATH_SIZE, "/tmp/relayguard-dnsbl-ini-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(close(fd), 0);
}

static void
test_defaults_follow_the_key_table(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];

	(void)state;
	assert_true(parse(&config, err, NULL));
	assert_int_equal(config.ttl, 2100);
	assert_int_equal(config.negative_ttl, 60);
	assert_int_equal(config.check_interval, 60);
	assert_int_equal(config.max_udp_size, 1232);
	assert_int_equal(config.udp_spin_us, 0);
	assert_true(config.tcp);
	assert_int_equal(config.tcp_max_clients, 256);
	assert_string_equal(config.log, "stderr");
	assert_int_equal(config.listen.count, 0);
	assert_int_equal(config.zone.count, 0);
	dnsbl_config_free(&config);
}

static void
test_issue_command_line_is_understood(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];

	(void)state;
	/* issue 5 item 7, word for word */
	assert_true(parse(&config, err, "-f", "--listen", "127.0.0.1:5300", "--zone",
	    "relays.bl.test:ip4set:/srv/a.txt,/srv/b.txt", NULL));
	assert_int_equal(config.listen.count, 1);
	assert_string_equal(config.listen.items[0], "127.0.0.1:5300");
	assert_int_equal(config.zone.count, 1);
	assert_string_equal(config.zone.items[0], "relays.bl.test:ip4set:/srv/a.txt,/srv/b.txt");
	dnsbl_config_free(&config);
}

static void
test_rbldnsd_bind_form_is_converted(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];

	(void)state;
	assert_true(parse(&config, err, "-b", "127.0.0.1/5300", "-b", "::1/5300", "-b",
	    "127.0.0.2", NULL));
	assert_int_equal(config.listen.count, 3);
	assert_string_equal(config.listen.items[0], "127.0.0.1:5300");
	assert_string_equal(config.listen.items[1], "[::1]:5300");
	assert_string_equal(config.listen.items[2], "127.0.0.2");
	dnsbl_config_free(&config);
}

static void
test_rbldnsd_ttl_sets_default_and_bounds(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];

	(void)state;
	assert_true(parse(&config, err, "-t", "300:60:3600", NULL));
	assert_int_equal(config.ttl, 300);
	assert_int_equal(config.ttl_min, 60);
	assert_int_equal(config.ttl_max, 3600);
	dnsbl_config_free(&config);
	assert_true(parse(&config, err, "-t", "900", NULL));
	assert_int_equal(config.ttl, 900);
	assert_int_equal(config.ttl_min, 0);
	dnsbl_config_free(&config);
	assert_false(parse(&config, err, "-t", "1:2:3:4", NULL));
	dnsbl_config_free(&config);
}

static void
test_plain_arguments_are_zones(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];

	(void)state;
	assert_true(parse(&config, err, "-n", "-b", "127.0.0.1/5300", "a.bl.test:ip4set:a.txt",
	    "b.bl.test:ip6trie:b.txt", NULL));
	assert_int_equal(config.zone.count, 2);
	assert_string_equal(config.zone.items[1], "b.bl.test:ip6trie:b.txt");
	dnsbl_config_free(&config);
}

static void
test_command_line_list_replaces_the_file_list(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];
	char path[PATH_SIZE];

	(void)state;
	write_ini(path, "[check]\nlisten = ignored\n[dnsbl]\nlisten = 127.0.0.1:1\n"
	    "listen = 127.0.0.1:2\nzone = a.bl.test:ip4set:a.txt\nttl = 77\ntcp = no\n");
	assert_true(parse(&config, err, "--config", path, "--listen", "127.0.0.1:3", NULL));
	assert_int_equal(config.listen.count, 1);
	assert_string_equal(config.listen.items[0], "127.0.0.1:3");
	assert_int_equal(config.zone.count, 1);
	assert_int_equal(config.ttl, 77);
	assert_false(config.tcp);
	dnsbl_config_free(&config);
	unlink(path);
}

static void
test_bad_line_in_file_is_named(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];
	char path[PATH_SIZE];

	(void)state;
	write_ini(path, "[dnsbl]\nttl = 60\nwokers = 2\n");
	assert_false(parse(&config, err, "--config", path, NULL));
	assert_non_null(strstr(err, ":3: unknown key 'wokers'"));
	dnsbl_config_free(&config);
	unlink(path);
	write_ini(path, "[dnsbl]\nmax_udp_size = 100\n");
	assert_false(parse(&config, err, "--config", path, NULL));
	assert_non_null(strstr(err, "max_udp_size wants a number from 512 to 4096"));
	dnsbl_config_free(&config);
	unlink(path);
}

static void
test_bad_options_are_refused(void **state)
{
	struct dnsbl_config config;
	char err[ERR_SIZE];

	(void)state;
	assert_false(parse(&config, err, "--no-such-option", NULL));
	dnsbl_config_free(&config);
	assert_false(parse(&config, err, "--workers", "many", NULL));
	assert_non_null(strstr(err, "workers"));
	dnsbl_config_free(&config);
	assert_false(parse(&config, err, "--listen", NULL));
	dnsbl_config_free(&config);
	assert_false(parse(&config, err, "--config", "/nonexistent/relayguard.ini", NULL));
	assert_non_null(strstr(err, "cannot read"));
	dnsbl_config_free(&config);
}

static void
test_every_key_is_described_in_the_man_page(void **state)
{
	const char *root = getenv("RELAYGUARD_SOURCE_ROOT");
	char path[1024];
	static char page[MAN_PAGE_MAX];
	size_t count;

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", MAN_PAGE);
	FILE *file = fopen(path, "r");
	assert_non_null(file);
	size_t length = fread(page, 1, sizeof(page) - 1, file);
	fclose(file);
	page[length] = '\0';
	const char *configuration = strstr(page, ".SH CONFIGURATION");
	assert_non_null(configuration);
	const struct dnsbl_config_key *keys = dnsbl_config_keys(&count);
	assert_true(count >= 15);
	for (size_t i = 0; i < count; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\n.TP\n.B %s\n", keys[i].name);
		if (strstr(configuration, needle) == NULL)
			fail_msg("key %s is not described in %s", keys[i].name, MAN_PAGE);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_follow_the_key_table),
		cmocka_unit_test(test_issue_command_line_is_understood),
		cmocka_unit_test(test_rbldnsd_bind_form_is_converted),
		cmocka_unit_test(test_rbldnsd_ttl_sets_default_and_bounds),
		cmocka_unit_test(test_plain_arguments_are_zones),
		cmocka_unit_test(test_command_line_list_replaces_the_file_list),
		cmocka_unit_test(test_bad_line_in_file_is_named),
		cmocka_unit_test(test_bad_options_are_refused),
		cmocka_unit_test(test_every_key_is_described_in_the_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
