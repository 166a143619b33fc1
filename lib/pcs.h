/* SGX DCAP collateral from a PCCS or Intel's PCS (API v4), assembled into dcr's collateral JSON. */
#ifndef DCR_PCS_H
#define DCR_PCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One answer as received: its body, and its issuer chain header verbatim (percent-encoded PEM). */
struct dcr_pcs_response {
	const uint8_t *body;
	size_t body_len;
	const char *issuer_chain;  /* NULL when absent; ignored for the root CA CRL */
	const char *url;           /* names the source in messages; NULL: "the PCCS" */
};

/*
 * The four answers that make up collateral:
 *  pck_crl:     /sgx/certification/v4/pckcrl, DER, PEM or hex; SGX-PCK-CRL-Issuer-Chain
 *  tcb_info:    /sgx/certification/v4/tcb, {"tcbInfo":{...},"signature":"hex"};
 *               TCB-Info-Issuer-Chain (v4) or SGX-TCB-Info-Issuer-Chain (v3)
 *  qe_identity: /sgx/certification/v4/qe/identity, {"enclaveIdentity":{...},"signature":"hex"};
 *               SGX-Enclave-Identity-Issuer-Chain
 *  root_ca_crl: the Intel SGX Root CA's CRL, DER, PEM or hex
 */
struct dcr_pcs_responses {
	struct dcr_pcs_response pck_crl, tcb_info, qe_identity, root_ca_crl;
	bool tdx;                  /* TDX TCB info and TD_QE identity (/tdx/certification/v4/...) */
};

/*
 * Assemble the collateral JSON of docs/sgx-verification.md from the answers,
 * keeping the signed tcbInfo and enclaveIdentity texts byte for byte, and
 * check it with dcr_sgx_collateral_parse. No network. *json is
 * NUL-terminated text of *json_len bytes; free it with free(). A malformed
 * answer is DCR_EATTEST naming it ("TCB info from URL: ...").
 */
int dcr_pcs_assemble(const struct dcr_pcs_responses *in, uint8_t **json, size_t *json_len,
	struct dcr_err *err);

/*
 * Fetch the collateral for quote: the PCK CRL of the CA that issued the
 * quote's PCK certificate, the TCB info for its FMSPC and the QE identity
 * from base_url (a PCCS, or https://api.trustedservices.intel.com), and the
 * root CA CRL from root_crl_url (a full URL), each within timeout_s seconds
 * and with TLS verified against ca_file (NULL: the system's trusted CAs) for
 * base_url and a root_crl_url under it, the system's for any other URL,
 * then dcr_pcs_assemble them. URLs are https (http only to a loopback
 * address). Unreachable: DCR_EUNREACHABLE naming the URL; an HTTP status
 * other than 200: DCR_EFAIL "HTTP 404 from URL"; bad answers: DCR_EATTEST.
 */
int dcr_pcs_fetch(const char *base_url, const char *root_crl_url, const char *ca_file, const uint8_t *quote,
	size_t quote_len, long timeout_s, uint8_t **json, size_t *json_len, struct dcr_err *err);

/*
 * The same for a TDX quote (dcr_tdx_quote_pck_info): the PCK CRL from
 * /sgx/certification/v4/pckcrl, the TCB info and TD_QE identity from
 * /tdx/certification/v4/tcb and /tdx/certification/v4/qe/identity, checked
 * with dcr_tdx_collateral_parse.
 */
int dcr_pcs_fetch_tdx(const char *base_url, const char *root_crl_url, const char *ca_file, const uint8_t *quote,
	size_t quote_len, long timeout_s, uint8_t **json, size_t *json_len, struct dcr_err *err);

/* A top-level member of a JSON object, and where its value's text lies in the input. */
struct dcr_pcs_member {
	const char *name;
	size_t off, len;
};

/*
 * Scan the JSON object body (len bytes) strictly: it must have exactly the
 * n members named in m, each once, in any order, and nothing but whitespace
 * after it; set each m[i].off and m[i].len to the raw text of its value.
 * Nesting is limited to 64 levels; UTF-8 is not checked. DCR_EATTEST with
 * the byte offset of what is wrong. Used by dcr_pcs_assemble; exposed for
 * tests and the fuzzer.
 */
int dcr_pcs_json_members(const uint8_t *body, size_t len, struct dcr_pcs_member *m, size_t n,
	struct dcr_err *err);

#endif
