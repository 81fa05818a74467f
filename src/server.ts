/**
 * The app's entry point (`npm start`): prepare configuration and database, create the first
 * admin if needed, listen, and stop gracefully on SIGTERM/SIGINT. Everything it writes goes
 * through the logger: JSON lines on stdout, or pino-pretty's output with LOG_FORMAT=pretty.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expressServerOptions } from '@keyward/guard';
import { createApp } from './app';
import { systemActor } from './audit/audit-types';
import { bootstrap, bootstrapNotices } from './bootstrap';
import type { ResolvedConfig } from './config';
import { createContext } from './context';
import { announcer, createLogger, type Logger } from './logger';
import { exitOnStartupError, prepare, readConfig } from './startup';

const CLEANUP_INTERVAL_MS = 15 * 60 * 1000;
/** While stopping, how often connections that finished their last response are closed. */
const IDLE_SWEEP_MS = 100;

async function main(config: ResolvedConfig, logger: Logger): Promise<void> {
  // Written whatever LOG_LEVEL says, as they were before the logger: migrations applied, where the
  // first admin's credentials come from (a generated password is shown only here).
  const announce = announcer(logger);
  await prepare((message) => announce.info(message), config);
  const ctx = createContext(config, { logger });
  const result = await bootstrap(ctx);
  for (const notice of bootstrapNotices(result)) announce.info(notice.fields, notice.message);
  if (config.secretsFile) {
    announce.info({ secretsFile: config.secretsFile }, 'Secrets generated on first start are kept in this file: back it up with the database.');
  }

  await ctx.ready();
  const app = createApp(ctx);
  // Requests and responses built with the app's prototypes share V8's hidden classes (about twice the
  // requests per core on the /api routes; see expressServerOptions in @keyward/guard).
  const server = http.createServer(expressServerOptions(app), app);
  server.listen(config.port, config.host);
  // Above a load balancer's idle timeout (60 s is common): the balancer, not Keyward, closes an idle
  // connection first, so it never sends a request on a socket Keyward is closing (a 502).
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
  server.headersTimeout = config.http.headersTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  ctx.logger.info(
    { port, database: config.database.provider, redis: config.redis ? 'shared limits' : 'none' },
    `Keyward listening on http://localhost:${port}`,
  );

  const cleanup = setInterval(() => {
    ctx.keys
      .cleanupExpired(config.expiredKeyRetentionDays, systemActor('expired-key-cleanup'))
      .then((count) => count > 0 && ctx.logger.info({ count }, 'deleted expired keys'))
      .catch((error) => ctx.logger.error({ err: error }, 'expired-key cleanup failed'));
    // Expired sessions are refused anyway; this keeps the table small (sign-in pages create rows).
    ctx.dashboard.sessions.pruneExpired().catch((error) => ctx.logger.error({ err: error }, 'session cleanup failed'));
  }, CLEANUP_INTERVAL_MS);
  cleanup.unref();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    ctx.logger.info({ signal }, 'stopping: no new connections, finishing requests in flight');
    clearInterval(cleanup);
    const force = setTimeout(() => {
      ctx.logger.error({ timeoutMs: config.http.shutdownTimeoutMs }, 'requests still running after the shutdown timeout; exiting');
      process.exit(1);
    }, config.http.shutdownTimeoutMs);
    force.unref();
    server.close(() => {
      ctx
        .close()
        .then(() => {
          ctx.logger.info({ signal }, 'stopped: requests finished, usage written, connections closed');
          process.exit(0);
        })
        .catch((error) => {
          ctx.logger.error({ err: error }, 'error while closing');
          process.exit(1);
        });
    });
    // close() ends idle connections once; a keep-alive connection whose response finishes later
    // would otherwise stay open for the whole keep-alive timeout and hold the stop up.
    server.closeIdleConnections();
    setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

let config: ResolvedConfig;
try {
  config = readConfig();
} catch (error) {
  // LOG_FORMAT is not known yet: a JSON line.
  exitOnStartupError(error, createLogger('info'));
}
const logger = createLogger(config.logLevel, { format: config.logFormat });
main(config, logger).catch((error) => exitOnStartupError(error, announcer(logger)));
