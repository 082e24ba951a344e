# Tessera's image: the TypeScript sources run directly with Node 24's type stripping (no build step).
# Three stages: the first installs the production dependencies (npm, its cache and every file no running
# process reads stay behind in it); the second makes the embedded database's pre-built cluster from them and
# the migrations (what `npm ci` makes in a checkout: a first start in embedded mode loads it instead of
# running initdb and the migrations); the runtime stage holds only the dependencies, that image and the
# sources.
# Runs as the unprivileged `node` user (uid 1000) and needs no writable root file system: with
# DATABASE_URL set it writes nothing; embedded mode (no DATABASE_URL) writes only to /app/.data, so mount a
# volume there (docs/deployment.md).

FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: Tessera's own postinstall (the embedded image) needs the sources, which are not here yet
# (so that a change to them does not install the dependencies again); the next stage runs it. argon2 is
# the one production dependency with an install script (it finds its prebuilt binary), so it is rebuilt by
# name; a dependency that gains one ("hasInstallScript" in package-lock.json) must be named here too.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
  && npm rebuild argon2 \
  # Type declarations, source maps, docs and TypeScript sources: never loaded at run time (Node does not
  # strip types under node_modules), about a quarter of the dependencies' size.
  && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
       -o -name '*.md' -o -name '*.markdown' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \) -delete

# From the base image again (not `FROM dependencies`), with the dependencies copied in: the same result, and a
# FROM that always names an image, which is what registries and image checkers expect to find there.
FROM node:24-bookworm-slim AS embedded-image
WORKDIR /app
COPY --from=dependencies /app/package.json /app/package-lock.json ./
COPY --from=dependencies /app/node_modules ./node_modules
COPY src ./src
COPY migrations ./migrations
COPY scripts/build-embedded-image.ts ./scripts/
RUN node scripts/build-embedded-image.ts

FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY views ./views
# Read-only and world-readable: it holds no secret (store/make-embedded-image.ts checks), only the schema.
COPY --from=embedded-image /app/.cache/embedded-image ./.cache/embedded-image
# The embedded data directory, owner-only as Tessera keeps it (src/store/data-dir.ts).
RUN install -d -m 0700 -o node -g node /app/.data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/tessera.js", "serve"]
