// `jobs create`: the request body from a spec file (jobs/*.json) and/or flags, checked locally against the
// same contract the API uses, so a typo fails at once with its JSON path instead of after a round trip.
import { readFile } from "node:fs/promises";
import { parseJobSpec } from "../../contract/job-spec/parse.js";
import { ONE_SHOT_METHODS } from "../../contract/job-spec/schema.js";
import { CliError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

const NIL_UUID = "00000000-0000-0000-0000-000000000000";

export interface SpecFlags {
  file?: string;
  checkpoint?: string;
  hf?: string;
  url?: string;
  method?: string;
  pattern?: string;
  prior?: string;
  steps?: number;
  batchSize?: number;
  samples?: number;
  seqLen?: number;
  calibration?: string;
  eval?: string[];
  export?: string[];
  name?: string;
  tag?: string[];
}

type Body = Record<string, any>;

/** The spec file with the flags applied on top; throws a usage CliError on anything the API would refuse. */
export async function buildJobBody(flags: SpecFlags): Promise<Body> {
  let body: Body = {};
  if (flags.file) {
    let text: string;
    try {
      text = await readFile(flags.file, "utf8");
    } catch (err) {
      throw new CliError(`cannot read the spec file ${flags.file}: ${(err as Error).message}`, EXIT.usage);
    }
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new CliError(`${flags.file} is not valid JSON: ${(err as Error).message}`, EXIT.usage);
    }
  }
  const sources = [flags.checkpoint, flags.hf, flags.url].filter((s) => s !== undefined);
  if (sources.length > 1) throw new CliError("give one of --checkpoint, --hf, --url", EXIT.usage);
  if (flags.checkpoint) body.source = { checkpoint_id: flags.checkpoint };
  if (flags.hf) {
    const [repo, revision] = flags.hf.split("@", 2);
    body.source = { hf: { repo, ...(revision ? { revision } : {}) } };
  }
  if (flags.url) body.source = { url: flags.url };
  if (flags.method) {
    body.method = flags.method;
    // switching a maskllm file to a one-shot method: its prior and training cannot apply
    if ((ONE_SHOT_METHODS as readonly string[]).includes(flags.method)) {
      delete body.prior;
      delete body.training;
    }
  }
  if (flags.pattern) body.pattern = flags.pattern;
  if (flags.prior) body.prior = /^[0-9a-f-]{36}$/i.test(flags.prior) ? { mask_id: flags.prior } : flags.prior;
  if (flags.steps !== undefined || flags.batchSize !== undefined) {
    body.training = { ...body.training };
    if (flags.steps !== undefined) body.training.steps = flags.steps;
    if (flags.batchSize !== undefined) body.training.batch_size = flags.batchSize;
  }
  if (flags.samples !== undefined || flags.seqLen !== undefined || flags.calibration !== undefined) {
    body.calibration = { ...body.calibration };
    if (flags.samples !== undefined) body.calibration.samples = flags.samples;
    if (flags.seqLen !== undefined) body.calibration.seq_len = flags.seqLen;
    if (flags.calibration !== undefined) body.calibration.dataset = flags.calibration;
  }
  if (flags.eval) body.eval = { ...body.eval, datasets: flags.eval };
  if (flags.export) body.export = { ...body.export, formats: flags.export };
  if (flags.name !== undefined || flags.tag) {
    body.metadata = { ...body.metadata };
    if (flags.name !== undefined) body.metadata.name = flags.name;
    if (flags.tag) body.metadata.tags = flags.tag;
  }
  if (body.source === undefined) throw new CliError("say what to prune: -f jobs/<spec>.json, or --checkpoint <id> (from `maskforge checkpoints upload`), --hf <repo>[@rev] or --url <https url>", EXIT.usage);
  if (body.source?.checkpoint_id === NIL_UUID)
    throw new CliError(`the spec holds the placeholder checkpoint id ${NIL_UUID}: pass --checkpoint <id> (the id \`maskforge checkpoints upload <dir>\` printed)`, EXIT.usage);
  if (body.prior?.mask_id === NIL_UUID) throw new CliError(`the spec holds the placeholder mask id ${NIL_UUID}: pass --prior <mask id> (see \`maskforge masks list\`)`, EXIT.usage);
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new CliError(`the job spec is invalid:\n${parsed.errors.map((e) => `  - ${e.path || "(body)"} ${e.message}`).join("\n")}`, EXIT.usage);
  return body;
}
