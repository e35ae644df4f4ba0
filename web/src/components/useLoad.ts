import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';

/** Data being loaded: null until the first answer; `error` is the last failure's message. */
export interface Loaded<T> {
  data: T | null;
  error: string;
  reload: () => Promise<void>;
}

/** Loads data on mount (and when `deps` change); `reload` fetches it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  // The loader is re-made only when the caller's `deps` change.
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    try {
      setData(await run());
      setError('');
    } catch (e) {
      setError(messageOf(e));
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, reload };
}

/** The rows the API lists at `path` (with its query); none while `path` is null. */
export function useList<T>(path: string | null): Loaded<T[]> {
  return useLoad(() => (path ? api.get<T[]>(path) : Promise.resolve([])), [path]);
}
