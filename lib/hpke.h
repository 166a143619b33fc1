/* RFC 9180 HPKE, base mode, DHKEM(X25519, HKDF-SHA256) with HKDF-SHA256 and AES-GCM. */
#ifndef DCR_HPKE_H
#define DCR_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Algorithm identifiers from the IANA HPKE registries. */
#define DCR_HPKE_KEM_X25519_SHA256 0x0020
#define DCR_HPKE_KDF_HKDF_SHA256 0x0001
#define DCR_HPKE_AEAD_AES128GCM 0x0001 /* only for the published test vectors */
#define DCR_HPKE_AEAD_AES256GCM 0x0002 /* what dcr uses */

#define DCR_HPKE_NSK 32    /* private key */
#define DCR_HPKE_NPK 32    /* public key */
#define DCR_HPKE_NENC 32   /* encapsulated key */
#define DCR_HPKE_NH 32     /* KDF output, exporter secret */
#define DCR_HPKE_NN 12     /* AEAD nonce */
#define DCR_HPKE_NT 16     /* AEAD tag: a ciphertext is this much longer than its plaintext */
#define DCR_HPKE_NK_MAX 32 /* largest AEAD key */

/* Bounds on what callers may pass; longer input is refused with DCR_EINVALID. */
#define DCR_HPKE_INFO_MAX 1024
#define DCR_HPKE_EXPORT_CONTEXT_MAX 1024
#define DCR_HPKE_EXPORT_MAX (255 * DCR_HPKE_NH)
#define DCR_HPKE_IKM_MAX 1024
#define DCR_HPKE_MSG_MAX (1u << 30)

/* Nk for a supported AEAD (16 or 32); 0 for any other identifier. */
size_t dcr_hpke_aead_nk(uint16_t aead_id);

/* A fresh random X25519 key pair. */
int dcr_hpke_keygen(uint8_t sk[static DCR_HPKE_NSK], uint8_t pk[static DCR_HPKE_NPK],
	struct dcr_err *err);

/* DeriveKeyPair (RFC 9180 section 7.1.3); ikm must hold DCR_HPKE_NSK to DCR_HPKE_IKM_MAX bytes. */
int dcr_hpke_derive_keypair(const uint8_t *ikm, size_t ikm_len, uint8_t sk[static DCR_HPKE_NSK],
	uint8_t pk[static DCR_HPKE_NPK], struct dcr_err *err);

/* The public key that belongs to sk. */
int dcr_hpke_public(const uint8_t sk[static DCR_HPKE_NSK], uint8_t pk[static DCR_HPKE_NPK],
	struct dcr_err *err);

enum dcr_hpke_role {
	DCR_HPKE_NONE = 0, /* released, or setup failed */
	DCR_HPKE_SENDER,   /* may Seal and Export */
	DCR_HPKE_RECEIVER, /* may Open and Export */
};

/*
 * An HPKE encryption context. Caller-owned: a setup function fills it, and
 * dcr_hpke_ctx_release wipes it (it holds keys) once the caller is done,
 * whether setup succeeded or not. The fields are visible only so the struct
 * can live on the stack; treat them as private (tests read them).
 */
struct dcr_hpke_ctx {
	enum dcr_hpke_role role;
	uint16_t aead_id;
	size_t nk;
	uint8_t key[DCR_HPKE_NK_MAX];
	uint8_t base_nonce[DCR_HPKE_NN];
	uint8_t exporter_secret[DCR_HPKE_NH];
	uint64_t seq;
};

/*
 * SetupBaseS: a sender context for the recipient's public key pk_r, and the
 * encapsulated key enc that the recipient needs. aead_id is
 * DCR_HPKE_AEAD_AES256GCM or DCR_HPKE_AEAD_AES128GCM; info (up to
 * DCR_HPKE_INFO_MAX bytes) may be NULL when info_len is 0.
 */
int dcr_hpke_setup_base_s(struct dcr_hpke_ctx *ctx, uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t pk_r[static DCR_HPKE_NPK], uint16_t aead_id,
	const uint8_t *info, size_t info_len, struct dcr_err *err);

/*
 * SetupBaseS with a given ephemeral private key instead of a fresh one.
 * Reusing an ephemeral key breaks confidentiality: only for test vectors.
 */
int dcr_hpke_setup_base_s_fixed(struct dcr_hpke_ctx *ctx, uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t pk_r[static DCR_HPKE_NPK], const uint8_t sk_e[static DCR_HPKE_NSK],
	uint16_t aead_id, const uint8_t *info, size_t info_len, struct dcr_err *err);

/*
 * SetupBaseR: the recipient's context for enc, using its private key sk_r.
 * The last sk_r is kept imported (a service opens every message with the
 * same key, and an import costs a scalar multiplication); another sk_r
 * replaces it.
 */
int dcr_hpke_setup_base_r(struct dcr_hpke_ctx *ctx, const uint8_t enc[static DCR_HPKE_NENC],
	const uint8_t sk_r[static DCR_HPKE_NSK], uint16_t aead_id,
	const uint8_t *info, size_t info_len, struct dcr_err *err);

/* Drop the receiver key dcr_hpke_setup_base_r keeps, wiping its copy: when the caller wipes its own. */
void dcr_hpke_forget(void);

/*
 * Seal the next message of a sender context: ct receives pt_len +
 * DCR_HPKE_NT bytes and may be pt itself (in place). pt_len is at most
 * DCR_HPKE_MSG_MAX; aad and pt may be NULL when their length is 0. Refuses
 * once the sequence number would wrap.
 */
int dcr_hpke_seal(struct dcr_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
	const uint8_t *pt, size_t pt_len, uint8_t *ct, struct dcr_err *err);

/*
 * Open the next message of a receiver context: pt receives ct_len -
 * DCR_HPKE_NT bytes and may be ct itself. DCR_EINTEGRITY when the message
 * is not authentic; then pt is wiped and the sequence number stays where it
 * was, so the next genuine message still opens.
 */
int dcr_hpke_open(struct dcr_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len,
	const uint8_t *ct, size_t ct_len, uint8_t *pt, struct dcr_err *err);

/* The secret exporter: out_len (at most DCR_HPKE_EXPORT_MAX) bytes bound to exporter_context. */
int dcr_hpke_export(const struct dcr_hpke_ctx *ctx, const uint8_t *exporter_context,
	size_t context_len, uint8_t *out, size_t out_len, struct dcr_err *err);

/* Wipe ctx; accepts NULL. */
void dcr_hpke_ctx_release(struct dcr_hpke_ctx *ctx);

/*
 * The bare AEAD of aead_id under a key of dcr_hpke_aead_nk(aead_id) bytes,
 * for protocols (RFC 9458 responses) that derive their own key and nonce.
 * Length and aliasing rules as for dcr_hpke_seal and dcr_hpke_open.
 */
int dcr_hpke_aead_seal(uint16_t aead_id, const uint8_t *key, const uint8_t nonce[static DCR_HPKE_NN],
	const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
	struct dcr_err *err);
int dcr_hpke_aead_open(uint16_t aead_id, const uint8_t *key, const uint8_t nonce[static DCR_HPKE_NN],
	const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
	struct dcr_err *err);

#endif
