// OpenAPI tags: routes without a tag are hidden from the spec (hideUntagged), so each route picks one of these.
export const TAGS = [
  { name: "health", description: "liveness and readiness probes" },
  { name: "jobs", description: "pruning jobs: submit, follow (events, SSE, metrics), cancel, delete" },
  { name: "artifacts", description: "files a job stored, and their downloads" },
  { name: "checkpoints", description: "uploaded Hugging Face checkpoints" },
  { name: "masks", description: "the catalogue of learned masks, with lineage" },
  { name: "files", description: "calibration and evaluation text" },
] as const;

export type TagName = (typeof TAGS)[number]["name"];
