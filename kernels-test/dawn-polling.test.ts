// throttleDawnPolling: Dawn's device tick (a native, unnamed callback queued without arguments) goes
// to a 1 ms timer; every other setImmediate keeps its semantics.
import { throttleDawnPolling } from '../src/gpu/dawn.js';

const original = globalThis.setImmediate;
afterAll(() => {
  globalThis.setImmediate = original;
});

test('native unnamed callbacks become 1 ms timers, JavaScript callbacks stay immediates', async () => {
  throttleDawnPolling();
  expect(globalThis.setImmediate).not.toBe(original);
  // Function.prototype stands in for Dawn's tick: native, named '', no arguments.
  const tick = globalThis.setImmediate(Function.prototype as () => void);
  expect(tick.constructor.name).toBe('Timeout');
  clearTimeout(tick as unknown as NodeJS.Timeout);
  const ran = await new Promise<string>((resolve) => {
    const js = globalThis.setImmediate((tag: string) => resolve(tag), 'immediate');
    expect(js.constructor.name).toBe('Immediate');
  });
  expect(ran).toBe('immediate');
  // Installing twice does not wrap the wrapper.
  const once = globalThis.setImmediate;
  throttleDawnPolling();
  expect(globalThis.setImmediate).toBe(once);
});
