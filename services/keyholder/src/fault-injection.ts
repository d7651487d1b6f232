/**
 * TEST ONLY fault injection, wired by main.ts from KEYHOLDER_TEST_* settings
 * and absent in production: the reliability harness kills the keyholder at
 * the moment that matters most for exactly-once releases.
 */
import { writeSync } from 'node:fs';

/**
 * KEYHOLDER_TEST_CRASH_AFTER_CHARGE: SIGKILL this process after a release is
 * durably charged, before it is decrypted. The line saying so is written
 * synchronously: pino writes asynchronously, and the SIGKILL right after
 * would lose it.
 */
export function crashAfterCharge(roundId: string): void {
  writeSync(
    1,
    `${JSON.stringify({ level: 60, time: Date.now(), service: 'keyholder', roundId, msg: 'TEST-ONLY FAULT INJECTION: crashing after the ledger charge, before the decryption' })}\n`,
  );
  process.kill(process.pid, 'SIGKILL');
}
