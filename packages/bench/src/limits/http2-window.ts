/**
 * Raising a grpc-js server's HTTP/2 receive window. grpc-js 1.14 has no
 * server option for it (REFERENCE.md: 64 KiB per stream, which halves a
 * stream's throughput), so this reaches two private fields:
 *  - `commonServerOptions.settings.initialWindowSize`: the per-stream window
 *    announced in the server's SETTINGS (must be set before bindAsync);
 *  - `http2Servers`: the node:http2 servers, whose sessions then get a larger
 *    connection-level window (`session.setLocalWindowSize`, node's documented
 *    way), set after bindAsync.
 * Benchmark-only: it measures what the transport could carry if the gateway
 * had the option. When grpc-js changes its internals, `applied` is false and
 * the benchmark says so instead of measuring the default twice.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Http2Session } from 'node:http2';
import type { EventEmitter } from 'node:events';

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<EventEmitter, unknown>;
}

export interface WindowSetting {
  applied: boolean;
  how: string;
  /** Call after bindAsync completes (the node:http2 servers exist only then). */
  afterBind?: () => void;
}

export function raiseReceiveWindow(server: grpc.Server, bytes: number): WindowSetting {
  const internals = server as unknown as GrpcServerInternals;
  if (internals.commonServerOptions === undefined || typeof internals.commonServerOptions !== 'object') {
    return { applied: false, how: 'grpc-js internals changed (no commonServerOptions): default window measured' };
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: bytes };
  const setting: WindowSetting = {
    applied: true,
    how: `per-stream initialWindowSize and connection window ${bytes} B (grpc-js private fields)`,
    afterBind: () => {
      const servers = internals.http2Servers;
      if (!(servers instanceof Map) || servers.size === 0) {
        setting.applied = false;
        setting.how = 'grpc-js internals changed (no http2Servers): default window measured';
        return;
      }
      for (const http2Server of servers.keys()) {
        http2Server.on('session', (session: Http2Session) => session.setLocalWindowSize(bytes));
      }
    },
  };
  return setting;
}
