// Which files of a Hub dataset repo a spec's {hf_dataset} means: globs, and splits by HF's naming convention.
import assert from "node:assert/strict";
import { test } from "node:test";
import { globRegExp, selectHfFiles } from "../../src/worker/hf-dataset.js";

const REPO = [
  ".gitattributes", "README.md",
  "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "data/validation-00000-of-00001.parquet",
  "data/train_sft-00000-of-00003-a3ec.parquet", "data/test_sft-00000-of-00001.parquet",
  "raw/train/part-0.jsonl", "raw/trainer-notes.txt", "TinyStories-valid.txt", "wiki.test.txt",
];

test("files are paths or globs: * and ? within a folder, ** across folders; each must match", () => {
  assert.ok(globRegExp("data/*.parquet").test("data/train-00000-of-00002.parquet"));
  assert.ok(!globRegExp("*.parquet").test("data/train-00000-of-00002.parquet"));
  assert.ok(globRegExp("**/*.jsonl").test("raw/train/part-0.jsonl"));
  assert.ok(!globRegExp("data/train.parquet").test("data/trainXparquet"), "a dot is a dot");
  assert.deepEqual(selectHfFiles(REPO, { repo: "a/b", files: ["data/train-*.parquet", "wiki.test.txt"] }), ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "wiki.test.txt"]);
  assert.throws(() => selectHfFiles(REPO, { repo: "a/b", files: ["data/*.parquet", "data/*.csv"] }), /hf_dataset a\/b@main: files entry "data\/\*\.csv" matches none of the repo's files/);
});

test("split picks the data files named for it (default train) as HF datasets does, not files that merely contain the word", () => {
  // HF's separators are - . _ space and digits, so train_sft counts as train too: name the files to tell them apart
  assert.deepEqual(selectHfFiles(REPO, { repo: "a/b" }), ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "data/train_sft-00000-of-00003-a3ec.parquet", "raw/train/part-0.jsonl"]);
  assert.ok(!selectHfFiles(REPO, { repo: "a/b" }).includes("raw/trainer-notes.txt"));
  assert.deepEqual(selectHfFiles(REPO, { repo: "a/b", split: "validation" }), ["data/validation-00000-of-00001.parquet"]);
  assert.deepEqual(selectHfFiles(REPO, { repo: "a/b", split: "train_sft" }), ["data/train_sft-00000-of-00003-a3ec.parquet"]);
  assert.deepEqual(selectHfFiles(REPO, { repo: "a/b", split: "test" }), ["data/test_sft-00000-of-00001.parquet", "wiki.test.txt"]);
  assert.deepEqual(selectHfFiles(REPO, { repo: "a/b", split: "valid" }), ["TinyStories-valid.txt"]);
  assert.throws(() => selectHfFiles(REPO, { repo: "a/b", revision: "v1", split: "dev" }), /hf_dataset a\/b@v1: no \.parquet, \.jsonl or \.txt file of split "dev" \(name the files with `files`\); data files: data\/train-00000/);
});
