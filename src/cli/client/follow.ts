// Watches one or more jobs at once on a progress board (a bar per job on a terminal, lines otherwise),
// printing stage changes, logs and artifacts as they happen. Used by `jobs watch`, `jobs create --watch`
// and the demo.
import type { ApiClient } from "./api-client.js";
import { eventLine, jobLabel, metricsOf, progressInfo } from "./job-format.js";
import type { ProgressBoard } from "./progress.js";
import type { JobView } from "../../contract/api/components.js";
import { watchJob } from "./watch.js";

export interface FollowOptions {
  signal?: AbortSignal;
  pollMs?: number;
  /** print event lines (stages, logs, artifacts) above the bars */
  events?: boolean;
  /** every job.metrics event's data, e.g. to keep curves */
  onMetrics?: (jobId: string, data: Record<string, unknown>) => void;
}

export async function followJobs(client: ApiClient, jobs: JobView[], board: ProgressBoard, opts: FollowOptions = {}): Promise<JobView[]> {
  const width = Math.max(...jobs.map((j) => jobLabel(j).length));
  return Promise.all(
    jobs.map(async (first) => {
      const label = jobLabel(first).padEnd(width);
      let latest: Record<string, unknown> | undefined;
      let job = first;
      const draw = () => board.set(job.id, label, { fraction: job.status === "succeeded" ? 1 : job.progress, info: progressInfo(job, latest) });
      draw();
      return watchJob(client, first.id, {
        signal: opts.signal,
        pollMs: opts.pollMs,
        onJob: (j) => {
          job = j;
          draw();
        },
        onEvent: (ev) => {
          const m = metricsOf(ev);
          if (m) {
            latest = { ...latest, ...m };
            opts.onMetrics?.(job.id, m);
            draw();
            return;
          }
          if (ev.type === "job.stage") latest = undefined;
          const line = opts.events === false ? undefined : eventLine(ev);
          if (line) board.log(`[${jobLabel(job)}] ${line}`);
        },
      });
    }),
  );
}
