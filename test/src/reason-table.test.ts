/**
 * The closed set of refusal reasons (@secagg/core reasons.ts, issue 13 item 3):
 * every reason has a status, every refusal in the shipped code is made with
 * `refuse(reason, …)` and a reason of the table, and every reason of the table
 * is used by some refusal (no dead entries). Read from the source, so a
 * refusal built by hand (`new SecaggError(code, …)`) fails here.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ALL_REASONS, Code, codeName, isReason, REASONS } from '@secagg/core';
import { REPO_ROOT } from '@secagg/local-cluster';
import { tableUnder } from './security/security-doc.js';

/** Shipped TypeScript sources (no tests, no generated code). */
function sources(): { path: string; text: string }[] {
  const found: { path: string; text: string }[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!['node_modules', 'dist', 'gen'].includes(entry.name)) walk(path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
        found.push({ path: relative(REPO_ROOT, path), text: readFileSync(path, 'utf8') });
      }
    }
  };
  for (const top of ['packages', 'services']) {
    for (const workspace of readdirSync(join(REPO_ROOT, top))) walk(join(REPO_ROOT, top, workspace, 'src'));
  }
  return found;
}

/** Where a SecaggError may be built from a status rather than a reason: errors.ts itself, and decoding a peer's status. */
const STATUS_DECODERS = new Set(['packages/core/src/errors.ts', 'packages/core/src/grpc/client.ts']);

describe('the reason table is closed', () => {
  const code = sources();

  it('gives every reason a status and a retry verdict', () => {
    assert.ok(ALL_REASONS.length > 50);
    for (const reason of ALL_REASONS) {
      assert.match(reason, /^[a-z][a-z0-9_]{1,63}$/, 'reasons are lower_snake_case, at most 64 characters (the wire limit)');
      const { code: status, retryable } = REASONS[reason];
      assert.ok(typeof status === 'number' && status !== Code.Ok && Code[status] !== undefined, `${reason}: a gRPC status`);
      assert.equal(typeof retryable, 'boolean', reason);
    }
    // What the SDK retries on its own: only transient statuses.
    for (const reason of ALL_REASONS.filter((r) => REASONS[r].retryable)) {
      assert.ok([Code.Unavailable, Code.ResourceExhausted, Code.Aborted].includes(REASONS[reason].code), `${reason} is retryable with ${Code[REASONS[reason].code]}`);
    }
  });

  it('every refusal of the shipped code is refuse() with a reason of the table', () => {
    const handBuilt = code.filter((f) => !STATUS_DECODERS.has(f.path) && /new SecaggError\(/.test(f.text)).map((f) => f.path);
    assert.deepEqual(handBuilt, [], 'refusals built with new SecaggError(code, …) instead of refuse(reason, …)');
    let calls = 0;
    for (const { path, text } of code) {
      for (const match of text.matchAll(/\brefuse\(\s*'([^']*)'/g)) {
        calls++;
        assert.ok(isReason(match[1]!), `${path}: refuse('${match[1]}') is not in the reason table`);
      }
    }
    assert.ok(calls > 100, `found ${calls} refusals`);
  });

  it('every reason of the table is used by some refusal (no dead entries)', () => {
    // The table itself and the CLI's advice name every reason; a reason is used when other code names it.
    const listers = new Set(['packages/core/src/reasons.ts', 'packages/cli/src/cli-advice.ts']);
    const users = code.filter((f) => !listers.has(f.path)).map((f) => f.text).join('\n');
    assert.deepEqual(ALL_REASONS.filter((reason) => !users.includes(`'${reason}'`)), [], 'reasons no code refuses with');
  });

  it('docs/WIRE_FORMAT.md §9 lists exactly the table: each reason with its status and retry verdict', () => {
    const doc = tableUnder('9. Errors', readFileSync(join(REPO_ROOT, 'docs', 'WIRE_FORMAT.md'), 'utf8'));
    assert.deepEqual(doc.header.slice(0, 3), ['reason', 'status', 'retry']);
    assert.deepEqual(doc.rows.map((r) => r[0]), ALL_REASONS, 'the document lists the reasons in the table\'s order');
    for (const [reason, status, retry, advice] of doc.rows) {
      const rule = REASONS[reason as keyof typeof REASONS];
      assert.equal(status, codeName(rule.code), `${reason}: status`);
      assert.equal(retry, rule.retryable ? 'yes' : 'no', `${reason}: retry`);
      assert.ok(advice && advice.length > 0, `${reason}: what to do`);
    }
  });
});
