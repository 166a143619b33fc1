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
#include "specs.h"
#include "tdx.h"
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

/* What a TDX quote established: as JSON members of obj, or as lines. */
static void tdx_facts(const struct dcr_tdx_result *res, json_t *obj)
{
	static const char *const names[] = { "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid", "mrowner",
		"mrownerconfig", "mrseam" };
	const uint8_t *mr[] = { res->td.mrtd, res->td.rtmr[0], res->td.rtmr[1], res->td.rtmr[2], res->td.rtmr[3],
		res->td.mrconfigid, res->td.mrowner, res->td.mrownerconfig, res->td.mrseam };
	char hex[2 * DCR_TDX_REPORT_DATA_LEN + 1], attrs[17], xfam[17], fmspc[13];

	dcr_hex(res->td.td_attributes, 8, attrs);
	dcr_hex(res->td.xfam, 8, xfam);
	dcr_hex(res->tcb.fmspc, 6, fmspc);
	if (obj) {
		json_t *adv = json_array(), *facts;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			dcr_hex(mr[i], DCR_TDX_MR_LEN, hex);
			json_object_set_new(obj, names[i], json_string(hex));
		}
		dcr_hex(res->td.report_data, DCR_TDX_REPORT_DATA_LEN, hex);
		for (size_t i = 0; i < res->tcb.n_advisory_ids; i++)
			json_array_append_new(adv, json_string(res->tcb.advisory_ids[i]));
		facts = json_pack("{s:i, s:s, s:b, s:s, s:s, s:s, s:s, s:o}", "quote_version", (int)res->version,
			"td_attributes", attrs, "debug", (int)res->debug, "xfam", xfam, "report_data", hex, "fmspc", fmspc,
			"tcb_status", res->tcb.tcb_status, "advisory_ids", adv);
		json_object_update(obj, facts);
		json_decref(facts);
		return;
	}
	printf("quote        version %u, %s TD report\n", res->version, res->td.tdx15 ? "TDX 1.5" : "TDX 1.0");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		dcr_hex(mr[i], DCR_TDX_MR_LEN, hex);
		printf("%-12s %s\n", names[i], hex);
	}
	printf("attributes   %s\n", attrs);
	printf("debug        %s\n", res->debug ? "yes" : "no");
	printf("xfam         %s\n", xfam);
	dcr_hex(res->td.report_data, DCR_TDX_REPORT_DATA_LEN, hex);
	printf("report data  %s\n", hex);
	printf("fmspc        %s\n", fmspc);
	printf("tcb status   %s\n", res->tcb.tcb_status);
	printf("advisories   ");
	for (size_t i = 0; i < res->tcb.n_advisory_ids; i++) {
		printf("%s", i ? ", " : "");
		put_text(stdout, res->tcb.advisory_ids[i], false);
	}
	printf("%s\n", res->tcb.n_advisory_ids ? "" : "(none)");
}

/* One offline kind: how its evidence is verified, checked against a spec and printed. */
struct offline_kind {
	const char *name;                 /* the specs' format */
	enum dcr_spec_format format;
	int (*verify)(const uint8_t *quote, size_t len, const uint8_t *coll, size_t coll_len, const uint8_t *root,
		size_t root_len, time_t now, void *res, struct dcr_err *err);
	int (*check)(const void *res, const struct dcr_spec *spec, struct dcr_err *err);
	void (*facts)(const void *res, json_t *obj);
};

static int sgx_verify_files(const uint8_t *quote, size_t len, const uint8_t *coll, size_t coll_len,
	const uint8_t *root, size_t root_len, time_t now, void *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c;
	int r = dcr_sgx_collateral_parse(coll, coll_len, &c, err);

	if (r == 0)
		r = dcr_sgx_verify(quote, len, c, root, root_len, now, res, err);
	dcr_sgx_collateral_free(c);
	return r;
}

static int tdx_verify_files(const uint8_t *quote, size_t len, const uint8_t *coll, size_t coll_len,
	const uint8_t *root, size_t root_len, time_t now, void *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c;
	int r = dcr_tdx_collateral_parse(coll, coll_len, &c, err);

	if (r == 0)
		r = dcr_tdx_verify(quote, len, c, root, root_len, now, res, err);
	dcr_sgx_collateral_free(c);
	return r;
}

static int sgx_check(const void *res, const struct dcr_spec *spec, struct dcr_err *err)
{
	return dcr_sgx_check_policy(res, spec, err);
}

static int tdx_check(const void *res, const struct dcr_spec *spec, struct dcr_err *err)
{
	return dcr_tdx_check_policy(res, spec, err);
}

static void sgx_facts_any(const void *res, json_t *obj)
{
	sgx_facts(res, obj);
}

static void tdx_facts_any(const void *res, json_t *obj)
{
	tdx_facts(res, obj);
}

static const struct offline_kind sgx_kind = { "sgx-dcap", DCR_SPEC_SGX_DCAP, sgx_verify_files, sgx_check, sgx_facts_any };
static const struct offline_kind tdx_kind = { "tdx", DCR_SPEC_TDX, tdx_verify_files, tdx_check, tdx_facts_any };

/* The kind of a quote, from its version: 3 is SGX, 4 and 5 TDX; others go to SGX, which names the version. */
static const struct offline_kind *quote_kind(const uint8_t *quote, size_t len)
{
	return len >= 2 && (quote[0] == 4 || quote[0] == 5) && quote[1] == 0 ? &tdx_kind : &sgx_kind;
}

/*
 * Offline: verify an SGX or TDX quote and its collateral at a time, then
 * the policy of the trusted specs. The facts are printed even when the
 * policy rejects the enclave, so a user can see why.
 */
static int attest_offline(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *quote_path = opt_value(cmd, args, "evidence"), *coll_path = opt_value(cmd, args, "collateral");
	const char *root_path = opt_value(cmd, args, "root-ca"), *at = opt_value(cmd, args, "at");
	const char *spec_name = opt_value(cmd, args, "spec");
	uint8_t *quote = NULL, *coll = NULL, *root = NULL;
	size_t quote_len = 0, coll_len = 0, root_len = 0;
	const struct offline_kind *kind;
	struct dcr_specs *specs = NULL;
	union {
		struct dcr_sgx_result sgx;
		struct dcr_tdx_result tdx;
	} res;
	struct dcr_err err, policy_err;
	char verdict[DCR_ERR_MSG_MAX + 16];
	time_t now = time(NULL);
	json_t *json = NULL;
	int r, policy = DCR_EATTEST;

	if (!quote_path || !coll_path || !root_path)
		return usage_error(cmd, "offline verification needs --evidence, --collateral and --root-ca");
	if (at && dcr_time_parse(at, &now) < 0)
		return usage_error(cmd, "--at '%s' is not a UTC time like 2025-07-01T00:00:00Z", at);
	if ((r = dcr_read_file(quote_path, DCR_SGX_QUOTE_MAX, &quote, &quote_len, &err)) < 0 ||
	    (r = dcr_read_file(coll_path, DCR_SGX_COLLATERAL_MAX, &coll, &coll_len, &err)) < 0 ||
	    (r = dcr_cert_file_der(root_path, &root, &root_len, &err)) < 0 ||
	    (cli->specs && (r = dcr_specs_load(cli->specs, &specs, &err)) < 0))
		goto out;
	kind = quote_kind(quote, quote_len);
	if ((r = kind->verify(quote, quote_len, coll, coll_len, root, root_len, now, &res, &err)) < 0)
		goto out;
	/* The quote is genuine; now whether a trusted spec accepts this enclave. */
	dcr_err_set(&policy_err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
	if (spec_name && specs && !dcr_specs_find(specs, spec_name))
		dcr_err_set(&policy_err, DCR_EATTEST, "spec '%s' is not in the trusted specs", spec_name);
	for (size_t i = 0; specs && i < specs->n && policy < 0; i++) {
		const struct dcr_spec *s = &specs->items[i];

		if (s->format != kind->format || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		policy = kind->check(&res, s, &policy_err);
		if (policy == 0)
			snprintf(verdict, sizeof(verdict), "accepted by spec %s", s->name);
	}
	if (specs && policy < 0 && strstr(policy_err.msg, "no trusted specs"))
		dcr_err_set(&policy_err, DCR_EATTEST, "no %s spec in the trusted specs%s%s", kind->name,
			spec_name ? " named " : "", spec_name ? spec_name : "");
	if (policy < 0)
		snprintf(verdict, sizeof(verdict), "rejected: %s", policy_err.msg);
	if (cli->json) {
		json = json_pack("{s:s}", "format", kind->name);
		kind->facts(&res, json);
		json_object_set_new(json, "verdict", json_string(verdict));
		json_put(stdout, json);
		putchar('\n');
		json_decref(json);
	} else {
		printf("format       %s\n", kind->name);
		kind->facts(&res, NULL);
		printf("verdict      %s\n", verdict);
	}
	r = policy;
	err = policy_err;
out:
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
	    opt_set(cmd, args, "root-ca"))
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
