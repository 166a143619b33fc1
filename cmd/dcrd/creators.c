/* Who may create rooms on this dcrd, how often, and how many definitions it validates at once. */
#include <errno.h>
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
#define MAX_VALIDATING 2           /* definitions and datasets, of the 4 HTTP threads: the others keep answering */

/* One caller's token bucket. */
struct bucket {
	uint8_t key[DCR_SHA256_LEN];   /* SHA-256 of e-mail, 0x00, issuer */
	double tokens;
	int64_t last_ms;               /* monotonic */
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void creators_init(struct creators *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->burst = CREATORS_DEFAULT_BURST;
	c->period_ms = CREATORS_DEFAULT_PERIOD_MS;
	atomic_init(&c->validating, 0);
}

void creators_release(struct creators *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_roots; i++)
		free(c->roots[i]);
	free(c->buckets);
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
	while (r == 0 && bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		unsigned char *der = NULL;
		int der_len;

		if (X509_check_ca(cert) == 0)
			r = dcr_err_set(err, DCR_EINVALID, "'%s': certificate %zu is not a CA certificate", path, found + 1);
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
	ERR_clear_error();
	BIO_free(bio);
	free(pem);
	if (r == 0 && found == 0)
		r = dcr_err_set(err, DCR_EINVALID, "'%s' holds no PEM certificate", path);
	if (r == 0)
		c->restricted = true;
	return r;
}

int creators_parse_rate(struct creators *c, const char *s)
{
	unsigned long long n, amount;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *end != '/' || n < 1 || n > 1000000)
		return -1;
	s = end + 1;
	amount = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || amount < 1 || amount > 1000000 || end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (*end) {
	case 's': amount *= 1000; break;
	case 'm': amount *= 60 * 1000; break;
	case 'h': amount *= 3600 * 1000; break;
	case 'd': amount *= 86400 * 1000; break;
	default: return -1;
	}
	if (amount > 30ull * 86400 * 1000)
		return -1;
	c->burst = (unsigned)n;
	c->period_ms = (int64_t)amount;
	return 0;
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
 * Who the caller is, for counting: the e-mail with the root its chain
 * verified to (with creator CAs), or else the issuer its certificate names,
 * which nobody vouches for.
 */
static int caller_key(const struct dcr_call_request *req, const uint8_t *root, uint8_t key[static DCR_SHA256_LEN],
	struct dcr_err *err)
{
	uint8_t buf[DCR_EMAIL_MAX + 1 + 1024];
	size_t n = strlen(req->email) + 1;
	X509_NAME *issuer = X509_get_issuer_name(sk_X509_value(req->chain, 0));
	const unsigned char *der = NULL;
	size_t der_len = 0;

	memcpy(buf, req->email, n);
	if (root) {
		der = root;
		der_len = DCR_SHA256_LEN;
	} else if (issuer && X509_NAME_get0_der(issuer, &der, &der_len) != 1) {
		der_len = 0;
	}
	if (der_len > sizeof(buf) - n)
		der_len = sizeof(buf) - n;
	if (der_len)
		memcpy(buf + n, der, der_len);
	return dcr_sha256(buf, n + der_len, key, err);
}

/* Take a token from the caller's bucket; DCR_EFAIL with how long to wait when it is empty. */
static int take_token(struct creators *c, const struct dcr_call_request *req, const uint8_t key[static DCR_SHA256_LEN],
	struct dcr_err *err)
{
	int64_t now = monotonic_ms();
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
			struct bucket *grown = realloc(c->buckets, cap * sizeof(*grown));

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
		if (n == 0 || dcr_call_verify_chain(req, roots, lens, n, time(NULL), root, &why) < 0)
			return dcr_err_set(err, DCR_EDENIED, "%s may not create rooms here: this dcrd lets only certificates "
							     "from the CAs its operator chose create rooms", req->email);
	}
	if ((r = caller_key(req, c->restricted ? root : NULL, key, err)) < 0)
		return r;
	return take_token(c, req, key, err);
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
