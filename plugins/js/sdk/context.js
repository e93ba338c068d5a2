// The context of one event, with conveniences (mirroring the Rust SDK's `ext` module).

/** @typedef {import('switchboard:policy/types@0.1.0').Context} RawContext */
/** @typedef {import('switchboard:policy/types@0.1.0').CallSnapshot} CallSnapshot */
/** @typedef {import('switchboard:policy/types@0.1.0').CommunicationIdentifier} CommunicationIdentifier */

/** Everything besides the event that a policy may base its decision on. */
export class Context {
  /** @param {RawContext} raw the contract's context, as the host passed it */
  constructor(raw) {
    /** The contract's context as the host passed it (its `state` is the encoded state). */
    this.raw = raw;
    /** The tenant this call belongs to. */
    this.tenantId = raw.tenantId;
    /** What the host knows of the call when the event arrives. */
    this.call = raw.call;
  }

  /**
   * A value of the tenant's configuration (e.g. `agent_phone`).
   * @param {string} key
   * @returns {string | undefined}
   */
  config(key) {
    return this.raw.config.find((entry) => entry.key === key)?.value;
  }

  /**
   * The caller: who the call is from.
   * @returns {CommunicationIdentifier}
   */
  caller() {
    return this.call.from;
  }
}
