import { Type } from "typebox";
import { multipartBody, Nullable, Page, PageQuery, Timestamp } from "./common.js";

export const CheckpointFileSchema = Type.Object({ name: Type.String(), bytes: Type.Integer({ minimum: 0 }), sha256: Type.String() });

export const CheckpointSchema = Type.Object(
  {
    id: Type.String({ format: "uuid" }),
    status: Type.Enum(["uploading", "ready", "invalid"]),
    architecture: Nullable(Type.String()),
    bytes: Type.Integer({ minimum: 0 }),
    sha256: Nullable(Type.String({ description: "sha256 over the sorted list of (name, sha256) of the files" })),
    files: Type.Array(CheckpointFileSchema),
    config: Type.Unknown({ description: "config.json as uploaded" }),
    error: Nullable(Type.String()),
    createdAt: Timestamp,
  },
  { $id: "Checkpoint", title: "Checkpoint" },
);

export const CheckpointListQuery = Type.Object({ ...PageQuery, status: Type.Optional(Type.Enum(["uploading", "ready", "invalid"])) });
export const CheckpointPage = Page(Type.Ref("Checkpoint"), "a page of checkpoints, newest first");

export const CheckpointUploadBody = multipartBody(
  {
    files: Type.Array(Type.String({ format: "binary" }), {
      description: "the files of one Hugging Face folder (config.json, *.safetensors, tokenizer files), each part named by its filename; or a single .tar of the folder",
    }),
  },
  "multipart/form-data, streamed into storage; only safetensors weights are accepted",
);
