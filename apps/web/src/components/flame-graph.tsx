// SPDX-License-Identifier: Apache-2.0
/**
 * An interactive flame graph, drawn as SVG: the root at the bottom, each
 * frame as wide as its share of the frame it zooms into. Click a frame to
 * zoom in (its ancestors stay below, full width; click one to zoom out),
 * type to highlight the frames whose name contains the text, hover for the
 * frame's value and its share of everything and of the zoomed frame.
 * A differential passes its own `color` and tooltip `detail` per frame.
 */
import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { ancestors, matchedValue, maxDepth, type FlameNode } from './flame-model';

const WIDTH = 1200;
const ROW = 18;
/** Frames narrower than this many pixels are not drawn (nor their children). */
const MIN_WIDTH = 0.4;
const CHAR = 6.6;

interface Placed {
  node: FlameNode;
  x: number;
  w: number;
  /** an ancestor of the zoomed frame */
  behind: boolean;
}

function place(focus: FlameNode): Placed[] {
  const out: Placed[] = ancestors(focus).map((node) => ({ node, x: 0, w: WIDTH, behind: true }));
  const walk = (node: FlameNode, x: number, w: number) => {
    out.push({ node, x, w, behind: false });
    let at = x;
    for (const child of node.children) {
      const cw = (child.value / node.value) * w;
      if (cw >= MIN_WIDTH) walk(child, at, cw);
      at += cw;
    }
  };
  walk(focus, 0, WIDTH);
  return out;
}

/** A warm color of the frame's name: the same frame has the same color in every graph. */
function colorOf(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
  const u = Math.abs(h);
  return `hsl(${(u % 50) + 5}, ${70 + (u % 20)}%, ${55 + ((u >> 8) % 15)}%)`;
}

/** Give it a new `key` with a new tree: its zoom and search belong to one tree. */
export function FlameGraph(props: {
  root: FlameNode;
  format: (value: number) => string;
  /** a frame's fill; by default a warm color of its name */
  color?: (node: FlameNode) => string;
  /** more lines of the tooltip of a frame */
  detail?: (node: FlameNode) => ComponentChildren;
}) {
  const { root, format, color = (node: FlameNode) => colorOf(node.name), detail } = props;
  const [focus, setFocus] = useState<FlameNode>(root);
  const [search, setSearch] = useState('');
  const [hover, setHover] = useState<{ node: FlameNode; x: number; y: number } | null>(null);
  const placed = useMemo(() => place(focus), [focus]);
  const depth = useMemo(() => maxDepth(root), [root]);
  const height = (depth + 1) * ROW;
  const term = search.trim().toLowerCase();
  const matched = term ? matchedValue(focus, term) : 0;
  const share = (v: number, of: number) => `${((v / (of || 1)) * 100).toFixed(2)}%`;
  return (
    <div class="flame" data-testid="flame-graph">
      <div class="row">
        <input
          type="search"
          placeholder="search frames"
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
        {term && (
          <span class="small">
            matched {format(matched)} ({share(matched, focus.value)} of the view)
          </span>
        )}
        <span class="spacer" />
        {focus !== root && (
          <button type="button" class="link" onClick={() => setFocus(root)}>
            Reset zoom
          </button>
        )}
      </div>
      <div class="flame-canvas">
        <svg
          viewBox={`0 0 ${WIDTH} ${height}`}
          width="100%"
          role="img"
          aria-label="flame graph"
          onMouseLeave={() => setHover(null)}
        >
          {placed.map(({ node, x, w, behind }) => {
            const y = height - (node.depth + 1) * ROW;
            const hit = term !== '' && node.name.toLowerCase().includes(term);
            const chars = Math.floor((w - 6) / CHAR);
            const label =
              chars < 3
                ? ''
                : node.name.length <= chars
                  ? node.name
                  : `${node.name.slice(0, chars - 1)}…`;
            return (
              <g
                key={`${node.depth}:${x}`}
                class={`frame${behind ? ' behind' : ''}${hit ? ' match' : ''}${term && !hit ? ' dim' : ''}`}
                onClick={() => setFocus(node)}
                onMouseMove={(e) => setHover({ node, x: e.offsetX, y: e.offsetY })}
              >
                <rect
                  x={x}
                  y={y}
                  width={Math.max(0, w - 0.5)}
                  height={ROW - 1}
                  rx="2"
                  fill={hit ? '#d946ef' : behind ? '#cbd5e1' : color(node)}
                />
                {label && (
                  <text x={x + 3} y={y + ROW - 5}>
                    {label}
                  </text>
                )}
              </g>
            );
          })}
        </svg>
        {hover && (
          <div class="tooltip" style={{ left: `${hover.x + 14}px`, top: `${hover.y + 14}px` }}>
            <div class="mono">{hover.node.name}</div>
            <div>
              {format(hover.node.value)} · {share(hover.node.value, root.value)} of all
              {focus !== root && ` · ${share(hover.node.value, focus.value)} of the zoomed frame`}
            </div>
            {hover.node.self > 0 && <div class="muted">self {format(hover.node.self)}</div>}
            {detail?.(hover.node)}
          </div>
        )}
      </div>
    </div>
  );
}
