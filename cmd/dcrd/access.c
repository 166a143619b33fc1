/* The access rules of calls: who is in a room, what they may do, refusals, and the audit entry a call leaves. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dcrd.h"
#include "util.h"

#include "banned.h"

#define MAX_ROOTS 64       /* certificates of one participant's authority; a room has at most 64 */

/* ---- who may do what ---- */

const Dcr__V1__Participant *room_participant(const Dcr__V1__RoomDefinition *def, const char *email)
{
	for (size_t i = 0; i < def->n_participants; i++)
		if (strcmp(def->participants[i]->email, email) == 0)
			return def->participants[i];
	return NULL;
}

static bool is_default(Dcr__V1__Action a)
{
	return a == DCR__V1__ACTION__ACTION_READ_DEFINITION || a == DCR__V1__ACTION__ACTION_READ_AUDIT ||
		a == DCR__V1__ACTION__ACTION_READ_STATUS || a == DCR__V1__ACTION__ACTION_LIST_DATASETS;
}

bool may(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, Dcr__V1__Action a,
	const char *object)
{
	if (def->default_permissions && is_default(a))
		return true;
	for (size_t i = 0; i < p->n_permissions; i++)
		if (p->permissions[i]->action == a &&
		    (!object || strcmp(p->permissions[i]->object ? p->permissions[i]->object : "", object) == 0))
			return true;
	return false;
}

/*
 * The room's owner (its creator: the same address, certified by the same
 * root) may stop it without the stop permission, unless the room says
 * owner_stops: false. A record from before owners' roots were kept names
 * no root, and so no owner this can match.
 */
bool owner_may_stop(const Dcr__V1__RoomDefinition *def, const Dcr__V1__RoomRecord *rec,
	const struct caller_id *caller)
{
	struct caller_id owner;

	if (def->owner_may_not_stop || !rec->owner || !rec->owner_ca || !*rec->owner_ca)
		return false;
	caller_id_set(&owner, rec->owner, rec->owner_ca);
	return caller_id_equal(&owner, caller);
}

/*
 * The caller as this room knows them: a participant whose certificate
 * chains to the authority the room assigns to that participant: the
 * certificates of one of the room's CA files, or this dcrd's platform CA.
 * A certificate from any other CA the room names does not do, so one
 * organisation's CA cannot vouch for another's people. Anyone else is told
 * the room does not exist, so rooms do not leak to outsiders. issuer: the
 * hex SHA-256 of the root the chain verified to; ca (if not NULL): a copy
 * of that root.
 */
int room_member(const Dcr__V1__RoomDefinition *def, const char *id, const struct dcr_call_request *req,
	const Dcr__V1__Participant **out, char issuer[static 65], struct verified_ca *ca, struct dcr_err *err)
{
	const Dcr__V1__Authentication *auth = def->authentication;
	const uint8_t *roots[MAX_ROOTS + 1];
	uint8_t fp[DCR_SHA256_LEN], digest[DCR_SHA256_LEN];
	size_t lens[MAX_ROOTS + 1], n = 0;
	struct dcr_err why;

	*out = room_participant(def, req->email);
	/* One message for every outsider, so it tells nothing about the room. */
	if (!*out)
		return dcr_err_set(err, DCR_ENOTFOUND, "no room %s for %s", id, req->email);
	for (size_t i = 0; auth && i < (*out)->n_cas && n < MAX_ROOTS; i++) {
		if ((*out)->cas[i] >= auth->n_ca_certificates)
			continue;
		roots[n] = auth->ca_certificates[(*out)->cas[i]].data;
		lens[n++] = auth->ca_certificates[(*out)->cas[i]].len;
	}
	if ((*out)->platform && (roots[n] = platform_ca(&lens[n])))
		n++;
	if (n == 0 || dcr_call_verify_chain(req, roots, lens, n, clock_now(), fp, &why) < 0)
		return dcr_err_set(err, DCR_ENOTFOUND, "no room %s for %s", id, req->email);
	dcr_hex(fp, sizeof(fp), issuer);
	for (size_t i = 0; ca && i < n; i++)
		if (dcr_sha256(roots[i], lens[i], digest, NULL) == 0 && dcr_ct_equal(digest, fp, sizeof(fp)))
			return verified_ca_set(ca, roots[i], lens[i], err);
	if (ca)
		return dcr_err_set(err, DCR_EFAIL, "the root a chain verified to is none of those it was given");
	return 0;
}

int denied(const char *email, const char *what, const char *id, struct dcr_err *err)
{
	return dcr_err_set(err, DCR_EDENIED, "%s lacks permission '%s' in room %s", email, what, id);
}

/* Whether some room accepts the caller's certificate (for uploads, which belong to no room yet). */
struct known {
	const struct dcr_call_request *req;
	struct verified_ca *ca;
};

static int known_in(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec)
{
	struct known *k = ctx;
	Dcr__V1__RoomDefinition *def = dcr__v1__room_definition__unpack(NULL, rec->definition.len, rec->definition.data);
	const Dcr__V1__Participant *p;
	struct dcr_err ignored;
	char issuer[65];

	if (def)
		room_member(def, id, k->req, &p, issuer, k->ca, &ignored);
	dcr__v1__room_definition__free_unpacked(def, NULL);
	return k->ca->der != NULL;
}

int not_certified(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Participant *p, struct dcr_err *err)
{
	const Dcr__V1__Authentication *auth = def->authentication;
	uint8_t fp[DCR_SHA256_LEN];
	char hex[65];

	if (p->platform)
		return dcr_err_set(err, DCR_EDENIED, "%s: the certificate does not chain to this dcrd's platform CA, which the "
						     "room assigns to this address (see dcr auth login)", p->email);
	if (!auth || p->n_cas == 0 || p->cas[0] >= auth->n_ca_certificates ||
	    dcr_sha256(auth->ca_certificates[p->cas[0]].data, auth->ca_certificates[p->cas[0]].len, fp, err) < 0)
		return dcr_err_set(err, DCR_EDENIED, "%s: no CA of the room certifies this address", p->email);
	dcr_hex(fp, sizeof(fp), hex);
	if (p->n_cas > 1)
		return dcr_err_set(err, DCR_EDENIED, "%s: the certificate does not chain to the CA the room assigns to this "
						     "address (SHA-256 %s, or one of the %zu others in its file)", p->email, hex, p->n_cas - 1);
	return dcr_err_set(err, DCR_EDENIED, "%s: the certificate does not chain to the CA the room assigns to this "
					     "address (SHA-256 %s)", p->email, hex);
}

bool valid_id(const char *id)
{
	uint8_t raw[32];

	return id && dcr_unhex(id, raw, sizeof(raw)) == 0 && strspn(id, "0123456789abcdef") == 64;
}

int room_enter(struct service *svc, const struct dcr_call_request *req, const char *id, struct room_ctx *rc,
	char room_id[static 65], struct dcr_err *err)
{
	char issuer[65];
	int r;

	memset(rc, 0, sizeof(*rc));
	if (!valid_id(id))
		return dcr_err_set(err, DCR_EINVALID, "a room ID is 64 lowercase hex digits");
	if ((r = state_get_room(svc->state, id, &rc->rec, err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(err, DCR_ENOTFOUND, "no room %s for %s", id, req->email);
		return r;
	}
	rc->def = dcr__v1__room_definition__unpack(NULL, rc->rec->definition.len, rc->rec->definition.data);
	if (!rc->def) {
		room_leave(rc);
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: the stored definition is malformed", id);
	}
	if ((r = room_member(rc->def, id, req, &rc->p, issuer, NULL, err)) < 0) {
		room_leave(rc);
		return r;
	}
	if (svc->note)
		memcpy(svc->note->issuer, issuer, sizeof(issuer));
	caller_id_set(&rc->caller, req->email, issuer);
	/*
	 * A participant with an accepted certificate: whatever happens next goes
	 * into the room's log. Outsiders are not logged: their e-mail is not
	 * authenticated, and their calls must not grow the log.
	 */
	memcpy(room_id, id, 65);
	return 0;
}

void room_leave(struct room_ctx *rc)
{
	dcr__v1__room_definition__free_unpacked(rc->def, NULL);
	dcr__v1__room_record__free_unpacked(rc->rec, NULL);
	memset(rc, 0, sizeof(*rc));
}

/* ---- which rooms name an address ---- */

/*
 * For every participant of every room, the first 8 bytes of the SHA-256
 * of its address with the room's ID, sorted: in memory, built at start
 * (room_index_build) and grown by room.create (rooms are never deleted,
 * and a room's participants never change). The calls that look for the
 * rooms that accept a caller (dataset.create, room.list) unseal those
 * rooms only, instead of every room. A room whose record did not unseal
 * at start is kept aside and read by every such call, which finds its
 * damage as before; so is every room if the rooms could not be listed at
 * all (ready false). A hash that two addresses share costs a room read,
 * whose membership check tells them apart. Nothing of this leaves the
 * enclave.
 */
struct room_name {
	uint64_t email;
	uint8_t id[32];
};

static struct {
	pthread_mutex_t lock;
	struct room_name *items;
	size_t n, cap;
	uint8_t (*damaged)[32];
	size_t n_damaged, cap_damaged;
	bool ready;
} room_names = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t email_key(const char *email)
{
	uint8_t digest[DCR_SHA256_LEN];
	uint64_t k = 0;

	if (dcr_sha256(email, strlen(email), digest, NULL) == 0)
		for (int i = 0; i < 8; i++)
			k = k << 8 | digest[i];
	return k;
}

static int name_cmp(const struct room_name *a, const struct room_name *b)
{
	if (a->email != b->email)
		return a->email < b->email ? -1 : 1;
	return memcmp(a->id, b->id, sizeof(a->id));
}

/* The first item not below key (under room_names.lock). */
static size_t lower_bound(const struct room_name *key)
{
	size_t lo = 0, hi = room_names.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (name_cmp(&room_names.items[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Under room_names.lock. */
static int index_add(const char *id, const Dcr__V1__RoomDefinition *def)
{
	struct room_name key;

	if (dcr_unhex(id, key.id, sizeof(key.id)) < 0)
		return DCR_EINVALID;
	for (size_t i = 0; i < def->n_participants; i++) {
		size_t at;

		key.email = email_key(def->participants[i]->email);
		at = lower_bound(&key);
		if (at < room_names.n && name_cmp(&room_names.items[at], &key) == 0)
			continue;
		if (room_names.n == room_names.cap) {
			size_t cap = room_names.cap ? 2 * room_names.cap : 256;
			void *grown = realloc(room_names.items, cap * sizeof(*room_names.items));

			if (!grown)
				return DCR_ENOMEM;
			room_names.items = grown;
			room_names.cap = cap;
		}
		memmove(&room_names.items[at + 1], &room_names.items[at], (room_names.n - at) * sizeof(*room_names.items));
		room_names.items[at] = key;
		room_names.n++;
	}
	return 0;
}

int room_index_add(const char *id, const Dcr__V1__RoomDefinition *def, struct dcr_err *err)
{
	int r = 0;

	pthread_mutex_lock(&room_names.lock);
	if (room_names.ready)
		r = index_add(id, def);
	pthread_mutex_unlock(&room_names.lock);
	return r == DCR_ENOMEM ? dcr_err_set(err, DCR_ENOMEM, "out of memory") : r;
}

struct build {
	struct state *s;
	unsigned long damaged;
};

/* Under room_names.lock. */
static int damaged_add(const char *id)
{
	if (room_names.n_damaged == room_names.cap_damaged) {
		size_t cap = room_names.cap_damaged ? 2 * room_names.cap_damaged : 16;
		void *grown = realloc(room_names.damaged, cap * sizeof(*room_names.damaged));

		if (!grown)
			return DCR_ENOMEM;
		room_names.damaged = grown;
		room_names.cap_damaged = cap;
	}
	if (dcr_unhex(id, room_names.damaged[room_names.n_damaged], sizeof(room_names.damaged[0])) == 0)
		room_names.n_damaged++;
	return 0;
}

static int index_one(void *ctx, const char *id)
{
	struct build *b = ctx;
	Dcr__V1__RoomRecord *rec = NULL;
	Dcr__V1__RoomDefinition *def = NULL;
	struct dcr_err ignored;
	int r;

	if (state_get_room(b->s, id, &rec, &ignored) == 0 &&
	    (def = dcr__v1__room_definition__unpack(NULL, rec->definition.len, rec->definition.data))) {
		r = index_add(id, def);
	} else {
		r = damaged_add(id);
		b->damaged++;
	}
	dcr__v1__room_definition__free_unpacked(def, NULL);
	dcr__v1__room_record__free_unpacked(rec, NULL);
	return r;
}

int room_index_build(struct state *s, struct dcr_err *err)
{
	struct build b = { s, 0 };
	struct dcr_err why;
	int r;

	pthread_mutex_lock(&room_names.lock);
	r = state_each_room_id(s, index_one, &b, &why);
	room_names.ready = r == 0;
	pthread_mutex_unlock(&room_names.lock);
	if (r == DCR_ENOMEM)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r < 0)
		fprintf(stderr, "dcrd: cannot list the rooms (%s): uploads and room lists read every room\n", why.msg);
	else if (b.damaged)
		fprintf(stderr, "dcrd: %lu room(s) could not be read: every upload and room list reads them again\n",
			b.damaged);
	return 0;
}

static int by_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* The IDs of the rooms that may name email, and the damaged ones, sorted and distinct; false: not ready. */
static bool rooms_naming(const char *email, uint8_t (**ids)[32], size_t *n)
{
	struct room_name key = { email_key(email), { 0 } };
	size_t at, k = 0;
	bool ready;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&room_names.lock);
	ready = room_names.ready;
	at = lower_bound(&key);
	while (at + k < room_names.n && room_names.items[at + k].email == key.email)
		k++;
	if (ready && k + room_names.n_damaged > 0 && (*ids = malloc((k + room_names.n_damaged) * sizeof(**ids)))) {
		for (size_t i = 0; i < k; i++)
			memcpy((*ids)[(*n)++], room_names.items[at + i].id, 32);
		for (size_t i = 0; i < room_names.n_damaged; i++)
			memcpy((*ids)[(*n)++], room_names.damaged[i], 32);
	} else if (ready && k + room_names.n_damaged > 0) {
		ready = false;     /* out of memory: read every room */
	}
	pthread_mutex_unlock(&room_names.lock);
	if (*n > 1) {
		size_t j = 1;

		qsort(*ids, *n, sizeof(**ids), by_id);
		for (size_t i = 1; i < *n; i++)
			if (memcmp((*ids)[i], (*ids)[j - 1], 32) != 0)
				memmove((*ids)[j++], (*ids)[i], 32);
		*n = j;
	}
	return ready;
}

int caller_rooms(struct state *s, const char *email, bool stop_on_damage,
	int (*fn)(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec), void *ctx, struct dcr_err *err)
{
	uint8_t (*ids)[32];
	size_t n;
	int r = 0;

	if (!rooms_naming(email, &ids, &n))
		return state_each_room(s, fn, ctx, err);
	for (size_t i = 0; i < n && r == 0; i++) {
		Dcr__V1__RoomRecord *rec = NULL;
		char id[65];

		dcr_hex(ids[i], 32, id);
		r = state_get_room(s, id, &rec, err);
		/* Not found: a room.create that did not commit after all. */
		if (r == DCR_ENOTFOUND || (r < 0 && !stop_on_damage))
			r = 0;
		else if (r == 0)
			r = fn(ctx, id, rec);
		dcr__v1__room_record__free_unpacked(rec, NULL);
	}
	free(ids);
	return r;
}

/* The root that vouches for the caller: the platform CA, or a CA a room in s assigns to its address. */
void caller_known(struct state *s, const struct dcr_call_request *req, struct verified_ca *ca)
{
	struct known k = { req, ca };
	const uint8_t *platform;
	size_t len;
	struct dcr_err ignored;

	memset(ca, 0, sizeof(*ca));
	if ((platform = platform_ca(&len)) &&
	    dcr_call_verify_chain(req, &platform, &len, 1, clock_now(), NULL, &ignored) == 0) {
		verified_ca_set(ca, platform, len, &ignored);
		return;
	}
	/* A damaged room vouches for nobody; the rooms after it still may. */
	caller_rooms(s, req->email, false, known_in, &k, &ignored);
}

bool caller_ca(struct service *svc, const struct dcr_call_request *req, struct verified_ca *ca)
{
	struct dcr_err ignored;

	memset(ca, 0, sizeof(*ca));
	if (svc->prep && svc->prep->known >= 0)
		return svc->prep->ca.der && verified_ca_set(ca, svc->prep->ca.der, svc->prep->ca.len, &ignored) == 0;
	caller_known(svc->state, req, ca);
	return ca->der != NULL;
}

/* ---- the audit entry of a call ---- */

void note_object(struct audit_note *n, const char *fmt, ...)
{
	va_list ap;

	if (!n)
		return;
	va_start(ap, fmt);
	vsnprintf(n->object, sizeof(n->object), fmt, ap);
	va_end(ap);
}

void note_fact(struct audit_note *n, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (!n || n->n_facts == AUDIT_NOTE_FACTS)
		return;
	snprintf(n->facts[n->n_facts].key, sizeof(n->facts[0].key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(n->facts[n->n_facts].value, sizeof(n->facts[0].value), fmt, ap);
	va_end(ap);
	n->n_facts++;
}

/* Strings an entry is made of, copied and made valid UTF-8 (protobuf strings must be), freed together. */
struct entry_text {
	char **items;
	size_t n;
};

static char *text(struct entry_text *t, const char *s)
{
	char *c = strdup(s ? s : "");

	if (c)
		dcr_utf8_repair(c);
	t->items[t->n++] = c;
	return c;
}

int audit_record(struct state *s, const char *room_id, const char *caller, const char *action, const char *outcome,
	const char *detail, const struct audit_note *note, struct dcr_err *err)
{
	Dcr__V1__AuditEntry entry = DCR__V1__AUDIT_ENTRY__INIT;
	size_t n = note ? note->n_facts + note->n_more : 0;
	Dcr__V1__Fact *facts = calloc(n ? n : 1, sizeof(*facts)), **fp = calloc(n ? n : 1, sizeof(*fp));
	struct entry_text t = { calloc(6 + 2 * n, sizeof(char *)), 0 };
	struct dcr_merkle_frontier f;
	uint8_t salt[AUDIT_SALT_LEN], *buf = NULL;
	size_t len;
	bool ok;
	int r;

	if (!facts || !fp || !t.items) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	/* The leaf hash is stored in the clear: without the salt it would confirm a guessed entry. */
	if ((r = dcr_random(salt, sizeof(salt), err)) < 0)
		goto out;
	entry.salt = (ProtobufCBinaryData){ sizeof(salt), salt };
	entry.time_ms = dcr_now_ms();
	/*
	 * Callers name objects, and messages quote them, cut to a length that
	 * may fall inside a character: an entry holds UTF-8 only, which every
	 * proto3 decoder wants of a string.
	 */
	entry.caller = text(&t, caller);
	entry.action = text(&t, action);
	entry.object = text(&t, note && note->object[0] ? note->object : room_id);
	entry.outcome = text(&t, outcome);
	entry.detail = text(&t, detail);
	entry.issuer = text(&t, note ? note->issuer : "");
	for (size_t i = 0; i < n; i++) {
		const struct audit_fact *fact = i < note->n_facts ? &note->facts[i] : &note->more[i - note->n_facts];

		dcr__v1__fact__init(&facts[i]);
		facts[i].key = text(&t, fact->key);
		facts[i].value = text(&t, fact->value);
		fp[i] = &facts[i];
	}
	ok = true;
	for (size_t i = 0; i < t.n; i++)
		ok &= t.items[i] != NULL;
	if (!ok) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	entry.facts = fp;
	entry.n_facts = n;
	len = dcr__v1__audit_entry__get_packed_size(&entry);
	if (!(buf = malloc(len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__audit_entry__pack(&entry, buf);
	r = state_audit_append(s, room_id, buf, len, &f, err);
out:
	for (size_t i = 0; i < t.n; i++)
		free(t.items[i]);
	free(t.items);
	free(buf);
	free(facts);
	free(fp);
	return r;
}

/* ---- nodes, computations, lists ---- */

const Dcr__V1__DataNode *room_data_node(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_data; i++)
		if (strcmp(def->data[i]->name, name) == 0)
			return def->data[i];
	return NULL;
}

const Dcr__V1__Computation *room_computation(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t i = 0; i < def->n_compute; i++)
		if (strcmp(def->compute[i]->name, name) == 0)
			return def->compute[i];
	return NULL;
}

int room_no_such(const Dcr__V1__RoomDefinition *def, const char *room_id, bool data, const char *name,
	struct dcr_err *err)
{
	const char *names[257];
	size_t n = 0, count = data ? def->n_data : def->n_compute;
	char hint[128];

	for (size_t i = 0; i < count && n < 256; i++)
		names[n++] = data ? def->data[i]->name : def->compute[i]->name;
	names[n] = NULL;
	return dcr_err_set(err, DCR_ENOTFOUND, "room %s has no %s '%s'%s", room_id, data ? "data node" : "computation",
		name, dcr_hint_phrase(dcr_suggest(name, names), hint, sizeof(hint)));
}
