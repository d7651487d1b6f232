/** The keyholder's metrics listener: loopback unless told otherwise, off when empty, HTTPS with a certificate. */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { loadKeyholderConfig } from './config.js';

const base = { KEYHOLDER_DATA_DIR: '/tmp/unused', KEYHOLDER_KEK: 'a'.repeat(44), KEYHOLDER_SIGNING_KEY_FILE: '/run/secrets/keyholder-signing-key' };

describe('keyholder metrics listener configuration', () => {
  it('listens on loopback by default (its metrics show per-group epsilon); an empty address disables it', () => {
    assert.equal(loadKeyholderConfig(base).metricsListenAddress, '127.0.0.1:9300');
    assert.equal(loadKeyholderConfig({ ...base, KEYHOLDER_METRICS_LISTEN_ADDRESS: '' }).metricsListenAddress, '');
  });

  it('takes a TLS certificate and key together, never one alone', () => {
    const tls = { KEYHOLDER_METRICS_TLS_CERT_FILE: '/run/tls/metrics.crt', KEYHOLDER_METRICS_TLS_KEY_FILE: '/run/tls/metrics.key' };
    assert.equal(loadKeyholderConfig({ ...base, ...tls }).metricsTlsCertFile, '/run/tls/metrics.crt');
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_METRICS_TLS_CERT_FILE: '/x' }), /must be set together/);
  });
});
