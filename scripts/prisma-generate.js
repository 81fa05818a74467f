#!/usr/bin/env node
'use strict';
// Generates the two Prisma clients (src/generated/sqlite, src/generated/postgresql).
// `prisma generate` does not execute the schema engine, but the CLI tries to download it unless
// PRISMA_SCHEMA_ENGINE_BINARY names an existing file; pointing it at this script keeps
// installs working on machines without access to Prisma's binary host.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cli = require.resolve('prisma/build/index.js', { paths: [root] });
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = __filename;

for (const provider of ['sqlite', 'postgresql']) {
  const schema = path.join(root, 'prisma', provider, 'schema.prisma');
  execFileSync(process.execPath, [cli, 'generate', '--schema', schema], { cwd: root, env, stdio: 'inherit' });
}
