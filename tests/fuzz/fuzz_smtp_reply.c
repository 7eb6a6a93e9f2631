/* fuzz_smtp_reply.c - libFuzzer harness for the SMTP reply reader (core/smtp_reply.h).
 * Feeds input in chunks sized from its first bytes, checks invariants, and checks that
 * the replies do not depend on how the input was split (same as feeding it whole). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/smtp_reply.h"

/* How many input bytes pick the chunk sizes, and the largest chunk. */
#define FUZZ_PATTERN_BYTES 4
#define FUZZ_CHUNK_MAX 97
/* Replies remembered per pass for the split-independence comparison. */
#define FUZZ_SUMMARIES_MAX 64
#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

struct reply_summary {
	enum smtp_reply_status status;
	int code;
	size_t text_length;
	size_t line_count;
	bool truncated;
	bool bare_lf;
	uint64_t text_hash;
	char enhanced[SMTP_REPLY_ENHANCED_MAX];
};

struct pass_result {
	size_t count;
	struct reply_summary summaries[FUZZ_SUMMARIES_MAX];
	bool pending;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* require - stop the fuzzer with a crash when an invariant is broken. */
static void
require(bool condition)
{
	if (!condition)
		abort();
}

/* text_hash - FNV-1a of the reply text. */
static uint64_t
text_hash(const char *text, size_t length)
{
	uint64_t hash = FNV_OFFSET;

	for (size_t i = 0; i < length; i++) {
		hash ^= (unsigned char)text[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

/* check_reply - the invariants every finished (complete or malformed) reply keeps. */
static void
check_reply(enum smtp_reply_status status, const struct smtp_reply *reply)
{
	size_t enhanced_length = strnlen(reply->enhanced, sizeof(reply->enhanced));

	require(reply->text_length < SMTP_REPLY_TEXT_MAX);
	require(reply->text[reply->text_length] == '\0');
	require(strlen(reply->text) == reply->text_length);
	require(enhanced_length < sizeof(reply->enhanced));
	require(reply->line_count >= 1 && reply->line_count <= SMTP_REPLY_LINES_MAX + 1);
	if (status == SMTP_REPLY_MALFORMED) {
		require(reply->code == 0);
		require(smtp_reply_class(reply) == 0);
		require(enhanced_length == 0);
		return;
	}
	require(reply->code >= 200 && reply->code <= 599);
	require(smtp_reply_class(reply) == reply->code / 100);
	require(reply->line_count <= SMTP_REPLY_LINES_MAX);
	if (enhanced_length > 0) {
		char class = reply->enhanced[0];
		require(class == '2' || class == '4' || class == '5');
	}
}

/* record - remember a finished reply for the comparison between passes. */
static void
record(struct pass_result *result, enum smtp_reply_status status,
    const struct smtp_reply *reply)
{
	if (result->count < FUZZ_SUMMARIES_MAX) {
		struct reply_summary *summary = &result->summaries[result->count];
		memset(summary, 0, sizeof(*summary));
		summary->status = status;
		summary->code = reply->code;
		summary->text_length = reply->text_length;
		summary->line_count = reply->line_count;
		summary->truncated = reply->truncated;
		summary->bare_lf = reply->bare_lf;
		summary->text_hash = text_hash(reply->text, reply->text_length);
		/* Only up to the NUL: what lies beyond is left over from earlier replies. */
		memcpy(summary->enhanced, reply->enhanced,
		    strnlen(reply->enhanced, sizeof(reply->enhanced) - 1));
	}
	result->count++;
}

/* feed_chunk - feed one chunk until it is used up, checking every call. */
static void
feed_chunk(struct smtp_reply_reader *reader, const char *chunk, size_t length,
    struct smtp_reply *reply, struct pass_result *result)
{
	size_t offset = 0;

	do {
		size_t consumed = SIZE_MAX;
		enum smtp_reply_status status = smtp_reply_reader_feed(reader, chunk + offset,
		    length - offset, &consumed, reply);

		require(consumed <= length - offset);
		if (status == SMTP_REPLY_NEED_MORE) {
			require(consumed == length - offset);
		} else {
			require(status == SMTP_REPLY_COMPLETE || status == SMTP_REPLY_MALFORMED);
			/* A reply ends with the LF just consumed. */
			require(consumed > 0 && chunk[offset + consumed - 1] == '\n');
			check_reply(status, reply);
			record(result, status, reply);
		}
		offset += consumed;
	} while (offset < length);
}

/* run_pass - read all of data with chunk sizes from pattern (NULL: one single chunk). */
static void
run_pass(const uint8_t *data, size_t size, const uint8_t *pattern, size_t pattern_length,
    struct pass_result *result)
{
	static struct smtp_reply_reader reader;
	static struct smtp_reply reply;
	size_t offset = 0;
	size_t index = 0;

	memset(result, 0, sizeof(*result));
	smtp_reply_reader_init(&reader);
	while (offset < size) {
		size_t chunk = size - offset;
		if (pattern != NULL) {
			size_t wanted = 1 + pattern[index++ % pattern_length] % FUZZ_CHUNK_MAX;
			if (wanted < chunk)
				chunk = wanted;
		}
		feed_chunk(&reader, (const char *)data + offset, chunk, &reply, result);
		offset += chunk;
	}
	result->pending = smtp_reply_reader_pending(&reader);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pass_result chunked;
	static struct pass_result whole;
	size_t pattern_length = size < FUZZ_PATTERN_BYTES ? size : FUZZ_PATTERN_BYTES;

	if (size == 0)
		return 0;
	run_pass(data, size, data, pattern_length, &chunked);
	run_pass(data, size, NULL, 0, &whole);
	require(chunked.count == whole.count);
	require(chunked.pending == whole.pending);
	for (size_t i = 0; i < chunked.count && i < FUZZ_SUMMARIES_MAX; i++)
		require(memcmp(&chunked.summaries[i], &whole.summaries[i],
		    sizeof(chunked.summaries[i])) == 0);
	return 0;
}
