/* bounce.c - DSN messages (RFC 3464, multipart/report of RFC 6522) for failed recipients.
 * Pure: no I/O; text from remote servers is made printable and one line before it is used. */
#include "smtpd/bounce.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define MS_PER_SECOND 1000
/* Longest header field body we write from remote text (RFC 5322 2.1.1 allows 998). */
#define BOUNCE_FIELD_MAX 900
#define BOUNCE_DATE_MAX 64

struct text_buffer {
	char *data;
	size_t length;
	size_t capacity;
};

/* buffer_add - append bytes, growing the buffer. */
static void
buffer_add(struct text_buffer *buffer, const char *data, size_t length)
{
	if (buffer->capacity - buffer->length <= length) {
		size_t capacity = buffer->capacity == 0 ? 4096 : buffer->capacity;

		while (capacity - buffer->length <= length)
			capacity *= 2;
		buffer->data = xrealloc(buffer->data, capacity);
		buffer->capacity = capacity;
	}
	memcpy(buffer->data + buffer->length, data, length);
	buffer->length += length;
	buffer->data[buffer->length] = '\0';
}

/* buffer_printf - append formatted text. */
static void __attribute__((format(printf, 2, 3)))
buffer_printf(struct text_buffer *buffer, const char *fmt, ...)
{
	char line[BOUNCE_FIELD_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	buffer_add(buffer, line, (size_t)n);
}

/* printable - copy text into out as one line of printable ASCII (others become '?',
 * line breaks become spaces), truncated to fit. */
static char *
printable(const char *text, size_t length, char *out, size_t out_size)
{
	size_t used = 0;

	for (size_t i = 0; i < length && used + 1 < out_size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r' || c == '\n' || c == '\t')
			out[used++] = ' ';
		else if (c < 0x20 || c >= 0x7f)
			out[used++] = '?';
		else
			out[used++] = (char)c;
	}
	out[used] = '\0';
	return out;
}

/* bounce_rfc5322_date - the date in RFC 5322 3.3 form, always UTC, locale-independent. */
char *
bounce_rfc5322_date(uint64_t ms, char *out, size_t out_size)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t seconds = (time_t)(ms / MS_PER_SECOND);
	struct tm tm;

	if (gmtime_r(&seconds, &tm) == NULL) {
		snprintf(out, out_size, "Thu, 01 Jan 1970 00:00:00 +0000");
		return out;
	}
	snprintf(out, out_size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	return out;
}

/* bounce_original_headers_length - the header section of the original message. */
size_t
bounce_original_headers_length(const char *message, size_t length)
{
	size_t line_start = 0, last_end = 0;

	while (line_start < length) {
		const char *lf = memchr(message + line_start, '\n', length - line_start);
		size_t line_end = lf != NULL ? (size_t)(lf - message) + 1 : length;
		size_t content = line_end - line_start;

		if (line_end > BOUNCE_HEADERS_MAX)
			return last_end;
		/* An empty line ("\r\n" or "\n") ends the header section; keep it out. */
		if (content <= 2 && (message[line_start] == '\n' ||
		    (content == 2 && message[line_start] == '\r')))
			return line_start;
		last_end = line_end;
		line_start = line_end;
	}
	return length;
}

/* add_crlf_text - append text, turning bare LFs into CRLF and dropping stray CRs and
 * NULs, so the DSN is clean SMTP data; ensures it ends with CRLF. */
static void
add_crlf_text(struct text_buffer *buffer, const char *text, size_t length)
{
	size_t start = 0;

	for (size_t i = 0; i < length; i++) {
		if (text[i] == '\n' || text[i] == '\r' || text[i] == '\0') {
			buffer_add(buffer, text + start, i - start);
			if (text[i] == '\n')
				buffer_add(buffer, "\r\n", 2);
			start = i + 1;
		}
	}
	buffer_add(buffer, text + start, length - start);
	if (buffer->length < 2 || memcmp(buffer->data + buffer->length - 2, "\r\n", 2) != 0)
		buffer_add(buffer, "\r\n", 2);
}

/* bounce_build - the DSN: human-readable part, message/delivery-status, original headers. */
char *
bounce_build(const struct bounce_request *request, size_t *length)
{
	struct text_buffer buffer = { NULL, 0, 0 };
	char sender[BOUNCE_FIELD_MAX], field[BOUNCE_FIELD_MAX], field2[BOUNCE_FIELD_MAX];
	char now_date[BOUNCE_DATE_MAX], arrival_date[BOUNCE_DATE_MAX];
	char boundary[128];
	size_t headers_length;

	*length = 0;
	if (request->sender == NULL || request->sender_length == 0 ||
	    request->sender_length >= sizeof(sender) ||
	    memchr(request->sender, '\r', request->sender_length) != NULL ||
	    memchr(request->sender, '\n', request->sender_length) != NULL ||
	    request->recipient_count == 0)
		return NULL;
	printable(request->sender, request->sender_length, sender, sizeof(sender));
	bounce_rfc5322_date(request->now_ms, now_date, sizeof(now_date));
	bounce_rfc5322_date(request->arrival_ms, arrival_date, sizeof(arrival_date));
	/* RFC 2046 5.1.1: at most 70 characters; "=_" cannot occur in base64 or QP lines. */
	snprintf(boundary, sizeof(boundary), "=_relayguard_dsn_%.40s", request->bounce_queue_id);

	buffer_printf(&buffer, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    request->reporting_mta);
	buffer_printf(&buffer, "To: <%s>\r\n", sender);
	buffer_printf(&buffer, "Subject: Undelivered Mail Returned to Sender\r\n");
	buffer_printf(&buffer, "Date: %s\r\n", now_date);
	buffer_printf(&buffer, "Message-ID: <%s@%s>\r\n", request->bounce_queue_id,
	    request->reporting_mta);
	buffer_printf(&buffer, "Auto-Submitted: auto-replied\r\n");
	buffer_printf(&buffer, "MIME-Version: 1.0\r\n");
	buffer_printf(&buffer, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", boundary);
	buffer_printf(&buffer, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* Part 1: for people. */
	buffer_printf(&buffer, "--%s\r\n", boundary);
	buffer_printf(&buffer, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	buffer_printf(&buffer, "This is the mail system at host %s.\r\n\r\n",
	    request->reporting_mta);
	buffer_printf(&buffer, "Your message (queue id %s) could not be delivered to one or\r\n"
	    "more recipients. It is attached below.\r\n\r\n", request->original_queue_id);
	for (size_t i = 0; i < request->recipient_count; i++) {
		const struct bounce_recipient *r = &request->recipients[i];

		printable(r->address, r->address_length, field, sizeof(field));
		buffer_printf(&buffer, "<%s>: ", field);
		printable(r->diagnostic, strlen(r->diagnostic), field, sizeof(field));
		buffer_printf(&buffer, "%s\r\n", field);
	}
	buffer_printf(&buffer, "\r\n");

	/* Part 2: for programs (RFC 3464 2.2 and 2.3). */
	buffer_printf(&buffer, "--%s\r\n", boundary);
	buffer_printf(&buffer, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	buffer_printf(&buffer, "Reporting-MTA: dns; %s\r\n", request->reporting_mta);
	buffer_printf(&buffer, "X-Relayguard-Queue-ID: %s\r\n", request->original_queue_id);
	buffer_printf(&buffer, "Arrival-Date: %s\r\n", arrival_date);
	for (size_t i = 0; i < request->recipient_count; i++) {
		const struct bounce_recipient *r = &request->recipients[i];

		printable(r->address, r->address_length, field, sizeof(field));
		buffer_printf(&buffer, "\r\nFinal-Recipient: rfc822; %s\r\n", field);
		buffer_printf(&buffer, "Action: failed\r\n");
		printable(r->status, strlen(r->status), field2, sizeof(field2));
		buffer_printf(&buffer, "Status: %s\r\n", field2);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			printable(r->remote_mta, strlen(r->remote_mta), field2, sizeof(field2));
			buffer_printf(&buffer, "Remote-MTA: dns; %s\r\n", field2);
		}
		printable(r->diagnostic, strlen(r->diagnostic), field2, sizeof(field2));
		/* Diagnostic-Code is "diagnostic-type; text": "smtp" for a remote reply,
		 * our own extension type for anything else (RFC 3464 2.3.6). */
		if (strncmp(field2, "smtp; ", strlen("smtp; ")) == 0)
			buffer_printf(&buffer, "Diagnostic-Code: %s\r\n", field2);
		else
			buffer_printf(&buffer, "Diagnostic-Code: X-Relayguard; %s\r\n", field2);
		buffer_printf(&buffer, "Last-Attempt-Date: %s\r\n", now_date);
	}
	buffer_printf(&buffer, "\r\n");

	/* Part 3: the original header (RFC 6522 3: text/rfc822-headers is allowed). */
	buffer_printf(&buffer, "--%s\r\n", boundary);
	buffer_printf(&buffer, "Content-Description: Undelivered message headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n\r\n");
	headers_length = bounce_original_headers_length(request->original,
	    request->original_length);
	if (headers_length > 0)
		add_crlf_text(&buffer, request->original, headers_length);
	buffer_printf(&buffer, "\r\n--%s--\r\n", boundary);
	*length = buffer.length;
	return buffer.data;
}
