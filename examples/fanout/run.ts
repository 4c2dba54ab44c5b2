/**
 * Run: `npx tsx examples/fanout/run.ts` (memory broker and backend, an in-process worker), or
 * `npx tsx examples/fanout/run.ts --url sqlite:///tmp/fanout.db` (SQLite for both). Fans out one chain
 * per feed, collects the summaries with a chord, and prints the report and what the link callback said.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createFanoutApp, FEEDS } from './tasks.js';

export async function main(
  report: (line: string) => void = console.log,
  url = `memory://fanout-${randomUUID()}`,
): Promise<void> {
  const { app, workflow } = createFanoutApp(url);
  const worker = app.worker({ concurrency: 4 });
  await worker.start();
  try {
    const result = await workflow(Object.keys(FEEDS)).applyAsync();
    const out = await result.get({ timeout: 10 });
    for (const s of out.summaries)
      report(`${s.feed}: ${s.items} items, ${s.words} words; longest: "${s.longest}"`);
    report(`report: ${out.items} items, ${out.words} words from ${out.feeds} feeds; busiest: ${out.busiest}`);
    // The link callback ran after the report was stored; the worker recorded it as the report's child.
    const [announced] = result.children ?? [];
    report(`announce: ${await announced?.get({ timeout: 10 })}`);
  } finally {
    await worker.stop();
    await app.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { url: { type: 'string' } } });
  await main(console.log, values.url);
}
