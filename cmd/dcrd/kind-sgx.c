/* dcrd's sgx-dcap kind: Gramine's /dev/attestation for quotes and the sealing key, collateral from a PCCS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "kind-dcap.h"
#include "pcs.h"

#include "banned.h"

/* Gramine's SGX sealing key bound to MRENCLAVE: only this exact enclave build can derive it. */
#define SGX_SEALING_KEY "keys/_sgx_mrenclave"

#define DEVICE "the SGX attestation device file"

/* A file of the attestation device folder, read whole (at most max bytes) or written. */
static int device_read(const char *dir, const char *name, uint8_t *buf, size_t max, size_t *len,
	struct dcr_err *err)
{
	char path[4096];
	int r;

	if ((r = data_path(path, sizeof(path), dir, name, err)) < 0)
		return r;
	return kind_file_read(DEVICE, path, buf, max, len, err);
}

static int device_write(const char *dir, const char *name, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	char path[4096];
	int r;

	if ((r = data_path(path, sizeof(path), dir, name, err)) < 0)
		return r;
	return kind_file_write(DEVICE, path, buf, len, err);
}

/* HKDF of Gramine's MRENCLAVE sealing key, so state moves with the enclave build, not the host. */
static int sgx_sealing_key(struct enclave *e, struct dcr_err *err)
{
	uint8_t key[16];
	size_t len = 0;
	int r = device_read(e->opt.device, SGX_SEALING_KEY, key, sizeof(key), &len, err);

	if (r == 0 && len != sizeof(key))
		r = dcr_err_set(err, DCR_EFAIL, "the SGX sealing key '%s/%s' has %zu bytes, not 16", e->opt.device,
			SGX_SEALING_KEY, len);
	if (r == 0)
		r = kind_sealing_key(e, key, sizeof(key), (const uint8_t *)KIND_SEALING_INFO,
			sizeof(KIND_SEALING_INFO) - 1, err);
	dcr_wipe(key, sizeof(key));
	return r;
}

/*
 * The quote: the report data binding our keys goes to the device, which
 * answers with a quote over it. It must be for exactly those bytes.
 */
static int sgx_quote(struct enclave *e, struct dcr_err *err)
{
	uint8_t rd[DCR_REPORT_DATA_LEN], *buf;
	struct dcr_sgx_quote q;
	size_t len = 0;
	int r;

	if ((r = dcr_attest_report_data(e->pub.hpke_pk, e->pub.sign_pk, e->pub.ohttp_key_config,
		     e->pub.ohttp_key_config_len, rd, err)) < 0 ||
	    (r = device_write(e->opt.device, "user_report_data", rd, sizeof(rd), err)) < 0)
		return r;
	if (!(buf = malloc(DCR_SGX_QUOTE_MAX)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = device_read(e->opt.device, "quote", buf, DCR_SGX_QUOTE_MAX, &len, err)) < 0)
		goto fail;
	if ((r = dcr_sgx_quote_parse(buf, len, &q, err)) < 0) {
		dcr_err_prefix(err, "the quote from '%s/quote'", e->opt.device);
		goto fail;
	}
	if (!dcr_ct_equal(q.report.report_data, rd, sizeof(rd))) {
		r = dcr_err_set(err, DCR_EATTEST, "the quote from '%s/quote' is not for the report data dcrd wrote",
			e->opt.device);
		goto fail;
	}
	e->sgx = q.report;
	memcpy(e->measurement, q.report.mrenclave, 32);
	e->quote = buf;
	e->quote_len = len;
	return 0;
fail:
	free(buf);
	return r;
}

static const struct dcap_collateral sgx_collateral = {
	.title = "SGX",
	.cache_file = "sgx-collateral.json",
	.parse = dcr_sgx_collateral_parse,
	.fetch = dcr_pcs_fetch,
	.evidence = dcr_attest_sgx_evidence,
};

/* The quote for our keys from the device, then collateral for it. */
static int sgx_open(struct enclave *e, struct dcr_err *err)
{
	int r;

	if ((r = sgx_quote(e, err)) < 0)
		return r;
	return dcap_collateral_open(&sgx_collateral, e, err);
}

static void sgx_refresh(struct enclave *e)
{
	dcap_collateral_refresh(&sgx_collateral, e);
}

/*
 * MRENCLAVE (the measurement, checked before) or MRSIGNER + product +
 * minimum SVN; debug only if allowed. The TCB status is for clients to judge.
 */
static int sgx_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err)
{
	if (spec->has_signer && (!dcr_ct_equal(spec->mrsigner, e->sgx.mrsigner, 32) ||
				 spec->isv_prod_id != e->sgx.isv_prod_id || e->sgx.isv_svn < spec->min_isv_svn))
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' pins another signer, product or a higher SVN "
							"than this dcrd's", spec->name);
	if ((e->sgx.attributes[0] & DCR_SGX_FLAG_DEBUG) && !spec->debug_allowed)
		return dcr_err_set(err, DCR_EINTEGRITY, "this dcrd is a debug enclave, which enclave spec '%s' refuses",
			spec->name);
	return 0;
}

static void sgx_describe(const struct enclave *e, char *buf, size_t size)
{
	snprintf(buf, size, "sgx-dcap%s",
		e->sgx.attributes[0] & DCR_SGX_FLAG_DEBUG ? ": DEBUG enclave, NO protection" : "");
}

static const char *const sgx_options[] = { "sgx-device", "pccs-url", "pccs-ca", "sgx-root-crl", NULL };

const struct dcrd_kind dcrd_kind_sgx_dcap = {
	.lib = &dcr_attest_kind_sgx_dcap,
	.sandbox_refused = "dcrd runs in an SGX enclave (Gramine), which has no namespaces or process isolation for "
			   "the python sandbox (see docs/sgx.md)",
	.python_refused = "it runs in an SGX enclave (Gramine), which has no namespaces or process isolation, so the "
			  "python sandbox's guarantees cannot hold (see docs/sgx.md)",
	.options = sgx_options,
	.sealing_key = sgx_sealing_key,
	.unseal_hint = " (under SGX the sealing key changes with the enclave build, the machine, and CPU microcode or "
		       "TCB updates)",
	.open = sgx_open,
	.refresh = sgx_refresh,
	.matches_spec = sgx_matches_spec,
	.describe = sgx_describe,
};
