import { ApiError, apiPath, LeptonApi, queryString } from '../src/api';

/** A fetcher that answers `status` and `body`, and keeps what it was asked. */
function fake(status: number, body: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetcher = async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return {
      ok: status < 400,
      status,
      statusText: 'status',
      text: async () => text
    } as Response;
  };
  return { calls, fetcher };
}

describe('LeptonApi', () => {
  it('joins the server base URL, not the page URL', () => {
    expect(new LeptonApi('/user/alice/', fake(200, {}).fetcher).url('datasets')).toBe(
      '/user/alice/lepton/api/v1/datasets'
    );
    expect(new LeptonApi('/base', fake(200, {}).fetcher).url('/whoami')).toBe(
      '/base/lepton/api/v1/whoami'
    );
  });

  it('searches with a query string and parses the page', async () => {
    const { calls, fetcher } = fake(200, { items: [{ ref: 'agri/wine' }], total: 1 });
    const page = await new LeptonApi('/', fetcher).datasets({
      q: 'wine',
      team: 'agri'
    });
    expect(page.items[0].ref).toBe('agri/wine');
    expect(calls[0].url).toBe('/lepton/api/v1/datasets?limit=200&q=wine&team=agri');
    expect(calls[0].init.method).toBe('GET');
  });

  it('asks for a page from an offset', async () => {
    const { calls, fetcher } = fake(200, { items: [], total: 0 });
    await new LeptonApi('/', fetcher).models({ team: 'agri', limit: 200, offset: 400 });
    expect(calls[0].url).toBe('/lepton/api/v1/models?limit=200&team=agri&offset=400');
    await new LeptonApi('/', fetcher).jobs({ limit: 50, offset: 50 });
    expect(calls[1].url).toBe('/lepton/api/v1/jobs?limit=50&offset=50');
  });

  it("changes a dataset's card with PATCH and says why not", async () => {
    const ok = fake(200, { ref: 'agri/wine', description: '# Wine' });
    const dataset = await new LeptonApi('/', ok.fetcher).updateDataset('agri/wine', {
      description: '# Wine',
      tags: ['chemistry']
    });
    expect(dataset.description).toBe('# Wine');
    expect(ok.calls[0].url).toBe('/lepton/api/v1/datasets/agri/wine');
    expect(ok.calls[0].init.method).toBe('PATCH');
    expect(JSON.parse(String(ok.calls[0].init.body))).toEqual({
      description: '# Wine',
      tags: ['chemistry']
    });
    const refused = fake(403, { error: 'Forbidden', message: 'needs the editor role' });
    await expect(
      new LeptonApi('/', refused.fetcher).updateDataset('agri/wine', { tags: [] })
    ).rejects.toMatchObject({ status: 403, message: 'needs the editor role' });
  });

  it('keeps the slash of team/name refs and encodes the rest', () => {
    expect(apiPath('datasets', 'agri/wine', 'versions', 2, 'profile')).toBe(
      'datasets/agri/wine/versions/2/profile'
    );
    expect(apiPath('jobs', 'a b')).toBe('jobs/a%20b');
  });

  it('drops empty query values', () => {
    expect(queryString({ q: '', team: undefined, limit: 5 })).toBe('?limit=5');
    expect(queryString({})).toBe('');
  });

  it('sends JSON bodies', async () => {
    const { calls, fetcher } = fake(201, { id: 'j1', status: 'queued' });
    const job = await new LeptonApi('/', fetcher).submit({
      template: 'dataset-report',
      parameters: { dataset: 'agri/wine' }
    });
    expect(job.id).toBe('j1');
    expect(calls[0].init.method).toBe('POST');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({
      template: 'dataset-report',
      parameters: { dataset: 'agri/wine' }
    });
  });

  it('promotes with PUT on the alias', async () => {
    const { calls, fetcher } = fake(200, {});
    await new LeptonApi('/', fetcher).promote('medical/diagnosis', 'production', 2);
    expect(calls[0].url).toBe(
      '/lepton/api/v1/models/medical/diagnosis/aliases/production'
    );
    expect(calls[0].init.method).toBe('PUT');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({ version: 2 });
  });

  it('turns JSON errors into ApiError with the server message', async () => {
    const { fetcher } = fake(404, { error: 'NotFound', message: 'no dataset a/b' });
    const error = await new LeptonApi('/', fetcher).dataset('a/b').catch(e => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(404);
    expect(error.error).toBe('NotFound');
    expect(error.message).toBe('no dataset a/b');
  });

  it('keeps a non-JSON error text', async () => {
    const { fetcher } = fake(500, 'boom');
    await expect(new LeptonApi('/', fetcher).whoami()).rejects.toThrow('boom');
  });

  it('reads a notebook as text', async () => {
    const { fetcher } = fake(200, '{"cells": []}');
    await expect(new LeptonApi('/', fetcher).notebook('j1')).resolves.toBe(
      '{"cells": []}'
    );
  });
});
