/* dcrd: the enclave service; command dispatch. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dcrd.h"
#include "sandbox.h"
#include "util.h"
#include "work.h"

#include "banned.h"

static int cmd_spec(int argc, char **argv);
static int cmd_sandbox(int argc, char **argv);

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv); /* NULL: not implemented yet */
	const char *args;
	const char *summary;
	bool internal;                     /* run by dcrd itself; not in the help */
};

static const struct subcommand subcommands[] = {
	{ "serve", cmd_serve, "--data-dir DIR [--listen ADDR:PORT] [--attestation sim|sgx-dcap|tdx|sev-snp]",
	  "run the enclave service", false },
	{ "spec", cmd_spec, "[--attestation sim|tdx|sev-snp] [DEVICE OPTIONS]",
	  "print the trusted-spec entry of this dcrd (its binary, or its TD or guest)", false },
	{ "sandbox", cmd_sandbox, "[--sandbox-user USER|UID[:GID]] [--cgroup auto|off|PATH]",
	  "check that python computations can run here, and list what the sandbox offers", false },
	{ "token", cmd_token, "create --data-dir DIR --email E [--ttl DURATION]",
	  "create a one-time API token for platform login", false },
	{ "sql-worker", sql_worker_main, "PARENT-PID", "run one SQL job for dcrd serve", true },
	{ NULL, NULL, NULL, NULL, false },
};

#define SPEC_USAGE "usage: dcrd spec [--attestation sim|tdx|sev-snp] [the device options of dcrd serve]\n"

/*
 * The trusted-spec entry of this dcrd (kind.h's spec): for sim the SHA-256
 * of this executable; for tdx and sev-snp the measurements of a fresh
 * report from the device the same options as serve's name.
 */
static int cmd_spec(int argc, char **argv)
{
	static const struct option longopts[] = {
		KIND_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct enclave_options opt = { 0 };
	struct kind_args args;
	struct dcr_err err;
	int c, r;

	opterr = 0;
	kind_args_init(&args, &opt);
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if ((r = kind_args_take(&args, &opt, c, optarg, "spec")) < 0)
			return 2;
		if (r == 0) {
			fprintf(stderr, "dcrd: spec: %s '%s'\n" SPEC_USAGE, c == ':' ? "missing value for" : "unknown option",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dcrd: spec: unexpected argument '%s'\n" SPEC_USAGE, argv[optind]);
		return 2;
	}
	if (kind_args_finish(&args, &opt, "spec") < 0) {
		fputs(SPEC_USAGE, stderr);
		return 2;
	}
	if (!opt.kind->spec) {
		fprintf(stderr, "dcrd: spec: an %s spec comes from the signed enclave, not from dcrd (see docs/sgx.md)\n",
			opt.kind->lib->name);
		return 1;
	}
	if (opt.kind->spec(&opt, stdout, &err) < 0) {
		fprintf(stderr, "dcrd: spec: %s\n", err.msg);
		return 1;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "dcrd: spec: cannot write the spec: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * The check dcrd serve makes at start, on its own: a probe in a real
 * sandbox set up as serve would with these options. 0 if python
 * computations can run, 1 if not (saying why), 2 for bad usage.
 */
static int cmd_sandbox(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sandbox-user", required_argument, NULL, 'U' },
		{ "cgroup", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	struct sandbox_options opt = { 0 };
	const struct sandbox_report *rep;
	char desc[8192];
	struct dcr_err err;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == 'U') {
			opt.user = optarg;
		} else if (c == 'G') {
			opt.cgroup = optarg;
		} else {
			fprintf(stderr, "dcrd: sandbox: %s '%s'\nusage: dcrd sandbox [--sandbox-user USER|UID[:GID]] "
					"[--cgroup auto|off|PATH]\n", c == ':' ? "missing value for" : "unknown option",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dcrd: sandbox: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (sandbox_configure(&opt, desc, sizeof(desc), &err) < 0) {
		fprintf(stderr, "dcrd: sandbox: %s\n", err.msg);
		return err.code == DCR_EFAIL ? 1 : 2;
	}
	c = sandbox_available(&err);
	sandbox_shutdown();
	if (c < 0) {
		fprintf(stderr, "dcrd: sandbox: python computations cannot run here: %s\n", err.msg);
		return 1;
	}
	rep = sandbox_report();
	printf("python %s\n", rep->python);
	for (size_t i = 0; i < SANDBOX_PACKAGES; i++)
		printf("%s %s\n", rep->packages[i].name, rep->packages[i].version[0] ? rep->packages[i].version : "-");
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: dcrd [--help] [--version] COMMAND [ARGS...]\n");
}

static void help(void)
{
	usage(stdout);
	printf("\ndcrd is the dcr enclave service.\n\nCommands:\n");
	for (const struct subcommand *s = subcommands; s->name; s++)
		if (!s->internal)
			printf("  %-7s %s%s\n          usage: dcrd %s %s\n", s->name, s->summary,
				s->run ? "" : " (not implemented yet)", s->name, s->args);
	printf("\nSee dcrd(8).\n");
}

int main(int argc, char **argv)
{
	const char *names[8];
	size_t n = 0;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		help();
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("dcrd %s\n", DCR_VERSION);
		return 0;
	}
	for (const struct subcommand *s = subcommands; s->name; s++) {
		if (strcmp(s->name, argv[1]) != 0)
			continue;
		if (!s->run) {
			fprintf(stderr, "dcrd: %s: not implemented yet\n", s->name);
			return 1;
		}
		return s->run(argc - 1, argv + 1);
	}
	if (argv[1][0] == '-')
		fprintf(stderr, "dcrd: unknown option '%s'\n", argv[1]);
	else {
		const char *hint;

		for (const struct subcommand *s = subcommands; s->name; s++)
			if (!s->internal)
				names[n++] = s->name;
		names[n] = NULL;
		hint = dcr_suggest(argv[1], names);
		fprintf(stderr, "dcrd: unknown command '%s'", argv[1]);
		if (hint)
			fprintf(stderr, " (did you mean '%s'?)", hint);
		fputc('\n', stderr);
	}
	usage(stderr);
	return 2;
}
