// Trim (maskllm.md §5): the final mask of each group is the candidate at argmax π (no noise), applied to the
// weights as exact zeros and verified to be N:M.
import * as tf from "@tensorflow/tfjs";
import type { LlamaModel } from "../llama/model.js";
import { weight } from "../llama/model.js";
import { candidateIndices, formatPattern, type NMPattern } from "../mask/patterns.js";
import { applyMaskInPlace } from "../mask/select.js";
import { verifyNMMask } from "../mask/verify.js";
import { argmaxCandidates } from "./argmax.js";
import { MaskShapeError, type LogitsMap, type MaskTarget } from "./logits.js";

export class NMViolationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NMViolationError";
  }
}

/** The 0/1 mask [out·in] of one weight from its logits [groups·C]. */
export function hardMaskFromLogits(logits: Float32Array, p: NMPattern): Uint8Array {
  const cands = candidateIndices(p);
  const best = argmaxCandidates(logits, cands.length);
  const mask = new Uint8Array(best.length * p.m);
  for (let g = 0; g < best.length; g++) for (const k of cands[best[g]]) mask[g * p.m + k] = 1;
  return mask;
}

function check(name: string, mask: Uint8Array, shape: [number, number], p: NMPattern): void {
  const v = verifyNMMask(mask, shape[0], shape[1], p);
  if (!v.ok)
    throw new NMViolationError(`${name}: ${v.badGroups} of ${v.groups} groups are not ${formatPattern(p)} (first at row ${v.firstBad?.row}, group ${v.firstBad?.group}: ${v.firstBad?.values})`);
}

/** Hard masks for every target, verified N:M. */
export function trimMasks(logits: LogitsMap, targets: MaskTarget[], p: NMPattern): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const t of targets) {
    const l = logits.get(t.name);
    if (!l) throw new MaskShapeError(`no logits for ${t.name}`);
    const mask = hardMaskFromLogits(l, p);
    if (mask.length !== t.shape[0] * t.shape[1]) throw new MaskShapeError(`${t.name}: logits give ${mask.length} mask values, weight has ${t.shape[0] * t.shape[1]}`);
    check(t.name, mask, t.shape, p);
    out.set(t.name, mask);
  }
  return out;
}

/**
 * The sparse weights: each masked weight times its mask, pruned entries exact zeros (new tensors the caller owns;
 * the model is untouched). Masks are verified N:M first.
 */
export function applyMasks(model: LlamaModel, masks: Map<string, Uint8Array>, p: NMPattern): Map<string, tf.Tensor2D> {
  const out = new Map<string, tf.Tensor2D>();
  try {
    for (const [name, mask] of masks) {
      const w = weight<tf.Tensor2D>(model, name);
      const [rows, cols] = w.shape;
      if (mask.length !== rows * cols) throw new MaskShapeError(`${name}: mask has ${mask.length} values, weight is ${rows}×${cols}`);
      check(name, mask, [rows, cols], p);
      const values = Float32Array.from(w.dataSync() as Float32Array);
      applyMaskInPlace(values, mask);
      out.set(name, tf.tensor2d(values, [rows, cols]));
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}
