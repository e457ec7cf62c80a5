import {
  DependencyList,
  useCallback,
  useEffect,
  useRef,
  useState,
} from 'react';

/** What {@link useLiveAsync} returns. */
export interface LiveAsyncState<T> {
  value?: T;
  error?: Error;
  /** True only until the first answer, so polling never flickers a spinner. */
  loading: boolean;
  /** Load again now. */
  reload: () => void;
}

/**
 * Loads data and, when `intervalMs` is given, keeps it fresh by polling.
 * Unlike react-use's useAsyncRetry, a reload keeps showing the last value
 * (a rollout page that blinks every five seconds is unreadable), and an
 * answer that arrives after the dependencies changed is dropped.
 */
export function useLiveAsync<T>(
  fn: () => Promise<T>,
  deps: DependencyList,
  intervalMs?: number,
): LiveAsyncState<T> {
  const [state, setState] = useState<{
    value?: T;
    error?: Error;
    loading: boolean;
  }>({ loading: true });
  const generation = useRef(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const load = useCallback(fn, deps);

  const reload = useCallback(() => {
    const mine = generation.current;
    load().then(
      value => {
        if (generation.current === mine) {
          setState({ value, loading: false });
        }
      },
      error => {
        if (generation.current === mine) {
          setState(s => ({ value: s.value, error, loading: false }));
        }
      },
    );
  }, [load]);

  useEffect(() => {
    generation.current += 1;
    setState({ loading: true });
    reload();
    if (!intervalMs) return undefined;
    const timer = setInterval(reload, intervalMs);
    return () => {
      clearInterval(timer);
      generation.current += 1;
    };
  }, [reload, intervalMs]);

  return { ...state, reload };
}
