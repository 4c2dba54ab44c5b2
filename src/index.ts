/**
 * Celeriac's public surface: what an application needs, plus the contracts adapter and middleware
 * authors implement. Helpers for users' own tests are the subpath `celeriac/testing`. Publishing
 * plumbing (message building, routing) is internal (app/internal.ts) and not exported.
 */

// The app and tasks
export type { App } from './app/app.js';
export { type LogLevel, type Settings, type SettingsInput, settingDefaults } from './app/config.js';
// Beat: periodic tasks
export type { BeatEntryInput, PeriodicOptions, PeriodicTarget } from './app/periodic.js';
export {
  SIGNAL_NAMES,
  type SignalHandler,
  type SignalMap,
  type SignalName,
  Signals,
  type SignalWorker,
} from './app/signals.js';
// Adapters: contracts and registration of third-party ones
export type {
  BackendCapabilities,
  ResultBackend,
  ResultOrigin,
  StoreOptions,
  WaitOptions,
} from './backends/backend.js';
export { type BackendFactory, registerBackend } from './backends/registry.js';
// Beat (periodic tasks): schedules, the service, and the store contract a third-party store implements
export { Beat, type BeatOptions, type BeatState, type SentSlot } from './beat/beat.js';
export { type CrontabFields, type CrontabSpec, crontab, type Schedule } from './beat/schedule.js';
export type { BeatStore, ClaimResult } from './beat/store.js';
export type { Broker, BrokerCapabilities, ConsumeOptions, Consumer, Delivery } from './brokers/broker.js';
export { type BrokerFactory, registerBroker } from './brokers/registry.js';
export { type Taken, taken, VirtualBroker, type VirtualStore } from './brokers/virtual.js';
// Canvas
export {
  type AnySignature,
  Chain,
  Chord,
  Chunks,
  type Complete,
  chain,
  chord,
  fromJson,
  Group,
  GroupResult,
  group,
  type InputOf,
  MapSignature,
  type MemberResult,
  type ResultOf,
  Signature,
  type SignatureOptions,
  signature,
} from './canvas/index.js';
export { Celeriac, type CeleriacOptions } from './celeriac.js';
// Remote control (app.control): the client, and the reply middleware handlers return to send none
export {
  type BroadcastOptions,
  Control,
  flattenReplies,
  Inspect,
  type NodeReply,
  type SelectOptions,
} from './control/client.js';
export { NO_REPLY } from './control/mailbox.js';
// Dashboard: the handler (app.dashboard()), a server of its own, and the API's shapes
export type {
  ActionBodies,
  ActionName,
  ActionReply,
  ActionResultView,
  DeadLetterView,
  OverviewView,
  QueueView,
  SeriesView,
  SessionView,
  StallView,
  StatsView,
  TaskDetailView,
  TaskListView,
  TaskView,
  UpdateEvent,
  WorkerView,
} from './dashboard/api-types.js';
export { DASHBOARD_DEFAULTS, type DashboardOptions, type ServeOptions } from './dashboard/options.js';
export { DashboardUnprotected } from './dashboard/security.js';
export { type DashboardHandler, type DashboardServer, serveDashboard } from './dashboard/server.js';
export {
  BrokerError,
  CanvasError,
  CeleriacError,
  ChordError,
  ChordsUnsupported,
  ConfigError,
  ContentDisallowed,
  DriverMissingError,
  Ignore,
  MaxRetriesExceededError,
  MessageTooLarge,
  NotRegistered,
  ProtocolError,
  Reject,
  Replaced,
  ResultTimeoutError,
  Retry,
  SoftTimeLimitExceeded,
  TaskError,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
} from './errors.js';
// Events: receiving them, and the cluster state they fold into
export type { CeleryEvent } from './events/event.js';
export type { AppEvents } from './events/index.js';
export type { EventHandler, EventReceiver, ReceiverOptions } from './events/receiver.js';
export { ClusterState, type ClusterStateOptions, ClusterTask, ClusterWorker } from './events/state.js';
// Observability: each loads its optional peer dependency only when used.
export { type MetricsMiddleware, type MetricsOptions, metrics } from './middleware/metrics.js';
// Middleware: the hook contract
export type {
  ControlHandler,
  Disposition,
  ExecRun,
  Middleware,
  OutgoingTask,
  TaskRun,
  Unusable,
  WorkerInfo,
  WorkerMiddleware,
  WorkerScope,
} from './middleware/middleware.js';
export { type TracingOptions, tracing } from './middleware/tracing.js';
export type { SignatureJson, WireMessage, WireProperties } from './protocol/message.js';
// States and errors
export { READY_STATES, type ResultMeta, type State, States } from './protocol/result.js';
export { currentTask, type RetryOptions, type TaskContext } from './task/context.js';
export type { SendOptions, TaskOptions } from './task/options.js';
export type { Outcome } from './task/outcome.js';
export { AsyncResult, type GetOptions, type ResultParent, type RevokeOptions } from './task/result.js';
export { Task, type TaskFn } from './task/task.js';
export { createLogger, type Logger } from './util/log.js';
// Workers and pools
export type { AutoscaleOptions } from './worker/autoscale.js';
export type { WorkerConfig } from './worker/config.js';
export type { Job, Pool, PoolContext, PoolFactory, PoolStats } from './worker/pools/pool.js';
export { registerPool } from './worker/pools/registry.js';
export type { ChildPoolOptions } from './worker/pools/spawner.js';
export { Worker, type WorkerOptions, type WorkerState } from './worker/worker.js';
export type { ErrbackRequest } from './worker/workflow.js';
