// The reference IVR through the SDK, natively in Node.
import { ivrSuite } from './ivr-cases.js';

const { handle } = await import('../ivr/ivr.js');

ivrSuite('ivr.js (native)', () => handle);
