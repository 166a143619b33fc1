/*
 * Storage: what uploads and results may take of the data directory's disk.
 * New data never takes free space below a floor, which is left for the
 * state database; dataset.create reserves the whole declared size of an
 * upload until it is complete, as long as bytes keep arriving (an upload
 * idle for --upload-idle loses its reservation until its next PUT finds
 * room again); each uploader (its e-mail address with the root that
 * vouched for it, struct caller_id) has quotas; uploads not finished in
 * time are deleted. Jobs' results count against the caller who ran the job
 * (with the root that vouched for it) and against its room, and are
 * deleted after --result-expiry.
 *
 * The ledger is in memory, under the service lock, rebuilt at start from
 * the sealed dataset and job records. Keeping per-uploader totals in
 * state.db would show the host which uploads are one uploader's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "crypto.h"
#include "dcrd.h"
#include "util.h"

#include "banned.h"

#define MAX_UNFINISHED 65536       /* unfinished uploads on this dcrd, whatever the quotas */
#define EXPIRY_EVERY_MS 1000
#define MAX_TOMBSTONES 4096        /* expired uploads remembered, for 410 (the oldest are forgotten first) */

/*
 * One uploader's datasets, complete or not, and the results of the jobs it
 * ran; or, under a room's ID (no e-mail address looks like one), the
 * results of the room's jobs.
 */
struct uploader {
	struct caller_id who;
	uint64_t bytes;            /* declared ciphertext sizes */
	unsigned datasets, unfinished;
	uint64_t results;          /* ciphertext sizes of results kept */
	struct uploader *next;     /* in its bucket */
};

/* An upload not complete yet: its reservation is what has not arrived, unless it lapsed. */
struct upload {
	char id[DCR_BLOB_ID_LEN + 1];
	struct uploader *owner;
	uint64_t size, received;
	int64_t created_ms;
	int64_t active_ms;         /* monotonic: when it was created, resumed, or last had bytes arrive */
	bool lapsed;               /* idle too long: it reserves nothing until a PUT finds room for the rest */
	bool stuck;                /* its expiry failed, and said so once */
	struct upload *next;
};

/* A job's result on disk, until it expires. */
struct result {
	char room_id[65];
	char job_id[48];
	struct uploader *caller, *room;
	uint64_t size;             /* ciphertext */
	int64_t finished_ms;
	bool stuck;                /* its deletion failed, and said so once */
	struct result *next;
};

static struct {
	struct storage_limits lim;
	uint8_t key[32];           /* for bucket hashes: uploaders choose their addresses, not their buckets */
	struct uploader **buckets;
	size_t n_buckets, n_uploaders;
	struct upload *unfinished;
	unsigned n_unfinished;
	struct result *results, **results_tail; /* oldest first */
	uint64_t reserved;
	struct timespec last_expiry;
	/* For /healthz and /metrics, which do not take the lock. */
	atomic_uint_fast64_t reserved_now;
	atomic_uint unfinished_now;
	atomic_ulong expired, lapsed, results_expired;
	atomic_uint_fast64_t result_bytes;
	/* Uploads deleted for expiring, so that a PUT with their token learns why (410), until dcrd stops. */
	struct tombstone {
		char id[DCR_BLOB_ID_LEN + 1];
		uint8_t token_hash[32];
	} tombstones[MAX_TOMBSTONES];
	size_t next_tombstone;
} ledger = { .results_tail = &ledger.results };

/* What upload up holds of the disk beyond what has arrived. */
static uint64_t reservation(const struct upload *up)
{
	return up->lapsed ? 0 : up->size - up->received;
}

/* ---- uploaders ---- */

static size_t bucket(const struct caller_id *who, size_t n)
{
	uint8_t digest[DCR_SHA256_LEN];
	struct dcr_sha256 *h = dcr_sha256_new();
	uint64_t v = 0;

	/* The address with its NUL, then the CA: no two identities hash the same input. */
	if (h && dcr_sha256_update(h, ledger.key, sizeof(ledger.key), NULL) == 0 &&
	    dcr_sha256_update(h, who->email, strlen(who->email) + 1, NULL) == 0 &&
	    dcr_sha256_update(h, who->ca, strlen(who->ca), NULL) == 0 && dcr_sha256_final(h, digest, NULL) == 0)
		memcpy(&v, digest, sizeof(v));
	dcr_sha256_free(h);
	return (size_t)(v % n);
}

static struct uploader *find_uploader(const struct caller_id *who)
{
	if (!ledger.n_buckets)
		return NULL;
	for (struct uploader *u = ledger.buckets[bucket(who, ledger.n_buckets)]; u; u = u->next)
		if (caller_id_equal(&u->who, who))
			return u;
	return NULL;
}

/* Twice as many buckets once there are more uploaders than buckets. */
static int grow_buckets(void)
{
	size_t n = ledger.n_buckets ? 2 * ledger.n_buckets : 256;
	struct uploader **b = calloc(n, sizeof(*b));

	if (!b)
		return DCR_ENOMEM;
	for (size_t i = 0; i < ledger.n_buckets; i++)
		for (struct uploader *u = ledger.buckets[i], *next; u; u = next) {
			size_t k = bucket(&u->who, n);

			next = u->next;
			u->next = b[k];
			b[k] = u;
		}
	free(ledger.buckets);
	ledger.buckets = b;
	ledger.n_buckets = n;
	return 0;
}

static struct uploader *get_uploader(const struct caller_id *who)
{
	struct uploader *u = find_uploader(who);
	size_t k;

	if (u)
		return u;
	if (ledger.n_uploaders >= ledger.n_buckets && grow_buckets() < 0)
		return NULL;
	if (!(u = calloc(1, sizeof(*u))))
		return NULL;
	u->who = *who;
	k = bucket(who, ledger.n_buckets);
	u->next = ledger.buckets[k];
	ledger.buckets[k] = u;
	ledger.n_uploaders++;
	return u;
}

/* An uploader with nothing left is forgotten, so the table holds only those with data here. */
static void put_uploader(struct uploader *u)
{
	struct uploader **p;

	if (u->datasets > 0 || u->results > 0)
		return;
	for (p = &ledger.buckets[bucket(&u->who, ledger.n_buckets)]; *p != u; p = &(*p)->next)
		;
	*p = u->next;
	ledger.n_uploaders--;
	free(u);
}

/* ---- unfinished uploads ---- */

static void publish_counts(void)
{
	atomic_store(&ledger.reserved_now, ledger.reserved);
	atomic_store(&ledger.unfinished_now, ledger.n_unfinished);
}

static struct upload **find_upload(const char *id)
{
	struct upload **p;

	for (p = &ledger.unfinished; *p && strcmp((*p)->id, id) != 0; p = &(*p)->next)
		;
	return p;
}

static void drop_upload(struct upload **p)
{
	struct upload *up = *p;

	*p = up->next;
	ledger.reserved -= reservation(up);
	ledger.n_unfinished--;
	up->owner->unfinished--;
	free(up);
	publish_counts();
}

/* Count a dataset in the ledger: complete, or unfinished with received bytes so far. */
static int count_dataset(const char *id, const struct caller_id *owner, uint64_t size, bool complete,
	uint64_t received, int64_t created_ms)
{
	struct uploader *u = get_uploader(owner);
	struct upload *up = NULL;

	if (!u || (!complete && !(up = calloc(1, sizeof(*up))))) {
		if (u)
			put_uploader(u);
		return DCR_ENOMEM;
	}
	u->datasets++;
	u->bytes += size;
	if (up) {
		snprintf(up->id, sizeof(up->id), "%s", id);
		up->owner = u;
		up->size = size;
		up->received = received < size ? received : size;
		up->created_ms = created_ms;
		up->active_ms = dcr_monotonic_ms();
		up->next = ledger.unfinished;
		ledger.unfinished = up;
		ledger.n_unfinished++;
		ledger.reserved += up->size - up->received;
		u->unfinished++;
		publish_counts();
	}
	return 0;
}

/* ---- results ---- */

/* A room's results are counted under its ID, as an uploader no e-mail address can be. */
static struct caller_id room_key(const char *room_id)
{
	struct caller_id k;

	caller_id_set(&k, room_id, "");
	return k;
}

/* Count a result of size bytes of caller's job job_id in room_id, finished at finished_ms, as the newest. */
static int count_result(const struct caller_id *caller, const char *room_id, const char *job_id, uint64_t size,
	int64_t finished_ms)
{
	struct result *res = calloc(1, sizeof(*res));
	struct caller_id room = room_key(room_id);

	if (!res || !(res->caller = get_uploader(caller))) {
		free(res);
		return DCR_ENOMEM;
	}
	if (!(res->room = get_uploader(&room))) {
		put_uploader(res->caller);
		free(res);
		return DCR_ENOMEM;
	}
	snprintf(res->room_id, sizeof(res->room_id), "%s", room_id);
	snprintf(res->job_id, sizeof(res->job_id), "%s", job_id);
	res->size = size;
	res->finished_ms = finished_ms;
	res->caller->results += size;
	res->room->results += size;
	*ledger.results_tail = res;
	ledger.results_tail = &res->next;
	atomic_fetch_add(&ledger.result_bytes, size);
	return 0;
}

static void drop_result(struct result **p)
{
	struct result *res = *p;

	if (!(*p = res->next))
		ledger.results_tail = p;
	res->caller->results -= res->size;
	res->room->results -= res->size;
	put_uploader(res->caller);
	put_uploader(res->room);
	atomic_fetch_sub(&ledger.result_bytes, res->size);
	free(res);
}

/* ---- the disk ---- */

struct disk {
	uint64_t free, floor;
};

static int disk_now(const char *dir, struct disk *d, struct dcr_err *err)
{
	struct statvfs vfs;
	uint64_t total, share;

	if (statvfs(dir, &vfs) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot tell the free space of the data directory");
	d->free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	share = total / 100 * ledger.lim.min_free_percent;
	d->floor = share > ledger.lim.min_free ? share : ledger.lim.min_free;
	return 0;
}

/* How much more may be reserved or written now: what is free above the floor and the reservations. */
static uint64_t headroom(const struct disk *d)
{
	uint64_t kept = d->floor > UINT64_MAX - ledger.reserved ? UINT64_MAX : d->floor + ledger.reserved;

	return d->free > kept ? d->free - kept : 0;
}

static int upload_expired(struct dcr_err *err)
{
	return dcr_err_set(err, DCR_ENOTFOUND, "the upload expired: it was not complete %" PRIu64 " s after it began; "
					       "upload the file again", ledger.lim.expiry_s);
}

static int no_room(const struct disk *d, const char *what, uint64_t size, struct dcr_err *err)
{
	return dcr_err_set(err, DCR_EFAIL, "dcrd has no room for %s of %" PRIu64 " bytes: it keeps %" PRIu64 " bytes of "
					   "its disk free (--min-free) and can take at most %" PRIu64 " more bytes now",
		what, size, d->floor, headroom(d));
}

/* ---- the interface ---- */

static int load_one(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	const Dcr__V1__DatasetRecord *rec = (const Dcr__V1__DatasetRecord *)msg;
	struct service *svc = ctx;
	struct state_blob b;
	struct caller_id owner;
	struct dcr_err ignored;

	if (!blob_id_valid(name) || !rec->owner || !*rec->owner)
		return 0;
	/* A record without its blob row holds no reservation; it still counts against its owner. */
	if (state_blob_get(svc->state, name, &b, &ignored) < 0)
		b = (struct state_blob){ .size = rec->size, .received = rec->size, .complete = true };
	dataset_owner(rec, &owner);
	return count_dataset(name, &owner, rec->size, b.complete, b.received, rec->created_ms);
}

/* The results a start finds: every succeeded job's that was not deleted. */
struct found_result {
	char room_id[65];
	char job_id[48];
	struct caller_id caller;
	uint64_t size;
	int64_t finished_ms;
};

struct found_results {
	struct service *svc;
	struct found_result *items;
	size_t n, cap;
};

static int find_result(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	const Dcr__V1__JobRecord *rec = (const Dcr__V1__JobRecord *)msg;
	struct found_results *f = ctx;
	struct found_result *fr;
	struct state_blob b;
	struct dcr_err ignored;

	if (!rec->info || rec->info->status != DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED || !rec->blob_id ||
	    !*rec->blob_id || rec->result_deleted_ms || !rec->info->started_by || strlen(scope) != 64 ||
	    strlen(name) >= sizeof(fr->job_id) || state_blob_get(f->svc->state, rec->blob_id, &b, &ignored) < 0)
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		struct found_result *grown = cap <= SIZE_MAX / sizeof(*grown) ? realloc(f->items, cap * sizeof(*grown)) : NULL;

		if (!grown)
			return DCR_ENOMEM;
		f->items = grown;
		f->cap = cap;
	}
	fr = &f->items[f->n++];
	snprintf(fr->room_id, sizeof(fr->room_id), "%s", scope);
	snprintf(fr->job_id, sizeof(fr->job_id), "%s", name);
	caller_id_set(&fr->caller, rec->info->started_by, rec->started_by_ca ? rec->started_by_ca : "");
	fr->size = b.size;
	fr->finished_ms = rec->info->finished_ms;
	return 0;
}

static int by_finish(const void *a, const void *b)
{
	const struct found_result *x = a, *y = b;

	return (x->finished_ms > y->finished_ms) - (x->finished_ms < y->finished_ms);
}

/* Every kept result into the ledger, oldest first. */
static int load_results(struct service *svc, struct dcr_err *err)
{
	struct found_results f = { .svc = svc };
	int r = state_each_record(svc->state, "job", NULL, &dcr__v1__job_record__descriptor, find_result, &f, err);

	if (r == 0 && f.n)
		qsort(f.items, f.n, sizeof(*f.items), by_finish);
	for (size_t i = 0; r == 0 && i < f.n; i++)
		r = count_result(&f.items[i].caller, f.items[i].room_id, f.items[i].job_id, f.items[i].size,
			f.items[i].finished_ms);
	free(f.items);
	return r;
}

int storage_open(struct service *svc, const struct storage_limits *lim, struct dcr_err *err)
{
	int r;

	ledger.lim = *lim;
	clock_gettime(CLOCK_MONOTONIC, &ledger.last_expiry);
	if ((r = dcr_random(ledger.key, sizeof(ledger.key), err)) < 0)
		return r;
	pthread_mutex_lock(svc->lock);
	r = state_each_record(svc->state, "dataset", "", &dcr__v1__dataset_record__descriptor, load_one, svc, err);
	if (r == 0)
		r = load_results(svc, err);
	state_unlock(svc->state, svc->lock);
	if (r == DCR_ENOMEM)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r < 0)
		storage_close();
	return r;
}

void storage_close(void)
{
	while (ledger.results)
		drop_result(&ledger.results);
	while (ledger.unfinished) {
		struct upload *up = ledger.unfinished;

		ledger.unfinished = up->next;
		free(up);
	}
	for (size_t i = 0; i < ledger.n_buckets; i++)
		for (struct uploader *u = ledger.buckets[i], *next; u; u = next) {
			next = u->next;
			free(u);
		}
	free(ledger.buckets);
	ledger.buckets = NULL;
	ledger.n_buckets = ledger.n_uploaders = 0;
	ledger.n_unfinished = 0;
	ledger.reserved = 0;
	publish_counts();
}

int storage_admit(const struct service *svc, const struct caller_id *owner, uint64_t size, struct dcr_err *err)
{
	const struct uploader *u = find_uploader(owner);
	struct disk d;
	int r;

	if (u && u->datasets >= ledger.lim.max_datasets)
		return dcr_err_set(err, DCR_EFAIL, "%s has as many datasets on this dcrd as it keeps for one uploader "
						   "(%u, --max-uploads); delete one no longer needed (dcr upload --delete)",
			owner->email, u->datasets);
	if (u && u->unfinished >= ledger.lim.max_unfinished)
		return dcr_err_set(err, DCR_EFAIL, "%s has as many unfinished uploads as dcrd allows one uploader "
						   "(%u, --max-unfinished-uploads); finish one (dcr upload --resume) or "
						   "delete one (dcr upload --delete)", owner->email, u->unfinished);
	if ((u && u->bytes > ledger.lim.max_bytes) || size > ledger.lim.max_bytes - (u ? u->bytes : 0))
		return dcr_err_set(err, DCR_EFAIL, "an upload of %" PRIu64 " bytes would take %s past %" PRIu64 " bytes, "
						   "the most dcrd keeps for one uploader (--max-upload-bytes), who has %"
						   PRIu64 " now; delete uploads no longer needed (dcr upload --delete)",
			size, owner->email, ledger.lim.max_bytes, u ? u->bytes : 0);
	if (ledger.n_unfinished >= MAX_UNFINISHED)
		return dcr_err_set(err, DCR_EFAIL, "dcrd holds %d unfinished uploads, the most it holds; try again later",
			MAX_UNFINISHED);
	if ((r = disk_now(svc->data_dir, &d, err)) < 0)
		return r;
	if (size > headroom(&d))
		return no_room(&d, "an upload", size, err);
	return 0;
}

int storage_add(const char *id, const struct caller_id *owner, uint64_t size, int64_t created_ms,
	struct dcr_err *err)
{
	if (count_dataset(id, owner, size, false, 0, created_ms) < 0)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	return 0;
}

void storage_progress(const char *id, uint64_t received, bool complete)
{
	struct upload **p = find_upload(id), *up = *p;

	if (!up)
		return;
	if (complete) {
		drop_upload(p);
		return;
	}
	if (received > up->received && received <= up->size) {
		if (!up->lapsed)
			ledger.reserved -= received - up->received;
		up->received = received;
		up->active_ms = dcr_monotonic_ms();
		publish_counts();
	}
}

void storage_forget(const char *id, const struct caller_id *owner, uint64_t size)
{
	struct upload **p = find_upload(id);
	struct uploader *u = find_uploader(owner);

	if (*p)
		drop_upload(p);
	if (!u)
		return;
	if (u->datasets)
		u->datasets--;
	u->bytes -= size < u->bytes ? size : u->bytes;
	put_uploader(u);
}

int storage_put(const struct service *svc, const char *id, struct caller_id *owner, unsigned *status,
	struct dcr_err *err)
{
	struct upload *up = *find_upload(id);
	struct disk d;
	int r;

	if (!up) {
		*status = 409;
		return dcr_err_set(err, DCR_EEXIST, "the blob takes no uploads");
	}
	if (dcr_now_ms() - up->created_ms >= (int64_t)ledger.lim.expiry_s * 1000) {
		*status = 410;
		return upload_expired(err);
	}
	if ((r = disk_now(svc->data_dir, &d, err)) < 0) {
		*status = 500;
		return r;
	}
	if (d.free < d.floor) {
		*status = 507;
		return dcr_err_set(err, DCR_EFAIL, "dcrd's free disk space is below its floor (--min-free): it takes no "
						   "data until there is more; try again later");
	}
	/* Idle, it gave up its reservation: the rest must fit again, as a new upload would. */
	if (up->lapsed) {
		if (up->size - up->received > headroom(&d)) {
			*status = 507;
			return dcr_err_set(err, DCR_EFAIL, "this upload was idle for %" PRIu64 " s and gave up the space "
							   "it had reserved; dcrd has no room for its remaining %" PRIu64
							   " bytes now (it can take %" PRIu64 "); try again later",
				ledger.lim.idle_s, up->size - up->received, headroom(&d));
		}
		up->lapsed = false;
		ledger.reserved += up->size - up->received;
		publish_counts();
	}
	up->active_ms = dcr_monotonic_ms();
	*owner = up->owner->who;
	return 0;
}

int storage_room_for(const struct service *svc, const char *what, uint64_t size, struct dcr_err *err)
{
	struct disk d;
	int r;

	if ((r = disk_now(svc->data_dir, &d, err)) < 0)
		return r;
	if (size > headroom(&d) || d.free < d.floor)
		return no_room(&d, what, size, err);
	return 0;
}

int storage_result_begin(const struct service *svc, const struct caller_id *caller, const char *room_id,
	uint64_t size, struct dcr_err *err)
{
	struct caller_id room_id_key = room_key(room_id);
	const struct uploader *c = find_uploader(caller), *room = find_uploader(&room_id_key);
	uint64_t by_caller = c ? c->results : 0, in_room = room ? room->results : 0;
	struct disk d;
	int r;

	if (by_caller >= ledger.lim.max_result_bytes || size > ledger.lim.max_result_bytes - by_caller)
		return dcr_err_set(err, DCR_EFAIL, "%s has %" PRIu64 " bytes of results on this dcrd; a result of %" PRIu64
						   " bytes more would pass %" PRIu64 ", the most it keeps for one caller "
						   "(--max-result-bytes); results are deleted %" PRIu64 " days after "
						   "their job (--result-expiry)", caller->email, by_caller, size,
			ledger.lim.max_result_bytes, ledger.lim.result_expiry_s / 86400);
	if (in_room >= ledger.lim.max_room_result_bytes || size > ledger.lim.max_room_result_bytes - in_room)
		return dcr_err_set(err, DCR_EFAIL, "room %s has %" PRIu64 " bytes of results on this dcrd; a result of "
						   "%" PRIu64 " bytes more would pass %" PRIu64 ", the most it keeps for "
						   "one room (--max-room-result-bytes); results are deleted %" PRIu64
						   " days after their job (--result-expiry)", room_id, in_room, size,
			ledger.lim.max_room_result_bytes, ledger.lim.result_expiry_s / 86400);
	if ((r = disk_now(svc->data_dir, &d, err)) < 0)
		return r;
	if (size > headroom(&d) || d.free < d.floor)
		return no_room(&d, "a result", size, err);
	/* Held until it is recorded, so that no upload is accepted into the same space meanwhile. */
	ledger.reserved += size;
	publish_counts();
	return 0;
}

int storage_result_done(const struct caller_id *caller, const char *room_id, const char *job_id, uint64_t reserved,
	uint64_t size, int64_t finished_ms)
{
	ledger.reserved -= reserved < ledger.reserved ? reserved : ledger.reserved;
	publish_counts();
	return size ? count_result(caller, room_id, job_id, size, finished_ms) : 0;
}

void storage_status(const char *data_dir, struct storage_status *st)
{
	struct disk d = { 0 };

	memset(st, 0, sizeof(*st));
	st->known = disk_now(data_dir, &d, NULL) == 0;
	st->free = d.free;
	st->floor = d.floor;
	st->below_floor = st->known && d.free < d.floor;
	st->reserved = atomic_load(&ledger.reserved_now);
	st->unfinished = atomic_load(&ledger.unfinished_now);
	st->expired = atomic_load(&ledger.expired);
	st->lapsed = atomic_load(&ledger.lapsed);
	st->result_bytes = atomic_load(&ledger.result_bytes);
	st->results_expired = atomic_load(&ledger.results_expired);
}

/* Results older than --result-expiry are deleted, the oldest first. */
static void expire_results(struct service *svc, int64_t now_ms)
{
	int64_t keep_ms = (int64_t)ledger.lim.result_expiry_s * 1000;
	struct result **p = &ledger.results;

	while (*p && now_ms - (*p)->finished_ms >= keep_ms) {
		struct result *res = *p;
		struct dcr_err err;

		if (job_result_delete(svc, res->room_id, res->job_id, &err) < 0) {
			/* Tried again at each sweep; said once. */
			if (!res->stuck)
				fprintf(stderr, "dcrd: the result of job %s expired but could not be deleted: %s\n",
					res->job_id, err.msg);
			res->stuck = true;
			p = &res->next;
			continue;
		}
		fprintf(stderr, "dcrd: the result of job %s expired (%" PRIu64 " bytes, kept %" PRIu64 " s); deleted\n",
			res->job_id, res->size, ledger.lim.result_expiry_s);
		atomic_fetch_add(&ledger.results_expired, 1);
		drop_result(p);
	}
}

/* Uploads that had no byte arrive for --upload-idle, and no PUT writing, give up their reservations. */
static void lapse_idle(void)
{
	int64_t now = dcr_monotonic_ms();

	for (struct upload *up = ledger.unfinished; up; up = up->next) {
		uint64_t held = reservation(up);

		if (up->lapsed || now - up->active_ms < (int64_t)ledger.lim.idle_s * 1000 || blob_writing(up->id))
			continue;
		up->lapsed = true;
		ledger.reserved -= held;
		atomic_fetch_add(&ledger.lapsed, 1);
		publish_counts();
		fprintf(stderr, "dcrd: upload %s had no data for %" PRIu64 " s; the %" PRIu64 " bytes it reserved are "
				"free for others until it resumes\n", up->id, ledger.lim.idle_s, held);
	}
}

void storage_expire(struct service *svc)
{
	struct timespec now;
	int64_t now_ms = dcr_now_ms();
	struct upload **p = &ledger.unfinished;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - ledger.last_expiry.tv_sec) * 1000 + (now.tv_nsec - ledger.last_expiry.tv_nsec) / 1000000 <
	    EXPIRY_EVERY_MS)
		return;
	ledger.last_expiry = now;
	lapse_idle();
	expire_results(svc, now_ms);
	while (*p) {
		struct upload *up = *p;
		uint64_t size = up->size, received = up->received;
		char id[DCR_BLOB_ID_LEN + 1];
		struct caller_id owner;
		struct state_blob gone = { 0 };
		struct tombstone *tomb;
		struct dcr_err err;
		int r;

		/* An upload under way may still finish; it is looked at again once its PUT ends. */
		if (now_ms - up->created_ms < (int64_t)ledger.lim.expiry_s * 1000 || blob_writing(up->id)) {
			p = &up->next;
			continue;
		}
		memcpy(id, up->id, sizeof(id));
		owner = up->owner->who;
		/* Its token, for the tombstone (none if the row is gone: then no token matches it). */
		state_blob_get(svc->state, id, &gone, &err);
		if ((r = state_begin(svc->state, &err)) == 0) {
			if ((r = dataset_erase(svc, id, &err)) == 0)
				r = state_commit(svc->state, &err);
			else
				state_rollback(svc->state);
		}
		if (r < 0) {
			/* Tried again at each sweep; said once. */
			if (!up->stuck)
				fprintf(stderr, "dcrd: upload %s expired but could not be deleted: %s\n", id, err.msg);
			up->stuck = true;
			p = &up->next;
			continue;
		}
		storage_forget(id, &owner, size);
		tomb = &ledger.tombstones[ledger.next_tombstone++ % MAX_TOMBSTONES];
		memcpy(tomb->id, id, sizeof(tomb->id));
		memcpy(tomb->token_hash, gone.token_hash, sizeof(tomb->token_hash));
		/* It left the list: *p is the next one now. */
		atomic_fetch_add(&ledger.expired, 1);
		fprintf(stderr, "dcrd: upload %s expired unfinished (%" PRIu64 " of %" PRIu64 " bytes had arrived "
				"in %" PRIu64 " s); deleted\n", id, received, size, ledger.lim.expiry_s);
	}
}

bool storage_expired(const char *id, struct state_blob *out, struct dcr_err *err)
{
	for (size_t i = 0; i < MAX_TOMBSTONES; i++)
		if (strcmp(ledger.tombstones[i].id, id) == 0) {
			memset(out, 0, sizeof(*out));
			memcpy(out->token_hash, ledger.tombstones[i].token_hash, sizeof(out->token_hash));
			upload_expired(err);
			return true;
		}
	return false;
}
