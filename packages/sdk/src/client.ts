/**
 * The secagg SDK: what a federated client, a coordinator or a script uses to
 * talk to a gateway. Clips, encrypts with the round's public key, streams the
 * update with backpressure, retries transient failures with the same update
 * id (so a retry is counted once), and downloads results.
 *
 * Before encrypting anything it verifies the keyholder's signed statement of
 * the round against the keyholder keys the caller pins, and encrypts, clips
 * and encodes only with the signed values (issue 10): the gateway is not
 * trusted with the round's key or parameters.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { createClient, isRetryable, isSecaggError, MAX_HTTP2_WINDOW_BYTES, MIN_HTTP2_WINDOW_BYTES, type ServiceClient } from '@secagg/core';
import { availableParallelism } from 'node:os';
import { CkksEngine, encryptVector, type CkksEncryptor, type CkksParams } from '@secagg/ckks';
import { EncryptionPool } from './encryption-pool.js';
import { bytesToFloat64, checkServedRound, isVoteRound, PinnedKeyholderKeys, toCkksParams, type VerifiedRound } from '@secagg/protocol';
import {
  ClientService,
  CoordinatorService,
  RoundConfigSchema,
  type GetRoundResponse,
  type PrivacyBudget,
  type PrivacyCost,
  type Receipt,
  type ResultHeader,
  type Round,
  type RoundConfig,
  type SubmitUpdateRequest,
  type SubmitUpdateRequestSchema,
} from '@secagg/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { clipToNorm } from './clip.js';
import { buildVotes, voteRoundOf, type Votes } from './votes.js';

export interface SecaggClientOptions {
  /** Gateway host:port. */
  address: string;
  /** Bearer token (JWT). */
  token: string;
  /** CA bundle (PEM file) that signs the gateway's certificate. */
  caFile?: string;
  /** DEVELOPMENT ONLY: plaintext connection. */
  insecure?: boolean;
  /** Retries of a transient failure (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED). Default 8. */
  maxAttempts?: number;
  /** First backoff, ms, doubled per attempt (capped at 10 s) unless the server sends a retry hint. Default 200. */
  initialBackoffMs?: number;
  /** Worker threads that encrypt in parallel; 0 encrypts on the calling thread. Default: the machine's cores. */
  encryptionThreads?: number;
  /**
   * Keyholder verification keys (Ed25519, PEM "PUBLIC KEY"; a string may hold
   * several) that round statements must be signed by. Required to submit
   * updates: without one, submitUpdate refuses. Pin the old and the new key
   * while the keyholder rotates its signing key (docs/OPERATIONS.md).
   */
  keyholderKeys?: readonly string[];
  /**
   * The client's HTTP/2 receive window, per stream and per connection, bytes
   * (65,535 – 2^31 − 1). Default {@link SDK_HTTP2_RECEIVE_WINDOW_BYTES}.
   */
  receiveWindowBytes?: number;
}

/**
 * The SDK's HTTP/2 receive window by default, bytes (issue 11, item 3): what
 * the gateway may send on a stream before the SDK reads it. A result message
 * is up to 2.1 MB (131,072 values; 1 MiB at the gateway's default of 65,536),
 * far over HTTP/2's 65,535-byte default, which would make every message wait
 * for window updates; 4 MiB holds the largest one whole. grpc-js's client has
 * a supported option for it (`grpc-node.flow_control_window`: SETTINGS and
 * the connection's window), unlike its server (core's raiseReceiveWindow).
 * The cost is memory the SDK's own gateway could make it buffer: 4 MiB per
 * call in flight.
 */
export const SDK_HTTP2_RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024;

export interface SubmitProgress {
  ciphertextsSent: number;
  ciphertextCount: number;
  bytesSent: number;
  attempt: number;
}

export interface SubmitOptions {
  /** Idempotency key; a random one is chosen when absent. Reuse it to retry the same update. */
  updateId?: string;
  onProgress?: (progress: SubmitProgress) => void;
  /** Called once the update is clipped (before encryption). */
  onClip?: (info: { originalNorm: number; clipNorm: number; clipped: boolean }) => void;
}

export interface SubmitResult {
  receipt: Receipt;
  updateId: string;
  originalNorm: number;
  clipped: boolean;
  bytesSent: number;
  attempts: number;
}

export interface SubmitVotesOptions extends Omit<SubmitOptions, 'onClip'> {
  /** When given, the round's signed transfer-set digest must equal it: the teacher voted on these very examples. */
  transferSetSha256?: Uint8Array;
}

export interface SubmitVotesResult extends Omit<SubmitResult, 'originalNorm' | 'clipped'> {
  /** Soft labels: queries scaled down to sum 1. */
  clippedQueries: number;
}

export interface RoundResult {
  header: ResultHeader;
  sum: Float64Array;
  mean: Float64Array;
}

function receiveWindowBytes(bytes = SDK_HTTP2_RECEIVE_WINDOW_BYTES): number {
  if (!(Number.isSafeInteger(bytes) && bytes >= MIN_HTTP2_WINDOW_BYTES && bytes <= MAX_HTTP2_WINDOW_BYTES)) {
    throw new RangeError(`receiveWindowBytes ${bytes} is not an integer in [65535, 2^31 - 1]`);
  }
  return bytes;
}

export class SecaggClient {
  private readonly clients: ServiceClient<typeof ClientService>;
  private readonly coordinator: ServiceClient<typeof CoordinatorService>;
  private readonly metadata: grpc.Metadata;
  private pool: EncryptionPool | undefined;
  private readonly pinned: PinnedKeyholderKeys;

  constructor(private readonly options: SecaggClientOptions) {
    // Parsed now so a bad pinned key fails at construction, not mid-round.
    this.pinned = PinnedKeyholderKeys.fromPems(options.keyholderKeys ?? []);
    const credentials = options.insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(options.caFile ? readFileSync(options.caFile) : null);
    const settings = {
      credentials,
      channelOptions: {
        'grpc.max_send_message_length': 8 * 1024 * 1024,
        'grpc.max_receive_message_length': 8 * 1024 * 1024,
        // Result downloads are not stalled by HTTP/2's 65,535-byte default window (SDK_HTTP2_RECEIVE_WINDOW_BYTES).
        'grpc-node.flow_control_window': receiveWindowBytes(options.receiveWindowBytes),
      },
    };
    this.clients = createClient(ClientService, options.address, settings);
    this.coordinator = createClient(CoordinatorService, options.address, settings);
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${options.token}`);
  }

  close(): void {
    this.clients.close();
    this.coordinator.close();
    void this.pool?.close();
    this.pool = undefined;
  }

  /** Ciphertexts of `values`, on worker threads when configured, in index order. */
  private ciphertexts(params: CkksParams, publicKey: Uint8Array, values: Float64Array, encryptor: CkksEncryptor): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
    const threads = this.options.encryptionThreads ?? availableParallelism();
    if (threads <= 0) return encryptVector(encryptor, params, values);
    this.pool ??= new EncryptionPool(threads);
    return this.pool.encrypt(params, publicKey, values);
  }

  private call() {
    return { metadata: this.metadata.clone() };
  }

  async getRound(roundId: string): Promise<GetRoundResponse> {
    return this.clients.getRound({ roundId }, this.call());
  }

  /**
   * The round as the keyholder signed it: fetches it, verifies its attestation
   * against the pinned keyholder keys, and checks the served public key,
   * configuration and CKKS parameters against the signed statement. Throws
   * RoundVerificationError (with what to do) on any failure.
   */
  async getVerifiedRound(roundId: string): Promise<VerifiedRound> {
    const { round, publicKey, attestation } = await this.getRound(roundId);
    const statement = this.pinned.verify(attestation, roundId);
    return checkServedRound(statement, { config: round?.config, ckks: round?.ckks, publicKey });
  }

  /**
   * Clips, encrypts and uploads `values` to the round; resolves with the
   * receipt. Refuses (RoundVerificationError, nothing sent) unless the round
   * verifies against the pinned keyholder keys; see getVerifiedRound.
   */
  async submitUpdate(roundId: string, values: ArrayLike<number>, options: SubmitOptions = {}): Promise<SubmitResult> {
    // Every value below comes from the signed statement, none from the gateway's say-so.
    const round = await this.getVerifiedRound(roundId);
    const { config } = round;
    if (isVoteRound(config)) throw new RangeError(`round ${roundId} is a vote round: submit votes with submitVotes`);
    if (values.length !== config.vectorLength) {
      throw new RangeError(`the update has ${values.length} values; round ${roundId} expects ${config.vectorLength}`);
    }
    const clip = clipToNorm(values, config.clipNorm);
    options.onClip?.({ originalNorm: clip.originalNorm, clipNorm: config.clipNorm, clipped: clip.clipped });
    const sent = await this.upload(roundId, round, clip.values, options);
    return { ...sent, originalNorm: clip.originalNorm, clipped: clip.clipped };
  }

  /**
   * A teacher's votes for a vote round: builds the Q x K vote vector from
   * labels or a matrix, checks it has the round's vote shape (RangeError
   * naming the query, nothing sent), then encrypts and uploads it like an
   * update. The round must verify against the pinned keyholder keys, and
   * with `transferSetSha256` the signed transfer set must be that one.
   */
  async submitVotes(roundId: string, votes: Votes, options: SubmitVotesOptions = {}): Promise<SubmitVotesResult> {
    const round = await this.getVerifiedRound(roundId);
    const voteConfig = voteRoundOf(round.config, roundId);
    if (options.transferSetSha256 && Buffer.compare(Buffer.from(options.transferSetSha256), Buffer.from(voteConfig.transferSetSha256)) !== 0) {
      throw new RangeError(
        `round ${roundId} votes on transfer set ${voteConfig.transferSetId} with SHA-256 ${Buffer.from(voteConfig.transferSetSha256).toString('hex')}, not the one given`,
      );
    }
    const built = buildVotes(voteConfig, votes);
    const sent = await this.upload(roundId, round, built.values, options);
    return { ...sent, clippedQueries: built.clippedQueries };
  }

  /** Encrypts `values` (already clipped or shaped) under the verified round's key and streams them; retries transient failures. */
  private async upload(roundId: string, round: VerifiedRound, values: Float64Array, options: SubmitOptions): Promise<Omit<SubmitResult, 'originalNorm' | 'clipped'>> {
    const { config, ckks, publicKey } = round;
    const updateId = options.updateId ?? randomUUID();
    const params = toCkksParams(ckks);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(publicKey);

    let bytesSent = 0;
    for (let attempt = 1; ; attempt++) {
      bytesSent = 0;
      const ciphertexts = this.ciphertexts(params, publicKey, values, encryptor);
      async function* frames(): AsyncGenerator<MessageInitShape<typeof SubmitUpdateRequestSchema>> {
        yield {
          frame: {
            case: 'header',
            value: { roundId, updateId, vectorLength: config.vectorLength, ciphertextCount: ckks.ciphertextCount },
          },
        };
        const digest = createHash('sha256');
        let index = 0;
        for await (const ciphertext of ciphertexts) {
          digest.update(ciphertext);
          bytesSent += ciphertext.byteLength;
          yield { frame: { case: 'chunk', value: { index, ciphertext } } };
          index++;
          options.onProgress?.({ ciphertextsSent: index, ciphertextCount: ckks.ciphertextCount, bytesSent, attempt });
        }
        yield { frame: { case: 'trailer', value: { sha256: digest.digest() } } };
      }
      try {
        const response = await this.clients.submitUpdate(frames() as AsyncIterable<SubmitUpdateRequest>, this.call());
        return { receipt: response.receipt!, updateId, bytesSent, attempts: attempt };
      } catch (error) {
        await this.backOffOrThrow(error, attempt);
      }
    }
  }

  /**
   * Rethrows `error` unless it is retryable (its reason's entry in the reason
   * table; UNAVAILABLE, RESOURCE_EXHAUSTED or ABORTED without a known reason)
   * and attempts remain; otherwise waits the server's retry hint (or an
   * exponential backoff), jittered.
   */
  private async backOffOrThrow(error: unknown, attempt: number): Promise<void> {
    if (!isRetryable(error) || !isSecaggError(error) || attempt >= (this.options.maxAttempts ?? 8)) throw error;
    const backoff = error.retryAfterMs ?? Math.min(10_000, (this.options.initialBackoffMs ?? 200) * 2 ** (attempt - 1));
    await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random() / 2)));
  }

  /**
   * Downloads a released result. A transient refusal (the gateway's result
   * streams at their limit, a gateway restarting) is retried like an upload:
   * the download starts over after the server's retry hint.
   */
  async getResult(roundId: string, onValues?: (received: number, total: number) => void): Promise<RoundResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.downloadResult(roundId, onValues);
      } catch (error) {
        await this.backOffOrThrow(error, attempt);
      }
    }
  }

  private async downloadResult(roundId: string, onValues?: (received: number, total: number) => void): Promise<RoundResult> {
    let header: ResultHeader | undefined;
    let sum = new Float64Array(0);
    let mean = new Float64Array(0);
    let received = 0;
    for await (const response of this.clients.getResult({ roundId }, this.call())) {
      const frame = response.frame;
      if (frame.case === 'header') {
        header = frame.value;
        sum = new Float64Array(header.vectorLength);
        mean = new Float64Array(header.vectorLength);
      } else if (frame.case === 'values') {
        if (!header) throw new Error('result values arrived before the header');
        sum.set(bytesToFloat64(frame.value.sumF64le), frame.value.offset);
        mean.set(bytesToFloat64(frame.value.meanF64le), frame.value.offset);
        received += frame.value.sumF64le.length / 8;
        onValues?.(received, header.vectorLength);
      }
    }
    if (!header) throw new Error('the result stream carried no header');
    if (received !== header.vectorLength) throw new Error(`received ${received} of ${header.vectorLength} values`);
    return { header, sum, mean };
  }

  async createRound(config: MessageInitShape<typeof RoundConfigSchema>): Promise<Round> {
    return (await this.createRoundWithPrivacy(config)).round;
  }

  /** Opens a round and returns it with what its release will cost its privacy group (epsilon, flooding margin). */
  async createRoundWithPrivacy(config: MessageInitShape<typeof RoundConfigSchema>): Promise<{ round: Round; privacy: PrivacyCost }> {
    const response = await this.coordinator.createRound({ config: create(RoundConfigSchema, config) }, this.call());
    return { round: response.round!, privacy: response.privacy! };
  }

  /** A privacy group's budget, spent and remaining epsilon at its delta, and its releases ("" = the default group). */
  async getPrivacyBudget(privacyGroup = ''): Promise<PrivacyBudget> {
    return (await this.coordinator.getPrivacyBudget({ privacyGroup }, this.call())).budget!;
  }

  /** Sets a privacy group's budget: epsilon at delta (0 = the keyholder's delta). Coordinator role. */
  async setPrivacyBudget(privacyGroup: string, epsilon: number, delta = 0): Promise<PrivacyBudget> {
    return (await this.coordinator.setPrivacyBudget({ privacyGroup, epsilon, delta }, this.call())).budget!;
  }

  async closeRound(roundId: string): Promise<Round> {
    return (await this.coordinator.closeRound({ roundId }, this.call())).round!;
  }

  async listRounds(limit = 50): Promise<Round[]> {
    return (await this.coordinator.listRounds({ limit }, this.call())).rounds;
  }

  async getRoundStatus(roundId: string): Promise<Round> {
    return (await this.coordinator.getRoundStatus({ roundId }, this.call())).round!;
  }
}

export type { RoundConfig };
