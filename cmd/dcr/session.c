/* The commands that talk to dcrd: trusted specs, the user's identity, an attested client. */
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.pb-c.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"

#include "banned.h"

#define MAX_BODY (16u << 20)

/* This process talked to a simulated enclave: print_json says so in every object it prints. */
static bool simulated;

/* -i DIR, else $XDG_CONFIG_HOME/dcr, else $HOME/.config/dcr. */
int identity_dir(const struct cli *cli, char *buf, size_t size, struct dcr_err *err)
{
	const char *env;
	int n;

	if (cli->identity_dir)
		n = snprintf(buf, size, "%s", cli->identity_dir);
	else if ((env = getenv("XDG_CONFIG_HOME")) && *env == '/')
		n = snprintf(buf, size, "%s/dcr", env);
	else if ((env = getenv("HOME")) && *env)
		n = snprintf(buf, size, "%s/.config/dcr", env);
	else
		return dcr_err_set(err, DCR_EUSAGE, "no identity directory: HOME is not set (use -i DIR)");
	if (n < 0 || (size_t)n >= size)
		return dcr_err_set(err, DCR_EUSAGE, "identity directory path too long");
	return 0;
}

/* The trusted specs: --specs or $DCR_SPECS, required. */
static int load_specs(const struct command *cmd, struct cli *cli, struct session *s)
{
	struct dcr_err err;

	memset(s, 0, sizeof(*s));
	s->cli = cli;
	if (!cli->specs) {
		dcr_err_set(&err, DCR_EATTEST, "no trusted specs given (use --specs FILE or set DCR_SPECS)");
		return report(cmd, &err);
	}
	if (dcr_specs_load(cli->specs, &s->specs, &err) < 0)
		return report(cmd, &err);
	return 0;
}

int session_open_login(const struct command *cmd, struct cli *cli, struct session *s, struct dcr_identity *id)
{
	int r = load_specs(cmd, cli, s);

	if (r) {
		dcr_identity_free(id);
		return r;
	}
	s->identity = id;
	s->cmd = cmd;
	dcr_client_init(&s->client, cli->endpoint, s->specs, s->identity);
	return 0;
}

int session_open(const struct command *cmd, struct cli *cli, struct session *s)
{
	struct dcr_err err;
	int r;

	if ((r = load_specs(cmd, cli, s)))
		return r;
	if ((r = identity_dir(cli, s->identity_dir, sizeof(s->identity_dir), &err)) < 0 ||
	    (r = dcr_identity_load(s->identity_dir, &s->identity, &err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(&err, DCR_ENOTFOUND, "no identity in '%s' (key.pem and cert.pem); use -i DIR",
				s->identity_dir);
		session_close(s);
		return report(cmd, &err);
	}
	s->cmd = cmd;
	dcr_client_init(&s->client, cli->endpoint, s->specs, s->identity);
	return 0;
}

void session_close(struct session *s)
{
	if (!s)
		return;
	dcr_client_release(&s->client);
	dcr_identity_free(s->identity);
	dcr_specs_free(s->specs);
	memset(s, 0, sizeof(*s));
}

/*
 * Whether the day's warning about endpoint is still due: a stamp file per
 * endpoint, $XDG_STATE_HOME/dcr/sim-warned/SHA256(endpoint), holds the UTC
 * date it was last printed. Any trouble with the stamp makes it due.
 */
static bool warning_due(const char *endpoint)
{
	char dir[4096], path[4200], today[16], hex[65];
	uint8_t md[DCR_SHA256_LEN], *old = NULL;
	time_t now = time(NULL);
	struct dcr_err err;
	struct tm tm;
	size_t len;
	bool due;

	if (!gmtime_r(&now, &tm) || strftime(today, sizeof(today), "%Y-%m-%d\n", &tm) == 0 ||
	    dcr_sha256(endpoint, strlen(endpoint), md, &err) < 0 ||
	    dcr_state_dir("sim-warned", true, dir, sizeof(dir), &err) < 0)
		return true;
	dcr_hex(md, sizeof(md), hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	due = dcr_read_file(path, sizeof(today), &old, &len, &err) < 0 || len != strlen(today) ||
	      memcmp(old, today, len) != 0;
	free(old);
	if (due)
		dcr_write_atomic(path, today, strlen(today), &err);
	return due;
}

/*
 * dcrd uses simulated attestation: said on standard error by create always,
 * by other commands on the first call to the endpoint each day (UTC); with
 * --json, by "attestation": "sim" in the output instead (print_json).
 */
static void warn_simulated(struct session *s)
{
	simulated = true;
	if (s->cli->json || s->cli->verbosity < 0)
		return;
	if (warning_due(s->cli->endpoint) || strcmp(s->cmd->name, "create") == 0)
		fprintf(stderr, "dcr: warning: dcrd uses simulated attestation: NO hardware protection\n");
}

/* The room_id field of a request, if it has one. */
static const char *request_room(const ProtobufCMessage *req)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "room_id");

	if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const char *const *)((const char *)req + f->offset);
}

int session_call_err(struct session *s, const char *method, const ProtobufCMessage *req, uint8_t **out,
	size_t *out_len, struct dcr_err *err)
{
	const char *room_id = NULL;
	uint8_t *body = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	*out_len = 0;
	if ((r = dcr_client_attest(&s->client, err)) < 0)
		return r;
	if (s->client.enclave.simulated && !s->warned)
		warn_simulated(s);
	s->warned = true;
	if (req) {
		len = protobuf_c_message_get_packed_size(req);
		if (len > MAX_BODY)
			return dcr_err_set(err, DCR_EINVALID, "the request is too large (%zu bytes, at most %u)", len,
				MAX_BODY);
		body = malloc(len ? len : 1);
		if (!body)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		protobuf_c_message_pack(req, body);
	}
	/* Room-scoped calls (a request with a room ID) check the room's signed tree head on the way back. */
	if (req && req->descriptor == &dcr__v1__create_room_request__descriptor)
		room_id = ((const Dcr__V1__CreateRoomRequest *)req)->expected_room_id;
	else if (req)
		room_id = request_room(req);
	if (room_id && strlen(room_id) == 64)
		r = dcr_client_call_room(&s->client, room_id, method, body, len, out, out_len, err);
	else
		r = dcr_client_call(&s->client, method, body, len, out, out_len, err);
	if (body)
		dcr_wipe(body, len); /* a login token, a dataset key */
	free(body);
	return r;
}

int session_call(const struct command *cmd, struct session *s, const char *method, const ProtobufCMessage *req,
	uint8_t **out, size_t *out_len)
{
	struct dcr_err err;

	return session_call_err(s, method, req, out, out_len, &err) < 0 ? report(cmd, &err) : 0;
}

int session_room_call(const struct command *cmd, struct session *s, const char *method, const char *id,
	uint8_t **out, size_t *out_len)
{
	Dcr__V1__RoomRef ref = DCR__V1__ROOM_REF__INIT;

	ref.room_id = (char *)id;
	return session_call(cmd, s, method, &ref.base, out, out_len);
}

int report_malformed(const struct command *cmd, const char *what)
{
	struct dcr_err err;

	dcr_err_set(&err, DCR_EINTEGRITY, "dcrd sent a malformed %s", what);
	return report(cmd, &err);
}

/* Whether s is 8 to 64 lowercase or uppercase hex digits. */
static bool hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 64)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdefABCDEF", *s))
			return false;
	return true;
}

int session_list_rooms(const struct command *cmd, struct session *s, Dcr__V1__ListRoomsResponse **out)
{
	uint8_t *body;
	size_t len;
	int r;

	*out = NULL;
	if ((r = session_call(cmd, s, "room.list", NULL, &body, &len)) != 0)
		return r;
	*out = dcr__v1__list_rooms_response__unpack(NULL, len, body);
	free(body);
	if (!*out) {
		fprintf(stderr, "dcr: %s: dcrd sent a malformed room list\n", cmd->name);
		return dcr_err_exit_status(DCR_EINTEGRITY);
	}
	return 0;
}

int session_resolve_room(const struct command *cmd, struct session *s, const char *arg,
	char id[static DCR_ROOM_ID_HEX])
{
	Dcr__V1__ListRoomsResponse *list;
	size_t n = strlen(arg), matches = 0;
	int r;

	if (!hex_prefix(arg))
		return usage_error(cmd, "'%s' is not a room ID (64 hex digits, or a unique prefix of at least 8)", arg);
	for (size_t i = 0; i <= n; i++)
		id[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ? arg[i] - 'A' + 'a' : arg[i]);
	if (n == 64)
		return 0;
	if ((r = session_list_rooms(cmd, s, &list)) != 0)
		return r;
	for (size_t i = 0; i < list->n_rooms; i++)
		if (strncmp(list->rooms[i]->room_id, id, n) == 0)
			matches++;
	if (matches == 1) {
		for (size_t i = 0; i < list->n_rooms; i++)
			if (strncmp(list->rooms[i]->room_id, id, n) == 0 && strlen(list->rooms[i]->room_id) == 64)
				memcpy(id, list->rooms[i]->room_id, DCR_ROOM_ID_HEX);
		r = strlen(id) == 64 ? 0 : dcr_err_exit_status(DCR_EINTEGRITY);
		if (r)
			fprintf(stderr, "dcr: %s: dcrd listed a malformed room ID\n", cmd->name);
	} else if (matches == 0) {
		fprintf(stderr, "dcr: %s: no room of yours has an ID starting with '%s'\n", cmd->name, id);
		r = dcr_err_exit_status(DCR_ENOTFOUND);
	} else {
		fprintf(stderr, "dcr: %s: '%s' matches %zu rooms; give more of the ID:\n", cmd->name, id, matches);
		for (size_t i = 0; i < list->n_rooms; i++)
			if (strncmp(list->rooms[i]->room_id, id, n) == 0) {
				fprintf(stderr, "  %.64s  ", list->rooms[i]->room_id);
				put_text(stderr, list->rooms[i]->name, false);
				fputc('\n', stderr);
			}
		r = 2;
	}
	dcr__v1__list_rooms_response__free_unpacked(list, NULL);
	return r;
}

int print_json(const struct command *cmd, json_t *j)
{
	int r = 0;

	if (j && simulated) {
		json_t *v;
		size_t i;

		if (json_is_object(j))
			json_object_set_new(j, "attestation", json_string("sim"));
		json_array_foreach(j, i, v) {
			if (json_is_object(v))
				json_object_set_new(v, "attestation", json_string("sim"));
		}
	}
	if (!j || json_put(stdout, j) < 0) {
		fprintf(stderr, "dcr: %s: cannot write JSON\n", cmd->name);
		r = 1;
	} else {
		putchar('\n');
	}
	json_decref(j);
	return r;
}
