/** scripts/ensure-build.js decides from file dates whether dist/ must be rebuilt (no tsc run when current). */
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/databases';

// A plain-JS script (it runs before anything is compiled), loaded as Node loads it.
const { ensureBuilt, staleReason } = require('../../scripts/ensure-build') as {
  ensureBuilt(root: string): boolean;
  staleReason(root: string): string | null;
};

const HOUR = 3_600_000;

function write(root: string, file: string, ageMs: number): void {
  const full = path.join(root, file);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, '');
  const at = new Date(Date.now() - ageMs);
  fs.utimesSync(full, at, at);
}

/** A project whose dist/ was built an hour ago from sources two hours old. */
function builtProject(): string {
  const root = tempDir('keyward-build-');
  const sources = ['src/server.ts', 'src/cli/main.ts', 'src/config/models.json', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
  const guardSources = ['packages/guard/src/index.ts', 'packages/guard/package.json', 'packages/guard/tsconfig.json'];
  for (const file of [...sources, ...guardSources]) write(root, file, 2 * HOUR);
  for (const dir of ['src/cli', 'src/config', 'src', 'packages/guard/src']) {
    const at = new Date(Date.now() - 2 * HOUR);
    fs.utimesSync(path.join(root, dir), at, at);
  }
  for (const file of ['dist/server.js', 'dist/cli/main.js', 'packages/guard/dist/cjs/index.js', 'dist/.tsbuildinfo']) write(root, file, HOUR);
  return root;
}

test('a current build is used as it is, without running tsc', () => {
  const root = builtProject();
  expect(staleReason(root)).toBeNull();
  // No TypeScript is installed in this folder: a build attempt would throw.
  expect(ensureBuilt(root)).toBe(true);
});

test('an installation shipped without src/ runs the dist/ it has', () => {
  const root = builtProject();
  fs.rmSync(path.join(root, 'src'), { recursive: true });
  expect(staleReason(root)).toBeNull();
});

test('a missing build, or a missing entry point, is stale', () => {
  const root = builtProject();
  fs.rmSync(path.join(root, 'dist', 'cli', 'main.js'));
  expect(staleReason(root)).toBe('dist/ is missing');
  const guardBuilt = builtProject();
  fs.rmSync(path.join(guardBuilt, 'packages', 'guard', 'dist'), { recursive: true });
  expect(staleReason(guardBuilt)).toBe('dist/ is missing');
  fs.rmSync(path.join(root, 'dist'), { recursive: true });
  expect(staleReason(root)).toBe('dist/ is missing');
});

test.each([
  ['an edited source', (root: string) => write(root, 'src/cli/main.ts', 0)],
  ['a new source in a new folder', (root: string) => write(root, 'src/lib/new-file.ts', 0)],
  ['a deleted source', (root: string) => fs.rmSync(path.join(root, 'src', 'config', 'models.json'))],
  ['a changed tsconfig', (root: string) => write(root, 'tsconfig.build.json', 0)],
  ['an edited source of the guard package', (root: string) => write(root, 'packages/guard/src/index.ts', 0)],
  ['a changed guard package.json', (root: string) => write(root, 'packages/guard/package.json', 0)],
  ['changed dependencies', (root: string) => write(root, 'package-lock.json', 0)],
])('%s makes the build stale', (_name, change) => {
  const root = builtProject();
  change(root);
  expect(staleReason(root)).toBe('the sources changed since the last build');
});
