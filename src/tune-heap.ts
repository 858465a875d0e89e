/**
 * Imported first by `main.ts`, for its side effect: the heap tuning applies before any other module
 * runs, so the young generation has not grown while the rest of the program loads (see `lib/heap.ts`).
 */
import { tuneHeap } from "./lib/heap.js";

tuneHeap(process.execArgv, process.env.NODE_OPTIONS);
