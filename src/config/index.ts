/**
 * The one place that reads the environment. `loadConfig()` reads `.env` when present, validates
 * every variable with zod once, at start, and throws a ConfigError naming each bad variable and
 * how to fix it. Everything else receives the resulting Config object.
 */
import path from 'node:path';
import dotenv from 'dotenv';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { type CatalogModel, loadModelCatalog } from './model-catalog';

export type DatabaseProvider = 'sqlite' | 'postgresql';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** Express `trust proxy`: false (trust none), a hop count, or trusted proxy addresses/CIDRs. */
export type TrustProxy = false | number | string[];

export interface DatabaseConfig {
  url: string;
  provider: DatabaseProvider;
  /** Absolute path of the SQLite file (SQLite only). */
  sqlitePath?: string;
}

/** Validated configuration, before SQLite-local secrets are filled in. */
export interface Config {
  port: number;
  host: string;
  database: DatabaseConfig;
  /** Undefined only on SQLite, where resolveSecrets() generates and keeps them. */
  keyHashSecret?: string;
  sessionSecret?: string;
  admin: { email: string; password?: string };
  keyPrefix: string;
  logLevel: LogLevel;
  /** `json` (one JSON object per line, the default) or `pretty` (for people at a terminal). */
  logFormat: 'json' | 'pretty';
  trustProxy: TrustProxy;
  /** Expired keys are deleted this many days after they expire (0 = keep forever). */
  expiredKeyRetentionDays: number;
  /** Redis for several instances (null: everything stays in this process). */
  redis: RedisConfig | null;
  /** How long the app waits for its database before answering 503 database_unavailable. */
  databaseTimeouts: { connectMs: number; queryMs: number };
  /** HTTP server behaviour (keep-alive, header timeout, stalled streams, graceful stop). */
  http: { keepAliveTimeoutMs: number; headersTimeoutMs: number; streamIdleTimeoutMs: number; shutdownTimeoutMs: number };
  /** Management routes (/api/v1/keys, stats, audit events): their own per-key rate limit. */
  management: { ratePerMinute: number };
  /** POST /api/v1/keys/verify calls per calling key per minute. */
  verify: { ratePerMinute: number };
  /** How often each instance reads the key-change table (revocations from any process). */
  keyChanges: { pollMs: number };
  /** What a key did, request by request: kept this many days (REQUEST_LOG_RETENTION_DAYS), then pruned. */
  requestLog: { retentionDays: number };
  /** GET /metrics (Prometheus text): enabled by METRICS_TOKEN, answered only to `Bearer <token>`. */
  metrics: { token: string } | null;
  /** Alert webhooks: private addresses allowed (WEBHOOK_ALLOW_PRIVATE), how often due deliveries are polled. */
  webhooks: { allowPrivate: boolean; pollMs: number };
  /** How the /api middleware keeps keys and limits. */
  api: {
    usageFlushIntervalMs: number;
    /**
     * Usage of many distinct keys is journaled and folded this often (USAGE_FOLD_INTERVAL_MS; 0:
     * never), when a write would name USAGE_FOLD_MIN_KEYS keys or more (see usage/usage-journal.ts).
     * Absent: DEFAULT_USAGE_FOLD (every 30 s from 200 keys).
     */
    usageFold?: { intervalMs: number; minKeys: number; /** Keys a fold writes per transaction (tests; default 2,500). */ partKeys?: number };
    keyCacheTtlMs: number;
    /** Most keys the guard's cache holds (KEY_CACHE_MAX_KEYS; the cache's default when absent). */
    keyCacheMaxKeys?: number;
    invalidKeys: { attempts: number; windowSeconds: number; blockSeconds: number };
  };
  /** The dashboard's sessions and sign-in protection. */
  dashboard: {
    /** The public URL people open; https:// makes the session cookie Secure and __Host- prefixed. */
    publicUrl: string | null;
    sessionIdleMinutes: number;
    sessionMaxHours: number;
    /** Consecutive failed sign-ins per email+IP before that pair is blocked for a while. */
    loginFailuresPerEmailAndIp: number;
    /** Failed sign-ins per IP per day before the IP is blocked for the rest of the day. */
    loginFailuresPerIpPerDay: number;
  };
  /** Browser origins allowed to call /api cross-origin (CORS_ORIGINS); empty: CORS off. */
  cors: { origins: string[] };
  /** The OpenAI-compatible endpoints. */
  llm: {
    models: CatalogModel[];
    /** Completion tokens reserved (and allowed) when a request does not set max_tokens. */
    defaultMaxTokens: number;
    upstreamTimeoutMs: number;
  };
}

/** Redis (scale-out) and how a failing or stalled Redis is handled. */
export interface RedisConfig {
  url: string;
  failureMode: 'closed' | 'open';
  /** A command that takes longer fails (a stalled Redis is treated like a dead one). */
  commandTimeoutMs: number;
  /** After repeated failures Redis is not asked at all for this long (circuit breaker). */
  breakerCooldownMs: number;
}

/** Config whose secrets are known. */
export interface ResolvedConfig extends Config {
  keyHashSecret: string;
  sessionSecret: string;
  /** The file holding generated secrets (SQLite without both secrets in the environment), or null. */
  secretsFile: string | null;
}

/** Raised when the environment is invalid; the message names each variable and the fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const SECRET_HINT = 'use at least 32 random characters, e.g. the output of `openssl rand -base64 48`';
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

const optionalText = z
  .string()
  .transform((v) => v.trim())
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/** An integer variable with a default; `what` completes "must be ..." in the error. */
function wholeNumber(what: string, min: number, max: number, fallback: number) {
  const message = `must be ${what}`;
  return z.coerce.number({ message }).int(message).min(min, message).max(max, message).default(fallback);
}

/** USAGE_FOLD_INTERVAL_MS and USAGE_FOLD_MIN_KEYS when unset (and a configuration without usageFold). */
export const DEFAULT_USAGE_FOLD: { readonly intervalMs: number; readonly minKeys: number; readonly partKeys?: number } = { intervalMs: 30_000, minKeys: 200 };

/** A browser origin as the Origin header sends it: scheme, host, optional port; nothing else. */
const ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9a-f:.]+\](:\d{1,5})?$/i;

const envSchema = z.object({
  PORT: z.coerce
    .number({ message: 'must be a port number between 1 and 65535' })
    .int('must be a port number between 1 and 65535')
    .min(1, 'must be a port number between 1 and 65535')
    .max(65535, 'must be a port number between 1 and 65535')
    .default(3000),
  HOST: optionalText,
  DATABASE_URL: optionalText,
  KEY_HASH_SECRET: optionalText.refine((v) => v === undefined || v.length >= 32, `is too short: ${SECRET_HINT}`),
  SESSION_SECRET: optionalText.refine((v) => v === undefined || v.length >= 32, `is too short: ${SECRET_HINT}`),
  ADMIN_EMAIL: optionalText.refine(
    (v) => v === undefined || z.email().safeParse(v).success,
    'must be an email address, e.g. admin@example.com',
  ),
  ADMIN_PASSWORD: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || v.length >= 12, 'must be at least 12 characters long'),
  KEY_PREFIX: optionalText.refine(
    (v) => v === undefined || /^[a-z][a-z0-9]{0,15}$/.test(v),
    'must be 1-16 lower-case letters or digits, starting with a letter (e.g. kw)',
  ),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  TRUST_PROXY: optionalText,
  EXPIRED_KEY_RETENTION_DAYS: wholeNumber('a whole number of days (0 keeps expired keys forever)', 0, 36_500, 30),
  USAGE_FLUSH_INTERVAL_MS: wholeNumber('a number of milliseconds between 50 and 1000', 50, 1000, 1000),
  USAGE_FOLD_INTERVAL_MS: wholeNumber('0 (off) or a number of milliseconds between 1000 and 600000', 0, 600_000, DEFAULT_USAGE_FOLD.intervalMs).refine(
    (v) => v === 0 || v >= 1000,
    'must be 0 (off) or a number of milliseconds between 1000 and 600000',
  ),
  USAGE_FOLD_MIN_KEYS: wholeNumber('a number of keys between 1 and 1000000', 1, 1_000_000, DEFAULT_USAGE_FOLD.minKeys),
  KEY_CACHE_TTL_SECONDS: wholeNumber('a number of seconds between 1 and 3600', 1, 3600, 300),
  KEY_CACHE_MAX_KEYS: wholeNumber('a number of keys between 100 and 10000000', 100, 10_000_000, 200_000),
  INVALID_KEY_ATTEMPTS: wholeNumber('a number of attempts between 1 and 100000', 1, 100_000, 20),
  INVALID_KEY_WINDOW_SECONDS: wholeNumber('a number of seconds between 1 and 86400', 1, 86_400, 60),
  INVALID_KEY_BLOCK_SECONDS: wholeNumber('a number of seconds between 0 and 86400', 0, 86_400, 300),
  MODEL_CATALOG_PATH: optionalText,
  REDIS_URL: optionalText.refine(
    (v) => v === undefined || /^rediss?:\/\/.+/.test(v),
    'must be a Redis URL, e.g. redis://127.0.0.1:6379',
  ),
  REDIS_FAILURE_MODE: z
    .enum(['closed', 'open'], { message: 'must be "closed" (quotas and budgets refuse while Redis is down) or "open"' })
    .default('closed'),
  PUBLIC_URL: optionalText.refine(
    (v) => v === undefined || /^https?:\/\/[^/\s]+/.test(v),
    'must be the URL people open, e.g. https://keys.example.com',
  ),
  SESSION_IDLE_MINUTES: wholeNumber('a number of minutes between 1 and 1440', 1, 1440, 30),
  SESSION_MAX_HOURS: wholeNumber('a number of hours between 1 and 720', 1, 720, 12),
  LOGIN_MAX_FAILURES: wholeNumber('a number of attempts between 1 and 100', 1, 100, 5),
  LOGIN_MAX_FAILURES_PER_IP_PER_DAY: wholeNumber('a number of attempts between 1 and 100000', 1, 100_000, 100),
  DEFAULT_MAX_TOKENS: wholeNumber('a number of tokens between 1 and 1000000', 1, 1_000_000, 1024),
  UPSTREAM_TIMEOUT_MS: wholeNumber('a number of milliseconds between 1000 and 600000', 1000, 600_000, 120_000),
  REDIS_COMMAND_TIMEOUT_MS: wholeNumber('a number of milliseconds between 50 and 10000', 50, 10_000, 250),
  REDIS_BREAKER_COOLDOWN_MS: wholeNumber('a number of milliseconds between 100 and 60000', 100, 60_000, 2000),
  DATABASE_CONNECT_TIMEOUT_MS: wholeNumber('a number of milliseconds between 100 and 60000', 100, 60_000, 3000),
  DATABASE_QUERY_TIMEOUT_MS: wholeNumber('a number of milliseconds between 100 and 300000', 100, 300_000, 10_000),
  KEEP_ALIVE_TIMEOUT_SECONDS: wholeNumber('a number of seconds between 1 and 3600', 1, 3600, 65),
  HEADERS_TIMEOUT_SECONDS: wholeNumber('a number of seconds between 2 and 3601, above KEEP_ALIVE_TIMEOUT_SECONDS', 2, 3601, 66),
  STREAM_IDLE_TIMEOUT_SECONDS: wholeNumber('a number of seconds between 1 and 3600', 1, 3600, 30),
  SHUTDOWN_TIMEOUT_SECONDS: wholeNumber('a number of seconds between 1 and 3600', 1, 3600, 25),
  MANAGEMENT_RATE_LIMIT_PER_MINUTE: wholeNumber('a number of requests between 1 and 100000', 1, 100_000, 600),
  VERIFY_RATE_LIMIT_PER_MINUTE: wholeNumber('a number of requests between 1 and 10000000', 1, 10_000_000, 60_000),
  KEY_CHANGES_POLL_MS: wholeNumber('a number of milliseconds between 50 and 1000', 50, 1000, 250),
  REQUEST_LOG_RETENTION_DAYS: wholeNumber('a number of days between 1 and 365', 1, 365, 7),
  METRICS_TOKEN: optionalText.refine((v) => v === undefined || v.length >= 16, `is too short: ${SECRET_HINT}`),
  LOG_FORMAT: z.enum(['json', 'pretty'], { message: 'must be "json" (one JSON object per line) or "pretty"' }).default('json'),
  WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false'], { message: 'must be "true" (webhooks may call private and loopback addresses) or "false"' })
    .default('false'),
  WEBHOOK_POLL_MS: wholeNumber('a number of milliseconds between 100 and 60000', 100, 60_000, 1000),
  CORS_ORIGINS: optionalText.refine(
    (v) => v === undefined || v.split(',').every((origin) => ORIGIN.test(origin.trim())),
    'must be a comma-separated list of origins (scheme://host[:port], no path and no "*"), e.g. https://app.example.com,http://localhost:5173',
  ),
});

/** Reads `.env` (if present) into the environment, then validates it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  dotenv.config({ path: path.join(cwd, '.env'), processEnv: env, quiet: true });
  return parseConfig(env, cwd);
}

/** Validates an environment object; pure apart from resolving relative paths against `cwd`. */
export function parseConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')} ${issue.message}.`);
    throw new ConfigError(problems);
  }
  const vars = parsed.data;

  const database = parseDatabaseUrl(vars.DATABASE_URL ?? 'file:./data/keyward.db', cwd, problems);
  if (database?.provider === 'postgresql') {
    for (const name of ['KEY_HASH_SECRET', 'SESSION_SECRET'] as const) {
      if (!vars[name]) problems.push(`${name} is required when DATABASE_URL is PostgreSQL: ${SECRET_HINT}.`);
    }
  }
  const trustProxy = parseTrustProxy(vars.TRUST_PROXY, problems);
  if (vars.HEADERS_TIMEOUT_SECONDS <= vars.KEEP_ALIVE_TIMEOUT_SECONDS) {
    problems.push(
      `HEADERS_TIMEOUT_SECONDS (${vars.HEADERS_TIMEOUT_SECONDS}) must be above KEEP_ALIVE_TIMEOUT_SECONDS (${vars.KEEP_ALIVE_TIMEOUT_SECONDS}), e.g. ${vars.KEEP_ALIVE_TIMEOUT_SECONDS + 1}.`,
    );
  }
  const catalog = loadModelCatalog(vars.MODEL_CATALOG_PATH && path.resolve(cwd, vars.MODEL_CATALOG_PATH), env);
  problems.push(...catalog.problems);
  if (problems.length > 0 || !database || !catalog.models) throw new ConfigError(problems);

  return {
    port: vars.PORT,
    host: vars.HOST ?? '0.0.0.0',
    database,
    keyHashSecret: vars.KEY_HASH_SECRET,
    sessionSecret: vars.SESSION_SECRET,
    admin: {
      email: (vars.ADMIN_EMAIL ?? 'admin@keyward.local').toLowerCase(),
      password: vars.ADMIN_PASSWORD ? vars.ADMIN_PASSWORD : undefined,
    },
    keyPrefix: vars.KEY_PREFIX ?? 'kw',
    logLevel: vars.LOG_LEVEL,
    logFormat: vars.LOG_FORMAT,
    trustProxy,
    expiredKeyRetentionDays: vars.EXPIRED_KEY_RETENTION_DAYS,
    redis: vars.REDIS_URL
      ? {
          url: vars.REDIS_URL,
          failureMode: vars.REDIS_FAILURE_MODE,
          commandTimeoutMs: vars.REDIS_COMMAND_TIMEOUT_MS,
          breakerCooldownMs: vars.REDIS_BREAKER_COOLDOWN_MS,
        }
      : null,
    databaseTimeouts: { connectMs: vars.DATABASE_CONNECT_TIMEOUT_MS, queryMs: vars.DATABASE_QUERY_TIMEOUT_MS },
    http: {
      keepAliveTimeoutMs: vars.KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
      headersTimeoutMs: vars.HEADERS_TIMEOUT_SECONDS * 1000,
      streamIdleTimeoutMs: vars.STREAM_IDLE_TIMEOUT_SECONDS * 1000,
      shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    },
    management: { ratePerMinute: vars.MANAGEMENT_RATE_LIMIT_PER_MINUTE },
    verify: { ratePerMinute: vars.VERIFY_RATE_LIMIT_PER_MINUTE },
    keyChanges: { pollMs: vars.KEY_CHANGES_POLL_MS },
    requestLog: { retentionDays: vars.REQUEST_LOG_RETENTION_DAYS },
    metrics: vars.METRICS_TOKEN ? { token: vars.METRICS_TOKEN } : null,
    webhooks: { allowPrivate: vars.WEBHOOK_ALLOW_PRIVATE === 'true', pollMs: vars.WEBHOOK_POLL_MS },
    api: {
      usageFlushIntervalMs: vars.USAGE_FLUSH_INTERVAL_MS,
      usageFold: { intervalMs: vars.USAGE_FOLD_INTERVAL_MS, minKeys: vars.USAGE_FOLD_MIN_KEYS },
      keyCacheTtlMs: vars.KEY_CACHE_TTL_SECONDS * 1000,
      keyCacheMaxKeys: vars.KEY_CACHE_MAX_KEYS,
      invalidKeys: {
        attempts: vars.INVALID_KEY_ATTEMPTS,
        windowSeconds: vars.INVALID_KEY_WINDOW_SECONDS,
        blockSeconds: vars.INVALID_KEY_BLOCK_SECONDS,
      },
    },
    dashboard: {
      publicUrl: vars.PUBLIC_URL?.replace(/\/+$/, '') ?? null,
      sessionIdleMinutes: vars.SESSION_IDLE_MINUTES,
      sessionMaxHours: vars.SESSION_MAX_HOURS,
      loginFailuresPerEmailAndIp: vars.LOGIN_MAX_FAILURES,
      loginFailuresPerIpPerDay: vars.LOGIN_MAX_FAILURES_PER_IP_PER_DAY,
    },
    cors: { origins: vars.CORS_ORIGINS ? [...new Set(vars.CORS_ORIGINS.split(',').map((o) => o.trim().toLowerCase()))] : [] },
    llm: {
      models: catalog.models,
      defaultMaxTokens: vars.DEFAULT_MAX_TOKENS,
      upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS,
    },
  };
}

function parseDatabaseUrl(url: string, cwd: string, problems: string[]): DatabaseConfig | undefined {
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      problems.push('DATABASE_URL is not a valid URL: use postgresql://user:password@host:5432/database.');
      return undefined;
    }
    return { url, provider: 'postgresql' };
  }
  if (url.startsWith('file:')) {
    const file = url.slice('file:'.length);
    if (file === '' || file.includes('?')) {
      problems.push('DATABASE_URL must name a SQLite file, e.g. file:./data/keyward.db.');
      return undefined;
    }
    const sqlitePath = path.resolve(cwd, file);
    return { url: `file:${sqlitePath}`, provider: 'sqlite', sqlitePath };
  }
  problems.push(
    'DATABASE_URL must start with file: (SQLite, e.g. file:./data/keyward.db) or postgresql:// (PostgreSQL).',
  );
  return undefined;
}

function parseTrustProxy(value: string | undefined, problems: string[]): TrustProxy {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true') {
    problems.push(
      'TRUST_PROXY=true would trust any client-supplied X-Forwarded-For: set the number of proxy hops (e.g. 1) or the proxies\' addresses/CIDRs (e.g. 10.0.0.0/8).',
    );
    return false;
  }
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.filter((e) => !PROXY_NAMES.has(e) && !isAddressOrCidr(e));
  if (bad.length > 0) {
    problems.push(
      `TRUST_PROXY has invalid entries (${bad.join(', ')}): use a hop count, or addresses/CIDRs such as 10.0.0.0/8, or loopback, linklocal, uniquelocal.`,
    );
  }
  return entries;
}

function isAddressOrCidr(value: string): boolean {
  if (ipaddr.isValid(value)) return true;
  try {
    ipaddr.parseCIDR(value);
    return true;
  } catch {
    return false;
  }
}
