// {{name}}: a Switchboard call policy.
//
// Answers, greets the caller, and hangs up once the greeting has played. Change
// `greeter` to decide what your calls do; the events and actions are those of Azure
// Communication Services Call Automation (see {{plugins}}/js/README.md).

import { act, exportPolicy } from '{{plugins}}/js/sdk/index.js';

/** @type {import('{{plugins}}/js/sdk/index.js').Handler<{ greeted: boolean }>} */
function greeter(event, ctx, state) {
  switch (event.tag) {
    case 'incoming-call':
      return [act.answer()];
    case 'call-connected':
      state.greeted = true;
      return [act.play(act.text(ctx.config('greeting') ?? 'Hello from {{name}}!')).context('greeting')];
    case 'play-completed':
      return event.val.operationContext === 'greeting' ? [act.hangUp()] : [];
    default:
      return [];
  }
}

export const handle = exportPolicy(greeter, { initialState: () => ({ greeted: false }) });
