// Runs once before the suites: builds the guard package and dist/ (tests that start real server or CLI processes run
// the compiled app) and says which optional suites will be skipped on this machine.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.join(__dirname, '..');
  // The app imports its guard as the package @keyward/guard: build the package first.
  execFileSync(process.execPath, [path.join(root, 'packages', 'guard', 'build.js')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (!process.env.TEST_DATABASE_URL) {
    process.stderr.write(
      '\n[keyward] PostgreSQL tests SKIPPED: TEST_DATABASE_URL is not set (e.g. postgresql://root@127.0.0.1:5432/test).\n',
    );
  }
};
