// Progress for long work: bars (cli-progress) when the stream is a terminal, otherwise plain lines that a
// log file or CI can read (one per change of phase, and at most one per `everyMs` while a row advances).
import cliProgress from "cli-progress";

export interface Row {
  /** 0..1 */
  fraction: number;
  /** short text after the bar: stage, step, loss, ... */
  info?: string;
}

export interface ProgressBoard {
  /** creates the row on first use */
  set(key: string, label: string, row: Row): void;
  /** a line above the bars (or just a line) */
  log(line: string): void;
  stop(): void;
}

export interface BoardOptions {
  stream?: NodeJS.WriteStream;
  /** force bars on/off; default: bars when `stream` is a TTY */
  tty?: boolean;
  /** non-TTY: minimum time between two lines of one row whose phase did not change */
  everyMs?: number;
}

const pct = (f: number) => `${Math.round(Math.max(0, Math.min(1, f)) * 100)}%`;

export function progressBoard(opts: BoardOptions = {}): ProgressBoard {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  return tty ? barBoard(stream) : lineBoard(stream, opts.everyMs ?? 5000);
}

function barBoard(stream: NodeJS.WriteStream): ProgressBoard {
  const multi = new cliProgress.MultiBar(
    { stream, format: "{label} |{bar}| {percentage}% {info}", barsize: 28, hideCursor: true, clearOnComplete: false, stopOnComplete: false, autopadding: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  const width = { label: 0 };
  return {
    set(key, label, row) {
      width.label = Math.max(width.label, label.length);
      const payload = { label: label.padEnd(width.label), info: row.info ?? "" };
      const value = Math.round(Math.max(0, Math.min(1, row.fraction)) * 1000);
      const bar = bars.get(key);
      if (bar) bar.update(value, payload);
      else bars.set(key, multi.create(1000, value, payload));
    },
    log(line) {
      multi.log(`${line}\n`);
    },
    stop() {
      multi.stop();
    },
  };
}

function lineBoard(stream: NodeJS.WriteStream, everyMs: number): ProgressBoard {
  const last = new Map<string, { at: number; phase: string; text: string }>();
  return {
    set(key, label, row) {
      const info = row.info ?? "";
      // the phase is the first word of info (the stage or status): a change there is always printed
      const phase = info.split(" ", 1)[0];
      const text = `${label} ${pct(row.fraction)} ${info}`.trimEnd();
      const prev = last.get(key);
      const now = Date.now();
      if (prev && prev.text === text) return;
      if (prev && prev.phase === phase && now - prev.at < everyMs && row.fraction < 1) return;
      last.set(key, { at: now, phase, text });
      stream.write(`${text}\n`);
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {},
  };
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
