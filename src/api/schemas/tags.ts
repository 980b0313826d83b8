// OpenAPI tags: routes without a tag are hidden from the spec (hideUntagged), so each route picks one of these.
export const TAGS = [
  { name: "health", description: "liveness and readiness probes" },
] as const;

export type TagName = (typeof TAGS)[number]["name"];
