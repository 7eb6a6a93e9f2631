/* fuzz_smtp_path.c - libFuzzer harness for the MAIL/RCPT path parser (smtpd/address.h).
 * Checks bounds and invariants of every parse, and that a formatted mailbox parses back to
 * the same local part and domain (what the queue writes is what the policy judged). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/smtp_path.h"
#include "smtpd/address.h"

/* Room for a formatted mailbox: a quoted local part (each byte may be escaped), '@', the
 * domain and the angle brackets. */
#define FUZZ_FORMAT_MAX (2 * 256 + 2 + 1 + 256 + 3)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* require - stop the fuzzer with a crash when an invariant is broken. */
static void
require(bool condition)
{
	if (!condition)
		abort();
}

/* text_is_clean - NUL-terminated inside its array, and no CR, LF or other control byte. */
static bool
text_is_clean(const char *text, size_t array_size, size_t limit)
{
	size_t length = strnlen(text, array_size);

	if (length >= array_size || length > limit)
		return false;
	for (size_t i = 0; i < length; i++)
		if ((unsigned char)text[i] < 32 || (unsigned char)text[i] == 127)
			return false;
	return true;
}

/* check_mailbox - invariants of a successful parse. */
static void
check_mailbox(const struct smtp_mailbox *mailbox, bool allow_null, const char *text,
    size_t size, const char *rest)
{
	require(rest > text && rest <= text + size);
	require((size_t)(rest - text) <= SMTP_PATH_MAX);
	require(rest[-1] == '>');
	if (mailbox->null) {
		require(allow_null);
		require(mailbox->local[0] == '\0' && mailbox->domain[0] == '\0');
		return;
	}
	require(text_is_clean(mailbox->local, sizeof(mailbox->local), SMTP_LOCAL_PART_MAX));
	require(text_is_clean(mailbox->domain, sizeof(mailbox->domain), SMTP_DOMAIN_MAX));
	if (mailbox->domain_literal) {
		size_t length = strlen(mailbox->domain);
		require(mailbox->domain[0] == '[' && mailbox->domain[length - 1] == ']');
		require(mailbox->literal.family == AF_INET || mailbox->literal.family == AF_INET6);
	} else if (mailbox->domain[0] != '\0') {
		require(smtp_domain_is_valid(mailbox->domain, strlen(mailbox->domain)));
	}
	if (!mailbox->local_quoted)
		require(mailbox->local[0] != '\0');
}

/* check_round_trip - "<" formatted ">" parses to the same mailbox. */
static void
check_round_trip(const struct smtp_mailbox *mailbox)
{
	char path[FUZZ_FORMAT_MAX];
	struct smtp_mailbox again;
	const char *rest;

	int length = smtp_mailbox_format(mailbox, path + 1, sizeof(path) - 2);
	require(length >= 0);
	require(memchr(path + 1, '\r', (size_t)length) == NULL);
	require(memchr(path + 1, '\n', (size_t)length) == NULL);
	path[0] = '<';
	path[length + 1] = '>';
	enum address_status status = smtp_path_parse(path, (size_t)length + 2, true, &again,
	    &rest);
	/* formatting never lengthens: escapes only where the input had to have them too */
	require(status == ADDRESS_OK);
	require(again.null == mailbox->null);
	require(strcmp(again.local, mailbox->local) == 0);
	require(strcmp(again.domain, mailbox->domain) == 0);
	require(again.local_quoted == mailbox->local_quoted);
	require(again.domain_literal == mailbox->domain_literal);
	require(!again.had_source_route);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, so that reading one byte too far is caught by ASan */
	char *text = malloc(size > 0 ? size : 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	for (int pass = 0; pass < 2; pass++) {
		bool allow_null = pass == 1;
		struct smtp_mailbox first, second;
		const char *rest = NULL, *rest_again = NULL;
		enum address_status status = smtp_path_parse(text, size, allow_null, &first,
		    &rest);
		enum address_status again = smtp_path_parse(text, size, allow_null, &second,
		    &rest_again);
		require(status == again);
		if (status != ADDRESS_OK)
			continue;
		require(rest == rest_again);
		require(memcmp(&first, &second, sizeof(first)) == 0);
		check_mailbox(&first, allow_null, text, size, rest);
		check_round_trip(&first);
	}
	free(text);
	return 0;
}
