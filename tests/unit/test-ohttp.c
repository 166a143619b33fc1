/* Unit tests for lib/ohttp.c: the RFC 9458 example, dcr's labels, and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "crypto.h"
#include "hpke.h"
#include "ohttp.h"

/* RFC 9458 Appendix A: X25519, HKDF-SHA256, AES-128-GCM, Binary HTTP labels. */
static const char rfc_sk_r[] = "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a";
static const char rfc_pk_r[] = "31e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e798155";
static const char rfc_key_config[] =
	"01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e"
	"79815500080001000100010003";
static const char rfc_request[] = "00034745540568747470730b6578616d706c652e636f6d012f";
static const char rfc_sk_e[] = "bc51d5e930bda26589890ac7032f70ad12e4ecb37abb1b65b1256c9c48999c73";
static const char rfc_pk_e[] = "4b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472";
static const char rfc_enc_request[] =
	"010020000100014b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad1"
	"9dec96c208b4726374e469135906992e1268c594d2a10c695d858c40a026e796"
	"5e7d86b83dd440b2c0185204b4d63525";
static const char rfc_response[] = "0140c8";
static const char rfc_secret[] = "62d87a6ba569ee81014c2641f52bea36";
static const char rfc_response_nonce[] = "c789e7151fcba46158ca84b04464910d";
static const char rfc_prk[] = "979aaeae066cf211ab407b31ae49767f344e1501e475c84e8aff547cc5a683db";
static const char rfc_aead_key[] = "5d0172a080e428b16d298c4ea0db620d";
static const char rfc_aead_nonce[] = "f6bf1aeb88d6df87007fa263";
static const char rfc_enc_response[] =
	"c789e7151fcba46158ca84b04464910d86f9013e404feea014e7be4a441f234f857fbd";



/* The gateway of the RFC example: its key configuration and private key. */
static void rfc_gateway(struct dcr_ohttp_keyconfig *cfg, uint8_t sk_r[static 32])
{
	uint8_t buf[128];
	size_t len = unhex_any(rfc_key_config, buf, sizeof(buf));

	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, len, cfg, NULL), 0);
	unhex_any(rfc_sk_r, sk_r, 32);
}

/* The client of the RFC example, having sent its request. */
static void rfc_client(struct dcr_ohttp_ctx *client, const struct dcr_ohttp_keyconfig *cfg)
{
	const struct dcr_ohttp_alg alg = { DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES128GCM };
	uint8_t sk_e[32], msg[64], out[128];
	size_t msg_len = unhex_any(rfc_request, msg, sizeof(msg)), out_len;

	unhex_any(rfc_sk_e, sk_e, sizeof(sk_e));
	assert_int_equal(dcr_ohttp_request_encapsulate_fixed(client, cfg, alg,
		DCR_OHTTP_BHTTP_REQUEST, sk_e, msg, msg_len, out, sizeof(out), &out_len, NULL), 0);
}

static void test_rfc9458_example(void **state)
{
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_ohttp_ctx client, gateway;
	struct dcr_ohttp_alg alg;
	struct dcr_err err = { 0 };
	uint8_t sk_r[32], sk_e[32], pk[32], buf[256], msg[64], out[256], secret[16], salt[64];
	uint8_t prk[32], key[16], nonce[16];
	size_t len, msg_len, out_len;

	/* The key configuration parses to what the text says and encodes back to the same bytes. */
	rfc_gateway(&cfg, sk_r);
	assert_int_equal(cfg.key_id, 1);
	assert_int_equal(cfg.kem_id, DCR_HPKE_KEM_X25519_SHA256);
	assert_hex(cfg.pk, 32, rfc_pk_r);
	assert_int_equal(dcr_hpke_public(sk_r, pk, &err), 0);
	assert_memory_equal(pk, cfg.pk, 32);
	assert_int_equal(cfg.n_algs, 2);
	assert_int_equal(cfg.algs[0].kdf_id, 1);
	assert_int_equal(cfg.algs[0].aead_id, 1);
	assert_int_equal(cfg.algs[1].kdf_id, 1);
	assert_int_equal(cfg.algs[1].aead_id, 3);
	assert_int_equal(dcr_ohttp_keyconfig_size(&cfg), strlen(rfc_key_config) / 2);
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, buf, sizeof(buf), &len, &err), 0);
	assert_hex(buf, len, rfc_key_config);
	assert_int_equal(dcr_ohttp_keyconfig_select(&cfg, &alg, &err), 0);
	assert_int_equal(alg.kdf_id, 1);
	assert_int_equal(alg.aead_id, 1);

	/* The client's encapsulated request. */
	msg_len = unhex_any(rfc_request, msg, sizeof(msg));
	unhex_any(rfc_sk_e, sk_e, sizeof(sk_e));
	assert_int_equal(dcr_ohttp_request_encapsulate_fixed(&client, &cfg, alg,
		DCR_OHTTP_BHTTP_REQUEST, sk_e, msg, msg_len, buf, sizeof(buf), &len, &err), 0);
	assert_int_equal(len, msg_len + DCR_OHTTP_REQUEST_OVERHEAD);
	assert_hex(buf, len, rfc_enc_request);
	assert_hex(client.enc, 32, rfc_pk_e);

	/* The gateway recovers the request. */
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		buf, len, out, sizeof(out), &out_len, &err), 0);
	assert_hex(out, out_len, rfc_request);

	/* The intermediate values of the response derivation. */
	assert_int_equal(dcr_hpke_export(&gateway.hpke, (const uint8_t *)DCR_OHTTP_BHTTP_RESPONSE,
		strlen(DCR_OHTTP_BHTTP_RESPONSE), secret, sizeof(secret), &err), 0);
	assert_hex(secret, sizeof(secret), rfc_secret);
	memcpy(salt, gateway.enc, 32);
	assert_int_equal(dcr_ohttp_response_nonce_len(gateway.aead_id), 16);
	unhex_any(rfc_response_nonce, nonce, sizeof(nonce));
	memcpy(salt + 32, nonce, 16);
	assert_int_equal(dcr_hkdf_extract(salt, 48, secret, sizeof(secret), prk, &err), 0);
	assert_hex(prk, 32, rfc_prk);
	assert_int_equal(dcr_hkdf_expand(prk, (const uint8_t *)"key", 3, key, 16, &err), 0);
	assert_hex(key, 16, rfc_aead_key);
	assert_int_equal(dcr_hkdf_expand(prk, (const uint8_t *)"nonce", 5, key, 12, &err), 0);
	assert_hex(key, 12, rfc_aead_nonce);

	/* The gateway's encapsulated response, and the client's reading of it. */
	msg_len = unhex_any(rfc_response, msg, sizeof(msg));
	assert_int_equal(dcr_ohttp_response_encapsulate_fixed(&gateway, DCR_OHTTP_BHTTP_RESPONSE,
		nonce, sizeof(nonce), msg, msg_len, buf, sizeof(buf), &len, &err), 0);
	assert_hex(buf, len, rfc_enc_response);
	assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_BHTTP_RESPONSE, buf, len,
		out, sizeof(out), &out_len, &err), 0);
	assert_hex(out, out_len, rfc_response);

	/* One response per request: a second would reuse the AEAD nonce. */
	assert_int_equal(dcr_ohttp_response_encapsulate_fixed(&gateway, DCR_OHTTP_BHTTP_RESPONSE,
		nonce, sizeof(nonce), msg, msg_len, buf, sizeof(buf), &len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_response_encapsulate(&gateway, DCR_OHTTP_BHTTP_RESPONSE,
		msg, msg_len, buf, sizeof(buf), &len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "already"));

	dcr_ohttp_ctx_release(&client);
	dcr_ohttp_ctx_release(&gateway);
	assert_int_equal(gateway.hpke.role, DCR_HPKE_NONE);
	dcr_ohttp_ctx_release(NULL);
}

/* dcr's own use: AES-256-GCM and the dcr-call labels, with fresh keys and nonces. */
static void test_round_trip_dcr(void **state)
{
	const struct dcr_ohttp_alg alg = { DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	struct dcr_ohttp_keyconfig cfg = { .key_id = 7, .kem_id = DCR_HPKE_KEM_X25519_SHA256,
		.n_algs = 1, .algs = { alg } }, parsed, client_cfg;
	struct dcr_ohttp_ctx client, gateway;
	struct dcr_ohttp_alg chosen;
	struct dcr_err err = { 0 };
	uint8_t sk[32], cfg_buf[DCR_OHTTP_KEYCONFIG_MAX], msg[3000];
	uint8_t req[sizeof(msg) + DCR_OHTTP_REQUEST_OVERHEAD];
	uint8_t res[sizeof(msg) + DCR_OHTTP_RESPONSE_OVERHEAD_MAX], out[sizeof(msg) + 64];
	static const size_t lens[] = { 0, 1, 15, 16, 17, 1000, sizeof(msg) };
	size_t cfg_len, req_len, res_len, out_len;

	assert_int_equal(dcr_hpke_keygen(sk, cfg.pk, &err), 0);
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, cfg_buf, sizeof(cfg_buf), &cfg_len, &err), 0);
	assert_int_equal(cfg_len, 41);
	assert_int_equal(dcr_ohttp_keyconfig_parse(cfg_buf, cfg_len, &client_cfg, &err), 0);
	assert_int_equal(dcr_ohttp_keyconfig_select(&client_cfg, &chosen, &err), 0);
	assert_int_equal(chosen.aead_id, DCR_HPKE_AEAD_AES256GCM);
	assert_int_equal(dcr_random(msg, sizeof(msg), &err), 0);

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];

		assert_int_equal(dcr_ohttp_request_encapsulate(&client, &client_cfg, chosen,
			DCR_OHTTP_DCR_REQUEST, msg, n, req, sizeof(req), &req_len, &err), 0);
		assert_int_equal(req_len, n + DCR_OHTTP_REQUEST_OVERHEAD);
		assert_memory_equal(req, "\x07\x00\x20\x00\x01\x00\x02", DCR_OHTTP_HDR_LEN);

		/* A gateway expecting Binary HTTP must not accept a dcr call, nor the reverse. */
		assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk,
			DCR_OHTTP_BHTTP_REQUEST, req, req_len, out, sizeof(out), &out_len, &err),
			DCR_EINTEGRITY);
		assert_non_null(strstr(err.msg, "cannot decapsulate request"));
		assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk,
			DCR_OHTTP_DCR_REQUEST, req, req_len, out, sizeof(out), &out_len, &err), 0);
		assert_int_equal(out_len, n);
		assert_memory_equal(out, msg, n);

		assert_int_equal(dcr_ohttp_response_encapsulate(&gateway, DCR_OHTTP_DCR_RESPONSE,
			msg, n, res, sizeof(res), &res_len, &err), 0);
		assert_int_equal(res_len, 32 + n + DCR_HPKE_NT);
		assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_BHTTP_RESPONSE,
			res, res_len, out, sizeof(out), &out_len, &err), DCR_EINTEGRITY);
		assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_DCR_RESPONSE,
			res, res_len, out, sizeof(out), &out_len, &err), 0);
		assert_int_equal(out_len, n);
		assert_memory_equal(out, msg, n);

		/* A gateway context cannot read responses, nor a client context write them. */
		assert_int_equal(dcr_ohttp_response_decapsulate(&gateway, DCR_OHTTP_DCR_RESPONSE,
			res, res_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
		assert_int_equal(dcr_ohttp_response_encapsulate(&client, DCR_OHTTP_DCR_RESPONSE,
			msg, n, res, sizeof(res), &res_len, &err), DCR_EINVALID);
		dcr_ohttp_ctx_release(&client);
		dcr_ohttp_ctx_release(&gateway);
	}

	/* The parsed configuration equals the original. */
	assert_int_equal(dcr_ohttp_keyconfig_parse(cfg_buf, cfg_len, &parsed, &err), 0);
	assert_int_equal(parsed.key_id, cfg.key_id);
	assert_memory_equal(parsed.pk, cfg.pk, 32);
	assert_int_equal(parsed.n_algs, 1);

	/* Too small an output buffer is refused, not overrun. */
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg, alg, DCR_OHTTP_DCR_REQUEST,
		msg, 10, req, 10 + DCR_OHTTP_REQUEST_OVERHEAD - 1, &req_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg, alg, DCR_OHTTP_DCR_REQUEST,
		msg, 10, req, sizeof(req), &req_len, &err), 0);
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk, DCR_OHTTP_DCR_REQUEST,
		req, req_len, out, 9, &out_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk, DCR_OHTTP_DCR_REQUEST,
		req, req_len, out, 10, &out_len, &err), 0);
	assert_int_equal(dcr_ohttp_response_encapsulate(&gateway, DCR_OHTTP_DCR_RESPONSE,
		msg, 10, res, 10 + 32 + 16 - 1, &res_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_response_encapsulate(&gateway, DCR_OHTTP_DCR_RESPONSE,
		msg, 10, res, 10 + 32 + 16, &res_len, &err), 0);
	assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_DCR_RESPONSE,
		res, res_len, out, 9, &out_len, &err), DCR_EINVALID);
	dcr_ohttp_ctx_release(&client);
	dcr_ohttp_ctx_release(&gateway);

	/* Labels must be present and bounded. */
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg, alg, "", msg, 1, req,
		sizeof(req), &req_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg, alg, NULL, msg, 1, req,
		sizeof(req), &req_len, &err), DCR_EINVALID);
	dcr_wipe(sk, sizeof(sk));
}

static void test_keyconfig_malformed(void **state)
{
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_ohttp_alg alg;
	struct dcr_err err = { 0 };
	uint8_t buf[DCR_OHTTP_KEYCONFIG_MAX + 8], good[64];
	size_t good_len = unhex_any(rfc_key_config, good, sizeof(good)), len;

	/* Truncated at every length, and one byte too long. */
	for (size_t n = 0; n < good_len; n++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(dcr_ohttp_keyconfig_parse(good, n, &cfg, &err), DCR_EINVALID);
		assert_int_equal(err.code, DCR_EINVALID);
		assert_true(strlen(err.msg) > 0);
	}
	memcpy(buf, good, good_len);
	buf[good_len] = 0;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, good_len + 1, &cfg, &err), DCR_EINVALID);

	/* An unknown KEM: its key length is unknown. */
	memcpy(buf, good, good_len);
	buf[2] = 0x10;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, good_len, &cfg, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "0x0010"));

	/* Algorithm list lengths that are zero, not a multiple of 4, or disagree with the buffer. */
	memcpy(buf, good, good_len);
	buf[35] = 0;
	buf[36] = 0;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, 37, &cfg, &err), DCR_EINVALID);
	buf[36] = 6;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, 43, &cfg, &err), DCR_EINVALID);
	buf[36] = 4;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, good_len, &cfg, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, 41, &cfg, &err), 0);
	assert_int_equal(cfg.n_algs, 1);
	buf[35] = 0xff;
	buf[36] = 0xfc;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, good_len, &cfg, &err), DCR_EINVALID);

	/* The most pairs accepted, and one more. */
	memcpy(buf, good, 35);
	for (size_t i = 0; i <= DCR_OHTTP_ALGS_MAX; i++)
		memcpy(buf + 37 + 4 * i, "\x00\x01\x00\x02", 4);
	buf[35] = 0;
	buf[36] = 4 * DCR_OHTTP_ALGS_MAX;
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, 37 + 4 * DCR_OHTTP_ALGS_MAX, &cfg, &err), 0);
	assert_int_equal(cfg.n_algs, DCR_OHTTP_ALGS_MAX);
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, buf, sizeof(buf), &len, &err), 0);
	assert_int_equal(len, DCR_OHTTP_KEYCONFIG_MAX);
	buf[36] = 4 * (DCR_OHTTP_ALGS_MAX + 1);
	assert_int_equal(dcr_ohttp_keyconfig_parse(buf, 37 + 4 * (DCR_OHTTP_ALGS_MAX + 1), &cfg,
		&err), DCR_EINVALID);

	/* Encoding refuses what parsing would refuse, and short buffers. */
	assert_int_equal(dcr_ohttp_keyconfig_parse(good, good_len, &cfg, &err), 0);
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, buf, good_len - 1, &len, &err), DCR_EINVALID);
	cfg.n_algs = 0;
	assert_int_equal(dcr_ohttp_keyconfig_size(&cfg), 0);
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, buf, sizeof(buf), &len, &err), DCR_EINVALID);
	cfg.n_algs = DCR_OHTTP_ALGS_MAX + 1;
	assert_int_equal(dcr_ohttp_keyconfig_encode(&cfg, buf, sizeof(buf), &len, &err), DCR_EINVALID);

	/* Nothing to select when only ChaCha20-Poly1305 is offered. */
	cfg.n_algs = 1;
	cfg.algs[0] = (struct dcr_ohttp_alg){ 1, 3 };
	assert_int_equal(dcr_ohttp_keyconfig_select(&cfg, &alg, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "no algorithms"));
}

static void test_request_malformed(void **state)
{
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_ohttp_ctx gateway, client;
	struct dcr_err err = { 0 };
	uint8_t sk_r[32], req[128], out[128], other_sk[32];
	size_t req_len = unhex_any(rfc_enc_request, req, sizeof(req)), out_len;
	int r;

	rfc_gateway(&cfg, sk_r);

	/* Truncated at every length: too short to parse, then too short to authenticate. */
	for (size_t n = 0; n < req_len; n++) {
		memset(&err, 0, sizeof(err));
		r = dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
			req, n, out, sizeof(out), &out_len, &err);
		assert_int_equal(r, n < DCR_OHTTP_REQUEST_OVERHEAD ? DCR_EINVALID : DCR_EINTEGRITY);
		assert_int_equal(err.code, r);
		assert_int_equal(gateway.hpke.role, DCR_HPKE_NONE);
	}

	/* Every flipped bit, whether in the header, the encapsulated key, or the ciphertext. */
	for (size_t bit = 0; bit < 8 * req_len; bit++) {
		req[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		r = dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
			req, req_len, out, sizeof(out), &out_len, NULL);
		assert_true(r == DCR_EINVALID || r == DCR_EINTEGRITY);
		if (bit >= 8 * DCR_OHTTP_HDR_LEN)
			assert_int_equal(r, DCR_EINTEGRITY);
		req[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}

	/* Another key id, KEM, or algorithms, named in the message. */
	req[0] = 2;
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		req, req_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "unknown key id 2"));
	req[0] = 1;
	req[2] = 0x21;
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		req, req_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "0x0021"));
	req[2] = 0x20;
	req[6] = 3; /* ChaCha20-Poly1305: offered by the configuration, not supported by dcr */
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		req, req_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
	req[6] = 2; /* AES-256-GCM: supported, not offered */
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		req, req_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "does not offer"));
	req[6] = 1;
	req[4] = 2;
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		req, req_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
	req[4] = 1;

	/* The wrong private key fails authentication. */
	memcpy(other_sk, sk_r, sizeof(other_sk));
	other_sk[5] ^= 1;
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, other_sk,
		DCR_OHTTP_BHTTP_REQUEST, req, req_len, out, sizeof(out), &out_len, &err), DCR_EINTEGRITY);

	/* The client refuses a configuration it cannot use. */
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg,
		(struct dcr_ohttp_alg){ 1, 3 }, DCR_OHTTP_BHTTP_REQUEST, out, 1, req, sizeof(req),
		&req_len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg,
		(struct dcr_ohttp_alg){ 1, 2 }, DCR_OHTTP_BHTTP_REQUEST, out, 1, req, sizeof(req),
		&req_len, &err), DCR_EINVALID);
	cfg.kem_id = 0x10;
	assert_int_equal(dcr_ohttp_request_encapsulate(&client, &cfg,
		(struct dcr_ohttp_alg){ 1, 1 }, DCR_OHTTP_BHTTP_REQUEST, out, 1, req, sizeof(req),
		&req_len, &err), DCR_EINVALID);
	assert_int_equal(client.hpke.role, DCR_HPKE_NONE);

	/* Untouched, the request still decapsulates. */
	cfg.kem_id = DCR_HPKE_KEM_X25519_SHA256;
	req_len = unhex_any(rfc_enc_request, req, sizeof(req));
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		req, req_len, out, sizeof(out), &out_len, &err), 0);
	assert_hex(out, out_len, rfc_request);
	dcr_ohttp_ctx_release(&gateway);
}

static void test_response_malformed(void **state)
{
	struct dcr_ohttp_keyconfig cfg;
	struct dcr_ohttp_ctx client, gateway;
	struct dcr_err err = { 0 };
	uint8_t sk_r[32], res[64], out[128], msg[32];
	size_t res_len = unhex_any(rfc_enc_response, res, sizeof(res)), out_len, len;
	int r;

	rfc_gateway(&cfg, sk_r);
	rfc_client(&client, &cfg);

	for (size_t n = 0; n < res_len; n++) {
		r = dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_BHTTP_RESPONSE, res, n,
			out, sizeof(out), &out_len, &err);
		assert_int_equal(r, n < 16 + DCR_HPKE_NT ? DCR_EINVALID : DCR_EINTEGRITY);
	}
	for (size_t bit = 0; bit < 8 * res_len; bit++) {
		res[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_BHTTP_RESPONSE,
			res, res_len, out, sizeof(out), &out_len, NULL), DCR_EINTEGRITY);
		assert_int_equal(out[0] | out[1] | out[2], 0);
		res[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	/* Failed attempts do not spoil the context: the genuine response still reads. */
	assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_BHTTP_RESPONSE, res,
		res_len, out, sizeof(out), &out_len, &err), 0);
	assert_hex(out, out_len, rfc_response);

	/* A context that never saw a request has nothing to respond to or read. */
	dcr_ohttp_ctx_release(&client);
	assert_int_equal(dcr_ohttp_response_decapsulate(&client, DCR_OHTTP_BHTTP_RESPONSE, res,
		res_len, out, sizeof(out), &out_len, &err), DCR_EINVALID);
	memset(&gateway, 0, sizeof(gateway));
	assert_int_equal(dcr_ohttp_response_encapsulate(&gateway, DCR_OHTTP_BHTTP_RESPONSE, msg, 1,
		out, sizeof(out), &len, &err), DCR_EINVALID);

	/* The response nonce must be max(Nn, Nk) bytes. */
	rfc_client(&client, &cfg);
	len = unhex_any(rfc_enc_request, out, sizeof(out));
	assert_int_equal(dcr_ohttp_request_decapsulate(&gateway, &cfg, sk_r, DCR_OHTTP_BHTTP_REQUEST,
		out, len, msg, sizeof(msg), &out_len, &err), 0);
	assert_int_equal(dcr_ohttp_response_encapsulate_fixed(&gateway, DCR_OHTTP_BHTTP_RESPONSE,
		res, 12, msg, 1, out, sizeof(out), &len, &err), DCR_EINVALID);
	assert_int_equal(dcr_ohttp_response_encapsulate_fixed(&gateway, DCR_OHTTP_BHTTP_RESPONSE,
		res, 32, msg, 1, out, sizeof(out), &len, &err), DCR_EINVALID);
	dcr_ohttp_ctx_release(&client);
	dcr_ohttp_ctx_release(&gateway);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc9458_example),
		cmocka_unit_test(test_round_trip_dcr),
		cmocka_unit_test(test_keyconfig_malformed),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_response_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
