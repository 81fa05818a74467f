/**
 * Builds the package: TypeScript to CommonJS with declarations (dist/cjs), then a thin ES module
 * entry per entry point (dist/esm) that re-exports the CommonJS one by name. One implementation
 * serves both `require` and `import`, so a process that loads it both ways still has one
 * key cache, one set of counters and one `instanceof` for its classes.
 */
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ENTRY_POINTS = ['index', 'redis'];

function compile() {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [__dirname] });
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json')], { stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write('@keyward/guard: the TypeScript build failed\n');
    process.exit(result.status ?? 1);
  }
}

function writeEsmEntry(name) {
  const cjs = require(path.join(__dirname, 'dist', 'cjs', `${name}.js`));
  const names = Object.keys(cjs).filter((key) => key !== 'default' && key !== '__esModule').sort();
  const dir = path.join(__dirname, 'dist', 'esm');
  fs.mkdirSync(dir, { recursive: true });
  const source = [
    `// ES module entry: the CommonJS build re-exported by name (see build.js).`,
    `import cjs from '../cjs/${name}.js';`,
    '',
    `export const { ${names.join(', ')} } = cjs;`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, `${name}.mjs`), source);
  fs.writeFileSync(path.join(dir, `${name}.d.mts`), `export * from '../cjs/${name}.js';\n`);
}

compile();
for (const name of ENTRY_POINTS) writeEsmEntry(name);
