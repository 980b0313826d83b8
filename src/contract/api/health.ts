import { Type, type Static } from "typebox";
import { problemContent, problemProperties } from "./problem.js";

export const CHECK_NAMES = ["postgres", "redis", "storage"] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

const CheckResult = Type.Enum(["ok", "failed", "timeout"]);
export const ChecksSchema = Type.Object({ postgres: CheckResult, redis: CheckResult, storage: CheckResult });
export type Checks = Static<typeof ChecksSchema>;

export const LiveSchema = Type.Object({ status: Type.Literal("ok") });

export const ReadySchema = Type.Object({ status: Type.Literal("ready"), checks: ChecksSchema });

export const NotReadySchema = Type.Object(
  { ...problemProperties, checks: ChecksSchema },
  { description: "RFC 9457 problem naming the dependencies that failed" },
);

export const NotReadyResponse = problemContent(NotReadySchema);
