// The policy, natively in Node (the host's log import stubbed by the harness).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context, ev } from '{{plugins}}/js/tests/harness.js';

const { handle } = await import('../policy.js');

test('greets, then hangs up when the greeting has played', () => {
  const played = handle(ev.callConnected(), context());
  assert.equal(played.actions[0].action.tag, 'play');
  assert.equal(played.actions[0].operationContext, 'greeting');
  const done = handle(ev.playCompleted('greeting'), context({ state: played.state }));
  assert.equal(done.actions[0].action.tag, 'hang-up');
});
