/*
 * What dcrd's DCAP kinds (sgx-dcap, tdx) share: the collateral for their
 * quote, fetched from a PCCS, cached in the data directory, installed into
 * the evidence and renewed before it goes stale (kind-dcap.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dcrd.h"
#include "fileio.h"
#include "kind-dcap.h"

#include "banned.h"

#define COLLATERAL_TIMEOUT 30         /* seconds per PCCS request */
#define COLLATERAL_MARGIN 3600        /* renew an hour before the earliest nextUpdate */
#define COLLATERAL_MAX_AGE 86400      /* and at least daily, to learn of TCB changes */
#define COLLATERAL_RETRY 300          /* at most one failed attempt per five minutes */

/* Parse collateral JSON and learn when it must be renewed. */
static int collateral_next_update(const struct dcap_collateral *k, const uint8_t *json, size_t len, time_t *next,
	struct dcr_err *err)
{
	struct dcr_sgx_collateral *c = NULL;
	int r = k->parse(json, len, &c, err);

	if (r == 0 && dcr_sgx_collateral_next_update(c, next) < 0)
		r = dcr_err_set(err, DCR_EATTEST, "collateral without a nextUpdate");
	dcr_sgx_collateral_free(c);
	return r;
}

/* Install collateral valid until next into new evidence; with the lock held (or before serving). */
static int install(const struct dcap_collateral *k, struct enclave *e, const uint8_t *json, size_t len, time_t fetched,
	time_t next, struct dcr_err *err)
{
	uint8_t *ev;
	size_t ev_len;
	int r;

	if ((r = k->evidence(e->quote, e->quote_len, json, len, &e->pub, &ev, &ev_len, err)) < 0)
		return r;
	free(e->evidence);
	e->evidence = ev;
	e->evidence_len = ev_len;
	e->collateral_fetched = fetched;
	e->collateral_next_update = next;
	return 0;
}

/* Fetch collateral for our quote. Reads only what is fixed after start, so it runs without the lock. */
static int fetch(const struct dcap_collateral *k, const struct enclave *e, uint8_t **json, size_t *len,
	struct dcr_err *err)
{
	return k->fetch(e->opt.pccs_url, e->opt.root_crl_url, e->opt.pccs_ca, e->quote, e->quote_len, COLLATERAL_TIMEOUT,
		json, len, err);
}

/*
 * Serve fetched collateral and cache it, unless it is expired or older
 * than what is served (a lagging PCCS must not replace good collateral).
 * With the lock held, or before serving.
 */
static int renew(const struct dcap_collateral *k, struct enclave *e, const uint8_t *json, size_t len, time_t now,
	struct dcr_err *err)
{
	struct dcr_err cache_err;
	char path[4096];
	time_t next;
	int r;

	if ((r = collateral_next_update(k, json, len, &next, err)) < 0)
		return r;
	if (next <= now)
		return dcr_err_set(err, DCR_EATTEST, "the collateral service answered with expired collateral");
	if (e->evidence && next < e->collateral_next_update)
		return dcr_err_set(err, DCR_EATTEST, "the collateral service answered with older collateral than dcrd "
						  "serves");
	if ((r = install(k, e, json, len, now, next, err)) < 0)
		return r;
	/* The cache only saves a fetch: collateral is signed by Intel and checked by every client. */
	if (data_path(path, sizeof(path), e->data_dir, k->cache_file, &cache_err) < 0 ||
	    dcr_write_atomic(path, json, len, &cache_err) < 0)
		fprintf(stderr, "dcrd: cannot cache the %s collateral: %s\n", k->title, cache_err.msg);
	return 0;
}

static bool collateral_due(const struct enclave *e, time_t now)
{
	return now >= e->collateral_next_update - COLLATERAL_MARGIN || now - e->collateral_fetched >= COLLATERAL_MAX_AGE;
}

int dcap_collateral_open(const struct dcap_collateral *k, struct enclave *e, struct dcr_err *err)
{
	uint8_t *json = NULL;
	size_t len = 0;
	char path[4096];
	struct stat st;
	struct dcr_err cache_err;
	time_t now = time(NULL), next;
	int r;

	if ((r = data_path(path, sizeof(path), e->data_dir, k->cache_file, err)) < 0)
		return r;
	if (stat(path, &st) == 0 && dcr_read_file(path, DCR_SGX_COLLATERAL_MAX, &json, &len, &cache_err) == 0 &&
	    collateral_next_update(k, json, len, &next, &cache_err) == 0 && next > now)
		install(k, e, json, len, st.st_mtime, next, &cache_err);
	free(json);
	json = NULL;
	if (e->evidence && !collateral_due(e, now))
		return 0;
	e->last_fetch_attempt = now;
	if ((r = fetch(k, e, &json, &len, err)) == 0)
		r = renew(k, e, json, len, now, err);
	free(json);
	if (r < 0 && e->evidence) {
		fprintf(stderr, "dcrd: cannot renew the %s collateral, serving the cached one: %s\n", k->title, err->msg);
		return 0;
	}
	if (r < 0)
		dcr_err_prefix(err, "cannot obtain %s collateral (--pccs-url %s)", k->title, e->opt.pccs_url);
	return r;
}

void dcap_collateral_refresh(const struct dcap_collateral *k, struct enclave *e)
{
	time_t now = time(NULL);
	struct dcr_err fetch_err;
	uint8_t *json = NULL;
	size_t json_len = 0;
	int r;

	if (!kind_renew_begin(e, collateral_due, now, COLLATERAL_RETRY))
		return;
	r = fetch(k, e, &json, &json_len, &fetch_err);
	pthread_mutex_lock(&e->lock);
	if (r == 0)
		r = renew(k, e, json, json_len, time(NULL), &fetch_err);
	e->fetching = false;
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		fprintf(stderr, "dcrd: cannot renew the %s collateral, serving the old one: %s\n", k->title, fetch_err.msg);
	free(json);
}
