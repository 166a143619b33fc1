/* libFuzzer target: call decoding in the enclave, from raw bytes and from well-encapsulated garbage. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "hpke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sk[32];
	static struct dcr_ohttp_keyconfig cfg;
	static struct dcr_replay *replay;
	struct dcr_ohttp_ctx cctx = { 0 }, sctx = { 0 };
	struct dcr_call_request req;
	struct dcr_err err;
	uint8_t *wire;
	size_t len = 0;

	if (!replay) {
		static const uint8_t ikm[32] = { 7 };

		if (dcr_hpke_derive_keypair(ikm, sizeof(ikm), sk, cfg.pk, &err) < 0 || !(replay = dcr_replay_new()))
			__builtin_trap();
		cfg.key_id = 1;
		cfg.kem_id = DCR_HPKE_KEM_X25519_SHA256;
		cfg.n_algs = 1;
		cfg.algs[0] = (struct dcr_ohttp_alg){ DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM };
	}
	/* As it comes off the wire. */
	if (dcr_call_accept(sk, &cfg, data, size, 1764000000000, replay, &sctx, &req, &err) == 0)
		dcr_call_request_release(&req);
	dcr_ohttp_ctx_release(&sctx);

	/* Properly encapsulated, so the bytes reach the protobuf and signature checks. */
	wire = malloc(size + DCR_OHTTP_REQUEST_OVERHEAD);
	if (wire && dcr_ohttp_request_encapsulate(&cctx, &cfg, cfg.algs[0], DCR_OHTTP_DCR_REQUEST, data, size, wire,
			    size + DCR_OHTTP_REQUEST_OVERHEAD, &len, &err) == 0) {
		memset(&sctx, 0, sizeof(sctx));
		if (dcr_call_accept(sk, &cfg, wire, len, 1764000000000, replay, &sctx, &req, &err) == 0)
			dcr_call_request_release(&req);
		dcr_ohttp_ctx_release(&sctx);
	}
	dcr_ohttp_ctx_release(&cctx);
	free(wire);
	return 0;
}
