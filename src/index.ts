/**
 * Celeriac's public surface. Adapters, pools and the protocol have their own subpath exports
 * (celeriac/protocol, celeriac/testing …); this entry keeps to what an application needs.
 */

// The app and tasks
export { Celeriac, type CeleriacOptions } from './app/celeriac.js';
export { type LogLevel, type Settings, type SettingsInput, settingDefaults } from './app/config.js';
// Adapters: contracts and registration of third-party ones
export type { ResultBackend, ResultOrigin, StoreOptions, WaitOptions } from './backends/backend.js';
export { registerBackend } from './backends/registry.js';
export type { Broker, BrokerCapabilities, Consumer, Delivery } from './brokers/broker.js';
export { registerBroker } from './brokers/registry.js';
export { GroupResult } from './canvas/index.js';
export {
  BrokerError,
  CeleriacError,
  ConfigError,
  ContentDisallowed,
  DriverMissingError,
  Ignore,
  MaxRetriesExceededError,
  MessageTooLarge,
  NotRegistered,
  ProtocolError,
  Reject,
  ResultTimeoutError,
  Retry,
  SoftTimeLimitExceeded,
  TaskError,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
} from './errors.js';
export type { SignatureJson } from './protocol/message.js';
// States and errors
export { READY_STATES, type ResultMeta, type State, States } from './protocol/result.js';
export { currentTask, type RetryOptions, type TaskContext } from './task/context.js';
export type { SendOptions, TaskOptions } from './task/options.js';
export { AsyncResult, type GetOptions } from './task/result.js';
export { Task, type TaskFn } from './task/task.js';
// Workers and pools
export type { AutoscaleOptions } from './worker/autoscale.js';
export { createLogger, type Logger } from './worker/log.js';
export type { ChildPoolOptions } from './worker/pools/children.js';
export type { Job, Pool, PoolContext, PoolFactory } from './worker/pools/pool.js';
export { registerPool } from './worker/pools/pool.js';
export { Worker, type WorkerOptions, type WorkerState } from './worker/worker.js';
