// Calibration and evaluation datasets (POST /v1/files): one file per request, UTF-8 text (plain, stories,
// WikiText, JSONL) or Parquet, streamed into storage (the files repository), checked on the way, referred to from
// job specs as file:<id>. The name's extension (.jsonl, .parquet) is what a spec's format auto reads.
import { pipeline, Transform, type TransformCallback } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { FILE_PURPOSES, FileListQuery, FilePage, FileUploadBody } from "../../../contract/api/files.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { listPage } from "./common.js";
import { UPLOAD_INVALID, uploadProblem } from "./upload-errors.js";
import { fileView } from "./views.js";

const PAR1 = Buffer.from("PAR1");

/**
 * Fails the stream at the first byte sequence that is not UTF-8, unless the file is Parquet: it starts with the
 * magic PAR1 and must end with it too (a truncated Parquet file has no footer); its columns are checked by the
 * worker, which reads them. Empty files are refused either way.
 */
class ContentCheck extends Transform {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private head = Buffer.alloc(0);
  private parquet: boolean | undefined;
  private tail = Buffer.alloc(0);
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.parquet === undefined) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 4) return done();
      this.parquet = this.head.subarray(0, 4).equals(PAR1);
      chunk = this.head;
      this.head = Buffer.alloc(0);
    }
    if (this.parquet) this.tail = Buffer.concat([this.tail, chunk]).subarray(-4);
    else
      try {
        this.decoder.decode(chunk, { stream: true });
      } catch {
        return done(new HttpProblem(422, "the file is neither UTF-8 text nor Parquet; nothing was kept", { type: UPLOAD_INVALID }));
      }
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    if (this.seen === 0) return done(new HttpProblem(422, "the file is empty; nothing was kept", { type: UPLOAD_INVALID }));
    if (this.parquet === undefined) {
      // fewer than 4 bytes: text or nothing
      try {
        this.decoder.decode(this.head);
      } catch {
        return done(new HttpProblem(422, "the file is not UTF-8 text; nothing was kept", { type: UPLOAD_INVALID }));
      }
      this.push(this.head);
      return done();
    }
    if (this.parquet) return done(this.tail.equals(PAR1) ? undefined : new HttpProblem(422, "the Parquet file does not end with its footer (truncated?); nothing was kept", { type: UPLOAD_INVALID }));
    try {
      this.decoder.decode();
    } catch {
      return done(new HttpProblem(422, "the file ends inside a UTF-8 character (truncated?); nothing was kept", { type: UPLOAD_INVALID }));
    }
    done();
  }
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what the name must not hold
const NAME = /^[^\u0000-\u001f/\\]{1,200}$/;

const filesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limit = app.config.limits.uploadFileBytes;

  app.post(
    "/files",
    {
      schema: {
        tags: ["files"],
        summary: "Upload a calibration or evaluation dataset (UTF-8 text, JSONL or Parquet)",
        consumes: ["multipart/form-data"],
        body: FileUploadBody,
        response: { 201: Type.Ref("DataFile"), ...problemResponses(400, 401, 413, 415, 422, 429) },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw new HttpProblem(415, "send the file as multipart/form-data");
      const upload = app.files.upload(req.auth.tenantId);
      let purpose: string = "calibration";
      let row;
      try {
        for await (const part of req.parts()) {
          if (part.type === "field") {
            if (part.fieldname !== "purpose") throw new HttpProblem(400, `unknown field ${JSON.stringify(part.fieldname)}; allowed: purpose, file`, { type: PROBLEM_TYPES.validation });
            if (!(FILE_PURPOSES as readonly string[]).includes(String(part.value)))
              throw new HttpProblem(400, `purpose must be one of ${FILE_PURPOSES.join(", ")}`, { type: PROBLEM_TYPES.validation, errors: [{ location: "body", pointer: "/purpose", detail: `must be one of ${FILE_PURPOSES.join(", ")}` }] });
            purpose = String(part.value);
            continue;
          }
          if (row) throw new HttpProblem(400, "send one file per request", { type: PROBLEM_TYPES.validation });
          const name = part.filename || "data.txt";
          if (!NAME.test(name)) throw new HttpProblem(400, "the file name must be 1-200 characters without slashes or control characters", { type: PROBLEM_TYPES.validation });
          row = await upload.store({ name, purpose, body: pipeline(part.file, new ContentCheck(), () => {}) });
        }
        if (!row) throw new HttpProblem(400, "the request has no file part", { type: PROBLEM_TYPES.validation });
      } catch (err) {
        await upload.discard();
        throw uploadProblem(err, { file: limit, total: limit }) ?? err;
      }
      return reply.code(201).header("location", `/v1/files/${upload.id}`).send(fileView(row));
    },
  );

  app.get(
    "/files",
    { schema: { tags: ["files"], summary: "Your uploaded dataset files, newest first", querystring: FileListQuery, response: { 200: FilePage, ...problemResponses(400, 401, 429) } } },
    async (req) => {
      const page = await listPage(() => app.files.list(req.auth.tenantId, req.query));
      return { items: page.items.map(fileView), nextCursor: page.nextCursor };
    },
  );
};

export default filesRoutes;
