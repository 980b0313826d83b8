// A job's text as token windows: the calibration windows and each eval dataset's windows, read from the spec's
// dataset references (datasets.ts) and tokenized the one way, for the in-memory and the layer-by-layer paths alike.
import type { ChatRenderer } from "../checkpoint/chat-template.js";
import { evalWindows } from "../checkpoint/text-dataset.js";
import type { TextTokenizer } from "../checkpoint/tokenizer.js";
import { datasetInput } from "../contract/datasets.js";
import { InvalidJobError } from "../contract/errors.js";
import type { JobSpec } from "../contract/job-spec/schema.js";
import { loadDataset } from "./datasets.js";
import type { JobRun } from "./job-run.js";
import { calibrationTokenBudget, sampleCalibration, tokenizeDocuments } from "./stages.js";

/** calibration.samples seeded windows of calibration.seq_len tokens from the spec's calibration dataset. */
export async function calibrationWindows(j: JobRun, tokenizer: TextTokenizer, chat: ChatRenderer | undefined, seed: number): Promise<Int32Array[]> {
  const c = j.spec.calibration;
  const data = await loadDataset({ dataset: c.dataset, format: c.format, field: c.field }, j.io, chat);
  await j.r.log(`calibration dataset ${data.label}: ${data.docs.length} ${data.format} documents`, { documents: data.docs.length, format: data.format });
  const tokens = tokenizeDocuments(data.docs, data.format, tokenizer, `dataset ${data.label}`, calibrationTokenBudget(c.samples, c.seq_len));
  const windows = sampleCalibration(tokens, c.samples, c.seq_len, seed, `dataset ${data.label}`);
  j.r.check();
  return windows;
}

/** An eval dataset of the spec as non-overlapping windows of eval.seq_len tokens. */
export async function evalDatasetWindows(j: JobRun, item: JobSpec["eval"]["datasets"][number], tokenizer: TextTokenizer, chat: ChatRenderer | undefined): Promise<{ label: string; windows: Int32Array[] }> {
  const seqLen = j.spec.eval.seq_len;
  const data = await loadDataset(datasetInput(item), j.io, chat);
  const windows = evalWindows(tokenizeDocuments(data.docs, data.format, tokenizer, `dataset ${data.label}`), seqLen);
  if (windows.length === 0) throw new InvalidJobError("dataset_invalid", `eval dataset ${data.label} is shorter than one window of ${seqLen} tokens`);
  j.r.check();
  return { label: data.label, windows };
}
