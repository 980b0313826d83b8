// LISTENs on one dedicated connection for the job changes that the triggers of the job_change_notify
// migration announce (payload: the job id, or ALL_JOBS after a TRUNCATE). A notification sent while nobody
// listens is lost for good, so the owner is told when listening starts and when it stops: a cache fed by this
// is only trustworthy in between. A lost connection is reopened with capped exponential backoff.
import pg from "pg";

export const JOB_CHANGES_CHANNEL = "maskforge_job_changes";
/** payload meaning "any job may have changed" */
export const ALL_JOBS = "*";
/** application_name of the connection, so it can be told apart in pg_stat_activity */
export const LISTENER_APPLICATION_NAME = "maskforge-job-changes";

export interface JobChangeHandlers {
  /** a job changed (or ALL_JOBS), in commit order */
  onChange(jobId: string): void;
  /** LISTEN is in place: every change committed from now on is reported */
  onListening(): void;
  /** not listening (the connection failed or dropped); changes go unreported until the next onListening */
  onLost(err: Error | undefined): void;
}

export interface ReconnectDelays {
  /** first retry after this long */
  minMs: number;
  /** the delay doubles up to this */
  maxMs: number;
}

export const DEFAULT_RECONNECT: ReconnectDelays = { minMs: 200, maxMs: 10_000 };

export class JobChangeListener {
  private client: pg.Client | null = null;
  private retry: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  private up = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly handlers: JobChangeHandlers,
    private readonly reconnect: ReconnectDelays = DEFAULT_RECONNECT,
  ) {}

  /** whether changes are being reported right now */
  get listening(): boolean {
    return this.up;
  }

  start(): void {
    this.stopped = false;
    if (!this.client && !this.retry) void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const client = this.client;
    this.client = null;
    this.up = false;
    if (client) await client.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    this.retry = null;
    // keepAlive: a silently dead peer is noticed by TCP instead of leaving us "listening" to nothing
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5000, keepAlive: true, application_name: LISTENER_APPLICATION_NAME });
    this.client = client;
    client.on("notification", (n) => {
      if (this.client === client && n.channel === JOB_CHANGES_CHANNEL && n.payload) this.handlers.onChange(n.payload);
    });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_CHANGES_CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.client !== client) return; // stopped, or dropped while LISTEN was on its way
    this.failures = 0;
    this.up = true;
    this.handlers.onListening();
  }

  private lost(client: pg.Client, err: Error | undefined): void {
    if (this.client !== client) return; // already handled, or our own stop()
    this.client = null;
    this.up = false;
    this.handlers.onLost(err);
    client.end().catch(() => {});
    if (this.stopped) return;
    const base = Math.min(this.reconnect.maxMs, this.reconnect.minMs * 2 ** this.failures++);
    // jitter, so replicas that lost the same server do not all come back in the same millisecond
    this.retry = setTimeout(() => void this.connect(), base * (0.5 + Math.random() / 2));
    this.retry.unref();
  }
}
