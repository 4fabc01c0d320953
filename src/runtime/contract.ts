/**
 * The contract every Runtime implementation passes. A runtime's test file calls
 * `runtimeContract(name, factory)`; the suite only relies on what runtime.ts promises. Tasks run
 * shell scripts through the fixture's `shell` prefix (["sh", "-c"] for the process runtime,
 * something like ["/bin/sh", "-c"] with a busybox image for oci).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { envTests, logTests } from './contract/env-logs.ts';
import { execTests, interactiveExecTests } from './contract/exec.ts';
import type { RuntimeFixture } from './contract/fixture.ts';
import { startTests, stopTests } from './contract/lifecycle.ts';
import { recoverTests, restartInPlaceTests } from './contract/recover.ts';

export type { RuntimeFixture } from './contract/fixture.ts';

export function runtimeContract(name: string, factory: () => Promise<RuntimeFixture>): void {
  // A watchdog against a hang, not a speed target: the oci suite took 23-43 s in whole-suite runs
  // and 67 s once on a slow phase of the machine.
  describe(`Runtime contract: ${name}`, { timeout: 180_000 }, () => {
    let fx: RuntimeFixture | undefined;
    const fixture = (): RuntimeFixture => {
      assert.ok(fx, 'fixture not created');
      return fx;
    };
    before(async () => {
      fx = await factory();
    });
    after(async () => {
      await fx?.cleanup();
    });

    startTests(fixture);
    stopTests(fixture);
    envTests(fixture);
    logTests(fixture);
    execTests(fixture);
    interactiveExecTests(fixture);
    recoverTests(factory);
    restartInPlaceTests(fixture);
  });
}
