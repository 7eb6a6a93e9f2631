/* relay_policy.c - decide, for one RCPT, local delivery, forwarding, outbound or refusal.
 * Called by the session for every RCPT; must never accept a foreign domain for a client that
 * is neither in relay_clients nor authenticated, whatever the configuration says. */
#include "smtpd/relay_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/smtp_path.h"
#include "smtpd/users.h"

/* Shortest relay_clients prefixes honoured (shorter ones are ignored; lint refuses them). */
#define POLICY_V4_PREFIX_MIN 8
#define POLICY_V6_PREFIX_MIN 32
#define V4_MAPPED_PREFIX 96
/* The mailbox every SMTP server must have (RFC 5321 4.5.1). */
#define POSTMASTER "postmaster"
/* Mailbox text in replies: a quoted 64-octet local part, '@' and a 255-octet domain. */
#define MAILBOX_TEXT_MAX (2 * 64 + 2 + 1 + 255 + 1)

struct relay_policy {
	/* a private copy: the domain lists and relay_clients are filtered copies */
	struct smtpd_config config;
	struct user_table *users;	/* NULL: no users file, look at the Maildir tree */
	struct netaddr *own;
	size_t own_count;
};

/* Where a recipient's domain points. */
enum destination {
	DESTINATION_FOREIGN,
	DESTINATION_LOCAL,		/* one of local_domains */
	DESTINATION_OWN_LITERAL,	/* [one of our addresses]: local, as the host name */
	DESTINATION_RELAY,		/* one of relay_domains */
};

/* prefix_is_too_wide - shorter than /8 (IPv4, also IPv4-mapped) or /32 (IPv6). */
static bool
prefix_is_too_wide(const struct netprefix *prefix)
{
	if (prefix->address.family == AF_INET)
		return prefix->length < POLICY_V4_PREFIX_MIN;
	if (prefix->length >= V4_MAPPED_PREFIX && netaddr_is_v4_mapped(&prefix->address))
		return prefix->length - V4_MAPPED_PREFIX < POLICY_V4_PREFIX_MIN;
	return prefix->length < POLICY_V6_PREFIX_MIN;
}

/* pattern_is_catch_all - "*", "." or a bare top-level domain pattern such as ".com". */
static bool
pattern_is_catch_all(const char *pattern)
{
	if (strcmp(pattern, "*") == 0 || strcmp(pattern, ".") == 0 || pattern[0] == '\0')
		return true;
	return pattern[0] == '.' && strchr(pattern + 1, '.') == NULL;
}

/* copy_domains - a copy of list, without the catch-all patterns when filter is set. */
static char **
copy_domains(char *const *list, size_t count, bool filter, size_t *out_count)
{
	char **copy = count > 0 ? xcalloc(count, sizeof(*copy)) : NULL;
	size_t kept = 0;

	for (size_t i = 0; i < count; i++) {
		if (filter && pattern_is_catch_all(list[i])) {
			log_warn("event=relay_policy_ignored key=relay_domains value=\"%s\" "
			    "reason=catch-all", list[i]);
			continue;
		}
		copy[kept++] = xstrdup(list[i]);
	}
	*out_count = kept;
	return copy;
}

/* address_is_unspecified - 0.0.0.0 or :: */
static bool
address_is_unspecified(const struct netaddr *address)
{
	static const uint8_t zero[16];

	return memcmp(address->bytes, zero, sizeof(zero)) == 0;
}

/* relay_policy_new - copy what the decisions need; load the users file. */
struct relay_policy *
relay_policy_new(const struct smtpd_config *config, const struct netaddr *own_addresses,
    size_t own_count)
{
	struct relay_policy *policy = xcalloc(1, sizeof(*policy));
	char err[512], text[NETPREFIX_TEXT_MAX];

	memcpy(&policy->config, config, sizeof(*config));
	policy->config.local_domains = copy_domains(config->local_domains,
	    config->local_domain_count, false, &policy->config.local_domain_count);
	policy->config.relay_domains = copy_domains(config->relay_domains,
	    config->relay_domain_count, true, &policy->config.relay_domain_count);
	netprefix_set_init(&policy->config.relay_clients);
	for (size_t i = 0; i < config->relay_clients.count; i++) {
		const struct netprefix *prefix = &config->relay_clients.items[i];
		if (prefix_is_too_wide(prefix)) {
			if (netprefix_format(prefix, text, sizeof(text)) < 0)
				snprintf(text, sizeof(text), "?");
			log_warn("event=relay_policy_ignored key=relay_clients value=%s "
			    "reason=too-wide", text);
			continue;
		}
		netprefix_set_add(&policy->config.relay_clients, prefix);
	}
	policy->own = own_count > 0 ? xcalloc(own_count, sizeof(*policy->own)) : NULL;
	for (size_t i = 0; i < own_count; i++) {
		struct netaddr address = own_addresses[i];
		netaddr_unmap(&address);
		if (!address_is_unspecified(&address))
			policy->own[policy->own_count++] = address;
	}
	if (config->users[0] != '\0') {
		policy->users = user_table_load(config->users, err, sizeof(err));
		if (policy->users == NULL) {
			char shown[600];
			log_error("event=users_load_failed error=%s",
			    log_escape(err, strlen(err), shown, sizeof(shown)));
			relay_policy_free(policy);
			return NULL;
		}
	}
	return policy;
}

/* relay_policy_free - and its copies. */
void
relay_policy_free(struct relay_policy *policy)
{
	if (policy == NULL)
		return;
	smtpd_config_free(&policy->config);
	user_table_free(policy->users);
	free(policy->own);
	free(policy);
}

/* literal_is_ours - the address literal names one of our listening addresses. */
static bool
literal_is_ours(const struct relay_policy *policy, const struct netaddr *literal)
{
	struct netaddr address = *literal;

	netaddr_unmap(&address);
	for (size_t i = 0; i < policy->own_count; i++)
		if (netaddr_equal(&policy->own[i], &address))
			return true;
	return false;
}

/* destination_of - where recipient's (non-empty) domain points. */
static enum destination
destination_of(const struct relay_policy *policy, const struct smtp_mailbox *recipient)
{
	size_t length = strlen(recipient->domain);

	if (recipient->domain_literal)
		return literal_is_ours(policy, &recipient->literal) ? DESTINATION_OWN_LITERAL :
		    DESTINATION_FOREIGN;
	if (smtpd_config_is_local_domain(&policy->config, recipient->domain, length))
		return DESTINATION_LOCAL;
	if (smtpd_config_is_relay_domain(&policy->config, recipient->domain, length))
		return DESTINATION_RELAY;
	return DESTINATION_FOREIGN;
}

/* local_part_is_routed - Postfix's rule: %, ! or @ (after unquoting), or quotes at all. */
static bool
local_part_is_routed(const struct smtp_mailbox *recipient)
{
	return recipient->local_quoted || strpbrk(recipient->local, "%!@") != NULL;
}

/* is_postmaster - the reserved mailbox, any case, unquoted. */
static bool
is_postmaster(const struct smtp_mailbox *recipient)
{
	return !recipient->local_quoted && strcasecmp(recipient->local, POSTMASTER) == 0;
}

/* lower_copy - text lower-cased into out (trailing dot dropped); false if it does not fit. */
static bool
lower_copy(const char *text, char *out, size_t out_size)
{
	size_t length = strlen(text);

	if (length > 1 && text[length - 1] == '.')
		length--;
	if (length >= out_size)
		return false;
	for (size_t i = 0; i < length; i++)
		out[i] = (char)tolower((unsigned char)text[i]);
	out[length] = '\0';
	return true;
}

/* maildir_has_user - MAILDIR/domain/local is a directory (names lower-cased; a local part
 * that could escape the tree, such as "..", "a/b" or ".x", never exists). */
static bool
maildir_has_user(const struct relay_policy *policy, const char *domain, const char *local)
{
	char lower_local[SMTP_LOCAL_PART_MAX + 1], lower_domain[SMTP_DOMAIN_MAX + 1];
	char path[PATH_MAX];
	struct stat st;

	if (policy->config.maildir[0] == '\0' || local[0] == '\0' || local[0] == '.' ||
	    strchr(local, '/') != NULL || strchr(domain, '/') != NULL || domain[0] == '.')
		return false;
	if (!lower_copy(local, lower_local, sizeof(lower_local)) ||
	    !lower_copy(domain, lower_domain, sizeof(lower_domain)))
		return false;
	int length = snprintf(path, sizeof(path), "%s/%s/%s", policy->config.maildir,
	    lower_domain, lower_local);
	if (length < 0 || (size_t)length >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* user_exists - postmaster always; else the users file, else the Maildir tree. */
static bool
user_exists(const struct relay_policy *policy, const char *domain,
    const struct smtp_mailbox *recipient)
{
	if (is_postmaster(recipient))
		return true;
	if (policy->users != NULL)
		return user_table_find(policy->users, recipient->local, domain) != NULL;
	return maildir_has_user(policy, domain, recipient->local);
}

/* client_is_authorised - authenticated, or in relay_clients. */
static bool
client_is_authorised(const struct relay_policy *policy, const struct relay_client *client)
{
	return client->authenticated ||
	    netprefix_set_find(&policy->config.relay_clients, &client->address) != NULL;
}

/* reply_write - the SMTP reply line for a decision, naming the recipient. */
static void
reply_write(enum relay_decision decision, const struct smtp_mailbox *recipient, char *reply,
    size_t reply_size)
{
	char mailbox[MAILBOX_TEXT_MAX];
	const char *code, *message;

	if (reply == NULL || reply_size == 0)
		return;
	if (smtp_mailbox_format(recipient, mailbox, sizeof(mailbox)) < 0)
		snprintf(mailbox, sizeof(mailbox), "?");
	switch (decision) {
	case RELAY_LOCAL:
	case RELAY_FORWARD:
	case RELAY_OUTBOUND:
		code = "250 2.1.5";
		message = "recipient ok";
		break;
	case RELAY_DENIED:
		code = "554 5.7.1";
		message = "relay access denied";
		break;
	case RELAY_ROUTED:
		code = "553 5.7.1";
		message = "routed address refused (%, ! or @ or quotes in the local part)";
		break;
	case RELAY_UNKNOWN_USER:
		code = "550 5.1.1";
		message = "no such user here";
		break;
	case RELAY_NO_DOMAIN:
	default:
		code = "553 5.1.3";
		message = "recipient address needs a domain";
		break;
	}
	snprintf(reply, reply_size, "%s <%s>: %s", code, mailbox, message);
}

/* decide - relay_policy_decide without the reply. */
static enum relay_decision
decide(const struct relay_policy *policy, const struct relay_client *client,
    const struct smtp_mailbox *recipient)
{
	if (recipient->null)
		return RELAY_NO_DOMAIN;
	if (recipient->domain[0] == '\0')
		return is_postmaster(recipient) ? RELAY_LOCAL : RELAY_NO_DOMAIN;
	enum destination destination = destination_of(policy, recipient);
	if (destination != DESTINATION_FOREIGN && local_part_is_routed(recipient) &&
	    !policy->config.allow_routed_local_parts)
		return RELAY_ROUTED;
	switch (destination) {
	case DESTINATION_LOCAL:
		return user_exists(policy, recipient->domain, recipient) ? RELAY_LOCAL :
		    RELAY_UNKNOWN_USER;
	case DESTINATION_OWN_LITERAL:
		return user_exists(policy, policy->config.hostname, recipient) ? RELAY_LOCAL :
		    RELAY_UNKNOWN_USER;
	case DESTINATION_RELAY:
		return RELAY_FORWARD;
	case DESTINATION_FOREIGN:
		break;
	}
	return client_is_authorised(policy, client) ? RELAY_OUTBOUND : RELAY_DENIED;
}

/* relay_policy_decide - the decision and its reply line. */
enum relay_decision
relay_policy_decide(const struct relay_policy *policy, const struct relay_client *client,
    const struct smtp_mailbox *recipient, char *reply, size_t reply_size)
{
	enum relay_decision decision = decide(policy, client, recipient);

	reply_write(decision, recipient, reply, reply_size);
	return decision;
}

/* relay_policy_recipient_address - the queue's form of an accepted recipient. */
int
relay_policy_recipient_address(const struct relay_policy *policy,
    const struct smtp_mailbox *recipient, enum relay_decision decision, char *out,
    size_t out_size)
{
	char local[SMTP_LOCAL_PART_MAX + 1], domain[SMTP_DOMAIN_MAX + 1];
	int length;

	if (out_size == 0)
		return -1;
	out[0] = '\0';
	if (recipient->null)
		return -1;
	if (strlen(recipient->local) >= sizeof(local))
		return -1;
	memcpy(local, recipient->local, strlen(recipient->local) + 1);
	if (decision == RELAY_LOCAL && !lower_copy(recipient->local, local, sizeof(local)))
		return -1;
	if (recipient->domain[0] == '\0' ||
	    (recipient->domain_literal && literal_is_ours(policy, &recipient->literal))) {
		if (!lower_copy(policy->config.hostname, domain, sizeof(domain)))
			return -1;
	} else if (recipient->domain_literal) {
		memcpy(domain, recipient->domain, strlen(recipient->domain) + 1);
	} else if (!lower_copy(recipient->domain, domain, sizeof(domain))) {
		return -1;
	}
	length = smtp_mailbox_write(out, out_size, local, domain);
	if (length < 0)
		out[0] = '\0';
	return length;
}

/* relay_decision_name - the enum's name without the prefix. */
const char *
relay_decision_name(enum relay_decision decision)
{
	switch (decision) {
	case RELAY_LOCAL:
		return "LOCAL";
	case RELAY_FORWARD:
		return "FORWARD";
	case RELAY_OUTBOUND:
		return "OUTBOUND";
	case RELAY_DENIED:
		return "DENIED";
	case RELAY_ROUTED:
		return "ROUTED";
	case RELAY_UNKNOWN_USER:
		return "UNKNOWN_USER";
	case RELAY_NO_DOMAIN:
		return "NO_DOMAIN";
	}
	return "?";
}

/* relay_decision_accepts - the recipient gets a 250. */
bool
relay_decision_accepts(enum relay_decision decision)
{
	return decision == RELAY_LOCAL || decision == RELAY_FORWARD ||
	    decision == RELAY_OUTBOUND;
}
