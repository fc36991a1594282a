import type { Job, ModelVersion, Parameter } from '../src/api';
import {
  barHeights,
  changedParameters,
  collectParameters,
  datasetLoadLine,
  errorField,
  filterListed,
  formatAgo,
  formatBytes,
  formatValue,
  formFields,
  hasRole,
  jobDuration,
  jobProgress,
  jobReason,
  lineage,
  linePath,
  mayEdit,
  metricSeries,
  moveSelection,
  notebookParameters,
  outputPath,
  parseField,
  parseTags,
  pythonLiteral,
  scheduleNext,
  scheduleTarget,
  sortJobs
} from '../src/logic';

const param = (p: Partial<Parameter>): Parameter =>
  ({
    name: 'x',
    type: 'str',
    default: null,
    default_source: '',
    help: '',
    required: false,
    optional: false,
    kind: 'value',
    choices: null,
    ...p
  }) as Parameter;

describe('formatting', () => {
  it('formats bytes, values and times', () => {
    expect(formatBytes(532)).toBe('532 B');
    expect(formatBytes(1_234_567)).toBe('1.2 MB');
    expect(formatValue(0.912345)).toBe('0.9123');
    expect(formatValue(3)).toBe('3');
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
    const now = new Date('2026-01-01T12:00:00Z');
    expect(formatAgo('2026-01-01T11:58:00Z', now)).toBe('2 min ago');
    expect(formatAgo('2025-12-01T11:58:00Z', now)).toBe('2025-12-01');
  });

  it('describes jobs', () => {
    const job = { status: 'running', cells_done: 3, cells_total: 12 } as Job;
    expect(jobProgress(job)).toBe(0.25);
    expect(jobProgress({ ...job, status: 'succeeded' })).toBe(1);
    expect(
      jobDuration({
        started_at: '2026-01-01T00:00:00Z',
        ended_at: '2026-01-01T00:02:05Z'
      })
    ).toBe('2 min 5 s');
    expect(
      jobReason({
        reason: { kind: 'cell_error', ename: 'ValueError', evalue: 'bad' }
      } as any)
    ).toBe('cell_error: ValueError: bad');
    expect(outputPath({ id: '0123456789abcdef', template: 'dataset-report' })).toBe(
      'lepton-jobs/dataset-report-01234567.ipynb'
    );
  });

  it('writes the load line', () => {
    expect(datasetLoadLine('agri/wine@1')).toContain('ll.datasets.load("agri/wine@1")');
  });
});

describe('lists', () => {
  const items = [
    { key: 'agri/wine', label: '', detail: '', team: 'agri', text: 'agri/wine grapes' },
    {
      key: 'finance/credit',
      label: '',
      detail: '',
      team: 'finance',
      text: 'finance/credit loans'
    }
  ];
  it('filters by words and team', () => {
    expect(filterListed(items, 'GRAPES', '').map(i => i.key)).toEqual(['agri/wine']);
    expect(filterListed(items, '', 'finance').map(i => i.key)).toEqual([
      'finance/credit'
    ]);
    expect(filterListed(items, 'wine', 'finance')).toEqual([]);
  });

  it('moves the selection with arrow keys', () => {
    expect(moveSelection('ArrowDown', 0, 3)).toBe(1);
    expect(moveSelection('ArrowDown', 2, 3)).toBe(2);
    expect(moveSelection('ArrowUp', 0, 3)).toBe(0);
    expect(moveSelection('End', 0, 3)).toBe(2);
    expect(moveSelection('a', 0, 3)).toBeNull();
    expect(moveSelection('ArrowDown', 0, 0)).toBeNull();
  });

  it('sorts jobs', () => {
    const jobs = [
      { id: 'a', status: 'failed', created_at: '2026-01-01' },
      { id: 'b', status: 'succeeded', created_at: '2026-01-03' },
      { id: 'c', status: 'failed', created_at: '2026-01-02' }
    ] as Job[];
    expect(sortJobs(jobs, 'created_at', false).map(j => j.id)).toEqual(['b', 'c', 'a']);
    expect(sortJobs(jobs, 'status', true).map(j => j.id)).toEqual(['c', 'a', 'b']);
  });
});

describe('the parameter form', () => {
  const fields = formFields([
    param({ name: 'dataset', type: 'str', default: 'agri/wine', help: 'a dataset' }),
    param({ name: 'cv', type: 'int', default: 5 }),
    param({ name: 'rate', type: 'float', default: 0.1 }),
    param({ name: 'plots', type: 'bool', default: true }),
    param({ name: 'model', type: 'str', default: 'a', choices: ['a', 'b'] }),
    param({ name: 'columns', type: 'list', default: ['x'] }),
    param({ name: 'target', type: 'str', required: true })
  ]);

  it('makes a control per type', () => {
    expect(fields.map(f => f.input)).toEqual([
      'text',
      'integer',
      'number',
      'checkbox',
      'select',
      'json',
      'text'
    ]);
    expect(fields[0].initial).toBe('agri/wine');
    expect(fields[3].checked).toBe(true);
    expect(fields[5].initial).toBe('["x"]');
  });

  it('parses and reports errors by field', () => {
    expect(parseField(fields[1], '7')).toEqual({ value: 7 });
    expect(parseField(fields[1], '7.5').error).toBe('a whole number');
    expect(parseField(fields[2], 'x').error).toBe('a number');
    expect(parseField(fields[5], '[1,').error).toMatch(/JSON/);
    expect(parseField(fields[4], 'c').error).toBe('one of the choices');
    expect(parseField(fields[6], '').error).toBe('required');
    const { values, errors } = collectParameters(fields, {
      dataset: 'agri/wine',
      cv: '3',
      rate: '0.1',
      plots: true,
      model: 'b',
      columns: '["x"]',
      target: ''
    });
    expect(errors).toEqual({ target: 'required' });
    expect(values.cv).toBe(3);
  });

  it('sends only what changed, and required fields', () => {
    const { values } = collectParameters(fields, {
      dataset: 'agri/wine',
      cv: '3',
      rate: '0.1',
      plots: true,
      model: 'a',
      columns: '["x"]',
      target: 'y'
    });
    expect(changedParameters(fields, values)).toEqual({ cv: 3, target: 'y' });
  });
});

describe("a notebook's parameters cell", () => {
  it('reads python literals', () => {
    expect(pythonLiteral('5')).toEqual({ value: 5, type: 'int' });
    expect(pythonLiteral('0.5')).toEqual({ value: 0.5, type: 'float' });
    expect(pythonLiteral("'agri/wine'")).toEqual({ value: 'agri/wine', type: 'str' });
    expect(pythonLiteral('True')).toEqual({ value: true, type: 'bool' });
    expect(pythonLiteral('None')).toEqual({ value: null, type: 'NoneType' });
    expect(pythonLiteral("['a', 'b',]")).toEqual({ value: ['a', 'b'], type: 'list' });
    expect(pythonLiteral('foo()')).toBeNull();
  });

  it('finds the cell tagged parameters', () => {
    const notebook = {
      cells: [
        { cell_type: 'markdown', source: 'x = 1', metadata: { tags: ['parameters'] } },
        {
          cell_type: 'code',
          source: [
            'dataset = "agri/wine"  # what to read\n',
            'cv: int = 5\n',
            'import os\n'
          ],
          metadata: { tags: ['parameters'] }
        }
      ]
    };
    const parameters = notebookParameters(notebook)!;
    expect(parameters.map(p => [p.name, p.type, p.default, p.help])).toEqual([
      ['dataset', 'str', 'agri/wine', 'what to read'],
      ['cv', 'int', 5, '']
    ]);
    expect(notebookParameters({ cells: [] })).toBeNull();
  });
});

describe('charts and lineage', () => {
  const version = (n: number, auc: number, extra: Partial<ModelVersion> = {}) =>
    ({
      version: n,
      team: 'medical',
      name: 'diagnosis',
      metrics: [
        { dataset: 'medical/breast-cancer@1', split: 'test', metrics: { auc } }
      ],
      spec: {},
      job_id: '',
      parent: null,
      ...extra
    }) as unknown as ModelVersion;

  it('draws bars and lines', () => {
    expect(barHeights([1, 2, 4])).toEqual([0.25, 0.5, 1]);
    expect(barHeights([0, 0])).toEqual([0, 0]);
    expect(
      linePath(
        [
          [1, 0],
          [2, 1]
        ],
        100,
        10
      )
    ).toBe('M0.0,10.0 L100.0,0.0');
    expect(linePath([[1, 5]], 100, 10)).toBe('M50.0,5.0');
  });

  it('gives each metric over versions, oldest first', () => {
    expect(metricSeries([version(2, 0.9), version(1, 0.8)])).toEqual({
      auc: [
        [1, 0.8],
        [2, 0.9]
      ]
    });
  });

  it('links lineage to dataset versions and jobs', () => {
    const nodes = lineage(version(2, 0.9, { job_id: 'abc', parent: 1 }));
    expect(nodes.map(n => [n.kind, n.ref])).toEqual([
      ['dataset', 'medical/breast-cancer@1'],
      ['job', 'abc'],
      ['model', 'medical/diagnosis@1']
    ]);
  });

  it('checks roles', () => {
    expect(hasRole('editor', 'editor')).toBe(true);
    expect(hasRole('contributor', 'editor')).toBe(false);
    expect(hasRole(undefined, 'viewer', true)).toBe(true);
    expect(hasRole(undefined, 'viewer')).toBe(false);
  });
});

describe('schedules', () => {
  it('names what a schedule runs', () => {
    expect(scheduleTarget({ template: 'dataset-report', options: {} })).toBe(
      'dataset-report'
    );
    expect(
      scheduleTarget({ template: '', options: { pipeline: 'finance/flow' } })
    ).toBe('pipeline finance/flow');
    expect(
      scheduleTarget({ template: '', options: { refresh: 'finance/loans' } })
    ).toBe('refresh finance/loans');
  });

  it('says when it fires next, or that it is paused', () => {
    expect(scheduleNext({ paused: true, next_due: '2026-12-08T06:00:00+00:00' })).toBe(
      'paused'
    );
    const next = scheduleNext({ paused: false, next_due: '2026-12-08T06:00:00+00:00' });
    expect(next).toBe(new Date('2026-12-08T06:00:00+00:00').toLocaleString());
    expect(scheduleNext({ paused: false, next_due: 'never' })).toBe('');
  });
});

describe('cards', () => {
  const me = (teams: Record<string, string>, siteAdmin = false) => ({
    user: 'alice',
    site_admin: siteAdmin,
    teams
  });

  it('lets the owner, team editors and site admins edit', () => {
    expect(mayEdit(me({}), 'agri', 'alice')).toBe(true);
    expect(mayEdit(me({ agri: 'editor' }), 'agri', 'bob')).toBe(true);
    expect(mayEdit(me({ agri: 'admin' }), 'agri', 'bob')).toBe(true);
    expect(mayEdit(me({ agri: 'contributor' }), 'agri', 'bob')).toBe(false);
    expect(mayEdit(me({ medical: 'editor' }), 'agri', 'bob')).toBe(false);
    expect(mayEdit(me({}, true), 'agri', 'bob')).toBe(true);
    expect(mayEdit(null, 'agri', 'alice')).toBe(false);
  });

  it('reads tags separated by commas or spaces, once each', () => {
    expect(parseTags('risk, monthly  risk,,daily ')).toEqual([
      'risk',
      'monthly',
      'daily'
    ]);
    expect(parseTags('  ')).toEqual([]);
  });

  it('finds the field a refusal names', () => {
    const fields = ['description', 'intended_use', 'tags', 'visibility'];
    expect(errorField("tag 'A B' is not allowed: use lowercase letters", fields)).toBe(
      'tags'
    );
    expect(errorField('visibility must be one of private, team, org', fields)).toBe(
      'visibility'
    );
    expect(errorField('intended use is too long', fields)).toBe('intended_use');
    expect(errorField('description: at most 10000 characters', fields)).toBe(
      'description'
    );
    // A word that only contains a field's name is not it.
    expect(errorField('the descriptions table is locked', ['description'])).toBe(null);
    expect(errorField('database is locked', fields)).toBe(null);
    expect(errorField('a (weird) field failed', ['(weird)'])).toBe('(weird)');
  });
});
