import { type RefObject, useCallback, useEffect, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";

/** One page of a long list, and how many rows the list has in all. */
export interface Page<T> {
  total: number;
  rows: T[];
}

/**
 * A long list shown virtualized and fetched a page at a time: only the rows on
 * screen are in the DOM, and a page is asked for when one of its rows scrolls
 * into view. A new `fetchPage` (new filters) starts the list over; answers to
 * an older list are dropped.
 */
export function usePagedRows<T>(options: {
  fetchPage: (offset: number, limit: number) => Promise<Page<T>>;
  onError: (e: unknown) => void;
  scrollRef: RefObject<HTMLDivElement | null>;
  pageSize: number;
  rowHeight: number;
  overscan?: number;
  /** Bump to reload the same list (after an edit). */
  version?: number;
}) {
  const { fetchPage, onError, scrollRef, pageSize, rowHeight } = options;
  const [total, setTotal] = useState<number | null>(null);
  const [pages, setPages] = useState<Map<number, T[]>>(new Map());
  const requested = useRef(new Set<number>());
  const generation = useRef(0);

  const loadPage = useCallback((index: number, current: number) => {
    if (requested.current.has(index)) return;
    requested.current.add(index);
    fetchPage(index * pageSize, pageSize)
      .then((page) => {
        if (current !== generation.current) return; // a newer list replaced this one
        setTotal(page.total);
        setPages((prev) => new Map(prev).set(index, page.rows));
      })
      .catch((e) => {
        if (current !== generation.current) return;
        requested.current.delete(index);
        // A list whose first page failed has nothing to show (not "Loading…").
        if (index === 0) setTotal(0);
        onError(e);
      });
  }, [fetchPage, onError, pageSize]);

  useEffect(() => {
    generation.current += 1;
    requested.current = new Set();
    setPages(new Map());
    setTotal(null);
    loadPage(0, generation.current);
  }, [loadPage, options.version]);

  const virtualizer = useVirtualizer({
    count: total ?? 0,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: options.overscan ?? 12,
  });
  const items = virtualizer.getVirtualItems();
  useEffect(() => {
    for (const item of items) loadPage(Math.floor(item.index / pageSize), generation.current);
  }, [items, loadPage, pageSize]);

  const rowAt = (index: number): T | undefined => pages.get(Math.floor(index / pageSize))?.[index % pageSize];
  return { total, items, totalSize: virtualizer.getTotalSize(), rowAt };
}
