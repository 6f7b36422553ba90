/*
 * test_agent.c — the agents' parsers (worker policies, workflows, TASKFILEs)
 * against good and malformed input, and their small helpers. The agents'
 * behaviour against a live node is tested by tests/cli/agents.sh and
 * tests/cli/demo.sh.
 */
#include "../src/base/plow.h"

#include "../src/agent/agent.h"
#include "test.h"

static int parse_policy(const char *s, worker_policy *p, char err[PLOW_ERR_LEN]) {
    return worker_policy_parse(p, (const uint8_t *)s, strlen(s), err);
}

static void test_policy(void) {
    worker_policy p;
    char err[PLOW_ERR_LEN];
    CHECK(parse_policy("{}", &p, err) == 0);
    CHECK(p.kinds == ((1u << LEDGER_KIND_TRAIN) | (1u << LEDGER_KIND_LORA) | (1u << LEDGER_KIND_INFER) |
                      (1u << LEDGER_KIND_DPO) | (1u << LEDGER_KIND_ROUND) | (1u << LEDGER_KIND_RL)));
    CHECK(p.max_stake_at_risk == UINT64_MAX && p.stake == 0 && p.safety == 2.0);
    CHECKF(parse_policy("{\"kinds\":[\"lora\"],\"min_price_per_step\":\"7\",\"max_stake_at_risk\":5000,"
                        "\"stake\":\"18446744073709551615\",\"seconds_per_step\":0.25,\"safety\":1.5}",
                        &p, err) == 0,
           "%s", err);
    CHECK(p.kinds == 1u << LEDGER_KIND_LORA && p.min_price_per_step == 7 && p.max_stake_at_risk == 5000);
    CHECK(p.stake == UINT64_MAX && p.seconds_per_step == 0.25 && p.safety == 1.5);
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"kinds\": \"train\"}", "must be an array"},
        {"{\"kinds\": [\"bake\"]}", "unknown kind"},
        {"{\"kinds\": [1]}", "unknown kind"},
        {"{\"kinds\": [\"train\", \"label\"]}", "does not run label tasks"},
        {"{\"stake\": -1}", "whole number"},
        {"{\"stake\": 1.5}", "whole number"},
        {"{\"stake\": \"-1\"}", "not an amount"},
        {"{\"stake\": \"1e3\"}", "not an amount"},
        {"{\"stake\": \"\"}", "not an amount"},
        {"{\"stake\": \"18446744073709551616\"}", "not an amount"},
        {"{\"stake\": true}", "number or a decimal string"},
        {"{\"seconds_per_step\": 0}", "seconds_per_step"},
        {"{\"seconds_per_step\": \"1\"}", "seconds_per_step"},
        {"{\"safety\": 0.5}", "safety"},
        {"{\"stakes\": \"1\"}", "unknown key \"stakes\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = parse_policy(bad[i].json, &p, err);
        CHECKF(rc == -1 && strstr(err, bad[i].want), "policy %s: rc %d, err '%s' (want '%s')", bad[i].json, rc, err,
               bad[i].want);
    }
}

static int parse_wf(const char *s, workflow *w, char err[PLOW_ERR_LEN]) {
    return workflow_parse(w, (const uint8_t *)s, strlen(s), "/wf", err);
}

static void test_workflow(void) {
    workflow w;
    char err[PLOW_ERR_LEN];
    const char *good = "{\"format\":\"plow.workflow.v1\",\"steps\":["
                       "{\"name\":\"base\",\"task\":\"base.task.json\"},"
                       "{\"name\":\"lora\",\"task\":\"/abs/lora.task.json\",\"inputs\":{\"base\":\"base\"}},"
                       "{\"name\":\"sample\",\"task\":\"s.json\",\"inputs\":{\"base\":\"base\",\"adapter\":\"lora\"}}]}";
    CHECKF(parse_wf(good, &w, err) == 0, "%s", err);
    CHECK(w.n == 3);
    CHECK(strcmp(w.steps[0].task, "/wf/base.task.json") == 0 && w.steps[0].base == -1 && w.steps[0].adapter == -1);
    CHECK(strcmp(w.steps[1].task, "/abs/lora.task.json") == 0 && w.steps[1].base == 0 && w.steps[1].adapter == -1);
    CHECK(w.steps[2].base == 0 && w.steps[2].adapter == 1 && strcmp(w.steps[2].name, "sample") == 0);
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"nope", "not a JSON object"},
        {"{\"format\":\"plow.workflow.v2\",\"steps\":[{\"name\":\"a\",\"task\":\"a\"}]}", "'format'"},
        {"{\"steps\":[{\"name\":\"a\",\"task\":\"a\"}]}", "'format'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[]}", "1..16 steps"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":{}}", "1..16 steps"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\"}],\"x\":1}", "unknown key 'x'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[1]}", "not an object"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"task\":\"a\"}]}", "needs a 'name'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a b\",\"task\":\"a\"}]}", "needs a 'name'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\"}]}", "needs a 'task'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"\"}]}", "needs a 'task'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\",\"when\":1}]}", "unknown key 'when'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\"},{\"name\":\"a\",\"task\":\"b\"}]}",
         "two steps are named 'a'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\",\"inputs\":{\"base\":\"a\"}}]}",
         "must name an earlier step"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\",\"inputs\":{\"base\":\"b\"}},"
         "{\"name\":\"b\",\"task\":\"b\"}]}",
         "must name an earlier step"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\"},"
         "{\"name\":\"b\",\"task\":\"b\",\"inputs\":{\"data\":\"a\"}}]}",
         "unknown input 'data'"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\"},"
         "{\"name\":\"b\",\"task\":\"b\",\"inputs\":[\"a\"]}]}",
         "'inputs' must be an object"},
        {"{\"format\":\"plow.workflow.v1\",\"steps\":[{\"name\":\"a\",\"task\":\"a\"},"
         "{\"name\":\"b\",\"task\":\"b\",\"inputs\":{\"base\":1}}]}",
         "must name an earlier step"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = parse_wf(bad[i].json, &w, err);
        CHECKF(rc == -1 && strstr(err, bad[i].want), "workflow %s: rc %d, err '%s' (want '%s')", bad[i].json, rc, err,
               bad[i].want);
    }
    /* seventeen steps: one too many */
    plow_buf b = {0};
    plow_buf_printf(&b, "{\"format\":\"plow.workflow.v1\",\"steps\":[");
    for (int i = 0; i < WORKFLOW_MAX_STEPS + 1; i++) plow_buf_printf(&b, "%s{\"name\":\"s%d\",\"task\":\"t\"}", i ? "," : "", i);
    plow_buf_printf(&b, "]}");
    CHECK(workflow_parse(&w, b.data, b.len, ".", err) == -1 && strstr(err, "1..16 steps"));
    plow_buf_release(&b);
    /* a file that is not there */
    CHECK(workflow_load(&w, "/nonexistent/wf.json", err) == -1);
}

static int tf_from(const char *json, taskfile *tf, char err[PLOW_ERR_LEN]) {
    char path[512];
    snprintf(path, sizeof path, "%s/agent_t.task.json", test_tmpdir());
    if (plow_write_file(path, json, strlen(json), err)) return -2;
    int rc = taskfile_parse(tf, path, err);
    return rc;
}

static void test_taskfile(void) {
    taskfile tf;
    char err[PLOW_ERR_LEN];
    int rc = tf_from("{\"format\":\"plow.taskfile.v1\",\"mode\":\"replicated\",\"replicas\":3,\"reward\":\"10\","
                     "\"worker_stake\":\"20\",\"min_bond\":\"5\",\"claim_blocks\":7,\"work_blocks\":8,"
                     "\"window_blocks\":0,\"spec\":{\"kind\":\"train\"}}",
                     &tf, err);
    CHECKF(rc == 0, "%s", err);
    CHECK(tf.p.mode == LEDGER_MODE_REPLICATED && tf.p.replicas == 3 && tf.p.reward == 10 && tf.p.worker_stake == 20);
    CHECK(tf.p.min_bond == 5 && tf.p.claim_blocks == 7 && tf.p.work_blocks == 8 && tf.p.window_blocks == 0);
    CHECK(tf.spec != NULL && strstr(tf.dir, test_tmpdir()) == tf.dir);
    /* the spec's inputs, as the requester sets them */
    uint8_t h1[32], h2[32];
    memset(h1, 0xab, 32);
    memset(h2, 0xcd, 32);
    CHECK(taskfile_set_run(&tf, "base", h1, h2) == 0 && taskfile_set_hash(&tf, "tokenizer", h1) == 0);
    CHECK(taskfile_set_run(&tf, "base", h2, h1) == 0); /* replaced, not added twice */
    taskfile_release(&tf);
    /* defaults */
    rc = tf_from("{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"reward\":\"1\",\"worker_stake\":\"0\","
                 "\"min_bond\":\"0\",\"spec\":{}}",
                 &tf, err);
    CHECKF(rc == 0, "%s", err);
    CHECK(tf.p.replicas == 1 && tf.p.claim_blocks == TASKFILE_CLAIM_BLOCKS && tf.p.work_blocks == TASKFILE_WORK_BLOCKS &&
          tf.p.window_blocks == TASKFILE_WINDOW_BLOCKS);
    taskfile_release(&tf);
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"format\":\"plow.taskfile.v2\"}", "'format'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"majority\"}", "'mode'"},
        {"{\"format\":\"plow.taskfile.v1\"}", "'mode'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"replicas\":2,\"reward\":\"1\","
         "\"worker_stake\":\"1\",\"min_bond\":\"1\",\"spec\":{}}",
         "'replicas'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"replicated\",\"replicas\":9,\"reward\":\"1\","
         "\"worker_stake\":\"1\",\"min_bond\":\"1\",\"spec\":{}}",
         "'replicas'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"replicated\",\"replicas\":1.5,\"reward\":\"1\","
         "\"worker_stake\":\"1\",\"min_bond\":\"1\",\"spec\":{}}",
         "'replicas'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"reward\":1,\"worker_stake\":\"1\","
         "\"min_bond\":\"1\",\"spec\":{}}",
         "reward"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"worker_stake\":\"1\",\"min_bond\":\"1\",\"spec\":{}}",
         "reward"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"reward\":\"1\",\"worker_stake\":\"1\","
         "\"min_bond\":\"1\",\"claim_blocks\":0,\"spec\":{}}",
         "'claim_blocks'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"reward\":\"1\",\"worker_stake\":\"1\","
         "\"min_bond\":\"1\",\"work_blocks\":-3,\"spec\":{}}",
         "'work_blocks'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"reward\":\"1\",\"worker_stake\":\"1\","
         "\"min_bond\":\"1\",\"spec\":\"x\"}",
         "'spec'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"reward\":\"1\",\"worker_stake\":\"1\","
         "\"min_bond\":\"1\"}",
         "'spec'"},
        {"{\"format\":\"plow.taskfile.v1\",\"mode\":\"optimistic\",\"rewards\":\"1\"}", "unknown key 'rewards'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        rc = tf_from(bad[i].json, &tf, err);
        CHECKF(rc == -1 && strstr(err, bad[i].want), "taskfile %s: rc %d, err '%s' (want '%s')", bad[i].json, rc, err,
               bad[i].want);
        taskfile_release(&tf);
    }
    CHECK(taskfile_parse(&tf, "/nonexistent/x.task.json", err) == -1);
    taskfile_release(&tf);
}

static void test_helpers(void) {
    job_manifest m = {0};
    uint8_t a[32], b[32];
    memset(a, 1, 32);
    memset(b, 2, 32);
    job_manifest_add(&m, "model.safetensors", a);
    job_manifest_add(&m, "sub/tokenizer.bin", b);
    CHECK(agent_manifest_find(&m, "model.safetensors") != NULL && memcmp(agent_manifest_find(&m, "model.safetensors"), a, 32) == 0);
    CHECK(agent_manifest_find(&m, "tokenizer.bin") != NULL && memcmp(agent_manifest_find(&m, "tokenizer.bin"), b, 32) == 0);
    CHECK(agent_manifest_find(&m, "config.json") == NULL);
    CHECK(agent_manifest_find(&m, "safetensors") == NULL);
    job_manifest_release(&m);
    CHECK(agent_refused("claim: task ab has no free slot (transaction 12… failed in block 7)"));
    CHECK(agent_refused("nonce too low (transaction 12… was dropped)"));
    CHECK(!agent_refused("cannot reach the node at http://127.0.0.1:1: is 'plow node' running? (connection refused)"));
    char s[32];
    agent_money(0, s);
    CHECK(strcmp(s, "0") == 0);
    agent_money(999, s);
    CHECK(strcmp(s, "999") == 0);
    agent_money(1000, s);
    CHECK(strcmp(s, "1,000") == 0);
    agent_money(UINT64_MAX, s);
    CHECK(strcmp(s, "18,446,744,073,709,551,615") == 0);
    uint8_t h[32];
    for (int i = 0; i < 32; i++) h[i] = (uint8_t)i;
    char sh[12];
    agent_short(h, sh);
    CHECK(strcmp(sh, "00010203") == 0);
}

const test_case agent_tests[] = {
    {"agent_policy", test_policy},
    {"agent_workflow", test_workflow},
    {"agent_taskfile", test_taskfile},
    {"agent_helpers", test_helpers},
    {NULL, NULL},
};
