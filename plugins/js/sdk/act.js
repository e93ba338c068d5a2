// Builders for every action of the contract, mirroring the Rust SDK's `act` module.
//
// Each builder returns an `ActionRequest`; tag it with `.context('…')` (echoed in the
// events the action causes) and, rarely, `.callbackUri('…')`. Play sources and
// recognize have option builders:
//
//   act.play(act.text('Goodbye.').voice('en-US-NancyNeural')).context('goodbye')
//   act.recognizeDtmf(ctx.caller(), 1).prompt(act.text('Press 1.')).interruptPrompt()
//     .initialSilenceTimeout(5).context('menu')

/** @typedef {import('switchboard:policy/types@0.1.0').Action} Action */
/** @typedef {import('switchboard:policy/types@0.1.0').CommunicationIdentifier} CommunicationIdentifier */
/** @typedef {import('switchboard:policy/types@0.1.0').CallLocator} CallLocator */
/** @typedef {import('switchboard:policy/types@0.1.0').RejectReason} RejectReason */
/** @typedef {import('switchboard:policy/types@0.1.0').DtmfTone} DtmfTone */
/** @typedef {import('switchboard:policy/types@0.1.0').Play} Play */
/** @typedef {import('switchboard:policy/types@0.1.0').StartRecording} StartRecording */
/** @typedef {import('switchboard:policy/types@0.1.0').Recognize} RecognizeRecord */

/** An action with its tags; what a policy returns, in order. */
export class ActionRequest {
  /** @param {Action} action */
  constructor(action) {
    /** @type {Action} */
    this.action = action;
    /** @type {string | undefined} */
    this.operationContext = undefined;
    /** @type {string | undefined} */
    this.operationCallbackUri = undefined;
  }

  /**
   * Tags the action; the tag comes back in the events it causes.
   * @param {string} context
   * @returns {this}
   */
  context(context) {
    this.operationContext = String(context);
    return this;
  }

  /**
   * Sends this action's events to `uri` instead of the call's callback.
   * @param {string} uri
   * @returns {this}
   */
  callbackUri(uri) {
    this.operationCallbackUri = String(uri);
    return this;
  }
}

/** @param {Action} action */
const request = (action) => new ActionRequest(action);

/** @returns {import('switchboard:policy/types@0.1.0').CustomContext} no custom headers */
const noHeaders = () => ({ sipHeaders: [], voipHeaders: [] });

// ------------------------------------------------------------------ identifiers

/**
 * A phone number in E.164 form.
 * @param {string} number
 * @returns {CommunicationIdentifier}
 */
export const phone = (number) => ({ tag: 'phone-number', val: String(number) });

/**
 * An ACS user (`8:acs:…`).
 * @param {string} id
 * @returns {CommunicationIdentifier}
 */
export const acsUser = (id) => ({ tag: 'acs-user', val: String(id) });

// ---------------------------------------------------------------- play sources

/** Something to play: `text(…)`, `file(…)` or `ssml(…)`; text takes `.voice()` and `.locale()`. */
export class PlaySource {
  /**
   * @param {'file' | 'text' | 'ssml'} tag
   * @param {any} val
   */
  constructor(tag, val) {
    /** @type {'file' | 'text' | 'ssml'} */
    this.tag = tag;
    this.val = val;
  }

  /**
   * Sets the neural voice of a text source (e.g. `en-US-NancyNeural`); no effect on others.
   * @param {string} voice
   * @returns {this}
   */
  voice(voice) {
    if (this.tag === 'text') this.val.voice = String(voice);
    return this;
  }

  /**
   * Sets the locale of a text source (e.g. `en-US`); no effect on others.
   * @param {string} locale
   * @returns {this}
   */
  locale(locale) {
    if (this.tag === 'text') this.val.locale = String(locale);
    return this;
  }
}

/**
 * A source as the contract's record: plain data, so the decision is too (its `val`
 * is shared, so `.voice()` called later still applies).
 * @param {PlaySource | import('switchboard:policy/types@0.1.0').PlaySource} source
 */
const sourceRecord = (source) =>
  source instanceof PlaySource ? { tag: source.tag, val: source.val } : source;

/**
 * Text-to-speech in the service's default voice; see `PlaySource.voice`.
 * @param {string} text
 */
export const text = (text) =>
  new PlaySource('text', { text: String(text), voice: undefined, locale: undefined });

/**
 * An audio file (WAV or MP3) the service downloads.
 * @param {string} url
 */
export const file = (url) => new PlaySource('file', String(url));

/**
 * An SSML document.
 * @param {string} document
 */
export const ssml = (document) => new PlaySource('ssml', String(document));

// ------------------------------------------------------------- incoming calls

/** Answers the incoming call. */
export const answer = () => request({ tag: 'answer' });

/**
 * Rejects the incoming call.
 * @param {RejectReason} [reason]
 */
export const reject = (reason = 'none') => request({ tag: 'reject', val: reason });

/**
 * Forwards the incoming call without answering it.
 * @param {CommunicationIdentifier} target
 */
export const redirect = (target) => request({ tag: 'redirect', val: target });

// ----------------------------------------------------------------- new calls

/**
 * Places a call to one target (1:1) or several (group).
 * @param {CommunicationIdentifier[]} targets
 * @param {string} [callerId] caller id shown to PSTN targets
 */
export const createCall = (targets, callerId) =>
  request({
    tag: 'create-call',
    val: { targets, sourceCallerIdNumber: callerId, sourceDisplayName: undefined },
  });

/**
 * Connects to an ongoing call or a room.
 * @param {CallLocator} locator e.g. `{ tag: 'room', val: roomId }`
 */
export const connect = (locator) => request({ tag: 'connect', val: locator });

// --------------------------------------------------------------- participants

/**
 * Invites a participant; `timeoutSeconds` is 0..=180.
 * @param {CommunicationIdentifier} participant
 * @param {number} [timeoutSeconds]
 */
export const addParticipant = (participant, timeoutSeconds) =>
  request({
    tag: 'add-participant',
    val: {
      participant,
      sourceCallerIdNumber: undefined,
      sourceDisplayName: undefined,
      invitationTimeoutSeconds: timeoutSeconds,
      customContext: noHeaders(),
    },
  });

/**
 * Cancels an invitation by the id add-participant returned.
 * @param {string} invitationId
 */
export const cancelAddParticipant = (invitationId) =>
  request({ tag: 'cancel-add-participant', val: String(invitationId) });

/** @param {CommunicationIdentifier} participant */
export const removeParticipant = (participant) =>
  request({ tag: 'remove-participant', val: participant });

/**
 * Blind transfer of a 1:1 call to `target`.
 * @param {CommunicationIdentifier} target
 */
export const transfer = (target) =>
  request({
    tag: 'transfer',
    val: {
      target,
      transferee: undefined,
      customContext: noHeaders(),
      sourceCallerIdNumber: undefined,
    },
  });

/** @param {CommunicationIdentifier} participant */
export const mute = (participant) => request({ tag: 'mute', val: participant });

/** The application leaves the call (ending a 1:1 call). */
export const hangUp = () => request({ tag: 'hang-up' });

/** Ends the call for everyone. */
export const terminate = () => request({ tag: 'terminate' });

// ---------------------------------------------------------------------- media

/**
 * Plays to everyone, once.
 * @param {PlaySource | PlaySource[]} source
 */
export const play = (source) =>
  playWith({
    sources: (Array.isArray(source) ? source : [source]).map(sourceRecord),
    playTo: [],
    loop: false,
    interrupt: false,
  });

/**
 * Plays with every option of the contract's `play` record.
 * @param {Play} play
 */
export const playWith = (play) =>
  request({ tag: 'play', val: { ...play, sources: play.sources.map(sourceRecord) } });

/** A recognize being set up; return it as is or finish it with `.context()` / `.request()`. */
export class Recognize {
  /** @param {RecognizeRecord} record */
  constructor(record) {
    /** @type {RecognizeRecord} */
    this.record = record;
  }

  /**
   * Plays `prompt` before listening (call again to add more sources).
   * @param {PlaySource} prompt
   * @returns {this}
   */
  prompt(prompt) {
    this.record.prompt.push(sourceRecord(prompt));
    return this;
  }

  /**
   * Lets caller input cut the prompt short (barge-in).
   * @returns {this}
   */
  interruptPrompt() {
    this.record.interruptPrompt = true;
    return this;
  }

  /**
   * Gives up with RecognizeFailed (subcode 8510) after this much silence.
   * @param {number} seconds
   * @returns {this}
   */
  initialSilenceTimeout(seconds) {
    this.record.initialSilenceTimeoutSeconds = seconds;
    return this;
  }

  /**
   * @param {string} locale locale for speech recognition, e.g. `en-US`
   * @returns {this}
   */
  speechLanguage(locale) {
    this.record.speechLanguage = String(locale);
    return this;
  }

  /**
   * Interrupts other media operations instead of queueing behind them.
   * @returns {this}
   */
  interruptCallMedia() {
    this.record.interruptCallMediaOperation = true;
    return this;
  }

  /** The recognize as an action, ready to be tagged. */
  request() {
    return request({ tag: 'recognize', val: this.record });
  }

  /**
   * The recognize as an action, tagged with `context`.
   * @param {string} context
   */
  context(context) {
    return this.request().context(context);
  }
}

/**
 * Collects DTMF from `target`; set options on the returned `Recognize`.
 * @param {CommunicationIdentifier} target
 * @param {number} maxTones
 */
export const recognizeDtmf = (target, maxTones) =>
  new Recognize({
    input: {
      tag: 'dtmf',
      val: { maxTones, stopTones: [], interToneTimeoutSeconds: undefined },
    },
    target,
    prompt: [],
    interruptPrompt: false,
    initialSilenceTimeoutSeconds: undefined,
    speechLanguage: undefined,
    interruptCallMediaOperation: false,
  });

/**
 * Any recognize (choices, speech…): a `Recognize` builder or the contract's record.
 * @param {Recognize | RecognizeRecord} recognize
 */
export const recognize = (recognize) =>
  recognize instanceof Recognize ? recognize.request() : request({ tag: 'recognize', val: recognize });

export const cancelMediaOperations = () => request({ tag: 'cancel-media-operations' });

/** @param {CommunicationIdentifier} target */
export const startContinuousDtmf = (target) =>
  request({ tag: 'start-continuous-dtmf-recognition', val: target });

/** @param {CommunicationIdentifier} target */
export const stopContinuousDtmf = (target) =>
  request({ tag: 'stop-continuous-dtmf-recognition', val: target });

/**
 * @param {CommunicationIdentifier} target
 * @param {DtmfTone[]} tones
 */
export const sendDtmf = (target, tones) =>
  request({ tag: 'send-dtmf-tones', val: { tones, target } });

/**
 * Puts a participant on hold, optionally with music.
 * @param {CommunicationIdentifier} target
 * @param {PlaySource} [music]
 */
export const hold = (target, music) =>
  request({ tag: 'hold', val: { target, music: music && sourceRecord(music) } });

/** @param {CommunicationIdentifier} target */
export const unhold = (target) => request({ tag: 'unhold', val: target });

/** @param {string} [locale] */
export const startTranscription = (locale) =>
  request({ tag: 'start-transcription', val: { locale, speechModelEndpointId: undefined } });

/** @param {string} locale */
export const updateTranscription = (locale) =>
  request({
    tag: 'update-transcription',
    val: { locale: String(locale), speechModelEndpointId: undefined },
  });

export const stopTranscription = () => request({ tag: 'stop-transcription' });

export const startMediaStreaming = () => request({ tag: 'start-media-streaming' });

export const stopMediaStreaming = () => request({ tag: 'stop-media-streaming' });

// ------------------------------------------------------------------ recording

/** @param {StartRecording} options */
export const startRecording = (options) => request({ tag: 'start-recording', val: options });

/** @param {string} recordingId */
export const pauseRecording = (recordingId) =>
  request({ tag: 'pause-recording', val: String(recordingId) });

/** @param {string} recordingId */
export const resumeRecording = (recordingId) =>
  request({ tag: 'resume-recording', val: String(recordingId) });

/** @param {string} recordingId */
export const stopRecording = (recordingId) =>
  request({ tag: 'stop-recording', val: String(recordingId) });
