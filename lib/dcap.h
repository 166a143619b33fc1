/*
 * Intel DCAP, what SGX quotes (lib/sgx.c) and TDX quotes (lib/tdx.c) share:
 * the QE report, the PCK chain, the collateral and its checks. For those two
 * modules only: callers use sgx.h and tdx.h.
 */
#ifndef DCR_DCAP_H
#define DCR_DCAP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "sgx.h"
#include "specs.h"

/* Which TCB info and QE identity a collateral holds: id "SGX" and "QE", or "TDX" and "TD_QE". */
enum dcr_dcap_kind {
	DCR_DCAP_SGX = 1,
	DCR_DCAP_TDX = 2,
};

/*
 * The signature data from the QE report on, as quotes of every version
 * carry it: QE report (384), its signature (64), QE authentication data
 * (2-byte size, bytes), certification data type 5 (2), size (4) and the PEM
 * PCK chain, ending exactly at end. Fills q's fields from qe_report_raw on;
 * what names the quote in messages ("TDX quote"). Errors are DCR_EATTEST.
 */
int dcr_dcap_parse_qe(const uint8_t *p, const uint8_t *end, struct dcr_sgx_quote *q, const char *what,
	struct dcr_err *err);

/*
 * dcr_sgx_quote_canonical and dcr_sgx_quote_normalize for a parsed quote q
 * of any version (what names it); outer_len_at, if not 0, is the offset
 * of one more length that encloses the certification data (TDX: that of
 * the QE report certification data), made one larger with the others.
 */
int dcr_dcap_quote_canonical(const struct dcr_sgx_quote *q, const char *what, struct dcr_err *err);
int dcr_dcap_quote_normalize(const uint8_t *quote, size_t len, const struct dcr_sgx_quote *q, size_t outer_len_at,
	const char *what, uint8_t **out, size_t *out_len, struct dcr_err *err);

/* Collateral of either kind (dcr_sgx_collateral_parse is the SGX one). */
int dcr_dcap_collateral_parse(enum dcr_dcap_kind kind, const uint8_t *buf, size_t len,
	struct dcr_sgx_collateral **out, struct dcr_err *err);

/* dcr_sgx_quote_pck_info for a parsed quote of any version. */
int dcr_dcap_pck_info(const struct dcr_sgx_quote *q, uint8_t fmspc[static 6], char ca[static 16],
	struct dcr_err *err);

/* What a TD report adds to the checks: the TDX module that made it. */
struct dcr_dcap_tee {
	uint8_t tee_tcb_svn[16];       /* [0] module SVN, [1] module major version, [2..] the rest */
	uint8_t mrsignerseam[48];
	uint8_t seam_attributes[8];
};

/* What the shared checks established. */
struct dcr_dcap_outcome {
	uint8_t fmspc[6];
	uint8_t pceid[2];
	uint8_t cpusvn[16];            /* the PCK certificate's */
	uint16_t pcesvn;
	char tcb_status[DCR_SGX_STATUS_LEN];          /* converged: platform, TDX module, QE */
	char platform_tcb_status[DCR_SGX_STATUS_LEN];
	char module_tcb_status[DCR_SGX_STATUS_LEN];   /* TDX modules of major version > 0; else "" */
	char qe_tcb_status[DCR_SGX_STATUS_LEN];
	char tcb_date[32];
	size_t n_advisory_ids;
	char advisory_ids[DCR_SGX_ADVISORY_MAX][DCR_SGX_ADVISORY_LEN];
};

/*
 * Everything dcr_sgx_verify checks but the ISV report: a parsed quote q
 * (its signed_data, attestation key, QE report and PCK chain) against c,
 * trusting only root_der, at now. tee is NULL for SGX, the TD report's
 * module fields for TDX, and must match c's kind. Errors as dcr_sgx_verify.
 */
int dcr_dcap_verify(const struct dcr_sgx_quote *q, const struct dcr_sgx_collateral *c, const uint8_t *root_der,
	size_t root_len, time_t now, const struct dcr_dcap_tee *tee, struct dcr_dcap_outcome *out,
	struct dcr_err *err);

/* Whether spec accepts the TCB status status ("Revoked" never); DCR_EATTEST if not. */
int dcr_dcap_check_tcb_status(const char *status, const struct dcr_spec *spec, struct dcr_err *err);

#endif
