/* Attestation evidence: binding enclave keys, simulated quotes, verification against trusted specs. */
#include "attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "evidence.pb-c.h"
#include "proto.h"

#include "banned.h"

static const char keys_domain[] = "dcr-enclave-keys-v1";
static const char sim_domain[] = "dcr-sim-report-v1";

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

/* "dcr-sim-report-v1" || 0x00 || report: what the sim key signs. */
static uint8_t *sim_signed_bytes(const uint8_t *report, size_t len, size_t *out_len)
{
	return dcr_domain_message(sim_domain, report, len, out_len);
}

static int pack_evidence(const char *format, const uint8_t *quote, size_t quote_len, const uint8_t *collateral,
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

int dcr_attest_sgx_evidence(const uint8_t *quote, size_t quote_len, const uint8_t *collateral,
	size_t collateral_len, const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	uint8_t *q;
	size_t q_len;
	int r;

	*out = NULL;
	/* The quote in the one form evidence carries it (dcr_sgx_quote_canonical). */
	if ((r = dcr_sgx_quote_normalize(quote, quote_len, &q, &q_len, err)) < 0)
		return r;
	r = pack_evidence("sgx-dcap", q, q_len, collateral, collateral_len, keys, out, out_len, err);
	free(q);
	return r;
}

int dcr_attest_sim_evidence(const uint8_t measurement[static 32], const uint8_t sim_sk[static 32],
	const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__SimReport report = DCR__V1__SIM_REPORT__INIT;
	Dcr__V1__SimQuote quote = DCR__V1__SIM_QUOTE__INIT;
	uint8_t rd[DCR_REPORT_DATA_LEN], sim_pk[32], sig[64];
	uint8_t *report_buf = NULL, *signed_buf = NULL, *quote_buf = NULL;
	size_t report_len, signed_len = 0, quote_len;
	int r;

	*out = NULL;
	if ((r = dcr_attest_report_data(keys->hpke_pk, keys->sign_pk, keys->ohttp_key_config,
		     keys->ohttp_key_config_len, rd, err)) < 0 ||
	    (r = dcr_ed25519_public(sim_sk, sim_pk, err)) < 0)
		return r;
	report.measurement = (ProtobufCBinaryData){ 32, (uint8_t *)measurement };
	report.report_data = (ProtobufCBinaryData){ sizeof(rd), rd };
	report_len = dcr__v1__sim_report__get_packed_size(&report);
	report_buf = malloc(report_len);
	if (report_buf) {
		dcr__v1__sim_report__pack(&report, report_buf);
		signed_buf = sim_signed_bytes(report_buf, report_len, &signed_len);
	}
	if (!report_buf || !signed_buf) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = dcr_ed25519_sign(sim_sk, signed_buf, signed_len, sig, err)) < 0)
		goto out;
	quote.report = (ProtobufCBinaryData){ report_len, report_buf };
	quote.sim_public_key = (ProtobufCBinaryData){ sizeof(sim_pk), sim_pk };
	quote.signature = (ProtobufCBinaryData){ sizeof(sig), sig };
	quote_len = dcr__v1__sim_quote__get_packed_size(&quote);
	if (!(quote_buf = malloc(quote_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__sim_quote__pack(&quote, quote_buf);
	r = pack_evidence("sim", quote_buf, quote_len, NULL, 0, keys, out, out_len, err);
out:
	free(report_buf);
	free(signed_buf);
	free(quote_buf);
	return r;
}

/* A message of the evidence, accepted only in its canonical encoding; else DCR_EATTEST "malformed evidence: ...". */
static int unpack_part(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, const char *what,
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

static int verify_sim(const Dcr__V1__Evidence *ev, const struct dcr_specs *specs, const char *spec_name,
	struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	Dcr__V1__SimQuote *quote = NULL;
	Dcr__V1__SimReport *report = NULL;
	const struct dcr_spec *match = NULL;
	uint8_t *signed_buf = NULL;
	size_t signed_len = 0;
	char hex[65];
	int r = 0;

	if (ev->collateral.len) {
		r = dcr_err_set(err, DCR_EATTEST, "malformed evidence: sim evidence carries no collateral, this has %zu "
						  "bytes", ev->collateral.len);
		goto out;
	}
	if ((r = unpack_part(&dcr__v1__sim_quote__descriptor, ev->quote.data, ev->quote.len, "the sim quote",
		     (ProtobufCMessage **)&quote, err)) < 0)
		goto out;
	if (quote->sim_public_key.len != 32 || quote->signature.len != 64) {
		r = dcr_err_set(err, DCR_EATTEST, "malformed sim quote");
		goto out;
	}
	signed_buf = sim_signed_bytes(quote->report.data, quote->report.len, &signed_len);
	if (!signed_buf) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if (dcr_ed25519_verify(quote->sim_public_key.data, signed_buf, signed_len, quote->signature.data, err) < 0) {
		r = dcr_err_set(err, DCR_EATTEST, "the sim quote's signature is invalid: the evidence was tampered with");
		goto out;
	}
	if ((r = unpack_part(&dcr__v1__sim_report__descriptor, quote->report.data, quote->report.len, "the sim report",
		     (ProtobufCMessage **)&report, err)) < 0)
		goto out;
	if (report->measurement.len != 32 || report->report_data.len != DCR_REPORT_DATA_LEN) {
		r = dcr_err_set(err, DCR_EATTEST, "malformed sim report");
		goto out;
	}
	memcpy(res->measurement, report->measurement.data, 32);
	memcpy(report_data, report->report_data.data, DCR_REPORT_DATA_LEN);
	dcr_hex(res->measurement, 32, hex);
	for (size_t i = 0; specs && i < specs->n && !match; i++) {
		const struct dcr_spec *s = &specs->items[i];

		if (s->format == DCR_SPEC_SIM && (!spec_name || strcmp(spec_name, s->name) == 0) &&
		    dcr_ct_equal(s->measurement, res->measurement, 32))
			match = s;
	}
	if (!match) {
		bool any_sim = false;

		for (size_t i = 0; specs && i < specs->n; i++)
			any_sim |= specs->items[i].format == DCR_SPEC_SIM;
		if (!any_sim)
			r = dcr_err_set(err, DCR_EATTEST,
				"the enclave uses simulated attestation, which the trusted specs do not pin "
				"(a sim entry from 'dcrd spec' would)");
		else
			r = dcr_err_set(err, DCR_EATTEST, "measurement %s is not pinned by %s%s%s in the trusted specs", hex,
				spec_name ? "spec '" : "any sim spec", spec_name ? spec_name : "", spec_name ? "'" : "");
		goto out;
	}
	snprintf(res->spec, sizeof(res->spec), "%s", match->name);
	res->simulated = 1;
out:
	dcr__v1__sim_report__free_unpacked(report, NULL);
	dcr__v1__sim_quote__free_unpacked(quote, NULL);
	free(signed_buf);
	return r;
}

/*
 * How telling a refusal is: 2, a spec that pins this enclave but refuses it
 * (debug, TCB status, SVN); 1, the quote did not verify under its root;
 * 0, a spec for other code.
 */
static int refusal_rank(const struct dcr_spec *s, const struct dcr_sgx_result *q)
{
	if (s->has_measurement)
		return memcmp(s->measurement, q->mrenclave, 32) == 0 ? 2 : 0;
	return memcmp(s->mrsigner, q->mrsigner, 32) == 0 && s->isv_prod_id == q->isv_prod_id ? 2 : 0;
}

/*
 * SGX DCAP: verify the quote against the collateral that came with it under
 * each candidate spec's pinned root, then that spec's policy. The first
 * spec that accepts wins; otherwise the most telling refusal is reported.
 */
static int verify_sgx(const Dcr__V1__Evidence *ev, const struct dcr_specs *specs, const char *spec_name,
	struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	struct dcr_sgx_collateral *collateral = NULL;
	const uint8_t *verified_root = NULL;
	size_t verified_len = 0;
	struct dcr_err why;
	int r, best = -1;

	if (ev->collateral.len == 0)
		return dcr_err_set(err, DCR_EATTEST, "sgx-dcap evidence without collateral");
	if ((r = dcr_sgx_collateral_parse(ev->collateral.data, ev->collateral.len, &collateral, err)) < 0)
		return dcr_err_prefix(err, "the enclave's evidence");
	for (size_t i = 0; specs && i < specs->n; i++) {
		const struct dcr_spec *s = &specs->items[i];
		int rank;

		if (s->format != DCR_SPEC_SGX_DCAP || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		if (!s->root_ca) {
			dcr_err_set(&why, DCR_EATTEST, "spec '%s' has no root_ca: verifying SGX evidence needs the "
						       "pinned Intel SGX Root CA (see dcr-specs(5))", s->name);
			rank = 1;
		} else {
			/* One verification per distinct root; a local failure ends it all. */
			if (!verified_root || verified_len != s->root_ca_len ||
			    memcmp(verified_root, s->root_ca, verified_len) != 0) {
				verified_root = NULL;
				r = dcr_sgx_verify(ev->quote.data, ev->quote.len, collateral, s->root_ca, s->root_ca_len,
					time(NULL), &res->sgx, &why);
				if (r < 0 && r != DCR_EATTEST) {
					*err = why;
					goto out;
				}
				if (r == 0) {
					verified_root = s->root_ca;
					verified_len = s->root_ca_len;
				}
			}
			if (!verified_root) {
				rank = 1;
			} else if (dcr_sgx_check_policy(&res->sgx, s, &why) == 0) {
				snprintf(res->spec, sizeof(res->spec), "%s", s->name);
				memcpy(res->measurement, res->sgx.mrenclave, 32);
				memcpy(report_data, res->sgx.report_data, DCR_REPORT_DATA_LEN);
				r = 0;
				goto out;
			} else {
				dcr_err_prefix(&why, "spec '%s'", s->name);
				rank = refusal_rank(s, &res->sgx);
			}
		}
		if (rank > best) {
			best = rank;
			*err = why;
		}
	}
	r = DCR_EATTEST;
	if (best < 0 && spec_name)
		dcr_err_set(err, DCR_EATTEST, "the enclave uses SGX DCAP attestation, but spec '%s' is not an "
					      "sgx-dcap spec", spec_name);
	else if (best < 0)
		dcr_err_set(err, DCR_EATTEST, "the enclave uses SGX DCAP attestation, which no sgx-dcap spec in "
					      "the trusted specs pins");
out:
	dcr_sgx_collateral_free(collateral);
	return r;
}

int dcr_attest_evidence_canonical(const uint8_t *evidence, size_t len, struct dcr_err *err)
{
	Dcr__V1__Evidence *ev = NULL;
	Dcr__V1__SimQuote *quote = NULL;
	struct dcr_err why;
	int r;

	if ((r = dcr_proto_unpack_canonical(&dcr__v1__evidence__descriptor, evidence, len, "the evidence",
		     (ProtobufCMessage **)&ev, err)) < 0)
		return r;
	/* Sim evidence has no collateral: bytes there would count for nothing. */
	if (strcmp(ev->format, "sim") == 0 && ev->collateral.len)
		r = dcr_err_set(err, DCR_EINTEGRITY, "the evidence is not as dcrd writes it: sim evidence with %zu bytes "
						     "of collateral", ev->collateral.len);
	else if (strcmp(ev->format, "sim") == 0 &&
	    (r = dcr_proto_unpack_canonical(&dcr__v1__sim_quote__descriptor, ev->quote.data, ev->quote.len,
		     "the evidence's sim quote", (ProtobufCMessage **)&quote, err)) == 0)
		r = dcr_proto_check_canonical(&dcr__v1__sim_report__descriptor, quote->report.data, quote->report.len,
			"the evidence's sim report", err);
	else if (strcmp(ev->format, "sgx-dcap") == 0 &&
		 (r = dcr_sgx_collateral_canonical(ev->collateral.data, ev->collateral.len, "the evidence's collateral",
			  err)) == 0 &&
		 (r = dcr_sgx_quote_canonical(ev->quote.data, ev->quote.len, &why)) < 0)
		/* A quote that does not parse (DCR_EATTEST) is a part that does not decode. */
		r = dcr_err_set(err, r == DCR_EATTEST ? DCR_EINVALID : r, "%s", why.msg);
	dcr__v1__sim_quote__free_unpacked(quote, NULL);
	dcr__v1__evidence__free_unpacked(ev, NULL);
	return r;
}

int dcr_attest_verify(const uint8_t *evidence, size_t len, const struct dcr_specs *specs,
	const char *spec_name, struct dcr_attest_result *res, struct dcr_err *err)
{
	Dcr__V1__Evidence *ev;
	uint8_t report_data[DCR_REPORT_DATA_LEN], want[DCR_REPORT_DATA_LEN];
	int r;

	memset(res, 0, sizeof(*res));
	if (!specs || specs->n == 0)
		return dcr_err_set(err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
	if (spec_name && !dcr_specs_find(specs, spec_name))
		return dcr_err_set(err, DCR_EATTEST, "spec '%s' is not in the trusted specs", spec_name);
	if ((r = unpack_part(&dcr__v1__evidence__descriptor, evidence, len, "the evidence", (ProtobufCMessage **)&ev,
		     err)) < 0)
		return r;
	if (ev->hpke_public_key.len != 32 || ev->signing_public_key.len != 32) {
		r = dcr_err_set(err, DCR_EATTEST, "evidence without 32-byte enclave keys");
		goto out;
	}
	snprintf(res->format, sizeof(res->format), "%.15s", ev->format);
	if (strcmp(ev->format, "sim") == 0)
		r = verify_sim(ev, specs, spec_name, res, report_data, err);
	else if (strcmp(ev->format, "sgx-dcap") == 0)
		r = verify_sgx(ev, specs, spec_name, res, report_data, err);
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
