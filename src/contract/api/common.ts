// Pieces every /v1 resource schema shares: ids, list pages, timestamps.
import { Type, type TSchema } from "typebox";

export const UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

export const IdParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: "uuid of the object" }) });

export const Timestamp = Type.String({ format: "date-time" });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: "items per page" })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "nextCursor of the previous page, unchanged" })),
};

export const Page = <T extends TSchema>(item: T, description: string) =>
  Type.Object(
    {
      items: Type.Array(item),
      nextCursor: Type.Union([Type.String(), Type.Null()], { description: "pass as ?cursor= for the next page; null on the last page" }),
    },
    { description },
  );

/** Multipart bodies are streamed by the handler, not validated by ajv: this schema only documents them. */
export const multipartBody = (properties: Record<string, TSchema>, description: string) =>
  Type.Object(properties, { description });
