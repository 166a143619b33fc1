/* libFuzzer target for audit exports: no crash, and nothing but the one genuine export verifies. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "audit.h"
#include "crypto.h"
#include "hpke.h"
#include "merkle.h"
#include "ohttp.h"
#include "specs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: a mode byte. Odd: the rest is an export, as a file would be.
 * Even: the rest is edits to a genuine export built at start (simulated
 * evidence, a signed head, five entries and their proofs), four bytes
 * each: offset (two bytes), operation (flip, insert, delete) and value.
 * An export is canonical, signed and proven all the way down, so only
 * the genuine bytes may verify: anything else that does is a finding.
 */
#define ENTRIES 5
#define ROOM "5dd95eaf75eeb191b6e841044aea0cca8ec2a8fe314d9f2dcddaac11035b7a6f"

static struct {
	uint8_t *buf;
	size_t len;
	struct dcr_specs *specs;
	uint8_t entry[ENTRIES][256];
	ProtobufCBinaryData items[ENTRIES];
} base;

static void die(const char *what, const struct dcr_err *err)
{
	fprintf(stderr, "fuzz-audit: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static int read_leaf(void *ctx, uint64_t index, uint8_t out[static DCR_MERKLE_HASH_LEN])
{
	return dcr_merkle_leaf_hash(base.items[index].data, base.items[index].len, out, NULL);
}

static void build_base(void)
{
	static const char *const actions[] = { "room.create", "room.status", "job.run", "room.stop", "audit.get" };
	uint8_t sim_sk[32], sign_sk[32], measurement[32], sig[64], config[DCR_OHTTP_KEYCONFIG_MAX], *ev = NULL;
	struct dcr_ohttp_keyconfig cfg = { 1, DCR_HPKE_KEM_X25519_SHA256, { 0 }, 1,
		{ { DCR_HPKE_KDF_HKDF_SHA256, DCR_HPKE_AEAD_AES256GCM } } };
	Dcr__V1__InclusionProof proofs[ENTRIES], *proof_ptrs[ENTRIES];
	ProtobufCBinaryData hashes[ENTRIES][DCR_MERKLE_PROOF_MAX];
	struct dcr_merkle_proof p[ENTRIES];
	Dcr__V1__AuditExport ex = DCR__V1__AUDIT_EXPORT__INIT;
	Dcr__V1__SignedTreeHead sth;
	struct dcr_enclave_public pub = { 0 };
	struct dcr_tree_head h = { 0 };
	struct dcr_audit_export check;
	char text[512], hex[65];
	struct dcr_err err;
	size_t ev_len = 0, config_len = 0;

	memset(sim_sk, 1, 32);
	memset(sign_sk, 2, 32);
	memset(pub.hpke_pk, 3, 32);
	memset(measurement, 4, 32);
	memcpy(cfg.pk, pub.hpke_pk, 32);
	if (dcr_ed25519_public(sign_sk, pub.sign_pk, &err) < 0 ||
	    dcr_ohttp_keyconfig_encode(&cfg, config, sizeof(config), &config_len, &err) < 0)
		die("keys", &err);
	pub.ohttp_key_config = config;
	pub.ohttp_key_config_len = config_len;
	if (dcr_attest_sim_evidence(measurement, sim_sk, &pub, &ev, &ev_len, &err) < 0)
		die("evidence", &err);
	dcr_hex(measurement, 32, hex);
	snprintf(text, sizeof(text), "version: 1\nspecs:\n  fuzz:sim:\n    format: sim\n    measurement: %s\n", hex);
	if (dcr_specs_parse("fuzz", (const uint8_t *)text, strlen(text), &base.specs, &err) < 0)
		die("specs", &err);
	for (size_t i = 0; i < ENTRIES; i++) {
		Dcr__V1__AuditEntry e = DCR__V1__AUDIT_ENTRY__INIT;
		Dcr__V1__Fact f = DCR__V1__FACT__INIT, *fp = &f;
		uint8_t salt[16];

		e.time_ms = 1751371200000 + (int64_t)i;
		e.caller = "alice@acme.example";
		e.action = (char *)actions[i];
		e.object = ROOM;
		e.outcome = i == 3 ? "denied" : "allowed";
		f.key = "job";
		f.value = "5dd95eaf75ee-1";
		e.facts = &fp;
		e.n_facts = i == 2;
		/* Entries from before salts have none; later ones 16 bytes. */
		memset(salt, (int)i, sizeof(salt));
		if (i > 0)
			e.salt = (ProtobufCBinaryData){ sizeof(salt), salt };
		if (dcr__v1__audit_entry__get_packed_size(&e) > sizeof(base.entry[i]))
			die("an entry is too large for its buffer", NULL);
		base.items[i] = (ProtobufCBinaryData){ dcr__v1__audit_entry__pack(&e, base.entry[i]), base.entry[i] };
	}
	snprintf(h.room_id, sizeof(h.room_id), "%s", ROOM);
	h.size = ENTRIES;
	h.time_ms = 1751371300000;
	if (dcr_merkle_root(ENTRIES, read_leaf, NULL, h.root, &err) < 0 || dcr_audit_sign_head(sign_sk, &h, &sth, sig, &err) < 0)
		die("head", &err);
	for (size_t i = 0; i < ENTRIES; i++) {
		if (dcr_merkle_inclusion_proof(i, ENTRIES, read_leaf, NULL, &p[i], &err) < 0)
			die("proof", &err);
		for (size_t k = 0; k < p[i].len; k++)
			hashes[i][k] = (ProtobufCBinaryData){ 32, p[i].hash[k] };
		dcr__v1__inclusion_proof__init(&proofs[i]);
		proofs[i].hashes = hashes[i];
		proofs[i].n_hashes = p[i].len;
		proof_ptrs[i] = &proofs[i];
	}
	ex.version = DCR_AUDIT_EXPORT_VERSION;
	ex.room_id = ROOM;
	ex.evidence = (ProtobufCBinaryData){ ev_len, ev };
	ex.head = &sth;
	ex.entries = base.items;
	ex.n_entries = ENTRIES;
	ex.proofs = proof_ptrs;
	ex.n_proofs = ENTRIES;
	base.len = dcr__v1__audit_export__get_packed_size(&ex);
	if (!(base.buf = malloc(base.len)))
		die("out of memory", NULL);
	dcr__v1__audit_export__pack(&ex, base.buf);
	free(sth.head.data);
	free(ev);
	if (dcr_audit_export_verify(base.buf, base.len, base.specs, &check, &err) < 0)
		die("the genuine export does not verify", &err);
	dcr_audit_export_release(&check);
}

static void verify(const uint8_t *buf, size_t len)
{
	struct dcr_audit_export ex;
	struct dcr_err err = { 0 };
	int r = dcr_audit_export_verify(buf, len, base.specs, &ex, &err);

	if (r == 0 && ex.n != ENTRIES)
		die("a verified export lost entries", NULL);
	dcr_audit_export_release(&ex);
	if (r == 0 && (len != base.len || memcmp(buf, base.buf, len) != 0))
		die("an altered export verified", NULL);
	if (r < 0 && !err.msg[0])
		die("a refusal without a reason", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	size_t len, edits;

	if (!base.buf)
		build_base();
	if (size > 0 && data[0] & 1) {
		verify(data + 1, size - 1);
		return 0;
	}
	edits = size > 0 ? (size - 1) / 4 : 0;
	if (!(buf = malloc(base.len + edits + 1)))
		return 0;
	memcpy(buf, base.buf, base.len);
	len = base.len;
	for (size_t i = 0; i < edits; i++) {
		const uint8_t *e = data + 1 + 4 * i;
		size_t at = ((size_t)e[0] << 8 | e[1]) % (len + 1);

		switch (e[2] % 3) {
		case 0:
			if (at < len)
				buf[at] ^= e[3] ? e[3] : 1;
			break;
		case 1:
			memmove(buf + at + 1, buf + at, len - at);
			buf[at] = e[3];
			len++;
			break;
		default:
			if (at < len) {
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
		}
	}
	verify(buf, len);
	free(buf);
	return 0;
}
