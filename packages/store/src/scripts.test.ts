/**
 * The Lua scripts as files: the embedded copy is the files' current text,
 * every script states its contract, and its key count (from its file name)
 * is the keys it uses. What each script does is tested through its typed
 * method against real Redis: round-store.test.ts, range-progress.test.ts,
 * staging-budget.test.ts.
 */
import { afterAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { SCRIPTS, StoreScripts, type ScriptName } from './scripts.js';

const COMMANDS = new URL('../src/commands/', import.meta.url);

describe('store Lua scripts', () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, lazyConnect: true });
  afterAll(() => redis.disconnect());

  it('the embedded scripts are the .lua files as they are now (else: npm run build)', async () => {
    const generator = new URL('../scripts/embed-lua.mjs', import.meta.url).href;
    const { generatedSource } = (await import(generator)) as { generatedSource: () => string };
    const committed = readFileSync(new URL('scripts.generated.ts', COMMANDS), 'utf8');
    // A boolean, not a diff: the generated file is long, the fix is one command.
    assert.ok(committed === generatedSource(), 'packages/store/src/commands/scripts.generated.ts is stale: run `npm run build`');
  });

  it('one .lua file per script, each with its contract header, using exactly the keys its name counts', () => {
    const files = readdirSync(COMMANDS).filter((f) => f.endsWith('.lua'));
    assert.deepEqual(files.map((f) => f.replace(/-\d+\.lua$/, '')).sort(), Object.keys(SCRIPTS).sort());
    for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
      const { lua, numberOfKeys } = SCRIPTS[name];
      assert.match(lua, /^--\[\[\n[\s\S]*?\n {2}Input:\n[\s\S]*?\n {2}Output[\s\S]*?\]\]\n/, `${name} opens with its contract (Input, Output)`);
      const used = new Set([...lua.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      assert.deepEqual([...used].sort(), Array.from({ length: numberOfKeys }, (_, i) => i + 1), `${name} uses KEYS[1..${numberOfKeys}]`);
    }
  });

  it('refuses a call with another number of keys than the script takes, before Redis sees it', async () => {
    const scripts = new StoreScripts(redis);
    await assert.rejects(scripts.run('commitUpdate', ['only-one'], []), /script commitUpdate takes 4 keys, given 1/);
  });
});
