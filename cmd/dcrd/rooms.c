/* Room methods of POST /v1/call: create, list, get, source, status, stop, and the audit log (see calls.c). */
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

/*
 * room.create, without the call lock: whether this caller may create rooms
 * now, then the definition validated and compiled against this enclave's
 * own spec, and the creator checked as a participant certified by the
 * authority the room assigns. Slow work, but nobody else waits for it.
 */
int room_create_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
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
	if ((r = room_member(dcr_room_definition(room), dcr_room_id(room), req, &p, prep->issuer, NULL, err)) < 0) {
		if (!(p = room_participant(dcr_room_definition(room), req->email)))
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
	/* DuckDB queries: checked here, where the engine is (dcr only knows its release). */
	if ((r = duck_check_room(dcr_room_definition(room), err)) < 0)
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
int room_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
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
	/* Before the commit: should it fail, the index names a room that is not there, which costs a lookup. */
	if ((r = room_index_add(dcr_room_id(room), dcr_room_definition(room), err)) < 0)
		return r;
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
	if (room_member(def, id, l->req, &p, issuer, NULL, &ignored) < 0) {
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
	r = caller_rooms(s, req->email, true, list_one, &l, err);
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

/* ---- the signed head, audit.get ---- */

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

/*
 * Entries read per page without the call lock: the second connection is
 * held for one page at a time, so the other calls that read through it
 * (room.list, a publish's checks) wait for a page, not for a whole log.
 */
#define AUDIT_PAGE 1024

int audit_get_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *unused)
{
	Dcr__V1__RoomRef *ref = dcr__v1__room_ref__unpack(NULL, req->body_len, req->body);
	struct service reader = *svc;
	struct dcr_merkle_frontier f = { 0 };
	struct room_ctx rc = { 0 };
	ProtobufCBinaryData *items = NULL;
	struct dcr_err err;
	char room_id[65];
	int r = -1;

	/* Whatever is wrong is found again under the lock, and answered there: nothing is read for outsiders. */
	if (!ref || !svc->reader)
		goto out;
	reader.state = svc->reader;
	reader.note = NULL;
	pthread_mutex_lock(svc->reader_lock);
	if ((r = room_enter(&reader, req, ref->room_id, &rc, room_id, &err)) == 0) {
		if (!may(rc.def, rc.p, DCR__V1__ACTION__ACTION_READ_AUDIT, NULL))
			r = -1;
		else
			r = state_audit_frontier(svc->reader, room_id, &f, &err);
		room_leave(&rc);
	}
	pthread_mutex_unlock(svc->reader_lock);
	if (r < 0 || !(items = calloc(f.size ? f.size : 1, sizeof(*items))))
		goto out;
	for (uint64_t from = 0; from < f.size && r == 0; from += AUDIT_PAGE) {
		uint64_t to = f.size - from > AUDIT_PAGE ? from + AUDIT_PAGE : f.size;

		pthread_mutex_lock(svc->reader_lock);
		r = state_audit_entries_range(svc->reader, room_id, from, to, items + from, &err);
		pthread_mutex_unlock(svc->reader_lock);
		if (r < 0)
			state_audit_entries_free(items, from); /* the call reads it all under the lock instead */
	}
	if (r == 0) {
		prep->audit = items;
		prep->audit_n = f.size;
		memcpy(prep->audit_room, room_id, sizeof(prep->audit_room));
	}
out:
	dcr__v1__room_ref__free_unpacked(ref, NULL);
	return 0;
}

/*
 * audit.get: the log as it stands before this call's own entry, with its
 * signed head. Under the lock it reads only the entries appended since
 * audit_get_prepare read the others (the log only grows; should it be
 * shorter now, it is read again whole, and the client judges it).
 */
static int audit_get(struct service *svc, const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__AuditLog log = DCR__V1__AUDIT_LOG__INIT;
	Dcr__V1__SignedTreeHead sth;
	struct dcr_merkle_frontier f;
	ProtobufCBinaryData *entries = NULL;
	const struct call_prep *prep = svc->prep;
	uint64_t have = 0;
	uint8_t sig[64];
	int r;

	if ((r = audit_head(svc, room_id, &sth, sig, &f, err)) < 0)
		return r;
	if (prep && prep->audit && strcmp(prep->audit_room, room_id) == 0 && prep->audit_n <= f.size)
		have = prep->audit_n;
	if (!(entries = calloc(f.size ? f.size : 1, sizeof(*entries)))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	} else if ((r = state_audit_entries_range(svc->state, room_id, have, f.size, entries + have, err)) == 0) {
		/* Borrowed from the preparation, which frees them. */
		if (have)
			memcpy(entries, prep->audit, have * sizeof(*entries));
		log.head = &sth;
		log.entries = entries;
		log.n_entries = f.size;
		r = pack_answer(&log.base, out, out_len, err);
		for (uint64_t i = have; i < f.size; i++)
			free(entries[i].data);
	}
	free(entries);
	free(sth.head.data);
	return r;
}

/* ---- room.list, before and under the call lock ---- */

/* Without the call lock: every room is read through the second connection, so only room.lists wait for it. */
int room_list_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err)
{
	int r;

	if (!svc->reader)
		return 0;
	pthread_mutex_lock(svc->reader_lock);
	r = room_list(svc->reader, req, &prep->answer, &prep->answer_len, err);
	pthread_mutex_unlock(svc->reader_lock);
	return r;
}

/* Under the call lock: the answer room_list_prepare read, or a fresh one. */
int room_list_answer(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
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

/* ---- room.get, room.source, room.status, room.stop, audit.get: entered and permitted by the dispatcher ---- */

int room_get(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__GetRoomResponse resp = DCR__V1__GET_ROOM_RESPONSE__INIT;
	Dcr__V1__RoomSummary summary;

	summarise(room_id, rc->def, rc->rec, &summary);
	resp.summary = &summary;
	resp.definition = rc->rec->definition;
	return pack_answer(&resp.base, out, out_len, err);
}

int room_source(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__GetRoomSourceResponse resp = DCR__V1__GET_ROOM_SOURCE_RESPONSE__INIT;

	resp.definition = rc->rec->definition;
	resp.source = rc->rec->source;
	return pack_answer(&resp.base, out, out_len, err);
}

static int answer_status(const char *room_id, const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomRecord *rec,
	uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__StatusResponse resp = DCR__V1__STATUS_RESPONSE__INIT;
	Dcr__V1__RoomSummary summary;

	summarise(room_id, def, rec, &summary);
	resp.summary = &summary;
	return pack_answer(&resp.base, out, out_len, err);
}

int room_status(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return answer_status(room_id, rc->def, rc->rec, out, out_len, err);
}

/* The stop permission, or the owner's right (owner_may_stop): checked here, not by the dispatcher. */
int room_stop(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__RoomRecord *rec = rc->rec, *stored = NULL;
	struct dcr_err gone;
	int r;

	if (!may(rc->def, rc->p, DCR__V1__ACTION__ACTION_STOP, NULL) && !owner_may_stop(rc->def, rec, &rc->caller))
		return denied(req->email, "stop", room_id, err);
	/* Stopped is final: a second stop changes nothing. */
	if (rec->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED)
		return answer_status(room_id, rc->def, rec, out, out_len, err);
	rec->status = DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED;
	rec->stopped_ms = dcr_now_ms();
	rec->stopped_by = (char *)req->email;
	r = state_put_room(svc->state, room_id, rec, 0, err);
	rec->stopped_by = NULL;
	/* It runs nothing more: the tables its duckdb computations kept go. */
	if (r == 0 && jobs_room_stopped(room_id, &gone) < 0)
		fprintf(stderr, "dcrd: room %s stopped: %s\n", room_id, gone.msg);
	/* Re-read so the answer shows what is stored. */
	if (r == 0 && (r = state_get_room(svc->state, room_id, &stored, err)) == 0)
		r = answer_status(room_id, rc->def, stored, out, out_len, err);
	dcr__v1__room_record__free_unpacked(stored, NULL);
	return r;
}

int room_audit(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	return audit_get(svc, room_id, out, out_len, err);
}
