import { Type } from "typebox";
import { Nullable, Page, PageQuery, Timestamp } from "./common.js";

export const MaskSchema = Type.Object(
  {
    id: Type.String({ format: "uuid" }),
    pattern: Type.String({ description: "N:M" }),
    method: Type.String(),
    baseCheckpointId: Nullable(Type.String({ format: "uuid" })),
    baseSha256: Nullable(Type.String()),
    metrics: Type.Unknown(),
    lineage: Type.Object({
      jobId: Nullable(Type.String({ format: "uuid", description: "the job that learned it" })),
      parentMaskId: Nullable(Type.String({ format: "uuid", description: "the mask it was transferred from (its prior)" })),
    }),
    formats: Type.Array(Type.Enum(["npz", "logits"]), { description: "what /download?format= can serve" }),
    createdAt: Timestamp,
  },
  { $id: "Mask", title: "Mask" },
);

export const MaskListQuery = Type.Object({ ...PageQuery, pattern: Type.Optional(Type.String({ pattern: "^[0-9]{1,2}:[0-9]{1,2}$" })) });
export const MaskPage = Page(Type.Ref("Mask"), "a page of masks, newest first");
export const MaskDownloadQuery = Type.Object({
  format: Type.Optional(Type.Enum(["npz", "logits"], { default: "npz", description: "npz: bit-packed hard masks (MaskLLM's mask_compressed.npz); logits: learned logits (safetensors)" })),
});
