/* The sgx-dcap attestation kind: an Intel SGX DCAP ECDSA quote with the collateral to verify it (lib/sgx.c). */
#include "attest-kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sgx.h"

#include "banned.h"

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
	r = dcr_attest_pack_evidence("sgx-dcap", q, q_len, collateral, collateral_len, keys, out, out_len, err);
	free(q);
	return r;
}

/*
 * How telling a refusal is: 2, a spec that pins this enclave but refuses it
 * (debug, TCB status, SVN); 0, a spec for other code.
 */
static int sgx_rank(const struct dcr_spec *s, const struct dcr_attest_result *res)
{
	const struct dcr_sgx_result *q = &res->sgx;

	if (s->has_measurement)
		return memcmp(s->measurement, q->mrenclave, 32) == 0 ? 2 : 0;
	return memcmp(s->mrsigner, q->mrsigner, 32) == 0 && s->isv_prod_id == q->isv_prod_id ? 2 : 0;
}

static int sgx_quote_verify(const uint8_t *quote, size_t len, const struct dcr_sgx_collateral *c, const uint8_t *root,
	size_t root_len, time_t at, struct dcr_attest_result *res, struct dcr_err *err)
{
	int r = dcr_sgx_verify(quote, len, c, root, root_len, at, &res->sgx, err);

	if (r == 0) {
		memcpy(res->measurement, res->sgx.mrenclave, 32);
		res->measurement_len = 32;
	}
	return r;
}

static int sgx_policy(const struct dcr_attest_result *res, const struct dcr_spec *s, struct dcr_err *err)
{
	return dcr_sgx_check_policy(&res->sgx, s, err);
}

static const uint8_t *sgx_report_data(const struct dcr_attest_result *res)
{
	return res->sgx.report_data;
}

static const struct dcr_attest_dcap sgx_dcap = {
	.format = DCR_SPEC_SGX_DCAP,
	.name = "sgx-dcap",
	.title = "SGX DCAP",
	.collateral_parse = dcr_sgx_collateral_parse,
	.quote_verify = sgx_quote_verify,
	.policy = sgx_policy,
	.rank = sgx_rank,
	.report_data = sgx_report_data,
};

/*
 * Verify the quote against the collateral that came with it under each
 * candidate spec's pinned root, then that spec's policy. The first spec
 * that accepts wins; otherwise the most telling refusal is reported.
 */
int dcr_attest_dcap_verify(const struct dcr_attest_dcap *k, const struct dcr_attest_evidence *ev,
	const struct dcr_specs *specs, const char *spec_name, time_t at, struct dcr_attest_result *res,
	uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	struct dcr_sgx_collateral *collateral = NULL;
	const uint8_t *verified_root = NULL;
	size_t verified_len = 0;
	struct dcr_err why;
	int r, best = -1;

	if (ev->collateral_len == 0)
		return dcr_err_set(err, DCR_EATTEST, "%s evidence without collateral", k->name);
	if ((r = k->collateral_parse(ev->collateral, ev->collateral_len, &collateral, err)) < 0)
		return dcr_err_prefix(err, "the enclave's evidence");
	for (size_t i = 0; specs && i < specs->n; i++) {
		const struct dcr_spec *s = &specs->items[i];
		int rank;

		if (s->format != k->format || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		if (!s->root_ca) {
			dcr_err_set(&why, DCR_EATTEST, "spec '%s' has no root_ca: verifying %s evidence needs the "
						       "pinned Intel SGX Root CA (see dcr-specs(5))", s->name, k->title);
			rank = 1;
		} else {
			/* One verification per distinct root; a local failure ends it all. */
			if (!verified_root || verified_len != s->root_ca_len ||
			    memcmp(verified_root, s->root_ca, verified_len) != 0) {
				verified_root = NULL;
				r = k->quote_verify(ev->quote, ev->quote_len, collateral, s->root_ca, s->root_ca_len, at,
					res, &why);
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
			} else if (k->policy(res, s, &why) == 0) {
				snprintf(res->spec, sizeof(res->spec), "%s", s->name);
				memcpy(report_data, k->report_data(res), DCR_REPORT_DATA_LEN);
				r = 0;
				goto out;
			} else {
				dcr_err_prefix(&why, "spec '%s'", s->name);
				rank = k->rank(s, res);
			}
		}
		if (rank > best) {
			best = rank;
			*err = why;
		}
	}
	r = DCR_EATTEST;
	if (best < 0 && spec_name)
		dcr_err_set(err, DCR_EATTEST, "the enclave uses %s attestation, but spec '%s' is not of format %s",
			k->title, spec_name, k->name);
	else if (best < 0)
		dcr_err_set(err, DCR_EATTEST, "the enclave uses %s attestation, which no %s spec in the trusted specs pins",
			k->title, k->name);
out:
	dcr_sgx_collateral_free(collateral);
	return r;
}

static int sgx_verify(const struct dcr_attest_evidence *ev, const struct dcr_specs *specs, const char *spec_name,
	time_t at, struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	return dcr_attest_dcap_verify(&sgx_dcap, ev, specs, spec_name, at, res, report_data, err);
}

/* Canonical: the collateral as dcr_pcs_assemble writes it, the quote with its one NUL after the PCK chain. */
static int sgx_canonical(const struct dcr_attest_evidence *ev, struct dcr_err *err)
{
	struct dcr_err why;
	int r;

	if ((r = dcr_sgx_collateral_canonical(ev->collateral, ev->collateral_len, "the evidence's collateral",
		     err)) < 0)
		return r;
	/* A quote that does not parse (DCR_EATTEST) is a part that does not decode. */
	if ((r = dcr_sgx_quote_canonical(ev->quote, ev->quote_len, &why)) < 0)
		return dcr_err_set(err, r == DCR_EATTEST ? DCR_EINVALID : r, "%s", why.msg);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_tcb(struct dcr_ydoc *y, yaml_node_t *n, struct dcr_spec *s)
{
	int r = dcr_ydoc_sequence(y, n, "tcb_statuses", DCR_SPEC_TCB_MAX);

	for (yaml_node_item_t *i = n->data.sequence.items.start; r == 0 && i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = dcr_ydoc_node(y, *i);
		const char *v, *known;

		if ((r = dcr_ydoc_string(y, item, "a TCB status", 64, &v)) < 0)
			break;
		if (!(known = dcr_spec_tcb_status(v)))
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "unknown TCB status '%s'%s", v,
				strcmp(v, "Revoked") == 0 ? " (a revoked TCB is never accepted)" : "");
		for (size_t j = 0; j < s->n_tcb_statuses; j++)
			if (s->tcb_statuses[j] == known)
				return dcr_ydoc_fail(y, item, DCR_EINVALID, "TCB status '%s' is listed twice", v);
		s->tcb_statuses[s->n_tcb_statuses++] = known;
	}
	if (r == 0 && s->n_tcb_statuses == 0)
		r = dcr_ydoc_fail(y, n, DCR_EINVALID, "tcb_statuses must not be empty");
	qsort(s->tcb_statuses, s->n_tcb_statuses, sizeof(*s->tcb_statuses), cmp_str);
	return r;
}

static const char *const sgx_keys[] = { "format", "measurement", "mrenclave", "mrsigner", "isvprodid", "min_isvsvn",
	"debug", "tcb_statuses", "root_ca", NULL };

static int sgx_spec_parse(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	yaml_node_t *v;
	int64_t num;
	int r;

	if (dcr_ydoc_get(y, n, "measurement"))
		return dcr_ydoc_fail(y, dcr_ydoc_get(y, n, "measurement"), DCR_EINVALID,
			"an sgx-dcap spec pins 'mrenclave' or 'mrsigner', not 'measurement'");
	if ((v = dcr_ydoc_get(y, n, "mrenclave"))) {
		s->has_measurement = true;
		if ((r = dcr_spec_hex32(y, v, "mrenclave", s->measurement)) < 0)
			return r;
	}
	if ((v = dcr_ydoc_get(y, n, "mrsigner"))) {
		s->has_signer = true;
		if ((r = dcr_spec_hex32(y, v, "mrsigner", s->mrsigner)) < 0)
			return r;
		if (!(v = dcr_ydoc_get(y, n, "isvprodid")))
			return dcr_ydoc_fail(y, n, DCR_EINVALID, "mrsigner needs isvprodid");
		if ((r = dcr_ydoc_int(y, v, "isvprodid", 0, 65535, &num)) < 0)
			return r;
		s->isv_prod_id = (uint32_t)num;
		if ((v = dcr_ydoc_get(y, n, "min_isvsvn"))) {
			if ((r = dcr_ydoc_int(y, v, "min_isvsvn", 0, 65535, &num)) < 0)
				return r;
			s->min_isv_svn = (uint32_t)num;
		}
	}
	if (s->has_measurement == s->has_signer)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sgx-dcap spec '%s' must pin exactly one of mrenclave or mrsigner",
			s->name);
	if (!s->has_signer && (dcr_ydoc_get(y, n, "isvprodid") || dcr_ydoc_get(y, n, "min_isvsvn")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "isvprodid and min_isvsvn go with mrsigner");
	return dcr_attest_dcap_spec_parse(y, n, file, s);
}

int dcr_attest_dcap_spec_parse(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	yaml_node_t *v;
	int r;

	if ((v = dcr_ydoc_get(y, n, "debug")) && (r = dcr_ydoc_bool(y, v, "debug", &s->debug_allowed)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "root_ca")) && (r = dcr_spec_root_ca(y, v, file, s)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "tcb_statuses")))
		return parse_tcb(y, v, s);
	s->tcb_statuses[0] = "SWHardeningNeeded";
	s->tcb_statuses[1] = "UpToDate";
	s->n_tcb_statuses = 2;
	return 0;
}

static int sgx_spec_check(const struct dcr_spec *s, struct dcr_err *err)
{
	if (s->has_measurement == s->has_signer || s->n_tcb_statuses == 0 || s->has_mrtd || s->rtmr_pinned)
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", s->name);
	return 0;
}

static int sgx_facts_json(const struct dcr_attest_result *res, json_t *obj, struct dcr_err *err)
{
	const struct dcr_sgx_result *q = &res->sgx;
	char mrenclave[65], mrsigner[65], fmspc[13];
	json_t *adv = json_array(), *facts = NULL;

	dcr_hex(q->mrenclave, 32, mrenclave);
	dcr_hex(q->mrsigner, 32, mrsigner);
	dcr_hex(q->fmspc, 6, fmspc);
	for (size_t i = 0; adv && i < q->n_advisory_ids; i++)
		if (json_array_append_new(adv, json_string(q->advisory_ids[i])) < 0)
			break;
	if (adv)
		facts = json_pack("{s:s, s:s, s:i, s:i, s:b, s:s, s:s, s:o}", "mrenclave", mrenclave, "mrsigner",
			mrsigner, "isvprodid", (int)q->isv_prod_id, "isvsvn", (int)q->isv_svn, "debug", (int)q->debug,
			"fmspc", fmspc, "tcb_status", q->tcb_status, "advisory_ids", adv);
	if (!facts || json_object_update(obj, facts) < 0) {
		json_decref(facts);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	json_decref(facts);
	return 0;
}

static const struct dcr_attest_fact sgx_facts[] = {
	{ "mrenclave", "mrenclave" },
	{ "mrsigner", "mrsigner" },
	{ "product", "isvprodid" },
	{ "svn", "isvsvn" },
	{ "debug", "debug" },
	{ "fmspc", "fmspc" },
	{ "tcb status", "tcb_status" },
	{ "advisories", "advisory_ids" },
	{ NULL, NULL },
};

/* Version 3, attestation key type 2, TEE type 0 (SGX): the quotes lib/sgx.c verifies. */
static bool sgx_offline_claims(const uint8_t *q, size_t len)
{
	return len >= 8 && q[0] == 3 && q[1] == 0 && q[2] == 2 && q[3] == 0 && q[4] == 0 && q[5] == 0 && q[6] == 0 &&
		q[7] == 0;
}

int dcr_attest_dcap_offline_verify(const struct dcr_attest_dcap *k, const struct dcr_attest_evidence *ev,
	const uint8_t *root, size_t root_len, time_t at, struct dcr_attest_result *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *collateral = NULL;
	int r;

	if ((r = k->collateral_parse(ev->collateral, ev->collateral_len, &collateral, err)) == 0)
		r = k->quote_verify(ev->quote, ev->quote_len, collateral, root, root_len, at, res, err);
	dcr_sgx_collateral_free(collateral);
	return r;
}

static int sgx_offline_verify(const struct dcr_attest_evidence *ev, const uint8_t *root, size_t root_len, time_t at,
	struct dcr_attest_result *res, struct dcr_err *err)
{
	return dcr_attest_dcap_offline_verify(&sgx_dcap, ev, root, root_len, at, res, err);
}

const struct dcr_attest_kind dcr_attest_kind_sgx_dcap = {
	.name = "sgx-dcap",
	.format = DCR_SPEC_SGX_DCAP,
	.title = "SGX DCAP",
	.simulated = false,
	.verify = sgx_verify,
	.canonical = sgx_canonical,
	.spec_keys = sgx_keys,
	.spec_parse = sgx_spec_parse,
	.spec_check = sgx_spec_check,
	.json_member = "sgx",
	.facts = sgx_facts,
	.facts_json = sgx_facts_json,
	.quote_max = DCR_SGX_QUOTE_MAX,
	.collateral_max = DCR_SGX_COLLATERAL_MAX,
	.offline_claims = sgx_offline_claims,
	.offline_verify = sgx_offline_verify,
	.policy = sgx_policy,
};
