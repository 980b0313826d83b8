// What Postgres' jsonb can store of a request body, checked before anything recursive reads it.

/** Deepest nesting a spec may have (the deepest valid one has 4 levels); checked before anything recursive runs. */
export const MAX_SPEC_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What makes a JSON value unstorable, found without recursion (so hostile depth cannot overflow the stack):
 * nesting deeper than `maxDepth`, or a string (key or value) Postgres' jsonb refuses: NUL or a lone surrogate.
 */
export function unstorableJson(value: unknown, maxDepth: number): string | null {
  const badText = (s: string) => s.includes("\u0000") || LONE_SURROGATE.test(s);
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "string" && badText(v)) return "holds a string with a NUL character or a lone UTF-16 surrogate";
    if (typeof v !== "object" || v === null) continue;
    if (depth > maxDepth) return `nests deeper than ${maxDepth} levels`;
    for (const [k, child] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      if (typeof k === "string" && badText(k)) return "holds a key with a NUL character or a lone UTF-16 surrogate";
      if (typeof child === "string" || (typeof child === "object" && child !== null)) stack.push([child, depth + 1]);
    }
  }
  return null;
}
