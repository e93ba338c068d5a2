// The SDK itself: builders, event helpers, state handling, error conversion.
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { bytes, canon, clearLog, context, ev, invoke, json, logLines } from './harness.js';

const sdk = await import('../sdk/index.js');
const { act, exportPolicy, PluginError, keys, key, info, operationContext, result } = sdk;

describe('act', () => {
  it('tags actions and sets callback URIs', () => {
    const r = act.hangUp().context('bye').callbackUri('https://example.test/cb');
    assert.deepEqual(canon(r), {
      action: { tag: 'hang-up' },
      operationContext: 'bye',
      operationCallbackUri: 'https://example.test/cb',
    });
  });

  it('builds play sources', () => {
    assert.deepEqual(canon(act.text('Hi').voice('v').locale('en-US')), {
      tag: 'text',
      val: { text: 'Hi', voice: 'v', locale: 'en-US' },
    });
    assert.deepEqual(canon(act.file('https://x/a.wav').voice('ignored')), { tag: 'file', val: 'https://x/a.wav' });
    assert.deepEqual(canon(act.play([act.ssml('<speak/>'), act.text('a')]).action.val.sources), [
      { tag: 'ssml', val: '<speak/>' },
      { tag: 'text', val: { text: 'a' } },
    ]);
  });

  it('builds a recognize with options', () => {
    const r = act.recognizeDtmf(act.phone('+1'), 4).prompt(act.text('p')).speechLanguage('en-US')
      .interruptCallMedia().request();
    assert.equal(r.action.tag, 'recognize');
    assert.deepEqual(canon(r.action.val), {
      input: { tag: 'dtmf', val: { maxTones: 4, stopTones: [] } },
      target: { tag: 'phone-number', val: '+1' },
      prompt: [{ tag: 'text', val: { text: 'p' } }],
      interruptPrompt: false,
      speechLanguage: 'en-US',
      interruptCallMediaOperation: true,
    });
  });

  it('defaults reject to no reason', () => {
    assert.deepEqual(act.reject().action, { tag: 'reject', val: 'none' });
    assert.deepEqual(act.reject('busy').action, { tag: 'reject', val: 'busy' });
  });
});

describe('events', () => {
  it('spell DTMF tones as keys', () => {
    assert.equal(keys(['one', 'two', 'pound', 'asterisk', 'a', 'zero']), '12#*A0');
    assert.equal(key('nine'), '9');
  });

  it('find the operation info, context and result', () => {
    assert.equal(operationContext(ev.callConnected()), 'ivr');
    assert.equal(operationContext(ev.silence()), 'menu');
    assert.equal(result(ev.silence())?.subCode, 8510);
    assert.equal(info(ev.incomingCall()), undefined);
    assert.equal(
      operationContext({ tag: 'action-failed', val: { index: 0, action: 'transfer', operationContext: 'transfer', status: 403, code: 'not-allowed', message: '' } }),
      'transfer',
    );
  });
});

describe('exportPolicy', () => {
  beforeEach(() => clearLog());

  it('hands the handler a Context with config() and caller()', () => {
    let seen;
    const handle = exportPolicy((_e, ctx) => { seen = [ctx.config('agent_phone'), ctx.config('nope'), ctx.caller(), ctx.tenantId]; });
    assert.deepEqual(invoke(handle, ev.callConnected(), context()).ok, { actions: [], state: undefined });
    assert.deepEqual(seen, ['+15550001111', undefined, { tag: 'phone-number', val: '+14255550123' }, 'acme']);
  });

  it('accepts a single action, a Recognize builder, and the contract\'s records', () => {
    const handle = exportPolicy((e) =>
      e.tag === 'incoming-call'
        ? act.answer()
        : [act.recognizeDtmf(act.phone('+1'), 1), { tag: 'terminate' }, { action: { tag: 'hang-up' }, operationContext: 'x' }],
    );
    assert.deepEqual(canon(invoke(handle, ev.incomingCall(), context()).ok.actions), [{ action: { tag: 'answer' } }]);
    const kinds = invoke(handle, ev.callConnected(), context()).ok.actions.map((a) => a.action.tag);
    assert.deepEqual(kinds, ['recognize', 'terminate', 'hang-up']);
  });

  it('returns plain data, not builder objects', () => {
    const handle = exportPolicy(() => [act.play(act.text('x'))]);
    const [request] = invoke(handle, ev.callConnected(), context()).ok.actions;
    assert.equal(Object.getPrototypeOf(request), Object.prototype);
    assert.equal(Object.getPrototypeOf(request.action.val.sources[0]), Object.prototype);
  });

  it('returns the state only when it changed', () => {
    const handle = exportPolicy((_e, _c, s) => { s.n = (s.n ?? 0) + (s.bump ? 1 : 0); });
    assert.equal(json(invoke(handle, ev.callConnected(), context()).ok.state), '{"n":0}');
    assert.equal(invoke(handle, ev.callConnected(), context({ state: bytes('{"n":0}') })).ok.state, undefined);
    assert.equal(json(invoke(handle, ev.callConnected(), context({ state: bytes('{"n":0,"bump":true}') })).ok.state), '{"n":1,"bump":true}');
  });

  it('stores nothing for a policy that never touches its implicit state', () => {
    const handle = exportPolicy(() => []);
    assert.equal(invoke(handle, ev.callConnected(), context()).ok.state, undefined);
  });

  it('fills fields missing from a saved state with the initial state\'s', () => {
    let seen;
    const handle = exportPolicy((_e, _c, s) => { seen = s; }, { initialState: { a: 1, b: [] } });
    invoke(handle, ev.callConnected(), context({ state: bytes('{"a":5}') }));
    assert.deepEqual(seen, { a: 5, b: [] });
    // An object initial state is copied, never shared between events.
    seen.b.push(1);
    invoke(handle, ev.callConnected(), context());
    assert.deepEqual(seen, { a: 1, b: [] });
  });

  it('turns a PluginError into the result\'s error', () => {
    const handle = exportPolicy(() => { throw new PluginError('nope', 'cannot decide'); });
    assert.deepEqual(invoke(handle, ev.callConnected(), context()), { err: { code: 'nope', message: 'cannot decide' } });
    assert.deepEqual(logLines, []);
  });

  it('turns any other exception into an `internal` error, and logs it', () => {
    const handle = exportPolicy(() => { null.boom; });
    const { err } = invoke(handle, ev.callConnected(), context());
    assert.equal(err.code, 'internal');
    assert.match(err.message, /^TypeError: /);
    assert.equal(logLines[0].level, 'error');
  });

  it('refuses asynchronous handlers and things that are not actions', () => {
    assert.equal(invoke(exportPolicy(async () => []), ev.callConnected(), context()).err.code, 'internal');
    assert.match(invoke(exportPolicy(() => [42]), ev.callConnected(), context()).err.message, /not an action: 42/);
  });

  it('fails with `bad-state` when the state cannot be encoded', () => {
    const handle = exportPolicy((_e, _c, s) => { s.big = 1n; });
    assert.equal(invoke(handle, ev.callConnected(), context()).err.code, 'bad-state');
  });
});
