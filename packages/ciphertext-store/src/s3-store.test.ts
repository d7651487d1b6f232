import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { HeadObjectCommand, ListObjectsV2Command, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import type { CiphertextStore } from './ciphertext-store.js';
import { openCiphertextStore } from './open-ciphertext-store.js';
import { DEFAULT_S3_PART_BYTES, S3CiphertextStore } from './s3-store.js';
import { describeCiphertextStoreContract } from './testing/ciphertext-store-contract.js';
import { startS3TestServer, type S3TestServer } from './testing/s3-test-server.js';

const BUCKET = 'secagg-ciphertexts';
const MiB = 1 << 20;

let server: S3TestServer;
let client: S3Client;
beforeAll(async () => {
  server = await startS3TestServer();
  await server.createBucket(BUCKET);
  client = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true });
});
afterAll(async () => {
  client.destroy();
  await server.stop();
});

/** A fresh prefix per store, so tests share one server and one bucket without seeing each other. */
const freshPrefix = () => `t-${randomBytes(6).toString('hex')}/ciphertexts`;

/** The multipart-upload markers under a prefix, straight from the server (not through the store). */
async function markers(prefix: string): Promise<string[]> {
  const { Contents } = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/.staging/` }));
  return (Contents ?? []).map((object) => object.Key!);
}

/** The upload id a marker stands for (its last key segment, base64url). */
const uploadIdOf = (marker: string) => Buffer.from(marker.split('/').at(-1)!, 'base64url').toString();

/** Whether S3 still accepts parts for an upload: false once it is aborted or completed. */
async function uploadAlive(key: string, uploadId: string): Promise<boolean> {
  try {
    await client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: 1, Body: Uint8Array.of(1) }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'NoSuchUpload') return false;
    throw error;
  }
}

describeCiphertextStoreContract('S3 store on fauxqs', {
  async open() {
    const prefix = freshPrefix();
    const location = server.url(BUCKET, prefix);
    const store = await openCiphertextStore(location);
    assert.ok(store instanceof S3CiphertextStore);
    return {
      store,
      location,
      stagedCount: async () => (await markers(prefix)).length,
      close: async () => store.destroy(),
    };
  },
  // Past one part, so the killed writer has started a multipart upload.
  crashAppendBytes: DEFAULT_S3_PART_BYTES + 1,
});

describe('S3 store: multipart uploads', () => {
  let prefix: string;
  let store: S3CiphertextStore;
  beforeAll(async () => {
    prefix = freshPrefix();
    store = (await openCiphertextStore(server.url(BUCKET, prefix))) as S3CiphertextStore;
  });
  afterAll(() => store.destroy());

  it('an object of one part is a single PUT; a larger one is a multipart upload of 8 MiB parts, with a marker only while it is staged', async () => {
    const single = await store.stage({ roundId: 'r1', name: 'single' });
    await single.append(new Uint8Array(DEFAULT_S3_PART_BYTES));
    assert.deepEqual(await markers(prefix), [], 'a buffer that is merely full starts no upload');
    await single.commit();
    const { ETag: singleTag } = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}/r1/single` }));
    assert.doesNotMatch(singleTag!, /-\d+"$/, 'a plain PUT has a plain MD5 ETag');

    const multi = await store.stage({ roundId: 'r1', name: 'multi' });
    for (let i = 0; i < 20; i++) await multi.append(new Uint8Array(MiB).fill(i));
    assert.equal((await markers(prefix)).length, 1, 'the upload is marked while it is staged');
    await multi.commit();
    const { ETag, ContentLength } = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}/r1/multi` }));
    assert.match(ETag!, /-3"$/, 'S3 names a multipart object by its part count: 8 + 8 + 4 MiB');
    assert.equal(ContentLength, 20 * MiB);
    assert.deepEqual(await markers(prefix), [], 'the marker goes with the commit');
    const into = new Uint8Array(2);
    await store.readInto({ roundId: 'r1', name: 'multi' }, 8 * MiB - 1, into);
    assert.deepEqual(into, Uint8Array.of(7, 8), 'parts in order');
  });

  it('abort aborts the multipart upload on the server and removes its marker', async () => {
    const staged = await store.stage({ roundId: 'r2', name: 'aborted' });
    await staged.append(new Uint8Array(DEFAULT_S3_PART_BYTES + 1));
    const [marker] = await markers(prefix);
    assert.ok(marker);
    assert.equal(await uploadAlive(`${prefix}/r2/aborted`, uploadIdOf(marker)), true);
    await staged.abort();
    assert.equal(await uploadAlive(`${prefix}/r2/aborted`, uploadIdOf(marker)), false);
    assert.deepEqual(await markers(prefix), []);
  });

  it("deleteRound aborts another process's upload in that round (found by its marker); that upload's commit then fails", async () => {
    const other = (await openCiphertextStore(server.url(BUCKET, prefix))) as S3CiphertextStore;
    try {
      const staged = await other.stage({ roundId: 'r3', name: 'elsewhere' });
      await staged.append(new Uint8Array(DEFAULT_S3_PART_BYTES + 1));
      await store.put({ roundId: 'r3', name: 'checkpoint' }, Uint8Array.of(1));
      const [marker] = await markers(prefix);
      assert.equal(await store.deleteRound('r3'), 2, 'the checkpoint and the other process\'s upload');
      assert.equal(await uploadAlive(`${prefix}/r3/elsewhere`, uploadIdOf(marker!)), false);
      await assert.rejects(staged.commit(), { name: 'NoSuchUpload' });
      assert.equal(await other.get({ roundId: 'r3', name: 'elsewhere' }), undefined);
      assert.deepEqual(await markers(prefix), []);
    } finally {
      other.destroy();
    }
  });

  it('collectOrphans aborts the upload behind an old marker, not just the marker', async () => {
    const staged = await store.stage({ roundId: 'r4', name: 'stalled' });
    await staged.append(new Uint8Array(DEFAULT_S3_PART_BYTES + 1));
    const [marker] = await markers(prefix);
    assert.equal(await store.collectOrphans(Date.now() + 120_000, 60_000), 1);
    assert.equal(await uploadAlive(`${prefix}/r4/stalled`, uploadIdOf(marker!)), false);
    await assert.rejects(staged.commit(), { name: 'NoSuchUpload' });
    await staged.abort(); // never throws, even now
  });

  it('when the server goes away, commit rejects with its error and abort still resolves', async () => {
    const doomed = await startS3TestServer();
    let failing: CiphertextStore | undefined;
    try {
      await doomed.createBucket(BUCKET);
      failing = await openCiphertextStore(doomed.url(BUCKET, 'p', { connectTimeoutMs: '1000' }));
      const staged = await failing.stage({ roundId: 'r5', name: 'u' });
      await staged.append(new Uint8Array(DEFAULT_S3_PART_BYTES + 1));
      await doomed.stop();
      // The part in flight is cut off, then the SDK's retries find nobody listening.
      await assert.rejects(staged.commit(), /ECONNREFUSED|ECONNRESET|socket hang up|EPIPE/);
      await staged.abort();
    } finally {
      (failing as S3CiphertextStore | undefined)?.destroy();
      await doomed.stop();
    }
  });
});

describe('openCiphertextStore with s3:// URLs', () => {
  it('fails fast, naming the bucket, when the bucket does not exist', async () => {
    await assert.rejects(openCiphertextStore(server.url('no-such-bucket', 'p')), /bucket no-such-bucket at http:\/\/127\.0\.0\.1:\d+ cannot be used: NotFound \(HTTP 404\)/);
  });

  it('gives up on a server that accepts connections and never answers, after idleTimeoutMs, instead of hanging', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const url = `s3://${BUCKET}/p?${new URLSearchParams({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: 'true', idleTimeoutMs: '200' })}`;
      await assert.rejects(openCiphertextStore(url), /cannot be used: TimeoutError: .*timed out after 200 ms of inactivity/);
      assert.ok(sockets.size > 0, 'the store did connect');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses credentials, unknown parameters and out-of-range limits, without echoing the URL', async () => {
    const endpoint = encodeURIComponent(server.endpoint);
    for (const [url, message] of [
      [`s3://AKIAEXAMPLE:hunter2@${BUCKET}/p?endpoint=${endpoint}`, /carries no credentials/],
      [`s3://${BUCKET}/p?endpoint=${endpoint}&secretAccessKey=hunter2`, /unknown parameter "secretAccessKey"/],
      [`s3://${BUCKET}/p?endpoint=http%3A%2F%2Fkey%3Ahunter2%40127.0.0.1%3A9`, /the endpoint carries no credentials/],
      [`s3://${BUCKET}/p?endpoint=ftp%3A%2F%2F127.0.0.1`, /endpoint is not http/],
      [`s3://${BUCKET}/p?endpoint=${endpoint}&partBytes=1048576`, /part size 1048576 bytes is outside S3's \[5242880, 5368709120\]/],
      [`s3://${BUCKET}/p?endpoint=${endpoint}&forcePathStyle=yes`, /forcePathStyle is true or false/],
      [`s3://${BUCKET}/p?endpoint=${endpoint}&idleTimeoutMs=-1`, /idleTimeoutMs is not a positive integer/],
      [`s3://${BUCKET}:9000/p`, /put the server in \?endpoint=/],
      [`s3://${BUCKET}/a//b?endpoint=${endpoint}`, /prefix segment ""/],
      [`s3://${BUCKET}/.staging?endpoint=${endpoint}`, /prefix segment ".staging"/],
      ['s3://UPPER/p', /bucket name "UPPER"/],
      ['http://example.invalid/p', /scheme http: is not file: or s3:/],
    ] as const) {
      await assert.rejects(openCiphertextStore(url), (error: Error) => {
        assert.match(error.message, message, url);
        assert.doesNotMatch(error.message, /hunter2/, 'no secret in the message');
        return true;
      });
    }
  });
});
