/**
 * The S3-compatible ciphertext store: the same contract as the filesystem
 * store (ciphertext-store.ts), for deployments that outgrow one machine's
 * shared volume. Built on the official AWS SDK v3 client, so it speaks to AWS
 * S3 and, with a custom endpoint and path-style addressing, to S3-compatible
 * servers. Tested only against fauxqs (docs/OPERATIONS.md "Ciphertext store").
 *
 * Layout in the bucket, under the store's prefix:
 *   <roundId>/<name>                                committed objects
 *   .staging/<roundId>/<name>/<base64url uploadId>  one empty marker per multipart upload in progress
 *
 * Staging: appended bytes collect in a part buffer of `partBytes` (default
 * 8 MiB). An object that never outgrows it is written by one PUT at commit;
 * a larger one becomes a multipart upload, each full buffer sent as a part
 * while the next one fills (so at most two part buffers per staged object),
 * and commit completes it. Until then S3 shows no object under the key.
 *
 * Why markers rather than ListMultipartUploads: S3-compatible servers differ
 * on it (MinIO lists only under an exact prefix; s3rver answers 501; fauxqs
 * silently answers an empty list), and S3 lists an upload by its start time,
 * whereas an orphan is an upload nobody has written to for a while. A marker
 * is written before the first part is sent and rewritten after every part,
 * so its LastModified is the time of the upload's last progress (like the
 * mtime of the filesystem store's staged file) and no part is ever stored
 * without a marker that finds it. A crash between CreateMultipartUpload and
 * the marker leaves an upload with no parts; an S3 lifecycle rule
 * (AbortIncompleteMultipartUpload) is the backstop the docs recommend.
 *
 * Durability of a commit: the completing request (PutObject or
 * CompleteMultipartUpload) succeeded. On AWS S3 that means the object is
 * stored redundantly and every later read sees it (strong read-after-write
 * consistency); on an S3-compatible server it means whatever that server
 * guarantees before it answers — see docs/OPERATIONS.md.
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type _Object,
} from '@aws-sdk/client-s3';
import { checkObjectKey, DEFAULT_BLOCK_BYTES, putStaged, recordsPerBlock, type CiphertextStore, type ObjectKey, type ObjectReader, type StagedObject } from './ciphertext-store.js';

const MiB = 1 << 20;
/** Default multipart part size: the bound on each of a staged object's (at most two) part buffers. */
export const DEFAULT_S3_PART_BYTES = 8 * MiB;
/** S3's limits on a part that is not the last one of its upload. */
export const S3_MIN_PART_BYTES = 5 * MiB;
export const S3_MAX_PART_BYTES = 5 * 1024 * MiB;
/** S3 refuses an upload of more than 10,000 parts. */
const S3_MAX_PARTS = 10_000;
/** DeleteObjects takes at most 1,000 keys per request. */
const DELETE_BATCH = 1_000;
export const DEFAULT_S3_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_S3_IDLE_TIMEOUT_MS = 60_000;
/** The first part buffer of a staged object; it doubles up to `partBytes` so that small objects stay small. */
const FIRST_BUFFER_BYTES = 64 * 1024;
const STAGING = '.staging';
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface S3CiphertextStoreOptions {
  /** The bucket; the store never creates it. */
  bucket: string;
  /** Key prefix of the store inside the bucket: '' or segments of [A-Za-z0-9_.-] joined by '/'. */
  prefix?: string;
  /** An S3-compatible server's URL (http or https); AWS S3 when absent. */
  endpoint?: string;
  /** Signing region; the SDK's default chain (AWS_REGION, the config file) when absent. */
  region?: string;
  /** Path-style addressing (`<endpoint>/<bucket>/<key>`), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /** Multipart part size and part-buffer bound, in [5 MiB, 5 GiB]. */
  partBytes?: number;
  /** How long connecting to the server may take. */
  connectTimeoutMs?: number;
  /** How long a connection may stay silent mid-request before the request fails (and is retried by the SDK). */
  idleTimeoutMs?: number;
}

export class S3CiphertextStore implements CiphertextStore {
  /** Objects staged through this instance and not yet committed or aborted (so deleteRound can stop them). */
  private readonly staging = new Set<S3StagedObject>();

  private constructor(private readonly objects: S3Objects) {}

  /**
   * Opens a store on an existing bucket. Credentials come from the SDK's
   * default provider chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the
   * shared credentials file, web identity, container or instance roles),
   * never from these options. Fails fast (HeadBucket) when the bucket cannot
   * be reached with them.
   */
  static async open(options: S3CiphertextStoreOptions): Promise<S3CiphertextStore> {
    const { bucket } = options;
    if (!BUCKET.test(bucket)) throw new RangeError(`S3 bucket name ${JSON.stringify(bucket)} is not 3-63 characters of [a-z0-9.-]`);
    const prefix = normalisePrefix(options.prefix ?? '');
    const partBytes = options.partBytes ?? DEFAULT_S3_PART_BYTES;
    if (!(Number.isSafeInteger(partBytes) && partBytes >= S3_MIN_PART_BYTES && partBytes <= S3_MAX_PART_BYTES)) {
      throw new RangeError(`S3 part size ${partBytes} bytes is outside S3's [${S3_MIN_PART_BYTES}, ${S3_MAX_PART_BYTES}]`);
    }
    const connectTimeoutMs = positiveInteger('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_S3_CONNECT_TIMEOUT_MS);
    const idleTimeoutMs = positiveInteger('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_S3_IDLE_TIMEOUT_MS);
    const client = new S3Client({
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.region === undefined ? {} : { region: options.region }),
      forcePathStyle: options.forcePathStyle ?? false,
      requestHandler: { connectionTimeout: connectTimeoutMs, socketTimeout: idleTimeoutMs },
    });
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      client.destroy();
      const where = options.endpoint === undefined ? 'AWS S3' : new URL(options.endpoint).origin;
      throw new Error(`S3 ciphertext store: bucket ${bucket} at ${where} cannot be used: ${describe(error)}`, { cause: error });
    }
    return new S3CiphertextStore(new S3Objects(client, bucket, prefix, partBytes));
  }

  get bucket(): string {
    return this.objects.bucket;
  }

  get prefix(): string {
    return this.objects.prefix;
  }

  get partBytes(): number {
    return this.objects.partBytes;
  }

  /** Closes the client's connections. */
  destroy(): void {
    this.objects.client.destroy();
  }

  async stage(key: ObjectKey): Promise<StagedObject> {
    checkObjectKey(key);
    const staged = new S3StagedObject({ roundId: key.roundId, name: key.name }, this.objects, () => this.staging.delete(staged));
    this.staging.add(staged);
    return staged;
  }

  async *readRecords(key: ObjectKey, recordBytes: number, first: number, count: number, blockBytes = DEFAULT_BLOCK_BYTES): AsyncGenerator<Uint8Array> {
    const perBlock = recordsPerBlock(recordBytes, blockBytes);
    if (!(Number.isSafeInteger(first) && first >= 0 && Number.isSafeInteger(count) && count >= 0)) {
      throw new RangeError(`record range [${first}, ${first} + ${count}) is not a range of non-negative integers`);
    }
    // One ranged GET streams the whole range (a request per block would pay
    // S3's first-byte latency each time); the socket's backpressure bounds
    // what is read ahead of the consumer.
    const body = await this.objects.openRange(key, first * recordBytes, count * recordBytes, (size) =>
      `object ${key.roundId}/${key.name} holds ${Math.floor(size / recordBytes)} records, not [${first}, ${first + count})`);
    try {
      let remaining = count;
      let block = new Uint8Array(Math.min(perBlock, remaining) * recordBytes);
      let filled = 0;
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        for (let at = 0; at < chunk.byteLength; ) {
          if (remaining === 0) throw new Error(`object ${key.roundId}/${key.name}: the server sent more bytes than the range`);
          const n = Math.min(block.byteLength - filled, chunk.byteLength - at);
          block.set(chunk.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === block.byteLength) {
            remaining -= block.byteLength / recordBytes;
            yield block;
            block = new Uint8Array(Math.min(perBlock, remaining) * recordBytes);
            filled = 0;
          }
        }
      }
      if (remaining > 0) throw new Error(`object ${key.roundId}/${key.name}: short read, ${remaining} records missing`);
    } finally {
      body.destroy();
    }
  }

  async readInto(key: ObjectKey, byteOffset: number, into: Uint8Array): Promise<void> {
    if (!(Number.isSafeInteger(byteOffset) && byteOffset >= 0)) throw new RangeError(`byte offset ${byteOffset} is not a non-negative integer`);
    const body = await this.objects.openRange(key, byteOffset, into.byteLength, (size) =>
      `object ${key.roundId}/${key.name} holds ${size} bytes, not [${byteOffset}, ${byteOffset + into.byteLength})`);
    try {
      let at = 0;
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        if (at + chunk.byteLength > into.byteLength) throw new Error(`object ${key.roundId}/${key.name}: the server sent more bytes than the range`);
        into.set(chunk, at);
        at += chunk.byteLength;
      }
      if (at !== into.byteLength) throw new Error(`object ${key.roundId}/${key.name}: short read at byte ${byteOffset + at}`);
    } finally {
      body.destroy();
    }
  }

  /** S3 has nothing to hold open: each read is its own ranged GET. */
  async openReader(key: ObjectKey): Promise<ObjectReader> {
    if ((await this.size(key)) === undefined) throw missingObject(key);
    return { key, readInto: (byteOffset, into) => this.readInto(key, byteOffset, into), close: async () => {} };
  }

  async put(key: ObjectKey, bytes: Uint8Array): Promise<void> {
    checkObjectKey(key);
    if (bytes.byteLength <= this.objects.partBytes) {
      // One PUT replaces the object atomically: a reader sees the old bytes or the new ones.
      await this.objects.putWhole(key, bytes);
      return;
    }
    // Too large for one part: a multipart upload, which S3 also publishes atomically when it completes.
    await putStaged(this, key, bytes);
  }

  async get(key: ObjectKey): Promise<Uint8Array | undefined> {
    checkObjectKey(key);
    try {
      const { Body } = await this.objects.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objects.objectKey(key) }));
      return Body ? await Body.transformToByteArray() : new Uint8Array(0);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async size(key: ObjectKey): Promise<number | undefined> {
    checkObjectKey(key);
    return this.objects.size(key);
  }

  async delete(key: ObjectKey): Promise<boolean> {
    // DeleteObject succeeds whether or not the key exists, so ask first.
    if ((await this.size(key)) === undefined) return false;
    await this.objects.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objects.objectKey(key) }));
    return true;
  }

  async deleteRound(roundId: string, keep: readonly string[] = []): Promise<number> {
    checkObjectKey({ roundId, name: 'x' });
    const kept = new Set(keep.map((name) => this.objects.objectKey(checkObjectKey({ roundId, name }))));
    let removed = 0;
    for (const staged of [...this.staging]) {
      if (staged.key.roundId !== roundId) continue;
      await staged.abort();
      removed++;
    }
    let batch: string[] = [];
    for await (const object of this.objects.list(`${roundId}/`)) {
      if (kept.has(object.Key!)) continue;
      batch.push(object.Key!);
      if (batch.length === DELETE_BATCH) {
        removed += await this.objects.deleteKeys(batch);
        batch = [];
      }
    }
    if (batch.length > 0) removed += await this.objects.deleteKeys(batch);
    for await (const marker of this.objects.list(`${STAGING}/${roundId}/`)) {
      const upload = this.objects.parseMarker(marker.Key!);
      if (upload === undefined) continue;
      await this.objects.abortUpload(upload.key, upload.uploadId);
      await this.objects.deleteMarker(marker.Key!);
      removed++;
    }
    return removed;
  }

  async rounds(): Promise<string[]> {
    return (await this.objects.commonPrefixes()).filter((name) => NAME.test(name)).sort();
  }

  async collectOrphans(nowMs: number, olderThanMs: number): Promise<number> {
    let removed = 0;
    for await (const marker of this.objects.list(`${STAGING}/`)) {
      const upload = this.objects.parseMarker(marker.Key!);
      if (upload === undefined || marker.LastModified === undefined) continue;
      if (nowMs - marker.LastModified.getTime() < olderThanMs) continue;
      // NoSuchUpload: completed or aborted meanwhile, only its marker was left.
      if (await this.objects.abortUpload(upload.key, upload.uploadId)) removed++;
      await this.objects.deleteMarker(marker.Key!);
    }
    return removed;
  }
}

/** The store's requests to S3, shared by the store and its staged objects. Keys are checked by the callers. */
class S3Objects {
  private readonly base: string;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    readonly partBytes: number,
  ) {
    this.base = prefix === '' ? '' : `${prefix}/`;
  }

  objectKey(key: ObjectKey): string {
    return `${this.base}${key.roundId}/${key.name}`;
  }

  /** The single PUT of an object that fits in one part. */
  async putWhole(key: ObjectKey, bytes: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: bytes, ContentLength: bytes.byteLength }));
  }

  async size(key: ObjectKey): Promise<number | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }))).ContentLength ?? 0;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Starts a multipart upload and writes its marker before any part is sent. */
  async createUpload(key: ObjectKey): Promise<{ uploadId: string; marker: string }> {
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    if (!UploadId) throw new Error(`S3 ciphertext store: CreateMultipartUpload for ${key.roundId}/${key.name} returned no upload id`);
    const marker = `${this.base}${STAGING}/${key.roundId}/${key.name}/${Buffer.from(UploadId).toString('base64url')}`;
    try {
      await this.touchMarker(marker);
    } catch (error) {
      await this.abortUpload(key, UploadId).catch(() => undefined);
      throw error;
    }
    return { uploadId: UploadId, marker };
  }

  /** Sends one part, then rewrites the marker so the upload does not look abandoned. */
  async uploadPart(key: ObjectKey, upload: { uploadId: string; marker: string }, partNumber: number, body: Uint8Array): Promise<CompletedPart> {
    const { ETag } = await this.client.send(new UploadPartCommand({
      Bucket: this.bucket, Key: this.objectKey(key), UploadId: upload.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.byteLength,
    }));
    if (!ETag) throw new Error(`S3 ciphertext store: part ${partNumber} of ${key.roundId}/${key.name} got no ETag`);
    await this.touchMarker(upload.marker);
    return { PartNumber: partNumber, ETag };
  }

  async completeUpload(key: ObjectKey, upload: { uploadId: string; marker: string }, parts: CompletedPart[]): Promise<void> {
    await this.client.send(new CompleteMultipartUploadCommand({
      Bucket: this.bucket, Key: this.objectKey(key), UploadId: upload.uploadId, MultipartUpload: { Parts: parts },
    }));
    // The object is committed; a marker left behind by a failure here only costs collectOrphans a NoSuchUpload.
    await this.deleteMarker(upload.marker).catch(() => undefined);
  }

  /** Aborts an upload; false if S3 no longer knows it (completed or aborted). */
  async abortUpload(key: ObjectKey, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key), UploadId: uploadId }));
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchUpload') return false;
      throw error;
    }
  }

  async deleteMarker(marker: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: marker }));
  }

  private async touchMarker(marker: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: marker, Body: new Uint8Array(0), ContentLength: 0 }));
  }

  /** The upload a marker key stands for, or undefined for a key that is not a marker. */
  parseMarker(marker: string): { key: ObjectKey; uploadId: string } | undefined {
    const [roundId, name, encoded, ...rest] = marker.slice(`${this.base}${STAGING}/`.length).split('/');
    if (roundId === undefined || name === undefined || !encoded || rest.length > 0 || !NAME.test(roundId) || !NAME.test(name)) return undefined;
    return { key: { roundId, name }, uploadId: Buffer.from(encoded, 'base64url').toString() };
  }

  /**
   * A ranged GET of [byteOffset, byteOffset + byteLength), checked against the
   * object's size; `tooShort(size)` words the error when it does not hold the range.
   */
  async openRange(key: ObjectKey, byteOffset: number, byteLength: number, tooShort: (size: number) => string): Promise<Readable> {
    checkObjectKey(key);
    if (byteLength === 0) {
      const size = await this.size(key);
      if (size === undefined) throw missingObject(key);
      if (byteOffset > size) throw new RangeError(tooShort(size));
      return Readable.from([]);
    }
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({
        Bucket: this.bucket, Key: this.objectKey(key), Range: `bytes=${byteOffset}-${byteOffset + byteLength - 1}`,
      }));
    } catch (error) {
      if (isMissing(error)) throw missingObject(key);
      if ((error as { name?: string }).name !== 'InvalidRange') throw error;
      const size = await this.size(key); // the range starts at or past the end
      if (size === undefined) throw missingObject(key);
      throw new RangeError(tooShort(size));
    }
    const body = response.Body as Readable | undefined;
    const total = /\/(\d+)$/.exec(response.ContentRange ?? '')?.[1];
    if (body === undefined || total === undefined) {
      body?.destroy();
      throw new Error(`object ${key.roundId}/${key.name}: the server ignored the Range header (no Content-Range)`);
    }
    if (byteOffset + byteLength > Number(total)) {
      body.destroy();
      throw new RangeError(tooShort(Number(total)));
    }
    return body;
  }

  /** Every object under `<prefix>/<under>`. */
  async *list(under: string): AsyncGenerator<_Object> {
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: `${this.base}${under}` })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) yield object;
    }
  }

  /** The names of the "directories" right under the prefix. */
  async commonPrefixes(): Promise<string[]> {
    const names: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.base, Delimiter: '/' })) {
      for (const { Prefix } of page.CommonPrefixes ?? []) if (Prefix !== undefined) names.push(Prefix.slice(this.base.length, -1));
    }
    return names;
  }

  /** Deletes up to 1,000 keys in one request; returns how many. */
  async deleteKeys(keys: string[]): Promise<number> {
    const { Errors } = await this.client.send(new DeleteObjectsCommand({
      Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
    }));
    if (Errors && Errors.length > 0) {
      throw new Error(`S3 ciphertext store: ${Errors.length} of ${keys.length} deletions failed, first ${Errors[0]!.Key}: ${Errors[0]!.Code}`);
    }
    return keys.length;
  }
}

class S3StagedObject implements StagedObject {
  private written = 0;
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  /** The part being filled, grown from 64 KiB up to partBytes. */
  private buffer: Uint8Array;
  private filled = 0;
  /** The buffer of the part in flight, reused once that part is stored. */
  private spare: Uint8Array | undefined;
  private upload: { uploadId: string; marker: string } | undefined;
  private readonly parts: CompletedPart[] = [];
  private inFlight: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    readonly key: ObjectKey,
    private readonly objects: S3Objects,
    private readonly release: () => void,
  ) {
    this.buffer = new Uint8Array(Math.min(FIRST_BUFFER_BYTES, objects.partBytes));
  }

  get size(): number {
    return this.written;
  }

  async append(bytes: Uint8Array): Promise<void> {
    if (this.state !== 'open') throw new Error(`staged object ${this.key.roundId}/${this.key.name} is ${this.state}`);
    if (this.failure !== undefined) throw this.failure;
    const partBytes = this.objects.partBytes;
    for (let done = 0; done < bytes.byteLength; ) {
      // A full buffer is sent only once more bytes arrive, so an object of exactly one part stays a single PUT.
      if (this.filled === partBytes) await this.sendPart();
      if (this.filled === this.buffer.byteLength) this.grow(bytes.byteLength - done);
      const n = Math.min(this.buffer.byteLength - this.filled, bytes.byteLength - done);
      this.buffer.set(bytes.subarray(done, done + n), this.filled);
      this.filled += n;
      done += n;
    }
    this.written += bytes.byteLength;
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw new Error(`staged object ${this.key.roundId}/${this.key.name} is ${this.state}`);
    this.state = 'committing';
    try {
      if (this.upload === undefined) {
        await this.objects.putWhole(this.key, this.buffer.subarray(0, this.filled));
      } else {
        await this.settle();
        // The last part may be short (S3 allows it); it is never empty, since a full buffer waits for more bytes.
        this.parts.push(await this.objects.uploadPart(this.key, this.upload, this.parts.length + 1, this.buffer.subarray(0, this.filled)));
        await this.objects.completeUpload(this.key, this.upload, this.parts);
      }
      this.state = 'committed';
      this.finish();
    } catch (error) {
      this.state = 'open';
      await this.abort();
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.inFlight;
    const upload = this.upload;
    this.finish();
    if (upload === undefined) return;
    try {
      await this.objects.abortUpload(this.key, upload.uploadId);
      await this.objects.deleteMarker(upload.marker);
    } catch {
      // The marker stays, so collectOrphans aborts the upload later.
    }
  }

  /** Starts sending the full buffer as the next part; waits only for the part before it. */
  private async sendPart(): Promise<void> {
    await this.settle();
    if (this.parts.length + 1 >= S3_MAX_PARTS) {
      throw new RangeError(`staged object ${this.key.roundId}/${this.key.name} would need more than ${S3_MAX_PARTS} parts of ${this.objects.partBytes} bytes`);
    }
    const upload = (this.upload ??= await this.objects.createUpload(this.key));
    const body = this.buffer;
    this.inFlight = this.objects.uploadPart(this.key, upload, this.parts.length + 1, body).then(
      (part) => void this.parts.push(part),
      (error: unknown) => void (this.failure ??= error),
    );
    this.buffer = this.spare ?? new Uint8Array(this.objects.partBytes);
    this.spare = body;
    this.filled = 0;
  }

  /** Waits for the part in flight; throws its failure. */
  private async settle(): Promise<void> {
    await this.inFlight;
    this.inFlight = undefined;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Doubles the buffer (copying what it holds) toward what is still to come, up to partBytes. */
  private grow(incoming: number): void {
    const capacity = Math.min(this.objects.partBytes, Math.max(this.buffer.byteLength * 2, this.filled + incoming));
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.filled));
    this.buffer = grown;
  }

  /** Drops the buffers (a caller may keep the handle) and leaves the store's set of open objects. */
  private finish(): void {
    this.buffer = new Uint8Array(0);
    this.spare = undefined;
    this.filled = 0;
    this.release();
  }
}

/** Parses an s3:// store URL; see `openCiphertextStore`. */
export function parseS3StoreUrl(url: URL): S3CiphertextStoreOptions {
  if (url.protocol !== 's3:') throw new RangeError(`an S3 ciphertext store URL starts with s3://, not ${url.protocol}//`);
  if (url.username !== '' || url.password !== '') {
    throw new RangeError('an S3 ciphertext store URL carries no credentials: they come from the AWS SDK default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the shared credentials file, roles)');
  }
  if (url.port !== '') throw new RangeError('an S3 ciphertext store URL names a bucket, not host:port: put the server in ?endpoint=');
  if (url.hash !== '') throw new RangeError('an S3 ciphertext store URL has no #fragment');
  const options: S3CiphertextStoreOptions = { bucket: decodeURIComponent(url.hostname), prefix: decodeURIComponent(url.pathname) };
  for (const [name, value] of url.searchParams) {
    switch (name) {
      case 'endpoint': {
        let endpoint: URL;
        try {
          endpoint = new URL(value);
        } catch {
          throw new RangeError('S3 ciphertext store URL: endpoint is not a URL');
        }
        if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new RangeError('S3 ciphertext store URL: endpoint is not http(s)://');
        if (endpoint.username !== '' || endpoint.password !== '') throw new RangeError('S3 ciphertext store URL: the endpoint carries no credentials');
        if (endpoint.search !== '' || endpoint.hash !== '') throw new RangeError('S3 ciphertext store URL: the endpoint has no query or fragment');
        options.endpoint = value;
        break;
      }
      case 'region':
        if (!/^[a-z0-9-]{1,64}$/.test(value)) throw new RangeError('S3 ciphertext store URL: region is not [a-z0-9-]');
        options.region = value;
        break;
      case 'forcePathStyle':
        if (value !== 'true' && value !== 'false') throw new RangeError('S3 ciphertext store URL: forcePathStyle is true or false');
        options.forcePathStyle = value === 'true';
        break;
      case 'partBytes':
      case 'connectTimeoutMs':
      case 'idleTimeoutMs':
        if (!/^[1-9][0-9]{0,15}$/.test(value)) throw new RangeError(`S3 ciphertext store URL: ${name} is not a positive integer`);
        options[name] = Number(value);
        break;
      default:
        throw new RangeError(`S3 ciphertext store URL: unknown parameter ${JSON.stringify(name)} (known: endpoint, region, forcePathStyle, partBytes, connectTimeoutMs, idleTimeoutMs; credentials never go in the URL)`);
    }
  }
  return options;
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  for (const segment of trimmed.split('/')) {
    if (!NAME.test(segment)) throw new RangeError(`S3 key prefix segment ${JSON.stringify(segment)} is not [A-Za-z0-9_.-]{1,128} without a leading dot`);
  }
  return trimmed;
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) throw new RangeError(`S3 ciphertext store: ${name} ${value} is not a positive integer`);
  return value;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** Shaped like the filesystem store's ENOENT, so callers treat a missing object alike in both stores. */
function missingObject(key: ObjectKey): Error {
  return Object.assign(new Error(`ENOENT: ciphertext object ${key.roundId}/${key.name} does not exist`), { code: 'ENOENT' });
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return `${e.name ?? 'Error'}${status === undefined ? '' : ` (HTTP ${status})`}${e.message && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`;
}
