// What a failed upload tells the client: the limits are 413, a body that breaks off or is not well-formed
// multipart is 400, content that is not what it claims (not safetensors, unsupported model) is 422.
import { CheckpointError } from "../../../checkpoint/errors.js";
import { BlobTooLargeError } from "../../../storage/index.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";

export const UPLOAD_INVALID = "urn:maskforge:problem:upload-invalid";
export const UPLOAD_TOO_LARGE = "urn:maskforge:problem:upload-too-large";

export function uploadProblem(err: unknown, limits: { file: number; total: number }): HttpProblem | null {
  if (err instanceof HttpProblem) return err;
  if (err instanceof BlobTooLargeError || (err as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE")
    return new HttpProblem(413, `the upload is over the limit (${limits.file} bytes per file, ${limits.total} bytes in all); nothing was kept`, { type: UPLOAD_TOO_LARGE });
  if (err instanceof CheckpointError) {
    const status = err.code === "BAD_ARGUMENT" ? 400 : 422;
    return new HttpProblem(status, `${err.message}; nothing was kept`, { type: status === 400 ? PROBLEM_TYPES.validation : UPLOAD_INVALID, code: err.code });
  }
  const code = (err as { code?: string }).code ?? "";
  const message = (err as Error).message ?? "";
  if (code.startsWith("FST_") && typeof (err as { statusCode?: number }).statusCode === "number" && (err as { statusCode: number }).statusCode < 500)
    return new HttpProblem((err as { statusCode: number }).statusCode === 406 ? 415 : (err as { statusCode: number }).statusCode, `${message}; nothing was kept`);
  if (/Unexpected end of (form|multipart)|Malformed|boundary/i.test(message) || code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE")
    return new HttpProblem(400, `the multipart body is malformed or was cut off (${message}); nothing was kept`, { type: UPLOAD_INVALID });
  return null;
}
