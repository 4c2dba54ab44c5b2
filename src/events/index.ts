/**
 * `app.events`: the read side of Celery's events for applications. `receiver({ handlers })` subscribes
 * to the events exchange of the app's broker; `state()` makes a ClusterState to fold them into, as
 * Celery's `app.events.Receiver` and `app.events.State` do:
 *
 *   const state = app.events.state();
 *   const recv = app.events.receiver({ handlers: { '*': state.event }, wakeup: true });
 *   await recv.start();   // … state.workers, state.tasks …   await recv.close();
 *
 * The sending side is the `events` middleware (middleware/events.ts) and its dispatcher.
 */
import { EventReceiver, type ReceiverHost, type ReceiverOptions } from './receiver.js';
import { ClusterState, type ClusterStateOptions } from './state.js';

export class AppEvents {
  readonly #host: ReceiverHost;

  constructor(host: ReceiverHost) {
    this.#host = host;
  }

  /** A receiver on this app's broker; call `start()` to subscribe and `close()` to stop. */
  receiver(options: ReceiverOptions): EventReceiver {
    return new EventReceiver(this.#host, options);
  }

  /** An empty ClusterState (Celery's app.events.State); feed it with `receiver({ handlers: { '*': state.event } })`. */
  state(options: ClusterStateOptions = {}): ClusterState {
    return new ClusterState(options);
  }
}
