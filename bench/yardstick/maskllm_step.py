#!/usr/bin/python3
"""PyTorch CPU yardstick for one MaskLLM 2:4 training step (the same math as maskforge's step).

A seeded random LLaMA (embedding, RMSNorm, q/k/v/o with RoPE and causal attention, SwiGLU MLP, final norm,
untied lm_head, cross-entropy), every q/k/v/o/gate/up/down weight multiplied by a Gumbel-softmax soft 2:4 mask
M~ = softmax((kappa*pi + g)/tau) @ S from its logits pi [G, 6] (G = out*in/4; kappa=100, tau=4 as at step 0),
loss = CE - lambda * sum ||W (.) M~||^2, backward to the logits only (weights frozen), global-norm clipping 1.0,
AdamW (lr 5e-4, betas 0.9/0.95, eps 1e-5, wd 0.1). Timed per step; prints one JSON line with the median.
Speed only: the data are random token ids. See docs in README (bench:scale) for the BLAS setup.

  /usr/bin/python3 bench/yardstick/maskllm_step.py --dim 288 --layers 6 --heads 6 --kv-heads 6 --ffn 768 --threads 1
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

KAPPA, TAU, LAMBDA, PRIOR_STRENGTH, INIT_STD = 100.0, 4.0, 1e-5, 3.0, 0.01
# the six 2:4 candidates, lexicographic order of the kept pairs (maskllm.md section 1)
CANDIDATES = [[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--ffn", type=int, required=True)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20, help="measured steps (median reported)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rms-eps", type=float, default=1e-5)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    return p.parse_args()


def blas_in_use():
    """Which BLAS library this process mapped (after a matmul), named without its directory prefix."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if "blas" in base or "mkl" in base:
                libs.add(os.path.join(os.path.basename(os.path.dirname(path)), base))
    names = sorted(libs)
    openblas = any("openblas" in n for n in names)
    return ("openblas" if openblas else "reference libblas" if any("libblas" in n for n in names) else "unknown"), names


def malloc_in_use():
    """The allocator this process runs on: jemalloc or tcmalloc when preloaded, else glibc's."""
    with open("/proc/self/maps") as f:
        maps = f.read()
    return "jemalloc" if "libjemalloc" in maps else "tcmalloc" if "libtcmalloc" in maps else "glibc"


def rope_tables(seq, head_dim, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(seq, dtype=torch.float32), inv)  # [seq, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # HF layout: rotate_half
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def causal_attention(q, k, v):
    """q [B, H, T, hd], k/v [B, H, T, hd] (already repeated for grouped-query attention)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # torch 1.13 has no fused attention: written out
    t = q.shape[-2]
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    g = torch.Generator().manual_seed(a.seed)
    hd = a.dim // a.heads
    names = ["q", "k", "v", "o", "gate", "up", "down"]
    shapes = {"q": (a.heads * hd, a.dim), "k": (a.kv_heads * hd, a.dim), "v": (a.kv_heads * hd, a.dim), "o": (a.dim, a.heads * hd),
              "gate": (a.ffn, a.dim), "up": (a.ffn, a.dim), "down": (a.dim, a.ffn)}

    def randn(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    # frozen weights (requires_grad=False): N(0, 0.02) matrices, unit norm weights, untied lm_head
    embed = randn(a.vocab, a.dim)
    lm_head = randn(a.vocab, a.dim)
    final_norm = torch.ones(a.dim)
    layers = []
    S = torch.tensor(CANDIDATES, dtype=torch.float32)  # [6, 4]
    logits = []  # the only trained parameters
    for _ in range(a.layers):
        layer = {"attn_norm": torch.ones(a.dim), "mlp_norm": torch.ones(a.dim), "W": {}, "pi": {}}
        for n in names:
            w = randn(*shapes[n])
            # logits N(0, 0.01) shifted by a magnitude 2:4 prior (maskllm.md section 2), as maskforge's bench does
            pi = torch.randn(w.numel() // 4, 6, generator=g) * INIT_STD
            top2 = w.abs().reshape(-1, 4).topk(2, dim=-1).indices
            m0 = torch.zeros(w.numel() // 4, 4).scatter_(1, top2, 1.0)
            pi = pi + pi.std() * PRIOR_STRENGTH * (m0 @ S.t() - 1.0)
            pi.requires_grad_(True)
            layer["W"][n] = w
            layer["pi"][n] = pi
            logits.append(pi)
        layers.append(layer)
    opt = torch.optim.AdamW(logits, lr=5e-4, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1)
    cos, sin = rope_tables(a.seq, hd, a.rope_theta)
    rep = a.heads // a.kv_heads

    def soft_mask(pi, shape):
        u = torch.rand(pi.shape, generator=g).clamp_(1e-10, 1 - 1e-7)
        gumbel = -torch.log(-torch.log(u))
        probs = torch.softmax((KAPPA * pi + gumbel) / TAU, dim=-1)
        return (probs @ S).reshape(shape)

    def step(ids):
        B, T = ids.shape
        reg = torch.zeros(())
        eff = []
        for layer in layers:
            e = {}
            for n in names:
                m = soft_mask(layer["pi"][n], shapes[n])
                wm = layer["W"][n] * m
                reg = reg + wm.pow(2).sum()  # W is frozen: the gradient reaches only the mask
                e[n] = wm
            eff.append(e)
        h = F.embedding(ids, embed)  # [B, T, dim]
        for layer, e in zip(layers, eff):
            x = rms_norm(h, layer["attn_norm"], a.rms_eps)
            q = F.linear(x, e["q"]).view(B, T, a.heads, hd).transpose(1, 2)
            k = F.linear(x, e["k"]).view(B, T, a.kv_heads, hd).transpose(1, 2)
            v = F.linear(x, e["v"]).view(B, T, a.kv_heads, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if rep > 1:
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            att = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, a.heads * hd)
            h = h + F.linear(att, e["o"])
            x = rms_norm(h, layer["mlp_norm"], a.rms_eps)
            h = h + F.linear(F.silu(F.linear(x, e["gate"])) * F.linear(x, e["up"]), e["down"])
        out = F.linear(rms_norm(h, final_norm, a.rms_eps), lm_head)  # [B, T, vocab]
        lm = F.cross_entropy(out[:, :-1].reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
        loss = lm - LAMBDA * reg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(logits, 1.0)
        opt.step()
        return float(lm)

    times = []
    lm = float("nan")
    for i in range(a.warmup + a.steps):
        ids = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
        t0 = time.perf_counter()
        lm = step(ids)
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
    med = statistics.median(times)
    tokens = a.batch * a.seq
    blas, libs = blas_in_use()
    masked = sum(shapes[n][0] * shapes[n][1] for n in names) * a.layers
    print(json.dumps({
        "yardstick": "maskllm_step", "torch": torch.__version__, "threads": a.threads, "blas": blas, "blasLibs": libs,
        "malloc": malloc_in_use(),
        "fusedAttention": hasattr(F, "scaled_dot_product_attention"), "tokensPerStep": tokens, "warmup": a.warmup,
        "steps": a.steps, "stepSecondsMedian": med, "stepSeconds": times, "tokensPerSec": tokens / med,
        "maskedParams": masked, "lmHeadParams": a.vocab * a.dim, "lastLmLoss": lm,
        "peakRssMiB": _peak_rss_mib(),
    }))


def _peak_rss_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the harness reports it as this run's failure
        print(json.dumps({"yardstick": "maskllm_step", "error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
