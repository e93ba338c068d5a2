// Stands in for the host's `switchboard:policy/log` import when policies run in Node.

/** @type {{ level: string, message: string }[]} */
export const lines = [];

/**
 * @param {string} level
 * @param {string} message
 */
export function log(level, message) {
  lines.push({ level, message });
}

export function clearLog() {
  lines.length = 0;
}
