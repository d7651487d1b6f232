/**
 * Metrics listeners of the real services (issue 10 Low, issue 12 item 8): an
 * empty `*_METRICS_LISTEN_ADDRESS` starts no listener at all (it used to fall
 * back to the default 0.0.0.0 port, so a second aggregator on a host died with
 * EADDRINUSE), and the keyholder's — which shows per-group epsilon — serves
 * HTTPS when given a certificate.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCertificates, LocalCluster } from '@secagg/local-cluster';

function fetchText(get: typeof httpsGet, url: string, options: { ca?: Buffer } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('metrics listeners', () => {
  let cluster: LocalCluster;
  const dir = mkdtempSync(join(tmpdir(), 'secagg-metrics-tls-'));
  const certs = createDevCertificates(dir, ['localhost']);

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      aggregators: 1,
      env: {
        'client-gateway': { GATEWAY_METRICS_LISTEN_ADDRESS: '' },
        aggregator: { AGGREGATOR_METRICS_LISTEN_ADDRESS: '' },
        keyholder: {
          KEYHOLDER_METRICS_TLS_CERT_FILE: certs.cert('localhost').certFile,
          KEYHOLDER_METRICS_TLS_KEY_FILE: certs.cert('localhost').keyFile,
        },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('an empty address starts no metrics listener', () => {
    assert.equal(cluster.metricsPorts.get('client-gateway'), undefined);
    assert.equal(cluster.metricsPorts.get('aggregator-1'), undefined);
    assert.ok(!cluster.logLines('client-gateway').some((line) => line.includes('"event":"metrics"')));
  }, 120_000);

  it('the keyholder serves its metrics over HTTPS with a certificate, and not over plain HTTP', async () => {
    const port = cluster.metricsPorts.get('keyholder');
    assert.ok(port, 'the keyholder logged its metrics port');
    const { status, body } = await fetchText(httpsGet, `https://localhost:${port}/metrics`, { ca: readFileSync(certs.caFile) });
    assert.equal(status, 200);
    assert.match(body, /secagg_round_keys/);
    await assert.rejects(fetchText(httpGet as unknown as typeof httpsGet, `http://localhost:${port}/metrics`));
  }, 120_000);
});
