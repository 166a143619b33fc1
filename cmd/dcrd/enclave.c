/* The enclave's identity: sealing key, enclave keys sealed at rest, simulated evidence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "hpke.h"
#include "seal.h"

#include "banned.h"

#define SEALING_KEY_FILE "sim-sealing.key"
#define KEYS_FILE "enclave-keys.sealed"
#define KEYS_LABEL "enclave-keys"

static int path_in(char *buf, size_t size, const char *dir, const char *name, struct dcr_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
		return dcr_err_set(err, DCR_EINVALID, "data directory path too long");
	return 0;
}

/* The sim sealing key: a file in the data directory, created once. */
static int load_sealing_key(struct enclave *e, const char *dir, struct dcr_err *err)
{
	char path[4096];
	int r;

	if ((r = path_in(path, sizeof(path), dir, SEALING_KEY_FILE, err)) < 0)
		return r;
	r = dcr_keyfile_read(path, e->sealing_key, sizeof(e->sealing_key), err);
	if (r != DCR_ENOTFOUND)
		return r;
	if ((r = dcr_random(e->sealing_key, sizeof(e->sealing_key), err)) < 0)
		return r;
	return dcr_keyfile_write(path, e->sealing_key, sizeof(e->sealing_key), err);
}

static int load_keys(struct enclave *e, const char *dir, struct dcr_err *err)
{
	uint8_t secrets[96], *blob = NULL, *pt = NULL;
	size_t blob_len, pt_len = 0;
	char path[4096];
	int r;

	if ((r = path_in(path, sizeof(path), dir, KEYS_FILE, err)) < 0)
		return r;
	r = dcr_read_file(path, 4096, &blob, &blob_len, err);
	if (r == DCR_ENOTFOUND) {
		/* First start: new keys, sealed before anything uses them. */
		if ((r = dcr_random(secrets, sizeof(secrets), err)) < 0 ||
		    (r = dcr_seal(e->sealing_key, KEYS_LABEL, secrets, sizeof(secrets), &blob, &blob_len, err)) < 0 ||
		    (r = dcr_write_atomic(path, blob, blob_len, err)) < 0)
			goto out;
	} else if (r < 0) {
		goto out;
	} else {
		if ((r = dcr_unseal(e->sealing_key, KEYS_LABEL, blob, blob_len, &pt, &pt_len, err)) < 0) {
			dcr_err_prefix(err, "'%s'", path);
			goto out;
		}
		if (pt_len != sizeof(secrets)) {
			r = dcr_err_set(err, DCR_EINTEGRITY, "'%s' holds %zu bytes of keys, not %zu", path, pt_len,
				sizeof(secrets));
			goto out;
		}
		memcpy(secrets, pt, sizeof(secrets));
	}
	memcpy(e->hpke_sk, secrets, 32);
	memcpy(e->sign_sk, secrets + 32, 32);
	memcpy(e->sim_sk, secrets + 64, 32);
	/* X25519 clamps any 32 bytes into a valid private key; Ed25519 takes any seed. */
	if ((r = dcr_hpke_public(e->hpke_sk, e->pub.hpke_pk, err)) < 0 ||
	    (r = dcr_ed25519_public(e->sign_sk, e->pub.sign_pk, err)) < 0)
		goto out;
out:
	dcr_wipe(secrets, sizeof(secrets));
	if (pt)
		dcr_wipe(pt, pt_len);
	free(pt);
	free(blob);
	return r;
}

int enclave_open(struct enclave *e, const char *dir, struct dcr_err *err)
{
	static uint8_t config[DCR_OHTTP_KEYCONFIG_MAX];
	size_t config_len;
	int r;

	memset(e, 0, sizeof(*e));
	if ((r = dcr_sha256_file("/proc/self/exe", e->measurement, err)) < 0 ||
	    (r = load_sealing_key(e, dir, err)) < 0 ||
	    (r = load_keys(e, dir, err)) < 0)
		return r;
	e->ohttp.key_id = 1;
	e->ohttp.kem_id = DCR_HPKE_KEM_X25519_SHA256;
	memcpy(e->ohttp.pk, e->pub.hpke_pk, 32);
	e->ohttp.n_algs = 1;
	e->ohttp.algs[0] = (struct dcr_ohttp_alg){ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	if ((r = dcr_ohttp_keyconfig_encode(&e->ohttp, config, sizeof(config), &config_len, err)) < 0)
		return r;
	e->pub.ohttp_key_config = config;
	e->pub.ohttp_key_config_len = config_len;
	return dcr_attest_sim_evidence(e->measurement, e->sim_sk, &e->pub, &e->evidence, &e->evidence_len, err);
}

void enclave_close(struct enclave *e)
{
	if (!e)
		return;
	free(e->evidence);
	dcr_wipe(e, sizeof(*e));
}
