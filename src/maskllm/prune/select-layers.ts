// Which linears get pruned, chosen by HF module names (the weight name without ".weight") and globs.
// A pattern matches a module when it matches the whole name or a dot-separated suffix of it, like PEFT's
// target_modules: "q_proj" hits model.layers.3.self_attn.q_proj, "layers.0.*" hits everything in block 0.
// `*` spans any characters (dots included), `?` exactly one. No TF.js here: the job contract reads the defaults.
import { PruneInputError } from "./errors.js";

/** LLaMA's attention and MLP projections: every linear MaskLLM masks (docs/maskllm.md §4); also a job spec's default. */
export const DEFAULT_TARGETS: readonly string[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
/** The paper leaves the classifier and the embeddings dense. HF calls the embeddings model.embed_tokens; lm_head may share them (tied). */
export const DEFAULT_IGNORE: readonly string[] = ["lm_head", "embed_tokens"];

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`(^|\\.)${body}$`);
}

export function moduleName(weightName: string): string {
  return weightName.endsWith(".weight") ? weightName.slice(0, -".weight".length) : weightName;
}

/** True when some pattern matches the module (a trailing ".weight" on a pattern is ignored). */
export function matchesAny(module: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globToRegExp(moduleName(p.trim())).test(module));
}

/**
 * The weight names (in the given order) whose module matches a target and no ignore pattern.
 * Throws when a target pattern matches nothing, so a typo cannot silently prune nothing.
 */
export function selectLayers(weightNames: readonly string[], targets: readonly string[] = DEFAULT_TARGETS, ignore: readonly string[] = DEFAULT_IGNORE): string[] {
  const clean = (ps: readonly string[]) => ps.map((p) => p.trim()).filter((p) => p.length > 0);
  const t = clean(targets), ig = clean(ignore);
  if (t.length === 0) throw new PruneInputError("no target patterns given");
  for (const p of t) if (!weightNames.some((w) => matchesAny(moduleName(w), [p]))) throw new PruneInputError(`target pattern '${p}' matches no linear layer`);
  const picked = weightNames.filter((w) => matchesAny(moduleName(w), t) && !matchesAny(moduleName(w), ig));
  if (picked.length === 0) throw new PruneInputError(`targets [${t.join(", ")}] minus ignore [${ig.join(", ")}] leave no layer to prune`);
  return picked;
}
