/* The enclave's identity: sealing key, enclave keys sealed at rest, evidence (simulated or SGX DCAP). */
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
#include "hpke.h"
#include "pcs.h"
#include "seal.h"

#include "banned.h"

#define SEALING_KEY_FILE "sim-sealing.key"
#define KEYS_FILE "enclave-keys.sealed"
#define KEYS_LABEL "enclave-keys"
#define COLLATERAL_FILE "sgx-collateral.json"

/* Gramine's SGX sealing key bound to MRENCLAVE: only this exact enclave build can derive it. */
#define SGX_SEALING_KEY "keys/_sgx_mrenclave"
#define SGX_SEALING_INFO "dcr-sealing-key-v1"
#define COLLATERAL_TIMEOUT 30         /* seconds per PCCS request */
#define COLLATERAL_MARGIN 3600        /* renew an hour before the earliest nextUpdate */
#define COLLATERAL_MAX_AGE 86400      /* and at least daily, to learn of TCB changes */
#define COLLATERAL_RETRY 300          /* at most one failed attempt per five minutes */

int data_path(char *buf, size_t size, const char *dir, const char *name, struct dcr_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
		return dcr_err_set(err, DCR_EINVALID, "data directory path too long");
	return 0;
}

/* Read at most max bytes of a device file, blocking (the device may make us wait); more is an error. */
static int device_read(const char *dir, const char *name, uint8_t *buf, size_t max, size_t *len,
	struct dcr_err *err)
{
	char path[4096];
	uint8_t extra;
	size_t used = 0;
	ssize_t n;
	int fd, r;

	if ((r = data_path(path, sizeof(path), dir, name, err)) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open the SGX attestation device file '%s': %s", path,
			strerror(errno));
	for (;;) {
		n = used < max ? read(fd, buf + used, max - used) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used == max) {
			close(fd);
			return dcr_err_set(err, DCR_EFAIL, "'%s' holds more than %zu bytes", path, max);
		}
		used += (size_t)n;
	}
	r = errno;
	close(fd);
	if (n < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot read '%s': %s", path, strerror(r));
	*len = used;
	return 0;
}

static int device_write(const char *dir, const char *name, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	char path[4096];
	int fd, r;

	if ((r = data_path(path, sizeof(path), dir, name, err)) < 0)
		return r;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open the SGX attestation device file '%s': %s", path,
			strerror(errno));
	r = dcr_write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -1;
	if (r < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

/* SGX: HKDF of Gramine's MRENCLAVE sealing key, so state moves with the enclave build, not the host. */
static int sgx_sealing_key(struct enclave *e, struct dcr_err *err)
{
	uint8_t key[16], prk[DCR_SHA256_LEN];
	size_t len = 0;
	int r = device_read(e->opt.device, SGX_SEALING_KEY, key, sizeof(key), &len, err);

	if (r == 0 && len != sizeof(key))
		r = dcr_err_set(err, DCR_EFAIL, "the SGX sealing key '%s/%s' has %zu bytes, not 16", e->opt.device,
			SGX_SEALING_KEY, len);
	if (r == 0 && (r = dcr_hkdf_extract(NULL, 0, key, sizeof(key), prk, err)) == 0)
		r = dcr_hkdf_expand(prk, (const uint8_t *)SGX_SEALING_INFO, strlen(SGX_SEALING_INFO), e->sealing_key,
			sizeof(e->sealing_key), err);
	dcr_wipe(key, sizeof(key));
	dcr_wipe(prk, sizeof(prk));
	return r;
}

/* The sealing key: sgx from the device; sim a file in the data directory, created once. */
static int load_sealing_key(struct enclave *e, const char *dir, struct dcr_err *err)
{
	char path[4096];
	int r;

	if (e->opt.sgx)
		return sgx_sealing_key(e, err);
	if ((r = data_path(path, sizeof(path), dir, SEALING_KEY_FILE, err)) < 0)
		return r;
	r = dcr_keyfile_read(path, e->sealing_key, sizeof(e->sealing_key), err);
	if (r != DCR_ENOTFOUND)
		return r;
	if ((r = dcr_random(e->sealing_key, sizeof(e->sealing_key), err)) < 0)
		return r;
	return dcr_keyfile_write(path, e->sealing_key, sizeof(e->sealing_key), err);
}

static int load_keys(struct enclave *e, const char *dir, struct dcr_err *err)
{
	uint8_t secrets[96], *blob = NULL, *pt = NULL;
	size_t blob_len, pt_len = 0;
	char path[4096];
	int r;

	if ((r = data_path(path, sizeof(path), dir, KEYS_FILE, err)) < 0)
		return r;
	r = dcr_read_file(path, 4096, &blob, &blob_len, err);
	if (r == DCR_ENOTFOUND) {
		/* First start: new keys, sealed before anything uses them. */
		if ((r = dcr_random(secrets, sizeof(secrets), err)) < 0 ||
		    (r = dcr_seal(e->sealing_key, KEYS_LABEL, secrets, sizeof(secrets), &blob, &blob_len, err)) < 0 ||
		    (r = dcr_write_atomic(path, blob, blob_len, err)) < 0)
			goto out;
	} else if (r < 0) {
		goto out;
	} else {
		if ((r = dcr_unseal(e->sealing_key, KEYS_LABEL, blob, blob_len, &pt, &pt_len, err)) < 0) {
			dcr_err_prefix(err, "'%s'%s", path, e->opt.sgx ? " (under SGX the sealing key changes with the "
				"enclave build, the machine, and CPU microcode or TCB updates)" : "");
			goto out;
		}
		if (pt_len != sizeof(secrets)) {
			r = dcr_err_set(err, DCR_EINTEGRITY, "'%s' holds %zu bytes of keys, not %zu", path, pt_len,
				sizeof(secrets));
			goto out;
		}
		memcpy(secrets, pt, sizeof(secrets));
	}
	memcpy(e->hpke_sk, secrets, 32);
	memcpy(e->sign_sk, secrets + 32, 32);
	memcpy(e->sim_sk, secrets + 64, 32);
	/* X25519 clamps any 32 bytes into a valid private key; Ed25519 takes any seed. */
	if ((r = dcr_hpke_public(e->hpke_sk, e->pub.hpke_pk, err)) < 0 ||
	    (r = dcr_ed25519_public(e->sign_sk, e->pub.sign_pk, err)) < 0)
		goto out;
out:
	dcr_wipe(secrets, sizeof(secrets));
	if (pt)
		dcr_wipe(pt, pt_len);
	free(pt);
	free(blob);
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
	e->report = q.report;
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

int enclave_open(struct enclave *e, const char *dir, const struct enclave_options *opt, struct dcr_err *err)
{
	static uint8_t config[DCR_OHTTP_KEYCONFIG_MAX];
	size_t config_len;
	int r;

	memset(e, 0, sizeof(*e));
	/* Cannot fail on Linux without attributes; enclave_close destroys it whatever happens next. */
	pthread_mutex_init(&e->lock, NULL);
	e->opt = *opt;
	if ((size_t)snprintf(e->data_dir, sizeof(e->data_dir), "%s", dir) >= sizeof(e->data_dir))
		return dcr_err_set(err, DCR_EINVALID, "data directory path too long");
	if ((!opt->sgx && (r = dcr_sha256_file("/proc/self/exe", e->measurement, err)) < 0) ||
	    (r = load_sealing_key(e, dir, err)) < 0 ||
	    (r = load_keys(e, dir, err)) < 0)
		return r;
	e->ohttp.key_id = 1;
	e->ohttp.kem_id = DCR_HPKE_KEM_X25519_SHA256;
	memcpy(e->ohttp.pk, e->pub.hpke_pk, 32);
	e->ohttp.n_algs = 1;
	e->ohttp.algs[0] = (struct dcr_ohttp_alg){ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	if ((r = dcr_ohttp_keyconfig_encode(&e->ohttp, config, sizeof(config), &config_len, err)) < 0)
		return r;
	e->pub.ohttp_key_config = config;
	e->pub.ohttp_key_config_len = config_len;
	if (opt->sgx) {
		if ((r = sgx_quote(e, err)) < 0)
			return r;
		return sgx_collateral(e, err);
	}
	return dcr_attest_sim_evidence(e->measurement, e->sim_sk, &e->pub, &e->evidence, &e->evidence_len, err);
}

int enclave_evidence(struct enclave *e, uint8_t **out, size_t *len, struct dcr_err *err)
{
	time_t now = time(NULL);
	struct dcr_err fetch_err;
	uint8_t *json = NULL;
	size_t json_len = 0;
	bool fetch;
	int r = 0;

	/* One thread renews, without the lock: a slow PCCS must not hold up the others. */
	pthread_mutex_lock(&e->lock);
	fetch = e->opt.sgx && !e->fetching && collateral_due(e, now) && now - e->last_fetch_attempt >= COLLATERAL_RETRY;
	if (fetch) {
		e->fetching = true;
		e->last_fetch_attempt = now;
	}
	pthread_mutex_unlock(&e->lock);
	if (fetch) {
		r = sgx_fetch(e, &json, &json_len, &fetch_err);
		pthread_mutex_lock(&e->lock);
		if (r == 0)
			r = sgx_renew(e, json, json_len, time(NULL), &fetch_err);
		e->fetching = false;
		pthread_mutex_unlock(&e->lock);
		if (r < 0)
			fprintf(stderr, "dcrd: cannot renew the SGX collateral, serving the old one: %s\n", fetch_err.msg);
		free(json);
		r = 0;
	}
	pthread_mutex_lock(&e->lock);
	if (!(*out = malloc(e->evidence_len)))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else
		memcpy(*out, e->evidence, *len = e->evidence_len);
	pthread_mutex_unlock(&e->lock);
	return r;
}

int enclave_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err)
{
	char hex[65];

	if (spec->format != (e->opt.sgx ? DCR_SPEC_SGX_DCAP : DCR_SPEC_SIM))
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' is for %s attestation, this dcrd uses %s",
			spec->name, spec->format == DCR_SPEC_SIM ? "simulated" : "SGX DCAP", e->opt.sgx ? "SGX DCAP" : "simulated");
	if (spec->has_measurement && !dcr_ct_equal(spec->measurement, e->measurement, 32)) {
		dcr_hex(e->measurement, 32, hex);
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' pins other code (this dcrd is %s)", spec->name,
			hex);
	}
	if (spec->has_signer && (!dcr_ct_equal(spec->mrsigner, e->report.mrsigner, 32) ||
				 spec->isv_prod_id != e->report.isv_prod_id || e->report.isv_svn < spec->min_isv_svn))
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' pins another signer, product or a higher SVN "
							"than this dcrd's", spec->name);
	if (e->opt.sgx && (e->report.attributes[0] & DCR_SGX_FLAG_DEBUG) && !spec->debug_allowed)
		return dcr_err_set(err, DCR_EINTEGRITY, "this dcrd is a debug enclave, which enclave spec '%s' refuses",
			spec->name);
	return 0;
}

void enclave_wipe_keys(struct enclave *e)
{
	dcr_wipe(e->sealing_key, sizeof(e->sealing_key));
	dcr_wipe(e->hpke_sk, sizeof(e->hpke_sk));
	dcr_wipe(e->sign_sk, sizeof(e->sign_sk));
	dcr_wipe(e->sim_sk, sizeof(e->sim_sk));
}

void enclave_close(struct enclave *e)
{
	if (!e)
		return;
	free(e->evidence);
	free(e->quote);
	pthread_mutex_destroy(&e->lock);
	dcr_wipe(e, sizeof(*e));
}
