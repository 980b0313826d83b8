// transformers' formulas written out in float64, independent of src/maskllm/llama: modeling_rope_utils (inv_freq
// and attention factor per rope_scaling kind) and modeling_llama / modeling_mistral / modeling_qwen2 /
// modeling_qwen3's forward, read straight from a config.json object as the Hub ships it. Tests compare our code's
// values against these.

// --- modeling_rope_utils (dim = head_dim, partial_rotary_factor 1)
const arange = (n: number) => Array.from({ length: n }, (_, i) => i);
export const hfDefaultInvFreq = (base: number, dim: number) => arange(dim / 2).map((i) => 1 / base ** ((2 * i) / dim));
export const hfLinearInvFreq = (base: number, dim: number, factor: number) => hfDefaultInvFreq(base, dim).map((f) => f / factor);
export function hfDynamicInvFreq(base: number, dim: number, factor: number, maxPos: number, seqLen: number): number[] {
  const len = Math.max(seqLen, maxPos);
  return hfDefaultInvFreq(base * ((factor * len) / maxPos - (factor - 1)) ** (dim / (dim - 2)), dim);
}
export interface HfLlama3Scaling {
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}
export function hfLlama3InvFreq(base: number, dim: number, s: HfLlama3Scaling): number[] {
  const lowWavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const highWavelen = s.original_max_position_embeddings / s.high_freq_factor;
  return hfDefaultInvFreq(base, dim).map((invFreq) => {
    const wavelen = (2 * Math.PI) / invFreq;
    let llama = wavelen > lowWavelen ? invFreq / s.factor : invFreq;
    const smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    const smoothed = ((1 - smooth) * llama) / s.factor + smooth * llama;
    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) llama = smoothed;
    return llama;
  });
}
export interface HfYarnScaling {
  factor: number;
  original_max_position_embeddings?: number;
  beta_fast?: number;
  beta_slow?: number;
  attention_factor?: number;
  truncate?: boolean;
}
export function hfYarn(base: number, dim: number, maxPos: number, s: HfYarnScaling): { invFreq: number[]; attentionFactor: number } {
  const orig = s.original_max_position_embeddings ?? maxPos;
  const getMscale = (scale: number, mscale = 1) => (scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1);
  const attentionFactor = s.attention_factor ?? getMscale(s.factor);
  const findCorrectionDim = (rot: number) => (dim * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(base));
  let low = findCorrectionDim(s.beta_fast ?? 32);
  let high = findCorrectionDim(s.beta_slow ?? 1);
  if (s.truncate ?? true) [low, high] = [Math.floor(low), Math.ceil(high)];
  [low, high] = [Math.max(low, 0), Math.min(high, dim - 1)];
  if (low === high) high += 0.001;
  const ramp = arange(dim / 2).map((i) => Math.min(1, Math.max(0, (i - low) / (high - low))));
  const posFreqs = arange(dim / 2).map((i) => base ** ((2 * i) / dim));
  const invFreq = posFreqs.map((p, i) => {
    const extrapolationFactor = 1 - ramp[i];
    return (1 / (s.factor * p)) * (1 - extrapolationFactor) + (1 / p) * extrapolationFactor;
  });
  return { invFreq, attentionFactor };
}

/** ROPE_INIT_FUNCTIONS[rope_type](config, seq_len) for a config.json object. */
export function hfRope(cfg: Record<string, unknown>, dim: number, seqLen: number): { invFreq: number[]; attentionFactor: number } {
  const base = (cfg.rope_theta as number | undefined) ?? 10000;
  const maxPos = cfg.max_position_embeddings as number;
  const s = cfg.rope_scaling as Record<string, unknown> | null | undefined;
  const kind = s ? (s.rope_type ?? s.type) : "default";
  switch (kind) {
    case "default":
      return { invFreq: hfDefaultInvFreq(base, dim), attentionFactor: 1 };
    case "linear":
      return { invFreq: hfLinearInvFreq(base, dim, s!.factor as number), attentionFactor: 1 };
    case "dynamic":
      return { invFreq: hfDynamicInvFreq(base, dim, s!.factor as number, maxPos, seqLen), attentionFactor: 1 };
    case "llama3":
      return { invFreq: hfLlama3InvFreq(base, dim, s as unknown as HfLlama3Scaling), attentionFactor: 1 };
    case "yarn":
      return hfYarn(base, dim, maxPos, s as unknown as HfYarnScaling);
    default:
      throw new Error(`reference: rope type ${String(kind)}`);
  }
}

// --- the decoder: embed → layers (RMSNorm, attention with RoPE, SwiGLU MLP) → norm → lm_head
type M = number[][];
const lin = (x: M, w: M, b?: number[]) => x.map((row) => w.map((wr, o) => wr.reduce((a, wv, i) => a + wv * row[i], b ? b[o] : 0)));
const rms = (x: M, w: number[], eps: number) =>
  x.map((r) => {
    const s = 1 / Math.sqrt(r.reduce((a, v) => a + v * v, 0) / r.length + eps);
    return r.map((v, i) => v * s * w[i]);
  });

/**
 * Logits [seq, vocab] of one sequence for a config.json object and HF-named weights (row-major; `shape` gives
 * [rows, cols]). Qwen3's q_norm/k_norm, q/k/v bias (Qwen2 always, others with attention_bias), tied embeddings
 * and the sliding-window mask (kv allowed when q − kv < sliding_window, on the layers transformers windows) follow
 * the config.
 */
export function hfReferenceLogits(cfg: Record<string, unknown>, weight: (name: string) => { values: ArrayLike<number>; shape: number[] }, ids: number[]): M {
  const arch = (cfg.architectures as string[])[0];
  const get = (n: string): M => {
    const { values, shape } = weight(n);
    const v = Array.from(values);
    if (shape.length === 1) return [v];
    return Array.from({ length: shape[0] }, (_, i) => v.slice(i * shape[1], (i + 1) * shape[1]));
  };
  const H = cfg.hidden_size as number;
  const nh = cfg.num_attention_heads as number;
  const nkv = (cfg.num_key_value_heads as number | undefined) ?? nh;
  const hd = (cfg.head_dim as number | undefined) ?? H / nh;
  const eps = (cfg.rms_norm_eps as number | undefined) ?? 1e-6;
  const L = cfg.num_hidden_layers as number;
  const bias = arch === "Qwen2ForCausalLM" || cfg.attention_bias === true;
  const qkNorm = arch === "Qwen3ForCausalLM";
  const windowOf = (layer: number): number | undefined => {
    if (arch === "MistralForCausalLM") return (cfg.sliding_window as number | null | undefined) ?? undefined;
    if ((arch === "Qwen2ForCausalLM" || arch === "Qwen3ForCausalLM") && cfg.use_sliding_window === true && layer >= ((cfg.max_window_layers as number | undefined) ?? 28))
      return cfg.sliding_window as number;
    return undefined;
  };
  const S = ids.length;
  const { invFreq, attentionFactor } = hfRope(cfg, hd, S);
  const rope = (v: number[], pos: number) => {
    const half = hd / 2;
    return v.map((x, i) => {
      const ang = pos * invFreq[i % half];
      const rot = i < half ? -v[i + half] : v[i - half]; // rotate_half
      return (x * Math.cos(ang) + rot * Math.sin(ang)) * attentionFactor;
    });
  };
  const emb = get("model.embed_tokens.weight");
  let h: M = ids.map((i) => [...emb[i]]);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const x = rms(h, get(`${p}input_layernorm.weight`)[0], eps);
    const b = (n: string) => (bias ? get(`${p}self_attn.${n}.bias`)[0] : undefined);
    let q = lin(x, get(`${p}self_attn.q_proj.weight`), b("q_proj"));
    let k = lin(x, get(`${p}self_attn.k_proj.weight`), b("k_proj"));
    const v = lin(x, get(`${p}self_attn.v_proj.weight`), b("v_proj"));
    if (qkNorm) {
      // Qwen3Attention: q_norm / k_norm over each head's head_dim values
      const perHead = (t: M, w: number[]) => t.map((row) => row.flatMap((_, i) => (i % hd === 0 ? rms([row.slice(i, i + hd)], w, eps)[0] : [])));
      q = perHead(q, get(`${p}self_attn.q_norm.weight`)[0]);
      k = perHead(k, get(`${p}self_attn.k_norm.weight`)[0]);
    }
    const window = windowOf(l);
    const ctx: M = Array.from({ length: S }, () => new Array(nh * hd).fill(0));
    for (let head = 0; head < nh; head++) {
      const kvh = Math.floor(head / (nh / nkv)); // repeat_kv
      for (let t = 0; t < S; t++) {
        const qt = rope(q[t].slice(head * hd, (head + 1) * hd), t);
        const keys = arange(t + 1).filter((u) => window === undefined || t - u < window);
        const scores = keys.map((u) => {
          const ku = rope(k[u].slice(kvh * hd, (kvh + 1) * hd), u);
          return qt.reduce((a, qv, i) => a + qv * ku[i], 0) / Math.sqrt(hd);
        });
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, c) => a + c, 0);
        keys.forEach((u, j) => {
          for (let i = 0; i < hd; i++) ctx[t][head * hd + i] += (e[j] / z) * v[u][kvh * hd + i];
        });
      }
    }
    const a = lin(ctx, get(`${p}self_attn.o_proj.weight`));
    h = h.map((r, t) => r.map((val, i) => val + a[t][i]));
    const y = rms(h, get(`${p}post_attention_layernorm.weight`)[0], eps);
    const g = lin(y, get(`${p}mlp.gate_proj.weight`));
    const up = lin(y, get(`${p}mlp.up_proj.weight`));
    const act = g.map((r, t) => r.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[t][i]));
    const d = lin(act, get(`${p}mlp.down_proj.weight`));
    h = h.map((r, t) => r.map((val, i) => val + d[t][i]));
  }
  const fin = rms(h, get("model.norm.weight")[0], eps);
  return lin(fin, get(cfg.tie_word_embeddings === true ? "model.embed_tokens.weight" : "lm_head.weight"));
}
