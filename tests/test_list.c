/* test_list.c — the unit-test tables, in the order they run. */
#include "test.h"

extern const test_case tensor_tests[];
extern const test_case tokenizer_tests[];
extern const test_case formats_tests[];
extern const test_case model_tests[];
extern const test_case train_tests[];
extern const test_case proof_tests[];
extern const test_case tx_tests[];
extern const test_case state_tests[];
extern const test_case store_tests[];
extern const test_case job_tests[];
extern const test_case json_tests[];
extern const test_case label_tests[];
extern const test_case dpo_tests[];
extern const test_case round_tests[];
extern const test_case agent_tests[];
extern const test_case rl_tests[];
extern const test_case node_tests[];
extern const test_case evm_tests[];
extern const test_case wasm_tests[];
extern const test_case serve_tests[];
extern const test_case explorer_tests[];

const test_case *const test_tables[] = {
    tensor_tests, tokenizer_tests, formats_tests, model_tests, train_tests, proof_tests, tx_tests, state_tests, store_tests, job_tests, json_tests, label_tests, round_tests, dpo_tests, rl_tests, agent_tests, node_tests, explorer_tests, evm_tests, serve_tests, wasm_tests, NULL,
};
