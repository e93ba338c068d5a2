// The built component (plugins/js/build.sh), transpiled by jco and run in Node with
// the same IVR cases as the SDK. Skipped when the component has not been built.
// IVR_JS_WASM overrides the default target/wasm32-wasip2/guest/ivr_js.wasm.
import { after, describe } from 'node:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

import { ivrSuite } from './ivr-cases.js';

const js = fileURLToPath(new URL('..', import.meta.url));
const wasm = resolve(process.env.IVR_JS_WASM ?? join(js, '../../target/wasm32-wasip2/guest/ivr_js.wasm'));

if (!existsSync(wasm)) {
  describe(`ivr_js.wasm (component): ${wasm} not built`, { skip: true }, () => {});
} else {
  // Inside node_modules, so the transpiled module finds @bytecodealliance/preview2-shim.
  const dir = mkdtempSync(join(js, 'node_modules', '.ivr-js-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(join(js, 'node_modules/.bin/jco'), ['transpile', wasm, '--out-dir', dir, '--name', 'ivr', '--quiet']);
  const { handle } = await import(pathToFileURL(join(dir, 'ivr.js')).href);
  ivrSuite(`ivr_js.wasm (component, ${wasm})`, () => handle);
}
