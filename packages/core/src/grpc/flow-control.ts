/**
 * The HTTP/2 receive window of a grpc-js server (issue 11, item 3).
 *
 * grpc-js 1.14 announces node:http2's default 65,535-byte per-stream window
 * and has no server option to change it. An upload message (one ciphertext,
 * 65.6 KB on the default preset) is larger than that window, so every
 * message waits for the handler to read before the client may send the next
 * one: measured, that halves a stream's throughput (docs/REFERENCE figures:
 * 160-190 MB/s default against 310-375 MB/s with 4 MiB).
 *
 * Route chosen: a shim over two grpc-js fields, applied through node:http2's
 * documented options — no patched copy of grpc-js to carry:
 *  - `commonServerOptions.settings.initialWindowSize`: grpc-js passes
 *    `commonServerOptions` verbatim to http2.createServer /
 *    createSecureServer (for bindAsync and for connection injectors alike),
 *    so the per-stream window is announced in the server's SETTINGS frame;
 *  - each new HTTP/2 session of the server's node:http2 servers gets the same
 *    connection-level window (`session.setLocalWindowSize`, node's API).
 * `flow-control.test.ts` checks, against the pinned grpc-js, that a client
 * sees the raised window: an upgrade that moves these fields fails that test
 * instead of silently halving ingest. At run time a missing field degrades
 * to the default window with `applied: false` (callers log it).
 *
 * Memory: the per-stream window is what one stream may hold unread (node:http2
 * buffers a paused stream's data up to it), so a server's memory bound grows
 * with it: window x the streams that may wait unread at once. The connection
 * window bounds nothing here — node returns connection credit as data arrives,
 * read or not (measured: 32 paused streams of a 1 MiB window on one connection
 * held 32 MiB with a 64 KiB connection window) — so it is raised alike, only
 * for throughput. The gateway's bound is in docs/SECURITY.md "Limits".
 */
import type * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<EventEmitter, unknown>;
}

/** HTTP/2's initial window, the least a receiver may announce here (RFC 9113 §6.9.2: 65,535). */
export const MIN_HTTP2_WINDOW_BYTES = 65_535;
/** node:http2's limit for a window (2^31 - 1). */
export const MAX_HTTP2_WINDOW_BYTES = 2 ** 31 - 1;

export interface ReceiveWindow {
  /** False when grpc-js's internals are not what this shim expects: the default window applies. */
  applied: boolean;
  /** What was done, for the start-up log. */
  how: string;
  /**
   * Gives sessions of node:http2 servers created since (bindAsync,
   * createConnectionInjector) the connection-level window. Call after those.
   */
  applyToSessions(): void;
}

/**
 * Raises the per-stream and connection receive windows of `server` to
 * `bytes`. Call before bindAsync / createConnectionInjector, then
 * `applyToSessions()` after them.
 */
export function raiseReceiveWindow(server: grpc.Server, bytes: number): ReceiveWindow {
  if (!(Number.isSafeInteger(bytes) && bytes >= MIN_HTTP2_WINDOW_BYTES && bytes <= MAX_HTTP2_WINDOW_BYTES)) {
    throw new RangeError(`HTTP/2 window ${bytes} is not an integer in [65535, 2^31 - 1]`);
  }
  const internals = server as unknown as GrpcServerInternals;
  if (internals.commonServerOptions === undefined || typeof internals.commonServerOptions !== 'object') {
    return { applied: false, how: 'grpc-js internals changed (no commonServerOptions): the default 65,535-byte window applies', applyToSessions() {} };
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: bytes };
  const seen = new WeakSet<EventEmitter>();
  const window: ReceiveWindow = {
    applied: true,
    how: `HTTP/2 receive window ${bytes} B per stream and per connection`,
    applyToSessions() {
      const servers = internals.http2Servers;
      if (!(servers instanceof Map)) {
        window.applied = false;
        window.how = 'grpc-js internals changed (no http2Servers): the per-stream window only';
        return;
      }
      for (const http2Server of servers.keys()) {
        if (seen.has(http2Server)) continue;
        seen.add(http2Server);
        http2Server.on('session', (session: Http2Session) => session.setLocalWindowSize(bytes));
      }
    },
  };
  return window;
}
