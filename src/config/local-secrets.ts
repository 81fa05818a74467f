import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config, ResolvedConfig } from './index';

interface SecretsFile {
  keyHashSecret: string;
  sessionSecret: string;
}

/** Where the generated secrets of a SQLite installation live: beside the database file. */
export function secretsFilePath(sqlitePath: string): string {
  return path.join(path.dirname(sqlitePath), 'keyward.secrets.json');
}

/**
 * Fills in KEY_HASH_SECRET and SESSION_SECRET. Values from the environment win. On SQLite, missing
 * ones are generated on first start and kept (mode 0600) beside the database so that restarts keep
 * every issued key valid. On PostgreSQL, config validation has already required both.
 */
export function resolveSecrets(config: Config): ResolvedConfig {
  if (config.keyHashSecret && config.sessionSecret) {
    return { ...config, keyHashSecret: config.keyHashSecret, sessionSecret: config.sessionSecret, secretsFile: null };
  }
  if (config.database.provider !== 'sqlite' || !config.database.sqlitePath) {
    throw new Error('KEY_HASH_SECRET and SESSION_SECRET are required outside SQLite.');
  }
  const secretsFile = secretsFilePath(config.database.sqlitePath);
  const stored = readOrCreateSecretsFile(secretsFile);
  return {
    ...config,
    secretsFile,
    keyHashSecret: config.keyHashSecret ?? stored.keyHashSecret,
    sessionSecret: config.sessionSecret ?? stored.sessionSecret,
  };
}

function readOrCreateSecretsFile(file: string): SecretsFile {
  // Owner-only like the database beside it (created after this, in the same folder).
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fresh: SecretsFile = {
    keyHashSecret: randomBytes(48).toString('base64url'),
    sessionSecret: randomBytes(48).toString('base64url'),
  };
  // Written to a temporary file, then hard-linked into place: link() fails if the file exists,
  // so two processes starting together agree on one complete file.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600 });
  try {
    fs.linkSync(temporary, file);
    return fresh;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<SecretsFile>;
  if (typeof stored.keyHashSecret !== 'string' || typeof stored.sessionSecret !== 'string') {
    throw new Error(`${file} is damaged: restore it from a backup, or set KEY_HASH_SECRET and SESSION_SECRET.`);
  }
  return { keyHashSecret: stored.keyHashSecret, sessionSecret: stored.sessionSecret };
}
