// The API-worker contract in one import: the job spec, the status machine, event names, error classes and
// queue names. Nothing here touches the database, the network or TF.js, so both sides can load it.
export * from "./datasets.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./job-spec/examples.js";
export * from "./job-spec/network-policy.js";
export * from "./job-spec/parse.js";
export * from "./job-spec/schema.js";
export type { SpecError } from "./job-spec/schema-errors.js";
export * from "./job-spec/source.js";
export * from "./job-spec/storable-json.js";
export * from "./queues.js";
export * from "./status.js";
