/* test_relay_policy.c - unit tests of the relay policy (smtpd/relay_policy.h), including the
 * golden table relay_policy.in -> relay_policy.ref (every battery id as a recipient).
 * Set RELAYGUARD_GOLDEN_UPDATE=1 to rewrite the .ref after a deliberate change; review it. */
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

#include "core/netaddr.h"
#include "smtpd/address.h"
#include "smtpd/config.h"
#include "smtpd/relay_policy.h"

#define GOLDEN_IN "tests/unit/smtpd/relay_policy.in"
#define GOLDEN_REF "tests/unit/smtpd/relay_policy.ref"
#define GOLDEN_MAX (64 * 1024)
#define LINE_MAX_TEST 1024
#define STRANGER "203.0.113.7"

struct fixture {
	char dir[64];
	char users[128];
	char maildir[128];
	char users_override[160];
	char maildir_override[160];
};

/* The configuration of relay_policy.in's header, as -o overrides. */
static const char *const base_overrides[] = {
	"hostname=mx.example.org",
	"local_domains=example.org, mx.example.org",
	"relay_domains=relay.example.com .gateway.example.com",
	"relay_clients=198.51.100.0/24 2001:db8:100::/48",
	"next_hop=smtp:127.0.0.1:10026",
};
#define BASE_OVERRIDE_COUNT (sizeof(base_overrides) / sizeof(base_overrides[0]))

static int
setup(void **state)
{
	struct fixture *fixture = calloc(1, sizeof(*fixture));
	FILE *file;

	snprintf(fixture->dir, sizeof(fixture->dir), "/tmp/relayguard-policy-XXXXXX");
	if (mkdtemp(fixture->dir) == NULL)
		return -1;
	snprintf(fixture->users, sizeof(fixture->users), "%s/users", fixture->dir);
	snprintf(fixture->maildir, sizeof(fixture->maildir), "%s/maildir", fixture->dir);
	snprintf(fixture->users_override, sizeof(fixture->users_override), "users=%s",
	    fixture->users);
	snprintf(fixture->maildir_override, sizeof(fixture->maildir_override), "maildir=%s",
	    fixture->maildir);
	file = fopen(fixture->users, "w");
	if (file == NULL)
		return -1;
	fputs("alice@example.org\nalice@mx.example.org\nbob@example.org\n", file);
	fclose(file);
	if (mkdir(fixture->maildir, 0700) != 0)
		return -1;
	*state = fixture;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fixture = *state;
	char command[256];

	snprintf(command, sizeof(command), "rm -rf '%s'", fixture->dir);
	assert_int_equal(system(command), 0);
	free(fixture);
	return 0;
}

/* make_policy - the base configuration plus extra overrides; users file unless no_users. */
static struct relay_policy *
make_policy(struct fixture *fixture, bool with_users, const char *const *extra,
    size_t extra_count)
{
	char *overrides[32];
	size_t count = 0;
	struct smtpd_config config;
	struct config_problem problems[16];
	size_t problem_count;
	struct netaddr own[3];

	for (size_t i = 0; i < BASE_OVERRIDE_COUNT; i++)
		overrides[count++] = (char *)base_overrides[i];
	overrides[count++] = fixture->maildir_override;
	if (with_users)
		overrides[count++] = fixture->users_override;
	for (size_t i = 0; i < extra_count; i++)
		overrides[count++] = (char *)extra[i];
	assert_true(smtpd_config_load(NULL, overrides, count, &config, problems, 16,
	    &problem_count));
	assert_true(netaddr_parse("192.0.2.25", &own[0]));
	assert_true(netaddr_parse("2001:db8::25", &own[1]));
	assert_true(netaddr_parse("0.0.0.0", &own[2]));
	struct relay_policy *policy = relay_policy_new(&config, own, 3);
	smtpd_config_free(&config);
	assert_non_null(policy);
	return policy;
}

/* judge - parse path and decide for client; SYNTAX/TOO_LONG as -1/-2. */
static int
judge(const struct relay_policy *policy, const char *client, bool authenticated,
    const char *path, char *reply, size_t reply_size)
{
	struct relay_client who = { .authenticated = authenticated };
	struct smtp_mailbox mailbox;
	const char *rest;

	assert_true(netaddr_parse(client, &who.address));
	enum address_status status = smtp_path_parse(path, strlen(path), false, &mailbox,
	    &rest);
	if (status == ADDRESS_SYNTAX)
		return -1;
	if (status == ADDRESS_TOO_LONG)
		return -2;
	return (int)relay_policy_decide(policy, &who, &mailbox, reply, reply_size);
}

/* decide_text - judge for a stranger or an authenticated client, reply ignored. */
static int
decide_for(const struct relay_policy *policy, const char *client, bool authenticated,
    const char *path)
{
	char reply[RELAY_REPLY_MAX];

	return judge(policy, client, authenticated, path, reply, sizeof(reply));
}

/* golden_line - the .ref form of one .in row (comment and blank lines are copied). */
static void
golden_line(const struct relay_policy *policy, const char *line, char *out, size_t out_size)
{
	char id[16], client[64], auth[8], reply[RELAY_REPLY_MAX], queue[400];
	int consumed = 0;

	if (line[0] == '\0' || line[0] == '#') {
		snprintf(out, out_size, "%s", line);
		return;
	}
	assert_int_equal(sscanf(line, "%15s %63s %7s %n", id, client, auth, &consumed), 3);
	const char *path = line + consumed;
	bool authenticated = strcmp(auth, "yes") == 0;
	struct relay_client who = { .authenticated = authenticated };
	struct smtp_mailbox mailbox;
	const char *rest;

	assert_true(netaddr_parse(client, &who.address));
	enum address_status status = smtp_path_parse(path, strlen(path), false, &mailbox,
	    &rest);
	if (status != ADDRESS_OK) {
		snprintf(out, out_size, "%s %s %s %s -> %s", id, client, auth, path,
		    status == ADDRESS_SYNTAX ? "SYNTAX (501 5.1.3 from the session)" :
		    "TOO_LONG");
		return;
	}
	enum relay_decision decision = relay_policy_decide(policy, &who, &mailbox, reply,
	    sizeof(reply));
	if (relay_decision_accepts(decision)) {
		assert_true(relay_policy_recipient_address(policy, &mailbox, decision, queue,
		    sizeof(queue)) > 0);
		snprintf(out, out_size, "%s %s %s %s -> %s queue=%s | %s", id, client, auth, path,
		    relay_decision_name(decision), queue, reply);
	} else {
		snprintf(out, out_size, "%s %s %s %s -> %s | %s", id, client, auth, path,
		    relay_decision_name(decision), reply);
	}
}

/* read_whole - a small text file into a NUL-terminated heap buffer. */
static char *
read_whole(const char *path)
{
	char *text = calloc(1, GOLDEN_MAX + 1);
	FILE *file = fopen(path, "r");

	assert_non_null(text);
	if (file == NULL) {
		free(text);
		return NULL;
	}
	size_t length = fread(text, 1, GOLDEN_MAX, file);
	assert_true(length < GOLDEN_MAX);
	fclose(file);
	text[length] = '\0';
	return text;
}

/* source_path - name relative to the source root (RELAYGUARD_SOURCE_ROOT or "."). */
static void
source_path(const char *name, char *out, size_t out_size)
{
	const char *root = getenv("RELAYGUARD_SOURCE_ROOT");

	snprintf(out, out_size, "%s/%s", root != NULL ? root : ".", name);
}

/* golden_render - the whole .ref text for the .in text. */
static char *
golden_render(const struct relay_policy *policy, const char *input)
{
	char *output = calloc(1, GOLDEN_MAX + 1);
	size_t used = 0;
	char line[LINE_MAX_TEST], rendered[LINE_MAX_TEST * 2];

	assert_non_null(output);
	for (const char *p = input; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t length = end != NULL ? (size_t)(end - p) : strlen(p);
		assert_true(length < sizeof(line));
		memcpy(line, p, length);
		line[length] = '\0';
		golden_line(policy, line, rendered, sizeof(rendered));
		int written = snprintf(output + used, GOLDEN_MAX + 1 - used, "%s\n", rendered);
		assert_true(written > 0 && used + (size_t)written <= GOLDEN_MAX);
		used += (size_t)written;
		p = end != NULL ? end + 1 : p + length;
	}
	return output;
}

static void
test_golden_table_matches_reference(void **state)
{
	char in_path[512], ref_path[512];
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);

	source_path(GOLDEN_IN, in_path, sizeof(in_path));
	source_path(GOLDEN_REF, ref_path, sizeof(ref_path));
	char *input = read_whole(in_path);
	assert_non_null(input);
	char *output = golden_render(policy, input);
	const char *update = getenv("RELAYGUARD_GOLDEN_UPDATE");
	if (update != NULL && strcmp(update, "1") == 0) {
		FILE *file = fopen(ref_path, "w");
		assert_non_null(file);
		fputs(output, file);
		fclose(file);
	}
	char *expected = read_whole(ref_path);
	assert_non_null(expected);
	/* compare line by line so that a failure names the row */
	const char *a = output, *b = expected;
	while (*a != '\0' || *b != '\0') {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
		if (la != lb || memcmp(a, b, la) != 0)
			fail_msg("golden mismatch:\n got: %.*s\nwant: %.*s", (int)la, a, (int)lb, b);
		a += la + (a[la] == '\n');
		b += lb + (b[lb] == '\n');
	}
	free(expected);
	free(output);
	free(input);
	relay_policy_free(policy);
}

/* The property the whole server exists for: independent of the .ref file. */
static void
test_every_battery_recipient_is_refused_for_a_stranger(void **state)
{
	char in_path[512], line[LINE_MAX_TEST], id[16], client[64], auth[8];
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	unsigned rows = 0;

	source_path(GOLDEN_IN, in_path, sizeof(in_path));
	FILE *file = fopen(in_path, "r");
	assert_non_null(file);
	while (fgets(line, sizeof(line), file) != NULL) {
		int consumed = 0;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%15s %63s %7s %n", id, client, auth, &consumed), 3);
		if (strchr("SRNX", id[0]) == NULL || strcmp(client, STRANGER) != 0 ||
		    strcmp(auth, "no") != 0)
			continue;
		int decision = decide_for(policy, client, false, line + consumed);
		if (decision >= 0 && relay_decision_accepts((enum relay_decision)decision))
			fail_msg("%s accepted for a stranger: %s", id, line + consumed);
		rows++;
	}
	fclose(file);
	assert_int_equal(rows, 32);	/* S01..S09, R01..R15, R17, N01..N05, X02, X03 */
	relay_policy_free(policy);
}

static void
test_third_party_domain_is_denied_for_stranger(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char reply[RELAY_REPLY_MAX];

	assert_int_equal(judge(policy, STRANGER, false, "<u@example.net>", reply,
	    sizeof(reply)), RELAY_DENIED);
	assert_string_equal(reply, "554 5.7.1 <u@example.net>: relay access denied");
	relay_policy_free(policy);
}

static void
test_relay_clients_and_authenticated_clients_go_outbound(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);

	assert_int_equal(decide_for(policy, "198.51.100.200", false, "<u@example.net>"),
	    RELAY_OUTBOUND);
	assert_int_equal(decide_for(policy, "2001:db8:100::1", false, "<u@example.net>"),
	    RELAY_OUTBOUND);
	assert_int_equal(decide_for(policy, "::ffff:198.51.100.1", false, "<u@example.net>"),
	    RELAY_OUTBOUND);
	assert_int_equal(decide_for(policy, STRANGER, true, "<u@example.net>"), RELAY_OUTBOUND);
	assert_int_equal(decide_for(policy, "198.51.101.1", false, "<u@example.net>"),
	    RELAY_DENIED);
	relay_policy_free(policy);
}

/* Be Postfix, not qmail: no relay_clients means nobody relays. */
static void
test_empty_relay_clients_allows_nothing(void **state)
{
	const char *extra[] = { "relay_clients=" };
	struct relay_policy *policy = make_policy(*state, true, extra, 1);

	assert_int_equal(decide_for(policy, "198.51.100.7", false, "<u@example.net>"),
	    RELAY_DENIED);
	assert_int_equal(decide_for(policy, "127.0.0.1", false, "<u@example.net>"),
	    RELAY_DENIED);
	relay_policy_free(policy);
}

static void
test_local_domain_user_is_local_for_anyone(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char reply[RELAY_REPLY_MAX];

	assert_int_equal(judge(policy, STRANGER, false, "<alice@example.org>", reply,
	    sizeof(reply)), RELAY_LOCAL);
	assert_string_equal(reply, "250 2.1.5 <alice@example.org>: recipient ok");
	relay_policy_free(policy);
}

/* N03, N04 for our own domain: case and one trailing dot do not matter. */
static void
test_domains_compare_case_insensitively_without_trailing_dot(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);

	assert_int_equal(decide_for(policy, STRANGER, false, "<alice@EXAMPLE.org.>"),
	    RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<x@Relay.Example.COM.>"),
	    RELAY_FORWARD);
	assert_int_equal(decide_for(policy, STRANGER, false, "<u@EXAMPLE.NET.>"),
	    RELAY_DENIED);
	relay_policy_free(policy);
}

static void
test_unknown_local_user_is_refused_at_rcpt(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char reply[RELAY_REPLY_MAX];

	assert_int_equal(judge(policy, STRANGER, true, "<carol@example.org>", reply,
	    sizeof(reply)), RELAY_UNKNOWN_USER);
	assert_string_equal(reply, "550 5.1.1 <carol@example.org>: no such user here");
	relay_policy_free(policy);
}

/* R01, R02, R06, R08, R13, R14: routed local parts for our domains get 553, even when the
 * client may relay (Postfix's rule), and for relay domains too. */
static void
test_routed_local_parts_for_our_domains_get_553(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char reply[RELAY_REPLY_MAX];

	assert_int_equal(judge(policy, STRANGER, true, "<u%example.net@mx.example.org>", reply,
	    sizeof(reply)), RELAY_ROUTED);
	assert_true(strncmp(reply, "553 5.7.1 <u%example.net@mx.example.org>: ", 42) == 0);
	assert_int_equal(decide_for(policy, STRANGER, false, "<u%example.net@[192.0.2.25]>"),
	    RELAY_ROUTED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<\"u@example.net\"@example.org>"),
	    RELAY_ROUTED);
	assert_int_equal(decide_for(policy, "198.51.100.7", false,
	    "<example.net!u@mx.example.org>"), RELAY_ROUTED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<\"alice\"@example.org>"),
	    RELAY_ROUTED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<u%example.net@relay.example.com>"),
	    RELAY_ROUTED);
	relay_policy_free(policy);
}

static void
test_allow_routed_local_parts_passes_them_on(void **state)
{
	const char *extra[] = { "allow_routed_local_parts=yes" };
	struct relay_policy *policy = make_policy(*state, true, extra, 1);

	assert_int_equal(decide_for(policy, STRANGER, false, "<u%example.net@relay.example.com>"),
	    RELAY_FORWARD);
	/* for a local domain it is just a user name, and there is no such user */
	assert_int_equal(decide_for(policy, STRANGER, false, "<u%example.net@example.org>"),
	    RELAY_UNKNOWN_USER);
	/* it never opens a foreign domain */
	assert_int_equal(decide_for(policy, STRANGER, false, "<u%example.org@example.net>"),
	    RELAY_DENIED);
	relay_policy_free(policy);
}

/* R10 / R11: the source route is stripped and the final mailbox judged. */
static void
test_source_route_is_judged_by_final_mailbox(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);

	assert_int_equal(decide_for(policy, STRANGER, false, "<@mx.example.org:u@example.net>"),
	    RELAY_DENIED);
	assert_int_equal(decide_for(policy, STRANGER, false,
	    "<@relay.example.com:alice@example.org>"), RELAY_LOCAL);
	relay_policy_free(policy);
}

/* N01/N02 and our own literals: only our listening addresses are "us"; 0.0.0.0 never is. */
static void
test_address_literal_is_ours_only_for_listening_addresses(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char queue[300];
	struct smtp_mailbox mailbox;
	const char *rest;

	assert_int_equal(decide_for(policy, STRANGER, false, "<alice@[192.0.2.25]>"),
	    RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<alice@[IPv6:2001:db8::25]>"),
	    RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<alice@[192.0.2.1]>"),
	    RELAY_DENIED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<alice@[0.0.0.0]>"),
	    RELAY_DENIED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<bob@[192.0.2.25]>"),
	    RELAY_UNKNOWN_USER);
	assert_int_equal(smtp_path_parse("<Alice@[192.0.2.25]>", 20, false, &mailbox, &rest),
	    ADDRESS_OK);
	assert_true(relay_policy_recipient_address(policy, &mailbox, RELAY_LOCAL, queue,
	    sizeof(queue)) > 0);
	assert_string_equal(queue, "alice@mx.example.org");
	relay_policy_free(policy);
}

/* RFC 5321 4.5.1: postmaster always exists; "<postmaster>" means postmaster@hostname. */
static void
test_postmaster_is_always_accepted(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char queue[300];
	struct smtp_mailbox mailbox;
	const char *rest;

	assert_int_equal(decide_for(policy, STRANGER, false, "<PostMaster>"), RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<postmaster@example.org>"),
	    RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<postmaster@example.net>"),
	    RELAY_DENIED);
	assert_int_equal(smtp_path_parse("<PostMaster>", 12, false, &mailbox, &rest),
	    ADDRESS_OK);
	assert_true(relay_policy_recipient_address(policy, &mailbox, RELAY_LOCAL, queue,
	    sizeof(queue)) > 0);
	assert_string_equal(queue, "postmaster@mx.example.org");
	relay_policy_free(policy);
}

/* N05, R03, R09, R12: no domain -> 553 5.1.3 for everyone, postmaster excepted. */
static void
test_recipient_without_domain_is_refused(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);
	char reply[RELAY_REPLY_MAX];

	assert_int_equal(judge(policy, STRANGER, true, "<alice>", reply, sizeof(reply)),
	    RELAY_NO_DOMAIN);
	assert_string_equal(reply, "553 5.1.3 <alice>: recipient address needs a domain");
	assert_int_equal(decide_for(policy, "198.51.100.7", false, "<\"u@example.net\">"),
	    RELAY_NO_DOMAIN);
	assert_int_equal(decide_for(policy, STRANGER, false, "<\"postmaster\">"),
	    RELAY_NO_DOMAIN);
	relay_policy_free(policy);
}

static void
test_relay_domain_subdomain_pattern(void **state)
{
	struct relay_policy *policy = make_policy(*state, true, NULL, 0);

	assert_int_equal(decide_for(policy, STRANGER, false, "<x@a.b.gateway.example.com>"),
	    RELAY_FORWARD);
	assert_int_equal(decide_for(policy, STRANGER, false, "<x@gateway.example.com>"),
	    RELAY_DENIED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<x@xgateway.example.com>"),
	    RELAY_DENIED);
	relay_policy_free(policy);
}

/* Second line of defence: what lint refuses, the policy ignores anyway. */
static void
test_catch_all_relay_domains_and_wide_prefixes_are_ignored(void **state)
{
	const char *extra[] = {
		"relay_domains=* . .net *.com relay.example.com",
		"relay_clients=0.0.0.0/0 ::/0 ::ffff:0.0.0.0/96 10.0.0.0/7",
	};
	struct relay_policy *policy = make_policy(*state, true, extra, 2);

	assert_int_equal(decide_for(policy, STRANGER, false, "<u@example.net>"), RELAY_DENIED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<u@example.com>"), RELAY_DENIED);
	assert_int_equal(decide_for(policy, "10.1.2.3", false, "<u@example.com>"), RELAY_DENIED);
	assert_int_equal(decide_for(policy, "2001:db8:1::1", false, "<u@example.com>"),
	    RELAY_DENIED);
	assert_int_equal(decide_for(policy, STRANGER, false, "<u@relay.example.com>"),
	    RELAY_FORWARD);
	relay_policy_free(policy);
}

/* Without a users file the Maildir tree says who exists; nothing can climb out of it. */
static void
test_maildir_tree_lists_users_without_users_file(void **state)
{
	struct fixture *fixture = *state;
	char path[256];

	snprintf(path, sizeof(path), "%s/example.org", fixture->maildir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/example.org/dave", fixture->maildir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/example.org/dave/inbox", fixture->maildir);
	assert_int_equal(mkdir(path, 0700), 0);
	struct relay_policy *policy = make_policy(fixture, false, NULL, 0);

	assert_int_equal(decide_for(policy, STRANGER, false, "<dave@example.org>"), RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<DAVE@Example.org>"), RELAY_LOCAL);
	assert_int_equal(decide_for(policy, STRANGER, false, "<alice@example.org>"),
	    RELAY_UNKNOWN_USER);
	assert_int_equal(decide_for(policy, STRANGER, false, "<dave/inbox@example.org>"),
	    RELAY_UNKNOWN_USER);
	assert_int_equal(decide_for(policy, STRANGER, false, "<..@example.org>"), -1);
	relay_policy_free(policy);
}

static void
test_missing_users_file_fails_policy_creation(void **state)
{
	(void)state;
	struct smtpd_config config;
	struct config_problem problems[8];
	size_t count;
	char *overrides[] = { (char *)"users=/nonexistent/relayguard-users" };

	assert_true(smtpd_config_load(NULL, overrides, 1, &config, problems, 8, &count));
	assert_null(relay_policy_new(&config, NULL, 0));
	smtpd_config_free(&config);
}

static void
test_decision_names_and_acceptance(void **state)
{
	(void)state;
	assert_string_equal(relay_decision_name(RELAY_LOCAL), "LOCAL");
	assert_string_equal(relay_decision_name(RELAY_NO_DOMAIN), "NO_DOMAIN");
	assert_true(relay_decision_accepts(RELAY_FORWARD));
	assert_true(relay_decision_accepts(RELAY_OUTBOUND));
	assert_false(relay_decision_accepts(RELAY_DENIED));
	assert_false(relay_decision_accepts(RELAY_ROUTED));
	assert_false(relay_decision_accepts(RELAY_UNKNOWN_USER));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_golden_table_matches_reference),
		T(test_every_battery_recipient_is_refused_for_a_stranger),
		T(test_third_party_domain_is_denied_for_stranger),
		T(test_relay_clients_and_authenticated_clients_go_outbound),
		T(test_empty_relay_clients_allows_nothing),
		T(test_local_domain_user_is_local_for_anyone),
		T(test_domains_compare_case_insensitively_without_trailing_dot),
		T(test_unknown_local_user_is_refused_at_rcpt),
		T(test_routed_local_parts_for_our_domains_get_553),
		T(test_allow_routed_local_parts_passes_them_on),
		T(test_source_route_is_judged_by_final_mailbox),
		T(test_address_literal_is_ours_only_for_listening_addresses),
		T(test_postmaster_is_always_accepted),
		T(test_recipient_without_domain_is_refused),
		T(test_relay_domain_subdomain_pattern),
		T(test_catch_all_relay_domains_and_wide_prefixes_are_ignored),
		T(test_maildir_tree_lists_users_without_users_file),
		T(test_missing_users_file_fails_policy_creation),
		T(test_decision_names_and_acceptance),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
