/*
 * main.c — plow.wasm, the engine's commands for WebAssembly (wasm32-wasi):
 * the same command functions as the native plow (src/cli), minus everything
 * that needs a network, a ledger or an EVM chain. Run under any WASI host
 * (Node's node:wasi; wasm/plow.mjs in a browser) with the files it needs
 * pre-opened (docs/platforms.md).
 */
#include "../base/plow.h"

#include <stdlib.h>
#include <unistd.h>

#include "../cli/cli.h"

int cmd_replay(int argc, char **argv);  /* replay.c */
int cmd_referee(int argc, char **argv); /* referee.c */

static const cli_command commands[] = {
    {"tokenizer", "train a byte-level BPE tokenizer on a text file", cmd_tokenizer},
    {"train", "train a model (or a LoRA adapter) deterministically", cmd_train},
    {"generate", "generate text from a model", cmd_generate},
    {"export", "export a model to another format (gguf)", cmd_export},
    {"info", "describe a plow file (model, adapter, tokenizer, gguf)", cmd_info},
    {"dump", "write logits and gradients of one batch (to compare implementations)", cmd_dump},
    {"verify", "check a committed training run by re-executing sampled steps", cmd_verify},
    {"dispute", "settle a disagreement between two runs with a one-step verdict", cmd_dispute},
    {"verify-receipt", "check an inference receipt with one prefill", cmd_verify_receipt},
    {"replay", "re-execute one step of a committed run and compare it with its leaf", cmd_replay},
    {"referee", "compute the referee's leaf of a challenge from the task's blobs", cmd_referee},
    {"prefs", "preference pairs for DPO: make them from a text, measure a model on them", cmd_prefs},
};

int main(int argc, char **argv) {
    /* The host pre-opens "/" and says where the command runs in PLOW_CWD
     * (wasm/plow-wasi.mjs: the current directory; wasm/plow.mjs: "/"). */
    const char *cwd = getenv("PLOW_CWD");
    if (cwd && *cwd && chdir(cwd) != 0) {
        fprintf(stderr, "plow: cannot change to the directory '%s'\n", cwd);
        return 2;
    }
    return cli_main(argc, argv, commands, (int)(sizeof commands / sizeof commands[0]));
}
