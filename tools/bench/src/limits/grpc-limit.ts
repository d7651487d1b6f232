/**
 * The transport limit: grpc-js client streaming on loopback, with messages of
 * exactly one ciphertext (SubmitUpdate chunk frames, protobuf-es), from
 * `streams` concurrent clients — each with its own connection, like the
 * system's clients — in this process, to the sink server in its own process
 * (like the gateway). MB/s counts ciphertext payload bytes acknowledged by
 * the sink per second of wall time, the same measure as the gateway's ingest.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { CertificateFiles } from '@secagg/local-cluster';
import { benchScript, JsonChild } from '../child-process.js';
import { ingestClient, streamUpdate, type IngestClient } from '../update-stream.js';

/** Identity of the sink's development certificate. */
export const SINK_IDENTITY = 'bench-sink';

export interface GrpcLimitOptions {
  messageBytes: number;
  streams: number;
  seconds: number;
  /** TLS with these development certificates (identity {@link SINK_IDENTITY}); plaintext when absent. */
  tls?: CertificateFiles;
  /** HTTP/2 receive window of the sink, bytes; 0 = grpc-js default. */
  windowBytes: number;
  /** Timed trials, one sink process and one set of connections for all. */
  trials: number;
}

export interface GrpcLimit {
  /** One figure per trial. */
  mbps: number[];
  /** Whether a raised window was really applied (grpc-js private fields), and how. */
  windowApplied: boolean;
  windowHow: string;
}

/**
 * A running sink with its client connections (warmed up: TLS handshakes
 * and JIT done): each `trial()` streams for `seconds` and returns MB/s.
 * Kept open so that trials can be interleaved with the system figures judged
 * against them.
 */
export interface GrpcLimitSession {
  trial(): Promise<number>;
  windowApplied: boolean;
  windowHow: string;
  close(): Promise<void>;
}

/** Yields `message` until `untilMs` (performance.now()) passes: a time-bound stream. */
function* until(message: Uint8Array, untilMs: () => number): Generator<Uint8Array> {
  while (performance.now() < untilMs()) yield message;
}

export async function openGrpcLimit(options: Omit<GrpcLimitOptions, 'trials'>): Promise<GrpcLimitSession> {
  const env: Record<string, string> = { BENCH_SINK_WINDOW_BYTES: String(options.windowBytes) };
  if (options.tls) {
    const { certFile, keyFile } = options.tls.cert(SINK_IDENTITY);
    env.BENCH_SINK_TLS_CERT_FILE = certFile;
    env.BENCH_SINK_TLS_KEY_FILE = keyFile;
  }
  const sink = JsonChild.start('grpc sink', benchScript('limits/grpc-sink-server.js'), env);
  const clients: IngestClient[] = [];
  const close = async () => {
    for (const c of clients) c.close();
    await sink.stop();
  };
  try {
    const listening = await sink.next((m) => m.event === 'listening', 30_000);
    const window = listening.window as { applied: boolean; how: string };
    const credentials = options.tls ? grpc.credentials.createSsl(readFileSync(options.tls.caFile)) : grpc.credentials.createInsecure();
    for (let i = 0; i < options.streams; i++) clients.push(ingestClient(`127.0.0.1:${String(listening.port)}`, credentials));
    // Random bytes: TLS and protobuf costs do not depend on content, but keep it honest.
    const message = new Uint8Array(options.messageBytes).map((_, i) => (i * 2654435761) >>> 24);
    const round = (endMs: () => number) =>
      Promise.all(
        clients.map((client, i) =>
          streamUpdate(client, {
            roundId: 'sink',
            updateId: `limit-${i}`,
            vectorLength: 0,
            ciphertextCount: 0,
            chunks: until(message, endMs),
            sha256: new Uint8Array(32),
          }),
        ),
      );
    const warmEnd = performance.now() + Math.min(500, options.seconds * 250);
    await round(() => warmEnd); // connections, TLS handshakes, JIT
    return {
      windowApplied: window.applied,
      windowHow: window.how,
      close,
      async trial() {
        const start = performance.now();
        const end = start + options.seconds * 1_000;
        const outcomes = await round(() => end);
        const seconds = (performance.now() - start) / 1_000;
        for (const o of outcomes) {
          if (o.response.receipt?.ciphertextCount !== o.chunks) throw new Error(`the sink counted ${o.response.receipt?.ciphertextCount} of ${o.chunks} chunks`);
        }
        return outcomes.reduce((n, o) => n + o.payloadBytes, 0) / seconds / 1e6;
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** `trials` back-to-back trials of one sink and one set of connections. */
export async function measureGrpcLimit(options: GrpcLimitOptions): Promise<GrpcLimit> {
  const session = await openGrpcLimit(options);
  try {
    const mbps: number[] = [];
    for (let t = 0; t < options.trials; t++) mbps.push(await session.trial());
    return { mbps, windowApplied: session.windowApplied, windowHow: session.windowHow };
  } finally {
    await session.close();
  }
}
