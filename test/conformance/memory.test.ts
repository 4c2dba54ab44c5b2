import { MemoryBackend } from '../../src/backends/memory/index.js';
import { MemoryStore } from '../../src/brokers/memory/index.js';
import { VirtualBroker } from '../../src/brokers/virtual.js';
import { uniq } from '../helpers/services.js';
import { backendConformance } from './backend.js';
import { broadcastConformance } from './broadcast.js';
import { brokerConformance } from './broker.js';

brokerConformance('memory', async () => {
  const ns = uniq('mem');
  return { create: async () => new VirtualBroker(new MemoryStore(ns)) };
});

backendConformance('memory', async () => {
  const ns = uniq('mem');
  return { create: async () => new MemoryBackend(ns) };
});

{
  const ns = uniq('mem');
  broadcastConformance('memory', async () => new VirtualBroker(new MemoryStore(ns)));
}
