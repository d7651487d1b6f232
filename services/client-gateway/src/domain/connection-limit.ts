/**
 * The gateway's listener: a bound on concurrent client connections, and the
 * HTTP/2 receive window of every connection and stream.
 *
 * Every connection costs memory before any call on it is admitted: its TLS
 * state, its HTTP/2 session, and up to one HTTP/2 window of unread data per
 * stream (measured: about 0.5 MiB of gateway RSS per connection under upload
 * load). grpc-js has no connection limit, so the gateway accepts TCP
 * connections itself — a `net.Server` with `maxConnections`: Node drops
 * connections beyond it at once and the client's channel retries with
 * backoff — and hands each accepted socket to grpc-js through its public
 * connection injector, which does TLS and HTTP/2 exactly as `bindAsync`
 * would. The grpc server's shutdown drains injected connections too.
 *
 * grpc-js has no option for the receive window either (issue 11, item 3):
 * core's `raiseReceiveWindow` sets it on the injector's node:http2 server,
 * so it must run before the injector is created and be applied to its
 * sessions after; whether it took is reported for the start-up log.
 */
import { createServer, type Server as NetServer } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { raiseReceiveWindow, type Logger } from '@secagg/core';

export interface LimitedListener {
  port: number;
  /** Connections dropped at the limit since start. */
  dropped(): number;
  /** Stops accepting connections; open ones are drained by the grpc server's shutdown. */
  stopAccepting(): void;
  /** The HTTP/2 receive window: whether the raised one applies, and what was done. */
  receiveWindow: { applied: boolean; how: string };
}

export interface ListenerSettings {
  /** host:port; port 0 = a free port. */
  address: string;
  credentials: grpc.ServerCredentials;
  maxConnections: number;
  /** HTTP/2 receive window of every stream and connection, bytes (GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES). */
  receiveWindowBytes: number;
}

/** Listens on `settings.address` for `server`, at most `maxConnections` at once, with the configured receive window. */
export async function listenWithConnectionLimit(server: grpc.Server, settings: ListenerSettings, logger: Logger): Promise<LimitedListener> {
  const { address, credentials, maxConnections } = settings;
  const at = address.lastIndexOf(':');
  const host = address.slice(0, Math.max(0, at)).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  if (at < 0 || !Number.isInteger(port)) throw new Error(`listen address ${address} is not host:port`);
  const window = raiseReceiveWindow(server, settings.receiveWindowBytes);
  const injector = server.createConnectionInjector(credentials);
  window.applyToSessions();
  let dropped = 0;
  const tcp: NetServer = createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  tcp.maxConnections = maxConnections;
  tcp.on('drop', () => {
    dropped++;
    if (dropped === 1 || dropped % 100 === 0) logger.warn({ maxConnections, dropped }, 'connection limit reached: dropping new connections');
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host === '' ? undefined : host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  return {
    port: (tcp.address() as { port: number }).port,
    dropped: () => dropped,
    stopAccepting: () => {
      tcp.close();
    },
    receiveWindow: { applied: window.applied, how: window.how },
  };
}
