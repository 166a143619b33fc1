/* dcr create: validate a room definition, print its ID and who may do what. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dcr.h"
#include "room.h"
#include "specs.h"

#include "banned.h"

/* The permissions every participant has unless the room turns them off. */
static const Dcr__V1__Action default_actions[] = {
	DCR__V1__ACTION__ACTION_READ_DEFINITION,
	DCR__V1__ACTION__ACTION_READ_AUDIT,
	DCR__V1__ACTION__ACTION_READ_STATUS,
	DCR__V1__ACTION__ACTION_LIST_DATASETS,
};
#define N_DEFAULTS (sizeof(default_actions) / sizeof(*default_actions))

static bool has_action(const Dcr__V1__Participant *part, Dcr__V1__Action a)
{
	for (size_t i = 0; i < part->n_permissions; i++)
		if (part->permissions[i]->action == a)
			return true;
	return false;
}

/* "upload acme_pay", "read-audit": as written in a definition. */
static void permission_text(const Dcr__V1__Permission *perm, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", dcr_room_action_name(perm->action),
		perm->object && *perm->object ? " " : "", perm->object ? perm->object : "");
}

static const char *data_kind(const Dcr__V1__DataNode *d)
{
	switch (d->kind_case) {
	case DCR__V1__DATA_NODE__KIND_TABLE: return "table";
	case DCR__V1__DATA_NODE__KIND_FILE: return "file";
	default: return "code";
	}
}

static void hex_of(const ProtobufCBinaryData *b, char *out)
{
	dcr_hex(b->data, b->len, out);
}

static json_t *room_json(const struct dcr_room *room)
{
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);
	json_t *j = json_object(), *auth = json_object(), *cas = json_array(), *data = json_array(),
	       *compute = json_array(), *parts = json_array(), *enclave = json_object();
	char hex[65];

	json_object_set_new(j, "id", json_string(dcr_room_id(room)));
	json_object_set_new(j, "name", json_string(def->name));
	json_object_set_new(j, "description", json_string(def->description));
	json_object_set_new(j, "salt", json_string(def->salt));
	json_object_set_new(enclave, "name", json_string(def->enclave->name));
	json_object_set_new(enclave, "format", json_string(def->enclave->format));
	if (def->enclave->measurement.len) {
		hex_of(&def->enclave->measurement, hex);
		json_object_set_new(enclave, "measurement", json_string(hex));
	}
	if (def->enclave->mrsigner.len) {
		hex_of(&def->enclave->mrsigner, hex);
		json_object_set_new(enclave, "mrsigner", json_string(hex));
	}
	json_object_set_new(j, "enclave", enclave);
	for (size_t i = 0; i < def->authentication->n_ca_certificates; i++) {
		uint8_t fp[32];

		dcr_sha256(def->authentication->ca_certificates[i].data, def->authentication->ca_certificates[i].len,
			fp, NULL);
		dcr_hex(fp, sizeof(fp), hex);
		json_array_append_new(cas, json_string(hex));
	}
	json_object_set_new(auth, "ca_sha256", cas);
	json_object_set_new(auth, "platform", json_boolean(def->authentication->platform));
	json_object_set_new(j, "authentication", auth);
	json_object_set_new(j, "default_permissions", json_boolean(def->default_permissions));
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];
		json_t *n = json_pack("{s:s, s:s}", "name", d->name, "type", data_kind(d));

		if (d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE) {
			json_t *cols = json_array();

			for (size_t c = 0; c < d->table->n_columns; c++)
				json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "name", d->table->columns[c]->name,
					"type", dcr_room_column_type_name(d->table->columns[c]->type),
					"nullable", (int)d->table->columns[c]->nullable));
			json_object_set_new(n, "columns", cols);
			json_object_set_new(n, "header", json_boolean(d->table->header));
			json_object_set_new(n, "delimiter", json_stringn((const char *)&(char){ (char)d->table->delimiter }, 1));
		} else if (d->kind_case == DCR__V1__DATA_NODE__KIND_CODE) {
			hex_of(&d->code->sha256, hex);
			json_object_set_new(n, "sha256", json_string(hex));
		}
		json_array_append_new(data, n);
	}
	json_object_set_new(j, "data", data);
	for (size_t i = 0; i < def->n_compute; i++) {
		const Dcr__V1__Computation *c = def->compute[i];
		json_t *n = json_pack("{s:s, s:s}", "name", c->name,
			"type", c->kind_case == DCR__V1__COMPUTATION__KIND_SQL ? "sql" : "python");
		json_t *deps = json_array();

		for (size_t d = 0; d < c->n_depends; d++)
			json_array_append_new(deps, json_string(c->depends[d]));
		json_object_set_new(n, "depends", deps);
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_SQL) {
			json_object_set_new(n, "query", json_string(c->sql->query));
			json_object_set_new(n, "min_group_size", json_integer(c->sql->min_group_size));
		} else {
			const Dcr__V1__PythonComputation *py = c->python;
			json_t *cmd = json_array(), *mounts = json_object();

			for (size_t a = 0; a < py->n_command; a++)
				json_array_append_new(cmd, json_string(py->command[a]));
			for (size_t m = 0; m < py->n_mounts; m++)
				json_object_set_new(mounts, py->mounts[m]->path, json_string(py->mounts[m]->node));
			if (py->code_node && *py->code_node) {
				json_object_set_new(n, "code", json_string(py->code_node));
			} else {
				uint8_t digest[32];

				dcr_sha256(py->script.data, py->script.len, digest, NULL);
				dcr_hex(digest, sizeof(digest), hex);
				json_object_set_new(n, "script", json_string(py->script_name));
				json_object_set_new(n, "script_sha256", json_string(hex));
			}
			json_object_set_new(n, "command", cmd);
			json_object_set_new(n, "mounts", mounts);
			json_object_set_new(n, "output", json_string(py->output));
			json_object_set_new(n, "time_limit_ms", json_integer((json_int_t)py->time_limit_ms));
			json_object_set_new(n, "memory_limit_bytes", json_integer((json_int_t)py->memory_limit_bytes));
			json_object_set_new(n, "logs",
				json_string(py->logs == DCR__V1__LOG_POLICY__LOG_POLICY_VISIBLE ? "visible" : "hidden"));
		}
		json_array_append_new(compute, n);
	}
	json_object_set_new(j, "compute", compute);
	for (size_t i = 0; i < def->n_participants; i++) {
		const Dcr__V1__Participant *part = def->participants[i];
		json_t *perms = json_array();
		char text[160];

		for (size_t k = 0; k < part->n_permissions; k++) {
			permission_text(part->permissions[k], text, sizeof(text));
			json_array_append_new(perms, json_string(text));
		}
		for (size_t k = 0; def->default_permissions && k < N_DEFAULTS; k++)
			if (!has_action(part, default_actions[k]))
				json_array_append_new(perms, json_string(dcr_room_action_name(default_actions[k])));
		json_array_append_new(parts, json_pack("{s:s, s:o}", "email", part->email, "permissions", perms));
	}
	json_object_set_new(j, "participants", parts);
	return j;
}

/* Limits exactly as given: no rounding of 500ms to 0s. */
static void print_limits(const Dcr__V1__PythonComputation *py)
{
	unsigned long long ms = py->time_limit_ms, bytes = py->memory_limit_bytes;

	if (ms % 1000)
		printf(", limits %llums", ms);
	else
		printf(", limits %llus", ms / 1000);
	if (bytes % (1ULL << 20) == 0)
		printf(" %lluMiB", bytes >> 20);
	else
		printf(" %llu bytes", bytes);
	printf(", logs %s", py->logs == DCR__V1__LOG_POLICY__LOG_POLICY_VISIBLE ? "visible" : "hidden");
}

static void print_summary(const struct dcr_room *room)
{
	const Dcr__V1__RoomDefinition *def = dcr_room_definition(room);
	const Dcr__V1__EnclaveSpec *e = def->enclave;
	char hex[65];

	printf("room id      %s\n", dcr_room_id(room));
	printf("name         %s\n", def->name);
	if (*def->description)
		printf("description  %s\n", def->description);
	if (*def->salt)
		printf("salt         %s\n", def->salt);
	if (e->measurement.len)
		hex_of(&e->measurement, hex);
	else
		hex_of(&e->mrsigner, hex);
	printf("enclave      %s (%s, %s %s)%s\n", e->name, e->format,
		e->measurement.len ? "measurement" : "signer", hex,
		strcmp(e->format, "sim") == 0 ? " -- simulated: no hardware protection" : "");
	printf("auth         %zu organisation CA%s%s\n", def->authentication->n_ca_certificates,
		def->authentication->n_ca_certificates == 1 ? "" : "s",
		def->authentication->platform ? ", platform PKI" : "");

	printf("\ndata\n");
	if (def->n_data == 0)
		printf("  (none)\n");
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];

		printf("  %-20s %s", d->name, data_kind(d));
		if (d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE) {
			printf(" (");
			for (size_t c = 0; c < d->table->n_columns; c++)
				printf("%s%s %s%s", c ? ", " : "", d->table->columns[c]->name,
					dcr_room_column_type_name(d->table->columns[c]->type),
					d->table->columns[c]->nullable ? "?" : "");
			printf(")");
		} else if (d->kind_case == DCR__V1__DATA_NODE__KIND_CODE) {
			hex_of(&d->code->sha256, hex);
			printf(" sha256 %s", hex);
		}
		printf("\n");
	}
	printf("\ncompute\n");
	if (def->n_compute == 0)
		printf("  (none)\n");
	for (size_t i = 0; i < def->n_compute; i++) {
		const Dcr__V1__Computation *c = def->compute[i];

		printf("  %-20s %s", c->name, c->kind_case == DCR__V1__COMPUTATION__KIND_SQL ? "sql" : "python");
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && c->sql->min_group_size)
			printf(", groups of at least %u", c->sql->min_group_size);
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON) {
			const Dcr__V1__PythonComputation *py = c->python;

			if (py->code_node && *py->code_node)
				printf(", secret code '%s'", py->code_node);
			else
				printf(", script %s", py->script_name);
			for (size_t m = 0; m < py->n_mounts; m++)
				printf("%s%s=%s", m ? " " : ", mounts ", py->mounts[m]->path, py->mounts[m]->node);
			print_limits(py);
		}
		for (size_t d = 0; d < c->n_depends; d++)
			printf("%s%s", d ? ", " : "; after ", c->depends[d]);
		printf("\n");
	}
	printf("\nparticipants%s\n", def->default_permissions ? " (all may also: read-definition, read-audit, read-status, list-datasets)"
								 : " (no default permissions)");
	for (size_t i = 0; i < def->n_participants; i++) {
		const Dcr__V1__Participant *part = def->participants[i];
		char text[160];

		printf("  %-28s", part->email);
		if (part->n_permissions == 0)
			printf(" %s", def->default_permissions ? "(defaults only)" : "(nothing)");
		for (size_t k = 0; k < part->n_permissions; k++) {
			permission_text(part->permissions[k], text, sizeof(text));
			printf("%s%s", k ? ", " : " ", text);
		}
		printf("\n");
	}
}

int cmd_create(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *salt = opt_value(cmd, args, "salt");
	struct dcr_specs *specs = NULL;
	struct dcr_room *room = NULL;
	struct dcr_err err;
	int r;

	if (args->argc != 1)
		return usage_error(cmd, args->argc ? "takes one room definition" : "which room definition?");
	if (cli->specs && dcr_specs_load(cli->specs, &specs, &err) < 0)
		return report(cmd, &err);
	r = dcr_room_load(args->argv[0], specs, salt ? salt : "", &room, &err);
	dcr_specs_free(specs);
	if (r < 0)
		return report(cmd, &err);
	if (!opt_set(cmd, args, "dry-run")) {
		fprintf(stderr, "dcr: create: not implemented yet: '%s' is valid (room ID %s), but dcrd cannot "
				"create rooms yet; use --dry-run\n", args->argv[0], dcr_room_id(room));
		dcr_room_free(room);
		return 1;
	}
	if (cli->json) {
		json_t *j = room_json(room);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
			json_decref(j);
			dcr_room_free(room);
			fprintf(stderr, "dcr: create: cannot write JSON\n");
			return 1;
		}
		putchar('\n');
		json_decref(j);
	} else {
		print_summary(room);
	}
	dcr_room_free(room);
	return 0;
}
