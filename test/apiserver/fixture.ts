import { ControlPlane, findBinaries, kubeVersion } from '../support/control-plane.js';

/**
 * The control plane shared by every test/apiserver suite: started by the first
 * suite that needs it, stopped once after the whole run (a root-level hook,
 * which mocha runs even when tests fail).
 *
 * LOOKASIDE_APISERVER=1  run, and fail if the binaries are missing (make test-apiserver)
 * LOOKASIDE_APISERVER=0  skip
 * unset                  run when the binaries are built, skip otherwise
 */

let shared: Promise<ControlPlane> | undefined;
let skipNoticeShown = false;

after(async function stopSharedControlPlane() {
  this.timeout(60_000);
  const plane = await shared?.catch(() => undefined);
  shared = undefined;
  await plane?.stop();
});

/**
 * For a suite's `before`: the shared control plane, or `this.skip()` when the
 * apiserver suites are not wanted (see above).
 */
export async function controlPlaneFor(context: Mocha.Context): Promise<ControlPlane> {
  const mode = process.env['LOOKASIDE_APISERVER'];
  if (mode === '0') skip(context, 'LOOKASIDE_APISERVER=0');
  const binaries = findBinaries();
  if (typeof binaries === 'string') {
    if (mode === '1') throw new Error(`LOOKASIDE_APISERVER=1 but the control plane cannot start: ${binaries}`);
    skip(context, `${binaries}; or set LOOKASIDE_APISERVER=1 to require them`);
  }
  context.timeout(120_000);
  shared ??= ControlPlane.start({ binaries });
  return shared;
}

function skip(context: Mocha.Context, reason: string): never {
  if (!skipNoticeShown) {
    skipNoticeShown = true;
    console.log(`      (real kube-apiserver ${kubeVersion()} suites skipped: ${reason})`);
  }
  context.skip();
}
