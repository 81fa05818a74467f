#!/usr/bin/env node
'use strict';
// Writes prisma/sqlite/schema.prisma from prisma/postgresql/schema.prisma, the single source of
// truth. Only the provider, the client output folder and native `@db.*` types differ.
//   node scripts/sync-schema.js          rewrite the SQLite schema
//   node scripts/sync-schema.js --check  exit 1 when the committed SQLite schema is stale
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const sourcePath = path.join(root, 'prisma', 'postgresql', 'schema.prisma');
const targetPath = path.join(root, 'prisma', 'sqlite', 'schema.prisma');

const GENERATED_NOTICE =
  '// GENERATED from prisma/postgresql/schema.prisma by `npm run db:schema`. Do not edit.\n';

/** Derives the SQLite schema text from the PostgreSQL schema text. */
function toSqliteSchema(source) {
  const replaceOnce = (text, pattern, replacement) => {
    if (!pattern.test(text)) throw new Error(`sync-schema: expected ${pattern} in the source schema`);
    return text.replace(pattern, replacement);
  };
  let out = replaceOnce(source, /provider\s*=\s*"postgresql"/, 'provider = "sqlite"');
  out = replaceOnce(out, /output(\s*)=\s*"\.\.\/\.\.\/src\/generated\/postgresql"/, 'output$1= "../../src/generated/sqlite"');
  out = out.replace(/[ \t]+@db\.\w+(\([^)]*\))?/g, '');
  return GENERATED_NOTICE + out;
}

function main() {
  const expected = toSqliteSchema(fs.readFileSync(sourcePath, 'utf8'));
  if (process.argv.includes('--check')) {
    const actual = fs.existsSync(targetPath) ? fs.readFileSync(targetPath, 'utf8') : '';
    if (actual !== expected) {
      console.error('prisma/sqlite/schema.prisma is stale: run `npm run db:schema`.');
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(targetPath, expected);
  console.log('wrote prisma/sqlite/schema.prisma');
}

module.exports = { toSqliteSchema, sourcePath, targetPath };
if (require.main === module) main();
