# syntax=docker/dockerfile:1
# One image per service: docker build --build-arg SERVICE=keyholder|client-gateway|aggregator .
# The base image's Node is the version pinned in package.json (devDependency "node").
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY proto ./proto
COPY packages ./packages
COPY services ./services
COPY test/package.json ./test/package.json
# Every workspace's package.json, or npm ci finds the lockfile out of sync (the example's corpus is a
# devDependency: never in the runtime image). tools/* (bench, chaos, local cluster) never ship: npm ci
# installs without them, leaving only their workspace links dangling.
COPY examples/finetune/package.json ./examples/finetune/package.json
RUN npm ci --no-audit --no-fund \
 && npx tsc --build services/keyholder services/client-gateway services/aggregator packages/cli

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG SERVICE
ENV NODE_ENV=production \
    SECAGG_SERVICE=${SERVICE}
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/proto/package.json ./proto/package.json
COPY --from=build /app/proto/dist ./proto/dist
COPY --from=build /app/packages ./packages
COPY --from=build /app/services ./services
COPY test/package.json ./test/package.json
COPY examples/finetune/package.json ./examples/finetune/package.json
# Production dependencies only (no compilers, no test tools, no pinned-node download).
RUN test -n "${SERVICE}" \
 && test -f "services/${SERVICE}/dist/main.js" \
 && npm ci --omit=dev --no-audit --no-fund \
 && find packages services -name src -type d -prune -exec rm -rf {} + \
 && mkdir -p /data && chown node:node /data
USER node
EXPOSE 7100 7300
ENTRYPOINT ["/bin/sh", "-c", "exec node --enable-source-maps services/${SECAGG_SERVICE}/dist/main.js"]
