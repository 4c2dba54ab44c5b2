/**
 * Where a worker's CPU went: reads V8 CPU profiles (`.cpuprofile`, as `npm run bench -- --profile` or
 * `node --cpu-prof` write them) and prints the self time by area and the functions that cost most.
 * Issue 19 asks, for each goal missed, where the time goes; this is how the notes' profiles were read.
 *
 *   node --import tsx scripts/cpuprofile-top.ts <file.cpuprofile>... [--top 25] [--per N]
 *   node --import tsx scripts/cpuprofile-top.ts <after.cpuprofile> --vs <before.cpuprofile> --per N
 *
 * `--per N` divides every time by N (tasks or feeds the worker ran) and prints µs per item. Several
 * files are summed (the children of one `--processes` worker). Idle time (the loop waiting on I/O) is
 * left out of the shares, so they add up to the CPU the process used. `--vs` prints both sides and their
 * difference per item, largest first (`--per-vs` when the two ran different counts).
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a frame belongs to, by its script's path. */
function area(url: string, name: string): string {
  if (name === '(garbage collector)') return 'gc';
  if (name === '(program)') return 'program (V8, natives)';
  if (name === '(idle)') return 'idle';
  if (url.includes('/node_modules/')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    return `dep ${m?.[1] ?? '?'}`;
  }
  const src = /\/(?:src|dist)\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  if (url.startsWith('node:') || url === '') return 'node internals';
  return url.replace(/^file:\/\/.*\/(bench|scripts|examples)\//, '$1/');
}

interface Summary {
  total: number;
  byArea: Map<string, number>;
  byFn: Map<string, number>;
}

function summarize(files: readonly string[]): Summary {
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    p.samples.forEach((id, i) => {
      const n = nodes.get(id);
      const dt = p.timeDeltas[i] ?? 0;
      if (!n || dt <= 0) return;
      const { functionName, url, lineNumber } = n.callFrame;
      const a = area(url, functionName);
      if (a === 'idle') return;
      total += dt;
      byArea.set(a, (byArea.get(a) ?? 0) + dt);
      const where = url
        ? `${url.replace(/^.*\/(src|dist|node_modules|bench)\//, '$1/')}:${lineNumber + 1}`
        : '';
      const key = `${functionName || '(anonymous)'} ${where}`;
      byFn.set(key, (byFn.get(key) ?? 0) + dt);
    });
  }
  return { total, byArea, byFn };
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const top = Number(opt('--top') ?? 25);
  const per = Number(opt('--per') ?? 0);
  const vsFile = opt('--vs');
  const perVs = Number(opt('--per-vs') ?? per);
  const cur = summarize(args);
  const unit = (us: number, n: number) =>
    n > 0 ? `${(us / n).toFixed(2).padStart(8)} µs` : `${(us / 1000).toFixed(0).padStart(8)} ms`;
  const show = (us: number) => unit(us, per);
  const pct = (us: number) => `${((100 * us) / cur.total).toFixed(1).padStart(5)} %`;
  if (vsFile) {
    // Both sides per item: what the change (tracing on, a new build) added, by area and by function.
    const base = summarize([vsFile]);
    const rows = (a: Map<string, number>, b: Map<string, number>) =>
      [...new Set([...a.keys(), ...b.keys()])]
        .map((k) => [k, (a.get(k) ?? 0) / (per || 1), (b.get(k) ?? 0) / (perVs || 1)] as const)
        .sort((x, y) => Math.abs(y[1] - y[2]) - Math.abs(x[1] - x[2]));
    const f = (v: number) => v.toFixed(2).padStart(8);
    console.log(`CPU per item: ${f(cur.total / (per || 1))} against ${f(base.total / (perVs || 1))} (--vs)`);
    console.log('\nby area: this, --vs, difference');
    for (const [k, a, b] of rows(cur.byArea, base.byArea).slice(0, top))
      console.log(`${f(a)} ${f(b)} ${f(a - b)}  ${k}`);
    console.log('\nby function: this, --vs, difference');
    for (const [k, a, b] of rows(cur.byFn, base.byFn).slice(0, top))
      console.log(`${f(a)} ${f(b)} ${f(a - b)}  ${k}`);
    return;
  }
  console.log(`CPU (idle excluded): ${show(cur.total)}${per > 0 ? '/item' : ''}`);
  console.log('\nby area');
  for (const [a, us] of [...cur.byArea].sort((x, y) => y[1] - x[1]))
    console.log(`${pct(us)} ${show(us)}  ${a}`);
  console.log(`\ntop ${top} functions (self time)`);
  for (const [f, us] of [...cur.byFn].sort((x, y) => y[1] - x[1]).slice(0, top))
    console.log(`${pct(us)} ${show(us)}  ${f}`);
}

main();
