/**
 * Paging through a list that the server answers a page at a time (`GET /datasets`,
 * `/models`, `/jobs`: `limit` and `offset` in, `items`, `total` and `next_offset` out).
 * No DOM here, so that jest tests it.
 */

/** The server's largest page (`lepton_lab.paging.MAX_LIMIT`). */
export const MAX_PAGE = 500;

/** What a page answer holds that paging needs. */
export interface PageOf<T> {
  items: T[];
  total: number;
  next_offset: number | null;
}

/** Fetches the page of at most `limit` items from `offset`. */
export type FetchPage<T> = (offset: number, limit: number) => Promise<PageOf<T>>;

/** A list loaded page by page: `reload()` from the start, `more()` for the next page. */
export class PagedList<T> {
  private loaded: T[] = [];
  private nextOffset: number | null = null;
  private count = 0;
  // Bumped by every reload, so that an answer to an older request is dropped, not mixed
  // into the list that replaced it.
  private generation = 0;
  private pending: Promise<void> | null = null;

  /**
   * @param fetchPage how to fetch a page (it reads the current filters itself)
   * @param key an item's identity: an item that a page repeats (the list moved on the
   *   server between two pages) is kept once
   * @param pageSize items per page (1 to `MAX_PAGE`)
   */
  constructor(
    private readonly fetchPage: FetchPage<T>,
    private readonly key: (item: T) => string,
    readonly pageSize = 200
  ) {
    if (!(pageSize >= 1 && pageSize <= MAX_PAGE)) {
      throw new RangeError(`page size must be between 1 and ${MAX_PAGE}`);
    }
  }

  /** The items loaded so far, in the server's order. */
  get items(): readonly T[] {
    return this.loaded;
  }

  /** How many items the server has in all (for the current filters). */
  get total(): number {
    return this.count;
  }

  /** Whether the server has items past those loaded. */
  get hasMore(): boolean {
    return this.nextOffset !== null;
  }

  /**
   * Fetches the list again from its start: as many items as were loaded (so that a poll
   * keeps what "Load more" brought), or one page when `reset` (the filters changed).
   */
  async reload(reset = false): Promise<void> {
    const generation = ++this.generation;
    this.pending = null;
    const want = reset ? this.pageSize : Math.max(this.pageSize, this.loaded.length);
    const items: T[] = [];
    const seen = new Set<string>();
    let offset: number | null = 0;
    let total = 0;
    while (offset !== null && items.length < want) {
      const page: PageOf<T> = await this.fetchPage(offset, this.pageSize);
      if (generation !== this.generation) {
        return;
      }
      this.add(items, seen, page.items);
      total = page.total;
      offset = page.items.length ? page.next_offset : null;
    }
    this.loaded = items;
    this.nextOffset = offset;
    this.count = total;
  }

  /** Fetches the next page and appends it; one at a time (a second call joins the first). */
  more(): Promise<void> {
    if (this.nextOffset === null) {
      return Promise.resolve();
    }
    if (!this.pending) {
      const generation = this.generation;
      const offset = this.nextOffset;
      this.pending = this.fetchPage(offset, this.pageSize)
        .then(page => {
          if (generation !== this.generation) {
            return;
          }
          const items = [...this.loaded];
          this.add(items, new Set(items.map(this.key)), page.items);
          this.loaded = items;
          this.nextOffset = page.items.length ? page.next_offset : null;
          this.count = page.total;
        })
        .finally(() => {
          if (generation === this.generation) {
            this.pending = null;
          }
        });
    }
    return this.pending;
  }

  private add(items: T[], seen: Set<string>, page: T[]): void {
    for (const item of page) {
      const key = this.key(item);
      if (!seen.has(key)) {
        seen.add(key);
        items.push(item);
      }
    }
  }
}

/** A list the server answers whole (`GET /templates`), as one page. */
export function wholePage<T>(items: T[]): PageOf<T> {
  return { items, total: items.length, next_offset: null };
}
