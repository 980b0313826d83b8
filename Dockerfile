# syntax=docker/dockerfile:1
# Two images from one file: `api` (node:20-slim, no TF.js native code) and `worker` (CUDA runtime +
# @tensorflow/tfjs-node-gpu). The TypeScript runs through tsx, as in development, so there is no build step.
# Build: docker build --target api -t maskforge-api .   /   docker build --target worker -t maskforge-worker .

ARG NODE_IMAGE=node:20-slim
ARG CUDA_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

# ---- node: the Node 20 runtime, copied into the CUDA image below
FROM ${NODE_IMAGE} AS node

# ---- deps: production dependencies with the Prisma client generated; install scripts off, so no
# optional native package (tfjs-node, onnxruntime) downloads anything here
FROM node AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY patches ./patches
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts/prisma-generate.mjs ./scripts/
# prisma.config.ts reads its settings through src/config.ts
COPY src/config.ts ./src/config.ts
RUN npm ci --omit=dev --ignore-scripts \
 && npx patch-package \
 && node scripts/prisma-generate.mjs \
 && npm cache clean --force

# ---- app: the sources on top of the dependencies
FROM deps AS app
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY openapi ./openapi

# ---- api
FROM node AS api
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=app --chown=node:node /app /app
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/api/server.ts"]

# ---- worker-deps: the native GPU build of TF.js (libtensorflow 2.9.1 for CUDA 11.x, fetched by its
# install script; node-gyp needs python3/make/g++ if no prebuilt addon matches)
FROM ${CUDA_IMAGE} AS worker-deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
# Node's headers, for the host trainer's native GEMM addon (src/native/gemm.cc, built below with the same g++)
COPY --from=node /usr/local/include/node /usr/local/include/node
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /app
COPY --from=app /app /app
COPY scripts/build-native.mjs ./scripts/
# check the addon file, not require(): loading it wants a GPU driver, which a build has none of. The native GEMM
# addon's build never fails (without it the trainer keeps its wasm kernels; it logs why)
RUN npm rebuild @tensorflow/tfjs-node-gpu \
 && ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node \
 && node scripts/build-native.mjs \
 && npm cache clean --force

# ---- worker
FROM ${CUDA_IMAGE} AS worker
ENV NODE_ENV=production TF_BACKEND=tensorflow
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system maskforge && useradd --system --gid maskforge --home /app maskforge
WORKDIR /app
COPY --from=worker-deps --chown=maskforge:maskforge /app /app
USER maskforge
EXPOSE 9464
CMD ["node", "--import", "tsx", "src/worker/main.ts"]
