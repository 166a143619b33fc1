/* The enclave's identity: enclave keys sealed at rest under the kind's sealing key, the kind's evidence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "hpke.h"
#include "seal.h"

#include "banned.h"

#define KEYS_LABEL "enclave-keys"

int data_path(char *buf, size_t size, const char *dir, const char *name, struct dcr_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
		return dcr_err_set(err, DCR_EINVALID, "data directory path too long");
	return 0;
}

static int load_keys(struct enclave *e, const char *dir, struct dcr_err *err)
{
	uint8_t secrets[96], *blob = NULL, *pt = NULL;
	size_t blob_len, pt_len = 0;
	char path[4096];
	int r;

	if ((r = data_path(path, sizeof(path), dir, ENCLAVE_KEYS_FILE, err)) < 0)
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
			dcr_err_prefix(err, "'%s'%s", path, e->opt.kind->unseal_hint ? e->opt.kind->unseal_hint : "");
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

int enclave_open(struct enclave *e, const char *dir, const struct enclave_options *opt, struct dcr_err *err)
{
	static uint8_t config[DCR_OHTTP_KEYCONFIG_MAX];
	size_t config_len;
	int r;

	memset(e, 0, sizeof(*e));
	/* Cannot fail on Linux without attributes; enclave_close destroys it whatever happens next. */
	pthread_mutex_init(&e->lock, NULL);
	e->opt = *opt;
	if ((size_t)snprintf(e->data_dir, sizeof(e->data_dir), "%s", dir) >= sizeof(e->data_dir))
		return dcr_err_set(err, DCR_EINVALID, "data directory path too long");
	if ((r = opt->kind->sealing_key(e, err)) < 0 ||
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
	return opt->kind->open(e, err);
}

int enclave_evidence(struct enclave *e, uint8_t **out, size_t *len, struct dcr_err *err)
{
	int r = 0;

	if (e->opt.kind->refresh)
		e->opt.kind->refresh(e);
	pthread_mutex_lock(&e->lock);
	if (!(*out = malloc(e->evidence_len)))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else
		memcpy(*out, e->evidence, *len = e->evidence_len);
	pthread_mutex_unlock(&e->lock);
	return r;
}

int enclave_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err)
{
	const struct dcr_attest_kind *ours = e->opt.kind->lib, *theirs = dcr_attest_kind_of(spec->format);

	char hex[65];

	if (spec->format != ours->format)
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' is for %s attestation, this dcrd uses %s",
			spec->name, theirs ? theirs->title : "unknown", ours->title);
	if (spec->has_measurement && !dcr_ct_equal(spec->measurement, e->measurement, 32)) {
		dcr_hex(e->measurement, 32, hex);
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' pins other code (this dcrd is %s)", spec->name,
			hex);
	}
	return e->opt.kind->matches_spec ? e->opt.kind->matches_spec(e, spec, err) : 0;
}

void enclave_wipe_keys(struct enclave *e)
{
	dcr_wipe(e->sealing_key, sizeof(e->sealing_key));
	dcr_wipe(e->hpke_sk, sizeof(e->hpke_sk));
	dcr_hpke_forget();
	dcr_wipe(e->sign_sk, sizeof(e->sign_sk));
	dcr_ed25519_forget();
	dcr_wipe(e->sim_sk, sizeof(e->sim_sk));
}

void enclave_close(struct enclave *e)
{
	if (!e)
		return;
	free(e->evidence);
	free(e->quote);
	pthread_mutex_destroy(&e->lock);
	dcr_hpke_forget();
	dcr_ed25519_forget();
	dcr_wipe(e, sizeof(*e));
}
