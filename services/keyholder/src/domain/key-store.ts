/**
 * The keyholder's own durable store (SQLite via node:sqlite, WAL, synchronous
 * FULL): sealed round secret keys, stored releases and the privacy ledger.
 * It is deliberately not the shared queue Redis: nothing here is ever visible
 * to the gateway or the aggregators.
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * A round key's life:
 *  ready    → the secret key is stored; nothing decrypted yet;
 *  charged  → a release was admitted and charged to the ledger for one
 *             contributors digest and one encrypted sum (its SHA-256); the
 *             key is still stored so that a crash before the outcome is
 *             recorded resumes the SAME release under the SAME charge;
 *  released → the noisy release is stored; the key is destroyed;
 *  refused  → the noised sum failed the range check (charged all the same);
 *             the key is destroyed;
 *  expired  → never released, destroyed at deadline + retention;
 *  consumed → (stores written before charged-first releases) the key was
 *             taken out for a decryption that never finished: not resumable.
 */
export type KeyStatus = 'ready' | 'charged' | 'released' | 'refused' | 'expired' | 'consumed';

/** What a charged release is bound to: a resumed attempt must bring exactly the same. */
export interface ReleaseClaim {
  contributorsSha256: Uint8Array;
  /** SHA-256 of the encrypted sum's serialized ciphertexts, in order. */
  sumSha256: Uint8Array;
}

export interface RoundKeyRow {
  roundId: string;
  config: Uint8Array;
  ckks: Uint8Array;
  publicKey: Uint8Array;
  status: KeyStatus;
  /** For `refused` and `expired`: a fixed reason code, never a number from the data. */
  reason: string;
  createdMs: number;
  /** Set from the moment a release is charged (status charged, released or refused). */
  claim: ReleaseClaim | undefined;
}

/** A stored release, without its values (read those with `releaseValues`: they can be large). */
export interface StoredRelease {
  roundId: string;
  contributorsSha256: Uint8Array;
  header: Uint8Array;
  releasedMs: number;
}

/** A release to store: `sum` is the noisy sum as little-endian float64 bytes (any view; not copied). */
export interface ReleaseRow extends StoredRelease {
  sum: Uint8Array;
}

/**
 * Bytes per stored row of a release's values (65,536 float64 values). SQLite
 * copies a bound blob and again builds the row from it, so one 80 MB blob
 * (a 10M-value sum) would cost 160 MB of transient memory; rows of this size
 * cost 1 MiB, whatever the vector length (issue 5 item 2).
 */
export const RELEASE_RUN_BYTES = 524_288;

/** One release charged to a privacy group. */
export interface LedgerEntry {
  privacyGroup: string;
  roundId: string;
  /** The noise multiplier the accountant used: sigma / L2 sensitivity (rounding and CKKS error included); 0 = noise-free. */
  noiseMultiplier: number;
  /** Poisson sampling rate q accounted. */
  samplingRate: number;
  /** Epsilon of this release alone at `delta` (for display; budgets compose the RDP of every entry). */
  epsilon: number;
  delta: number;
  chargedMs: number;
}

/** A privacy group's budget as set by a coordinator. */
export interface BudgetRow {
  privacyGroup: string;
  epsilon: number;
  delta: number;
  updatedMs: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS round_keys (
  round_id TEXT PRIMARY KEY,
  config BLOB NOT NULL,
  ckks BLOB NOT NULL,
  public_key BLOB NOT NULL,
  sealed_secret_key BLOB,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
  round_id TEXT PRIMARY KEY,
  contributors_sha256 BLOB NOT NULL,
  header BLOB NOT NULL,
  sum BLOB NOT NULL,
  released_ms INTEGER NOT NULL
);
-- A release's values in runs of RELEASE_RUN_BYTES (releases.sum is then empty;
-- a non-empty releases.sum is a release stored whole, before runs existed).
CREATE TABLE IF NOT EXISTS release_values (
  round_id TEXT NOT NULL,
  byte_offset INTEGER NOT NULL,
  f64le BLOB NOT NULL,
  PRIMARY KEY (round_id, byte_offset)
);
CREATE TABLE IF NOT EXISTS privacy_budgets (
  privacy_group TEXT PRIMARY KEY,
  epsilon REAL NOT NULL,
  delta REAL NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  privacy_group TEXT NOT NULL,
  round_id TEXT NOT NULL UNIQUE,
  noise_multiplier REAL NOT NULL,
  sampling_rate REAL NOT NULL,
  epsilon REAL NOT NULL,
  delta REAL NOT NULL,
  charged_ms INTEGER NOT NULL
);
`;

export class KeyStore {
  private readonly db: DatabaseSync;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(join(dataDir, 'keyholder.sqlite'));
    // secure_delete: SQLite zeroes the bytes of deleted or overwritten content in
    // its pages, so a destroyed key is not left in a free page or slack space.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;');
    this.db.exec(SCHEMA);
    this.addColumnIfMissing('round_keys', 'claim_contributors_sha256', 'BLOB');
    this.addColumnIfMissing('round_keys', 'claim_sum_sha256', 'BLOB');
    // t-of-n committees (issue 16): 1 once the sealed key is this keyholder's Shamir share σ_j, no longer its own s_j.
    this.addColumnIfMissing('round_keys', 'key_share_dealt', 'INTEGER NOT NULL DEFAULT 0');
  }

  private addColumnIfMissing(table: string, column: string, type: string): void {
    const columns = this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
    if (!columns.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }

  close(): void {
    this.db.close();
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * t-of-n: replaces a ready round key's sealed secret share by the sealed sum
   * of the Shamir shares dealt to this keyholder (secure_delete zeroes the old
   * one). False unless the key is ready and not dealt yet.
   */
  storeDealtKeyShare(roundId: string, sealed: Uint8Array): boolean {
    const result = this.db
      .prepare(`UPDATE round_keys SET sealed_secret_key = ?, key_share_dealt = 1 WHERE round_id = ? AND status = 'ready' AND key_share_dealt = 0`)
      .run(sealed, roundId);
    return result.changes === 1;
  }

  /** t-of-n dealing: the sealed secret share of a ready round key (undefined otherwise). Nothing is charged: nothing is decrypted. */
  getSealedKey(roundId: string): Uint8Array | undefined {
    const row = this.db.prepare(`SELECT sealed_secret_key FROM round_keys WHERE round_id = ? AND status = 'ready'`).get(roundId) as
      | { sealed_secret_key: Uint8Array | null }
      | undefined;
    return row?.sealed_secret_key ?? undefined;
  }

  /** Whether a round key's sealed share is the dealt Shamir share (storeDealtKeyShare). */
  isKeyShareDealt(roundId: string): boolean {
    const row = this.db.prepare('SELECT key_share_dealt FROM round_keys WHERE round_id = ?').get(roundId) as { key_share_dealt: number } | undefined;
    return row?.key_share_dealt === 1;
  }

  /** Inserts a new round key; false if the round id exists already. */
  insertRoundKey(row: Omit<RoundKeyRow, 'status' | 'reason' | 'claim'> & { sealedSecretKey: Uint8Array }): boolean {
    const result = this.db
      .prepare(
        `INSERT OR IGNORE INTO round_keys (round_id, config, ckks, public_key, sealed_secret_key, status, created_ms)
         VALUES (?, ?, ?, ?, ?, 'ready', ?)`,
      )
      .run(row.roundId, row.config, row.ckks, row.publicKey, row.sealedSecretKey, row.createdMs);
    return result.changes === 1;
  }

  getRoundKey(roundId: string): RoundKeyRow | undefined {
    const row = this.db
      .prepare(
        `SELECT round_id, config, ckks, public_key, status, reason, created_ms, claim_contributors_sha256, claim_sum_sha256
         FROM round_keys WHERE round_id = ?`,
      )
      .get(roundId) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    const claimed = row.claim_contributors_sha256 as Uint8Array | null;
    return {
      roundId: row.round_id as string,
      config: row.config as Uint8Array,
      ckks: row.ckks as Uint8Array,
      publicKey: row.public_key as Uint8Array,
      status: row.status as KeyStatus,
      reason: row.reason as string,
      createdMs: Number(row.created_ms),
      claim: claimed ? { contributorsSha256: claimed, sumSha256: row.claim_sum_sha256 as Uint8Array } : undefined,
    };
  }

  /**
   * Admits and charges a release, before anything is decrypted: in one
   * durable transaction, `affordable` re-checks the group's budget against
   * the ledger as it is then (writers are serialized by BEGIN IMMEDIATE, so
   * two releases of one group can never both pass a budget only one fits),
   * the ledger entry is written and the key moves from `ready` to `charged`,
   * bound to `claim`. Every decryption is therefore charged, whatever its
   * outcome. Returns the sealed secret key for the decryption.
   *
   * A key already `charged` with the same claim (a crash or a lost answer
   * between the charge and the outcome) is returned again WITHOUT a second
   * charge: the resumed attempt decrypts the same encrypted sum, and only one
   * outcome is ever recorded. Any other state or claim returns undefined.
   */
  chargeRelease(roundId: string, claim: ReleaseClaim, charge: LedgerEntry, affordable?: (ledger: LedgerEntry[]) => void): Uint8Array | undefined {
    return this.transaction(() => {
      const row = this.db
        .prepare(`SELECT sealed_secret_key, status, claim_contributors_sha256, claim_sum_sha256 FROM round_keys WHERE round_id = ?`)
        .get(roundId) as
        | { sealed_secret_key: Uint8Array | null; status: KeyStatus; claim_contributors_sha256: Uint8Array | null; claim_sum_sha256: Uint8Array | null }
        | undefined;
      if (!row?.sealed_secret_key) return undefined;
      if (row.status === 'charged') {
        const same =
          row.claim_contributors_sha256 !== null &&
          row.claim_sum_sha256 !== null &&
          sameBytes(row.claim_contributors_sha256, claim.contributorsSha256) &&
          sameBytes(row.claim_sum_sha256, claim.sumSha256);
        return same ? row.sealed_secret_key : undefined;
      }
      if (row.status !== 'ready') return undefined;
      affordable?.(this.ledger(charge.privacyGroup));
      this.db
        .prepare(
          `INSERT INTO ledger (privacy_group, round_id, noise_multiplier, sampling_rate, epsilon, delta, charged_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(charge.privacyGroup, charge.roundId, charge.noiseMultiplier, charge.samplingRate, charge.epsilon, charge.delta, charge.chargedMs);
      this.db
        .prepare(`UPDATE round_keys SET status = 'charged', reason = '', claim_contributors_sha256 = ?, claim_sum_sha256 = ? WHERE round_id = ?`)
        .run(claim.contributorsSha256, claim.sumSha256, roundId);
      return row.sealed_secret_key;
    });
  }

  /**
   * Records the outcome of a charged release as a refusal (fixed `reason`
   * code) and destroys the key, in one durable transaction. False if the key
   * is not `charged` (another attempt recorded the outcome first).
   */
  recordRefusal(roundId: string, reason: string): boolean {
    const recorded = this.transaction(() => {
      const changed = this.db.prepare(`UPDATE round_keys SET status = 'refused', reason = ? WHERE round_id = ? AND status = 'charged'`).run(reason, roundId);
      if (Number(changed.changes) !== 1) return false;
      this.destroySecretKey(roundId);
      return true;
    });
    if (recorded) this.purgeDestroyedKeys();
    return recorded;
  }

  /**
   * Stores the noisy release of a charged round and destroys its key, in one
   * durable transaction (synchronous FULL: on disk when this returns). The
   * charge was made by `chargeRelease`. False if the key is not `charged`
   * (another attempt recorded the outcome first: nothing is stored).
   */
  recordRelease(release: ReleaseRow): boolean {
    const recorded = this.transaction(() => {
      const changed = this.db.prepare(`UPDATE round_keys SET status = 'released', reason = '' WHERE round_id = ? AND status = 'charged'`).run(release.roundId);
      if (Number(changed.changes) !== 1) return false;
      this.db
        .prepare('INSERT INTO releases (round_id, contributors_sha256, header, sum, released_ms) VALUES (?, ?, ?, ?, ?)')
        .run(release.roundId, release.contributorsSha256, release.header, new Uint8Array(0), release.releasedMs);
      const insertRun = this.db.prepare('INSERT INTO release_values (round_id, byte_offset, f64le) VALUES (?, ?, ?)');
      const sum = release.sum;
      for (let offset = 0; offset < sum.byteLength; offset += RELEASE_RUN_BYTES) {
        const end = Math.min(sum.byteLength, offset + RELEASE_RUN_BYTES);
        insertRun.run(release.roundId, offset, new Uint8Array(sum.buffer, sum.byteOffset + offset, end - offset));
      }
      this.destroySecretKey(release.roundId);
      return true;
    });
    if (recorded) this.purgeDestroyedKeys();
    return recorded;
  }

  /**
   * Destroys the keys of rounds that can no longer be released: every key
   * still `ready` or `charged` whose round deadline (`deadlineOf`, ms) plus
   * `retentionMs` is before `nowMs` becomes `expired`. Returns the round ids.
   */
  expireKeys(nowMs: number, retentionMs: number, deadlineOf: (config: Uint8Array) => number): string[] {
    const rows = this.db
      .prepare(`SELECT round_id, config FROM round_keys WHERE status IN ('ready', 'charged') AND sealed_secret_key IS NOT NULL`)
      .all() as { round_id: string; config: Uint8Array }[];
    const expired: string[] = [];
    for (const row of rows) {
      if (!(deadlineOf(row.config) + retentionMs < nowMs)) continue;
      const done = this.transaction(() => {
        const changed = this.db
          .prepare(`UPDATE round_keys SET status = 'expired', reason = 'key_expired' WHERE round_id = ? AND status IN ('ready', 'charged')`)
          .run(row.round_id);
        if (Number(changed.changes) === 1) this.destroySecretKey(row.round_id);
        return Number(changed.changes) === 1;
      });
      if (done) expired.push(row.round_id);
    }
    if (expired.length > 0) this.purgeDestroyedKeys();
    return expired;
  }

  /**
   * Overwrites the sealed key with zeros of the same length, then clears it.
   * With secure_delete the freed bytes are zeroed in the page too; the page
   * versions that still hold the key live in the WAL until
   * `purgeDestroyedKeys` checkpoints and truncates it. Call inside a
   * transaction.
   */
  private destroySecretKey(roundId: string): void {
    this.db.prepare('UPDATE round_keys SET sealed_secret_key = zeroblob(length(sealed_secret_key)) WHERE round_id = ?').run(roundId);
    this.db.prepare('UPDATE round_keys SET sealed_secret_key = NULL WHERE round_id = ?').run(roundId);
  }

  /**
   * Moves every committed page into the database file and truncates the WAL
   * to zero bytes: the WAL is where the page images that held a destroyed
   * key survive (they were readable from keyholder.sqlite-wal before).
   * Called after every destruction. If a reader holds the WAL, the
   * checkpoint is partial and the next one finishes the job.
   */
  purgeDestroyedKeys(): void {
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  getRelease(roundId: string): StoredRelease | undefined {
    const row = this.db
      .prepare('SELECT round_id, contributors_sha256, header, released_ms FROM releases WHERE round_id = ?')
      .get(roundId) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      roundId: row.round_id as string,
      contributorsSha256: row.contributors_sha256 as Uint8Array,
      header: row.header as Uint8Array,
      releasedMs: Number(row.released_ms),
    };
  }

  /**
   * The stored release's values as little-endian float64 bytes, in order, one
   * stored run at a time (fresh, 8-aligned arrays): memory is one run, and no
   * statement stays open while the caller holds a run. Nothing for an
   * unknown round.
   */
  *releaseValues(roundId: string): Generator<Uint8Array> {
    const inline = this.db.prepare('SELECT sum FROM releases WHERE round_id = ? AND length(sum) > 0').get(roundId) as { sum: Uint8Array } | undefined;
    if (inline) {
      yield inline.sum;
      return;
    }
    const offsets = this.db
      .prepare('SELECT byte_offset FROM release_values WHERE round_id = ? ORDER BY byte_offset')
      .all(roundId)
      .map((row) => Number((row as { byte_offset: number | bigint }).byte_offset));
    const select = this.db.prepare('SELECT f64le FROM release_values WHERE round_id = ? AND byte_offset = ?');
    for (const offset of offsets) {
      const row = select.get(roundId, offset) as { f64le: Uint8Array } | undefined;
      if (!row) throw new Error(`release ${roundId}: run at byte ${offset} vanished`);
      yield row.f64le;
    }
  }

  /** The group's budget row, or undefined while the keyholder's default applies. */
  getBudget(privacyGroup: string): BudgetRow | undefined {
    const row = this.db.prepare('SELECT * FROM privacy_budgets WHERE privacy_group = ?').get(privacyGroup) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      privacyGroup: row.privacy_group as string,
      epsilon: row.epsilon as number,
      delta: row.delta as number,
      updatedMs: Number(row.updated_ms),
    };
  }

  /** Sets (or replaces) the group's budget, durably. */
  setBudget(row: BudgetRow): void {
    this.db
      .prepare(
        `INSERT INTO privacy_budgets (privacy_group, epsilon, delta, updated_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (privacy_group) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta, updated_ms = excluded.updated_ms`,
      )
      .run(row.privacyGroup, row.epsilon, row.delta, row.updatedMs);
  }

  /**
   * KEK rotation: re-seals every stored secret key that `needsReseal` flags,
   * each in its own transaction (a crash midway leaves every blob readable by
   * the old or the new KEK). Returns how many were re-sealed.
   */
  resealSecretKeys(needsReseal: (sealed: Uint8Array) => boolean, reseal: (roundId: string, sealed: Uint8Array) => Uint8Array): number {
    const rows = this.db
      .prepare(`SELECT round_id, sealed_secret_key FROM round_keys WHERE sealed_secret_key IS NOT NULL`)
      .all() as { round_id: string; sealed_secret_key: Uint8Array }[];
    let count = 0;
    for (const row of rows) {
      if (!needsReseal(row.sealed_secret_key)) continue;
      const fresh = reseal(row.round_id, row.sealed_secret_key);
      const result = this.db
        .prepare(`UPDATE round_keys SET sealed_secret_key = ? WHERE round_id = ? AND sealed_secret_key = ?`)
        .run(fresh, row.round_id, row.sealed_secret_key);
      count += Number(result.changes);
    }
    return count;
  }

  /** Every privacy group with a budget or a charge. */
  privacyGroups(): string[] {
    const rows = this.db
      .prepare('SELECT privacy_group FROM ledger UNION SELECT privacy_group FROM privacy_budgets ORDER BY 1')
      .all() as { privacy_group: string }[];
    return rows.map((r) => r.privacy_group);
  }

  /** Round keys by status, for metrics. */
  roundKeyCounts(): Record<KeyStatus, number> {
    const counts: Record<KeyStatus, number> = { ready: 0, charged: 0, released: 0, refused: 0, expired: 0, consumed: 0 };
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM round_keys GROUP BY status').all() as { status: KeyStatus; n: number }[];
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  /** Cheap liveness query of the database (readiness check). */
  ping(): boolean {
    return (this.db.prepare('SELECT 1 AS one').get() as { one: number } | undefined)?.one === 1;
  }

  ledger(privacyGroup?: string): LedgerEntry[] {
    const rows = (
      privacyGroup === undefined
        ? this.db.prepare('SELECT * FROM ledger ORDER BY id').all()
        : this.db.prepare('SELECT * FROM ledger WHERE privacy_group = ? ORDER BY id').all(privacyGroup)
    ) as Record<string, unknown>[];
    return rows.map((r) => ({
      privacyGroup: r.privacy_group as string,
      roundId: r.round_id as string,
      noiseMultiplier: r.noise_multiplier as number,
      samplingRate: r.sampling_rate as number,
      epsilon: r.epsilon as number,
      delta: r.delta as number,
      chargedMs: Number(r.charged_ms),
    }));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
