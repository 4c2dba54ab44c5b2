// The pure protocol layer: Celery/kombu wire shapes, build and parse, serializers. No I/O, no timers.
export { decodeJson, encodeJson, parseIsoDate, toIsoUtc } from './json.js';
export type {
  Embed,
  ParseResult,
  SignatureJson,
  TaskMessageSpec,
  TaskRequest,
  TimeLimit,
  WireMessage,
  WireProperties,
} from './message.js';
export { buildTaskMessage, parseTaskMessage } from './message.js';
export { uuid, uuid3Oid } from './oid.js';
export { argsRepr, kwargsRepr, pyRepr, safeRepr } from './repr.js';
export type { ExcInfo, MetaExtras, ResultMeta, State } from './result.js';
export {
  buildMeta,
  EXCEPTION_STATES,
  errorFromMeta,
  errorTraceback,
  READY_STATES,
  States,
  serializeError,
} from './result.js';
export type { Serializer } from './serialization.js';
export { compress, decodeBody, decompress, GZIP_CONTENT_TYPE, registerSerializer } from './serialization.js';
