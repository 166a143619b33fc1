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
#include "pcs.h"

#include "banned.h"

#define COLLATERAL_FILE "sgx-collateral.json"

/* Gramine's SGX sealing key bound to MRENCLAVE: only this exact enclave build can derive it. */
#define SGX_SEALING_KEY "keys/_sgx_mrenclave"
#define COLLATERAL_TIMEOUT 30         /* seconds per PCCS request */
#define COLLATERAL_MARGIN 3600        /* renew an hour before the earliest nextUpdate */
#define COLLATERAL_MAX_AGE 86400      /* and at least daily, to learn of TCB changes */
#define COLLATERAL_RETRY 300          /* at most one failed attempt per five minutes */

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
		r = kind_sealing_key(e, key, sizeof(key), err);
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

/* Parse collateral JSON and learn when it must be renewed. */
static int collateral_next_update(const uint8_t *json, size_t len, time_t *next, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c = NULL;
	int r = dcr_sgx_collateral_parse(json, len, &c, err);

	if (r == 0 && dcr_sgx_collateral_next_update(c, next) < 0)
		r = dcr_err_set(err, DCR_EATTEST, "collateral without a nextUpdate");
	dcr_sgx_collateral_free(c);
	return r;
}

/* Install collateral valid until next into new evidence; with the lock held (or before serving). */
static int sgx_install(struct enclave *e, const uint8_t *json, size_t len, time_t fetched, time_t next,
	struct dcr_err *err)
{
	uint8_t *ev;
	size_t ev_len;
	int r;

	if ((r = dcr_attest_sgx_evidence(e->quote, e->quote_len, json, len, &e->pub, &ev, &ev_len, err)) < 0)
		return r;
	free(e->evidence);
	e->evidence = ev;
	e->evidence_len = ev_len;
	e->collateral_fetched = fetched;
	e->collateral_next_update = next;
	return 0;
}

/* Fetch collateral for our quote. Reads only what is fixed after start, so it runs without the lock. */
static int sgx_fetch(const struct enclave *e, uint8_t **json, size_t *len, struct dcr_err *err)
{
	return dcr_pcs_fetch(e->opt.pccs_url, e->opt.root_crl_url, e->opt.pccs_ca, e->quote, e->quote_len,
		COLLATERAL_TIMEOUT, json, len, err);
}

/*
 * Serve fetched collateral and cache it, unless it is expired or older
 * than what is served (a lagging PCCS must not replace good collateral).
 * With the lock held, or before serving.
 */
static int sgx_renew(struct enclave *e, const uint8_t *json, size_t len, time_t now, struct dcr_err *err)
{
	struct dcr_err cache_err;
	char path[4096];
	time_t next;
	int r;

	if ((r = collateral_next_update(json, len, &next, err)) < 0)
		return r;
	if (next <= now)
		return dcr_err_set(err, DCR_EATTEST, "the collateral service answered with expired collateral");
	if (e->evidence && next < e->collateral_next_update)
		return dcr_err_set(err, DCR_EATTEST, "the collateral service answered with older collateral than dcrd "
						  "serves");
	if ((r = sgx_install(e, json, len, now, next, err)) < 0)
		return r;
	/* The cache only saves a fetch: collateral is signed by Intel and checked by every client. */
	if (data_path(path, sizeof(path), e->data_dir, COLLATERAL_FILE, &cache_err) < 0 ||
	    dcr_write_atomic(path, json, len, &cache_err) < 0)
		fprintf(stderr, "dcrd: cannot cache the SGX collateral: %s\n", cache_err.msg);
	return 0;
}

static bool collateral_due(const struct enclave *e, time_t now)
{
	return now >= e->collateral_next_update - COLLATERAL_MARGIN || now - e->collateral_fetched >= COLLATERAL_MAX_AGE;
}

/*
 * At start: the cached collateral while it is fresh; else a fetch; if that
 * fails, the cached collateral while it is still valid at all.
 */
static int sgx_collateral(struct enclave *e, struct dcr_err *err)
{
	uint8_t *json = NULL;
	size_t len = 0;
	char path[4096];
	struct stat st;
	struct dcr_err cache_err;
	time_t now = time(NULL), next;
	int r;

	if ((r = data_path(path, sizeof(path), e->data_dir, COLLATERAL_FILE, err)) < 0)
		return r;
	if (stat(path, &st) == 0 && dcr_read_file(path, DCR_SGX_COLLATERAL_MAX, &json, &len, &cache_err) == 0 &&
	    collateral_next_update(json, len, &next, &cache_err) == 0 && next > now)
		sgx_install(e, json, len, st.st_mtime, next, &cache_err);
	free(json);
	json = NULL;
	if (e->evidence && !collateral_due(e, now))
		return 0;
	e->last_fetch_attempt = now;
	if ((r = sgx_fetch(e, &json, &len, err)) == 0)
		r = sgx_renew(e, json, len, now, err);
	free(json);
	if (r < 0 && e->evidence) {
		fprintf(stderr, "dcrd: cannot renew the SGX collateral, serving the cached one: %s\n", err->msg);
		return 0;
	}
	if (r < 0)
		dcr_err_prefix(err, "cannot obtain SGX collateral (--pccs-url %s)", e->opt.pccs_url);
	return r;
}

/* The quote for our keys from the device, then collateral for it. */
static int sgx_open(struct enclave *e, struct dcr_err *err)
{
	int r;

	if ((r = sgx_quote(e, err)) < 0)
		return r;
	return sgx_collateral(e, err);
}

/* One thread renews, without the lock: a slow PCCS must not hold up the others. */
static void sgx_refresh(struct enclave *e)
{
	time_t now = time(NULL);
	struct dcr_err fetch_err;
	uint8_t *json = NULL;
	size_t json_len = 0;
	bool fetch;
	int r;

	pthread_mutex_lock(&e->lock);
	fetch = !e->fetching && collateral_due(e, now) && now - e->last_fetch_attempt >= COLLATERAL_RETRY;
	if (fetch) {
		e->fetching = true;
		e->last_fetch_attempt = now;
	}
	pthread_mutex_unlock(&e->lock);
	if (!fetch)
		return;
	r = sgx_fetch(e, &json, &json_len, &fetch_err);
	pthread_mutex_lock(&e->lock);
	if (r == 0)
		r = sgx_renew(e, json, json_len, time(NULL), &fetch_err);
	e->fetching = false;
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		fprintf(stderr, "dcrd: cannot renew the SGX collateral, serving the old one: %s\n", fetch_err.msg);
	free(json);
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
