/**
 * A real S3-API server for tests: fauxqs (npm, MIT) in a child process on
 * 127.0.0.1. Chosen over s3rver because s3rver 3.7.1 (and its fork
 * @20minutes/s3rver 5.0.0) refuses AbortMultipartUpload (405) and breaks
 * ListObjectsV2 pagination (500); fauxqs implements multipart uploads with
 * abort, enforces S3's 5 MiB minimum part, ranged GETs and paginated listings.
 * It keeps objects in memory: it tests the protocol, not durability.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3TestServer {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Creates a bucket (3-63 characters of [a-z0-9.-]). */
  createBucket(bucket: string): Promise<void>;
  /** The store URL of `bucket` and `prefix` on this server, for openCiphertextStore. */
  url(bucket: string, prefix: string, params?: Record<string, string>): string;
  stop(): Promise<void>;
}

/**
 * Puts fixed test credentials in the environment, where the AWS SDK's default
 * chain finds them first (and never goes on to ask an instance-metadata
 * endpoint); fauxqs accepts any.
 */
export function useS3TestCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'secagg-test';
  process.env.AWS_SECRET_ACCESS_KEY = 'secagg-test-secret';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}

export async function startS3TestServer(): Promise<S3TestServer> {
  useS3TestCredentials();
  const main = fileURLToPath(new URL('./s3-test-server-main.js', import.meta.url));
  const child = spawn(process.execPath, ['--no-warnings', main], { stdio: ['pipe', 'pipe', 'inherit'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve((JSON.parse(line) as { endpoint: string }).endpoint));
    child.once('exit', (code, signal) => reject(new Error(`the S3 test server exited (${code ?? signal}) before listening`)));
  });
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
  return {
    endpoint,
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    url(bucket, prefix, params = {}) {
      const query = new URLSearchParams({ endpoint, region: 'us-east-1', forcePathStyle: 'true', ...params });
      return `s3://${bucket}/${prefix}?${query}`;
    },
    async stop() {
      client.destroy();
      await stopChild(child);
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
