/* fuzz_dataset_parse.c - libFuzzer harness for the rbldnsd-format data parser (dnsbl/dataset.h).
 * Loads the input as every dataset type, looks up fixed and input-derived addresses and
 * renders their TXT, checking the answers stay within their documented bounds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/netaddr.h"
#include "dnsbl/dataset.h"

#define FUZZ_ERR_SIZE 256
#define FUZZ_VALUES_MAX 8
/* rbldnsd never renders more than 254 bytes of TXT. */
#define FUZZ_TXT_RENDER_MAX 254

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed addresses: loopback tests, documentation ranges, edges of both families. */
static const char *const fuzz_addresses[] = {
	"127.0.0.2", "127.0.0.1", "192.0.2.1", "0.0.0.0", "255.255.255.255", "10.1.2.3",
	"::1", "::", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	"::ffff:127.0.0.2", "2001:db8:1:2::5",
};

/* require - stop the fuzzer with a crash when an invariant is broken. */
static void
require(bool condition)
{
	if (!condition)
		abort();
}

/* check_lookup - look address up and render every TXT it returns */
static void
check_lookup(const struct dataset *set, const struct netaddr *address)
{
	struct dataset_value values[FUZZ_VALUES_MAX];
	char txt[DATASET_TXT_MAX + 1];
	size_t count = dataset_lookup(set, address, values, FUZZ_VALUES_MAX), i;

	require(count <= FUZZ_VALUES_MAX);
	for (i = 0; i < count; i++) {
		size_t length = dataset_txt_render(values[i].txt, address, txt, sizeof(txt));

		require(length <= FUZZ_TXT_RENDER_MAX);
		require(strlen(txt) == length);
		require(values[i].txt == NULL || values[i].txt[0] != '\0');
	}
	require(dataset_lookup(set, address, values, 1) == (count > 0 ? 1 : 0));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	enum dataset_type type;
	size_t i;

	if (!quiet) {
		log_init("fuzz_dataset_parse", LOG_SINK_STDERR, LOG_LEVEL_ERROR);
		quiet = true;
	}
	for (type = DATASET_IP4SET; type <= DATASET_IP6TSET; type++) {
		char err[FUZZ_ERR_SIZE];
		size_t warnings = 0;
		struct netaddr address;
		struct dataset *set = dataset_load_buffer(type, (const char *)data, size, "fuzz",
		    &warnings, err, sizeof(err));

		require(set != NULL);
		require(dataset_get_meta(set)->ns_count <= DATASET_NS_MAX);
		for (i = 0; i < sizeof(fuzz_addresses) / sizeof(fuzz_addresses[0]); i++) {
			require(netaddr_parse(fuzz_addresses[i], &address));
			check_lookup(set, &address);
		}
		/* addresses taken from the input reach the entries it lists */
		memset(&address, 0, sizeof(address));
		address.family = AF_INET;
		if (size > 0)
			memcpy(address.bytes, data, size < 4 ? size : 4);
		check_lookup(set, &address);
		address.family = AF_INET6;
		if (size > 0)
			memcpy(address.bytes, data, size < 16 ? size : 16);
		check_lookup(set, &address);
		dataset_free(set);
	}
	return 0;
}
