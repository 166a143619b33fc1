/* dcr rooms, dcr show, dcr status, dcr stop: the rooms you take part in, as dcrd's enclave reports them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dcr.h"
#include "room.h"

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
	char hex[97] = "";

	/* 32 bytes (sim, sgx-dcap) or 48 (sev-snp). */
	if (r->measurement.len == 32 || r->measurement.len == 48)
		dcr_hex(r->measurement.data, r->measurement.len, hex);
	snprintf(buf, size, "%s%s%.12s", r->enclave_spec, *hex ? " " : "", hex);
}

static json_t *summary_json(const Dcr__V1__RoomSummary *r)
{
	char created[32], stopped[32], hex[97] = "";
	json_t *j;

	time_text(r->created_ms, created);
	time_text(r->stopped_ms, stopped);
	if (r->measurement.len == 32 || r->measurement.len == 48)
		dcr_hex(r->measurement.data, r->measurement.len, hex);
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
			    (c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON && c->python) ||
			    (c->kind_case == DCR__V1__COMPUTATION__KIND_AGGREGATE && c->aggregate)))
			return false;
	}
	return true;
}

/*
 * The definition dcrd sent for room id, decoded into *def
 * (dcr__v1__room_definition__free_unpacked) once its SHA-256 is the ID: this
 * is the room that was asked for, or it is a lie (exit 9). Returns 0 or the
 * reported exit status.
 */
static int room_definition(const struct command *cmd, const ProtobufCBinaryData *enc, const char *id,
	Dcr__V1__RoomDefinition **def)
{
	uint8_t digest[32];
	struct dcr_err err;
	char hex[65];

	*def = NULL;
	dcr_sha256(enc->data, enc->len, digest, NULL);
	dcr_hex(digest, sizeof(digest), hex);
	if (strcmp(hex, id) != 0) {
		dcr_err_set(&err, DCR_EINTEGRITY, "dcrd returned a definition that does not match room ID %s (its "
						  "SHA-256 is %s)", id, hex);
		return report(cmd, &err);
	}
	*def = dcr__v1__room_definition__unpack(NULL, enc->len, enc->data);
	if (!*def || !definition_complete(*def))
		return report_malformed(cmd, "room definition");
	return 0;
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
	char created[32];
	uint8_t *body;
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
	if ((r = room_definition(cmd, &resp->definition, id, &def)) != 0)
		goto out;
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

/* ---- dcr show ROOM [NODE] ---- */

/*
 * The source dcrd kept must be what the room was compiled from: compiled
 * here with the enclave spec and salt the definition embeds, it gives the
 * room ID, and it reads every file kept (else dcr show ROOM PATH would print
 * one no room ID vouches for). Anything else is an integrity violation.
 */
static int check_source(const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomSource *src, const char *id,
	struct dcr_err *err)
{
	struct dcr_room_memfiles kept = { NULL, 0, "is not in the source dcrd keeps" };
	int r;

	if (!src->file_name || !src->yaml)
		return dcr_err_set(err, DCR_EINTEGRITY, "dcrd sent a malformed room source");
	if (src->n_files && !(kept.files = calloc(src->n_files, sizeof(*kept.files))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < src->n_files; i++)
		kept.files[kept.n++] = (struct dcr_room_memfile){ src->files[i]->path, src->files[i]->content.data,
			src->files[i]->content.len, false };
	r = dcr_room_check_source(def, src->file_name, src->yaml, &kept, id, err);
	free(kept.files);
	return r;
}

/* Text from another party: as it is into a file or a pipe, and nothing that drives a terminal. */
static void put_source(const void *text, size_t len, bool tty)
{
	if (tty)
		put_bytes(stdout, text, len, true);
	else
		fwrite(text, 1, len, stdout);
}

static const Dcr__V1__NamedFile *source_file(const Dcr__V1__RoomSource *src, const char *path)
{
	for (size_t i = 0; src && i < src->n_files; i++)
		if (strcmp(src->files[i]->path, path) == 0)
			return src->files[i];
	return NULL;
}

/* The text of NODE (a script, a query) or of a file of the source; *what says what it is. */
static int node_text(const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomSource *src, const char *id,
	const char *name, const void **text, size_t *len, const char **what, struct dcr_err *err)
{
	char hex[65];

	for (size_t i = 0; i < def->n_compute; i++) {
		const Dcr__V1__Computation *c = def->compute[i];

		if (strcmp(c->name, name) != 0)
			continue;
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_SQL) {
			*text = c->sql->query;
			*len = strlen(c->sql->query);
			*what = "query";
			return 0;
		}
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_AGGREGATE)
			return dcr_err_set(err, DCR_EINVALID,
				"computation '%s' is an aggregate computation, which has no text of its own: dcr show "
				"ROOM prints the definition that describes it", name);
		if (!c->python->script.len)
			return dcr_err_set(err, DCR_EDENIED,
				"computation '%s' runs the secret code of node '%s': the room holds only its SHA-256", name,
				c->python->code_node);
		*text = c->python->script.data;
		*len = c->python->script.len;
		*what = "script";
		return 0;
	}
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];

		if (strcmp(d->name, name) != 0)
			continue;
		if (d->kind_case == DCR__V1__DATA_NODE__KIND_CODE) {
			hex[0] = '\0';
			if (d->code->sha256.len == 32)
				dcr_hex(d->code->sha256.data, 32, hex);
			return dcr_err_set(err, DCR_EDENIED, "node '%s' is secret code: the room holds only its SHA-256 %s",
				name, hex);
		}
		return dcr_err_set(err, DCR_EUSAGE, "node '%s' is a data node: the room holds no text of it", name);
	}
	if (src && strcmp(src->file_name, name) == 0) {
		*text = src->yaml;
		*len = strlen(src->yaml);
		*what = "definition";
		return 0;
	}
	if (source_file(src, name)) {
		*text = source_file(src, name)->content.data;
		*len = source_file(src, name)->content.len;
		*what = "file";
		return 0;
	}
	return dcr_err_set(err, DCR_ENOTFOUND, "room %s has no computation, node or source file '%s'%s", id, name,
		src ? "" : " (dcrd kept no source of this room)");
}

static json_t *text_json(const void *text, size_t len)
{
	json_t *j = json_stringn(text, len); /* NULL for text that is not UTF-8 */

	return j ? j : json_null();
}

static int show_node(const struct command *cmd, struct cli *cli, const Dcr__V1__RoomDefinition *def,
	const Dcr__V1__RoomSource *src, const char *id, const char *name)
{
	const char *what = NULL;
	const void *text = NULL;
	struct dcr_err err;
	size_t len = 0;

	if (node_text(def, src, id, name, &text, &len, &what, &err) < 0)
		return report(cmd, &err);
	if (cli->json)
		return print_json(cmd, json_pack("{s:s, s:s, s:s, s:o}", "id", id, "name", name, "kind", what, "text",
						text_json(text, len)));
	put_source(text, len, isatty(STDOUT_FILENO));
	return 0;
}

/* "==> NAME (DETAIL) <==", as head(1) separates files; text ends with a line feed before the next. */
static void put_section(const char *title, const char *detail, const void *text, size_t len, bool tty, bool first)
{
	printf("%s==> ", first ? "" : "\n");
	put_text(stdout, title, false);
	printf("%s <==\n", detail);
	put_source(text, len, tty);
	if (len && ((const char *)text)[len - 1] != '\n')
		putchar('\n');
}

static int show_all(const struct command *cmd, struct cli *cli, const Dcr__V1__RoomDefinition *def,
	const Dcr__V1__RoomSource *src, const char *id)
{
	bool tty = isatty(STDOUT_FILENO);
	char detail[160], hex[65];

	if (cli->json) {
		json_t *j = json_object(), *scripts = json_array(), *secret = json_array();

		json_object_set_new(j, "id", json_string(id));
		json_object_set_new(j, "file_name", src ? json_string(src->file_name) : json_null());
		json_object_set_new(j, "definition", src ? text_json(src->yaml, strlen(src->yaml)) : json_null());
		for (size_t i = 0; i < def->n_compute; i++) {
			const Dcr__V1__PythonComputation *py = def->compute[i]->python;

			if (def->compute[i]->kind_case != DCR__V1__COMPUTATION__KIND_PYTHON || !py->script.len)
				continue;
			json_array_append_new(scripts, json_pack("{s:s, s:s, s:o}", "computation", def->compute[i]->name,
							       "file", py->script_name, "text", text_json(py->script.data, py->script.len)));
		}
		for (size_t i = 0; i < def->n_data; i++)
			if (def->data[i]->kind_case == DCR__V1__DATA_NODE__KIND_CODE && def->data[i]->code->sha256.len == 32) {
				dcr_hex(def->data[i]->code->sha256.data, 32, hex);
				json_array_append_new(secret, json_pack("{s:s, s:s}", "node", def->data[i]->name, "sha256", hex));
			}
		json_object_set_new(j, "scripts", scripts);
		json_object_set_new(j, "secret_code", secret);
		return print_json(cmd, j);
	}
	if (src) {
		snprintf(detail, sizeof(detail), " (room %.12s, as created)", id);
		put_section(src->file_name, detail, src->yaml, strlen(src->yaml), tty, true);
	} else {
		if (cli->verbosity >= 0)
			fprintf(stderr, "dcr: %s: dcrd kept no source of room %s (created before it did): its canonical "
					"definition follows\n", cmd->name, id);
		room_print_summary(def, id);
	}
	for (size_t i = 0; i < def->n_compute; i++) {
		const Dcr__V1__Computation *c = def->compute[i];

		if (c->kind_case != DCR__V1__COMPUTATION__KIND_PYTHON || !c->python->script.len)
			continue;
		snprintf(detail, sizeof(detail), " (the script of computation %s)", c->name);
		put_section(c->python->script_name, detail, c->python->script.data, c->python->script.len, tty, false);
	}
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];

		if (d->kind_case != DCR__V1__DATA_NODE__KIND_CODE || d->code->sha256.len != 32)
			continue;
		dcr_hex(d->code->sha256.data, 32, hex);
		printf("\n==> %s (secret code: the room holds only its SHA-256 %s) <==\n", d->name, hex);
	}
	return 0;
}

int cmd_show(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	Dcr__V1__GetRoomSourceResponse *resp = NULL;
	Dcr__V1__RoomDefinition *def = NULL;
	char id[DCR_ROOM_ID_HEX];
	struct dcr_err err;
	uint8_t *body;
	struct session s;
	size_t len;
	int r;

	if (args->argc < 1 || args->argc > 2)
		return usage_error(cmd, args->argc ? "takes a room and at most one node" : "which room?");
	if ((r = session_open(cmd, cli, &s)) != 0)
		return r;
	if ((r = session_resolve_room(cmd, &s, args->argv[0], id)) != 0 ||
	    (r = session_room_call(cmd, &s, "room.source", id, &body, &len)) != 0)
		goto out;
	resp = dcr__v1__get_room_source_response__unpack(NULL, len, body);
	free(body);
	if (!resp) {
		r = report_malformed(cmd, "answer to room.source");
		goto out;
	}
	/* The definition is the room ID's preimage; the source must compile to it. */
	if ((r = room_definition(cmd, &resp->definition, id, &def)) != 0)
		goto out;
	if (resp->source && check_source(def, resp->source, id, &err) < 0) {
		r = report(cmd, &err);
		goto out;
	}
	r = args->argc == 2 ? show_node(cmd, cli, def, resp->source, id, args->argv[1])
			    : show_all(cmd, cli, def, resp->source, id);
out:
	dcr__v1__room_definition__free_unpacked(def, NULL);
	dcr__v1__get_room_source_response__free_unpacked(resp, NULL);
	session_close(&s);
	return r;
}
