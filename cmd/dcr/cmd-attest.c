/* dcr attest: fetch the enclave's evidence and verify it against the trusted specs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "crypto.h"
#include "dcr.h"
#include "specs.h"
#include "transport.h"

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
	if (opt_set(cmd, args, "evidence") || opt_set(cmd, args, "collateral") || opt_set(cmd, args, "at")) {
		fprintf(stderr, "dcr: attest: not implemented yet: offline verification of SGX evidence "
				"(--evidence, --collateral, --at)\n");
		return 1;
	}
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
	if (res.simulated)
		fprintf(stderr, "dcr: attest: WARNING: simulated attestation: NO hardware protection; "
				"the host can read everything\n");
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "endpoint", cli->endpoint, "format",
			res.format, "spec", res.spec, "measurement", measurement, "hpke_key", hpke_fp, "signing_key",
			sign_fp, "simulated", res.simulated);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
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
		printf("measurement  %s\n", measurement);
		printf("hpke key     %s\n", hpke_fp);
		printf("signing key  %s\n", sign_fp);
		printf("verdict      accepted\n");
	}
	dcr_attest_result_release(&res);
	return 0;
}
