/* deliver_result.c - the per-recipient result every delivery agent fills.
 * Pure; keeps remote text printable so it can go into logs and DSNs as is. */
#include "smtpd/deliver.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* deliver_result_set - fill a result with a formatted, printable diagnostic. */
void
deliver_result_set(struct deliver_result *result, enum deliver_outcome outcome,
    const char *status, const char *fmt, ...)
{
	va_list ap;

	result->outcome = outcome;
	snprintf(result->status, sizeof(result->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(result->diagnostic, sizeof(result->diagnostic), fmt, ap);
	va_end(ap);
	for (char *p = result->diagnostic; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = ' ';
}
