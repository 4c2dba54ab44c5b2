/**
 * An ETL fan-out/fan-in as one Celery canvas: for every feed, a chain extracts its items and
 * summarizes them (fan-out, one chain per feed, in parallel); a chord collects the summaries into one
 * report (fan-in), and a link callback announces it. The feeds are small inline texts so the example
 * needs no network; swap `extract` for an HTTP fetch to make it real.
 *
 *   chord([chain(extract.s(feed), summarize.s(feed)) for each feed], load.s()).link(announce.s())
 */
import { Celeriac, chain, chord } from '../../src/index.js';

/** Sample feeds: one item title per line. */
export const FEEDS: Readonly<Record<string, string>> = {
  'releases.example': `
    Celeriac 1.0 ships chords
    Redis 7.2 tunes memory usage
    Node 22 enters long-term support`,
  'science.example': `
    A comet returns after seventy years
    Soil bacteria that eat plastic`,
  'weather.example': `
    Storm warning for the north coast
    Clear skies all weekend
    Record heat in the valley
    Fog in the morning`,
};

export interface Summary {
  feed: string;
  items: number;
  words: number;
  longest: string;
}

export interface Report {
  feeds: number;
  items: number;
  words: number;
  busiest: string;
  summaries: Summary[];
}

export function createFanoutApp(url: string) {
  const app = new Celeriac({ broker: url, backend: url });

  /** Extract: the item titles of one feed. */
  const extract = app.task('fanout.extract', (feed: string): string[] => {
    const text = FEEDS[feed];
    if (text === undefined) throw new Error(`unknown feed ${feed}`);
    return text
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
  });

  /** Transform: one feed's titles (the previous step's result) into a summary. */
  const summarize = app.task(
    'fanout.summarize',
    (titles: string[], feed: string): Summary => ({
      feed,
      items: titles.length,
      words: titles.reduce((n, t) => n + t.split(/\s+/).length, 0),
      longest: titles.reduce((a, b) => (b.length > a.length ? b : a), ''),
    }),
  );

  /** Load: every summary, in the order of the feeds, into one report (the chord's body). */
  const load = app.task(
    'fanout.load',
    (summaries: Summary[]): Report => ({
      feeds: summaries.length,
      items: summaries.reduce((n, s) => n + s.items, 0),
      words: summaries.reduce((n, s) => n + s.words, 0),
      busiest: summaries.reduce((a, b) => (b.items > a.items ? b : a)).feed,
      summaries,
    }),
  );

  /** A link callback on the chord: gets the report once it is stored. */
  const announce = app.task(
    'fanout.announce',
    (report: Report): string => `loaded ${report.items} items from ${report.feeds} feeds`,
  );

  /** The whole workflow as one signature, typed: applying it resolves to an AsyncResult<Report>. */
  const workflow = (feeds: readonly string[]) =>
    chord(
      feeds.map((feed) => chain(extract.s(feed), summarize.s(feed))),
      load.s(),
    ).link(announce.s());

  return { app, extract, summarize, load, announce, workflow };
}
