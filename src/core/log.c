/* log.c - key=value logging to stderr or syslog, and allocation that cannot fail silently.
 * Used by every command; never writes anything a client sent without log_escape(). */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_program = "relayguard";
static enum log_sink log_current_sink = LOG_SINK_STDERR;
static enum log_level log_min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const int level_priorities[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

void
log_init(const char *program, enum log_sink sink, enum log_level min_level)
{
	log_program = program;
	log_current_sink = sink;
	log_min_level = min_level;
	if (sink == LOG_SINK_SYSLOG)
		openlog(program, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_write - format one line and send it to the chosen sink. */
static void
log_write(enum log_level level, const char *fmt, va_list ap)
{
	char body[4096];

	if (level < log_min_level)
		return;
	vsnprintf(body, sizeof(body), fmt, ap);
	if (log_current_sink == LOG_SINK_SYSLOG) {
		syslog(level_priorities[level], "level=%s %s", level_names[level], body);
		return;
	}
	struct timespec now;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s level=%s %s\n", stamp, now.tv_nsec / 1000000L,
	    log_program, level_names[level], body);
}

#define LOG_FUNCTION(name, level)             \
	void name(const char *fmt, ...)       \
	{                                     \
		va_list ap;                   \
		va_start(ap, fmt);            \
		log_write(level, fmt, ap);    \
		va_end(ap);                   \
	}

LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO)
LOG_FUNCTION(log_warn, LOG_LEVEL_WARN)
LOG_FUNCTION(log_error, LOG_LEVEL_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(2);
}

char *
log_escape(const char *text, size_t length, char *out, size_t out_size)
{
	size_t used = 0;
	int needs_quotes = length == 0;

	for (size_t i = 0; i < length && !needs_quotes; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c <= ' ' || c == '"' || c == '=' || c >= 0x7f)
			needs_quotes = 1;
	}
	if (out_size < 3) {
		if (out_size > 0)
			out[0] = '\0';
		return out;
	}
	/* Reserve room for the closing quote and the NUL. */
	size_t limit = out_size - 1 - (needs_quotes ? 1 : 0);
	if (needs_quotes && used < limit)
		out[used++] = '"';
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)text[i];
		char piece[5];
		size_t piece_length;
		if (c == '"' || c == '\\') {
			piece[0] = '\\';
			piece[1] = (char)c;
			piece_length = 2;
		} else if (c < ' ' || c >= 0x7f) {
			snprintf(piece, sizeof(piece), "\\x%02x", c);
			piece_length = 4;
		} else {
			piece[0] = (char)c;
			piece_length = 1;
		}
		if (used + piece_length > limit)
			break;
		memcpy(out + used, piece, piece_length);
		used += piece_length;
	}
	if (needs_quotes)
		out[used++] = '"';
	out[used] = '\0';
	return out;
}

void *
xmalloc(size_t size)
{
	void *ptr = malloc(size ? size : 1);
	if (ptr == NULL)
		fatal("event=out_of_memory bytes=%zu", size);
	return ptr;
}

void *
xcalloc(size_t count, size_t size)
{
	void *ptr = calloc(count ? count : 1, size ? size : 1);
	if (ptr == NULL)
		fatal("event=out_of_memory count=%zu bytes=%zu", count, size);
	return ptr;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *grown = realloc(ptr, size ? size : 1);
	if (grown == NULL)
		fatal("event=out_of_memory bytes=%zu", size);
	return grown;
}

char *
xstrdup(const char *text)
{
	return xstrndup(text, strlen(text));
}

char *
xstrndup(const char *text, size_t length)
{
	char *copy = xmalloc(length + 1);
	memcpy(copy, text, length);
	copy[length] = '\0';
	return copy;
}
