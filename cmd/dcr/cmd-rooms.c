/* dcr rooms, dcr status, dcr stop: the rooms you take part in, as dcrd's enclave reports them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dcr.h"

#include "util.h"

#include "banned.h"

#define MIN_DESCRIPTION 20

static const char *status_name(Dcr__V1__RoomStatus s)
{
	switch (s) {
	case DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE: return "active";
	case DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED: return "stopped";
	default: return "unknown";
	}
}

/* "dcrd:sim 1a2b3c4d5e6f": the spec name and the start of the measurement it pins. */
static void enclave_text(const Dcr__V1__RoomSummary *r, char *buf, size_t size)
{
	char hex[65] = "";

	if (r->measurement.len == 32)
		dcr_hex(r->measurement.data, 32, hex);
	snprintf(buf, size, "%s%s%.12s", r->enclave_spec, *hex ? " " : "", hex);
}

static json_t *summary_json(const Dcr__V1__RoomSummary *r)
{
	char created[32], stopped[32], hex[65] = "";
	json_t *j;

	time_text(r->created_ms, created);
	time_text(r->stopped_ms, stopped);
	if (r->measurement.len == 32)
		dcr_hex(r->measurement.data, 32, hex);
	j = json_object();
	json_object_set_new(j, "id", json_string(r->room_id));
	json_object_set_new(j, "name", json_string(r->name));
	json_object_set_new(j, "description", json_string(r->description));
	json_object_set_new(j, "status", json_string(status_name(r->status)));
	json_object_set_new(j, "owner", json_string(r->owner));
	json_object_set_new(j, "enclave", json_string(r->enclave_spec));
	json_object_set_new(j, "measurement", *hex ? json_string(hex) : json_null());
	json_object_set_new(j, "created", *created ? json_string(created) : json_null());
	json_object_set_new(j, "stopped", *stopped ? json_string(stopped) : json_null());
	json_object_set_new(j, "stopped_by", *r->stopped_by ? json_string(r->stopped_by) : json_null());
	return j;
}

static int list_rooms(const struct command *cmd, struct cli *cli, struct session *s)
{
	Dcr__V1__ListRoomsResponse *list;
	size_t w_name = 4, w_owner = 5, w_enclave = 7, used, width;
	char enclave[96];
	int r;

	if ((r = session_list_rooms(cmd, s, &list)) != 0)
		return r;
	if (cli->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < list->n_rooms; i++)
			json_array_append_new(a, summary_json(list->rooms[i]));
		r = print_json(cmd, a);
		goto out;
	}
	if (list->n_rooms == 0) {
		printf("(no rooms)\n");
		goto out;
	}
	for (size_t i = 0; i < list->n_rooms; i++) {
		const Dcr__V1__RoomSummary *room = list->rooms[i];
		size_t n;

		enclave_text(room, enclave, sizeof(enclave));
		if ((n = columns_of(room->name)) > w_name)
			w_name = n < 32 ? n : 32;
		if ((n = columns_of(room->owner)) > w_owner)
			w_owner = n < 40 ? n : 40;
		if ((n = columns_of(enclave)) > w_enclave)
			w_enclave = n < 48 ? n : 48;
	}
	used = 64 + 2 + w_name + 2 + 7 + 2 + w_owner + 2 + w_enclave + 2;
	width = terminal_width();
	width = width > used + MIN_DESCRIPTION ? width - used : MIN_DESCRIPTION;
	printf("%-64s  ", "ID");
	put_cell("NAME", w_name, false);
	printf("  %-7s  ", "STATUS");
	put_cell("OWNER", w_owner, false);
	printf("  ");
	put_cell("ENCLAVE", w_enclave, false);
	printf("  DESCRIPTION\n");
	for (size_t i = 0; i < list->n_rooms; i++) {
		const Dcr__V1__RoomSummary *room = list->rooms[i];

		enclave_text(room, enclave, sizeof(enclave));
		put_cell(room->room_id, 64, false);
		printf("  ");
		put_cell(room->name, w_name, false);
		printf("  %-7s  ", status_name(room->status));
		put_cell(room->owner, w_owner, false);
		printf("  ");
		put_cell(enclave, w_enclave, false);
		printf("  ");
		put_cell(room->description, width, true);
		putchar('\n');
	}
out:
	dcr__v1__list_rooms_response__free_unpacked(list, NULL);
	return r;
}

/* Every pointer the summary printers follow is there. */
static bool definition_complete(const Dcr__V1__RoomDefinition *def)
{
	if (!def->enclave || !def->authentication)
		return false;
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];

		if ((d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE && !d->table) ||
		    (d->kind_case == DCR__V1__DATA_NODE__KIND_CODE && !d->code) ||
		    d->kind_case == DCR__V1__DATA_NODE__KIND__NOT_SET)
			return false;
		for (size_t c = 0; d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE && c < d->table->n_columns; c++)
			if (!d->table->columns[c])
				return false;
	}
	for (size_t i = 0; i < def->n_compute; i++) {
		const Dcr__V1__Computation *c = def->compute[i];

		if (!((c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && c->sql) ||
			    (c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON && c->python)))
			return false;
	}
	return true;
}

/* Status line of a room, from its summary. */
static void print_status_line(const Dcr__V1__RoomSummary *r)
{
	bool stopped = r->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED;
	char when[32];

	time_text(stopped ? r->stopped_ms : r->created_ms, when);
	printf("room %s ", r->room_id);
	put_cell(r->name, columns_of(r->name), true);
	printf(": %s (since %s, by ", status_name(r->status), *when ? when : "?");
	put_cell(stopped ? r->stopped_by : r->owner, 254, true);
	printf(")\n");
}

static int show_room(const struct command *cmd, struct cli *cli, struct session *s, const char *id)
{
	Dcr__V1__GetRoomResponse *resp = NULL;
	Dcr__V1__RoomDefinition *def = NULL;
	uint8_t *body, digest[32];
	char hex[65], created[32];
	struct dcr_err err;
	size_t len;
	int r;

	if ((r = session_room_call(cmd, s, "room.get", id, &body, &len)) != 0)
		return r;
	resp = dcr__v1__get_room_response__unpack(NULL, len, body);
	free(body);
	if (!resp || !resp->summary) {
		r = report_malformed(cmd, "answer to room.get");
		goto out;
	}
	/* The ID is the definition's hash: this is the room that was asked for, or it is a lie. */
	dcr_sha256(resp->definition.data, resp->definition.len, digest, NULL);
	dcr_hex(digest, sizeof(digest), hex);
	if (strcmp(hex, id) != 0) {
		dcr_err_set(&err, DCR_EINTEGRITY, "dcrd returned a definition that does not match room ID %s (its "
						  "SHA-256 is %s)", id, hex);
		r = report(cmd, &err);
		goto out;
	}
	def = dcr__v1__room_definition__unpack(NULL, resp->definition.len, resp->definition.data);
	if (!def || !definition_complete(def)) {
		r = report_malformed(cmd, "room definition");
		goto out;
	}
	if (cli->json) {
		json_t *j = room_definition_json(def, id), *sum = summary_json(resp->summary);

		json_object_set(j, "status", json_object_get(sum, "status"));
		json_object_set(j, "owner", json_object_get(sum, "owner"));
		json_object_set(j, "created", json_object_get(sum, "created"));
		json_object_set(j, "stopped", json_object_get(sum, "stopped"));
		json_object_set(j, "stopped_by", json_object_get(sum, "stopped_by"));
		json_decref(sum);
		r = print_json(cmd, j);
		goto out;
	}
	time_text(resp->summary->created_ms, created);
	if (resp->summary->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED) {
		char stopped[32];

		time_text(resp->summary->stopped_ms, stopped);
		printf("status       stopped (since %s, by ", stopped);
		put_cell(resp->summary->stopped_by, 254, true);
		printf(")\n");
	} else {
		printf("status       %s\n", status_name(resp->summary->status));
	}
	printf("owner        ");
	put_cell(resp->summary->owner, 254, true);
	printf("\ncreated      %s\n", created);
	room_print_summary(def, id);
out:
	dcr__v1__room_definition__free_unpacked(def, NULL);
	dcr__v1__get_room_response__free_unpacked(resp, NULL);
	return r;
}

int cmd_rooms(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	char id[DCR_ROOM_ID_HEX];
	struct session s;
	int r;

	if (args->argc > 1)
		return usage_error(cmd, "takes at most one room");
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if (args->argc == 0)
		r = list_rooms(cmd, cli, &s);
	else if ((r = session_resolve_room(cmd, &s, args->argv[0], id)) == 0)
		r = show_room(cmd, cli, &s, id);
	session_close(&s);
	return r;
}

/* room.status or room.stop on one room; *out: dcr__v1__status_response__free_unpacked. */
static int room_call(const struct command *cmd, struct session *s, const char *method, const char *id,
	Dcr__V1__StatusResponse **out)
{
	uint8_t *body;
	size_t len;
	int r;

	*out = NULL;
	if ((r = session_room_call(cmd, s, method, id, &body, &len)) != 0)
		return r;
	*out = dcr__v1__status_response__unpack(NULL, len, body);
	free(body);
	if (!*out || !(*out)->summary || strcmp((*out)->summary->room_id, id) != 0) {
		dcr__v1__status_response__free_unpacked(*out, NULL);
		*out = NULL;
		return report_malformed(cmd, "room status");
	}
	return 0;
}

/* Both take exactly one ROOM; open the session and resolve it. */
static int one_room(const struct command *cmd, struct cli *cli, struct parsed *args, struct session *s,
	char id[static DCR_ROOM_ID_HEX])
{
	int r;

	if (args->argc != 1)
		return usage_error(cmd, args->argc ? "takes one room" : "which room?");
	if ((r = session_open(cmd, cli, s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, s, args->argv[0], id)) != 0)
		session_close(s);
	return r;
}

int cmd_status(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__StatusResponse *resp;
	char id[DCR_ROOM_ID_HEX];
	struct session s;
	int r;

	if ((r = one_room(cmd, cli, args, &s, id)) != 0)
		return r;
	if ((r = room_call(cmd, &s, "room.status", id, &resp)) == 0) {
		if (cli->json)
			r = print_json(cmd, summary_json(resp->summary));
		else
			print_status_line(resp->summary);
	}
	dcr__v1__status_response__free_unpacked(resp, NULL);
	session_close(&s);
	return r;
}

int cmd_stop(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__RoomRef ref = DCR__V1__ROOM_REF__INIT;
	Dcr__V1__StatusResponse *before = NULL, *resp = NULL;
	char id[DCR_ROOM_ID_HEX];
	struct dcr_err ignored;
	struct session s;
	uint8_t *body = NULL;
	size_t len = 0;
	bool already = false;
	int r;

	if ((r = one_room(cmd, cli, args, &s, id)) != 0)
		return r;
	/*
	 * A second stop succeeds and changes nothing, and its answer looks like
	 * the first one's; the status just before tells the two apart. Without
	 * read-status the stop itself still decides.
	 */
	ref.room_id = id;
	if (session_call_err(&s, "room.status", &ref.base, &body, &len, &ignored) == 0 &&
	    (before = dcr__v1__status_response__unpack(NULL, len, body)) && before->summary)
		already = before->summary->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED;
	free(body);
	dcr__v1__status_response__free_unpacked(before, NULL);
	if ((r = room_call(cmd, &s, "room.stop", id, &resp)) == 0) {
		if (resp->summary->status != DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED) {
			r = report_malformed(cmd, "answer to room.stop: the room is still active");
		} else if (cli->json) {
			json_t *j = summary_json(resp->summary);

			json_object_set_new(j, "already_stopped", json_boolean(already));
			r = print_json(cmd, j);
		} else if (cli->verbosity >= 0) {
			printf(already ? "room %s was already stopped\n" : "stopped room %s\n", id);
		}
	}
	dcr__v1__status_response__free_unpacked(resp, NULL);
	session_close(&s);
	return r;
}
