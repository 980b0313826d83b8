// Lint rules that hold the folder boundaries of DEVELOPERS.md: the ML core imports only TF.js and itself,
// the API never reaches into the ML core or the worker, and only src/config.ts reads process.env.
import js from "@eslint/js";
import tseslint from "typescript-eslint";


export default tseslint.config(
  { ignores: ["node_modules/", ".data/", "openapi/", "**/*.d.ts", "test/fixtures/lint/**", "src/maskllm/kernels/assembly/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", AbortController: "readonly", AbortSignal: "readonly", fetch: "readonly", TextEncoder: "readonly", TextDecoder: "readonly", performance: "readonly", globalThis: "readonly", structuredClone: "readonly", setImmediate: "readonly", queueMicrotask: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/config.ts"],
    rules: {
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "Only src/config.ts reads process.env; take settings from Config." }],
    },
  },
  {
    files: ["src/maskllm/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { regex: "^(?!@tensorflow/|\\.{1,2}/).*", message: "src/maskllm is the pure ML core: it imports only TF.js and its own files." },
          { regex: "^\\.\\./\\.\\./", message: "src/maskllm imports only its own files." },
        ],
      }],
    },
  },
  {
    files: ["src/maskllm/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { regex: "^(?!@tensorflow/|\\.{1,2}/).*", message: "src/maskllm is the pure ML core: it imports only TF.js and its own files." },
          { regex: "^\\.\\./", message: "src/maskllm imports only its own files." },
        ],
      }],
    },
  },
  {
    files: ["src/api/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { regex: "(^|/)maskllm(/|$)", message: "The API never imports the ML core: it talks to workers through src/contract." },
          { regex: "(^|/)worker(/|$)", message: "The API never imports the worker: it talks to workers through src/contract." },
          { regex: "^@tensorflow/", message: "The API never loads TF.js." },
        ],
      }],
    },
  },
);
