# imagewatch container image. Build: scripts/build-image.sh (docker or buildah), or
#   docker build -t imagewatch:local .
# Run the demo:   docker run --rm -p 9478:9478 imagewatch:local demo      → http://127.0.0.1:9478/
# Run the daemon: docker run -v imagewatch-data:/app/data -v ./imagewatch.yaml:/etc/imagewatch/imagewatch.yaml:ro \
#                   -e HUAWEICLOUD_SDK_AK -e HUAWEICLOUD_SDK_SK -e WEBHOOK_SECRET -p 9478:9478 imagewatch:local
# See docs/operations.md ("Container").

# ---- build: compile TypeScript, install runtime dependencies, build better-sqlite3 ----------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 falls back to compiling from source when no prebuilt binary can be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs scripts/undici-lean.mjs ./scripts/
COPY src ./src
# `npm ci` runs `prepare` (tsc, then the bundle dist/main.js); then drop the dev dependencies and better-sqlite3's build residue
# (object files, the bundled SQLite sources: ~25 MB), keeping only the addon it loads.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src binding.gyp \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/ \
 && cd /app \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
ENV IMAGEWATCH_CONFIG=/etc/imagewatch/imagewatch.yaml
# One malloc arena for all threads: ~12-15 MiB less RSS at 10,000 servers, no CPU cost measured
# (docs/operations.md, "Memory").
ENV MALLOC_ARENA_MAX=1
# `demo` serves its daemon on this address (config/demo.yaml), so it can be reached from outside.
ENV IMAGEWATCH_DEMO_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/main.js /app/dist/main.js.map /app/dist/main.js.LEGAL.txt ./dist/
COPY package.json ./
# config/ holds the demo's config and scenario (`demo` reads them relative to /app) and the example.
COPY config ./config
# The default config at the default path ($IMAGEWATCH_CONFIG): the documented example. Mount your own over it.
COPY config/imagewatch.yaml /etc/imagewatch/imagewatch.yaml
# state.path defaults to data/imagewatch.db, relative to /app: a volume writable by the `node` user (uid 1000).
RUN mkdir -p /app/data && chown node:node /app/data && chmod 0700 /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 9478
# node is PID 1: imagewatch handles SIGTERM, SIGINT and SIGHUP itself and starts no child processes, so no
# init is needed (`docker run --init` adds tini if you want one anyway).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9478/-/healthy').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["run"]
