// SPDX-License-Identifier: Apache-2.0
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, query, type QueryAnswerResponse } from '../api';
import { ResultTable } from '../components/result-table';
import { TimeChart, timeSeries } from '../components/time-chart';

const EXAMPLE = `SELECT toStartOfMinute(time) AS minute, sum(cpu_ns * weight) / 1e9 AS cpu_s
FROM fleettrace.cpu_profile FINAL
WHERE time > now() - INTERVAL 1 HOUR
GROUP BY minute
ORDER BY minute`;

/** A name as a ClickHouse identifier. */
const ident = (name: string) => `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;

interface Table {
  database: string;
  name: string;
  columns?: Array<{ name: string; type: string }>;
  open?: boolean;
}

/**
 * The SQL console: one statement through POST /api/v1/query (the API's own
 * checks and the role's limits apply), a schema browser made of SHOW TABLES
 * and DESCRIBE through the same route, the answer as a table and, when it
 * has a time column, as a chart.
 */
export function SqlPage() {
  const [sql, setSql] = useState(EXAMPLE);
  const [answer, setAnswer] = useState<QueryAnswerResponse | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [took, setTook] = useState(0);
  const editor = useRef<HTMLTextAreaElement>(null);

  const run = async () => {
    setBusy(true);
    setError('');
    const started = performance.now();
    try {
      setAnswer(await query(sql));
      setTook(performance.now() - started);
    } catch (err) {
      setAnswer(null);
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const insert = (text: string) => {
    const el = editor.current;
    if (!el) return setSql(`${sql} ${text}`);
    const at = el.selectionStart ?? sql.length;
    setSql(sql.slice(0, at) + text + sql.slice(el.selectionEnd ?? at));
    el.focus();
  };
  const series = answer ? timeSeries(answer) : undefined;
  return (
    <section class="sql">
      <h2>SQL</h2>
      <div class="sql-layout">
        <SchemaBrowser onPick={insert} />
        <div class="sql-main">
          <textarea
            ref={editor}
            name="sql"
            spellcheck={false}
            rows={8}
            value={sql}
            onInput={(e) => setSql(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void run();
              }
            }}
          />
          <div class="row">
            <button type="button" onClick={run} disabled={busy} data-testid="run-sql">
              {busy ? 'Running…' : 'Run (Ctrl+Enter)'}
            </button>
            <span class="muted small">
              One SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement; see docs/schema.md.
              {answer && ` ${Math.round(took)} ms.`}
            </span>
          </div>
          {error && (
            <p class="error" role="alert" data-testid="sql-error">
              {error}
            </p>
          )}
          {series && <TimeChart series={series} />}
          {answer && <ResultTable answer={answer} />}
        </div>
      </div>
    </section>
  );
}

function SchemaBrowser({ onPick }: { onPick: (text: string) => void }) {
  const [tables, setTables] = useState<Table[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const load = async () => {
      const found: Table[] = [];
      // The sensitive database is readable by admin tokens only: its refusal is no error here.
      for (const database of ['fleettrace', 'fleettrace_sensitive']) {
        try {
          const answer = await query(`SHOW TABLES FROM ${database}`);
          for (const [name] of answer.rows) found.push({ database, name: String(name) });
        } catch (err) {
          if (database === 'fleettrace') setError((err as Error).message);
        }
      }
      setTables(found);
    };
    void load();
  }, []);
  const toggle = async (t: Table) => {
    if (!t.columns) {
      try {
        const answer = await query(`DESCRIBE TABLE ${ident(t.database)}.${ident(t.name)}`);
        t.columns = answer.rows.map((r) => ({ name: String(r[0]), type: String(r[1]) }));
      } catch (err) {
        setError((err as Error).message);
        return;
      }
    }
    t.open = !t.open;
    setTables([...tables]);
  };
  return (
    <aside class="schema" data-testid="schema">
      <h3>Tables</h3>
      {error && <p class="error small">{error}</p>}
      <ul>
        {tables.map((t) => (
          <li key={`${t.database}.${t.name}`}>
            <button type="button" class="link" onClick={() => toggle(t)}>
              {t.open ? '▾' : '▸'} {t.database === 'fleettrace' ? '' : `${t.database}.`}
              {t.name}
            </button>
            <button
              type="button"
              class="link insert"
              title="insert the table's name"
              onClick={() => onPick(`${t.database}.${t.name}`)}
            >
              +
            </button>
            {t.open && (
              <ul class="columns">
                {(t.columns ?? []).map((c) => (
                  <li key={c.name}>
                    <button type="button" class="link" onClick={() => onPick(c.name)}>
                      {c.name}
                    </button>{' '}
                    <span class="muted small">{c.type}</span>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </aside>
  );
}
