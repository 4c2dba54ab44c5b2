/**
 * Run: `npx tsx examples/signals/run.ts`. An in-process worker on the memory broker runs three tasks;
 * the signal handlers and the slow-tasks middleware print what they see.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createApp } from './tasks.js';

export async function main(report: (line: string) => void = console.log): Promise<void> {
  const app = createApp(`memory://signals-${randomUUID()}`, report);
  const worker = app.worker({ concurrency: 10 });
  await worker.start();
  const add = await app.sendTask('demo.add', [2, 3]);
  const nap = await app.sendTask('demo.nap', [100]);
  const fail = await app.sendTask('demo.fail');
  await add.get({ timeout: 10 });
  await nap.get({ timeout: 10 });
  await fail.get({ timeout: 10 }).catch(() => {});
  await worker.stop();
  await app.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
