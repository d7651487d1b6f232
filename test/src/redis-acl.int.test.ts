/**
 * Redis ACLs as shipped: config/redis-users.acl.template rendered by
 * config/render-redis-acl.sh (as docker compose does), loaded by a private
 * redis-server with the shipped config/redis.conf. The gateway and the
 * aggregators run real rounds, each as its own Redis user, and Redis denies
 * nothing on the way (ACL LOG stays empty); then each user is refused every
 * key and command it does not need, and the default user is disabled.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Code, createClient, SecaggError } from '@secagg/core';
import { ClientService, RoundState } from '@secagg/proto';
import { RoundKeys, roundIndexKey, stagingBudgetKeys } from '@secagg/store';
import { LocalCluster, REPO_ROOT, SHIPPED_REDIS_CONF, startPrivateRedis, type PrivateRedis } from '@secagg/local-cluster';
import { clippedSum, inMinutes, makeUpdate, maxAbsDiff, waitForEnd } from './helpers.js';
import { bearer } from './fuzz/raw-client.js';
import { honestFrames, roundForUpload } from './fuzz/update-frames.js';

const TEMPLATE = join(REPO_ROOT, 'config', 'redis-users.acl.template');
const RENDER = join(REPO_ROOT, 'config', 'render-redis-acl.sh');
const USERS = ['gateway', 'aggregator', 'admin'] as const;
type User = (typeof USERS)[number];

describe('Redis ACLs: one user per service, only what it needs', () => {
  const prefix = `acl${randomBytes(3).toString('hex')}`;
  const passwords = Object.fromEntries(USERS.map((u) => [u, randomBytes(24).toString('hex')])) as Record<User, string>;
  let dir: string;
  let redis: PrivateRedis;
  let cluster: LocalCluster;
  let admin: Redis;
  let roundId = '';
  const url = (user: User) => `redis://${user}:${passwords[user]}@127.0.0.1:${redis.port}`;
  const connect = (user?: User) =>
    new Redis(user ? url(user) : `redis://127.0.0.1:${redis.port}`, { maxRetriesPerRequest: 1, enableReadyCheck: false, lazyConnect: true, retryStrategy: () => null });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secagg-acl-'));
    const aclFile = join(dir, 'users.acl');
    execFileSync('sh', [RENDER, TEMPLATE, aclFile], {
      env: {
        PATH: process.env.PATH,
        SECAGG_KEY_PREFIX: prefix,
        SECAGG_REDIS_GATEWAY_PASSWORD: passwords.gateway,
        SECAGG_REDIS_AGGREGATOR_PASSWORD: passwords.aggregator,
        SECAGG_REDIS_ADMIN_PASSWORD: passwords.admin,
      },
    });
    const rendered = readFileSync(aclFile, 'utf8');
    for (const password of Object.values(passwords)) assert.ok(!rendered.includes(password), 'only password hashes reach the ACL file');
    redis = await startPrivateRedis({ configFile: SHIPPED_REDIS_CONF, args: ['--aclfile', aclFile], dir });
    admin = connect('admin');
    await admin.connect();
    await admin.call('ACL', 'LOG', 'RESET');
    cluster = await LocalCluster.start({
      redisUrl: url('admin'), // only for the harness' own cleanup
      keyPrefix: prefix,
      aggregators: 2,
      allowUnsafeNoiseFreeRelease: true,
      env: { 'client-gateway': { GATEWAY_REDIS_URL: url('gateway') }, aggregator: { AGGREGATOR_REDIS_URL: url('aggregator') } },
    });
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
    admin?.disconnect();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('the default user is disabled: without a user nothing runs', async () => {
    const anonymous = connect();
    await anonymous.connect();
    await assert.rejects(anonymous.get('anything'), /NOAUTH/);
    await assert.rejects(anonymous.call('AUTH', 'default', 'nopass'), /WRONGPASS|disabled/);
    await assert.rejects(anonymous.call('AUTH', 'gateway', 'wrong-password'), /WRONGPASS/);
    anonymous.disconnect();
    const healthcheck = new Redis(`redis://healthcheck:x@127.0.0.1:${redis.port}`, { maxRetriesPerRequest: 1, enableReadyCheck: false, lazyConnect: true });
    await healthcheck.connect();
    assert.equal(await healthcheck.ping(), 'PONG');
    await assert.rejects(healthcheck.get(roundIndexKey(prefix)), /NOPERM/);
    healthcheck.disconnect();
  }, 300_000);

  it('gateway and aggregators run full rounds under their own users, and Redis denies them nothing', async () => {
    await admin.call('ACL', 'LOG', 'RESET'); // forget the refusals of the test before
    const coordinator = await cluster.client('coordinator', 'acl-owner');
    const round = await coordinator.createRound({
      vectorLength: 3_000,
      minClients: 2,
      maxClients: 3,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      privacyGroup: 'acl-1',
    });
    roundId = round.roundId;
    const updates = [1, 2, 3].map((seed) => makeUpdate(3_000, seed, 0.8));
    for (const [i, update] of updates.entries()) {
      const client = await cluster.client('client', `acl-client-${i}`);
      const first = await client.submitUpdate(roundId, update, { updateId: `u-${i}` });
      if (i === 0) {
        // An idempotent retry: reads the committed update and re-queues its fold.
        const again = await client.submitUpdate(roundId, update, { updateId: `u-${i}` });
        assert.deepEqual(again.receipt.sha256, first.receipt.sha256);
      }
      client.close();
    }
    // A refused upload (its staging list is discarded) into a round that then fails below min clients.
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const other = await coordinator.createRound({
      vectorLength: 100,
      minClients: 2,
      maxClients: 5,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      privacyGroup: 'acl-2',
    });
    const upload = await roundForUpload(await coordinator.getRound(other.roundId));
    const bad = upload.encrypt(makeUpdate(100, 9, 0.5)).map((c) => Buffer.from(c));
    bad[0]!.fill(0xff, bad[0]!.length - 8);
    await assert.rejects(raw.submitUpdate(honestFrames(upload, 'bad', bad), { metadata: bearer(await cluster.token('client', 'acl-bad')) }), (e: SecaggError) => e.code === Code.InvalidArgument);
    const lone = await cluster.client('client', 'acl-lone');
    await lone.submitUpdate(other.roundId, makeUpdate(100, 10, 0.5));
    lone.close();
    upload.dispose();
    raw.close();

    const ended = await waitForEnd(coordinator, roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(roundId);
    assert.ok(maxAbsDiff(result.sum, clippedSum(updates, 1)) < 1e-4);
    // The second round fails below min clients: the failure path runs as the aggregator too.
    await coordinator.closeRound(other.roundId);
    const failed = await waitForEnd(coordinator, other.roundId);
    assert.equal(failed.state, RoundState.FAILED);
    assert.ok((await coordinator.listRounds()).length >= 2);
    coordinator.close();

    // The services really connected as their own users (not as admin) ...
    const clientList = String(await admin.call('CLIENT', 'LIST'));
    assert.match(clientList, /user=gateway/);
    assert.match(clientList, /user=aggregator/);
    // ... and Redis refused them nothing all along.
    const denied = (await admin.call('ACL', 'LOG')) as unknown[];
    assert.deepEqual(denied, [], `ACL denials during the round: ${JSON.stringify(denied)}`);
  }, 300_000);

  it("each service's user is refused the keys and commands it does not need", async () => {
    assert.ok(roundId, 'needs the round of the previous test');
    const k = new RoundKeys(prefix, roundId); // the layout as the store writes it: a layout change shows here as a denial
    const everyone: [string, ...string[]][] = [
      ['FLUSHALL'],
      ['FLUSHDB'],
      ['CONFIG', 'GET', 'maxmemory'],
      ['CONFIG', 'SET', 'appendfsync', 'no'],
      ['DEBUG', 'SLEEP', '0'],
      ['KEYS', '*'],
      ['SCAN', '0'],
      ['RANDOMKEY'],
      ['DBSIZE'],
      ['ACL', 'LIST'],
      ['ACL', 'SETUSER', 'intruder', 'on', '>password', '~*', '+@all'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'KILL', 'ID', '1'],
      ['SCRIPT', 'FLUSH'],
      ['FUNCTION', 'FLUSH'],
      ['SHUTDOWN', 'NOSAVE'],
      ['SAVE'],
      ['BGREWRITEAOF'],
      ['REPLICAOF', '127.0.0.1', '1'],
      ['SWAPDB', '0', '1'],
      ['MODULE', 'LIST'],
      ['SELECT', '1'],
      ['PUBLISH', 'channel', 'message'],
      ['GET', 'elsewhere:key'],
      ['SET', 'elsewhere:key', 'x'],
      ['GET', new RoundKeys(`${prefix}x`, roundId).meta], // a sibling prefix
      ['EVAL', "return redis.call('GET', KEYS[1])", '1', 'elsewhere:key'],
      ['EVAL', "return redis.call('SET', 'elsewhere:key', 'x')", '0'],
    ];
    const refused: Record<'gateway' | 'aggregator', [string, ...string[]][]> = {
      gateway: [
        ...everyone,
        ['HSET', k.range(0), 'folded', '99'], // a fold range's progress
        ['HGETALL', k.range(0)],
        ['SET', k.resultHeader, 'x'], // results are read-only to the gateway
        ['HSET', k.resultObject, 'name', 'x'], // nor can it point a result at another object
      ],
      aggregator: [
        ...everyone,
        ['GET', k.publicKey],
        ['HSET', k.update('acl-client-0'), 'object', 'x'], // update records are the gateway's
        ['ZADD', roundIndexKey(prefix), '1', 'r-x'],
        ['HSET', k.clients, 'mallory', 'u'], // the client index is read-only to the aggregator
        ['HGETALL', k.update('acl-client-0')],
        ['HGET', stagingBudgetKeys(prefix).budget, '_total'],
        ['HGET', k.sampled, 'acl-client-0'], // sampling decisions are the gateway's
      ],
    };
    const allowed: Record<'gateway' | 'aggregator', [string, ...string[]][]> = {
      gateway: [['HGET', k.meta, 'state'], ['GET', k.resultHeader], ['HGETALL', k.resultObject], ['ZCARD', roundIndexKey(prefix)], ['HSETNX', k.sampled, 'acl-probe', '0']],
      aggregator: [['HGET', k.meta, 'state'], ['HGETALL', k.clients], ['GET', k.resultHeader], ['LRANGE', k.commitLog, '0', '-1'], ['HGETALL', k.range(0)]],
    };
    for (const user of ['gateway', 'aggregator'] as const) {
      const connection = connect(user);
      await connection.connect();
      try {
        // The same user on its own keys: fine (so the refusals below are about keys and commands).
        for (const [command, ...args] of allowed[user]) {
          assert.equal(await admin.call('ACL', 'DRYRUN', user, command, ...args), 'OK');
          await connection.call(command, ...args);
        }
        for (const [command, ...args] of refused[user]) {
          const what = `${user} may ${command} ${args.join(' ')}`;
          // Refused by the ACL itself (ACL DRYRUN), whatever else the server config says (a
          // script's own keys only show when it runs) ...
          if (command !== 'EVAL') assert.match(String(await admin.call('ACL', 'DRYRUN', user, command, ...args)), /no permissions/, what);
          // ... and for real (DEBUG is also off in the server config: either refusal will do).
          await assert.rejects(connection.call(command, ...args), /NOPERM|user executing the script can't access|DEBUG command not allowed/, what);
        }
      } finally {
        connection.disconnect();
      }
    }
    // Nothing of the above happened: Redis is up, configured as shipped, the round intact.
    assert.equal(await admin.ping(), 'PONG');
    assert.deepEqual(await admin.call('CONFIG', 'GET', 'appendfsync'), ['appendfsync', 'always']);
    assert.equal(await admin.hget(k.meta, 'state'), 'RELEASED');
    assert.equal(await admin.exists('elsewhere:key'), 0);
    assert.equal(await admin.call('ACL', 'GETUSER', 'intruder'), null);
  }, 300_000);

  it('the Redis passwords never reach a log line', () => {
    for (const name of cluster.processNames()) {
      const text = readFileSync(join(cluster.logDir, `${name}.log`), 'utf8');
      for (const [user, password] of Object.entries(passwords)) assert.ok(!text.includes(password), `${name} logged the ${user} password`);
    }
  }, 300_000);

  it('docker-compose.yml wires the same ACL: rendered at start, one user per service, health check without data access', () => {
    const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    assert.match(compose, /render-redis-acl\.sh/);
    assert.match(compose, /redis-users\.acl\.template/);
    assert.match(compose, /--aclfile/);
    assert.match(compose, /GATEWAY_REDIS_URL: redis:\/\/gateway:\$\{SECAGG_REDIS_GATEWAY_PASSWORD:\?[^}]*\}@redis:6379/);
    assert.match(compose, /AGGREGATOR_REDIS_URL: redis:\/\/aggregator:\$\{SECAGG_REDIS_AGGREGATOR_PASSWORD:\?[^}]*\}@redis:6379/);
    assert.match(compose, /--user", "healthcheck"/);
  }, 300_000);
});
