/* The client side of a session with dcrd: attest once, then make signed, encrypted calls. */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport.h"
#include "util.h"

#include "banned.h"

#define MAX_EVIDENCE (1u << 20)
#define MAX_ANSWER (64u << 20)
/* The longest a call refused as made before dcrd (re)started waits to be made again. */
#define RETRY_WAIT_MAX_MS (2 * DCR_CALL_MAX_AHEAD_MS)

void dcr_client_init(struct dcr_client *c, const char *endpoint, const struct dcr_specs *specs,
	const struct dcr_identity *identity)
{
	memset(c, 0, sizeof(*c));
	c->endpoint = endpoint;
	c->specs = specs;
	c->identity = identity;
}

void dcr_client_release(struct dcr_client *c)
{
	if (c)
		dcr_attest_result_release(&c->enclave);
}

int dcr_client_attest(struct dcr_client *c, struct dcr_err *err)
{
	uint8_t *evidence = NULL;
	size_t len = 0;
	int r;

	if (c->attested)
		return 0;
	r = dcr_http(c->endpoint, "GET", "/v1/evidence", NULL, NULL, 0, MAX_EVIDENCE, &evidence, &len, err);
	if (r == 0)
		r = dcr_attest_verify(evidence, len, c->specs, c->spec_name, &c->enclave, err);
	free(evidence);
	if (r == 0)
		c->attested = 1;
	return r;
}

/* Check the head that came with a room-scoped answer against the one stored, then store it. */
static int check_head(struct dcr_client *c, const char *room_id, const char *who, const Dcr__V1__CallResult *res,
	const struct dcr_room_memory *mem, struct dcr_err *err)
{
	const struct dcr_tree_head *old_head = &mem->head;
	struct dcr_tree_head head;
	int r;

	if (!res->tree_head) {
		/*
		 * Nothing logged: the room does not exist for this caller. Another
		 * identity on this machine may have seen it; what matters is
		 * whether this one did.
		 */
		if (!mem->seen)
			return 0;
		/*
		 * The answer comes from the attested enclave, so its code can be
		 * believed. A room this client saw is gone when the enclave says
		 * there is no such room (or no room that accepts the caller), or
		 * serves the call without the room's log. Any other refusal without
		 * a head was made before the call reached the room (a malformed or
		 * stale call, a creation limit, a state the enclave cannot read or
		 * write) and is the call's own result; a -9 among them is reported
		 * as the enclave words it. The stored head stays, and the next
		 * answer that carries a head is checked against it.
		 */
		if (res->code == DCR_ENOTFOUND)
			return dcr_err_set(err, DCR_EINTEGRITY,
				"room %s existed with a log of size %llu, but dcrd now denies it: its state was rolled "
				"back, or your certificate is no longer accepted", room_id,
				(unsigned long long)old_head->size);
		if (res->code == 0)
			return dcr_err_set(err, DCR_EINTEGRITY, "room %s existed with a log of size %llu, but dcrd "
								"answered a call about it without its log", room_id,
				(unsigned long long)old_head->size);
		return 0;
	}
	if ((r = dcr_audit_verify_head(c->enclave.keys.sign_pk, res->tree_head, &head, err)) < 0)
		return r;
	if (strcmp(head.room_id, room_id) != 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "asked about room %s, got the tree head of room %s", room_id,
			head.room_id);
	if (mem->known &&
	    (r = dcr_audit_check_consistency(old_head, &head, res->consistency, res->n_consistency, err)) < 0)
		return r;
	if ((r = dcr_audit_remember(&head, who, err)) < 0)
		return r;
	c->last_head = head;
	c->has_last_head = 1;
	return 0;
}

static int call(struct dcr_client *c, const char *room_id, const char *method, const uint8_t *body, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err);

int dcr_client_call(struct dcr_client *c, const char *method, const uint8_t *body, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return call(c, NULL, method, body, len, out, out_len, err);
}

int dcr_client_call_room(struct dcr_client *c, const char *room_id, const char *method, const uint8_t *body,
	size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return call(c, room_id, method, body, len, out, out_len, err);
}

static int call(struct dcr_client *c, const char *room_id, const char *method, const uint8_t *body, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	struct dcr_room_memory mem = { 0 };
	Dcr__V1__CallResult *raw = NULL;
	char who[65];
	struct dcr_ohttp_ctx ctx = { 0 };
	uint8_t *req = NULL, *resp = NULL;
	size_t req_len = 0, resp_len = 0;
	char *message = NULL;
	bool retried = false;
	int64_t stamp;
	int r, code = 0;

	*out = NULL;
	*out_len = 0;
	if (!c->identity)
		return dcr_err_set(err, DCR_EUSAGE, "no identity: calls are signed with your key and certificate");
	if ((r = dcr_client_attest(c, err)) < 0)
		return r;
	if (room_id && ((r = dcr_identity_id(c->identity, who, err)) < 0 ||
			       (r = dcr_audit_recall(room_id, who, &mem, err)) < 0))
		return r;
	c->has_known_head = room_id && mem.known;
	if (c->has_known_head)
		c->known_head = mem.head;
again:
	stamp = dcr_now_ms();
	if ((r = dcr_call_seal_room(c->identity, &c->enclave.keys, method, body, len, stamp, room_id,
		     mem.known ? mem.head.size : 0, &ctx, &req, &req_len, err)) < 0)
		goto out;
	if ((r = dcr_http(c->endpoint, "POST", "/v1/call", "message/ohttp-req", req, req_len, MAX_ANSWER, &resp,
		     &resp_len, err)) < 0)
		goto out;
	if ((r = dcr_call_open_result_raw(&ctx, resp, resp_len, &code, &message, out, out_len, &raw, err)) < 0)
		goto out;
	/* A rolled-back or forked log outranks whatever the call itself says. */
	if (room_id && (r = check_head(c, room_id, who, raw, &mem, err)) < 0) {
		free(*out);
		*out = NULL;
		*out_len = 0;
		goto out;
	}
	/*
	 * Stamped before dcrd (re)started: the call did nothing. Made again
	 * once, stamped at the moment dcrd names, when that is near (dcrd
	 * restarted while this call was made, or after a caller stamped one
	 * ahead); else the clock is slow.
	 */
	if (code < 0 && raw->fresh_from_ms > stamp) {
		int64_t wait = raw->fresh_from_ms - stamp;

		if (!retried && wait <= RETRY_WAIT_MAX_MS) {
			retried = true;
			free(*out);
			*out = NULL;
			*out_len = 0;
			dcr__v1__call_result__free_unpacked(raw, NULL);
			raw = NULL;
			dcr_ohttp_ctx_release(&ctx);
			free(message);
			free(req);
			free(resp);
			message = NULL;
			req = resp = NULL;
			dcr_sleep_ms(wait);
			goto again;
		}
		r = dcr_err_set(err, DCR_EFAIL, "%s (%s)", message,
			retried ? "made again, it was refused again: is your clock slow?" : "is your clock slow?");
		free(*out);
		*out = NULL;
		*out_len = 0;
	} else if (code < 0) {
		r = dcr_err_set(err, code, "%s", message);
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
out:
	dcr__v1__call_result__free_unpacked(raw, NULL);
	dcr_ohttp_ctx_release(&ctx);
	free(message);
	free(req);
	free(resp);
	return r;
}
