// MaskLLM's per-step mask math in WebAssembly SIMD (AssemblyScript; `npm run build:kernels`): drawing the soft masks
// from the logits, and taking the micro-batches' ∂LM/∂M̃ back to the logits with the regulariser, clipping and AdamW.
// It runs on the training loop's thread between the parallel parts of a step, so each millisecond here is one that
// every training thread waits; as TF.js ops it was ~20 ops over [groups, C] tensors (7-10 ms for stories260K).
//
// Groups go four to a vector (lane k = group g0 + k): a group's C candidates or M weights are strided by C or M in
// memory, so each vector is gathered lane by lane and results are scattered back. Buffers hold G rounded up to 4
// groups (the caller pads them with zeros). Pointers are byte offsets into this module's memory; S is the candidate
// matrix [C, M].

import { exp4, hsum64 } from "./simd-math";

// @ts-ignore: decorator
@inline
function gather(base: usize, g0: i32, stride: i32, j: i32): v128 {
  const p = base + (<usize>(g0 * stride + j) << 2);
  const step = <usize>stride << 2;
  let v = f32x4.splat(load<f32>(p));
  v = f32x4.replace_lane(v, 1, load<f32>(p + step));
  v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * step));
  return f32x4.replace_lane(v, 3, load<f32>(p + 3 * step));
}

// @ts-ignore: decorator
@inline
function scatter(base: usize, g0: i32, stride: i32, j: i32, v: v128): void {
  const p = base + (<usize>(g0 * stride + j) << 2);
  const step = <usize>stride << 2;
  store<f32>(p, f32x4.extract_lane(v, 0));
  store<f32>(p + step, f32x4.extract_lane(v, 1));
  store<f32>(p + 2 * step, f32x4.extract_lane(v, 2));
  store<f32>(p + 3 * step, f32x4.extract_lane(v, 3));
}

/**
 * ỹ = softmax(scale·π + noise) per group ([G, C]; scale = κ/τ, the noise already divided by τ) and M̃ = ỹ·S ([G, M]),
 * or with `hard` the argmax candidate's row of S (straight-through; first candidate on ties). scratch: C v128s.
 */
export function sample(logits: usize, noise: usize, s: usize, probs: usize, masks: usize, scratch: usize, groups: i32, c: i32, m: i32, scale: f32, hard: bool): void {
  const sv = f32x4.splat(scale);
  for (let g0 = 0; g0 < groups; g0 += 4) {
    let mx = f32x4.splat(-Infinity);
    for (let j = 0; j < c; j++) {
      const z = f32x4.add(f32x4.mul(gather(logits, g0, c, j), sv), gather(noise, g0, c, j));
      v128.store(scratch + (<usize>j << 4), z);
      mx = f32x4.pmax(mx, z);
    }
    let sum = f32x4.splat(0);
    for (let j = 0; j < c; j++) {
      const e = exp4(f32x4.sub(v128.load(scratch + (<usize>j << 4)), mx));
      v128.store(scratch + (<usize>j << 4), e);
      sum = f32x4.add(sum, e);
    }
    const inv = f32x4.div(f32x4.splat(1), sum);
    let best = f32x4.splat(-1);
    let bestIdx = i32x4.splat(0);
    for (let j = 0; j < c; j++) {
      const p = f32x4.mul(v128.load(scratch + (<usize>j << 4)), inv);
      v128.store(scratch + (<usize>j << 4), p);
      scatter(probs, g0, c, j, p);
      const more = f32x4.gt(p, best);
      best = v128.bitselect(p, best, more);
      bestIdx = v128.bitselect(i32x4.splat(j), bestIdx, more);
    }
    if (hard) {
      v128.store(scratch, bestIdx); // candidate rows are read back lane by lane
      for (let k = 0; k < 4; k++) {
        const row = s + (<usize>(load<i32>(scratch + (<usize>k << 2)) * m) << 2);
        const out = masks + (<usize>((g0 + k) * m) << 2);
        for (let i = 0; i < m; i++) store<f32>(out + (<usize>i << 2), load<f32>(row + (<usize>i << 2)));
      }
    } else
      for (let i = 0; i < m; i++) {
        let acc = f32x4.splat(0);
        for (let j = 0; j < c; j++) acc = f32x4.add(acc, f32x4.mul(v128.load(scratch + (<usize>j << 4)), v128.load32_splat(s + (<usize>(j * m + i) << 2))));
        scatter(masks, g0, m, i, acc);
      }
  }
}

// AdamW on four logits from their (clipped) gradient g: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
// π ← π·decay − stepSize·m / (√v·invSqrtBc2 + eps); the constants come splatted.
// @ts-ignore: decorator
@inline
function adamw4(logits: usize, mom: usize, vel: usize, g: v128, b1v: v128, c1: v128, b2v: v128, c2: v128, epsv: v128, dv: v128, st: v128, bc: v128): void {
  const m1 = f32x4.add(f32x4.mul(v128.load(mom), b1v), f32x4.mul(g, c1));
  const v1 = f32x4.add(f32x4.mul(v128.load(vel), b2v), f32x4.mul(f32x4.mul(g, g), c2));
  v128.store(mom, m1);
  v128.store(vel, v1);
  const denom = f32x4.add(f32x4.mul(f32x4.sqrt(v1), bc), epsv);
  v128.store(logits, f32x4.sub(f32x4.mul(v128.load(logits), dv), f32x4.mul(f32x4.div(m1, denom), st)));
}

/**
 * One optimiser step of the logits from the step's ỹ [G, C], M̃ [G, M] and Σ parts ∂LM/∂M̃ [G, M]:
 *   ∂M̃ = ∂LM/∂M̃ − 2λ·W²⊙M̃ (the regulariser −λ‖W ⊙ M̃‖², W a constant), ∂ỹ = ∂M̃·Sᵀ,
 *   ∂π = scale·ỹ⊙(∂ỹ − Σ_c ∂ỹ⊙ỹ) (scale = κ/τ), clipped to global norm `clip`, then AdamW:
 *   m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², π ← π·decay − stepSize·m / (√v·invSqrtBc2 + eps).
 * logits, m and v are updated in place; grad receives the clipped gradient. stats (f64): Σ‖W⊙M̃‖², Σ_groups max ỹ,
 * the gradient's norm before clipping. The padding groups must be zero (they then add nothing to the stats).
 * scratch: C v128s.
 */
export function update(
  logits: usize, mom: usize, vel: usize, probs: usize, masks: usize, lmGrad: usize, w2: usize, s: usize, grad: usize, stats: usize, scratch: usize,
  groups: i32, c: i32, m: i32, scale: f32, twoLambda: f32, clip: f32, b1: f32, b2: f32, eps: f32, decay: f32, stepSize: f32, invSqrtBc2: f32,
): void {
  let reg: f64 = 0;
  let maxProb: f64 = 0;
  let sq: f64 = 0;
  const sv = f32x4.splat(scale);
  const tl = f32x4.splat(twoLambda);
  for (let g0 = 0; g0 < groups; g0 += 4) {
    // ∂ỹ_j = Σ_i ∂M̃_i·S[j, i] in scratch (C v128s), then ∂π
    let regv = f32x4.splat(0);
    let dot = f32x4.splat(0);
    let best = f32x4.splat(0);
    for (let j = 0; j < c; j++) v128.store(scratch + (<usize>j << 4), f32x4.splat(0));
    for (let i = 0; i < m; i++) {
      const mk = gather(masks, g0, m, i);
      const wm = f32x4.mul(gather(w2, g0, m, i), mk);
      regv = f32x4.add(regv, f32x4.mul(wm, mk));
      const dm = f32x4.sub(gather(lmGrad, g0, m, i), f32x4.mul(wm, tl));
      for (let j = 0; j < c; j++) {
        const sji = load<f32>(s + (<usize>(j * m + i) << 2));
        const at = scratch + (<usize>j << 4);
        if (sji != 0) v128.store(at, f32x4.add(v128.load(at), f32x4.mul(dm, f32x4.splat(sji))));
      }
    }
    for (let j = 0; j < c; j++) {
      const p = gather(probs, g0, c, j);
      dot = f32x4.add(dot, f32x4.mul(v128.load(scratch + (<usize>j << 4)), p));
      best = f32x4.pmax(best, p);
    }
    let sqv = f32x4.splat(0);
    for (let j = 0; j < c; j++) {
      const p = gather(probs, g0, c, j);
      const d = f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(scratch + (<usize>j << 4)), dot)), sv);
      scatter(grad, g0, c, j, d);
      sqv = f32x4.add(sqv, f32x4.mul(d, d));
    }
    reg += hsum64(regv);
    maxProb += hsum64(best);
    sq += hsum64(sqv);
  }
  const norm = Math.sqrt(sq);
  const coef = f32x4.splat(<f32>Math.min(1, <f64>clip / (norm + 1e-6)));
  const b1v = f32x4.splat(b1), c1 = f32x4.splat(1 - b1), b2v = f32x4.splat(b2), c2 = f32x4.splat(1 - b2);
  const epsv = f32x4.splat(eps), dv = f32x4.splat(decay), st = f32x4.splat(stepSize), bc = f32x4.splat(invSqrtBc2);
  for (let k = 0, n = groups * c; k < n; k += 4) {
    const o = <usize>k << 2;
    const g = f32x4.mul(v128.load(grad + o), coef);
    v128.store(grad + o, g);
    adamw4(logits + o, mom + o, vel + o, g, b1v, c1, b2v, c2, epsv, dv, st, bc);
  }
  store<f64>(stats, reg);
  store<f64>(stats, maxProb, 8);
  store<f64>(stats, norm, 16);
}

// The host trainer's mask math (src/maskllm/host): the step keeps ỹ [G, C] and ∂ỹ [G, C] only, and each layer's M̃
// [G, M] is rebuilt from ỹ when a product needs it; nothing of the weights' size is kept per step besides them.

/** M̃ [G, M] = ỹ·S per group; hard: the row of S of ỹ's argmax (first on ties), as sample() picks it. */
export function softMask(probs: usize, s: usize, masks: usize, groups: i32, c: i32, m: i32, hard: bool): void {
  for (let g = 0; g < groups; g++) {
    const pr = probs + (<usize>(g * c) << 2);
    const out = masks + (<usize>(g * m) << 2);
    if (hard) {
      let best: i32 = 0;
      let bv = load<f32>(pr);
      for (let j = 1; j < c; j++) {
        const v = load<f32>(pr + (<usize>j << 2));
        if (v > bv) {
          bv = v;
          best = j;
        }
      }
      memory.copy(out, s + (<usize>(best * m) << 2), <usize>m << 2);
      continue;
    }
    for (let i = 0; i < m; i++) {
      let acc: f32 = 0;
      for (let j = 0; j < c; j++) acc += load<f32>(pr + (<usize>j << 2)) * load<f32>(s + (<usize>(j * m + i) << 2));
      store<f32>(out + (<usize>i << 2), acc);
    }
  }
}

/** ∂ỹ [G, C] += ∂M̃ [G, M]·Sᵀ (S is 0/1: only its ones are read). */
export function candidateGrad(dm: usize, s: usize, dp: usize, groups: i32, c: i32, m: i32): void {
  for (let g = 0; g < groups; g++) {
    const src = dm + (<usize>(g * m) << 2);
    const dst = dp + (<usize>(g * c) << 2);
    for (let j = 0; j < c; j++) {
      let acc: f32 = 0;
      for (let i = 0; i < m; i++) if (load<f32>(s + (<usize>(j * m + i) << 2)) != 0) acc += load<f32>(src + (<usize>i << 2));
      store<f32>(dst + (<usize>j << 2), load<f32>(dst + (<usize>j << 2)) + acc);
    }
  }
}

/**
 * The logits' gradient in place over ∂ỹ (dp): adds the regulariser's −2λ·W²⊙M̃ (through Sᵀ), then
 * ∂π = scale·ỹ⊙(∂ỹ − Σ_c ∂ỹ⊙ỹ). stats (f64) += Σ‖W⊙M̃‖², Σ_groups max ỹ, Σ ∂π². `masks` holds M̃ [G, M] (softMask).
 */
export function candidateLogitsGrad(probs: usize, dp: usize, w: usize, masks: usize, s: usize, stats: usize, groups: i32, c: i32, m: i32, scale: f32, twoLambda: f32): void {
  let reg: f64 = 0;
  let maxProb: f64 = 0;
  let sq: f64 = 0;
  for (let g = 0; g < groups; g++) {
    const pr = probs + (<usize>(g * c) << 2);
    const d = dp + (<usize>(g * c) << 2);
    const wr = w + (<usize>(g * m) << 2);
    const mr = masks + (<usize>(g * m) << 2);
    for (let i = 0; i < m; i++) {
      const wi = load<f32>(wr + (<usize>i << 2));
      const mi = load<f32>(mr + (<usize>i << 2));
      const wm = wi * wi * mi;
      reg += <f64>(wm * mi);
      const dm = -twoLambda * wm;
      if (dm != 0) for (let j = 0; j < c; j++) if (load<f32>(s + (<usize>(j * m + i) << 2)) != 0) store<f32>(d + (<usize>j << 2), load<f32>(d + (<usize>j << 2)) + dm);
    }
    let dot: f32 = 0;
    let best: f32 = 0;
    for (let j = 0; j < c; j++) {
      const p = load<f32>(pr + (<usize>j << 2));
      dot += load<f32>(d + (<usize>j << 2)) * p;
      best = max(best, p);
    }
    maxProb += <f64>best;
    for (let j = 0; j < c; j++) {
      const v = scale * load<f32>(pr + (<usize>j << 2)) * (load<f32>(d + (<usize>j << 2)) - dot);
      store<f32>(d + (<usize>j << 2), v);
      sq += <f64>(v * v);
    }
  }
  store<f64>(stats, load<f64>(stats) + reg);
  store<f64>(stats, load<f64>(stats, 8) + maxProb, 8);
  store<f64>(stats, load<f64>(stats, 16) + sq, 16);
}

/** AdamW over n values with the gradient scaled by coef (clipping): as update()'s second half. */
export function adamw(logits: usize, mom: usize, vel: usize, grad: usize, n: i32, coef: f32, b1: f32, b2: f32, eps: f32, decay: f32, stepSize: f32, invSqrtBc2: f32): void {
  const cv = f32x4.splat(coef);
  const b1v = f32x4.splat(b1), c1 = f32x4.splat(1 - b1), b2v = f32x4.splat(b2), c2 = f32x4.splat(1 - b2);
  const epsv = f32x4.splat(eps), dv = f32x4.splat(decay), st = f32x4.splat(stepSize), bc = f32x4.splat(invSqrtBc2);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const o = <usize>k << 2;
    adamw4(logits + o, mom + o, vel + o, f32x4.mul(v128.load(grad + o), cv), b1v, c1, b2v, c2, epsv, dv, st, bc);
  }
  for (; k < n; k++) {
    const o = <usize>k << 2;
    const g = load<f32>(grad + o) * coef;
    const m1 = load<f32>(mom + o) * b1 + g * (1 - b1);
    const v1 = load<f32>(vel + o) * b2 + g * g * (1 - b2);
    store<f32>(mom + o, m1);
    store<f32>(vel + o, v1);
    store<f32>(logits + o, load<f32>(logits + o) * decay - (m1 / (Mathf.sqrt(v1) * invSqrtBc2 + eps)) * stepSize);
  }
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
