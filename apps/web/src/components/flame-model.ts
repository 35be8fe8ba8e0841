// SPDX-License-Identifier: Apache-2.0
/**
 * The tree a flame graph draws, from folded stacks ("root;child;leaf" and a
 * value, as flamegraph.pl reads them): each node's value is the sum of the
 * stacks through it, its self value what ends there.
 */
export interface FlameNode {
  name: string;
  value: number;
  self: number;
  depth: number;
  parent: FlameNode | null;
  /** heaviest first */
  children: FlameNode[];
}

export interface FoldedStack {
  folded: string;
  value: number;
}

export function buildFlameTree(stacks: Iterable<FoldedStack>, rootName = 'all'): FlameNode {
  const root: FlameNode = {
    name: rootName,
    value: 0,
    self: 0,
    depth: 0,
    parent: null,
    children: [],
  };
  const index = new Map<FlameNode, Map<string, FlameNode>>();
  for (const { folded, value } of stacks) {
    if (!(value > 0)) continue;
    root.value += value;
    let node = root;
    for (const frame of folded.split(';')) {
      if (frame === '') continue;
      let byName = index.get(node);
      if (!byName) index.set(node, (byName = new Map()));
      let child = byName.get(frame);
      if (!child) {
        child = {
          name: frame,
          value: 0,
          self: 0,
          depth: node.depth + 1,
          parent: node,
          children: [],
        };
        byName.set(frame, child);
        node.children.push(child);
      }
      child.value += value;
      node = child;
    }
    node.self += value;
  }
  const sort = (n: FlameNode): void => {
    n.children.sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
    n.children.forEach(sort);
  };
  sort(root);
  return root;
}

export function maxDepth(node: FlameNode): number {
  return node.children.reduce((d, c) => Math.max(d, maxDepth(c)), node.depth);
}

/** The ancestors of a node, root first, without the node. */
export function ancestors(node: FlameNode): FlameNode[] {
  const out: FlameNode[] = [];
  for (let n = node.parent; n; n = n.parent) out.unshift(n);
  return out;
}

/**
 * The value under `node` in frames whose name contains `term` (case
 * insensitive), each stack counted once however many of its frames match.
 */
export function matchedValue(node: FlameNode, term: string): number {
  const t = term.toLowerCase();
  const walk = (n: FlameNode): number =>
    n.name.toLowerCase().includes(t) ? n.value : n.children.reduce((s, c) => s + walk(c), 0);
  return walk(node);
}
