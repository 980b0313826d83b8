import type { LlamaConfig } from "./config.js";
import { ModelError } from "./weights.js";

// Mistral's / Qwen2's sliding-window attention changes nothing while a sequence fits in the window (every key is
// within it); a longer sequence would need the banded mask, which our attention does not apply, so it is refused
// rather than computed as full attention. The one home of that rule: the TF.js attention, the host layer forward
// and job validation all ask here.

/** Why `seq` tokens cannot run through this model (undefined: they can). */
export function slidingWindowRefusal(c: Pick<LlamaConfig, "slidingWindow">, seq: number, what = "a sequence"): string | undefined {
  const w = c.slidingWindow;
  if (!w || seq <= w.size) return undefined;
  return `${what} of ${seq} tokens is longer than the model's sliding_window (${w.size}${w.fromLayer > 0 ? `, layers ${w.fromLayer} on` : ""}); sliding-window attention is not applied: use sequences of at most ${w.size} tokens`;
}

/**
 * Throws a ModelError when `seq` tokens would need the sliding window (a config keeps slidingWindow only when some
 * layer uses it, so this holds for the model as a whole).
 */
export function checkSlidingWindow(c: Pick<LlamaConfig, "slidingWindow">, seq: number): void {
  const why = slidingWindowRefusal(c, seq);
  if (why) throw new ModelError(why);
}
