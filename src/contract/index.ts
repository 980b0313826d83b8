// The API-worker contract in one import: the job spec, the status machine, event names, error classes and
// queue names. Nothing here touches the database, the network or TF.js, so both sides can load it.
export * from "./datasets.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./job-spec.js";
export * from "./queues.js";
export * from "./status.js";
