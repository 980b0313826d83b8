// Calibration and evaluation text (POST /v1/files): one UTF-8 file per request, streamed into storage (the
// files repository), checked for valid UTF-8 on the way, referred to from job specs as file:<id>.
import { pipeline, Transform, type TransformCallback } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { FILE_PURPOSES, FileListQuery, FilePage, FileUploadBody } from "../../../contract/api/files.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { listPage } from "./common.js";
import { UPLOAD_INVALID, uploadProblem } from "./upload-errors.js";
import { fileView } from "./views.js";

/** Fails the stream at the first byte sequence that is not UTF-8. */
class Utf8Check extends Transform {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      return done(new HttpProblem(422, "the file is not UTF-8 text; nothing was kept", { type: UPLOAD_INVALID }));
    }
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
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
        summary: "Upload a calibration or evaluation text file",
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
          row = await upload.store({ name, purpose, body: pipeline(part.file, new Utf8Check(), () => {}) });
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
    { schema: { tags: ["files"], summary: "Your uploaded text files, newest first", querystring: FileListQuery, response: { 200: FilePage, ...problemResponses(400, 401, 429) } } },
    async (req) => {
      const page = await listPage(() => app.files.list(req.auth.tenantId, req.query));
      return { items: page.items.map(fileView), nextCursor: page.nextCursor };
    },
  );
};

export default filesRoutes;
