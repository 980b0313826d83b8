// Every failure to read or write a checkpoint is a CheckpointError: a stable code for programs (the worker maps
// codes to run failures), the tensor concerned where there is one, and a sentence a user can act on.
export type CheckpointErrorCode =
  | "FILE_TOO_SMALL"
  | "HEADER_OUT_OF_BOUNDS"
  | "HEADER_TOO_LARGE"
  | "HEADER_NOT_JSON"
  | "HEADER_NOT_OBJECT"
  | "DUPLICATE_TENSOR"
  | "BAD_ENTRY"
  | "UNKNOWN_DTYPE"
  | "BAD_SHAPE"
  | "SHAPE_OVERFLOW"
  | "BAD_OFFSETS"
  | "OFFSETS_OUT_OF_RANGE"
  | "SIZE_MISMATCH"
  | "OVERLAPPING_TENSORS"
  | "NON_CONTIGUOUS"
  | "BAD_METADATA"
  | "READ_FAILED"
  | "TENSOR_NOT_FOUND"
  | "MISSING_TENSOR"
  | "WRONG_SHAPE"
  | "BAD_INDEX"
  | "NO_WEIGHTS"
  | "BAD_CONFIG"
  | "UNSUPPORTED_ARCHITECTURE"
  | "BAD_TOKENIZER"
  | "BAD_LLAMA2C"
  | "WRITE_FAILED"
  | "BAD_ARGUMENT";

export class CheckpointError extends Error {
  /** the file is fine, but describes a model (architecture, activation, RoPE variant) this code does not run */
  readonly unsupported: boolean;
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
    readonly tensor?: string,
    readonly file?: string,
    opts: { unsupported?: boolean } = {},
  ) {
    super(`${file ? `${file}: ` : ""}${tensor !== undefined ? `tensor '${tensor}': ` : ""}${message}`);
    this.name = "CheckpointError";
    this.unsupported = code === "UNSUPPORTED_ARCHITECTURE" || opts.unsupported === true;
  }
}

/** A dataset file that cannot be read as its format: the message names the line (JSONL), column (Parquet) or byte problem. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatasetError";
  }
}
