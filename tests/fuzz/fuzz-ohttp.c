/* libFuzzer target for OHTTP key configurations, requests and responses: no input may crash them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hpke.h"
#include "ohttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any fixed key will do; a fuzzer that finds a valid request has broken X25519 or AES-GCM. */
static const uint8_t server_sk[DCR_HPKE_NSK] = { 0x3c, 0x16, 0x89, 0x75 };
static const uint8_t client_sk_e[DCR_HPKE_NSK] = { 0xbc, 0x51, 0xd5, 0xe9 };

static struct dcr_ohttp_keyconfig cfg = {
	.key_id = 1,
	.kem_id = DCR_HPKE_KEM_X25519_SHA256,
	.n_algs = 2,
	.algs = {
		{ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM },
		{ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES128GCM },
	},
};
static struct dcr_ohttp_ctx client;

/* The gateway's public key, and a client that has sent one request and awaits its response. */
static void setup(void)
{
	static int done;
	uint8_t req[1 + DCR_OHTTP_REQUEST_OVERHEAD];
	size_t len;

	if (done)
		return;
	if (dcr_hpke_public(server_sk, cfg.pk, NULL) < 0 ||
	    dcr_ohttp_request_encapsulate_fixed(&client, &cfg, cfg.algs[0], DCR_OHTTP_DCR_REQUEST,
		client_sk_e, (const uint8_t *)"x", 1, req, sizeof(req), &len, NULL) < 0)
		abort();
	done = 1;
}

static void keyconfig(const uint8_t *data, size_t size)
{
	struct dcr_ohttp_keyconfig parsed;
	struct dcr_ohttp_alg alg;
	uint8_t out[DCR_OHTTP_KEYCONFIG_MAX];
	size_t len;

	if (dcr_ohttp_keyconfig_parse(data, size, &parsed, NULL) < 0)
		return;
	/* What parses must encode back to the very same bytes. */
	if (dcr_ohttp_keyconfig_encode(&parsed, out, sizeof(out), &len, NULL) < 0 ||
	    len != size || memcmp(out, data, size) != 0)
		abort();
	dcr_ohttp_keyconfig_select(&parsed, &alg, NULL);
}

static void request(const uint8_t *data, size_t size)
{
	struct dcr_ohttp_ctx gateway;
	uint8_t *out = malloc(size + 1), *res = malloc(size + DCR_OHTTP_RESPONSE_OVERHEAD_MAX);
	size_t len, res_len;

	if (!out || !res)
		abort();
	if (dcr_ohttp_request_decapsulate(&gateway, &cfg, server_sk, DCR_OHTTP_DCR_REQUEST,
		data, size, out, size, &len, NULL) == 0) {
		if (len + DCR_OHTTP_REQUEST_OVERHEAD != size ||
		    dcr_ohttp_response_encapsulate(&gateway, DCR_OHTTP_DCR_RESPONSE, out, len, res,
			size + DCR_OHTTP_RESPONSE_OVERHEAD_MAX, &res_len, NULL) < 0)
			abort();
	}
	dcr_ohttp_ctx_release(&gateway);
	free(res);
	free(out);
}

static void response(const uint8_t *data, size_t size)
{
	uint8_t *out = malloc(size + 1);
	size_t len;

	if (!out)
		abort();
	if (dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_DCR_RESPONSE, data, size, out, size,
		&len, NULL) == 0 && len + DCR_OHTTP_RESPONSE_OVERHEAD_MAX != size)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	keyconfig(data, size);
	request(data, size);
	response(data, size);
	return 0;
}
