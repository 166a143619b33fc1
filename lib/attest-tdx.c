/* The tdx attestation kind: an Intel TDX DCAP quote (version 4 or 5) with the collateral to verify it (lib/tdx.c). */
#include "attest-kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tdx.h"

#include "banned.h"

int dcr_attest_tdx_evidence(const uint8_t *quote, size_t quote_len, const uint8_t *collateral, size_t collateral_len,
	const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	uint8_t *q;
	size_t q_len;
	int r;

	*out = NULL;
	/* The quote in the one form evidence carries it (dcr_tdx_quote_canonical). */
	if ((r = dcr_tdx_quote_normalize(quote, quote_len, &q, &q_len, err)) < 0)
		return r;
	r = dcr_attest_pack_evidence("tdx", q, q_len, collateral, collateral_len, keys, out, out_len, err);
	free(q);
	return r;
}

static int tdx_quote_verify(const uint8_t *quote, size_t len, const struct dcr_sgx_collateral *c, const uint8_t *root,
	size_t root_len, time_t at, struct dcr_attest_result *res, struct dcr_err *err)
{
	int r = dcr_tdx_verify(quote, len, c, root, root_len, at, &res->tdx, err);

	/* What `measurement` shows for a TD: the SHA-256 of its MRTD (the 48 bytes are among the facts). */
	if (r == 0) {
		r = dcr_sha256(res->tdx.td.mrtd, DCR_TDX_MR_LEN, res->measurement, err);
		res->measurement_len = 32;
	}
	return r;
}

static int tdx_policy(const struct dcr_attest_result *res, const struct dcr_spec *s, struct dcr_err *err)
{
	return dcr_tdx_check_policy(&res->tdx, s, err);
}

/* 2: the spec pins this TD's MRTD (so its refusal is about policy); 0: it is for another TD. */
static int tdx_rank(const struct dcr_spec *s, const struct dcr_attest_result *res)
{
	return memcmp(s->mrtd, res->tdx.td.mrtd, DCR_TDX_MR_LEN) == 0 ? 2 : 0;
}

static const uint8_t *tdx_report_data(const struct dcr_attest_result *res)
{
	return res->tdx.td.report_data;
}

static const struct dcr_attest_dcap tdx_dcap = {
	.format = DCR_SPEC_TDX,
	.name = "tdx",
	.title = "Intel TDX",
	.collateral_parse = dcr_tdx_collateral_parse,
	.quote_verify = tdx_quote_verify,
	.policy = tdx_policy,
	.rank = tdx_rank,
	.report_data = tdx_report_data,
};

static int tdx_verify(const struct dcr_attest_evidence *ev, const struct dcr_specs *specs, const char *spec_name,
	time_t at, struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	return dcr_attest_dcap_verify(&tdx_dcap, ev, specs, spec_name, at, res, report_data, err);
}

/* Canonical: the collateral as dcr_pcs_assemble writes it, the quote with its one NUL after the PCK chain. */
static int tdx_canonical(const struct dcr_attest_evidence *ev, struct dcr_err *err)
{
	struct dcr_err why;
	int r;

	if ((r = dcr_sgx_collateral_canonical(ev->collateral, ev->collateral_len, "the evidence's collateral",
		     err)) < 0)
		return r;
	if ((r = dcr_tdx_quote_canonical(ev->quote, ev->quote_len, &why)) < 0)
		return dcr_err_set(err, r == DCR_EATTEST ? DCR_EINVALID : r, "%s", why.msg);
	return 0;
}

static int hex48(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t out[static 48])
{
	const char *s;
	int r = dcr_ydoc_string(y, n, what, 96, &s);

	if (r == 0 && (strlen(s) != 96 || dcr_unhex(s, out, 48) < 0))
		r = dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be 96 hex digits", what);
	return r;
}

static const char *const tdx_keys[] = { "format", "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "debug",
	"tcb_statuses", "root_ca", NULL };

static int tdx_spec_parse(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	yaml_node_t *v;
	int r;

	if (!(v = dcr_ydoc_get(y, n, "mrtd")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "tdx spec '%s' needs an mrtd", s->name);
	if ((r = hex48(y, v, "mrtd", s->mrtd)) < 0)
		return r;
	s->has_mrtd = true;
	for (int i = 0; i < 4; i++) {
		char key[8];

		snprintf(key, sizeof(key), "rtmr%d", i);
		if (!(v = dcr_ydoc_get(y, n, key)))
			continue;
		if ((r = hex48(y, v, key, s->rtmr[i])) < 0)
			return r;
		s->rtmr_pinned |= 1u << i;
	}
	/* MRTD measures the firmware alone: without RTMR0-2 any kernel, initrd and program it boots would pass. */
	if ((s->rtmr_pinned & DCR_TDX_RTMRS_REQUIRED) != DCR_TDX_RTMRS_REQUIRED)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "tdx spec '%s' needs rtmr0, rtmr1 and rtmr2 (MRTD measures only "
			"the firmware; the RTMRs the kernel, its command line and initrd)", s->name);
	return dcr_attest_dcap_spec_parse(y, n, file, s);
}

/* As decoded from a room's EnclaveSpec: an MRTD, RTMR0-2 (RTMR3 at will), TCB statuses; no SGX pins. */
static int tdx_spec_check(const struct dcr_spec *s, struct dcr_err *err)
{
	if (!s->has_mrtd || (s->rtmr_pinned & DCR_TDX_RTMRS_REQUIRED) != DCR_TDX_RTMRS_REQUIRED || s->has_measurement ||
	    s->has_signer || s->n_tcb_statuses == 0)
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", s->name);
	return 0;
}

static int tdx_facts_json(const struct dcr_attest_result *res, json_t *obj, struct dcr_err *err)
{
	static const char *const names[] = { "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid", "mrowner",
		"mrownerconfig", "mrseam" };
	const struct dcr_tdx_result *t = &res->tdx;
	const uint8_t *mr[] = { t->td.mrtd, t->td.rtmr[0], t->td.rtmr[1], t->td.rtmr[2], t->td.rtmr[3],
		t->td.mrconfigid, t->td.mrowner, t->td.mrownerconfig, t->td.mrseam };
	char hex[2 * DCR_TDX_REPORT_DATA_LEN + 1], attrs[17], xfam[17], fmspc[13], quote[40];
	json_t *adv = json_array(), *facts = NULL;
	int r = 0;

	dcr_hex(t->td.td_attributes, 8, attrs);
	dcr_hex(t->td.xfam, 8, xfam);
	dcr_hex(t->tcb.fmspc, 6, fmspc);
	snprintf(quote, sizeof(quote), "version %u, %s TD report", t->version, t->td.tdx15 ? "TDX 1.5" : "TDX 1.0");
	for (size_t i = 0; adv && i < t->tcb.n_advisory_ids; i++)
		if (json_array_append_new(adv, json_string(t->tcb.advisory_ids[i])) < 0)
			break;
	dcr_hex(t->td.report_data, DCR_TDX_REPORT_DATA_LEN, hex);
	if (adv)
		facts = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:o}", "quote", quote, "td_attributes", attrs,
			"debug", (int)t->debug, "xfam", xfam, "report_data", hex, "fmspc", fmspc, "tcb_status",
			t->tcb.tcb_status, "advisory_ids", adv);
	for (size_t i = 0; facts && r == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
		dcr_hex(mr[i], DCR_TDX_MR_LEN, hex);
		r = json_object_set_new(facts, names[i], json_string(hex));
	}
	if (!facts || r < 0 || json_object_update(obj, facts) < 0) {
		json_decref(facts);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	json_decref(facts);
	return 0;
}

static const struct dcr_attest_fact tdx_facts[] = {
	{ "quote", "quote" },
	{ "mrtd", "mrtd" },
	{ "rtmr0", "rtmr0" },
	{ "rtmr1", "rtmr1" },
	{ "rtmr2", "rtmr2" },
	{ "rtmr3", "rtmr3" },
	{ "mrconfigid", "mrconfigid" },
	{ "mrowner", "mrowner" },
	{ "mrownerconfig", "mrownerconfig" },
	{ "mrseam", "mrseam" },
	{ "attributes", "td_attributes" },
	{ "debug", "debug" },
	{ "xfam", "xfam" },
	{ "report data", "report_data" },
	{ "fmspc", "fmspc" },
	{ "tcb status", "tcb_status" },
	{ "advisories", "advisory_ids" },
	{ NULL, NULL },
};

/* Version 4 or 5, TEE type 0x81: the quotes lib/tdx.c verifies. */
static bool tdx_offline_claims(const uint8_t *q, size_t len)
{
	return len >= 8 && (q[0] == 4 || q[0] == 5) && q[1] == 0 && q[4] == DCR_TDX_TEE_TYPE && q[5] == 0 && q[6] == 0 &&
		q[7] == 0;
}

static int tdx_offline_verify(const struct dcr_attest_evidence *ev, const uint8_t *root, size_t root_len, time_t at,
	struct dcr_attest_result *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *collateral = NULL;
	int r;

	if ((r = dcr_tdx_collateral_parse(ev->collateral, ev->collateral_len, &collateral, err)) == 0)
		r = tdx_quote_verify(ev->quote, ev->quote_len, collateral, root, root_len, at, res, err);
	dcr_sgx_collateral_free(collateral);
	return r;
}

const struct dcr_attest_kind dcr_attest_kind_tdx = {
	.name = "tdx",
	.format = DCR_SPEC_TDX,
	.title = "Intel TDX",
	.simulated = false,
	.verify = tdx_verify,
	.canonical = tdx_canonical,
	.spec_keys = tdx_keys,
	.spec_parse = tdx_spec_parse,
	.spec_check = tdx_spec_check,
	.json_member = "tdx",
	.facts = tdx_facts,
	.facts_json = tdx_facts_json,
	.quote_max = DCR_TDX_QUOTE_MAX,
	.collateral_max = DCR_SGX_COLLATERAL_MAX,
	.offline_claims = tdx_offline_claims,
	.offline_verify = tdx_offline_verify,
	.policy = tdx_policy,
};
