/* AMD SEV-SNP: parsing ATTESTATION_REPORT (versions 2 and 3) and verifying it offline against AMD's certificates. */
#ifndef DCR_SNP_H
#define DCR_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "specs.h"

/* The report is exactly 1184 bytes; the signature covers bytes 0x000-0x29F. */
#define DCR_SNP_REPORT_LEN 0x4a0
#define DCR_SNP_SIGNED_LEN 0x2a0
#define DCR_SNP_REPORT_DATA_LEN 64
/* A certificate chain (PEM: leaf, ASK, optionally the ARK and one CRL) is about 6 KiB. */
#define DCR_SNP_CHAIN_MAX (64 * 1024)

/* Guest policy bits (SEV-SNP ABI, GUEST_POLICY). */
#define DCR_SNP_POLICY_SMT (1ull << 16)
#define DCR_SNP_POLICY_RESERVED_ONE (1ull << 17)
#define DCR_SNP_POLICY_MIGRATE_MA (1ull << 18)
#define DCR_SNP_POLICY_DEBUG (1ull << 19)
#define DCR_SNP_POLICY_SINGLE_SOCKET (1ull << 20)
#define DCR_SNP_POLICY_CXL_ALLOW (1ull << 21)
#define DCR_SNP_POLICY_MEM_AES_256_XTS (1ull << 22)
#define DCR_SNP_POLICY_RAPL_DIS (1ull << 23)
#define DCR_SNP_POLICY_CIPHERTEXT_HIDING (1ull << 24)
#define DCR_SNP_POLICY_PAGE_SWAP_DISABLE (1ull << 25)
/* The bits that weaken the guest's protection; a spec must allow each one it accepts. */
#define DCR_SNP_POLICY_WEAKENING \
	(DCR_SNP_POLICY_SMT | DCR_SNP_POLICY_MIGRATE_MA | DCR_SNP_POLICY_DEBUG | DCR_SNP_POLICY_CXL_ALLOW)
/* Every bit dcr knows: ABI_MINOR, ABI_MAJOR (bits 0-15) and bits 16-25. */
#define DCR_SNP_POLICY_KNOWN ((1ull << 26) - 1)

enum dcr_snp_product {
	DCR_SNP_MILAN = 1,
	DCR_SNP_GENOA = 2,
	DCR_SNP_TURIN = 3,
};

/*
 * A TCB_VERSION decoded. Milan and Genoa: byte 0 boot loader, 1 TEE, 2-5
 * reserved, 6 SNP, 7 microcode. Turin: 0 FMC, 1 boot loader, 2 TEE, 3 SNP,
 * 4-6 reserved, 7 microcode. fmc is 0 before Turin.
 */
struct dcr_snp_tcb {
	uint8_t fmc, bootloader, tee, snp, microcode;
};

/* A parsed report: every field of versions 2 and 3, as the ABI names them. */
struct dcr_snp_report {
	uint32_t version;
	uint32_t guest_svn;
	uint64_t policy;
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t vmpl;
	uint32_t signature_algo;
	uint64_t current_tcb;
	uint64_t platform_info;
	bool author_key_en;
	bool mask_chip_id;
	uint8_t signing_key;          /* 0: VCEK, 1: VLEK, 7: none */
	uint8_t report_data[DCR_SNP_REPORT_DATA_LEN];
	uint8_t measurement[48];
	uint8_t host_data[32];
	uint8_t id_key_digest[48];
	uint8_t author_key_digest[48];
	uint8_t report_id[32];
	uint8_t report_id_ma[32];
	uint64_t reported_tcb;
	uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step; /* version 3; 0 in version 2 */
	uint8_t chip_id[64];
	uint64_t committed_tcb;
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint64_t launch_tcb;
	uint8_t sig_r[48], sig_s[48]; /* big-endian, from the report's 72-byte little-endian fields */
};

/*
 * Parse a report of exactly DCR_SNP_REPORT_LEN bytes, version 2 or 3 (any
 * other is refused with its number). Reserved fields must be zero, in the
 * signed part as in the signature, and so must the upper 24 bytes of R and S;
 * bit 17 of the policy must be 1. Errors are DCR_EATTEST. Proves nothing.
 */
int dcr_snp_report_parse(const uint8_t *buf, size_t len, struct dcr_snp_report *out, struct dcr_err *err);

/* Decode a TCB_VERSION as the product lays it out. */
void dcr_snp_tcb_decode(uint64_t tcb, enum dcr_snp_product product, struct dcr_snp_tcb *out);

/*
 * The product of a processor by CPUID family and model (AMD's processor
 * programming references): Milan family 0x19 models 0x00-0x0F; Genoa 0x19,
 * 0x10-0x1F and 0xA0-0xAF; Turin 0x1A, 0x00-0x1F. 0 for any other.
 */
enum dcr_snp_product dcr_snp_product_of_cpuid(uint8_t family, uint8_t model);

/* "Milan", "Genoa", "Turin"; "?" for anything else. */
const char *dcr_snp_product_name(enum dcr_snp_product product);

/* What a verified report says, for the policy check and for printing. */
struct dcr_snp_result {
	uint32_t version;
	enum dcr_snp_product product;
	bool vlek;                    /* signed by a VLEK (cloud provider's key), not the chip's VCEK */
	bool crl_checked;             /* the chain carried AMD's CRL and nothing in it is revoked */
	uint64_t policy;
	bool debug;
	uint32_t vmpl;
	uint32_t guest_svn;
	uint8_t measurement[48];
	uint8_t host_data[32];
	uint8_t id_key_digest[48];
	uint8_t author_key_digest[48];
	bool author_key_en;
	uint8_t report_data[DCR_SNP_REPORT_DATA_LEN];
	uint8_t chip_id[64];
	bool mask_chip_id;
	uint64_t platform_info;
	uint64_t reported_tcb, committed_tcb, current_tcb, launch_tcb;
	struct dcr_snp_tcb reported;  /* reported_tcb decoded */
	uint8_t ark_sha256[32];       /* SHA-256 of the pinned ARK (DER) it was verified under */
};

/*
 * The facts of a parsed report as a result, for a guest describing itself
 * (nothing is verified: vlek from SIGNING_KEY, crl_checked false, no ARK).
 */
void dcr_snp_result_of_report(const struct dcr_snp_report *rep, enum dcr_snp_product product,
	struct dcr_snp_result *out);

/*
 * Verify report at time now with chain, trusting only root_der (DER; the
 * pinned AMD Root Key of one product, "ARK-Milan", "ARK-Genoa" or
 * "ARK-Turin"). chain is strict PEM as OpenSSL writes it
 * (docs/sev-snp-verification.md): the VCEK (or VLEK) certificate, the ASK
 * (or ASVK), optionally a byte-for-byte copy of the root, optionally one
 * CRL issued by the root. Checks: the root is self-signed; each
 * certificate's name, issuer, RSASSA-PSS SHA-384 signature and validity at
 * now; the CRL's signature, dates and that neither the ASK nor the leaf is
 * revoked; the leaf's kind against the report's SIGNING_KEY; its product
 * against the root's and, in version 3, the report's CPUID; its TCB
 * extensions equal REPORTED_TCB; its hwID equals CHIP_ID (VCEK, unless
 * MASK_CHIP_ID); VMPL 0 to 3; signature algorithm 1 and the ECDSA P-384
 * signature. On success fills out (which may be NULL). Every rejection is
 * DCR_EATTEST with its own message; DCR_ENOMEM for local failures. Policy
 * is separate: see below.
 */
int dcr_snp_verify(const uint8_t *report, size_t report_len, const uint8_t *chain, size_t chain_len,
	const uint8_t *root_der, size_t root_len, time_t now, struct dcr_snp_result *out, struct dcr_err *err);

/*
 * Whether chain is in the one form evidence carries it: parsed as
 * dcr_snp_verify does (without verifying), the root not included.
 * DCR_EATTEST naming what is wrong.
 */
int dcr_snp_chain_check(const uint8_t *chain, size_t chain_len, struct dcr_err *err);

/*
 * Check a verified result against a pinned sev-snp spec: verified under the
 * spec's root_ca (when it has one); MEASUREMENT, and
 * HOST_DATA and ID_KEY_DIGEST when the spec pins them; the policy has no
 * unknown bit and no weakening bit the spec does not allow; VMPL at most
 * the spec's; REPORTED_TCB at least the spec's minimum, component by
 * component. DCR_EATTEST on mismatch.
 */
int dcr_snp_check_policy(const struct dcr_snp_result *r, const struct dcr_spec *spec, struct dcr_err *err);

/* The policy bit a spec's policy_allow names ("smt", "migrate_ma", "debug", "cxl_allow"), or 0. */
uint64_t dcr_snp_policy_bit(const char *name);
/* The i-th weakening bit's name (in bit order) and *bit; NULL after the last. */
const char *dcr_snp_policy_weakening(size_t i, uint64_t *bit);

/*
 * The certificate table a host gives with an extended report (configfs-tsm's
 * auxblob, SNP_GET_EXT_REPORT's certificates; GHCB specification): entries
 * of a 16-byte GUID (in its little-endian binary form), a 32-bit offset and
 * a 32-bit length, little-endian, ended by an all-zero entry; each offset
 * counts from the table's start and its bytes (DER) lie inside it. At most
 * DCR_SNP_CERTS_ENTRIES entries, each known GUID at most once, unknown
 * GUIDs ignored. The pointers point into buf. DCR_EATTEST naming what is
 * wrong; found entries have len > 0.
 */
#define DCR_SNP_CERTS_MAX (256 * 1024)
#define DCR_SNP_CERTS_ENTRIES 64
struct dcr_snp_cert {
	const uint8_t *der;           /* NULL: not in the table */
	size_t len;
};
struct dcr_snp_certs {
	struct dcr_snp_cert vcek, vlek, ask, ark;
};
int dcr_snp_certs_table(const uint8_t *buf, size_t len, struct dcr_snp_certs *out, struct dcr_err *err);

/* Check in constant time that REPORT_DATA is exactly expected (the enclave's key binding). */
int dcr_snp_check_report_data(const struct dcr_snp_result *r,
	const uint8_t expected[static DCR_SNP_REPORT_DATA_LEN], struct dcr_err *err);

#endif
