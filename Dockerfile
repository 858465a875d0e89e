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
USER node
ENV IMAGEWATCH_CONFIG=/etc/imagewatch/imagewatch.yaml
EXPOSE 9478
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["run"]
