/**
 * The gateway's listener, with a bound on concurrent client connections.
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
 */
import { createServer, type Server as NetServer } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '@secagg/core';

export interface LimitedListener {
  port: number;
  /** Connections dropped at the limit since start. */
  dropped(): number;
  /** Stops accepting connections; open ones are drained by the grpc server's shutdown. */
  stopAccepting(): void;
}

/** Listens on `address` (host:port; port 0 = a free port) for `server`, at most `maxConnections` at once. */
export async function listenWithConnectionLimit(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
  maxConnections: number,
  logger: Logger,
): Promise<LimitedListener> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, Math.max(0, at)).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  if (at < 0 || !Number.isInteger(port)) throw new Error(`listen address ${address} is not host:port`);
  const injector = server.createConnectionInjector(credentials);
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
  };
}
