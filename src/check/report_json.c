/* report_json.c - one JSON object per target (JSON Lines), the machine-readable report.
 * Field names are a public interface documented in relayguard(1); add, never rename. */
#include "check/report.h"

#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include "check/verdict.h"
#include "core/log.h"
#include "core/netaddr.h"

/* string_or_null - a JSON string, or null for NULL and "". */
static json_t *
string_or_null(const char *text)
{
	return text != NULL && text[0] != '\0' ? json_string(text) : json_null();
}

static json_t *
tests_json(const struct target_result *result)
{
	json_t *tests = json_array();

	for (size_t i = 0; i < result->test_count; i++) {
		const struct test_result *test = &result->tests[i];
		if (!test->selected)
			continue;
		json_t *replies = json_array();
		for (size_t r = 0; r < test->reply_count; r++) {
			json_array_append_new(replies, json_pack("{s:s, s:i, s:s}",
			    "command", test->replies[r].command, "code", test->replies[r].code,
			    "text", test->replies[r].text));
		}
		json_t *entry = json_pack("{s:s, s:o, s:o, s:s, s:o, s:o, s:i, s:I, s:o, s:s}",
		    "id", test->test->id,
		    "mail_from", string_or_null(test->mail_from),
		    "rcpt_to", string_or_null(test->rcpt_to),
		    "outcome", outcome_name(test->outcome),
		    "stage", string_or_null(stage_name(test->stage)),
		    "replies", replies,
		    "attempts", (int)test->attempts,
		    "elapsed_ms", (json_int_t)test->elapsed_ms,
		    "error", string_or_null(test->error),
		    "token", test->token);
		json_array_append_new(tests, entry);
	}
	return tests;
}

static json_t *
transcript_json(const struct target_result *result)
{
	json_t *lines = json_array();

	for (size_t i = 0; i < result->transcript_count; i++) {
		const struct transcript_line *line = &result->transcript[i];
		char direction[2] = { line->direction, '\0' };
		json_t *entry = json_pack("{s:I, s:s, s:s}", "t_ms", (json_int_t)line->t_ms,
		    "dir", direction, "text", line->text);
		if (line->test_index >= 0)
			json_object_set_new(entry, "test",
			    json_string(result->tests[line->test_index].test->id));
		json_array_append_new(lines, entry);
	}
	return lines;
}

char *
report_json_text(const struct target_result *result)
{
	const struct check_target *target = &result->target;
	json_t *object = json_object();
	char address[INET6_ADDRSTRLEN];
	char started[32];
	struct tm tm;

	json_object_set_new(object, "target", json_string(target->input));
	if (result->expanded) {
		netaddr_format(&target->address, address, sizeof(address));
		json_object_set_new(object, "address", json_string(address));
		json_object_set_new(object, "port", json_integer(target->port));
		json_object_set_new(object, "family",
		    json_string(target->address.family == AF_INET6 ? "ipv6" : "ipv4"));
	} else {
		json_object_set_new(object, "address", json_null());
		json_object_set_new(object, "port", json_null());
		json_object_set_new(object, "family", json_null());
	}
	json_object_set_new(object, "host", string_or_null(target->host));
	json_object_set_new(object, "mail_domain", string_or_null(target->mail_domain));
	json_object_set_new(object, "mx", target->from_mx ?
	    json_pack("{s:s, s:i}", "host", target->mx_host, "preference",
		(int)target->mx_preference) : json_null());
	json_object_set_new(object, "banner", string_or_null(result->banner));
	json_object_set_new(object, "ehlo", string_or_null(result->ehlo));
	json_object_set_new(object, "greeting", string_or_null(result->greeting));
	json_object_set_new(object, "software", result->have_software ?
	    json_pack("{s:s, s:o}", "name", result->software.name, "version",
		string_or_null(result->software.version)) : json_null());
	json_t *advisories = json_array();
	for (size_t i = 0; i < result->advisory_count; i++) {
		const struct advisory *advisory = result->advisories[i];
		json_array_append_new(advisories, json_pack("{s:s, s:s, s:s}", "id", advisory->id,
		    "summary", advisory->summary, "source", advisory->source));
	}
	json_object_set_new(object, "advisories", advisories);
	json_object_set_new(object, "verdict", json_string(verdict_name(result->verdict)));
	json_object_set_new(object, "stage", string_or_null(stage_name(result->stage)));
	json_object_set_new(object, "reason", json_string(result->reason));
	json_t *tricks = json_array();
	for (size_t i = 0; i < result->test_count; i++)
		if (result->tests[i].selected && verdict_test_supports(result, &result->tests[i]))
			json_array_append_new(tricks, json_string(result->tests[i].test->id));
	json_object_set_new(object, "tricks", tricks);
	json_t *notes = json_array();
	for (size_t i = 0; i < result->note_count; i++)
		json_array_append_new(notes, json_string(result->notes[i]));
	json_object_set_new(object, "notes", notes);
	json_object_set_new(object, "tls", result->tls.used ?
	    json_pack("{s:s, s:s, s:s}", "version", result->tls.version, "cipher",
		result->tls.cipher, "peer_subject", result->tls.peer_subject) : json_null());
	gmtime_r(&result->started.tv_sec, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(object, "started", json_string(started));
	json_object_set_new(object, "elapsed_ms", json_integer((json_int_t)result->elapsed_ms));
	json_object_set_new(object, "tests", tests_json(result));
	json_object_set_new(object, "transcript", transcript_json(result));

	char *text = json_dumps(object, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text == NULL)
		fatal("event=json_dumps_failed");
	json_decref(object);
	return text;
}

void
report_json_write(FILE *out, const struct target_result *result)
{
	char *text = report_json_text(result);

	fprintf(out, "%s\n", text);
	fflush(out);
	free(text);
}

char *
report_json_replies(const struct test_result *test)
{
	json_t *replies = json_array();

	for (size_t r = 0; r < test->reply_count; r++)
		json_array_append_new(replies, json_pack("{s:s, s:i, s:s}", "command",
		    test->replies[r].command, "code", test->replies[r].code, "text",
		    test->replies[r].text));
	char *text = json_dumps(replies, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text == NULL)
		fatal("event=json_dumps_failed");
	json_decref(replies);
	return text;
}
