/**
 * An AbortController made only when someone reads its signal. Most tasks never look at
 * `currentTask().signal`; creating a controller for each of thousands of tasks a second is measurable
 * garbage. An abort that happens first is remembered and applied when the signal is made.
 */
export class LazyAbort {
  #controller: AbortController | null = null;
  #reason: unknown;
  #aborted = false;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}
