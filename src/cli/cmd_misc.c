/*
 * cmd_misc.c — `plow export gguf` and `plow info`.
 */
#include "../base/plow.h"

#include "../infer/infer.h"
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
    for (int i = 1; i < argc && i <= 2; i++) /* plow export --help, plow export gguf --help */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(export_help, stdout);
            return 0;
        }
    if (argc >= 2 && argv[1][0] == '-') return cli_usage_error("export", "unknown option '%s'", argv[1]);
    if (argc >= 2 && strcmp(argv[1], "gguf") != 0)
        return cli_usage_error("export", "unknown format '%s' (gguf is the one there is)", argv[1]);
    const char *dir = NULL, *outp = NULL, *lpath = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--lora") == 0 && i + 1 < argc) lpath = argv[++i];
        else if (argv[i][0] == '-') return cli_usage_error("export", "unknown or incomplete option '%s'", argv[i]);
        else if (!dir) dir = argv[i];
        else if (!outp) outp = argv[i];
        else return cli_usage_error("export", "unexpected argument '%s'", argv[i]);
    }
    if (!outp) return cli_usage_error("export", "expected: plow export gguf MODEL_DIR OUT.gguf [--lora DIR]");
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
    if (p[0] == '-') return cli_usage_error("info", "unknown option '%s' (a file named so: ./%s)", p, p);
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t n;
    if (plow_read_file(p, PLOW_SIZE_CAP((uint64_t)1 << 40), &buf, &n, err)) return cli_fail("%s", err);
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

static const char dump_help[] =
    "usage: plow dump --model DIR --text TEXT --out FILE.safetensors [--lora DIR]\n"
    "\n"
    "Runs one forward and backward pass on TEXT (inputs = its tokens but the last,\n"
    "targets = its tokens but the first) and writes everything for comparison with\n"
    "another implementation: tokens, logits (T x V), logp (T), loss, and the\n"
    "gradient of the mean loss for every trainable tensor ('grad.' + its name).\n";

int cmd_dump(int argc, char **argv) {
    const char *mpath = NULL, *lpath = NULL, *text = NULL, *outp = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(dump_help, stdout);
            return 0;
        }
        const char **dst = strcmp(argv[i], "--model") == 0 ? &mpath : strcmp(argv[i], "--lora") == 0 ? &lpath
                         : strcmp(argv[i], "--text") == 0 ? &text : strcmp(argv[i], "--out") == 0 ? &outp : NULL;
        if (!dst || i + 1 >= argc) return cli_usage_error("dump", "unexpected or incomplete argument '%s'", argv[i]);
        *dst = argv[++i];
    }
    if (!mpath || !text || !outp) return cli_usage_error("dump", "--model, --text and --out are required");
    char err[PLOW_ERR_LEN];
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 1;
    if (modelio_load_model(&m, mpath, err) || (lpath && modelio_load_lora(&l, m, lpath, err)) ||
        modelio_load_tokenizer(&tok, mpath, err) ||
        tokenizer_encode(tok, (const uint8_t *)text, strlen(text), &ids, &n, err)) {
        cli_fail("%s", err);
        goto done;
    }
    if (n < 2 || n - 1 > (size_t)m->cfg.ctx) {
        cli_fail("the text must have 2..%d tokens, it has %zu", m->cfg.ctx + 1, n);
        goto done;
    }
    int T = (int)n - 1, V = m->cfg.vocab;
    float *logits = plow_alloc(sizeof(float) * (size_t)T * V), *logp = plow_alloc(sizeof(float) * (size_t)T);
    float *dl = plow_alloc(sizeof(float) * (size_t)T), loss;
    size_t ng = l ? l->n_params : m->n_params;
    float *g = plow_alloc_aligned(sizeof(float) * ng);
    infer_session *s = NULL;
    if (infer_session_new(&s, m, l, T, err) || infer_feed(s, ids, T, logits, NULL, err)) {
        cli_fail("%s", err);
    } else {
        model_ws *ws = model_ws_new(m, l, 1, T);
        model_forward(m, l, ws, ids, ids + 1, logp);
        loss = model_mean_loss(logp, (size_t)T);
        for (int i = 0; i < T; i++) dl[i] = -1.0f / (float)T;
        model_backward(m, l, ws, dl, l ? NULL : g, l ? g : NULL);
        model_ws_free(ws);
        st_writer *w = st_writer_new();
        int64_t sh[2] = {T + 1, 0};
        st_writer_add(w, "tokens", ST_I32, 1, sh, ids);
        sh[0] = T;
        sh[1] = V;
        st_writer_add(w, "logits", ST_F32, 2, sh, logits);
        st_writer_add(w, "logp", ST_F32, 1, sh, logp);
        int64_t one[1] = {1};
        st_writer_add(w, "loss", ST_F32, 1, one, &loss);
        const model_tensor *tt = l ? l->tensors : m->tensors;
        int nt = l ? l->n_tensors : m->n_tensors;
        char (*names)[MODEL_NAME_LEN + 8] = plow_calloc((size_t)nt, sizeof *names);
        for (int i = 0; i < nt; i++) {
            snprintf(names[i], sizeof names[i], "grad.%s", tt[i].name);
            st_writer_add(w, names[i], ST_F32, tt[i].ndim, tt[i].shape, g + tt[i].offset);
        }
        if (st_writer_save(w, outp, err)) cli_fail("%s", err);
        else {
            printf("loss %.6f over %d positions, wrote %s\n", (double)loss, T, outp);
            rc = 0;
        }
        st_writer_free(w);
        free(names);
    }
    infer_session_free(s);
    free(logits);
    free(logp);
    free(dl);
    free(g);
done:
    free(ids);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}
