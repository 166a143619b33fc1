/* dcrd's sim kind: a sealing key in a file, evidence signed by a key dcrd holds; no hardware protection. */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"

#include "banned.h"

#define SEALING_KEY_FILE "sim-sealing.key"

/* A file in the data directory, created once. */
static int sim_sealing_key(struct enclave *e, struct dcr_err *err)
{
	char path[4096];
	int r;

	if ((r = data_path(path, sizeof(path), e->data_dir, SEALING_KEY_FILE, err)) < 0)
		return r;
	r = dcr_keyfile_read(path, e->sealing_key, sizeof(e->sealing_key), err);
	if (r != DCR_ENOTFOUND)
		return r;
	if ((r = dcr_random(e->sealing_key, sizeof(e->sealing_key), err)) < 0)
		return r;
	return dcr_keyfile_write(path, e->sealing_key, sizeof(e->sealing_key), err);
}

/* The measurement is the SHA-256 of this executable; the quote is signed by the sim key sealed with the others. */
static int sim_open(struct enclave *e, struct dcr_err *err)
{
	int r;

	if ((r = dcr_sha256_file("/proc/self/exe", e->measurement, err)) < 0)
		return r;
	return dcr_attest_sim_evidence(e->measurement, e->sim_sk, &e->pub, &e->evidence, &e->evidence_len, err);
}

static void sim_describe(const struct enclave *e, char *buf, size_t size)
{
	(void)e;
	snprintf(buf, size, "sim: NO hardware protection");
}

/*
 * The simulated measurement is the SHA-256 of the running executable: the
 * entry a client pins to accept exactly this build (see dcr-specs(5)).
 */
static int sim_spec(const struct enclave_options *opt, FILE *out, struct dcr_err *err)
{
	uint8_t digest[DCR_SHA256_LEN];
	char hex[2 * DCR_SHA256_LEN + 1];
	int r;

	(void)opt;
	if ((r = dcr_sha256_file("/proc/self/exe", digest, err)) < 0)
		return r;
	dcr_hex(digest, sizeof(digest), hex);
	fprintf(out, "# Trusted spec for dcrd %s with simulated attestation.\n"
		     "# WARNING: simulated attestation gives NO hardware protection; pin it only\n"
		     "# for development and tests.\n"
		     "version: 1\n"
		     "specs:\n"
		     "  dcrd:sim:\n"
		     "    format: sim\n"
		     "    measurement: %s\n", DCR_VERSION, hex);
	return 0;
}

const struct dcrd_kind dcrd_kind_sim = {
	.lib = &dcr_attest_kind_sim,
	.sealing_key = sim_sealing_key,
	.open = sim_open,
	.describe = sim_describe,
	.spec = sim_spec,
};
