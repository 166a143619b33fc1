/* Synthetic AMD SEV-SNP evidence for tests: an ARK, ASK and VCEK made at run time, and reports they sign. */
#ifndef DCR_SNP_SYNTH_H
#define DCR_SNP_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * For tests only: on any failure it prints what went wrong on stderr and
 * abort()s. Certificates are valid from not_before to not_after; the ARK
 * and ASK are RSA-2048 (AMD's are RSA-4096: the checks are the same, the
 * tests faster) signing RSASSA-PSS with SHA-384, the VCEK is P-384.
 */

#define SNP_SYNTH_REPORT_LEN 0x4a0
/* Report offsets (docs/sev-snp-verification.md). */
#define SNP_OFF_VERSION 0x00
#define SNP_OFF_POLICY 0x08
#define SNP_OFF_VMPL 0x30
#define SNP_OFF_SIG_ALGO 0x34
#define SNP_OFF_KEY_BITS 0x48
#define SNP_OFF_REPORT_DATA 0x50
#define SNP_OFF_MEASUREMENT 0x90
#define SNP_OFF_HOST_DATA 0xc0
#define SNP_OFF_ID_KEY_DIGEST 0xe0
#define SNP_OFF_REPORTED_TCB 0x180
#define SNP_OFF_CPUID 0x188
#define SNP_OFF_CHIP_ID 0x1a0
#define SNP_OFF_SIGNATURE 0x2a0

/* What the VCEK (or VLEK) certificate says; snp_synth_opts_default fills it to match the default report. */
struct snp_synth_opts {
	const char *product;          /* "Milan", "Genoa", "Turin" (names the ARK, ASK, productName) */
	bool vlek;                    /* an ASVK "SEV-VLEK-<product>" and a "SEV-VLEK" leaf */
	time_t not_before, not_after;
	uint64_t tcb;                 /* the leaf's SPL extensions */
	uint8_t chip_id[64];          /* its hwID (8 bytes of it on Turin) */
	const char *leaf_cn, *ask_cn, *ark_cn, *product_ext; /* NULL: the right ones */
	bool no_hwid, ask_not_ca, leaf_sha256_pss, leaf_rsa;
	bool hwid_der;                /* hwID as AMD's KDS writes it since 2023: a DER OCTET STRING (04 40 || 64 bytes) */
	const uint8_t *hwid_raw;      /* non-NULL: the hwID extension's value is exactly these bytes */
	size_t hwid_raw_len;
	int drop_spl;                 /* leave out SPL arc drop_spl (0: none) */
	int spl_value;                /* -1: leave SPL arc drop_spl out; else give it this value */
	long leaf_serial, ask_serial;
};

struct snp_synth {
	EVP_PKEY *ark_key, *ask_key, *leaf_key;
	X509 *ark, *ask, *leaf;
};

void snp_synth_opts_default(struct snp_synth_opts *o, time_t not_before, time_t not_after);
void snp_synth_init(struct snp_synth *s, const struct snp_synth_opts *o);
void snp_synth_release(struct snp_synth *s);

/* A version 2 or 3 report for the default options: policy 0x30000 (SMT allowed), VMPL 0, VCEK, unsigned. */
void snp_synth_report(uint8_t r[static SNP_SYNTH_REPORT_LEN], uint32_t version, const struct snp_synth_opts *o,
	const uint8_t measurement[static 48], const uint8_t report_data[static 64]);
/* Sign r's bytes 0x000-0x29F with key (ECDSA P-384, SHA-384) into its signature field. */
void snp_synth_sign(uint8_t r[static SNP_SYNTH_REPORT_LEN], EVP_PKEY *key);

void snp_synth_le64(uint8_t *p, uint64_t v);

/* PEM of x (as OpenSSL writes it) appended to *buf (free()). */
void snp_synth_pem_cert(X509 *x, char **buf, size_t *len);
void snp_synth_pem_crl(X509_CRL *crl, char **buf, size_t *len);
/* A CRL by issuer (key) from this_update to next_update revoking the certificates in revoke (NULL-ended). */
X509_CRL *snp_synth_crl(X509 *issuer, EVP_PKEY *key, time_t this_update, time_t next_update, X509 *const *revoke);
/* A self-signed copy of real (same names, extensions, dates) with a new key (*key: EVP_PKEY_free). */
X509 *snp_synth_impostor(X509 *real, EVP_PKEY **key);
/* DER of x (free()). */
uint8_t *snp_synth_der(X509 *x, size_t *len);

#endif
