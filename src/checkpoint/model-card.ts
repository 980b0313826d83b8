// README.md of an exported sparse model: what was pruned, how, and how well it does, from the same record as
// sparsity.json, so the card can never disagree with the sidecar.

export interface ModelCardInput {
  name: string;
  baseModel: string;
  baseSha256: string;
  pattern: string;
  method: string;
  prior?: string;
  /** the method changed the kept weights (SparseGPT with update): dense × mask is not this model */
  weightsUpdated: boolean;
  /** the learned logits were stored too (apart from the model folder) */
  maskLogits?: boolean;
  hyperparameters: Record<string, unknown>;
  layers: { name: string; shape: [number, number]; sparsity: number; nmVerified: boolean }[];
  sparsity: number;
  eval: { dataset: string; seqLen: number; windows: number; densePerplexity: number; sparsePerplexity: number }[];
  jobId: string;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

export function renderModelCard(c: ModelCardInput): string {
  const lines = [
    "---",
    "library_name: transformers",
    `base_model_sha256: ${c.baseSha256}`,
    "tags:",
    "  - sparsity",
    `  - ${c.pattern.replace(":", "-")}-sparsity`,
    `  - ${c.method}`,
    "---",
    "",
    `# ${c.name}`,
    "",
    `${c.pattern} semi-structured sparse version of \`${c.baseModel}\`, produced by maskforge job \`${c.jobId}\` with **${c.method}**${c.prior ? ` (prior: ${c.prior})` : ""}.`,
    "In every group of M consecutive input weights of each pruned linear, at most N are non-zero; the pruned weights are stored as exact zeros, so the",
    "checkpoint loads as a normal dense model. `config.json` is the base model's, unchanged; `sparsity.json` holds the machine-readable record",
    "(pattern, method, hyperparameters, per-layer statistics, evaluation) and `mask_compressed.npz` the bit-packed masks.",
    "",
    c.weightsUpdated
      ? "**The kept weights were updated** (`weights_updated: true`: SparseGPT reconstructs the layer's output): this model is not the base model × the mask; use these weights, do not re-apply the mask to the dense ones."
      : "The kept weights are the base model's, unchanged (`weights_updated: false`): the base model × the mask is exactly this model.",
    ...(c.maskLogits ? ["The learned mask logits (`mask_logits.safetensors`, the prior of a new run) are stored apart from this folder, so that loaders, which read every `*.safetensors` in it, never see them."] : []),
    "",
    `Overall sparsity of the pruned linears: ${fmt(c.sparsity)}; every layer verified ${c.pattern}: ${c.layers.every((l) => l.nmVerified) ? "yes" : "NO"}.`,
    "",
    "## Evaluation",
    "",
  ];
  if (c.eval.length === 0) lines.push("No evaluation datasets were requested.");
  else {
    lines.push("| dataset | seq len | windows | dense perplexity | sparse perplexity |", "|---|---:|---:|---:|---:|");
    for (const e of c.eval) lines.push(`| ${e.dataset} | ${e.seqLen} | ${e.windows} | ${fmt(e.densePerplexity)} | ${fmt(e.sparsePerplexity)} |`);
  }
  lines.push("", "## Hyperparameters", "", "```json", JSON.stringify(c.hyperparameters, null, 2), "```", "", "## Layers", "");
  lines.push("| layer | shape | sparsity | N:M verified |", "|---|---|---:|---|");
  for (const l of c.layers) lines.push(`| ${l.name} | ${l.shape[0]}×${l.shape[1]} | ${fmt(l.sparsity)} | ${l.nmVerified ? "yes" : "NO"} |`);
  lines.push("");
  return lines.join("\n");
}
