// Types of tasks.mjs for the TypeScript driver (the module itself is plain JS: see there for why). The
// library's types come from src/, which dist/ is built from, so typechecking needs no build.
import type { Celeriac, Task } from '../../src/index.js';

export declare const REDIS_URL: string;
export declare const BROKER_URL: string;
export declare const BACKEND_URL: string;
export declare const app: Celeriac;
export declare const noop: Task<() => null>;
export declare const sleep1: Task<() => Promise<null>>;
export declare const fetchFeedTask: Task<(url: string) => Promise<unknown>>;
export default app;
