/* test_dataset.c - unit tests of the DNSBL datasets (dnsbl/dataset.h): rbldnsd syntax, its
 * matching rules (checked against rbldnsd 1.0~20210120 + dig by hand), templates, size. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/netaddr.h"
#include "dnsbl/dataset.h"

#define ERR_SIZE 512
#define PATH_SIZE 64
#define ANSWER_SIZE 2048
#define VALUES_MAX 16
#define CAPTURE_SIZE 8192
#define MILLION 1000000u

/* load - parse text as a dataset of type; the warnings count goes to *warnings */
static struct dataset *
load(enum dataset_type type, const char *text, size_t *warnings)
{
	char err[ERR_SIZE] = "";
	size_t count = 0;
	struct dataset *set = dataset_load_buffer(type, text, strlen(text), "test.txt", &count,
	    err, sizeof(err));

	assert_non_null(set);
	if (warnings != NULL)
		*warnings = count;
	return set;
}

/* address - parse text the test knows to be an address */
static struct netaddr
address(const char *text)
{
	struct netaddr parsed;

	assert_true(netaddr_parse(text, &parsed));
	return parsed;
}

/* answer - what a lookup of text gives: "-" when not listed, else each value as
 * "a.b.c.d" or "a.b.c.d=rendered TXT", joined by " | " */
static const char *
answer(const struct dataset *set, const char *text)
{
	static char out[ANSWER_SIZE];
	struct dataset_value values[VALUES_MAX];
	struct netaddr queried = address(text);
	size_t count = dataset_lookup(set, &queried, values, VALUES_MAX), i, length = 0;

	if (count == 0)
		return "-";
	out[0] = '\0';
	for (i = 0; i < count; i++) {
		char txt[DATASET_TXT_MAX + 1];

		length += (size_t)snprintf(out + length, sizeof(out) - length, "%s%u.%u.%u.%u",
		    i == 0 ? "" : " | ", values[i].a >> 24, (values[i].a >> 16) & 0xff,
		    (values[i].a >> 8) & 0xff, values[i].a & 0xff);
		if (values[i].txt != NULL) {
			dataset_txt_render(values[i].txt, &queried, txt, sizeof(txt));
			length += (size_t)snprintf(out + length, sizeof(out) - length, "=%s", txt);
		}
	}
	return out;
}

/* Capture of what the logger writes to stderr while a dataset loads. */
struct capture {
	int saved;
	FILE *file;
};

/* capture_start - send stderr to a temp file */
static void
capture_start(struct capture *capture)
{
	fflush(stderr);
	capture->file = tmpfile();
	assert_non_null(capture->file);
	capture->saved = dup(STDERR_FILENO);
	assert_true(capture->saved >= 0);
	assert_true(dup2(fileno(capture->file), STDERR_FILENO) >= 0);
}

/* capture_end - restore stderr and return what was written (static buffer) */
static const char *
capture_end(struct capture *capture)
{
	static char text[CAPTURE_SIZE];
	size_t length;

	fflush(stderr);
	assert_true(dup2(capture->saved, STDERR_FILENO) >= 0);
	close(capture->saved);
	rewind(capture->file);
	length = fread(text, 1, sizeof(text) - 1, capture->file);
	text[length] = '\0';
	fclose(capture->file);
	return text;
}

/* write_temp_file - write content to a new temp file; its name goes into path */
static void
write_temp_file(char path[PATH_SIZE], const char *content)
{
	size_t length = strlen(content);
	int fd;

	snprintf(path, PATH_SIZE, "/tmp/relayguard-dataset-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, length), (ssize_t)length);
	assert_int_equal(close(fd), 0);
}

/* ---- ip4set syntax ---- */

static void
test_ip4set_single_address_gets_default_a_and_no_txt(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.7\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.7"), "127.0.0.2");
	assert_string_equal(answer(set, "192.0.2.8"), "-");
	assert_string_equal(answer(set, "192.0.2.6"), "-");
	dataset_free(set);
}

/* Every notation of the rbldnsd man page for 127.0.0.0/24 and 127.16.0.0/12. */
static void
test_ip4set_every_range_notation_covers_the_same_addresses(void **state)
{
	static const struct {
		const char *line;
		const char *first, *last, *before, *after;
	} cases[] = {
		{ "127.0.0.0/24", "127.0.0.0", "127.0.0.255", "126.255.255.255", "127.0.1.0" },
		{ "127.0.0", "127.0.0.0", "127.0.0.255", "126.255.255.255", "127.0.1.0" },
		{ "127/24", "127.0.0.0", "127.0.0.255", "126.255.255.255", "127.0.1.0" },
		{ "127.0.0.0-127.0.0.255", "127.0.0.0", "127.0.0.255", "126.255.255.255",
		  "127.0.1.0" },
		{ "127.0.0.1-255", "127.0.0.1", "127.0.0.255", "127.0.0.0", "127.0.1.0" },
		{ "127.16.0.0-127.31.255.255", "127.16.0.0", "127.31.255.255", "127.15.255.255",
		  "127.32.0.0" },
		{ "127.16.0-127.31.255", "127.16.0.0", "127.31.255.255", "127.15.255.255",
		  "127.32.0.0" },
		{ "127.16-127.31", "127.16.0.0", "127.31.255.255", "127.15.255.255", "127.32.0.0" },
		{ "127.16-31", "127.16.0.0", "127.31.255.255", "127.15.255.255", "127.32.0.0" },
		{ "127.16.0.0/12", "127.16.0.0", "127.31.255.255", "127.15.255.255", "127.32.0.0" },
		{ "127.16.0/12", "127.16.0.0", "127.31.255.255", "127.15.255.255", "127.32.0.0" },
		{ "127.16/12", "127.16.0.0", "127.31.255.255", "127.15.255.255", "127.32.0.0" },
		{ "198.51.100.10-198.51.100.20", "198.51.100.10", "198.51.100.20",
		  "198.51.100.9", "198.51.100.21" },
		{ "10.0.0.250-10.0.2.5", "10.0.0.250", "10.0.2.5", "10.0.0.249", "10.0.2.6" },
	};
	size_t i, warnings;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dataset *set = load(DATASET_IP4SET, cases[i].line, &warnings);

		assert_int_equal(warnings, 0);
		assert_string_equal(answer(set, cases[i].first), "127.0.0.2");
		assert_string_equal(answer(set, cases[i].last), "127.0.0.2");
		assert_string_equal(answer(set, cases[i].before), "-");
		assert_string_equal(answer(set, cases[i].after), "-");
		dataset_free(set);
	}
}

/* "127-127.0.0" is in the man page's list, but rbldnsd 1.0~20210120 rejects it too. */
static void
test_ip4set_bare_number_and_slash_zero_are_invalid(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "10\n0.0.0.0/0\n1.2.3.4.5\n1.2.3.256\n"
	    "192.0.2.9-192.0.2.1\n1.2-1.2.3.4\n127-127.0.0\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 7);
	assert_int_equal(dataset_entry_count(set), 0);
	assert_string_equal(answer(set, "10.0.0.1"), "-");
	dataset_free(set);
}

static void
test_ip4set_host_bits_in_cidr_are_a_warning(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.77/24\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 1);
	assert_string_equal(answer(set, "192.0.2.77"), "-");
	dataset_free(set);
}

static void
test_ip4set_entry_value_forms(void **state)
{
	struct dataset *set = load(DATASET_IP4SET,
	    ":127.0.0.3:default text $\n"
	    "192.0.2.1\n"
	    "192.0.2.2 :127.0.0.4:own text\n"
	    "192.0.2.3 :5:\n"
	    "192.0.2.4 :6\n"
	    "192.0.2.5 just text\n"
	    "192.0.2.6:7:no space before the value\n"
	    "192.0.2.7 # a comment keeps the default\n"
	    "192.0.2.8 ; so does this one\n"
	    "192.0.2.9 :1.2:inet_aton style A\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.3=default text 192.0.2.1");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.4=own text");
	assert_string_equal(answer(set, "192.0.2.3"), "127.0.0.5");
	assert_string_equal(answer(set, "192.0.2.4"), "127.0.0.6=default text 192.0.2.4");
	assert_string_equal(answer(set, "192.0.2.5"), "127.0.0.3=just text");
	assert_string_equal(answer(set, "192.0.2.6"), "127.0.0.7=no space before the value");
	assert_string_equal(answer(set, "192.0.2.7"), "127.0.0.3=default text 192.0.2.7");
	assert_string_equal(answer(set, "192.0.2.8"), "127.0.0.3=default text 192.0.2.8");
	assert_string_equal(answer(set, "192.0.2.9"), "1.0.0.2=inet_aton style A");
	dataset_free(set);
}

static void
test_ip4set_bad_values_skip_the_line(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.1 :0:zero A\n"
	    "192.0.2.2 :5 trailing words\n192.0.2.3 :x:\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 3);
	assert_string_equal(answer(set, "192.0.2.1"), "-");
	assert_string_equal(answer(set, "192.0.2.2"), "-");
	assert_string_equal(answer(set, "192.0.2.3"), "-");
	dataset_free(set);
}

static void
test_ip4set_default_line_applies_to_later_entries_only(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.1\n:4:now\n192.0.2.2\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.2");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.4=now");
	dataset_free(set);
}

static void
test_comments_blank_lines_and_surrounding_blanks_are_ignored(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "# comment\n; comment\n\n   \t\n"
	    "  \t192.0.2.1 \t \n", &warnings);

	(void)state;
	assert_int_equal(warnings, 0);
	assert_int_equal(dataset_entry_count(set), 1);
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.2");
	dataset_free(set);
}

/* rbldnsd: the exclusion lives in the /32 bucket, searched before the /24 one */
static void
test_ip4set_exclusion_punches_a_hole_in_a_range(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.0/24 :3:net\n!192.0.2.5\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.4"), "127.0.0.3=net");
	assert_string_equal(answer(set, "192.0.2.5"), "-");
	assert_string_equal(answer(set, "192.0.2.6"), "127.0.0.3=net");
	dataset_free(set);
}

/* An exclusion applies to the whole dataset, whatever the order of the lines. */
static void
test_ip4set_exclusion_before_the_listing_still_applies(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "!192.0.2.5\n192.0.2.0/24\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.5"), "-");
	assert_string_equal(answer(set, "192.0.2.6"), "127.0.0.2");
	dataset_free(set);
}

/* rbldnsd's buckets: a /32 entry wins over an excluded /24, and an excluded /25 (128 /32
 * entries) removes a /32 listing inside it. */
static void
test_ip4set_most_specific_octet_level_decides(void **state)
{
	struct dataset *set = load(DATASET_IP4SET,
	    "198.51.100.0/25 :4:half\n!198.51.100.0/24\n"
	    "203.0.113.9 :6:single\n!203.0.113.0/25\n"
	    "11.0.0.0/8 :9:eight\n11.1.0.0/16 :10:sixteen\n!11.1.1.0/24\n11.1.1.1 :11:one\n",
	    NULL);

	(void)state;
	assert_string_equal(answer(set, "198.51.100.1"), "127.0.0.4=half");
	assert_string_equal(answer(set, "198.51.100.200"), "-");
	assert_string_equal(answer(set, "203.0.113.9"), "-");
	assert_string_equal(answer(set, "11.5.5.5"), "127.0.0.9=eight");
	assert_string_equal(answer(set, "11.1.5.5"), "127.0.0.10=sixteen");
	assert_string_equal(answer(set, "11.1.1.2"), "-");
	assert_string_equal(answer(set, "11.1.1.1"), "127.0.0.11=one");
	dataset_free(set);
}

/* rbldnsd gives every entry of the most specific level; identical values once. */
static void
test_ip4set_address_listed_twice_returns_both_values(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, ":2:Listed $\n192.0.2.4\n"
	    "192.0.2.0/24 :3:net\n192.0.2.4 :6:second\n192.0.2.4 :6:second\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.4"),
	    "127.0.0.2=Listed 192.0.2.4 | 127.0.0.6=second");
	assert_string_equal(answer(set, "192.0.2.3"), "127.0.0.3=net");
	dataset_free(set);
}

static void
test_ip4set_maxrange4_skips_larger_ranges(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "$MAXRANGE4 /24\n198.51.100.0/24\n"
	    "203.0.0.0/16\n$MAXRANGE4 65536\n192.0.0.0/23\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 3);	/* /16, the attempt to raise the limit, /23 */
	assert_string_equal(answer(set, "198.51.100.1"), "127.0.0.2");
	assert_string_equal(answer(set, "203.0.1.1"), "-");
	assert_string_equal(answer(set, "192.0.1.1"), "-");
	dataset_free(set);
}

static void
test_long_txt_is_cut_to_255_and_rendered_to_254(void **state)
{
	char text[400], expected[300];
	size_t warnings;
	struct dataset *set;
	const char *got;

	(void)state;
	memset(expected, 0, sizeof(expected));
	snprintf(text, sizeof(text), "192.0.2.1 :2:%0300d\n", 0);
	set = load(DATASET_IP4SET, text, &warnings);
	assert_int_equal(warnings, 1);
	got = answer(set, "192.0.2.1");
	memset(expected, '0', 254);
	assert_string_equal(got + strlen("127.0.0.2="), expected);
	dataset_free(set);
}

static void
test_warning_names_file_and_line(void **state)
{
	struct capture capture;
	const char *logged;
	size_t warnings;
	struct dataset *set;

	(void)state;
	capture_start(&capture);
	set = load(DATASET_IP4SET, "192.0.2.1\n# fine\nnot-an-address\n", &warnings);
	logged = capture_end(&capture);
	assert_int_equal(warnings, 1);
	assert_non_null(strstr(logged, "where=test.txt:3 "));
	assert_non_null(strstr(logged, "invalid address"));
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.2");
	dataset_free(set);
}

/* ---- TXT templates ---- */

static void
test_txt_dollar_is_the_address_and_double_dollar_a_dollar(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.1 :2:ip $ costs $$5 or $$$$\n"
	    "192.0.2.2 :2:ends with $\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.2=ip 192.0.2.1 costs $5 or $$");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.2=ends with 192.0.2.2");
	dataset_free(set);
}

/* The example of the rbldnsd man page; $2 is defined after the entries that use it. */
static void
test_txt_substitution_variables(void **state)
{
	struct dataset *set = load(DATASET_IP4SET,
	    "$1 See http://www.example.com/bl\n"
	    "127.0.0.2  $1/spammer/$ $2\n"
	    "127.0.0.4  This spammer wants some $$$$.  $1/$\n"
	    "127.0.0.5  undefined $7 stays\n"
	    "$2 for details\n"
	    "$1 a second definition is ignored\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "127.0.0.2"),
	    "127.0.0.2=See http://www.example.com/bl/spammer/127.0.0.2 for details");
	assert_string_equal(answer(set, "127.0.0.4"),
	    "127.0.0.2=This spammer wants some $$.  See http://www.example.com/bl/127.0.0.4");
	assert_string_equal(answer(set, "127.0.0.5"), "127.0.0.2=undefined $7 stays");
	dataset_free(set);
}

/* The $= example of the rbldnsd man page. */
static void
test_txt_base_template_wraps_entry_text(void **state)
{
	struct dataset *set = load(DATASET_IP4SET,
	    "$= See http://www.example.com/bl?$= ($) for details\n"
	    "127.0.0.2    r123\n"
	    "127.0.0.3\n"
	    "127.0.0.4    =See other blocklists for details about $\n"
	    "127.0.0.5    text with $ is inserted as written\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "127.0.0.2"),
	    "127.0.0.2=See http://www.example.com/bl?r123 (127.0.0.2) for details");
	assert_string_equal(answer(set, "127.0.0.3"),
	    "127.0.0.2=See http://www.example.com/bl?127.0.0.3 (127.0.0.3) for details");
	assert_string_equal(answer(set, "127.0.0.4"),
	    "127.0.0.2=See other blocklists for details about 127.0.0.4");
	assert_string_equal(answer(set, "127.0.0.5"), "127.0.0.2=See http://www.example.com/"
	    "bl?text with $ is inserted as written (127.0.0.5) for details");
	dataset_free(set);
}

static void
test_txt_render_writes_ipv6_like_rbldnsd_and_mapped_as_dotted_quad(void **state)
{
	char out[DATASET_TXT_MAX + 1];
	struct netaddr queried;

	(void)state;
	queried = address("2001:db8:0:0:1:0:0:1");
	assert_int_equal(dataset_txt_render("at $", &queried, out, sizeof(out)),
	    strlen("at 2001:db8::1:0:0:1"));
	assert_string_equal(out, "at 2001:db8::1:0:0:1");
	queried = address("::1");
	dataset_txt_render("$", &queried, out, sizeof(out));
	assert_string_equal(out, "::1");
	queried = address("2001:db8::");
	dataset_txt_render("$", &queried, out, sizeof(out));
	assert_string_equal(out, "2001:db8::");
	queried = address("2001:db8:1:0:2:3:4:5");
	dataset_txt_render("$", &queried, out, sizeof(out));
	assert_string_equal(out, "2001:db8:1:0:2:3:4:5");
	queried = address("::ffff:192.0.2.1");
	dataset_txt_render("$", &queried, out, sizeof(out));
	assert_string_equal(out, "192.0.2.1");
}

static void
test_txt_render_stops_at_out_size(void **state)
{
	char out[8];
	struct netaddr queried = address("192.0.2.1");

	(void)state;
	assert_int_equal(dataset_txt_render("ip=$ and more", &queried, out, sizeof(out)), 7);
	assert_string_equal(out, "ip=192.");
	assert_int_equal(dataset_txt_render(NULL, &queried, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* ---- specials ---- */

static void
test_soa_ns_and_ttl_specials(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET,
	    "$TTL 5m\n"
	    "$SOA 0 ns1.example.org. hostmaster.example.org 42 2h 1h 1w 15m\n"
	    "$SOA 1 other.example.org. x.example.org 1 1 1 1 1\n"
	    "#$NS 1d ns1.example.org -ns2.example.org ns3.example.org.\n"
	    ":$NS 60 ignored.example.org\n", &warnings);
	const struct dataset_meta *meta = dataset_get_meta(set);

	(void)state;
	assert_int_equal(warnings, 0);
	assert_true(meta->soa.present);
	assert_int_equal(meta->soa.ttl, 300);	/* 0 = the $TTL in force */
	assert_string_equal(meta->soa.origin, "ns1.example.org");
	assert_string_equal(meta->soa.person, "hostmaster.example.org");
	assert_int_equal(meta->soa.serial, 42);
	assert_int_equal(meta->soa.refresh, 7200);
	assert_int_equal(meta->soa.retry, 3600);
	assert_int_equal(meta->soa.expire, 604800);
	assert_int_equal(meta->soa.minimum, 900);
	assert_int_equal(meta->ns_count, 2);
	assert_string_equal(meta->ns[0], "ns1.example.org");
	assert_string_equal(meta->ns[1], "ns3.example.org");
	assert_int_equal(meta->ns_ttl, 86400);
	assert_true(meta->ttl_present);
	assert_int_equal(meta->ttl, 300);
	dataset_free(set);
}

static void
test_invalid_specials_are_warnings(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "$SOA 1 a.example.org b.example.org 1 1 1 1\n"
	    "$TTL ten\n$NS 1\n$UNKNOWN x\n$1\n$DATASET ip4set x\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 6);
	assert_false(dataset_get_meta(set)->soa.present);
	assert_int_equal(dataset_get_meta(set)->ns_count, 0);
	dataset_free(set);
}

/* ---- ip4tset ---- */

static void
test_ip4tset_entries_share_the_first_default_line(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4TSET, "192.0.2.1\n192.0.2.2 :5:ignored\n"
	    ":3:tset $\n:4:second default is ignored\n192.0.2.3\n192.0.2.1\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 0);
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.3=tset 192.0.2.1");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.3=tset 192.0.2.2");
	assert_string_equal(answer(set, "192.0.2.3"), "127.0.0.3=tset 192.0.2.3");
	assert_string_equal(answer(set, "192.0.2.4"), "-");
	dataset_free(set);
}

static void
test_ip4tset_takes_full_addresses_only(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4TSET, "192.0.2\n192.0.2.0/24\n!192.0.2.1\n",
	    &warnings);

	(void)state;
	assert_int_equal(warnings, 3);
	assert_int_equal(dataset_entry_count(set), 0);
	dataset_free(set);
}

/* ---- ip4trie ---- */

static void
test_ip4trie_longest_prefix_wins(void **state)
{
	struct dataset *set = load(DATASET_IP4TRIE, "10.0.0.0/8 :2:ten\n10.1.0.0/16 :3:ten-one\n"
	    "!10.1.2.0/24\n10.1.2.128/25 :4:deep\n10.1.2.192/26\n10.2.3 :5:prefix24\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "10.9.9.9"), "127.0.0.2=ten");
	assert_string_equal(answer(set, "10.1.9.9"), "127.0.0.3=ten-one");
	assert_string_equal(answer(set, "10.1.2.3"), "-");
	assert_string_equal(answer(set, "10.1.2.130"), "127.0.0.4=deep");
	assert_string_equal(answer(set, "10.1.2.195"), "127.0.0.2");
	assert_string_equal(answer(set, "10.2.3.4"), "127.0.0.5=prefix24");
	assert_string_equal(answer(set, "11.0.0.1"), "-");
	dataset_free(set);
}

static void
test_ip4trie_duplicate_prefix_keeps_the_first(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4TRIE, "192.0.2.200 :2:first\n"
	    "192.0.2.200 :9:second\n!192.0.2.200\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 2);
	assert_string_equal(answer(set, "192.0.2.200"), "127.0.0.2=first");
	dataset_free(set);
}

static void
test_ip4trie_slash_zero_lists_everything_and_ranges_are_invalid(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4TRIE, "0.0.0.0/0 :6:all\n192.0.2.1-192.0.2.5\n10\n",
	    &warnings);

	(void)state;
	assert_int_equal(warnings, 2);
	assert_string_equal(answer(set, "203.0.113.1"), "127.0.0.6=all");
	assert_string_equal(answer(set, "255.255.255.255"), "127.0.0.6=all");
	dataset_free(set);
}

/* ---- ip6trie ---- */

/* The example of the rbldnsd man page. */
static void
test_ip6trie_man_page_example(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP6TRIE,
	    ":127.0.1.2: Listed, see http://example.com/lookup?$\n"
	    "2001:21ab:c000/36\n"
	    "2001:21ab:def7:4242 :127.0.1.3: This one smells funny\n"
	    "2605:6001:42::/52\n"
	    "::1                   # localhost\n"
	    "!2605:6001:42::bead   # exclusion\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 0);
	assert_string_equal(answer(set, "2001:21ab:cfff::1"),
	    "127.0.1.2=Listed, see http://example.com/lookup?2001:21ab:cfff::1");
	assert_string_equal(answer(set, "2001:21ab:d000::1"), "-");
	assert_string_equal(answer(set, "2001:21ab:def7:4242::9"),
	    "127.0.1.3=This one smells funny");
	assert_string_equal(answer(set, "2605:6001:42::1"),
	    "127.0.1.2=Listed, see http://example.com/lookup?2605:6001:42::1");
	assert_string_equal(answer(set, "2605:6001:42::bead"), "-");
	assert_string_equal(answer(set, "::1"),
	    "127.0.1.2=Listed, see http://example.com/lookup?::1");
	assert_string_equal(answer(set, "::2"), "-");
	dataset_free(set);
}

static void
test_ip6trie_longest_prefix_and_exclusions(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP6TRIE, "2001:db8::/32 :5:doc\n"
	    "2001:db8:1::/48 :6:doc48\n!2001:db8:1:2::/64\n2001:db8:1:2::5 :7:host\n"
	    "2001:db8:ffff::1/64\n2001:db8:1::/48\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 2);	/* host bits; duplicate prefix */
	assert_string_equal(answer(set, "2001:db8:5::1"), "127.0.0.5=doc");
	assert_string_equal(answer(set, "2001:db8:1:5::1"), "127.0.0.6=doc48");
	assert_string_equal(answer(set, "2001:db8:1:2::1"), "-");
	assert_string_equal(answer(set, "2001:db8:1:2::5"), "127.0.0.7=host");
	assert_string_equal(answer(set, "2001:db9::1"), "-");
	dataset_free(set);
}

/* ---- ip6tset ---- */

static void
test_ip6tset_lists_64s_and_excludes_128s(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP6TSET, "2001:db8:23:41ed\nabac:adab:ad00:42f\n"
	    "!abac:adab:ad00:42f:face:0f:a:beef\n!abac:adab:ad00:42f::2\n:5:ip6tset $\n",
	    &warnings);

	(void)state;
	assert_int_equal(warnings, 0);
	assert_string_equal(answer(set, "2001:db8:23:41ed::1"),
	    "127.0.0.5=ip6tset 2001:db8:23:41ed::1");
	assert_string_equal(answer(set, "2001:db8:23:41ed:ffff:ffff:ffff:ffff"),
	    "127.0.0.5=ip6tset 2001:db8:23:41ed:ffff:ffff:ffff:ffff");
	assert_string_equal(answer(set, "2001:db8:23:41ee::"), "-");
	assert_string_equal(answer(set, "abac:adab:ad00:42f::1"),
	    "127.0.0.5=ip6tset abac:adab:ad00:42f::1");
	assert_string_equal(answer(set, "abac:adab:ad00:42f::2"), "-");
	assert_string_equal(answer(set, "abac:adab:ad00:42f:face:f:a:beef"), "-");
	dataset_free(set);
}

static void
test_ip6tset_wrong_lengths_are_warnings(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP6TSET, "2001:db8::/64\n2001:db8:1:2:3\n"
	    "!2001:db8:9:9\n2001:db8::1\n", &warnings);

	(void)state;
	assert_int_equal(warnings, 4);
	assert_int_equal(dataset_entry_count(set), 0);
	dataset_free(set);
}

/* ---- lookups ---- */

static void
test_ipv4_mapped_ipv6_looks_up_ipv4_data(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "127.0.0.2 :2:test entry $\n", NULL);

	(void)state;
	assert_string_equal(answer(set, "::ffff:127.0.0.2"), "127.0.0.2=test entry 127.0.0.2");
	assert_string_equal(answer(set, "::ffff:127.0.0.1"), "-");
	assert_string_equal(answer(set, "::127.0.0.2"), "-");
	dataset_free(set);
}

static void
test_address_of_the_other_family_is_not_listed(void **state)
{
	struct dataset *v6 = load(DATASET_IP6TRIE, "::/0\n", NULL);
	struct dataset *v4 = load(DATASET_IP4TRIE, "0.0.0.0/0\n", NULL);

	(void)state;
	assert_string_equal(answer(v6, "192.0.2.1"), "-");
	assert_string_equal(answer(v6, "2001:db8::1"), "127.0.0.2");
	assert_string_equal(answer(v4, "2001:db8::1"), "-");
	dataset_free(v6);
	dataset_free(v4);
}

static void
test_lookup_writes_at_most_max_values(void **state)
{
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.1 :2:\n192.0.2.1 :3:\n"
	    "192.0.2.1 :4:\n", NULL);
	struct dataset_value values[2];
	struct netaddr queried = address("192.0.2.1");

	(void)state;
	assert_int_equal(dataset_lookup(set, &queried, values, 2), 2);
	assert_int_equal(values[0].a, 0x7f000002);
	assert_int_equal(values[1].a, 0x7f000003);
	assert_int_equal(dataset_lookup(set, &queried, values, 0), 0);
	dataset_free(set);
}

/* ---- files ---- */

static void
test_missing_file_is_an_error_naming_it(void **state)
{
	const char *paths[] = { "/nonexistent/relayguard/data.txt" };
	char err[ERR_SIZE] = "";

	(void)state;
	assert_null(dataset_load_files(DATASET_IP4SET, paths, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/relayguard/data.txt"));
}

/* Variables and exclusions span the files; the default value and line numbers restart. */
static void
test_several_files_are_read_as_one_stream(void **state)
{
	char first[PATH_SIZE], second[PATH_SIZE], err[ERR_SIZE] = "", expected[PATH_SIZE + 16];
	const char *paths[] = { first, second };
	struct capture capture;
	struct dataset *set;
	const char *logged;

	(void)state;
	write_temp_file(first, "$1 see example.com\n:3:first file $1\n192.0.2.1\n"
	    "198.51.100.0/24\n");
	write_temp_file(second, "192.0.2.2\n!198.51.100.7\nbad line\n");
	capture_start(&capture);
	set = dataset_load_files(DATASET_IP4SET, paths, 2, err, sizeof(err));
	logged = capture_end(&capture);
	assert_non_null(set);
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.3=first file see example.com");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.2");
	assert_string_equal(answer(set, "198.51.100.7"), "-");
	assert_string_equal(answer(set, "198.51.100.8"), "127.0.0.3=first file see example.com");
	snprintf(expected, sizeof(expected), "where=%s:3 ", second);
	assert_non_null(strstr(logged, expected));
	assert_true(dataset_get_meta(set)->newest_mtime > 0);
	dataset_free(set);
	unlink(first);
	unlink(second);
}

/* Deliberate difference: rbldnsd keeps the CR of a CRLF file and rejects the address. */
static void
test_crlf_line_endings_are_accepted(void **state)
{
	size_t warnings;
	struct dataset *set = load(DATASET_IP4SET, "192.0.2.1\r\n192.0.2.2 :3:text\r\n",
	    &warnings);

	(void)state;
	assert_int_equal(warnings, 0);
	assert_string_equal(answer(set, "192.0.2.1"), "127.0.0.2");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.3=text");
	dataset_free(set);
}

static void
test_last_line_without_newline_is_read(void **state)
{
	char path[PATH_SIZE], err[ERR_SIZE] = "";
	const char *paths[] = { path };
	struct dataset *set;

	(void)state;
	write_temp_file(path, "192.0.2.1\n192.0.2.2");
	set = dataset_load_files(DATASET_IP4SET, paths, 1, err, sizeof(err));
	assert_non_null(set);
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.2");
	dataset_free(set);
	unlink(path);
}

static void
test_compressed_file_is_refused(void **state)
{
	char path[PATH_SIZE], err[ERR_SIZE] = "";
	const char *paths[] = { path };

	(void)state;
	write_temp_file(path, "\x1f\x8b\x08 not really gzip");
	assert_null(dataset_load_files(DATASET_IP4SET, paths, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "compressed"));
	unlink(path);
}

static void
test_overlong_line_is_skipped_with_a_warning(void **state)
{
	size_t length = 70000, warnings;
	char *text = malloc(length + 32);
	struct dataset *set;

	(void)state;
	assert_non_null(text);
	memcpy(text, "192.0.2.1 ", 10);
	memset(text + 10, 'x', length);
	memcpy(text + 10 + length, "\n192.0.2.2\n", 12);
	set = load(DATASET_IP4SET, text, &warnings);
	assert_int_equal(warnings, 1);
	assert_string_equal(answer(set, "192.0.2.1"), "-");
	assert_string_equal(answer(set, "192.0.2.2"), "127.0.0.2");
	dataset_free(set);
	free(text);
}

/* ---- builder ---- */

static struct netprefix
prefix(const char *text)
{
	struct netprefix parsed;

	assert_true(netprefix_parse(text, &parsed));
	return parsed;
}

static void
test_builder_refuses_prefixes_that_do_not_fit_the_type(void **state)
{
	struct dataset_builder *b = dataset_builder_new(DATASET_IP4TSET);
	struct netprefix p = prefix("192.0.2.0/24"), host;
	char err[ERR_SIZE];

	(void)state;
	assert_false(dataset_builder_add(b, &p, DATASET_DEFAULT_A, NULL, err, sizeof(err)));
	host = prefix("192.0.2.1");
	assert_false(dataset_builder_exclude(b, &host, err, sizeof(err)));
	p = prefix("2001:db8::1");
	assert_false(dataset_builder_add(b, &p, DATASET_DEFAULT_A, NULL, err, sizeof(err)));
	assert_true(dataset_builder_add(b, &host, DATASET_DEFAULT_A, NULL, err, sizeof(err)));
	dataset_builder_free(b);

	b = dataset_builder_new(DATASET_IP4TRIE);
	p = prefix("192.0.2.0/24");
	p.address.bytes[3] = 9;		/* host bits set */
	assert_false(dataset_builder_add(b, &p, DATASET_DEFAULT_A, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "host bits"));
	dataset_builder_free(b);

	b = dataset_builder_new(DATASET_IP6TSET);
	p = prefix("2001:db8::/48");
	assert_false(dataset_builder_add(b, &p, DATASET_DEFAULT_A, NULL, err, sizeof(err)));
	p = prefix("2001:db8::/64");
	assert_true(dataset_builder_add(b, &p, DATASET_DEFAULT_A, NULL, err, sizeof(err)));
	dataset_builder_free(b);
}

static void
test_builder_builds_values_and_meta(void **state)
{
	struct dataset_builder *b = dataset_builder_new(DATASET_IP4TRIE);
	struct netprefix net = prefix("198.51.100.0/24"), host = prefix("198.51.100.9");
	char err[ERR_SIZE];
	struct dataset *set;

	(void)state;
	dataset_builder_meta(b)->ns_count = 1;
	snprintf(dataset_builder_meta(b)->ns[0], DATASET_NAME_MAX, "ns.example.org");
	assert_true(dataset_builder_add(b, &net, 0x7f00000a, "open relay $", err, sizeof(err)));
	assert_true(dataset_builder_exclude(b, &host, err, sizeof(err)));
	assert_false(dataset_builder_exclude(b, &host, err, sizeof(err)));
	set = dataset_builder_finish(b);
	assert_string_equal(answer(set, "198.51.100.8"), "127.0.0.10=open relay 198.51.100.8");
	assert_string_equal(answer(set, "198.51.100.9"), "-");
	assert_int_equal(dataset_entry_count(set), 2);
	assert_string_equal(dataset_get_meta(set)->ns[0], "ns.example.org");
	assert_true(dataset_memory_bytes(set) > 0);
	dataset_free(set);
}

static void
test_type_names_round_trip(void **state)
{
	enum dataset_type type;

	(void)state;
	assert_true(dataset_type_parse("ip6tset", &type));
	assert_int_equal(type, DATASET_IP6TSET);
	assert_string_equal(dataset_type_name(DATASET_IP4TRIE), "ip4trie");
	assert_false(dataset_type_parse("dnset", &type));
}

/* ---- size at 1M entries ---- */

/* append_ip4 - write "a.b.c.d" for address at out; returns the length */
static size_t
append_ip4(char *out, uint32_t address)
{
	size_t length = 0;
	int shift;

	for (shift = 24; shift >= 0; shift -= 8) {
		unsigned octet = (address >> shift) & 0xff;

		if (octet >= 100)
			out[length++] = (char)('0' + octet / 100);
		if (octet >= 10)
			out[length++] = (char)('0' + octet / 10 % 10);
		out[length++] = (char)('0' + octet % 10);
		out[length++] = shift == 0 ? '\n' : '.';
	}
	return length;
}

/* next_address - a full-period LCG: every call gives a new 32-bit value */
static uint32_t
next_address(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed;
}

/* The target: at most 8 bytes per /32 entry for a 1M-entry ip4set (with ranges
 * and exclusions) and no octet expansion. Addresses never start with 10, so 10.x is
 * unlisted. */
static void
test_one_million_singles_take_at_most_8_bytes_each(void **state)
{
	size_t capacity = 20 * (size_t)MILLION, length = 0, i, singles = 0, warnings;
	char *text = malloc(capacity);
	uint32_t seed = 5782, first = 0;
	struct dataset *set;
	struct netaddr queried;
	struct dataset_value value;
	clock_t started;
	double bytes_per_entry;

	(void)state;
	assert_non_null(text);
	length += (size_t)snprintf(text, capacity, ":127.0.0.2:Open relay $ - see "
	    "https://bl.example.org/lookup?ip=$\n");
	for (i = 0; i < 1000; i++)
		length += (size_t)snprintf(text + length, capacity - length, "%u.%u.%u.0/24\n",
		    20 + (unsigned)i % 200, (unsigned)i / 200, 7u);
	for (i = 0; i < 100; i++)
		length += (size_t)snprintf(text + length, capacity - length, "!%u.0.7.%u\n",
		    20 + (unsigned)i, 1 + (unsigned)i);
	while (singles < MILLION) {
		uint32_t a = next_address(&seed);
		unsigned top = a >> 24;

		if (top == 0 || top == 10 || top == 127 || top >= 224)
			continue;
		if (singles == 0)
			first = a;
		length += append_ip4(text + length, a);
		singles++;
	}
	started = clock();
	set = load(DATASET_IP4SET, text, &warnings);
	print_message("loaded %zu entries in %.3f s cpu; %zu bytes\n", dataset_entry_count(set),
	    (double)(clock() - started) / CLOCKS_PER_SEC, dataset_memory_bytes(set));
	assert_int_equal(warnings, 0);
	assert_int_equal(dataset_entry_count(set), MILLION + 1100);
	bytes_per_entry = (double)dataset_memory_bytes(set) / (double)dataset_entry_count(set);
	print_message("%.2f bytes per entry\n", bytes_per_entry);
	assert_true(bytes_per_entry <= 8.0);
	queried.family = AF_INET;
	memset(queried.bytes, 0, sizeof(queried.bytes));
	queried.bytes[0] = (uint8_t)(first >> 24);
	queried.bytes[1] = (uint8_t)(first >> 16);
	queried.bytes[2] = (uint8_t)(first >> 8);
	queried.bytes[3] = (uint8_t)first;
	assert_int_equal(dataset_lookup(set, &queried, &value, 1), 1);
	assert_string_equal(answer(set, "10.1.2.3"), "-");
	assert_string_equal(answer(set, "20.0.7.200"),
	    "127.0.0.2=Open relay 20.0.7.200 - see https://bl.example.org/lookup?ip=20.0.7.200");
	assert_string_equal(answer(set, "20.0.7.1"), "-");
	dataset_free(set);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip4set_single_address_gets_default_a_and_no_txt),
		cmocka_unit_test(test_ip4set_every_range_notation_covers_the_same_addresses),
		cmocka_unit_test(test_ip4set_bare_number_and_slash_zero_are_invalid),
		cmocka_unit_test(test_ip4set_host_bits_in_cidr_are_a_warning),
		cmocka_unit_test(test_ip4set_entry_value_forms),
		cmocka_unit_test(test_ip4set_bad_values_skip_the_line),
		cmocka_unit_test(test_ip4set_default_line_applies_to_later_entries_only),
		cmocka_unit_test(test_comments_blank_lines_and_surrounding_blanks_are_ignored),
		cmocka_unit_test(test_ip4set_exclusion_punches_a_hole_in_a_range),
		cmocka_unit_test(test_ip4set_exclusion_before_the_listing_still_applies),
		cmocka_unit_test(test_ip4set_most_specific_octet_level_decides),
		cmocka_unit_test(test_ip4set_address_listed_twice_returns_both_values),
		cmocka_unit_test(test_ip4set_maxrange4_skips_larger_ranges),
		cmocka_unit_test(test_long_txt_is_cut_to_255_and_rendered_to_254),
		cmocka_unit_test(test_warning_names_file_and_line),
		cmocka_unit_test(test_txt_dollar_is_the_address_and_double_dollar_a_dollar),
		cmocka_unit_test(test_txt_substitution_variables),
		cmocka_unit_test(test_txt_base_template_wraps_entry_text),
		cmocka_unit_test(test_txt_render_writes_ipv6_like_rbldnsd_and_mapped_as_dotted_quad),
		cmocka_unit_test(test_txt_render_stops_at_out_size),
		cmocka_unit_test(test_soa_ns_and_ttl_specials),
		cmocka_unit_test(test_invalid_specials_are_warnings),
		cmocka_unit_test(test_ip4tset_entries_share_the_first_default_line),
		cmocka_unit_test(test_ip4tset_takes_full_addresses_only),
		cmocka_unit_test(test_ip4trie_longest_prefix_wins),
		cmocka_unit_test(test_ip4trie_duplicate_prefix_keeps_the_first),
		cmocka_unit_test(test_ip4trie_slash_zero_lists_everything_and_ranges_are_invalid),
		cmocka_unit_test(test_ip6trie_man_page_example),
		cmocka_unit_test(test_ip6trie_longest_prefix_and_exclusions),
		cmocka_unit_test(test_ip6tset_lists_64s_and_excludes_128s),
		cmocka_unit_test(test_ip6tset_wrong_lengths_are_warnings),
		cmocka_unit_test(test_ipv4_mapped_ipv6_looks_up_ipv4_data),
		cmocka_unit_test(test_address_of_the_other_family_is_not_listed),
		cmocka_unit_test(test_lookup_writes_at_most_max_values),
		cmocka_unit_test(test_missing_file_is_an_error_naming_it),
		cmocka_unit_test(test_several_files_are_read_as_one_stream),
		cmocka_unit_test(test_crlf_line_endings_are_accepted),
		cmocka_unit_test(test_last_line_without_newline_is_read),
		cmocka_unit_test(test_compressed_file_is_refused),
		cmocka_unit_test(test_overlong_line_is_skipped_with_a_warning),
		cmocka_unit_test(test_builder_refuses_prefixes_that_do_not_fit_the_type),
		cmocka_unit_test(test_builder_builds_values_and_meta),
		cmocka_unit_test(test_type_names_round_trip),
		cmocka_unit_test(test_one_million_singles_take_at_most_8_bytes_each),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
