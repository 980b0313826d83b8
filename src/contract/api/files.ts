import { Type } from "typebox";
import { multipartBody, Page, PageQuery, Timestamp } from "./common.js";

export const FILE_PURPOSES = ["calibration", "eval"] as const;

export const DataFileSchema = Type.Object(
  {
    id: Type.String({ format: "uuid" }),
    name: Type.String(),
    purpose: Type.Enum(FILE_PURPOSES),
    bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String(),
    ref: Type.String({ description: "use as calibration.dataset or in eval.datasets: file:<id>" }),
    createdAt: Timestamp,
  },
  { $id: "DataFile", title: "DataFile" },
);

export const FilePage = Page(Type.Ref("DataFile"), "a page of files, newest first");
export const FileListQuery = Type.Object({ ...PageQuery });
export const FileUploadBody = multipartBody(
  {
    purpose: Type.Optional(Type.Enum(FILE_PURPOSES, { description: "field before the file; default calibration" })),
    file: Type.String({ format: "binary", description: "UTF-8 text (plain, stories, WikiText, JSONL) or a Parquet file; the name's extension (.jsonl, .parquet) tells format auto which" }),
  },
  "multipart/form-data with one file part",
);
