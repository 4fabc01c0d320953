/** The runtime contract suite, run against the oci runtime (runc) with the busybox image. */
import { after } from 'node:test';
import { runtimeContract } from '../../src/runtime/contract.ts';
import { ociAvailable, ociFixture, removeTestImages, reportUnavailable } from './oci-fixture.ts';

const available = await ociAvailable('runc');
if (!available.run) reportUnavailable(available.reason);
else {
  runtimeContract('oci (runc)', () => ociFixture({ ociRuntime: 'runc' }));
  after(removeTestImages);
}
