/** Process lifecycle shared by the services' composition roots. */
import type { Logger } from 'pino';
import { redactConfig } from './config.js';
import { createLogger } from './logger.js';

/** What every service's configuration carries for its start. */
export interface ServiceStartConfig {
  logLevel: string;
  /** TEST ONLY clock skew, ms (see {@link skewClockForTest}); services without one omit it. */
  testClockOffsetMs?: number;
}

/**
 * The start every service shares, before it opens anything: its configuration
 * loaded (a bad one throws here, with the offending keys), its logger, the
 * configuration logged with secrets redacted, and the test-only clock skew
 * applied. Signals are handled once the service has something to stop
 * ({@link handleSignals}).
 */
export function startService<C extends ServiceStartConfig>(service: string, loadConfig: () => C): { config: C; logger: Logger } {
  const config = loadConfig();
  const logger = createLogger(service, config.logLevel);
  logger.info({ config: redactConfig(config as unknown as Record<string, unknown>) }, 'starting');
  skewClockForTest(config.testClockOffsetMs ?? 0, logger);
  return { config, logger };
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits. A second signal exits at
 * once. Unhandled rejections are logged and end the process (a service in an
 * unknown state must not keep serving).
 */
export function handleSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'draining');
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (error) => {
    logger.fatal({ err: error }, 'unhandled rejection');
    process.exit(1);
  });
}

/** The line the local-cluster launcher and probes wait for, with the bound port. */
export function logListening(logger: Logger, service: string, port: number): void {
  logger.info({ event: 'listening', service, port }, `${service} listening on port ${port}`);
}

/**
 * TEST ONLY: shifts this process's wall clock (`Date.now`, which BullMQ, the
 * services and pino read) by `offsetMs`, as libfaketime would: a service whose
 * clock is skewed against Redis and its peers (issue 12 item 5). Logged loudly.
 */
export function skewClockForTest(offsetMs: number, logger: Logger): void {
  if (offsetMs === 0) return;
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + offsetMs;
  logger.warn({ testClockOffsetMs: offsetMs }, 'TEST ONLY: this process runs with a skewed clock (*_TEST_CLOCK_OFFSET_MS)');
}
