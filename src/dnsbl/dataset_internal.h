/* dataset_internal.h - what the dataset*.c files share and nobody else may use: the rbldnsd
 * range and value hooks of the builder, TXT template resolution and address formatting. */
#ifndef RELAYGUARD_DNSBL_DATASET_INTERNAL_H
#define RELAYGUARD_DNSBL_DATASET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsbl/dataset.h"

/* rbldnsd writes at most 254 bytes of expanded TXT (its buffer ends at sb + 254). */
#define DATASET_TXT_RENDER_MAX 254
/* rbldnsd truncates the TXT text of one entry to 255 bytes when it loads it. */
#define DATASET_TXT_ENTRY_MAX 255
/* Substitution variables $0..$9 and the base template $= (index 10). */
#define DATASET_SUBST_COUNT 11
#define DATASET_SUBST_BASE 10

/* dataset_builder_add_range4 - an ip4set entry "first-last" (any range, not only a prefix),
 * split into octet-aligned blocks like rbldnsd; excluded = "!" line. False for other types. */
bool dataset_builder_add_range4(struct dataset_builder *b, uint32_t first, uint32_t last,
    uint32_t a, const char *txt, bool excluded);

/* A value rewrite run once before finishing: gets each distinct (a, raw text) the builder
 * holds and returns the final template (xmalloc'd; NULL = no TXT), possibly changing *a. */
typedef char *(*dataset_value_remap_fn)(void *context, uint32_t *a, const char *txt);
/* dataset_builder_remap_values - apply fn to every distinct value (the parser resolves
 * $n/$= once the whole stream is read, as rbldnsd does at query time). */
void dataset_builder_remap_values(struct dataset_builder *b, dataset_value_remap_fn fn,
    void *context);

/* dataset_txt_resolve - turn an entry's raw rbldnsd text into a template that only holds
 * "$" (the address) and "$$" (a dollar): applies $0..$9 and the $= base template exactly
 * like rbldnsd's txtsubst. variables[i] may be NULL. Returns NULL when the TXT is empty. */
char *dataset_txt_resolve(const char *raw, const char *const variables[DATASET_SUBST_COUNT]);

/* dataset_address_text - the queried address as rbldnsd substitutes it: dotted quad for
 * IPv4 and IPv4-mapped IPv6, otherwise lower-case hex with the first longest run of two or
 * more zero groups compressed (no embedded dotted quad). Returns the length written. */
size_t dataset_address_text(const struct netaddr *address, char *out, size_t out_size);

#endif
