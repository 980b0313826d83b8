// The examples of POST /v1/jobs in openapi/openapi.json (jobs/*.json are the runnable ones, with the demo's slots).
import type { JobSpecInput } from "./schema.js";

const DEMO_CHECKPOINT = "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90";
const DEMO_MASK = "9b1d4f6a-2c3e-4a5b-8d7f-0e1f2a3b4c5d";
const DEMO_FILE = "5c7e2a10-8d3b-4f6e-9a1c-2b4d6e8f0a13";

/** Request bodies for the OpenAPI document (the ids are examples: use those your uploads returned). */
export const JobSpecExamples: Record<string, { summary: string; value: JobSpecInput }> = {
  maskllm: {
    summary: "MaskLLM 2:4 on an uploaded checkpoint, paper defaults",
    value: { source: { checkpoint_id: DEMO_CHECKPOINT }, method: "maskllm", pattern: "2:4", training: { steps: 200, batch_size: 8 } },
  },
  hub: {
    summary: "SparseGPT baseline on a Hub model",
    value: { source: { hf: { repo: "meta-llama/Llama-2-7b-hf", revision: "main" } }, method: "sparsegpt", calibration: { dataset: "builtin:wikitext", samples: 128, seq_len: 4096 } },
  },
  hubChatDataset: {
    summary: "Wanda on a chat model, calibrated on a Hub chat dataset (Parquet messages rendered with the model's chat template)",
    value: {
      source: { hf: { repo: "TinyLlama/TinyLlama-1.1B-Chat-v1.0" } },
      method: "wanda",
      calibration: { dataset: { hf_dataset: { repo: "HuggingFaceH4/ultrachat_200k", split: "train_sft" } }, format: "parquet", field: "messages", samples: 128, seq_len: 2048 },
      eval: { datasets: ["builtin:wikitext", { dataset: `file:${DEMO_FILE}`, format: "jsonl" }] },
    },
  },
  transfer: {
    summary: "MaskLLM seeded with an earlier mask (transfer)",
    value: { source: { checkpoint_id: DEMO_CHECKPOINT }, prior: { mask_id: DEMO_MASK }, calibration: { dataset: "builtin:wikitext" } },
  },
};
