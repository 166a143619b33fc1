/* The client side of a session with dcrd: attest once, then make signed, encrypted calls. */
#ifndef DCR_CLIENT_H
#define DCR_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "attest.h"
#include "audit.h"
#include "call.h"
#include "err.h"
#include "specs.h"

/*
 * Caller-owned. endpoint, specs and identity are borrowed and must outlive
 * the client; the first call fetches and verifies the enclave's evidence
 * against specs and every later call goes to exactly that attested key.
 */
struct dcr_client {
	const char *endpoint;
	const struct dcr_specs *specs;
	const struct dcr_identity *identity;
	const char *spec_name;             /* the spec the enclave must match; NULL: any trusted spec */
	int attested;
	struct dcr_attest_result enclave;
	int has_last_head;                 /* set by dcr_client_call_room: the head it accepted */
	struct dcr_tree_head last_head;
	int has_known_head;                /* set by dcr_client_call_room: the head it checked against */
	struct dcr_tree_head known_head;
};

void dcr_client_init(struct dcr_client *c, const char *endpoint, const struct dcr_specs *specs,
	const struct dcr_identity *identity);
void dcr_client_release(struct dcr_client *c);

/* Attest now (a no-op once done); DCR_EATTEST when the evidence is rejected. */
int dcr_client_attest(struct dcr_client *c, struct dcr_err *err);

/*
 * Call method with body. On success *out (free()) holds the result; when the
 * enclave refuses, its code and message come back through err (DCR_EDENIED,
 * DCR_ENOTFOUND, ...), so they map to dcr's exit statuses unchanged.
 */
int dcr_client_call(struct dcr_client *c, const char *method, const uint8_t *body, size_t len,
	uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * A room-scoped call: sends the size of the room's log this client last saw
 * (dcr_audit_recall for this identity, kept in c->known_head) and checks the
 * answer's signed tree head (signature by the attested key, same room,
 * consistency with the stored head), then stores it for this identity and
 * the machine and keeps it in c->last_head. A rollback or fork is
 * DCR_EINTEGRITY naming both heads, whatever the call's own outcome.
 */
int dcr_client_call_room(struct dcr_client *c, const char *room_id, const char *method, const uint8_t *body,
	size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err);

#endif
