/* Trusted enclave specifications: the file that pins which enclave code a client accepts. */
#ifndef DCR_SPECS_H
#define DCR_SPECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DCR_SPEC_NAME_MAX 64
#define DCR_SPEC_TCB_MAX 8

enum dcr_spec_format {
	DCR_SPEC_SIM = 1,      /* simulated attestation: no hardware protection */
	DCR_SPEC_SGX_DCAP = 2, /* Intel SGX DCAP ECDSA quote */
	DCR_SPEC_TDX = 3,      /* Intel TDX DCAP quote (version 4 or 5) */
	DCR_SPEC_SEV_SNP = 4,  /* AMD SEV-SNP attestation report */
};

struct dcr_spec {
	char name[DCR_SPEC_NAME_MAX + 1];
	enum dcr_spec_format format;
	bool has_measurement;         /* sim: SHA-256 of dcrd; sgx-dcap: MRENCLAVE */
	uint8_t measurement[32];
	bool has_signer;              /* sgx-dcap: MRSIGNER + product + minimum SVN */
	uint8_t mrsigner[32];
	uint32_t isv_prod_id;
	uint32_t min_isv_svn;
	bool debug_allowed;
	bool has_mrtd;                /* tdx: always, when well formed */
	uint8_t mrtd[48];
	unsigned rtmr_pinned;         /* tdx: bit i set when rtmr[i] is pinned */
	uint8_t rtmr[4][48];
	size_t n_tcb_statuses;        /* sgx-dcap, tdx; sorted */
	const char *tcb_statuses[DCR_SPEC_TCB_MAX]; /* static strings */
	uint8_t *root_ca;             /* sgx-dcap, tdx: the pinned Intel SGX Root CA; sev-snp: the ARK; DER; owned */
	/* sev-snp (see dcr-specs(5)) */
	uint8_t snp_measurement[48];
	bool snp_has_host_data, snp_has_id_key;
	uint8_t snp_host_data[32];
	uint8_t snp_id_key_digest[48];
	uint64_t snp_policy_allow;    /* the weakening policy bits accepted */
	uint32_t snp_max_vmpl;
	struct {
		uint8_t fmc, bootloader, tee, snp, microcode;
	} snp_min_tcb;
	bool snp_crl_optional;        /* require_crl: false (default: a chain without AMD's CRL is refused) */
	bool snp_vcek_only;           /* signing_keys: [vcek] */
	uint64_t snp_platform_require; /* PLATFORM_INFO bits that must be set */
	size_t root_ca_len;
};

/* A loaded specs file. _free accepts NULL. */
struct dcr_specs {
	size_t n;
	struct dcr_spec *items;
};

/* Parse a specs file (see dcr-specs(5)); errors are DCR_EINVALID with FILE:LINE:COLUMN. */
int dcr_specs_parse(const char *file, const uint8_t *buf, size_t len, struct dcr_specs **out,
	struct dcr_err *err);
/* Read and parse path; a missing file is DCR_ENOTFOUND. */
int dcr_specs_load(const char *path, struct dcr_specs **out, struct dcr_err *err);
/*
 * Read a certificate from a DER or PEM file as DER (*der: free()). A file
 * without exactly one readable certificate is DCR_EINVALID.
 */
int dcr_cert_file_der(const char *path, uint8_t **der, size_t *len, struct dcr_err *err);

/* The library's static string for a known TCB status name, or NULL (also for "Revoked"). */
const char *dcr_spec_tcb_status(const char *name);
/* Whether name is a valid spec name (a-z first; a-z, 0-9, ':', '.', '_', '-'; at most 64). */
bool dcr_spec_name_valid(const char *name);

const struct dcr_spec *dcr_specs_find(const struct dcr_specs *specs, const char *name);
void dcr_specs_free(struct dcr_specs *specs);

#endif
