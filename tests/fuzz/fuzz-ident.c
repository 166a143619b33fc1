/*
 * libFuzzer target for lib/ident.c, dcr's reading of its own key and
 * certificates without OpenSSL's decoders: what it reads must be what
 * OpenSSL reads. The first byte picks the input: a private key's DER
 * under the PEM label "PRIVATE KEY" (even) or "EC PRIVATE KEY" (odd), or
 * with bit 1 set a certificate's DER.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ident-fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read exactly as OpenSSL reads it, the private scalar included. */
static void key_case(const uint8_t *der, size_t len, const char *label)
{
	size_t n;
	uint8_t *pem = len > 0 && len <= 4096 ? pem_of(label, der, (long)len, &n) : NULL;

	if (pem && ec_key_agrees(pem, n) < 0)
		abort();
	free(pem);
}

/* A P-256 key, the same for every input, that certificates are checked against. */
static EVP_PKEY *fixed_key(void)
{
	static EVP_PKEY *key;

	if (!key && !(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")))
		abort();
	return key;
}

/* Read exactly when OpenSSL reads it, as far, the same; the key check agrees with OpenSSL's. */
static void cert_case(const uint8_t *der, size_t len)
{
	bool read;

	if (!cert_agrees(der, len, fixed_key(), &read))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 2)
		cert_case(data + 1, size - 1);
	else
		key_case(data + 1, size - 1, data[0] & 1 ? "EC PRIVATE KEY" : "PRIVATE KEY");
	ERR_clear_error();
	return 0;
}
