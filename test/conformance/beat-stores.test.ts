import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { MemoryBeatStore } from '../../src/beat/memory-store.js';
import { RedisBeatStore } from '../../src/beat/redis-store.js';
import { SqliteBeatStore } from '../../src/beat/sqlite-store.js';
import { parseRedisUrl } from '../../src/drivers/redis/connection.js';
import { parseSqliteUrl } from '../../src/drivers/sqlite/options.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { uniq } from '../helpers/services.js';
import { beatStoreConformance } from './beat-store.js';

beatStoreConformance('memory', async () => {
  const shared = new MemoryBeatStore();
  return { create: async () => shared };
});

const dir = mkdtempSync(join(tmpdir(), 'celeriac-beat-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
beatStoreConformance('sqlite (a connection each, as two processes)', async () => {
  const target = parseSqliteUrl(new URL(`sqlite://${join(dir, `beat-${++n}.db`)}`));
  return { create: async () => new SqliteBeatStore(target, { ownConnection: true }) };
});

const DB = 9;
beatStoreConformance(
  'redis',
  async () => {
    const prefix = `${uniq('beatconf')}:`;
    const target = parseRedisUrl(new URL(`redis://127.0.0.1:6379/${DB}`));
    return {
      create: async () => new RedisBeatStore(target, prefix),
      cleanup: () => deletePrefix(prefix, DB),
    };
  },
  skipRedis,
);
