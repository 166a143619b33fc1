/* dcr attest: fetch the enclave's evidence and verify it against the trusted specs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
#include "sgx.h"
#include "snp.h"
#include "specs.h"
#include "transport.h"
#include "util.h"

#include "banned.h"

#define MAX_EVIDENCE (1u << 20)

/* "sha256:<hex>" of a public key, as people compare fingerprints. */
static void fingerprint(const uint8_t key[static 32], char out[static 72])
{
	uint8_t digest[32];

	dcr_sha256(key, 32, digest, NULL);
	memcpy(out, "sha256:", 7);
	dcr_hex(digest, sizeof(digest), out + 7);
}

/* What an SGX quote established: as JSON members of obj, or as lines. */
static void sgx_facts(const struct dcr_sgx_result *res, json_t *obj)
{
	char mrenclave[65], mrsigner[65], fmspc[13];

	dcr_hex(res->mrenclave, 32, mrenclave);
	dcr_hex(res->mrsigner, 32, mrsigner);
	dcr_hex(res->fmspc, 6, fmspc);
	if (obj) {
		json_t *adv = json_array(), *facts;

		for (size_t i = 0; i < res->n_advisory_ids; i++)
			json_array_append_new(adv, json_string(res->advisory_ids[i]));
		facts = json_pack("{s:s, s:s, s:i, s:i, s:b, s:s, s:s, s:o}", "mrenclave", mrenclave, "mrsigner",
			mrsigner, "isvprodid", (int)res->isv_prod_id, "isvsvn", (int)res->isv_svn, "debug", (int)res->debug,
			"fmspc", fmspc, "tcb_status", res->tcb_status, "advisory_ids", adv);
		json_object_update(obj, facts);
		json_decref(facts);
		return;
	}
	printf("mrenclave    %s\n", mrenclave);
	printf("mrsigner     %s\n", mrsigner);
	printf("product      %u\n", res->isv_prod_id);
	printf("svn          %u\n", res->isv_svn);
	printf("debug        %s\n", res->debug ? "yes" : "no");
	printf("fmspc        %s\n", fmspc);
	printf("tcb status   %s\n", res->tcb_status);
	printf("advisories   ");
	for (size_t i = 0; i < res->n_advisory_ids; i++) {
		printf("%s", i ? ", " : "");
		put_text(stdout, res->advisory_ids[i], false);
	}
	printf("%s\n", res->n_advisory_ids ? "" : "(none)");
}

static void print_sgx(const struct dcr_sgx_result *res, const char *verdict, json_t **json)
{
	if (json) {
		*json = json_pack("{s:s}", "format", "sgx-dcap");
		sgx_facts(res, *json);
		json_object_set_new(*json, "verdict", json_string(verdict));
		return;
	}
	printf("format       sgx-dcap\n");
	sgx_facts(res, NULL);
	printf("verdict      %s\n", verdict);
}

/* The weakening guest policy bits that are set, comma-separated ("none" when none). */
static void snp_policy_names(uint64_t policy, char out[static 64])
{
	static const char *const names[] = { "smt", "migrate_ma", "debug", "cxl_allow" };
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (policy & dcr_snp_policy_bit(names[i]))
			o += (size_t)snprintf(out + o, 64 - o, "%s%s", o ? ", " : "", names[i]);
	if (!o)
		snprintf(out, 64, "none");
}

static json_t *snp_tcb_json(uint64_t raw, enum dcr_snp_product product)
{
	struct dcr_snp_tcb t;
	char hex[17];

	dcr_snp_tcb_decode(raw, product, &t);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)raw);
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "raw", hex, "bootloader", t.bootloader, "tee", t.tee, "snp",
		t.snp, "microcode", t.microcode, "fmc", t.fmc);
}

static void snp_tcb_line(const char *label, uint64_t raw, enum dcr_snp_product product)
{
	struct dcr_snp_tcb t;

	dcr_snp_tcb_decode(raw, product, &t);
	printf("%-13s%016llx (boot loader %u, TEE %u, SNP %u, microcode %u", label, (unsigned long long)raw,
		t.bootloader, t.tee, t.snp, t.microcode);
	if (product == DCR_SNP_TURIN)
		printf(", FMC %u", t.fmc);
	printf(")\n");
}

/* What an SEV-SNP report established: as JSON members of obj, or as lines. */
static void snp_facts(const struct dcr_snp_result *res, json_t *obj)
{
	char measurement[97], host_data[65], id_key[97], author_key[97], report_data[129], chip_id[129], policy[19];
	char bits[64];

	dcr_hex(res->measurement, 48, measurement);
	dcr_hex(res->host_data, 32, host_data);
	dcr_hex(res->id_key_digest, 48, id_key);
	dcr_hex(res->author_key_digest, 48, author_key);
	dcr_hex(res->report_data, 64, report_data);
	dcr_hex(res->chip_id, 64, chip_id);
	snprintf(policy, sizeof(policy), "0x%016llx", (unsigned long long)res->policy);
	snp_policy_names(res->policy, bits);
	if (obj) {
		json_t *facts = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:o, s:o, s:s, s:s, s:b}",
			"product", dcr_snp_product_name(res->product), "version", (int)res->version, "measurement",
			measurement, "host_data", host_data, "id_key_digest", id_key, "author_key_digest", author_key,
			"report_data", report_data, "policy", policy, "debug", (int)res->debug, "vmpl", (int)res->vmpl,
			"reported_tcb", snp_tcb_json(res->reported_tcb, res->product), "committed_tcb",
			snp_tcb_json(res->committed_tcb, res->product), "chip_id", res->mask_chip_id ? "" : chip_id,
			"signing_key", res->vlek ? "VLEK" : "VCEK", "crl_checked", (int)res->crl_checked);

		json_object_update(obj, facts);
		json_decref(facts);
		return;
	}
	printf("product      %s (report version %u, signed by its %s)\n", dcr_snp_product_name(res->product),
		(unsigned)res->version, res->vlek ? "VLEK" : "VCEK");
	printf("measurement  %s\n", measurement);
	printf("host data    %s\n", host_data);
	printf("id key       %s\n", id_key);
	printf("author key   %s\n", author_key);
	printf("report data  %s\n", report_data);
	printf("policy       %s (allows: %s)\n", policy, bits);
	printf("debug        %s\n", res->debug ? "yes" : "no");
	printf("vmpl         %u\n", (unsigned)res->vmpl);
	snp_tcb_line("tcb", res->reported_tcb, res->product);
	snp_tcb_line("committed", res->committed_tcb, res->product);
	printf("chip id      %s\n", res->mask_chip_id ? "(masked)" : chip_id);
	printf("crl          %s\n", res->crl_checked ? "checked: nothing revoked" : "not given");
}

/*
 * Offline SEV-SNP: verify a report and its certificate chain at a time under
 * the given ARK, then the policy of the trusted sev-snp specs, which must
 * pin that same ARK. Facts are printed even when the policy rejects.
 */
static int attest_offline_snp(const struct command *cmd, struct cli *cli, struct parsed *args, time_t now)
{
	const char *report_path = opt_value(cmd, args, "evidence"), *chain_path = opt_value(cmd, args, "cert-chain");
	const char *root_path = opt_value(cmd, args, "root-ca"), *spec_name = opt_value(cmd, args, "spec");
	uint8_t *rep = NULL, *chain = NULL, *root = NULL;
	size_t rep_len = 0, chain_len = 0, root_len = 0;
	struct dcr_specs *specs = NULL;
	struct dcr_snp_result res;
	struct dcr_err err, policy_err;
	char verdict[DCR_ERR_MSG_MAX + 16];
	json_t *json = NULL;
	int r, policy = DCR_EATTEST;

	if ((r = dcr_read_file(report_path, DCR_SNP_REPORT_LEN + 1, &rep, &rep_len, &err)) < 0 ||
	    (r = dcr_read_file(chain_path, DCR_SNP_CHAIN_MAX, &chain, &chain_len, &err)) < 0 ||
	    (r = dcr_cert_file_der(root_path, &root, &root_len, &err)) < 0 ||
	    (cli->specs && (r = dcr_specs_load(cli->specs, &specs, &err)) < 0))
		goto out;
	if ((r = dcr_snp_verify(rep, rep_len, chain, chain_len, root, root_len, now, &res, &err)) < 0)
		goto out;
	dcr_err_set(&policy_err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
	if (spec_name && specs && !dcr_specs_find(specs, spec_name))
		dcr_err_set(&policy_err, DCR_EATTEST, "spec '%s' is not in the trusted specs", spec_name);
	else if (specs)
		dcr_err_set(&policy_err, DCR_EATTEST, "no sev-snp spec in the trusted specs%s%s", spec_name ? " named " : "",
			spec_name ? spec_name : "");
	for (size_t i = 0; specs && i < specs->n && policy < 0; i++) {
		const struct dcr_spec *s = &specs->items[i];

		if (s->format != DCR_SPEC_SEV_SNP || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		if ((policy = dcr_snp_check_policy(&res, s, &policy_err)) == 0)
			snprintf(verdict, sizeof(verdict), "accepted by spec %s", s->name);
	}
	if (policy < 0)
		snprintf(verdict, sizeof(verdict), "rejected: %s", policy_err.msg);
	if (cli->json) {
		json = json_pack("{s:s}", "format", "sev-snp");
		snp_facts(&res, json);
		json_object_set_new(json, "verdict", json_string(verdict));
		json_put(stdout, json);
		putchar('\n');
		json_decref(json);
	} else {
		printf("format       sev-snp\n");
		snp_facts(&res, NULL);
		printf("verdict      %s\n", verdict);
	}
	r = policy;
	err = policy_err;
out:
	dcr_specs_free(specs);
	free(rep);
	free(chain);
	free(root);
	return r < 0 ? report(cmd, &err) : 0;
}

/*
 * Offline: verify an SGX quote and its collateral at a time, then the
 * policy of the trusted specs. The facts are printed even when the policy
 * rejects the enclave, so a user can see why.
 */
static int attest_offline(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *quote_path = opt_value(cmd, args, "evidence"), *coll_path = opt_value(cmd, args, "collateral");
	const char *root_path = opt_value(cmd, args, "root-ca"), *at = opt_value(cmd, args, "at");
	const char *spec_name = opt_value(cmd, args, "spec");
	uint8_t *quote = NULL, *coll = NULL, *root = NULL;
	size_t quote_len = 0, coll_len = 0, root_len = 0;
	struct dcr_sgx_collateral *collateral = NULL;
	struct dcr_specs *specs = NULL;
	struct dcr_sgx_result res;
	struct dcr_err err, policy_err;
	char verdict[DCR_ERR_MSG_MAX + 16];
	time_t now = time(NULL);
	json_t *json = NULL;
	int r, policy = DCR_EATTEST;

	if (coll_path && opt_set(cmd, args, "cert-chain"))
		return usage_error(cmd, "--collateral (SGX) and --cert-chain (SEV-SNP) do not go together");
	if (!quote_path || !(coll_path || opt_set(cmd, args, "cert-chain")) || !root_path)
		return usage_error(cmd, "offline verification needs --evidence, --collateral (SGX) or --cert-chain "
			"(SEV-SNP), and --root-ca");
	if (at && dcr_time_parse(at, &now) < 0)
		return usage_error(cmd, "--at '%s' is not a UTC time like 2025-07-01T00:00:00Z", at);
	if (opt_set(cmd, args, "cert-chain"))
		return attest_offline_snp(cmd, cli, args, now);
	if ((r = dcr_read_file(quote_path, DCR_SGX_QUOTE_MAX, &quote, &quote_len, &err)) < 0 ||
	    (r = dcr_read_file(coll_path, DCR_SGX_COLLATERAL_MAX, &coll, &coll_len, &err)) < 0 ||
	    (r = dcr_cert_file_der(root_path, &root, &root_len, &err)) < 0 ||
	    (cli->specs && (r = dcr_specs_load(cli->specs, &specs, &err)) < 0))
		goto out;
	if ((r = dcr_sgx_collateral_parse(coll, coll_len, &collateral, &err)) < 0 ||
	    (r = dcr_sgx_verify(quote, quote_len, collateral, root, root_len, now, &res, &err)) < 0)
		goto out;
	/* The quote is genuine; now whether a trusted spec accepts this enclave. */
	dcr_err_set(&policy_err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
	if (spec_name && specs && !dcr_specs_find(specs, spec_name))
		dcr_err_set(&policy_err, DCR_EATTEST, "spec '%s' is not in the trusted specs", spec_name);
	for (size_t i = 0; specs && i < specs->n && policy < 0; i++) {
		const struct dcr_spec *s = &specs->items[i];

		if (s->format != DCR_SPEC_SGX_DCAP || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		policy = dcr_sgx_check_policy(&res, s, &policy_err);
		if (policy == 0)
			snprintf(verdict, sizeof(verdict), "accepted by spec %s", s->name);
	}
	if (specs && policy < 0 && strstr(policy_err.msg, "no trusted specs"))
		dcr_err_set(&policy_err, DCR_EATTEST, "no sgx-dcap spec in the trusted specs%s%s", spec_name ? " named " : "",
			spec_name ? spec_name : "");
	if (policy < 0)
		snprintf(verdict, sizeof(verdict), "rejected: %s", policy_err.msg);
	print_sgx(&res, verdict, cli->json ? &json : NULL);
	if (json) {
		json_put(stdout, json);
		putchar('\n');
		json_decref(json);
	}
	r = policy;
	err = policy_err;
out:
	dcr_sgx_collateral_free(collateral);
	dcr_specs_free(specs);
	free(quote);
	free(coll);
	free(root);
	return r < 0 ? report(cmd, &err) : 0;
}

/*
 * What the dcrd says of its python sandbox (GET /v1/sandbox), after its
 * evidence is verified: as JSON (null when it cannot be had) or as lines.
 * Not attested: the host's own account, said so in the output.
 */
static json_t *sandbox_facts(const struct cli *cli, bool json)
{
	struct dcr_sandbox_info *info = malloc(sizeof(*info));
	uint8_t *buf = NULL;
	size_t len = 0;
	struct dcr_err err;
	json_t *j = NULL, *pkgs;
	int r = info ? 0 : dcr_err_set(&err, DCR_ENOMEM, "out of memory");

	if (r == 0 && (r = dcr_http(cli->endpoint, "GET", "/v1/sandbox", NULL, NULL, 0, DCR_SANDBOX_REPORT_MAX, &buf,
			       &len, &err)) == 0)
		r = dcr_attest_sandbox_parse(buf, len, info, &err);
	free(buf);
	if (json) {
		if (r == 0) {
			pkgs = json_object();
			for (size_t i = 0; i < info->n_packages; i++)
				json_object_set_new(pkgs, info->packages[i].name, json_string(info->packages[i].version));
			j = json_pack("{s:b, s:s, s:s, s:o, s:b}", "available", (int)info->available, "reason",
				info->reason, "python", info->python, "packages", pkgs, "attested", 0);
		}
		free(info);
		return j ? j : json_null();
	}
	printf("python       ");
	if (r < 0) {
		printf("unknown: ");
		put_text(stdout, err.msg, false);
	} else if (!info->available) {
		printf("cannot run here: ");
		put_text(stdout, info->reason, false);
	} else {
		put_text(stdout, info->python, false);
		printf(" (reported by dcrd, not attested)\npackages     ");
		for (size_t i = 0; i < info->n_packages; i++) {
			printf("%s", i ? ", " : "");
			put_text(stdout, info->packages[i].name, false);
			putchar(' ');
			put_text(stdout, info->packages[i].version[0] ? info->packages[i].version : "(absent)", false);
		}
	}
	putchar('\n');
	free(info);
	return NULL;
}

int cmd_attest(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	struct dcr_specs *specs = NULL;
	struct dcr_attest_result res;
	uint8_t *evidence = NULL;
	size_t len = 0;
	struct dcr_err err;
	char measurement[65], hpke_fp[72], sign_fp[72];
	int r;

	if (args->argc > 0)
		return usage_error(cmd, "takes no arguments");
	if (opt_set(cmd, args, "evidence") || opt_set(cmd, args, "collateral") || opt_set(cmd, args, "at") ||
	    opt_set(cmd, args, "root-ca") || opt_set(cmd, args, "cert-chain"))
		return attest_offline(cmd, cli, args);
	if (!cli->specs) {
		dcr_err_set(&err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
		return report(cmd, &err);
	}
	if (dcr_specs_load(cli->specs, &specs, &err) < 0)
		return report(cmd, &err);
	r = dcr_http(cli->endpoint, "GET", "/v1/evidence", NULL, NULL, 0, MAX_EVIDENCE, &evidence, &len, &err);
	if (r == 0)
		r = dcr_attest_verify(evidence, len, specs, opt_value(cmd, args, "spec"), &res, &err);
	free(evidence);
	dcr_specs_free(specs);
	if (r < 0)
		return report(cmd, &err);
	dcr_hex(res.measurement, 32, measurement);
	fingerprint(res.keys.hpke_pk, hpke_fp);
	fingerprint(res.keys.sign_pk, sign_fp);
	/* Always, unlike other commands: this is where one looks. With --json, "attestation": "sim" says it. */
	if (res.simulated && !cli->json)
		fprintf(stderr, "dcr: attest: WARNING: simulated attestation: NO hardware protection; "
				"the host can read everything\n");
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "endpoint", cli->endpoint, "format",
			res.format, "spec", res.spec, "measurement", measurement, "hpke_key", hpke_fp, "signing_key",
			sign_fp, "simulated", res.simulated);

		if (j && res.simulated)
			json_object_set_new(j, "attestation", json_string("sim"));
		if (j && !res.simulated) {
			json_t *sgx = json_object();

			sgx_facts(&res.sgx, sgx);
			json_object_set_new(j, "sgx", sgx);
		}
		if (j)
			json_object_set_new(j, "sandbox", sandbox_facts(cli, true));

		if (!j || json_put(stdout, j) < 0) {
			json_decref(j);
			dcr_attest_result_release(&res);
			fprintf(stderr, "dcr: attest: cannot write JSON\n");
			return 1;
		}
		putchar('\n');
		json_decref(j);
	} else if (cli->verbosity >= 0) {
		printf("endpoint     %s\n", cli->endpoint);
		printf("format       %s%s\n", res.format, res.simulated ? " (simulated: no hardware protection)" : "");
		printf("spec         %s\n", res.spec);
		if (res.simulated)
			printf("measurement  %s\n", measurement);
		else
			sgx_facts(&res.sgx, NULL);
		printf("hpke key     %s\n", hpke_fp);
		printf("signing key  %s\n", sign_fp);
		printf("verdict      accepted\n");
		sandbox_facts(cli, false);
	}
	dcr_attest_result_release(&res);
	return 0;
}
