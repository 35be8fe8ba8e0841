// SPDX-License-Identifier: Apache-2.0
import type { QueryAnswerResponse } from '../api';
import { cell } from '../format';

const MAX_SHOWN = 1_000;

const NUMERIC = /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/;

/** A query answer as a table (its first 1,000 rows), numbers right-aligned. */
export function ResultTable({ answer }: { answer: QueryAnswerResponse }) {
  const numeric = answer.columns.map((c) => NUMERIC.test(c.type));
  return (
    <div class="result">
      <p class="muted small" data-testid="result-count">
        {answer.rows.length} row{answer.rows.length === 1 ? '' : 's'}
        {answer.rows.length > MAX_SHOWN ? ` (the first ${MAX_SHOWN} shown)` : ''}
      </p>
      <div class="scroll">
        <table class="grid" data-testid="result">
          <thead>
            <tr>
              {answer.columns.map((c) => (
                <th key={c.name} title={c.type}>
                  {c.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {answer.rows.slice(0, MAX_SHOWN).map((row, i) => (
              <tr key={i}>
                {row.map((v, j) => (
                  <td key={j} class={numeric[j] ? 'num' : ''}>
                    {cell(v)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export { NUMERIC };
