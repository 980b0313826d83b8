// config.json's rope_scaling ↔ RopeScaling: the kinds transformers' modeling_rope_utils computes that our RoPE
// implements (rope.ts), under `rope_type` or the older `type` key; any other kind, or a missing field, is refused
// by name rather than run as plain RoPE.
import type { RopeScaling } from "../maskllm/llama/config.js";
import { CheckpointError } from "./errors.js";

export const SUPPORTED_ROPE_TYPES = ["default", "linear", "dynamic", "llama3", "yarn"] as const;

function fail(message: string, file?: string): never {
  throw new CheckpointError("BAD_CONFIG", message, undefined, file, { unsupported: true });
}

/** rope_scaling (null/absent or `default`: plain RoPE → undefined). */
export function parseRopeScaling(v: unknown, file?: string): RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) fail(`rope_scaling must be an object or null, got ${JSON.stringify(v)}`, file);
  const r = v as Record<string, unknown>;
  const kind = r.rope_type ?? r.type;
  if (kind === "default") return undefined;
  if (typeof kind !== "string" || !(SUPPORTED_ROPE_TYPES as readonly string[]).includes(kind))
    fail(`rope_scaling type ${JSON.stringify(kind ?? null)} is not supported; supported rope_type: ${SUPPORTED_ROPE_TYPES.join(", ")}`, file);
  const num = (key: string, required: boolean, integer = false): number | undefined => {
    const x = r[key];
    if (x === undefined || x === null) {
      if (required) fail(`rope_scaling (${kind}) is missing ${key}`, file);
      return undefined;
    }
    if (typeof x !== "number" || !Number.isFinite(x) || x <= 0 || (integer && !Number.isSafeInteger(x)))
      fail(`rope_scaling.${key} must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(x)}`, file);
    return x;
  };
  const factor = num("factor", true)!;
  switch (kind) {
    case "linear":
    case "dynamic":
      return { ropeType: kind, factor };
    case "llama3": {
      const low = num("low_freq_factor", true)!;
      const high = num("high_freq_factor", true)!;
      if (high <= low) fail(`rope_scaling (llama3): high_freq_factor (${high}) must exceed low_freq_factor (${low})`, file);
      return { ropeType: "llama3", factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: num("original_max_position_embeddings", true, true)! };
    }
    default: {
      if (r.truncate !== undefined && typeof r.truncate !== "boolean") fail(`rope_scaling.truncate must be true or false, got ${JSON.stringify(r.truncate)}`, file);
      const opt = (key: string, name: Exclude<keyof Extract<RopeScaling, { ropeType: "yarn" }>, "ropeType" | "truncate">, integer = false) => {
        const x = num(key, false, integer);
        return x === undefined ? {} : { [name]: x };
      };
      return {
        ropeType: "yarn",
        factor,
        ...opt("original_max_position_embeddings", "originalMaxPositionEmbeddings", true),
        ...opt("beta_fast", "betaFast"),
        ...opt("beta_slow", "betaSlow"),
        ...opt("attention_factor", "attentionFactor"),
        ...opt("mscale", "mscale"),
        ...opt("mscale_all_dim", "mscaleAllDim"),
        ...(typeof r.truncate === "boolean" ? { truncate: r.truncate } : {}),
      };
    }
  }
}

/** RopeScaling → rope_scaling as transformers writes it (null: plain RoPE). */
export function ropeScalingJson(r: RopeScaling | undefined): Record<string, unknown> | null {
  if (!r) return null;
  switch (r.ropeType) {
    case "linear":
    case "dynamic":
      return { rope_type: r.ropeType, factor: r.factor };
    case "llama3":
      return { rope_type: "llama3", factor: r.factor, low_freq_factor: r.lowFreqFactor, high_freq_factor: r.highFreqFactor, original_max_position_embeddings: r.originalMaxPositionEmbeddings };
    case "yarn": {
      const keys: [string, number | boolean | undefined][] = [
        ["original_max_position_embeddings", r.originalMaxPositionEmbeddings],
        ["beta_fast", r.betaFast],
        ["beta_slow", r.betaSlow],
        ["attention_factor", r.attentionFactor],
        ["mscale", r.mscale],
        ["mscale_all_dim", r.mscaleAllDim],
        ["truncate", r.truncate],
      ];
      return { rope_type: "yarn", factor: r.factor, ...Object.fromEntries(keys.filter(([, x]) => x !== undefined)) };
    }
  }
}
