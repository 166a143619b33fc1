/*
 * Jobs: job.run queues a computation; runner threads (--max-running-jobs)
 * execute queued jobs outside the call lock (SQL in SQLite, python in the
 * sandbox), one job of a room at a time, each room's in the order job.run
 * accepted them, the rooms' taken first in, first out; each seals its
 * result into a blob and records the outcome in the room's log; job.get
 * (which may wait for the job to end), job.list and job.fetch report on
 * them. A job that a stopped or crashed dcrd left running is run again on
 * the next start, in its place: computations read only published data, so
 * a rerun computes the same. Once: a job that was running at two stops
 * (it may be what brings dcrd down) fails instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "room.h"
#include "util.h"
#include "work.h"

#include "banned.h"

#define JOB_ID_MAX 40              /* 12 hex digits, '-', a number */
#define MAX_INPUT_FILE (2ull << 30) /* a python input held in memory */
#define MAX_DEPTH 32               /* computations feeding computations */
#define MAX_QUEUED 65536           /* jobs queued or running on this dcrd, whatever the caps */
#define INTERRUPTED_TWICE "the job was running when dcrd stopped, and again when it stopped after " \
	"running it anew; it is not run a third time"

/* One runner thread. */
struct worker {
	pthread_t thread;
	bool started;
	bool busy;                 /* under runner.mu: running a job (from its claim to its record) */
	const struct msg_list *reading; /* under the service lock: its job's publications */
	char room_id[65];          /* under the service lock: the room of its job, "" when it runs none */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint64_t kicks;            /* under mu: one more each time a job may have become claimable */
	struct worker *workers;
	unsigned n_workers;
	struct service svc;
	uint64_t sql_memory;       /* 0: sqlwork's default */
	uint64_t sql_time;         /* ms, SQL's own limit on a job (--max-sql-time); 0: sqlwork's default */
	unsigned sql_threads;      /* 0: one */
	uint64_t warm_idle_ms, duck_idle_ms; /* sql_pool_start's */
	unsigned warm_jobs;
} runner = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/*
 * The queue, under the service lock: every queued or running job, in the
 * order job.run accepted it. Filled at start from the sealed records, so
 * finding the next job reads one record, not every job of every room.
 */
struct queued {
	char room_id[65];
	char job_id[JOB_ID_MAX];
	struct caller_id caller;
	uint64_t position;
	bool running;
	struct queued *next;
};

static struct {
	struct queued *head, **tail;
	size_t n;
	uint64_t last_position;    /* the largest queue_position any record has */
	struct job_limits lim;
	atomic_uint queued, running; /* for /metrics, which does not take the lock */
} queue = { .tail = &queue.head };

/*
 * Calls waiting for a job to end (job.get with wait_ms): the connection is
 * suspended, holding neither the call lock nor a thread; wake resumes it,
 * once, when the job leaves the queue (it ended, or could not start), when
 * its time is up (the timer thread), or when dcrd stops.
 */
struct job_waiter {
	char room_id[65];
	char job_id[JOB_ID_MAX];
	int64_t deadline;          /* dcr_monotonic_ms */
	void (*wake)(void *arg);
	void *arg;
	struct job_waiter *next;
};

static struct {
	pthread_mutex_t mu;        /* taken under the call lock, never the other way round */
	pthread_cond_t cv;         /* on CLOCK_MONOTONIC (waits_start) */
	struct job_waiter *head;
	unsigned n;                /* waiters handed out, waiting or about to */
	bool started, stop;
	pthread_t thread;
} waits = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Under waits.mu: wake *p's waiter and take it off the list. */
static void waiter_wake(struct job_waiter **p)
{
	struct job_waiter *w = *p;

	*p = w->next;
	waits.n--;
	w->wake(w->arg);
	free(w);
}

/* The job left the queue: wake whoever waits for it. */
static void waits_end(const char *room_id, const char *job_id)
{
	pthread_mutex_lock(&waits.mu);
	for (struct job_waiter **p = &waits.head; *p;)
		if (strcmp((*p)->room_id, room_id) == 0 && strcmp((*p)->job_id, job_id) == 0)
			waiter_wake(p);
		else
			p = &(*p)->next;
	pthread_mutex_unlock(&waits.mu);
}

static void *waits_main(void *arg)
{
	pthread_mutex_lock(&waits.mu);
	while (!waits.stop) {
		int64_t now = dcr_monotonic_ms(), next = INT64_MAX;

		for (struct job_waiter **p = &waits.head; *p;)
			if ((*p)->deadline <= now) {
				waiter_wake(p);
			} else {
				next = (*p)->deadline < next ? (*p)->deadline : next;
				p = &(*p)->next;
			}
		if (next == INT64_MAX) {
			pthread_cond_wait(&waits.cv, &waits.mu);
		} else {
			struct timespec ts = monotonic_in(next - now);

			pthread_cond_timedwait(&waits.cv, &waits.mu, &ts);
		}
	}
	while (waits.head)
		waiter_wake(&waits.head);
	pthread_mutex_unlock(&waits.mu);
	return NULL;
}

static int waits_start(struct dcr_err *err)
{
	int r;

	waits.stop = false;
	if ((r = cond_init_monotonic(&waits.cv)) == 0)
		r = pthread_create(&waits.thread, NULL, waits_main, NULL);
	if (r != 0)
		return dcr_err_errno(err, DCR_EIO, r, "cannot set up the waits for jobs");
	waits.started = true;
	return 0;
}

unsigned jobs_waiting(void)
{
	unsigned n;

	pthread_mutex_lock(&waits.mu);
	n = waits.n;
	pthread_mutex_unlock(&waits.mu);
	return n;
}

void jobs_wait_stop(void)
{
	if (!waits.started)
		return;
	pthread_mutex_lock(&waits.mu);
	waits.stop = true;
	pthread_cond_signal(&waits.cv);
	pthread_mutex_unlock(&waits.mu);
	pthread_join(waits.thread, NULL);
	waits.started = false;
}

static bool queue_has(const char *room_id, const char *job_id);

struct job_waiter *jobs_waiter_new(const struct job_wait *jw, void (*wake)(void *arg), void *arg)
{
	struct job_waiter *w;

	if (!jw->wanted || !queue_has(jw->room_id, jw->job_id))
		return NULL;
	pthread_mutex_lock(&waits.mu);
	if (waits.stop || !waits.started || waits.n >= JOB_WAITERS_MAX || !(w = calloc(1, sizeof(*w)))) {
		pthread_mutex_unlock(&waits.mu);
		return NULL;
	}
	waits.n++;
	pthread_mutex_unlock(&waits.mu);
	snprintf(w->room_id, sizeof(w->room_id), "%s", jw->room_id);
	snprintf(w->job_id, sizeof(w->job_id), "%s", jw->job_id);
	w->deadline = dcr_monotonic_ms() + jw->ms;
	w->wake = wake;
	w->arg = arg;
	return w;
}

void jobs_wait_start(struct job_waiter *w)
{
	pthread_mutex_lock(&waits.mu);
	w->next = waits.head;
	waits.head = w;
	/* Stopped meanwhile: no wait after all. */
	if (waits.stop)
		waiter_wake(&waits.head);
	else
		pthread_cond_signal(&waits.cv);
	pthread_mutex_unlock(&waits.mu);
}

static int queue_add(const char *room_id, const char *job_id, const struct caller_id *caller, uint64_t position)
{
	struct queued *q = calloc(1, sizeof(*q));

	if (!q)
		return DCR_ENOMEM;
	q->caller = *caller;
	snprintf(q->room_id, sizeof(q->room_id), "%s", room_id);
	snprintf(q->job_id, sizeof(q->job_id), "%s", job_id);
	q->position = position;
	*queue.tail = q;
	queue.tail = &q->next;
	queue.n++;
	atomic_fetch_add(&queue.queued, 1);
	return 0;
}

static void queue_remove(const char *room_id, const char *job_id)
{
	for (struct queued **p = &queue.head, *q; (q = *p); p = &q->next) {
		if (strcmp(q->room_id, room_id) != 0 || strcmp(q->job_id, job_id) != 0)
			continue;
		*p = q->next;
		if (queue.tail == &q->next)
			queue.tail = p;
		queue.n--;
		atomic_fetch_sub(q->running ? &queue.running : &queue.queued, 1);
		free(q);
		waits_end(room_id, job_id);
		return;
	}
}

static bool queue_has(const char *room_id, const char *job_id)
{
	for (const struct queued *q = queue.head; q; q = q->next)
		if (strcmp(q->room_id, room_id) == 0 && strcmp(q->job_id, job_id) == 0)
			return true;
	return false;
}

static void queue_clear(void)
{
	while (queue.head)
		queue_remove(queue.head->room_id, queue.head->job_id);
}

/* Whether the room and the caller may have one more job queued or running; DCR_EFAIL says which cap it hits. */
static int queue_admits(const char *room_id, const struct caller_id *caller, struct dcr_err *err)
{
	unsigned in_room = 0, by_caller = 0;

	if (queue.n >= MAX_QUEUED)
		return dcr_err_set(err, DCR_EFAIL, "dcrd holds %d queued or running jobs, the most it holds; run this "
						   "again once some have finished", MAX_QUEUED);
	for (const struct queued *q = queue.head; q; q = q->next) {
		in_room += strcmp(q->room_id, room_id) == 0;
		by_caller += caller_id_equal(&q->caller, caller);
	}
	if (in_room >= queue.lim.per_room)
		return dcr_err_set(err, DCR_EFAIL, "room %s has %u jobs queued or running, the most dcrd allows a room "
						   "(--max-room-jobs); run this again once one has finished", room_id, in_room);
	if (by_caller >= queue.lim.per_caller)
		return dcr_err_set(err, DCR_EFAIL, "%s has %u jobs queued or running on this dcrd, the most it allows "
						   "one caller (--max-caller-jobs); run this again once one has finished",
			caller->email, by_caller);
	return 0;
}

void jobs_counts(unsigned *queued, unsigned *running)
{
	*queued = atomic_load(&queue.queued);
	*running = atomic_load(&queue.running);
}

/* Every idle runner looks at the queue again: a job was queued, or a room's job ended. */
static void wake_runners(void)
{
	pthread_mutex_lock(&runner.mu);
	runner.kicks++;
	pthread_cond_broadcast(&runner.cv);
	pthread_mutex_unlock(&runner.mu);
}

/* Who may follow a job: whoever reads the room's status, runs or fetches its computation. */
static bool may_see(const struct room_ctx *rc, const char *comp)
{
	return may(rc->def, rc->p, DCR__V1__ACTION__ACTION_READ_STATUS, NULL) ||
	       may(rc->def, rc->p, DCR__V1__ACTION__ACTION_RUN, comp) ||
	       may(rc->def, rc->p, DCR__V1__ACTION__ACTION_FETCH, comp);
}

static int64_t job_seq(const char *job_id)
{
	const char *dash = strchr(job_id, '-');

	return dash ? strtoll(dash + 1, NULL, 10) : 0;
}

/* ---- job.run ---- */

/* A job queued by a job.run whose transaction is open. */
struct queued_by_call {
	char room_id[65];
	char job_id[JOB_ID_MAX];
};

/* Under the lock, at the end of job.run's transaction: its job leaves the queue unless its record was committed. */
static void unqueue_unless_committed(void *arg, bool committed)
{
	struct queued_by_call *q = arg;

	if (!committed)
		queue_remove(q->room_id, q->job_id);
	free(q);
}

int job_run(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	Dcr__V1__RunRequest *rr = dcr__v1__run_request__unpack(NULL, req->body_len, req->body);
	Dcr__V1__RunResponse resp = DCR__V1__RUN_RESPONSE__INIT;
	Dcr__V1__JobRecord rec = DCR__V1__JOB_RECORD__INIT;
	Dcr__V1__JobInfo info = DCR__V1__JOB_INFO__INIT;
	struct queued_by_call *undo = NULL;
	struct room_ctx rc = { 0 };
	char id[JOB_ID_MAX], what[160];
	int64_t seq;
	int r;

	if (!rr)
		return dcr_err_set(err, DCR_EINVALID, "malformed job.run request");
	if ((r = room_enter(svc, req, rr->room_id, &rc, room_id, err)) < 0)
		goto out;
	note_object(svc->note, "%.64s", rr->computation);
	if (!room_computation(rc.def, rr->computation)) {
		r = room_no_such(rc.def, rr->room_id, false, rr->computation, err);
		goto out;
	}
	snprintf(what, sizeof(what), "run %s", rr->computation);
	if (!may(rc.def, rc.p, DCR__V1__ACTION__ACTION_RUN, rr->computation)) {
		r = denied(req->email, what, rr->room_id, err);
		goto out;
	}
	if (rc.rec->status != DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE) {
		r = dcr_err_set(err, DCR_EDENIED, "room %s is stopped: it runs nothing more", rr->room_id);
		goto out;
	}
	if ((r = queue_admits(rr->room_id, &rc.caller, err)) < 0 ||
	    (r = state_max_seq(svc->state, "job", rr->room_id, &seq, err)) < 0)
		goto out;
	snprintf(id, sizeof(id), "%.12s-%" PRId64, rr->room_id, seq + 1);
	info.job_id = id;
	info.computation = rr->computation;
	info.status = DCR__V1__JOB_STATUS__JOB_STATUS_QUEUED;
	info.started_by = (char *)req->email;
	info.created_ms = dcr_now_ms();
	rec.info = &info;
	rec.queue_position = queue.last_position + 1;
	rec.started_by_ca = rc.caller.ca;
	if ((r = state_put_record(svc->state, "job", rr->room_id, id, seq + 1, &rec.base, err)) < 0)
		goto out;
	note_fact(svc->note, "job", "%s", id);
	resp.job = &info;
	if ((r = pack_answer(&resp.base, out, out_len, err)) < 0)
		goto out;
	/*
	 * Queued in memory now, and taken off again should the call not
	 * commit after all (its audit entry cannot be written, say): an entry
	 * without a record would count against the caps, and the next job.run
	 * would queue the same job ID a second time. The position is simply
	 * not used then.
	 */
	if (!(undo = malloc(sizeof(*undo))) ||
	    queue_add(rr->room_id, id, &rc.caller, rec.queue_position) < 0) {
		free(undo);
		free(*out);
		*out = NULL;
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(undo->room_id, sizeof(undo->room_id), "%s", rr->room_id);
	snprintf(undo->job_id, sizeof(undo->job_id), "%s", id);
	if ((r = state_on_end(svc->state, unqueue_unless_committed, undo, err)) < 0) {
		queue_remove(undo->room_id, undo->job_id);
		free(undo);
		free(*out);
		*out = NULL;
		goto out;
	}
	queue.last_position = rec.queue_position;
	wake_runners(); /* they wait for the lock, so they see the job once this call commits */
out:
	room_leave(&rc);
	dcr__v1__run_request__free_unpacked(rr, NULL);
	return r;
}

/* ---- job.get, job.fetch ---- */

static int answer_fetch(struct service *svc, const struct room_ctx *rc, Dcr__V1__JobRecord *rec, uint8_t **out,
	size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__FetchResponse resp = DCR__V1__FETCH_RESPONSE__INIT;
	const Dcr__V1__Computation *c = room_computation(rc->def, rec->info->computation);
	char hex[65];

	resp.job = rec->info;
	if (rec->result_deleted_ms) {
		char when[32];

		dcr_time_format((time_t)(rec->result_deleted_ms / 1000), when);
		return dcr_err_set(err, DCR_ENOTFOUND, "the result of job %s was deleted at %s, when it had been kept as "
						       "long as this dcrd keeps results (--result-expiry); run the job again",
			rec->info->job_id, when);
	}
	if (rec->info->status == DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED) {
		resp.key = rec->key;
		resp.blob_id = rec->blob_id;
		resp.download_token = rec->download_token;
		if (rec->info->result_sha256.len == DCR_SHA256_LEN) {
			dcr_hex(rec->info->result_sha256.data, DCR_SHA256_LEN, hex);
			note_fact(svc->note, "result_sha256", "%s", hex);
		}
	}
	if (c && c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON &&
	    c->python->logs == DCR__V1__LOG_POLICY__LOG_POLICY_VISIBLE) {
		resp.logs_visible = true;
		resp.logs = rec->logs;
	}
	return pack_answer(&resp.base, out, out_len, err);
}

int job_get(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	char room_id[static 65], struct dcr_err *err)
{
	Dcr__V1__JobRef *ref = dcr__v1__job_ref__unpack(NULL, req->body_len, req->body);
	Dcr__V1__JobRecord *rec = NULL;
	struct room_ctx rc = { 0 };
	bool fetch = strcmp(req->method, "job.fetch") == 0;
	char what[160];
	int r;

	if (!ref)
		return dcr_err_set(err, DCR_EINVALID, "malformed %s request", req->method);
	if ((r = room_enter(svc, req, ref->room_id, &rc, room_id, err)) < 0)
		goto out;
	note_object(svc->note, "%.64s", ref->job_id);
	if (strlen(ref->job_id) >= JOB_ID_MAX ||
	    state_get_record(svc->state, "job", ref->room_id, ref->job_id, &dcr__v1__job_record__descriptor,
		    (ProtobufCMessage **)&rec, err) < 0 || !rec->info) {
		r = dcr_err_set(err, DCR_ENOTFOUND, "room %s has no job '%.64s'", ref->room_id, ref->job_id);
		goto out;
	}
	note_object(svc->note, "%s", rec->info->computation);
	note_fact(svc->note, "job", "%s", ref->job_id);
	if (fetch) {
		snprintf(what, sizeof(what), "fetch %s", rec->info->computation);
		if (!may(rc.def, rc.p, DCR__V1__ACTION__ACTION_FETCH, rec->info->computation)) {
			r = denied(req->email, what, ref->room_id, err);
			goto out;
		}
		r = answer_fetch(svc, &rc, rec, out, out_len, err);
	} else {
		Dcr__V1__RunResponse resp = DCR__V1__RUN_RESPONSE__INIT;

		if (!may_see(&rc, rec->info->computation)) {
			r = denied(req->email, "read-status", ref->room_id, err);
			goto out;
		}
		/* Not over yet, and the caller would rather wait: the call says so to its caller (serve.c). */
		if (svc->wait && svc->wait->may && ref->wait_ms &&
		    (rec->info->status == DCR__V1__JOB_STATUS__JOB_STATUS_QUEUED ||
		     rec->info->status == DCR__V1__JOB_STATUS__JOB_STATUS_RUNNING)) {
			svc->wait->wanted = true;
			svc->wait->ms = ref->wait_ms < JOB_WAIT_MAX_MS ? ref->wait_ms : JOB_WAIT_MAX_MS;
			snprintf(svc->wait->room_id, sizeof(svc->wait->room_id), "%s", ref->room_id);
			snprintf(svc->wait->job_id, sizeof(svc->wait->job_id), "%s", ref->job_id);
		}
		resp.job = rec->info;
		r = pack_answer(&resp.base, out, out_len, err);
	}
out:
	if (rec)
		protobuf_c_message_free_unpacked(&rec->base, NULL);
	room_leave(&rc);
	dcr__v1__job_ref__free_unpacked(ref, NULL);
	return r;
}

int job_result_delete(struct service *svc, const char *room_id, const char *job_id, struct dcr_err *err)
{
	Dcr__V1__JobRecord *rec = NULL;
	int r;

	if ((r = state_begin(svc->state, err)) < 0)
		return r;
	if ((r = state_get_record(svc->state, "job", room_id, job_id, &dcr__v1__job_record__descriptor,
		     (ProtobufCMessage **)&rec, err)) == 0 && rec->blob_id && *rec->blob_id &&
	    (r = state_blob_delete(svc->state, rec->blob_id, err)) == 0) {
		/* As dataset_erase: the file goes once the deletion commits, outside the call lock. */
		r = blob_delete_on_commit(svc, rec->blob_id, err);
		if (rec->key.data)
			dcr_wipe(rec->key.data, rec->key.len);
		rec->key = (ProtobufCBinaryData){ 0, NULL };
		rec->blob_id = rec->download_token = NULL;
		rec->result_deleted_ms = dcr_now_ms();
		if (r == 0)
			r = state_put_record(svc->state, "job", room_id, job_id, job_seq(job_id), &rec->base, err);
	}
	if (rec)
		protobuf_c_message_free_unpacked(&rec->base, NULL);
	if (r < 0) {
		state_rollback(svc->state);
		return r;
	}
	return state_commit(svc->state, err);
}

/* ---- job.list ---- */

struct listing {
	const struct room_ctx *rc;
	struct msg_list jobs;
};

/* Only the public part travels. */
static int list_one(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	struct listing *l = ctx;
	Dcr__V1__JobRecord *rec = (Dcr__V1__JobRecord *)msg;

	if (!rec->info || !may_see(l->rc, rec->info->computation))
		return 0;
	return msg_list_add(&l->jobs, &rec->info->base);
}

int jobs_list(struct service *svc, const struct dcr_call_request *req, const struct room_ctx *rc,
	const char *room_id, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	Dcr__V1__ListJobsResponse resp = DCR__V1__LIST_JOBS_RESPONSE__INIT;
	struct listing l = { .rc = rc };
	bool any = may(rc->def, rc->p, DCR__V1__ACTION__ACTION_READ_STATUS, NULL);
	int r;

	for (size_t i = 0; i < rc->def->n_compute && !any; i++)
		any = may_see(rc, rc->def->compute[i]->name);
	if (!any)
		return denied(req->email, "read-status", room_id, err);
	r = state_each_record(svc->state, "job", room_id, &dcr__v1__job_record__descriptor, list_one, &l, err);
	if (r == DCR_ENOMEM)
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r == 0) {
		resp.jobs = (Dcr__V1__JobInfo **)l.jobs.items;
		resp.n_jobs = l.jobs.n;
		r = pack_answer(&resp.base, out, out_len, err);
	}
	msg_list_free(&l.jobs);
	return r;
}

/* ---- the runner ---- */

/*
 * The data nodes a job read, each once, with the SHA-256 of the plaintext
 * as it read it: "input" facts of its job.finished entry, so the log says
 * which publication each job used.
 */
struct job_inputs {
	struct audit_fact *items;
	size_t n, cap;
};

/* What a job needs, read under the lock before it runs without it. */
struct job {
	char room_id[65];
	char job_id[JOB_ID_MAX];
	Dcr__V1__JobRecord *rec;
	Dcr__V1__RoomDefinition *def;
	Dcr__V1__RoomRecord *room;
	struct msg_list pubs;      /* of Dcr__V1__PublicationRecord */
	struct job_inputs *inputs; /* filled as the job reads, through a const job */
};

static void job_free(struct job *j)
{
	if (j->rec)
		protobuf_c_message_free_unpacked(&j->rec->base, NULL);
	dcr__v1__room_definition__free_unpacked(j->def, NULL);
	dcr__v1__room_record__free_unpacked(j->room, NULL);
	msg_list_free(&j->pubs);
	memset(j, 0, sizeof(*j));
}

static int keep_publication(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	return msg_list_add(ctx, msg);
}

/* A result's blob, to be recorded with its job. */
struct blob_row {
	const char *id;
	uint64_t size;
	const uint8_t *token_hash;
};

/*
 * Store rec as the job's record, with its result's blob row if it has one,
 * and, when it finished, log how; inside a transaction of its own, so a
 * result is recorded with the job that points at it or not at all.
 */
static int save_job_blob(struct job *j, const struct blob_row *blob, const char *outcome, const char *detail,
	const struct audit_note *note, struct dcr_err *err)
{
	struct state *s = runner.svc.state;
	int r;

	if ((r = state_begin(s, err)) < 0)
		return r;
	if (blob && (r = state_blob_add(s, blob->id, blob->size, blob->token_hash, 1, err)) < 0) {
		state_rollback(s);
		return r;
	}
	r = state_put_record(s, "job", j->room_id, j->job_id, job_seq(j->job_id), &j->rec->base, err);
	if (r == 0 && outcome)
		r = audit_record(s, j->room_id, j->rec->info->started_by, "job.finished", outcome, detail, note, err);
	if (r < 0) {
		state_rollback(s);
		return r;
	}
	return state_commit(s, err);
}

static int save_job(struct job *j, const char *outcome, const char *detail, const struct audit_note *note,
	struct dcr_err *err)
{
	return save_job_blob(j, NULL, outcome, detail, note, err);
}

/* Under the lock: whether a runner runs a job of room_id now. */
static bool room_running(const char *room_id)
{
	for (unsigned i = 0; i < runner.n_workers; i++)
		if (strcmp(runner.workers[i].room_id, room_id) == 0)
			return true;
	return false;
}

int jobs_room_stopped(const char *room_id, struct dcr_err *err)
{
	sql_pool_end_room(room_id);
	return room_running(room_id) ? 0 : table_store_remove_room(runner.svc.data_dir, room_id, err);
}

void jobs_room_published(const char *room_id)
{
	sql_pool_end_room(room_id);
}

/* Under the lock, as a job ends: its room's table store, if the room was stopped while it ran. */
static void forget_tables_if_stopped(const char *room_id)
{
	Dcr__V1__RoomRecord *rec = NULL;
	struct dcr_err err;

	if (!table_store_exists(runner.svc.data_dir, room_id) || state_get_room(runner.svc.state, room_id, &rec,
		&err) < 0)
		return;
	/* A worker the job left holding its tables goes too. */
	if (rec->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED)
		sql_pool_end_room(room_id);
	if (rec->status == DCR__V1__ROOM_STATUS__ROOM_STATUS_STOPPED &&
	    table_store_remove_room(runner.svc.data_dir, room_id, &err) < 0)
		fprintf(stderr, "dcrd: room %s stopped: %s\n", room_id, err.msg);
	dcr__v1__room_record__free_unpacked(rec, NULL);
}

/*
 * Under the lock: the first job of the queue that is not running yet and
 * whose room runs none (so a room's jobs run one at a time, in order),
 * marked running, with its room and the room's data. 0: none.
 */
static int claim_job(struct worker *me, struct job *j, struct dcr_err *err)
{
	struct state *s = runner.svc.state;
	struct queued *q;
	int r;

	memset(j, 0, sizeof(*j));
	for (;;) {
		for (q = queue.head; q && (q->running || room_running(q->room_id)); q = q->next)
			;
		if (!q)
			return 0;
		memcpy(j->room_id, q->room_id, sizeof(j->room_id));
		memcpy(j->job_id, q->job_id, sizeof(j->job_id));
		r = state_get_record(s, "job", j->room_id, j->job_id, &dcr__v1__job_record__descriptor,
			(ProtobufCMessage **)&j->rec, err);
		if (r == 0 && j->rec->info && j->rec->info->status == DCR__V1__JOB_STATUS__JOB_STATUS_QUEUED)
			break;
		/* Its call did not commit, or the record is not what was queued: nothing to run. */
		if (r == 0 || r == DCR_ENOTFOUND) {
			if (j->rec)
				protobuf_c_message_free_unpacked(&j->rec->base, NULL);
			j->rec = NULL;
			queue_remove(j->room_id, j->job_id);
			continue;
		}
		/* The state cannot be read: leave the job queued in it, for the next start to retry. */
		queue_remove(j->room_id, j->job_id);
		return r;
	}
	q->running = true;
	atomic_fetch_sub(&queue.queued, 1);
	atomic_fetch_add(&queue.running, 1);
	memcpy(me->room_id, j->room_id, sizeof(me->room_id));
	if ((r = state_get_room(s, j->room_id, &j->room, err)) < 0)
		return r;
	if (!(j->def = dcr__v1__room_definition__unpack(NULL, j->room->definition.len, j->room->definition.data)))
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: the stored definition is malformed", j->room_id);
	if ((r = state_each_record(s, "publication", j->room_id, &dcr__v1__publication_record__descriptor,
		     keep_publication, &j->pubs, err)) < 0)
		return r == DCR_ENOMEM ? dcr_err_set(err, DCR_ENOMEM, "out of memory") : r;
	j->rec->info->status = DCR__V1__JOB_STATUS__JOB_STATUS_RUNNING;
	j->rec->info->started_ms = dcr_now_ms();
	if ((r = save_job(j, NULL, NULL, NULL, err)) < 0)
		return r;
	return 1;
}

/* ---- computing ---- */

static const Dcr__V1__PublicationRecord *publication(const struct job *j, const char *node)
{
	for (size_t i = 0; i < j->pubs.n; i++) {
		const Dcr__V1__PublicationRecord *pub = (const Dcr__V1__PublicationRecord *)j->pubs.items[i];

		if (pub->info && strcmp(pub->info->node, node) == 0)
			return pub;
	}
	return NULL;
}

/* Room for one more fact in in. */
static int grow_inputs(struct job_inputs *in, struct dcr_err *err)
{
	if (in->n == in->cap) {
		size_t cap = in->cap ? 2 * in->cap : 8;
		struct audit_fact *grown = realloc(in->items, cap * sizeof(*grown));

		if (!grown)
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		in->items = grown;
		in->cap = cap;
	}
	return 0;
}

static int note_input(struct job_inputs *in, const char *node, const uint8_t digest[static DCR_SHA256_LEN],
	struct dcr_err *err)
{
	char hex[65];
	int r;

	for (size_t i = 0; i < in->n; i++)
		if (strcmp(in->items[i].key, "input") == 0 && strncmp(in->items[i].value, node, strlen(node)) == 0 &&
		    in->items[i].value[strlen(node)] == ' ')
			return 0;
	if ((r = grow_inputs(in, err)) < 0)
		return r;
	dcr_hex(digest, DCR_SHA256_LEN, hex);
	snprintf(in->items[in->n].key, sizeof(in->items[0].key), "input");
	snprintf(in->items[in->n].value, sizeof(in->items[0].value), "%s %s", node, hex);
	in->n++;
	return 0;
}

/*
 * A table a duckdb computation found in the table store (work.h) instead
 * of reading node: "cached" NODE beside the node's "input" fact, until it
 * reads the node after all (to load it again).
 */
static int note_cached(struct job_inputs *in, const char *node, bool cached, struct dcr_err *err)
{
	size_t i = 0;
	int r;

	while (i < in->n && (strcmp(in->items[i].key, "cached") != 0 || strcmp(in->items[i].value, node) != 0))
		i++;
	if (!cached && i < in->n)
		memmove(&in->items[i], &in->items[i + 1], (in->n-- - i - 1) * sizeof(in->items[0]));
	if (!cached || i < in->n)
		return 0;
	if ((r = grow_inputs(in, err)) < 0)
		return r;
	snprintf(in->items[in->n].key, sizeof(in->items[0].key), "cached");
	snprintf(in->items[in->n].value, sizeof(in->items[0].value), "%s", node);
	in->n++;
	return 0;
}

/* A computation's result: its bytes, their type, and for SQL the row count. */
struct result {
	uint8_t *data;
	size_t len;
	const char *type;
	uint64_t rows;
	bool has_rows;             /* rows counts a CSV's rows: SQL, and the result.csv of an aggregate */
	bool thresholded;          /* an aggregate computation with a threshold, */
	uint64_t groups_suppressed; /* and how many groups it left out, or DCR_AGGREGATE_WITHHELD */
	char *logs;
	size_t logs_len;
	struct sql_keeping *keeping; /* a duckdb job's worker still writing its tables into the store */
};

/* Free res's buffers, wiped: the data is plaintext, and the logs may quote it. */
static void result_free(struct result *res)
{
	if (res->data)
		dcr_wipe(res->data, res->len);
	free(res->data);
	if (res->logs)
		dcr_wipe(res->logs, res->logs_len);
	free(res->logs);
	memset(res, 0, sizeof(*res));
}

/*
 * One job's computing (compute, run_python, take): the deadline that all
 * its computations share, and every node its python computations read
 * (a data node's plaintext, or another computation's result) prepared
 * once into a sealed memfd and held until the last computation that reads
 * it has run. A computation therefore runs at most once in a job, however
 * many others read it, and what dcrd holds of the job's inputs at any
 * time stays within a budget.
 */
struct held {
	const char *name;          /* the room definition's */
	const Dcr__V1__Computation *c; /* NULL: a data node */
	unsigned readers;          /* python computations of the job, not yet run, that read it */
	size_t stamp;              /* 1 + the index of the last computation counted among its readers */
	bool visited;              /* a computation whose reads are counted */
	int fd;                    /* -1: not prepared yet, or released */
	uint64_t len;
};

struct work {
	const struct job *j;
	uint64_t deadline;         /* CLOCK_MONOTONIC ms */
	uint64_t time_ms;          /* the job's time (--max-job-time), for messages */
	uint64_t budget, held;     /* what prepared nodes may take together (--max-job-memory), and take */
	struct held *nodes;        /* every node of the room, sorted by name */
	size_t n_nodes;
};

static void job_caller(const struct job *j, struct caller_id *caller);

/*
 * Which kept SQL worker job j's computation name may use (sql_run_warm):
 * one of the same room, computation and caller (review W-1: a worker
 * taken over through one party's data must not serve another party's
 * jobs), named by the SHA-256 of the room ID, the name, the caller's
 * e-mail and CA fingerprint, each ended by a NUL, in hex.
 */
static int warm_key(const struct job *j, const char *name, char key[static 2 * DCR_SHA256_LEN + 1],
	struct dcr_err *err)
{
	struct caller_id caller;
	uint8_t md[DCR_SHA256_LEN];
	const char *parts[4];
	size_t len = 0, at = 0;
	char *buf;
	int r;

	job_caller(j, &caller);
	parts[0] = j->room_id;
	parts[1] = name;
	parts[2] = caller.email;
	parts[3] = caller.ca;
	for (size_t k = 0; k < 4; k++)
		len += strlen(parts[k]) + 1;
	if (!(buf = malloc(len)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t k = 0; k < 4; k++) {
		memcpy(buf + at, parts[k], strlen(parts[k]) + 1);
		at += strlen(parts[k]) + 1;
	}
	if ((r = dcr_sha256(buf, len, md, err)) == 0)
		dcr_hex(md, sizeof(md), key);
	free(buf);
	return r;
}

/* What is left of the job's time; 0 once it is up. */
static uint64_t time_left(const struct work *w)
{
	uint64_t now = (uint64_t)dcr_monotonic_ms();

	return now < w->deadline ? w->deadline - now : 0;
}

static int out_of_time(const struct work *w, struct dcr_err *err)
{
	char limit[32];

	dcr_duration_format(w->time_ms, limit);
	return dcr_err_set(err, DCR_ECOMPUTE, "the job exceeded its time limit of %s, which all its computations "
		"share (dcrd serve --max-job-time)", limit);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct held *)a)->name, ((const struct held *)b)->name);
}

static struct held *find_node(const struct work *w, const char *name)
{
	struct held key = { .name = name };

	return w->n_nodes ? bsearch(&key, w->nodes, w->n_nodes, sizeof(key), by_name) : NULL;
}

/* The nodes of j's room, none prepared yet, and the job's time and budget from now on. */
static int work_init(struct work *w, const struct job *j, struct dcr_err *err)
{
	const Dcr__V1__RoomDefinition *def = j->def;
	const struct job_bounds *b = runner.svc.job_bounds;

	memset(w, 0, sizeof(*w));
	w->j = j;
	w->time_ms = b ? b->time_ms : JOB_TIME_DEFAULT_MS;
	w->budget = b ? b->memory : JOB_MEMORY_DEFAULT;
	w->deadline = (uint64_t)dcr_monotonic_ms() + w->time_ms;
	if (!(w->nodes = calloc(def->n_data + def->n_compute + 1, sizeof(*w->nodes))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	for (size_t i = 0; i < def->n_data; i++)
		w->nodes[w->n_nodes++] = (struct held){ .name = def->data[i]->name, .fd = -1 };
	for (size_t i = 0; i < def->n_compute; i++)
		w->nodes[w->n_nodes++] = (struct held){ .name = def->compute[i]->name, .c = def->compute[i], .fd = -1 };
	qsort(w->nodes, w->n_nodes, sizeof(*w->nodes), by_name);
	return 0;
}

/*
 * The plaintext on its way to a worker, hashed: it must be exactly what
 * was checked at publish, and it is never longer than the size recorded
 * then. When the worker refuses it as data that does not fit its schema,
 * the rest is still read and hashed (up to that size, within the job's
 * time): whoever holds the dataset key could have put other data in the
 * blob, and that is an integrity violation, not the data's fault. Any
 * other refusal (out of time, over a size or memory limit) stops the
 * reading at once, the rest unchecked: the job fails for that limit,
 * which binds the published data too (it comes to at least what was
 * read), and reading on would hold the job runner for up to a whole
 * dataset after the job failed.
 */
struct hashing {
	const struct work *w;
	struct dcr_sha256 *hash;
	uint64_t read, size;       /* plaintext so far, and as published */
	dcr_stream_sink *sink;
	void *ctx;
	int sink_code;             /* < 0 once the sink refused; after DCR_EINVALID, hashing goes on */
	struct dcr_err sink_err;
};

static int hashing_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct hashing *h = ctx;
	int r;

	if (len > h->size - h->read)
		return dcr_err_set(err, DCR_EINTEGRITY, "it holds more than the %" PRIu64 " bytes published",
			h->size);
	h->read += len;
	if ((r = dcr_sha256_update(h->hash, buf, len, err)) < 0)
		return r;
	if (h->sink_code == 0 && (r = h->sink(h->ctx, buf, len, &h->sink_err)) < 0)
		h->sink_code = r;
	if (h->sink_code < 0 && (h->sink_code != DCR_EINVALID || !time_left(h->w))) {
		if (err)
			*err = h->sink_err;
		return h->sink_code;
	}
	return 0;
}

/* What is published to node, or why nothing can be read from it (err set, code in *r). */
static const Dcr__V1__PublicationRecord *published(const struct job *j, const char *node, int *r,
	struct dcr_err *err)
{
	const Dcr__V1__PublicationRecord *pub = publication(j, node);

	*r = 0;
	if (!pub)
		*r = dcr_err_set(err, DCR_ENOTFOUND, "nothing is published to node '%s' yet", node);
	else if (!pub->info || pub->info->plaintext_sha256.len != DCR_SHA256_LEN)
		*r = dcr_err_set(err, DCR_EINTEGRITY, "the publication record of node '%s' is malformed", node);
	return *r < 0 ? NULL : pub;
}

/*
 * work_inputs' identify: the SHA-256 recorded when the dataset was
 * published to node, which read_input checks what it reads against. The
 * job counts node as read from the table store (note_cached) unless it
 * reads it after all.
 */
static int identify_input(void *ctx, const char *node, uint8_t sha256[static 32], uint64_t *size,
	struct dcr_err *err)
{
	const struct work *w = ctx;
	const Dcr__V1__PublicationRecord *pub;
	int r;

	if (!(pub = published(w->j, node, &r, err)))
		return r;
	memcpy(sha256, pub->info->plaintext_sha256.data, DCR_SHA256_LEN);
	*size = pub->info->size;
	if (w->j->inputs && (r = note_input(w->j->inputs, node, sha256, err)) == 0)
		r = note_cached(w->j->inputs, node, true, err);
	return r;
}

/* Stream the plaintext published to node through sink, as work_inputs' read (w: the struct work of the job). */
static int read_input(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err)
{
	const struct work *w = ctx;
	const struct job *j = w->j;
	const Dcr__V1__PublicationRecord *pub;
	struct hashing h = { w, NULL, 0, 0, sink, sink_ctx, 0, { 0 } };
	uint8_t digest[DCR_SHA256_LEN];
	int r;

	if (!(pub = published(j, node, &r, err)))
		return r;
	if (!(h.hash = dcr_sha256_new()))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	h.size = pub->info->size;
	/*
	 * Whoever holds the dataset key could re-encrypt other data into the
	 * blob on the host's disk; the stream would decrypt, so the hash
	 * recorded at publish (and in the log) decides.
	 */
	r = publication_read(&runner.svc, pub, hashing_sink, &h, err);
	/* The sink's refusal that stopped the reading: what was read was not more than was published. */
	if (r < 0 && r == h.sink_code) {
		if (err)
			*err = h.sink_err;
		dcr_sha256_free(h.hash);
		return r;
	}
	if (r == DCR_EINTEGRITY)
		dcr_err_prefix(err, "the data of node '%s' is not the blob that was published (altered on the host)", node);
	if (r == 0 && (r = dcr_sha256_final(h.hash, digest, err)) == 0 &&
	    !dcr_ct_equal(digest, pub->info->plaintext_sha256.data, DCR_SHA256_LEN))
		r = dcr_err_set(err, DCR_EINTEGRITY, "the data of node '%s' is not what was published (its blob was "
						     "replaced on the host)", node);
	/* The data is what was published: the worker's refusal stands. */
	if (r == 0 && h.sink_code < 0) {
		if (err)
			*err = h.sink_err;
		r = h.sink_code;
	}
	if (r == 0 && j->inputs && (r = note_input(j->inputs, node, digest, err)) == 0)
		r = note_cached(j->inputs, node, false, err);
	dcr_sha256_free(h.hash);
	return r;
}

static void release(struct work *w, struct held *h)
{
	if (h->fd < 0)
		return;
	close(h->fd);
	h->fd = -1;
	w->held -= h->len;
}

static void work_release(struct work *w)
{
	for (size_t i = 0; i < w->n_nodes; i++)
		release(w, &w->nodes[i]);
	free(w->nodes);
	memset(w, 0, sizeof(*w));
}

/* Input i of python computation pc: its code node (i == 0; NULL for an embedded script), then its mounts. */
static const char *read_node(const Dcr__V1__PythonComputation *pc, size_t i)
{
	return i ? pc->mounts[i - 1]->node : pc->script.len ? NULL : pc->code_node;
}

/*
 * Count the readers of each node among the python computations that
 * computing h runs: each runs once, and counts once for a node it mounts
 * at several paths.
 */
static void count_readers(struct work *w, struct held *h)
{
	const Dcr__V1__PythonComputation *pc;
	size_t me = (size_t)(h - w->nodes) + 1;

	if (h->visited || !h->c || h->c->kind_case != DCR__V1__COMPUTATION__KIND_PYTHON)
		return;
	h->visited = true;
	pc = h->c->python;
	/* All of h's reads before any of theirs, which stamp nodes too. */
	for (size_t i = 0; i <= pc->n_mounts; i++) {
		const char *node = read_node(pc, i);
		struct held *n = node ? find_node(w, node) : NULL;

		if (n && n->stamp != me) {
			n->stamp = me;
			n->readers++;
		}
	}
	for (size_t i = 0; i <= pc->n_mounts; i++) {
		const char *node = read_node(pc, i);
		struct held *n = node ? find_node(w, node) : NULL;

		if (n)
			count_readers(w, n);
	}
}

static int over_memory(const char *reader, uint64_t memory, struct dcr_err *err)
{
	char limit[32];

	dcr_size_format(memory, limit);
	return dcr_err_set(err, DCR_ECOMPUTE, "the inputs of computation '%s' come to more than its memory limit of %s "
		"(a node it mounts at several paths counts once)", reader, limit);
}

/*
 * A python input on its way into a memfd, never on the heap: within the
 * least of its limits and the job's time. What the job has left of its
 * budget is taken from what it holds now, not when the input was begun:
 * a computation's result is written only after the computation ran, and
 * that may have left more held for the computations still to run.
 */
struct input_fd {
	const struct work *w;
	int fd;
	uint64_t len, max;         /* max: MAX_INPUT_FILE, or less when the reader has less memory left */
	bool reader_cap;           /* max is what the reader has left of its memory */
	const char *reader;        /* the computation that reads it */
	uint64_t reader_memory;
};

/* What the job may still hold; 0 once it holds its budget or more (never a wrapped difference). */
static uint64_t budget_left(const struct work *w)
{
	return w->held < w->budget ? w->budget - w->held : 0;
}

/* Whether in may come to total bytes; otherwise the limit it would cross, in err. */
static int input_fits(const struct input_fd *in, uint64_t total, struct dcr_err *err)
{
	uint64_t job = budget_left(in->w);
	char limit[32];

	if (total > job && job < in->max) {
		dcr_size_format(in->w->budget, limit);
		return dcr_err_set(err, DCR_ECOMPUTE, "the inputs that this job's python computations need at once "
			"come to more than %s, the most dcrd holds for one job (dcrd serve --max-job-memory)", limit);
	}
	if (total > in->max && in->reader_cap)
		return over_memory(in->reader, in->reader_memory, err);
	if (total > in->max)
		return dcr_err_set(err, DCR_ECOMPUTE, "an input is larger than %llu bytes", MAX_INPUT_FILE);
	return 0;
}

static int input_fd_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct input_fd *in = ctx;
	int r;

	if (!time_left(in->w))
		return out_of_time(in->w, err);
	if (len > UINT64_MAX - in->len)
		return input_fits(in, UINT64_MAX, err);
	if ((r = input_fits(in, in->len + len, err)) < 0)
		return r;
	if (dcr_write_all(in->fd, buf, len) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot hold an input in memory");
	in->len += len;
	return 0;
}

static int compute(struct work *w, const char *name, int depth, struct result *res, struct dcr_err *err);

/*
 * Prepare node h in a sealed memfd: a data node's plaintext, decrypted
 * into it as it streams, or another computation's result. It must fit
 * what reader (whose memory limit is memory) has left of it, room_left,
 * and what the job has left of its budget.
 */
static int prepare(struct work *w, struct held *h, int depth, const char *reader, uint64_t memory,
	uint64_t room_left, struct dcr_err *err)
{
	struct input_fd in = { w, sandbox_memfd("dcr-input"), 0, MAX_INPUT_FILE, false, reader, memory };
	struct result sub;
	int r;

	if (in.fd < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot hold an input in memory");
	if (room_left < in.max) {
		in.max = room_left;
		in.reader_cap = true;
	}
	if (!h->c) {
		const Dcr__V1__PublicationRecord *pub = publication(w->j, h->name);

		/* Published larger than a limit: refused unread, whatever its blob holds now. */
		r = pub && pub->info ? input_fits(&in, pub->info->size, err) : 0;
		if (r == 0)
			r = read_input(w, h->name, input_fd_sink, &in, err);
	} else {
		if ((r = compute(w, h->name, depth + 1, &sub, err)) < 0)
			dcr_err_prefix(err, "computing '%s', which this one reads", h->name);
		else
			r = input_fd_sink(&in, sub.data, sub.len, err);
		/* A failed computation has logs too. */
		result_free(&sub);
	}
	if (r == 0 && (lseek(in.fd, 0, SEEK_SET) < 0 || sandbox_memfd_seal(in.fd) < 0))
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot hold an input in memory");
	if (r < 0) {
		close(in.fd);
		return r;
	}
	h->fd = in.fd;
	h->len = in.len;
	w->held += in.len;
	return 0;
}

/* Node h, prepared if it is not yet, as one more input of reader; *inputs counts reader's inputs so far. */
static int take(struct work *w, struct held *h, int depth, const char *reader, uint64_t memory, uint64_t *inputs,
	struct dcr_err *err)
{
	int r;

	if (h->fd < 0 && (r = prepare(w, h, depth, reader, memory, memory - *inputs, err)) < 0)
		return r;
	/* Prepared for another computation, with more room. */
	if (h->len > memory - *inputs)
		return over_memory(reader, memory, err);
	*inputs += h->len;
	return 0;
}

/* Whether a file is already placed at path. */
static bool placed_at(const struct sandbox_file *files, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].path, path) == 0)
			return true;
	return false;
}

#define MODULE_PATH_MAX 80 /* "/code/" NODE ".py", a node name being at most 63 bytes */

static int run_python(struct work *w, const char *name, const Dcr__V1__PythonComputation *pc, int depth,
	struct result *res, struct dcr_err *err)
{
	/* The entry, each mount, and the module of each code node mounted. */
	size_t n = 2 * pc->n_mounts + 1, made = 0;
	struct sandbox_file *files = calloc(n, sizeof(*files));
	struct held **read = calloc(n, sizeof(*read));
	char (*modules)[MODULE_PATH_MAX] = calloc(pc->n_mounts + 1, sizeof(*modules));
	struct sandbox_result pr = { 0 };
	uint64_t time_ms, memory, inputs = 0, left;
	char entry[300];
	int r = 0;

	if (!files || !read || !modules) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	py_limits(pc, &time_ms, &memory);
	for (size_t i = 0; i < pc->n_mounts + 1; i++) {
		const char *node = read_node(pc, i);
		struct held *h;
		bool again = false;

		files[made] = (struct sandbox_file){ i ? pc->mounts[i - 1]->path : entry, -1, NULL, 0 };
		if (!node) {
			snprintf(entry, sizeof(entry), "/code/%s", pc->script_name);
			files[made].data = pc->script.data;
			files[made++].len = pc->script.len;
			continue;
		}
		if (!i)
			snprintf(entry, sizeof(entry), "/code/%s.py", node);
		if (!(h = find_node(w, node))) {
			r = dcr_err_set(err, DCR_ENOTFOUND, "the room has no node '%s'", node);
			goto out;
		}
		/* A node mounted at several paths is read (or computed) once, and shared: the same memfd. */
		for (size_t k = 0; k < made; k++)
			again |= read[k] == h;
		if (!again && (r = take(w, h, depth, name, memory, &inputs, err)) < 0)
			goto out;
		/*
		 * A code node mounted is also the module /code/NODE.py, placed
		 * first so that its mounts under /input are links to it: code,
		 * which dcr_enclave leaves out of the inputs. Not when that
		 * path is taken: the entry script (the node itself, or a script
		 * of that name in a room from before dcr-room(5) refused it).
		 */
		snprintf(modules[i], sizeof(modules[i]), "/code/%s.py", node);
		if (i && !h->c && room_data_node(w->j->def, node)->kind_case == DCR__V1__DATA_NODE__KIND_CODE &&
		    !placed_at(files, made, modules[i])) {
			files[made + 1] = files[made];
			files[made] = (struct sandbox_file){ modules[i], h->fd, NULL, 0 };
			read[made++] = h;
		}
		read[made] = h;
		files[made++].fd = h->fd;
	}
	if (!(left = time_left(w))) {
		r = out_of_time(w, err);
		goto out;
	}
	r = py_run(pc, files, made, left, &pr, err);
	if (r == DCR_ECOMPUTE && left < time_ms && !time_left(w))
		r = out_of_time(w, err);
	res->logs = pr.logs;
	res->logs_len = pr.logs_len;
	if (r == 0 && pc->result == DCR__V1__RESULT_FORMAT__RESULT_FORMAT_FILE) {
		/* The room says the result is the output's one file, as it is: no ZIP around it. */
		if ((r = sandbox_zip_single(pr.zip, pr.zip_len, &res->data, &res->len, err)) < 0)
			dcr_err_prefix(err, "computation '%s'", name);
		res->type = "application/octet-stream";
		dcr_wipe(pr.zip, pr.zip_len);
		free(pr.zip);
	} else if (r == 0) {
		res->data = pr.zip;
		res->len = pr.zip_len;
		res->type = "application/zip";
	} else {
		free(pr.zip);
	}
	/* What no computation still to run reads is let go. */
	for (size_t i = 0; i < made; i++) {
		bool again = false;

		for (size_t k = 0; k < i; k++)
			again |= read[k] == read[i];
		if (read[i] && !again && read[i]->readers && --read[i]->readers == 0)
			release(w, read[i]);
	}
out:
	free(modules);
	free(read);
	free(files);
	return r;
}

static int compute(struct work *w, const char *name, int depth, struct result *res, struct dcr_err *err)
{
	const Dcr__V1__Computation *c = room_computation(w->j->def, name);
	uint64_t left;

	memset(res, 0, sizeof(*res));
	if (!c)
		return dcr_err_set(err, DCR_ENOTFOUND, "the room has no computation '%s'", name);
	if (depth > MAX_DEPTH)
		return dcr_err_set(err, DCR_ECOMPUTE, "computations feed each other more than %d deep", MAX_DEPTH);
	if (!(left = time_left(w)))
		return out_of_time(w, err);
	if (c->kind_case == DCR__V1__COMPUTATION__KIND_SQL || c->kind_case == DCR__V1__COMPUTATION__KIND_AGGREGATE) {
		bool duck = duck_computation(c);
		struct table_store store;
		struct sql_keeping *keeping = NULL;
		/* The job's own computation may keep its tables after the answer; one that feeds another, before. */
		struct work_inputs in = { .read = read_input, .ctx = w, .identify = duck ? identify_input : NULL,
			.store = duck ? &store : NULL, .keeping = duck && depth == 0 ? &keeping : NULL };
		/* The job's time left, where it is below SQL's own limit. */
		struct sql_limits lim = { .time_ms = runner.sql_time && runner.sql_time < left ? runner.sql_time : left,
			.max_memory = runner.sql_memory,
			.threads = runner.sql_threads };
		struct sql_result sr = { 0 };
		int r = duck ? table_store_open(&store, runner.svc.data_dir, runner.svc.enclave->sealing_key,
			w->j->room_id, err) : 0;

		char key[2 * DCR_SHA256_LEN + 1];

		if (r == 0 && (r = warm_key(w->j, name, key, err)) == 0)
			r = sql_run_warm(key, w->j->def, name, &in, &lim, &sr, err);
		/* A worker still keeping owns a copy of the store (sql_keep_finish closes it). */
		if (duck && !keeping)
			table_store_close(&store);
		dcr_wipe(&store, sizeof(store));
		res->keeping = keeping;

		if (r == DCR_ECOMPUTE && lim.time_ms && !time_left(w))
			r = out_of_time(w, err);
		if (r == 0) {
			res->data = sr.csv;
			res->len = sr.len;
			res->rows = sr.rows;
			res->has_rows = true;
			res->thresholded = sr.thresholded;
			res->groups_suppressed = sr.groups_suppressed;
			res->type = "text/csv";
		}
		return r;
	}
	if (c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON) {
		/* The room was checked at creation; the operator may have lowered the limits since. */
		int r = py_check(name, c->python, runner.svc.job_bounds, runner.svc.enclave->opt.kind->python_refused,
			DCR_ECOMPUTE, err);
		const char *protected;

		/* dcr create refuses it; a definition is still never trusted to have been checked. */
		if (r == 0 && (protected = dcr_room_python_protected(w->j->def, c->python)))
			r = dcr_err_set(err, DCR_ECOMPUTE, "computation '%s' reads '%s', a table with a privacy rule",
				name, protected);

		return r < 0 ? r : run_python(w, name, c->python, depth, res, err);
	}
	return dcr_err_set(err, DCR_EINTEGRITY, "computation '%s' is of no known kind", name);
}

/*
 * An aggregate computation's result, as its job keeps it: a ZIP of the CSV
 * and the count of groups it suppressed (dcr-room(5), PRIVACY RULES). Only
 * the job's: a computation that reads it reads the CSV.
 */
static int aggregate_result(const struct job *j, struct result *res, struct dcr_err *err)
{
	const Dcr__V1__Computation *c = room_computation(j->def, j->rec->info->computation);
	uint8_t *zip;
	size_t len;
	int r;

	if (!c || c->kind_case != DCR__V1__COMPUTATION__KIND_AGGREGATE)
		return 0;
	if ((r = dcr_aggregate_result(res->data, res->len, res->groups_suppressed, &zip, &len, err)) < 0)
		return r;
	if (res->data)
		dcr_wipe(res->data, res->len);
	free(res->data);
	res->data = zip;
	res->len = len;
	res->type = "application/zip";
	return 0;
}

/* Compute the job's computation into res, within the job's time and budget. */
static int compute_job(const struct job *j, struct result *res, struct dcr_err *err)
{
	struct work w;
	struct held *top;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = work_init(&w, j, err)) < 0)
		return r;
	if ((top = find_node(&w, j->rec->info->computation)))
		count_readers(&w, top);
	r = compute(&w, j->rec->info->computation, 0, res, err);
	work_release(&w);
	return r < 0 ? r : aggregate_result(j, res, err);
}

/* ---- storing results ---- */

static int fd_sink(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	if (dcr_write_all(*(int *)ctx, buf, len) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot write a result");
	return 0;
}

/* Encrypt res under a fresh key into a new blob file, on disk before anything records it. */
static int seal_result(const struct result *res, uint8_t key[static 32], char id[static DCR_BLOB_ID_LEN + 1],
	char token[static DCR_BLOB_TOKEN_MAX], uint8_t token_hash[static 32], uint64_t *size, struct dcr_err *err)
{
	struct dcr_stream_enc *enc = NULL;
	char path[4096];
	off_t end;
	int fd, r;

	if ((r = dcr_random(key, 32, err)) < 0 || (r = blob_mint(id, token, token_hash, err)) < 0 ||
	    (r = blob_path(&runner.svc, id, path, sizeof(path), err)) < 0)
		return r;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", path);
	state_files_changed(runner.svc.state); /* its name on disk with the row that will name it */
	if (!(enc = dcr_stream_enc_new(key, 0, fd_sink, &fd, err)))
		r = err->code;
	else if ((r = dcr_stream_enc_write(enc, res->data, res->len, err)) == 0 &&
		 (r = dcr_stream_enc_finish(enc, err)) == 0 && fsync(fd) < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", path);
	dcr_stream_enc_free(enc);
	end = lseek(fd, 0, SEEK_CUR);
	close(fd);
	if (r == 0 && end < 0)
		r = dcr_err_errno(err, DCR_EIO, errno, "cannot write '%s'", path);
	if (r < 0)
		unlink(path);
	*size = r == 0 ? (uint64_t)end : 0;
	return r;
}

/* The ciphertext size of a result of len bytes. */
static uint64_t sealed_size(size_t len)
{
	return len + DCR_STREAM_HEADER_LEN + (len / DCR_STREAM_CHUNK_DEFAULT + 1) * DCR_STREAM_TAG_LEN;
}

/* Who ran job j, with the root that vouched for them (none in records from before roots were kept). */
static void job_caller(const struct job *j, struct caller_id *caller)
{
	caller_id_set(caller, j->rec->info->started_by, j->rec->started_by_ca);
}

/*
 * Whether job j may keep a result of sealed bytes (0: before it runs): the
 * disk's floor and reservations, its caller's and its room's quotas. The
 * space is reserved until storage_result_done.
 */
static int room_for_result(const struct job *j, uint64_t sealed, struct dcr_err *err)
{
	struct caller_id caller;
	int r;

	job_caller(j, &caller);
	pthread_mutex_lock(runner.svc.lock);
	r = storage_result_begin(&runner.svc, &caller, j->room_id, sealed, err);
	state_release(runner.svc.state, runner.svc.lock);
	return r;
}

static bool logs_visible(const struct job *j)
{
	const Dcr__V1__Computation *c = room_computation(j->def, j->rec->info->computation);

	return c && c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON &&
	       c->python->logs == DCR__V1__LOG_POLICY__LOG_POLICY_VISIBLE;
}

/* Record how the job ended, under the lock; the result blob (if any) is on disk already. */
static void finish_job(struct worker *me, struct job *j, int code, const char *why, struct result *res)
{
	struct audit_note note = { 0 };
	uint8_t key[32] = { 0 }, token_hash[32], digest[32];
	char blob_id[DCR_BLOB_ID_LEN + 1] = "", token[DCR_BLOB_TOKEN_MAX] = "", hex[65], path[4096];
	Dcr__V1__JobInfo *info = j->rec->info;
	struct blob_row blob = { blob_id, 0, token_hash };
	struct caller_id caller;
	uint64_t reserved = 0;
	struct dcr_err err;
	int r = code;

	if (r == 0) {
		if ((r = room_for_result(j, sealed_size(res->len), &err)) == 0) {
			reserved = sealed_size(res->len);
			if ((r = dcr_sha256(res->data, res->len, digest, &err)) == 0)
				r = seal_result(res, key, blob_id, token, token_hash, &blob.size, &err);
		}
		if (r < 0)
			why = err.msg;
	}
	snprintf(note.object, sizeof(note.object), "%s", info->computation);
	note_fact(&note, "job", "%s", j->job_id);
	if (j->inputs) {
		note.more = j->inputs->items;
		note.n_more = j->inputs->n;
	}
	info->finished_ms = dcr_now_ms();
	if (r == 0) {
		info->status = DCR__V1__JOB_STATUS__JOB_STATUS_SUCCEEDED;
		info->result_type = (char *)res->type;
		info->result_sha256 = (ProtobufCBinaryData){ 32, digest };
		info->result_size = res->len;
		info->result_rows = res->rows;
		j->rec->key = (ProtobufCBinaryData){ 32, key };
		j->rec->blob_id = blob_id;
		j->rec->download_token = token;
		dcr_hex(digest, 32, hex);
		note_fact(&note, "result_sha256", "%s", hex);
		note_fact(&note, "bytes", "%zu", res->len);
		if (res->has_rows)
			note_fact(&note, "rows", "%" PRIu64, res->rows);
		if (res->thresholded) {
			info->thresholded = true;
			if (res->groups_suppressed == DCR_AGGREGATE_WITHHELD) {
				info->groups_suppressed_withheld = true;
				note_fact(&note, "groups_suppressed", "withheld");
			} else {
				info->groups_suppressed = res->groups_suppressed;
				note_fact(&note, "groups_suppressed", "%" PRIu64, res->groups_suppressed);
			}
		}
	} else {
		info->status = DCR__V1__JOB_STATUS__JOB_STATUS_FAILED;
		info->error = (char *)why;
		info->error_code = r;
	}
	if (res->logs && logs_visible(j))
		j->rec->logs = (ProtobufCBinaryData){ res->logs_len, (uint8_t *)res->logs };
	pthread_mutex_lock(runner.svc.lock);
	if (r == 0 && save_job_blob(j, &blob, "succeeded", "", &note, &err) < 0) {
		/* No result to point at: the job failed, and says so, rather than stay "running". */
		fprintf(stderr, "dcrd: job %s: cannot record its result: %s\n", j->job_id, err.msg);
		r = err.code;
		why = "dcrd could not record the result";
		info->status = DCR__V1__JOB_STATUS__JOB_STATUS_FAILED;
		info->error = (char *)why;
		info->error_code = r;
		info->result_type = NULL;
		info->result_sha256 = (ProtobufCBinaryData){ 0, NULL };
		j->rec->key = (ProtobufCBinaryData){ 0, NULL };
		j->rec->blob_id = j->rec->download_token = NULL;
		if (blob_path(&runner.svc, blob_id, path, sizeof(path), &err) == 0)
			unlink(path);
	}
	if (r < 0 && save_job(j, "failed", why, &note, &err) < 0)
		fprintf(stderr, "dcrd: job %s: cannot record how it ended: %s\n", j->job_id, err.msg);
	job_caller(j, &caller);
	if (reserved && storage_result_done(&caller, j->room_id, j->job_id, reserved, r == 0 ? blob.size : 0,
		    info->finished_ms) < 0)
		fprintf(stderr, "dcrd: job %s: its result cannot be counted (out of memory); it will not expire\n",
			j->job_id);
	queue_remove(j->room_id, j->job_id);
	me->reading = NULL;
	/* Until its worker has written the table store, the room's next job waits (it would load again). */
	if (!res->keeping) {
		me->room_id[0] = '\0';
		forget_tables_if_stopped(j->room_id);
	}
	state_release(runner.svc.state, runner.svc.lock);
	/* The room's next job may start. */
	wake_runners();
	/* The record borrowed these; the caller frees the record. */
	info->result_type = info->error = NULL;
	info->result_sha256 = (ProtobufCBinaryData){ 0, NULL };
	j->rec->key = j->rec->logs = (ProtobufCBinaryData){ 0, NULL };
	j->rec->blob_id = j->rec->download_token = NULL;
	dcr_wipe(key, sizeof(key));
	dcr_wipe(token, sizeof(token));
}

static void set_busy(struct worker *me, bool busy)
{
	pthread_mutex_lock(&runner.mu);
	me->busy = busy;
	pthread_mutex_unlock(&runner.mu);
}

/* One queued job, start to end. 1: ran one; 0: none to run now; < 0: the state failed. */
static int run_one(struct worker *me)
{
	bool failed_start;
	struct result res = { 0 };
	struct job_inputs inputs = { 0 };
	struct job j;
	struct dcr_err err;
	int r;

	pthread_mutex_lock(&runner.mu);
	me->busy = !runner.stop;
	pthread_mutex_unlock(&runner.mu);
	if (!me->busy)
		return 0;
	pthread_mutex_lock(runner.svc.lock);
	r = claim_job(me, &j, &err);
	failed_start = r < 0;
	if (r < 0 && j.rec && j.rec->info) {
		/* A job that cannot start (its room is damaged, say) must not block the queue. */
		struct dcr_err ignored;

		j.rec->info->status = DCR__V1__JOB_STATUS__JOB_STATUS_FAILED;
		j.rec->info->error = err.msg;
		j.rec->info->error_code = err.code;
		if (save_job(&j, NULL, NULL, NULL, &ignored) == 0)
			r = 1;
		j.rec->info->error = NULL;
	}
	/* Failed to start: it leaves the queue (unless recorded as failed, the state keeps it for the next start). */
	if (failed_start && j.job_id[0]) {
		queue_remove(j.room_id, j.job_id);
		me->room_id[0] = '\0';
	}
	/* Its data stays until it ends: a dataset it reads may be replaced meanwhile, not deleted (jobs_reading). */
	if (r > 0 && !failed_start)
		me->reading = &j.pubs;
	state_release(runner.svc.state, runner.svc.lock);
	if (r <= 0 || failed_start) {
		set_busy(me, false);
		if (failed_start)
			fprintf(stderr, "dcrd: jobs: %s\n", err.msg);
		job_free(&j);
		return r;
	}
	fprintf(stderr, "dcrd: job %s started\n", j.job_id);
	j.inputs = &inputs;
	if (j.room->status != DCR__V1__ROOM_STATUS__ROOM_STATUS_ACTIVE)
		r = dcr_err_set(&err, DCR_ECOMPUTE, "the room was stopped before the job ran");
	else if ((r = room_for_result(&j, 0, &err)) == 0) /* no use computing what cannot be kept */
		r = compute_job(&j, &res, &err);
	finish_job(me, &j, r, r < 0 ? err.msg : "", &res);
	/* Job outcomes go to the room's log, not to dcrd's: messages may name data. */
	fprintf(stderr, "dcrd: job %s %s\n", j.job_id, r == 0 ? "succeeded" : "failed");
	if (res.keeping) {
		/* Answered: what its worker loaded goes into the table store, and then the room's next job may start. */
		int kept = sql_keep_finish(res.keeping, &err);

		if (kept == DCR_EINTEGRITY)
			fprintf(stderr, "dcrd: job %s kept no tables in the table store: DuckDB wrote a file of its own "
				"beside the store's links in /dev/shm (rows in the clear; removed with the job): a fault of "
				"DuckDB's or dcrd's, please report it\n", j.job_id);
		else if (kept < 0)
			fprintf(stderr, "dcrd: job %s kept no tables in the table store (%s): the room's next job loads "
				"them again\n", j.job_id, dcr_err_name(kept));
		else
			fprintf(stderr, "dcrd: job %s kept its tables in the table store\n", j.job_id);
		res.keeping = NULL;
		pthread_mutex_lock(runner.svc.lock);
		me->room_id[0] = '\0';
		forget_tables_if_stopped(j.room_id);
		state_release(runner.svc.state, runner.svc.lock);
		wake_runners();
	}
	result_free(&res);
	job_free(&j);
	free(inputs.items);
	set_busy(me, false);
	return 1;
}

/*
 * A runner: whenever the queue may have a job for it (runner.kicks moved),
 * it runs jobs until none is left that it may start, then waits again.
 */
static void *runner_main(void *arg)
{
	struct worker *me = arg;
	uint64_t seen = 0;

	for (;;) {
		pthread_mutex_lock(&runner.mu);
		while (!runner.stop && runner.kicks == seen)
			pthread_cond_wait(&runner.cv, &runner.mu);
		seen = runner.kicks;
		if (runner.stop) {
			pthread_mutex_unlock(&runner.mu);
			return NULL;
		}
		pthread_mutex_unlock(&runner.mu);
		while (run_one(me) > 0) {
			bool stop;

			pthread_mutex_lock(&runner.mu);
			stop = runner.stop;
			pthread_mutex_unlock(&runner.mu);
			if (stop)
				return NULL;
		}
	}
}

bool jobs_reading(const char *blob_id)
{
	for (unsigned w = 0; w < runner.n_workers; w++) {
		const struct msg_list *reading = runner.workers[w].reading;

		for (size_t i = 0; reading && i < reading->n; i++) {
			const Dcr__V1__PublicationRecord *pub = (const Dcr__V1__PublicationRecord *)reading->items[i];

			if (pub->blob_id && strcmp(pub->blob_id, blob_id) == 0)
				return true;
		}
	}
	return false;
}

void jobs_sql_memory(uint64_t bytes)
{
	runner.sql_memory = bytes;
}

void jobs_sql_time(uint64_t ms)
{
	runner.sql_time = ms;
}

void jobs_sql_threads(unsigned threads)
{
	runner.sql_threads = threads;
}

void jobs_sql_warm(uint64_t idle_ms, uint64_t duck_idle_ms, unsigned max_jobs)
{
	runner.warm_idle_ms = idle_ms;
	runner.duck_idle_ms = duck_idle_ms;
	runner.warm_jobs = max_jobs;
}

/* What the start finds in the state: every queued job, and those a previous dcrd was running. */
struct found_job {
	char room_id[65];
	char job_id[JOB_ID_MAX];
	struct caller_id caller;
	uint64_t position;
	int64_t created_ms;
};

struct found {
	struct found_job *items;
	size_t n, cap;
	struct dcr_err *err;
};

/* A job running at a second stop of dcrd: failed, and so logged in its room. */
static int fail_interrupted(const char *room_id, const char *job_id, Dcr__V1__JobRecord *rec, struct dcr_err *err)
{
	struct audit_note note = { 0 };
	int r;

	rec->info->status = DCR__V1__JOB_STATUS__JOB_STATUS_FAILED;
	rec->info->error = (char *)INTERRUPTED_TWICE;
	rec->info->error_code = DCR_ECOMPUTE;
	rec->info->finished_ms = dcr_now_ms();
	snprintf(note.object, sizeof(note.object), "%s", rec->info->computation);
	note_fact(&note, "job", "%s", job_id);
	r = state_put_record(runner.svc.state, "job", room_id, job_id, job_seq(job_id), &rec->base, err);
	if (r == 0)
		r = audit_record(runner.svc.state, room_id, rec->info->started_by, "job.finished", "failed",
			INTERRUPTED_TWICE, &note, err);
	/* The record borrowed the message; the caller frees the record. */
	rec->info->error = NULL;
	if (r == 0)
		fprintf(stderr, "dcrd: job %s failed\n", job_id);
	return r;
}

static int load_job(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	Dcr__V1__JobRecord *rec = (Dcr__V1__JobRecord *)msg;
	struct found *f = ctx;
	struct found_job *fj;
	int r;

	if (rec->queue_position > queue.last_position)
		queue.last_position = rec->queue_position;
	if (!rec->info || !rec->info->started_by || strlen(scope) != 64 || strlen(name) >= JOB_ID_MAX ||
	    (rec->info->status != DCR__V1__JOB_STATUS__JOB_STATUS_QUEUED &&
	     rec->info->status != DCR__V1__JOB_STATUS__JOB_STATUS_RUNNING))
		return 0;
	/*
	 * Interrupted: it runs again, in its place, once. A job that was
	 * running at two stops may be what stops dcrd (its memory, a crash),
	 * and would otherwise come back first after every restart.
	 */
	if (rec->info->status == DCR__V1__JOB_STATUS__JOB_STATUS_RUNNING) {
		if (rec->interruptions >= 1)
			return fail_interrupted(scope, name, rec, f->err);
		rec->interruptions++;
		rec->info->status = DCR__V1__JOB_STATUS__JOB_STATUS_QUEUED;
		rec->info->started_ms = 0;
		if ((r = state_put_record(runner.svc.state, "job", scope, name, job_seq(name), msg, f->err)) < 0)
			return r;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		struct found_job *grown = cap <= SIZE_MAX / sizeof(*grown) ? realloc(f->items, cap * sizeof(*grown)) : NULL;

		if (!grown)
			return dcr_err_set(f->err, DCR_ENOMEM, "out of memory");
		f->items = grown;
		f->cap = cap;
	}
	fj = &f->items[f->n++];
	snprintf(fj->room_id, sizeof(fj->room_id), "%s", scope);
	snprintf(fj->job_id, sizeof(fj->job_id), "%s", name);
	caller_id_set(&fj->caller, rec->info->started_by, rec->started_by_ca);
	fj->position = rec->queue_position;
	fj->created_ms = rec->info->created_ms;
	return 0;
}

/* Queue order; jobs from before queue positions (0) come first, by when they were accepted. */
static int by_position(const void *a, const void *b)
{
	const struct found_job *x = a, *y = b;
	int c;

	if (x->position != y->position)
		return x->position < y->position ? -1 : 1;
	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	if ((c = strcmp(x->room_id, y->room_id)) != 0)
		return c;
	return (job_seq(x->job_id) > job_seq(y->job_id)) - (job_seq(x->job_id) < job_seq(y->job_id));
}

/* Requeue what a previous dcrd was running and fill the queue, in one transaction. */
static int load_queue(struct service *svc, struct dcr_err *err)
{
	struct found f = { .err = err };
	int r;

	if ((r = state_begin(svc->state, err)) < 0)
		return r;
	r = state_each_record(svc->state, "job", NULL, &dcr__v1__job_record__descriptor, load_job, &f, err);
	if (r == 0)
		r = state_commit(svc->state, err);
	else
		state_rollback(svc->state);
	if (r == 0 && f.n)
		qsort(f.items, f.n, sizeof(*f.items), by_position);
	for (size_t i = 0; r == 0 && i < f.n; i++)
		if (queue_add(f.items[i].room_id, f.items[i].job_id, &f.items[i].caller, f.items[i].position) < 0)
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	free(f.items);
	if (r < 0)
		queue_clear();
	return r;
}

/* Stop and join the runners that started; none may be running a job. */
static void join_runners(void)
{
	pthread_mutex_lock(&runner.mu);
	runner.stop = true;
	pthread_cond_broadcast(&runner.cv);
	pthread_mutex_unlock(&runner.mu);
	for (unsigned i = 0; i < runner.n_workers; i++)
		if (runner.workers[i].started)
			pthread_join(runner.workers[i].thread, NULL);
	free(runner.workers);
	runner.workers = NULL;
	runner.n_workers = 0;
}

int jobs_start(struct service *svc, const struct job_limits *lim, struct dcr_err *err)
{
	unsigned n = lim->running ? lim->running : 1;
	int r;

	runner.svc = *svc;
	runner.svc.note = NULL;
	queue.lim = *lim;
	if (!(runner.workers = calloc(n, sizeof(*runner.workers))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	runner.n_workers = n;
	pthread_mutex_lock(svc->lock);
	r = load_queue(svc, err);
	/* A room stopped while a job kept its tables, then dcrd stopped: its store goes now (review D6-4). */
	if (r == 0)
		table_store_each_room(svc->data_dir, forget_tables_if_stopped);
	state_unlock(svc->state, svc->lock);
	if (r < 0) {
		free(runner.workers);
		runner.workers = NULL;
		runner.n_workers = 0;
		return r;
	}
	if ((r = waits_start(err)) < 0 ||
	    (r = sql_pool_start(runner.warm_idle_ms, runner.duck_idle_ms, runner.warm_jobs, err)) < 0) {
		jobs_wait_stop();
		free(runner.workers);
		runner.workers = NULL;
		runner.n_workers = 0;
		queue_clear();
		return r;
	}
	runner.stop = false;
	runner.kicks = 1;
	for (unsigned i = 0; i < n; i++) {
		if ((r = pthread_create(&runner.workers[i].thread, NULL, runner_main, &runner.workers[i])) != 0) {
			join_runners();
			sql_pool_stop();
			queue_clear();
			return dcr_err_errno(err, DCR_EIO, r, "cannot start the job runners");
		}
		runner.workers[i].started = true;
	}
	return 0;
}

bool jobs_stop(void)
{
	bool busy = false;

	if (!runner.workers)
		return false;
	jobs_wait_stop();
	pthread_mutex_lock(&runner.mu);
	runner.stop = true;
	for (unsigned i = 0; i < runner.n_workers; i++)
		busy |= runner.workers[i].busy;
	pthread_cond_broadcast(&runner.cv);
	pthread_mutex_unlock(&runner.mu);
	if (busy) {
		/*
		 * Do not wait for jobs that may run for hours: take the state
		 * lock for good, so no job can record anything half-way, and let
		 * the process end. The jobs are still "running" in the state and
		 * run again on the next start; their sandboxes or SQL workers die
		 * with dcrd.
		 */
		pthread_mutex_lock(runner.svc.lock);
		return true;
	}
	join_runners();
	/* No runner holds a worker now: the idle ones go. */
	sql_pool_stop();
	queue_clear();
	return false;
}
