/**
 * docs/SECURITY.md's authorization matrices against the call-policy tables
 * the services enforce (services/client-gateway/src/call-policy.ts,
 * services/keyholder/src/call-policy.ts): a role, round-scope or peer rule
 * changed in one and not the other fails here, without a cluster.
 * (test/src/authorization.int.test.ts checks the same document against a
 * running cluster, including the ownership column these tables do not hold.)
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { DescService } from '@bufbuild/protobuf';
import { ClientService, CoordinatorService, KeyholderService } from '@secagg/proto';
import { CLIENT_SERVICE_POLICY, COORDINATOR_SERVICE_POLICY } from '@secagg/client-gateway/call-policy';
import { KEYHOLDER_SERVICE_POLICY } from '@secagg/keyholder/call-policy';
import { statusOf, tableUnder, type DocTable } from './security/security-doc.js';

interface Rule {
  roles?: readonly string[];
  round?: unknown;
  peer?: string;
}

/** `Service.Method` → the method's rule, for every method of each service's contract. */
function rulesOf(...services: [DescService, Record<string, Rule>][]): Map<string, Rule> {
  const rules = new Map<string, Rule>();
  for (const [service, table] of services) {
    assert.deepEqual(Object.keys(table).sort(), service.methods.map((m) => m.localName).sort(), `${service.name}: one rule per RPC`);
    for (const method of service.methods) rules.set(`${service.name}.${method.name}`, table[method.localName]!);
  }
  return rules;
}

/** The document's cell of `row` under `column`, as its status word. */
function cell(table: DocTable, row: string[], column: string): string {
  const i = table.header.indexOf(column);
  assert.ok(i > 0, `column "${column}" in the table`);
  return statusOf(row[i]!);
}

function sameRows(table: DocTable, rules: Map<string, Rule>, what: string): void {
  assert.deepEqual(table.rows.map((r) => r[0]).sort(), [...rules.keys()].sort(), `${what}: the document's rows are the contract's RPCs`);
}

describe('docs/SECURITY.md matches the call-policy tables', () => {
  const gateway = rulesOf([ClientService, CLIENT_SERVICE_POLICY], [CoordinatorService, COORDINATOR_SERVICE_POLICY]);

  it('RPC × role: a role column is OK exactly for the roles the policy allows; no token is UNAUTHENTICATED', () => {
    const table = tableUnder('RPC × role');
    sameRows(table, gateway, 'RPC × role');
    for (const row of table.rows) {
      const rule = gateway.get(row[0]!)!;
      for (const role of ['client', 'coordinator', 'operator']) {
        assert.equal(cell(table, row, role), rule.roles!.includes(role) ? 'OK' : 'PERMISSION_DENIED', `${row[0]} as ${role}`);
      }
      // Another coordinator: refused for its role where the owner is, else ownership decides (the handlers').
      const notOwner = cell(table, row, 'coordinator, not owner');
      if (!rule.roles!.includes('coordinator')) assert.equal(notOwner, 'PERMISSION_DENIED', `${row[0]} as another coordinator`);
      else assert.ok(['OK', 'PERMISSION_DENIED'].includes(notOwner), `${row[0]} as another coordinator: ${notOwner}`);
      assert.equal(cell(table, row, 'no token'), 'UNAUTHENTICATED', `${row[0]} without a token`);
    }
  });

  it('round-scoped tokens: OK only in their own round on RPCs that name one, refused everywhere else', () => {
    const table = tableUnder('Round-scoped tokens');
    sameRows(table, gateway, 'Round-scoped tokens');
    for (const row of table.rows) {
      const rule = gateway.get(row[0]!)!;
      assert.equal(cell(table, row, 'scoped to the round called'), rule.round ? 'OK' : 'PERMISSION_DENIED', `${row[0]} scoped to its round`);
      assert.equal(cell(table, row, 'scoped to another round'), 'PERMISSION_DENIED', `${row[0]} scoped to another round`);
    }
  });

  it('keyholder peer identities: allowed exactly for the one peer each RPC names; TLS turns away the rest', () => {
    const keyholder = rulesOf([KeyholderService, KEYHOLDER_SERVICE_POLICY]);
    const table = tableUnder('Keyholder peer identities');
    sameRows(table, keyholder, 'Keyholder peer identities');
    for (const row of table.rows) {
      const { peer } = keyholder.get(row[0]!)!;
      for (const identity of ['client-gateway', 'aggregator', 'keyholder', 'other name from the CA']) {
        assert.equal(cell(table, row, identity), identity === peer ? 'allowed' : 'PERMISSION_DENIED', `${row[0]} from ${identity}`);
      }
      for (const column of ['no client certificate', 'certificate from another CA']) assert.equal(cell(table, row, column), 'UNAVAILABLE', `${row[0]}: ${column}`);
    }
  });
});
