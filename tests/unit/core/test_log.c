/* test_log.c - unit tests of the logging and allocation API (core/log.h), log_escape first.
 * Log lines are caught by pointing stderr at a temp file; fatal() runs in a child process. */
#include <fcntl.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

#define OUT_SIZE 256
#define CAPTURE_SIZE 4096

/* escape - log_escape of a C string into out. */
static const char *
escape(const char *text, char *out, size_t out_size)
{
	return log_escape(text, strlen(text), out, out_size);
}

/* stderr_capture_start - send stderr to a fresh temp file; returns the saved stderr fd. */
static int
stderr_capture_start(int *file_fd)
{
	char path[] = "/tmp/relayguard-log-XXXXXX";
	int saved;

	*file_fd = mkstemp(path);
	assert_true(*file_fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(*file_fd, STDERR_FILENO) >= 0);
	return saved;
}

/* stderr_capture_stop - restore stderr and read what was written into out. */
static void
stderr_capture_stop(int saved, int file_fd, char *out, size_t out_size)
{
	ssize_t got;

	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_true(lseek(file_fd, 0, SEEK_SET) == 0);
	got = read(file_fd, out, out_size - 1);
	assert_true(got >= 0);
	out[got] = '\0';
	close(file_fd);
}

static void
test_plain_text_is_copied_unquoted(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(escape("mail.example.com", out, sizeof(out)), "mail.example.com");
}

static void
test_escape_returns_its_output_buffer(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_ptr_equal(escape("x", out, sizeof(out)), out);
}

static void
test_text_with_space_is_quoted(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(escape("550 Relaying denied", out, sizeof(out)),
	    "\"550 Relaying denied\"");
}

static void
test_empty_text_is_two_quotes(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(log_escape("", 0, out, sizeof(out)), "\"\"");
}

/* An unquoted '=' would make the value look like another key=value pair. */
static void
test_equals_sign_forces_quotes(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(escape("a=b", out, sizeof(out)), "\"a=b\"");
}

static void
test_quotes_and_backslashes_are_escaped(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(escape("say \"hi\"", out, sizeof(out)), "\"say \\\"hi\\\"\"");
	assert_string_equal(escape("a\\b", out, sizeof(out)), "a\\\\b");
}

/* A client must not be able to forge a second log line. */
static void
test_control_bytes_are_hex_escaped(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(escape("a\r\nlevel=error", out, sizeof(out)),
	    "\"a\\x0d\\x0alevel=error\"");
	assert_string_equal(escape("\x1b[31m", out, sizeof(out)), "\"\\x1b[31m\"");
	assert_string_equal(escape("del\x7f", out, sizeof(out)), "\"del\\x7f\"");
}

static void
test_non_ascii_bytes_are_hex_escaped(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(escape("caf\xc3\xa9", out, sizeof(out)), "\"caf\\xc3\\xa9\"");
}

static void
test_nul_inside_the_given_length_is_escaped(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_string_equal(log_escape("a\0b", 3, out, sizeof(out)), "\"a\\x00b\"");
}

static void
test_long_unquoted_text_is_truncated_to_fit(void **state)
{
	char out[8];

	(void)state;
	assert_string_equal(escape("abcdefghijkl", out, sizeof(out)), "abcdefg");
}

static void
test_truncated_quoted_text_keeps_its_closing_quote(void **state)
{
	char out[8];

	(void)state;
	assert_string_equal(escape("a b c d e", out, sizeof(out)), "\"a b c\"");
}

static void
test_escape_sequence_is_never_split(void **state)
{
	char out[7];

	(void)state;
	/* "\"a\\x01\"" needs 7 bytes and the NUL: the escape is dropped whole. */
	assert_string_equal(escape("a\x01", out, sizeof(out)), "\"a\"");
	assert_string_equal(escape("a\"", out, sizeof(out)), "\"a\\\"\"");
}

static void
test_tiny_buffers_get_empty_strings(void **state)
{
	char out[3];

	(void)state;
	memset(out, 'z', sizeof(out));
	assert_string_equal(escape("abc", out, 1), "");
	memset(out, 'z', sizeof(out));
	assert_string_equal(escape("abc", out, 2), "");
	assert_string_equal(escape("abc", out, 3), "ab");
	assert_string_equal(escape("a b", out, 3), "\"\"");
	/* A zero-sized buffer is not touched at all. */
	memset(out, 'z', sizeof(out));
	log_escape("abc", 3, out, 0);
	assert_int_equal(out[0], 'z');
}

static void
test_info_line_has_program_level_and_body(void **state)
{
	char captured[CAPTURE_SIZE];
	int file_fd;
	int saved;

	(void)state;
	log_init("relayguard-test", LOG_SINK_STDERR, LOG_LEVEL_INFO);
	saved = stderr_capture_start(&file_fd);
	log_info("event=probe_done target=%s", "192.0.2.1");
	stderr_capture_stop(saved, file_fd, captured, sizeof(captured));
	assert_non_null(strstr(captured, " relayguard-test level=info event=probe_done "
	    "target=192.0.2.1\n"));
	assert_int_equal(strchr(captured, '\n') - captured + 1, (long)strlen(captured));
}

static void
test_lines_below_the_minimum_level_are_dropped(void **state)
{
	char captured[CAPTURE_SIZE];
	int file_fd;
	int saved;

	(void)state;
	log_init("relayguard-test", LOG_SINK_STDERR, LOG_LEVEL_WARN);
	saved = stderr_capture_start(&file_fd);
	log_debug("event=debug_line");
	log_info("event=info_line");
	log_warn("event=warn_line");
	log_error("event=error_line");
	stderr_capture_stop(saved, file_fd, captured, sizeof(captured));
	assert_null(strstr(captured, "debug_line"));
	assert_null(strstr(captured, "info_line"));
	assert_non_null(strstr(captured, "level=warn event=warn_line"));
	assert_non_null(strstr(captured, "level=error event=error_line"));
	log_init("relayguard-test", LOG_SINK_STDERR, LOG_LEVEL_INFO);
}

static void
test_fatal_logs_and_exits_with_status_2(void **state)
{
	int status = 0;
	pid_t child;

	(void)state;
	fflush(stdout);
	fflush(stderr);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int null_fd = open("/dev/null", O_WRONLY);
		if (null_fd >= 0)
			dup2(null_fd, STDERR_FILENO);
		fatal("event=broken_invariant");
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
}

static void
test_xstrndup_copies_and_terminates(void **state)
{
	char *copy;

	(void)state;
	copy = xstrndup("relayguard", 5);
	assert_string_equal(copy, "relay");
	free(copy);
	copy = xstrdup("example.org");
	assert_string_equal(copy, "example.org");
	free(copy);
}

static void
test_xcalloc_returns_zeroed_memory(void **state)
{
	unsigned char *block;

	(void)state;
	block = xcalloc(64, 4);
	for (size_t i = 0; i < 256; i++)
		assert_int_equal(block[i], 0);
	block = xrealloc(block, 1024);
	block[1023] = 1;
	free(block);
	free(xmalloc(0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_is_copied_unquoted),
		cmocka_unit_test(test_escape_returns_its_output_buffer),
		cmocka_unit_test(test_text_with_space_is_quoted),
		cmocka_unit_test(test_empty_text_is_two_quotes),
		cmocka_unit_test(test_equals_sign_forces_quotes),
		cmocka_unit_test(test_quotes_and_backslashes_are_escaped),
		cmocka_unit_test(test_control_bytes_are_hex_escaped),
		cmocka_unit_test(test_non_ascii_bytes_are_hex_escaped),
		cmocka_unit_test(test_nul_inside_the_given_length_is_escaped),
		cmocka_unit_test(test_long_unquoted_text_is_truncated_to_fit),
		cmocka_unit_test(test_truncated_quoted_text_keeps_its_closing_quote),
		cmocka_unit_test(test_escape_sequence_is_never_split),
		cmocka_unit_test(test_tiny_buffers_get_empty_strings),
		cmocka_unit_test(test_info_line_has_program_level_and_body),
		cmocka_unit_test(test_lines_below_the_minimum_level_are_dropped),
		cmocka_unit_test(test_fatal_logs_and_exits_with_status_2),
		cmocka_unit_test(test_xstrndup_copies_and_terminates),
		cmocka_unit_test(test_xcalloc_returns_zeroed_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
