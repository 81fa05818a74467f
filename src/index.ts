/**
 * Keyward as a library: the guard lives in its own package, @keyward/guard (packages/guard), and
 * this entry re-exports it for code that imports 'keyward'.
 */
export * from '@keyward/guard';
