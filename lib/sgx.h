/* Intel SGX DCAP: parsing ECDSA quotes (version 3) and verifying them offline against collateral. */
#ifndef DCR_SGX_H
#define DCR_SGX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "specs.h"

/* Bounds on untrusted input; real quotes are about 5 KiB, collateral about 15 KiB. */
#define DCR_SGX_QUOTE_MAX (64 * 1024)
#define DCR_SGX_COLLATERAL_MAX (1024 * 1024)

#define DCR_SGX_HEADER_LEN 48
#define DCR_SGX_REPORT_LEN 384
#define DCR_SGX_REPORT_DATA_LEN 64
/* The union of the platform, TDX module and QE levels, each at most 64 (MAX_ADVISORIES_PER_LEVEL). */
#define DCR_SGX_ADVISORY_MAX (3 * 64)
#define DCR_SGX_ADVISORY_LEN 32
#define DCR_SGX_STATUS_LEN 40

/* ATTRIBUTES.FLAGS bit 1: the enclave can be debugged, so it protects nothing. */
#define DCR_SGX_FLAG_DEBUG 0x2u

/* An SGX report body (the ISV enclave's or the quoting enclave's). */
struct dcr_sgx_report {
	uint8_t cpusvn[16];
	uint32_t miscselect;
	uint8_t attributes[16];       /* FLAGS (little-endian 64) || XFRM */
	uint8_t mrenclave[32];
	uint8_t mrsigner[32];
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint8_t report_data[DCR_SGX_REPORT_DATA_LEN];
};

/*
 * A parsed quote. The pointers point into the buffer given to
 * dcr_sgx_quote_parse and are valid as long as it is.
 */
struct dcr_sgx_quote {
	uint16_t version;
	uint16_t att_key_type;
	uint32_t tee_type;
	uint16_t qe_svn;
	uint16_t pce_svn;
	uint8_t qe_vendor_id[16];
	struct dcr_sgx_report report;
	const uint8_t *signed_data;   /* header || ISV report body: what the attestation key signs */
	size_t signed_len;
	uint8_t signature[64];        /* ECDSA P-256 r || s, big-endian */
	uint8_t attest_key[64];       /* P-256 point x || y */
	struct dcr_sgx_report qe_report;
	const uint8_t *qe_report_raw; /* DCR_SGX_REPORT_LEN bytes: what the PCK key signs */
	uint8_t qe_report_sig[64];
	const uint8_t *qe_auth;
	size_t qe_auth_len;
	uint16_t cert_type;           /* always 5: PEM PCK chain, leaf first */
	const uint8_t *cert_data;
	size_t cert_len;
};

/*
 * Parse an ECDSA-P256 SGX quote version 3 with a PEM PCK chain (certification
 * data type 5). Every length is checked and trailing bytes are refused.
 * Errors are DCR_EATTEST. Parsing proves nothing: see dcr_sgx_verify.
 */
int dcr_sgx_quote_parse(const uint8_t *buf, size_t len, struct dcr_sgx_quote *out,
	struct dcr_err *err);

/*
 * Whether quote is in the one form dcrd's evidence carries it: it parses
 * (its DCR_EATTEST otherwise) and its certification data ends, after the
 * PEM chain's last line feed, with exactly one NUL byte, as Intel's quote
 * library writes it (DCR_EINTEGRITY otherwise). dcr_sgx_verify takes a
 * quote with the NUL or without; evidence holds it to one form, so that no
 * byte of an audit export can come or go unnoticed.
 */
int dcr_sgx_quote_canonical(const uint8_t *quote, size_t len, struct dcr_err *err);

/*
 * quote in that form, into *out (free()): a copy when it is, else with a
 * NUL byte after the certification data and the two lengths that enclose
 * it (signature data at offset 432, certification data size) one larger;
 * neither is signed. Errors are those of dcr_sgx_quote_parse.
 */
int dcr_sgx_quote_normalize(const uint8_t *quote, size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Collateral: CRLs, TCB info and QE identity with their issuer chains, in the
 * JSON layout documented in docs/sgx-verification.md. Parsing checks the
 * layout: the keys, each chain's strict PEM and certificate count, the
 * lower-case hex, the CRLs' DER and the signed texts' contents; signatures,
 * dates and the pinned root are checked by dcr_sgx_verify. Every refusal
 * is DCR_EATTEST naming what is wrong. _free accepts NULL.
 */
struct dcr_sgx_collateral;
int dcr_sgx_collateral_parse(const uint8_t *json, size_t len, struct dcr_sgx_collateral **out,
	struct dcr_err *err);
void dcr_sgx_collateral_free(struct dcr_sgx_collateral *c);

/*
 * Whether json is collateral exactly as dcr_pcs_assemble writes it: the
 * keys of docs/sgx-verification.md, each once, in that table's order, and
 * the compact text jansson writes for them (no whitespace, its escapes).
 * DCR_EINTEGRITY naming what differs; what names it in messages.
 */
int dcr_sgx_collateral_canonical(const uint8_t *json, size_t len, const char *what, struct dcr_err *err);

/*
 * When the collateral goes stale: the earliest nextUpdate of the TCB info,
 * the QE identity and both CRLs. Parsing made sure each has one, so the
 * DCR_EATTEST for a CRL without one cannot happen.
 */
int dcr_sgx_collateral_next_update(const struct dcr_sgx_collateral *c, time_t *out);

/*
 * What a PCCS needs to serve the collateral for quote: the FMSPC from the
 * SGX extension of the PCK certificate in the quote's certification data, and
 * "processor" or "platform", the CA that issued it (the PCK CRL to fetch).
 * Checks the quote's syntax only, its PCK chain's form and names included,
 * not its signatures nor its root. Errors are DCR_EATTEST.
 */
int dcr_sgx_quote_pck_info(const uint8_t *quote, size_t len, uint8_t fmspc[static 6], char ca[static 16],
	struct dcr_err *err);

/* What a verified quote says, for the policy check and for printing. */
struct dcr_sgx_result {
	uint8_t mrenclave[32];
	uint8_t mrsigner[32];
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint32_t miscselect;
	uint8_t attributes[16];
	bool debug;
	uint8_t cpusvn[16];
	uint8_t report_data[DCR_SGX_REPORT_DATA_LEN];
	uint8_t fmspc[6];
	uint8_t pceid[2];
	/* The platform's status converged with the quoting enclave's, as Intel's QVL does. */
	char tcb_status[DCR_SGX_STATUS_LEN];
	char platform_tcb_status[DCR_SGX_STATUS_LEN];
	char qe_tcb_status[DCR_SGX_STATUS_LEN];
	char tcb_date[32];            /* the oldest tcbDate of the levels converged (platform, TDX module, QE) */
	size_t n_advisory_ids;        /* platform's and QE's, without duplicates */
	char advisory_ids[DCR_SGX_ADVISORY_MAX][DCR_SGX_ADVISORY_LEN];
};

/*
 * Verify quote fully at time now against collateral, trusting only the Intel
 * SGX Root CA certificate root_der (DER; the caller pins it): the PCK chain
 * and the collateral signing chains (exactly the documented certificates,
 * each ending with a byte-for-byte copy of the root), both CRLs, the TCB
 * info and QE identity signatures and validity periods, the PCK's SGX
 * extensions against the TCB info, the QE report signature and its binding
 * of the attestation key, the quote signature, and the QE identity. On
 * success fills out (which may be NULL). Every rejection is DCR_EATTEST
 * with its own message; DCR_ENOMEM and DCR_EFAIL only for local failures.
 * Policy is separate: see below.
 */
int dcr_sgx_verify(const uint8_t *quote, size_t quote_len, const struct dcr_sgx_collateral *collateral,
	const uint8_t *root_der, size_t root_len, time_t now, struct dcr_sgx_result *out,
	struct dcr_err *err);

/*
 * Check a verified result against a pinned spec: MRENCLAVE when the spec has
 * a measurement, MRSIGNER + ISVPRODID + minimum ISVSVN when it has a signer
 * (both when it has both), debug enclaves only when allowed, and the TCB
 * status in spec->tcb_statuses ("Revoked" never). DCR_EATTEST on mismatch.
 */
int dcr_sgx_check_policy(const struct dcr_sgx_result *r, const struct dcr_spec *spec,
	struct dcr_err *err);

/* Check in constant time that REPORTDATA is exactly expected (the enclave's key binding). */
int dcr_sgx_check_report_data(const struct dcr_sgx_result *r,
	const uint8_t expected[static DCR_SGX_REPORT_DATA_LEN], struct dcr_err *err);

#endif
