// autocannon ships no types: the part of its API bench/api.ts uses.
declare module "autocannon" {
  interface Result {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  }
  function autocannon(opts: { url: string; headers?: Record<string, string>; duration: number; connections: number }): Promise<Result>;
  export default autocannon;
}
