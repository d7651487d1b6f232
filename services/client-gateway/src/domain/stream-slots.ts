/**
 * Admission of upload streams on this gateway: at most `maxConcurrentStreams`
 * are read at once, at most `maxWaitingStreams` wait for a slot (in arrival
 * order), and one client holds at most `maxStreamsPerClient` of either.
 *
 * A waiting stream is simply not read: grpc-js pulls messages only as the
 * handler consumes them, so HTTP/2 flow control holds the client's writes
 * while it waits. What a waiting stream costs is bounded by grpc-js's
 * read-ahead (one Readable high-water mark of messages).
 */
import { refuse, SecaggError } from '@secagg/core';

export interface StreamLimits {
  maxConcurrentStreams: number;
  maxWaitingStreams: number;
  maxStreamsPerClient: number;
  /** Hint sent with every refusal, ms. */
  retryAfterMs: number;
}

/** A held stream slot; `release()` is idempotent. */
export interface StreamSlot {
  release(): void;
}

interface Waiter {
  grant: () => void;
  refuse: (error: SecaggError) => void;
}

export class StreamSlots {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly perClient = new Map<string, number>();
  private draining = false;

  constructor(private readonly limits: StreamLimits) {}

  get activeCount(): number {
    return this.active;
  }

  get waitingCount(): number {
    return this.waiters.length;
  }

  /**
   * Takes a slot for an upload of `clientId`, waiting up to `waitMs` behind
   * earlier arrivals. Throws RESOURCE_EXHAUSTED (with the retry hint) when the
   * client or the wait queue is at its limit or the wait times out,
   * UNAVAILABLE while draining, CANCELLED when `signal` aborts.
   */
  async acquire(clientId: string, waitMs: number, signal: AbortSignal): Promise<StreamSlot> {
    if (this.draining) throw this.drainingError();
    const held = this.perClient.get(clientId) ?? 0;
    if (held >= this.limits.maxStreamsPerClient) {
      throw this.exhausted(`this client already has ${held} uploads open on this gateway (limit ${this.limits.maxStreamsPerClient})`, 'client_streams');
    }
    this.perClient.set(clientId, held + 1);
    const slot = this.slotFor(clientId);
    if (this.active < this.limits.maxConcurrentStreams && this.waiters.length === 0) {
      this.active++;
      return slot;
    }
    if (this.waiters.length >= this.limits.maxWaitingStreams || waitMs <= 0) {
      this.forgetClient(clientId);
      throw this.exhausted(`gateway busy: ${this.active} uploads running, ${this.waiters.length} waiting`, 'gateway_busy');
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          resolve();
        },
        refuse: (error) => {
          cleanup();
          this.forgetClient(clientId);
          reject(error);
        },
      };
      const timer = setTimeout(
        () => this.remove(waiter, this.exhausted(`gateway busy: no upload slot within ${waitMs} ms`, 'gateway_busy')),
        waitMs,
      );
      const onAbort = () => this.remove(waiter, refuse('cancelled', 'upload cancelled by the client while waiting for a slot'));
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      if (signal.aborted) onAbort();
    });
    return slot;
  }

  /** Refuses every waiting and every future upload with UNAVAILABLE (shutdown); running ones continue. */
  drain(): void {
    this.draining = true;
    for (const waiter of this.waiters.splice(0)) waiter.refuse(this.drainingError());
  }

  private slotFor(clientId: string): StreamSlot {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.forgetClient(clientId);
        const next = this.waiters.shift();
        // The slot passes straight to the next waiter: `active` is unchanged.
        if (next) next.grant();
        else this.active--;
      },
    };
  }

  private remove(waiter: Waiter, error: SecaggError): void {
    const at = this.waiters.indexOf(waiter);
    if (at < 0) return;
    this.waiters.splice(at, 1);
    waiter.refuse(error);
  }

  private forgetClient(clientId: string): void {
    const held = (this.perClient.get(clientId) ?? 1) - 1;
    if (held <= 0) this.perClient.delete(clientId);
    else this.perClient.set(clientId, held);
  }

  private exhausted(message: string, reason: 'client_streams' | 'gateway_busy'): SecaggError {
    return refuse(reason, `${message}; retry later`, { retryAfterMs: this.limits.retryAfterMs });
  }

  private drainingError(): SecaggError {
    return refuse('draining', 'gateway shutting down; retry (another gateway or this one after restart)', { retryAfterMs: this.limits.retryAfterMs });
  }
}
