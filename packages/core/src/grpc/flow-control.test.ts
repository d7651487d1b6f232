/**
 * The window shim against the pinned grpc-js: a plain HTTP/2 client sees the
 * raised per-stream window in the server's SETTINGS and the raised
 * connection window in its WINDOW_UPDATE; without the shim, the default.
 * If a grpc-js upgrade moves the fields the shim uses, this fails.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { raiseReceiveWindow } from './flow-control.js';

async function windowsSeenByClient(window?: number): Promise<{ perStream: number | undefined; connection: number; applied?: boolean }> {
  const server = new grpc.Server();
  const raised = window === undefined ? undefined : raiseReceiveWindow(server, window);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  raised?.applyToSessions();
  let session: ClientHttp2Session | undefined;
  try {
    session = connect(`http://127.0.0.1:${port}`);
    const settings = await new Promise<{ initialWindowSize?: number }>((resolve, reject) => {
      session!.once('remoteSettings', resolve);
      session!.once('error', reject);
    });
    // The connection window arrives as a WINDOW_UPDATE right after the SETTINGS.
    for (let waited = 0; waited < 2_000 && window !== undefined && session.state.remoteWindowSize! < window; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { perStream: settings.initialWindowSize, connection: session.state.remoteWindowSize!, applied: raised?.applied };
  } finally {
    session?.destroy();
    server.forceShutdown();
  }
}

describe('raiseReceiveWindow (grpc-js HTTP/2 flow-control shim)', () => {
  it('announces the raised per-stream window and opens the connection window', async () => {
    const seen = await windowsSeenByClient(4 << 20);
    assert.equal(seen.applied, true);
    assert.equal(seen.perStream, 4 << 20);
    assert.equal(seen.connection, 4 << 20);
  });

  it('control: without it, the client sees the 65,535-byte defaults', async () => {
    const seen = await windowsSeenByClient();
    assert.equal(seen.perStream ?? 65_535, 65_535);
    assert.equal(seen.connection, 65_535);
  });

  it('refuses a window HTTP/2 cannot announce', () => {
    assert.throws(() => raiseReceiveWindow(new grpc.Server(), 1_000), RangeError);
    assert.throws(() => raiseReceiveWindow(new grpc.Server(), 2 ** 31), RangeError);
  });
});
