/**
 * Builds dist/ with tsc only when it is missing or older than what it is built from: src/ and the
 * guard package's sources (files and folders, so a deleted file counts), the tsconfig files,
 * package.json and package-lock.json. The app imports its guard as the package @keyward/guard
 * (packages/guard), so the package is built first, as an installed one would be.
 * A current build costs a walk of src/ (a few milliseconds) instead of a TypeScript run.
 *
 * Used by bin/keyward.js (the CLI) and by `npm start`'s prestart. The build's own marker is
 * dist/.tsbuildinfo (tsconfig.build.json builds incrementally); after a build this script dates it
 * to the moment the build started, so a source saved during the build still counts as newer.
 *
 * As a script: exits 0 when dist/ is current (now or already), 1 when the build failed.
 * tsc's messages go to stderr, so a caller's stdout (e.g. the CLI's --json) stays clean.
 */
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const MARKER = path.join('dist', '.tsbuildinfo');
const GUARD = path.join('packages', 'guard');
const ENTRY_POINTS = [path.join('dist', 'server.js'), path.join('dist', 'cli', 'main.js'), path.join(GUARD, 'dist', 'cjs', 'index.js')];
const INPUT_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json', path.join(GUARD, 'package.json'), path.join(GUARD, 'tsconfig.json')];

function mtimeOf(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/** The newest modification time of a folder, its files and its subfolders. */
function newestIn(dir) {
  let newest = fs.statSync(dir).mtimeMs;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestIn(full) : mtimeOf(full) ?? 0;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

/** Why dist/ must be (re)built, or null when it is current. */
function staleReason(root = ROOT) {
  const built = mtimeOf(path.join(root, MARKER));
  if (built === null || ENTRY_POINTS.some((file) => mtimeOf(path.join(root, file)) === null)) return 'dist/ is missing';
  // An installation shipped without src/ (only dist/) runs what it has.
  const sources = [path.join(root, 'src'), path.join(root, GUARD, 'src')];
  const inputs = [...sources.map((dir) => (fs.existsSync(dir) ? newestIn(dir) : 0)), ...INPUT_FILES.map((file) => mtimeOf(path.join(root, file)) ?? 0)];
  return Math.max(...inputs) > built ? 'the sources changed since the last build' : null;
}

/** Builds dist/ when it is stale. Returns true when dist/ is current afterwards. */
function ensureBuilt(root = ROOT) {
  const reason = staleReason(root);
  if (!reason) return true;
  process.stderr.write(`keyward: building dist/ (${reason})...\n`);
  const started = new Date();
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  const guard = spawnSync(process.execPath, [path.join(root, GUARD, 'build.js')], { cwd: root, stdio: ['ignore', 2, 2] });
  const result =
    guard.status === 0 ? spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 2, 2] }) : guard;
  if (result.status !== 0) {
    process.stderr.write(`keyward: the TypeScript build failed (${result.error?.message ?? `tsc exited with ${result.status ?? result.signal}`}).\n`);
    return false;
  }
  fs.utimesSync(path.join(root, MARKER), started, started);
  return true;
}

module.exports = { ensureBuilt, staleReason };

if (require.main === module) process.exit(ensureBuilt() ? 0 : 1);
