/** Process lifecycle shared by the services' composition roots. */
import type { Logger } from 'pino';

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
