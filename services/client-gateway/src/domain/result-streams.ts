/**
 * Bounds on concurrent GetResult streams, per gateway and per client (token
 * subject). A result stream holds one read block of the result object
 * (domain/result-object.ts) and the messages grpc-js has not yet sent (a
 * client that stops reading keeps them), so unread downloads must not add up
 * without limit. Past a bound the call is
 * refused at once with RESOURCE_EXHAUSTED and a retry hint: a download is
 * cheap to retry, and nothing waits holding memory.
 */
import { refuse } from '@secagg/core';

export interface ResultStreamLimits {
  maxResultStreams: number;
  maxResultStreamsPerClient: number;
  overloadRetryAfterMs: number;
}

export class ResultStreams {
  private open = 0;
  private readonly perClient = new Map<string, number>();

  constructor(private readonly limits: ResultStreamLimits) {}

  /** Takes a stream of `clientId`, or throws RESOURCE_EXHAUSTED; call the returned function once when the stream ends. */
  acquire(clientId: string): () => void {
    const { maxResultStreams, maxResultStreamsPerClient, overloadRetryAfterMs } = this.limits;
    const mine = this.perClient.get(clientId) ?? 0;
    if (mine >= maxResultStreamsPerClient) {
      throw refuse('result_streams_client', `this client already has ${mine} result downloads open (at most ${maxResultStreamsPerClient}); retry later`, { retryAfterMs: overloadRetryAfterMs });
    }
    if (this.open >= maxResultStreams) {
      throw refuse('result_streams', `the gateway has ${this.open} result downloads open (at most ${maxResultStreams}); retry later`, { retryAfterMs: overloadRetryAfterMs });
    }
    this.open++;
    this.perClient.set(clientId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.perClient.get(clientId) ?? 1) - 1;
      if (left === 0) this.perClient.delete(clientId);
      else this.perClient.set(clientId, left);
    };
  }
}
