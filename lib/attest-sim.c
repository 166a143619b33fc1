/* The sim attestation kind: a SimQuote signed by a key dcrd holds; no hardware protection. */
#include "attest-kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "evidence.pb-c.h"
#include "proto.h"

#include "banned.h"

static const char sim_domain[] = "dcr-sim-report-v1";

/* "dcr-sim-report-v1" || 0x00 || report: what the sim key signs. */
static uint8_t *sim_signed_bytes(const uint8_t *report, size_t len, size_t *out_len)
{
	return dcr_domain_message(sim_domain, report, len, out_len);
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
	r = dcr_attest_pack_evidence("sim", quote_buf, quote_len, NULL, 0, keys, out, out_len, err);
out:
	free(report_buf);
	free(signed_buf);
	free(quote_buf);
	return r;
}

static int sim_verify(const struct dcr_attest_evidence *ev, const struct dcr_specs *specs, const char *spec_name,
	time_t at, struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	Dcr__V1__SimQuote *quote = NULL;
	Dcr__V1__SimReport *report = NULL;
	const struct dcr_spec *match = NULL;
	uint8_t *signed_buf = NULL;
	size_t signed_len = 0;
	char hex[65];
	int r = 0;

	(void)at; /* a sim quote does not expire */
	if (ev->collateral_len) {
		r = dcr_err_set(err, DCR_EATTEST, "malformed evidence: sim evidence carries no collateral, this has %zu "
						  "bytes", ev->collateral_len);
		goto out;
	}
	if ((r = dcr_attest_unpack_part(&dcr__v1__sim_quote__descriptor, ev->quote, ev->quote_len, "the sim quote",
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
	if ((r = dcr_attest_unpack_part(&dcr__v1__sim_report__descriptor, quote->report.data, quote->report.len,
		     "the sim report", (ProtobufCMessage **)&report, err)) < 0)
		goto out;
	if (report->measurement.len != 32 || report->report_data.len != DCR_REPORT_DATA_LEN) {
		r = dcr_err_set(err, DCR_EATTEST, "malformed sim report");
		goto out;
	}
	memcpy(res->measurement, report->measurement.data, 32);
	res->measurement_len = 32;
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

/* Canonical sim evidence: no collateral, the SimQuote and its SimReport canonical protobuf. */
static int sim_canonical(const struct dcr_attest_evidence *ev, struct dcr_err *err)
{
	Dcr__V1__SimQuote *quote = NULL;
	int r;

	/* Sim evidence has no collateral: bytes there would count for nothing. */
	if (ev->collateral_len)
		return dcr_err_set(err, DCR_EINTEGRITY, "the evidence is not as dcrd writes it: sim evidence with %zu "
							"bytes of collateral", ev->collateral_len);
	if ((r = dcr_proto_unpack_canonical(&dcr__v1__sim_quote__descriptor, ev->quote, ev->quote_len,
		     "the evidence's sim quote", (ProtobufCMessage **)&quote, err)) == 0)
		r = dcr_proto_check_canonical(&dcr__v1__sim_report__descriptor, quote->report.data, quote->report.len,
			"the evidence's sim report", err);
	dcr__v1__sim_quote__free_unpacked(quote, NULL);
	return r;
}

static const char *const sim_keys[] = { "format", "measurement", NULL };

/* A sim spec pins the SHA-256 of dcrd (`dcrd spec`) and nothing else. */
static int sim_spec_parse(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	yaml_node_t *v;

	(void)file;
	if (!(v = dcr_ydoc_get(y, n, "measurement")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sim spec '%s' needs a measurement", s->name);
	s->has_measurement = true;
	return dcr_spec_hex32(y, v, "measurement", s->measurement);
}

static int sim_spec_check(const struct dcr_spec *s, struct dcr_err *err)
{
	if (!s->has_measurement || s->has_signer || s->n_tcb_statuses || s->debug_allowed || s->has_mrtd ||
	    s->rtmr_pinned)
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", s->name);
	return 0;
}

const struct dcr_attest_kind dcr_attest_kind_sim = {
	.name = "sim",
	.format = DCR_SPEC_SIM,
	.title = "simulated",
	.simulated = true,
	.verify = sim_verify,
	.canonical = sim_canonical,
	.spec_keys = sim_keys,
	.spec_parse = sim_spec_parse,
	.spec_check = sim_spec_check,
};
