/*
 * libFuzzer target for lib/ident.c, dcr's reading of its own key and
 * certificates without OpenSSL's decoders, and for the reading of its
 * certificate chain (lib/call.c, dcr_identity_add_chain): what it reads
 * must be what OpenSSL reads. The first byte picks the input: with bit 2
 * set the PEM text of a chain (cert.pem); else with bit 1 set a
 * certificate's DER; else a private key's DER under the PEM label
 * "PRIVATE KEY" (even) or "EC PRIVATE KEY" (odd). Seeds: seeds/ident.
 */
#include <stdint.h>
#include <stdlib.h>

#include "call.h"
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

/* A pass phrase asked for: none (PEM_read_bio_X509 would otherwise prompt on the terminal). */
static int no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The chain read is the certificates PEM_read_bio_X509 reads one after the other, as many, each as far. */
static void chain_case(const uint8_t *pem, size_t len)
{
	struct dcr_identity *id = calloc(1, sizeof(*id));
	BIO *bio = len <= 65536 ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *ref;
	size_t n = 0;

	if (!bio) {
		free(id);
		return;
	}
	if (!id || dcr_identity_add_chain(id, pem, len, NULL) < 0)
		abort();
	while (n < DCR_CALL_MAX_CHAIN && (ref = PEM_read_bio_X509(bio, NULL, no_pass, NULL))) {
		const unsigned char *p = n < id->n_chain ? id->chain[n] : NULL;
		X509 *mine = p ? d2i_X509(NULL, &p, (long)id->chain_len[n]) : NULL;

		if (!mine || p != id->chain[n] + id->chain_len[n] || X509_cmp(mine, ref) != 0)
			abort();
		X509_free(mine);
		X509_free(ref);
		n++;
	}
	if (n != id->n_chain)
		abort();
	dcr_identity_free(id);
	BIO_free(bio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 4)
		chain_case(data + 1, size - 1);
	else if (data[0] & 2)
		cert_case(data + 1, size - 1);
	else
		key_case(data + 1, size - 1, data[0] & 1 ? "EC PRIVATE KEY" : "PRIVATE KEY");
	ERR_clear_error();
	return 0;
}
