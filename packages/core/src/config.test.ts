import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError, disableableAddress, envBoolean, envName, loadConfig, redactConfig } from './config.js';

const schema = z.strictObject({
  listenAddress: z.string().default('0.0.0.0:1'),
  maxStagedBytes: z.coerce.number().int().positive().default(10),
  allowInsecure: envBoolean().default(false),
  required: z.string().min(1),
});

describe('loadConfig', () => {
  it('maps camelCase keys to PREFIX_SNAKE_CASE variables and applies defaults', () => {
    assert.equal(envName('GATEWAY', 'maxStagedBytes'), 'GATEWAY_MAX_STAGED_BYTES');
    const config = loadConfig('SVC', schema, { SVC_REQUIRED: 'x', SVC_MAX_STAGED_BYTES: '42', SVC_ALLOW_INSECURE: 'true' });
    assert.deepEqual(config, { listenAddress: '0.0.0.0:1', maxStagedBytes: 42, allowInsecure: true, required: 'x' });
  });

  it('rejects an unknown variable under the prefix (a typo must not fall back to a default)', () => {
    assert.throws(() => loadConfig('SVC', schema, { SVC_REQUIRED: 'x', SVC_MAX_STAGED_BYTE: '1' }), (e: ConfigError) => {
      assert.match(e.message, /SVC_MAX_STAGED_BYTE is not a setting/);
      return true;
    });
  });

  it('names every bad or missing setting', () => {
    assert.throws(() => loadConfig('SVC', schema, { SVC_MAX_STAGED_BYTES: '-3', SVC_ALLOW_INSECURE: 'maybe' }), (e: ConfigError) => {
      assert.equal(e.problems.length, 3);
      assert.match(e.message, /SVC_MAX_STAGED_BYTES/);
      assert.match(e.message, /SVC_ALLOW_INSECURE/);
      assert.match(e.message, /SVC_REQUIRED/);
      return true;
    });
  });

  it('an empty listener address disables it; other empty values fall back to their default', () => {
    const withListener = z.strictObject({ metricsListenAddress: disableableAddress('0.0.0.0:9'), maxStagedBytes: z.coerce.number().int().positive().default(10) });
    assert.deepEqual(loadConfig('SVC', withListener, { SVC_METRICS_LISTEN_ADDRESS: '', SVC_MAX_STAGED_BYTES: '' }), { metricsListenAddress: '', maxStagedBytes: 10 });
    assert.deepEqual(loadConfig('SVC', withListener, {}), { metricsListenAddress: '0.0.0.0:9', maxStagedBytes: 10 });
  });

  it('redacts secrets but keeps where a URL points', () => {
    const redacted = redactConfig({ kek: 'c2VjcmV0', tokenPublicKey: 'pem', redisUrl: 'redis://user:pw@host:6379', kekFile: '/run/kek', port: 1 });
    assert.equal(redacted.kek, '***');
    assert.equal(redacted.tokenPublicKey, '***');
    assert.equal(redacted.redisUrl, 'redis://***:***@host:6379');
    assert.equal(redacted.kekFile, '/run/kek');
    assert.equal(redacted.port, 1);
  });
});
