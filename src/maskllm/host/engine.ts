// Long file: one model's forward and backward written out in order, like modeling_llama.py; the ops it runs live in ops.ts
// The MaskLLM step's gradient on host arrays (llm.c-style): LLaMA's forward and backward written out over
// Float32Arrays and run as ops (ops.ts) by an Executor, instead of TF.js tensors on a backend's heap. What this buys
// at real model sizes:
// - memory: only ỹ [G, C] and ∂ỹ [G, C] are kept per step; each layer's M̃ is rebuilt from ỹ when a product needs
//   it, the mask gradient (dyᵀ·x) ⊙ W goes straight to ∂ỹ layer by layer, and nothing lives on the wasm backend's
//   4 GiB heap;
// - speed: every product is our blocked GEMM with W ⊙ M̃ formed while packing, split over the executor's threads
//   (tokens, or output rows for the mask gradient), which read one shared copy of the weights;
// - the first layer's input gradient is never formed (the embeddings are frozen).
// The math is that of llama/model.ts + train/loss.ts (tests check the gradient against TF.js autograd).
import type { LlamaConfig } from "../llama/config.js";
import { LINEAR_SUFFIXES } from "../llama/model.js";
import { attentionRopeValues } from "../llama/rope.js";
import type { RopeValues } from "../kernels/attention-module.js";
import type { MaskTarget } from "../train/logits.js";
import type { Executor } from "./ops.js";
import { linearKernels } from "./linear-kernels.js";
import { decoderLayerForward, layerDims, qkNormBuffers, type LinearSuffix, type QkNormBuffers } from "./layer-forward.js";
import { fusedKernelsSupported } from "../kernels/fused-kernel.js";

const QKV = new Set<LinearSuffix>(["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]);

export class HostEngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostEngineError";
  }
}

/** Why the host engine cannot train this model (undefined: it can). */
export function hostEngineUnsupported(config: LlamaConfig): string | undefined {
  if (config.vocabSize % 4 !== 0) return `vocabulary ${config.vocabSize} is not a multiple of 4`;
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0) return "heads are not a multiple of kv heads";
  if (config.headDim % 2 !== 0) return "odd head dimension";
  return undefined;
}

/** Whether trainMasks takes the host path for this model on the current backend (the WebAssembly kernels run). */
export function hostTrainingSupported(config: LlamaConfig): boolean {
  return fusedKernelsSupported() && hostEngineUnsupported(config) === undefined;
}

/** One masked linear's place in the step's ỹ / ∂ỹ arrays. */
interface TargetSlot {
  name: string;
  out: number;
  in: number;
  /** first group (row of ỹ) */
  offset: number;
  groups: number;
}

/**
 * Activations a layer keeps from its forward for its backward, [tokens, ·]. The norms' outputs and SwiGLU's
 * output and σ(gate) are not kept: the backward recomputes them (elementwise, cheap) into shared scratch.
 */
interface LayerSaved {
  x: Float32Array;
  r1: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  lse: Float32Array;
  a: Float32Array;
  r2: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  /** Qwen3: q/k before their per-head norm and its scales (q and k above are the norm's outputs) */
  qk?: QkNormBuffers;
}

/** Floats of saved activations per token (bench and memory estimates use this count too). */
export function savedFloatsPerToken(c: LlamaConfig): number {
  const { d, qd, kvd, f } = layerDims(c);
  const qk = c.qkNorm ? qd + kvd + c.numAttentionHeads + c.numKeyValueHeads : 0;
  const perLayer = 2 * d + 2 + qd + 2 * kvd + qd + c.numAttentionHeads + 2 * f + qk;
  // + the last hidden state, the final norm's output and r (the logits exist one window at a time: headLoss)
  return c.numHiddenLayers * perLayer + 2 * d + 1;
}

export interface HostEngineSpec {
  config: LlamaConfig;
  /** HF-named weights, row-major; reused as they are when the executor shares them, else copied once */
  weights: Map<string, Float32Array>;
  targets: MaskTarget[];
  /** group size M and candidate matrix S [C, M] */
  m: number;
  s: Float32Array;
  hard: boolean;
  seqLen: number;
  /** most windows a micro-batch holds (activations are sized for it) */
  maxWindows: number;
}

export class HostEngine {
  private readonly c: LlamaConfig;
  private readonly w = new Map<string, Float32Array>();
  private readonly slots = new Map<string, TargetSlot>();
  private readonly candidates: number;
  private readonly rope: RopeValues;
  private readonly layers: LayerSaved[] = [];
  private readonly xf: Float32Array;
  private readonly rf: Float32Array;
  private readonly xLast: Float32Array;
  private readonly targets: Int32Array;
  private readonly rowWeights: Float32Array;
  private readonly rowScale: Float32Array;
  private readonly totals: Float64Array;
  /** the lm_head packed once for the run by the native kernels (frozen, read by every thread), if they pack */
  private readonly headPacked?: Float32Array;
  /**
   * a linear's W ⊙ M̃ packed by the native kernels for one product, filled by all threads and read by all (each
   * thread packing the whole weight for its share of the tokens cost as much as a quarter of the product)
   */
  private readonly packedB?: Float32Array;
  // backward scratch
  private readonly dx: Float32Array;
  private readonly da: Float32Array;
  private readonly dxn: Float32Array;
  private readonly dO: Float32Array;
  private readonly dq: Float32Array;
  private readonly dk: Float32Array;
  private readonly dv: Float32Array;
  /** Qwen3: ∂ of q/k before their per-head norms */
  private readonly qkGrad?: { dq: Float32Array; dk: Float32Array };
  private readonly dh: Float32Array;
  private readonly dg: Float32Array;
  private readonly du: Float32Array;
  private readonly tmp: Float32Array;
  // recomputed per layer: a norm's output, SwiGLU's output and σ(gate)
  private readonly xn: Float32Array;
  private readonly h: Float32Array;
  private readonly sig: Float32Array;
  /** one layer's M̃, rebuilt from ỹ when a product needs it */
  private readonly mask: Float32Array;

  constructor(private readonly spec: HostEngineSpec, private readonly exec: Executor) {
    const c = (this.c = spec.config);
    const why = hostEngineUnsupported(c);
    if (why) throw new HostEngineError(`the host trainer cannot run this model: ${why}`);
    this.candidates = spec.s.length / spec.m;
    let offset = 0;
    let largest = 0;
    for (const t of spec.targets) {
      const [out, inDim] = t.shape;
      if (inDim % spec.m !== 0) throw new HostEngineError(`${t.name}: input dimension ${inDim} is not a multiple of ${spec.m}`);
      const groups = (out * inDim) / spec.m;
      this.slots.set(t.name, { name: t.name, out, in: inDim, offset, groups });
      offset += groups;
      largest = Math.max(largest, out * inDim);
    }
    const need = (name: string) => {
      const v = spec.weights.get(name);
      if (!v) throw new HostEngineError(`missing weight ${name}`);
      if (exec.shares(v)) this.w.set(name, v);
      else {
        const copy = exec.f32(v.length);
        copy.set(v);
        this.w.set(name, copy);
      }
    };
    need("model.embed_tokens.weight");
    need("model.norm.weight");
    if (!c.tieWordEmbeddings) need("lm_head.weight");
    for (let l = 0; l < c.numHiddenLayers; l++) {
      const p = `model.layers.${l}.`;
      need(`${p}input_layernorm.weight`);
      need(`${p}post_attention_layernorm.weight`);
      for (const s of LINEAR_SUFFIXES) need(`${p}${s}.weight`);
      if (c.attentionBias) for (const s of ["q_proj", "k_proj", "v_proj"]) need(`${p}self_attn.${s}.bias`);
      if (c.qkNorm) for (const s of ["q_norm", "k_norm"]) need(`${p}self_attn.${s}.weight`);
    }
    const rope = attentionRopeValues(spec.seqLen, c); // the score scale folded into q's tables
    const shared = (a: Float32Array) => {
      const b = exec.f32(a.length);
      b.set(a);
      return b;
    };
    this.rope = { cosQ: shared(rope.cosQ), sinQ: shared(rope.sinQ), cosK: shared(rope.cosK), sinK: shared(rope.sinK) };

    const T = spec.maxWindows * spec.seqLen;
    const { d, qd, kvd, f } = layerDims(c);
    const a = (n: number) => exec.f32(n);
    for (let l = 0; l < c.numHiddenLayers; l++)
      this.layers.push({
        x: a(T * d),
        r1: a(T),
        q: a(T * qd),
        k: a(T * kvd),
        v: a(T * kvd),
        o: a(T * qd),
        lse: a(T * c.numAttentionHeads),
        a: a(T * d),
        r2: a(T),
        gate: a(T * f),
        up: a(T * f),
        qk: qkNormBuffers(c, T, a),
      });
    this.xLast = a(T * d);
    this.xf = a(T * d);
    this.rf = a(T);
    this.targets = exec.i32(T);
    this.rowWeights = a(T);
    this.rowScale = a(T);
    this.totals = exec.f64(spec.maxWindows);
    const nk = linearKernels();
    if (nk?.headLoss && nk.packedFloats && nk.packTransposed) {
      const head = this.w.get(c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")!;
      this.headPacked = exec.f32(nk.packedFloats(d, c.vocabSize));
      nk.packTransposed(head, d, c.vocabSize, this.headPacked);
    }
    if (nk?.packWeight && nk.linearPacked && nk.packedFloats) {
      const sizes = [[d, qd], [d, kvd], [d, f]].flatMap(([p, q]) => [nk.packedFloats!(p, q), nk.packedFloats!(q, p)]);
      this.packedB = a(Math.max(...sizes));
    }
    const wide = Math.max(d, qd);
    this.dx = a(T * d);
    this.da = a(T * d);
    this.dxn = a(T * d);
    this.dO = a(T * qd);
    this.dq = a(T * qd);
    this.dk = a(T * kvd);
    this.dv = a(T * kvd);
    if (c.qkNorm) this.qkGrad = { dq: a(T * qd), dk: a(T * kvd) };
    this.dh = a(T * f);
    this.dg = a(T * f);
    this.du = a(T * f);
    this.tmp = a(T * wide);
    this.xn = a(T * d);
    this.h = a(T * f);
    this.sig = a(T * f);
    this.mask = a(largest);
  }

  /** A weight as the engine holds it (shared with the executor's threads). */
  weight(name: string): Float32Array {
    const w = this.w.get(name);
    if (!w) throw new HostEngineError(`missing weight ${name}`);
    return w;
  }

  /**
   * How a target's product gets its M̃: formed from ỹ while packing (soft: group sizes that are multiples of 4, and
   * soft masks), else built into the mask scratch first (softMask op).
   */
  private maskOf(name: string, probs: Float32Array): { soft: { probs: Float32Array; s: Float32Array; m: number } } | { mask: Float32Array } {
    const t = this.slots.get(name)!;
    const c = this.candidates;
    const rows = probs.subarray(t.offset * c, (t.offset + t.groups) * c);
    if (this.spec.m % 4 === 0 && !this.spec.hard) return { soft: { probs: rows, s: this.spec.s, m: this.spec.m } };
    return { mask: this.maskInto(t, probs) };
  }

  private maskInto(t: TargetSlot, probs: Float32Array): Float32Array {
    const c = this.candidates;
    const masks = this.mask.subarray(0, t.groups * this.spec.m);
    this.exec.run({ kind: "softMask", probs: probs.subarray(t.offset * c, (t.offset + t.groups) * c), s: this.spec.s, masks, hard: this.spec.hard, groups: t.groups, c, m: this.spec.m });
    return masks;
  }

  /** y = x·(W ⊙ M̃)ᵀ (+ bias) for a linear by HF prefix; unmasked when it is not a target. */
  private linear(prefix: string, x: Float32Array, y: Float32Array, tokens: number, probs: Float32Array, bias = false): void {
    const name = `${prefix}.weight`;
    const w = this.w.get(name)!;
    const mask = this.slots.has(name) ? this.maskOf(name, probs) : undefined;
    const inDim = x.length / tokens;
    const outDim = w.length / inDim;
    const packed = this.packWeight(true, w, mask, inDim, outDim);
    this.exec.run({ kind: "linear", x: x.subarray(0, tokens * inDim), w, ...mask, ...packed, ...(bias ? { bias: this.w.get(`${prefix}.bias`)! } : {}), y: y.subarray(0, tokens * outDim), tokens, inDim, outDim });
  }

  /** B of a product packed once into packedB by every thread, where the kernels pack (else each part packs its own). */
  private packWeight(forward: boolean, w: Float32Array, mask: ReturnType<HostEngine["maskOf"]> | undefined, inDim: number, outDim: number): { packed?: Float32Array } {
    const nk = linearKernels();
    if (!this.packedB || !nk?.packedFloats) return {};
    const packed = this.packedB.subarray(0, forward ? nk.packedFloats(inDim, outDim) : nk.packedFloats(outDim, inDim));
    this.exec.run({ kind: "packWeight", forward, w, ...mask, packed, inDim, outDim });
    return { packed };
  }

  /** dx (+)= dy·(W ⊙ M̃), and for a target ∂ỹ += ((dyᵀ·x) ⊙ W)·Sᵀ. */
  private linearBackward(prefix: string, x: Float32Array, dy: Float32Array, dx: Float32Array | undefined, accumulate: boolean, tokens: number, probs: Float32Array, dProbs: Float32Array): void {
    const name = `${prefix}.weight`;
    const w = this.w.get(name)!;
    const t = this.slots.get(name);
    const inDim = x.length / tokens;
    const outDim = dy.length / tokens;
    const c = this.candidates;
    if (dx) {
      const mask = t ? this.maskOf(name, probs) : undefined;
      // an unmasked W is read in place, nothing to pack
      const packed = mask ? this.packWeight(false, w, mask, inDim, outDim) : {};
      this.exec.run({ kind: "linearInputGrad", dy: dy.subarray(0, tokens * outDim), w, ...mask, ...packed, dx: dx.subarray(0, tokens * inDim), accumulate, tokens, inDim, outDim });
    }
    if (t)
      this.exec.run({ kind: "maskGrad", x: x.subarray(0, tokens * inDim), dy: dy.subarray(0, tokens * outDim), w, s: this.spec.s, dProbs: dProbs.subarray(t.offset * c, (t.offset + t.groups) * c), tokens, inDim, outDim, c, m: this.spec.m });
  }

  /**
   * One micro-batch: adds ∂(weight·LM)/∂ỹ to dProbs [Σgroups, C] at the step's ỹ (probs) and returns weight·LM,
   * the part's share of the batch's mean next-token loss (`weight` = its share of the batch).
   */
  microBatch(ids: Int32Array, windows: number, weight: number, probs: Float32Array, dProbs: Float32Array, timing?: { forwardMs: number; backwardMs: number }): number {
    const { c, spec, exec } = this;
    const t0 = performance.now();
    if (windows > spec.maxWindows) throw new HostEngineError(`${windows} windows in a micro-batch, sized for ${spec.maxWindows}`);
    const seq = spec.seqLen;
    const T = windows * seq;
    if (ids.length !== T) throw new HostEngineError(`${ids.length} token ids for ${windows} windows of ${seq}`);
    const { d, qd, kvd, f } = layerDims(c);
    const V = c.vocabSize;
    const eps = c.rmsNormEps;
    const att = { batch: windows, seq, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim };
    const cut = (a: Float32Array, width: number) => a.subarray(0, T * width);

    // embedding rows
    const emb = this.w.get("model.embed_tokens.weight")!;
    let x = cut(this.layers.length > 0 ? this.layers[0].x : this.xLast, d);
    for (let i = 0; i < T; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < V)) throw new HostEngineError(`token id ${id} is outside the vocabulary (${V})`);
      x.set(emb.subarray(id * d, (id + 1) * d), i * d);
    }

    // forward
    for (let l = 0; l < c.numHiddenLayers; l++) {
      const L = this.layers[l];
      const p = `model.layers.${l}`;
      const next = cut(l + 1 < c.numHiddenLayers ? this.layers[l + 1].x : this.xLast, d);
      const linear = (s: LinearSuffix, xin: Float32Array, y: Float32Array) => this.linear(`${p}.${s}`, xin, y, T, probs, c.attentionBias && QKV.has(s));
      const norms = {
        inputNorm: this.w.get(`${p}.input_layernorm.weight`)!,
        postNorm: this.w.get(`${p}.post_attention_layernorm.weight`)!,
        ...(c.qkNorm ? { qNorm: this.w.get(`${p}.self_attn.q_norm.weight`)!, kNorm: this.w.get(`${p}.self_attn.k_norm.weight`)! } : {}),
      };
      decoderLayerForward(exec, { config: c, rope: this.rope, ...norms, linear }, x, next, windows, seq, { ...L, xn: this.xn, h: this.h, sig: this.sig });
      x = next;
    }
    const xf = cut(this.xf, d);
    const normW = this.w.get("model.norm.weight")!;
    exec.run({ kind: "rmsNorm", x, w: normW, y: xf, r: this.rf.subarray(0, T), rows: T, n: d, eps });
    const head = c.tieWordEmbeddings ? "model.embed_tokens" : "lm_head";

    // lm_head, loss and their backward in one op: row k predicts ids[k + 1] in its window, the last row of each
    // window predicts nothing; the mean is over windows·(seq − 1) predictions, scaled by the part's share
    const targets = this.targets.subarray(0, T);
    const rowW = this.rowWeights.subarray(0, T);
    const scale = this.rowScale.subarray(0, T);
    const count = windows * (seq - 1);
    for (let r = 0; r < windows; r++)
      for (let i = 0; i < seq; i++) {
        const k = r * seq + i;
        const has = i + 1 < seq;
        targets[k] = has ? ids[k + 1] : 0;
        rowW[k] = has ? 1 : 0;
        scale[k] = has ? weight / count : 0;
      }
    const dxf = cut(this.tmp, d);
    exec.run({ kind: "headLoss", x: xf, w: this.w.get(`${head}.weight`)!, packed: this.headPacked, targets, weights: rowW, scale, dx: dxf, totals: this.totals, windows, seq, d, vocab: V });
    let total = 0;
    for (let r = 0; r < windows; r++) total += this.totals[r];
    const lm = (total / count) * weight;
    const t1 = performance.now(); // the forward's time includes the fused head and loss, backward included
    if (timing) timing.forwardMs += t1 - t0;

    const dx = cut(this.dx, d);
    exec.run({ kind: "rmsNormBackward", x, w: normW, r: this.rf.subarray(0, T), dy: dxf, dx, accumulate: false, rows: T, n: d });

    const da = cut(this.da, d);
    const dxn = cut(this.dxn, d);
    for (let l = c.numHiddenLayers - 1; l >= 0; l--) {
      const L = this.layers[l];
      const p = `model.layers.${l}`;
      // mlp: dx is ∂/∂(layer output) = ∂/∂a through the residual, plus the MLP's path
      const dh = cut(this.dh, f);
      const h = cut(this.h, f);
      const sig = cut(this.sig, f);
      exec.run({ kind: "swiglu", g: cut(L.gate, f), u: cut(L.up, f), h, s: sig }); // recomputed: same kernel, same values
      this.linearBackward(`${p}.mlp.down_proj`, h, dx, dh, false, T, probs, dProbs);
      exec.run({ kind: "swigluBackward", g: cut(L.gate, f), u: cut(L.up, f), s: sig, dh, dg: cut(this.dg, f), du: cut(this.du, f) });
      const xn = cut(this.xn, d);
      exec.run({ kind: "rmsNorm", x: cut(L.a, d), w: this.w.get(`${p}.post_attention_layernorm.weight`)!, y: xn, r: L.r2.subarray(0, T), rows: T, n: d, eps });
      this.linearBackward(`${p}.mlp.gate_proj`, xn, cut(this.dg, f), dxn, false, T, probs, dProbs);
      this.linearBackward(`${p}.mlp.up_proj`, xn, cut(this.du, f), dxn, true, T, probs, dProbs);
      da.set(dx);
      exec.run({ kind: "rmsNormBackward", x: cut(L.a, d), w: this.w.get(`${p}.post_attention_layernorm.weight`)!, r: L.r2.subarray(0, T), dy: dxn, dx: da, accumulate: true, rows: T, n: d });
      // attention
      const dO = cut(this.dO, qd);
      this.linearBackward(`${p}.self_attn.o_proj`, cut(L.o, qd), da, dO, false, T, probs, dProbs);
      exec.run({ kind: "attentionBackward", shape: att, q: cut(L.q, qd), k: cut(L.k, kvd), v: cut(L.v, kvd), o: cut(L.o, qd), lse: L.lse.subarray(0, T * c.numAttentionHeads), dO, rope: this.rope, dq: cut(this.dq, qd), dk: cut(this.dk, kvd), dv: cut(this.dv, kvd) });
      let dq = cut(this.dq, qd);
      let dk = cut(this.dk, kvd);
      if (L.qk) {
        // Qwen3: back through the per-head q/k norms to the projections' outputs
        const { qRaw, kRaw, rq, rk } = L.qk;
        const g = this.qkGrad!;
        const [nh, nkv, hd] = [c.numAttentionHeads, c.numKeyValueHeads, c.headDim];
        exec.run({ kind: "rmsNormBackward", x: cut(qRaw, qd), w: this.w.get(`${p}.self_attn.q_norm.weight`)!, r: rq.subarray(0, T * nh), dy: dq, dx: cut(g.dq, qd), accumulate: false, rows: T * nh, n: hd });
        exec.run({ kind: "rmsNormBackward", x: cut(kRaw, kvd), w: this.w.get(`${p}.self_attn.k_norm.weight`)!, r: rk.subarray(0, T * nkv), dy: dk, dx: cut(g.dk, kvd), accumulate: false, rows: T * nkv, n: hd });
        dq = cut(g.dq, qd);
        dk = cut(g.dk, kvd);
      }
      const first = l === 0; // nothing upstream of layer 0 learns: skip its input gradient
      exec.run({ kind: "rmsNorm", x: cut(L.x, d), w: this.w.get(`${p}.input_layernorm.weight`)!, y: xn, r: L.r1.subarray(0, T), rows: T, n: d, eps });
      this.linearBackward(`${p}.self_attn.q_proj`, xn, dq, first ? undefined : dxn, false, T, probs, dProbs);
      this.linearBackward(`${p}.self_attn.k_proj`, xn, dk, first ? undefined : dxn, true, T, probs, dProbs);
      this.linearBackward(`${p}.self_attn.v_proj`, xn, cut(this.dv, kvd), first ? undefined : dxn, true, T, probs, dProbs);
      if (first) break;
      dx.set(da);
      exec.run({ kind: "rmsNormBackward", x: cut(L.x, d), w: this.w.get(`${p}.input_layernorm.weight`)!, r: L.r1.subarray(0, T), dy: dxn, dx, accumulate: true, rows: T, n: d });
    }
    if (timing) timing.backwardMs += performance.now() - t1;
    return lm;
  }
}
