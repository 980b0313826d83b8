// mask_logits.safetensors says format "pt" like every safetensors file we write (transformers 4.32-4.46 refuse one
// without it) and is told apart by __metadata__.maskforge; files written before, whose format said
// "maskforge-mask-logits", still read, and a model's own safetensors file is refused as logits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMaskLogits, encodeMaskLogits, MASK_LOGITS_KIND } from "../../src/checkpoint/mask-logits.js";
import { SafetensorsReader } from "../../src/checkpoint/safetensors/reader.js";
import { bytesSource } from "../../src/checkpoint/safetensors/source.js";
import { encodeHeader } from "../../src/checkpoint/safetensors/writer.js";

const logits = new Map([["model.layers.0.mlp.up_proj.weight", Float32Array.from({ length: 12 }, (_, i) => i / 10)]]);

/** A file with these metadata and one tensor of `name`. */
function file(metadata: Record<string, string>, name: string): Uint8Array {
  const values = logits.get("model.layers.0.mlp.up_proj.weight")!;
  const header = encodeHeader([{ name, dtype: "F32", shape: [2, 6] }], metadata);
  const out = new Uint8Array(header.byteLength + values.byteLength);
  out.set(header);
  out.set(new Uint8Array(values.buffer), header.byteLength);
  return out;
}

test("a logits file says format pt and maskforge mask-logits, and reads back", async () => {
  const bytes = encodeMaskLogits(logits, 6, { pattern: "2:4", steps: 3, hyperparameters: { calib: "calib.txt" }, seed: 1 });
  const r = await SafetensorsReader.open(bytesSource(bytes));
  assert.equal(r.metadata.format, "pt");
  assert.equal(r.metadata.maskforge, MASK_LOGITS_KIND);
  await r.close();
  const back = await decodeMaskLogits(bytes);
  assert.deepEqual(back.logits, logits);
  assert.deepEqual(back.meta, { pattern: "2:4", steps: 3, hyperparameters: { calib: "calib.txt" }, seed: 1 });
});

test("a logits file written the old way (format maskforge-mask-logits) still reads; a model file is refused", async () => {
  const legacy = file({ format: "maskforge-mask-logits", version: "1", pattern: "2:4", steps: "5", hyperparameters: "{}" }, "model.layers.0.mlp.up_proj.weight.mask_logits");
  const back = await decodeMaskLogits(legacy);
  assert.deepEqual(back.logits, logits);
  assert.equal(back.meta.steps, 5);
  await assert.rejects(decodeMaskLogits(file({ format: "pt" }, "model.layers.0.mlp.up_proj.weight")), /not a mask-logits file/);
});
