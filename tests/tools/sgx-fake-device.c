/*
 * Test helper: plays Gramine-SGX's /dev/attestation, or for TDX the kernel's
 * configfs-tsm, with synthetic DCAP quotes, and lays out the fake PCCS's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "fileio.h"
#include "sgx-synth.h"
#include "tsm-serve.h"

#include "banned.h"

#define PROG "sgx-fake-device"

/* Where things live under DIR; tests and tests/tools/fake-pccs.py rely on these names. */
#define QUOTE_TEMPLATE "state/quote-template.bin"
#define ATTESTATION_KEY "state/attestation-key.pem"

static const char *const tcb_statuses[] = {
	"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
	"OutOfDate", "OutOfDateConfigurationNeeded", "Revoked",
};

/* DIR/name in buf, or a message and false when it does not fit. */
static bool join(char buf[static 4096], const char *dir, const char *name)
{
	int n = snprintf(buf, 4096, "%s/%s", dir, name);

	if (n < 0 || n >= 4096) {
		fprintf(stderr, PROG ": path '%s/%s' is too long\n", dir, name);
		return false;
	}
	return true;
}

/* Create DIR/name (which must not exist) holding len bytes. */
static int put(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
	char path[4096];
	int fd;

	if (!join(path, dir, name))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || dcr_write_all(fd, data, len) < 0 || close(fd) < 0) {
		fprintf(stderr, PROG ": init: cannot write '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

static int put_str(const char *dir, const char *name, const char *s)
{
	return put(dir, name, s, strlen(s), 0644);
}

static int make_dir(const char *dir, const char *name)
{
	char path[4096];

	if (!join(path, dir, name))
		return -1;
	if (mkdir(path, 0700) < 0) {
		fprintf(stderr, PROG ": init: cannot create directory '%s': %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (already initialised?)" : "");
		return -1;
	}
	return 0;
}

/* A PCS-style JSON body: the signed text kept byte for byte, then its signature. */
static int put_signed(const char *dir, const char *name, const char *key, const char *text, const char *sig)
{
	size_t len = strlen(key) + strlen(text) + strlen(sig) + 32;
	char *body = malloc(len);
	int r, n;

	if (!body) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	n = snprintf(body, len, "{\"%s\":%s,\"signature\":\"%s\"}", key, text, sig);
	r = n > 0 && (size_t)n < len ? put(dir, name, body, (size_t)n, 0644) : -1;
	free(body);
	return r;
}

/* The attestation key as PKCS #8 PEM, 0600. */
static int put_key(const char *dir, const char *name, EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n = 0;
	int r = -1;

	if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(bio, &data)) > 0)
		r = put(dir, name, data, (size_t)n, 0600);
	else
		fprintf(stderr, PROG ": init: cannot encode the attestation key\n");
	if (data && n > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	return r;
}

static int put_random(const char *dir, const char *name, size_t len)
{
	uint8_t buf[32];
	struct dcr_err err;
	int r;

	if (len > sizeof(buf) || dcr_random(buf, len, &err) < 0) {
		fprintf(stderr, PROG ": init: no random bytes for '%s'\n", name);
		return -1;
	}
	r = put(dir, name, buf, len, 0600);
	dcr_wipe(buf, sizeof(buf));
	return r;
}

static int parse_u16(const char *opt, const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 0xffff || s[0] == '-') {
		fprintf(stderr, PROG ": init: %s '%s' is not a number from 0 to 65535\n", opt, s);
		return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

static int parse_hex(const char *opt, const char *s, uint8_t *out, size_t len)
{
	if (strlen(s) != 2 * len || dcr_unhex(s, out, len) < 0) {
		fprintf(stderr, PROG ": init: %s '%s' is not %zu hex digits\n", opt, s, 2 * len);
		return -1;
	}
	return 0;
}

static int parse_measurement(const char *opt, const char *s, uint8_t out[static 32])
{
	return parse_hex(opt, s, out, 32);
}

/* The value after option argv[*i], or a message and NULL. */
static const char *value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, PROG ": init: %s needs a value\n", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int parse_init(int argc, char **argv, const char **dir, struct sgx_synth_opts *o, long *days)
{
	const char *v;
	bool enclave = false, signer = false, mrtd = false;
	struct dcr_err err;

	*dir = NULL;
	*days = 30;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		char *end;
		bool known = false;

		if (a[0] != '-') {
			if (*dir) {
				fprintf(stderr, PROG ": init: unexpected argument '%s'\n", a);
				return -1;
			}
			*dir = a;
			continue;
		}
		if (!strcmp(a, "--debug")) {
			o->debug = true;
			continue;
		}
		if (strcmp(a, "--mrenclave") && strcmp(a, "--mrsigner") && strcmp(a, "--isvprodid") &&
		    strcmp(a, "--isvsvn") && strcmp(a, "--tcb-status") && strcmp(a, "--days") && strcmp(a, "--tdx") &&
		    strcmp(a, "--mrtd") && strcmp(a, "--rtmr0")) {
			fprintf(stderr, PROG ": init: unknown option '%s'\n", a);
			return -1;
		}
		if (!(v = value(argc, argv, &i)))
			return -1;
		if (!strcmp(a, "--mrenclave")) {
			if (parse_measurement(a, v, o->mrenclave) < 0)
				return -1;
			enclave = true;
		} else if (!strcmp(a, "--mrsigner")) {
			if (parse_measurement(a, v, o->mrsigner) < 0)
				return -1;
			signer = true;
		} else if (!strcmp(a, "--tdx")) {
			if (strcmp(v, "4") && strcmp(v, "5")) {
				fprintf(stderr, PROG ": init: --tdx '%s' is not a TDX quote version (4 or 5)\n", v);
				return -1;
			}
			o->tdx_version = v[0] - '0';
		} else if (!strcmp(a, "--mrtd")) {
			if (parse_hex(a, v, o->mrtd, 48) < 0)
				return -1;
			mrtd = true;
		} else if (!strcmp(a, "--rtmr0")) {
			if (parse_hex(a, v, o->rtmr[0], 48) < 0)
				return -1;
		} else if (!strcmp(a, "--isvprodid")) {
			if (parse_u16(a, v, &o->isv_prod_id) < 0)
				return -1;
		} else if (!strcmp(a, "--isvsvn")) {
			if (parse_u16(a, v, &o->isv_svn) < 0)
				return -1;
		} else if (!strcmp(a, "--tcb-status")) {
			for (size_t k = 0; k < sizeof(tcb_statuses) / sizeof(tcb_statuses[0]); k++)
				known = known || !strcmp(v, tcb_statuses[k]);
			if (!known) {
				fprintf(stderr, PROG ": init: --tcb-status '%s' is not an Intel TCB status\n", v);
				return -1;
			}
			o->tcb_status = v;
		} else {
			errno = 0;
			*days = strtol(v, &end, 10);
			if (!*v || *end || errno || *days < 1 || *days > 36500) {
				fprintf(stderr, PROG ": init: --days '%s' is not a number from 1 to 36500\n", v);
				return -1;
			}
		}
	}
	if (!*dir) {
		fprintf(stderr, PROG ": init: no DIR given\n");
		return -1;
	}
	/* Like a freshly built enclave: measurements nobody has seen before. */
	if ((!enclave && dcr_random(o->mrenclave, 32, &err) < 0) ||
	    (!signer && dcr_random(o->mrsigner, 32, &err) < 0) || (!mrtd && dcr_random(o->mrtd, 48, &err) < 0)) {
		fprintf(stderr, PROG ": init: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	struct sgx_synth_keys keys;
	struct sgx_synth_opts o;
	struct sgx_synth s;
	const char *dir;
	char path[4096], hex[97], fmspc[13], tcb_name[64];
	time_t now = time(NULL);
	long days;
	int r = -1;

	/* Gramine's defaults for an enclave that sets neither. */
	sgx_synth_opts_default(&o, now - SGX_SYNTH_DAY, now);
	o.isv_prod_id = 0, o.isv_svn = 0;
	memset(o.report_data, 0, sizeof(o.report_data));
	if (parse_init(argc, argv, &dir, &o, &days) < 0)
		return 2;
	o.col_next = o.crl_next = o.qe_next = now + days * SGX_SYNTH_DAY;
	o.pck_not_after = o.col_next + 365 * SGX_SYNTH_DAY;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": init: cannot create directory '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	sgx_synth_keys_init(&keys);
	sgx_synth_build(&keys, &o, &s);
	dcr_hex(o.tcb_fmspc, 6, fmspc);
	snprintf(tcb_name, sizeof(tcb_name), "pccs/tcbinfo-%s.json", fmspc);
	if (make_dir(dir, "device") < 0 || make_dir(dir, "device/keys") < 0 || make_dir(dir, "pccs") < 0 ||
	    make_dir(dir, "state") < 0)
		goto out;
	/* TDX: configfs-tsm's report directory, where dcrd makes its entry (see serve); /dev/tdx_guest (fake-tsm.c). */
	if (o.tdx_version && (make_dir(dir, "tsm") < 0 || make_dir(dir, "tsm/report") < 0 ||
	    put(dir, "tdx-guest", "", 0, 0600) < 0))
		goto out;
	if (put_str(dir, "device/attestation_type", "dcap") < 0 ||
	    put(dir, "device/user_report_data", "", 0, 0600) < 0 ||
	    put_random(dir, "device/keys/_sgx_mrenclave", 16) < 0 ||
	    put_random(dir, "device/keys/_sgx_mrsigner", 16) < 0)
		goto out;
	if (!join(path, dir, "device/quote"))
		goto out;
	if (mkfifo(path, 0600) < 0) {
		fprintf(stderr, PROG ": init: cannot create FIFO '%s': %s\n", path, strerror(errno));
		goto out;
	}
	if (put(dir, "root-ca.der", s.root, s.root_len, 0644) < 0 || put_str(dir, "collateral.json", s.collateral) < 0)
		goto out;
	if (put_str(dir, "pccs/tee", o.tdx_version ? "tdx" : "sgx") < 0 ||
	    put(dir, "pccs/pckcrl.der", s.pck_crl, s.pck_crl_len, 0644) < 0 ||
	    put_str(dir, "pccs/pckcrl-issuer-chain.pem", s.pck_crl_issuer_chain) < 0 ||
	    put(dir, "pccs/rootcacrl.der", s.root_ca_crl, s.root_ca_crl_len, 0644) < 0)
		goto out;
	if (put_signed(dir, tcb_name, "tcbInfo", s.tcb_info, s.tcb_info_signature) < 0 ||
	    put_str(dir, "pccs/tcbinfo-issuer-chain.pem", s.tcb_info_issuer_chain) < 0 ||
	    put_signed(dir, "pccs/qeidentity.json", "enclaveIdentity", s.qe_identity, s.qe_identity_signature) < 0 ||
	    put_str(dir, "pccs/qeidentity-issuer-chain.pem", s.qe_identity_issuer_chain) < 0)
		goto out;
	if (put(dir, QUOTE_TEMPLATE, s.quote, s.quote_len, 0600) < 0 || put_key(dir, ATTESTATION_KEY, keys.ak) < 0)
		goto out;
	if (put(dir, "quote.bin", s.quote, s.quote_len, 0644) < 0)
		goto out;
	if (o.tdx_version) {
		dcr_hex(o.mrtd, 48, hex);
		printf("mrtd %s\n", hex);
	} else {
		dcr_hex(o.mrenclave, 32, hex);
		printf("mrenclave %s\n", hex);
		dcr_hex(o.mrsigner, 32, hex);
		printf("mrsigner %s\n", hex);
	}
	r = fflush(stdout) == 0 ? 0 : -1;
out:
	sgx_synth_release(&s);
	sgx_synth_keys_release(&keys);
	return r < 0 ? 1 : 0;
}

/* The quote template and the attestation key init left in DIR/state. */
struct state {
	uint8_t *quote;
	size_t quote_len;
	EVP_PKEY *ak;
};

static bool is_tdx(const struct state *st)
{
	return st->quote_len > 2 && (st->quote[0] == 4 || st->quote[0] == 5);
}

/* A quote q (room for st's) for report data rd: SGX or TD, as init made the template. */
static int set_report_data(const struct state *st, uint8_t *q, const uint8_t rd[static 64])
{
	if (q != st->quote)
		memcpy(q, st->quote, st->quote_len);
	return is_tdx(st) ? sgx_synth_tdx_set_report_data(q, st->quote_len, st->ak, rd)
		: sgx_synth_set_report_data(q, st->quote_len, st->ak, rd);
}

static int load_state(const char *dir, struct state *st)
{
	static const uint8_t zero[64];
	char path[4096];
	struct dcr_err err;
	BIO *bio;

	memset(st, 0, sizeof(*st));
	if (!join(path, dir, QUOTE_TEMPLATE))
		return -1;
	if (dcr_read_file(path, SGX_SYNTH_QUOTE_MAX, &st->quote, &st->quote_len, &err) < 0) {
		fprintf(stderr, PROG ": %s (run '" PROG " init %s' first)\n", err.msg, dir);
		return -1;
	}
	if (!join(path, dir, ATTESTATION_KEY))
		return -1;
	bio = BIO_new_file(path, "r");
	st->ak = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!st->ak) {
		fprintf(stderr, PROG ": cannot read the attestation key '%s'\n", path);
		return -1;
	}
	/* A state directory put together from two inits would serve quotes that never verify. */
	if (set_report_data(st, st->quote, zero) < 0) {
		fprintf(stderr, PROG ": '%s/" QUOTE_TEMPLATE "' is not a quote for the key in '%s'\n", dir, path);
		return -1;
	}
	return 0;
}

static void release_state(struct state *st)
{
	free(st->quote);
	EVP_PKEY_free(st->ak);
}

static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

/* The quote for the 64 bytes in DIR/device/user_report_data, in q; -1 after a log line if there are not 64. */
static int next_quote(const char *dir, const struct state *st, uint8_t *q)
{
	char path[4096];
	struct dcr_err err;
	uint8_t *rd = NULL;
	size_t len = 0;
	int r;

	if (!join(path, dir, "device/user_report_data"))
		return -1;
	if (dcr_read_file(path, 64, &rd, &len, &err) < 0) {
		fprintf(stderr, PROG ": no quote: %s\n", err.msg);
		return -1;
	}
	if (len != 64) {
		fprintf(stderr, PROG ": no quote: '%s' holds %zu bytes, not 64\n", path, len);
		free(rd);
		return -1;
	}
	r = set_report_data(st, q, rd);
	free(rd);
	return r;
}

/* TDX: the quote for a configfs-tsm entry's inblob (tsm-serve.h). */
struct tsm_ctx {
	const struct state *st;
	uint8_t q[SGX_SYNTH_QUOTE_MAX];
};

static int tsm_answer(void *ctx, const uint8_t inblob[static 64], const uint8_t **out, size_t *out_len,
	const uint8_t **aux, size_t *aux_len)
{
	struct tsm_ctx *c = ctx;

	if (set_report_data(c->st, c->q, inblob) < 0)
		return -1;
	*out = c->q;
	*out_len = c->st->quote_len;
	*aux = NULL;
	*aux_len = 0;
	return 0;
}

/* TDX: configfs-tsm in DIR/tsm/report; while DIR/tsm/race exists, another writer races each report. */
static _Noreturn void serve_tsm(const char *dir, const struct state *st)
{
	static struct tsm_ctx ctx;
	char report[4096], race[4096];

	if (!join(report, dir, "tsm/report") || !join(race, dir, "tsm/race"))
		exit(1);
	ctx.st = st;
	tsm_serve(PROG, report, race, tsm_answer, &ctx);
}

static int cmd_serve(int argc, char **argv)
{
	struct sigaction stop = { .sa_handler = on_stop }, ignore = { .sa_handler = SIG_IGN };
	uint8_t q[SGX_SYNTH_QUOTE_MAX];
	const char *dir = argc == 3 ? argv[2] : NULL;
	char path[4096];
	struct state st;
	unsigned long served = 0;

	if (!dir) {
		fprintf(stderr, "usage: " PROG " serve DIR\n");
		return 2;
	}
	if (load_state(dir, &st) < 0 || !join(path, dir, "device/quote")) {
		release_state(&st);
		return 1;
	}
	sigemptyset(&stop.sa_mask);
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGPIPE, &ignore, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGINT, &stop, NULL);
	if (is_tdx(&st))
		serve_tsm(dir, &st);
	fprintf(stderr, PROG ": serving quotes on '%s'\n", path);
	for (;;) {
		/* Blocks until a reader opens the quote file, as Gramine's read would start. */
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": cannot open '%s': %s\n", path, strerror(errno));
			release_state(&st);
			return 1;
		}
		if (next_quote(dir, &st, q) < 0) {
			fifo_hand_over(fd);
			continue;
		}
		if (dcr_write_all(fd, q, st.quote_len) < 0)
			fprintf(stderr, PROG ": quote %lu not delivered: %s\n", served + 1, strerror(errno));
		else
			fprintf(stderr, PROG ": served quote %lu (%zu bytes)\n", ++served, st.quote_len);
		fifo_hand_over(fd);
	}
}

static int cmd_quote(int argc, char **argv)
{
	uint8_t rd[64];
	struct state st;
	int r = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: " PROG " quote DIR REPORTDATA_HEX > FILE\n");
		return 2;
	}
	if (strlen(argv[3]) != 128 || dcr_unhex(argv[3], rd, 64) < 0) {
		fprintf(stderr, PROG ": quote: report data '%s' is not 128 hex digits\n", argv[3]);
		return 2;
	}
	if (load_state(argv[2], &st) == 0 && set_report_data(&st, st.quote, rd) == 0) {
		if (fwrite(st.quote, 1, st.quote_len, stdout) == st.quote_len && fflush(stdout) == 0)
			r = 0;
		else
			fprintf(stderr, PROG ": quote: cannot write the quote: %s\n", strerror(errno));
	}
	release_state(&st);
	return r;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "init", cmd_init,
	  "init DIR [--mrenclave HEX64] [--mrsigner HEX64] [--isvprodid N] [--isvsvn N] [--debug]\n"
	  "\t\t[--tcb-status STATUS] [--days N] [--tdx 4|5 [--mrtd HEX96] [--rtmr0 HEX96]]" },
	{ "serve", cmd_serve, "serve DIR" },
	{ "quote", cmd_quote, "quote DIR REPORTDATA_HEX > FILE" },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc, argv);
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "\t" PROG " %s\n", commands[i].usage);
	return 2;
}
