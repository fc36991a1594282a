/**
 * The extension's pure logic: formatting, filtering, sorting, the parameter form's fields
 * and their parsing, a notebook's parameters cell, the code lines it inserts and the
 * shapes of its charts. No DOM and no JupyterLab here, so that jest tests all of it.
 */
import type { Job, ModelVersion, Parameter } from './api';

/** `1.2 MB`, `532 B`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0
    ? `${value} B`
    : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `12,345`. */
export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '' : n.toLocaleString('en-US');
}

/** A metric or recorded number, to 4 significant digits. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? String(value)
      : String(Number(value.toPrecision(4)));
  }
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** How long ago ISO time `iso` was, from `now`: `just now`, `5 min ago`, `3 h ago`, a date. */
export function formatAgo(
  iso: string | null | undefined,
  now: Date = new Date()
): string {
  if (!iso) {
    return '';
  }
  const seconds = (now.getTime() - new Date(iso).getTime()) / 1000;
  if (seconds < 60) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return iso.slice(0, 10);
}

/** Seconds between a job's start and its end (or `now`): `42 s`, `3 min 5 s`. */
export function jobDuration(
  job: Pick<Job, 'started_at' | 'ended_at'>,
  now = new Date()
): string {
  if (!job.started_at) {
    return '';
  }
  const end = job.ended_at ? new Date(job.ended_at) : now;
  const total = Math.max(
    0,
    Math.round((end.getTime() - new Date(job.started_at).getTime()) / 1000)
  );
  const minutes = Math.floor(total / 60);
  return minutes ? `${minutes} min ${total % 60} s` : `${total} s`;
}

/** Statuses a job does not leave. */
export const ENDED = ['succeeded', 'failed', 'cancelled', 'lost'];

/** Whether the job has ended. */
export function hasEnded(job: Pick<Job, 'status'>): boolean {
  return ENDED.includes(job.status);
}

/** The share of cells done, 0 to 1. */
export function jobProgress(
  job: Pick<Job, 'status' | 'cells_done' | 'cells_total'>
): number {
  if (job.status === 'succeeded') {
    return 1;
  }
  return job.cells_total > 0 ? Math.min(1, job.cells_done / job.cells_total) : 0;
}

/** What the job ran: its template, or the notebook submitted. */
export function jobTitle(job: Pick<Job, 'template' | 'template_version'>): string {
  return job.template_version
    ? `${job.template}@${job.template_version}`
    : job.template;
}

/** Why a job failed, was cancelled or lost, in one line. */
export function jobReason(job: Pick<Job, 'reason'>): string {
  const reason = job.reason as Record<string, unknown> | null;
  if (!reason) {
    return '';
  }
  const parts = [reason.kind, reason.ename, reason.evalue ?? reason.message];
  return parts.filter(p => p !== undefined && p !== null && p !== '').join(': ');
}

/** Keys the Jobs panel sorts by. */
export type JobSortKey = 'created_at' | 'status' | 'template' | 'submitted_by' | 'team';

/** Jobs sorted by `key`, ascending or not; ties keep the newest first. */
export function sortJobs(jobs: Job[], key: JobSortKey, ascending: boolean): Job[] {
  const sign = ascending ? 1 : -1;
  return [...jobs].sort((a, b) => {
    const x = String(a[key] ?? '');
    const y = String(b[key] ?? '');
    if (x !== y) {
      return x < y ? -sign : sign;
    }
    return a.created_at < b.created_at ? 1 : -1;
  });
}

/** An item of a sidebar section: what it shows and searches. */
export interface Listed {
  key: string;
  label: string;
  detail: string;
  team: string;
  text: string;
}

/** The items whose text holds every word of `query`, of `team` when one is chosen. */
export function filterListed<T extends Listed>(
  items: T[],
  query: string,
  team: string
): T[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return items.filter(item => {
    if (team && item.team !== team) {
      return false;
    }
    const text = item.text.toLowerCase();
    return words.every(word => text.includes(word));
  });
}

/** The index the selection moves to on key `key` in a list of `count`, or null. */
export function moveSelection(
  key: string,
  current: number,
  count: number
): number | null {
  if (count === 0) {
    return null;
  }
  switch (key) {
    case 'ArrowDown':
      return Math.min(count - 1, current + 1);
    case 'ArrowUp':
      return Math.max(0, current - 1);
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return null;
  }
}

/** A Python string literal of `text`. */
export function pyString(text: string): string {
  return JSON.stringify(text);
}

/** The code that loads dataset version `ref` in a notebook. */
export function datasetLoadLine(ref: string): string {
  return `import lepton_lab as ll\n\ndf = ll.datasets.load(${pyString(ref)})\ndf.head()`;
}

/** The code that loads model version `ref` in a notebook. */
export function modelLoadLine(ref: string): string {
  return `import lepton_lab as ll\n\nmodel = ll.models.load(${pyString(ref)})`;
}

/** One field of a parameter form. */
export interface Field {
  name: string;
  label: string;
  input: 'text' | 'number' | 'integer' | 'checkbox' | 'select' | 'json';
  type: string;
  required: boolean;
  initial: string;
  checked: boolean;
  help: string;
  choices: string[];
}

const NUMBER_TYPES = ['float', 'number'];
const INTEGER_TYPES = ['int', 'integer'];
const BOOL_TYPES = ['bool', 'boolean'];
const JSON_TYPES = ['list', 'dict', 'tuple', 'object', 'array'];

/** How a default value shows in a text input. */
function initialText(param: Parameter, input: Field['input']): string {
  const value = param.default;
  if (value === null || value === undefined) {
    return '';
  }
  if (input === 'json') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** The form fields of a template's (or a notebook's) parameters. */
export function formFields(parameters: Parameter[]): Field[] {
  return parameters.map(param => {
    const type = (param.type || 'str').toLowerCase();
    let input: Field['input'] = 'text';
    if (param.choices && param.choices.length) {
      input = 'select';
    } else if (BOOL_TYPES.includes(type)) {
      input = 'checkbox';
    } else if (INTEGER_TYPES.includes(type)) {
      input = 'integer';
    } else if (NUMBER_TYPES.includes(type)) {
      input = 'number';
    } else if (JSON_TYPES.some(t => type.startsWith(t))) {
      input = 'json';
    }
    return {
      name: param.name,
      label: param.name.replace(/_/g, ' '),
      input,
      type,
      required: Boolean(param.required),
      initial: initialText(param, input),
      checked: param.default === true,
      help: param.help || '',
      choices: (param.choices ?? []).map(c => String(c))
    };
  });
}

/** A field's value parsed from its input, or the error to show beside it. */
export type Parsed =
  { value: unknown; error?: undefined } | { value?: undefined; error: string };

/** Parses what was typed (or checked) in `field`. An empty optional field is `undefined`. */
export function parseField(field: Field, raw: string | boolean): Parsed {
  if (field.input === 'checkbox') {
    return { value: Boolean(raw) };
  }
  const text = String(raw).trim();
  if (text === '') {
    return field.required ? { error: 'required' } : { value: undefined };
  }
  switch (field.input) {
    case 'integer':
      return /^[-+]?\d+$/.test(text)
        ? { value: Number(text) }
        : { error: 'a whole number' };
    case 'number': {
      const value = Number(text);
      return Number.isFinite(value) ? { value } : { error: 'a number' };
    }
    case 'json':
      try {
        return { value: JSON.parse(text) };
      } catch {
        return { error: 'JSON, such as [1, 2] or {"a": 1}' };
      }
    case 'select':
      return field.choices.includes(text)
        ? { value: text }
        : { error: 'one of the choices' };
    default:
      return { value: text };
  }
}

/** The parameters of a form, and the errors by field name (empty when none). */
export function collectParameters(
  fields: Field[],
  raws: Record<string, string | boolean>
): { values: Record<string, unknown>; errors: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const parsed = parseField(
      field,
      raws[field.name] ?? (field.input === 'checkbox' ? false : '')
    );
    if (parsed.error !== undefined) {
      errors[field.name] = parsed.error;
    } else if (parsed.value !== undefined) {
      values[field.name] = parsed.value;
    }
  }
  return { values, errors };
}

/** Parameters changed from their defaults only, so the template's own defaults stay. */
export function changedParameters(
  fields: Field[],
  values: Record<string, unknown>
): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const field of fields) {
    if (!(field.name in values)) {
      continue;
    }
    const value = values[field.name];
    const initial = field.input === 'checkbox' ? field.checked : field.initial;
    const shown = field.input === 'json' ? JSON.stringify(value) : value;
    if (field.required || String(shown) !== String(initial)) {
      changed[field.name] = value;
    }
  }
  return changed;
}

/** A Python literal of a parameters cell, as JSON-able value and type name; null if not one. */
export function pythonLiteral(text: string): { value: unknown; type: string } | null {
  const t = text.trim();
  if (/^[-+]?\d+$/.test(t)) {
    return { value: Number(t), type: 'int' };
  }
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(t)) {
    return { value: Number(t), type: 'float' };
  }
  if (t === 'True' || t === 'False') {
    return { value: t === 'True', type: 'bool' };
  }
  if (t === 'None') {
    return { value: null, type: 'NoneType' };
  }
  const quoted = /^(?:[rRbBuU]?)(['"])(.*)\1$/.exec(t);
  if (quoted) {
    return { value: quoted[2].replace(/\\(['"\\])/g, '$1'), type: 'str' };
  }
  if (/^[[{(]/.test(t)) {
    const json = t
      .replace(/\bTrue\b/g, 'true')
      .replace(/\bFalse\b/g, 'false')
      .replace(/\bNone\b/g, 'null')
      .replace(/'/g, '"')
      .replace(/^\((.*)\)$/, '[$1]')
      .replace(/,\s*([\]}])/g, '$1');
    try {
      const value = JSON.parse(json);
      return { value, type: Array.isArray(value) ? 'list' : 'dict' };
    } catch {
      return null;
    }
  }
  return null;
}

/** A notebook's cells, as nbformat has them. */
export interface NotebookLike {
  cells?: {
    cell_type: string;
    source: string | string[];
    metadata?: { tags?: string[] };
  }[];
}

/**
 * The parameters of a notebook's cell tagged `parameters`: one per `name = literal` line
 * (`name: type = literal` too), a trailing comment being its help, as papermill reads it.
 * Null when the notebook has no such cell.
 */
export function notebookParameters(notebook: NotebookLike): Parameter[] | null {
  const cell = (notebook.cells ?? []).find(
    c => c.cell_type === 'code' && (c.metadata?.tags ?? []).includes('parameters')
  );
  if (!cell) {
    return null;
  }
  const source = Array.isArray(cell.source) ? cell.source.join('') : cell.source;
  const parameters: Parameter[] = [];
  for (const line of source.split('\n')) {
    const match =
      /^([A-Za-z_]\w*)\s*(?::\s*([\w.[\], ]+?))?\s*=\s*(.*?)\s*(?:#\s*(.*))?$/.exec(
        line
      );
    if (!match) {
      continue;
    }
    const literal = pythonLiteral(match[3]);
    const declared = match[2]?.trim();
    parameters.push({
      name: match[1],
      type: declared || literal?.type || 'str',
      default: literal ? literal.value : match[3],
      default_source: match[3],
      help: match[4] ?? '',
      required: false,
      optional: declared?.startsWith('Optional') ?? false,
      kind: 'value',
      choices: null
    });
  }
  return parameters;
}

/** Heights (0 to 1) of a histogram's bars, the highest being 1. */
export function barHeights(counts: number[]): number[] {
  const top = Math.max(0, ...counts);
  return counts.map(c => (top > 0 ? c / top : 0));
}

/** Each metric's values over a model's versions, oldest first: metric -> [version, value]. */
export function metricSeries(
  versions: ModelVersion[]
): Record<string, [number, number][]> {
  const series: Record<string, [number, number][]> = {};
  for (const version of [...versions].sort((a, b) => a.version - b.version)) {
    const metrics =
      (version.metrics as { metrics: Record<string, unknown> }[])[0]?.metrics ?? {};
    for (const [name, value] of Object.entries(metrics)) {
      if (typeof value === 'number' && Number.isFinite(value)) {
        (series[name] ??= []).push([version.version, value]);
      }
    }
  }
  return series;
}

/** The SVG path of a line through `points` in a `width` x `height` box (y up). */
export function linePath(
  points: [number, number][],
  width: number,
  height: number
): string {
  if (points.length === 0) {
    return '';
  }
  const xs = points.map(p => p[0]);
  const ys = points.map(p => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => (x1 === x0 ? width / 2 : ((x - x0) / (x1 - x0)) * width);
  const sy = (y: number) =>
    y1 === y0 ? height / 2 : height - ((y - y0) / (y1 - y0)) * height;
  return points
    .map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
    .join(' ');
}

/** A node of a model version's lineage: what it is, its reference, what opens it. */
export interface LineageNode {
  kind: 'dataset' | 'job' | 'model';
  ref: string;
  relation: string;
}

const VERSION_REF = /^[a-z0-9][\w-]*\/[a-z0-9][\w-]*@\d+$/;

/** Where a model version came from: the dataset versions it was trained and evaluated on,
 * the job that registered it, its parent version. */
export function lineage(version: ModelVersion): LineageNode[] {
  const nodes: LineageNode[] = [];
  const seen = new Set<string>();
  const add = (node: LineageNode) => {
    const key = `${node.kind}:${node.ref}`;
    if (!seen.has(key)) {
      seen.add(key);
      nodes.push(node);
    }
  };
  const spec = (version.spec ?? {}) as Record<string, unknown>;
  for (const key of ['dataset', 'data', 'train_dataset']) {
    const ref = spec[key];
    if (typeof ref === 'string' && VERSION_REF.test(ref)) {
      add({ kind: 'dataset', ref, relation: 'trained on' });
    }
  }
  for (const metric of version.metrics as { dataset: string; split: string }[]) {
    if (VERSION_REF.test(metric.dataset)) {
      add({ kind: 'dataset', ref: metric.dataset, relation: `${metric.split} on` });
    }
  }
  if (version.job_id) {
    add({ kind: 'job', ref: version.job_id, relation: 'registered by job' });
  }
  if (version.parent) {
    add({
      kind: 'model',
      ref: `${version.team}/${version.name}@${version.parent}`,
      relation: 'parent'
    });
  }
  return nodes;
}

/** Whether a user with `role` in a team (or a site admin) may `need`. */
const ROLES = ['viewer', 'contributor', 'editor', 'admin'];
export function hasRole(
  role: string | undefined,
  need: string,
  siteAdmin = false
): boolean {
  return (
    siteAdmin || (role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(need))
  );
}

/** A file name for a job's output notebook: `lepton-jobs/<template>-<id>.ipynb`. */
export function outputPath(
  job: Pick<Job, 'id' | 'template'>,
  folder = 'lepton-jobs'
): string {
  const stem = job.template.replace(/\.ipynb$/, '').replace(/[^\w.-]+/g, '-');
  return `${folder}/${stem}-${job.id.slice(0, 8)}.ipynb`;
}

/** What a schedule runs, for a list: a template, a pipeline or a SQL dataset's refresh. */
export function scheduleTarget(schedule: {
  template: string;
  options?: { [key: string]: unknown };
}): string {
  const options = schedule.options ?? {};
  if (typeof options.pipeline === 'string') {
    return `pipeline ${options.pipeline}`;
  }
  if (typeof options.refresh === 'string') {
    return `refresh ${options.refresh}`;
  }
  return schedule.template;
}

/** When a schedule fires next, in words: "paused", or the due time in the local clock. */
export function scheduleNext(schedule: { paused: boolean; next_due: string }): string {
  if (schedule.paused) {
    return 'paused';
  }
  const due = new Date(schedule.next_due);
  return Number.isNaN(due.getTime()) ? '' : due.toLocaleString();
}

/** Whether `me` may change the card of an item of `team` owned by `owner`: its owner, the
 * team's editors and admins, and site admins (as the server's `require_edit` decides). */
export function mayEdit(
  me: { user: string; site_admin: boolean; teams: Record<string, string> } | null,
  team: string,
  owner: string
): boolean {
  return (
    me !== null &&
    (me.user === owner || hasRole(me.teams[team], 'editor', me.site_admin))
  );
}

/** Tags typed as `risk, monthly` (commas or spaces between them), without repeats. */
export function parseTags(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map(t => t.trim())
        .filter(Boolean)
    )
  ];
}

/** The field a server's refusal names (`tag 'A B' is not allowed…` names `tags`), or null.
 * A field is named by its name, with `_` as a space or not, or by its singular. */
export function errorField(message: string, fields: string[]): string | null {
  const text = message.toLowerCase();
  for (const field of fields) {
    const names = [field, field.replace(/_/g, ' '), field.replace(/s$/, '')]
      .filter(Boolean)
      .map(n => n.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    if (names.some(n => new RegExp(`(^|[^a-z_])${n}([^a-z_]|$)`).test(text))) {
      return field;
    }
  }
  return null;
}
