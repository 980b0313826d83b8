// Exit codes of the client commands, so scripts can branch without parsing text. 0-2 follow the usual
// convention (ok, failure, usage); the rest name the outcomes a script most often needs to tell apart.
export const EXIT = {
  ok: 0,
  /** anything else: the API answered with an error, a file could not be written, ... */
  failure: 1,
  /** bad flags or arguments (also what commander's own parse errors map to) */
  usage: 2,
  /** the job ended failed or cancelled */
  jobFailed: 3,
  /** the job, checkpoint, mask or artifact does not exist (HTTP 404) */
  notFound: 4,
  /** no API key, or the API refused it (HTTP 401/403) */
  auth: 5,
  /** the API could not be reached, or answered 5xx/503 */
  unavailable: 6,
  /** the request conflicts with the current state (HTTP 409: idempotency key reuse, cancel of a final job) */
  conflict: 7,
  /** stopped by Ctrl-C (128 + SIGINT) */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
