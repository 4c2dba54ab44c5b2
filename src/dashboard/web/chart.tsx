/**
 * One time-series chart (uPlot on a canvas). The component owns the uPlot instance: it is built once
 * per set of series (a new queue in the depth chart rebuilds it) and otherwise fed with setData on each
 * live frame, which redraws the canvas without touching the DOM tree. uPlot styles its own elements
 * through the CSSOM (el.style.x = …), which `default-src 'self'` allows; its stylesheet is bundled.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Line {
  label: string;
  color: string;
  values: (number | null)[];
}

const PALETTE = ['#2f7ed8', '#d9534f', '#5cb85c', '#f0ad4e', '#8e44ad', '#16a085', '#c0392b', '#7f8c8d'];
export const color = (i: number): string => PALETTE[i % PALETTE.length] as string;

export function Chart(props: { title: string; t: number[]; lines: Line[]; unit?: string; id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.lines.map((l) => l.label).join('\u0000');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 160,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [{ stroke: '#777' }, { stroke: '#777', size: 50 }],
      series: [
        {},
        ...props.lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 1.5,
          spanGaps: false,
          ...(props.unit
            ? { value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${v} ${props.unit}`) }
            : {}),
        })),
      ],
    };
    const u = new uPlot(opts, [props.t, ...props.lines.map((l) => l.values)] as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 160 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([props.t, ...props.lines.map((l) => l.values)] as uPlot.AlignedData);
  });

  // data-* summarise what is drawn, for tests and for anyone reading the DOM: the sum and last value
  // of the first line over the window.
  const first = props.lines[0]?.values ?? [];
  let sum = 0;
  for (const v of first) sum += v ?? 0;
  return (
    <figure class="chart" id={props.id} data-sum={String(sum)} data-points={String(props.t.length)}>
      <figcaption>{props.title}</figcaption>
      <div ref={box} class="plot" />
    </figure>
  );
}
