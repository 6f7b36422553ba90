/*
 * main.c — the plow command: a table of subcommands, --help and --version.
 */
#include "../base/plow.h"

#include "cli.h"

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
    {"serve", "serve a model over the OpenAI API, every answer with a signed receipt", cmd_serve},
    {"channel", "payment channels: open, sign vouchers, redeem, close", cmd_channel},
    {"fraud", "post a served receipt with a wrong token: the worker's stake is slashed", cmd_fraud},
    {"card", "an agent's signed card: make, publish (the directory lists it), check", cmd_card},
    {"buyer", "run a buyer agent: find a worker, agree a price by mail, pay per completion, catch a cheater", cmd_buyer},
    {"mail", "signed, optionally sealed messages between agents through the node's mailbox", cmd_mail},
    {"node", "run a ledger node (sequencer, or --follow URL to audit one)", cmd_node},
    {"wallet", "keys, balances, transfers and stake", cmd_wallet},
    {"task", "post, list and show tasks on a node", cmd_task},
    {"block", "show blocks of a node", cmd_block},
    {"worker", "run a worker agent: claim tasks, do the work, commit", cmd_worker},
    {"verifier", "run a verifier agent: check committed work, challenge fraud", cmd_verifier},
    {"requester", "run a requester agent: post a task or a workflow, check the results", cmd_requester},
    {"demo", "start a local network (node, agents, a cheater) and run a workflow end to end", cmd_demo},
    {"label", "crowdsourced labeling: post items, answer, reveal, gold, result", cmd_label},
    {"labeler", "run an AI labeler agent (or train its model)", cmd_labeler},
    {"prefs", "preference pairs for DPO: make them from a text, measure a model on them", cmd_prefs},
    {"rl", "reasoning by reinforcement learning: problems with checkable answers, accuracy", cmd_rl},
    {"round", "collaborative training rounds: coordinate them on a network, recompute one", cmd_round},
    {"deploy", "deploy plow's contracts on an EVM chain and write the deployment file", cmd_deploy},
    {"referee", "referee a network that settles on an EVM chain: rule its challenges", cmd_referee},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };
_Static_assert(N_COMMANDS == 30, "update the command table and its help together");

int main(int argc, char **argv) { return cli_main(argc, argv, commands, N_COMMANDS); }
