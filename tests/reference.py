#!/usr/bin/python3
"""reference.py — an independent check of plow's model and files, in PyTorch.

    reference.py forward MODEL_DIR DUMP.safetensors [ADAPTER_DIR]
        Rebuilds the Llama decoder from model.safetensors in PyTorch (float64,
        written here from the Hugging Face Llama equations, not from plow's
        code), runs the tokens stored in DUMP (written by `plow dump`), and
        compares logits, per-token log-probs, the loss and every gradient.
        Passes if each tensor's max |plow - torch| / max |torch| < 1e-4.

    reference.py gguf MODEL_DIR FILE.gguf
        Reads the GGUF file with a reader written here from the GGUF spec and
        checks its metadata and that every tensor equals the safetensors weight
        (Q and K rows permuted as llama.cpp's converter permutes them).

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import json
import struct
import sys

import numpy as np
import torch

TOL = 1e-4
DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=DT[t["dtype"]]).reshape(t["shape"]).copy()
    return out, meta


def config_of(meta):
    c = {k[5:]: meta[k] for k in meta if k.startswith("plow.")}
    ints = ["n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "ctx", "vocab", "tied"]
    return {k: (int(c[k]) if k in ints else float(c[k])) for k in ints + ["norm_eps", "rope_theta"]}


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(P, cfg, tokens, lora=None):
    """Hugging Face Llama semantics. P: name -> tensor. Returns logits (T, V)."""
    C, NH, NKV = cfg["d_model"], cfg["n_head"], cfg["n_kv_head"]
    HD, T = C // NH, len(tokens)
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, HD, 2, dtype=torch.float64) / HD))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cat((ang.cos(), ang.cos()), -1), torch.cat((ang.sin(), ang.sin()), -1)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def lin(x, layer, group, proj):
        y = x @ P[f"model.layers.{layer}.{group}.{proj}.weight"].T
        if lora is not None:
            a = f"base_model.model.model.layers.{layer}.{group}.{proj}.lora_A.weight"
            if a in lora["w"]:
                b = a.replace("lora_A", "lora_B")
                y = y + (x @ lora["w"][a].T) @ lora["w"][b].T * lora["scale"]
        return y

    x = P["model.embed_tokens.weight"][torch.tensor(tokens)]
    for l in range(cfg["n_layer"]):
        h = rms_norm(x, P[f"model.layers.{l}.input_layernorm.weight"], cfg["norm_eps"])
        q = lin(h, l, "self_attn", "q_proj").view(T, NH, HD).transpose(0, 1)
        k = lin(h, l, "self_attn", "k_proj").view(T, NKV, HD).transpose(0, 1)
        v = lin(h, l, "self_attn", "v_proj").view(T, NKV, HD).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(NH // NKV, 0), v.repeat_interleave(NH // NKV, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / HD**0.5 + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + lin(o, l, "self_attn", "o_proj")
        h = rms_norm(x, P[f"model.layers.{l}.post_attention_layernorm.weight"], cfg["norm_eps"])
        g = torch.nn.functional.silu(lin(h, l, "mlp", "gate_proj")) * lin(h, l, "mlp", "up_proj")
        x = x + lin(g, l, "mlp", "down_proj")
    x = rms_norm(x, P["model.norm.weight"], cfg["norm_eps"])
    head = P["model.embed_tokens.weight"] if cfg["tied"] else P["lm_head.weight"]
    return x @ head.T


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def cmd_forward(model_dir, dump_path, adapter_dir=None):
    W, meta = read_safetensors(f"{model_dir}/model.safetensors")
    cfg = config_of(meta)
    D, _ = read_safetensors(dump_path)
    toks = D["tokens"].tolist()
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=adapter_dir is None) for k, v in W.items()}
    lora = None
    if adapter_dir:
        A, ameta = read_safetensors(f"{adapter_dir}/adapter_model.safetensors")
        lw = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in A.items()}
        lora = {"w": lw, "scale": float(ameta["plow.alpha"]) / int(ameta["plow.rank"])}
    logits = forward(P, cfg, toks[:-1], lora)
    logp = torch.log_softmax(logits, -1)[torch.arange(len(toks) - 1), torch.tensor(toks[1:])]
    loss = -logp.mean()
    loss.backward()
    worst = 0.0
    checks = [("logits", D["logits"], logits.detach()), ("logp", D["logp"], logp.detach()),
              ("loss", D["loss"], loss.detach().reshape(1))]
    params = lora["w"] if lora else P
    for name, t in params.items():
        checks.append(("grad." + name, D["grad." + name], t.grad))
    bad = 0
    for name, ours, ref in checks:
        r = rel(ours, ref.numpy())
        worst = max(worst, r)
        if not r < TOL:
            print(f"MISMATCH {name}: relative error {r:.3g}")
            bad += 1
    print(f"compared {len(checks)} tensors, worst relative error {worst:.3g} (tolerance {TOL})")
    return 1 if bad else 0


GG_TYPES = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
            6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8)}


def read_gguf(path):
    raw = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, raw, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("<Q")
        s = raw[pos : pos + n]
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("<I"), take("<Q")
            return [value(et) for _ in range(n)]
        return take(GG_TYPES[t][0])

    assert raw[:4] == b"GGUF", "bad magic"
    pos = 4
    version, nt, nkv = take("<I"), take("<Q"), take("<Q")
    kv = {}
    for _ in range(nkv):
        k = string().decode()
        kv[k] = value(take("<I"))
    infos = []
    for _ in range(nt):
        name = string().decode()
        nd = take("<I")
        dims = [take("<Q") for _ in range(nd)]
        typ, off = take("<I"), take("<Q")
        infos.append((name, dims, typ, off))
    align = kv.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, typ, off in infos:
        assert typ == 0, f"{name}: type {typ}, expected F32"
        n = int(np.prod(dims))
        arr = np.frombuffer(raw, np.float32, n, base + off)
        tensors[name] = arr.reshape(list(reversed(dims)))
    return version, kv, tensors


def hf_to_gguf_permute(w, n_head):
    """llama.cpp's converter: interleave the two rotary halves of every head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def cmd_gguf(model_dir, gguf_path):
    W, meta = read_safetensors(f"{model_dir}/model.safetensors")
    cfg = config_of(meta)
    version, kv, T = read_gguf(gguf_path)
    errors = []

    def want(cond, msg):
        if not cond:
            errors.append(msg)

    want(version == 3, f"version {version}")
    want(kv["general.architecture"] == b"llama", "architecture")
    for key, val in [("llama.block_count", cfg["n_layer"]), ("llama.embedding_length", cfg["d_model"]),
                     ("llama.attention.head_count", cfg["n_head"]), ("llama.attention.head_count_kv", cfg["n_kv_head"]),
                     ("llama.feed_forward_length", cfg["d_ff"]), ("llama.context_length", cfg["ctx"]),
                     ("llama.rope.dimension_count", cfg["d_model"] // cfg["n_head"])]:
        want(kv.get(key) == val, f"{key} = {kv.get(key)}, expected {val}")
    want(len(kv["tokenizer.ggml.tokens"]) == cfg["vocab"], "vocabulary size")
    want(len(kv["tokenizer.ggml.merges"]) == cfg["vocab"] - 257, "merge count")
    pairs = [("token_embd.weight", "model.embed_tokens.weight", 0), ("output_norm.weight", "model.norm.weight", 0)]
    if not cfg["tied"]:
        pairs.append(("output.weight", "lm_head.weight", 0))
    for l in range(cfg["n_layer"]):
        p = f"model.layers.{l}."
        pairs += [(f"blk.{l}.attn_norm.weight", p + "input_layernorm.weight", 0),
                  (f"blk.{l}.attn_q.weight", p + "self_attn.q_proj.weight", cfg["n_head"]),
                  (f"blk.{l}.attn_k.weight", p + "self_attn.k_proj.weight", cfg["n_kv_head"]),
                  (f"blk.{l}.attn_v.weight", p + "self_attn.v_proj.weight", 0),
                  (f"blk.{l}.attn_output.weight", p + "self_attn.o_proj.weight", 0),
                  (f"blk.{l}.ffn_norm.weight", p + "post_attention_layernorm.weight", 0),
                  (f"blk.{l}.ffn_gate.weight", p + "mlp.gate_proj.weight", 0),
                  (f"blk.{l}.ffn_up.weight", p + "mlp.up_proj.weight", 0),
                  (f"blk.{l}.ffn_down.weight", p + "mlp.down_proj.weight", 0)]
    want(len(T) == len(pairs), f"{len(T)} tensors, expected {len(pairs)}")
    for g, s, heads in pairs:
        ref = hf_to_gguf_permute(W[s], heads) if heads else W[s]
        want(g in T and T[g].shape == ref.shape and np.array_equal(T[g], ref), f"tensor {g} differs from {s}")
    for e in errors:
        print("MISMATCH", e)
    print(f"checked {len(kv)} keys and {len(T)} tensors of {gguf_path}")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "forward":
        sys.exit(cmd_forward(*sys.argv[2:5]))
    if len(sys.argv) == 4 and sys.argv[1] == "gguf":
        sys.exit(cmd_gguf(sys.argv[2], sys.argv[3]))
    print(__doc__)
    sys.exit(2)
