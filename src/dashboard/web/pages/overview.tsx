/** Overview: the totals, four live charts over the last 15 minutes, the workers, the event-loop stalls. */
import { Chart, color } from '../chart.js';
import { ago, num, time } from '../format.js';
import { usePulse } from '../hooks.js';
import { live } from '../live.js';

export function Overview() {
  usePulse();
  const s = live.series;
  const totals = live.totals;
  const queues = Object.keys(s.depth).sort();
  return (
    <section class="overview">
      <div class="cards">
        <Card label="Succeeded" id="total-succeeded" value={totals?.succeeded} />
        <Card label="Failed" id="total-failed" value={totals?.failed} />
        <Card label="In flight" id="total-inflight" value={totals?.inFlight} />
        <Card label="Workers online" id="total-workers" value={live.workers.filter((w) => w.online).length} />
        <Card label="Tasks held" id="total-held" value={totals?.tasksHeld} />
        <Card label="Events seen" id="total-events" value={totals?.eventsSeen} />
      </div>
      <div class="charts">
        <Chart
          id="chart-throughput"
          title="Tasks per second"
          t={s.t}
          lines={[
            { label: 'succeeded', color: color(2), values: s.succeeded },
            { label: 'failed', color: color(1), values: s.failed },
          ]}
        />
        <Chart
          id="chart-inflight"
          title="In flight"
          t={s.t}
          lines={[{ label: 'in flight', color: color(0), values: s.inFlight }]}
        />
        <Chart
          id="chart-wait"
          title="Queue wait (ms)"
          unit="ms"
          t={s.t}
          lines={[{ label: 'mean wait', color: color(3), values: s.queueWaitMs }]}
        />
        <Chart
          id="chart-depth"
          title="Queue depth"
          t={s.t}
          lines={queues.map((q, i) => ({ label: q, color: color(i + 4), values: s.depth[q] ?? [] }))}
        />
      </div>
      <Workers />
      <Stalls />
    </section>
  );
}

function Card(props: { label: string; value: number | undefined; id: string }) {
  return (
    <div class="card">
      <div class="value" id={props.id}>
        {num(props.value)}
      </div>
      <div class="label">{props.label}</div>
    </div>
  );
}

function Workers() {
  const workers = [...live.workers].sort(
    (a, b) => Number(b.online) - Number(a.online) || a.hostname.localeCompare(b.hostname),
  );
  return (
    <>
      <h2>Workers</h2>
      {workers.length === 0 ? (
        <p class="muted">No worker seen yet (workers need events on: Celery's -E, Celeriac's default).</p>
      ) : (
        <table id="workers">
          <thead>
            <tr>
              <th>hostname</th>
              <th>status</th>
              <th>language</th>
              <th>software</th>
              <th>pool</th>
              <th class="n">concurrency</th>
              <th class="n">processed</th>
              <th class="n">active</th>
              <th>load</th>
              <th class="n">heartbeat</th>
              <th class="n">pid</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr key={w.hostname} class={w.online ? '' : 'offline'} data-hostname={w.hostname}>
                <td>
                  <a href={`#/tasks?worker=${encodeURIComponent(w.hostname)}`}>{w.hostname}</a>
                </td>
                <td>{w.online ? 'online' : 'offline'}</td>
                <td class={`lang lang-${w.language}`}>{w.language === 'python' ? 'Python' : 'TypeScript'}</td>
                <td>{[w.swIdent, w.swVer].filter(Boolean).join(' ') || '–'}</td>
                <td>{w.pool ?? '–'}</td>
                <td class="n">{num(w.concurrency)}</td>
                <td class="n">{num(w.processed)}</td>
                <td class="n">{num(w.active)}</td>
                <td>{w.loadavg.length ? w.loadavg.map((l) => l.toFixed(2)).join(' ') : '–'}</td>
                <td class="n">{ago(w.heartbeatAge)}</td>
                <td class="n">{num(w.pid)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Stalls() {
  const stalls = [...live.stalls].sort((a, b) => b.count - a.count);
  return (
    <>
      <h2>Event-loop stalls</h2>
      {stalls.length === 0 ? (
        <p class="muted">None reported: no task has blocked a Celeriac worker's event loop.</p>
      ) : (
        <table id="stalls">
          <thead>
            <tr>
              <th>task</th>
              <th class="n">stalls</th>
              <th class="n">longest</th>
              <th>last</th>
              <th>worker</th>
            </tr>
          </thead>
          <tbody>
            {stalls.map((st) => (
              <tr key={`${st.worker}/${st.task}`}>
                <td>
                  <a href={`#/tasks?name=${encodeURIComponent(st.task)}`}>{st.task}</a>
                </td>
                <td class="n">{num(st.count)}</td>
                <td class="n">{st.maxMs === null ? '–' : `${st.maxMs.toFixed(0)} ms`}</td>
                <td>{time(st.lastAt)}</td>
                <td>{st.worker}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
