/* The methods of POST /v1/call: one table gives each its handlers and the permission it needs, and dispatches them. */
#define _GNU_SOURCE /* gettid */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dcrd.h"
#include "room.h"

#include "banned.h"

/*
 * A method. prepare (may be NULL) runs before the call lock is taken,
 * for work nobody else should wait for; a refusal there is the answer and
 * nothing changes. Then, under the lock, either run, or for a method on
 * a room named by a RoomRef, in_room: the dispatcher enters the room
 * (room_enter: outsiders are told there is no such room) and, if needs is
 * set, refuses a caller without that permission before the handler runs.
 * needs is 0 where the permission depends on the object (a node, a
 * computation) or on more than one permission: the handler checks it.
 * bulk: prepare is CPU work proportional to what the caller sent or
 * stored (a definition validated, a dataset decrypted and checked): serve.c
 * runs it in a thread of its own at a lower CPU priority, with the
 * connection suspended, so that the HTTP thread serves other connections
 * meanwhile.
 */
struct method {
	const char *name;
	int (*prepare)(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
		struct dcr_err *err);
	int (*run)(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
		char room_id[static 65], struct dcr_err *err);
	int (*in_room)(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
		const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err);
	Dcr__V1__Action needs;
	const char *needs_name;    /* as dcr-room(5) spells it, for the refusal */
	bool bulk;
};

static int login(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	return platform_login(svc, req, out, out_len, err);
}

#define NEEDS(action, name) .needs = DCR__V1__ACTION__ACTION_##action, .needs_name = name

static const struct method methods[] = {
	{ DCR_CALL_LOGIN, .run = login },
	{ "room.create", .prepare = room_create_prepare, .run = room_create, .bulk = true },
	{ "room.list", .prepare = room_list_prepare, .run = room_list_answer },
	{ "room.get", .in_room = room_get, NEEDS(READ_DEFINITION, "read-definition") },
	{ "room.source", .in_room = room_source, NEEDS(READ_DEFINITION, "read-definition") },
	{ "room.status", .in_room = room_status, NEEDS(READ_STATUS, "read-status") },
	{ "room.stop", .in_room = room_stop },                 /* stop, or the owner's right */
	{ "audit.get", .prepare = audit_get_prepare, .in_room = room_audit, NEEDS(READ_AUDIT, "read-audit") },
	{ "dataset.create", .prepare = dataset_create_prepare, .run = dataset_create },
	{ "dataset.delete", .run = dataset_delete },           /* its uploader only */
	{ "dataset.publish", .prepare = dataset_publish_prepare, .run = dataset_publish, .bulk = true }, /* upload NODE */
	{ "dataset.list", .in_room = datasets_list, NEEDS(LIST_DATASETS, "list-datasets") },
	{ "job.run", .run = job_run },                         /* run COMPUTATION */
	{ "job.get", .run = job_get },                         /* read-status, run or fetch COMPUTATION */
	{ "job.fetch", .run = job_get },                       /* fetch COMPUTATION */
	{ "job.list", .in_room = jobs_list },                  /* read-status, or per computation */
};

static const struct method *method(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

bool calls_bulk(const char *name)
{
	const struct method *m = method(name);

	return m && m->bulk;
}

/*
 * How much nicer than the calls a bulk preparation runs. It holds no lock,
 * but it takes a core for as long as the data takes (a 256 MiB publish:
 * seconds): with two cores and other work, a status call then waits for
 * the CPU. At nice +10 the check gets about a tenth of a core that a call
 * also wants, and all of it otherwise.
 */
#define BULK_NICE 10

void calls_bulk_priority(void)
{
	id_t self = (id_t)gettid();
	int nice;

	errno = 0;
	nice = getpriority(PRIO_PROCESS, self);
	if (errno == 0 && nice < 19)
		setpriority(PRIO_PROCESS, self, nice + BULK_NICE < 19 ? nice + BULK_NICE : 19);
}

/*
 * What a preparation reads through svc->reader may be committed and not
 * yet on disk (group commit): it is answered only by the call, which then
 * takes the lock and releases it with state_unlock. Never answer from it
 * directly.
 */
int calls_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err)
{
	const struct method *m = method(req->method);

	memset(prep, 0, sizeof(*prep));
	prep->known = -1;
	/* An unknown method is refused under the lock, as any call: its nonce is spent all the same. */
	return m && m->prepare ? m->prepare(svc, req, prep, err) : 0;
}

void call_prep_release(struct call_prep *prep)
{
	if (!prep)
		return;
	dcr_room_free(prep->room);
	dcr__v1__room_source__free_unpacked(prep->source, NULL);
	verified_ca_release(&prep->ca);
	free(prep->answer);
	state_audit_entries_free(prep->audit, prep->audit_n);
	memset(prep, 0, sizeof(*prep));
}

static int in_room(struct service *svc, const struct dcr_call_request *req, const struct method *m, uint8_t **out,
	size_t *out_len, char room_id[static 65], struct dcr_err *err)
{
	Dcr__V1__RoomRef *ref = dcr__v1__room_ref__unpack(NULL, req->body_len, req->body);
	struct room_ctx rc = { 0 };
	int r;

	if (!ref)
		return dcr_err_set(err, DCR_EINVALID, "malformed %s request", req->method);
	if ((r = room_enter(svc, req, ref->room_id, &rc, room_id, err)) == 0) {
		if (m->needs && !may(rc.def, rc.p, m->needs, NULL))
			r = denied(req->email, m->needs_name, ref->room_id, err);
		else
			r = m->in_room(svc, req, &rc, ref->room_id, out, out_len, err);
		room_leave(&rc);
	}
	dcr__v1__room_ref__free_unpacked(ref, NULL);
	return r;
}

int calls_run(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	const struct method *m = method(req->method);

	*out = NULL;
	*out_len = 0;
	room_id[0] = '\0';
	if (!m)
		return dcr_err_set(err, DCR_EINVALID, "unknown method '%.64s'", req->method);
	if (m->in_room)
		return in_room(svc, req, m, out, out_len, room_id, err);
	return m->run(svc, req, out, out_len, room_id, err);
}
