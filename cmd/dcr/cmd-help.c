/* dcr help, dcr version: text generated from the command table. */
#include <stdio.h>
#include <string.h>

#include "dcr.h"

#include "banned.h"

void print_usage(FILE *out)
{
	fprintf(out, "usage: dcr [OPTIONS] COMMAND [ARGS...]\n"
		     "Run 'dcr help' for the list of commands.\n");
}

static void print_options(const struct option_spec *o, FILE *out)
{
	for (; o && o->name; o++) {
		char left[64], short_form[5] = "    ";

		if (o->short_name)
			snprintf(short_form, sizeof(short_form), "-%c, ", o->short_name);
		snprintf(left, sizeof(left), "%s--%s%s%s", short_form, o->name,
			o->metavar ? " " : "", o->metavar ? o->metavar : "");
		fprintf(out, "  %-26s %s\n", left, o->help);
	}
}

void print_command_help(const struct command *cmd, FILE *out)
{
	fprintf(out, "usage: dcr %s%s%s\n\n%s", cmd->name, *cmd->args ? " " : "", cmd->args, cmd->summary);
	fprintf(out, "%s\n", cmd->run ? "" : " (not implemented yet)");
	if (cmd->options && cmd->options->name) {
		fprintf(out, "\nOptions:\n");
		print_options(cmd->options, out);
	}
	fprintf(out, "\nGlobal options are listed by 'dcr help'. See dcr-%s(1) if installed, or dcr(1).\n",
		cmd->name);
}

int cmd_help(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const struct command *target;

	if (args->argc > 1 && cmd)
		return usage_error(cmd, "too many arguments");
	if (cmd && args->argc == 1) {
		target = command_find(args->argv[0]);
		if (!target) {
			fprintf(stderr, "dcr: help: unknown command '%s'\n", args->argv[0]);
			print_usage(stderr);
			return 2;
		}
		print_command_help(target, stdout);
		return 0;
	}
	printf("usage: dcr [OPTIONS] COMMAND [ARGS...]\n\n"
	       "dcr works with data clean rooms: encrypt data locally, release keys only to an\n"
	       "attested enclave, run agreed computations, fetch results, verify the audit log.\n\n"
	       "Commands:\n");
	for (const struct command *c = commands; c->name; c++)
		printf("  %-12s %s%s\n", c->name, c->summary, c->run ? "" : " (not implemented yet)");
	printf("\nOptions (before or after the command):\n");
	print_options(global_options, stdout);
	printf("\nRun 'dcr help COMMAND' for a command's arguments and options.\n"
	       "Exit statuses: 0 ok, 1 failure, 2 usage, 3 permission denied, 4 not found,\n"
	       "5 attestation rejected, 6 validation failed, 7 computation failed,\n"
	       "8 service unreachable, 9 integrity violation (see dcr(1)).\n");
	return 0;
}

int cmd_version(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	if (args->argc > 0)
		return usage_error(cmd, "takes no arguments");
	if (cli->json)
		printf("{\"version\": \"%s\"}\n", DCR_VERSION);
	else
		printf("dcr %s\n", DCR_VERSION);
	return 0;
}
