// Lint rules that hold the folder boundaries of DEVELOPERS.md: the ML core imports only TF.js and itself,
// the API never reaches into the ML core or the worker, and only src/config.ts reads process.env; and no module
// imports itself back through others.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

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
    // No import cycles, everywhere (src, test, bench, scripts), with no exceptions. The rule skips type-only
    // imports, which test/lint/import-cycles.test.ts counts too. Sources import ".js" paths that name ".ts" files,
    // as NodeNext resolves them; packages are neither followed nor parsed.
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".mjs", ".js", ".json"], extensionAlias: { ".js": [".ts", ".js"] } })],
      "import-x/extensions": [".ts", ".js", ".mjs"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/ignore": ["node_modules"],
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
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
