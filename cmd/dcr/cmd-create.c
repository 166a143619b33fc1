/* dcr create: validate a room definition, print its ID and who may do what. */
#include <jansson.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
#include "room.h"
#include "specs.h"
#include "ydoc.h"

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

static json_t *names_json(char *const *names, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

static json_t *privacy_json(const Dcr__V1__TablePrivacy *t)
{
	json_t *o = json_object();

	json_object_set_new(o, "min_group_size", json_integer(t->min_group_size));
	json_object_set_new(o, "identity", t->identity && *t->identity ? json_string(t->identity) : json_null());
	json_object_set_new(o, "group_by", names_json(t->group_by, t->n_group_by));
	json_object_set_new(o, "aggregate", names_json(t->aggregate, t->n_aggregate));
	json_object_set_new(o, "join", names_json(t->join, t->n_join));
	return o;
}

static void print_names(const char *what, char *const *names, size_t n)
{
	printf("; %s", what);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : " ", names[i]);
	if (!n)
		printf(" nothing");
}

/* "; groups of at least 5 email_hash; group by region; aggregate spend; join on email_hash" */
static void print_privacy(const Dcr__V1__TablePrivacy *t)
{
	printf("; groups of at least %u %s", t->min_group_size, t->identity && *t->identity ? t->identity : "rows");
	print_names("group by", t->group_by, t->n_group_by);
	print_names("aggregate", t->aggregate, t->n_aggregate);
	print_names("join on", t->join, t->n_join);
}

/* A digest of a definition (at most 48 bytes: a sev-snp MEASUREMENT) in hex; longer ones show as "". */
#define HEX_OF_MAX 48
static void hex_of(const ProtobufCBinaryData *b, char out[static 2 * HEX_OF_MAX + 1])
{
	if (b->len > HEX_OF_MAX)
		out[0] = '\0';
	else
		dcr_hex(b->data, b->len, out);
}

/* Certificate i of the room's CAs, or NULL if the definition has no such index. */
static const ProtobufCBinaryData *room_ca(const Dcr__V1__RoomDefinition *def, uint32_t i)
{
	return i < def->authentication->n_ca_certificates ? &def->authentication->ca_certificates[i] : NULL;
}

static void ca_fingerprint(const ProtobufCBinaryData *der, char hex[static 65])
{
	uint8_t fp[32];

	dcr_sha256(der->data, der->len, fp, NULL);
	dcr_hex(fp, sizeof(fp), hex);
}

/* Whether two participants are certified by the same authority. */
static bool same_authority(const Dcr__V1__Participant *a, const Dcr__V1__Participant *b)
{
	return a->platform == b->platform && a->n_cas == b->n_cas &&
		(a->n_cas == 0 || memcmp(a->cas, b->cas, a->n_cas * sizeof(*a->cas)) == 0);
}

/* The subject, RFC 2253 with control characters escaped; false if there is none. */
static bool cert_subject(X509 *cert, char *out, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	bool ok;

	ok = bio && X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) > 0 &&
		(n = BIO_get_mem_data(bio, &data)) > 0;
	if (ok)
		snprintf(out, size, "%.*s", (int)n, data);
	BIO_free(bio);
	return ok;
}

/* "CA 3f2a9c1b7e4d (CN=acme-ca)" for each certificate that certifies part, or "platform CA". */
static void print_authority(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *part)
{
	if (part->platform)
		printf("platform CA");
	for (size_t i = 0; i < part->n_cas; i++) {
		const ProtobufCBinaryData *der = room_ca(def, part->cas[i]);
		const unsigned char *cursor = der ? der->data : NULL;
		X509 *cert = der ? d2i_X509(NULL, &cursor, (long)der->len) : NULL;
		char hex[65], subject[256];

		if (!der) {
			printf("%s(no CA %u)", i || part->platform ? ", " : "", part->cas[i]);
			continue;
		}
		ca_fingerprint(der, hex);
		printf("%sCA %.12s", i || part->platform ? ", " : "", hex);
		if (cert && cert_subject(cert, subject, sizeof(subject)))
			printf(" (%s)", subject);
		X509_free(cert);
		ERR_clear_error();
	}
	if (!part->platform && part->n_cas == 0)
		printf("nobody");
}

json_t *room_definition_json(const Dcr__V1__RoomDefinition *def, const char *id)
{
	json_t *j = json_object(), *auth = json_object(), *cas = json_array(), *data = json_array(),
	       *compute = json_array(), *parts = json_array(), *enclave = json_object();
	char hex[2 * HEX_OF_MAX + 1];

	json_object_set_new(j, "id", json_string(id));
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
	if (def->enclave->mrtd.len) {
		const ProtobufCBinaryData *rtmr[] = { &def->enclave->rtmr0, &def->enclave->rtmr1, &def->enclave->rtmr2,
			&def->enclave->rtmr3 };
		static const char *const names[] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };

		hex_of(&def->enclave->mrtd, hex);
		json_object_set_new(enclave, "mrtd", json_string(hex));
		for (int i = 0; i < 4; i++) {
			if (!rtmr[i]->len)
				continue;
			hex_of(rtmr[i], hex);
			json_object_set_new(enclave, names[i], json_string(hex));
		}
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
	json_object_set_new(j, "owner_stops", json_boolean(!def->owner_may_not_stop));
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];
		json_t *n = json_pack("{s:s, s:s}", "name", d->name, "type", data_kind(d));

		if (d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE) {
			json_t *cols = json_array();

			for (size_t c = 0; c < d->table->n_columns; c++)
				json_array_append_new(cols, json_pack("{s:s, s:s, s:b, s:s}", "name", d->table->columns[c]->name,
					"type", dcr_room_column_type_name(d->table->columns[c]->type),
					"nullable", (int)d->table->columns[c]->nullable, "csv_header",
					dcr_room_column_header(d->table->columns[c])));
			json_object_set_new(n, "columns", cols);
			json_object_set_new(n, "header", json_boolean(d->table->header));
			json_object_set_new(n, "delimiter", json_stringn((const char *)&(char){ (char)d->table->delimiter }, 1));
			if (d->table->privacy)
				json_object_set_new(n, "privacy", privacy_json(d->table->privacy));
		} else if (d->kind_case == DCR__V1__DATA_NODE__KIND_CODE) {
			hex_of(&d->code->sha256, hex);
			json_object_set_new(n, "sha256", json_string(hex));
		}
		json_array_append_new(data, n);
	}
	json_object_set_new(j, "data", data);
	for (size_t i = 0; i < def->n_compute; i++) {
		const Dcr__V1__Computation *c = def->compute[i];
		json_t *n = json_pack("{s:s, s:s}", "name", c->name, "type", dcr_room_computation_kind(c));
		json_t *deps = json_array();

		for (size_t d = 0; d < c->n_depends; d++)
			json_array_append_new(deps, json_string(c->depends[d]));
		json_object_set_new(n, "depends", deps);
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_SQL) {
			json_object_set_new(n, "query", json_string(c->sql->query));
			json_object_set_new(n, "min_group_size", json_integer(c->sql->min_group_size));
		} else if (c->kind_case == DCR__V1__COMPUTATION__KIND_AGGREGATE) {
			struct dcr_aggregate_sql a;

			/* The SQL dcrd will run, for review; the room holds the description it comes from. */
			if (dcr_aggregate_sql(def, c, &a, NULL) == 0) {
				json_object_set_new(n, "sql", json_string(a.query));
				if (a.suppressed)
					json_object_set_new(n, "suppressed_sql", json_string(a.suppressed));
			}
			dcr_aggregate_sql_release(&a);
			json_object_set_new(n, "min_group_size", json_integer(c->aggregate->min_group_size));
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
			json_object_set_new(n, "result",
				json_string(py->result == DCR__V1__RESULT_FORMAT__RESULT_FORMAT_FILE ? "file" : "zip"));
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
		cas = json_array();
		for (size_t k = 0; k < part->n_cas; k++) {
			const ProtobufCBinaryData *der = room_ca(def, part->cas[k]);

			if (der) {
				ca_fingerprint(der, hex);
				json_array_append_new(cas, json_string(hex));
			}
		}
		json_array_append_new(parts, json_pack("{s:s, s:o, s:o, s:b}", "email", part->email, "permissions", perms,
						     "ca_sha256", cas, "platform", (int)part->platform));
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
	if (py->result == DCR__V1__RESULT_FORMAT__RESULT_FORMAT_FILE)
		printf(", result: one file");
}

void room_print_summary(const Dcr__V1__RoomDefinition *def, const char *id)
{
	const Dcr__V1__EnclaveSpec *e = def->enclave;
	const ProtobufCBinaryData *pin = e->measurement.len ? &e->measurement : e->mrtd.len ? &e->mrtd : &e->mrsigner;
	char hex[2 * HEX_OF_MAX + 1];

	/* The definition's free text is its creator's: shown as put_text shows other people's text. */
	printf("room id      %s\nname         ", id);
	put_text(stdout, def->name, false);
	if (*def->description) {
		printf("\ndescription  ");
		put_text(stdout, def->description, true);
	}
	if (*def->salt) {
		printf("\nsalt         ");
		put_text(stdout, def->salt, false);
	}
	printf("\n");
	hex_of(pin, hex);
	printf("enclave      ");
	put_text(stdout, e->name, false);
	printf(" (%s, %s %s)%s\n", e->format,
		e->measurement.len ? "measurement" : e->mrtd.len ? "mrtd" : "signer", hex,
		strcmp(e->format, "sim") == 0 ? " -- simulated: no hardware protection" : "");
	printf("auth         %zu organisation CA%s%s\n", def->authentication->n_ca_certificates,
		def->authentication->n_ca_certificates == 1 ? "" : "s",
		def->authentication->platform ? ", platform PKI" : "");
	/* Who certifies whom: a certificate from any other CA of the room does not do for these addresses. */
	for (size_t i = 0; i < def->n_participants; i++) {
		bool first = true;

		for (size_t k = 0; k < i && first; k++)
			first = !same_authority(def->participants[k], def->participants[i]);
		if (!first)
			continue;
		printf("  ");
		print_authority(def, def->participants[i]);
		printf(" certifies");
		for (size_t k = i, n = 0; k < def->n_participants; k++)
			if (same_authority(def->participants[k], def->participants[i]))
				printf("%s %s", n++ ? "," : "", def->participants[k]->email);
		printf("\n");
	}

	printf("\ndata\n");
	if (def->n_data == 0)
		printf("  (none)\n");
	for (size_t i = 0; i < def->n_data; i++) {
		const Dcr__V1__DataNode *d = def->data[i];

		printf("  %-20s %s", d->name, data_kind(d));
		if (d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE) {
			printf(" (");
			for (size_t c = 0; c < d->table->n_columns; c++) {
				const Dcr__V1__Column *col = d->table->columns[c];

				printf("%s%s %s%s", c ? ", " : "", col->name, dcr_room_column_type_name(col->type),
					col->nullable ? "?" : "");
				/* The header a spreadsheet gave it, where that is not its SQL name. */
				if (col->csv_header && *col->csv_header) {
					printf(" from \"");
					put_text(stdout, col->csv_header, false);
					printf("\"");
				}
			}
			printf(")");
			if (d->table->privacy)
				print_privacy(d->table->privacy);
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

		printf("  %-20s %s", c->name, dcr_room_computation_kind(c));
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_AGGREGATE) {
			printf(" of %s", c->aggregate->from);
			for (size_t k = 0; k < c->aggregate->n_joins; k++)
				printf(" join %s", c->aggregate->joins[k]->table);
			if (c->aggregate->min_group_size)
				printf(", groups of at least %u", c->aggregate->min_group_size);
		}
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && c->sql->min_group_size)
			printf(", groups of at least %u", c->sql->min_group_size);
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON) {
			const Dcr__V1__PythonComputation *py = c->python;

			if (py->code_node && *py->code_node) {
				printf(", secret code '%s'", py->code_node);
			} else {
				printf(", script ");
				put_text(stdout, py->script_name, false);
			}
			for (size_t m = 0; m < py->n_mounts; m++) {
				printf("%s", m ? " " : ", mounts ");
				put_text(stdout, py->mounts[m]->path, false);
				printf("=%s", py->mounts[m]->node);
			}
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

		printf("  ");
		put_cell(part->email, columns_of(part->email) > 28 ? columns_of(part->email) : 28, false);
		if (part->n_permissions == 0)
			printf(" %s", def->default_permissions ? "(defaults only)" : "(nothing)");
		for (size_t k = 0; k < part->n_permissions; k++) {
			permission_text(part->permissions[k], text, sizeof(text));
			printf("%s%s", k ? ", " : " ", text);
		}
		printf("\n");
	}
	printf("  %s\n", def->owner_may_not_stop ? "(the room's owner, who creates it, may not stop it without 'stop')"
					       : "(the room's owner, who creates it, may also stop it)");
}

/*
 * The files a definition names, recorded as the validator reads them from
 * disk, so that dcrd validates exactly the bytes the creator did.
 */
struct recorder {
	const char *base_dir;
	Dcr__V1__NamedFile **files;
	size_t n;
};

static int record_read(void *ctx, const char *rel, size_t max, uint8_t **buf, size_t *len, struct dcr_err *err)
{
	struct recorder *rec = ctx;
	Dcr__V1__NamedFile *f, **grown;
	int r = dcr_room_read_relative((void *)rec->base_dir, rel, max, buf, len, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < rec->n; i++)
		if (strcmp(rec->files[i]->path, rel) == 0)
			return 0;
	f = malloc(sizeof(*f));
	grown = realloc(rec->files, (rec->n + 1) * sizeof(*grown));
	if (grown)
		rec->files = grown;
	if (f)
		dcr__v1__named_file__init(f);
	if (!f || !grown || !(f->path = strdup(rel))) {
		free(f);
		goto nomem;
	}
	if (!(f->content.data = malloc(*len ? *len : 1))) {
		free(f->path);
		free(f);
		goto nomem;
	}
	memcpy(f->content.data, *buf, *len);
	f->content.len = *len;
	rec->files[rec->n++] = f;
	return 0;
nomem:
	free(*buf);
	*buf = NULL;
	return dcr_err_set(err, DCR_ENOMEM, "out of memory");
}

static void recorder_release(struct recorder *rec)
{
	for (size_t i = 0; i < rec->n; i++) {
		free(rec->files[i]->path);
		free(rec->files[i]->content.data);
		free(rec->files[i]);
	}
	free(rec->files);
}

static int print_room(const struct command *cmd, const struct cli *cli, const struct dcr_room *room, bool created)
{
	if (cli->json) {
		json_t *j = room_definition_json(dcr_room_definition(room), dcr_room_id(room));

		if (created)
			json_object_set_new(j, "created", json_true());
		return print_json(cmd, j);
	}
	if (created && cli->verbosity < 0) {
		printf("%s\n", dcr_room_id(room));
		return 0;
	}
	if (created)
		printf("created room %s\n\n", dcr_room_id(room));
	room_print_summary(dcr_room_definition(room), dcr_room_id(room));
	return 0;
}

/* Validate locally with the recording reader, then ask dcrd to create the same room. */
static int create_in_dcrd(const struct command *cmd, struct cli *cli, const char *path, const char *salt)
{
	Dcr__V1__CreateRoomRequest req = DCR__V1__CREATE_ROOM_REQUEST__INIT;
	Dcr__V1__CreateRoomResponse *resp = NULL;
	char *dir_copy = strdup(path);
	struct recorder rec = { 0 };
	struct dcr_room_files files = { .read = record_read, .ctx = &rec };
	struct dcr_room *room = NULL;
	struct session s;
	struct dcr_err err;
	uint8_t *yaml = NULL, *body = NULL;
	size_t yaml_len = 0, body_len = 0;
	int r;

	if (!dir_copy) {
		dcr_err_set(&err, DCR_ENOMEM, "out of memory");
		return report(cmd, &err);
	}
	rec.base_dir = dirname(dir_copy);
	if ((r = session_open(cmd, cli, &s)) != 0)
		goto out;
	/* The YAML is read once: what dcrd validates is what was validated here. */
	if (dcr_read_file(path, DCR_YDOC_MAX_INPUT, &yaml, &yaml_len, &err) < 0 ||
	    dcr_room_parse_files(path, yaml, yaml_len, &files, s.specs, salt, &room, &err) < 0) {
		r = report(cmd, &err);
		goto out;
	}
	if (memchr(yaml, 0, yaml_len)) { /* the YAML travels as a protobuf string */
		dcr_err_set(&err, DCR_EINVALID, "'%s' contains a NUL byte", path);
		r = report(cmd, &err);
		goto out;
	}
	req.file_name = strrchr(path, '/') ? strrchr(path, '/') + 1 : (char *)path;
	req.yaml = (char *)yaml;
	req.files = rec.files;
	req.n_files = rec.n;
	req.salt = (char *)salt;
	req.enclave_spec = dcr_room_definition(room)->enclave->name;
	req.enclave = dcr_room_definition(room)->enclave;
	/* The enclave must be the one this room pins, not just any enclave the specs trust. */
	s.client.spec_name = req.enclave->name;
	req.expected_room_id = (char *)dcr_room_id(room);
	if ((r = session_call(cmd, &s, "room.create", &req.base, &body, &body_len)) != 0)
		goto out;
	resp = dcr__v1__create_room_response__unpack(NULL, body_len, body);
	if (!resp || strcmp(resp->room_id, dcr_room_id(room)) != 0) {
		dcr_err_set(&err, DCR_EINTEGRITY, "dcrd created room '%s', not the room %s this definition describes",
			resp ? resp->room_id : "(malformed answer)", dcr_room_id(room));
		r = report(cmd, &err);
		goto out;
	}
	r = print_room(cmd, cli, room, true);
out:
	dcr__v1__create_room_response__free_unpacked(resp, NULL);
	dcr_room_free(room);
	recorder_release(&rec);
	session_close(&s);
	free(body);
	free(yaml);
	free(dir_copy);
	return r;
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
	if (!opt_set(cmd, args, "dry-run"))
		return create_in_dcrd(cmd, cli, args->argv[0], salt ? salt : "");
	if (cli->specs && dcr_specs_load(cli->specs, &specs, &err) < 0)
		return report(cmd, &err);
	r = dcr_room_load(args->argv[0], specs, salt ? salt : "", &room, &err);
	dcr_specs_free(specs);
	if (r < 0)
		return report(cmd, &err);
	r = print_room(cmd, cli, room, false);
	dcr_room_free(room);
	return r;
}
