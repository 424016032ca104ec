# One image for the three programs; the container's args pick one:
#   lookaside    dist/src/lookaside/main.js   (the default)
#   greet server dist/src/greet/server/main.js
#   gateway      dist/src/greet/gateway/main.js
# e.g. `docker run --rm lookaside:dev dist/src/greet/server/main.js`.
# Protos are read at run time from proto/ beside dist/ (src/common/grpc.ts, PROTO_ROOT).
# test/deploy/image.test.ts assembles the runtime stage's files the way the COPY
# lines below do and starts every program from them under Node 24.

ARG NODE_IMAGE=node:24-alpine

# Compile: every dependency (TypeScript is a dev dependency), only src/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# Production dependencies only; none of them needs an install script.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY proto ./proto
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# Starts node with V8 heap limits sized from the container's memory limit (cgroup).
COPY deploy/node-limits.sh ./node-limits.sh
# The official image's "node" user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
ENTRYPOINT ["/app/node-limits.sh"]
CMD ["dist/src/lookaside/main.js"]
