/* Attestation evidence: binding enclave keys, simulated quotes, verification against trusted specs. */
#ifndef DCR_ATTEST_H
#define DCR_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sgx.h"
#include "tdx.h"
#include "snp.h"
#include "specs.h"

#define DCR_REPORT_DATA_LEN 64

/*
 * REPORTDATA = SHA-256("dcr-enclave-keys-v1" || 0x00 || hpke_pk || sign_pk ||
 * ohttp_key_config) followed by 32 zero bytes: the quote vouches for exactly
 * these keys and the key configuration clients encapsulate to.
 */
int dcr_attest_report_data(const uint8_t hpke_pk[static 32], const uint8_t sign_pk[static 32],
	const uint8_t *key_config, size_t key_config_len, uint8_t out[static DCR_REPORT_DATA_LEN],
	struct dcr_err *err);

/* The keys an enclave proves with its evidence. */
struct dcr_enclave_public {
	uint8_t hpke_pk[32];
	uint8_t sign_pk[32];
	uint8_t *ohttp_key_config; /* RFC 9458 key configuration; owned */
	size_t ohttp_key_config_len;
};

/*
 * Build sim evidence: a SimQuote over (measurement, report data of keys)
 * signed with sim_sk, wrapped in an Evidence message. *out: free().
 */
int dcr_attest_sim_evidence(const uint8_t measurement[static 32], const uint8_t sim_sk[static 32],
	const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Wrap an SGX quote and its collateral JSON with the keys in an Evidence
 * message, the quote in the form evidence carries it (dcr_sgx_quote_normalize;
 * its errors for a quote that does not parse). *out: free().
 */
int dcr_attest_sgx_evidence(const uint8_t *quote, size_t quote_len, const uint8_t *collateral,
	size_t collateral_len, const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len,
	struct dcr_err *err);

/* The same for a TDX quote (dcr_tdx_quote_normalize), format "tdx". */
int dcr_attest_tdx_evidence(const uint8_t *quote, size_t quote_len, const uint8_t *collateral,
	size_t collateral_len, const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len,
	struct dcr_err *err);
/*
 * Wrap an SEV-SNP report and its certificate chain (PEM, VCEK then ASK,
 * as dcr_snp_chain_check wants it) with the keys in an Evidence message.
 * *out: free().
 */
int dcr_attest_snp_evidence(const uint8_t report[static DCR_SNP_REPORT_LEN], const uint8_t *chain, size_t chain_len,
	const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len, struct dcr_err *err);

/* What verification established. */
struct dcr_attest_result {
	char format[16];
	char spec[DCR_SPEC_NAME_MAX + 1]; /* the trusted spec that matched */
	uint8_t measurement[48];          /* sim: SHA-256 of dcrd; sgx-dcap: MRENCLAVE; tdx: SHA-256 of MRTD;
	                                     sev-snp: MEASUREMENT */
	size_t measurement_len;           /* 32, or 48 for sev-snp */
	int simulated;                    /* 1 for sim: no hardware protection */
	union {                           /* what the kind's evidence established (lib/attest-kind.h) */
		struct dcr_sgx_result sgx; /* sgx-dcap: the quote and collateral */
		struct dcr_tdx_result tdx; /* tdx: the quote and collateral */
		struct dcr_snp_result snp; /* sev-snp: the report and its chain */
	};
	struct dcr_enclave_public keys;   /* release with dcr_attest_result_release */
};

/*
 * Verify evidence (an Evidence message) against the trusted specs: the
 * format's own checks, a spec that pins this measurement (spec_name, if
 * not NULL, must be the one), and the binding of the enclave keys through
 * the report data. sgx-dcap evidence is verified in full at the current
 * time with the collateral it carries, trusting the spec's root_ca, then
 * against the spec's policy. Every rejection is DCR_EATTEST with the reason.
 */
int dcr_attest_verify(const uint8_t *evidence, size_t len, const struct dcr_specs *specs,
	const char *spec_name, struct dcr_attest_result *res, struct dcr_err *err);

void dcr_attest_result_release(struct dcr_attest_result *res);

/*
 * Whether evidence is exactly as dcrd encodes it, all the way down: the
 * Evidence message and, for sim, its SimQuote and SimReport in their
 * canonical protobuf encodings (dcr_proto_unpack_canonical) and no
 * collateral; for
 * sgx-dcap, the collateral as dcr_pcs_assemble writes it and the quote
 * with its one NUL after the PCK chain (dcr_sgx_quote_canonical; the rest
 * of the quote is the quoting enclave's own bytes, signed or checked byte
 * for byte). DCR_EINVALID when a message does not decode, DCR_EINTEGRITY when
 * something is not canonical, naming it. dcr_attest_verify requires the
 * protobuf layers to be canonical too, as DCR_EATTEST.
 */
int dcr_attest_evidence_canonical(const uint8_t *evidence, size_t len, struct dcr_err *err);

/*
 * What a dcrd says of its python sandbox (GET /v1/sandbox, an encoded
 * SandboxReport of at most DCR_SANDBOX_REPORT_MAX bytes). Not attested: it
 * is the host's account of software outside the measurement, for people
 * to read. Its strings are checked to be printable (UTF-8 allowed) and
 * short: reason at most DCR_ERR_MSG_MAX - 1 bytes, the rest 63; at most
 * DCR_SANDBOX_PACKAGES_MAX packages. DCR_EINVALID otherwise.
 */
#define DCR_SANDBOX_REPORT_MAX 65536
#define DCR_SANDBOX_PACKAGES_MAX 64
struct dcr_sandbox_info {
	bool available;
	char reason[DCR_ERR_MSG_MAX];
	char python[64];
	size_t n_packages;
	struct {
		char name[64];
		char version[64];          /* "": not installed */
	} packages[DCR_SANDBOX_PACKAGES_MAX];
};

int dcr_attest_sandbox_parse(const uint8_t *buf, size_t len, struct dcr_sandbox_info *out, struct dcr_err *err);

#endif
