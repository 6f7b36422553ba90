/*
 * anvil.c — starts Foundry's anvil (the Linux binary npm installed) as a
 * child whose pid is ours, on a port anvil picks itself (--port 0), and
 * stops it by that pid. Used by the tests, the bench and `plow demo --chain
 * evm`; never a node anyone else depends on.
 *
 * Readiness is an event, not a sleep: anvil writes "Listening on HOST:PORT"
 * to its log once it serves; we poll the log for that line (bounded by a
 * deadline, and by the child dying first).
 */
#include "../base/plow.h"

#include "chain.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int eth_anvil_bin(char *out, size_t cap, char err[PLOW_ERR_LEN]) {
    const char *env = getenv("PLOW_ANVIL");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
    } else {
        const char *root = getenv("PLOW_ROOT");
        snprintf(out, cap, "%s/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil", root && *root ? root : ".");
    }
    if (access(out, X_OK) != 0)
        return plow_error(err, "anvil: %s is missing: run scripts/install-deps.sh (npm ci installs it)", out);
    return 0;
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int eth_anvil_start(const char *dir, const char *hardfork, eth_anvil *a, char err[PLOW_ERR_LEN]) {
    return eth_anvil_start_blocks(dir, hardfork, 0, a, err);
}

int eth_anvil_start_blocks(const char *dir, const char *hardfork, unsigned block_ms, eth_anvil *a,
                           char err[PLOW_ERR_LEN]) {
    char bt[32];
    snprintf(bt, sizeof bt, "%u.%03u", block_ms / 1000, block_ms % 1000);
    memset(a, 0, sizeof *a);
    a->pid = -1;
    char bin[4096], log[4200], cfg[4200];
    if (eth_anvil_bin(bin, sizeof bin, err)) return -1;
    if (plow_mkdir_p(dir, err)) return -1;
    snprintf(log, sizeof log, "%s/anvil.log", dir);
    snprintf(cfg, sizeof cfg, "%s/anvil.json", dir);
    unlink(log);
    unlink(cfg);
    pid_t pid = fork();
    if (pid < 0) return plow_error(err, "anvil: fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the process that started it */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        const char *argv[16];
        int k = 0;
        argv[k++] = bin;
        argv[k++] = "--port";
        argv[k++] = "0";
        argv[k++] = "--host";
        argv[k++] = "127.0.0.1";
        argv[k++] = "--config-out";
        argv[k++] = cfg;
        if (hardfork && *hardfork) {
            argv[k++] = "--hardfork";
            argv[k++] = hardfork;
        }
        if (block_ms) {
            argv[k++] = "--block-time";
            argv[k++] = bt;
        }
        argv[k] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    a->pid = pid;
    /* Wait for the "Listening on" line (anvil writes its config first). */
    double deadline = plow_now() + 60;
    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            a->pid = -1;
            return plow_error(err, "anvil exited before serving (see %s)", log);
        }
        uint8_t *data = NULL;
        size_t n = 0;
        char e2[PLOW_ERR_LEN];
        if (plow_read_file(log, 1 << 24, &data, &n, e2) == 0) {
            char *text = plow_alloc(n + 1);
            memcpy(text, data, n);
            text[n] = 0;
            free(data);
            const char *at = strstr(text, "Listening on ");
            if (at && strchr(at, '\n')) {
                const char *hp = at + strlen("Listening on ");
                size_t l = strcspn(hp, "\r\n");
                snprintf(a->url, sizeof a->url, "http://%.*s", (int)l, hp);
                free(text);
                break;
            }
            free(text);
        }
        if (plow_now() > deadline) {
            eth_anvil_stop(a);
            return plow_error(err, "anvil did not start serving within 60 s (see %s)", log);
        }
        pause_ms(20);
    }
    /* The dev accounts' keys. */
    uint8_t *data = NULL;
    size_t n = 0;
    if (plow_read_file(cfg, 1 << 20, &data, &n, err)) {
        eth_anvil_stop(a);
        return -1;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(j, "private_keys");
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        if (a->nkeys == ETH_ANVIL_KEYS) break;
        if (!cJSON_IsString(k) || strlen(k->valuestring) != 66 || plow_unhex(k->valuestring + 2, a->keys[a->nkeys], 32))
            break;
        a->nkeys++;
    }
    cJSON_Delete(j);
    if (a->nkeys < ETH_ANVIL_KEYS) {
        eth_anvil_stop(a);
        return plow_error(err, "anvil: %s lists fewer than %d keys", cfg, ETH_ANVIL_KEYS);
    }
    return 0;
}

void eth_anvil_stop(eth_anvil *a) {
    if (a->pid <= 0) return;
    kill(a->pid, SIGTERM);
    int status;
    double deadline = plow_now() + 10;
    while (waitpid(a->pid, &status, WNOHANG) == 0) {
        if (plow_now() > deadline) {
            kill(a->pid, SIGKILL);
            waitpid(a->pid, &status, 0);
            break;
        }
        pause_ms(10);
    }
    a->pid = -1;
}

int eth_mine(eth_rpc *c, uint64_t blocks, char err[PLOW_ERR_LEN]) {
    char p[48], *res = NULL;
    snprintf(p, sizeof p, "[\"0x%llx\"]", (unsigned long long)blocks);
    if (eth_rpc_call(c, "anvil_mine", p, &res, err)) return -1;
    free(res);
    return 0;
}
