// An N:M pattern as a value: keep N of every M consecutive weights along a linear's input dimension. Plain
// TypeScript with no TF.js, so the job contract (and through it the API) parses patterns with this same code.

export interface NMPattern {
  n: number;
  m: number;
}

/** "2:4" → {n: 2, m: 4}; throws RangeError unless 1 <= N < M <= 16. */
export function parsePattern(s: string): NMPattern {
  const match = /^(\d+):(\d+)$/.exec(s.trim());
  if (!match) throw new RangeError(`pattern must look like "2:4", got ${JSON.stringify(s)}`);
  const p = { n: Number(match[1]), m: Number(match[2]) };
  assertPattern(p);
  return p;
}

export function assertPattern({ n, m }: NMPattern): void {
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || n >= m || m > 16)
    throw new RangeError(`N:M needs integers 1 <= N < M <= 16, got ${n}:${m}`);
}

export function formatPattern({ n, m }: NMPattern): string {
  return `${n}:${m}`;
}

