/* Attestation evidence: binding enclave keys, simulated quotes, verification against trusted specs. */
#include "attest-kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "evidence.pb-c.h"
#include "proto.h"

#include "banned.h"

static const char keys_domain[] = "dcr-enclave-keys-v1";

int dcr_attest_report_data(const uint8_t hpke_pk[static 32], const uint8_t sign_pk[static 32],
	const uint8_t *key_config, size_t key_config_len, uint8_t out[static DCR_REPORT_DATA_LEN],
	struct dcr_err *err)
{
	struct dcr_sha256 *h = dcr_sha256_new();
	int r;

	if (!h)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	/* The domain's NUL separates it from the keys. */
	r = dcr_sha256_update(h, keys_domain, sizeof(keys_domain), err);
	if (r == 0)
		r = dcr_sha256_update(h, hpke_pk, 32, err);
	if (r == 0)
		r = dcr_sha256_update(h, sign_pk, 32, err);
	if (r == 0 && key_config_len)
		r = dcr_sha256_update(h, key_config, key_config_len, err);
	if (r == 0)
		r = dcr_sha256_final(h, out, err);
	dcr_sha256_free(h);
	memset(out + 32, 0, 32);
	return r;
}

int dcr_attest_pack_evidence(const char *format, const uint8_t *quote, size_t quote_len, const uint8_t *collateral,
	size_t collateral_len, const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	Dcr__V1__Evidence ev = DCR__V1__EVIDENCE__INIT;

	ev.format = (char *)format;
	ev.quote = (ProtobufCBinaryData){ quote_len, (uint8_t *)quote };
	ev.collateral = (ProtobufCBinaryData){ collateral_len, (uint8_t *)collateral };
	ev.hpke_public_key = (ProtobufCBinaryData){ 32, (uint8_t *)keys->hpke_pk };
	ev.signing_public_key = (ProtobufCBinaryData){ 32, (uint8_t *)keys->sign_pk };
	ev.ohttp_key_config = (ProtobufCBinaryData){ keys->ohttp_key_config_len, keys->ohttp_key_config };
	*out_len = dcr__v1__evidence__get_packed_size(&ev);
	if (!(*out = malloc(*out_len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	dcr__v1__evidence__pack(&ev, *out);
	return 0;
}

/* A message of the evidence, accepted only in its canonical encoding; else DCR_EATTEST "malformed evidence: ...". */
int dcr_attest_unpack_part(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, const char *what,
	ProtobufCMessage **out, struct dcr_err *err)
{
	struct dcr_err why;
	int r = dcr_proto_unpack_canonical(d, data, len, what, out, &why);

	if (r == DCR_ENOMEM)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r < 0)
		return dcr_err_set(err, DCR_EATTEST, "malformed evidence: %s", why.msg);
	return 0;
}

/* The kind-specific parts of ev, and its kind; NULL for a format no row names. */
static const struct dcr_attest_kind *evidence_kind(const Dcr__V1__Evidence *ev, struct dcr_attest_evidence *out)
{
	*out = (struct dcr_attest_evidence){ ev->format, ev->quote.data, ev->quote.len, ev->collateral.data,
		ev->collateral.len };
	return dcr_attest_kind_find(ev->format);
}

int dcr_attest_evidence_canonical(const uint8_t *evidence, size_t len, struct dcr_err *err)
{
	Dcr__V1__Evidence *ev = NULL;
	const struct dcr_attest_kind *kind;
	struct dcr_attest_evidence parts;
	int r;

	if ((r = dcr_proto_unpack_canonical(&dcr__v1__evidence__descriptor, evidence, len, "the evidence",
		     (ProtobufCMessage **)&ev, err)) < 0)
		return r;
	/* An unknown format is not this function's to judge: dcr_attest_verify rejects it. */
	if ((kind = evidence_kind(ev, &parts)))
		r = kind->canonical(&parts, err);
	dcr__v1__evidence__free_unpacked(ev, NULL);
	return r;
}

int dcr_attest_verify(const uint8_t *evidence, size_t len, const struct dcr_specs *specs,
	const char *spec_name, struct dcr_attest_result *res, struct dcr_err *err)
{
	Dcr__V1__Evidence *ev;
	const struct dcr_attest_kind *kind;
	struct dcr_attest_evidence parts;
	uint8_t report_data[DCR_REPORT_DATA_LEN], want[DCR_REPORT_DATA_LEN];
	int r;

	memset(res, 0, sizeof(*res));
	if (!specs || specs->n == 0)
		return dcr_err_set(err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
	if (spec_name && !dcr_specs_find(specs, spec_name))
		return dcr_err_set(err, DCR_EATTEST, "spec '%s' is not in the trusted specs", spec_name);
	if ((r = dcr_attest_unpack_part(&dcr__v1__evidence__descriptor, evidence, len, "the evidence",
		     (ProtobufCMessage **)&ev, err)) < 0)
		return r;
	if (ev->hpke_public_key.len != 32 || ev->signing_public_key.len != 32) {
		r = dcr_err_set(err, DCR_EATTEST, "evidence without 32-byte enclave keys");
		goto out;
	}
	snprintf(res->format, sizeof(res->format), "%.15s", ev->format);
	if ((kind = evidence_kind(ev, &parts)))
		r = kind->verify(&parts, specs, spec_name, time(NULL), res, report_data, err);
	else
		r = dcr_err_set(err, DCR_EATTEST, "unknown evidence format '%.32s'", ev->format);
	if (r < 0)
		goto out;
	/* The quote must vouch for exactly the keys that came with it. */
	if ((r = dcr_attest_report_data(ev->hpke_public_key.data, ev->signing_public_key.data,
		     ev->ohttp_key_config.data, ev->ohttp_key_config.len, want, err)) < 0)
		goto out;
	if (!dcr_ct_equal(want, report_data, sizeof(want))) {
		r = dcr_err_set(err, DCR_EATTEST, "the enclave keys do not match the report data: "
						  "the keys were swapped after attestation");
		goto out;
	}
	memcpy(res->keys.hpke_pk, ev->hpke_public_key.data, 32);
	memcpy(res->keys.sign_pk, ev->signing_public_key.data, 32);
	if (ev->ohttp_key_config.len) {
		res->keys.ohttp_key_config = malloc(ev->ohttp_key_config.len);
		if (!res->keys.ohttp_key_config) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(res->keys.ohttp_key_config, ev->ohttp_key_config.data, ev->ohttp_key_config.len);
		res->keys.ohttp_key_config_len = ev->ohttp_key_config.len;
	}
out:
	dcr__v1__evidence__free_unpacked(ev, NULL);
	if (r < 0)
		dcr_attest_result_release(res);
	return r;
}

void dcr_attest_result_release(struct dcr_attest_result *res)
{
	if (!res)
		return;
	free(res->keys.ohttp_key_config);
	res->keys.ohttp_key_config = NULL;
	res->keys.ohttp_key_config_len = 0;
}

/* A string of the report into out (size bytes with its NUL): no control characters, and it fits. */
static bool report_text(const char *s, char *out, size_t size)
{
	size_t n = strlen(s);

	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	memcpy(out, s, n + 1);
	return true;
}

int dcr_attest_sandbox_parse(const uint8_t *buf, size_t len, struct dcr_sandbox_info *out, struct dcr_err *err)
{
	Dcr__V1__SandboxReport *rep;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (len > DCR_SANDBOX_REPORT_MAX)
		return dcr_err_set(err, DCR_EINVALID, "malformed sandbox report: %zu bytes, at most %d", len,
			DCR_SANDBOX_REPORT_MAX);
	if (!(rep = dcr__v1__sandbox_report__unpack(NULL, len, buf)))
		return dcr_err_set(err, DCR_EINVALID, "malformed sandbox report: not a SandboxReport message");
	out->available = rep->available;
	ok = rep->n_packages <= DCR_SANDBOX_PACKAGES_MAX && report_text(rep->reason, out->reason, sizeof(out->reason)) &&
	     report_text(rep->python, out->python, sizeof(out->python));
	for (size_t i = 0; ok && i < rep->n_packages; i++)
		ok = report_text(rep->packages[i]->name, out->packages[i].name, sizeof(out->packages[i].name)) &&
		     out->packages[i].name[0] &&
		     report_text(rep->packages[i]->version, out->packages[i].version, sizeof(out->packages[i].version));
	out->n_packages = ok ? rep->n_packages : 0;
	dcr__v1__sandbox_report__free_unpacked(rep, NULL);
	if (!ok) {
		memset(out, 0, sizeof(*out));
		return dcr_err_set(err, DCR_EINVALID, "malformed sandbox report: too many packages, or a text too long "
			"or with control characters");
	}
	return 0;
}
