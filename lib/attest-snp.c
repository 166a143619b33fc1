/* The sev-snp attestation kind: an AMD SEV-SNP report with the VCEK (or VLEK) chain to verify it (lib/snp.c). */
#include "attest-kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "snp.h"

#include "banned.h"

int dcr_attest_snp_evidence(const uint8_t report[static DCR_SNP_REPORT_LEN], const uint8_t *chain, size_t chain_len,
	const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	int r;

	*out = NULL;
	if ((r = dcr_snp_chain_check(chain, chain_len, err)) < 0)
		return r;
	return dcr_attest_pack_evidence("sev-snp", report, DCR_SNP_REPORT_LEN, chain, chain_len, keys, out, out_len,
		err);
}

/*
 * How telling a refusal is: 2, a spec that pins this MEASUREMENT but refuses
 * it; 1, the report did not verify under its ARK; 0, a spec for other code.
 */
static int refusal_rank(const struct dcr_spec *s, const struct dcr_snp_result *q)
{
	return memcmp(s->snp_measurement, q->measurement, 48) == 0 ? 2 : 0;
}

/*
 * Verify the report with the chain that came with it under each candidate
 * spec's ARK, then that spec's policy. The first spec that accepts wins;
 * otherwise the most telling refusal is reported.
 */
static int snp_verify(const struct dcr_attest_evidence *ev, const struct dcr_specs *specs, const char *spec_name,
	time_t at, struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err)
{
	const uint8_t *verified_root = NULL;
	size_t verified_len = 0;
	struct dcr_err why;
	int r, best = -1;

	for (size_t i = 0; specs && i < specs->n; i++) {
		const struct dcr_spec *s = &specs->items[i];
		int rank;

		if (s->format != DCR_SPEC_SEV_SNP || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		/* One verification per distinct ARK; a local failure ends it all. */
		if (!verified_root || verified_len != s->root_ca_len || memcmp(verified_root, s->root_ca, verified_len) != 0) {
			verified_root = NULL;
			r = dcr_snp_verify(ev->quote, ev->quote_len, ev->collateral, ev->collateral_len, s->root_ca,
				s->root_ca_len, at, &res->snp, &why);
			if (r < 0 && r != DCR_EATTEST) {
				*err = why;
				return r;
			}
			if (r == 0) {
				verified_root = s->root_ca;
				verified_len = s->root_ca_len;
			}
		}
		if (!verified_root) {
			rank = 1;
		} else if (dcr_snp_check_policy(&res->snp, s, &why) == 0) {
			snprintf(res->spec, sizeof(res->spec), "%s", s->name);
			memcpy(res->measurement, res->snp.measurement, 48);
			res->measurement_len = 48;
			memcpy(report_data, res->snp.report_data, DCR_REPORT_DATA_LEN);
			return 0;
		} else {
			dcr_err_prefix(&why, "spec '%s'", s->name);
			rank = refusal_rank(s, &res->snp);
		}
		if (rank > best) {
			best = rank;
			*err = why;
		}
	}
	if (best < 0 && spec_name)
		dcr_err_set(err, DCR_EATTEST, "the enclave uses SEV-SNP attestation, but spec '%s' is not a sev-snp spec",
			spec_name);
	else if (best < 0)
		dcr_err_set(err, DCR_EATTEST, "the enclave uses SEV-SNP attestation, which no sev-snp spec in the trusted "
					      "specs pins");
	return DCR_EATTEST;
}

/*
 * Canonical: a report that parses (its bytes are the firmware's, signed or
 * required to be zero) and the chain in its one form, without the ARK.
 */
static int snp_canonical(const struct dcr_attest_evidence *ev, struct dcr_err *err)
{
	struct dcr_snp_report rep;
	struct dcr_err why;
	int r;

	if ((r = dcr_snp_report_parse(ev->quote, ev->quote_len, &rep, &why)) < 0)
		return dcr_err_set(err, r == DCR_EATTEST ? DCR_EINVALID : r, "%s", why.msg);
	if ((r = dcr_snp_chain_check(ev->collateral, ev->collateral_len, &why)) < 0)
		return dcr_err_set(err, r == DCR_EATTEST ? DCR_EINTEGRITY : r, "%s", why.msg);
	return 0;
}

/*
 * A list of names, each once, as the bits they name (policy_allow,
 * platform_require); list names the accepted ones for the message.
 */
static int parse_bits(struct dcr_ydoc *y, yaml_node_t *n, const char *key, const char *what, const char *list,
	uint64_t (*bit_of)(const char *), uint64_t *out)
{
	int r = dcr_ydoc_sequence(y, n, key, 8);

	*out = 0;
	for (yaml_node_item_t *i = n->data.sequence.items.start; r == 0 && i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = dcr_ydoc_node(y, *i);
		const char *v;
		uint64_t bit;

		if ((r = dcr_ydoc_string(y, item, what, 32, &v)) < 0)
			break;
		if (!(bit = bit_of(v)))
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "unknown %s '%s' (%s)", what, v, list);
		if (*out & bit)
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "%s '%s' is listed twice", what, v);
		*out |= bit;
	}
	return r;
}

/*
 * min_tcb: a mapping of SPL names to 0-255. bootloader, tee, snp and
 * microcode are required: no default can know which levels fix what (AMD's
 * security bulletins do); fmc (Turin) left out is 0.
 */
static int parse_min_tcb(struct dcr_ydoc *y, yaml_node_t *n, struct dcr_spec *s)
{
	static const char *const names[] = { "bootloader", "tee", "snp", "microcode", "fmc", NULL };
	uint8_t *fields[] = { &s->snp_min_tcb.bootloader, &s->snp_min_tcb.tee, &s->snp_min_tcb.snp,
		&s->snp_min_tcb.microcode, &s->snp_min_tcb.fmc };
	yaml_node_t *v;
	int64_t num;
	int r;

	if ((r = dcr_ydoc_mapping(y, n, "min_tcb", names)) < 0)
		return r;
	for (int i = 0; names[i]; i++) {
		if (!(v = dcr_ydoc_get(y, n, names[i]))) {
			if (strcmp(names[i], "fmc") == 0)
				continue;
			return dcr_ydoc_fail(y, n, DCR_EINVALID, "sev-snp spec '%s' min_tcb needs %s (bootloader, tee, snp and "
				"microcode: the lowest levels it trusts, from AMD's security bulletins)", s->name, names[i]);
		}
		if ((r = dcr_ydoc_int(y, v, names[i], 0, 255, &num)) < 0)
			return r;
		*fields[i] = (uint8_t)num;
	}
	return 0;
}

/* signing_keys: [vcek] or [vcek, vlek] (the default). */
static int parse_signing_keys(struct dcr_ydoc *y, yaml_node_t *n, struct dcr_spec *s)
{
	int r = dcr_ydoc_sequence(y, n, "signing_keys", 2);
	bool vcek = false, vlek = false;

	for (yaml_node_item_t *i = n->data.sequence.items.start; r == 0 && i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = dcr_ydoc_node(y, *i);
		const char *v;
		bool *seen;

		if ((r = dcr_ydoc_string(y, item, "a signing key", 8, &v)) < 0)
			return r;
		if (!(seen = strcmp(v, "vcek") == 0 ? &vcek : strcmp(v, "vlek") == 0 ? &vlek : NULL))
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "unknown signing key '%s' (vcek, vlek)", v);
		if (*seen)
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "signing key '%s' is listed twice", v);
		*seen = true;
	}
	if (r == 0 && !vcek)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "signing_keys must list vcek");
	s->snp_vcek_only = !vlek;
	return r;
}

static const char *const snp_keys[] = { "format", "measurement", "host_data", "id_key_digest", "policy_allow",
	"max_vmpl", "min_tcb", "root_ca", "require_crl", "signing_keys", "platform_require", NULL };

static int snp_spec_parse(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	yaml_node_t *v;
	int64_t num;
	int r;

	if (!(v = dcr_ydoc_get(y, n, "measurement")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sev-snp spec '%s' needs a measurement (MEASUREMENT, 96 hex digits)",
			s->name);
	/* 48 bytes: in snp_measurement, not the 32-byte measurement the other kinds pin. */
	if ((r = dcr_spec_hex(y, v, "measurement", s->snp_measurement, 48)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "host_data"))) {
		s->snp_has_host_data = true;
		if ((r = dcr_spec_hex(y, v, "host_data", s->snp_host_data, 32)) < 0)
			return r;
	}
	if ((v = dcr_ydoc_get(y, n, "id_key_digest"))) {
		s->snp_has_id_key = true;
		if ((r = dcr_spec_hex(y, v, "id_key_digest", s->snp_id_key_digest, 48)) < 0)
			return r;
	}
	s->snp_policy_allow = DCR_SNP_POLICY_SMT;
	if ((v = dcr_ydoc_get(y, n, "policy_allow")) &&
	    (r = parse_bits(y, v, "policy_allow", "policy bit", "smt, migrate_ma, debug, cxl_allow", dcr_snp_policy_bit,
		     &s->snp_policy_allow)) < 0)
		return r;
	s->debug_allowed = s->snp_policy_allow & DCR_SNP_POLICY_DEBUG;
	if ((v = dcr_ydoc_get(y, n, "max_vmpl"))) {
		if ((r = dcr_ydoc_int(y, v, "max_vmpl", 0, 3, &num)) < 0)
			return r;
		s->snp_max_vmpl = (uint32_t)num;
	}
	if (!(v = dcr_ydoc_get(y, n, "min_tcb")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sev-snp spec '%s' needs min_tcb: the lowest bootloader, tee, snp "
			"and microcode levels it trusts (AMD's security bulletins say which levels fix what)", s->name);
	if ((r = parse_min_tcb(y, v, s)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "require_crl"))) {
		bool require;

		if ((r = dcr_ydoc_bool(y, v, "require_crl", &require)) < 0)
			return r;
		s->snp_crl_optional = !require;
	}
	if ((v = dcr_ydoc_get(y, n, "signing_keys")) && (r = parse_signing_keys(y, v, s)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "platform_require")) &&
	    (r = parse_bits(y, v, "platform_require", "platform bit", "tsme, ecc, ciphertext_hiding, alias_check",
		     dcr_snp_platform_bit, &s->snp_platform_require)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(y, n, "root_ca")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sev-snp spec '%s' needs root_ca: the AMD root key (ARK) of its "
			"processors", s->name);
	return dcr_spec_root_ca(y, v, file, s);
}

/* A room's spec of this kind: MEASUREMENT pinned, nothing of SGX's, a VMPL bound and allowed bits that exist. */
static int snp_spec_check(const struct dcr_spec *s, struct dcr_err *err)
{
	if (s->has_measurement || s->has_signer || s->n_tcb_statuses || s->snp_max_vmpl > 3 ||
	    (s->snp_policy_allow & ~DCR_SNP_POLICY_WEAKENING) ||
	    (s->snp_platform_require & ~DCR_SNP_PLATFORM_NAMED) ||
	    s->debug_allowed != !!(s->snp_policy_allow & DCR_SNP_POLICY_DEBUG))
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", s->name);
	return 0;
}

/* The weakening policy bits that are set, as a JSON array of their names. */
static json_t *policy_names(uint64_t policy)
{
	static const char *const names[] = { "smt", "migrate_ma", "debug", "cxl_allow" };
	json_t *a = json_array();

	for (size_t i = 0; a && i < sizeof(names) / sizeof(names[0]); i++)
		if ((policy & dcr_snp_policy_bit(names[i])) && json_array_append_new(a, json_string(names[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *tcb_json(uint64_t raw, enum dcr_snp_product product)
{
	struct dcr_snp_tcb t;
	char hex[17];

	dcr_snp_tcb_decode(raw, product, &t);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)raw);
	if (product == DCR_SNP_TURIN)
		return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "raw", hex, "fmc", t.fmc, "bootloader", t.bootloader,
			"tee", t.tee, "snp", t.snp, "microcode", t.microcode);
	return json_pack("{s:s, s:i, s:i, s:i, s:i}", "raw", hex, "bootloader", t.bootloader, "tee", t.tee, "snp", t.snp,
		"microcode", t.microcode);
}

static int snp_facts_json(const struct dcr_attest_result *res, json_t *obj, struct dcr_err *err)
{
	const struct dcr_snp_result *q = &res->snp;
	char measurement[97], host_data[65], id_key[97], author_key[97], report_data[129], chip_id[129], policy[19];
	char platform[19], launch_mit[19], current_mit[19];
	json_t *facts;

	dcr_hex(q->measurement, 48, measurement);
	dcr_hex(q->host_data, 32, host_data);
	dcr_hex(q->id_key_digest, 48, id_key);
	dcr_hex(q->author_key_digest, 48, author_key);
	dcr_hex(q->report_data, 64, report_data);
	dcr_hex(q->chip_id, 64, chip_id);
	snprintf(policy, sizeof(policy), "0x%016llx", (unsigned long long)q->policy);
	snprintf(platform, sizeof(platform), "0x%016llx", (unsigned long long)q->platform_info);
	snprintf(launch_mit, sizeof(launch_mit), "0x%016llx", (unsigned long long)q->launch_mit_vector);
	snprintf(current_mit, sizeof(current_mit), "0x%016llx", (unsigned long long)q->current_mit_vector);
	facts = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o*, s:b, s:i, s:o*, s:o*, s:s, s:s, s:b}",
		"product", dcr_snp_product_name(q->product), "version", (int)q->version, "measurement", measurement,
		"host_data", host_data, "id_key_digest", id_key, "author_key_digest", author_key, "report_data",
		report_data, "policy", policy, "policy_allows", policy_names(q->policy), "debug", (int)q->debug, "vmpl",
		(int)q->vmpl, "reported_tcb", tcb_json(q->reported_tcb, q->product), "committed_tcb",
		tcb_json(q->committed_tcb, q->product), "chip_id", q->mask_chip_id ? "" : chip_id, "signing_key",
		q->vlek ? "VLEK" : "VCEK", "crl_checked", (int)q->crl_checked);
	/* The mitigation vectors are version 5's; 0 before. */
	if (facts && (json_object_set_new(facts, "platform_info", json_string(platform)) < 0 ||
		json_object_set_new(facts, "launch_mit_vector", json_string(launch_mit)) < 0 ||
		json_object_set_new(facts, "current_mit_vector", json_string(current_mit)) < 0)) {
		json_decref(facts);
		facts = NULL;
	}
	if (!facts || json_object_update(obj, facts) < 0) {
		json_decref(facts);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	json_decref(facts);
	return 0;
}

static const struct dcr_attest_fact snp_facts[] = {
	{ "product", "product" },
	{ "version", "version" },
	{ "signing key", "signing_key" },
	{ "measurement", "measurement" },
	{ "host data", "host_data" },
	{ "id key", "id_key_digest" },
	{ "author key", "author_key_digest" },
	{ "report data", "report_data" },
	{ "policy", "policy" },
	{ "allows", "policy_allows" },
	{ "debug", "debug" },
	{ "vmpl", "vmpl" },
	{ "tcb", "reported_tcb" },
	{ "committed", "committed_tcb" },
	{ "chip id", "chip_id" },
	{ "crl checked", "crl_checked" },
	{ "platform", "platform_info" },
	{ "launch mit", "launch_mit_vector" },
	{ "current mit", "current_mit_vector" },
	{ NULL, NULL },
};

/*
 * 1184 bytes starting with a small version: a report, whose parser then
 * names a version it does not support (an SGX quote is never that short).
 */
static bool snp_offline_claims(const uint8_t *q, size_t len)
{
	return len == DCR_SNP_REPORT_LEN && q[1] == 0 && q[2] == 0 && q[3] == 0;
}

static int snp_offline_verify(const struct dcr_attest_evidence *ev, const uint8_t *root, size_t root_len, time_t at,
	struct dcr_attest_result *res, struct dcr_err *err)
{
	int r = dcr_snp_verify(ev->quote, ev->quote_len, ev->collateral, ev->collateral_len, root, root_len, at, &res->snp,
		err);

	if (r == 0) {
		memcpy(res->measurement, res->snp.measurement, 48);
		res->measurement_len = 48;
	}
	return r;
}

static int snp_policy(const struct dcr_attest_result *res, const struct dcr_spec *s, struct dcr_err *err)
{
	return dcr_snp_check_policy(&res->snp, s, err);
}

const struct dcr_attest_kind dcr_attest_kind_sev_snp = {
	.name = "sev-snp",
	.format = DCR_SPEC_SEV_SNP,
	.title = "SEV-SNP",
	.simulated = false,
	.verify = snp_verify,
	.canonical = snp_canonical,
	.spec_keys = snp_keys,
	.spec_parse = snp_spec_parse,
	.spec_check = snp_spec_check,
	.json_member = "sev_snp",
	.facts = snp_facts,
	.facts_json = snp_facts_json,
	.quote_max = DCR_SNP_REPORT_LEN,
	.collateral_max = DCR_SNP_CHAIN_MAX,
	.offline_claims = snp_offline_claims,
	.offline_verify = snp_offline_verify,
	.policy = snp_policy,
};
