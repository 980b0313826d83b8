// Perplexity of a model whose float32 weights need not fit in memory, the way layer-by-layer pruning runs it: the
// windows go through in groups; per group, the embeddings are gathered, each decoder layer's weights are read from a
// WeightSource when the group reaches it (decoderLayerForward on host arrays, every product on the executor's GEMM),
// then the final norm and the lm_head with log-softmax over vocabulary slices (the logits of a whole window never
// exist). Resident: one layer's weights, the group's hidden states twice, one batch's buffers and one slice of the
// head; every weight is re-read once per group. Same quantity as perplexity.ts: exp(mean NLL of ids[:, 1:]).
import type { LlamaConfig } from "../llama/config.js";
import { LINEAR_SUFFIXES } from "../llama/model.js";
import { attentionRopeValues } from "../llama/rope.js";
import { decoderLayerForward, layerBufferFloats, layerDims, qkNormBuffers, type LayerBuffers, type LinearSuffix } from "../host/layer-forward.js";
import type { Executor } from "../host/ops.js";
import type { RopeValues } from "../kernels/attention-module.js";
import type { WeightSource } from "../prune/layer-by-layer.js";
import type { PerplexityResult } from "./perplexity.js";

/** Logits computed per head call: rows × vocabulary slice (4 MiB of float32). */
const HEAD_FLOATS = 1 << 20;
/** Vocabulary rows of the lm_head copied into the executor's memory at a time. */
const HEAD_SLICE = 4096;

export interface LayerByLayerPerplexityOptions {
  executor: Executor;
  /** windows whose hidden states are resident at once (twice); the weights are read once per group */
  groupWindows: number;
  /** windows per layer forward within a group (default 8): what the per-batch buffers are sized for */
  windowsPerBatch?: number;
}

export interface LayerByLayerPerplexityRun {
  signal?: AbortSignal;
  /** units done of total: a unit is one layer (or the head) of one group */
  onProgress?: (done: number, total: number) => void;
}

/** The head's product: vocabulary rows per slice, and token rows per call. */
export function headShape(vocab: number): { slice: number; rows: number } {
  const slice = Math.min(vocab, HEAD_SLICE);
  return { slice, rows: Math.max(1, Math.floor(HEAD_FLOATS / slice)) };
}

/** The floats a LayerByLayerPerplexity holds for windows of `seq` tokens (what the worker's memory estimate counts). */
export function layerByLayerPerplexityFloats(c: LlamaConfig, seq: number, groupWindows: number, windowsPerBatch: number): { activations: number; batch: number; head: number } {
  const d = c.hiddenSize;
  const T = groupWindows * seq;
  const { slice, rows } = headShape(c.vocabSize);
  return {
    // hs and next, the final norm's scales, and the head's per-row state (three float64 each)
    activations: 2 * T * d + T + 6 * T,
    batch: layerBufferFloats(c, Math.min(windowsPerBatch, groupWindows) * seq),
    head: slice * d + rows * slice,
  };
}

function abortIfAsked(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("evaluation aborted");
}

/**
 * Buffers for one config and window length, made once on the executor (an executor's buffers live as long as it
 * does) and reused by every run: the dense and the sparse model of each dataset.
 */
export class LayerByLayerPerplexity {
  private readonly d: number;
  private readonly group: number;
  private readonly perBatch: number;
  private readonly w = new Map<LinearSuffix, Float32Array>();
  private readonly shapeOf: Record<LinearSuffix, [number, number]>;
  private readonly inNorm: Float32Array;
  private readonly postNorm: Float32Array;
  private readonly finalNorm: Float32Array;
  private readonly qkNorms?: { qNorm: Float32Array; kNorm: Float32Array };
  private readonly bias?: Partial<Record<LinearSuffix, Float32Array>>;
  private readonly act: LayerBuffers;
  private hs: Float32Array;
  private next: Float32Array;
  private readonly rf: Float32Array;
  private readonly rope: RopeValues;
  private readonly headW: Float32Array;
  private readonly logits: Float32Array;
  private readonly rowsPerCall: number;

  constructor(private readonly config: LlamaConfig, private readonly seq: number, private readonly opts: LayerByLayerPerplexityOptions) {
    if (!Number.isInteger(seq) || seq < 2) throw new RangeError(`windows of ${seq} tokens predict nothing`);
    const exec = opts.executor;
    const a = (n: number) => exec.f32(Math.max(1, n));
    const { d, qd, kvd, f } = layerDims(config);
    this.d = d;
    this.group = Math.max(1, Math.floor(opts.groupWindows));
    this.perBatch = Math.max(1, Math.min(this.group, Math.floor(opts.windowsPerBatch ?? 8)));
    this.shapeOf = {
      "self_attn.q_proj": [qd, d], "self_attn.k_proj": [kvd, d], "self_attn.v_proj": [kvd, d], "self_attn.o_proj": [d, qd],
      "mlp.gate_proj": [f, d], "mlp.up_proj": [f, d], "mlp.down_proj": [d, f],
    };
    for (const s of LINEAR_SUFFIXES) this.w.set(s, a(this.shapeOf[s][0] * this.shapeOf[s][1]));
    this.inNorm = a(d);
    this.postNorm = a(d);
    this.finalNorm = a(d);
    if (config.qkNorm) this.qkNorms = { qNorm: a(config.headDim), kNorm: a(config.headDim) };
    if (config.attentionBias) this.bias = { "self_attn.q_proj": a(qd), "self_attn.k_proj": a(kvd), "self_attn.v_proj": a(kvd) };
    const T = this.group * seq;
    const tb = this.perBatch * seq;
    this.act = { xn: a(tb * d), q: a(tb * qd), k: a(tb * kvd), v: a(tb * kvd), o: a(tb * qd), lse: a(tb * config.numAttentionHeads), r1: a(tb), r2: a(tb), a: a(tb * d), gate: a(tb * f), up: a(tb * f), h: a(tb * f), sig: a(tb * f), qk: qkNormBuffers(config, tb, a) };
    this.hs = a(T * d);
    this.next = a(T * d);
    this.rf = a(T);
    const r = attentionRopeValues(seq, config);
    const shared = (x: Float32Array) => {
      const b = a(x.length);
      b.set(x);
      return b;
    };
    this.rope = { cosQ: shared(r.cosQ), sinQ: shared(r.sinQ), cosK: shared(r.cosK), sinK: shared(r.sinK) };
    const { slice, rows } = headShape(config.vocabSize);
    this.headW = a(slice * d);
    this.rowsPerCall = rows;
    this.logits = a(this.rowsPerCall * slice);
  }

  /** Perplexity of the model `source` holds over `windows` (each of this evaluator's seq tokens). */
  async run(source: WeightSource, windows: readonly Int32Array[], run: LayerByLayerPerplexityRun = {}): Promise<PerplexityResult> {
    const { config: c, seq } = this;
    if (windows.length === 0) throw new RangeError("no windows to evaluate (the text is shorter than one window)");
    windows.forEach((w, i) => {
      if (w.length !== seq) throw new RangeError(`window ${i} has ${w.length} tokens, this evaluator ${seq}`);
      for (const id of w) if (!(id >= 0 && id < c.vocabSize)) throw new RangeError(`window ${i} holds token id ${id} outside the vocabulary [0, ${c.vocabSize})`);
    });
    const t0 = performance.now();
    const L = c.numHiddenLayers;
    const groups = Math.ceil(windows.length / this.group);
    const units = groups * (L + 1);
    let nllSum = 0;
    for (let g = 0; g < groups; g++) {
      const win = windows.slice(g * this.group, (g + 1) * this.group);
      await this.embed(source, win);
      for (let l = 0; l < L; l++) {
        abortIfAsked(run.signal);
        await this.readLayer(source, l);
        for (let b = 0; b < win.length; b += this.perBatch) {
          const batch = Math.min(this.perBatch, win.length - b);
          const rows = [b * seq * this.d, (b + batch) * seq * this.d] as const;
          this.layer(this.hs.subarray(...rows), batch, this.next.subarray(...rows));
        }
        [this.hs, this.next] = [this.next, this.hs];
        run.onProgress?.(g * (L + 1) + l + 1, units);
      }
      abortIfAsked(run.signal);
      nllSum += await this.head(source, win);
      run.onProgress?.((g + 1) * (L + 1), units);
    }
    const tokens = windows.length * (seq - 1);
    const secs = (performance.now() - t0) / 1000;
    return { perplexity: Math.exp(nllSum / tokens), tokens, windows: windows.length, tokensPerSec: (windows.length * seq) / secs };
  }

  private async read(source: WeightSource, name: string, into: Float32Array): Promise<void> {
    const v = await source.read(name);
    if (v.length !== into.length) throw new RangeError(`${name} has ${v.length} values, the config needs ${into.length}`);
    into.set(v);
  }

  private async embed(source: WeightSource, win: readonly Int32Array[]): Promise<void> {
    const d = this.d;
    const emb = await source.read("model.embed_tokens.weight");
    if (emb.length !== this.config.vocabSize * d) throw new RangeError(`model.embed_tokens.weight has ${emb.length} values, the config needs ${this.config.vocabSize * d}`);
    let row = 0;
    for (const w of win) for (const id of w) this.hs.set(emb.subarray(id * d, (id + 1) * d), d * row++);
  }

  private async readLayer(source: WeightSource, l: number): Promise<void> {
    const p = `model.layers.${l}.`;
    for (const s of LINEAR_SUFFIXES) await this.read(source, `${p}${s}.weight`, this.w.get(s)!);
    await this.read(source, `${p}input_layernorm.weight`, this.inNorm);
    await this.read(source, `${p}post_attention_layernorm.weight`, this.postNorm);
    if (this.bias) for (const [s, b] of Object.entries(this.bias)) await this.read(source, `${p}${s}.bias`, b);
    if (this.qkNorms) {
      await this.read(source, `${p}self_attn.q_norm.weight`, this.qkNorms.qNorm);
      await this.read(source, `${p}self_attn.k_norm.weight`, this.qkNorms.kNorm);
    }
  }

  private layer(x: Float32Array, batch: number, out: Float32Array): void {
    const exec = this.opts.executor;
    const T = batch * this.seq;
    const linear = (suffix: LinearSuffix, xin: Float32Array, y: Float32Array) => {
      const [outDim, inDim] = this.shapeOf[suffix];
      const b = this.bias?.[suffix];
      exec.run({ kind: "linear", x: xin, w: this.w.get(suffix)!, ...(b ? { bias: b } : {}), y, tokens: T, inDim, outDim });
    };
    decoderLayerForward(exec, { config: this.config, rope: this.rope, inputNorm: this.inNorm, postNorm: this.postNorm, ...this.qkNorms, linear }, x, out, batch, this.seq, this.act);
  }

  /** Σ NLL of the group's predicted positions: final norm, then logits slice by slice with an online log-sum-exp. */
  private async head(source: WeightSource, win: readonly Int32Array[]): Promise<number> {
    const { config: c, seq, d } = this;
    const exec = this.opts.executor;
    const T = win.length * seq;
    await this.read(source, "model.norm.weight", this.finalNorm);
    const xf = this.next.subarray(0, T * d);
    exec.run({ kind: "rmsNorm", x: this.hs.subarray(0, T * d), w: this.finalNorm, y: xf, r: this.rf.subarray(0, T), rows: T, n: d, eps: c.rmsNormEps });
    const name = c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    const W = await source.read(name);
    if (W.length !== c.vocabSize * d) throw new RangeError(`${name} has ${W.length} values, the config needs ${c.vocabSize * d}`);
    const targets = new Int32Array(T).fill(-1);
    win.forEach((w, i) => targets.set(w.subarray(1), i * seq));
    const max = new Float64Array(T).fill(-Infinity);
    const sum = new Float64Array(T);
    const target = new Float64Array(T);
    const V = c.vocabSize;
    const slice = this.headW.length / d;
    for (let v0 = 0; v0 < V; v0 += slice) {
      const v1 = Math.min(V, v0 + slice);
      const vs = v1 - v0;
      const wS = this.headW.subarray(0, vs * d);
      wS.set(W.subarray(v0 * d, v1 * d));
      for (let r0 = 0; r0 < T; r0 += this.rowsPerCall) {
        const r1 = Math.min(T, r0 + this.rowsPerCall);
        const y = this.logits.subarray(0, (r1 - r0) * vs);
        exec.run({ kind: "linear", x: xf.subarray(r0 * d, r1 * d), w: wS, y, tokens: r1 - r0, inDim: d, outDim: vs });
        accumulateSlice(y, r0, r1, v0, vs, targets, max, sum, target);
      }
    }
    let nll = 0;
    for (let r = 0; r < T; r++) if (targets[r] >= 0) nll += max[r] + Math.log(sum[r]) - target[r];
    return nll;
  }
}

/** Folds logits [rows, vs] of vocabulary v0.. into each row's running max, Σexp(· − max) and target logit. */
function accumulateSlice(y: Float32Array, r0: number, r1: number, v0: number, vs: number, targets: Int32Array, max: Float64Array, sum: Float64Array, target: Float64Array): void {
  for (let r = r0; r < r1; r++) {
    if (targets[r] < 0) continue;
    const o = (r - r0) * vs;
    let m = -Infinity;
    for (let j = 0; j < vs; j++) if (y[o + j] > m) m = y[o + j];
    const top = Math.max(m, max[r]);
    let s = sum[r] * Math.exp(max[r] - top);
    for (let j = 0; j < vs; j++) s += Math.exp(y[o + j] - top);
    sum[r] = s;
    max[r] = top;
    const t = targets[r] - v0;
    if (t >= 0 && t < vs) target[r] = y[o + t];
  }
}

/** One run's perplexity with an evaluator made for it (its buffers stay with the executor). */
export async function perplexityLayerByLayer(config: LlamaConfig, source: WeightSource, windows: readonly Int32Array[], opts: LayerByLayerPerplexityOptions & LayerByLayerPerplexityRun): Promise<PerplexityResult> {
  if (windows.length === 0) throw new RangeError("no windows to evaluate (the text is shorter than one window)");
  return new LayerByLayerPerplexity(config, windows[0].length, opts).run(source, windows, opts);
}
