// JSON request bodies: nesting is bounded on the raw text, before JSON.parse or anything recursive (schema
// checks, structuredClone, hashing) sees it, so 200k levels of `[` are a 400, not a stack overflow.
import type { FastifyInstance } from "fastify";
import { MAX_SPEC_DEPTH } from "../contract/job-spec/storable-json.js";
import { HttpProblem, PROBLEM_TYPES } from "./problem.js";

/** deepest nesting of any JSON body the API takes (the job spec is the deepest) */
export const MAX_JSON_DEPTH = MAX_SPEC_DEPTH;

/** Whether JSON text nests arrays/objects deeper than `max` (brackets inside strings do not count). */
export function jsonTextDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Replaces Fastify's JSON parser with one that refuses deep nesting first (same parser otherwise). */
export function boundJsonDepth(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    if (jsonTextDeeperThan(body as string, MAX_JSON_DEPTH))
      return done(new HttpProblem(400, `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`, { type: PROBLEM_TYPES.validation }), undefined);
    parse(req, body as string, done);
  });
}
