// `npm run bench:upload`: a 2 GB checkpoint (config.json + one generated safetensors file, streamed, never
// held in memory) uploaded as multipart to an API in a child process. Prints MB/s and the API's RSS growth
// (goal: under 100 MB) and one JSON line. BENCH_UPLOAD_BYTES changes the size.
import { request } from "node:http";
import { toHfConfig } from "../src/checkpoint/hf-config.js";
import { benchTenant, rssOf, startApi } from "./api-child.js";

const target = Number(process.env.BENCH_UPLOAD_BYTES ?? 2 * 1024 ** 3);
const elements = Math.floor(target / 4);
const tensorBytes = elements * 4;

const config = JSON.stringify(toHfConfig({ architecture: "LlamaForCausalLM", vocabSize: 8, hiddenSize: 4, intermediateSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 2, headDim: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 16, tieWordEmbeddings: false, attentionBias: false }));
let header = JSON.stringify({ "model.embed_tokens.weight": { dtype: "F32", shape: [elements], data_offsets: [0, tensorBytes] } });
header += " ".repeat((8 - (header.length % 8)) % 8);
const prefix = Buffer.alloc(8);
prefix.writeBigUInt64LE(BigInt(header.length));

const boundary = "----maskforgebench";
const head1 = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="files"; filename="config.json"\r\ncontent-type: application/json\r\n\r\n${config}\r\n`);
const head2 = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="files"; filename="model.safetensors"\r\ncontent-type: application/octet-stream\r\n\r\n`);
const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
const fileBytes = 8 + header.length + tensorBytes;
const contentLength = head1.length + head2.length + fileBytes + tail.length;

const api = await startApi({ MAX_UPLOAD_FILE_BYTES: String(8 * 1024 ** 3), MAX_UPLOAD_TOTAL_BYTES: String(16 * 1024 ** 3) });
const tenant = await benchTenant();
try {
  const rssBefore = await rssOf(api.child.pid!);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => void rssOf(api.child.pid!).then((r) => (rssPeak = Math.max(rssPeak, r))), 100);
  const started = performance.now();
  const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${api.base}/v1/checkpoints`, { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": contentLength } }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    const zeros = Buffer.alloc(1024 * 1024);
    let left = tensorBytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, zeros.length);
        left -= n;
        if (!req.write(n === zeros.length ? zeros : zeros.subarray(0, n))) return void req.once("drain", pump);
      }
      req.end(tail);
    };
    req.write(head1);
    req.write(head2);
    req.write(prefix);
    req.write(header);
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (result.status !== 201) throw new Error(`upload answered ${result.status}: ${result.body.slice(0, 500)}`);
  const mbPerS = contentLength / 1e6 / seconds;
  const growth = rssPeak - rssBefore;
  console.log(`uploaded ${(contentLength / 1e9).toFixed(2)} GB in ${seconds.toFixed(1)} s: ${mbPerS.toFixed(1)} MB/s`);
  console.log(`API RSS ${(rssBefore / 1e6).toFixed(0)} MB before, peak ${(rssPeak / 1e6).toFixed(0)} MB: growth ${(growth / 1e6).toFixed(1)} MB (goal < 100 MB)`);
  console.log(JSON.stringify({ bench: "upload", bytes: contentLength, seconds: Number(seconds.toFixed(2)), mbPerS: Number(mbPerS.toFixed(1)), rssBeforeMB: Number((rssBefore / 1e6).toFixed(1)), rssPeakMB: Number((rssPeak / 1e6).toFixed(1)), rssGrowthMB: Number((growth / 1e6).toFixed(1)), goalMet: growth < 100e6 }));
} finally {
  await tenant.cleanup();
  await api.stop();
}
