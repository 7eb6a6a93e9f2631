/* config.c - load the [smtpd] section (defaults, file, -o overrides) and lint it.
 * Driven by smtpd_config_keys[]; called once at start by `smtpd` and `lint`, never on the
 * hot path. Lint may look at the file system (certificates, directories), load never does
 * more than read the configuration file. */
#include "smtpd/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/log.h"
#include "core/smtp_path.h"
#include "smtpd/users.h"

/* Lint thresholds (relayguard.conf(5), LINT RULES). */
#define LINT_V4_PREFIX_FATAL 8		/* relay_clients shorter than /8: refuse */
#define LINT_V6_PREFIX_FATAL 32		/* relay_clients shorter than /32: refuse */
#define LINT_V4_PREFIX_WARN 16		/* shorter than /16: warn */
#define LINT_V6_PREFIX_WARN 48		/* shorter than /48: warn */
#define V4_MAPPED_PREFIX 96		/* ::ffff:0:0/96 */
#define RFC5321_SERVER_TIMEOUT_MS (5 * 60 * 1000)	/* RFC 5321 4.5.3.2.7 */
#define DNSBL_WEIGHT_MAX 100
#define CONFIG_ERR_MAX 256
#define CONFIG_ITEM_MAX 512
#define CONFIG_VALUE_QUOTED_MAX 80

/* The state of one file load: inih calls config_reader for every line, config_handler for
 * every key; the reader counts lines and notes continuation lines. */
struct config_loader {
	struct smtpd_config *config;
	FILE *file;
	unsigned line;
	bool continuation;	/* the current line starts with a blank (inih continues a key) */
	bool saw_section;
	struct config_problem *problems;
	size_t max_problems;
	size_t *problem_count;
	bool failed;
};

static void problem_add(struct config_problem *problems, size_t max_problems, size_t *count,
    unsigned line, const char *key, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* problem_add - store a problem; when full, a fatal one replaces a stored warning. */
static void
problem_add(struct config_problem *problems, size_t max_problems, size_t *count,
    unsigned line, const char *key, bool fatal, const char *fmt, ...)
{
	struct config_problem *slot = NULL;
	va_list ap;

	if (*count < max_problems) {
		slot = &problems[*count];
		(*count)++;
	} else if (fatal) {
		for (size_t i = 0; i < max_problems && slot == NULL; i++)
			if (!problems[i].fatal)
				slot = &problems[i];
	}
	if (slot == NULL)
		return;
	memset(slot, 0, sizeof(*slot));
	slot->line = line;
	slot->fatal = fatal;
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(slot->message, sizeof(slot->message), fmt, ap);
	va_end(ap);
}

/* quoted - a configuration value made safe to print inside a message. */
static const char *
quoted(const char *text, char *out, size_t out_size)
{
	return log_escape(text, strnlen(text, CONFIG_ITEM_MAX), out, out_size);
}

/* ascii_lower - lower-case an ASCII string in place. */
static void
ascii_lower(char *text)
{
	for (; *text != '\0'; text++)
		*text = (char)tolower((unsigned char)*text);
}

/* ---- value syntax ---------------------------------------------------------------- */

/* parse_bool - yes/no, true/false, on/off, 1/0 (any case). */
static bool
parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* parse_number - leading decimal digits; *end points after them. false on overflow or none. */
static bool
parse_number(const char *value, uint64_t *out, const char **end)
{
	uint64_t number = 0;
	const char *p = value;

	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (number > (UINT64_MAX - digit) / 10)
			return false;
		number = number * 10 + digit;
	}
	*out = number;
	*end = p;
	return true;
}

/* multiply - number * factor, false on overflow. */
static bool
multiply(uint64_t number, uint64_t factor, uint64_t *out)
{
	if (factor != 0 && number > UINT64_MAX / factor)
		return false;
	*out = number * factor;
	return true;
}

/* parse_size - bytes, with an optional k, m or g suffix (binary multiples, any case). */
static bool
parse_size(const char *value, uint64_t *out)
{
	uint64_t number, factor = 1;
	const char *end;

	if (!parse_number(value, &number, &end))
		return false;
	if (*end != '\0') {
		switch (tolower((unsigned char)*end)) {
		case 'k':
			factor = UINT64_C(1) << 10;
			break;
		case 'm':
			factor = UINT64_C(1) << 20;
			break;
		case 'g':
			factor = UINT64_C(1) << 30;
			break;
		default:
			return false;
		}
		if (end[1] != '\0')
			return false;
	}
	return multiply(number, factor, out);
}

/* parse_duration - milliseconds from a number and a unit ms, s, m, h, d or w (bare: s). */
static bool
parse_duration(const char *value, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "w", 604800000 },
	};
	uint64_t number;
	const char *end;

	if (!parse_number(value, &number, &end))
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
			return multiply(number, units[i].ms, out);
	return false;
}

/* next_item - the next item of a list separated by commas and/or blanks; false at the end. */
static bool
next_item(const char **cursor, char *item, size_t item_size, bool *too_long)
{
	const char *p = *cursor;

	*too_long = false;
	while (*p == ',' || isspace((unsigned char)*p))
		p++;
	if (*p == '\0') {
		*cursor = p;
		return false;
	}
	const char *start = p;
	while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
		p++;
	size_t length = (size_t)(p - start);
	if (length >= item_size) {
		*too_long = true;
		length = item_size - 1;
	}
	memcpy(item, start, length);
	item[length] = '\0';
	*cursor = p;
	return true;
}

/* normalise_domain - lower-case item and drop one trailing dot; false if not a Domain. */
static bool
normalise_domain(char *item)
{
	size_t length = strlen(item);

	if (length > 1 && item[length - 1] == '.')
		item[--length] = '\0';
	ascii_lower(item);
	return smtp_domain_is_valid(item, length);
}

/* domain_list_entry - check and normalise one list item: a domain; with subdomains
 * allowed also ".parent" ("*.parent" becomes ".parent") and the catch-alls "*" and "."
 * (kept as written so that lint can refuse them with their line). */
static bool
domain_list_entry(char *item, unsigned flags, char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX];

	if ((flags & CONFIG_FLAG_SUBDOMAINS) != 0) {
		if (strcmp(item, "*") == 0 || strcmp(item, ".") == 0)
			return true;
		if (item[0] == '*' && item[1] == '.')
			memmove(item, item + 1, strlen(item));
		if (item[0] == '.') {
			if (normalise_domain(item + 1))
				return true;
			snprintf(err, err_size, "bad domain pattern %s",
			    quoted(item, shown, sizeof(shown)));
			return false;
		}
	}
	if (normalise_domain(item))
		return true;
	snprintf(err, err_size, "bad domain %s", quoted(item, shown, sizeof(shown)));
	return false;
}

/* parse_listener - "[mode=]ADDRESS:PORT". */
static bool
parse_listener(const char *item, struct smtpd_listener *out, char *err, size_t err_size)
{
	static const struct {
		const char *prefix;
		enum listener_mode mode;
	} modes[] = {
		{ "smtp=", LISTENER_SMTP },
		{ "submission=", LISTENER_SUBMISSION },
		{ "smtps=", LISTENER_SMTPS },
	};
	char shown[CONFIG_VALUE_QUOTED_MAX], reason[CONFIG_ERR_MAX];
	struct hostport hostport;
	const char *where = item;

	memset(out, 0, sizeof(*out));
	out->mode = LISTENER_SMTP;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		size_t length = strlen(modes[i].prefix);
		if (strncasecmp(item, modes[i].prefix, length) == 0) {
			out->mode = modes[i].mode;
			where = item + length;
			break;
		}
	}
	if (strchr(where, '=') != NULL) {
		snprintf(err, err_size, "unknown listener mode in %s (smtp, submission or smtps)",
		    quoted(item, shown, sizeof(shown)));
		return false;
	}
	if (!hostport_parse(where, &hostport, reason, sizeof(reason))) {
		/* The message may be cut short; err is always terminated. */
		if (snprintf(err, err_size, "bad listener %s: %s",
		    quoted(item, shown, sizeof(shown)), reason) >= (int)err_size)
			log_debug("event=message_truncated where=listener");
		return false;
	}
	if (!hostport.is_address || hostport.port == 0) {
		snprintf(err, err_size, "bad listener %s: need ADDRESS:PORT (an IP address, "
		    "\"[v6]:PORT\" for IPv6, and a port)", quoted(item, shown, sizeof(shown)));
		return false;
	}
	out->address = hostport.address;
	out->port = hostport.port;
	return true;
}

/* parse_dnsbl - "zone" or "zone*weight". */
static bool
parse_dnsbl(char *item, struct smtpd_dnsbl_zone *out, char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX];
	uint64_t weight = 1;
	char *star = strchr(item, '*');

	quoted(item, shown, sizeof(shown));
	if (star != NULL) {
		const char *end;
		*star = '\0';
		if (!parse_number(star + 1, &weight, &end) || *end != '\0' || weight < 1 ||
		    weight > DNSBL_WEIGHT_MAX) {
			snprintf(err, err_size, "bad dnsbl weight in %s (1..%d)", shown,
			    DNSBL_WEIGHT_MAX);
			return false;
		}
	}
	if (!normalise_domain(item) || strlen(item) >= sizeof(out->zone)) {
		snprintf(err, err_size, "bad dnsbl zone %s", shown);
		return false;
	}
	memcpy(out->zone, item, strlen(item) + 1);
	out->weight = (int)weight;
	return true;
}

/* ---- checks of STRING keys (named in the key table) ---------------------------------- */

/* smtpd_config_check_hostname - "" (system host name) or a domain name. */
bool
smtpd_config_check_hostname(const char *value, char *err, size_t err_size)
{
	char copy[SMTP_DOMAIN_MAX + 2];
	char shown[CONFIG_VALUE_QUOTED_MAX];

	if (value[0] == '\0')
		return true;
	if (strlen(value) < sizeof(copy)) {
		memcpy(copy, value, strlen(value) + 1);
		if (normalise_domain(copy))
			return true;
	}
	snprintf(err, err_size, "bad host name %s", quoted(value, shown, sizeof(shown)));
	return false;
}

/* smtpd_config_check_next_hop - "" or smtp:HOST:PORT / lmtp:HOST:PORT. */
bool
smtpd_config_check_next_hop(const char *value, char *err, size_t err_size)
{
	enum next_hop_protocol protocol;
	struct hostport host;

	if (value[0] == '\0')
		return true;
	return smtpd_next_hop_parse(value, &protocol, &host, err, err_size);
}

/* smtpd_config_check_dns_server - "" or ADDRESS, ADDRESS:PORT, [V6]:PORT. */
bool
smtpd_config_check_dns_server(const char *value, char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX], reason[CONFIG_ERR_MAX];
	struct hostport host;

	if (value[0] == '\0')
		return true;
	if (!hostport_parse(value, &host, reason, sizeof(reason))) {
		snprintf(err, err_size, "bad dns_server %s: %s",
		    quoted(value, shown, sizeof(shown)), reason);
		return false;
	}
	if (!host.is_address) {
		snprintf(err, err_size, "dns_server %s must be an IP address, not a name",
		    quoted(value, shown, sizeof(shown)));
		return false;
	}
	return true;
}

/* smtpd_config_check_user - a plausible login name: [A-Za-z0-9._-], not starting with '-'. */
bool
smtpd_config_check_user(const char *value, char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX];
	bool ok = value[0] != '\0' && value[0] != '-';

	for (const char *p = value; ok && *p != '\0'; p++)
		ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
	if (!ok)
		snprintf(err, err_size, "bad user name %s", quoted(value, shown, sizeof(shown)));
	return ok;
}

/* smtpd_config_check_log - "stderr" or "syslog". */
bool
smtpd_config_check_log(const char *value, char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX];

	if (strcmp(value, "stderr") == 0 || strcmp(value, "syslog") == 0)
		return true;
	snprintf(err, err_size, "bad log %s (stderr or syslog)",
	    quoted(value, shown, sizeof(shown)));
	return false;
}

/* smtpd_next_hop_parse - "smtp:HOST:PORT" or "lmtp:HOST:PORT", the port required. */
bool
smtpd_next_hop_parse(const char *text, enum next_hop_protocol *protocol,
    struct hostport *host, char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX], reason[CONFIG_ERR_MAX];
	const char *rest;

	quoted(text, shown, sizeof(shown));
	if (strncmp(text, "smtp:", 5) == 0) {
		*protocol = NEXT_HOP_SMTP;
		rest = text + 5;
	} else if (strncmp(text, "lmtp:", 5) == 0) {
		*protocol = NEXT_HOP_LMTP;
		rest = text + 5;
	} else {
		snprintf(err, err_size, "bad next_hop %s: must start with smtp: or lmtp:", shown);
		return false;
	}
	if (!hostport_parse(rest, host, reason, sizeof(reason))) {
		snprintf(err, err_size, "bad next_hop %s: %s", shown, reason);
		return false;
	}
	if (host->port == 0) {
		snprintf(err, err_size, "bad next_hop %s: a port is required (smtp:HOST:PORT)",
		    shown);
		return false;
	}
	return true;
}

/* ---- setting one key ----------------------------------------------------------------- */

/* string_list_free - free a char ** list of count strings. */
static void
string_list_free(char **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

/* set_domain_list - replace (or extend, when append) a domain list. */
static bool
set_domain_list(struct smtpd_config *config, const struct config_key *key, const char *value,
    bool append, char *err, size_t err_size)
{
	char ***list = (char ***)((char *)config + key->offset);
	size_t *count = (size_t *)((char *)config + key->count_offset);
	char **items = NULL;
	size_t item_count = 0;
	char item[CONFIG_ITEM_MAX], shown[CONFIG_VALUE_QUOTED_MAX];
	const char *cursor = value;
	bool too_long;

	if (append && *count > 0) {
		items = xcalloc(*count, sizeof(*items));
		for (; item_count < *count; item_count++)
			items[item_count] = xstrdup((*list)[item_count]);
	}
	while (next_item(&cursor, item, sizeof(item), &too_long)) {
		if (too_long || !domain_list_entry(item, key->flags, err, err_size)) {
			if (too_long)
				snprintf(err, err_size, "item too long: %s",
				    quoted(item, shown, sizeof(shown)));
			string_list_free(items, item_count);
			return false;
		}
		if (item_count >= key->maximum) {
			snprintf(err, err_size, "more than %llu domains",
			    (unsigned long long)key->maximum);
			string_list_free(items, item_count);
			return false;
		}
		bool duplicate = false;
		for (size_t i = 0; i < item_count && !duplicate; i++)
			duplicate = strcmp(items[i], item) == 0;
		if (duplicate)
			continue;
		items = xrealloc(items, (item_count + 1) * sizeof(*items));
		items[item_count++] = xstrdup(item);
	}
	string_list_free(*list, *count);
	*list = items;
	*count = item_count;
	return true;
}

/* set_cidr_list - replace (or extend) relay_clients. */
static bool
set_cidr_list(struct smtpd_config *config, const struct config_key *key, const char *value,
    bool append, char *err, size_t err_size)
{
	struct netprefix_set *target = (struct netprefix_set *)((char *)config + key->offset);
	struct netprefix_set set;
	char item[CONFIG_ITEM_MAX], shown[CONFIG_VALUE_QUOTED_MAX];
	const char *cursor = value;
	bool too_long;

	netprefix_set_init(&set);
	if (append)
		for (size_t i = 0; i < target->count; i++)
			netprefix_set_add(&set, &target->items[i]);
	while (next_item(&cursor, item, sizeof(item), &too_long)) {
		struct netprefix prefix;
		if (too_long || !netprefix_parse(item, &prefix)) {
			snprintf(err, err_size, "bad address or prefix %s",
			    quoted(item, shown, sizeof(shown)));
			netprefix_set_free(&set);
			return false;
		}
		if (set.count >= key->maximum) {
			snprintf(err, err_size, "more than %llu prefixes",
			    (unsigned long long)key->maximum);
			netprefix_set_free(&set);
			return false;
		}
		netprefix_set_add(&set, &prefix);
	}
	netprefix_set_free(target);
	*target = set;
	return true;
}

/* set_listeners - replace (or extend) the listener list. */
static bool
set_listeners(struct smtpd_config *config, const struct config_key *key, const char *value,
    bool append, char *err, size_t err_size)
{
	struct smtpd_listener listeners[SMTPD_LISTENERS_MAX];
	size_t count = 0;
	char item[CONFIG_ITEM_MAX], shown[CONFIG_VALUE_QUOTED_MAX];
	const char *cursor = value;
	bool too_long;

	if (append) {
		memcpy(listeners, config->listeners, sizeof(listeners));
		count = config->listener_count;
	}
	while (next_item(&cursor, item, sizeof(item), &too_long)) {
		if (count >= key->maximum || count >= SMTPD_LISTENERS_MAX) {
			snprintf(err, err_size, "more than %llu listeners",
			    (unsigned long long)key->maximum);
			return false;
		}
		if (too_long) {
			snprintf(err, err_size, "bad listener %s", quoted(item, shown,
			    sizeof(shown)));
			return false;
		}
		if (!parse_listener(item, &listeners[count], err, err_size))
			return false;
		count++;
	}
	if (count < key->minimum) {
		snprintf(err, err_size, "at least one listener is needed");
		return false;
	}
	memcpy(config->listeners, listeners, sizeof(listeners));
	config->listener_count = count;
	return true;
}

/* set_dnsbl - replace (or extend) the DNSBL zone list. */
static bool
set_dnsbl(struct smtpd_config *config, const struct config_key *key, const char *value,
    bool append, char *err, size_t err_size)
{
	struct smtpd_dnsbl_zone zones[SMTPD_DNSBL_ZONES_MAX];
	size_t count = 0;
	char item[CONFIG_ITEM_MAX], shown[CONFIG_VALUE_QUOTED_MAX];
	const char *cursor = value;
	bool too_long;

	if (append) {
		memcpy(zones, config->dnsbl, sizeof(zones));
		count = config->dnsbl_count;
	}
	while (next_item(&cursor, item, sizeof(item), &too_long)) {
		if (count >= key->maximum || count >= SMTPD_DNSBL_ZONES_MAX) {
			snprintf(err, err_size, "more than %llu dnsbl zones",
			    (unsigned long long)key->maximum);
			return false;
		}
		if (too_long) {
			snprintf(err, err_size, "bad dnsbl zone %s",
			    quoted(item, shown, sizeof(shown)));
			return false;
		}
		if (!parse_dnsbl(item, &zones[count], err, err_size))
			return false;
		count++;
	}
	memcpy(config->dnsbl, zones, sizeof(zones));
	config->dnsbl_count = count;
	return true;
}

/* set_number - SIZE, DURATION and COUNT keys, checked against the table's limits. */
static bool
set_number(struct smtpd_config *config, const struct config_key *key, const char *value,
    char *err, size_t err_size)
{
	char shown[CONFIG_VALUE_QUOTED_MAX];
	void *field = (char *)config + key->offset;
	uint64_t number;
	bool ok;
	const char *end;

	switch (key->type) {
	case CONFIG_SIZE:
		ok = parse_size(value, &number);
		break;
	case CONFIG_DURATION:
		ok = parse_duration(value, &number);
		break;
	default:
		ok = parse_number(value, &number, &end) && *end == '\0';
		break;
	}
	if (!ok) {
		snprintf(err, err_size, "bad %s %s", key->type == CONFIG_SIZE ? "size" :
		    key->type == CONFIG_DURATION ? "duration" : "number",
		    quoted(value, shown, sizeof(shown)));
		return false;
	}
	if (number < key->minimum || number > key->maximum) {
		if (key->type == CONFIG_DURATION)
			snprintf(err, err_size, "%s out of range (%llums..%llums)",
			    quoted(value, shown, sizeof(shown)),
			    (unsigned long long)key->minimum, (unsigned long long)key->maximum);
		else
			snprintf(err, err_size, "%s out of range (%llu..%llu)",
			    quoted(value, shown, sizeof(shown)),
			    (unsigned long long)key->minimum, (unsigned long long)key->maximum);
		return false;
	}
	if (key->field_size == sizeof(uint64_t)) {
		uint64_t wide = number;
		memcpy(field, &wide, sizeof(wide));
	} else if (key->field_size == sizeof(unsigned)) {
		unsigned narrow = (unsigned)number;
		memcpy(field, &narrow, sizeof(narrow));
	} else {
		fatal("config: key %s has an unsupported field size %zu", key->name,
		    key->field_size);
	}
	return true;
}

/* config_set - parse value for key into config; append only for lists (continuations). */
static bool
config_set(struct smtpd_config *config, const struct config_key *key, const char *value,
    bool append, char *err, size_t err_size)
{
	char *field = (char *)config + key->offset;
	bool flag;

	if (append && key->type != CONFIG_DOMAIN_LIST && key->type != CONFIG_CIDR_LIST &&
	    key->type != CONFIG_LISTENER_LIST && key->type != CONFIG_DNSBL_LIST) {
		snprintf(err, err_size, "continuation lines (indented) are only allowed for "
		    "lists; is this line indented by mistake?");
		return false;
	}
	switch (key->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		if (strlen(value) > key->maximum || strlen(value) >= key->field_size) {
			snprintf(err, err_size, "value longer than %llu bytes",
			    (unsigned long long)key->maximum);
			return false;
		}
		if (strlen(value) < key->minimum) {
			snprintf(err, err_size, "must not be empty");
			return false;
		}
		if (key->check != NULL && !key->check(value, err, err_size))
			return false;
		memcpy(field, value, strlen(value) + 1);
		return true;
	case CONFIG_BOOL:
		if (!parse_bool(value, &flag)) {
			char shown[CONFIG_VALUE_QUOTED_MAX];
			snprintf(err, err_size, "bad boolean %s (yes or no)",
			    quoted(value, shown, sizeof(shown)));
			return false;
		}
		memcpy(field, &flag, sizeof(flag));
		return true;
	case CONFIG_SIZE:
	case CONFIG_DURATION:
	case CONFIG_COUNT:
		return set_number(config, key, value, err, err_size);
	case CONFIG_DOMAIN_LIST:
		return set_domain_list(config, key, value, append, err, err_size);
	case CONFIG_CIDR_LIST:
		return set_cidr_list(config, key, value, append, err, err_size);
	case CONFIG_LISTENER_LIST:
		return set_listeners(config, key, value, append, err, err_size);
	case CONFIG_DNSBL_LIST:
		return set_dnsbl(config, key, value, append, err, err_size);
	}
	fatal("config: key %s has an unknown type", key->name);
}

/* ---- loading ------------------------------------------------------------------------- */

/* config_reader - fgets for inih that counts lines, notes continuation lines and refuses
 * lines longer than inih's buffer (inih would split them silently). */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_loader *loader = stream;

	if (fgets(str, num, loader->file) == NULL)
		return NULL;
	loader->line++;
	size_t length = strlen(str);
	if (length > 0 && str[length - 1] != '\n') {
		int c = getc(loader->file);
		if (c != EOF && c != '\n') {
			problem_add(loader->problems, loader->max_problems, loader->problem_count,
			    loader->line, "", true, "line longer than %d bytes: split a list "
			    "over indented continuation lines", num - 1);
			loader->failed = true;
			while (c != EOF && c != '\n')
				c = getc(loader->file);
			str[0] = '\0';
		}
	}
	loader->continuation = (str[0] == ' ' || str[0] == '\t');
	return str;
}

/* config_handler - inih callback for one "name = value" line (or continuation). */
static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_loader *loader = user;
	struct smtpd_config *config = loader->config;
	char err[CONFIG_ERR_MAX];

	if (strcmp(section, SMTPD_CONFIG_SECTION) != 0) {
		if (section[0] == '\0')
			problem_add(loader->problems, loader->max_problems, loader->problem_count,
			    loader->line, name, false, "key outside any [section] ignored");
		return 1;
	}
	loader->saw_section = true;
	const struct config_key *key = smtpd_config_key_find(name);
	if (key == NULL) {
		problem_add(loader->problems, loader->max_problems, loader->problem_count,
		    loader->line, name, true, "unknown key");
		loader->failed = true;
		return 1;
	}
	size_t index = (size_t)(key - smtpd_config_keys);
	if (!loader->continuation && config->key_line[index] != 0)
		problem_add(loader->problems, loader->max_problems, loader->problem_count,
		    loader->line, name, false, "set again (line %u); the later value wins",
		    config->key_line[index]);
	if (!config_set(config, key, value, loader->continuation, err, sizeof(err))) {
		problem_add(loader->problems, loader->max_problems, loader->problem_count,
		    loader->line, name, true, "%s", err);
		loader->failed = true;
		return 1;
	}
	if (!loader->continuation)
		config->key_line[index] = loader->line;
	return 1;
}

/* load_file - apply the [smtpd] section of path. false on a fatal problem. */
static bool
load_file(struct smtpd_config *config, const char *path, struct config_problem *problems,
    size_t max_problems, size_t *problem_count)
{
	struct config_loader loader;

	memset(&loader, 0, sizeof(loader));
	loader.config = config;
	loader.problems = problems;
	loader.max_problems = max_problems;
	loader.problem_count = problem_count;
	loader.file = fopen(path, "r");
	if (loader.file == NULL) {
		problem_add(problems, max_problems, problem_count, 0, "", true, "cannot open: %s",
		    strerror(errno));
		return false;
	}
	int result = ini_parse_stream(config_reader, &loader, config_handler, &loader);
	fclose(loader.file);
	if (result > 0) {
		problem_add(problems, max_problems, problem_count, (unsigned)result, "", true,
		    "syntax error: expected \"key = value\" or \"[section]\"");
		loader.failed = true;
	} else if (result < 0) {
		problem_add(problems, max_problems, problem_count, 0, "", true,
		    "cannot read the file (inih error %d)", result);
		loader.failed = true;
	}
	if (!loader.saw_section && !loader.failed)
		problem_add(problems, max_problems, problem_count, 0, "", false,
		    "no [%s] section: every key has its default", SMTPD_CONFIG_SECTION);
	return !loader.failed;
}

/* apply_override - one "key=value" from -o; index is its 1-based position. */
static bool
apply_override(struct smtpd_config *config, const char *text, size_t index,
    struct config_problem *problems, size_t max_problems, size_t *problem_count)
{
	char name[64], value[CONFIG_ITEM_MAX * 8], err[CONFIG_ERR_MAX];
	char shown[CONFIG_VALUE_QUOTED_MAX];
	const char *equals = strchr(text, '=');

	if (equals == NULL) {
		problem_add(problems, max_problems, problem_count, 0, "", true,
		    "-o %s: expected key=value", quoted(text, shown, sizeof(shown)));
		return false;
	}
	const char *start = text, *end = equals;
	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if ((size_t)(end - start) >= sizeof(name)) {
		problem_add(problems, max_problems, problem_count, 0, "", true,
		    "-o %s: key too long", quoted(text, shown, sizeof(shown)));
		return false;
	}
	memcpy(name, start, (size_t)(end - start));
	name[end - start] = '\0';
	start = equals + 1;
	while (isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if ((size_t)(end - start) >= sizeof(value)) {
		problem_add(problems, max_problems, problem_count, 0, name, true,
		    "-o: value too long");
		return false;
	}
	memcpy(value, start, (size_t)(end - start));
	value[end - start] = '\0';

	const struct config_key *key = smtpd_config_key_find(name);
	if (key == NULL) {
		problem_add(problems, max_problems, problem_count, 0, name, true,
		    "unknown key (-o %s)", quoted(text, shown, sizeof(shown)));
		return false;
	}
	if (!config_set(config, key, value, false, err, sizeof(err))) {
		problem_add(problems, max_problems, problem_count, 0, name, true,
		    "%s (-o %s)", err, quoted(text, shown, sizeof(shown)));
		return false;
	}
	size_t key_index = (size_t)(key - smtpd_config_keys);
	config->key_override[key_index] = (unsigned)index;
	config->key_line[key_index] = 0;
	return true;
}

/* apply_defaults - every key's default from the table; a bad default is our own bug. */
static void
apply_defaults(struct smtpd_config *config)
{
	char err[CONFIG_ERR_MAX];

	for (size_t i = 0; i < smtpd_config_key_count; i++)
		if (!config_set(config, &smtpd_config_keys[i],
		    smtpd_config_keys[i].default_value, false, err, sizeof(err)))
			fatal("config: bad default for %s: %s", smtpd_config_keys[i].name, err);
}

/* finish - values that depend on the machine: host name and worker count. */
static void
finish(struct smtpd_config *config, struct config_problem *problems, size_t max_problems,
    size_t *problem_count)
{
	if (config->hostname[0] == '\0') {
		char name[sizeof(config->hostname)];
		if (gethostname(name, sizeof(name) - 1) != 0)
			name[0] = '\0';
		name[sizeof(name) - 1] = '\0';
		if (!normalise_domain(name)) {
			problem_add(problems, max_problems, problem_count, 0, "hostname", false,
			    "the system host name is not a valid domain; using \"localhost\"; "
			    "set hostname");
			snprintf(name, sizeof(name), "localhost");
		}
		memcpy(config->hostname, name, strlen(name) + 1);
	} else if (!normalise_domain(config->hostname)) {
		fatal("config: hostname \"%s\" passed its check but is not a domain",
		    config->hostname);
	}
	if (config->workers == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		config->workers = cores < 1 ? 1 : cores > 256 ? 256 : (unsigned)cores;
	}
}

/* smtpd_config_load - defaults, then the file (if path), then the overrides. */
bool
smtpd_config_load(const char *path, char *const *overrides, size_t override_count,
    struct smtpd_config *out, struct config_problem *problems, size_t max_problems,
    size_t *problem_count)
{
	bool ok = true;

	memset(out, 0, sizeof(*out));
	netprefix_set_init(&out->relay_clients);
	*problem_count = 0;
	apply_defaults(out);
	if (path != NULL && path[0] != '\0') {
		if (strlen(path) >= sizeof(out->path)) {
			problem_add(problems, max_problems, problem_count, 0, "", true,
			    "configuration file name too long");
			return false;
		}
		memcpy(out->path, path, strlen(path) + 1);
		ok = load_file(out, path, problems, max_problems, problem_count);
	}
	for (size_t i = 0; i < override_count; i++)
		if (!apply_override(out, overrides[i], i + 1, problems, max_problems,
		    problem_count))
			ok = false;
	finish(out, problems, max_problems, problem_count);
	return ok;
}

/* smtpd_config_free - release the lists; the struct may be loaded again afterwards. */
void
smtpd_config_free(struct smtpd_config *config)
{
	string_list_free(config->local_domains, config->local_domain_count);
	string_list_free(config->relay_domains, config->relay_domain_count);
	config->local_domains = config->relay_domains = NULL;
	config->local_domain_count = config->relay_domain_count = 0;
	netprefix_set_free(&config->relay_clients);
}

/* smtpd_config_problem_format - "FILE:LINE: key: message". */
int
smtpd_config_problem_format(const struct smtpd_config *config,
    const struct config_problem *problem, char *out, size_t out_size)
{
	char where[PATH_MAX + 16] = "";
	const char *severity = problem->fatal ? "" : "warning: ";
	int length;

	if (config->path[0] != '\0' && problem->line > 0)
		snprintf(where, sizeof(where), "%s:%u: ", config->path, problem->line);
	else if (config->path[0] != '\0')
		snprintf(where, sizeof(where), "%s: ", config->path);
	if (problem->key[0] != '\0')
		length = snprintf(out, out_size, "%s%s: %s%s", where, problem->key, severity,
		    problem->message);
	else
		length = snprintf(out, out_size, "%s%s%s", where, severity, problem->message);
	if (length < 0 || (size_t)length >= out_size)
		return -1;
	return length;
}

/* ---- domain matching ----------------------------------------------------------------- */

/* domain_copy - domain lower-cased without one trailing dot into out; false if too long. */
static bool
domain_copy(const char *domain, size_t length, char *out, size_t out_size)
{
	if (length > 1 && domain[length - 1] == '.')
		length--;
	if (length == 0 || length >= out_size || memchr(domain, '\0', length) != NULL)
		return false;
	for (size_t i = 0; i < length; i++)
		out[i] = (char)tolower((unsigned char)domain[i]);
	out[length] = '\0';
	return true;
}

/* smtpd_config_is_local_domain - exact match in local_domains. */
bool
smtpd_config_is_local_domain(const struct smtpd_config *config, const char *domain,
    size_t length)
{
	char name[SMTP_DOMAIN_MAX + 1];

	if (!domain_copy(domain, length, name, sizeof(name)))
		return false;
	for (size_t i = 0; i < config->local_domain_count; i++)
		if (strcmp(config->local_domains[i], name) == 0)
			return true;
	return false;
}

/* pattern_is_catch_all - "*", ".", or a ".parent" pattern whose parent is a single label
 * (a whole top-level domain): these would match most of the Internet. */
static bool
pattern_is_catch_all(const char *pattern)
{
	if (strcmp(pattern, "*") == 0 || strcmp(pattern, ".") == 0 || pattern[0] == '\0')
		return true;
	return pattern[0] == '.' && strchr(pattern + 1, '.') == NULL;
}

/* smtpd_config_is_relay_domain - exact match, or below a ".parent" entry; catch-all
 * patterns never match (lint refuses them; this is the second line of defence). */
bool
smtpd_config_is_relay_domain(const struct smtpd_config *config, const char *domain,
    size_t length)
{
	char name[SMTP_DOMAIN_MAX + 1];

	if (!domain_copy(domain, length, name, sizeof(name)))
		return false;
	size_t name_length = strlen(name);
	for (size_t i = 0; i < config->relay_domain_count; i++) {
		const char *pattern = config->relay_domains[i];
		if (pattern_is_catch_all(pattern))
			continue;
		if (pattern[0] != '.') {
			if (strcmp(pattern, name) == 0)
				return true;
			continue;
		}
		size_t pattern_length = strlen(pattern);
		if (name_length > pattern_length &&
		    strcmp(name + name_length - pattern_length, pattern) == 0)
			return true;
	}
	return false;
}

/* ---- lint ---------------------------------------------------------------------------- */

struct lint {
	const struct smtpd_config *config;
	struct config_problem *problems;
	size_t max_problems;
	size_t count;
};

static void lint_add(struct lint *lint, const char *key, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* lint_add - a problem with key, located at the line (or -o) that set key. */
static void
lint_add(struct lint *lint, const char *key, bool fatal, const char *fmt, ...)
{
	char message[sizeof(((struct config_problem *)0)->message)];
	const struct config_key *entry = smtpd_config_key_find(key);
	unsigned line = 0, override = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (entry != NULL) {
		size_t index = (size_t)(entry - smtpd_config_keys);
		line = lint->config->key_line[index];
		override = lint->config->key_override[index];
	}
	if (override != 0)
		problem_add(lint->problems, lint->max_problems, &lint->count, 0, key, fatal,
		    "%s (set by -o #%u)", message, override);
	else
		problem_add(lint->problems, lint->max_problems, &lint->count, line, key, fatal,
		    "%s", message);
}

/* lint_relay_clients - no prefix may cover a large part of the Internet. */
static void
lint_relay_clients(struct lint *lint)
{
	const struct netprefix_set *set = &lint->config->relay_clients;
	char text[NETPREFIX_TEXT_MAX];

	for (size_t i = 0; i < set->count; i++) {
		const struct netprefix *prefix = &set->items[i];
		unsigned length = prefix->length, fatal_below, warn_below;
		if (prefix->address.family == AF_INET6 && length >= V4_MAPPED_PREFIX &&
		    netaddr_is_v4_mapped(&prefix->address)) {
			length -= V4_MAPPED_PREFIX;
			fatal_below = LINT_V4_PREFIX_FATAL;
			warn_below = LINT_V4_PREFIX_WARN;
		} else if (prefix->address.family == AF_INET) {
			fatal_below = LINT_V4_PREFIX_FATAL;
			warn_below = LINT_V4_PREFIX_WARN;
		} else {
			fatal_below = LINT_V6_PREFIX_FATAL;
			warn_below = LINT_V6_PREFIX_WARN;
		}
		if (netprefix_format(prefix, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "?");
		if (length < fatal_below)
			lint_add(lint, "relay_clients", true, "%s is shorter than /%u: it would "
			    "let a large part of the Internet relay (open relay)", text,
			    fatal_below);
		else if (length < warn_below)
			lint_add(lint, "relay_clients", false, "%s is a large network (shorter "
			    "than /%u): every host in it may relay", text, warn_below);
	}
}

/* lint_domains - no catch-all relay pattern; no domain both local and relay. */
static void
lint_domains(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;

	for (size_t i = 0; i < config->relay_domain_count; i++)
		if (pattern_is_catch_all(config->relay_domains[i]))
			lint_add(lint, "relay_domains", true, "\"%s\" matches a whole top-level "
			    "domain or everything: that is an open relay",
			    config->relay_domains[i]);
	for (size_t i = 0; i < config->local_domain_count; i++) {
		const char *local = config->local_domains[i];
		if (smtpd_config_is_relay_domain(config, local, strlen(local)))
			lint_add(lint, "local_domains", true, "%s is also matched by "
			    "relay_domains: a domain is either local or relayed", local);
	}
}

/* listener_is_loopback - a listener only loopback clients can reach. */
static bool
listener_is_loopback(const struct smtpd_listener *listener)
{
	return netaddr_is_loopback(&listener->address);
}

/* address_is_unspecified - 0.0.0.0 or :: (every address of the host). */
static bool
address_is_unspecified(const struct netaddr *address)
{
	static const uint8_t zero[16];

	return memcmp(address->bytes, zero, sizeof(zero)) == 0;
}

/* lint_listeners - TLS and AUTH consistency, duplicates, loops to next_hop. */
static void
lint_listeners(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;
	bool have_tls = config->tls_cert[0] != '\0' && config->tls_key[0] != '\0';
	bool have_users = config->users[0] != '\0';
	char text[NETADDR_TEXT_MAX];

	for (size_t i = 0; i < config->listener_count; i++) {
		const struct smtpd_listener *listener = &config->listeners[i];
		if (netaddr_format(&listener->address, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "?");
		for (size_t j = 0; j < i; j++)
			if (config->listeners[j].port == listener->port &&
			    netaddr_equal(&config->listeners[j].address, &listener->address))
				lint_add(lint, "listen", true, "%s port %u is listed twice", text,
				    listener->port);
		if (listener->mode == LISTENER_SMTPS && !have_tls)
			lint_add(lint, "listen", true, "smtps listener %s:%u needs tls_cert and "
			    "tls_key", text, listener->port);
		if (listener->mode == LISTENER_SUBMISSION && !have_users)
			lint_add(lint, "listen", true, "submission listener %s:%u requires AUTH "
			    "but users is not set: it could accept no mail", text,
			    listener->port);
		if (have_users && !have_tls && listener->mode != LISTENER_SMTPS &&
		    !listener_is_loopback(listener))
			lint_add(lint, "listen", true, "AUTH is offered (users is set) on the "
			    "public plain-text listener %s:%u without tls_cert/tls_key: passwords "
			    "would cross the network in clear", text, listener->port);
	}
}

/* lint_next_hop - relay domains need a next hop; it must not be ourselves. */
static void
lint_next_hop(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;
	enum next_hop_protocol protocol;
	struct hostport host;
	char err[CONFIG_ERR_MAX];
	bool authorised = config->relay_clients.count > 0 || config->users[0] != '\0';

	if (config->next_hop[0] == '\0') {
		if (config->relay_domain_count > 0)
			lint_add(lint, "relay_domains", true, "relay domains need next_hop (direct "
			    "MX delivery would send their mail back to us, their MX)");
		if (authorised && !config->direct_mx)
			lint_add(lint, "next_hop", false, "authorised clients may send to other "
			    "domains but neither next_hop nor direct_mx is set: that mail will "
			    "bounce");
		return;
	}
	if (!smtpd_next_hop_parse(config->next_hop, &protocol, &host, err, sizeof(err))) {
		lint_add(lint, "next_hop", true, "%s", err);
		return;
	}
	if (!host.is_address)
		return;
	for (size_t i = 0; i < config->listener_count; i++) {
		const struct smtpd_listener *listener = &config->listeners[i];
		if (listener->port != host.port)
			continue;
		if (netaddr_equal(&listener->address, &host.address) ||
		    (address_is_unspecified(&listener->address) &&
		    listener->address.family == host.address.family))
			lint_add(lint, "next_hop", true, "next_hop %s is one of our own listeners: "
			    "mail would loop", config->next_hop);
	}
}

/* lint_tls - both files or none; readable PEM; the key matches; not expired. */
static void
lint_tls(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	FILE *file;

	if (config->tls_cert[0] == '\0' && config->tls_key[0] == '\0')
		return;
	if (config->tls_cert[0] == '\0' || config->tls_key[0] == '\0') {
		lint_add(lint, config->tls_cert[0] == '\0' ? "tls_cert" : "tls_key", true,
		    "tls_cert and tls_key must be set together");
		return;
	}
	if ((file = fopen(config->tls_cert, "r")) == NULL) {
		lint_add(lint, "tls_cert", true, "cannot read %s: %s", config->tls_cert,
		    strerror(errno));
	} else {
		cert = PEM_read_X509(file, NULL, NULL, NULL);
		fclose(file);
		if (cert == NULL)
			lint_add(lint, "tls_cert", true, "%s holds no PEM certificate",
			    config->tls_cert);
	}
	if ((file = fopen(config->tls_key, "r")) == NULL) {
		lint_add(lint, "tls_key", true, "cannot read %s: %s", config->tls_key,
		    strerror(errno));
	} else {
		key = PEM_read_PrivateKey(file, NULL, NULL, NULL);
		fclose(file);
		if (key == NULL)
			lint_add(lint, "tls_key", true, "%s holds no PEM private key (or it is "
			    "encrypted)", config->tls_key);
	}
	if (cert != NULL && key != NULL && X509_check_private_key(cert, key) != 1)
		lint_add(lint, "tls_key", true, "%s does not match the certificate in %s",
		    config->tls_key, config->tls_cert);
	if (cert != NULL && X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		lint_add(lint, "tls_cert", false, "the certificate in %s has expired",
		    config->tls_cert);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* parent_exists - the directory that would hold path exists. */
static bool
parent_exists(const char *path)
{
	char parent[PATH_MAX];
	struct stat st;
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return true;
	if (slash == path)
		return true;
	size_t length = (size_t)(slash - path);
	if (length >= sizeof(parent))
		return false;
	memcpy(parent, path, length);
	parent[length] = '\0';
	return stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
}

/* lint_paths - queue_dir, maildir and users. */
static void
lint_paths(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;
	struct stat st;
	char err[CONFIG_ERR_MAX];

	if (config->chroot[0] != '\0') {
		size_t root = strlen(config->chroot);
		while (root > 1 && config->chroot[root - 1] == '/')
			root--;
		if (config->chroot[0] != '/' || stat(config->chroot, &st) != 0 ||
		    !S_ISDIR(st.st_mode))
			lint_add(lint, "chroot", true, "%s is not an existing absolute directory",
			    config->chroot);
		else if (strncmp(config->queue_dir, config->chroot, root) != 0 ||
		    config->queue_dir[root] != '/')
			lint_add(lint, "chroot", true, "queue_dir %s is not inside %s",
			    config->queue_dir, config->chroot);
		else if (config->maildir[0] != '\0' &&
		    (strncmp(config->maildir, config->chroot, root) != 0 ||
		    config->maildir[root] != '/'))
			lint_add(lint, "chroot", true, "maildir %s is not inside %s",
			    config->maildir, config->chroot);
	}
	if (config->queue_dir[0] == '\0') {
		lint_add(lint, "queue_dir", true, "queue_dir is not set");
	} else if (stat(config->queue_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			lint_add(lint, "queue_dir", true, "%s is not a directory",
			    config->queue_dir);
	} else if (!parent_exists(config->queue_dir)) {
		lint_add(lint, "queue_dir", true, "neither %s nor its parent directory exists",
		    config->queue_dir);
	}
	if (config->local_domain_count > 0 && config->maildir[0] == '\0')
		lint_add(lint, "maildir", true, "local_domains are set but maildir is not: "
		    "local mail has nowhere to go");
	if (config->maildir[0] != '\0' && (stat(config->maildir, &st) != 0 ||
	    !S_ISDIR(st.st_mode)))
		lint_add(lint, "maildir", false, "%s is not an existing directory",
		    config->maildir);
	if (config->users[0] != '\0') {
		struct user_table *users = user_table_load(config->users, err, sizeof(err));
		if (users == NULL)
			lint_add(lint, "users", true, "%s", err);
		user_table_free(users);
	}
}

/* lint_limits - timeouts, retries and connection limits that contradict each other. */
static void
lint_limits(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;
	long total_weight = 0;

	if (config->retry_min_ms > config->retry_max_ms)
		lint_add(lint, "retry_min", true, "retry_min is longer than retry_max");
	if (config->retry_max_ms > config->queue_lifetime_ms)
		lint_add(lint, "retry_max", false, "retry_max is longer than queue_lifetime: "
		    "mail may be bounced after a single retry");
	if (config->command_timeout_ms < RFC5321_SERVER_TIMEOUT_MS)
		lint_add(lint, "command_timeout", false, "shorter than the 5 minutes of "
		    "RFC 5321 4.5.3.2.7: slow but correct clients may be cut off");
	if (config->max_connections_per_client > config->max_connections)
		lint_add(lint, "max_connections_per_client", false, "larger than "
		    "max_connections");
	for (size_t i = 0; i < config->dnsbl_count; i++)
		total_weight += config->dnsbl[i].weight;
	if (config->dnsbl_count > 0 && total_weight < config->dnsbl_threshold)
		lint_add(lint, "dnsbl_threshold", false, "the dnsbl weights add up to %ld, less "
		    "than dnsbl_threshold %d: no client can ever be refused", total_weight,
		    config->dnsbl_threshold);
}

/* lint_general - policy options and mail that nobody could send. */
static void
lint_general(struct lint *lint)
{
	const struct smtpd_config *config = lint->config;

	if (config->allow_routed_local_parts)
		lint_add(lint, "allow_routed_local_parts", false, "local parts with %%, ! or @ "
		    "are accepted for our domains: make sure no host behind us routes them");
	if (config->local_domain_count == 0 && config->relay_domain_count == 0 &&
	    config->relay_clients.count == 0 && config->users[0] == '\0')
		lint_add(lint, "local_domains", false, "no local_domains, relay_domains, "
		    "relay_clients or users: every recipient will be refused");
	if (strchr(config->hostname, '.') == NULL)
		lint_add(lint, "hostname", false, "\"%s\" is not a fully qualified domain name",
		    config->hostname);
	if (getpwnam(config->user) == NULL)
		lint_add(lint, "user", false, "no such user \"%s\" (needed when started as "
		    "root)", config->user);
}

/* smtpd_config_lint - every rule of relayguard.conf(5), LINT RULES. */
size_t
smtpd_config_lint(const struct smtpd_config *config, struct config_problem *problems,
    size_t max_problems)
{
	struct lint lint = { config, problems, max_problems, 0 };

	lint_relay_clients(&lint);
	lint_domains(&lint);
	lint_listeners(&lint);
	lint_next_hop(&lint);
	lint_tls(&lint);
	lint_paths(&lint);
	lint_limits(&lint);
	lint_general(&lint);
	return lint.count;
}
