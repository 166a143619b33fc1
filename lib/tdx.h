/* Intel TDX: parsing DCAP quotes version 4 and 5 (TD reports) and verifying them offline against collateral. */
#ifndef DCR_TDX_H
#define DCR_TDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dcap.h"
#include "err.h"
#include "sgx.h"
#include "specs.h"

/* Bounds on untrusted input; a real quote is about 5 KiB. */
#define DCR_TDX_QUOTE_MAX (64 * 1024)

#define DCR_TDX_TEE_TYPE 0x81
#define DCR_TDX_REPORT10_LEN 584      /* TD report body, TDX 1.0 (quote v4; v5 body type 2) */
#define DCR_TDX_REPORT15_LEN 648      /* TD report body, TDX 1.5 (quote v5 body type 3) */
#define DCR_TDX_MR_LEN 48             /* SHA-384 measurements */
/* The RTMRs every tdx spec pins (bit i: RTMR i): MRTD measures only the firmware, RTMR0-2 the rest of the boot. */
#define DCR_TDX_RTMRS_REQUIRED 0x7u
#define DCR_TDX_REPORT_DATA_LEN 64

/* TD_ATTRIBUTES bit 0 (TUD.DEBUG): the host can read and change the TD, so it protects nothing. */
#define DCR_TDX_ATTR_DEBUG 0x1u
/* Bits 4-6 (HGS_PLUS_PROF, PERF_PROF, PMT_PROF): the host may profile the TD. */
#define DCR_TDX_ATTR_PROFILING 0x70ull
/* Bit 29: a migration TD, which no spec pins, could export the TD's memory to another platform. */
#define DCR_TDX_ATTR_MIGRATABLE (1ull << 29)
/* Every bit the TDX module ABI defines: those above, ICSSD 16, LASS 27, SEPT_VE_DISABLE 28, PKS 30, KL 31, TPA 62, PERFMON 63. */
#define DCR_TDX_ATTR_KNOWN (0x1ull | DCR_TDX_ATTR_PROFILING | 1ull << 16 | 1ull << 27 | 1ull << 28 | \
	DCR_TDX_ATTR_MIGRATABLE | 1ull << 30 | 1ull << 31 | 1ull << 62 | 1ull << 63)

/* A TD report body (TDREPORT's TDINFO and TEE_TCB_INFO parts that a quote carries). */
struct dcr_tdx_report {
	uint8_t tee_tcb_svn[16];
	uint8_t mrseam[DCR_TDX_MR_LEN];
	uint8_t mrsignerseam[DCR_TDX_MR_LEN];
	uint8_t seam_attributes[8];
	uint8_t td_attributes[8];     /* little-endian 64 */
	uint8_t xfam[8];              /* little-endian 64 */
	uint8_t mrtd[DCR_TDX_MR_LEN];
	uint8_t mrconfigid[DCR_TDX_MR_LEN];
	uint8_t mrowner[DCR_TDX_MR_LEN];
	uint8_t mrownerconfig[DCR_TDX_MR_LEN];
	uint8_t rtmr[4][DCR_TDX_MR_LEN];
	uint8_t report_data[DCR_TDX_REPORT_DATA_LEN];
	bool tdx15;                   /* the two TDX 1.5 fields below are present */
	uint8_t tee_tcb_svn2[16];
	uint8_t mrservicetd[DCR_TDX_MR_LEN];
};

/*
 * A parsed quote. dcap holds the header fields (version, attestation key
 * type, TEE type, QE vendor ID), the signed bytes (header, for version 5
 * the body type and size, and the TD report) and the signature data, as for
 * SGX; its report is unused. Pointers point into the parsed buffer.
 */
struct dcr_tdx_quote {
	uint16_t version;             /* 4 or 5 */
	uint16_t body_type;           /* 2 (TDX 1.0) or 3 (TDX 1.5); 2 for version 4 */
	struct dcr_tdx_report td;
	struct dcr_sgx_quote dcap;
};

/*
 * Parse a TDX quote: version 4 or 5, attestation key type 2 (ECDSA
 * P-256), TEE type 0x81, for version 5 body type 2 or 3 with its exact
 * size, then signature data whose certification data is type 6 (QE report)
 * holding type 5 (PEM PCK chain). Every length is checked and trailing
 * bytes are refused; layout in docs/tdx-verification.md. Errors are
 * DCR_EATTEST. Parsing proves nothing: see dcr_tdx_verify.
 */
int dcr_tdx_quote_parse(const uint8_t *buf, size_t len, struct dcr_tdx_quote *out, struct dcr_err *err);

/*
 * Whether quote is in the one form dcrd's evidence carries it, and that
 * form of it (*out, free()): as dcr_sgx_quote_canonical and
 * dcr_sgx_quote_normalize, the chain ending with one NUL; normalizing a
 * quote without it also makes the QE report certification data's size
 * one larger (three lengths in all, none of them signed).
 */
int dcr_tdx_quote_canonical(const uint8_t *quote, size_t len, struct dcr_err *err);
int dcr_tdx_quote_normalize(const uint8_t *quote, size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * TDX collateral: the JSON layout of SGX collateral (docs/sgx-verification.md)
 * with a TDX TCB info (id "TDX", version 3) and the TD_QE identity. The
 * same type as SGX collateral (free with dcr_sgx_collateral_free, canonical
 * form and next update as for SGX), but each kind's verify refuses the
 * other's. Errors are DCR_EATTEST naming what is wrong.
 */
int dcr_tdx_collateral_parse(const uint8_t *json, size_t len, struct dcr_sgx_collateral **out, struct dcr_err *err);

/* dcr_sgx_quote_pck_info for a TDX quote. */
int dcr_tdx_quote_pck_info(const uint8_t *quote, size_t len, uint8_t fmspc[static 6], char ca[static 16],
	struct dcr_err *err);

/* What a verified quote says, for the policy check and for printing. */
struct dcr_tdx_result {
	uint16_t version, body_type;
	struct dcr_tdx_report td;
	bool debug;
	struct dcr_dcap_outcome tcb;  /* FMSPC, PCEID, TCB statuses and date, advisory IDs */
};

/*
 * Verify quote fully at time now against collateral, trusting only the
 * Intel SGX Root CA root_der, as dcr_sgx_verify does for SGX (chains, CRLs,
 * TCB info and TD_QE identity, QE report, attestation key binding, quote
 * signature) plus the TDX module (MRSIGNERSEAM, SEAMATTRIBUTES and SVN
 * against tdxModule or tdxModuleIdentities) and the TDX TCB level matched
 * with the TEE_TCB_SVN. Fills out (may be NULL). Every rejection is
 * DCR_EATTEST with its own message.
 */
int dcr_tdx_verify(const uint8_t *quote, size_t quote_len, const struct dcr_sgx_collateral *collateral,
	const uint8_t *root_der, size_t root_len, time_t now, struct dcr_tdx_result *out, struct dcr_err *err);

/*
 * Check a verified result against a tdx spec: MRTD, each RTMR the spec
 * pins, debug TDs only when allowed, the TCB status in spec->tcb_statuses
 * ("Revoked" never). DCR_EATTEST on mismatch.
 */
int dcr_tdx_check_policy(const struct dcr_tdx_result *r, const struct dcr_spec *spec, struct dcr_err *err);

/* Check in constant time that REPORTDATA is exactly expected (the enclave's key binding). */
int dcr_tdx_check_report_data(const struct dcr_tdx_result *r, const uint8_t expected[static DCR_TDX_REPORT_DATA_LEN],
	struct dcr_err *err);

#endif
