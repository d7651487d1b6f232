/** The gateway's transport settings: defaults that follow from the presets, and listeners that can be switched off. */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES,
  maxUploadFrameBytes,
  MAX_RESULT_VALUES_PER_MESSAGE,
  resultMessageBytes,
  STOCK_RECEIVE_LIMIT_BYTES,
} from '@secagg/protocol';
import { loadGatewayConfig } from './config.js';

const base = { GATEWAY_KEYHOLDER_ADDRESS: 'localhost:7300', GATEWAY_TOKEN_PUBLIC_KEY: 'pem', GATEWAY_CIPHERTEXT_STORE: '/data/ciphertexts' };

describe('gateway configuration', () => {
  it('an empty GATEWAY_METRICS_LISTEN_ADDRESS disables the metrics listener (it used to fall back to 0.0.0.0:9100)', () => {
    assert.equal(loadGatewayConfig({ ...base, GATEWAY_METRICS_LISTEN_ADDRESS: '' }).metricsListenAddress, '');
    assert.equal(loadGatewayConfig(base).metricsListenAddress, '0.0.0.0:9100');
  });

  it('receives at most one upload frame of the largest preset (n8192-q60x4: 393,329-byte ciphertexts), not 8 MiB', () => {
    const config = loadGatewayConfig(base);
    assert.equal(config.maxReceiveMessageBytes, maxUploadFrameBytes());
    assert.ok(config.maxReceiveMessageBytes > 393_329 && config.maxReceiveMessageBytes < 393_329 + 32);
  });

  it('a result message of the most values allowed fits a stock 4 MiB receive limit; the former maximum did not', () => {
    assert.ok(resultMessageBytes(MAX_RESULT_VALUES_PER_MESSAGE) <= STOCK_RECEIVE_LIMIT_BYTES);
    assert.ok(resultMessageBytes(262_144) > STOCK_RECEIVE_LIMIT_BYTES);
    assert.throws(() => loadGatewayConfig({ ...base, GATEWAY_RESULT_VALUES_PER_MESSAGE: '262144' }), /GATEWAY_RESULT_VALUES_PER_MESSAGE/);
  });

  it('the HTTP/2 receive window holds two upload frames of the largest preset by default, and only windows HTTP/2 can announce', () => {
    const config = loadGatewayConfig(base);
    assert.equal(config.http2ReceiveWindowBytes, DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES);
    // Half the window is always credit to a stream being read (WINDOW_UPDATE at half): one whole frame must fit it.
    assert.ok(config.http2ReceiveWindowBytes / 2 >= maxUploadFrameBytes());
    assert.equal(loadGatewayConfig({ ...base, GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES: '65535' }).http2ReceiveWindowBytes, 65_535);
    assert.throws(() => loadGatewayConfig({ ...base, GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES: '65534' }), /GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES/);
    assert.throws(() => loadGatewayConfig({ ...base, GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES: String(2 ** 31) }), /GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES/);
  });
});
