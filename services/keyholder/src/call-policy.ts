/**
 * Who may call each RPC of the keyholder: one peer identity per method, the
 * common name of the verified mutual-TLS client certificate (a new RPC does
 * not compile until it has an entry). Applied by the gRPC adapter around
 * every handler (@secagg/core call-policy.ts): only the gateway opens rounds
 * and sets budgets, only an aggregator releases. The names are the
 * deployment's (KEYHOLDER_GATEWAY_IDENTITY, KEYHOLDER_AGGREGATOR_IDENTITY).
 *
 * docs/SECURITY.md "Keyholder peer identities" is checked against this table
 * (test/src/security-matrix.test.ts) and against a real cluster
 * (test/src/authorization.int.test.ts).
 */
import { peerPolicy, type PeerPolicyTable } from '@secagg/core';
import type { KeyholderService } from '@secagg/proto';
import type { KeyholderConfig } from './config.js';

/** The services that call the keyholder. */
export type KeyholderPeer = 'client-gateway' | 'aggregator';

export const KEYHOLDER_SERVICE_POLICY: PeerPolicyTable<typeof KeyholderService, KeyholderPeer> = {
  createRoundKey: { peer: 'client-gateway' },
  releaseRound: { peer: 'aggregator' },
  createKeyShare: { peer: 'client-gateway' },
  signCollectiveKey: { peer: 'client-gateway' },
  dealKeyShares: { peer: 'client-gateway' },
  acceptKeyShares: { peer: 'client-gateway' },
  releaseShare: { peer: 'aggregator' },
  setGroupPrivacyBudget: { peer: 'client-gateway' },
  getGroupPrivacyBudget: { peer: 'client-gateway' },
};

export function keyholderPolicy(config: KeyholderConfig) {
  return peerPolicy(KEYHOLDER_SERVICE_POLICY, {
    identities: { 'client-gateway': config.gatewayIdentity, aggregator: config.aggregatorIdentity },
    // Plaintext development mode has no identities at all (logged loudly at start-up).
    insecure: config.allowInsecure && !config.tlsCaFile,
  });
}
