// The reference IVR policy (shared/scenarios/ivr.md), written with the JavaScript SDK.
//
// Answer; offer a DTMF menu (1 sales, 2 repeat, 3 leave); transfer to the tenant's
// `agent_phone` on 1; say goodbye and end the call on 3, after two failed retries,
// or when the transfer fails (with an apology). The retry count is per-call state.

import { act, exportPolicy, keys, log, PluginError } from '../sdk/index.js';

/** @typedef {import('../sdk/index.js').Context} Context */

const MENU_PROMPT = 'Press 1 for sales, 2 to hear this again, 3 to leave.';
const VOICE = 'en-US-NancyNeural';
/** Recognize attempts after the first, before giving up. */
const MAX_RETRIES = 2;

/**
 * What this policy remembers between events of one call.
 * @typedef {{ retries: number }} State
 */

/** @type {import('../sdk/index.js').Handler<State>} */
function ivr(event, ctx, state) {
  switch (event.tag) {
    case 'incoming-call':
      return [act.answer().context('ivr')];
    case 'call-connected':
      return [menu(ctx)];
    case 'recognize-completed': {
      const { recognized } = event.val;
      if (recognized.tag !== 'dtmf') return retryOrGoodbye(ctx, state);
      const pressed = keys(recognized.val);
      switch (pressed) {
        case '1': return [transferToAgent(ctx)];
        case '2': return [menu(ctx)];
        case '3': return [goodbye()];
        default:
          log.info(`unexpected input ${JSON.stringify(pressed)}; treated as a failure`);
          return retryOrGoodbye(ctx, state);
      }
    }
    case 'recognize-failed':
      return retryOrGoodbye(ctx, state);
    case 'call-transfer-failed':
      return [act.play(act.text('Sorry, no agent is available.').voice(VOICE)).context('sorry')];
    case 'play-completed': {
      const tag = event.val.operationContext;
      return tag === 'goodbye' || tag === 'sorry' ? [act.terminate()] : [];
    }
    case 'action-failed': {
      // The host restarted while sending: the menu may never have played (offer it
      // again rather than leave the caller in silence); a goodbye may not have played
      // (end the call rather than say it twice).
      const { code, operationContext: tag } = event.val;
      if (code !== 'outcome-unknown') return [];
      if (tag === 'menu') return [menu(ctx)];
      return tag === 'goodbye' || tag === 'sorry' ? [act.terminate()] : [];
    }
    default:
      return [];
  }
}

/** @param {Context} ctx */
const menu = (ctx) =>
  act.recognizeDtmf(ctx.caller(), 1)
    .prompt(act.text(MENU_PROMPT).voice(VOICE))
    .interruptPrompt()
    .initialSilenceTimeout(5)
    .context('menu');

const goodbye = () => act.play(act.text('Goodbye.').voice(VOICE)).context('goodbye');

/**
 * @param {Context} ctx
 * @param {State} state
 */
function retryOrGoodbye(ctx, state) {
  if (state.retries < MAX_RETRIES) {
    state.retries += 1;
    return [menu(ctx)];
  }
  return [goodbye()];
}

/** @param {Context} ctx */
function transferToAgent(ctx) {
  const agent = ctx.config('agent_phone');
  if (agent === undefined) {
    throw new PluginError('config', 'tenant config has no `agent_phone` to transfer to');
  }
  return act.transfer(act.phone(agent)).context('transfer');
}

export const handle = exportPolicy(ivr, { initialState: () => ({ retries: 0 }) });
