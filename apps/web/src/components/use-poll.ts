// SPDX-License-Identifier: Apache-2.0
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';

export interface Polled<T> {
  data: T | undefined;
  error: string;
  reload: () => void;
}

/**
 * `load` now and then every `everyMs` (0: once) while the page is shown,
 * and again whenever `deps` change; the newest answer wins.
 */
export function usePoll<T>(
  load: () => Promise<T>,
  everyMs: number,
  deps: unknown[] = [],
): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await load();
        if (mine !== generation.current) return;
        setData(value);
        setError('');
      } catch (err) {
        if (mine !== generation.current) return;
        setError(err instanceof ApiError ? err.message : String(err));
      }
      if (everyMs > 0 && mine === generation.current) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      generation.current++;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
