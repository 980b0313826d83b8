// In-process cache of readJobWithResults answers, kept correct by change notifications (job-change-listener.ts)
// rather than by short expiry, because workers in other processes update jobs all the time. Three rules make it
// safe: it only serves while enabled (its owner enables it once notifications flow, and disables it when they
// stop); a read that a change (or a flush) overtook is returned but not stored, since it may predate the change;
// and "not found" is never stored, so a new job is visible at once. Entries also expire after a TTL, a safety net
// for a notification lost on a connection that died silently.
import type { JobWithResults } from "./job-reads.js";

export const JOB_CACHE_MAX_ENTRIES = 10_000;
export const JOB_CACHE_TTL_MS = 30_000;

export type JobLoader = (tenantId: string, jobId: string) => Promise<JobWithResults | null>;

interface Entry {
  value: JobWithResults;
  expires: number;
}

/** Reads of one job in flight, and how many changes of it arrived meanwhile. */
interface InFlight {
  readers: number;
  generation: number;
}

export class JobReadCache {
  private readonly entries = new Map<string, Entry>();
  // only ids with a read in flight: a change of any other id needs no counting, dropping its entry is enough
  private readonly inFlight = new Map<string, InFlight>();
  private enabled = false;
  // bumped by every flush, so a read that started before one is not stored after it
  private epoch = 0;

  constructor(
    private readonly load: JobLoader,
    private readonly opts: { maxEntries?: number; ttlMs?: number } = {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The job of this tenant, as readJobWithResults answers it (null: missing, or another tenant's). */
  async read(tenantId: string, jobId: string): Promise<JobWithResults | null> {
    if (!this.enabled) return this.load(tenantId, jobId);
    const hit = this.entries.get(jobId);
    if (hit) {
      // another tenant's job reads as missing, exactly as the tenant-scoped query answers it
      if (hit.expires > Date.now()) return hit.value.job.tenantId === tenantId ? hit.value : null;
      this.entries.delete(jobId);
    }
    let flight = this.inFlight.get(jobId);
    if (!flight) this.inFlight.set(jobId, (flight = { readers: 0, generation: 0 }));
    flight.readers++;
    const { generation } = flight;
    const epoch = this.epoch;
    try {
      const value = await this.load(tenantId, jobId);
      if (value && this.enabled && epoch === this.epoch && generation === flight.generation) this.store(jobId, value);
      return value;
    } finally {
      if (--flight.readers === 0) this.inFlight.delete(jobId);
    }
  }

  /** The job changed: drop it, and keep the reads in flight from storing what they got. */
  invalidate(jobId: string): void {
    this.entries.delete(jobId);
    const flight = this.inFlight.get(jobId);
    if (flight) flight.generation++;
  }

  /** Any job may have changed. */
  flush(): void {
    this.entries.clear();
    this.epoch++;
  }

  /** Notifications flow from now on: start from empty, since changes before this were not seen. */
  enable(): void {
    this.flush();
    this.enabled = true;
  }

  /** Notifications stopped: serve every read from the database until enable(). */
  disable(): void {
    this.enabled = false;
    this.flush();
  }

  private store(jobId: string, value: JobWithResults): void {
    this.entries.delete(jobId); // re-insert at the end: the Map's order is the eviction order
    this.entries.set(jobId, { value, expires: Date.now() + (this.opts.ttlMs ?? JOB_CACHE_TTL_MS) });
    if (this.entries.size > (this.opts.maxEntries ?? JOB_CACHE_MAX_ENTRIES)) this.entries.delete(this.entries.keys().next().value!);
  }
}
