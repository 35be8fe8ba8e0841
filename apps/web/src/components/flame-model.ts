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
  /** the baseline's value of the same frame path, in a differential (0 otherwise) */
  base: number;
  depth: number;
  parent: FlameNode | null;
  /** heaviest first */
  children: FlameNode[];
}

export interface FoldedStack {
  folded: string;
  value: number;
  /** the baseline's value of the stack, in a differential */
  base?: number;
}

export function buildFlameTree(stacks: Iterable<FoldedStack>, rootName = 'all'): FlameNode {
  const root: FlameNode = {
    name: rootName,
    value: 0,
    self: 0,
    base: 0,
    depth: 0,
    parent: null,
    children: [],
  };
  const index = new Map<FlameNode, Map<string, FlameNode>>();
  // Widths are the target's: stacks only in the baseline draw nothing, but their base
  // still counts in the totals of the frames they share with the target, which the
  // second pass adds once the target's frames exist.
  const baseOnly: Array<{ folded: string; base: number }> = [];
  for (const { folded, value, base = 0 } of stacks) {
    if (!(value > 0)) {
      if (base > 0) baseOnly.push({ folded, base });
      continue;
    }
    root.value += value;
    root.base += base;
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
          base: 0,
          depth: node.depth + 1,
          parent: node,
          children: [],
        };
        byName.set(frame, child);
        node.children.push(child);
      }
      child.value += value;
      child.base += base;
      node = child;
    }
    node.self += value;
  }
  for (const { folded, base } of baseOnly) {
    root.base += base;
    let node: FlameNode | undefined = root;
    for (const frame of folded.split(';')) {
      if (frame === '') continue;
      node = index.get(node)?.get(frame);
      if (!node) break;
      node.base += base;
    }
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
