/* dataset_txt.c - rbldnsd TXT templates: resolve $0..$9 and $= once at load, expand "$" for
 * each answer. Pure string code; the renderer runs per query and never allocates. */
#include "dnsbl/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "dnsbl/dataset_internal.h"

#define IP6_GROUPS 8

/* Growing output of dataset_txt_resolve, counted in rendered bytes ("units"). */
struct resolved {
	char *text;
	size_t length;
	size_t capacity;
	size_t units;		/* at least this many bytes once rendered */
};

/* resolved_put - append length bytes that render as units bytes */
static void
resolved_put(struct resolved *r, const char *data, size_t length, size_t units)
{
	if (r->length + length + 1 > r->capacity) {
		while (r->length + length + 1 > r->capacity)
			r->capacity = r->capacity == 0 ? 64 : r->capacity * 2;
		r->text = xrealloc(r->text, r->capacity);
	}
	memcpy(r->text + r->length, data, length);
	r->length += length;
	r->text[r->length] = '\0';
	r->units += units;
}

/* resolved_put_literal - append text that must come out as written ("$" doubled) */
static void
resolved_put_literal(struct resolved *r, const char *text)
{
	for (; *text != '\0' && r->units <= DATASET_TXT_RENDER_MAX; text++) {
		if (*text == '$')
			resolved_put(r, "$$", 2, 1);
		else
			resolved_put(r, text, 1, 1);
	}
}

char *
dataset_txt_resolve(const char *raw, const char *const variables[DATASET_SUBST_COUNT])
{
	const char *base = variables == NULL ? NULL : variables[DATASET_SUBST_BASE];
	const char *template, *entry;
	bool entry_is_address = false;
	struct resolved r = { NULL, 0, 0, 0 };

	if (raw == NULL)
		raw = "";
	if (raw[0] == '=') {
		/* "=text" bypasses the base template; its own "$=" is the text itself */
		template = raw + 1;
		entry = raw + 1;
	} else if (base != NULL && base[0] != '\0') {
		template = base;
		entry = raw;
		entry_is_address = raw[0] == '\0';
	} else {
		template = raw;
		entry = raw;
	}
	/* Stop once the text is longer than anything rendered can be (254 bytes). */
	while (*template != '\0' && r.units <= DATASET_TXT_RENDER_MAX) {
		const char *dollar = strchr(template, '$');
		size_t plain = dollar == NULL ? strlen(template) : (size_t)(dollar - template);

		resolved_put(&r, template, plain, plain);
		if (dollar == NULL)
			break;
		template = dollar + 1;
		if (*template == '$') {
			resolved_put(&r, "$$", 2, 1);
			template++;
		} else if (*template >= '0' && *template <= '9') {
			const char *value = variables == NULL ? NULL : variables[*template - '0'];

			if (value != NULL) {
				resolved_put_literal(&r, value);
			} else {
				/* an undefined $n stays as written */
				resolved_put(&r, "$$", 2, 1);
				resolved_put(&r, template, 1, 1);
			}
			template++;
		} else if (*template == '=') {
			if (entry_is_address)
				resolved_put(&r, "$", 1, 1);
			else
				resolved_put_literal(&r, entry);
			template++;
		} else {
			/* "$" before anything else (or at the end) is the queried address */
			resolved_put(&r, "$", 1, 1);
		}
	}
	if (r.length == 0) {
		free(r.text);
		return NULL;
	}
	return r.text;
}

/* format_ip4 - dotted quad of 4 bytes; returns its length (out holds 16 bytes) */
static size_t
format_ip4(const uint8_t bytes[4], char out[16])
{
	size_t length = 0, i;

	for (i = 0; i < 4; i++) {
		unsigned octet = bytes[i];

		if (i > 0)
			out[length++] = '.';
		if (octet >= 100)
			out[length++] = (char)('0' + octet / 100);
		if (octet >= 10)
			out[length++] = (char)('0' + octet / 10 % 10);
		out[length++] = (char)('0' + octet % 10);
	}
	out[length] = '\0';
	return length;
}

/* format_group - one IPv6 group in lower-case hex without leading zeros */
static size_t
format_group(unsigned group, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t length = 0;
	int shift;
	bool started = false;

	for (shift = 12; shift >= 0; shift -= 4) {
		unsigned nibble = (group >> shift) & 0xf;

		if (nibble != 0 || started || shift == 0) {
			out[length++] = digits[nibble];
			started = true;
		}
	}
	return length;
}

size_t
dataset_address_text(const struct netaddr *address, char *out, size_t out_size)
{
	char text[NETADDR_TEXT_MAX];
	size_t length = 0, i, best_start = 0, best_length = 0;
	unsigned groups[IP6_GROUPS];

	if (out_size == 0)
		return 0;
	out[0] = '\0';
	if (address == NULL)
		return 0;
	if (address->family == AF_INET) {
		length = format_ip4(address->bytes, text);
	} else if (address->family == AF_INET6 && netaddr_is_v4_mapped(address)) {
		length = format_ip4(address->bytes + 12, text);
	} else if (address->family == AF_INET6) {
		for (i = 0; i < IP6_GROUPS; i++)
			groups[i] = (unsigned)address->bytes[2 * i] << 8 | address->bytes[2 * i + 1];
		/* the first longest run of two or more zero groups becomes "::" */
		for (i = 0; i < IP6_GROUPS; i++) {
			size_t run = 0;

			while (i + run < IP6_GROUPS && groups[i + run] == 0)
				run++;
			if (run >= 2 && run > best_length) {
				best_start = i;
				best_length = run;
			}
		}
		for (i = 0; i < IP6_GROUPS; i++) {
			if (best_length != 0 && i == best_start) {
				text[length++] = ':';
				if (i == 0)
					text[length++] = ':';
				i += best_length - 1;
				continue;
			}
			length += format_group(groups[i], text + length);
			if (i + 1 < IP6_GROUPS)
				text[length++] = ':';
		}
		text[length] = '\0';
	} else
		return 0;
	if (length >= out_size)
		length = out_size - 1;
	memcpy(out, text, length);
	out[length] = '\0';
	return length;
}

size_t
dataset_txt_render(const char *template, const struct netaddr *queried, char *out,
    size_t out_size)
{
	char address[NETADDR_TEXT_MAX];
	size_t address_length = 0, length = 0, limit;
	bool have_address = false;

	if (out == NULL || out_size == 0)
		return 0;
	limit = out_size - 1 < DATASET_TXT_RENDER_MAX ? out_size - 1 : DATASET_TXT_RENDER_MAX;
	if (template == NULL) {
		out[0] = '\0';
		return 0;
	}
	for (; *template != '\0' && length < limit; template++) {
		size_t copy;

		if (*template != '$') {
			out[length++] = *template;
			continue;
		}
		if (template[1] == '$') {
			out[length++] = '$';
			template++;
			continue;
		}
		if (!have_address) {
			address_length = dataset_address_text(queried, address, sizeof(address));
			have_address = true;
		}
		/* rbldnsd cuts the address short too when it does not fit */
		copy = address_length < limit - length ? address_length : limit - length;
		memcpy(out + length, address, copy);
		length += copy;
	}
	out[length] = '\0';
	return length;
}
