// A value per key, kept for a short TTL, where concurrent misses of one key share one load: for answers that
// may be a little old but are asked for far more often than they change (a job's queue position). A failed
// load is not kept; the next call tries again. Bounded: past maxEntries the oldest key goes.
export class SingleFlightCache<V> {
  private readonly entries = new Map<string, { value: Promise<V>; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    // in flight: never expires until it settles, so every concurrent miss waits on this one load
    const entry = { value: load(), expires: Infinity };
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    entry.value.then(
      () => {
        entry.expires = Date.now() + this.ttlMs;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.value;
  }
}
