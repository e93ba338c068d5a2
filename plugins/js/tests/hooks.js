// Module resolution hooks: `switchboard:policy/log…` resolves to ./stub-log.js.
const stub = new URL('./stub-log.js', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier.startsWith('switchboard:policy/log')) return { url: stub, shortCircuit: true };
  return next(specifier, context);
}
