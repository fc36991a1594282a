/** A job's tab: live status and progress, streaming logs, recorded values (tables and
 * figures), the output notebook, cancel, rerun with the reproduction report. */
import type { Job, RecordValue } from './api';
import { Context, h, replace, table } from './dom';
import {
  formatAgo,
  formatValue,
  hasEnded,
  jobDuration,
  jobProgress,
  jobReason,
  jobTitle
} from './logic';
import { OPEN } from './sidebar';
import { button, section, View } from './view';

/** The command that saves a job's output notebook into the file browser and opens it. */
export const OPEN_OUTPUT = 'lepton-lab:open-output';

export class JobView extends View {
  private job: Job | null = null;
  private lastSeq = 0;
  private timer = 0;
  private readonly header = h('div', { class: 'jp-LeptonLab-jobHeader' });
  private readonly logs = h('pre', {
    class: 'jp-LeptonLab-logs',
    'aria-label': 'Logs',
    tabindex: 0
  });
  private readonly records = h('div', { class: 'jp-LeptonLab-records' });
  private readonly reproduction = h('div', { class: 'jp-LeptonLab-reproduction' });

  constructor(
    ctx: Context,
    readonly jobId: string
  ) {
    super(ctx);
    this.addClass('jp-LeptonLab-jobView');
    this.node.dataset.job = jobId;
    const { trans } = ctx;
    this.logs.setAttribute('aria-label', trans.__('Logs'));
    replace(
      this.body,
      this.header,
      section(trans.__('Logs'), this.logs),
      section(trans.__('Recorded values'), this.records),
      this.reproduction
    );
  }

  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    const { api } = this.ctx;
    const [job, logs] = await Promise.all([
      api.job(this.jobId),
      api.logs(this.jobId, this.lastSeq)
    ]);
    this.job = job;
    for (const chunk of logs.items) {
      this.logs.append(chunk.text);
      this.lastSeq = Math.max(this.lastSeq, chunk.seq);
    }
    if (logs.items.length) {
      this.logs.scrollTop = this.logs.scrollHeight;
    }
    this.renderHeader();
    if (hasEnded(job)) {
      this.renderRecords((await api.records(this.jobId)).items);
      if (job.rerun_of) {
        await this.renderReproduction();
      }
    } else if (this.isAttached) {
      this.timer = window.setTimeout(
        () => void this.attempt(() => this.load()),
        this.ctx.pollInterval()
      );
    }
  }

  protected onBeforeDetach(): void {
    window.clearTimeout(this.timer);
  }

  private renderHeader(): void {
    const { trans, api } = this.ctx;
    const job = this.job!;
    const progress = Math.round(jobProgress(job) * 100);
    const ended = hasEnded(job);
    replace(
      this.header,
      h(
        'h2',
        {},
        jobTitle(job),
        ' ',
        h(
          'span',
          {
            class: `jp-LeptonLab-status-${job.status} jp-LeptonLab-badge`,
            'data-status': job.status
          },
          job.status
        )
      ),
      h(
        'div',
        {
          class: 'jp-LeptonLab-progress',
          role: 'progressbar',
          'aria-valuemin': 0,
          'aria-valuemax': 100,
          'aria-valuenow': progress,
          'aria-label': trans.__('Progress')
        },
        h('div', { class: 'jp-LeptonLab-progressBar', style: `width: ${progress}%` })
      ),
      h(
        'p',
        { class: 'jp-LeptonLab-meta' },
        trans.__(
          '%1 of %2 cells · %3 · by %4 · %5',
          job.cells_done,
          job.cells_total,
          jobDuration(job),
          job.submitted_by,
          formatAgo(job.created_at)
        ),
        job.current_cell && !ended ? ` · ${job.current_cell}` : ''
      ),
      jobReason(job)
        ? h('p', { class: 'jp-LeptonLab-reason jp-mod-error' }, jobReason(job))
        : null,
      table(
        [trans.__('parameter'), trans.__('value')],
        Object.entries(job.parameters).map(([k, v]) => [k, formatValue(v)]),
        trans.__('Parameters')
      ),
      h(
        'div',
        { class: 'jp-LeptonLab-actions' },
        ended
          ? button(
              trans.__('Open output notebook'),
              () => void this.ctx.commands.execute(OPEN_OUTPUT, { id: job.id })
            )
          : button(
              trans.__('Cancel'),
              () =>
                void this.attempt(async () => {
                  this.job = await api.cancel(job.id);
                  this.renderHeader();
                })
            ),
        button(
          trans.__('Rerun'),
          () =>
            void this.attempt(async () => {
              const rerun = await api.rerun(job.id);
              await this.ctx.commands.execute(OPEN.jobs.command, { id: rerun.id });
            })
        ),
        job.rerun_of
          ? h(
              'span',
              { class: 'jp-LeptonLab-muted' },
              trans.__('rerun of %1', job.rerun_of)
            )
          : null
      )
    );
  }

  private renderRecords(records: RecordValue[]): void {
    const { trans } = this.ctx;
    if (!records.length) {
      replace(
        this.records,
        h('p', { class: 'jp-LeptonLab-muted' }, trans.__('Nothing recorded.'))
      );
      return;
    }
    const simple = records.filter(r => !['table', 'figure'].includes(r.kind));
    replace(
      this.records,
      simple.length
        ? table(
            [trans.__('name'), trans.__('value')],
            simple.map(r => [r.name, formatValue(r.value)]),
            trans.__('Recorded values')
          )
        : null,
      records
        .filter(r => r.kind === 'table')
        .map(r => {
          const value = r.value as {
            columns: string[];
            data: unknown[][];
            index?: unknown[];
          };
          const index = value.index;
          return h(
            'div',
            { class: 'jp-LeptonLab-scroll' },
            h('h4', {}, r.name),
            table(
              index ? ['', ...value.columns] : value.columns,
              value.data.map((row, i) =>
                (index ? [index[i], ...row] : row).map(formatValue)
              ),
              r.name
            )
          );
        }),
      records
        .filter(r => r.kind === 'figure')
        .map(r =>
          h(
            'figure',
            {},
            h('img', {
              src: `data:image/png;base64,${(r.value as { png: string }).png}`,
              alt: r.name
            }),
            h('figcaption', {}, r.name)
          )
        )
    );
  }

  private async renderReproduction(): Promise<void> {
    const { trans, api } = this.ctx;
    const report = await api.reproduction(this.jobId);
    const checks = report.checks as {
      name: string;
      original: unknown;
      rerun: unknown;
      match: boolean;
      note: string;
    }[];
    const verdict = (report as any).reproduced;
    replace(
      this.reproduction,
      section(
        trans.__('Reproduction'),
        h(
          'p',
          { class: 'jp-LeptonLab-verdict', 'data-reproduced': String(verdict) },
          verdict === true
            ? trans.__('Reproduced: every recorded value matches.')
            : verdict === false
              ? trans.__('Not reproduced.')
              : trans.__('Not known yet.')
        ),
        table(
          [
            trans.__('value'),
            trans.__('original'),
            trans.__('rerun'),
            trans.__('match')
          ],
          checks.map(c => [
            c.name,
            formatValue(c.original),
            formatValue(c.rerun),
            c.match ? '✓' : `✗ ${c.note}`
          ]),
          trans.__('Reproduction')
        )
      )
    );
  }
}
