// Lets this process's WebAssembly use relaxed SIMD (V8 ships it behind a flag in Node 20), so the kernels' FMA
// build (src/maskllm/kernels: f32x4.relaxed_madd in the GEMM tile, ~1.3-1.5× its rate on this project's AVX2/FMA
// machines) can compile; where it cannot, the kernels fall back to their plain build. V8's flags are per process
// (worker threads included) and are read when a module is compiled, so entry points import this first. Plain JS:
// the test command loads it with --import, which worker threads inherit before any TypeScript loader is in place.
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--experimental-wasm-relaxed-simd");
