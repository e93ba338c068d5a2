// The host's log for this invocation (bounded by the host; the excess is dropped).
// The only thing a policy can reach outside itself.

import { log } from 'switchboard:policy/log@0.1.0';

/** @param {string} message */
export const trace = (message) => log('trace', String(message));
/** @param {string} message */
export const debug = (message) => log('debug', String(message));
/** @param {string} message */
export const info = (message) => log('info', String(message));
/** @param {string} message */
export const warn = (message) => log('warn', String(message));
/** @param {string} message */
export const error = (message) => log('error', String(message));
