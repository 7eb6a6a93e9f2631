/* test_users.c - unit tests of the users file (smtpd/users.h): load, find, authenticate.
 * Hashes are made at run time with libcrypt, so no password or hash is stored in the tree. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <crypt.h>

#include "smtpd/users.h"

#define HASH_MAX 256

struct fixture {
	char dir[64];
	char path[128];
	char yescrypt[HASH_MAX];	/* of "s3cret" */
	char sha512[HASH_MAX];		/* of "other pass" */
};

/* make_hash - a crypt(3) hash of password with a fresh salt of the given method prefix. */
static void
make_hash(const char *prefix, const char *password, char out[HASH_MAX])
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = calloc(1, sizeof(*data));

	assert_non_null(data);
	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)));
	const char *hash = crypt_r(password, setting, data);
	assert_non_null(hash);
	assert_true(strlen(hash) < HASH_MAX);
	memcpy(out, hash, strlen(hash) + 1);
	free(data);
}

/* write_file - replace the fixture's users file with text. */
static void
write_file(struct fixture *fixture, const char *text)
{
	FILE *file = fopen(fixture->path, "w");

	assert_non_null(file);
	assert_int_equal(fputs(text, file) >= 0, 1);
	assert_int_equal(fclose(file), 0);
}

static int
setup(void **state)
{
	struct fixture *fixture = calloc(1, sizeof(*fixture));

	snprintf(fixture->dir, sizeof(fixture->dir), "/tmp/relayguard-users-XXXXXX");
	if (mkdtemp(fixture->dir) == NULL)
		return -1;
	snprintf(fixture->path, sizeof(fixture->path), "%s/users", fixture->dir);
	make_hash("$y$", "s3cret", fixture->yescrypt);
	make_hash("$6$", "other pass", fixture->sha512);
	*state = fixture;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fixture = *state;

	unlink(fixture->path);
	rmdir(fixture->dir);
	free(fixture);
	return 0;
}

/* load_standard - alice (yescrypt), Bob (sha512, upper-case in the file), carol (no hash). */
static struct user_table *
load_standard(struct fixture *fixture)
{
	char text[1024], err[256];

	snprintf(text, sizeof(text),
	    "# local users\n"
	    "\n"
	    "alice@example.org:%s\n"
	    "  Bob@Example.ORG : %s  \n"
	    "carol@example.org\n"
	    "carol@mx.example.org:\n",
	    fixture->yescrypt, fixture->sha512);
	write_file(fixture, text);
	struct user_table *table = user_table_load(fixture->path, err, sizeof(err));
	assert_non_null(table);
	return table;
}

static void
test_users_file_lines_are_loaded(void **state)
{
	struct fixture *fixture = *state;
	struct user_table *table = load_standard(fixture);

	assert_int_equal(user_table_count(table), 4);
	assert_true(user_table_can_authenticate(table));
	assert_string_equal(user_table_find(table, "alice", "example.org"), fixture->yescrypt);
	assert_string_equal(user_table_find(table, "bob", "example.org"), fixture->sha512);
	user_table_free(table);
}

static void
test_user_without_hash_is_found_with_empty_hash(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_string_equal(user_table_find(table, "carol", "example.org"), "");
	assert_string_equal(user_table_find(table, "carol", "mx.example.org"), "");
	user_table_free(table);
}

static void
test_unknown_user_is_not_found(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_null(user_table_find(table, "dave", "example.org"));
	assert_null(user_table_find(table, "alice", "example.net"));
	assert_null(user_table_find(table, "alice", "mx.example.org"));
	assert_null(user_table_find(table, "", "example.org"));
	assert_null(user_table_find(table, "u%example.net", "example.org"));
	user_table_free(table);
}

static void
test_names_compare_case_insensitively(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_non_null(user_table_find(table, "ALICE", "Example.Org"));
	assert_non_null(user_table_find(table, "BOB", "example.org."));
	user_table_free(table);
}

static void
test_right_password_authenticates(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_true(user_table_authenticate(table, "alice@example.org", 17, "s3cret", 6));
	assert_true(user_table_authenticate(table, "bob@example.org", 15, "other pass", 10));
	assert_true(user_table_authenticate(table, "Alice@EXAMPLE.org", 17, "s3cret", 6));
	user_table_free(table);
}

static void
test_wrong_password_is_refused(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_false(user_table_authenticate(table, "alice@example.org", 17, "s3cre", 5));
	assert_false(user_table_authenticate(table, "alice@example.org", 17, "S3cret", 6));
	assert_false(user_table_authenticate(table, "alice@example.org", 17, "", 0));
	assert_false(user_table_authenticate(table, "alice@example.org", 17, "other pass", 10));
	user_table_free(table);
}

static void
test_unknown_or_hashless_user_cannot_authenticate(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_false(user_table_authenticate(table, "dave@example.org", 16, "s3cret", 6));
	assert_false(user_table_authenticate(table, "carol@example.org", 17, "", 0));
	assert_false(user_table_authenticate(table, "carol@example.org", 17, "s3cret", 6));
	assert_false(user_table_authenticate(table, "alice", 5, "s3cret", 6));
	user_table_free(table);
}

/* The password is bounded by its length, not by a NUL: "s3cret\0x" is not "s3cret". */
static void
test_nul_bytes_never_match(void **state)
{
	struct user_table *table = load_standard(*state);

	assert_false(user_table_authenticate(table, "alice@example.org", 17, "s3cret\0x", 8));
	assert_false(user_table_authenticate(table, "alice@example.org\0x", 19, "s3cret", 6));
	user_table_free(table);
}

static void
test_table_without_hashes_cannot_authenticate(void **state)
{
	struct fixture *fixture = *state;
	char err[256];

	write_file(fixture, "alice@example.org\n");
	struct user_table *table = user_table_load(fixture->path, err, sizeof(err));
	assert_non_null(table);
	assert_false(user_table_can_authenticate(table));
	assert_false(user_table_authenticate(table, "alice@example.org", 17, "", 0));
	user_table_free(table);
}

/* load_error - the error of loading text (which must fail). */
static void
expect_load_error(struct fixture *fixture, const char *text, const char *expected)
{
	char err[256];

	write_file(fixture, text);
	assert_null(user_table_load(fixture->path, err, sizeof(err)));
	assert_non_null(strstr(err, expected));
}

static void
test_bad_lines_are_refused_with_their_line_number(void **state)
{
	struct fixture *fixture = *state;
	char line3[192];

	snprintf(line3, sizeof(line3), "%s:3: expected local@domain", fixture->path);
	expect_load_error(fixture, "alice@example.org\n# ok\nnodomain\n", line3);
	expect_load_error(fixture, "a b@example.org\n", ":1: expected local@domain");
	expect_load_error(fixture, "alice@-bad-.org\n", ":1: expected local@domain");
	expect_load_error(fixture, "\"quoted\"@example.org\n", ":1: expected local@domain");
}

static void
test_weak_or_malformed_hash_is_refused(void **state)
{
	struct fixture *fixture = *state;

	expect_load_error(fixture, "alice@example.org:abJnggxhB/yWI\n", ":1: unsupported");
	expect_load_error(fixture, "alice@example.org:plaintext\n", ":1: unsupported");
}

static void
test_duplicate_user_is_refused(void **state)
{
	expect_load_error(*state, "alice@example.org\nALICE@example.org\n",
	    ":2: alice@example.org is listed twice");
}

static void
test_missing_file_is_reported(void **state)
{
	char err[256];

	(void)state;
	assert_null(user_table_load("/nonexistent/relayguard-users", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/relayguard-users: "));
}

static void
test_overlong_line_is_refused(void **state)
{
	struct fixture *fixture = *state;
	char text[3000];

	memset(text, 'a', 2000);
	memcpy(text + 2000, "@example.org\n", 14);
	expect_load_error(fixture, text, ":1: line longer than");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_users_file_lines_are_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_without_hash_is_found_with_empty_hash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user_is_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_compare_case_insensitively, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_right_password_authenticates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_password_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_or_hashless_user_cannot_authenticate,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_bytes_never_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_without_hashes_cannot_authenticate,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines_are_refused_with_their_line_number,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_weak_or_malformed_hash_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_user_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_line_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
