/* Sealing: authenticated encryption of enclave state under the sealing key. */
#ifndef DCR_SEAL_H
#define DCR_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DCR_SEAL_KEY_LEN 32
/* Bytes a sealed blob adds to its plaintext: version, nonce, tag. */
#define DCR_SEAL_OVERHEAD (1 + 12 + 16)

/*
 * Seal len bytes of pt under key. label names what is sealed ("room",
 * "enclave-keys", ...) and is authenticated, so a blob sealed as one thing
 * cannot be unsealed as another. *out (free with free()) holds
 * len + DCR_SEAL_OVERHEAD bytes.
 */
int dcr_seal(const uint8_t key[static DCR_SEAL_KEY_LEN], const char *label, const uint8_t *pt, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err);

/* The reverse; DCR_EINTEGRITY when the blob was altered, sealed under another key or label. */
int dcr_unseal(const uint8_t key[static DCR_SEAL_KEY_LEN], const char *label, const uint8_t *blob, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err);

#endif
