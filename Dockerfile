# Not built in CI (no Docker engine there); kept in step with package.json.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
 && npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
# state.path defaults to data/imagewatch.db: the directory must be writable by the user the daemon runs as.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
ENV IMAGEWATCH_CONFIG=/etc/imagewatch/imagewatch.yaml
EXPOSE 9478
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["run"]
