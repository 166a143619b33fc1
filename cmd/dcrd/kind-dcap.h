/* What dcrd's DCAP kinds (kind-sgx.c, kind-tdx.c) share: their collateral, from a PCCS, cached and renewed. */
#ifndef DCRD_KIND_DCAP_H
#define DCRD_KIND_DCAP_H

#include <stddef.h>
#include <stdint.h>

#include "attest.h"
#include "err.h"
#include "sgx.h"

struct enclave;

/* One DCAP kind's collateral: how it is parsed, fetched for e->quote, and made into evidence. */
struct dcap_collateral {
	const char *title;             /* "SGX", "TDX": in messages */
	const char *cache_file;        /* in the data directory */
	int (*parse)(const uint8_t *json, size_t len, struct dcr_sgx_collateral **out, struct dcr_err *err);
	int (*fetch)(const char *base_url, const char *root_crl_url, const char *ca_file, const uint8_t *quote,
		size_t quote_len, long timeout_s, uint8_t **json, size_t *json_len, struct dcr_err *err);
	int (*evidence)(const uint8_t *quote, size_t quote_len, const uint8_t *collateral, size_t collateral_len,
		const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len, struct dcr_err *err);
};

/*
 * At start, with e->quote set: the cached collateral while it is fresh;
 * else a fetch; if that fails, the cached collateral while it is still
 * valid at all. Installs the evidence.
 */
int dcap_collateral_open(const struct dcap_collateral *k, struct enclave *e, struct dcr_err *err);

/* The kind's refresh: one thread renews due collateral without the lock; failures are logged. */
void dcap_collateral_refresh(const struct dcap_collateral *k, struct enclave *e);

#endif
