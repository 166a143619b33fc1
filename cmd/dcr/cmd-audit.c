/* dcr audit: verify and show a room's audit log, export it with proofs, verify an export offline. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "attest.h"
#include "audit.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
#include "merkle.h"
#include "output.h"
#include "specs.h"
#include "transport.h"

#include "banned.h"

#define MAX_EVIDENCE (1u << 20)
/* One audit.get answer (at most 64 MiB) with a proof of at most 64 hashes per entry fits easily. */
#define MAX_EXPORT (512u << 20)
#define MIN_DETAIL 20
#define DETAIL_MAX 1024

/* ---- the table (put_cell and friends follow cmd-rooms.c) ---- */

/* Milliseconds since the epoch as RFC 3339 UTC, to the second or (with_ms) the millisecond; "" if unset. */
static void format_time(int64_t ms, bool with_ms, char out[static 32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	out[0] = '\0';
	if (ms <= 0 || !gmtime_r(&t, &tm) || !(n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm)))
		return;
	if (with_ms)
		snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
	else
		snprintf(out + n, 32 - n, "Z");
}


/* A room ID (or "ID/rest") shortened to its first 12 hex digits; anything else as it is. */
static void object_text(const char *obj, char *buf, size_t size)
{
	if (strlen(obj) >= 64 && strspn(obj, "0123456789abcdef") >= 64)
		snprintf(buf, size, "%.12s%s", obj, obj + 64);
	else
		snprintf(buf, size, "%s", obj);
}

/* The issuer's fingerprint shortened to 12 hex digits, like a room ID; "-" when the entry has none. */
static void issuer_text(const char *issuer, char out[static 13])
{
	snprintf(out, 13, "%.12s", *issuer ? issuer : "-");
}

/* The detail, then the facts as "key=value", separated by "; ". */
static void detail_text(const Dcr__V1__AuditEntry *e, char *buf, size_t size)
{
	size_t used = (size_t)snprintf(buf, size, "%s", e->detail);

	for (size_t i = 0; i < e->n_facts && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", used ? "; " : "", e->facts[i]->key,
			e->facts[i]->value);
}

static size_t widest(size_t w, const char *s, size_t cap)
{
	size_t n = columns_of(s);

	return n > w ? (n < cap ? n : cap) : w;
}

/* What a verified log looks like to the printers. */
struct view {
	struct dcr_tree_head head;
	Dcr__V1__AuditEntry **entries; /* decoded, in leaf order */
	size_t n;
};

static void print_table(const struct view *v)
{
	size_t w_idx = 1, w_caller = 6, w_issuer = 6, w_action = 6, w_object = 6, w_outcome = 7, used, width;
	char idx[24], obj[128], detail[DETAIL_MAX], when[32], issuer[13];

	for (size_t i = 0; i < v->n; i++) {
		const Dcr__V1__AuditEntry *e = v->entries[i];

		snprintf(idx, sizeof(idx), "%zu", i);
		object_text(e->object, obj, sizeof(obj));
		w_idx = widest(w_idx, idx, 20);
		w_caller = widest(w_caller, e->caller, 40);
		issuer_text(e->issuer, issuer);
		w_issuer = widest(w_issuer, issuer, 12);
		w_action = widest(w_action, e->action, 20);
		w_object = widest(w_object, obj, 24);
		w_outcome = widest(w_outcome, e->outcome, 12);
	}
	used = w_idx + 2 + 20 + 2 + w_caller + 2 + w_issuer + 2 + w_action + 2 + w_object + 2 + w_outcome + 2;
	width = terminal_width();
	width = width > used + MIN_DETAIL ? width - used : MIN_DETAIL;
	printf("%*s  %-20s  ", (int)w_idx, "#", "TIME");
	put_cell("CALLER", w_caller, false);
	printf("  ");
	put_cell("ISSUER", w_issuer, false);
	printf("  ");
	put_cell("ACTION", w_action, false);
	printf("  ");
	put_cell("OBJECT", w_object, false);
	printf("  ");
	put_cell("OUTCOME", w_outcome, false);
	printf("  DETAIL\n");
	for (size_t i = 0; i < v->n; i++) {
		const Dcr__V1__AuditEntry *e = v->entries[i];

		format_time(e->time_ms, false, when);
		object_text(e->object, obj, sizeof(obj));
		detail_text(e, detail, sizeof(detail));
		printf("%*zu  %-20s  ", (int)w_idx, i, *when ? when : "?");
		put_cell(e->caller, w_caller, false);
		printf("  ");
		issuer_text(e->issuer, issuer);
		put_cell(issuer, w_issuer, false);
		printf("  ");
		put_cell(e->action, w_action, false);
		printf("  ");
		put_cell(obj, w_object, false);
		printf("  ");
		put_cell(e->outcome, w_outcome, *detail == '\0');
		if (*detail) {
			printf("  ");
			put_cell(detail, width, true);
		}
		putchar('\n');
	}
}

static json_t *view_json(const struct view *v)
{
	json_t *j = json_object(), *entries = json_array();
	char root[65], when[32];

	dcr_hex(v->head.root, 32, root);
	json_object_set_new(j, "room", json_string(v->head.room_id));
	json_object_set_new(j, "size", json_integer((json_int_t)v->head.size));
	json_object_set_new(j, "root", json_string(root));
	for (size_t i = 0; i < v->n; i++) {
		const Dcr__V1__AuditEntry *e = v->entries[i];
		json_t *o = json_object(), *facts = json_array();

		format_time(e->time_ms, true, when);
		json_object_set_new(o, "index", json_integer((json_int_t)i));
		json_object_set_new(o, "time", *when ? json_string(when) : json_null());
		json_object_set_new(o, "caller", json_string(e->caller));
		json_object_set_new(o, "issuer", json_string(e->issuer));
		json_object_set_new(o, "action", json_string(e->action));
		json_object_set_new(o, "object", json_string(e->object));
		json_object_set_new(o, "outcome", json_string(e->outcome));
		json_object_set_new(o, "detail", json_string(e->detail));
		/* A list, not an object: an entry may state the same fact twice, and nothing may be lost. */
		for (size_t f = 0; f < e->n_facts; f++)
			json_array_append_new(facts, json_pack("{s:s, s:s}", "key", e->facts[f]->key, "value",
							     e->facts[f]->value));
		json_object_set_new(o, "facts", facts);
		json_array_append_new(entries, o);
	}
	json_object_set_new(j, "entries", entries);
	return j;
}

static void view_release(struct view *v)
{
	dcr_audit_entries_free(v->entries, v->n);
	v->entries = NULL;
	v->n = 0;
}

/* Decode the entries (their leaves are already proven); a malformed one is the enclave's fault: exit 9. */
static int view_decode(struct view *v, const ProtobufCBinaryData *raw, size_t n, struct dcr_err *err)
{
	int r = dcr_audit_entries_decode(raw, n, &v->entries, err);

	v->n = r == 0 ? n : 0;
	return r;
}

/* ---- the Merkle tree, for proofs ---- */

struct leaves {
	const ProtobufCBinaryData *items;
	size_t n;
};

static int read_leaf(void *ctx, uint64_t index, uint8_t out[static DCR_MERKLE_HASH_LEN])
{
	const struct leaves *l = ctx;

	if (index >= l->n)
		return DCR_EINVALID;
	return dcr_merkle_leaf_hash(l->items[index].data, l->items[index].len, out, NULL);
}

/*
 * Every node of the tree, level by level from the leaves; a node without a
 * right sibling is carried up unchanged, which builds RFC 9162's tree. An
 * export needs a proof per entry: read off these levels they cost
 * O(log n) each instead of the O(n) of computing each from the leaves.
 */
struct tree {
	size_t depth;                   /* levels with more than one node */
	size_t width[65];
	uint8_t (*level[65])[32];
	uint8_t (*nodes)[32];           /* all of them; free() */
};

static int tree_build(const ProtobufCBinaryData *entries, size_t n, struct tree *t, struct dcr_err *err)
{
	uint8_t (*next)[32];
	size_t total = 0, w;
	int r;

	memset(t, 0, sizeof(*t));
	for (w = n; w > 1; w = (w + 1) / 2)
		total += w;
	total += 1;
	if (n > SIZE_MAX / 64 || !(t->nodes = malloc(total * 32)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory for the proofs of %zu entries", n);
	t->level[0] = t->nodes;
	t->width[0] = n;
	for (size_t i = 0; i < n; i++)
		if ((r = dcr_merkle_leaf_hash(entries[i].data, entries[i].len, t->level[0][i], err)) < 0)
			return r;
	for (size_t l = 0; t->width[l] > 1; l++) {
		next = t->level[l] + t->width[l];
		w = t->width[l];
		for (size_t j = 0; 2 * j < w; j++) {
			uint8_t in[1 + 64];

			if (2 * j + 1 == w) {
				memcpy(next[j], t->level[l][2 * j], 32);
				continue;
			}
			in[0] = 0x01;
			memcpy(in + 1, t->level[l][2 * j], 32);
			memcpy(in + 33, t->level[l][2 * j + 1], 32);
			if ((r = dcr_sha256(in, sizeof(in), next[j], err)) < 0)
				return r;
		}
		t->level[l + 1] = next;
		t->width[l + 1] = (w + 1) / 2;
		t->depth = l + 1;
	}
	return 0;
}

/* PATH(index, D[n]): the siblings on the way up, nearest the leaf first; they point into t. */
static size_t tree_path(const struct tree *t, size_t index, ProtobufCBinaryData out[static 64])
{
	size_t len = 0;

	for (size_t l = 0; l < t->depth; l++, index >>= 1)
		if ((index ^ 1) < t->width[l])
			out[len++] = (ProtobufCBinaryData){ 32, t->level[l][index ^ 1] };
	return len;
}

/* ---- dcr audit ROOM ---- */

/*
 * The log dcrd sent must be the one its signed head describes, for the
 * room asked about, no newer than the head the call itself returned (which
 * the client checked against what it saw before), and an extension of the
 * log this client saw before: a host cannot show one history to the call
 * and another in the listing.
 */
static int check_log(struct session *s, const char *id, const Dcr__V1__AuditLog *log,
	const struct dcr_tree_head *before, struct dcr_tree_head *head, struct dcr_err *err)
{
	const struct dcr_client *c = &s->client;
	struct leaves leaves = { log->entries, log->n_entries };
	uint8_t root[32];
	char want[65], got[65];
	int r;

	if ((r = dcr_audit_verify_head(c->enclave.keys.sign_pk, log->head, head, err)) < 0)
		return r;
	if (strcmp(head->room_id, id) != 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "asked for the log of room %s, got the log of room %s", id,
			head->room_id);
	if ((r = dcr_audit_check_entries(log->entries, log->n_entries, head, err)) < 0)
		return r;
	if (!c->has_last_head || strcmp(c->last_head.room_id, id) != 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "dcrd answered without the room's signed tree head");
	if (head->size > c->last_head.size)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"the log has size %" PRIu64 " but the head that came with the answer has size %" PRIu64,
			head->size, c->last_head.size);
	if (!before)
		return 0;
	dcr_hex(before->root, 32, want);
	if (before->size > head->size)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"rollback of room %s: the log has size %" PRIu64 ", this client saw size %" PRIu64 " (root %s)",
			id, head->size, before->size, want);
	if ((r = dcr_merkle_root(before->size, read_leaf, &leaves, root, err)) < 0)
		return r;
	if (!dcr_ct_equal(root, before->root, 32)) {
		dcr_hex(root, 32, got);
		return dcr_err_set(err, DCR_EINTEGRITY,
			"fork of room %s: the first %" PRIu64 " entries of the log hash to root %s, not to the root %s "
			"this client saw", id, before->size, got, want);
	}
	return 0;
}

/* Write what dcr audit verify needs: the evidence, the signed head, the entries, a proof for each. */
static int export_log(struct session *s, const char *path, const Dcr__V1__AuditLog *log,
	const struct dcr_tree_head *head, struct dcr_err *err)
{
	Dcr__V1__AuditExport ex = DCR__V1__AUDIT_EXPORT__INIT;
	Dcr__V1__InclusionProof *proofs = NULL, **proof_ptrs = NULL;
	ProtobufCBinaryData *hashes = NULL;
	struct dcr_attest_result res = { 0 };
	struct dcr_audit_export again = { 0 };
	struct dcr_err why;
	struct tree t = { 0 };
	uint8_t *evidence = NULL, *buf = NULL;
	size_t ev_len = 0, n = log->n_entries, len;
	int r;

	/* The evidence the session attested: anyone can check the signing key against their own specs. */
	if ((r = dcr_http(s->client.endpoint, "GET", "/v1/evidence", NULL, NULL, 0, MAX_EVIDENCE, &evidence, &ev_len,
		     err)) < 0 ||
	    (r = dcr_audit_check_evidence(evidence, ev_len, s->specs, &res, err)) < 0) {
		dcr_err_prefix(err, "dcrd's evidence");
		goto out;
	}
	if (!dcr_ct_equal(res.keys.sign_pk, s->client.enclave.keys.sign_pk, 32)) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "dcrd's evidence now binds another signing key than the one that "
						    "signed the log (did dcrd restart?); try again");
		goto out;
	}
	if (n && (r = tree_build(log->entries, n, &t, err)) < 0)
		goto out;
	proofs = calloc(n ? n : 1, sizeof(*proofs));
	proof_ptrs = calloc(n ? n : 1, sizeof(*proof_ptrs));
	hashes = calloc(n ? n * (t.depth ? t.depth : 1) : 1, sizeof(*hashes));
	if (!proofs || !proof_ptrs || !hashes) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ProtobufCBinaryData path_buf[64];
		size_t k = tree_path(&t, i, path_buf);

		memcpy(&hashes[i * t.depth], path_buf, k * sizeof(*path_buf));
		dcr__v1__inclusion_proof__init(&proofs[i]);
		proofs[i].hashes = &hashes[i * t.depth];
		proofs[i].n_hashes = k;
		proof_ptrs[i] = &proofs[i];
	}
	ex.version = DCR_AUDIT_EXPORT_VERSION;
	ex.room_id = (char *)head->room_id;
	ex.evidence = (ProtobufCBinaryData){ ev_len, evidence };
	ex.head = log->head;
	ex.entries = log->entries;
	ex.n_entries = n;
	ex.proofs = proof_ptrs;
	ex.n_proofs = n;
	len = dcr__v1__audit_export__get_packed_size(&ex);
	if (!(buf = malloc(len ? len : 1))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__audit_export__pack(&ex, buf);
	/* What dcr audit verify will check, checked before anything is written. */
	if (dcr_audit_export_verify(buf, len, s->specs, &again, &why) < 0) {
		r = dcr_err_set(err, DCR_EFAIL, "the export made does not verify: %s", why.msg);
		goto out;
	}
	r = out_write_buf(path, 0600, true, buf, len, err);
out:
	dcr_audit_export_release(&again);
	dcr_attest_result_release(&res);
	free(buf);
	free(hashes);
	free(proof_ptrs);
	free(proofs);
	free(t.nodes);
	free(evidence);
	return r;
}

static int audit_room(const struct command *cmd, struct cli *cli, struct session *s, const char *id,
	const char *export_path)
{
	Dcr__V1__AuditLog *log = NULL;
	struct view v = { 0 };
	struct dcr_err err;
	uint8_t *body;
	size_t len;
	char root[65];
	int r;

	s->client.has_last_head = 0;
	if ((r = session_room_call(cmd, s, "audit.get", id, &body, &len)) != 0)
		return r;
	log = dcr__v1__audit_log__unpack(NULL, len, body);
	free(body);
	if (!log || !log->head) {
		dcr_err_set(&err, DCR_EINTEGRITY, "dcrd sent a malformed audit log");
		goto fail;
	}
	/* What this client saw before the call replaced it: the log must extend that too. */
	if (check_log(s, id, log, s->client.has_known_head ? &s->client.known_head : NULL, &v.head, &err) < 0 ||
	    view_decode(&v, log->entries, log->n_entries, &err) < 0)
		goto fail;
	if (export_path && export_log(s, export_path, log, &v.head, &err) < 0) {
		dcr_err_prefix(&err, "cannot export to '%s'", export_path);
		goto fail;
	}
	dcr_hex(v.head.root, 32, root);
	if (cli->json) {
		json_t *j = view_json(&v);

		if (export_path)
			json_object_set_new(j, "export", json_string(export_path));
		r = print_json(cmd, j);
	} else {
		print_table(&v);
		printf("verified %zu entries, tree size %" PRIu64 ", root %s\n", v.n, v.head.size, root);
		if (export_path && cli->verbosity >= 0)
			printf("exported the log, a proof for each entry and the enclave's evidence to '%s'\n",
				export_path);
	}
	goto out;
fail:
	r = report(cmd, &err);
out:
	view_release(&v);
	dcr__v1__audit_log__free_unpacked(log, NULL);
	return r;
}

/* ---- dcr audit verify FILE ---- */

static int verify_export(const struct command *cmd, struct cli *cli, const char *path)
{
	struct dcr_audit_export ex = { 0 };
	struct dcr_specs *specs = NULL;
	struct dcr_err err;
	struct view v;
	uint8_t *buf = NULL;
	size_t len = 0;
	char root[65], measurement[97];
	int r;

	if (!cli->specs) {
		dcr_err_set(&err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
		return report(cmd, &err);
	}
	if (dcr_specs_load(cli->specs, &specs, &err) < 0 || dcr_read_file(path, MAX_EXPORT, &buf, &len, &err) < 0)
		goto fail;
	if (dcr_audit_export_verify(buf, len, specs, &ex, &err) < 0) {
		dcr_err_prefix(&err, "'%s'", path);
		goto fail;
	}
	if (ex.enclave.simulated && cli->verbosity >= 0)
		fprintf(stderr, "dcr: warning: the export's evidence is simulated attestation: NO hardware protection\n");
	v = (struct view){ ex.head, ex.entries, ex.n };
	dcr_hex(v.head.root, 32, root);
	dcr_hex(ex.enclave.measurement, ex.enclave.measurement_len, measurement);
	if (cli->json) {
		json_t *j = view_json(&v);

		json_object_set_new(j, "spec", json_string(ex.enclave.spec));
		json_object_set_new(j, "measurement", json_string(measurement));
		json_object_set_new(j, "simulated", json_boolean(ex.enclave.simulated));
		r = print_json(cmd, j);
	} else {
		print_table(&v);
		printf("verified offline: %zu entries, tree size %" PRIu64 ", root %s, signed by the enclave the "
		       "trusted spec '%s' pins (measurement %.12s)\n", v.n, v.head.size, root, ex.enclave.spec, measurement);
		r = 0;
	}
	goto out;
fail:
	r = report(cmd, &err);
out:
	dcr_audit_export_release(&ex);
	free(buf);
	dcr_specs_free(specs);
	return r;
}

int cmd_audit(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	char id[DCR_ROOM_ID_HEX];
	struct session s;
	int r;

	if (args->argc >= 1 && strcmp(args->argv[0], "verify") == 0) {
		if (opt_set(cmd, args, "export"))
			return usage_error(cmd, "--export goes with a ROOM, not with verify");
		if (args->argc != 2)
			return usage_error(cmd, args->argc < 2 ? "verify which file?" : "verify takes one file");
		return verify_export(cmd, cli, args->argv[1]);
	}
	if (args->argc != 1)
		return usage_error(cmd, args->argc ? "takes one room" : "which room?");
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, &s, args->argv[0], id)) == 0)
		r = audit_room(cmd, cli, &s, id, opt_value(cmd, args, "export"));
	session_close(&s);
	return r;
}
