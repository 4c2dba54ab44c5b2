/**
 * Turn a failed import of the app module into "file:line:column: message" when the cause is a syntax
 * error in that file. Node's SyntaxError for an ES module carries no location, and tsx's carries
 * esbuild's whole report with a stack of loader internals; a person needs the file, the line and what is
 * wrong. The file is parsed again with esbuild (tsx's own transformer, so no new dependency), which
 * only parses: nothing is run.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';

interface EsbuildMessage {
  text: string;
  location?: { file: string; line: number; column: number; lineText: string } | null;
}
interface Esbuild {
  transform(
    source: string,
    options: { loader: string; format: string; sourcefile: string },
  ): Promise<unknown>;
}

function looksLikeSyntaxError(err: unknown): boolean {
  if (err instanceof SyntaxError) return true;
  const e = err as { errors?: unknown; message?: unknown };
  return (
    Array.isArray(e?.errors) || (typeof e?.message === 'string' && e.message.includes('Transform failed'))
  );
}

async function esbuild(): Promise<Esbuild | null> {
  try {
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
    return (await import(pathToFileURL(fromTsx.resolve('esbuild')).href)) as Esbuild;
  } catch {
    return null;
  }
}

const LOADERS: Record<string, string> = { ts: 'ts', mts: 'ts', cts: 'ts', tsx: 'tsx', jsx: 'jsx' };

/** "tasks.ts:3:10: Expected ")" but found "let"\n  let x = ;" or null when `err` is not a syntax error in `file`. */
export async function syntaxErrorAt(err: unknown, file: string): Promise<string | null> {
  if (!looksLikeSyntaxError(err)) return null;
  const build = await esbuild();
  if (!build) return null;
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const ext = /\.([cm]?[jt]sx?)$/.exec(file)?.[1] ?? 'js';
  try {
    await build.transform(source, { loader: LOADERS[ext] ?? 'js', format: 'esm', sourcefile: file });
    return null; // the file parses: the syntax error is in a module it imports, and Node's error stands
  } catch (e) {
    const first = (e as { errors?: EsbuildMessage[] }).errors?.[0];
    if (!first?.location) return null;
    const { line, column, lineText } = first.location;
    const shown = relative(process.cwd(), file) || file;
    return `${shown}:${line}:${column + 1}: ${first.text}\n    ${lineText.trim()}`;
  }
}
