/*
 * Attestation kinds, the library side: one row per kind of evidence in
 * dcr_attest_kinds[] (lib/attest-kinds.c). Everything that differs between
 * kinds -- how evidence is verified, what is canonical, which spec fields
 * pin an enclave, what `dcr attest` shows -- is an operation of a row;
 * attest.c, specs.c and room.c only look kinds up and call them.
 *
 * Adding a kind: one file lib/attest-KIND.c defining
 * `const struct dcr_attest_kind dcr_attest_kind_KIND`, its declaration
 * below, one row in dcr_attest_kinds[], one enum value in specs.h (and the
 * fields it pins in struct dcr_spec, its result in the union of struct
 * dcr_attest_result); dcrd's side is cmd/dcrd/kind.h. See docs/attestation.md.
 *
 * Every rejection of evidence is DCR_EATTEST with a reason a person can
 * act on; DCR_ENOMEM is out of memory; nothing else is returned by verify.
 */
#ifndef DCR_ATTEST_KIND_H
#define DCR_ATTEST_KIND_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest.h"
#include "err.h"
#include "specs.h"
#include "ydoc.h"

/* The kind-specific parts of an Evidence message (evidence.proto); the enclave keys are checked by the caller. */
struct dcr_attest_evidence {
	const char *format;          /* the kind's name */
	const uint8_t *quote;        /* Evidence.quote */
	size_t quote_len;
	const uint8_t *collateral;   /* Evidence.collateral; may be empty */
	size_t collateral_len;
};

/* One line of `dcr attest` output: the label (padded to 13 columns) and the member of the facts JSON it shows. */
struct dcr_attest_fact {
	const char *label;
	const char *member;
};

struct dcr_attest_kind {
	/* The format name: Evidence.format, a spec's `format:`, `--attestation NAME`; [a-z0-9-], at most 15 bytes. */
	const char *name;
	enum dcr_spec_format format;     /* struct dcr_spec.format of its specs */
	const char *title;               /* in messages: "simulated", "SGX DCAP" */
	bool simulated;                  /* no hardware protection: dcr warns, dcrd logs so */

	/*
	 * Verify the kind's evidence ev at time `at` against the specs of this
	 * kind in specs (spec_name, if not NULL, the one spec to use; the
	 * caller has checked it exists). May assume: specs non-NULL with at
	 * least one entry, ev->format is this kind's name. Must: check the
	 * evidence is genuine (signatures, certificate chains to the spec's
	 * pinned root, freshness at `at`), find a spec of this kind that
	 * accepts it, and on success fill res->spec, res->measurement (the
	 * 32 bytes shown as `measurement`), res->simulated, the kind's member
	 * of res's union, and report_data (the 64 bytes the evidence vouches
	 * for; the caller compares them with dcr_attest_report_data of the
	 * keys). Accepting only the canonical encoding of protobuf layers
	 * (dcr_attest_unpack_part). Rejections: DCR_EATTEST with the reason,
	 * the most telling one when several specs refuse.
	 */
	int (*verify)(const struct dcr_attest_evidence *ev, const struct dcr_specs *specs, const char *spec_name,
		time_t at, struct dcr_attest_result *res, uint8_t report_data[static DCR_REPORT_DATA_LEN],
		struct dcr_err *err);

	/*
	 * Whether ev is exactly as dcrd encodes it (dcr_attest_evidence_canonical):
	 * 0; DCR_EINVALID when a part does not decode, DCR_EINTEGRITY naming
	 * what is not canonical. Must reject bytes that would count for
	 * nothing (e.g. collateral where the kind has none).
	 */
	int (*canonical)(const struct dcr_attest_evidence *ev, struct dcr_err *err);

	/*
	 * Specs of this kind: spec_keys, every key a spec of this kind may
	 * have (with "format"), NULL-terminated. spec_parse fills s (name
	 * and format already set) from the mapping n of a specs file named
	 * file (for relative paths); errors DCR_EINVALID through
	 * dcr_ydoc_fail, pointing at the node. spec_check: whether s, as
	 * decoded from a room definition's EnclaveSpec, is a well-formed spec
	 * of this kind (the pins it must and must not have); DCR_EINVALID.
	 */
	const char *const *spec_keys;
	int (*spec_parse)(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s);
	int (*spec_check)(const struct dcr_spec *s, struct dcr_err *err);

	/*
	 * What verification established, for `dcr attest`: members of obj
	 * (JSON; under the member json_member of its output, or top-level for
	 * offline verification), and facts[], the lines printed for people,
	 * in order (a string is printed as is, an integer in decimal, a boolean
	 * yes/no, an array joined by ", " or "(none)"). json_member NULL and
	 * facts NULL: nothing beyond the measurement.
	 */
	const char *json_member;
	const struct dcr_attest_fact *facts;
	int (*facts_json)(const struct dcr_attest_result *res, json_t *obj, struct dcr_err *err);

	/*
	 * Offline verification (`dcr attest --evidence QUOTE --collateral FILE
	 * --root-ca FILE [--at TIME]`); NULL for a kind without it. The files
	 * are read with at most the largest quote_max and collateral_max of
	 * the table. offline_claims: whether quote is this kind's, by its
	 * header alone (a quote no kind claims goes to the first kind with
	 * offline verification, whose parser says what is wrong with it).
	 * offline_verify: whether ev (this kind's name, the files' bytes) is
	 * genuine at `at` under root (DER), with no spec: fill res->measurement
	 * and the kind's member of res; DCR_EATTEST with the reason, or the
	 * error of a malformed collateral file. policy: whether spec s of this
	 * kind accepts what offline_verify established; DCR_EATTEST saying why
	 * not.
	 */
	size_t quote_max, collateral_max;
	bool (*offline_claims)(const uint8_t *quote, size_t len);
	int (*offline_verify)(const struct dcr_attest_evidence *ev, const uint8_t *root, size_t root_len, time_t at,
		struct dcr_attest_result *res, struct dcr_err *err);
	int (*policy)(const struct dcr_attest_result *res, const struct dcr_spec *s, struct dcr_err *err);
};

extern const struct dcr_attest_kind dcr_attest_kind_sim;
extern const struct dcr_attest_kind dcr_attest_kind_sgx_dcap;
extern const struct dcr_attest_kind dcr_attest_kind_tdx;
extern const struct dcr_attest_kind dcr_attest_kind_sev_snp;

/* The table, NULL-terminated, in the order names are listed. */
extern const struct dcr_attest_kind *const dcr_attest_kinds[];

/* The kind named name, or NULL. */
const struct dcr_attest_kind *dcr_attest_kind_find(const char *name);
/* The kind of specs of format f, or NULL. */
const struct dcr_attest_kind *dcr_attest_kind_of(enum dcr_spec_format f);
/* The names as people read a list into buf: "sim or sgx-dcap", "sim, sgx-dcap or tdx"; returns buf. */
#define DCR_ATTEST_KIND_NAMES_MAX 128
const char *dcr_attest_kind_names(char *buf, size_t size);

/* For kinds: pack an Evidence message (*out: free()). */
int dcr_attest_pack_evidence(const char *format, const uint8_t *quote, size_t quote_len, const uint8_t *collateral,
	size_t collateral_len, const struct dcr_enclave_public *keys, uint8_t **out, size_t *out_len,
	struct dcr_err *err);
/* For kinds: a message of the evidence, accepted only canonical; else DCR_EATTEST "malformed evidence: ...". */
int dcr_attest_unpack_part(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, const char *what,
	ProtobufCMessage **out, struct dcr_err *err);
/* For kinds' spec_parse: 64 hex digits into out; 2 * len hex digits into out. */
int dcr_spec_hex32(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t out[static 32]);
int dcr_spec_hex(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t *out, size_t len);
/*
 * For kinds' spec_parse: root_ca, a certificate file (DER or PEM) relative
 * to the specs file's folder, read now into s->root_ca; it must be a
 * self-signed CA certificate.
 */
int dcr_spec_root_ca(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s);

/*
 * For the Intel DCAP kinds (sgx-dcap, tdx; lib/attest-sgx.c): what differs
 * between their verifications, around one quote and collateral checked
 * under each candidate spec's pinned root, then the spec's policy.
 */
struct dcr_attest_dcap {
	enum dcr_spec_format format;
	const char *name, *title;      /* the kind's */
	int (*collateral_parse)(const uint8_t *json, size_t len, struct dcr_sgx_collateral **out, struct dcr_err *err);
	/* The quote genuine under root at `at`: fill the kind's member of res and res->measurement. */
	int (*quote_verify)(const uint8_t *quote, size_t len, const struct dcr_sgx_collateral *c, const uint8_t *root,
		size_t root_len, time_t at, struct dcr_attest_result *res, struct dcr_err *err);
	int (*policy)(const struct dcr_attest_result *res, const struct dcr_spec *s, struct dcr_err *err);
	/* How telling spec s's refusal is: 2 when it pins this enclave (a policy refusal), else 0. */
	int (*rank)(const struct dcr_spec *s, const struct dcr_attest_result *res);
	const uint8_t *(*report_data)(const struct dcr_attest_result *res);
};

/* A DCAP kind's verify: the first spec of its format that accepts wins, else the most telling refusal. */
int dcr_attest_dcap_verify(const struct dcr_attest_dcap *k, const struct dcr_attest_evidence *ev,
	const struct dcr_specs *specs, const char *spec_name, time_t at, struct dcr_attest_result *res,
	uint8_t report_data[static DCR_REPORT_DATA_LEN], struct dcr_err *err);
/* A DCAP kind's offline_verify: its collateral parsed, its quote verified. */
int dcr_attest_dcap_offline_verify(const struct dcr_attest_dcap *k, const struct dcr_attest_evidence *ev,
	const uint8_t *root, size_t root_len, time_t at, struct dcr_attest_result *res, struct dcr_err *err);
/* The spec keys DCAP kinds share: debug (default false), root_ca, tcb_statuses (default SWHardeningNeeded, UpToDate). */
int dcr_attest_dcap_spec_parse(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s);

#endif
