/**
 * Runs the store's Lua scripts. Each script is a file of its own,
 * src/commands/<name>-<number of keys>.lua, whose header states its contract
 * (keys, arguments, output, idempotency: BullMQ's layout); the build embeds
 * them into commands/scripts.generated.ts (scripts/embed-lua.mjs). Only the
 * store's classes (RoundStore, RangeProgress, StagingBudget) call them, each
 * through a typed method.
 *
 * Conventions every script keeps: all its keys share one hash tag (a round's,
 * or the gateways' `{<prefix>:gw}`), so it runs on a Redis Cluster; times come
 * from Redis's own clock (includes/redisNow.lua) or from the caller's injected
 * clock, never from the script's host.
 */
import type { Cluster, Redis } from 'ioredis';
import { SCRIPTS, type ScriptName } from './commands/scripts.generated.js';

export { SCRIPTS, type ScriptName };

export type ScriptArgument = string | Buffer | number;

/** ioredis' name for script `name` (defineCommand adds it, with EVALSHA and a NOSCRIPT fallback, to the connection). */
const commandOf = (name: ScriptName) => `secagg_${name}`;

type ScriptCommand = (...args: ScriptArgument[]) => Promise<unknown>;

export class StoreScripts {
  constructor(private readonly redis: Redis | Cluster) {
    for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
      // Defining again on a connection another store class shares is harmless (same name, same script).
      redis.defineCommand(commandOf(name), { numberOfKeys: SCRIPTS[name].numberOfKeys, lua: SCRIPTS[name].lua });
    }
  }

  /**
   * Runs script `name` with `keys` (exactly as many as its file name says)
   * and `args`. The reply is as Redis gives it; the typed method that calls
   * this reads it by the script's contract.
   */
  async run<Reply>(name: ScriptName, keys: readonly string[], args: readonly ScriptArgument[]): Promise<Reply> {
    const expected = SCRIPTS[name].numberOfKeys;
    if (keys.length !== expected) throw new Error(`script ${name} takes ${expected} keys, given ${keys.length}`);
    const command = (this.redis as unknown as Record<string, ScriptCommand>)[commandOf(name)]!;
    return (await command.call(this.redis, ...keys, ...args)) as Reply;
  }
}
