/* Who a caller is beyond its e-mail address: the root certificate that vouched for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dcrd.h"

#include "banned.h"

void caller_id_set(struct caller_id *c, const char *email, const char *ca)
{
	snprintf(c->email, sizeof(c->email), "%s", email);
	snprintf(c->ca, sizeof(c->ca), "%s", ca ? ca : "");
}

bool caller_id_equal(const struct caller_id *a, const struct caller_id *b)
{
	return strcmp(a->email, b->email) == 0 && strcmp(a->ca, b->ca) == 0;
}

int verified_ca_set(struct verified_ca *ca, const uint8_t *der, size_t len, struct dcr_err *err)
{
	uint8_t fp[DCR_SHA256_LEN];
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	if (!copy)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if ((r = dcr_sha256(der, len, fp, err)) < 0) {
		free(copy);
		return r;
	}
	memcpy(copy, der, len);
	verified_ca_release(ca);
	ca->der = copy;
	ca->len = len;
	dcr_hex(fp, sizeof(fp), ca->fingerprint);
	return 0;
}

void verified_ca_release(struct verified_ca *ca)
{
	if (!ca)
		return;
	free(ca->der);
	memset(ca, 0, sizeof(*ca));
}
