# plow — build, test, bench.
#
#   make            build build/plow (gcc by default; CC=clang works too)
#   make test       install missing packages, build, run the whole suite
#   make demo       install missing packages, build, run the main job
#   make bench      print the benchmark table
#   make wasm       the engine for WebAssembly: build/wasm/plow.wasm (docs/platforms.md)
#   make asan       the unit tests under AddressSanitizer + UBSan
#   make test-sanitize  the same and the hostile-input network tests, reports fail it
#   make fuzz       the libFuzzer targets (FUZZ_SECONDS each, 512 MiB allocation limit)
#
# Strict and boring on purpose: an explicit source list, C17, warnings are
# errors, -ffp-contract=off (the compiler must never fuse a*b+c on its own:
# docs/design.md §2), and never -ffast-math.

ifeq ($(origin CC),default)
CC = gcc
endif
BUILD   ?= build
OPT     ?= -O2
# -fsigned-char: plain char is signed on x86-64 but unsigned on aarch64; one
# signedness everywhere keeps byte handling identical (docs/platforms.md).
CFLAGS_BASE = -std=c17 -Wall -Wextra -Wpedantic -Wshadow -Wvla -Werror \
              -ffp-contract=off -fno-math-errno -fno-strict-aliasing -fsigned-char -pthread -g $(OPT)
CFLAGS  ?=
LDLIBS  = -lcjson -lcrypto -lsodium -lsqlite3 -lmicrohttpd -lcurl -lsecp256k1 -lm -pthread
SAN     ?=

ALL_CFLAGS = $(CFLAGS_BASE) $(SAN) $(CFLAGS)

# Per-ISA files: only reached after a CPU check at start-up.
AVX2_FLAGS   = -mavx2 -mfma
AVX512_FLAGS = -mavx512f -mavx2 -mfma

SRC_BASE   = src/base/plow.c
SRC_MERKLE = src/merkle/merkle.c
# The SIMD paths of the target: x86-64 (AVX2, AVX-512) or aarch64 (NEON:
# `make arm`, docs/platforms.md).
TARGET_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(findstring aarch64,$(TARGET_MACHINE)),)
SRC_SIMD   = src/tensor/kernels_neon.c src/tensor/kernels_ew_neon.c
else
SRC_SIMD   = src/tensor/kernels_avx2.c src/tensor/kernels_avx512.c src/tensor/kernels_ew_avx2.c \
             src/tensor/kernels_ew_avx512.c
endif
SRC_TENSOR = src/tensor/tensor.c src/tensor/rows.c src/tensor/dmath.c src/tensor/kernels_scalar.c \
             src/tensor/kernels_ew_scalar.c $(SRC_SIMD)
SRC_DATA   = src/data/tokenizer.c src/data/unicode.c src/data/unicode_table.c src/data/dataset.c src/data/prefs.c src/data/problems.c
SRC_MODEL  = src/model/model.c src/model/safetensors.c src/model/gguf.c src/model/modelio.c
SRC_TRAIN  = src/train/train.c src/train/dpo.c src/train/round.c src/train/rl.c
SRC_INFER  = src/infer/infer.c
SRC_PROOF  = src/proof/trace.c src/proof/kinds.c src/proof/run.c src/proof/receipt.c
SRC_LEDGER = src/ledger/keys.c src/ledger/tx.c src/ledger/genesis.c src/ledger/block.c src/ledger/state.c \
             src/ledger/table.c src/ledger/record.c src/ledger/overlay.c src/ledger/rules.c \
             src/ledger/challenge.c src/ledger/settle.c src/ledger/labeling.c src/ledger/channel.c
SRC_NODE   = src/node/store.c src/node/blob.c src/node/node.c src/node/http.c src/node/keytab.c src/node/follow.c src/node/referee.c src/node/taskidx.c src/node/upkeep.c src/node/www.c src/node/chainidx.c src/node/explorer_api.c src/node/evmwatch.c src/node/market.c
SRC_JOB    = src/job/kinds.c src/job/rollout.c src/job/job.c src/job/work.c src/job/trainer.c src/job/cheat.c src/job/spec.c src/job/cost.c
SRC_CLIENT = src/client/client.c src/client/json.c src/client/listen.c
SRC_SERVE  = src/serve/serve.c src/serve/engine.c src/serve/api.c src/serve/http.c src/serve/pay.c src/serve/market.c
SRC_LABEL  = src/label/label.c src/label/text.c src/label/nb.c
SRC_EVM    = src/evm/keccak.c src/evm/ethkey.c src/evm/keystore.c src/evm/abi.c src/evm/rpc.c src/evm/anvil.c src/evm/chain.c src/evm/evindex.c
SRC_AGENT  = src/agent/agent.c src/agent/backend_node.c src/agent/backend_evm.c src/agent/worker.c src/agent/verifier.c src/agent/requester.c src/agent/taskfile.c \
             src/agent/labeler.c src/agent/labeler_files.c src/agent/market.c src/agent/buyer.c
LIB_SRC    = $(SRC_BASE) $(SRC_MERKLE) $(SRC_TENSOR) $(SRC_DATA) $(SRC_MODEL) $(SRC_TRAIN) $(SRC_INFER) $(SRC_PROOF) \
             $(SRC_LEDGER) $(SRC_JOB) $(SRC_CLIENT) $(SRC_NODE) $(SRC_AGENT) $(SRC_LABEL) $(SRC_EVM) $(SRC_SERVE)
CLI_SRC    = src/cli/main.c src/cli/cli.c src/cli/cmd_train.c src/cli/cmd_generate.c src/cli/cmd_misc.c \
             src/cli/cmd_proof.c src/cli/cmd_node.c src/cli/cmd_wallet.c src/cli/cmd_task.c \
             src/cli/cmd_block.c src/cli/cmd_agent.c src/cli/cmd_demo.c src/cli/cmd_label.c src/cli/cmd_label_data.c src/cli/cmd_labeler.c src/cli/cmd_round.c src/cli/cmd_rl.c src/cli/cmd_evm.c src/cli/cmd_serve.c src/cli/cmd_channel.c src/cli/cmd_market.c
TEST_SRC   = tests/test_main.c tests/test_list.c tests/test_tensor.c tests/test_tokenizer.c \
             tests/test_formats.c tests/test_model.c tests/test_train.c tests/test_proof.c \
             tests/test_tx.c tests/test_state.c tests/test_store.c tests/test_job.c tests/test_json.c tests/test_label.c \
             tests/test_round.c tests/test_dpo.c tests/test_rl.c tests/test_agent.c tests/test_node.c tests/test_explorer.c tests/test_evm.c tests/test_serve.c \
             tests/test_wasm.c tests/ref_model.c tests/fixture.c src/wasm/sha256.c src/wasm/ed25519.c
BENCH_SRC  = bench/bench.c bench/bench_free.c

LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ = $(BENCH_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test demo demo-kinds bench bench-rl asan asan-build test-sanitize fuzz fuzz-build fuzz-replay clean deps deps-build contracts arm deps-arm wasm deps-wasm

all: $(BUILD)/plow $(BUILD)/plow_test

# The Solidity contracts, compiled by the solcjs that `npm ci` installed
# (scripts/install-deps.sh): build/contracts/NAME.abi and NAME.bin. Not part
# of `all` (a C build needs no Node.js); `make test` and `make bench` build it.
CONTRACTS = $(sort $(wildcard contracts/*.sol))
contracts: $(BUILD)/contracts/.stamp
$(BUILD)/contracts/.stamp: $(CONTRACTS) scripts/compile-contracts.js package-lock.json
	@mkdir -p $(dir $@)
	node scripts/compile-contracts.js $(BUILD)/contracts $(CONTRACTS)
	@touch $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/src/tensor/kernels_avx2.o: src/tensor/kernels_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/src/tensor/kernels_avx512.o: src/tensor/kernels_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

# The elementwise kernels: one source, three instruction sets, -O3 so the
# compiler vectorises them (same bits: no contraction, no fast-math).
$(BUILD)/src/tensor/kernels_ew_scalar.o: src/tensor/kernels_ew_scalar.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O3 -MMD -MP -c $< -o $@

$(BUILD)/src/tensor/kernels_ew_neon.o: src/tensor/kernels_ew_neon.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O3 -MMD -MP -c $< -o $@

$(BUILD)/src/tensor/kernels_ew_avx2.o: src/tensor/kernels_ew_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O3 $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/src/tensor/kernels_ew_avx512.o: src/tensor/kernels_ew_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O3 $(AVX512_FLAGS) -mprefer-vector-width=512 -MMD -MP -c $< -o $@

# The explorer's files (www/, docs/explorer.md), embedded in the binary: uPlot
# comes from node_modules when `npm ci` installed it (scripts/install-deps.sh);
# without it the build still works and the page says plots are unavailable.
# www.list holds the file list, so a uPlot that appears later rebuilds it.
WWW_FILES = $(sort $(wildcard www/*.html www/*.js www/*.css www/*.svg)) wasm/plow.mjs \
            $(wildcard node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css)
WWW_LIST := $(shell mkdir -p $(BUILD)/gen && { echo '$(WWW_FILES)' | cmp -s - $(BUILD)/gen/www.list || \
              echo '$(WWW_FILES)' >$(BUILD)/gen/www.list; })
$(BUILD)/gen/www.c: $(WWW_FILES) $(BUILD)/gen/www.list scripts/embed-www.sh
	sh scripts/embed-www.sh $@ $(WWW_FILES)
$(BUILD)/gen/www.o: $(BUILD)/gen/www.c
	$(CC) $(ALL_CFLAGS) -Isrc/node -MMD -MP -c $< -o $@
-include $(BUILD)/gen/www.d

$(BUILD)/libplow.a: $(LIB_OBJ) $(BUILD)/gen/www.o
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/plow: $(CLI_OBJ) $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/plow_test: $(TEST_OBJ) $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/plow_bench: $(BENCH_OBJ) $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

# The node's load generator and test tool, and the ledger+storage benchmark.
$(BUILD)/plow_loadgen: $(BUILD)/bench/loadgen.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/plow_ledger_bench: $(BUILD)/bench/ledger_bench.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

-include $(BUILD)/bench/loadgen.d $(BUILD)/bench/ledger_bench.d

# Crowdsourced labeling on Debian's fortunes: majority vote against Dawid-Skene.
$(BUILD)/plow_label_bench: $(BUILD)/bench/label_bench.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

-include $(BUILD)/bench/label_bench.d

# plow serve: overhead per request, batched decode, receipt check vs generation.
$(BUILD)/plow_serve_bench: $(BUILD)/bench/serve_bench.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

-include $(BUILD)/bench/serve_bench.d

# Collaborative rounds (DiLoCo-style) against training on one machine, bytes per round.
$(BUILD)/plow_round_bench: $(BUILD)/bench/round_bench.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

-include $(BUILD)/bench/round_bench.d

# The explorer's overview on a node with 10,000 blocks and 5,000 tasks (bench/explorer_bench.sh).
$(BUILD)/plow_explorer_fill: $(BUILD)/bench/explorer_fill.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

-include $(BUILD)/bench/explorer_fill.d

# The contracts' gas on a local anvil (needs `make contracts` and npm ci).
$(BUILD)/plow_evm_bench: $(BUILD)/bench/evm_bench.o $(BUILD)/libplow.a
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

-include $(BUILD)/bench/evm_bench.d

deps:
	@scripts/install-deps.sh all

# aarch64 (NEON): the whole of plow cross-built with Debian's cross compiler
# against the arm64 libraries (multi-arch), run with
# qemu-aarch64 -L /usr/aarch64-linux-gnu (docs/platforms.md).
ARM_CC ?= aarch64-linux-gnu-gcc
arm:
	@$(MAKE) --no-print-directory BUILD=build/arm64 CC=$(ARM_CC) build/arm64/plow build/arm64/plow_test

deps-arm:
	@scripts/install-deps.sh arm

# WebAssembly (wasm32-wasi, SIMD128, one thread): the engine's commands
# (src/wasm/main.c: tokenizer, train, generate, verify, verify-receipt ...)
# as build/wasm/plow.wasm, built with Debian's clang for the wasm32 target,
# wasi-libc and lld (docs/platforms.md). src/wasm/ supplies what wasi-libc
# and Debian do not have for wasm: SHA-256 behind openssl/evp.h, a cJSON
# subset, a one-thread pthread.h, realpath. Run by wasm/plow.mjs (Node's WASI
# or a browser) and tests/cli/wasm.sh.
WASM_CC     ?= clang
WASM_BUILD  ?= build/wasm
WASM_CFLAGS = --target=wasm32-wasi -msimd128 $(filter-out -pthread,$(CFLAGS_BASE)) \
              -Wno-tautological-constant-out-of-range-compare -Isrc/wasm/include -include src/wasm/wasi.h
WASM_SRC    = $(SRC_BASE) $(SRC_MERKLE) src/tensor/tensor.c src/tensor/rows.c src/tensor/dmath.c \
              src/tensor/kernels_scalar.c src/tensor/kernels_ew_scalar.c src/tensor/kernels_wasm.c \
              src/tensor/kernels_ew_wasm.c $(SRC_DATA) $(SRC_MODEL) $(SRC_TRAIN) $(SRC_INFER) $(SRC_PROOF) $(SRC_JOB) $(SRC_LABEL) \
              src/cli/cli.c src/cli/cmd_train.c src/cli/cmd_generate.c src/cli/cmd_misc.c src/cli/cmd_proof.c \
              src/wasm/main.c src/wasm/replay.c src/wasm/referee.c src/wasm/sha256.c src/wasm/cjson.c src/wasm/wasi.c src/wasm/ed25519.c src/ledger/keys.c
WASM_OBJ    = $(WASM_SRC:%.c=$(WASM_BUILD)/%.o)

WASM_TEST_SRC = tests/test_main.c tests/test_list_wasm.c tests/test_tensor.c tests/test_wasm.c
WASM_TEST_OBJ = $(WASM_TEST_SRC:%.c=$(WASM_BUILD)/%.o)
WASM_LIB_OBJ  = $(filter-out $(WASM_BUILD)/src/wasm/main.o $(WASM_BUILD)/src/wasm/replay.o $(WASM_BUILD)/src/wasm/referee.o $(WASM_BUILD)/src/cli/%,$(WASM_OBJ))

wasm: $(WASM_BUILD)/plow.wasm $(WASM_BUILD)/plow_test.wasm

$(WASM_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -MMD -MP -c $< -o $@

$(WASM_BUILD)/src/tensor/kernels_ew_scalar.o: src/tensor/kernels_ew_scalar.c
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -O3 -MMD -MP -c $< -o $@

$(WASM_BUILD)/src/tensor/kernels_ew_wasm.o: src/tensor/kernels_ew_wasm.c
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -O3 -MMD -MP -c $< -o $@

$(WASM_BUILD)/plow.wasm: $(WASM_OBJ)
	$(WASM_CC) --target=wasm32-wasi -fuse-ld=lld -Wl,-z,stack-size=8388608 -Wl,--initial-memory=268435456 $^ -o $@

$(WASM_BUILD)/plow_test.wasm: $(WASM_TEST_OBJ) $(WASM_LIB_OBJ)
	$(WASM_CC) --target=wasm32-wasi -fuse-ld=lld -Wl,-z,stack-size=8388608 -Wl,--initial-memory=268435456 $^ -o $@

deps-wasm:
	@scripts/install-deps.sh wasm

-include $(WASM_OBJ:.o=.d) $(WASM_TEST_OBJ:.o=.d)

deps-build:
	@scripts/install-deps.sh build

# The whole suite: unit tests (gcc build), then shell tests that drive the
# real binary, including a clang build for the cross-compiler check.
test: deps
	@$(MAKE) --no-print-directory -j2 all contracts $(BUILD)/plow_loadgen
	@$(MAKE) --no-print-directory -j2 BUILD=build/clang CC=clang OPT=-O3 all
	@if command -v $(ARM_CC) >/dev/null 2>&1; then $(MAKE) --no-print-directory -j2 arm; fi
	@if [ -e /usr/lib/wasm32-wasi/libc.a ]; then $(MAKE) --no-print-directory -j2 wasm; fi
	@tests/run.sh

demo: deps-build
	@$(MAKE) --no-print-directory -j2 all
	@scripts/demo.sh

demo-kinds: deps-build
	@$(MAKE) --no-print-directory -j2 all
	@scripts/demo_kinds.sh

# RL learning (docs/rl.md): about 15 minutes on one core, so not in bench
bench-rl: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/plow
	@bench/rl_learning.sh $(BUILD)

bench: deps-build
	@scripts/install-deps.sh evm
	@$(MAKE) --no-print-directory $(BUILD)/plow_bench $(BUILD)/plow contracts
	@PLOW_ROOT=$(CURDIR) $(BUILD)/plow_bench
	@bench/proof_costs.sh
	@bench/rl_rollouts.sh $(BUILD)
	@$(MAKE) --no-print-directory $(BUILD)/plow_loadgen $(BUILD)/plow_ledger_bench
	@$(BUILD)/plow_ledger_bench
	@bench/node_bench.sh $(BUILD)
	@$(MAKE) --no-print-directory $(BUILD)/plow_label_bench $(BUILD)/plow_round_bench
	@$(BUILD)/plow_label_bench --quick
	@PLOW_ROOT=$(CURDIR) $(BUILD)/plow_round_bench --quick
	@$(MAKE) --no-print-directory $(BUILD)/plow_serve_bench
	@PLOW_ROOT=$(CURDIR) $(BUILD)/plow_serve_bench
	@$(MAKE) --no-print-directory $(BUILD)/plow_evm_bench
	@PLOW_ROOT=$(CURDIR) $(BUILD)/plow_evm_bench

ASAN_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
asan-build:
	@$(MAKE) --no-print-directory -j2 BUILD=build/asan CC=clang SAN="$(ASAN_SAN)" OPT=-O1 build/asan/plow_test build/asan/plow

asan: asan-build
	PLOW_ROOT=$(CURDIR) PLOW_TEST_QUICK=1 build/asan/plow_test

# The unit suite and the network tests most exposed to hostile input
# (SAN_TESTS: tests/cli/NAME.sh) with every plow process under
# AddressSanitizer + UBSan (build/asan; tests/run.sh takes PLOW_BIN). Every
# report (a leak at exit, an overflow, undefined behaviour) from any process
# is written to build/asan/reports and fails the target. Not in `make test`
# (minutes).
SAN_TESTS ?= node bomb labelbomb hostile protocol
SAN_ENV = ASAN_OPTIONS=log_path=$(CURDIR)/build/asan/reports/asan:detect_leaks=1 \
          UBSAN_OPTIONS=log_path=$(CURDIR)/build/asan/reports/ubsan:print_stacktrace=1
test-sanitize: asan-build contracts
	@rm -rf build/asan/reports && mkdir -p build/asan/reports
	$(SAN_ENV) PLOW_ROOT=$(CURDIR) PLOW_TEST_QUICK=1 build/asan/plow_test
	$(SAN_ENV) PLOW_BIN=$(CURDIR)/build/asan/plow PLOW_SKIP_UNIT=1 tests/run.sh $(SAN_TESTS)
	@if [ -n "$$(ls build/asan/reports)" ]; then \
	    echo "sanitizer reports in build/asan/reports:"; head -n 30 build/asan/reports/*; exit 1; fi
	@echo "test-sanitize: no sanitizer reports"

# libFuzzer targets (tests/fuzz/fuzz_NAME.c) for the parsers an attacker
# feeds: safetensors, gguf, trace files, transactions, the HTTP API, the
# spec, the model loaders (the weights and the header-only peek), outputs
# manifests, label items, receipts and tokenizers. Each runs FUZZ_SECONDS
# (default 60) under a 512 MiB allocation limit, so a size that would
# allocate more is a finding. Corpora start from tests/fuzz/corpus/NAME and
# grow in build/fuzz/corpus/NAME; a crash is saved in build/fuzz/.
# `make fuzz-replay` runs the seeds only (seconds, after the build).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= spec model inputs safetensors gguf trace tx api
FUZZ_FLAGS = -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_RUN = -malloc_limit_mb=512 -print_final_stats=0 -artifact_prefix=build/fuzz/
fuzz-build:
	@mkdir -p build/fuzz
	@$(MAKE) --no-print-directory -j2 BUILD=build/fuzzlib CC=clang OPT=-O1 \
	   SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" build/fuzzlib/libplow.a
	@for t in $(FUZZ_TARGETS); do \
	    if [ ! build/fuzz/$$t -nt build/fuzzlib/libplow.a ] || [ ! build/fuzz/$$t -nt tests/fuzz/fuzz_$$t.c ]; then \
	        echo "clang ... tests/fuzz/fuzz_$$t.c -o build/fuzz/$$t"; \
	        clang $(FUZZ_FLAGS) -pthread tests/fuzz/fuzz_$$t.c build/fuzzlib/libplow.a $(LDLIBS) -o build/fuzz/$$t || exit 1; \
	    fi; \
	done

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t; \
	    if [ -d tests/fuzz/corpus/$$t ]; then cp tests/fuzz/corpus/$$t/* build/fuzz/corpus/$$t/; fi; \
	    echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	    build/fuzz/$$t $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$t || exit 1; \
	done

fuzz-replay: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    if [ -d tests/fuzz/corpus/$$t ]; then build/fuzz/$$t $(FUZZ_RUN) -runs=0 tests/fuzz/corpus/$$t 2>&1 | tail -n 1 || exit 1; fi; \
	done

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)
