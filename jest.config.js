/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type-checking is done once by `tsc --noEmit` in `npm test`; ts-jest only transpiles.
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  // The README's library example imports 'keyward', as an app using this package would.
  moduleNameMapper: {
    '^keyward$': '<rootDir>/src/index.ts',
    // The app imports its guard as a package; tests run the package's sources.
    '^@keyward/guard$': '<rootDir>/packages/guard/src/index.ts',
    '^@keyward/guard/redis$': '<rootDir>/packages/guard/src/redis.ts',
  },
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 30000,
};
