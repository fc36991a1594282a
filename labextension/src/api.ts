/**
 * The REST client: every call the extension makes goes through here, to
 * `{base_url}lepton/api/v1/`, typed by src/api.gen.ts (generated from the server's
 * OpenAPI document). It takes a `Fetcher`, so that the plugin hands it JupyterLab's
 * authenticated `ServerConnection.makeRequest` and the unit tests a fake.
 */
import type { components, operations } from './api.gen';

export type Schemas = components['schemas'];
export type Dataset = Schemas['DatasetInfo'];
export type DatasetVersion = Schemas['VersionInfo'];
export type Profile = Schemas['Profile'];
export type Preview = Schemas['Preview'];
export type Model = Schemas['ModelInfo'];
export type ModelVersion = Schemas['ModelVersionInfo'];
export type Template = Schemas['TemplateInfo'];
export type Parameter = Schemas['ParameterSpec'];
export type Job = Schemas['JobInfo'];
export type Schedule = Schemas['ScheduleInfo'];
export type LogChunk = Schemas['LogChunk'];
export type RecordValue = Schemas['RecordInfo'];
export type Reproduction = Schemas['Reproduction'];
export type Team = Schemas['TeamInfo'];
export type Event = Schemas['EventInfo'];

type JsonBody<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type Body<Op extends keyof operations> = JsonBody<
  NonNullable<operations[Op]['requestBody']>
>;
export type JobSubmission = Body<'jobs_submit'>;
export type TemplatePublication = Body<'templates_publish'>;
export type ModelUpdate = Body<'models_update'>;
export type DatasetUpdate = Body<'datasets_update'>;

/** A search's filters and the page wanted (`limit` 1 to 500, `offset` from 0). */
export interface SearchQuery {
  q?: string;
  team?: string;
  limit?: number;
  offset?: number;
}

/** A page of a search, as `GET /datasets`, `/models` and `/jobs` answer. */
export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
  next_offset: number | null;
}

/** Who the server says you are: your teams and roles. */
export interface WhoAmI {
  user: string;
  site_admin: boolean;
  teams: Record<string, string>;
}

/** Sends one request; resolves to the response whatever its status. */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** A refusal of the server: its status, error class and message (shown to the user). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Joins path segments, each URL-encoded except the slashes of `team/name` refs. */
export function apiPath(...segments: (string | number)[]): string {
  return segments
    .map(s => String(s).split('/').map(encodeURIComponent).join('/'))
    .join('/');
}

/** A query string from the defined, non-empty values of `query`. */
export function queryString(query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      params.set(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The REST API of one server. */
export class LeptonApi {
  /**
   * @param baseUrl the Jupyter server's base URL (`PageConfig`'s, ending in `/`)
   * @param fetcher how to send a request (authenticated by the caller)
   */
  constructor(
    readonly baseUrl: string,
    private readonly fetcher: Fetcher
  ) {}

  /** The absolute URL of API path `path`. */
  url(path: string): string {
    const base = this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`;
    return `${base}lepton/api/v1/${path.replace(/^\//, '')}`;
  }

  /** Sends a request; the parsed JSON answer, or an `ApiError`. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    const response = await this.fetcher(this.url(path), init);
    const text = await response.text();
    if (!response.ok) {
      let error = 'HTTPError';
      let message = text || response.statusText;
      try {
        const parsed = JSON.parse(text);
        error = parsed.error ?? error;
        message = parsed.message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new ApiError(response.status, error, message);
    }
    return (text ? JSON.parse(text) : null) as T;
  }

  whoami(): Promise<WhoAmI> {
    return this.request('GET', 'whoami');
  }
  teams(): Promise<{ items: Team[] }> {
    return this.request('GET', 'teams');
  }

  datasets(query: SearchQuery = {}): Promise<Page<Dataset>> {
    return this.request('GET', `datasets${queryString({ limit: 200, ...query })}`);
  }
  dataset(ref: string): Promise<Dataset> {
    return this.request('GET', apiPath('datasets', ref));
  }
  updateDataset(ref: string, update: DatasetUpdate): Promise<Dataset> {
    return this.request('PATCH', apiPath('datasets', ref), update);
  }
  datasetVersions(ref: string): Promise<{ items: DatasetVersion[] }> {
    return this.request('GET', apiPath('datasets', ref, 'versions'));
  }
  profile(ref: string, version: number | 'latest'): Promise<Profile> {
    return this.request(
      'GET',
      apiPath('datasets', ref, 'versions', version, 'profile')
    );
  }
  preview(ref: string, version: number | 'latest', limit = 20): Promise<Preview> {
    const path = apiPath('datasets', ref, 'versions', version, 'preview');
    return this.request('GET', `${path}${queryString({ limit })}`);
  }

  models(query: SearchQuery = {}): Promise<Page<Model>> {
    return this.request('GET', `models${queryString({ limit: 200, ...query })}`);
  }
  model(ref: string): Promise<Model> {
    return this.request('GET', apiPath('models', ref));
  }
  modelVersions(ref: string): Promise<{ items: ModelVersion[] }> {
    return this.request('GET', apiPath('models', ref, 'versions'));
  }
  updateModel(ref: string, update: ModelUpdate): Promise<Model> {
    return this.request('PATCH', apiPath('models', ref), update);
  }
  promote(ref: string, alias: string, version: number): Promise<Model> {
    return this.request('PUT', apiPath('models', ref, 'aliases', alias), { version });
  }

  templates(query: { q?: string; team?: string } = {}): Promise<{ items: Template[] }> {
    return this.request('GET', `templates${queryString(query)}`);
  }
  template(name: string): Promise<Template> {
    return this.request('GET', apiPath('templates', name));
  }
  publish(publication: TemplatePublication): Promise<Template> {
    return this.request('POST', 'templates', publication);
  }

  jobs(
    query: { user?: string; status?: string; limit?: number; offset?: number } = {}
  ): Promise<Page<Job>> {
    return this.request('GET', `jobs${queryString({ limit: 100, ...query })}`);
  }
  schedules(): Promise<{ items: Schedule[] }> {
    return this.request('GET', 'schedules');
  }
  job(id: string): Promise<Job> {
    return this.request('GET', apiPath('jobs', id));
  }
  submit(submission: JobSubmission): Promise<Job> {
    return this.request('POST', 'jobs', submission);
  }
  cancel(id: string): Promise<Job> {
    return this.request('POST', apiPath('jobs', id, 'cancel'), {});
  }
  rerun(id: string): Promise<Job> {
    return this.request('POST', apiPath('jobs', id, 'rerun'), {});
  }
  reproduction(id: string): Promise<Reproduction> {
    return this.request('GET', apiPath('jobs', id, 'reproduction'));
  }
  logs(id: string, after = 0): Promise<{ items: LogChunk[] }> {
    return this.request(
      'GET',
      `${apiPath('jobs', id, 'logs')}${queryString({ after })}`
    );
  }
  records(id: string): Promise<{ items: RecordValue[] }> {
    return this.request('GET', apiPath('jobs', id, 'records'));
  }
  /** The executed notebook's text (404 until the job has ended). */
  async notebook(id: string): Promise<string> {
    const response = await this.fetcher(this.url(apiPath('jobs', id, 'notebook')), {
      method: 'GET'
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = JSON.parse(text).message ?? text;
      } catch {
        // keep the text
      }
      throw new ApiError(response.status, 'HTTPError', message);
    }
    return text;
  }
}
