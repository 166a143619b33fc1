/*
 * Datasets: dataset.create hands out a blob for an upload's ciphertext
 * (within the uploader's quotas and the disk's room, see storage.c),
 * dataset.publish makes it a room node's data once dcrd has decrypted and
 * checked it, dataset.list shows what each node holds, dataset.delete
 * removes an upload its uploader no longer needs. The dataset key reaches
 * dcrd only inside the encrypted publish call and is kept sealed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "table.h"
#include "util.h"

#include "banned.h"

/* The largest upload dcrd accepts. */
#define MAX_DATASET (64ull << 30)
#define NAME_MAX_LEN 255

/* ---- dataset.create ---- */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || strchr(s, '/'))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int dataset_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	Dcr__V1__CreateDatasetRequest *cr = dcr__v1__create_dataset_request__unpack(NULL, req->body_len, req->body);
	Dcr__V1__CreateDatasetResponse resp = DCR__V1__CREATE_DATASET_RESPONSE__INIT;
	Dcr__V1__DatasetRecord rec = DCR__V1__DATASET_RECORD__INIT;
	struct verified_ca ca = { 0 };
	struct caller_id owner;
	char id[DCR_BLOB_ID_LEN + 1], token[DCR_BLOB_TOKEN_MAX];
	int r;

	if (!cr) {
		r = dcr_err_set(err, DCR_EINVALID, "malformed dataset.create request");
		goto out;
	}
	if (!name_ok(cr->name)) {
		r = dcr_err_set(err, DCR_EINVALID, "a dataset name is 1 to %d bytes, without '/' or control characters",
			NAME_MAX_LEN);
		goto out;
	}
	if (cr->size < DCR_STREAM_HEADER_LEN + DCR_STREAM_TAG_LEN || cr->size > MAX_DATASET) {
		r = dcr_err_set(err, DCR_EINVALID, "an upload is %d to %llu bytes of ciphertext",
			DCR_STREAM_HEADER_LEN + DCR_STREAM_TAG_LEN, MAX_DATASET);
		goto out;
	}
	/*
	 * Uploads belong to no room yet: anyone some room (or the platform CA)
	 * accepts may upload. The root that vouched for the uploader is kept:
	 * only a chain to it makes a later caller with this address the uploader.
	 */
	if (!caller_ca(svc, req, &ca)) {
		r = dcr_err_set(err, DCR_EDENIED, "%s: no room here accepts this certificate, and it is not from this "
						 "dcrd's platform CA, so it may not upload", req->email);
		goto out;
	}
	caller_id_set(&owner, req->email, ca.fingerprint);
	if ((r = storage_admit(svc, &owner, cr->size, err)) < 0 ||
	    (r = blob_new(svc, cr->size, 0, id, token, err)) < 0)
		goto out;
	rec.owner = (char *)req->email;
	rec.owner_ca = (ProtobufCBinaryData){ ca.len, ca.der };
	rec.name = cr->name;
	rec.size = cr->size;
	rec.created_ms = dcr_now_ms();
	/*
	 * Counted at once: should the call not commit after all, the upload
	 * holds its reservation until it expires, when the sweep finds nothing
	 * to delete and releases it.
	 */
	if ((r = state_put_record(svc->state, "dataset", "", id, 0, &rec.base, err)) < 0 ||
	    (r = storage_add(id, &owner, cr->size, rec.created_ms, err)) < 0)
		goto out;
	resp.dataset_id = id;
	resp.upload_token = token;
	r = pack_answer(&resp.base, out, out_len, err);
out:
	dcr_wipe(token, sizeof(token));
	verified_ca_release(&ca);
	dcr__v1__create_dataset_request__free_unpacked(cr, NULL);
	return r;
}

void dataset_owner(const Dcr__V1__DatasetRecord *ds, struct caller_id *out)
{
	uint8_t fp[DCR_SHA256_LEN];
	char hex[65] = "";

	if (ds->owner_ca.len && dcr_sha256(ds->owner_ca.data, ds->owner_ca.len, fp, NULL) == 0)
		dcr_hex(fp, sizeof(fp), hex);
	caller_id_set(out, ds->owner, hex);
}

/* ---- dataset.delete ---- */

/*
 * Whether the caller is the uploader of ds: its address, and a chain to
 * the root that vouched for the uploader then. A record from before roots
 * were kept names an address only; anyone_with_address says whether that
 * is enough (publishing, where the dataset key proves possession) or not.
 */
static bool uploader(const Dcr__V1__DatasetRecord *ds, const struct dcr_call_request *req, bool anyone_with_address)
{
	const uint8_t *root = ds->owner_ca.data;
	size_t len = ds->owner_ca.len;
	struct dcr_err ignored;

	if (strcmp(ds->owner, req->email) != 0)
		return false;
	if (len == 0)
		return anyone_with_address;
	return dcr_call_verify_chain(req, &root, &len, 1, clock_now(), NULL, &ignored) == 0;
}

/*
 * The record of dataset id if the caller uploaded it (see uploader()).
 * Anyone else's is not found, so IDs cannot be probed.
 */
static int own_dataset(struct service *svc, const char *id, const struct dcr_call_request *req,
	bool anyone_with_address, Dcr__V1__DatasetRecord **ds, struct dcr_err *err)
{
	*ds = NULL;
	if (blob_id_valid(id) && state_get_record(svc->state, "dataset", "", id, &dcr__v1__dataset_record__descriptor,
					 (ProtobufCMessage **)ds, err) == 0 && uploader(*ds, req, anyone_with_address))
		return 0;
	if (*ds)
		protobuf_c_message_free_unpacked(&(*ds)->base, NULL);
	*ds = NULL;
	return dcr_err_set(err, DCR_ENOTFOUND, "no dataset %.64s uploaded by %s", id, req->email);
}

int dataset_erase(struct service *svc, const char *id, struct dcr_err *err)
{
	char path[4096];
	int r;

	if ((r = state_delete_record(svc->state, "dataset", "", id, err)) < 0 ||
	    (r = state_blob_delete(svc->state, id, err)) < 0 || (r = blob_path(svc, id, path, sizeof(path), err)) < 0)
		return r;
	/*
	 * Before the commit: should it fail, the records remain without their
	 * ciphertext and deleting again finishes the job, rather than
	 * ciphertext remaining that no record accounts for.
	 */
	if (unlink(path) < 0 && errno != ENOENT)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot delete blob %s", id);
	return 0;
}

/* Whether an active room has dataset id published to a node: such a dataset stays. */
struct in_use {
	struct service *svc;
	const char *id;
	char room_id[65], node[256];
};

static int find_use(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	const Dcr__V1__PublicationRecord *pub = (const Dcr__V1__PublicationRecord *)msg;
	struct in_use *u = ctx;
	Dcr__V1__RoomRecord *room = NULL;
	struct dcr_err ignored;
	bool active;

	if (!pub->blob_id || strcmp(pub->blob_id, u->id) != 0)
		return 0;
	/* A room that cannot be read counts as active: better keep data than break a room. */
	active = state_get_room(u->svc->state, scope, &room, &ignored) < 0 ||
		 room->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE;
	dcr__v1__room_record__free_unpacked(room, NULL);
	if (!active)
		return 0;
	snprintf(u->room_id, sizeof(u->room_id), "%s", scope);
	/* The record's name is keyed (state_private_name), not the node's. */
	snprintf(u->node, sizeof(u->node), "%s", pub->info && pub->info->node ? pub->info->node : "?");
	return 1;
}

int dataset_delete(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	Dcr__V1__DatasetRef *ref = dcr__v1__dataset_ref__unpack(NULL, req->body_len, req->body);
	Dcr__V1__DeleteDatasetResponse resp = DCR__V1__DELETE_DATASET_RESPONSE__INIT;
	Dcr__V1__DatasetRecord *ds = NULL;
	struct in_use use = { svc, NULL, "", "" };
	struct caller_id owner;
	int r;

	if (!ref)
		return dcr_err_set(err, DCR_EINVALID, "malformed dataset.delete request");
	/* No call proves who uploaded a dataset whose record names no CA: it is not deleted by call. */
	if ((r = own_dataset(svc, ref->dataset_id, req, false, &ds, err)) < 0)
		goto out;
	use.id = ref->dataset_id;
	/* Every publication is read: deletions are rare, and records say which dataset only when unsealed. */
	if ((r = state_each_record(svc->state, "publication", NULL, &dcr__v1__publication_record__descriptor, find_use,
		     &use, err)) < 0)
		goto out;
	if (r > 0) {
		r = dcr_err_set(err, DCR_EDENIED, "dataset %s is published to node '%s' of room %s, which is active: it "
						  "stays until the room is stopped or another dataset replaces it there",
			ref->dataset_id, use.node, use.room_id);
		goto out;
	}
	if (blob_writing(ref->dataset_id)) {
		r = dcr_err_set(err, DCR_EFAIL, "dataset %s is being uploaded right now; stop the upload first",
			ref->dataset_id);
		goto out;
	}
	if ((r = dataset_erase(svc, ref->dataset_id, err)) < 0)
		goto out;
	dataset_owner(ds, &owner);
	storage_forget(ref->dataset_id, &owner, ds->size);
	fprintf(stderr, "dcrd: dataset %s deleted by its uploader (%llu bytes)\n", ref->dataset_id,
		(unsigned long long)ds->size);
	resp.size = ds->size;
	r = pack_answer(&resp.base, out, out_len, err);
out:
	if (ds)
		protobuf_c_message_free_unpacked(&ds->base, NULL);
	dcr__v1__dataset_ref__free_unpacked(ref, NULL);
	return r;
}

/* ---- reading a blob's plaintext ---- */

/*
 * The file of a blob its record says is complete, open for reading. The
 * file is the host's to delete or replace: one that is not there, or not a
 * regular file (a symbolic link, a directory, a FIFO that would block the
 * open), is an integrity violation like one whose bytes were changed.
 */
int open_blob(const struct service *svc, const char *blob_id, struct dcr_err *err)
{
	char path[4096];
	struct stat st;
	int fd, r;

	if ((r = blob_path(svc, blob_id, path, sizeof(path), err)) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return dcr_err_set(err, DCR_EINTEGRITY, "blob %s is missing from the data directory (deleted or "
							     "replaced on the host)", blob_id);
		return dcr_err_errno(err, DCR_EIO, errno, "cannot read blob %s", blob_id);
	}
	if (fstat(fd, &st) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot read blob %s", blob_id);
	else if (!S_ISREG(st.st_mode))
		r = dcr_err_set(err, DCR_EINTEGRITY, "blob %s in the data directory is not a regular file (replaced on "
						     "the host)", blob_id);
	else
		return fd;
	close(fd);
	return r;
}

static int read_blob(const struct service *svc, const char *blob_id, const uint8_t *key, dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err)
{
	int fd = open_blob(svc, blob_id, err), r;

	if (fd < 0)
		return fd;
	r = dcr_stream_decrypt_fd_sink(fd, key, sink, ctx, err);
	close(fd);
	return r;
}

int publication_read(const struct service *svc, const Dcr__V1__PublicationRecord *pub, dcr_stream_sink *sink,
	void *ctx, struct dcr_err *err)
{
	if (pub->key.len != DCR_STREAM_KEY_LEN)
		return dcr_err_set(err, DCR_EINTEGRITY, "a publication record has no key");
	return read_blob(svc, pub->blob_id, pub->key.data, sink, ctx, err);
}

/* ---- dataset.publish ---- */

/* What publishing learns of the plaintext on its way through. */
struct check {
	struct dcr_sha256 *hash;
	uint64_t size;
	struct dcr_table_loader *table;
};

static int check_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct check *c = ctx;
	int r;

	c->size += len;
	if ((r = dcr_sha256_update(c->hash, buf, len, err)) < 0)
		return r;
	return c->table ? dcr_table_loader_write(c->table, buf, len, err) : 0;
}

/* Rows are only counted here; the SQL worker loads them when a job runs. */
static int count_row(void *ctx, const struct dcr_table_value *values, size_t n, struct dcr_err *err)
{
	return 0;
}

/* Decrypt and check the dataset for node; fills info's hash, size and rows. */
static int check_dataset(const struct service *svc, const Dcr__V1__DataNode *node, const char *blob_id,
	const uint8_t *key, Dcr__V1__DatasetInfo *info, struct dcr_err *err)
{
	struct check c = { 0 };
	uint64_t rows = 0;
	int fd, r;

	if (!(c.hash = dcr_sha256_new()))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (node->kind_case == DCR__V1__DATA_NODE__KIND_TABLE &&
	    !(c.table = dcr_table_loader_new(node->table, node->name, count_row, NULL, err))) {
		dcr_sha256_free(c.hash);
		return err->code;
	}
	if ((fd = open_blob(svc, blob_id, err)) < 0) {
		r = fd;
	} else {
		r = dcr_stream_decrypt_fd_sink(fd, key, check_sink, &c, err);
		close(fd);
		if (r == DCR_EINTEGRITY)
			dcr_err_prefix(err, "the dataset does not decrypt with the key sent (tampered with, or another "
					    "dataset's key)");
	}
	if (r == 0 && c.table)
		r = dcr_table_loader_finish(c.table, &rows, err);
	if (r == 0)
		r = dcr_sha256_final(c.hash, info->plaintext_sha256.data, err);
	info->size = c.size;
	info->rows = rows;
	dcr_table_loader_free(c.table);
	dcr_sha256_free(c.hash);
	return r;
}

static int publish(struct service *svc, const struct dcr_call_request *req, const Dcr__V1__PublishRequest *pr,
	const struct room_ctx *rc, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	const Dcr__V1__DataNode *node = room_data_node(rc->def, pr->node);
	Dcr__V1__PublicationRecord pub = DCR__V1__PUBLICATION_RECORD__INIT, *old = NULL;
	Dcr__V1__PublishResponse resp = DCR__V1__PUBLISH_RESPONSE__INIT;
	Dcr__V1__DatasetInfo info = DCR__V1__DATASET_INFO__INIT;
	Dcr__V1__DatasetRecord *ds = NULL;
	struct state_blob blob;
	uint8_t digest[DCR_SHA256_LEN];
	char what[160], hex[65], record_name[STATE_PRIVATE_NAME_LEN + 1];
	int r;

	if (!node)
		return room_no_such(rc->def, pr->room_id, true, pr->node, err);
	snprintf(what, sizeof(what), "upload %s", pr->node);
	if (!may(rc->def, rc->p, DCR__V1__ACTION__ACTION_UPLOAD, pr->node))
		return denied(req->email, what, pr->room_id, err);
	if (rc->rec->status != DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE)
		return dcr_err_set(err, DCR_EDENIED, "room %s is stopped: it takes no more data", pr->room_id);
	/* The dataset key, which must decrypt it below, proves possession where the record names no CA. */
	if ((r = own_dataset(svc, pr->dataset_id, req, true, &ds, err)) < 0)
		goto out;
	if ((r = state_blob_get(svc->state, pr->dataset_id, &blob, err)) < 0)
		goto out;
	if (!blob.complete) {
		r = dcr_err_set(err, DCR_EINVALID, "dataset %s is not completely uploaded: %llu of %llu bytes arrived "
						   "(dcr upload --resume finishes it)", pr->dataset_id,
			(unsigned long long)blob.received, (unsigned long long)blob.size);
		goto out;
	}
	if (pr->key.len != DCR_STREAM_KEY_LEN || pr->plaintext_sha256.len != DCR_SHA256_LEN) {
		r = dcr_err_set(err, DCR_EINVALID, "malformed dataset.publish request: key or hash has the wrong length");
		goto out;
	}
	info.plaintext_sha256 = (ProtobufCBinaryData){ DCR_SHA256_LEN, digest };
	if ((r = check_dataset(svc, node, pr->dataset_id, pr->key.data, &info, err)) < 0) {
		dcr_err_prefix(err, "dataset %s for node '%s'", pr->dataset_id, pr->node);
		goto out;
	}
	if (!dcr_ct_equal(digest, pr->plaintext_sha256.data, DCR_SHA256_LEN)) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "dataset %s decrypts to other data than was uploaded (SHA-256 "
						     "differs)", pr->dataset_id);
		goto out;
	}
	dcr_hex(digest, DCR_SHA256_LEN, hex);
	if (node->kind_case == DCR__V1__DATA_NODE__KIND_CODE &&
	    (node->code->sha256.len != DCR_SHA256_LEN || !dcr_ct_equal(node->code->sha256.data, digest, 32))) {
		r = dcr_err_set(err, DCR_EINVALID, "code node '%s' accepts only the code the room pins; this code's "
						   "SHA-256 is %s", pr->node, hex);
		goto out;
	}
	info.node = pr->node;
	info.dataset_id = pr->dataset_id;
	info.name = ds->name;
	info.publisher = (char *)req->email;
	info.published_ms = dcr_now_ms();
	pub.info = &info;
	pub.key = pr->key;
	pub.blob_id = pr->dataset_id;
	/* Stored under a name that does not show the host the node's name from the sealed definition. */
	if ((r = state_private_name(svc->state, pr->room_id, pr->node, record_name, err)) < 0)
		goto out;
	if (state_get_record(svc->state, "publication", pr->room_id, record_name,
		    &dcr__v1__publication_record__descriptor, (ProtobufCMessage **)&old, err) == 0)
		note_fact(svc->note, "replaces", "%s", old->info ? old->info->dataset_id : "");
	if ((r = state_put_record(svc->state, "publication", pr->room_id, record_name, 0, &pub.base, err)) < 0)
		goto out;
	note_fact(svc->note, "sha256", "%s", hex);
	note_fact(svc->note, "bytes", "%llu", (unsigned long long)info.size);
	if (node->kind_case == DCR__V1__DATA_NODE__KIND_TABLE)
		note_fact(svc->note, "rows", "%llu", (unsigned long long)info.rows);
	resp.dataset = &info;
	r = pack_answer(&resp.base, out, out_len, err);
out:
	if (old && old->key.data)
		dcr_wipe(old->key.data, old->key.len);
	if (old)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	if (ds)
		protobuf_c_message_free_unpacked(&ds->base, NULL);
	return r;
}

int dataset_publish(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	Dcr__V1__PublishRequest *pr = dcr__v1__publish_request__unpack(NULL, req->body_len, req->body);
	struct room_ctx rc;
	int r;

	if (!pr)
		return dcr_err_set(err, DCR_EINVALID, "malformed dataset.publish request");
	if ((r = room_enter(svc, req, pr->room_id, &rc, room_id, err)) == 0) {
		note_object(svc->note, "%.64s", pr->node);
		note_fact(svc->note, "dataset", "%.64s", pr->dataset_id);
		r = publish(svc, req, pr, &rc, out, out_len, err);
		room_leave(&rc);
	}
	if (pr->key.data)
		dcr_wipe(pr->key.data, pr->key.len);
	dcr__v1__publish_request__free_unpacked(pr, NULL);
	return r;
}

/* ---- dataset.list ---- */

/* The publication without its key, which must not travel. */
static int list_one(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	Dcr__V1__PublicationRecord *pub = (Dcr__V1__PublicationRecord *)msg;

	if (!pub->info)
		return 0;
	return msg_list_add(ctx, &pub->info->base);
}

int datasets_list(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__ListDatasetsResponse resp = DCR__V1__LIST_DATASETS_RESPONSE__INIT;
	struct msg_list l = { 0 };
	int r;

	if (!may(rc->def, rc->p, DCR__V1__ACTION__ACTION_LIST_DATASETS, NULL))
		return denied(req->email, "list-datasets", room_id, err);
	r = state_each_record(svc->state, "publication", room_id, &dcr__v1__publication_record__descriptor, list_one, &l,
		err);
	if (r == DCR_ENOMEM)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r == 0) {
		resp.datasets = (Dcr__V1__DatasetInfo **)l.items;
		resp.n_datasets = l.n;
		r = pack_answer(&resp.base, out, out_len, err);
	}
	msg_list_free(&l);
	return r;
}
