import { createPreforkPool } from '../../src/worker/pools/prefork.js';
import { createThreadsPool } from '../../src/worker/pools/threads.js';
import { poolConformance } from './pool.js';

poolConformance('prefork', createPreforkPool, { concurrency: 2 });
poolConformance('threads', createThreadsPool, { concurrency: 2 });
