/**
 * Which oci runtimes take the host's range from the control plane: one without a subnet of its
 * own does (and refuses a range that is not private CIDR); one configured with a subnet has no
 * useNetwork, so its agent asks the server for no range. Nothing here needs root.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RuntimeError } from '../../errors/index.ts';
import { ImageStore } from '../../image/index.ts';
import { silentLogger } from '../../lib/index.ts';
import { OciRuntime } from './oci-runtime.ts';

test('useNetwork only without a configured subnet; malformed ranges are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-use-network-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const images = await ImageStore.open(join(dir, 'images'));
  const served = new OciRuntime({ stateDir: join(dir, 'a'), images, logger: silentLogger });
  const configured = new OciRuntime({
    stateDir: join(dir, 'b'),
    images,
    network: { subnet: '10.77.0.0/24' },
    logger: silentLogger,
  });
  t.after(async () => {
    await served.close();
    await configured.close();
  });
  assert.equal(configured.useNetwork, undefined);
  assert.equal(typeof served.useNetwork, 'function');
  served.useNetwork?.('10.88.3.0/24', '10.88.0.0/16');
  assert.throws(() => served.useNetwork?.('8.8.8.0/24'), RuntimeError);
  assert.throws(() => served.useNetwork?.('10.88.3.0/24', 'nonsense'), RuntimeError);
});
