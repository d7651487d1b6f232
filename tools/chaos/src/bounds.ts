/**
 * The memory bounds that follow from a cluster's configured limits
 * (docs/RELIABILITY.md "Bounded memory"): what the overload harness measures
 * against. Every term is a configured limit times a size; none grows with the
 * number of clients except the per-client round records, which are bounded
 * by the round's max_clients.
 */

/** The limits that bound memory (gateway and aggregator config values of the same names). */
export interface ConfiguredLimits {
  maxConnections: number;
  /** Gateway HTTP/2 receive window per stream (GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES): what a stream may hold unread. */
  http2ReceiveWindowBytes: number;
  maxStagedBytes: number;
  maxConcurrentStreams: number;
  maxWaitingStreams: number;
  maxFoldBacklog: number;
  /** Aggregator: ranges held at once, ciphertexts per range, read block bytes. */
  maxRangesHeld: number;
  ciphertextsPerRange: number;
  readBlockBytes: number;
  aggregators: number;
  gateways: number;
}

export interface UpdateSize {
  ciphertextBytes: number;
  ciphertextCount: number;
  /** Clients of the round (its max_clients bounds them). */
  clients: number;
}

/**
 * Messages grpc-js reads ahead of the handler on one stream: the object-mode
 * Readable's default high-water mark. Plus HTTP/2 bytes not yet read: up to the
 * stream's receive window (node:http2 buffers a paused stream's data up to its
 * window; the connection window does not bound it, as node returns connection
 * credit as soon as data arrives — measured, issue 11 item 3).
 */
export const GRPC_READ_AHEAD_MESSAGES = 16;
/**
 * One client connection's TLS and HTTP/2 state in the gateway, bytes: measured with the overload
 * harness (gateway peak RSS against concurrent connections, 100-400 clients), rounded up.
 */
export const PER_CONNECTION_BYTES = 512 * 1024;
/** Protobuf + gRPC framing around one ciphertext chunk, bytes (generous). */
export const CHUNK_FRAMING_BYTES = 64;
/** A buffer can exist twice at once (the decoded message and the write to the ciphertext store). */
export const COPIES = 2;
/**
 * Headroom of a Node.js process above its idle RSS that is not a buffer of
 * ours: V8 collects garbage lazily (young generation semispaces, old
 * generation growth before a major GC) and the allocator keeps freed pages.
 */
export const NODE_HEADROOM_BYTES = 96 * 1024 * 1024;
/** A committed update's records (client hash entry, update hash, commit-log entry), bytes (generous). */
export const PER_CLIENT_REDIS_BYTES = 4 * 1024;
/** Redis's own slack: client buffers, AOF buffer, allocator fragmentation, bytes. */
export const REDIS_SLACK_BYTES = 4 * 1024 * 1024;

export interface MemoryBounds {
  updateBytes: number;
  /** Gateway: idle RSS + this. */
  gatewayAboveIdle: number;
  /** Aggregator: idle RSS + this. */
  aggregatorAboveIdle: number;
  /** Redis used_memory: baseline (round created, no uploads) + this. */
  redisAboveBaseline: number;
  /** Committed updates not yet folded, at most. */
  unfoldedUpdates: number;
}

export function memoryBounds(limits: ConfiguredLimits, update: UpdateSize): MemoryBounds {
  const updateBytes = update.ciphertextBytes * update.ciphertextCount;
  const messageBytes = update.ciphertextBytes + CHUNK_FRAMING_BYTES;
  // One chunk is appended to the ciphertext store at a time (awaited), the rest are read-ahead.
  const perAdmittedStream = (GRPC_READ_AHEAD_MESSAGES + 1 + 2) * messageBytes * COPIES + limits.http2ReceiveWindowBytes;
  const gatewayAboveIdle =
    limits.maxConnections * PER_CONNECTION_BYTES +
    limits.maxConcurrentStreams * perAdmittedStream +
    limits.maxWaitingStreams * limits.http2ReceiveWindowBytes +
    NODE_HEADROOM_BYTES;
  // Range folds: the ranges held (each a partial sum and one read block), whatever the clients; a
  // finalize holds the round's encrypted sum and the float64 result (8 B per value < one update).
  const rangeBytes = Math.min(limits.ciphertextsPerRange, update.ciphertextCount) * update.ciphertextBytes;
  const aggregatorAboveIdle =
    limits.maxRangesHeld * (rangeBytes + 2 * Math.max(limits.readBlockBytes, update.ciphertextBytes)) + 2 * updateBytes + NODE_HEADROOM_BYTES;
  const unfoldedUpdates = limits.maxFoldBacklog + limits.gateways * limits.maxConcurrentStreams;
  // Redis holds metadata only: ciphertexts are in the ciphertext store (issue 11).
  const redisAboveBaseline = update.clients * PER_CLIENT_REDIS_BYTES + REDIS_SLACK_BYTES;
  return { updateBytes, gatewayAboveIdle, aggregatorAboveIdle, redisAboveBaseline, unfoldedUpdates };
}

/** The gateway limits that bound what callers can make it hold before (and while) their requests are read. */
export interface TransportLimits {
  maxConnections: number;
  /** Calls in flight at once (GATEWAY_MAX_CONCURRENT_CALLS): every call until its token is verified, then all but uploads. */
  maxConcurrentCalls: number;
  maxReceiveMessageBytes: number;
  /** HTTP/2 receive window per stream (GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES). */
  http2ReceiveWindowBytes: number;
}

/**
 * Gateway RSS above idle that unauthenticated callers — and authenticated
 * callers of the small RPCs — can cause (docs/SECURITY.md "Limits"):
 *
 *   maxConnections · PER_CONNECTION_BYTES
 *   + maxConcurrentCalls · (2 · maxReceiveMessageBytes + http2ReceiveWindowBytes)
 *   + NODE_HEADROOM_BYTES
 *
 * Per connection its TLS and HTTP/2 state. A stream holds unread data up to
 * its receive window only while nobody reads it; the streams that wait
 * unread before authentication are the calls awaiting the call guard's
 * verdict, and those are counted in maxConcurrentCalls (past it a call is
 * refused at once). A refused call's stream is drained and its data dropped,
 * so it holds nothing afterwards. Authenticated small calls in flight add one
 * request of the receive limit, twice (the gRPC decoder's buffer and the parsed
 * message). Uploads past the guard have their own bound (memoryBounds).
 */
export function transportMemoryBound(limits: TransportLimits): number {
  return (
    limits.maxConnections * PER_CONNECTION_BYTES +
    limits.maxConcurrentCalls * (COPIES * limits.maxReceiveMessageBytes + limits.http2ReceiveWindowBytes) +
    NODE_HEADROOM_BYTES
  );
}
