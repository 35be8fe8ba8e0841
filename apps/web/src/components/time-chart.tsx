// SPDX-License-Identifier: Apache-2.0
/**
 * A line chart of a query answer over its time column: one line per numeric
 * column (at most five), drawn as SVG. Shown only when the answer has both.
 * Other pages pass their own series, a fixed time range and a marker (a
 * vertical line at a moment, such as a crash).
 */
import type { QueryAnswerResponse } from '../api';
import { formatTime, num, parseTime } from '../format';
import { NUMERIC } from './result-table';

const TIME = /^(Nullable\()?(DateTime|Date)/;
const WIDTH = 900;
const HEIGHT = 240;
const PAD = { left: 70, right: 16, top: 12, bottom: 28 };
const MAX_SERIES = 5;
const MAX_DOTS = 200;

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

/** The series of an answer, or undefined when it has no time column or no numeric one. */
export function timeSeries(answer: QueryAnswerResponse): Series[] | undefined {
  const t = answer.columns.findIndex((c) => TIME.test(c.type));
  if (t < 0) return undefined;
  const series = answer.columns
    .map((c, i) => ({ c, i }))
    .filter(({ c, i }) => i !== t && NUMERIC.test(c.type))
    .slice(0, MAX_SERIES)
    .map(({ c, i }) => ({
      name: c.name,
      points: answer.rows
        .map((r): [number, number] => [parseTime(r[t]), Number(r[i])])
        .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
        .sort((a, b) => a[0] - b[0]),
    }))
    .filter((s) => s.points.length > 0);
  return series.length ? series : undefined;
}

export function TimeChart(props: {
  series: Series[];
  /** the time axis, in ms; by default that of the points */
  range?: [number, number];
  /** a vertical line at a time (ms), labelled */
  marker?: { at: number; label: string };
  title?: string;
  testId?: string;
}) {
  const { series, range, marker, title, testId = 'time-chart' } = props;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = range ?? [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  const sx = (x: number) =>
    PAD.left + ((x - x0) / Math.max(1, x1 - x0)) * (WIDTH - PAD.left - PAD.right);
  const sy = (y: number) =>
    HEIGHT - PAD.bottom - ((y - y0) / (y1 - y0 || 1)) * (HEIGHT - PAD.top - PAD.bottom);
  return (
    <figure class="chart" data-testid={testId}>
      {title && <div class="chart-title">{title}</div>}
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={title ?? 'time chart'}>
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={sy(y0)} y2={sy(y0)} class="axis" />
        <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={HEIGHT - PAD.bottom} class="axis" />
        <text x={PAD.left - 6} y={sy(y1) + 4} class="tick" text-anchor="end">
          {num(y1)}
        </text>
        <text x={PAD.left - 6} y={sy(y0) + 4} class="tick" text-anchor="end">
          {num(y0)}
        </text>
        <text x={PAD.left} y={HEIGHT - 8} class="tick">
          {formatTime(x0)}
        </text>
        <text x={WIDTH - PAD.right} y={HEIGHT - 8} class="tick" text-anchor="end">
          {formatTime(x1)}
        </text>
        {series.map((s, i) => (
          <g key={s.name} class={`series-${i}`}>
            <polyline
              class="line"
              points={s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}
            />
            {/* Few points: each as a dot too (a single one draws no line). */}
            {s.points.length <= MAX_DOTS &&
              s.points.map(([x, y], j) => (
                <circle key={j} cx={sx(x)} cy={sy(y)} r="2.5" class="point">
                  <title>{`${formatTime(x)} UTC · ${s.name} ${num(y)}`}</title>
                </circle>
              ))}
          </g>
        ))}
        {marker && (
          <g class="marker" data-testid="chart-marker">
            <line x1={sx(marker.at)} x2={sx(marker.at)} y1={PAD.top} y2={HEIGHT - PAD.bottom} />
            <text x={sx(marker.at) + 4} y={PAD.top + 10} class="tick">
              {marker.label}
            </text>
            <title>{`${formatTime(marker.at)} UTC · ${marker.label}`}</title>
          </g>
        )}
      </svg>
      <figcaption>
        {series.map((s, i) => (
          <span key={s.name} class={`legend series-${i}`}>
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
