// Turns an author's handler into the component's `handle` export: decodes the
// per-call state, calls the handler, encodes the state back, converts errors.

import { ActionRequest, Recognize } from './act.js';
import { Context } from './context.js';
import { error as logError } from './log.js';

/** @typedef {import('switchboard:policy/types@0.1.0').Event} Event */
/** @typedef {import('switchboard:policy/types@0.1.0').Context} RawContext */
/** @typedef {import('switchboard:policy/types@0.1.0').Decision} Decision */
/** @typedef {import('switchboard:policy/types@0.1.0').ActionRequest} ActionRecord */
/** @typedef {import('switchboard:policy/types@0.1.0').Action} Action */

/**
 * What a handler may return: a list of actions (builders or the contract's records),
 * a single one, or nothing.
 * @typedef {ActionRequest | Recognize | ActionRecord | Action} Actionish
 * @typedef {Actionish[] | Actionish | undefined | null | void} Actions
 */

/**
 * The policy could not decide; the host runs the tenant's fallback for this call.
 * Throw it from a handler: `throw new PluginError('config', 'no agent_phone')`.
 */
export class PluginError extends Error {
  /**
   * @param {string} code short machine-readable reason, e.g. `config`
   * @param {string} message for the tenant's operators
   */
  constructor(code, message) {
    super(message);
    this.name = 'PluginError';
    /** @type {string} */
    this.code = String(code);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @param {unknown} value */
const isPlainObject = (value) =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Decodes the call's state; at the first event (no bytes), a fresh initial state.
 * Saved fields override the initial state's, so fields added later get defaults.
 * @param {Uint8Array} bytes
 * @param {() => any} initial
 */
export function decodeState(bytes, initial) {
  const fresh = initial();
  if (bytes.length === 0) return fresh;
  let saved;
  try {
    saved = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new PluginError(
      'bad-state',
      `the call's state is not this policy's JSON state: ${e instanceof Error ? e.message : e}`,
    );
  }
  return isPlainObject(fresh) && isPlainObject(saved) ? { ...fresh, ...saved } : saved;
}

/**
 * Encodes the state as JSON bytes.
 * @param {unknown} state
 * @returns {Uint8Array}
 */
export function encodeState(state) {
  let text;
  try {
    text = JSON.stringify(state);
  } catch (e) {
    throw new PluginError(
      'bad-state',
      `the policy's state cannot be encoded: ${e instanceof Error ? e.message : e}`,
    );
  }
  return encoder.encode(text ?? 'null');
}

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One returned item as the contract's action-request record. The builders make plain
 * data (their play sources included), so nothing is copied: a deep copy of every
 * action cost a third of a JavaScript policy's time per event.
 * @param {Actionish} item
 * @returns {ActionRecord}
 */
function toRecord(item) {
  if (item instanceof Recognize) item = item.request();
  if (item instanceof ActionRequest || (isPlainObject(item) && 'action' in item)) {
    const r = /** @type {ActionRecord} */ (item);
    return {
      action: r.action,
      operationContext: r.operationContext,
      operationCallbackUri: r.operationCallbackUri,
    };
  }
  if (isPlainObject(item) && typeof (/** @type {any} */ (item).tag) === 'string') {
    return { action: item, operationContext: undefined, operationCallbackUri: undefined };
  }
  throw new TypeError(`not an action: ${JSON.stringify(item)}`);
}

/**
 * Runs a handler for one event: decodes the state, calls the handler, encodes the new
 * state. The state is returned to the host only when it changed (at a call's first
 * event: unless it is still the implicit `{}` of a policy without `initialState`).
 *
 * @template S
 * @param {(event: Event, ctx: Context, state: S) => Actions} handler
 * @param {Event} event
 * @param {RawContext} raw
 * @param {{ initialState?: S | (() => S) }} [options]
 * @returns {Decision}
 * @throws {PluginError}
 */
export function decide(handler, event, raw, options = {}) {
  return decideWith(handler, event, raw, initialFactory(options));
}

/**
 * How to make a call's first state, worked out once per policy rather than per event.
 * @template S
 * @param {{ initialState?: S | (() => S) }} options
 * @returns {{ initial: () => S, declared: boolean }}
 */
function initialFactory(options) {
  const declared = options.initialState !== undefined;
  const template = declared ? options.initialState : {};
  if (typeof template === 'function') return { initial: /** @type {() => S} */ (template), declared };
  const encoded = JSON.stringify(template);
  return { initial: () => JSON.parse(encoded), declared };
}

/**
 * @template S
 * @param {(event: Event, ctx: Context, state: S) => Actions} handler
 * @param {Event} event
 * @param {RawContext} raw
 * @param {{ initial: () => S, declared: boolean }} factory
 * @returns {Decision}
 */
function decideWith(handler, event, raw, { initial, declared }) {
  const previous = raw.state ?? new Uint8Array();
  const state = decodeState(previous, initial);
  const returned = handler(event, new Context(raw), state);
  if (returned && typeof (/** @type {any} */ (returned).then) === 'function') {
    throw new TypeError('the handler returned a Promise: policies decide synchronously');
  }
  const items = returned == null ? [] : Array.isArray(returned) ? returned : [returned];
  const actions = items.map(toRecord);
  const encoded = encodeState(state);
  const unchanged =
    sameBytes(encoded, previous) ||
    (previous.length === 0 && !declared && decoder.decode(encoded) === '{}');
  return { actions, state: unchanged ? undefined : encoded };
}

/**
 * The component's `handle` export for a handler:
 *
 *   export const handle = exportPolicy((event, ctx, state) => [...], { initialState: { retries: 0 } });
 *
 * The handler gets the event, a `Context`, and the call's state (a JSON object it may
 * change in place; a copy of `initialState` at the first event, taken as JSON when the
 * policy is exported, `{}` if none is given) and
 * returns the actions to run, in order. `throw new PluginError(code, message)` makes
 * the result an error (the host runs the tenant's fallback); any other exception is
 * logged and becomes a plugin-error with code `internal`.
 *
 * @template S
 * @param {(event: Event, ctx: Context, state: S) => Actions} handler
 * @param {{ initialState?: S | (() => S) }} [options]
 * @returns {(event: Event, ctx: RawContext) => Decision}
 */
export function exportPolicy(handler, options = {}) {
  const factory = initialFactory(options);
  return function handle(event, ctx) {
    try {
      return decideWith(handler, event, ctx, factory);
    } catch (e) {
      // componentize-js (like jco) turns a thrown object's `payload` into `err(payload)`.
      if (e instanceof PluginError) throw { payload: { code: e.code, message: e.message } };
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      logError(`${message}${e instanceof Error && e.stack ? `\n${e.stack}` : ''}`);
      throw { payload: { code: 'internal', message } };
    }
  };
}
