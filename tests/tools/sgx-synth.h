/* Synthetic SGX DCAP evidence for tests: v3 quotes and their collateral, signed by a root made at run time. */
#ifndef DCR_SGX_SYNTH_H
#define DCR_SGX_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

/*
 * Everything here is for tests only: on any failure (OpenSSL, memory, an
 * impossible option) it prints what went wrong on stderr and abort()s,
 * except where a function says it returns an error.
 */

/* Byte offsets in a quote built here (see docs/sgx-verification.md), for tests that edit one field. */
#define OFF_QE_SVN 8
#define OFF_PCE_SVN 10
#define OFF_VENDOR 12
#define OFF_USER_DATA 28
#define OFF_CPUSVN 48
#define OFF_MISCSELECT 64
#define OFF_ATTRIBUTES 96
#define OFF_XFRM 104
#define OFF_MRENCLAVE 112
#define OFF_MRSIGNER 176
#define OFF_ISVPRODID 304
#define OFF_ISVSVN 306
#define OFF_REPORTDATA 368
#define OFF_SIGLEN 432
#define OFF_SIG 436
#define OFF_AK 500
#define OFF_QE_REPORT 564
#define OFF_QE_SIG 948
#define OFF_AUTH_LEN 1012
#define OFF_AUTH 1014
#define AUTH_LEN 32
#define OFF_CERT_TYPE (OFF_AUTH + AUTH_LEN)
#define OFF_CERT_LEN (OFF_CERT_TYPE + 2)
#define OFF_CERT (OFF_CERT_TYPE + 6)
#define REPORT_LEN 384

#define SGX_SYNTH_QUOTE_MAX 8192
#define SGX_SYNTH_DAY 86400

/*
 * The P-256 keys of the synthetic Intel hierarchy: the root CA, the PCK
 * Processor CA, the PCK leaf, the TCB Signing key, the quoting enclave's
 * attestation key, and a second root with the same name for wrong-root
 * tests. Made by _init, freed by _release (which accepts NULL).
 */
struct sgx_synth_keys {
	EVP_PKEY *root, *ca, *pck, *tcb, *ak, *other;
};

void sgx_synth_keys_init(struct sgx_synth_keys *k);
void sgx_synth_keys_release(struct sgx_synth_keys *k);

/*
 * What to build. sgx_synth_opts_default gives a quote that verifies between
 * issue (included) and next (excluded), for an UpToDate platform; each field
 * can then be changed, most of them to break one check on purpose.
 */
struct sgx_synth_opts {
	/* Collateral window; both CRLs end at crl_next, the QE identity at qe_next. */
	time_t pck_not_after, crl_next, qe_next, col_issue, col_next;
	bool revoke_pck, revoke_ca, no_ext, bad_binding, tamper_tcb_text, tamper_qe_text;
	bool pck_crl_wrong_key, root_crl_wrong_key, tcb_other_root, pck_other_root;
	const char *pck_cn, *tcb_cn, *tcb_status;
	uint8_t pck_comp[16];
	uint16_t pck_pcesvn;
	uint8_t pck_fmspc[6], tcb_fmspc[6], tcb_pceid[2];
	uint8_t qe_mrsigner[32]; /* in the QE identity; the QE report always has 0x5a... */
	uint16_t qe_isvsvn, qe_prodid;
	uint32_t qe_misc;
	uint8_t qe_flags;
	/* The application enclave's report. */
	uint8_t mrenclave[32], mrsigner[32];
	uint16_t isv_prod_id, isv_svn;
	uint64_t attr_flags; /* ATTRIBUTES.FLAGS; debug adds the DEBUG bit */
	bool debug;
	uint64_t td_attributes;       /* TDX: TD_ATTRIBUTES bits besides SEPT_VE_DISABLE and DEBUG */
	int extra_advisories;         /* TDX: this many more advisory IDs on the platform's and the module's first level */
	uint8_t report_data[64];
	/*
	 * TDX: tdx_version 4 or 5 builds a TD quote of that version (body type
	 * tdx_body_type for 5) with TDX collateral (TCB info id "TDX" whose
	 * first level needs TDX components 2.. at 3 and whose second is
	 * OutOfDate, tdxModule, identity module_id with levels at SVN 4
	 * (UpToDate) and 2 (OutOfDate), TD_QE identity). debug sets
	 * TD_ATTRIBUTES.DEBUG; report_data is the TD's.
	 */
	int tdx_version;
	uint16_t tdx_body_type;
	uint8_t tee_tcb_svn[16];
	uint8_t mrsignerseam[48], seam_attributes[8];
	uint8_t mrtd[48], rtmr[4][48];
	const char *module_id;
};

void sgx_synth_opts_default(struct sgx_synth_opts *o, time_t issue, time_t next);

/*
 * What was built. The strings are NUL-terminated; the collateral pieces
 * are those Intel's PCS serves, and collateral assembles them in the JSON
 * layout of docs/sgx-verification.md. Filled by sgx_synth_build, freed by
 * sgx_synth_release (which accepts NULL).
 */
struct sgx_synth {
	uint8_t quote[SGX_SYNTH_QUOTE_MAX]; /* room to spare after quote_len */
	size_t quote_len;
	char *collateral;
	size_t collateral_len;
	uint8_t *root, *other_root; /* DER certificates */
	size_t root_len, other_root_len;
	uint8_t *root_ca_crl, *pck_crl; /* DER CRLs */
	size_t root_ca_crl_len, pck_crl_len;
	char *pck_crl_issuer_chain;                                       /* PEM: PCK CA, root */
	char *tcb_info, *tcb_info_signature, *tcb_info_issuer_chain;       /* text, 128 hex, PEM */
	char *qe_identity, *qe_identity_signature, *qe_identity_issuer_chain;
};

void sgx_synth_build(const struct sgx_synth_keys *k, const struct sgx_synth_opts *o, struct sgx_synth *out);
void sgx_synth_release(struct sgx_synth *s);

/* Offsets in a TD quote built here: version 4, or 5 (6 bytes more before the body). */
#define TDX_OFF_BODY4 48
#define TDX_OFF_BODY5 54
#define TDX_BODY_TEE_TCB_SVN 0
#define TDX_BODY_MRSIGNERSEAM 64
#define TDX_BODY_SEAM_ATTRIBUTES 112
#define TDX_BODY_TD_ATTRIBUTES 120
#define TDX_BODY_MRTD 136
#define TDX_BODY_RTMR0 328
#define TDX_BODY_REPORTDATA 520

/*
 * Put report_data into a quote built here (at offset 368) and sign bytes
 * 0..431 again with ak, as a quoting enclave does for each report. Returns
 * -1, leaving the quote alone, when quote_len is too short to be one of
 * ours or ak is not the attestation key the quote carries; 0 otherwise.
 */
int sgx_synth_set_report_data(uint8_t *quote, size_t quote_len, EVP_PKEY *ak, const uint8_t report_data[static 64]);

/* The same for a TD quote built here: REPORTDATA in the TD report, and the header and body signed again. */
int sgx_synth_tdx_set_report_data(uint8_t *quote, size_t quote_len, EVP_PKEY *ak,
	const uint8_t report_data[static 64]);

/*
 * An impostor of the DER certificate cert (Intel's root, say): the same
 * subject, issuer, serial, validity and extensions, signed by a new key of
 * its own. Returned in PEM as a new string (free()).
 */
char *sgx_synth_impostor_pem(const uint8_t *cert, size_t len);

#endif
