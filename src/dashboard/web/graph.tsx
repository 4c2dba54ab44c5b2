/**
 * The workflow graph of a task page as SVG: nodes in columns by their depth along the edges (a chain
 * reads left to right, a group's members stack in one column, a chord's body follows its header), each
 * task node a link to its own page, the current task outlined. Names and ids are SVG text nodes, never
 * markup. The layout is computed here (no graph library: a longest-path layering is enough for the
 * trees and short DAGs that canvas workflows make).
 */
import type { GraphEdge, GraphNode } from '../api-types.js';
import { taskHref } from './hooks.js';

const W = 190;
const H = 46;
const GAP_X = 60;
const GAP_Y = 18;
const PAD = 12;
const ARC = 28;

export interface Layout {
  pos: Map<string, { x: number; y: number }>;
  width: number;
  height: number;
}

export function layout(nodes: GraphNode[], edges: GraphEdge[]): Layout {
  const ids = new Set(nodes.map((n) => n.id));
  const outgoing = new Map<string, GraphEdge[]>();
  const hasIncoming = new Set<string>();
  for (const e of edges) {
    if (!ids.has(e.from) || !ids.has(e.to) || e.from === e.to) continue;
    outgoing.set(e.from, [...(outgoing.get(e.from) ?? []), e]);
    hasIncoming.add(e.to);
  }
  // A depth-first walk from the roots marks the edges that close a cycle (a graph the server could not
  // order; canvas workflows should have none): they are drawn, but do not push nodes rightwards.
  const back = new Set<GraphEdge>();
  const state = new Map<string, 'open' | 'done'>();
  const walk = (id: string): void => {
    state.set(id, 'open');
    for (const e of outgoing.get(id) ?? []) {
      const s = state.get(e.to);
      if (s === 'open') back.add(e);
      else if (!s) walk(e.to);
    }
    state.set(id, 'done');
  };
  for (const n of nodes) if (!hasIncoming.has(n.id)) walk(n.id);
  for (const n of nodes) if (!state.has(n.id)) walk(n.id);
  const incoming = new Map<string, string[]>();
  for (const list of outgoing.values())
    for (const e of list) if (!back.has(e)) incoming.set(e.to, [...(incoming.get(e.to) ?? []), e.from]);
  // Column = the longest path from a root (the graph is acyclic once back edges are set aside).
  const depth = new Map<string, number>();
  const depthOf = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    depth.set(id, 0);
    let d = 0;
    for (const from of incoming.get(id) ?? []) d = Math.max(d, depthOf(from) + 1);
    depth.set(id, d);
    return d;
  };
  const columns: string[][] = [];
  for (const n of nodes) {
    const d = depthOf(n.id);
    const col = columns[d] ?? [];
    col.push(n.id);
    columns[d] = col;
  }
  const pos = new Map<string, { x: number; y: number }>();
  let rows = 0;
  columns.forEach((col, c) => {
    col.forEach((id, r) => {
      pos.set(id, { x: PAD + c * (W + GAP_X), y: PAD + r * (H + GAP_Y) });
    });
    rows = Math.max(rows, col.length);
  });
  return {
    pos,
    width: PAD * 2 + Math.max(1, columns.length) * (W + GAP_X) - GAP_X,
    // Room below the boxes for the arcs of backward edges.
    height: PAD * 2 + Math.max(1, rows) * (H + GAP_Y) - GAP_Y + (back.size > 0 ? ARC : 0),
  };
}

function short(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function Graph(props: { nodes: GraphNode[]; edges: GraphEdge[]; current: string }) {
  const { nodes, edges, current } = props;
  if (nodes.length === 0) return <p class="muted">No workflow around this task.</p>;
  const l = layout(nodes, edges);
  return (
    <svg
      class="graph"
      id="workflow-graph"
      viewBox={`0 0 ${l.width} ${l.height}`}
      width={l.width}
      height={l.height}
      role="img"
      aria-label="workflow graph"
      data-nodes={String(nodes.length)}
      data-edges={String(edges.length)}
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="10"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
      </defs>
      {edges.map((e) => {
        const a = l.pos.get(e.from);
        const b = l.pos.get(e.to);
        if (!a || !b) return null;
        const x1 = a.x + W;
        const y1 = a.y + H / 2;
        const x2 = b.x;
        const y2 = b.y + H / 2;
        const mid = (x1 + x2) / 2;
        return (
          <path
            key={`${e.from}>${e.to}`}
            class={`edge edge-${e.kind}`}
            d={
              x2 > x1
                ? `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`
                : // Backwards (or within a column): an arc below the boxes, bottom to bottom.
                  `M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + ARC} ${b.x + W / 2},${b.y + H + ARC} ${b.x + W / 2},${b.y + H}`
            }
            marker-end="url(#arrow)"
          >
            <title>{e.kind}</title>
          </path>
        );
      })}
      {nodes.map((n) => {
        const p = l.pos.get(n.id);
        if (!p) return null;
        const box = (
          <g
            class={`node kind-${n.kind} state-${n.state.toLowerCase()}${n.id === current ? ' current' : ''}`}
          >
            <rect x={p.x} y={p.y} width={W} height={H} rx={n.kind === 'task' ? 6 : 18} />
            <text x={p.x + 10} y={p.y + 19} class="name">
              {short(n.kind === 'task' ? (n.name ?? '?') : `${n.kind}${n.name ? `: ${n.name}` : ''}`, 26)}
            </text>
            <text x={p.x + 10} y={p.y + 36} class="sub">
              {`${n.state} · ${short(n.id, 14)}`}
            </text>
            <title>{`${n.kind} ${n.name ?? ''} ${n.id} ${n.state}`}</title>
          </g>
        );
        return n.kind === 'task' ? (
          <a key={n.id} href={taskHref(n.id)} class="node-link" data-id={n.id}>
            {box}
          </a>
        ) : (
          <g key={n.id} data-id={n.id}>
            {box}
          </g>
        );
      })}
    </svg>
  );
}
