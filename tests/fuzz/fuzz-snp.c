/* libFuzzer target: SEV-SNP reports, certificate chains and hosts' certificate tables, arbitrary or edited from genuine ones. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snp-synth.h"
#include "snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((time_t)1748736000)

/* A test hierarchy and a report it signs: the input replaces one or the other. */
static struct {
	bool ready;
	struct snp_synth s;
	uint8_t report[SNP_SYNTH_REPORT_LEN];
	char *chain;
	size_t chain_len;
	uint8_t *root;
	size_t root_len;
} T;

static void setup(void)
{
	struct snp_synth_opts o;
	uint8_t m[48] = { 1 }, rd[64] = { 2 };

	snp_synth_opts_default(&o, NOW - 86400, NOW + 86400);
	snp_synth_init(&T.s, &o);
	snp_synth_report(T.report, 3, &o, m, rd);
	snp_synth_sign(T.report, T.s.leaf_key);
	snp_synth_pem_cert(T.s.leaf, &T.chain, &T.chain_len);
	snp_synth_pem_cert(T.s.ask, &T.chain, &T.chain_len);
	T.root = snp_synth_der(T.s.ark, &T.root_len);
	T.ready = true;
}

/* Every refusal is DCR_EATTEST (or out of memory) and says why. */
static void refused(int r, const struct dcr_err *err)
{
	if ((r != DCR_EATTEST && r != DCR_ENOMEM) || err->msg[0] == '\0')
		__builtin_trap();
}

/*
 * The input as edits of the genuine chain (which == 0) or report (which ==
 * 1): triples of a 16-bit offset (little-endian, modulo the length) and a
 * byte to put there, so that every check past the PEM and the signature is
 * reached, not only those a random text meets.
 */
static void patched(const uint8_t *data, size_t size, int which)
{
	size_t len = which ? sizeof(T.report) : T.chain_len;
	uint8_t *buf = malloc(len);
	struct dcr_snp_result res;
	struct dcr_err err;
	int r;

	if (!buf)
		abort();
	memcpy(buf, which ? T.report : (const uint8_t *)T.chain, len);
	for (size_t i = 0; i + 3 <= size; i += 3)
		buf[(data[i] | (size_t)data[i + 1] << 8) % len] = data[i + 2];
	err.msg[0] = '\0';
	r = which ? dcr_snp_verify(buf, len, (uint8_t *)T.chain, T.chain_len, T.root, T.root_len, NOW, &res, &err)
		: dcr_snp_verify(T.report, sizeof(T.report), buf, len, T.root, T.root_len, NOW, &res, &err);
	if (r < 0)
		refused(r, &err);
	else if (which && memcmp(buf, T.report, DCR_SNP_SIGNED_LEN) != 0)
		__builtin_trap(); /* a report accepted must be the one signed */
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcr_snp_report rep;
	struct dcr_snp_result res;
	struct dcr_snp_certs certs;
	struct dcr_err err;
	int r;

	if (!T.ready)
		setup();
	if (size > 0 && data[0] < 2) {
		patched(data + 1, size - 1, data[0]);
		return 0;
	}
	err.msg[0] = '\0';
	if ((r = dcr_snp_report_parse(data, size, &rep, &err)) == 0) {
		if (size != DCR_SNP_REPORT_LEN || (rep.version != 2 && rep.version != 3))
			__builtin_trap();
	} else {
		refused(r, &err);
	}
	err.msg[0] = '\0';
	if ((r = dcr_snp_chain_check(data, size, &err)) < 0)
		refused(r, &err);
	err.msg[0] = '\0';
	if ((r = dcr_snp_certs_table(data, size, &certs, &err)) < 0) {
		refused(r, &err);
	} else {
		const struct dcr_snp_cert *all[] = { &certs.vcek, &certs.vlek, &certs.ask, &certs.ark };

		for (size_t i = 0; i < 4; i++)
			if (all[i]->der && (all[i]->len == 0 || all[i]->der < data || all[i]->der + all[i]->len > data + size))
				__builtin_trap();
	}
	/* The input as the chain of a genuine report, and as a report under a genuine chain. */
	err.msg[0] = '\0';
	if ((r = dcr_snp_verify(T.report, sizeof(T.report), data, size, T.root, T.root_len, NOW, &res, &err)) < 0)
		refused(r, &err);
	err.msg[0] = '\0';
	if ((r = dcr_snp_verify(data, size, (uint8_t *)T.chain, T.chain_len, T.root, T.root_len, NOW, &res, &err)) < 0)
		refused(r, &err);
	else if (size != DCR_SNP_REPORT_LEN || memcmp(data, T.report, DCR_SNP_SIGNED_LEN) != 0)
		__builtin_trap(); /* a report accepted must be the one signed */
	return 0;
}
