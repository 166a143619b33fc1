/*
 * Attestation kinds, dcrd's side: one row per kind in dcrd_kinds[]
 * (cmd/dcrd/kind.c), next to the library's row of the same name
 * (lib/attest-kind.h), which verifies what this side makes. Everything
 * `dcrd serve --attestation NAME` does differently per kind is an
 * operation here; enclave.c and serve.c only call them.
 *
 * Adding a kind: one file cmd/dcrd/kind-KIND.c defining
 * `const struct dcrd_kind dcrd_kind_KIND`, its declaration below, one row
 * in dcrd_kinds[]; its state in struct enclave's union (dcrd.h) and its
 * options in struct enclave_options and serve.c. See docs/attestation.md.
 *
 * Errors: 0 or a negative DCR_E* code with the message in err, as lib/.
 * The device or kernel interface failing is DCR_EFAIL; evidence the
 * device made that is not for our report data, or collateral that does
 * not do, DCR_EATTEST.
 */
#ifndef DCRD_KIND_H
#define DCRD_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "attest-kind.h"
#include "err.h"
#include "specs.h"

struct enclave;
struct enclave_options;

struct dcrd_kind {
	const struct dcr_attest_kind *lib; /* its name, spec format, title, and whether it is simulated */

	/*
	 * The python sandbox: NULL if it may run on this kind (a confidential
	 * VM has namespaces and process isolation). Else why not, twice: as
	 * the sandbox's refusal (sandbox_options.refuse: "dcrd runs in ...")
	 * and as the end of a refused computation's message ("it runs in ...").
	 */
	const char *sandbox_refused;
	const char *python_refused;

	/* The `dcrd serve` options of this kind, without "--" (NULL-terminated; NULL: none). */
	const char *const *options;

	/*
	 * Derive the 32-byte sealing key into e->sealing_key, from what only
	 * this enclave can obtain (sim: a key file in e->data_dir, created
	 * once). Called first by enclave_open, with e->opt and e->data_dir set.
	 * unseal_hint, if not NULL, is added to a failure to unseal the
	 * sealed keys: what changes the key.
	 */
	int (*sealing_key)(struct enclave *e, struct dcr_err *err);
	const char *unseal_hint;

	/*
	 * Make the evidence for e->pub: the report data is
	 * dcr_attest_report_data of e->pub. Called once by enclave_open with
	 * the keys loaded, before any thread. Must set e->measurement (what
	 * the library's verify reports as measurement), e->evidence and
	 * e->evidence_len (an Evidence message the library's row verifies;
	 * malloc()), and the kind's own state; fetch and cache (in
	 * e->data_dir) whatever collateral or certificates the evidence needs.
	 * The evidence from the device must be checked to be for exactly our
	 * report data (DCR_EATTEST).
	 */
	int (*open)(struct enclave *e, struct dcr_err *err);

	/*
	 * Called by enclave_evidence before it copies e->evidence out, from
	 * any thread, without e->lock: renew collateral that is due and swap
	 * in new evidence under e->lock; never block other threads on the
	 * network. A failure to renew is logged and the old evidence served;
	 * returns nothing. NULL: the evidence never changes.
	 */
	void (*refresh)(struct enclave *e);

	/*
	 * Whether spec describes this enclave, as a room's enclave spec must:
	 * DCR_EINTEGRITY saying why not. enclave_matches_spec has checked
	 * before that the spec is of this kind and that a pinned measurement
	 * (spec->has_measurement) is e->measurement. NULL: nothing more to check.
	 */
	int (*matches_spec)(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err);

	/* What dcrd says of its attestation when it listens, after "attestation ": its name and any warning. */
	void (*describe)(const struct enclave *e, char *buf, size_t size);

	/*
	 * `dcrd spec`: print the trusted-spec entry of this dcrd (a specs file,
	 * dcr-specs(5)) to out, asking the device as opt says where it is (sim:
	 * the SHA-256 of this binary; tdx, sev-snp: the measurements of a
	 * fresh report). NULL: this kind's spec comes from elsewhere
	 * (sgx-dcap: the signed enclave, docs/sgx.md).
	 */
	int (*spec)(const struct enclave_options *opt, FILE *out, struct dcr_err *err);
};

extern const struct dcrd_kind dcrd_kind_sim;
extern const struct dcrd_kind dcrd_kind_sgx_dcap;
extern const struct dcrd_kind dcrd_kind_tdx;
extern const struct dcrd_kind dcrd_kind_sev_snp;

/*
 * For kinds: read the device or kernel interface file path whole, at most
 * max bytes (more is an error), blocking while the device makes us wait;
 * write len bytes to one. DCR_EFAIL naming what and path.
 */
int kind_file_read(const char *what, const char *path, uint8_t *buf, size_t max, size_t *len, struct dcr_err *err);
int kind_file_write(const char *what, const char *path, const uint8_t *buf, size_t len, struct dcr_err *err);
/*
 * For kinds' refresh: whether this thread renews the collateral now, that
 * is, due(e, now) (read under e->lock), no other thread is renewing it, and
 * the last attempt is at least retry seconds old. If so, e->fetching and
 * e->last_fetch_attempt are set; the caller fetches without the lock, then
 * installs what it got and clears e->fetching under it.
 */
bool kind_renew_begin(struct enclave *e, bool (*due)(const struct enclave *e, time_t now), time_t now, time_t retry);

/*
 * For kinds: e->sealing_key, HKDF-SHA256 (no salt) of the device's secret
 * with info; sgx-dcap and sev-snp use KIND_SEALING_INFO, tdx its own info
 * with its measurements appended.
 */
#define KIND_SEALING_INFO "dcr-sealing-key-v1"
int kind_sealing_key(struct enclave *e, const uint8_t *secret, size_t len, const uint8_t *info, size_t info_len,
	struct dcr_err *err);

/*
 * The options that choose the kind and where its devices are, the same
 * for `dcrd serve` and `dcrd spec` (dcrd(8)): --attestation and every
 * kind's own (struct dcrd_kind.options). KIND_LONGOPTS goes into the
 * command's getopt_long table; their values are from KIND_OPT_FIRST on,
 * clear of letters and of the command's own.
 */
enum {
	KIND_OPT_FIRST = 1024,
	KIND_OPT_ATTESTATION = KIND_OPT_FIRST,
	KIND_OPT_SGX_DEVICE,
	KIND_OPT_PCCS_URL,
	KIND_OPT_ROOT_CRL,
	KIND_OPT_PCCS_CA,
	KIND_OPT_TSM_DIR,
	KIND_OPT_TDX_SEALING_KEY,
	KIND_OPT_TDX_DEVICE,
	KIND_OPT_SNP_DEVICE,
	KIND_OPT_KDS_URL,
	KIND_OPT_SNP_PRODUCT,
};
#define KIND_LONGOPTS \
	{ "attestation", required_argument, NULL, KIND_OPT_ATTESTATION }, \
	{ "sgx-device", required_argument, NULL, KIND_OPT_SGX_DEVICE }, \
	{ "pccs-url", required_argument, NULL, KIND_OPT_PCCS_URL }, \
	{ "sgx-root-crl", required_argument, NULL, KIND_OPT_ROOT_CRL }, \
	{ "pccs-ca", required_argument, NULL, KIND_OPT_PCCS_CA }, \
	{ "tsm-dir", required_argument, NULL, KIND_OPT_TSM_DIR }, \
	{ "tdx-sealing-key", required_argument, NULL, KIND_OPT_TDX_SEALING_KEY }, \
	{ "tdx-device", required_argument, NULL, KIND_OPT_TDX_DEVICE }, \
	{ "snp-device", required_argument, NULL, KIND_OPT_SNP_DEVICE }, \
	{ "kds-url", required_argument, NULL, KIND_OPT_KDS_URL }, \
	{ "snp-product", required_argument, NULL, KIND_OPT_SNP_PRODUCT }
#define KIND_OPTIONS_MAX 16 /* room for every kind-specific option of every kind (ten today) */

struct kind_args {
	const char *attestation;          /* --attestation; "sim" by default */
	const char *given[KIND_OPTIONS_MAX]; /* the kind-specific options given, without "--" */
	size_t n_given;
};

/* Defaults into *a and *opt (whose other fields are left as they are). */
void kind_args_init(struct kind_args *a, struct enclave_options *opt);
/*
 * If c is a KIND_OPT_* value: take arg into *a or *opt and return 1, or
 * say why arg is wrong ("dcrd: CMD: ...") and return -1. 0 if c is not one.
 */
int kind_args_take(struct kind_args *a, struct enclave_options *opt, int c, const char *arg, const char *cmd);
/*
 * After the options: opt->kind from --attestation, and every kind-specific
 * option given must be one of that kind's. Else say why on stderr
 * ("dcrd: CMD: ...") and return -1; the caller prints its usage.
 */
int kind_args_finish(const struct kind_args *a, struct enclave_options *opt, const char *cmd);

/* The table, NULL-terminated; the first is the default. */
extern const struct dcrd_kind *const dcrd_kinds[];

/* The kind named name, or NULL. */
const struct dcrd_kind *dcrd_kind_find(const char *name);
/* The names for usage: "sim|sgx-dcap" (sep "|") or a list (dcr_attest_kind_names style, sep NULL). */
const char *dcrd_kind_names(const char *sep, char *buf, size_t size);

#endif
