/**
 * Admission control of update uploads: every bound an upload consumes is
 * taken here, before a single chunk is read, and given back in one place.
 *
 *  1. a stream slot on this gateway (and one of the client's own slots),
 *     before even the header is read (`enter`);
 *  2. room in the fold backlog (committed updates not yet folded), once the
 *     header told the round and thus the size (`reserve`), and
 *  3. the update's whole size from the staged-bytes budget in Redis (global,
 *     and the client's own share), also at `reserve`.
 *
 * While a bound is full the upload waits unread (flow control pauses the
 * client) for up to `admissionWaitMs`; then it is refused with
 * RESOURCE_EXHAUSTED and a `retry-after-ms` hint, which the SDK honours
 * before retrying with the same update id. On shutdown, `drain()` refuses
 * waiting and new uploads with UNAVAILABLE while admitted ones finish.
 *
 * Once admitted, an upload holds everything it needs to finish: nothing is
 * taken mid-stream, so nothing can be refused mid-stream. (Reserving step by
 * step as chunks arrived let every upload in, then left them all holding part
 * of the budget and none able to grow: a livelock in which 0 of 40 160 MB
 * uploads committed, issue 11.) The price is that a slow upload holds its
 * whole size until it ends; its deadline (uploadGraceMs + size /
 * minUploadBytesPerSecond, submit-update.ts), the idle-stream timeout and the
 * per-client share bound that (docs/SECURITY.md "Limits").
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, refuse, SecaggError } from '@secagg/core';
import type { Logger } from '@secagg/core';
import type { Reservation, RoundStore, StagingBudget } from '@secagg/store';
import type { GatewayConfig } from '../config.js';
import { FoldBacklog } from './fold-backlog.js';
import { StreamSlots } from './stream-slots.js';

export interface AdmissionSettings {
  maxFoldBacklog: number;
  admissionWaitMs: number;
  overloadRetryAfterMs: number;
  /** TTL of a staging list; reservations are kept alive so they always outlive it. */
  stagedTtlMs: number;
  /** Staged bytes every upload together may hold, bytes. */
  maxStagedBytes: number;
  /** Staged bytes one client may hold across its uploads, bytes. */
  maxStagedBytesPerClient: number;
}

/**
 * An upload holding a stream slot. `reserve()` then takes its room in the fold
 * backlog and all of its bytes from the staged budget; `release()` gives all back.
 */
export interface UploadTicket {
  /** The staging list's id (its budget reservation has the same id). */
  readonly stagingId: string;
  /**
   * For an update of `updateBytes`: waits (unread) for fold-backlog room and
   * staging budget for all of it, within what is left of the admission wait,
   * then RESOURCE_EXHAUSTED. An update larger than the budget or the client's
   * share is refused at once (FAILED_PRECONDITION, `update_too_large`).
   */
  reserve(updateBytes: number): Promise<void>;
  /** Keeps the staged-bytes reservation alive on long uploads (cheap: writes at most once per half TTL). */
  keepAlive(): Promise<void>;
  /**
   * Gives everything back. Idempotent; never throws (an unreleased reservation
   * expires). `endedBy`: the error that ended an upload which had reserved its
   * staging, counted in {@link UploadAdmission.discardedUploads} by its reason.
   */
  release(endedBy?: unknown): Promise<void>;
}

/** First and largest pause between two checks of a full Redis-side bound, ms. */
const POLL_FIRST_MS = 20;
const POLL_MAX_MS = 200;

export class UploadAdmission {
  private admitted = 0;
  private readonly discarded = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly settings: AdmissionSettings,
    private readonly slots: StreamSlots,
    private readonly backlog: FoldBacklog,
    private readonly budget: StagingBudget,
    private readonly clock: () => number,
    private readonly logger: Logger,
  ) {}

  /** The admission a gateway with `config` applies (its store and staging budget as in main.ts). */
  static fromConfig(
    config: GatewayConfig,
    deps: { store: Pick<RoundStore, 'unfoldedUpdates'>; budget: StagingBudget; clock: () => number; logger: Logger },
  ): UploadAdmission {
    const slots = new StreamSlots({
      maxConcurrentStreams: config.maxConcurrentStreams,
      maxWaitingStreams: config.maxWaitingStreams,
      maxStreamsPerClient: config.maxStreamsPerClient,
      retryAfterMs: config.overloadRetryAfterMs,
    });
    return new UploadAdmission(
      config,
      slots,
      new FoldBacklog(deps.store, config.foldBacklogCacheMs, deps.clock),
      deps.budget,
      deps.clock,
      deps.logger,
    );
  }

  /** Bytes of staged (unfinished) uploads across every gateway, for metrics. */
  reservedStagingBytes(): Promise<number> {
    return this.budget.reservedBytes();
  }

  /**
   * Uploads that were admitted with a staging reservation and then ended
   * without a commit, by the reason of the error that ended them (the bytes
   * they staged were thrown away), since this gateway started.
   */
  discardedUploads(): ReadonlyMap<string, number> {
    return this.discarded;
  }

  /** Uploads holding a slot and not yet released. */
  get admittedCount(): number {
    return this.admitted;
  }

  /**
   * Admits an upload of `clientId` to a stream slot. Called before the first
   * frame is read, so a waiting upload costs no more than its HTTP/2 window.
   */
  async enter(clientId: string, signal: AbortSignal): Promise<UploadTicket> {
    const { admissionWaitMs, maxFoldBacklog, stagedTtlMs } = this.settings;
    const deadline = this.clock() + admissionWaitMs;
    const slot = await this.slots.acquire(clientId, admissionWaitMs, signal);
    this.admitted++;
    const stagingId = randomUUID();
    let reserved = 0;
    let reserving = false;
    let renewedAt = 0;
    let released = false;
    return {
      stagingId,
      reserve: async (bytes) => {
        const limit = Math.min(this.settings.maxStagedBytes, this.settings.maxStagedBytesPerClient);
        if (bytes > limit) {
          throw refuse('update_too_large', `an update of this round is ${bytes} bytes, more than this cluster may stage for one client at once (${limit}); the round cannot be served`);
        }
        await this.waitFor(async () => (await this.backlog.depth()) < maxFoldBacklog, deadline, signal, () =>
          this.exhausted(`fold backlog is at its limit of ${maxFoldBacklog} updates`, 'fold_backlog'),
        );
        // From here a reservation may exist even if this call fails (a reply lost with Redis): release() must try.
        reserving = true;
        let refusal: Reservation = 'held';
        await this.waitFor(
          async () => (refusal = await this.reserve(stagingId, clientId, bytes)) === 'held',
          deadline,
          signal,
          () =>
            refusal === 'client_limit'
              ? this.exhausted(`this client's uploads hold its staging share (${this.settings.maxStagedBytesPerClient} bytes)`, 'staging_client_limit')
              : this.exhausted(`staged-bytes budget (${this.settings.maxStagedBytes} bytes) is full`, 'staging_budget'),
        );
        reserved = bytes;
        renewedAt = this.clock();
        this.backlog.noteAdmitted();
      },
      keepAlive: async () => {
        if (reserved === 0 || this.clock() - renewedAt < stagedTtlMs / 2) return;
        renewedAt = this.clock();
        await this.reserve(stagingId, clientId, reserved);
      },
      release: async (endedBy) => {
        if (released) return;
        released = true;
        if (endedBy !== undefined && reserved > 0) {
          const reason = endedBy instanceof SecaggError ? endedBy.reason || 'unknown' : 'internal';
          this.discarded.set(reason, (this.discarded.get(reason) ?? 0) + 1);
        }
        slot.release();
        try {
          if (reserving) await this.budget.release(stagingId, this.clock());
        } catch (error) {
          this.logger.warn({ err: error, stagingId }, 'could not release a staging reservation; it expires on its own');
        } finally {
          this.admitted--;
          if (this.admitted === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        }
      },
    };
  }

  /** Refuses waiting and new uploads with UNAVAILABLE; admitted ones continue. */
  drain(): void {
    this.slots.drain();
  }

  /** Resolves once no upload holds a ticket, or after `timeoutMs`. */
  async whenIdle(timeoutMs: number): Promise<void> {
    if (this.admitted === 0) return;
    await Promise.race([new Promise<void>((resolve) => this.idleWaiters.push(resolve)), sleep(timeoutMs)]);
  }

  /**
   * Raises the reservation of `stagingId` to `bytes` under this gateway's
   * limits. A reservation outlives its staging list: the list's TTL restarts
   * with every chunk, the reservation is renewed every half TTL for two TTLs.
   */
  private reserve(stagingId: string, clientId: string, bytes: number): Promise<Reservation> {
    const { maxStagedBytes, maxStagedBytesPerClient, stagedTtlMs } = this.settings;
    const nowMs = this.clock();
    return this.budget.reserve({
      stagingId,
      clientId,
      bytes,
      maxBytes: maxStagedBytes,
      maxBytesPerClient: maxStagedBytesPerClient,
      nowMs,
      expiresMs: nowMs + 2 * stagedTtlMs,
    });
  }

  private async waitFor(ready: () => Promise<boolean>, deadline: number, signal: AbortSignal, refusal: () => SecaggError): Promise<void> {
    let pause = POLL_FIRST_MS;
    for (;;) {
      if (await ready()) return;
      if (signal.aborted) {
        // The upload's own deadline (submit-update.ts) aborts with its reason; anything else is the client going away.
        if (signal.reason instanceof SecaggError && signal.reason.code !== Code.Cancelled) throw signal.reason;
        throw refuse('cancelled', 'upload cancelled by the client while waiting for admission');
      }
      if (this.clock() + pause > deadline) throw refusal();
      await sleep(pause, undefined, { signal }).catch(() => {});
      pause = Math.min(POLL_MAX_MS, pause * 2);
    }
  }

  private exhausted(message: string, reason: 'staging_client_limit' | 'staging_budget' | 'fold_backlog'): SecaggError {
    return refuse(reason, `${message}; retry later`, { retryAfterMs: this.settings.overloadRetryAfterMs });
  }
}
