/**
 * The workflow graph of a task page, from events and what the result backend stores:
 *  - the family: every task held with the same root id (events' root_id), the parents up to the root
 *    and each task's stored `children` (result tuples `[[id, parent], null]`), at most MAX_NODES;
 *  - groups: tasks whose stored meta has the same `group_id` become the members of one group node;
 *  - chords: a group whose member is the parent of a task that is not among that member's stored
 *    children is a chord, and that task its body. (A chord's body is applied by the header part that
 *    completed it, after that part's result was stored, so it is never listed as its child; a task sent
 *    from inside a task, or a chain's next step, is.) Edges then go from every header member to the body;
 *  - parent → child edges: 'chain' when the child was sent after the parent finished (a chain's next
 *    step, or a link), 'child' when during its run (sent from inside the task).
 * Without a backend (or when nothing is stored) the graph is the parent/child tree the events give.
 */
import type { ResultBackend } from '../backends/backend.js';
import type { ResultMeta } from '../protocol/result.js';
import type { GraphEdge, GraphNode } from './api-types.js';
import type { ClusterTask, TaskStore } from './tasks.js';

const MAX_NODES = 200;
/** Seconds around a group member's sending in which its fellow members are looked for, and how many. */
const GROUP_WINDOW = 10;
const GROUP_CANDIDATES = 64;

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The ids in Celery's stored `children`: result tuples `[[id, parent], null]` or group tuples. */
export function childIds(children: unknown): string[] {
  if (!Array.isArray(children)) return [];
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (!Array.isArray(v)) return;
    const [head, rest] = v as [unknown, unknown];
    if (Array.isArray(head) && typeof head[0] === 'string') {
      // [[id, parent], null] is a task; [[gid, null], [members…]] is a group: take its members.
      if (Array.isArray(rest)) for (const m of rest) walk(m);
      else out.push(head[0]);
    }
  };
  for (const c of children) walk(c);
  return out;
}

interface Node {
  id: string;
  task: ClusterTask | undefined;
  meta: ResultMeta | null;
}

export async function workflowGraph(
  id: string,
  store: TaskStore,
  backend: ResultBackend | null,
  metaOf: (id: string) => Promise<ResultMeta | null>,
): Promise<Graph> {
  const nodes = new Map<string, Node>();
  const add = async (next: string, follow: boolean): Promise<Node | null> => {
    if (nodes.has(next)) return nodes.get(next) as Node;
    const task = store.get(next);
    const meta = backend ? await metaOf(next) : null;
    if (!task && !meta && next !== id) return null;
    const n = { id: next, task, meta };
    nodes.set(next, n);
    if (follow) {
      const parent = task?.parent_id ?? meta?.parent_id;
      if (parent) queue.push(parent);
      for (const c of task?.children ?? []) queue.push(c);
      for (const c of childIds(meta?.children)) queue.push(c);
    }
    return n;
  };
  const queue: string[] = [id];
  const self = store.get(id);
  const root = self?.root_id ?? id;
  queue.push(root);
  for (const t of store.family(root)) queue.push(t.uuid);
  // Walk up the parents and down the stored children until the bound.
  while (queue.length && nodes.size < MAX_NODES) await add(queue.shift() as string, true);
  // The other members of each group seen: the saved group when there is one, else the tasks held that
  // were sent with a member (same parent, within GROUP_WINDOW s), kept when their meta names the group.
  const savedGroups = new Map<string, string[] | null>();
  const tried = new Set<string>();
  for (const n of [...nodes.values()]) {
    const g = n.meta?.group_id;
    if (!g || !backend) continue;
    if (!savedGroups.has(g)) savedGroups.set(g, await backend.getGroup(g).catch(() => null));
    const saved = savedGroups.get(g) ?? null;
    const candidates = saved ?? store.sentWith(n.task, GROUP_WINDOW, GROUP_CANDIDATES).map((t) => t.uuid);
    for (const c of candidates) {
      if (nodes.size >= MAX_NODES) break;
      if (nodes.has(c) || tried.has(c)) continue;
      tried.add(c);
      const meta = await metaOf(c);
      if (!(saved || meta?.group_id === g)) continue;
      const task = store.get(c);
      nodes.set(c, { id: c, task, meta });
      // A chord's body is a child (by parent_id) of the member that completed it.
      for (const ch of task?.children ?? []) await add(ch, false);
    }
  }

  const out: Graph = { nodes: [], edges: [] };
  const groupOf = new Map<string, string>();
  const groups = new Map<string, string[]>();
  for (const n of nodes.values()) {
    out.nodes.push({ id: n.id, name: n.task?.name ?? n.meta?.name ?? null, state: stateOf(n), kind: 'task' });
    const g = n.meta?.group_id;
    if (g) {
      groupOf.set(n.id, g);
      let m = groups.get(g);
      if (!m) {
        m = [];
        groups.set(g, m);
      }
      m.push(n.id);
    }
  }
  const parentOf = (n: Node) => n.task?.parent_id ?? n.meta?.parent_id ?? null;
  const storedChildren = new Map<string, Set<string>>();
  for (const n of nodes.values()) storedChildren.set(n.id, new Set(childIds(n.meta?.children)));

  // Chord bodies: a task whose parent is a group member and that the parent did not list as its child
  // (the body may carry the chord's group id itself, as Celery stores it: then it leaves the members).
  const bodyOf = new Map<string, string>();
  for (const n of nodes.values()) {
    const p = parentOf(n);
    if (!p || !nodes.has(p)) continue;
    const g = groupOf.get(p);
    if (g && !storedChildren.get(p)?.has(n.id) && nodes.get(p)?.meta) {
      bodyOf.set(g, n.id);
      if (groupOf.get(n.id) === g) {
        groupOf.delete(n.id);
        const m = groups.get(g) as string[];
        m.splice(m.indexOf(n.id), 1);
      }
    }
  }
  for (const [g, members] of groups) {
    const body = bodyOf.get(g);
    out.nodes.push({ id: g, name: null, state: groupState(members, nodes), kind: body ? 'chord' : 'group' });
    for (const m of members) out.edges.push({ from: g, to: m, kind: 'group' });
    if (body) for (const m of members) out.edges.push({ from: m, to: body, kind: 'body' });
    // What the members came from points at the group, once.
    const parents = new Set(
      members.map((m) => parentOf(nodes.get(m) as Node)).filter((p) => p && nodes.has(p)),
    );
    for (const p of parents) out.edges.push({ from: p as string, to: g, kind: 'child' });
  }
  const bodies = new Set(bodyOf.values());
  for (const n of nodes.values()) {
    const p = parentOf(n);
    if (!p || !nodes.has(p) || bodies.has(n.id) || groupOf.has(n.id)) continue;
    out.edges.push({ from: p, to: n.id, kind: chainOrChild(nodes.get(p) as Node, n) });
  }
  return out;
}

function stateOf(n: Node): string {
  return n.task?.state ?? n.meta?.status ?? 'PENDING';
}

function groupState(members: string[], nodes: Map<string, Node>): string {
  const states = members.map((m) => stateOf(nodes.get(m) as Node));
  if (states.some((s) => s === 'FAILURE')) return 'FAILURE';
  if (states.every((s) => s === 'SUCCESS')) return 'SUCCESS';
  return states.some((s) => s === 'STARTED' || s === 'SUCCESS') ? 'STARTED' : 'PENDING';
}

function chainOrChild(parent: Node, child: Node): 'chain' | 'child' {
  const done = parent.task?.succeeded ?? parent.task?.failed ?? null;
  const sent = child.task?.sent ?? child.task?.received ?? null;
  return done !== null && sent !== null && sent >= done ? 'chain' : 'child';
}
