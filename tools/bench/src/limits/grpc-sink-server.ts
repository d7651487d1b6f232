/**
 * The transport-limit sink: a ClientService server whose SubmitUpdate reads
 * every frame (protobuf-es parsing through the same core adapter as the
 * gateway) and does nothing else — no validation, no digest, no Redis, no echo
 * — then answers with a receipt counting the chunks. Run as its own process
 * (like the gateway) by {@link startSink}; prints one JSON line
 * `{"event":"listening","port":N,"window":...}`.
 *
 * Environment: BENCH_SINK_TLS_CERT_FILE / BENCH_SINK_TLS_KEY_FILE (TLS when
 * both are set, else plaintext), BENCH_SINK_WINDOW_BYTES (raise the HTTP/2
 * receive window to this size; 0 or unset keeps grpc-js's default).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { addService, bindServer, createLogger, openPolicy, raiseReceiveWindow, refuse } from '@secagg/core';
import { ClientService, SubmitUpdateResponseSchema } from '@secagg/proto';

const logger = createLogger('bench-sink', 'warn');
const server = new grpc.Server({
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
});
addService(
  server,
  ClientService,
  // The sink measures the transport alone: no tokens, no call policy.
  openPolicy(ClientService),
  {
    async getRound() {
      throw refuse('not_served', 'the sink only takes SubmitUpdate');
    },
    async submitUpdate(requests) {
      let chunks = 0;
      for await (const request of requests) if (request.frame.case === 'chunk') chunks++;
      return create(SubmitUpdateResponseSchema, { receipt: { ciphertextCount: chunks } });
    },
    async *getResult() {
      throw refuse('not_served', 'the sink only takes SubmitUpdate');
    },
  },
  { logger },
);

const certFile = process.env.BENCH_SINK_TLS_CERT_FILE;
const keyFile = process.env.BENCH_SINK_TLS_KEY_FILE;
const credentials =
  certFile && keyFile
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }], false)
    : grpc.ServerCredentials.createInsecure();
const windowBytes = Number(process.env.BENCH_SINK_WINDOW_BYTES ?? 0);
const window = windowBytes > 0 ? raiseReceiveWindow(server, windowBytes) : { applied: false, how: 'grpc-js default (64 KiB per stream)', applyToSessions() {} };
const port = await bindServer(server, '127.0.0.1:0', credentials);
window.applyToSessions();
console.log(JSON.stringify({ event: 'listening', port, window: { applied: window.applied, how: window.how } }));

process.on('SIGTERM', () => {
  server.forceShutdown();
  process.exit(0);
});
