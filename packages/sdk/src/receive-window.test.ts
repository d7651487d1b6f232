/**
 * The SDK's HTTP/2 receive window (issue 11, item 3): what a gateway sees the
 * SDK announce. A plain node:http2 server stands in for the gateway and reads
 * the client's SETTINGS (per-stream window) and its connection window; with
 * grpc-js's defaults both would be 65,535 bytes and every result message
 * would wait for window updates.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Http2Session, type Settings } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SDK_HTTP2_RECEIVE_WINDOW_BYTES, SecaggClient } from './client.js';

/** Windows the SDK announces to a server, from one call (answered UNIMPLEMENTED). */
async function windowsAnnounced(receiveWindowBytes?: number): Promise<{ perStream: number | undefined; connection: number }> {
  const server = createServer();
  // The client's SETTINGS arrive after the session is created: listen from the start.
  const announced = new Promise<{ session: Http2Session; settings: Settings }>((resolve) =>
    server.once('session', (session) => session.once('remoteSettings', (settings) => resolve({ session, settings }))),
  );
  server.on('stream', (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'stand-in' }, { endStream: true }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new SecaggClient({ address: `127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', insecure: true, maxAttempts: 1, receiveWindowBytes });
  try {
    await assert.rejects(client.listRounds(), /stand-in/);
    const { session, settings } = await announced;
    // The connection window arrives as a WINDOW_UPDATE after the SETTINGS.
    const target = receiveWindowBytes ?? SDK_HTTP2_RECEIVE_WINDOW_BYTES;
    for (let waited = 0; waited < 2_000 && session.state.remoteWindowSize! < target; waited += 20) await sleep(20);
    return { perStream: settings.initialWindowSize, connection: session.state.remoteWindowSize! };
  } finally {
    client.close();
    server.close();
  }
}

describe('the SDK\'s HTTP/2 receive window', () => {
  it('announces 4 MiB per stream and per connection by default: a whole result message (up to 2.1 MB) is never held back', async () => {
    const seen = await windowsAnnounced();
    assert.equal(seen.perStream, SDK_HTTP2_RECEIVE_WINDOW_BYTES);
    assert.equal(seen.connection, SDK_HTTP2_RECEIVE_WINDOW_BYTES);
  });

  it('announces the window it is given (control: 65,535, HTTP/2\'s default)', async () => {
    const seen = await windowsAnnounced(1 << 20);
    assert.equal(seen.perStream, 1 << 20);
    assert.equal(seen.connection, 1 << 20);
    const stock = await windowsAnnounced(65_535);
    assert.equal(stock.perStream ?? 65_535, 65_535);
    assert.equal(stock.connection, 65_535);
  });

  it('refuses a window HTTP/2 cannot announce', () => {
    assert.throws(() => new SecaggClient({ address: '127.0.0.1:1', token: 't', insecure: true, receiveWindowBytes: 1_000 }), RangeError);
  });
});
