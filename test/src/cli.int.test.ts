/**
 * The `secagg` CLI as a user runs it: the real binary in a child process
 * against a real cluster. Output "snapshots" with the variable parts (ids,
 * times, rates) masked, for a whole round and for each common error.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, REPO_ROOT } from '@secagg/local-cluster';
import { readVector, writeVector } from '@secagg/sdk';
import { makeUpdate, SECAGG_CLI } from './helpers.js';

const CLI = SECAGG_CLI;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Masks what changes from run to run so the output can be compared as text. */
function mask(text: string): string {
  return text
    .replace(/r-[A-Za-z0-9_-]{12}/g, '<round>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/\b\d\d:\d\d:\d\d\b/g, '<clock>')
    .replace(/\d+(\.\d+)? (s|MB\/s|MB)\b/g, '<n> $2')
    .replace(/ETA \d+ s/g, 'ETA <n> s')
    .replace(/deadline in \S+/g, 'deadline in <t>')
    .replace(/[0-9a-f]{16}…/g, '<sha>…')
    .replace(/localhost:\d+/g, 'localhost:<port>')
    .replace(/[ \t]+$/gm, '');
}

describe('secagg CLI', () => {
  let cluster: LocalCluster;
  let dir: string;
  let env: Record<string, string>;
  const run = (args: string[], extraEnv: Record<string, string> = {}): Run => {
    const result = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1 });
    dir = mkdtempSync(join(tmpdir(), 'secagg-cli-'));
    env = {
      SECAGG_GATEWAY: cluster.gatewayAddress,
      SECAGG_CA_FILE: cluster.certificates!.caFile,
      SECAGG_TOKEN: await cluster.token('coordinator', 'cli-coordinator'),
    };
  }, 240_000);
  afterAll(async () => cluster?.stop(), 240_000);

  it('runs a whole round: create, submit with progress, watch, result', async () => {
    const create = run(['round', 'create', '--length', '10000', '--min-clients', '2', '--max-clients', '2', '--deadline', '10m', '--clip-norm', '1', '--noise-multiplier', '8', '--privacy-group', 'cli']);
    assert.equal(create.code, 0, create.stderr);
    const table = mask(create.stdout).split('\n');
    assert.match(table[0]!, /^ROUND\s+STATE\s+COMMITTED\s+FOLDED\s+LENGTH\s+DEADLINE\s+REASON$/);
    assert.match(table[1]!, /^<round>\s+open\s+0\/2\s+0\s+10000\s+<time>$/);
    const roundId = /r-[A-Za-z0-9_-]{12}/.exec(create.stdout)![0];

    // The keyholder's verification key, as an operator publishes it; a stranger's key from `secagg keyholder keygen`.
    const pinned = join(dir, 'keyholder-verify.pem');
    writeFileSync(pinned, cluster.keyholderVerificationKeyPem);
    const keygen = run(['keyholder', 'keygen', '--out-private', join(dir, 'other-signing.pem'), '--out-public', join(dir, 'other-verify.pem')]);
    assert.equal(keygen.code, 0, keygen.stderr);
    assert.match(keygen.stdout, /^wrote the keyholder signing key [0-9a-f]{16} to .*other-signing\.pem/);
    const again = run(['keyholder', 'keygen', '--out-private', join(dir, 'other-signing.pem'), '--out-public', join(dir, 'other-verify2.pem')]);
    assert.equal(again.code, 1, 'keygen never overwrites a signing key');
    const early = join(dir, 'early.npy');
    writeVector(early, makeUpdate(10_000, 9, 0.5));
    const clientEnv = { SECAGG_TOKEN: await cluster.token('client', 'cli-unpinned') };
    const unpinned = run(['submit', '--round', roundId, '--file', early], clientEnv);
    assert.equal(unpinned.code, 1);
    assert.match(unpinned.stderr, /^secagg: no keyholder verification key is pinned.*--keyholder-key FILE/);
    const stranger = run(['submit', '--round', roundId, '--file', early, '--keyholder-key', join(dir, 'other-verify.pem')], clientEnv);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /^secagg: round r-\S+ is signed by keyholder key\(s\) \[[0-9a-f]{16}\], 0 of them pinned/);
    assert.equal(JSON.parse(run(['round', 'status', roundId, '--json']).stdout).committed, 0, 'a refused submit uploads nothing');

    for (const [i, ext] of [[1, 'npy'], [2, 'safetensors']] as const) {
      const file = join(dir, `update-${i}.${ext}`);
      writeVector(file, makeUpdate(10_000, i, 2.5));
      // One pins with the flag (the old and a new key, as during a rotation), the other with the environment.
      const pin = i === 1 ? ['--keyholder-key', `${join(dir, 'other-verify.pem')},${pinned}`] : [];
      const submit = run(['submit', '--round', roundId, '--file', file, ...pin], {
        SECAGG_TOKEN: await cluster.token('client', `cli-client-${i}`),
        ...(i === 2 ? { SECAGG_KEYHOLDER_KEY_FILE: pinned } : {}),
      });
      assert.equal(submit.code, 0, submit.stderr);
      const err = mask(submit.stderr).trim().split('\n');
      assert.match(err[0]!, /^clipped: L2 norm \S+ scaled down to the round's clip norm 1$/);
      assert.match(err.at(-1)!, /^\[#{30}\] 3\/3 ciphertexts {2}<n> MB {2}<n> MB\/s {2}ETA <n> s$/);
      assert.match(mask(submit.stdout).trim(), /^committed update [0-9a-f-]{36} to <round>: 3 ciphertexts, <n> MB in <n> s \(receipt sha256 <sha>…\)$/);
    }

    const watch = run(['round', 'watch', roundId, '--interval', '200']);
    assert.equal(watch.code, 0, watch.stderr);
    const lines = mask(watch.stdout).trim().split('\n');
    assert.match(lines.at(-1)!, /^<clock> {2}released committed 2\/2 \(min 2\) {2}folded 2\/2$/);

    const out = join(dir, 'mean.npy');
    const result = run(['result', '--round', roundId, '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(mask(result.stdout).trim(), /^wrote the mean of 2 updates \(10000 values\) to .*mean\.npy; noise sigma 8 on the sum, epsilon \S+ at delta 0\.00001$/);
    assert.match(mask(result.stderr), /\[#{30}\] 10000\/10000 values/);
    assert.equal(readVector(out).values.length, 10_000);

    const json = run(['round', 'status', roundId, '--json']);
    const status = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(status.state, 'released');
    assert.equal(status.committed, 2);
  }, 240_000);

  it('says what went wrong and what to do, for each common error', async () => {
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['round', 'list'], { SECAGG_GATEWAY: '' }, 2, /^secagg: --gateway host:port \(or SECAGG_GATEWAY\) is required \(see secagg --help\)$/],
      [['round', 'list'], { SECAGG_GATEWAY: 'localhost:1' }, 1, /^secagg: UNAVAILABLE: .* — is the gateway running and --gateway right\?$/],
      [['round', 'list'], { SECAGG_TOKEN: 'not-a-token' }, 1, /^secagg: UNAUTHENTICATED \(invalid_token\): invalid token: malformed — the token does not verify \(expired, another key, another audience\?\): get a new one \(secagg token mint\)$/],
      [['round', 'create', '--length', '5', '--min-clients', '1', '--max-clients', '1', '--deadline', '1m', '--clip-norm', '1', '--noise-multiplier', '1'], { SECAGG_TOKEN: await cluster.token('client', 'nosy') }, 1, /^secagg: PERMISSION_DENIED \(role_denied\): role client may not call CreateRound — this token's role may not do that \(see docs\/SECURITY.md RPC × role\)$/],
      [['round', 'status', 'r-nope'], {}, 1, /^secagg: NOT_FOUND \(round_not_found\): round r-nope does not exist — no such round: check the round id \(secagg round list\)$/],
      [['round', 'create', '--length', 'ten'], {}, 2, /^secagg: --length must be a positive integer, got "ten" \(see secagg --help\)$/],
      [['round', 'frobnicate'], {}, 2, /^secagg: round needs a subcommand: create, list, status, watch or close \(see secagg --help\)$/],
      [['submit', '--round', 'r-x', '--file', join(REPO_ROOT, 'nope.npy')], {}, 1, /^secagg: ENOENT: no such file or directory/],
      [['submit', '--round', 'r-x', '--file', 'update.csv'], {}, 1, /^secagg: unknown vector file type ".csv": use .f32\/.bin \(raw float32 LE\), .npy or .safetensors$/],
      [['frobnicate'], {}, 2, /^secagg: unknown command "frobnicate" \(see secagg --help\)$/],
    ];
    for (const [args, extra, code, message] of cases) {
      const result = run(args, extra);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '', `${args.join(' ')} prints nothing on stdout`);
      assert.match(mask(result.stderr).trim(), message, args.join(' '));
    }
    const help = run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:\n/);
    assert.ok(!existsSync(join(REPO_ROOT, 'update.csv')));
  }, 240_000);

  it('takes the token from --token-file everywhere, steers away from --token in --help, and mints no token the gateway would refuse', async () => {
    const help = run(['--help']);
    assert.match(help.stdout, /Prefer SECAGG_TOKEN\s+or --token-file: --token T shows in process lists/);
    assert.match(help.stdout, /Connection options: --gateway host:port {2}--token-file F/);

    const owner = join(dir, 'owner.jwt');
    const other = join(dir, 'other.jwt');
    writeFileSync(owner, `${await cluster.token('coordinator', 'cli-file-owner')}\n`, { mode: 0o600 });
    writeFileSync(other, await cluster.token('coordinator', 'cli-file-other'), { mode: 0o600 });
    const noEnvToken = { SECAGG_TOKEN: '' };
    const create = run(['round', 'create', '--length', '10', '--min-clients', '1', '--max-clients', '5', '--deadline', '10m', '--clip-norm', '1', '--noise-multiplier', '8', '--privacy-group', 'cli-file', '--json', '--token-file', owner], noEnvToken);
    assert.equal(create.code, 0, create.stderr);
    const roundId = (JSON.parse(create.stdout) as { round_id: string }).round_id;
    assert.match(roundId, /^r-/);
    // SECAGG_TOKEN_FILE too, and the listing is the file's coordinator's own.
    const list = run(['round', 'list', '--json'], { SECAGG_TOKEN: '', SECAGG_TOKEN_FILE: owner });
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { round_id: string } | { round_id: string }[];
    assert.deepEqual((Array.isArray(listed) ? listed : [listed]).map((r) => r.round_id), [roundId]);
    // Another coordinator's token may not close the round; the owner's may.
    const denied = run(['round', 'close', roundId, '--token-file', other], noEnvToken);
    assert.equal(denied.code, 1);
    assert.match(mask(denied.stderr).trim(), /^secagg: PERMISSION_DENIED \(not_round_owner\): round <round> belongs to another coordinator; only its owner may close it — another coordinator owns this round/);
    const closed = run(['round', 'close', roundId, '--token-file', owner], noEnvToken);
    assert.equal(closed.code, 0, closed.stderr);

    const cases: [string[], RegExp][] = [
      [['round', 'list', '--token-file', join(dir, 'missing.jwt')], /^secagg: cannot read the token file .*missing\.jwt: ENOENT \(see secagg --help\)$/],
      [['round', 'list', '--token-file', owner, '--token', 'x'], /^secagg: give either --token or --token-file, not both \(see secagg --help\)$/],
      [['token', 'mint', '--signing-key', owner, '--subject', 'x', '--role', 'client', '--ttl', '2d'], /^secagg: --ttl 2d exceeds the maximum token lifetime 24h: the gateway refuses longer-lived tokens \(mint a new one when it expires\) \(see secagg --help\)$/],
    ];
    writeFileSync(join(dir, 'empty.jwt'), '\n');
    cases.push([['round', 'list', '--token-file', join(dir, 'empty.jwt')], /^secagg: the token file .*empty\.jwt is empty \(see secagg --help\)$/]);
    for (const [args, message] of cases) {
      const result = run(args, noEnvToken);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr.trim(), message, args.join(' '));
    }
  }, 240_000);
});
