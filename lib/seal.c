/* Sealing: authenticated encryption of enclave state under the sealing key. */
#include "seal.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "hpke.h"

#include "banned.h"

#define SEAL_VERSION 1
#define LABEL_MAX 128

/* The associated data: a domain tag and the label, so blobs cannot be swapped between uses. */
static int make_aad(const char *label, uint8_t *aad, size_t *aad_len, struct dcr_err *err)
{
	static const char domain[] = "dcr-seal-v1";
	size_t n = strlen(label);

	if (n > LABEL_MAX)
		return dcr_err_set(err, DCR_EINVALID, "seal label '%.16s...' is too long", label);
	memcpy(aad, domain, sizeof(domain)); /* with its NUL as separator */
	memcpy(aad + sizeof(domain), label, n);
	*aad_len = sizeof(domain) + n;
	return 0;
}

int dcr_seal(const uint8_t key[static DCR_SEAL_KEY_LEN], const char *label, const uint8_t *pt, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	uint8_t aad[LABEL_MAX + 16], *blob;
	size_t aad_len = 0;
	int r;

	*out = NULL;
	if ((r = make_aad(label, aad, &aad_len, err)) < 0)
		return r;
	if (len > DCR_HPKE_MSG_MAX)
		return dcr_err_set(err, DCR_EINVALID, "cannot seal %zu bytes (at most %u)", len, DCR_HPKE_MSG_MAX);
	blob = malloc(len + DCR_SEAL_OVERHEAD);
	if (!blob)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	blob[0] = SEAL_VERSION;
	/* A random 96-bit nonce per blob: sealing keys seal far fewer than 2^32 blobs. */
	if ((r = dcr_random(blob + 1, DCR_HPKE_NN, err)) < 0 ||
	    (r = dcr_hpke_aead_seal(DCR_HPKE_AEAD_AES256GCM, key, blob + 1, aad, aad_len, pt, len,
		     blob + 1 + DCR_HPKE_NN, err)) < 0) {
		free(blob);
		return r;
	}
	*out = blob;
	*out_len = len + DCR_SEAL_OVERHEAD;
	return 0;
}

int dcr_unseal(const uint8_t key[static DCR_SEAL_KEY_LEN], const char *label, const uint8_t *blob, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	uint8_t aad[LABEL_MAX + 16], *pt;
	size_t aad_len = 0, n;
	int r;

	*out = NULL;
	if ((r = make_aad(label, aad, &aad_len, err)) < 0)
		return r;
	if (len < DCR_SEAL_OVERHEAD || blob[0] != SEAL_VERSION)
		return dcr_err_set(err, DCR_EINTEGRITY, "sealed %s is damaged (too short or unknown version)", label);
	n = len - DCR_SEAL_OVERHEAD;
	pt = malloc(n ? n : 1);
	if (!pt)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	r = dcr_hpke_aead_open(DCR_HPKE_AEAD_AES256GCM, key, blob + 1, aad, aad_len, blob + 1 + DCR_HPKE_NN,
		len - 1 - DCR_HPKE_NN, pt, err);
	if (r < 0) {
		free(pt);
		return dcr_err_set(err, DCR_EINTEGRITY,
			"sealed %s does not open: altered, or sealed under another key", label);
	}
	*out = pt;
	*out_len = n;
	return 0;
}
