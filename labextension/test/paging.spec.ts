import { MAX_PAGE, PageOf, PagedList, wholePage } from '../src/paging';

/** A server list of `names`, answered as `GET /datasets` pages are; it keeps the calls. */
function server(names: string[]) {
  const calls: [number, number][] = [];
  const fetchPage = async (offset: number, limit: number): Promise<PageOf<string>> => {
    calls.push([offset, limit]);
    const items = names.slice(offset, offset + limit);
    const after = offset + items.length;
    return {
      items,
      total: names.length,
      next_offset: after < names.length ? after : null
    };
  };
  return { calls, fetchPage };
}

const range = (n: number, prefix = 'd') =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const same = (s: string) => s;

describe('PagedList', () => {
  it('loads one page, then the next ones on demand, to the end', async () => {
    const { calls, fetchPage } = server(range(450));
    const list = new PagedList(fetchPage, same, 200);
    await list.reload();
    expect(list.items).toHaveLength(200);
    expect(list.total).toBe(450);
    expect(list.hasMore).toBe(true);
    await list.more();
    await list.more();
    expect(list.items).toEqual(range(450));
    expect(list.hasMore).toBe(false);
    await list.more(); // nothing left: no request
    expect(calls).toEqual([
      [0, 200],
      [200, 200],
      [400, 200]
    ]);
  });

  it('reloads as many items as were loaded, or one page after a reset', async () => {
    const { calls, fetchPage } = server(range(450));
    const list = new PagedList(fetchPage, same, 200);
    await list.reload();
    await list.more();
    calls.length = 0;
    await list.reload();
    expect(list.items).toHaveLength(400);
    expect(calls).toEqual([
      [0, 200],
      [200, 200]
    ]);
    await list.reload(true);
    expect(list.items).toHaveLength(200);
    expect(list.hasMore).toBe(true);
  });

  it('keeps an item once when the list moved on between two pages', async () => {
    const names = range(5);
    const { fetchPage } = server(names);
    const list = new PagedList(fetchPage, same, 2);
    await list.reload();
    names.unshift('new'); // d1 is now at offset 2, the next page's start
    await list.more();
    expect(list.items).toEqual(['d0', 'd1', 'd2']);
  });

  it('joins a second "more" to the first, and drops an answer a reload replaced', async () => {
    const { calls, fetchPage } = server(range(10));
    const list = new PagedList(fetchPage, same, 4);
    await list.reload();
    await Promise.all([list.more(), list.more()]);
    expect(calls).toHaveLength(2);
    expect(list.items).toHaveLength(8);

    let requests = 0;
    const slow = new PagedList(
      async (offset, limit) => {
        const page = await fetchPage(offset, limit);
        requests += 1;
        // The first reload's page answers last, with items of an older list.
        return requests === 1
          ? new Promise<PageOf<string>>(resolve =>
              setTimeout(() => resolve({ ...page, items: ['old'] }), 20)
            )
          : page;
      },
      same,
      4
    );
    await Promise.all([slow.reload(), slow.reload(true)]);
    expect(slow.items).toEqual(['d0', 'd1', 'd2', 'd3']);
  });

  it('stops on an empty page whatever next_offset says', async () => {
    const list = new PagedList(
      async () => ({ items: [], total: 3, next_offset: 0 }),
      same,
      2
    );
    await list.reload();
    expect(list.items).toEqual([]);
    expect(list.hasMore).toBe(false);
  });

  it('refuses a page size the server would refuse', () => {
    const { fetchPage } = server([]);
    expect(() => new PagedList(fetchPage, same, 0)).toThrow(RangeError);
    expect(() => new PagedList(fetchPage, same, MAX_PAGE + 1)).toThrow(RangeError);
  });

  it('holds a whole list as one page', async () => {
    const list = new PagedList(async () => wholePage(['a', 'b']), same);
    await list.reload();
    expect(list.items).toEqual(['a', 'b']);
    expect(list.total).toBe(2);
    expect(list.hasMore).toBe(false);
  });
});
