/** The Jobs panel: your jobs and your teams', live (polled), sortable, each linking to its tab. */
import type { Job, Schedule, WhoAmI } from './api';
import { Context, h, replace } from './dom';
import {
  formatAgo,
  hasEnded,
  jobDuration,
  jobProgress,
  jobReason,
  jobTitle,
  JobSortKey,
  scheduleNext,
  scheduleTarget,
  sortJobs
} from './logic';
import { OPEN } from './sidebar';
import { View } from './view';

export class JobsPanel extends View {
  private jobs: Job[] = [];
  private schedules: Schedule[] = [];
  private me: WhoAmI | null = null;
  private key: JobSortKey = 'created_at';
  private ascending = false;
  private timer = 0;
  private readonly scope: HTMLSelectElement;
  private readonly tableNode = h('div', { class: 'jp-LeptonLab-scroll' });
  private readonly schedulesNode = h('div', { class: 'jp-LeptonLab-scroll' });

  constructor(ctx: Context) {
    super(ctx);
    const { trans } = ctx;
    this.addClass('jp-LeptonLab-jobsPanel');
    this.scope = h(
      'select',
      {
        class: 'jp-mod-styled',
        'aria-label': trans.__('Whose jobs'),
        onChange: () => this.render()
      },
      h('option', { value: 'all' }, trans.__("Mine and my teams'")),
      h('option', { value: 'mine' }, trans.__('Mine'))
    );
    replace(
      this.body,
      h(
        'div',
        { class: 'jp-LeptonLab-toolbar' },
        h('h2', {}, trans.__('Jobs')),
        this.scope
      ),
      this.tableNode,
      h('h2', {}, trans.__('Schedules')),
      this.schedulesNode
    );
  }

  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    const { api } = this.ctx;
    const [page, me, schedules] = await Promise.all([
      api.jobs({ limit: 200 }),
      this.me ? Promise.resolve(this.me) : api.whoami(),
      api.schedules()
    ]);
    this.jobs = page.items;
    this.me = me;
    this.schedules = schedules.items;
    this.render();
    this.renderSchedules();
    if (this.isAttached) {
      this.timer = window.setTimeout(
        () => void this.attempt(() => this.load()),
        this.ctx.pollInterval()
      );
    }
  }

  protected onBeforeDetach(): void {
    window.clearTimeout(this.timer);
  }

  private render(): void {
    const { trans } = this.ctx;
    const mine = this.scope.value === 'mine';
    const shown = sortJobs(
      this.jobs.filter(j => !mine || j.submitted_by === this.me?.user),
      this.key,
      this.ascending
    );
    const columns: [JobSortKey | null, string][] = [
      ['template', trans.__('job')],
      ['status', trans.__('status')],
      [null, trans.__('progress')],
      ['submitted_by', trans.__('by')],
      ['team', trans.__('team')],
      ['created_at', trans.__('submitted')],
      [null, trans.__('took')]
    ];
    const head = h(
      'tr',
      {},
      columns.map(([key, label]) => {
        if (!key) {
          return h('th', { scope: 'col' }, label);
        }
        const sorted = this.key === key;
        return h(
          'th',
          {
            scope: 'col',
            'aria-sort': sorted ? (this.ascending ? 'ascending' : 'descending') : 'none'
          },
          h(
            'button',
            {
              class: 'jp-LeptonLab-sort',
              type: 'button',
              onClick: () => {
                this.ascending = sorted ? !this.ascending : key !== 'created_at';
                this.key = key;
                this.render();
              }
            },
            label,
            sorted ? (this.ascending ? ' ▲' : ' ▼') : ''
          )
        );
      })
    );
    const rows = shown.map(job =>
      h(
        'tr',
        { 'data-job': job.id, 'data-status': job.status },
        h(
          'td',
          {},
          h(
            'button',
            {
              class: 'jp-LeptonLab-link',
              type: 'button',
              onClick: () =>
                void this.ctx.commands.execute(OPEN.jobs.command, { id: job.id })
            },
            jobTitle(job)
          )
        ),
        h(
          'td',
          { title: jobReason(job) },
          h(
            'span',
            { class: `jp-LeptonLab-badge jp-LeptonLab-status-${job.status}` },
            job.status
          )
        ),
        h('td', {}, hasEnded(job) ? '' : `${Math.round(jobProgress(job) * 100)}%`),
        h('td', {}, job.submitted_by),
        h('td', {}, job.team),
        h('td', {}, formatAgo(job.created_at)),
        h('td', {}, jobDuration(job))
      )
    );
    replace(
      this.tableNode,
      h(
        'table',
        { class: 'jp-LeptonLab-table', 'aria-label': trans.__('Jobs') },
        h('thead', {}, head),
        h('tbody', {}, rows)
      )
    );
  }

  /** The schedules of the user's teams, beside the jobs they submit. */
  private renderSchedules(): void {
    const { trans } = this.ctx;
    if (!this.schedules.length) {
      replace(
        this.schedulesNode,
        h('p', { class: 'jp-LeptonLab-empty' }, trans.__('No schedules in your teams.'))
      );
      return;
    }
    const head = h(
      'tr',
      {},
      [
        trans.__('schedule'),
        trans.__('runs'),
        trans.__('when'),
        trans.__('next'),
        trans.__('owner')
      ].map(label => h('th', { scope: 'col' }, label))
    );
    const rows = this.schedules.map(schedule =>
      h(
        'tr',
        { 'data-schedule': schedule.id },
        h('td', {}, `${schedule.team}/${schedule.name}`),
        h('td', {}, scheduleTarget(schedule)),
        h('td', {}, `${schedule.cron} (${schedule.timezone})`),
        h('td', {}, scheduleNext(schedule)),
        h('td', {}, schedule.owner)
      )
    );
    replace(
      this.schedulesNode,
      h(
        'table',
        { class: 'jp-LeptonLab-table', 'aria-label': trans.__('Schedules') },
        h('thead', {}, head),
        h('tbody', {}, rows)
      )
    );
  }
}
