/* software.h - recognise the MTA behind an SMTP banner/EHLO reply, and the advisory data
 * file that says which versions relay or are unsafe. Recognition is pure (no I/O, no globals). */
#ifndef RELAYGUARD_CHECK_SOFTWARE_H
#define RELAYGUARD_CHECK_SOFTWARE_H

#include <stdbool.h>
#include <stddef.h>

#define SOFTWARE_NAME_MAX 64
#define SOFTWARE_VERSION_MAX 64
/* Only this many bytes of a banner or EHLO text are ever looked at. */
#define SOFTWARE_TEXT_MAX 65536

struct software_id {
	char name[SOFTWARE_NAME_MAX];       /* "Sendmail", "Microsoft Exchange", ... */
	char version[SOFTWARE_VERSION_MAX]; /* "" if unknown */
};

/* software_recognise - from the banner text and the EHLO reply text (either may be NULL;
 * texts are reply texts without the "220 " codes, lines joined with '\n').
 * Returns true and fills out when a product is recognised; otherwise false and out is
 * emptied. Names are exactly: "Sendmail", "Postfix", "Exim", "OpenSMTPD", "qmail",
 * "Microsoft Exchange", "Microsoft IIS SMTP", "Lotus Domino", "Netscape Messaging Server",
 * "IMail", "MDaemon", "cc:Mail". */
bool software_recognise(const char *banner, const char *ehlo, struct software_id *out);

/* software_name_is_known - true if name (case-insensitive) is one the recogniser reports. */
bool software_name_is_known(const char *name);

/* software_version_compare - compare dotted versions "8.8.9" < "8.9.3", "5.5.2448.0" <
 * "5.5.2650"; numeric per component; a missing component counts as 0; letters after digits
 * compare after ("8.9.3" < "8.9.3a", "9.0.1FP9" < "9.0.1FP10"). Returns <0, 0 or >0.
 * NULL counts as "". */
int software_version_compare(const char *a, const char *b);

enum advisory_severity {
	ADVISORY_SEVERITY_RELAY,    /* the version relays for strangers (by default or by a bug) */
	ADVISORY_SEVERITY_INSECURE, /* another security problem, or no fixes exist any more */
};

struct advisory {
	char *id;            /* the [section] name */
	char *software;      /* a software_id name */
	char *summary;       /* one sentence for the report */
	char *source;        /* URL of the public source */
	enum advisory_severity severity;
	char *version_from;  /* inclusive lower bound, or NULL */
	char *version_below; /* exclusive upper bound, or NULL */
	char **versions;     /* exact versions (software_version_compare() == 0), or NULL */
	size_t version_count;
	bool any_version;    /* applies whatever the version, even an unknown one */
	unsigned line;       /* line of the [section] header in the data file */
};

struct advisory_db;

/* advisory_db_load - parse the INI data file (inih); on error NULL and "FILE:LINE: message"
 * (or "FILE: message" when the file cannot be read) in err. */
struct advisory_db *advisory_db_load(const char *path, char *err, size_t err_size);
void advisory_db_free(struct advisory_db *db);

/* advisory_db_match - advisories that apply to id, in file order; returns the count written
 * to out (<= max). Range and list advisories never apply to an unknown ("") version. */
size_t advisory_db_match(const struct advisory_db *db, const struct software_id *id,
    const struct advisory **out, size_t max);

/* advisory_db_count / advisory_db_entry - every advisory of the file, in file order. */
size_t advisory_db_count(const struct advisory_db *db);
const struct advisory *advisory_db_entry(const struct advisory_db *db, size_t index);

/* advisory_severity_name - "relay" or "insecure". */
const char *advisory_severity_name(enum advisory_severity severity);

#endif
