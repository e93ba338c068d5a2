// Conveniences on the contract's events (mirroring the Rust SDK's `ext` module).
//
// Events are the contract's variants as componentize-js hands them over:
// `{ tag: 'recognize-completed', val: { info, recognized } }`, records with camelCase
// fields, enums as strings, `option<T>` as `T | undefined`.

/** @typedef {import('switchboard:policy/types@0.1.0').Event} Event */
/** @typedef {import('switchboard:policy/types@0.1.0').OperationInfo} OperationInfo */
/** @typedef {import('switchboard:policy/types@0.1.0').ResultInformation} ResultInformation */
/** @typedef {import('switchboard:policy/types@0.1.0').DtmfTone} DtmfTone */

/** Callback events whose payload is the operation info itself. */
const BARE_INFO = new Set([
  'call-connected',
  'call-disconnected',
  'create-call-failed',
  'answer-failed',
  'connect-failed',
  'call-transfer-failed',
  'play-started',
  'play-completed',
  'play-canceled',
  'recognize-canceled',
  'continuous-dtmf-recognition-tone-failed',
  'continuous-dtmf-recognition-stopped',
  'send-dtmf-tones-completed',
  'send-dtmf-tones-failed',
  'hold-failed',
]);

/** Callback events whose payload carries the operation info in `info`. */
const NESTED_INFO = new Set([
  'call-transfer-accepted',
  'add-participant-succeeded',
  'add-participant-failed',
  'cancel-add-participant-succeeded',
  'cancel-add-participant-failed',
  'remove-participant-succeeded',
  'remove-participant-failed',
  'play-failed',
  'recognize-failed',
  'recognize-completed',
  'continuous-dtmf-recognition-tone-received',
  'media-streaming-started',
  'media-streaming-stopped',
  'media-streaming-failed',
  'transcription-started',
  'transcription-updated',
  'transcription-stopped',
  'transcription-failed',
]);

/**
 * The operation information of a callback event, if it has one.
 * @param {Event} event
 * @returns {OperationInfo | undefined}
 */
export function info(event) {
  if (BARE_INFO.has(event.tag)) return /** @type {OperationInfo} */ (event.val);
  if (NESTED_INFO.has(event.tag)) return /** @type {{ info: OperationInfo }} */ (event.val).info;
  return undefined;
}

/**
 * The operation context the event's action was tagged with.
 * @param {Event} event
 * @returns {string | undefined}
 */
export function operationContext(event) {
  if (event.tag === 'action-failed') return event.val.operationContext;
  return info(event)?.operationContext;
}

/**
 * The result the service reported, if any.
 * @param {Event} event
 * @returns {ResultInformation | undefined}
 */
export function result(event) {
  return info(event)?.result;
}

/** @type {Record<DtmfTone, string>} */
const KEYS = {
  zero: '0', one: '1', two: '2', three: '3', four: '4',
  five: '5', six: '6', seven: '7', eight: '8', nine: '9',
  a: 'A', b: 'B', c: 'C', d: 'D', pound: '#', asterisk: '*',
};

/**
 * The key as printed on a keypad (`0`-`9`, `A`-`D`, `#`, `*`).
 * @param {DtmfTone} tone
 * @returns {string}
 */
export const key = (tone) => KEYS[tone];

/**
 * Tones as the keys pressed, e.g. `"12#"`.
 * @param {DtmfTone[]} tones
 * @returns {string}
 */
export const keys = (tones) => tones.map(key).join('');
