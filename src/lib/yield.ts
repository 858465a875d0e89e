/** How many items a long synchronous loop handles between two yields to the event loop. */
export const YIELD_EVERY = 500;

/** Lets timers, HTTP and other work run between slices of a long loop (10,000 servers). */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
