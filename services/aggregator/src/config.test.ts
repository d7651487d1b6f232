/** The aggregator's listeners: an empty address switches one off. */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { loadAggregatorConfig } from './config.js';

const base = { AGGREGATOR_KEYHOLDER_ADDRESS: 'localhost:7300', AGGREGATOR_CIPHERTEXT_STORE: '/data/ciphertexts' };

describe('aggregator configuration', () => {
  it('an empty AGGREGATOR_METRICS_LISTEN_ADDRESS disables the metrics listener (a second aggregator on a host died with EADDRINUSE)', () => {
    assert.equal(loadAggregatorConfig({ ...base, AGGREGATOR_METRICS_LISTEN_ADDRESS: '' }).metricsListenAddress, '');
    assert.equal(loadAggregatorConfig(base).metricsListenAddress, '0.0.0.0:9200');
  });
});
