// The IVR's decisions (shared/scenarios/ivr.md, as host/src/native.rs makes them), for
// any `handle` export: the SDK run natively, or the built component transpiled by jco.
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import {
  AGENT, bytes, canon, clearLog, context, ev, invoke, json, logLines, run, want,
} from './harness.js';

/**
 * @param {string} name
 * @param {() => Function} getHandle the `handle` export (called once the suite runs)
 */
export function ivrSuite(name, getHandle) {
  describe(name, () => {
    beforeEach(() => clearLog());

    /** One event on a call whose state is `state` (JSON text, or none). */
    const decide = (event, { state, config } = {}) =>
      invoke(getHandle(), event, context({ config, state: state ? bytes(state) : undefined }));

    const expectDecision = (outcome, actions, state) => {
      assert.ok(outcome.ok, `expected a decision, got ${JSON.stringify(outcome.err)}`);
      assert.deepEqual(canon(outcome.ok.actions), canon(actions));
      assert.equal(json(outcome.ok.state), state);
    };

    it('answers an incoming call and stores the initial state, as the Rust SDK does', () => {
      expectDecision(decide(ev.incomingCall()), [want.answer()], '{"retries":0}');
    });

    it('offers the menu when the call connects, state unchanged', () => {
      expectDecision(decide(ev.callConnected(), { state: '{"retries":0}' }), [want.menu()], undefined);
    });

    it('transfers to the agent on 1', () => {
      expectDecision(decide(ev.pressed('one'), { state: '{"retries":0}' }), [want.transfer()], undefined);
    });

    it('repeats the menu on 2 without counting a retry', () => {
      expectDecision(decide(ev.pressed('two'), { state: '{"retries":1}' }), [want.menu()], undefined);
    });

    it('offers the menu again, or ends the call, when the host cannot tell whether it went out', () => {
      const unknown = (action, operationContext, code = 'outcome-unknown') => ({
        tag: 'action-failed',
        val: { index: 0, action, operationContext, status: undefined, code, message: '' },
      });
      const state = { state: '{"retries":0}' };
      expectDecision(decide(unknown('recognize', 'menu'), state), [want.menu()], undefined);
      expectDecision(decide(unknown('play', 'goodbye'), state), [want.terminate()], undefined);
      expectDecision(decide(unknown('play', 'goodbye', '8522'), state), [], undefined);
    });

    it('says goodbye on 3', () => {
      expectDecision(decide(ev.pressed('three'), { state: '{"retries":0}' }), [want.goodbye()], undefined);
    });

    it('treats another key as a failure, and logs it', () => {
      expectDecision(decide(ev.pressed('nine'), { state: '{"retries":0}' }), [want.menu()], '{"retries":1}');
      assert.deepEqual(logLines, [
        { level: 'info', message: 'unexpected input "9"; treated as a failure' },
      ]);
    });

    it('treats several keys, speech, and a silence timeout as failures', () => {
      for (const event of [ev.pressed('one', 'two'), ev.spoke('sales'), ev.silence()]) {
        expectDecision(decide(event, { state: '{"retries":1}' }), [want.menu()], '{"retries":2}');
      }
    });

    it('says goodbye after two retries, state unchanged', () => {
      expectDecision(decide(ev.silence(), { state: '{"retries":2}' }), [want.goodbye()], undefined);
    });

    it('apologises when the transfer fails', () => {
      expectDecision(decide(ev.transferFailed(), { state: '{"retries":0}' }), [want.sorry()], undefined);
    });

    it('ends the call after goodbye or the apology, not after other plays', () => {
      const state = '{"retries":0}';
      expectDecision(decide(ev.playCompleted('goodbye'), { state }), [want.terminate()], undefined);
      expectDecision(decide(ev.playCompleted('sorry'), { state }), [want.terminate()], undefined);
      expectDecision(decide(ev.playCompleted('menu'), { state }), [], undefined);
      expectDecision(decide(ev.playCompleted(undefined), { state }), [], undefined);
    });

    it('does nothing for other events', () => {
      const state = '{"retries":0}';
      for (const event of [
        ev.transferAccepted(), ev.callDisconnected(), ev.recognizeCanceled(), ev.unknown(),
      ]) {
        expectDecision(decide(event, { state }), [], undefined);
      }
    });

    it('fails with `config` when the tenant has no agent_phone', () => {
      assert.deepEqual(decide(ev.pressed('one'), { config: {}, state: '{"retries":0}' }), {
        err: { code: 'config', message: 'tenant config has no `agent_phone` to transfer to' },
      });
    });

    it('fails with `bad-state` on a state that is not JSON', () => {
      const outcome = decide(ev.silence(), { state: 'not json' });
      assert.equal(outcome.err?.code, 'bad-state');
    });

    describe('caller scripts', () => {
      const script = (events) =>
        run(getHandle(), events).map((o) => {
          assert.ok(o.ok, JSON.stringify(o.err));
          return canon(o.ok.actions);
        });

      it('press-1', () => {
        assert.deepEqual(
          script([ev.incomingCall(), ev.callConnected(), ev.pressed('one'), ev.transferAccepted(), ev.callDisconnected()]),
          canon([[want.answer()], [want.menu()], [want.transfer()], [], []]),
        );
      });

      it('press-2-then-3', () => {
        assert.deepEqual(
          script([ev.incomingCall(), ev.callConnected(), ev.pressed('two'), ev.pressed('three'), ev.playCompleted('goodbye'), ev.callDisconnected()]),
          canon([[want.answer()], [want.menu()], [want.menu()], [want.goodbye()], [want.terminate()], []]),
        );
      });

      it('silent: two retries, then goodbye', () => {
        const outcomes = run(getHandle(), [
          ev.incomingCall(), ev.callConnected(), ev.silence(), ev.silence(), ev.silence(),
          ev.playCompleted('goodbye'), ev.callDisconnected(),
        ]);
        assert.deepEqual(
          outcomes.map((o) => canon(o.ok.actions)),
          canon([[want.answer()], [want.menu()], [want.menu()], [want.menu()], [want.goodbye()], [want.terminate()], []]),
        );
        assert.deepEqual(
          outcomes.map((o) => json(o.ok.state)),
          ['{"retries":0}', undefined, '{"retries":1}', '{"retries":2}', undefined, undefined, undefined],
        );
      });

      it('agent-busy', () => {
        assert.deepEqual(
          script([ev.incomingCall(), ev.callConnected(), ev.pressed('one'), ev.transferFailed(), ev.playCompleted('sorry'), ev.callDisconnected()]),
          canon([[want.answer()], [want.menu()], [want.transfer()], [want.sorry()], [want.terminate()], []]),
        );
      });

      it('caller-hangs-up', () => {
        assert.deepEqual(
          script([ev.incomingCall(), ev.callConnected(), ev.recognizeCanceled(), ev.callDisconnected()]),
          canon([[want.answer()], [want.menu()], [], []]),
        );
        assert.deepEqual(logLines, []);
      });
    });

    it('uses the configured agent number', () => {
      const outcome = decide(ev.pressed('one'), { config: { agent_phone: '+15550002222' } });
      assert.deepEqual(canon(outcome.ok.actions[0].action.val.target), { tag: 'phone-number', val: '+15550002222' });
      assert.notEqual(AGENT, '+15550002222');
    });
  });
}
