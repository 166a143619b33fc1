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
#include <pthread.h>
#include <stdatomic.h>
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

/* Without the call lock: who vouches for the caller, read through the second connection. */
int dataset_create_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *err)
{
	if (!svc->reader)
		return 0;
	pthread_mutex_lock(svc->reader_lock);
	caller_known(svc->reader, req, &prep->ca);
	prep->known = prep->ca.der != NULL;
	pthread_mutex_unlock(svc->reader_lock);
	return 0;
}

int dataset_create(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
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
	int r;

	if ((r = state_delete_record(svc->state, "dataset", "", id, err)) < 0 ||
	    (r = state_blob_delete(svc->state, id, err)) < 0)
		return r;
	/* The file goes once the deletion commits, outside the call lock: a failed commit leaves it all. */
	return blob_delete_on_commit(svc, id, err);
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
	char room_id[static 65], struct dcr_err *err)
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
	/* Replaced in the room after the job started, it is still what the job reads. */
	if (jobs_reading(ref->dataset_id)) {
		r = dcr_err_set(err, DCR_EFAIL, "dataset %s is being read by a running job; delete it once the job "
						"has ended", ref->dataset_id);
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

/*
 * Which file a blob is: any write to it changes its change time, which
 * only the kernel sets. What checking found holds for this file only.
 */
struct blob_file {
	uint64_t dev, ino, size;
	int64_t ctime_s, ctime_ns;
};

static void blob_file_of(const struct stat *st, struct blob_file *f)
{
	*f = (struct blob_file){ (uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
		(int64_t)st->st_ctim.tv_sec, (int64_t)st->st_ctim.tv_nsec };
}

static bool same_file(const struct blob_file *a, const struct blob_file *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->ctime_s == b->ctime_s &&
	       a->ctime_ns == b->ctime_ns;
}

/*
 * Decrypt and check the dataset for node: into pc its hash, size and rows,
 * or why it does not fit; *file is the blob's file as it was opened, and
 * *stable whether it was still that file after the last byte was read.
 */
static void check_dataset(const struct service *svc, const Dcr__V1__DataNode *node, const char *blob_id,
	const uint8_t *key, struct publish_check *pc, struct blob_file *file, bool *stable)
{
	struct check c = { 0 };
	struct dcr_err err = { 0 };
	struct blob_file after;
	struct stat st;
	int fd, r;

	*stable = false;
	if (!(c.hash = dcr_sha256_new())) {
		r = dcr_err_set(&err, DCR_ENOMEM, "out of memory");
	} else if (node->kind_case == DCR__V1__DATA_NODE__KIND_TABLE &&
		   !(c.table = dcr_table_loader_new(node->table, node->name, count_row, NULL, &err))) {
		r = err.code;
	} else if ((r = fd = open_blob(svc, blob_id, &err)) >= 0) {
		if (fstat(fd, &st) == 0)
			blob_file_of(&st, file);
		r = dcr_stream_decrypt_fd_sink(fd, key, check_sink, &c, &err);
		if (r == DCR_EINTEGRITY)
			dcr_err_prefix(&err, "the dataset does not decrypt with the key sent (tampered with, or another "
					     "dataset's key)");
		if (fstat(fd, &st) == 0) {
			blob_file_of(&st, &after);
			*stable = same_file(file, &after);
		}
		close(fd);
	}
	if (r == 0 && c.table)
		r = dcr_table_loader_finish(c.table, &pc->rows, &err);
	if (r == 0)
		r = dcr_sha256_final(c.hash, pc->sha256, &err);
	pc->size = c.size;
	pc->code = r;
	snprintf(pc->msg, sizeof(pc->msg), "%s", r < 0 ? err.msg : "");
	dcr_table_loader_free(c.table);
	dcr_sha256_free(c.hash);
}

/*
 * What checking found, by dataset, key, node and blob file: the same
 * dataset published again, to the same node or one of the same name and
 * schema in another room, is not decrypted again while its file has not
 * changed. A file the host writes to is checked afresh; and a job checks
 * the plaintext it reads against the hash recorded at publish whatever
 * happened since. In memory, the least recently used forgotten first.
 */
#define CHECKED_MAX 256

static struct {
	pthread_mutex_t lock;
	struct checked {
		uint8_t id[DCR_SHA256_LEN];  /* check_id */
		uint64_t used;
		struct publish_check check;
	} items[CHECKED_MAX];
	size_t n;
	uint64_t clock;
} checked = { .lock = PTHREAD_MUTEX_INITIALIZER };
static atomic_ulong n_checked, n_reused;

void dataset_check_counts(unsigned long *decrypted, unsigned long *reused)
{
	*decrypted = atomic_load(&n_checked);
	*reused = atomic_load(&n_reused);
}

/* SHA-256 of the dataset ID, the key, the node as the room defines it, and the blob's file. */
static int check_id(const char *dataset_id, const uint8_t key[static DCR_STREAM_KEY_LEN], const Dcr__V1__DataNode *node,
	const struct blob_file *file, uint8_t out[static DCR_SHA256_LEN])
{
	struct dcr_sha256 *h = dcr_sha256_new();
	size_t len = dcr__v1__data_node__get_packed_size(node);
	uint8_t *packed, f[40];
	int r;

	if (!h || !(packed = malloc(len ? len : 1))) {
		dcr_sha256_free(h);
		return DCR_ENOMEM;
	}
	dcr__v1__data_node__pack(node, packed);
	memcpy(f, &file->dev, 8);
	memcpy(f + 8, &file->ino, 8);
	memcpy(f + 16, &file->size, 8);
	memcpy(f + 24, &file->ctime_s, 8);
	memcpy(f + 32, &file->ctime_ns, 8);
	if ((r = dcr_sha256_update(h, "dcr-publish-check-v1", 21, NULL)) == 0 &&
	    (r = dcr_sha256_update(h, dataset_id, strlen(dataset_id) + 1, NULL)) == 0 &&
	    (r = dcr_sha256_update(h, key, DCR_STREAM_KEY_LEN, NULL)) == 0 &&
	    (r = dcr_sha256_update(h, packed, len, NULL)) == 0 && (r = dcr_sha256_update(h, f, sizeof(f), NULL)) == 0)
		r = dcr_sha256_final(h, out, NULL);
	free(packed);
	dcr_sha256_free(h);
	return r;
}

static bool checked_get(const uint8_t id[static DCR_SHA256_LEN], struct publish_check *out)
{
	bool found = false;

	pthread_mutex_lock(&checked.lock);
	for (size_t i = 0; i < checked.n && !found; i++)
		if (memcmp(checked.items[i].id, id, DCR_SHA256_LEN) == 0) {
			checked.items[i].used = ++checked.clock;
			*out = checked.items[i].check;
			found = true;
		}
	pthread_mutex_unlock(&checked.lock);
	return found;
}

static void checked_put(const uint8_t id[static DCR_SHA256_LEN], const struct publish_check *c)
{
	struct checked *slot = NULL;

	pthread_mutex_lock(&checked.lock);
	for (size_t i = 0; i < checked.n && !slot; i++)
		if (memcmp(checked.items[i].id, id, DCR_SHA256_LEN) == 0)
			slot = &checked.items[i];
	if (!slot && checked.n < CHECKED_MAX)
		slot = &checked.items[checked.n++];
	for (size_t i = 0; !slot && i < checked.n; i++)
		if (i == 0 || checked.items[i].used < slot->used)
			slot = &checked.items[i];
	memcpy(slot->id, id, DCR_SHA256_LEN);
	slot->used = ++checked.clock;
	slot->check = *c;
	pthread_mutex_unlock(&checked.lock);
}

/*
 * Check dataset blob_id with key for node, or take what checking found
 * before for the same file. What the data decides (it fits, it does not
 * decrypt, it breaks the schema) is remembered; a failure to read or to
 * allocate is not.
 */
static void check_once(const struct service *svc, const Dcr__V1__DataNode *node, const char *blob_id,
	const uint8_t *key, struct publish_check *pc)
{
	struct blob_file now = { 0 }, read = { 0 };
	uint8_t id[DCR_SHA256_LEN];
	char path[4096];
	struct stat st;
	bool known, stable;

	memset(pc, 0, sizeof(*pc));
	known = blob_path(svc, blob_id, path, sizeof(path), NULL) == 0 && stat(path, &st) == 0;
	if (known)
		blob_file_of(&st, &now);
	known = known && check_id(blob_id, key, node, &now, id) == 0;
	if (known && checked_get(id, pc)) {
		atomic_fetch_add(&n_reused, 1);
	} else {
		atomic_fetch_add(&n_checked, 1);
		check_dataset(svc, node, blob_id, key, pc, &read, &stable);
		if (known && stable && same_file(&now, &read) &&
		    (pc->code == 0 || pc->code == DCR_EINVALID || pc->code == DCR_EINTEGRITY))
			checked_put(id, pc);
	}
	pc->done = true;
}

/*
 * Who is having a dataset checked now: one check at a time per caller (an
 * address with the root its chain verified to, as every per-caller limit:
 * the same address certified by another CA is someone else, whose checks
 * are neither refused nor told about because of this one's), and the
 * checks share the slots room definitions are validated in (at most 2,
 * each in a thread of its own), so callers cannot take every core.
 */
#define CHECKERS_MAX 8

static struct {
	pthread_mutex_t lock;
	struct caller_id callers[CHECKERS_MAX];
	bool busy[CHECKERS_MAX];
} checking = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int begin_check(struct service *svc, const struct caller_id *caller, struct dcr_err *err)
{
	size_t free_slot = CHECKERS_MAX;
	int r = 0;

	pthread_mutex_lock(&checking.lock);
	for (size_t i = 0; i < CHECKERS_MAX && r == 0; i++) {
		if (!checking.busy[i] && free_slot == CHECKERS_MAX)
			free_slot = i;
		else if (checking.busy[i] && caller_id_equal(&checking.callers[i], caller))
			r = dcr_err_set(err, DCR_EFAIL, "%s is publishing another dataset right now; publish this one "
							"when that is done", caller->email);
	}
	if (r == 0 && free_slot == CHECKERS_MAX)
		r = dcr_err_set(err, DCR_EFAIL, "dcrd is busy checking other datasets; try again in a moment");
	if (r == 0 && svc->creators && (r = creators_begin_validation(svc->creators, err)) == 0) {
		checking.callers[free_slot] = *caller;
		checking.busy[free_slot] = true;
	}
	pthread_mutex_unlock(&checking.lock);
	return r;
}

static void end_check(struct service *svc, const struct caller_id *caller)
{
	pthread_mutex_lock(&checking.lock);
	for (size_t i = 0; i < CHECKERS_MAX; i++)
		if (checking.busy[i] && caller_id_equal(&checking.callers[i], caller))
			checking.busy[i] = false;
	if (svc->creators)
		creators_end_validation(svc->creators);
	pthread_mutex_unlock(&checking.lock);
}

/*
 * Whether the caller may publish dataset pr->dataset_id to pr->node of the
 * room, and the node (in rc->def). Cheap: read before the check without
 * the lock, and again under it.
 */
static int may_publish(struct service *svc, const struct dcr_call_request *req, const Dcr__V1__PublishRequest *pr,
	const struct room_ctx *rc, const Dcr__V1__DataNode **node, Dcr__V1__DatasetRecord **ds, struct dcr_err *err)
{
	struct state_blob blob;
	char what[160];
	int r;

	*ds = NULL;
	if (!(*node = room_data_node(rc->def, pr->node)))
		return room_no_such(rc->def, pr->room_id, true, pr->node, err);
	snprintf(what, sizeof(what), "upload %s", pr->node);
	if (!may(rc->def, rc->p, DCR__V1__ACTION__ACTION_UPLOAD, pr->node))
		return denied(req->email, what, pr->room_id, err);
	if (rc->rec->status != DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE)
		return dcr_err_set(err, DCR_EDENIED, "room %s is stopped: it takes no more data", pr->room_id);
	/* The dataset key, which must decrypt it below, proves possession where the record names no CA. */
	if ((r = own_dataset(svc, pr->dataset_id, req, true, ds, err)) < 0)
		return r;
	if ((r = state_blob_get(svc->state, pr->dataset_id, &blob, err)) < 0)
		return r;
	if (!blob.complete)
		return dcr_err_set(err, DCR_EINVALID, "dataset %s is not completely uploaded: %llu of %llu bytes arrived "
						      "(dcr upload --resume finishes it)", pr->dataset_id,
			(unsigned long long)blob.received, (unsigned long long)blob.size);
	if (pr->key.len != DCR_STREAM_KEY_LEN || pr->plaintext_sha256.len != DCR_SHA256_LEN)
		return dcr_err_set(err, DCR_EINVALID, "malformed dataset.publish request: key or hash has the wrong length");
	return 0;
}

int dataset_publish_prepare(struct service *svc, const struct dcr_call_request *req, struct call_prep *prep,
	struct dcr_err *unused)
{
	Dcr__V1__PublishRequest *pr = dcr__v1__publish_request__unpack(NULL, req->body_len, req->body);
	struct service reader = *svc;
	const Dcr__V1__DataNode *node = NULL;
	Dcr__V1__DatasetRecord *ds = NULL;
	struct room_ctx rc = { 0 };
	struct dcr_err err;
	char room_id[65];
	int r = -1;

	/* Whatever is wrong here is found again under the lock, and refused there, in the room's log. */
	if (!pr || !svc->reader)
		goto out;
	reader.state = svc->reader;
	reader.note = NULL;
	pthread_mutex_lock(svc->reader_lock);
	if ((r = room_enter(&reader, req, pr->room_id, &rc, room_id, &err)) == 0)
		r = may_publish(&reader, req, pr, &rc, &node, &ds, &err);
	pthread_mutex_unlock(svc->reader_lock);
	if (r < 0)
		goto out;
	if (begin_check(svc, &rc.caller, &err) < 0) {
		prep->check = (struct publish_check){ .done = true, .code = err.code };
		snprintf(prep->check.msg, sizeof(prep->check.msg), "%s", err.msg);
		goto out;
	}
	check_once(svc, node, pr->dataset_id, pr->key.data, &prep->check);
	end_check(svc, &rc.caller);
out:
	if (ds)
		protobuf_c_message_free_unpacked(&ds->base, NULL);
	room_leave(&rc);
	if (pr && pr->key.data)
		dcr_wipe(pr->key.data, pr->key.len);
	dcr__v1__publish_request__free_unpacked(pr, NULL);
	return 0;
}

static int publish(struct service *svc, const struct dcr_call_request *req, const Dcr__V1__PublishRequest *pr,
	const struct room_ctx *rc, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	const Dcr__V1__DataNode *node;
	Dcr__V1__PublicationRecord pub = DCR__V1__PUBLICATION_RECORD__INIT, *old = NULL;
	Dcr__V1__PublishResponse resp = DCR__V1__PUBLISH_RESPONSE__INIT;
	Dcr__V1__DatasetInfo info = DCR__V1__DATASET_INFO__INIT;
	Dcr__V1__DatasetRecord *ds = NULL;
	struct publish_check pc;
	char hex[65], record_name[STATE_PRIVATE_NAME_LEN + 1];
	int r;

	if ((r = may_publish(svc, req, pr, rc, &node, &ds, err)) < 0)
		goto out;
	/*
	 * Checked before the lock was taken; what that check depends on (the
	 * complete blob, the key sent, the room's node) cannot have changed
	 * since. Without a second connection to read through, it is done here.
	 */
	if (svc->prep && svc->prep->check.done) {
		pc = svc->prep->check;
	} else if (!svc->reader) {
		check_once(svc, node, pr->dataset_id, pr->key.data, &pc);
	} else {
		r = dcr_err_set(err, DCR_EFAIL, "dataset %s changed while dcrd was checking it; publish it again",
			pr->dataset_id);
		goto out;
	}
	if (pc.code < 0) {
		r = dcr_err_set(err, pc.code, "%s", pc.msg);
		if (pc.code != DCR_EFAIL)
			dcr_err_prefix(err, "dataset %s for node '%s'", pr->dataset_id, pr->node);
		goto out;
	}
	if (!dcr_ct_equal(pc.sha256, pr->plaintext_sha256.data, DCR_SHA256_LEN)) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "dataset %s decrypts to other data than was uploaded (SHA-256 "
						     "differs)", pr->dataset_id);
		goto out;
	}
	dcr_hex(pc.sha256, DCR_SHA256_LEN, hex);
	if (node->kind_case == DCR__V1__DATA_NODE__KIND_CODE &&
	    (node->code->sha256.len != DCR_SHA256_LEN || !dcr_ct_equal(node->code->sha256.data, pc.sha256, 32))) {
		r = dcr_err_set(err, DCR_EINVALID, "code node '%s' accepts only the code the room pins; this code's "
						   "SHA-256 is %s", pr->node, hex);
		goto out;
	}
	info.plaintext_sha256 = (ProtobufCBinaryData){ DCR_SHA256_LEN, pc.sha256 };
	info.size = pc.size;
	info.rows = pc.rows;
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
		if (r == 0)
			jobs_room_published(pr->room_id);
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
