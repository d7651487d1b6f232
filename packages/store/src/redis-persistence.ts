/**
 * Is Redis persisting what it acknowledges? (issue 12 item 7)
 *
 * A full disk under Redis shows in two ways, depending on its fsync policy:
 *  - with `appendfsync everysec`/`no` (or RDB snapshots), Redis stays up, reports
 *    `aof_last_write_status:err` / `rdb_last_bgsave_status:err` in INFO
 *    persistence and refuses writes with MISCONF;
 *  - with the shipped `appendfsync always`, a short AOF write makes Redis exit
 *    ("Can't recover from AOF write error"); it restarts, loads, and exits at the
 *    next write that does not fit: a crash loop whose only trace is a new
 *    run_id after every restart.
 * This watch reads both (one INFO call) so that readiness fails with the
 * reason and a metric moves, rather than a crash loop being the only signal.
 */
import type { Cluster, Redis } from 'ioredis';

export interface PersistenceVerdict {
  ok: boolean;
  /** Why not ok ('' when ok). Fixed texts plus counts, for logs and the health reason. */
  reason: string;
}

export interface RedisPersistenceWatchOptions {
  /** Restarts (changes of run_id) within `restartWindowMs` that count as a crash loop. */
  restartsToFail: number;
  restartWindowMs: number;
  /** ms since the epoch (injected for tests). */
  clock?: () => number;
}

/** INFO fields that report a failed write of Redis's persistence, and what each means. */
const FAILURE_FIELDS: [field: string, meaning: string][] = [
  ['aof_last_write_status', 'Redis cannot write its AOF (disk full or failing?); it refuses writes (MISCONF)'],
  ['rdb_last_bgsave_status', "Redis's last RDB snapshot failed (disk full or failing?)"],
  ['aof_last_bgrewrite_status', "Redis's last AOF rewrite failed (disk full or failing?)"],
];

export class RedisPersistenceWatch {
  private runId: string | undefined;
  private readonly restartTimes: number[] = [];
  /** Restarts of Redis seen since this process started (a changed run_id). */
  restarts = 0;
  /** The last verdict (ok until the first check). */
  last: PersistenceVerdict = { ok: true, reason: '' };

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: RedisPersistenceWatchOptions,
  ) {}

  /** One INFO call; never throws (an unreachable Redis is a failed verdict). */
  async check(): Promise<PersistenceVerdict> {
    this.last = await this.evaluate();
    return this.last;
  }

  private async evaluate(): Promise<PersistenceVerdict> {
    const now = (this.options.clock ?? Date.now)();
    let text: string;
    try {
      text = String(await this.redis.call('INFO', 'server', 'persistence'));
    } catch {
      return { ok: false, reason: 'Redis unreachable' };
    }
    const info = new Map<string, string>();
    for (const line of text.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) info.set(line.slice(0, colon), line.slice(colon + 1));
    }
    const runId = info.get('run_id');
    if (runId && this.runId !== undefined && runId !== this.runId) {
      this.restarts++;
      this.restartTimes.push(now);
    }
    if (runId) this.runId = runId;
    while (this.restartTimes.length > 0 && this.restartTimes[0]! < now - this.options.restartWindowMs) this.restartTimes.shift();

    const failures = FAILURE_FIELDS.filter(([field]) => info.get(field) === 'err').map(([, meaning]) => meaning);
    if (this.restartTimes.length >= this.options.restartsToFail) {
      failures.push(
        `Redis restarted ${this.restartTimes.length} times in the last ${Math.round(this.options.restartWindowMs / 1000)} s ` +
          '(crash loop: with appendfsync always, a failed AOF write, e.g. on a full disk, makes Redis exit)',
      );
    }
    return failures.length === 0 ? { ok: true, reason: '' } : { ok: false, reason: failures.join('; ') };
  }
}
