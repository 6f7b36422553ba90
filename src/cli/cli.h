/*
 * cli.h — what the plow subcommands share: the command table entry type,
 * strict number parsing, the progress bar, and error printing.
 *
 * Only main() and cmd_* functions exit or print errors; everything below them
 * returns error values (STYLE.md).
 */
#ifndef PLOW_CLI_H
#define PLOW_CLI_H

#include "../base/plow.h"

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* The plow command over a table of n subcommands: --help, --version, then
 * the named command (the engine shut down after it); returns the exit code. */
int cli_main(int argc, char **argv, const cli_command *commands, int n);

int cmd_tokenizer(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_dispute(int argc, char **argv);
int cmd_verify_receipt(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_channel(int argc, char **argv);
int cmd_fraud(int argc, char **argv);
int cmd_card(int argc, char **argv);
int cmd_mail(int argc, char **argv);
int cmd_buyer(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_wallet(int argc, char **argv);
int cmd_task(int argc, char **argv);
int cmd_block(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_verifier(int argc, char **argv);
int cmd_requester(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_label(int argc, char **argv);
int cmd_labeler(int argc, char **argv);
int label_fortunes_cmd(int argc, char **argv); /* plow label fortunes (cmd_label_data.c) */
struct cJSON;
/* Appends o as one line of JSONL (unformatted, '\n') and deletes o. */
void cli_json_line(plow_buf *b, struct cJSON *o);
int cmd_prefs(int argc, char **argv);
int cmd_round(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_referee(int argc, char **argv);
int cmd_rl(int argc, char **argv);

/* Prints "plow: <msg>" to stderr; returns 1 (the usual exit code). */
int cli_fail(const char *fmt, ...) PLOW_PRINTF(1, 2);
/* Prints "plow <cmd>: bad usage: <msg>\nTry 'plow <cmd> --help'."; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) PLOW_PRINTF(2, 3);

/* Strict parsers: the whole string must be a number in range. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out, char err[PLOW_ERR_LEN]);
int cli_u64(const char *opt, const char *s, uint64_t *out, char err[PLOW_ERR_LEN]);
int cli_float(const char *opt, const char *s, double lo, double hi, double *out, char err[PLOW_ERR_LEN]);

/* A one-line progress bar on stderr (redrawn in place on a terminal, one line
 * every few seconds otherwise). */
typedef struct cli_progress {
    const char *label;
    long total;
    double t0, last;
    bool tty;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, long total);
void cli_progress_update(cli_progress *p, long done, const char *extra);
void cli_progress_end(cli_progress *p);

/* Applies --threads / --simd (or PLOW_THREADS / PLOW_SIMD). */
int cli_init_engine(const char *simd, long threads, char err[PLOW_ERR_LEN]);

#endif
