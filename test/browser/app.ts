// The app of the browser tests, for `celeriac worker -A` and `celeriac dashboard -A`: broker and backend
// from CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND (the tests set them to a Redis DB of their own).
import { Celeriac } from '../../src/index.js';

export const app = new Celeriac();

export const add = app.task('web.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
export const tsum = app.task('web.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
export const echo = app.task('web.echo', (value: unknown) => value);
export const fail = app.task('web.fail', (msg: string) => {
  throw new RangeError(msg);
});
