/* dcr attest: fetch the enclave's evidence and verify it against the trusted specs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest-kind.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
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

/* What the kind's evidence established, as its lines (struct dcr_attest_fact) from its facts JSON. */
static void print_facts(const struct dcr_attest_kind *kind, json_t *facts)
{
	for (const struct dcr_attest_fact *f = kind->facts; f && f->label; f++) {
		json_t *v = json_object_get(facts, f->member), *item;
		size_t i;

		printf("%-12s ", f->label);
		if (json_is_string(v)) {
			put_text(stdout, json_string_value(v), false);
		} else if (json_is_integer(v)) {
			printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		} else if (json_is_boolean(v)) {
			printf("%s", json_is_true(v) ? "yes" : "no");
		} else if (json_is_array(v)) {
			json_array_foreach(v, i, item) {
				printf("%s", i ? ", " : "");
				put_text(stdout, json_is_string(item) ? json_string_value(item) : "?", false);
			}
			printf("%s", json_array_size(v) ? "" : "(none)");
		} else if (json_is_object(v)) {
			const char *key;
			bool first = true;

			/* Named numbers, like a TCB's components: "raw 44050000, bootloader 2, ...". */
			json_object_foreach(v, key, item) {
				printf("%s%s ", first ? "" : ", ", key);
				if (json_is_integer(item))
					printf("%" JSON_INTEGER_FORMAT, json_integer_value(item));
				else
					put_text(stdout, json_is_string(item) ? json_string_value(item) : "?", false);
				first = false;
			}
		}
		putchar('\n');
	}
}

/* Offline: the facts and the verdict, as JSON into *json or as lines. */
static int print_offline(const struct dcr_attest_kind *kind, const struct dcr_attest_result *res,
	const char *verdict, json_t **json, struct dcr_err *err)
{
	json_t *j = json_pack("{s:s}", "format", kind->name);
	int r = j ? kind->facts_json(res, j, err) : dcr_err_set(err, DCR_ENOMEM, "out of memory");

	if (r == 0 && json_object_set_new(j, "verdict", json_string(verdict)) < 0)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r < 0 || json) {
		if (r == 0)
			*json = j;
		else
			json_decref(j);
		return r;
	}
	printf("format       %s\n", kind->name);
	print_facts(kind, j);
	printf("verdict      %s\n", verdict);
	json_decref(j);
	return 0;
}

/* The kind that verifies quote offline: the one that claims it, else the first that verifies offline at all. */
static const struct dcr_attest_kind *offline_kind(const uint8_t *quote, size_t len)
{
	const struct dcr_attest_kind *first = NULL;

	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++) {
		if (!(*k)->offline_verify)
			continue;
		if ((*k)->offline_claims(quote, len))
			return *k;
		first = first ? first : *k;
	}
	return first;
}

/*
 * Offline: verify a quote and its collateral at a time, then the policy
 * of the trusted specs of its kind. The facts are printed even when the
 * policy rejects the enclave, so a user can see why.
 */
static int attest_offline(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *quote_path = opt_value(cmd, args, "evidence"), *coll_path = opt_value(cmd, args, "collateral");
	const char *chain_path = opt_value(cmd, args, "cert-chain");
	const char *root_path = opt_value(cmd, args, "root-ca"), *at = opt_value(cmd, args, "at");
	const char *spec_name = opt_value(cmd, args, "spec");
	const struct dcr_attest_kind *kind;
	struct dcr_attest_evidence ev;
	uint8_t *quote = NULL, *coll = NULL, *root = NULL;
	size_t quote_len = 0, coll_len = 0, root_len = 0, quote_max = 0, coll_max = 0;
	struct dcr_specs *specs = NULL;
	struct dcr_attest_result res = { 0 };
	struct dcr_err err, policy_err;
	char verdict[DCR_ERR_MSG_MAX + 16];
	time_t now = time(NULL);
	json_t *json = NULL;
	int r, policy = DCR_EATTEST;

	/* --cert-chain names what an SEV-SNP report comes with; to the kinds it is the collateral all the same. */
	if (coll_path && chain_path)
		return usage_error(cmd, "--collateral (SGX) and --cert-chain (SEV-SNP) do not go together");
	coll_path = coll_path ? coll_path : chain_path;
	if (!quote_path || !coll_path || !root_path)
		return usage_error(cmd, "offline verification needs --evidence, --collateral (SGX) or --cert-chain "
			"(SEV-SNP), and --root-ca");
	if (at && dcr_time_parse(at, &now) < 0)
		return usage_error(cmd, "--at '%s' is not a UTC time like 2025-07-01T00:00:00Z", at);
	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++) {
		quote_max = (*k)->quote_max > quote_max ? (*k)->quote_max : quote_max;
		coll_max = (*k)->collateral_max > coll_max ? (*k)->collateral_max : coll_max;
	}
	if ((r = dcr_read_file(quote_path, quote_max, &quote, &quote_len, &err)) < 0 ||
	    (r = dcr_read_file(coll_path, coll_max, &coll, &coll_len, &err)) < 0 ||
	    (r = dcr_cert_file_der(root_path, &root, &root_len, &err)) < 0 ||
	    (cli->specs && (r = dcr_specs_load(cli->specs, &specs, &err)) < 0))
		goto out;
	kind = offline_kind(quote, quote_len);
	ev = (struct dcr_attest_evidence){ kind->name, quote, quote_len, coll, coll_len };
	if ((r = kind->offline_verify(&ev, root, root_len, now, &res, &err)) < 0)
		goto out;
	/* The quote is genuine; now whether a trusted spec accepts this enclave. */
	dcr_err_set(&policy_err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
	if (spec_name && specs && !dcr_specs_find(specs, spec_name))
		dcr_err_set(&policy_err, DCR_EATTEST, "spec '%s' is not in the trusted specs", spec_name);
	for (size_t i = 0; specs && i < specs->n && policy < 0; i++) {
		const struct dcr_spec *s = &specs->items[i];

		if (s->format != kind->format || (spec_name && strcmp(spec_name, s->name) != 0))
			continue;
		policy = kind->policy(&res, s, &policy_err);
		/* The evidence is genuine under --root-ca; a spec that pins another root does not vouch for it. */
		if (policy == 0 && s->root_ca && (s->root_ca_len != root_len || !dcr_ct_equal(s->root_ca, root, root_len)))
			policy = dcr_err_set(&policy_err, DCR_EATTEST, "spec '%s' pins another root_ca than --root-ca",
				s->name);
		if (policy == 0)
			snprintf(verdict, sizeof(verdict), "accepted by spec %s", s->name);
	}
	if (specs && policy < 0 && strstr(policy_err.msg, "no trusted specs"))
		dcr_err_set(&policy_err, DCR_EATTEST, "no %s spec in the trusted specs%s%s", kind->name,
			spec_name ? " named " : "", spec_name ? spec_name : "");
	if (policy < 0)
		snprintf(verdict, sizeof(verdict), "rejected: %s", policy_err.msg);
	if ((r = print_offline(kind, &res, verdict, cli->json ? &json : NULL, &err)) < 0)
		goto out;
	if (json) {
		json_put(stdout, json);
		putchar('\n');
		json_decref(json);
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
	const struct dcr_attest_kind *kind;
	struct dcr_attest_result res;
	uint8_t *evidence = NULL;
	size_t len = 0;
	struct dcr_err err;
	char measurement[97], hpke_fp[72], sign_fp[72];
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
	kind = dcr_attest_kind_find(res.format);
	dcr_hex(res.measurement, res.measurement_len, measurement);
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
		if (j && kind->json_member) {
			json_t *facts = json_object();

			if (!facts || json_object_set_new(j, kind->json_member, facts) < 0 ||
			    kind->facts_json(&res, facts, &err) < 0) {
				json_decref(j);
				j = NULL;
			}
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
		if (!kind->facts) {
			printf("measurement  %s\n", measurement);
		} else {
			json_t *facts = json_object();

			if (!facts || kind->facts_json(&res, facts, &err) < 0) {
				json_decref(facts);
				dcr_attest_result_release(&res);
				return report(cmd, &err);
			}
			print_facts(kind, facts);
			json_decref(facts);
		}
		printf("hpke key     %s\n", hpke_fp);
		printf("signing key  %s\n", sign_fp);
		printf("verdict      accepted\n");
		sandbox_facts(cli, false);
	}
	dcr_attest_result_release(&res);
	return 0;
}
