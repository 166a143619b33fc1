/* Who may create rooms on this dcrd, how often and how many, and how many definitions it validates at once. */
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "util.h"

#include "banned.h"

#define MAX_CA_FILE (256u << 10)
#define MAX_BUCKETS 10000          /* callers remembered; more evict the longest idle */
#define MAX_VALIDATING 2           /* definitions and datasets at once, each in a thread of its own (calls_bulk) */

/* One caller's token bucket. */
struct bucket {
	uint8_t key[DCR_SHA256_LEN];   /* caller_key() */
	double tokens;
	int64_t last_ms;               /* monotonic */
};

/* How many rooms one creator has stored. */
struct creator_rooms {
	uint8_t key[DCR_SHA256_LEN];   /* SHA-256 of e-mail, 0x00, root fingerprint */
	unsigned n;
};

void creators_init(struct creators *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->burst = CREATORS_DEFAULT_BURST;
	c->period_ms = CREATORS_DEFAULT_PERIOD_MS;
	c->max_rooms = CREATORS_DEFAULT_MAX_ROOMS;
	c->max_per_creator = CREATORS_DEFAULT_MAX_PER_CREATOR;
	atomic_init(&c->validating, 0);
	atomic_init(&c->n_rooms, 0);
}

void creators_release(struct creators *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_roots; i++)
		free(c->roots[i]);
	free(c->buckets);
	free(c->rooms);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

int creators_add_ca_file(struct creators *c, const char *path, struct dcr_err *err)
{
	uint8_t *pem;
	size_t len, found = 0;
	BIO *bio;
	X509 *cert;
	int r;

	if ((r = dcr_read_file(path, MAX_CA_FILE, &pem, &len, err)) < 0)
		return r;
	bio = BIO_new_mem_buf(pem, (int)len);
	ERR_clear_error();
	while (r == 0 && bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		unsigned char *der = NULL;
		int der_len;

		if (X509_check_ca(cert) == 0)
			r = dcr_err_set(err, DCR_EINVALID, "'%s': certificate %zu is not a CA certificate", path, found + 1);
		/* A chain verifies only to a self-signed trust anchor: any other could never admit anyone. */
		else if (X509_self_signed(cert, 1) != 1)
			r = dcr_err_set(err, DCR_EINVALID, "'%s': certificate %zu is not self-signed: a creator CA must be a "
							   "root, since chains must end at one", path, found + 1);
		else if (c->n_roots == CREATORS_MAX_CAS)
			r = dcr_err_set(err, DCR_EINVALID, "more than %d creator CA certificates", CREATORS_MAX_CAS);
		else if ((der_len = i2d_X509(cert, &der)) <= 0)
			r = dcr_err_openssl(err, DCR_EINVALID, "'%s': certificate %zu cannot be encoded", path, found + 1);
		else if (!(c->roots[c->n_roots] = malloc((size_t)der_len)))
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		else {
			memcpy(c->roots[c->n_roots], der, (size_t)der_len);
			c->root_lens[c->n_roots++] = (size_t)der_len;
			found++;
		}
		OPENSSL_free(der);
		X509_free(cert);
	}
	/* The loop ends at the end of the text, or at a block that does not parse: that is an error, not the end. */
	if (r == 0 && bio && ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE && ERR_peek_last_error())
		r = dcr_err_set(err, DCR_EINVALID, "'%s': certificate %zu is damaged", path, found + 1);
	ERR_clear_error();
	BIO_free(bio);
	free(pem);
	if (r == 0 && found == 0)
		r = dcr_err_set(err, DCR_EINVALID, "'%s' holds no PEM certificate", path);
	if (r == 0)
		c->restricted = true;
	return r;
}

/* "20 per 1h", as the option said it. */
static void rate_text(const struct creators *c, char *buf, size_t size)
{
	int64_t p = c->period_ms;

	if (p % 86400000 == 0)
		snprintf(buf, size, "%u per %" PRId64 "d", c->burst, p / 86400000);
	else if (p % 3600000 == 0)
		snprintf(buf, size, "%u per %" PRId64 "h", c->burst, p / 3600000);
	else if (p % 60000 == 0)
		snprintf(buf, size, "%u per %" PRId64 "m", c->burst, p / 60000);
	else
		snprintf(buf, size, "%u per %" PRId64 "s", c->burst, p / 1000);
}

/*
 * Who the caller is, for counting, in something nobody else can present:
 * with creator CAs, 'C', the e-mail, 0x00 and the SHA-256 of the root its
 * chain verified to; without them, 'K' and the leaf's public key
 * (SubjectPublicKeyInfo, DER), whose private half signed the call. Not the
 * e-mail with the issuer the certificate names: anyone can copy those
 * into a certificate of its own and empty another's bucket.
 */
static int caller_key(const struct dcr_call_request *req, const uint8_t *root, uint8_t key[static DCR_SHA256_LEN],
	struct dcr_err *err)
{
	uint8_t buf[1 + DCR_EMAIL_MAX + 1 + DCR_SHA256_LEN], *spki = NULL;
	size_t n = strlen(req->email) + 1;
	struct dcr_sha256 *h;
	int len, r;

	if (root) {
		buf[0] = 'C';
		memcpy(buf + 1, req->email, n);
		memcpy(buf + 1 + n, root, DCR_SHA256_LEN);
		return dcr_sha256(buf, 1 + n + DCR_SHA256_LEN, key, err);
	}
	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(sk_X509_value(req->chain, 0)), &spki)) <= 0)
		return dcr_err_openssl(err, DCR_EFAIL, "cannot encode the caller's public key");
	if (!(h = dcr_sha256_new()))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	else if ((r = dcr_sha256_update(h, "K", 1, err)) == 0 && (r = dcr_sha256_update(h, spki, (size_t)len, err)) == 0)
		r = dcr_sha256_final(h, key, err);
	dcr_sha256_free(h);
	OPENSSL_free(spki);
	return r;
}

/* Take a token from the caller's bucket; DCR_EFAIL with how long to wait when it is empty. */
static int take_token(struct creators *c, const struct dcr_call_request *req, const uint8_t key[static DCR_SHA256_LEN],
	struct dcr_err *err)
{
	int64_t now = dcr_monotonic_ms();
	struct bucket *b = NULL;
	char rate[64];
	int r = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && !b; i++)
		if (memcmp(c->buckets[i].key, key, DCR_SHA256_LEN) == 0)
			b = &c->buckets[i];
	if (!b) {
		if (c->n == c->cap && c->cap < MAX_BUCKETS) {
			size_t cap = c->cap ? 2 * c->cap : 64;
			struct bucket *grown;

			if (cap > MAX_BUCKETS)
				cap = MAX_BUCKETS;
			grown = realloc(c->buckets, cap * sizeof(*grown));
			if (grown) {
				c->buckets = grown;
				c->cap = cap;
			}
		}
		if (c->n < c->cap) {
			b = &c->buckets[c->n++];
		} else if (c->n > 0) {
			/* Full: forget the caller idle the longest, who would have a full bucket soonest. */
			b = &c->buckets[0];
			for (size_t i = 1; i < c->n; i++)
				if (c->buckets[i].last_ms < b->last_ms)
					b = &c->buckets[i];
		}
		if (!b) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(b->key, key, DCR_SHA256_LEN);
		b->tokens = c->burst;
		b->last_ms = now;
	} else {
		b->tokens += (double)(now - b->last_ms) * c->burst / (double)c->period_ms;
		if (b->tokens > c->burst)
			b->tokens = c->burst;
		b->last_ms = now;
	}
	if (b->tokens < 1) {
		double wait_s = (1 - b->tokens) * (double)c->period_ms / c->burst / 1000;

		rate_text(c, rate, sizeof(rate));
		r = dcr_err_set(err, DCR_EFAIL, "%s has created too many rooms lately: this dcrd allows %s; try again in "
						  "%.0f s", req->email, rate, wait_s < 1 ? 1 : wait_s + 0.5);
		goto out;
	}
	b->tokens -= 1;
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* The total, before any work: no use validating a room that cannot be stored. */
static int rooms_left(const struct creators *c, struct dcr_err *err)
{
	uint64_t n = atomic_load(&c->n_rooms);

	if (n >= c->max_rooms)
		return dcr_err_set(err, DCR_EFAIL, "dcrd holds %" PRIu64 " rooms, the most it keeps (--max-rooms); it "
						   "creates no more", n);
	return 0;
}

int creators_admit(struct creators *c, const struct dcr_call_request *req, struct dcr_err *err)
{
	uint8_t root[DCR_SHA256_LEN], key[DCR_SHA256_LEN];
	const uint8_t *roots[CREATORS_MAX_CAS + 1];
	size_t lens[CREATORS_MAX_CAS + 1], n = 0;
	struct dcr_err why;
	int r;

	if (!req->chain || sk_X509_num(req->chain) < 1)
		return dcr_err_set(err, DCR_EDENIED, "a certificate request cannot create rooms");
	if (c->restricted) {
		for (; n < c->n_roots; n++) {
			roots[n] = c->roots[n];
			lens[n] = c->root_lens[n];
		}
		if (c->platform && (roots[n] = platform_ca(&lens[n])))
			n++;
		if (n == 0 || dcr_call_verify_chain(req, roots, lens, n, clock_now(), root, &why) < 0)
			return dcr_err_set(err, DCR_EDENIED, "%s may not create rooms here: this dcrd lets only certificates "
							     "from the CAs its operator chose create rooms", req->email);
	}
	if ((r = rooms_left(c, err)) < 0 || (r = caller_key(req, c->restricted ? root : NULL, key, err)) < 0)
		return r;
	return take_token(c, req, key, err);
}

static void creator_key(const struct caller_id *creator, uint8_t key[static DCR_SHA256_LEN])
{
	uint8_t buf[sizeof(creator->email) + sizeof(creator->ca)];
	size_t n = strlen(creator->email) + 1, m = strlen(creator->ca);

	memcpy(buf, creator->email, n);
	memcpy(buf + n, creator->ca, m);
	dcr_sha256(buf, n + m, key, NULL);
}

/* Under c->lock: creator's count, made if absent (NULL without memory, or with make false). */
static struct creator_rooms *creator_rooms(struct creators *c, const struct caller_id *creator, bool make)
{
	uint8_t key[DCR_SHA256_LEN];

	creator_key(creator, key);
	for (size_t i = 0; i < c->n_creators; i++)
		if (memcmp(c->rooms[i].key, key, sizeof(key)) == 0)
			return &c->rooms[i];
	if (!make)
		return NULL;
	if (c->n_creators == c->cap_creators) {
		size_t cap = c->cap_creators ? 2 * c->cap_creators : 64;
		struct creator_rooms *grown = realloc(c->rooms, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		c->rooms = grown;
		c->cap_creators = cap;
	}
	memcpy(c->rooms[c->n_creators].key, key, sizeof(key));
	c->rooms[c->n_creators].n = 0;
	return &c->rooms[c->n_creators++];
}

static int count_one(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec)
{
	struct creators *c = ctx;
	struct caller_id creator;
	struct creator_rooms *cr;

	caller_id_set(&creator, rec->owner, rec->owner_ca);
	if (!(cr = creator_rooms(c, &creator, true)))
		return DCR_ENOMEM;
	cr->n++;
	return 0;
}

int creators_count_rooms(struct creators *c, struct state *s, struct dcr_err *err)
{
	uint64_t n = 0;
	struct dcr_err why;
	int r;

	if ((r = state_count_rooms(s, &n, err)) < 0)
		return r;
	atomic_store(&c->n_rooms, n);
	pthread_mutex_lock(&c->lock);
	r = state_each_room(s, count_one, c, &why);
	pthread_mutex_unlock(&c->lock);
	if (r == DCR_ENOMEM)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	/* A damaged room is its participants' to find out; it still counts in the total. */
	if (r < 0)
		fprintf(stderr, "dcrd: cannot count every creator's rooms (%s): --max-rooms-per-creator counts only "
				"those read\n", why.msg);
	return 0;
}

int creators_admit_room(struct creators *c, const struct caller_id *creator, struct dcr_err *err)
{
	const struct creator_rooms *cr;
	unsigned n;
	int r;

	if ((r = rooms_left(c, err)) < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	cr = creator_rooms(c, creator, false);
	n = cr ? cr->n : 0;
	pthread_mutex_unlock(&c->lock);
	if (n >= c->max_per_creator)
		return dcr_err_set(err, DCR_EFAIL, "%s has created %u rooms on this dcrd, the most it keeps for one "
						   "creator (--max-rooms-per-creator)", creator->email, n);
	return 0;
}

void creators_room_stored(struct creators *c, const struct caller_id *creator)
{
	struct creator_rooms *cr;

	atomic_fetch_add(&c->n_rooms, 1);
	pthread_mutex_lock(&c->lock);
	/* Without memory the room goes uncounted for its creator; the total still has it. */
	if ((cr = creator_rooms(c, creator, true)))
		cr->n++;
	pthread_mutex_unlock(&c->lock);
}

int creators_begin_validation(struct creators *c, struct dcr_err *err)
{
	if (atomic_fetch_add(&c->validating, 1) >= MAX_VALIDATING) {
		atomic_fetch_sub(&c->validating, 1);
		return dcr_err_set(err, DCR_EFAIL, "dcrd is busy checking %d other room definitions or datasets; try again "
						  "in a moment", MAX_VALIDATING);
	}
	return 0;
}

void creators_end_validation(struct creators *c)
{
	atomic_fetch_sub(&c->validating, 1);
}
