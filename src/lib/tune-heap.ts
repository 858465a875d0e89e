/**
 * Imported first by `main.ts`, for its side effect: the heap tuning applies before any other module
 * runs, so the young generation has not grown while the rest of the program loads (see `heap.ts`).
 * Only the process shell imports it: tests and benchmarks that import `heap.ts` set no flags.
 */
import { tuneHeap } from "./heap.js";

tuneHeap(process.execArgv, process.env.NODE_OPTIONS);
