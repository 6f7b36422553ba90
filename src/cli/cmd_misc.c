/*
 * cmd_misc.c — `plow export gguf` and `plow info`.
 */
#include "../base/plow.h"

#include "../model/gguf.h"
#include "../model/modelio.h"
#include "../model/safetensors.h"
#include "cli.h"

static const char export_help[] =
    "usage: plow export gguf MODEL_DIR OUT.gguf [--lora ADAPTER_DIR]\n"
    "\n"
    "Writes the model as GGUF (architecture llama, float32, GPT-2 style BPE\n"
    "vocabulary) for llama.cpp-style runtimes. With --lora the adapter is merged.\n";

int cmd_export(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(export_help, stdout);
        return 0;
    }
    if (argc < 4 || strcmp(argv[1], "gguf") != 0)
        return cli_usage_error("export", "expected: plow export gguf MODEL_DIR OUT.gguf [--lora DIR]");
    const char *dir = argv[2], *outp = argv[3], *lpath = NULL;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--lora") == 0 && i + 1 < argc) lpath = argv[++i];
        else return cli_usage_error("export", "unexpected argument '%s'", argv[i]);
    }
    char err[PLOW_ERR_LEN];
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    int rc = 1;
    if (modelio_load_model(&m, dir, err) || (lpath && modelio_load_lora(&l, m, lpath, err)) ||
        modelio_load_tokenizer(&tok, dir, err) || modelio_export_gguf(m, l, tok, outp, err)) {
        cli_fail("%s", err);
    } else {
        printf("wrote %s\n", outp);
        rc = 0;
    }
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}

static const char info_help[] =
    "usage: plow info FILE\n"
    "\n"
    "Checks and describes a plow file: a model or adapter (.safetensors), a\n"
    "tokenizer, or a GGUF file. Exits non-zero with the reason if it is malformed.\n";

int cmd_info(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(info_help, argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    const char *p = argv[1];
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t n;
    if (plow_read_file(p, (size_t)1 << 40, &buf, &n, err)) return cli_fail("%s", err);
    int rc = 1;
    if (n >= 4 && memcmp(buf, "GGUF", 4) == 0) {
        gguf_file *g;
        if (gguf_parse(buf, n, &g, err)) {
            cli_fail("%s: %s", p, err);
        } else {
            printf("%s: GGUF v%u, %zu keys, %zu tensors\n", p, gguf_version(g), gguf_kv_count(g), gguf_tensor_count(g));
            gguf_free(g);
            rc = 0;
        }
    } else if (n >= TOKENIZER_MAGIC_LEN && memcmp(buf, TOKENIZER_MAGIC, TOKENIZER_MAGIC_LEN) == 0) {
        tokenizer *t;
        if (tokenizer_parse(&t, buf, n, err)) {
            cli_fail("%s: %s", p, err);
        } else {
            uint8_t h[PLOW_HASH_LEN];
            char hex[65];
            tokenizer_hash(t, h);
            plow_hex(h, PLOW_HASH_LEN, hex);
            printf("%s: tokenizer, %d tokens, hash %s\n", p, tokenizer_vocab_size(t), hex);
            tokenizer_free(t);
            rc = 0;
        }
    } else {
        st_file *f;
        if (st_parse(buf, n, &f, err)) {
            cli_fail("%s: %s", p, err);
        } else {
            const char *kind = st_meta_get(f, "plow.kind");
            printf("%s: safetensors, %zu tensors, %s\n", p, st_count(f), kind ? kind : "not written by plow");
            if (kind && strcmp(kind, "model") == 0) {
                model *m;
                if (modelio_parse_model(&m, buf, n, err)) {
                    cli_fail("%s: %s", p, err);
                    st_free(f);
                    free(buf);
                    return 1;
                }
                uint8_t h[PLOW_HASH_LEN];
                char hex[65];
                model_hash(m, h);
                plow_hex(h, PLOW_HASH_LEN, hex);
                printf("  config %s: %d layers, d=%d, %d heads (%d kv), ff %d, context %d, vocab %d%s\n"
                       "  %zu parameters, hash %s\n",
                       m->cfg.name, m->cfg.n_layer, m->cfg.d_model, m->cfg.n_head, m->cfg.n_kv_head, m->cfg.d_ff,
                       m->cfg.ctx, m->cfg.vocab, m->cfg.tied ? ", tied embeddings" : "", m->n_params, hex);
                model_free(m);
            }
            st_free(f);
            rc = 0;
        }
    }
    free(buf);
    return rc;
}
