// Write Switchboard call policies in JavaScript.
//
//   import { act, exportPolicy } from '../sdk/index.js';
//
//   export const handle = exportPolicy((event, ctx, state) => {
//     switch (event.tag) {
//       case 'incoming-call': return [act.answer()];
//       case 'call-connected': return [act.play(act.text('Hello!')).context('hello')];
//       default: return [];
//     }
//   });
//
// Map of the SDK:
// - `act`: builders for every action (`act.answer()`, `act.play(act.text(…))`…).
// - `log`: the host's log, the only thing a policy can reach.
// - `exportPolicy`, `PluginError`: the component's `handle` export, with per-call
//   state as JSON (the same bytes the Rust SDK writes, so a policy can move between
//   languages without losing calls).
// - `info`, `operationContext`, `result`, `key`, `keys`: conveniences on events.
// - `Context`: the event's context with `config(key)` and `caller()`.

export * as act from './act.js';
export * as log from './log.js';
export { Context } from './context.js';
export { info, operationContext, result, key, keys } from './event.js';
export { PluginError, exportPolicy, decide, decodeState, encodeState } from './policy.js';

/** @typedef {import('switchboard:policy/types@0.1.0').Event} Event */
/** @typedef {import('switchboard:policy/types@0.1.0').CommunicationIdentifier} CommunicationIdentifier */
/** @typedef {import('switchboard:policy/types@0.1.0').Decision} Decision */
/** @typedef {import('./policy.js').Actions} Actions */
/**
 * What an author writes: the actions for one event, given its context and the call's state.
 * @template S
 * @typedef {(event: Event, ctx: import('./context.js').Context, state: S) => Actions} Handler
 */
