/**
 * Prometheus metrics (prom-client): one registry per process with the
 * default process metrics, a gRPC call counter and latency histogram every
 * service shares, and an HTTP listener serving /metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly grpcCalls: Counter<'method' | 'code'>;
  readonly grpcLatency: Histogram<'method'>;
  readonly refusals: Counter<'method' | 'reason'>;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry, prefix: 'secagg_' });
    this.grpcCalls = new Counter({
      name: 'secagg_grpc_calls_total',
      help: 'gRPC calls handled, by method and status code',
      labelNames: ['method', 'code'],
      registers: [this.registry],
    });
    this.grpcLatency = new Histogram({
      name: 'secagg_grpc_call_seconds',
      help: 'gRPC call duration',
      labelNames: ['method'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
      registers: [this.registry],
    });
    this.refusals = new Counter({
      name: 'secagg_grpc_refusals_total',
      help: 'gRPC calls that ended with an error, by method and reason (the error code in logs, e.g. bad_ciphertext, digest_mismatch)',
      labelNames: ['method', 'reason'],
      registers: [this.registry],
    });
  }

  /** An observer for core's addService(onCallEnd). */
  readonly onCallEnd = (method: string, code: number, durationMs: number, reason = ''): void => {
    const name = codeNames[code] ?? String(code);
    this.grpcCalls.inc({ method, code: name });
    this.grpcLatency.observe({ method }, durationMs / 1000);
    if (code !== 0) this.refusals.inc({ method, reason: reason || name.toLowerCase() });
  };

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames: labelNames as L[], registers: [this.registry] });
  }

  histogram<L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
    return new Histogram({ name, help, buckets, labelNames: labelNames as L[], registers: [this.registry] });
  }

  /**
   * The listener a service's configuration asks for: none for an empty
   * address, else {@link listen}, logging the bound port (the line operators
   * and the local cluster read).
   */
  async listenIfConfigured(address: string | undefined, logger: Logger, tls?: { cert: string | Buffer; key: string | Buffer }): Promise<Server | undefined> {
    if (!address) return undefined;
    const { port, server } = await this.listen(address, tls);
    logger.info({ event: 'metrics', port }, `metrics on port ${port}`);
    return server;
  }

  /**
   * Serves GET /metrics on host:port (port 0: a free one); resolves with the
   * bound port. With `tls` (PEM certificate and key) it serves HTTPS.
   */
  async listen(address: string, tls?: { cert: string | Buffer; key: string | Buffer }): Promise<{ port: number; server: Server }> {
    const [host, port] = splitAddress(address);
    const serve = (request: IncomingMessage, response: ServerResponse) => {
      if (request.method === 'GET' && request.url === '/metrics') {
        this.registry.metrics().then(
          (body) => {
            response.writeHead(200, { 'content-type': this.registry.contentType });
            response.end(body);
          },
          () => {
            response.writeHead(500);
            response.end();
          },
        );
      } else {
        response.writeHead(404);
        response.end();
      }
    };
    const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, serve) : createServer(serve);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
    return { port: (server.address() as { port: number }).port, server };
  }
}

function splitAddress(address: string): [string, number] {
  const index = address.lastIndexOf(':');
  return [address.slice(0, index) || '0.0.0.0', Number(address.slice(index + 1))];
}

const codeNames: Record<number, string> = {
  0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION', 10: 'ABORTED', 11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 15: 'DATA_LOSS', 16: 'UNAUTHENTICATED',
};

/**
 * Redis persistence health as metrics (issue 12 item 7): 1/0 for "persisting
 * what it acknowledges", and the Redis restarts this process has seen.
 * Values come from the readiness check's last run.
 */
export function registerRedisPersistenceMetrics(metrics: ServiceMetrics, persistence: { last: { ok: boolean }; restarts: number }): void {
  new Gauge({
    name: 'secagg_redis_persistence_ok',
    help: 'Whether Redis persists what it acknowledges: 0 when INFO persistence reports a failed write or Redis is crash-looping (see the readiness reason)',
    registers: [metrics.registry],
    collect() {
      this.set(persistence.last.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'secagg_redis_restarts_seen',
    help: 'Redis restarts (a changed run_id) this process has seen since it started',
    registers: [metrics.registry],
    collect() {
      this.set(persistence.restarts);
    },
  });
}
