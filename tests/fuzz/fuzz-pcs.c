/* libFuzzer target: PCCS answers assembled into collateral, and the JSON member scanner under them. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcs.h"
#include "sgx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 8
#define MAX_DEPTH 64

/* Exact-size copies, so that reading past a field is caught and not hidden by the next one. */
static uint8_t *copy(const uint8_t *p, size_t len, int nul)
{
	uint8_t *c = malloc(len + (size_t)nul);

	if (!c && len + (size_t)nul)
		abort();
	if (len)
		memcpy(c, p, len);
	if (nul)
		c[len] = 0;
	return c;
}

/* jansson and the scanner must agree on every object with exactly these two members. */
static void scanner(const uint8_t *data, size_t size)
{
	struct dcr_pcs_member m[2] = { { .name = "tcbInfo" }, { .name = "signature" } };
	struct dcr_err err;
	size_t brackets = 0;
	json_t *all, *part;
	int r;

	err.msg[0] = '\0';
	r = dcr_pcs_json_members(data, size, m, 2, &err);
	if (r == 0) {
		for (int i = 0; i < 2; i++)
			if (m[i].len == 0 || m[i].off > size || m[i].len > size - m[i].off)
				__builtin_trap();
	} else if (r != DCR_EATTEST || err.msg[0] == '\0') {
		/* Every refusal says why. */
		__builtin_trap();
	}
	if (size > DCR_SGX_COLLATERAL_MAX)
		return;
	for (size_t i = 0; i < size; i++)
		brackets += data[i] == '[' || data[i] == '{';
	all = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (all && json_is_object(all) && json_object_size(all) == 2 && json_object_get(all, "tcbInfo") &&
	    json_object_get(all, "signature") && brackets <= MAX_DEPTH && r != 0)
		__builtin_trap();
	if (all && r == 0) {
		for (int i = 0; i < 2; i++) {
			part = json_loadb((const char *)data + m[i].off, m[i].len, JSON_DECODE_ANY, NULL);
			if (!part || !json_equal(part, json_object_get(all, m[i].name)))
				__builtin_trap();
			json_decref(part);
		}
	}
	json_decref(all);
}

static void assemble(const uint8_t *data, size_t size)
{
	const uint8_t *field[FIELDS], *end = data + size, *p = data;
	size_t len[FIELDS];
	uint8_t *own[FIELDS];
	struct dcr_pcs_responses in;
	struct dcr_sgx_collateral *c;
	struct dcr_err err;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int i, r;

	/* Fields separated by "||": PCK CRL, its chain, TCB info, its chain, QE identity, its chain, root CA CRL, URL. */
	for (i = 0; i < FIELDS; i++) {
		const uint8_t *q = i < FIELDS - 1 ? p : end;

		while (q < end && !(q + 1 < end && q[0] == '|' && q[1] == '|'))
			q++;
		field[i] = p;
		len[i] = (size_t)(q - p);
		p = q < end ? q + 2 : end;
	}
	for (i = 0; i < FIELDS; i++)
		own[i] = copy(field[i], len[i], i % 2);
	in = (struct dcr_pcs_responses){
		.pck_crl = { own[0], len[0], (char *)own[1], (char *)own[7] },
		.tcb_info = { own[2], len[2], (char *)own[3], (char *)own[7] },
		.qe_identity = { own[4], len[4], (char *)own[5], NULL },
		.root_ca_crl = { own[6], len[6], NULL, (char *)own[7] },
	};
	err.msg[0] = '\0';
	r = dcr_pcs_assemble(&in, &out, &out_len, &err);
	if (r == 0) {
		if (!out || strlen((char *)out) != out_len)
			__builtin_trap();
		if (dcr_sgx_collateral_parse(out, out_len, &c, &err) != 0)
			__builtin_trap();
		dcr_sgx_collateral_free(c);
	} else if (out || out_len || (r != DCR_EATTEST && r != DCR_ENOMEM) || err.msg[0] == '\0') {
		__builtin_trap();
	}
	free(out);
	for (i = 0; i < FIELDS; i++)
		free(own[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	scanner(data, size);
	assemble(data, size);
	return 0;
}
