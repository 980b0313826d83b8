// Every dataset format round-trips to the token stream of the equivalent plain text (stories260K's tokenizer,
// BOS per document), conversations through the checkpoint's chat_template; bad files fail with the line,
// column or byte problem named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Template } from "@huggingface/jinja";
import { parquetWriteBuffer } from "hyparquet-writer";
import { datasetDocuments, fileDocuments, inferFormat } from "../../src/checkpoint/dataset-formats.js";
import { chatRenderer } from "../../src/checkpoint/chat-template.js";
import { DatasetError } from "../../src/checkpoint/errors.js";
import { importLlama2c } from "../../src/checkpoint/llama2c.js";
import { tokenizeStream } from "../../src/checkpoint/text-dataset.js";
import { loadTokenizer, type TextTokenizer } from "../../src/checkpoint/tokenizer.js";
import type { FormatChoice } from "../../src/contract/datasets.js";

const STORIES = resolve(process.cwd(), "../shared/models/stories260K");
const DOCS = ["Once upon a time there was a little cat.", "The dog ran fast.\nHe was happy and he smiled.", "Tom said hi to Lily. They played in the park."];
const CONVS = [
  [{ role: "user", content: "Tell me a story." }, { role: "assistant", content: "Once upon a time there was a cat." }],
  [{ role: "user", content: "Who ran?" }, { role: "assistant", content: "The dog ran fast." }],
];
const TEMPLATE = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

let tokenizer: Promise<{ plain: TextTokenizer; chat: TextTokenizer; dir: string }> | undefined;
/** stories260K's tokenizer, and the same with a chat template in tokenizer_config.json (the list form newer transformers write) */
function tokenizers() {
  return (tokenizer ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "mf-ds-"));
    await importLlama2c({ modelPath: join(STORIES, "stories260K.bin"), tokenizerPath: join(STORIES, "tok512.model"), outDir: join(dir, "hf") });
    const chatDir = join(dir, "chat");
    await importLlama2c({ modelPath: join(STORIES, "stories260K.bin"), tokenizerPath: join(STORIES, "tok512.model"), outDir: chatDir });
    const config = JSON.parse(await readFile(join(chatDir, "tokenizer_config.json"), "utf8"));
    await writeFile(join(chatDir, "tokenizer_config.json"), JSON.stringify({ ...config, chat_template: [{ name: "tool_use", template: "x" }, { name: "default", template: TEMPLATE }] }));
    return { plain: await loadTokenizer(join(dir, "hf")), chat: await loadTokenizer(chatDir), dir };
  })());
}

const bytes = (s: string) => new TextEncoder().encode(s);
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

function textParquet(docs: (string | null)[], rowGroupSize = 2): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "id", data: docs.map((_, i) => BigInt(i)), type: "INT64" }, { name: "text", data: docs, type: "STRING" }], rowGroupSize }));
}

/** list<struct<content, role>>, as HF datasets writes a `messages` feature */
function chatParquet(convs: { role: string; content: string }[][]): Uint8Array {
  const schema = [
    { name: "root", num_children: 1 },
    { name: "messages", repetition_type: "OPTIONAL", num_children: 1, converted_type: "LIST" },
    { name: "list", repetition_type: "REPEATED", num_children: 1 },
    { name: "element", repetition_type: "OPTIONAL", num_children: 2 },
    { name: "content", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
    { name: "role", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
  ] as Parameters<typeof parquetWriteBuffer>[0]["schema"];
  return new Uint8Array(parquetWriteBuffer({ schema, columnData: [{ name: "messages", data: convs }], rowGroupSize: 1 }));
}

async function stream(src: Uint8Array, format: FormatChoice, tok: TextTokenizer, fileName?: string): Promise<Int32Array> {
  const { docs } = await datasetDocuments({ bytes: src }, format, { name: "t", fileName, chat: chatRenderer(tok) });
  return tokenizeStream(tok, docs, { bos: tok.bosId });
}

test("text, stories, wikitext, JSONL text and Parquet text give the token stream of the plain text", async () => {
  const { plain: tok } = await tokenizers();
  assert.ok(tok.bosId !== undefined);
  const expected = await stream(bytes(DOCS.join("\n\n")), "text", tok);
  assert.deepEqual(expected, tokenizeStream(tok, DOCS, { bos: tok.bosId }));
  assert.equal(expected.filter((t) => t === tok.bosId).length, DOCS.length);
  assert.deepEqual(await stream(bytes(`\n${DOCS.join("\n \n\n")}\n\n`), "text", tok), expected, "runs of blank lines are one separator");
  assert.deepEqual(await stream(bytes(DOCS.join("<|endoftext|>") + "<|endoftext|>"), "stories", tok), expected);
  assert.deepEqual(await stream(bytes(DOCS.join("\u0000") + "\u0000"), "auto", tok), expected, "auto: separators → stories");
  assert.deepEqual(await stream(bytes(jsonl(DOCS.map((text) => ({ text, id: 1 })))), "jsonl", tok), expected);
  assert.deepEqual(await stream(bytes(jsonl(DOCS.map((text) => ({ text })))), "auto", tok, "train.jsonl"), expected, "auto: .jsonl");
  assert.deepEqual(await stream(textParquet(DOCS), "parquet", tok), expected, "two row groups");
  assert.deepEqual(await stream(textParquet([DOCS[0], null, DOCS[1], DOCS[2]]), "auto", tok), expected, "auto: PAR1 magic; null rows skipped");
  // wikitext: the whole file is one document, as a plain text of one document
  const one = DOCS.join("\n");
  assert.deepEqual(await stream(bytes(one), "wikitext", tok), await stream(bytes(one), "text", tok));
  assert.deepEqual(await stream(bytes(one), "auto", tok), await stream(bytes(one), "text", tok), "auto: no separators → one document");
  // a field other than text
  assert.deepEqual(await stream(bytes(jsonl(DOCS.map((body) => ({ body, text: 3 })))), "jsonl", tok).catch((e: Error) => e.message), "t: line 1: `text` must be a string or a `messages` array, got number");
  const { docs } = await datasetDocuments({ bytes: bytes(jsonl(DOCS.map((body) => ({ body })))) }, "jsonl", { name: "t", field: "body" });
  assert.deepEqual(docs, DOCS);
});

test("chat datasets (JSONL and Parquet messages) render each conversation with the checkpoint's chat_template, one BOS each", async () => {
  const { chat: tok } = await tokenizers();
  assert.equal(tok.chat?.template, TEMPLATE, "the default template of the list");
  const render = new Template(TEMPLATE);
  const rendered = CONVS.map((messages) => render.render({ messages, bos_token: "<s>", eos_token: "</s>", add_generation_prompt: false }));
  assert.ok(rendered.every((r) => r.startsWith("<s><|user|>\n")), rendered[0]);
  // the stream's own BOS stands for the template's: the plain equivalent is the rendered text without it
  const expected = tokenizeStream(tok, rendered.map((r) => r.slice("<s>".length)), { bos: tok.bosId });
  assert.equal(expected.filter((t) => t === tok.bosId).length, CONVS.length, "one BOS per conversation");
  assert.ok(expected.includes(tok.eosId!), "the template's eos_token is the EOS token");
  assert.deepEqual(await stream(bytes(jsonl(CONVS.map((messages) => ({ messages })))), "jsonl", tok), expected);
  assert.deepEqual(await stream(chatParquet(CONVS), "parquet", tok), expected);
  assert.deepEqual(await stream(chatParquet(CONVS), "auto", tok, "data/train-00000-of-00001.parquet"), expected);
});

async function rejects(p: Promise<unknown>, message: RegExp) {
  await assert.rejects(p, (err: unknown) => err instanceof DatasetError && message.test(err.message), String(message));
}

test("bad files fail with the line (JSONL), the column (Parquet) or the byte problem named", async () => {
  const { plain, chat } = await tokenizers();
  const read = (src: Uint8Array, format: FormatChoice, tok = plain, field?: string) => datasetDocuments({ bytes: src }, format, { name: "dataset d.jsonl", chat: chatRenderer(tok), field });
  await rejects(read(bytes('{"text": "a"}\n\n{"text": "b"\n'), "jsonl"), /^dataset d\.jsonl: line 3: not valid JSON .*expected a JSON object with a string `text` or a `messages` array$/);
  await rejects(read(bytes('{"text": "a"}\n[1, 2]\n'), "jsonl"), /^dataset d\.jsonl: line 2: expected a JSON object with a string `text` or a `messages` array$/);
  await rejects(read(bytes('{"text": "a"}\n{"prompt": "b"}\n'), "jsonl"), /line 2: expected a JSON object/);
  await rejects(read(bytes('{"text": "a"}\n'), "jsonl", plain, "body"), /line 1: no `body` key/);
  await rejects(read(bytes(jsonl([{ messages: CONVS[0] }])), "jsonl"), /line 1: a `messages` conversation needs the checkpoint's chat_template, and its tokenizer_config.json has none/);
  await rejects(read(bytes(jsonl([{ text: "a" }, { messages: [{ role: "user" }] }])), "jsonl", chat), /line 2: messages\[0\] must be an object with string `role` and `content`/);
  await rejects(read(new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "content", data: ["a"], type: "STRING" }, { name: "id", data: [1n], type: "INT64" }] })), "parquet"), /column `text` not found; columns: content, id$/);
  await rejects(read(new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "text", data: [1n], type: "INT64" }] })), "parquet"), /column `text` has type int64, expected string/);
  await rejects(read(textParquet(DOCS), "parquet", plain, "id"), /column `id` has type int64/);
  await rejects(read(chatParquet(CONVS), "parquet"), /row 0 of column `messages`: a `messages` conversation needs the checkpoint's chat_template/);
  await rejects(read(bytes(jsonl(DOCS.map((text) => ({ text })))), "parquet"), /is not a Parquet file \(it does not start with PAR1\)/);
  await rejects(read(textParquet(DOCS), "text"), /is a Parquet file; use format parquet/);
  await rejects(read(textParquet(DOCS).slice(0, 40), "parquet"), /not a readable Parquet file/);
  await rejects(read(new Uint8Array([...bytes("line one\nline two\n"), 0xff, 0xfe]), "auto"), /is not UTF-8 text \(first bad byte near line 3\)/);
  await rejects(read(new Uint8Array(0), "auto"), /^dataset d\.jsonl is empty$/);
  // a file on disk (the CLI's path) reads the same way and is named by its path
  const { dir } = await tokenizers();
  const path = join(dir, "chat.jsonl");
  await writeFile(path, jsonl(CONVS.map((messages) => ({ messages }))));
  assert.equal((await fileDocuments(path, "auto", chat)).docs.length, 2);
  await assert.rejects(fileDocuments(path, "auto", plain), (e: Error) => e.message.startsWith(`${path}: line 1:`));
});

test("auto infers only where unambiguous", () => {
  const par1 = bytes("PAR1");
  assert.equal(inferFormat(par1, "x.txt"), "parquet");
  assert.equal(inferFormat(bytes("abcd"), "x.PARQUET"), "parquet");
  assert.equal(inferFormat(bytes("{\"te"), "x.jsonl"), "jsonl");
  assert.equal(inferFormat(bytes("{\"te"), "x.json"), "stories", "JSON without the JSONL name stays text (stories unless the text says otherwise)");
  assert.equal(inferFormat(bytes("abcd"), undefined, "one text"), "wikitext");
  assert.equal(inferFormat(bytes("abcd"), undefined, "a<|endoftext|>b"), "stories");
});
