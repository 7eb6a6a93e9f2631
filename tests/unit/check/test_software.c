/* test_software.c - unit tests of banner recognition, version order and the advisory file.
 * Banners are real product forms (nmap service probes, vendor documentation) with example names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/software.h"

#define ERR_SIZE 512
#define MATCH_MAX 16

/* recognise - run software_recognise and return the result for the asserts. */
static struct software_id
recognise(const char *banner, const char *ehlo, bool expect)
{
	struct software_id id;

	assert_int_equal(software_recognise(banner, ehlo, &id), expect);
	return id;
}

static void
assert_product(const char *banner, const char *ehlo, const char *name, const char *version)
{
	struct software_id id = recognise(banner, ehlo, true);

	assert_string_equal(id.name, name);
	assert_string_equal(id.version, version);
}

/* ---- recognition ---- */

static void
test_sendmail_banner_gives_name_and_version(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP Sendmail 8.8.8/8.8.8; Fri, 1 Jan 1999 10:00:00 +0530",
	    NULL, "Sendmail", "8.8.8");
}

static void
test_sendmail_banner_without_version(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP Sendmail ready at Fri, 1 Jan 1999", NULL,
	    "Sendmail", "");
}

static void
test_sendmail_vendor_versions(void **state)
{
	(void)state;
	/* Sun: the sendmail version follows the vendor prefix. */
	assert_product("mx.example.com ESMTP Sendmail SMI-8.6/SMI-SVR4 ready at Fri, 1 Jan 1999",
	    NULL, "Sendmail", "8.6");
	/* AIX: the first part is AIX's version, the second sendmail's. */
	assert_product("mx.example.com ESMTP Sendmail AIX4.3/8.9.3; Fri, 1 Jan 1999", NULL,
	    "Sendmail", "8.9.3");
	/* IRIX: a date, the vendor, then the version. */
	assert_product("mx.example.com Sendmail 950413.SGI.8.6.12/950213.SGI.AUTOCF ready", NULL,
	    "Sendmail", "8.6.12");
	/* Solaris patch levels keep their letters. */
	assert_product("mx.example.com ESMTP Sendmail 8.11.7p1+Sun/8.11.7; Fri, 1 Jan 2004", NULL,
	    "Sendmail", "8.11.7p1");
}

static void
test_postfix_banner_without_version(void **state)
{
	(void)state;
	assert_product("mail.example.org ESMTP Postfix (Debian/GNU)", NULL, "Postfix", "");
}

static void
test_postfix_banner_with_version(void **state)
{
	(void)state;
	assert_product("mail.example.org ESMTP Postfix (3.7.11)", NULL, "Postfix", "3.7.11");
}

static void
test_exim_banner_gives_version(void **state)
{
	(void)state;
	assert_product("mx.example.net ESMTP Exim 4.96 Fri, 27 Nov 2026 22:51:06 +0000", NULL,
	    "Exim", "4.96");
}

static void
test_opensmtpd_banner(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP OpenSMTPD", NULL, "OpenSMTPD", "");
}

static void
test_qmail_named_in_banner(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP qmail ready", NULL, "qmail", "");
}

static void
test_qmail_recognised_from_banner_and_ehlo(void **state)
{
	(void)state;
	/* qmail-smtpd: "220 <greeting> ESMTP", EHLO repeats <greeting>, PIPELINING, 8BITMIME. */
	assert_product("mail.example.com ESMTP", "mail.example.com\nPIPELINING\n8BITMIME", "qmail",
	    "");
}

static void
test_bare_esmtp_banner_alone_is_not_qmail(void **state)
{
	(void)state;
	struct software_id id = recognise("mail.example.com ESMTP", NULL, false);
	assert_string_equal(id.name, "");
}

static void
test_bare_postfix_banner_is_not_qmail(void **state)
{
	(void)state;
	/* smtpd_banner = $myhostname ESMTP: Postfix's EHLO offers VRFY, ETRN and more. */
	recognise("mail.example.com ESMTP",
	    "mail.example.com\nPIPELINING\nSIZE 10240000\nVRFY\nETRN\nENHANCEDSTATUSCODES\n"
	    "8BITMIME\nDSN", false);
}

static void
test_exchange_ims_banner_gives_build(void **state)
{
	(void)state;
	assert_product("mail.example.com Microsoft Exchange Internet Mail Service 5.5.2448.0 ready",
	    NULL, "Microsoft Exchange", "5.5.2448.0");
}

static void
test_exchange_2007_banner_has_no_version(void **state)
{
	(void)state;
	/* The date after "ready at" must not be read as a version. */
	assert_product("mail1.example.com Microsoft ESMTP MAIL Service ready at 5 Aug 2016 16:24:41 -0700",
	    NULL, "Microsoft Exchange", "");
}

static void
test_iis_smtp_banner_gives_version(void **state)
{
	(void)state;
	assert_product("mail.example.com Microsoft ESMTP MAIL Service, Version: 5.0.2195.6713 ready "
	    "at  Fri, 1 Jan 2004 10:00:00 +0100", NULL, "Microsoft IIS SMTP", "5.0.2195.6713");
}

static void
test_nt4_smtp_banner_gives_version_later_on_the_line(void **state)
{
	(void)state;
	assert_product("mail.example.com Microsoft SMTP MAIL ready at Fri, 1 Jan 1999 10:00:00 "
	    "-0800 Version: 5.5.1877.197.19", NULL, "Microsoft IIS SMTP", "5.5.1877.197.19");
}

static void
test_lotus_domino_release(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP Service (Lotus Domino Release 5.0.8) ready at Fri, "
	    "1 Jan 2002 10:00:00 +0200", NULL, "Lotus Domino", "5.0.8");
	assert_product("example.com ESMTP Service (IBM Domino Release 9.0.1FP10 HF383) ready at "
	    "Wed, 16 Sep 2020 11:40:58 +0530", NULL, "Lotus Domino", "9.0.1FP10");
	assert_product("mail.example.com Lotus SMTP MTA Service Ready", NULL, "Lotus Domino", "");
}

static void
test_netscape_messaging_server_version(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP server (Netscape Messaging Server - Version 3.6) ready "
	    "Fri, 2 May 1997 09:38:41 -0700", NULL, "Netscape Messaging Server", "3.6");
}

static void
test_imail_version(void **state)
{
	(void)state;
	assert_product("mail.example.com (IMail 8.05 123456-1) NT-ESMTP Server X1", NULL, "IMail",
	    "8.05");
}

static void
test_mdaemon_version(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP MDaemon 9.6.6; Fri, 1 Jan 2010 10:00:00 +0100", NULL,
	    "MDaemon", "9.6.6");
}

static void
test_ccmail_banner(void **state)
{
	(void)state;
	assert_product("mail.example.com cc:Mail SMTPLINK ready", NULL, "cc:Mail", "");
}

static void
test_multiline_banner_names_product_on_a_later_line(void **state)
{
	(void)state;
	assert_product("mx.example.net ESMTP\nWelcome, unauthorised use prohibited\nExim 4.92 #3",
	    NULL, "Exim", "4.92");
}

static void
test_version_never_comes_from_the_next_line(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP Postfix\n3.7.11 is not on the product's line", NULL,
	    "Postfix", "");
}

static void
test_ehlo_only_exchange_keywords(void **state)
{
	(void)state;
	assert_product(NULL, "mail1.example.com Hello [192.0.2.5]\nSIZE 37748736\nPIPELINING\nDSN\n"
	    "STARTTLS\nX-ANONYMOUSTLS\nAUTH NTLM\n8BITMIME\nXRDST", "Microsoft Exchange", "");
}

static void
test_ehlo_only_sendmail_greeting_with_verb(void **state)
{
	(void)state;
	assert_product("mail.example.com ESMTP ready",
	    "mail.example.com Hello client.example.net [192.0.2.9], pleased to meet you\nEXPN\nVERB\n"
	    "8BITMIME\nSIZE\nDSN\nETRN\nHELP", "Sendmail", "");
}

static void
test_pleased_to_meet_you_without_verb_is_not_sendmail(void **state)
{
	(void)state;
	/* OpenSMTPD and Domino greet the same way. */
	recognise("mail.example.com ESMTP ready",
	    "mail.example.com Hello client [192.0.2.9], pleased to meet you\n8BITMIME\n"
	    "ENHANCEDSTATUSCODES\nSIZE 36700160\nDSN\nHELP", false);
}

static void
test_ehlo_naming_a_product(void **state)
{
	(void)state;
	assert_product(NULL, "mx.example.org Hello there, this is Exim 4.97\nSIZE 52428800",
	    "Exim", "4.97");
}

static void
test_unknown_banner_is_not_recognised(void **state)
{
	(void)state;
	struct software_id id = recognise("mx.example.com Mail Service ready", "mx.example.com\nSIZE",
	    false);
	assert_string_equal(id.name, "");
	assert_string_equal(id.version, "");
}

static void
test_no_texts_is_not_recognised(void **state)
{
	(void)state;
	recognise(NULL, NULL, false);
	recognise("", "", false);
}

static void
test_product_inside_host_name_is_ignored(void **state)
{
	(void)state;
	assert_product("exim.example.com ESMTP Postfix", NULL, "Postfix", "");
	recognise("postfix-mx.example.com ESMTP ready", NULL, false);
	recognise("mail.example.com ESMTP imail-gateway ready", NULL, false);
}

static void
test_matching_is_case_insensitive(void **state)
{
	(void)state;
	assert_product("MAIL.EXAMPLE.COM ESMTP SENDMAIL 8.9.3/8.9.3; FRI, 1 JAN 1999", NULL,
	    "Sendmail", "8.9.3");
}

static void
test_overlong_version_is_dropped(void **state)
{
	(void)state;
	char banner[256];
	char digits[SOFTWARE_VERSION_MAX + 10];

	memset(digits, '7', sizeof(digits) - 1);
	digits[sizeof(digits) - 1] = '\0';
	snprintf(banner, sizeof(banner), "mx.example.net ESMTP Exim 4.%s ready", digits);
	assert_product(banner, NULL, "Exim", "");
}

static void
test_text_beyond_the_scan_limit_is_ignored(void **state)
{
	(void)state;
	size_t length = SOFTWARE_TEXT_MAX + 64;
	char *banner = malloc(length + 1);

	assert_non_null(banner);
	memset(banner, 'a', length);
	memcpy(banner + SOFTWARE_TEXT_MAX + 8, " Postfix ", 9);
	banner[length] = '\0';
	recognise(banner, NULL, false);
	memcpy(banner + 100, " Exim 4.96 ", 11);
	assert_product(banner, NULL, "Exim", "4.96");
	free(banner);
}

static void
test_known_names(void **state)
{
	(void)state;
	assert_true(software_name_is_known("Sendmail"));
	assert_true(software_name_is_known("microsoft exchange"));
	assert_true(software_name_is_known("cc:Mail"));
	assert_false(software_name_is_known("Sendmial"));
	assert_false(software_name_is_known(""));
}

/* ---- version order ---- */

static void
test_version_compare_numeric_components(void **state)
{
	(void)state;
	assert_true(software_version_compare("8.8.9", "8.9.3") < 0);
	assert_true(software_version_compare("8.9.3", "8.8.9") > 0);
	assert_true(software_version_compare("8.10", "8.9") > 0);
	assert_true(software_version_compare("8.12.11", "8.9.3") > 0);
	assert_int_equal(software_version_compare("8.9.3", "8.9.3"), 0);
}

static void
test_version_compare_missing_component_counts_as_zero(void **state)
{
	(void)state;
	assert_int_equal(software_version_compare("5.5.2448.0", "5.5.2448"), 0);
	assert_true(software_version_compare("5.5.2448.0", "5.5.2650") < 0);
	assert_true(software_version_compare("5.5", "5.5.1960.6") < 0);
	assert_int_equal(software_version_compare("8.9", "8.9.0"), 0);
	assert_int_equal(software_version_compare("", "0"), 0);
	assert_int_equal(software_version_compare(NULL, ""), 0);
}

static void
test_version_compare_letters_after_digits(void **state)
{
	(void)state;
	assert_true(software_version_compare("8.9.3", "8.9.3a") < 0);
	assert_true(software_version_compare("8.9.3a", "8.9.3b") < 0);
	assert_true(software_version_compare("8.9.3a", "8.9.4") < 0);
	assert_true(software_version_compare("9.0.1", "9.0.1FP10") < 0);
	assert_true(software_version_compare("9.0.1FP9", "9.0.1FP10") < 0);
	assert_int_equal(software_version_compare("9.0.1fp10", "9.0.1FP10"), 0);
}

static void
test_version_compare_leading_zeros_and_long_numbers(void **state)
{
	(void)state;
	assert_int_equal(software_version_compare("8.05", "8.5"), 0);
	assert_true(software_version_compare("1.99999999999999999999999", "1.9") > 0);
	assert_true(software_version_compare("1.99999999999999999999998",
	    "1.99999999999999999999999") < 0);
}

/* ---- the advisory data file ---- */

/* shipped_path - data/advisories.ini of the source tree (the meson test sets the root). */
static const char *
shipped_path(void)
{
	static char path[4096];
	const char *root = getenv("RELAYGUARD_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/data/advisories.ini", root != NULL ? root : ".");
	return path;
}

static struct advisory_db *
load_shipped(void)
{
	char err[ERR_SIZE] = "";
	struct advisory_db *db = advisory_db_load(shipped_path(), err, sizeof(err));

	if (db == NULL)
		fail_msg("%s", err);
	return db;
}

/* write_temp - a temporary data file holding text; the caller unlinks it. */
static void
write_temp(char path[static 64], const char *text)
{
	snprintf(path, 64, "/tmp/relayguard-test-advisories-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t length = strlen(text);
	assert_int_equal(write(fd, text, length), (ssize_t)length);
	close(fd);
}

/* load_error - load text that must be refused; the message lands in err. */
static void
load_error(const char *text, char err[static ERR_SIZE], char path[static 64])
{
	write_temp(path, text);
	err[0] = '\0';
	struct advisory_db *db = advisory_db_load(path, err, ERR_SIZE);
	unlink(path);
	assert_null(db);
}

/* assert_error_at - the error names the file and the line. */
static void
assert_error_at(const char *text, unsigned line, const char *words)
{
	char err[ERR_SIZE], path[64], prefix[128];

	load_error(text, err, path);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, words) == NULL)
		fail_msg("expected \"%s...%s\", got \"%s\"", prefix, words, err);
}

static size_t
match(const struct advisory_db *db, const char *name, const char *version,
    const struct advisory **out)
{
	struct software_id id;

	snprintf(id.name, sizeof(id.name), "%s", name);
	snprintf(id.version, sizeof(id.version), "%s", version);
	return advisory_db_match(db, &id, out, MATCH_MAX);
}

static bool
has_advisory(const struct advisory **found, size_t count, const char *id)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(found[i]->id, id) == 0)
			return true;
	return false;
}

static void
test_shipped_file_loads_and_cites_sources(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();

	assert_true(advisory_db_count(db) >= 8);
	for (size_t i = 0; i < advisory_db_count(db); i++) {
		const struct advisory *entry = advisory_db_entry(db, i);
		assert_non_null(entry->summary);
		assert_true(strncmp(entry->source, "http", 4) == 0);
		assert_true(software_name_is_known(entry->software));
	}
	assert_null(advisory_db_entry(db, advisory_db_count(db)));
	advisory_db_free(db);
}

static void
test_sendmail_8_8_8_gets_a_relay_advisory(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];
	size_t count = match(db, "Sendmail", "8.8.8", found);
	bool relay = false;

	for (size_t i = 0; i < count; i++)
		relay |= found[i]->severity == ADVISORY_SEVERITY_RELAY;
	assert_true(relay);
	assert_true(has_advisory(found, count, "sendmail-before-8.9"));
	assert_false(has_advisory(found, count, "sendmail-before-8.8"));
	advisory_db_free(db);
}

static void
test_sendmail_8_12_11_gets_none(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];

	assert_int_equal(match(db, "Sendmail", "8.12.11", found), 0);
	advisory_db_free(db);
}

static void
test_sendmail_8_9_1_gets_the_source_route_advisory(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];
	size_t count = match(db, "Sendmail", "8.9.1", found);

	assert_true(has_advisory(found, count, "sendmail-source-route-relay"));
	assert_false(has_advisory(found, count, "sendmail-before-8.9"));
	count = match(db, "Sendmail", "8.9.2", found);
	assert_false(has_advisory(found, count, "sendmail-source-route-relay"));
	advisory_db_free(db);
}

static void
test_exchange_5_5_2448_is_flagged(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];
	size_t count = match(db, "Microsoft Exchange", "5.5.2448.0", found);

	assert_true(has_advisory(found, count, "exchange-5.5-before-sp3"));
	advisory_db_free(db);
}

static void
test_exchange_5_5_2650_is_not_flagged(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];

	assert_int_equal(match(db, "Microsoft Exchange", "5.5.2650.21", found), 0);
	assert_int_equal(match(db, "Microsoft Exchange", "5.5.2650", found), 0);
	advisory_db_free(db);
}

static void
test_banner_to_advisory_end_to_end(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];
	struct software_id id;

	assert_true(software_recognise("mail.example.com Microsoft Exchange Internet Mail Service "
	    "5.0.1457.7 ready", NULL, &id));
	size_t count = advisory_db_match(db, &id, found, MATCH_MAX);
	assert_true(has_advisory(found, count, "exchange-5.0-no-relay-control"));
	assert_false(has_advisory(found, count, "exchange-5.5-before-sp3"));
	advisory_db_free(db);
}

static void
test_any_version_matches_unknown_version(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];
	size_t count = match(db, "cc:Mail", "", found);

	assert_true(has_advisory(found, count, "ccmail-any"));
	advisory_db_free(db);
}

static void
test_unknown_version_matches_no_range(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];

	assert_int_equal(match(db, "Sendmail", "", found), 0);
	assert_int_equal(match(db, "Postfix", "2.0", found), 0);
	advisory_db_free(db);
}

static void
test_match_stops_at_max(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];
	struct software_id id = { "Sendmail", "8.6.12" };

	size_t all = advisory_db_match(db, &id, found, MATCH_MAX);
	assert_true(all >= 3);
	assert_int_equal(advisory_db_match(db, &id, found, 1), 1);
	assert_string_equal(found[0]->id, "sendmail-before-8.8");
	advisory_db_free(db);
}

static void
test_software_name_matches_case_insensitively(void **state)
{
	(void)state;
	struct advisory_db *db = load_shipped();
	const struct advisory *found[MATCH_MAX];

	assert_true(match(db, "SENDMAIL", "8.8.8", found) > 0);
	advisory_db_free(db);
}

static void
test_missing_file_is_an_error(void **state)
{
	(void)state;
	char err[ERR_SIZE] = "";

	assert_null(advisory_db_load("/nonexistent/advisories.ini", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/advisories.ini: cannot open"));
}

static void
test_syntax_error_reports_its_line(void **state)
{
	(void)state;
	assert_error_at("# comment\n[a]\nsoftware = Sendmail\nthis line has no equals sign\n"
	    "version_below = 8.9\nsummary = s\nsource = https://example.com/a\n", 4, "syntax");
}

static void
test_unknown_key_reports_its_line(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Sendmail\nversion_under = 8.9\nsummary = s\n"
	    "source = https://example.com/a\n", 3, "unknown key");
}

static void
test_bad_version_reports_its_line(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Sendmail\nversion_below = v8\nsummary = s\n"
	    "source = https://example.com/a\n", 3, "bad version");
	assert_error_at("[a]\nsoftware = Sendmail\nversions = 8.9.0, x\nsummary = s\n"
	    "source = https://example.com/a\n", 3, "bad version");
}

static void
test_unknown_software_reports_its_line(void **state)
{
	(void)state;
	assert_error_at("\n[a]\nsoftware = Sendmial\nversion_below = 8.9\nsummary = s\n"
	    "source = https://example.com/a\n", 3, "unknown software");
}

static void
test_missing_source_reports_the_section_line(void **state)
{
	(void)state;
	assert_error_at("[ok]\nsoftware = Exim\nversion_below = 4\nsummary = s\n"
	    "source = https://example.com/a\n\n[no-source]\nsoftware = Exim\n"
	    "version_below = 4.69\nsummary = s\n", 7, "cites no source");
}

static void
test_bad_line_wins_over_the_missing_key_it_causes(void **state)
{
	(void)state;
	/* The summary line is malformed, so the section also lacks a summary: report line 4. */
	assert_error_at("[a]\nsoftware = Sendmail\nversion_below = 8.9\nsummary Sendmail is old\n"
	    "source = https://example.com/a\n", 4, "syntax");
}

static void
test_entry_without_version_rule_is_an_error(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nsummary = s\nsource = https://example.com/a\n", 1,
	    "needs version_below");
}

static void
test_any_version_excludes_version_keys(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nany_version = yes\nversion_below = 4\nsummary = s\n"
	    "source = https://example.com/a\n", 1, "any_version");
}

static void
test_duplicate_key_is_an_error(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nversion_from = 4.9\nversion_below = 4.10\n"
	    "version_below = 4.5\nsummary = s\nsource = https://example.com/a\n", 5, "twice");
}

static void
test_inverted_range_is_an_error(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nversion_from = 4.10\nversion_below = 4.9\n"
	    "summary = s\nsource = https://example.com/a\n", 1, "version_from");
}

static void
test_duplicate_id_is_an_error(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nversion_below = 4\nsummary = s\n"
	    "source = https://example.com/a\n[a]\nsoftware = Exim\nversion_below = 3\n"
	    "summary = s\nsource = https://example.com/b\n", 6, "already defined on line 1");
}

static void
test_section_without_keys_is_an_error(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nversion_below = 4\nsummary = s\n"
	    "source = https://example.com/a\n[empty]\n# software = Exim\n[b]\nsoftware = Exim\n"
	    "version_below = 3\nsummary = s\nsource = https://example.com/b\n", 6, "no keys");
	assert_error_at("[a]\nsoftware = Exim\nversion_below = 4\nsummary = s\n"
	    "source = https://example.com/a\n\n[last]\n", 7, "no keys");
}

static void
test_key_outside_section_is_an_error(void **state)
{
	(void)state;
	assert_error_at("# header\nsoftware = Exim\n", 2, "outside any [section]");
}

static void
test_source_must_be_a_url(void **state)
{
	(void)state;
	assert_error_at("[a]\nsoftware = Exim\nversion_below = 4\nsummary = s\nsource = the issue\n",
	    5, "URL");
}

static void
test_overlong_line_is_an_error(void **state)
{
	(void)state;
	char text[1024];
	char summary[400];

	memset(summary, 'x', sizeof(summary) - 1);
	summary[sizeof(summary) - 1] = '\0';
	snprintf(text, sizeof(text), "[a]\nsoftware = Exim\nversion_below = 4\nsummary = %s\n"
	    "source = https://example.com/a\n", summary);
	assert_error_at(text, 4, "longer than");
}

static void
test_comment_only_file_loads_empty(void **state)
{
	(void)state;
	char path[64], err[ERR_SIZE];

	write_temp(path, "# nothing yet\n; nor here\n");
	struct advisory_db *db = advisory_db_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(db);
	assert_int_equal(advisory_db_count(db), 0);
	advisory_db_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sendmail_banner_gives_name_and_version),
		cmocka_unit_test(test_sendmail_banner_without_version),
		cmocka_unit_test(test_sendmail_vendor_versions),
		cmocka_unit_test(test_postfix_banner_without_version),
		cmocka_unit_test(test_postfix_banner_with_version),
		cmocka_unit_test(test_exim_banner_gives_version),
		cmocka_unit_test(test_opensmtpd_banner),
		cmocka_unit_test(test_qmail_named_in_banner),
		cmocka_unit_test(test_qmail_recognised_from_banner_and_ehlo),
		cmocka_unit_test(test_bare_esmtp_banner_alone_is_not_qmail),
		cmocka_unit_test(test_bare_postfix_banner_is_not_qmail),
		cmocka_unit_test(test_exchange_ims_banner_gives_build),
		cmocka_unit_test(test_exchange_2007_banner_has_no_version),
		cmocka_unit_test(test_iis_smtp_banner_gives_version),
		cmocka_unit_test(test_nt4_smtp_banner_gives_version_later_on_the_line),
		cmocka_unit_test(test_lotus_domino_release),
		cmocka_unit_test(test_netscape_messaging_server_version),
		cmocka_unit_test(test_imail_version),
		cmocka_unit_test(test_mdaemon_version),
		cmocka_unit_test(test_ccmail_banner),
		cmocka_unit_test(test_multiline_banner_names_product_on_a_later_line),
		cmocka_unit_test(test_version_never_comes_from_the_next_line),
		cmocka_unit_test(test_ehlo_only_exchange_keywords),
		cmocka_unit_test(test_ehlo_only_sendmail_greeting_with_verb),
		cmocka_unit_test(test_pleased_to_meet_you_without_verb_is_not_sendmail),
		cmocka_unit_test(test_ehlo_naming_a_product),
		cmocka_unit_test(test_unknown_banner_is_not_recognised),
		cmocka_unit_test(test_no_texts_is_not_recognised),
		cmocka_unit_test(test_product_inside_host_name_is_ignored),
		cmocka_unit_test(test_matching_is_case_insensitive),
		cmocka_unit_test(test_overlong_version_is_dropped),
		cmocka_unit_test(test_text_beyond_the_scan_limit_is_ignored),
		cmocka_unit_test(test_known_names),
		cmocka_unit_test(test_version_compare_numeric_components),
		cmocka_unit_test(test_version_compare_missing_component_counts_as_zero),
		cmocka_unit_test(test_version_compare_letters_after_digits),
		cmocka_unit_test(test_version_compare_leading_zeros_and_long_numbers),
		cmocka_unit_test(test_shipped_file_loads_and_cites_sources),
		cmocka_unit_test(test_sendmail_8_8_8_gets_a_relay_advisory),
		cmocka_unit_test(test_sendmail_8_12_11_gets_none),
		cmocka_unit_test(test_sendmail_8_9_1_gets_the_source_route_advisory),
		cmocka_unit_test(test_exchange_5_5_2448_is_flagged),
		cmocka_unit_test(test_exchange_5_5_2650_is_not_flagged),
		cmocka_unit_test(test_banner_to_advisory_end_to_end),
		cmocka_unit_test(test_any_version_matches_unknown_version),
		cmocka_unit_test(test_unknown_version_matches_no_range),
		cmocka_unit_test(test_match_stops_at_max),
		cmocka_unit_test(test_software_name_matches_case_insensitively),
		cmocka_unit_test(test_missing_file_is_an_error),
		cmocka_unit_test(test_syntax_error_reports_its_line),
		cmocka_unit_test(test_unknown_key_reports_its_line),
		cmocka_unit_test(test_bad_version_reports_its_line),
		cmocka_unit_test(test_unknown_software_reports_its_line),
		cmocka_unit_test(test_missing_source_reports_the_section_line),
		cmocka_unit_test(test_bad_line_wins_over_the_missing_key_it_causes),
		cmocka_unit_test(test_entry_without_version_rule_is_an_error),
		cmocka_unit_test(test_any_version_excludes_version_keys),
		cmocka_unit_test(test_duplicate_key_is_an_error),
		cmocka_unit_test(test_inverted_range_is_an_error),
		cmocka_unit_test(test_duplicate_id_is_an_error),
		cmocka_unit_test(test_section_without_keys_is_an_error),
		cmocka_unit_test(test_key_outside_section_is_an_error),
		cmocka_unit_test(test_source_must_be_a_url),
		cmocka_unit_test(test_overlong_line_is_an_error),
		cmocka_unit_test(test_comment_only_file_loads_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
