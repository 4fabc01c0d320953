/** The runtime contract suite against the oci runtime with crun (when installed). */
import { after } from 'node:test';
import { runtimeContract } from '../../src/runtime/contract.ts';
import { ociAvailable, ociFixture, removeTestImages, reportUnavailable } from './oci-fixture.ts';

const available = await ociAvailable('crun');
if (!available.run) reportUnavailable(available.reason);
else {
  runtimeContract('oci (crun)', () => ociFixture({ ociRuntime: 'crun' }));
  after(removeTestImages);
}
