/* users.c - the users file: local mailboxes and AUTH accounts with crypt(3) hashes.
 * Loaded once at start (and by lint); lookups are read-only and thread-safe (crypt_r with a
 * per-call buffer). Never logs or returns a password; only the loader touches the disk. */
#include "smtpd/users.h"

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/smtp_path.h"

/* Longest line of the users file: a name, ':' and a generous crypt string. */
#define USER_LINE_MAX 1024

struct user_entry {
	char *name;	/* "local@domain", lower-case */
	char *hash;	/* "" when the user cannot log in */
};

struct user_table {
	struct user_entry *entries;
	size_t count;
	char *dummy_hash;	/* a real hash to spend the same time on unknown users */
};

/* user_name_key - "local@domain" lower-cased, a trailing dot on domain dropped; false when
 * it is not a plausible mailbox name (Dot-string local part, valid domain). */
static bool
user_name_key(const char *local, size_t local_length, const char *domain,
    size_t domain_length, char out[USER_NAME_MAX])
{
	if (domain_length > 1 && domain[domain_length - 1] == '.')
		domain_length--;
	if (local_length == 0 || local_length > SMTP_LOCAL_PART_MAX ||
	    !smtp_domain_is_valid(domain, domain_length) ||
	    smtp_local_part_needs_quoting(local, local_length))
		return false;
	for (size_t i = 0; i < local_length; i++)
		out[i] = (char)tolower((unsigned char)local[i]);
	out[local_length] = '@';
	for (size_t i = 0; i < domain_length; i++)
		out[local_length + 1 + i] = (char)tolower((unsigned char)domain[i]);
	out[local_length + 1 + domain_length] = '\0';
	return true;
}

/* split_name_key - user_name_key for "local@domain" text (the last '@' splits). */
static bool
split_name_key(const char *name, size_t length, char out[USER_NAME_MAX])
{
	const char *at = NULL;

	for (size_t i = 0; i < length; i++)
		if (name[i] == '@')
			at = name + i;
	if (at == NULL)
		return false;
	return user_name_key(name, (size_t)(at - name), at + 1,
	    length - (size_t)(at - name) - 1, out);
}

/* entry_compare - qsort/bsearch order of entries by name. */
static int
entry_compare(const void *a, const void *b)
{
	const struct user_entry *left = a, *right = b;

	return strcmp(left->name, right->name);
}

/* hash_is_supported - a modern crypt(3) string ("$id$..."), printable, no blanks. */
static bool
hash_is_supported(const char *hash)
{
	if (hash[0] != '$')
		return false;
	for (const char *p = hash; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p) || *p == ':')
			return false;
	return strlen(hash) > 3;
}

/* trim - drop surrounding blanks (and the line end) in place. */
static char *
trim(char *text)
{
	size_t length;

	while (*text == ' ' || *text == '\t')
		text++;
	length = strlen(text);
	while (length > 0 && isspace((unsigned char)text[length - 1]))
		text[--length] = '\0';
	return text;
}

/* user_table_free - everything, including the hashes. */
void
user_table_free(struct user_table *table)
{
	if (table == NULL)
		return;
	for (size_t i = 0; i < table->count; i++) {
		free(table->entries[i].name);
		free(table->entries[i].hash);
	}
	free(table->entries);
	free(table->dummy_hash);
	free(table);
}

/* parse_line - one non-comment line into entry; false and a reason in err. */
static bool
parse_line(char *line, struct user_entry *entry, char *err, size_t err_size)
{
	char key[USER_NAME_MAX];
	char *colon = strchr(line, ':');
	const char *hash = "";

	if (colon != NULL) {
		*colon = '\0';
		hash = trim(colon + 1);
	}
	char *name = trim(line);
	if (!split_name_key(name, strlen(name), key)) {
		snprintf(err, err_size, "expected local@domain[:hash]");
		return false;
	}
	if (hash[0] != '\0' && !hash_is_supported(hash)) {
		/* The message may be cut short; err is always terminated. */
		if (snprintf(err, err_size, "unsupported password hash for %s (use crypt(3) "
		    "\"$y$...\", \"$2b$...\" or \"$6$...\")", key) >= (int)err_size)
			log_debug("event=message_truncated where=users");
		return false;
	}
	entry->name = xstrdup(key);
	entry->hash = xstrdup(hash);
	return true;
}

/* user_table_load - read the whole file; NULL and "FILE:LINE: reason" on any bad line. */
struct user_table *
user_table_load(const char *path, char *err, size_t err_size)
{
	char line[USER_LINE_MAX + 2], reason[256];
	unsigned line_number = 0;
	FILE *file = fopen(path, "r");

	if (file == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct user_table *table = xcalloc(1, sizeof(*table));
	while (fgets(line, sizeof(line), file) != NULL) {
		line_number++;
		size_t length = strlen(line);
		if (length > USER_LINE_MAX ||
		    (length > 0 && line[length - 1] != '\n' && !feof(file))) {
			snprintf(err, err_size, "%s:%u: line longer than %d bytes (or a NUL "
			    "byte)", path, line_number, USER_LINE_MAX);
			goto fail;
		}
		char *text = trim(line);
		if (text[0] == '\0' || text[0] == '#')
			continue;
		struct user_entry entry;
		if (!parse_line(text, &entry, reason, sizeof(reason))) {
			snprintf(err, err_size, "%s:%u: %s", path, line_number, reason);
			goto fail;
		}
		for (size_t i = 0; i < table->count; i++) {
			if (strcmp(table->entries[i].name, entry.name) == 0) {
				snprintf(err, err_size, "%s:%u: %s is listed twice", path,
				    line_number, entry.name);
				free(entry.name);
				free(entry.hash);
				goto fail;
			}
		}
		table->entries = xrealloc(table->entries,
		    (table->count + 1) * sizeof(*table->entries));
		table->entries[table->count++] = entry;
		if (table->dummy_hash == NULL && entry.hash[0] != '\0')
			table->dummy_hash = xstrdup(entry.hash);
	}
	if (ferror(file)) {
		snprintf(err, err_size, "%s: read error", path);
		goto fail;
	}
	fclose(file);
	if (table->count > 0)
		qsort(table->entries, table->count, sizeof(*table->entries), entry_compare);
	return table;
fail:
	fclose(file);
	user_table_free(table);
	return NULL;
}

/* user_table_count - how many users. */
size_t
user_table_count(const struct user_table *table)
{
	return table->count;
}

/* user_table_can_authenticate - at least one user has a hash. */
bool
user_table_can_authenticate(const struct user_table *table)
{
	return table->dummy_hash != NULL;
}

/* entry_find - the entry for a normalised key, or NULL. */
static const struct user_entry *
entry_find(const struct user_table *table, const char *key)
{
	struct user_entry probe = { (char *)key, NULL };

	if (table->count == 0)
		return NULL;
	return bsearch(&probe, table->entries, table->count, sizeof(*table->entries),
	    entry_compare);
}

/* user_table_find - hash ("" for none) of local@domain, NULL when unknown. */
const char *
user_table_find(const struct user_table *table, const char *local, const char *domain)
{
	char key[USER_NAME_MAX];

	if (!user_name_key(local, strlen(local), domain, strlen(domain), key))
		return NULL;
	const struct user_entry *entry = entry_find(table, key);
	return entry == NULL ? NULL : entry->hash;
}

/* equal_in_constant_time - compare two strings of the same length without an early exit. */
static bool
equal_in_constant_time(const char *a, const char *b, size_t length)
{
	unsigned char difference = 0;

	for (size_t i = 0; i < length; i++)
		difference |= (unsigned char)(a[i] ^ b[i]);
	return difference == 0;
}

/* user_table_authenticate - crypt_r the password with the user's hash as setting. */
bool
user_table_authenticate(const struct user_table *table, const char *username,
    size_t username_length, const char *password, size_t password_length)
{
	char key[USER_NAME_MAX];
	const struct user_entry *entry = NULL;
	bool ok = false;

	if (table->dummy_hash == NULL)
		return false;
	if (memchr(username, '\0', username_length) == NULL &&
	    split_name_key(username, username_length, key))
		entry = entry_find(table, key);
	const char *setting = entry != NULL && entry->hash[0] != '\0' ? entry->hash :
	    table->dummy_hash;
	struct crypt_data *data = xcalloc(1, sizeof(*data));
	char *secret = xmalloc(password_length + 1);
	memcpy(secret, password, password_length);
	secret[password_length] = '\0';
	const char *result = crypt_r(secret, setting, data);
	if (result != NULL && result[0] != '*' && strlen(result) == strlen(setting) &&
	    equal_in_constant_time(result, setting, strlen(setting)))
		ok = true;
	explicit_bzero(secret, password_length + 1);
	explicit_bzero(data, sizeof(*data));
	free(secret);
	free(data);
	return ok && entry != NULL && entry->hash[0] != '\0' &&
	    memchr(password, '\0', password_length) == NULL;
}
