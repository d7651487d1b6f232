/**
 * The child process of `startS3TestServer`: fauxqs's S3 API on 127.0.0.1 at
 * a free port, objects in memory. Prints {"endpoint": ...} once listening;
 * exits on SIGTERM or when its parent closes stdin (so it never outlives a
 * crashed test run).
 */
import { buildApp } from 'fauxqs';

const app = buildApp({ logger: false });
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ endpoint: address })}\n`);

const stop = () => void app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
