/* users.h - the users file: "local@domain[:crypt-hash]" lines, the local mailboxes and the
 * accounts allowed to AUTH. Loaded once; lookups and password checks are thread-safe. */
#ifndef RELAYGUARD_SMTPD_USERS_H
#define RELAYGUARD_SMTPD_USERS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest "local@domain" key (64 + 1 + 255) and its NUL. */
#define USER_NAME_MAX 321

struct user_table;

/* user_table_load - read path: one "local@domain" or "local@domain:HASH" per line (HASH a
 * crypt(3) string such as "$y$..." or "$2b$..."; no HASH: a mailbox that cannot log in),
 * '#' comments and blank lines allowed. Names compare case-insensitively (stored lower-case).
 * NULL on failure with "FILE:LINE: reason" (or "FILE: reason") in err. */
struct user_table *user_table_load(const char *path, char *err, size_t err_size);
void user_table_free(struct user_table *table);
/* user_table_count - how many users the file holds. */
size_t user_table_count(const struct user_table *table);
/* user_table_find - the hash of local@domain ("" when its line has none), or NULL when there
 * is no such user. local and domain: any case; a trailing dot on domain is ignored. */
const char *user_table_find(const struct user_table *table, const char *local,
    const char *domain);
/* user_table_authenticate - true when username ("local@domain", any case) has a hash and
 * password matches it (crypt_r). Unknown users cost one crypt too (no timing oracle).
 * Names or passwords holding NUL bytes never match. */
bool user_table_authenticate(const struct user_table *table, const char *username,
    size_t username_length, const char *password, size_t password_length);
/* user_table_can_authenticate - true when at least one user has a hash. */
bool user_table_can_authenticate(const struct user_table *table);

#endif
