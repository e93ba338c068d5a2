// Runs policies natively in Node: stubs the host's log import, builds events and
// contexts, carries state from one event to the next as the host does.
import { register } from 'node:module';

register('./hooks.js', import.meta.url);

export const { lines: logLines, clearLog } = await import('./stub-log.js');

export const CALLER = '+14255550123';
export const NUMBER = '+18005550100';
export const AGENT = '+15550001111';

export const phone = (number) => ({ tag: 'phone-number', val: number });

/** A context of the reference tenant; `state` is the encoded state (bytes). */
export function context({ config = { agent_phone: AGENT }, state = new Uint8Array() } = {}) {
  return {
    tenantId: 'acme',
    call: {
      callConnectionId: 'conn-1',
      serverCallId: 'server-1',
      correlationId: 'corr-1',
      state: 'connected',
      from: phone(CALLER),
      to: phone(NUMBER),
      participants: [],
    },
    config: Object.entries(config).map(([key, value]) => ({ key, value })),
    state,
  };
}

// ------------------------------------------------------------------------- events

const info = (operationContext, result) => ({ operationContext, result });
const ok = { code: 200, subCode: 0, message: 'ok' };

export const ev = {
  incomingCall: () => ({
    tag: 'incoming-call',
    val: {
      from: phone(CALLER),
      to: phone(NUMBER),
      serverCallId: 'server-1',
      correlationId: 'corr-1',
      callerDisplayName: undefined,
      incomingCallContext: 'opaque',
      customContext: { sipHeaders: [], voipHeaders: [] },
      onBehalfOfCallee: undefined,
    },
  }),
  callConnected: () => ({ tag: 'call-connected', val: info('ivr', ok) }),
  callDisconnected: () => ({ tag: 'call-disconnected', val: info(undefined, undefined) }),
  pressed: (...tones) => ({
    tag: 'recognize-completed',
    val: { info: info('menu', ok), recognized: { tag: 'dtmf', val: tones } },
  }),
  spoke: (speech) => ({
    tag: 'recognize-completed',
    val: {
      info: info('menu', ok),
      recognized: { tag: 'speech', val: { speech, confidence: 0.9 } },
    },
  }),
  silence: () => ({
    tag: 'recognize-failed',
    val: {
      info: info('menu', { code: 400, subCode: 8510, message: 'initial silence timeout' }),
      failedPlaySourceIndex: undefined,
    },
  }),
  recognizeCanceled: () => ({ tag: 'recognize-canceled', val: info('menu', ok) }),
  transferAccepted: () => ({
    tag: 'call-transfer-accepted',
    val: { info: info('transfer', ok), transferTarget: phone(AGENT), transferee: phone(CALLER) },
  }),
  transferFailed: () => ({
    tag: 'call-transfer-failed',
    val: info('transfer', { code: 486, subCode: 0, message: 'busy' }),
  }),
  playCompleted: (operationContext) => ({ tag: 'play-completed', val: info(operationContext, ok) }),
  unknown: () => ({ tag: 'unknown', val: { eventType: 'Microsoft.Communication.New', json: '{}' } }),
};

// -------------------------------------------- expected decisions (as in native.rs)

const VOICE = 'en-US-NancyNeural';
const say = (text) => ({ tag: 'text', val: { text, voice: VOICE, locale: undefined } });
const tagged = (action, operationContext) => ({
  action,
  operationContext,
  operationCallbackUri: undefined,
});

export const want = {
  answer: () => tagged({ tag: 'answer' }, 'ivr'),
  menu: () =>
    tagged(
      {
        tag: 'recognize',
        val: {
          input: {
            tag: 'dtmf',
            val: { maxTones: 1, stopTones: [], interToneTimeoutSeconds: undefined },
          },
          target: phone(CALLER),
          prompt: [say('Press 1 for sales, 2 to hear this again, 3 to leave.')],
          interruptPrompt: true,
          initialSilenceTimeoutSeconds: 5,
          speechLanguage: undefined,
          interruptCallMediaOperation: false,
        },
      },
      'menu',
    ),
  transfer: () =>
    tagged(
      {
        tag: 'transfer',
        val: {
          target: phone(AGENT),
          transferee: undefined,
          customContext: { sipHeaders: [], voipHeaders: [] },
          sourceCallerIdNumber: undefined,
        },
      },
      'transfer',
    ),
  play: (text, operationContext) =>
    tagged(
      { tag: 'play', val: { sources: [say(text)], playTo: [], loop: false, interrupt: false } },
      operationContext,
    ),
  goodbye: () => want.play('Goodbye.', 'goodbye'),
  sorry: () => want.play('Sorry, no agent is available.', 'sorry'),
  terminate: () => tagged({ tag: 'terminate' }, undefined),
};

// ------------------------------------------------------------------- invoking

/**
 * Drops `undefined` fields and turns byte arrays into plain arrays, so decisions
 * from the SDK and from a transpiled component compare equal.
 */
export function canon(value) {
  if (ArrayBuffer.isView(value)) return Array.from(value);
  if (Array.isArray(value)) return value.map(canon);
  if (typeof value !== 'object' || value === null) return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = canon(v);
  return out;
}

/** Calls a `handle` export like the host: `{ ok: decision }` or `{ err: pluginError }`. */
export function invoke(handle, event, ctx) {
  try {
    return { ok: handle(event, ctx) };
  } catch (e) {
    if (e && typeof e === 'object' && 'payload' in e) return { err: e.payload };
    throw e;
  }
}

/** Feeds events one after another, carrying state as the host does. */
export function run(handle, events, options = {}) {
  let ctx = context(options);
  return events.map((event) => {
    const outcome = invoke(handle, event, ctx);
    const state = outcome.ok?.state;
    if (state !== undefined) ctx = { ...ctx, state };
    return outcome;
  });
}

export const json = (bytes) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));
export const bytes = (text) => new TextEncoder().encode(text);
