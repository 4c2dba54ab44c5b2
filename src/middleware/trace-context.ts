/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) in task message headers: `traceparent`
 * (`00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`) and `tracestate`, as top-level protocol v2
 * headers. That is where Python's opentelemetry-instrumentation-celery puts them: its before_task_publish
 * handler calls `inject(headers)` on the message headers dict, and its task_prerun handler extracts from
 * `task.request`, whose attributes are those same headers. So a Python client's trace continues in our
 * worker and ours in a Python worker, with no mapping. Pure: no I/O and no OpenTelemetry import, so the
 * golden tests read it without the SDK.
 */

export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  readonly traceFlags: number;
  readonly traceState: string | null;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * The trace context of a message's headers, or null when it has none or an invalid one (the spec: a
 * receiver that cannot parse `traceparent` starts a new trace, and ignores `tracestate` with it).
 */
export function readTraceParent(headers: Readonly<Record<string, unknown>>): TraceParent | null {
  const raw = headers.traceparent;
  if (typeof raw !== 'string') return null;
  const m = TRACEPARENT.exec(raw.trim().toLowerCase());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  // Version ff is invalid; version 00 has exactly four fields; later versions may append more.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  const state = headers.tracestate;
  return {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16),
    traceState: typeof state === 'string' && state.trim() !== '' ? state.trim() : null,
  };
}

/** Write `traceparent` (and `tracestate` when there is one) into message headers. */
export function writeTraceParent(headers: Record<string, unknown>, tp: TraceParent): void {
  headers.traceparent = `00-${tp.traceId}-${tp.spanId}-${(tp.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  if (tp.traceState) headers.tracestate = tp.traceState;
  // A republished message (a retry copies its headers) must not keep a stale tracestate.
  else delete headers.tracestate;
}
