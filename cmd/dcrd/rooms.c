/* Room methods of POST /v1/call: create, list, get, status, stop, with every permission checked. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "crypto.h"
#include "dcrd.h"
#include "room.h"
#include "room.pb-c.h"
#include "specs.h"
#include "util.h"
#include "work.h"

#include "banned.h"

#define MAX_FILES 128
#define MAX_ROOTS 64       /* certificates of one participant's authority; a room has at most 64 */

/* ---- who may do what ---- */

static const Dcr__V1__Participant *participant(const Dcr__V1__RoomDefinition *def, const char *email)
{
	for (size_t i = 0; i < def->n_participants; i++)
		if (strcmp(def->participants[i]->email, email) == 0)
			return def->participants[i];
	return NULL;
}

static bool is_default(Dcr__V1__Action a)
{
	return a == DCR__V1__ACTION__ACTION_READ_DEFINITION || a == DCR__V1__ACTION__ACTION_READ_AUDIT ||
		a == DCR__V1__ACTION__ACTION_READ_STATUS || a == DCR__V1__ACTION__ACTION_LIST_DATASETS;
}

bool may(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, Dcr__V1__Action a,
	const char *object)
{
	if (def->default_permissions && is_default(a))
		return true;
	for (size_t i = 0; i < p->n_permissions; i++)
		if (p->permissions[i]->action == a &&
		    (!object || strcmp(p->permissions[i]->object ? p->permissions[i]->object : "", object) == 0))
			return true;
	return false;
}

/*
 * The room's owner (its creator: the same address, certified by the same
 * root) may stop it without the stop permission, unless the room says
 * owner_stops: false. A record from before owners' roots were kept names
 * no root, and so no owner this can match.
 */
static bool owner_stops(const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomRecord *rec,
	const struct caller_id *caller)
{
	struct caller_id owner;

	if (def->owner_may_not_stop || !rec->owner || !rec->owner_ca || !*rec->owner_ca)
		return false;
	caller_id_set(&owner, rec->owner, rec->owner_ca);
	return caller_id_equal(&owner, caller);
}

/*
 * The caller as this room knows them: a participant whose certificate
 * chains to the authority the room assigns to that participant: the
 * certificates of one of the room's CA files, or this dcrd's platform CA.
 * A certificate from any other CA the room names does not do, so one
 * organisation's CA cannot vouch for another's people. Anyone else is told
 * the room does not exist, so rooms do not leak to outsiders. issuer: the
 * hex SHA-256 of the root the chain verified to; ca (if not NULL): a copy
 * of that root.
 */
static int member(const Dcr__V1__RoomDefinition *def, const char *id, const struct dcr_call_request *req,
	const Dcr__V1__Participant **out, char issuer[static 65], struct verified_ca *ca, struct dcr_err *err)
{
	const Dcr__V1__Authentication *auth = def->authentication;
	const uint8_t *roots[MAX_ROOTS + 1];
	uint8_t fp[DCR_SHA256_LEN], digest[DCR_SHA256_LEN];
	size_t lens[MAX_ROOTS + 1], n = 0;
	struct dcr_err why;

	*out = participant(def, req->email);
	/* One message for every outsider, so it tells nothing about the room. */
	if (!*out)
		return dcr_err_set(err, DCR_ENOTFOUND, "no room %s for %s", id, req->email);
	for (size_t i = 0; auth && i < (*out)->n_cas && n < MAX_ROOTS; i++) {
		if ((*out)->cas[i] >= auth->n_ca_certificates)
			continue;
		roots[n] = auth->ca_certificates[(*out)->cas[i]].data;
		lens[n++] = auth->ca_certificates[(*out)->cas[i]].len;
	}
	if ((*out)->platform && (roots[n] = platform_ca(&lens[n])))
		n++;
	if (n == 0 || dcr_call_verify_chain(req, roots, lens, n, clock_now(), fp, &why) < 0)
		return dcr_err_set(err, DCR_ENOTFOUND, "no room %s for %s", id, req->email);
	dcr_hex(fp, sizeof(fp), issuer);
	for (size_t i = 0; ca && i < n; i++)
		if (dcr_sha256(roots[i], lens[i], digest, NULL) == 0 && dcr_ct_equal(digest, fp, sizeof(fp)))
			return verified_ca_set(ca, roots[i], lens[i], err);
	if (ca)
		return dcr_err_set(err, DCR_EFAIL, "the root a chain verified to is none of those it was given");
	return 0;
}

int denied(const char *email, const char *what, const char *id, struct dcr_err *err)
{
	return dcr_err_set(err, DCR_EDENIED, "%s lacks permission '%s' in room %s", email, what, id);
}

/* Whether some room accepts the caller's certificate (for uploads, which belong to no room yet). */
struct known {
	const struct dcr_call_request *req;
	struct verified_ca *ca;
};

static int known_in(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec)
{
	struct known *k = ctx;
	Dcr__V1__RoomDefinition *def = dcr__v1__room_definition__unpack(NULL, rec->definition.len, rec->definition.data);
	const Dcr__V1__Participant *p;
	struct dcr_err ignored;
	char issuer[65];

	if (def)
		member(def, id, k->req, &p, issuer, k->ca, &ignored);
	dcr__v1__room_definition__free_unpacked(def, NULL);
	return k->ca->der != NULL;
}

/* ---- the audit entry of a call ---- */

void note_object(struct audit_note *n, const char *fmt, ...)
{
	va_list ap;

	if (!n)
		return;
	va_start(ap, fmt);
	vsnprintf(n->object, sizeof(n->object), fmt, ap);
	va_end(ap);
}

void note_fact(struct audit_note *n, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (!n || n->n_facts == AUDIT_NOTE_FACTS)
		return;
	snprintf(n->facts[n->n_facts].key, sizeof(n->facts[0].key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(n->facts[n->n_facts].value, sizeof(n->facts[0].value), fmt, ap);
	va_end(ap);
	n->n_facts++;
}

/* Strings an entry is made of, copied and made valid UTF-8 (protobuf strings must be), freed together. */
struct entry_text {
	char **items;
	size_t n;
};

static char *text(struct entry_text *t, const char *s)
{
	char *c = strdup(s ? s : "");

	if (c)
		dcr_utf8_repair(c);
	t->items[t->n++] = c;
	return c;
}

int audit_record(struct state *s, const char *room_id, const char *caller, const char *action, const char *outcome,
	const char *detail, const struct audit_note *note, struct dcr_err *err)
{
	Dcr__V1__AuditEntry entry = DCR__V1__AUDIT_ENTRY__INIT;
	size_t n = note ? note->n_facts + note->n_more : 0;
	Dcr__V1__Fact *facts = calloc(n ? n : 1, sizeof(*facts)), **fp = calloc(n ? n : 1, sizeof(*fp));
	struct entry_text t = { calloc(6 + 2 * n, sizeof(char *)), 0 };
	struct dcr_merkle_frontier f;
	uint8_t salt[AUDIT_SALT_LEN], *buf = NULL;
	size_t len;
	bool ok;
	int r;

	if (!facts || !fp || !t.items) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	/* The leaf hash is stored in the clear: without the salt it would confirm a guessed entry. */
	if ((r = dcr_random(salt, sizeof(salt), err)) < 0)
		goto out;
	entry.salt = (ProtobufCBinaryData){ sizeof(salt), salt };
	entry.time_ms = dcr_now_ms();
	/*
	 * Callers name objects, and messages quote them, cut to a length that
	 * may fall inside a character: an entry holds UTF-8 only, which every
	 * proto3 decoder wants of a string.
	 */
	entry.caller = text(&t, caller);
	entry.action = text(&t, action);
	entry.object = text(&t, note && note->object[0] ? note->object : room_id);
	entry.outcome = text(&t, outcome);
	entry.detail = text(&t, detail);
	entry.issuer = text(&t, note ? note->issuer : "");
	for (size_t i = 0; i < n; i++) {
		const struct audit_fact *fact = i < note->n_facts ? &note->facts[i] : &note->more[i - note->n_facts];

		dcr__v1__fact__init(&facts[i]);
		facts[i].key = text(&t, fact->key);
		facts[i].value = text(&t, fact->value);
		fp[i] = &facts[i];
	}
	ok = true;
	for (size_t i = 0; i < t.n; i++)
		ok &= t.items[i] != NULL;
	if (!ok) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	entry.facts = fp;
	entry.n_facts = n;
	len = dcr__v1__audit_entry__get_packed_size(&entry);
	if (!(buf = malloc(len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__audit_entry__pack(&entry, buf);
	r = state_audit_append(s, room_id, buf, len, &f, err);
out:
	for (size_t i = 0; i < t.n; i++)
		free(t.items[i]);
	free(t.items);
	free(buf);
	free(facts);
	free(fp);
	return r;
}

/* ---- nodes, computations, lists ---- */

const Dcr__V1__DataNode *room_data_node(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_data; i++)
		if (strcmp(def->data[i]->name, name) == 0)
			return def->data[i];
	return NULL;
}

const Dcr__V1__Computation *room_computation(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, name) == 0)
			return def->compute[i];
	return NULL;
}

int room_no_such(const Dcr__V1__RoomDefinition *def, const char *room_id, bool data, const char *name,
	struct dcr_err *err)
{
	const char *names[257];
	size_t n = 0, count = data ? def->n_data : def->n_compute;
	char hint[128];

	for (size_t i = 0; i < count && n < 256; i++)
		names[n++] = data ? def->data[i]->name : def->compute[i]->name;
	names[n] = NULL;
	return dcr_err_set(err, DCR_ENOTFOUND, "room %s has no %s '%s'%s", room_id, data ? "data node" : "computation",
		name, dcr_hint_phrase(dcr_suggest(name, names), hint, sizeof(hint)));
}

int msg_list_add(struct msg_list *l, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *grown = realloc(l->items, cap * sizeof(*l->items));

		if (!grown)
			return DCR_ENOMEM;
		l->items = grown;
		l->cap = cap;
	}
	if (!(buf = malloc(len ? len : 1)))
		return DCR_ENOMEM;
	len = protobuf_c_message_pack(msg, buf);
	l->items[l->n] = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
	/* Records can hold keys. */
	dcr_wipe(buf, len);
	free(buf);
	if (!l->items[l->n])
		return DCR_ENOMEM;
	l->n++;
	return 0;
}

void msg_list_free(struct msg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		protobuf_c_message_free_unpacked(l->items[i], NULL);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* ---- answers ---- */

int pack_answer(const ProtobufCMessage *msg, uint8_t **out, size_t *len, struct dcr_err *err)
{
	*len = protobuf_c_message_get_packed_size(msg);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	protobuf_c_message_pack(msg, *out);
	return 0;
}

/* A summary pointing into def and rec; valid as long as they are. */
static void summarise(const char *id, const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomRecord *rec,
	Dcr__V1__RoomSummary *s)
{
	dcr__v1__room_summary__init(s);
	s->room_id = (char *)id;
	s->name = def->name;
	s->description = def->description;
	s->status = rec->status;
	s->owner = rec->owner;
	if (def->enclave) {
		s->enclave_spec = def->enclave->name;
		s->measurement = def->enclave->measurement;
	}
	s->created_ms = rec->created_ms;
	s->stopped_ms = rec->stopped_ms;
	s->stopped_by = rec->stopped_by;
}

/* ---- room.create ---- */

static int by_path(const void *a, const void *b)
{
	return strcmp((*(Dcr__V1__NamedFile *const *)a)->path, (*(Dcr__V1__NamedFile *const *)b)->path);
}

/*
 * What room.source will show: the YAML and the files the definition read
 * (for a path sent twice, the first, which is the one read), sorted by
 * path. A copy, so it outlives the request.
 */
static int bundle_source(const Dcr__V1__CreateRoomRequest *cr, const struct dcr_room_memfiles *m,
	Dcr__V1__RoomSource **out, struct dcr_err *err)
{
	Dcr__V1__RoomSource src = DCR__V1__ROOM_SOURCE__INIT;
	Dcr__V1__NamedFile *files[MAX_FILES];
	uint8_t *packed;
	size_t len;

	src.file_name = cr->file_name;
	src.yaml = cr->yaml;
	src.files = files;
	for (size_t i = 0; i < m->n; i++)
		if (m->files[i].used)
			files[src.n_files++] = cr->files[i];
	qsort(files, src.n_files, sizeof(*files), by_path);
	/* Packed and unpacked: one allocation tree that dcr__v1__room_source__free_unpacked frees. */
	len = dcr__v1__room_source__get_packed_size(&src);
	if (!(packed = malloc(len ? len : 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	dcr__v1__room_source__pack(&src, packed);
	*out = dcr__v1__room_source__unpack(NULL, len, packed);
	free(packed);
	return *out ? 0 : dcr_err_set(err, DCR_ENOMEM, "out of memory");
}

/* Why participant p's certificate did not do: which authority the room assigns to p. */
static int not_certified(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, struct dcr_err *err)
{
	const Dcr__V1__Authentication *auth = def->authentication;
	uint8_t fp[DCR_SHA256_LEN];
	char hex[65];

	if (p->platform)
		return dcr_err_set(err, DCR_EDENIED, "%s: the certificate does not chain to this dcrd's platform CA, which the "
						     "room assigns to this address (see dcr auth login)", p->email);
	if (!auth || p->n_cas == 0 || p->cas[0] >= auth->n_ca_certificates ||
	    dcr_sha256(auth->ca_certificates[p->cas[0]].data, auth->ca_certificates[p->cas[0]].len, fp, err) < 0)
		return dcr_err_set(err, DCR_EDENIED, "%s: no CA of the room certifies this address", p->email);
	dcr_hex(fp, sizeof(fp), hex);
	if (p->n_cas > 1)
		return dcr_err_set(err, DCR_EDENIED, "%s: the certificate does not chain to the CA the room assigns to this "
						     "address (SHA-256 %s, or one of the %zu others in its file)", p->email, hex, p->n_cas - 1);
	return dcr_err_set(err, DCR_EDENIED, "%s: the certificate does not chain to the CA the room assigns to this "
					     "address (SHA-256 %s)", p->email, hex);
}

/*
 * room.create, without the call lock: whether this caller may create rooms
 * now, then the definition validated and compiled against this enclave's
 * own spec, and the creator checked as a participant certified by the
 * authority the room assigns. Slow work, but nobody else waits for it.
 */
static int room_create_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err)
{
	Dcr__V1__CreateRoomRequest *cr = dcr__v1__create_room_request__unpack(NULL, req->body_len, req->body);
	struct dcr_spec self = { 0 };
	struct dcr_specs specs = { 1, &self };
	struct dcr_room_memfile sent[MAX_FILES];
	/* Files the definition names come from what the creator sent, never from the host's disk. */
	struct dcr_room_memfiles bundle = { sent, 0, "was not sent with the definition" };
	/* Programs are looked up in the sandbox's image only where there is one: else python is refused below. */
	struct dcr_room_files files = { .read = dcr_room_read_memory, .ctx = &bundle,
		.program = sandbox_report()->available ? sandbox_program : NULL };
	const Dcr__V1__Participant *p;
	struct dcr_room *room = NULL;
	bool validating = false;
	int r;

	if (!cr || cr->n_files > MAX_FILES || !cr->enclave || !*cr->file_name) {
		r = dcr_err_set(err, DCR_EINVALID, "malformed room.create request");
		goto out;
	}
	for (size_t i = 0; i < cr->n_files; i++)
		sent[bundle.n++] = (struct dcr_room_memfile){ cr->files[i]->path, cr->files[i]->content.data,
			cr->files[i]->content.len, false };
	/* Before any work the definition asks for: who may create, and how often. */
	if (svc->creators && ((r = creators_admit(svc->creators, req, err)) < 0 ||
				     (r = creators_begin_validation(svc->creators, err)) < 0))
		goto out;
	validating = svc->creators != NULL;
	/*
	 * The only enclave this dcrd can vouch for is itself: the creator's
	 * spec must describe this enclave, and the definition is compiled
	 * against it, so the ID the enclave computes covers the same spec.
	 */
	if ((r = dcr_room_spec_from_proto(cr->enclave, &self, err)) < 0)
		goto out;
	if ((r = enclave_matches_spec(svc->enclave, &self, err)) < 0) {
		dcr_err_prefix(err, "the definition does not pin this dcrd");
		goto out;
	}
	if ((r = dcr_room_parse_files(cr->file_name, (const uint8_t *)cr->yaml, strlen(cr->yaml), &files, &specs,
		     cr->salt, &room, err)) < 0)
		goto out;
	if (strcmp(dcr_room_id(room), cr->expected_room_id) != 0) {
		r = dcr_err_set(err, DCR_EINTEGRITY,
			"the definition compiles to room %s here, %s for you (with enclave spec '%s' on both sides: the "
			"files sent or the dcr and dcrd versions differ)", dcr_room_id(room), cr->expected_room_id,
			self.name);
		goto out;
	}
	if ((r = member(dcr_room_definition(room), dcr_room_id(room), req, &p, prep->issuer, NULL, err)) < 0) {
		if (!(p = participant(dcr_room_definition(room), req->email)))
			r = dcr_err_set(err, DCR_EDENIED, "%s is not a participant of the room and may not create it",
				req->email);
		else
			r = not_certified(dcr_room_definition(room), p, err);
		goto out;
	}
	/* Python computations this dcrd cannot run as they ask (SGX, the operator's limits). */
	if ((r = py_check_room(dcr_room_definition(room), svc->job_bounds, svc->enclave->opt.kind->python_refused,
		     DCR_EINVALID, err)) < 0)
		goto out;
	if ((r = bundle_source(cr, &bundle, &prep->source, err)) < 0)
		goto out;
	prep->room = room;
	room = NULL;
out:
	if (validating)
		creators_end_validation(svc->creators);
	dcr_room_free(room);
	dcr__v1__create_room_request__free_unpacked(cr, NULL);
	return r;
}

/* room.create, under the call lock: store the room prepared above. */
static int room_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	Dcr__V1__CreateRoomResponse resp = DCR__V1__CREATE_ROOM_RESPONSE__INIT;
	Dcr__V1__RoomRecord rec = DCR__V1__ROOM_RECORD__INIT;
	const struct dcr_room *room = svc->prep ? svc->prep->room : NULL;
	struct caller_id creator;
	const uint8_t *enc;
	size_t enc_len;
	int r;

	if (!room)
		return dcr_err_set(err, DCR_EFAIL, "room.create was not prepared");
	if (svc->note)
		memcpy(svc->note->issuer, svc->prep->issuer, sizeof(svc->note->issuer));
	caller_id_set(&creator, req->email, svc->prep->issuer);
	enc = dcr_room_encoding(room, &enc_len);
	/* A room takes state.db's space, which the floor is there to keep: not below it. */
	if ((svc->creators && (r = creators_admit_room(svc->creators, &creator, err)) < 0) ||
	    (r = storage_room_for(svc, "a room",
		     enc_len + (svc->prep->source ? dcr__v1__room_source__get_packed_size(svc->prep->source) : 0), err)) < 0)
		return r;
	rec.source = svc->prep->source;
	rec.definition = (ProtobufCBinaryData){ enc_len, (uint8_t *)enc };
	rec.status = DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE;
	rec.owner = (char *)req->email;
	rec.owner_ca = creator.ca;
	rec.created_ms = dcr_now_ms();
	r = state_put_room(svc->state, dcr_room_id(room), &rec, 1, err);
	/* Created now, or there already: either way the room's log records the attempt. */
	if (r == 0 || r == DCR_EEXIST)
		memcpy(room_id, dcr_room_id(room), 65);
	if (r < 0)
		return r;
	/* Counted at once: should the call not commit after all, it counts until dcrd restarts. */
	if (svc->creators)
		creators_room_stored(svc->creators, &creator);
	resp.room_id = (char *)dcr_room_id(room);
	return pack_answer(&resp.base, out, out_len, err);
}

/* ---- room.list ---- */

struct listing {
	const struct dcr_call_request *req;
	Dcr__V1__ListRoomsResponse resp;
	Dcr__V1__RoomSummary **items;
	Dcr__V1__RoomRecord **records;
	Dcr__V1__RoomDefinition **defs;
	char **ids;
	size_t cap;
};

static int list_one(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec)
{
	struct listing *l = ctx;
	Dcr__V1__RoomDefinition *def = dcr__v1__room_definition__unpack(NULL, rec->definition.len, rec->definition.data);
	const Dcr__V1__Participant *p;
	struct dcr_err ignored;
	size_t n = l->resp.n_rooms;
	char issuer[65];

	if (!def)
		return 0;
	if (member(def, id, l->req, &p, issuer, NULL, &ignored) < 0) {
		dcr__v1__room_definition__free_unpacked(def, NULL);
		return 0;
	}
	if (n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *a = realloc(l->items, cap * sizeof(*l->items)), *b, *c, *d;

		if (a)
			l->items = a;
		b = a ? realloc(l->records, cap * sizeof(*l->records)) : NULL;
		if (b)
			l->records = b;
		c = b ? realloc(l->defs, cap * sizeof(*l->defs)) : NULL;
		if (c)
			l->defs = c;
		d = c ? realloc(l->ids, cap * sizeof(*l->ids)) : NULL;
		if (d)
			l->ids = d;
		if (!d) {
			dcr__v1__room_definition__free_unpacked(def, NULL);
			return DCR_ENOMEM;
		}
		l->cap = cap;
	}
	/* The record goes away after this call: keep our own copy. */
	{
		size_t len = protobuf_c_message_get_packed_size(&rec->base);
		uint8_t *buf = malloc(len ? len : 1);

		if (buf)
			protobuf_c_message_pack(&rec->base, buf);
		l->records[n] = buf ? dcr__v1__room_record__unpack(NULL, len, buf) : NULL;
		free(buf);
	}
	l->ids[n] = strdup(id);
	l->items[n] = malloc(sizeof(**l->items));
	if (!l->records[n] || !l->ids[n] || !l->items[n]) {
		dcr__v1__room_record__free_unpacked(l->records[n], NULL);
		free(l->ids[n]);
		free(l->items[n]);
		dcr__v1__room_definition__free_unpacked(def, NULL);
		return DCR_ENOMEM;
	}
	l->defs[n] = def;
	summarise(l->ids[n], def, l->records[n], l->items[n]);
	l->resp.n_rooms = n + 1;
	return 0;
}

/* The rooms that accept the caller, read from s. */
static int room_list(struct state *s, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	struct listing l = { .req = req };
	int r;

	dcr__v1__list_rooms_response__init(&l.resp);
	r = state_each_room(s, list_one, &l, err);
	if (r == DCR_ENOMEM)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r == 0) {
		l.resp.rooms = l.items;
		r = pack_answer(&l.resp.base, out, out_len, err);
	}
	for (size_t i = 0; i < l.resp.n_rooms; i++) {
		dcr__v1__room_definition__free_unpacked(l.defs[i], NULL);
		dcr__v1__room_record__free_unpacked(l.records[i], NULL);
		free(l.ids[i]);
		free(l.items[i]);
	}
	free(l.items);
	free(l.records);
	free(l.defs);
	free(l.ids);
	return r;
}

/* ---- room.get, room.status, room.stop ---- */

bool valid_id(const char *id)
{
	uint8_t raw[32];

	return id && dcr_unhex(id, raw, sizeof(raw)) == 0 && strspn(id, "0123456789abcdef") == 64;
}

int audit_head(struct service *svc, const char *room_id, Dcr__V1__SignedTreeHead *sth, uint8_t sig[static 64],
	struct dcr_merkle_frontier *f, struct dcr_err *err)
{
	struct dcr_tree_head head = { 0 };
	int r;

	if ((r = state_audit_frontier(svc->state, room_id, f, err)) < 0 ||
	    (r = dcr_merkle_frontier_root(f, head.root, err)) < 0)
		return r;
	memcpy(head.room_id, room_id, 65);
	head.size = f->size;
	head.time_ms = dcr_now_ms();
	return dcr_audit_sign_head(svc->enclave->sign_sk, &head, sth, sig, err);
}

/* audit.get: the log as it stands before this call's own entry, with its signed head. */
static int audit_get(struct service *svc, const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__AuditLog log = DCR__V1__AUDIT_LOG__INIT;
	Dcr__V1__SignedTreeHead sth;
	struct dcr_merkle_frontier f;
	ProtobufCBinaryData *entries = NULL;
	uint8_t sig[64];
	int r;

	if ((r = audit_head(svc, room_id, &sth, sig, &f, err)) < 0)
		return r;
	if ((r = state_audit_entries(svc->state, room_id, f.size, &entries, err)) == 0) {
		log.head = &sth;
		log.entries = entries;
		log.n_entries = f.size;
		r = pack_answer(&log.base, out, out_len, err);
		state_audit_entries_free(entries, f.size);
	}
	free(sth.head.data);
	return r;
}

int room_enter(struct service *svc, const struct dcr_call_request *req, const char *id, struct room_ctx *rc,
	char room_id[static 65], struct dcr_err *err)
{
	char issuer[65];
	int r;

	memset(rc, 0, sizeof(*rc));
	if (!valid_id(id))
		return dcr_err_set(err, DCR_EINVALID, "a room ID is 64 lowercase hex digits");
	if ((r = state_get_room(svc->state, id, &rc->rec, err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(err, DCR_ENOTFOUND, "no room %s for %s", id, req->email);
		return r;
	}
	rc->def = dcr__v1__room_definition__unpack(NULL, rc->rec->definition.len, rc->rec->definition.data);
	if (!rc->def) {
		room_leave(rc);
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: the stored definition is malformed", id);
	}
	if ((r = member(rc->def, id, req, &rc->p, issuer, NULL, err)) < 0) {
		room_leave(rc);
		return r;
	}
	if (svc->note)
		memcpy(svc->note->issuer, issuer, sizeof(issuer));
	caller_id_set(&rc->caller, req->email, issuer);
	/*
	 * A participant with an accepted certificate: whatever happens next goes
	 * into the room's log. Outsiders are not logged: their e-mail is not
	 * authenticated, and their calls must not grow the log.
	 */
	memcpy(room_id, id, 65);
	return 0;
}

void room_leave(struct room_ctx *rc)
{
	dcr__v1__room_definition__free_unpacked(rc->def, NULL);
	dcr__v1__room_record__free_unpacked(rc->rec, NULL);
	memset(rc, 0, sizeof(*rc));
}

/* The root that vouches for the caller: the platform CA, or a CA a room in s assigns to its address. */
static void known_to(struct state *s, const struct dcr_call_request *req, struct verified_ca *ca)
{
	struct known k = { req, ca };
	const uint8_t *platform;
	size_t len;
	struct dcr_err ignored;

	memset(ca, 0, sizeof(*ca));
	if ((platform = platform_ca(&len)) &&
	    dcr_call_verify_chain(req, &platform, &len, 1, clock_now(), NULL, &ignored) == 0) {
		verified_ca_set(ca, platform, len, &ignored);
		return;
	}
	state_each_room(s, known_in, &k, &ignored);
}

bool caller_ca(struct service *svc, const struct dcr_call_request *req, struct verified_ca *ca)
{
	struct dcr_err ignored;

	memset(ca, 0, sizeof(*ca));
	if (svc->prep && svc->prep->known >= 0)
		return svc->prep->ca.der && verified_ca_set(ca, svc->prep->ca.der, svc->prep->ca.len, &ignored) == 0;
	known_to(svc->state, req, ca);
	return ca->der != NULL;
}

/* ---- the work before the call lock ---- */

int rooms_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err)
{
	int r = 0;

	memset(prep, 0, sizeof(*prep));
	prep->known = -1;
	if (strcmp(req->method, "room.create") == 0)
		return room_create_prepare(svc, req, prep, err);
	if (strcmp(req->method, "dataset.publish") == 0)
		return dataset_publish_prepare(svc, req, prep);
	/* Reads of every room: any caller can ask for them, so they wait only for each other. */
	if (!svc->reader)
		return 0;
	if (strcmp(req->method, "dataset.create") == 0) {
		pthread_mutex_lock(svc->reader_lock);
		known_to(svc->reader, req, &prep->ca);
		prep->known = prep->ca.der != NULL;
		pthread_mutex_unlock(svc->reader_lock);
	} else if (strcmp(req->method, "room.list") == 0) {
		pthread_mutex_lock(svc->reader_lock);
		r = room_list(svc->reader, req, &prep->answer, &prep->answer_len, err);
		pthread_mutex_unlock(svc->reader_lock);
	}
	return r;
}

void call_prep_release(struct call_prep *prep)
{
	if (!prep)
		return;
	dcr_room_free(prep->room);
	dcr__v1__room_source__free_unpacked(prep->source, NULL);
	verified_ca_release(&prep->ca);
	free(prep->answer);
	memset(prep, 0, sizeof(*prep));
}

/* room.list under the call lock: the answer rooms_prepare read, or a fresh one. */
static int room_list_answer(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	if (!svc->prep || !svc->prep->answer)
		return room_list(svc->state, req, out, out_len, err);
	if (!(*out = malloc(svc->prep->answer_len ? svc->prep->answer_len : 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (svc->prep->answer_len)
		memcpy(*out, svc->prep->answer, svc->prep->answer_len);
	*out_len = svc->prep->answer_len;
	return 0;
}

static int room_scoped(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	Dcr__V1__RoomRef *ref = dcr__v1__room_ref__unpack(NULL, req->body_len, req->body);
	struct room_ctx rc = { 0 };
	Dcr__V1__RoomRecord *rec;
	Dcr__V1__RoomDefinition *def;
	Dcr__V1__RoomSummary summary;
	const Dcr__V1__Participant *p;
	int r;

	if (!ref) {
		r = dcr_err_set(err, DCR_EINVALID, "malformed %s request", req->method);
		goto out;
	}
	if ((r = room_enter(svc, req, ref->room_id, &rc, room_id, err)) < 0)
		goto out;
	rec = rc.rec;
	def = rc.def;
	p = rc.p;
	if (strcmp(req->method, "dataset.list") == 0) {
		r = datasets_list(svc, req, &rc, ref->room_id, out, out_len, err);
		goto out;
	}
	if (strcmp(req->method, "job.list") == 0) {
		r = jobs_list(svc, req, &rc, ref->room_id, out, out_len, err);
		goto out;
	}
	if (strcmp(req->method, "room.get") == 0) {
		Dcr__V1__GetRoomResponse resp = DCR__V1__GET_ROOM_RESPONSE__INIT;

		if (!may(def, p, DCR__V1__ACTION__ACTION_READ_DEFINITION, NULL)) {
			r = denied(req->email, "read-definition", ref->room_id, err);
			goto out;
		}
		summarise(ref->room_id, def, rec, &summary);
		resp.summary = &summary;
		resp.definition = rec->definition;
		r = pack_answer(&resp.base, out, out_len, err);
		goto out;
	}
	if (strcmp(req->method, "room.source") == 0) {
		Dcr__V1__GetRoomSourceResponse resp = DCR__V1__GET_ROOM_SOURCE_RESPONSE__INIT;

		if (!may(def, p, DCR__V1__ACTION__ACTION_READ_DEFINITION, NULL)) {
			r = denied(req->email, "read-definition", ref->room_id, err);
			goto out;
		}
		resp.definition = rec->definition;
		resp.source = rec->source;
		r = pack_answer(&resp.base, out, out_len, err);
		goto out;
	}
	if (strcmp(req->method, "audit.get") == 0) {
		if (!may(def, p, DCR__V1__ACTION__ACTION_READ_AUDIT, NULL)) {
			r = denied(req->email, "read-audit", ref->room_id, err);
			goto out;
		}
		r = audit_get(svc, ref->room_id, out, out_len, err);
		goto out;
	}
	if (strcmp(req->method, "room.stop") == 0) {
		if (!may(def, p, DCR__V1__ACTION__ACTION_STOP, NULL) && !owner_stops(def, rec, &rc.caller)) {
			r = denied(req->email, "stop", ref->room_id, err);
			goto out;
		}
		/* Stopped is final: a second stop changes nothing. */
		if (rec->status != DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED) {
			rec->status = DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED;
			rec->stopped_ms = dcr_now_ms();
			rec->stopped_by = (char *)req->email;
			r = state_put_room(svc->state, ref->room_id, rec, 0, err);
			rec->stopped_by = NULL;
			if (r < 0)
				goto out;
			/* Re-read so the answer shows what is stored. */
			dcr__v1__room_record__free_unpacked(rc.rec, NULL);
			rc.rec = rec = NULL;
			if ((r = state_get_room(svc->state, ref->room_id, &rc.rec, err)) < 0)
				goto out;
			rec = rc.rec;
		}
	} else if (!may(def, p, DCR__V1__ACTION__ACTION_READ_STATUS, NULL)) {
		r = denied(req->email, "read-status", ref->room_id, err);
		goto out;
	}
	{
		Dcr__V1__StatusResponse resp = DCR__V1__STATUS_RESPONSE__INIT;

		summarise(ref->room_id, def, rec, &summary);
		resp.summary = &summary;
		r = pack_answer(&resp.base, out, out_len, err);
	}
out:
	room_leave(&rc);
	dcr__v1__room_ref__free_unpacked(ref, NULL);
	return r;
}

int rooms_call(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	*out = NULL;
	*out_len = 0;
	room_id[0] = '\0';
	if (strcmp(req->method, DCR_CALL_LOGIN) == 0)
		return platform_login(svc, req, out, out_len, err);
	if (strcmp(req->method, "room.create") == 0)
		return room_create(svc, req, out, out_len, room_id, err);
	if (strcmp(req->method, "room.list") == 0)
		return room_list_answer(svc, req, out, out_len, err);
	if (strcmp(req->method, "room.get") == 0 || strcmp(req->method, "room.source") == 0 ||
	    strcmp(req->method, "room.status") == 0 ||
	    strcmp(req->method, "room.stop") == 0 || strcmp(req->method, "audit.get") == 0 ||
	    strcmp(req->method, "dataset.list") == 0 || strcmp(req->method, "job.list") == 0)
		return room_scoped(svc, req, out, out_len, room_id, err);
	if (strcmp(req->method, "dataset.create") == 0)
		return dataset_create(svc, req, out, out_len, err);
	if (strcmp(req->method, "dataset.delete") == 0)
		return dataset_delete(svc, req, out, out_len, err);
	if (strcmp(req->method, "dataset.publish") == 0)
		return dataset_publish(svc, req, out, out_len, room_id, err);
	if (strcmp(req->method, "job.run") == 0)
		return job_run(svc, req, out, out_len, room_id, err);
	if (strcmp(req->method, "job.get") == 0 || strcmp(req->method, "job.fetch") == 0)
		return job_get(svc, req, out, out_len, room_id, err);
	return dcr_err_set(err, DCR_EINVALID, "unknown method '%.64s'", req->method);
}
