/* battery.c - the relay-test battery of DESIGN.md, in order, and its template expansion.
 * The forms are data: changing a trick means changing one row here and its man page line. */
#include "check/battery.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Placeholders: {s} sender local part, {u} recipient local part, {V} victim domain,
 * {VU} victim domain upper-cased, {H} target host name, {T} target mail domain,
 * {I} target address literal, {R} random label, {L4}/{L6} third-party address literals. */
static const struct battery_test battery[BATTERY_SIZE] = {
	{ "S01", "", "{u}@{V}", 0, "null sender" },
	{ "S02", "{s}@{V}", "{u}@{V}", 0, "sender in the victim domain" },
	{ "S03", "{s}@{R}.{V}", "{u}@{V}", 0, "random foreign sender" },
	{ "S04", "{s}@{H}", "{u}@{V}", 0, "sender spoofs the target's host name" },
	{ "S05", "{s}@{T}", "{u}@{V}", 0, "sender spoofs the target's mail domain" },
	{ "S06", "{s}@{I}", "{u}@{V}", 0, "sender spoofs the target's address literal" },
	{ "S07", "{s}@localhost", "{u}@{V}", 0, "localhost sender" },
	{ "S08", "{s}", "{u}@{V}", 0, "unqualified sender" },
	{ "S09", "postmaster@{H}", "{u}@{V}", 0, "postmaster of the target as sender" },
	{ "R01", "{s}@{I}", "{u}%{V}@{I}", 0, "percent hack via address literal" },
	{ "R02", "{s}@{H}", "{u}%{V}@{H}", 0, "percent hack via host name" },
	{ "R03", "{s}@{H}", "\"{u}@{V}\"", 0, "quoted address, no domain" },
	{ "R04", "{s}@{H}", "\"{u}%{V}\"", 0, "quoted percent hack, no domain" },
	{ "R05", "{s}@{I}", "{u}@{V}@{I}", 0, "double @ via address literal" },
	{ "R06", "{s}@{I}", "\"{u}@{V}\"@{I}", 0, "quoted local part via address literal" },
	{ "R07", "{s}@{H}", "{u}@{V}@{H}", 0, "double @ via host name" },
	{ "R08", "{s}@{T}", "\"{u}@{V}\"@{T}", 0, "quoted local part via mail domain" },
	{ "R09", "{s}@{H}", "\"{u}@{V}@{H}\"", 0, "fully quoted, host included" },
	{ "R10", "{s}@{I}", "@{I}:{u}@{V}", 0, "source route via address literal" },
	{ "R11", "{s}@{H}", "@{H}:{u}@{V}", 0, "source route via host name" },
	{ "R12", "{s}@{H}", "{V}!{u}", 0, "bang path, bare" },
	{ "R13", "{s}@{I}", "{V}!{u}@{I}", 0, "bang path via address literal" },
	{ "R14", "{s}@{H}", "{V}!{u}@{H}", 0, "bang path via host name" },
	{ "R15", "{s}@{H}", "{u}@{V}@", 0, "trailing @" },
	{ "R17", "{s}@{T}", "IMCEASMTP-{u}+40{V}@{T}", 0, "Exchange IMCEA encapsulated address" },
	{ "N01", "{s}@{H}", "{u}@{L4}", 0, "third-party IPv4 address literal" },
	{ "N02", "{s}@{H}", "{u}@{L6}", 0, "third-party IPv6 address literal" },
	{ "N03", "{s}@{H}", "{u}@{VU}", 0, "upper-case victim domain" },
	{ "N04", "{s}@{H}", "{u}@{V}.", 0, "trailing dot on the victim domain" },
	{ "N05", "{s}@{H}", "{u}", 0, "recipient without a domain" },
	{ "X02", "{s}@{V}", "{u}@{V}", BATTERY_AUTH_FIRST, "bogus AUTH, then relay" },
	{ "X03", "{s}@{V}", "{u}@{V}", BATTERY_RCPT_DESPITE_MAIL_REFUSAL,
	    "RCPT accepted although MAIL was refused" },
};

const struct battery_test *
battery_all(size_t *count)
{
	*count = BATTERY_SIZE;
	return battery;
}

const struct battery_test *
battery_find(const char *id)
{
	for (size_t i = 0; i < BATTERY_SIZE; i++)
		if (strcasecmp(battery[i].id, id) == 0)
			return &battery[i];
	return NULL;
}

/* select_item - mark one list item (an id, a class letter or "all"); false if unknown. */
static bool
select_item(const char *item, bool selected[BATTERY_SIZE])
{
	if (strcasecmp(item, "all") == 0) {
		for (size_t i = 0; i < BATTERY_SIZE; i++)
			selected[i] = true;
		return true;
	}
	if (strlen(item) == 1) {
		bool any = false;
		for (size_t i = 0; i < BATTERY_SIZE; i++) {
			if (toupper((unsigned char)item[0]) == battery[i].id[0]) {
				selected[i] = true;
				any = true;
			}
		}
		return any;
	}
	for (size_t i = 0; i < BATTERY_SIZE; i++) {
		if (strcasecmp(item, battery[i].id) == 0) {
			selected[i] = true;
			return true;
		}
	}
	return false;
}

bool
battery_select(const char *list, bool selected[BATTERY_SIZE], char *err, size_t err_size)
{
	char item[16];
	const char *cursor = list;

	for (size_t i = 0; i < BATTERY_SIZE; i++)
		selected[i] = false;
	for (;;) {
		const char *comma = strchr(cursor, ',');
		size_t length = comma ? (size_t)(comma - cursor) : strlen(cursor);
		while (length > 0 && isspace((unsigned char)*cursor)) {
			cursor++;
			length--;
		}
		while (length > 0 && isspace((unsigned char)cursor[length - 1]))
			length--;
		if (length == 0 || length >= sizeof(item)) {
			snprintf(err, err_size, "bad test list '%s': empty or overlong item", list);
			return false;
		}
		memcpy(item, cursor, length);
		item[length] = '\0';
		if (!select_item(item, selected)) {
			snprintf(err, err_size, "unknown test '%s' (ids are S01..S09, R01..R15, R17, "
			    "N01..N05, X02, X03; classes S, R, N, X; or all)", item);
			return false;
		}
		if (comma == NULL)
			return true;
		cursor = comma + 1;
	}
}

/* placeholder_value - the text a placeholder name stands for, or NULL if unknown. */
static const char *
placeholder_value(const char *name, size_t length, const struct battery_values *values)
{
	static const struct {
		const char *name;
		size_t offset;
	} names[] = {
		{ "s", offsetof(struct battery_values, sender_local) },
		{ "u", offsetof(struct battery_values, recipient_local) },
		{ "V", offsetof(struct battery_values, victim_domain) },
		{ "VU", offsetof(struct battery_values, victim_domain) },
		{ "H", offsetof(struct battery_values, host_name) },
		{ "T", offsetof(struct battery_values, mail_domain) },
		{ "I", offsetof(struct battery_values, address_literal) },
		{ "R", offsetof(struct battery_values, random_label) },
		{ "L4", offsetof(struct battery_values, foreign_literal4) },
		{ "L6", offsetof(struct battery_values, foreign_literal6) },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == length && memcmp(names[i].name, name, length) == 0) {
			const char *const *field =
			    (const char *const *)((const char *)values + names[i].offset);
			return *field;
		}
	}
	return NULL;
}

int
battery_render(const char *form, const struct battery_values *values, char *out,
    size_t out_size)
{
	size_t used = 0;

	if (out_size == 0)
		return -1;
	for (const char *p = form; *p != '\0';) {
		if (*p != '{') {
			if (used + 1 >= out_size)
				return -1;
			out[used++] = *p++;
			continue;
		}
		const char *close = strchr(p, '}');
		if (close == NULL)
			return -1;
		const char *name = p + 1;
		size_t name_length = (size_t)(close - name);
		const char *value = placeholder_value(name, name_length, values);
		if (value == NULL)
			return -1;
		bool upper = name_length == 2 && memcmp(name, "VU", 2) == 0;
		size_t value_length = strlen(value);
		if (used + value_length >= out_size)
			return -1;
		for (size_t i = 0; i < value_length; i++)
			out[used++] = upper ? (char)toupper((unsigned char)value[i]) : value[i];
		p = close + 1;
	}
	out[used] = '\0';
	return (int)used;
}
