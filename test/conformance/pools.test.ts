import { createAsyncPool, createSoloPool } from '../../src/worker/pools/async.js';
import { poolConformance } from './pool.js';

poolConformance('async', createAsyncPool, { concurrency: 2 });
poolConformance('solo', (ctx) => createSoloPool({ ...ctx, concurrency: 1 }), { concurrency: 1 });
