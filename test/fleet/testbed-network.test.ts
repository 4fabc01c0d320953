/**
 * startTestbedNetwork: a testbed's network without server or agents (bench/config-floor.ts's hop
 * runs on it). Its two hosts reach each other across the bridge (a TCP connection from host 1 to a
 * listener in host 0's namespace), and stop() leaves no namespace or link of its slot behind.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listLinks, listNetns, startTestbedNetwork } from '../../scripts/testbed/index.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;

test(
  'a testbed network: two hosts that reach each other, and nothing left after stop',
  { skip },
  async () => {
    const tb = startTestbedNetwork({ hosts: 2 });
    const names = [tb.plan.bridge, ...tb.hosts.map((h) => h.veth)];
    const spaces = tb.hosts.map((h) => h.ns);
    try {
      assert.equal(tb.hosts.length, 2);
      for (const n of names) assert.ok(listLinks().includes(n), `link ${n}`);
      for (const n of spaces) assert.ok(listNetns().includes(n), `namespace ${n}`);
      const to = tb.hosts[0]?.address ?? '';
      const listen = [
        process.execPath,
        '-e',
        "const s=require('net').createServer(c=>{c.end('hello from 0');s.close()});s.listen(7070,'0.0.0.0')",
      ];
      const dial = [
        process.execPath,
        '-e',
        `const go=()=>{const c=require('net').connect(7070,'${to}');let d='';c.on('data',b=>d+=b);` +
          `c.on('end',()=>console.log(d));c.on('error',()=>setTimeout(go,50))};go()`,
      ];
      const [server, client] = await Promise.all([tb.exec(0, listen, 20_000), tb.exec(1, dial, 20_000)]);
      assert.equal(server.code, 0, server.stderr);
      assert.equal(client.code, 0, client.stderr);
      assert.equal(client.stdout.trim(), 'hello from 0');
    } finally {
      await tb.stop();
    }
    for (const n of names) assert.ok(!listLinks().includes(n), `link ${n} left`);
    for (const n of spaces) assert.ok(!listNetns().includes(n), `namespace ${n} left`);
  },
);
