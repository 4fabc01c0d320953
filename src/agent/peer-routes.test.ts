import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isolationRules, proxyInputRules, proxyInputTable } from '../runtime/oci/network.ts';
import { ROUTE_PROTO, needsForwarding, routeChanges, wantedRoutes } from './peer-routes.ts';

const peers = [
  { host: 'b', address: '10.90.0.3', subnet: '10.88.1.0/24' },
  { host: 'c', address: '10.90.0.4', subnet: '10.88.2.0/24' },
  // Outside the task network, the host's own range, a local address, loopback, not IPv4, a second claim.
  { host: 'd', address: '10.90.0.5', subnet: '10.99.0.0/24' },
  { host: 'e', address: '10.90.0.6', subnet: '10.88.0.0/24' },
  { host: 'f', address: '10.90.0.2', subnet: '10.88.5.0/24' },
  { host: 'g', address: '127.0.0.1', subnet: '10.88.6.0/24' },
  { host: 'h', address: 'host-h.example', subnet: '10.88.7.0/24' },
  { host: 'i', address: '10.90.0.9', subnet: '10.88.1.0/24' },
];

test('each other host’s range of the task network via its address, nothing else', () => {
  const wanted = wantedRoutes(peers, {
    subnet: '10.88.0.0/24',
    taskNetwork: '10.88.0.0/16',
    local: new Set(['10.90.0.2']),
  });
  assert.deepEqual(
    [...wanted],
    [
      ['10.88.1.0/24', '10.90.0.3'],
      ['10.88.2.0/24', '10.90.0.4'],
    ],
  );
});

test('forwarding is turned on once another range of the task network exists, on another host or on this bridge', () => {
  const o = { subnet: '10.88.0.0/24', taskNetwork: '10.88.0.0/16' };
  const self = { host: 'a', address: '10.90.0.2', subnet: '10.88.0.0/24' };
  assert.equal(needsForwarding([], o), false, 'a lone dabba dev');
  assert.equal(needsForwarding([self], o), false, 'only itself');
  assert.equal(
    needsForwarding([self, { host: 'x', address: '10.90.0.9', subnet: '10.99.0.0/24' }], o),
    false,
  );
  // Another agent on this machine (its address is local, so no route is wanted for it): tasks set
  // up before its range was on the bridge reach it through the host.
  const sharing = [self, { host: 'b', address: '10.90.0.2', subnet: '10.88.1.0/24' }];
  assert.equal(wantedRoutes(sharing, { ...o, local: new Set(['10.90.0.2']) }).size, 0);
  assert.equal(needsForwarding(sharing, o), true);
  assert.equal(needsForwarding(peers, o), true);
});

test('changes: stale routes deleted, new and moved ones replaced, unchanged ones left, others’ ranges left alone', () => {
  const mine = new Map([
    ['10.88.1.0/24', '10.90.0.3'],
    ['10.88.2.0/24', '10.90.0.8'],
    ['10.88.3.0/24', '10.90.0.5'],
  ]);
  const wanted = new Map([
    ['10.88.1.0/24', '10.90.0.3'],
    ['10.88.2.0/24', '10.90.0.4'],
    ['10.88.4.0/24', '10.90.0.6'],
    ['10.88.9.0/24', '10.90.0.7'],
  ]);
  assert.deepEqual(routeChanges(mine, wanted, new Set(['10.88.9.0/24'])), [
    `route del 10.88.3.0/24 proto ${ROUTE_PROTO}`,
    `route replace 10.88.2.0/24 via 10.90.0.4 proto ${ROUTE_PROTO}`,
    `route replace 10.88.4.0/24 via 10.90.0.6 proto ${ROUTE_PROTO}`,
  ]);
  assert.deepEqual(routeChanges(wanted, wanted), [], 'in step: nothing to run');
});

test('the bridge lets forwarded traffic through between task-network addresses only', () => {
  const rules = isolationRules('dabba_dabba0', 'dabba0', '10.88.0.0/16').split('\n');
  const body = rules.filter((l) => l.startsWith('    ') && !l.includes('type filter'));
  assert.deepEqual(
    body.map((l) => l.trim()),
    [
      'iifname "dabba0" oifname != "dabba0" ip saddr 10.88.0.0/16 ip daddr 10.88.0.0/16 accept',
      'iifname != "dabba0" oifname "dabba0" ip saddr 10.88.0.0/16 ip daddr 10.88.0.0/16 accept',
      'iifname "dabba0" oifname != "dabba0" drop',
      'iifname != "dabba0" oifname "dabba0" drop',
    ],
  );
  const without = isolationRules('dabba_dabba0', 'dabba0').split('\n');
  assert.ok(
    !without.some((l) => l.includes('accept') && l.includes('saddr')),
    'no task network: all forwarded traffic dropped',
  );
});

test("with the mesh's proxy, an agent's tasks reach their host only at the proxy's ports on their gateway", () => {
  const table = proxyInputTable('dabba0', '10.88.1.1');
  assert.equal(table, 'dabba_dabba0_in_10_88_1_1');
  const rules = proxyInputRules(table, 'dabba0', {
    from: 15001,
    to: 15999,
    range: '10.88.1.0/24',
    gateway: '10.88.1.1',
  }).split('\n');
  const at = rules.indexOf('  chain input {');
  assert.ok(at > 0, rules.join('\n'));
  assert.deepEqual(
    rules.slice(at + 1, at + 6).map((l) => l.trim()),
    [
      'type filter hook input priority -10; policy accept;',
      'iifname "dabba0" ip saddr 10.88.1.0/24 ct state established,related accept',
      'iifname "dabba0" ip saddr 10.88.1.0/24 ip daddr 10.88.1.1 tcp dport 15001-15999 accept',
      'iifname "dabba0" ip saddr 10.88.1.0/24 drop',
      '}',
    ],
  );
});
