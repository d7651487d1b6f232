/**
 * docker-compose.threshold.yml (issue 16), merged over docker-compose.yml as
 * `docker compose -f … -f …` does, checked against the services' own
 * configuration schemas without a Docker engine: three keyholders, each
 * with a committee index of its own and exactly its own data volume, KEK,
 * signing key and TLS identity, and the committee's verification keys; the
 * gateway and the aggregators name the three in committee order at the
 * ports they listen on, with t = 2.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '@secagg/core';
import { keyholderTopology } from '@secagg/protocol';
import { REPO_ROOT } from '@secagg/local-cluster';
import { keyholderConfigSchema } from '@secagg/keyholder/config';
import { gatewayConfigSchema } from '@secagg/client-gateway/config';
import { aggregatorConfigSchema } from '@secagg/aggregator/config';

interface Service {
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
  depends_on?: Record<string, unknown>;
}
interface ComposeFile {
  services: Record<string, Service>;
  secrets?: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

const read = (name: string) => parse(readFileSync(join(REPO_ROOT, name), 'utf8')) as ComposeFile;

/** Compose's merge of an overlay: maps merge key by key, sequences are appended (secrets, volumes). */
function merge(base: ComposeFile, overlay: ComposeFile): ComposeFile {
  const services: Record<string, Service> = { ...base.services };
  for (const [name, o] of Object.entries(overlay.services)) {
    const b = services[name] ?? {};
    services[name] = {
      ...b,
      ...o,
      environment: { ...b.environment, ...o.environment },
      depends_on: { ...b.depends_on, ...o.depends_on },
      secrets: [...(b.secrets ?? []), ...(o.secrets ?? [])],
      volumes: [...(b.volumes ?? []), ...(o.volumes ?? [])],
    };
  }
  return { services, secrets: { ...base.secrets, ...overlay.secrets }, volumes: { ...base.volumes, ...overlay.volumes } };
}

const compose = merge(read('docker-compose.yml'), read('docker-compose.threshold.yml'));
const KEYHOLDERS = ['keyholder', 'keyholder-2', 'keyholder-3'];
const env = (service: string) => compose.services[service]!.environment ?? {};

describe('docker-compose.threshold.yml: three keyholders, two to release', () => {
  it('each keyholder is a valid committee member with its own index', () => {
    const indexes = KEYHOLDERS.map((name) => {
      const config = loadConfig('KEYHOLDER', keyholderConfigSchema, env(name));
      assert.equal(config.committeeSize, 3, name);
      assert.equal(config.committeeThreshold, 2, name);
      // t < n: each keyholder reads every keyholder's verification key from a file it mounts.
      const file = config.committeeVerificationKeysFile;
      assert.ok(file && compose.services[name]!.volumes?.some((v) => v.endsWith(`:${file}:ro`)), `${name} mounts its committee verification keys`);
      return config.committeeIndex;
    });
    assert.deepEqual(indexes, [1, 2, 3]);
  });

  it('no two keyholders share a data volume, KEK, signing key or TLS key, and each mounts only its own', () => {
    const owned = KEYHOLDERS.map((name) => {
      const service = compose.services[name]!;
      const e = env(name);
      const secrets = service.secrets ?? [];
      const volumes = service.volumes ?? [];
      for (const s of secrets) assert.ok(compose.secrets?.[s], `${name}: secret ${s} is declared`);
      const data = volumes.find((v) => v.endsWith(':/data'));
      assert.ok(data && compose.volumes && data.split(':')[0]! in compose.volumes, `${name}: a named data volume`);
      const tlsKeys = volumes.filter((v) => v.includes('-key.pem'));
      assert.equal(tlsKeys.length, 1, `${name} mounts exactly one TLS private key`);
      assert.ok(tlsKeys[0]!.endsWith(`:${e.KEYHOLDER_TLS_KEY_FILE}:ro`), `${name}: its TLS key is the one it uses`);
      return [data!, ...secrets, tlsKeys[0]!.split(':')[0]!];
    });
    const all = owned.flat();
    assert.equal(new Set(all).size, all.length, `shared between keyholders: ${all.filter((x, i) => all.indexOf(x) !== i).join(', ')}`);
  });

  it('the gateway and the aggregators name the committee in order, at the ports the keyholders listen on', () => {
    const listening = KEYHOLDERS.map((name) => `${name}:${env(name).KEYHOLDER_LISTEN_ADDRESS!.split(':').pop()}`);
    for (const [service, prefix, schema] of [
      ['client-gateway', 'GATEWAY', gatewayConfigSchema],
      ['aggregator', 'AGGREGATOR', aggregatorConfigSchema],
    ] as const) {
      const config = loadConfig(prefix, schema, env(service));
      const { addresses, committee } = keyholderTopology(config);
      assert.deepEqual(addresses, listening, service);
      assert.deepEqual({ count: committee?.count, threshold: committee?.threshold }, { count: 3, threshold: 2 }, service);
      for (const k of KEYHOLDERS) assert.ok(compose.services[service]!.depends_on?.[k], `${service} waits for ${k}`);
    }
  });
});
