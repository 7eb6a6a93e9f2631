/* report_text.c - the human report: a table of verdicts, then the evidence transcripts.
 * Colour only when asked (the caller decides: a terminal and no NO_COLOR). */
#include "check/report.h"

#include <string.h>

#include "check/verdict.h"
#include "core/netaddr.h"

#define COLOUR_RED "\033[1;31m"
#define COLOUR_YELLOW "\033[33m"
#define COLOUR_GREEN "\033[32m"
#define COLOUR_DIM "\033[2m"
#define COLOUR_RESET "\033[0m"

void
report_tricks(const struct target_result *result, char *out, size_t out_size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < result->test_count; i++) {
		if (!result->tests[i].selected || !verdict_test_supports(result, &result->tests[i]))
			continue;
		int written = snprintf(out + used, out_size - used, "%s%s", used ? "," : "",
		    result->tests[i].test->id);
		if (written < 0 || (size_t)written >= out_size - used)
			break;
		used += (size_t)written;
	}
}

static const char *
verdict_colour(enum verdict verdict)
{
	switch (verdict) {
	case VERDICT_OPEN: return COLOUR_RED;
	case VERDICT_SUSPECT:
	case VERDICT_INCONCLUSIVE: return COLOUR_YELLOW;
	case VERDICT_CLOSED: return COLOUR_GREEN;
	case VERDICT_UNREACHABLE: return COLOUR_DIM;
	}
	return "";
}

void
report_text_table(FILE *out, struct target_result *const *results, size_t count, bool colour)
{
	fprintf(out, "%-28s %-26s %5s  %-12s %-9s %-24s %s\n", "TARGET", "ADDRESS", "PORT",
	    "VERDICT", "STAGE", "TRICKS", "SOFTWARE");
	for (size_t i = 0; i < count; i++) {
		const struct target_result *result = results[i];
		char address[INET6_ADDRSTRLEN] = "-";
		char port[8] = "-";
		char tricks[256];
		char software[160] = "-";
		char verdict[16];

		if (result->expanded) {
			netaddr_format(&result->target.address, address, sizeof(address));
			snprintf(port, sizeof(port), "%u", (unsigned)result->target.port);
		}
		report_tricks(result, tricks, sizeof(tricks));
		if (result->have_software)
			snprintf(software, sizeof(software), "%s%s%s%s", result->software.name,
			    result->software.version[0] ? " " : "", result->software.version,
			    result->advisory_count ? " (advisory)" : "");
		/* Pad before colouring so escape codes do not break the columns. */
		snprintf(verdict, sizeof(verdict), "%-12s", verdict_name(result->verdict));
		for (char *p = verdict; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		fprintf(out, "%-28s %-26s %5s  %s%s%s %-9s %-24s %s\n", result->target.input,
		    address, port, colour ? verdict_colour(result->verdict) : "", verdict,
		    colour ? COLOUR_RESET : "",
		    stage_name(result->stage) ? stage_name(result->stage) : "-",
		    tricks[0] ? tricks : "-", software);
		fprintf(out, "%-28s   %s\n", "", result->reason);
		for (size_t n = 0; n < result->note_count; n++)
			fprintf(out, "%-28s   note: %s\n", "", result->notes[n]);
		for (size_t a = 0; a < result->advisory_count; a++)
			fprintf(out, "%-28s   advisory %s: %s (%s)\n", "", result->advisories[a]->id,
			    result->advisories[a]->summary, result->advisories[a]->source);
	}
}

/* print_line - one transcript line as "  +12ms S: 250 ok". */
static void
print_line(FILE *out, const struct transcript_line *line, bool colour)
{
	const char *arrow = line->direction == 'S' ? "S:" : line->direction == 'C' ? "C:" : "--";
	fprintf(out, "  %s+%6llums %s %s%s\n", colour && line->direction == 'I' ? COLOUR_DIM : "",
	    (unsigned long long)line->t_ms, arrow, line->text,
	    colour && line->direction == 'I' ? COLOUR_RESET : "");
}

void
report_text_evidence(FILE *out, const struct target_result *result, bool full, bool colour)
{
	char address[INET6_ADDRSTRLEN] = "-";

	if (result->expanded)
		netaddr_format(&result->target.address, address, sizeof(address));
	if (full) {
		fprintf(out, "\ntranscript for %s (%s port %u):\n", result->target.input, address,
		    (unsigned)result->target.port);
		for (size_t i = 0; i < result->transcript_count; i++)
			print_line(out, &result->transcript[i], colour);
		return;
	}
	int proof = -1;
	for (size_t i = 0; i < result->test_count && proof < 0; i++)
		if (result->tests[i].selected && verdict_test_supports(result, &result->tests[i]))
			proof = (int)i;
	if (proof < 0)
		return;
	fprintf(out, "\nevidence for %s (%s port %u), test %s (%s):\n", result->target.input,
	    address, (unsigned)result->target.port, result->tests[proof].test->id,
	    result->tests[proof].test->summary);
	/* The greeting of the first connection, then every line of the proving test. */
	bool greeting = true;
	for (size_t i = 0; i < result->transcript_count; i++) {
		const struct transcript_line *line = &result->transcript[i];
		if (line->test_index >= 0)
			greeting = false;
		if ((greeting && line->test_index < 0) || line->test_index == proof)
			print_line(out, line, colour);
	}
}
