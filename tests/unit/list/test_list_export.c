/* test_list_export.c - the rbldnsd and BIND writers of `relayguard list export`: the lines a
 * mirror loads, wildcards for prefixes, and the RFC 4592 repeats under more specific names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list/list_export.h"

#define ENTRIES_MAX 8

/* zone - the apex every test writes */
static struct list_export_zone
zone(void)
{
	struct list_export_zone apex = {
		.name = "relays.bl.test", .ns = { "ns1.example.org", "ns2.example.org." },
		.ns_count = 2, .hostmaster = "hostmaster@example.org", .serial = 1700000000,
		.ttl = 900, .refresh = 3600, .retry = 600, .expire = 604800, .minimum = 60,
	};
	return apex;
}

/* Entries built from prefix text. */
struct entries {
	struct list_export_entry items[ENTRIES_MAX];
	size_t count;
};

/* add - append prefix with code and txt */
static void
add(struct entries *entries, const char *prefix, unsigned code, const char *txt)
{
	assert_true(entries->count < ENTRIES_MAX);
	struct list_export_entry *entry = &entries->items[entries->count++];
	assert_true(netprefix_parse(prefix, &entry->prefix));
	entry->code = code;
	entry->txt = txt;
}

/* bind_text - the BIND export of entries, as a string to free */
static char *
bind_text(const struct entries *entries)
{
	struct list_export_zone apex = zone();
	char *text = NULL;
	size_t length = 0;
	FILE *out = open_memstream(&text, &length);

	assert_non_null(out);
	assert_true(list_export_bind(out, &apex, entries->items, entries->count));
	fclose(out);
	return text;
}

/* has_line - text holds this whole line */
static bool
has_line(const char *text, const char *line)
{
	size_t length = strlen(line);

	while (*text != '\0') {
		const char *end = strchr(text, '\n');
		size_t here = end != NULL ? (size_t)(end - text) : strlen(text);
		if (here == length && memcmp(text, line, length) == 0)
			return true;
		if (end == NULL)
			break;
		text = end + 1;
	}
	return false;
}

/* count_lines - lines of text that start with prefix */
static size_t
count_lines(const char *text, const char *prefix)
{
	size_t count = 0;
	size_t length = strlen(prefix);

	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, prefix, length) == 0)
			count++;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return count;
}

static void
test_rbldnsd_writes_one_family_with_soa_ns_and_values(void **state)
{
	struct entries entries = { 0 };
	struct list_export_zone apex = zone();
	char *text = NULL;
	size_t length = 0;

	(void)state;
	add(&entries, "192.0.2.0/24", 4, "Listed $\nby hand");
	add(&entries, "2001:db8::/32", 5, "v6");
	add(&entries, "127.0.0.2/32", 2, "test");
	FILE *out = open_memstream(&text, &length);
	assert_true(list_export_rbldnsd(out, &apex, entries.items, entries.count, AF_INET));
	fclose(out);
	assert_true(has_line(text, "$TTL 900"));
	assert_true(has_line(text, "$SOA 900 ns1.example.org hostmaster.example.org. 1700000000 "
	    "3600 600 604800 60"));
	assert_true(has_line(text, "$NS 900 ns1.example.org ns2.example.org."));
	/* a control byte in a TXT would end the line: it becomes a space */
	assert_true(has_line(text, "192.0.2.0/24 :127.0.0.4:Listed $ by hand"));
	assert_true(has_line(text, "127.0.0.2/32 :127.0.0.2:test"));
	assert_null(strstr(text, "2001:db8"));
	free(text);

	out = open_memstream(&text, &length);
	assert_true(list_export_rbldnsd(out, &apex, entries.items, entries.count, AF_INET6));
	fclose(out);
	assert_true(has_line(text, "2001:db8::/32 :127.0.0.5:v6"));
	assert_null(strstr(text, "192.0.2.0"));
	free(text);
}

static void
test_bind_writes_soa_ns_names_and_wildcards(void **state)
{
	struct entries entries = { 0 };

	(void)state;
	add(&entries, "127.0.0.2/32", 2, "Test entry");
	add(&entries, "192.0.2.0/24", 4, "net $");
	char *text = bind_text(&entries);
	assert_true(has_line(text, "$ORIGIN relays.bl.test."));
	assert_true(has_line(text, "$TTL 900"));
	assert_true(has_line(text, "@\tIN\tSOA\tns1.example.org. hostmaster.example.org. "
	    "( 1700000000 3600 600 604800 60 )"));
	assert_true(has_line(text, "@\tIN\tNS\tns1.example.org."));
	assert_true(has_line(text, "@\tIN\tNS\tns2.example.org."));
	assert_true(has_line(text, "2.0.0.127\tIN\tA\t127.0.0.2"));
	assert_true(has_line(text, "2.0.0.127\tIN\tTXT\t\"Test entry\""));
	assert_true(has_line(text, "*.2.0.192\tIN\tA\t127.0.0.4"));
	/* "$" of a wildcard is its prefix: the address is not known when the file is made */
	assert_true(has_line(text, "*.2.0.192\tIN\tTXT\t\"net 192.0.2.0/24\""));
	free(text);
}

static void
test_bind_splits_prefixes_into_the_next_whole_label(void **state)
{
	struct entries entries = { 0 };

	(void)state;
	add(&entries, "198.51.100.4/30", 3, "$");
	add(&entries, "203.0.112.0/23", 4, NULL);
	add(&entries, "2001:db8:4000::/34", 5, NULL);
	char *text = bind_text(&entries);
	/* a /30 is four names, each "$" its own address */
	for (unsigned host = 4; host < 8; host++) {
		char line[64];
		snprintf(line, sizeof(line), "%u.100.51.198\tIN\tA\t127.0.0.3", host);
		assert_true(has_line(text, line));
		snprintf(line, sizeof(line), "%u.100.51.198\tIN\tTXT\t\"198.51.100.%u\"", host, host);
		assert_true(has_line(text, line));
	}
	assert_false(has_line(text, "8.100.51.198\tIN\tA\t127.0.0.3"));
	/* a /23 is two /24 wildcards; no TXT without a template */
	assert_true(has_line(text, "*.112.0.203\tIN\tA\t127.0.0.4"));
	assert_true(has_line(text, "*.113.0.203\tIN\tA\t127.0.0.4"));
	assert_int_equal(count_lines(text, "*.11"), 2);
	/* a /34 is four nibble wildcards at /36 */
	assert_true(has_line(text, "*.4.8.b.d.0.1.0.0.2\tIN\tA\t127.0.0.5"));
	assert_true(has_line(text, "*.7.8.b.d.0.1.0.0.2\tIN\tA\t127.0.0.5"));
	assert_false(has_line(text, "*.8.8.b.d.0.1.0.0.2\tIN\tA\t127.0.0.5"));
	assert_int_equal(count_lines(text, "*."), 2 + 4);
	free(text);
}

/* RFC 4592 section 4.3: 1.99.51.198 makes 99.51.198 exist; without *.99.51.198, every other
 * address of 198.51.99.0/24 would be NXDOMAIN although the /16 lists it. */
static void
test_bind_repeats_a_wildcard_below_a_more_specific_name(void **state)
{
	struct entries entries = { 0 };

	(void)state;
	add(&entries, "198.51.0.0/16", 4, NULL);
	add(&entries, "198.51.99.1/32", 2, NULL);
	add(&entries, "198.51.100.0/24", 5, NULL);
	add(&entries, "198.51.100.9/32", 3, NULL);
	char *text = bind_text(&entries);
	assert_true(has_line(text, "*.51.198\tIN\tA\t127.0.0.4"));
	assert_true(has_line(text, "1.99.51.198\tIN\tA\t127.0.0.2"));
	assert_true(has_line(text, "*.99.51.198\tIN\tA\t127.0.0.4"));
	/* below 100.51.198 the /24's own wildcard covers it: the /16 is not repeated there */
	assert_true(has_line(text, "*.100.51.198\tIN\tA\t127.0.0.5"));
	assert_int_equal(count_lines(text, "*.100.51.198\t"), 1);
	assert_true(has_line(text, "9.100.51.198\tIN\tA\t127.0.0.3"));
	/* nothing above the /16: 198 itself gets no wildcard */
	assert_int_equal(count_lines(text, "*.198\t"), 0);
	free(text);
}

static void
test_bind_keeps_the_longest_prefix_for_one_owner(void **state)
{
	struct entries entries = { 0 };

	(void)state;
	add(&entries, "203.0.112.0/23", 4, NULL);
	add(&entries, "203.0.113.0/24", 5, NULL);
	char *text = bind_text(&entries);
	assert_true(has_line(text, "*.113.0.203\tIN\tA\t127.0.0.5"));
	assert_int_equal(count_lines(text, "*.113.0.203\t"), 1);
	assert_true(has_line(text, "*.112.0.203\tIN\tA\t127.0.0.4"));
	free(text);
}

static void
test_bind_quotes_txt(void **state)
{
	struct entries entries = { 0 };

	(void)state;
	add(&entries, "192.0.2.1/32", 2, "say \"hi\" \\ $$5 \x01");
	char *text = bind_text(&entries);
	assert_true(has_line(text, "1.2.0.192\tIN\tTXT\t\"say \\\"hi\\\" \\\\ $5 \\001\""));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbldnsd_writes_one_family_with_soa_ns_and_values),
		cmocka_unit_test(test_bind_writes_soa_ns_names_and_wildcards),
		cmocka_unit_test(test_bind_splits_prefixes_into_the_next_whole_label),
		cmocka_unit_test(test_bind_repeats_a_wildcard_below_a_more_specific_name),
		cmocka_unit_test(test_bind_keeps_the_longest_prefix_for_one_owner),
		cmocka_unit_test(test_bind_quotes_txt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
