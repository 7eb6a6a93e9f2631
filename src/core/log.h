/* log.h - the one logging API: key=value lines on stderr or syslog.
 * Callers pass the key=value body; fatal() is for our own broken invariants only. */
#ifndef RELAYGUARD_CORE_LOG_H
#define RELAYGUARD_CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_sink {
	LOG_SINK_STDERR,
	LOG_SINK_SYSLOG,
};

/* log_init - name the program and choose where lines go and the lowest level kept. */
void log_init(const char *program, enum log_sink sink, enum log_level min_level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal - log and exit(2): only for broken invariants of our own (out of memory, ...). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* log_escape - copy untrusted text into out as a safe key=value value:
 * quotes it when it holds spaces, escapes quotes, backslashes and control bytes,
 * truncates to fit (always NUL-terminated). Returns out. */
char *log_escape(const char *text, size_t length, char *out, size_t out_size);

/* xmalloc family - allocate or fatal(); never return NULL. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *text);
char *xstrndup(const char *text, size_t length);

#endif
