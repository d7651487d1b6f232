/**
 * The keyholder's own durable store (SQLite via node:sqlite, WAL, synchronous
 * FULL): sealed round secret keys, stored releases and the privacy ledger.
 * It is deliberately not the shared queue Redis: nothing here is ever visible
 * to the gateway or the aggregators.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export type KeyStatus = 'ready' | 'consumed' | 'released' | 'refused';

export interface RoundKeyRow {
  roundId: string;
  config: Uint8Array;
  ckks: Uint8Array;
  publicKey: Uint8Array;
  status: KeyStatus;
  reason: string;
  createdMs: number;
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
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;');
    this.db.exec(SCHEMA);
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

  /** Inserts a new round key; false if the round id exists already. */
  insertRoundKey(row: Omit<RoundKeyRow, 'status' | 'reason'> & { sealedSecretKey: Uint8Array }): boolean {
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
      .prepare('SELECT round_id, config, ckks, public_key, status, reason, created_ms FROM round_keys WHERE round_id = ?')
      .get(roundId) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      roundId: row.round_id as string,
      config: row.config as Uint8Array,
      ckks: row.ckks as Uint8Array,
      publicKey: row.public_key as Uint8Array,
      status: row.status as KeyStatus,
      reason: row.reason as string,
      createdMs: Number(row.created_ms),
    };
  }

  /**
   * Takes the sealed secret key out of the store for the round's one and only
   * decryption: the key is deleted and the round marked consumed in the same
   * transaction, before anything is decrypted. A crash after this point can
   * waste the round, never allow a second decryption.
   */
  consumeSecretKey(roundId: string): Uint8Array | undefined {
    return this.transaction(() => {
      const row = this.db
        .prepare(`SELECT sealed_secret_key FROM round_keys WHERE round_id = ? AND status = 'ready'`)
        .get(roundId) as { sealed_secret_key: Uint8Array | null } | undefined;
      if (!row?.sealed_secret_key) return undefined;
      this.db
        .prepare(`UPDATE round_keys SET sealed_secret_key = NULL, status = 'consumed', reason = 'decryption started' WHERE round_id = ?`)
        .run(roundId);
      return row.sealed_secret_key;
    });
  }

  markRefused(roundId: string, reason: string): void {
    this.db
      .prepare(`UPDATE round_keys SET sealed_secret_key = NULL, status = 'refused', reason = ? WHERE round_id = ?`)
      .run(reason, roundId);
  }

  /**
   * Stores the release and charges the ledger in one durable transaction
   * (synchronous FULL: on disk when this returns). `affordable` is called
   * inside the transaction with the group's ledger as it is then (this
   * charge not yet included) and throws to refuse: writers are serialized
   * (BEGIN IMMEDIATE), so two releases of one group can never both pass a
   * budget only one of them fits.
   */
  recordRelease(release: ReleaseRow, charge: LedgerEntry, affordable?: (ledger: LedgerEntry[]) => void): void {
    this.transaction(() => {
      affordable?.(this.ledger(charge.privacyGroup));
      this.db
        .prepare('INSERT INTO releases (round_id, contributors_sha256, header, sum, released_ms) VALUES (?, ?, ?, ?, ?)')
        .run(release.roundId, release.contributorsSha256, release.header, new Uint8Array(0), release.releasedMs);
      const insertRun = this.db.prepare('INSERT INTO release_values (round_id, byte_offset, f64le) VALUES (?, ?, ?)');
      const sum = release.sum;
      for (let offset = 0; offset < sum.byteLength; offset += RELEASE_RUN_BYTES) {
        const end = Math.min(sum.byteLength, offset + RELEASE_RUN_BYTES);
        insertRun.run(release.roundId, offset, new Uint8Array(sum.buffer, sum.byteOffset + offset, end - offset));
      }
      this.db
        .prepare(
          `INSERT INTO ledger (privacy_group, round_id, noise_multiplier, sampling_rate, epsilon, delta, charged_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(charge.privacyGroup, charge.roundId, charge.noiseMultiplier, charge.samplingRate, charge.epsilon, charge.delta, charge.chargedMs);
      this.db.prepare(`UPDATE round_keys SET status = 'released', reason = '' WHERE round_id = ?`).run(release.roundId);
    });
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
    const counts: Record<KeyStatus, number> = { ready: 0, consumed: 0, released: 0, refused: 0 };
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
