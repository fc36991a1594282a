/**
 * The Lepton Lab sidebar: a search box and a team filter over four sections (Datasets,
 * Models, Templates, Jobs). Arrow keys move the selection in a list, Enter opens it.
 */
import { Widget } from '@lumino/widgets';
import { Context, errorText, h, replace } from './dom';
import {
  filterListed,
  formatAgo,
  formatCount,
  jobTitle,
  Listed,
  moveSelection
} from './logic';

/** The commands that open each kind of item, and the argument they take. */
export const OPEN = {
  datasets: { command: 'lepton-lab:open-dataset', arg: 'ref' },
  models: { command: 'lepton-lab:open-model', arg: 'ref' },
  templates: { command: 'lepton-lab:open-template', arg: 'name' },
  jobs: { command: 'lepton-lab:open-job', arg: 'id' }
} as const;

export type SectionName = keyof typeof OPEN;

/** The sidebar widget. */
export class Sidebar extends Widget {
  private readonly search: HTMLInputElement;
  private readonly team: HTMLSelectElement;
  private readonly status: HTMLElement;
  private readonly lists = new Map<SectionName, HTMLUListElement>();
  private readonly counts = new Map<SectionName, HTMLElement>();
  private items: Record<SectionName, Listed[]> = {
    datasets: [],
    models: [],
    templates: [],
    jobs: []
  };
  private timer = 0;

  constructor(private readonly ctx: Context) {
    super();
    const { trans } = ctx;
    this.id = 'lepton-lab-sidebar';
    this.addClass('jp-LeptonLab-sidebar');
    this.title.caption = trans.__('Lepton Lab');
    this.search = h('input', {
      type: 'search',
      class: 'jp-mod-styled jp-LeptonLab-search',
      placeholder: trans.__('Search'),
      'aria-label': trans.__('Search datasets, models, templates and jobs'),
      onInput: () => this.render()
    });
    this.team = h(
      'select',
      {
        class: 'jp-mod-styled jp-LeptonLab-team',
        'aria-label': trans.__('Team'),
        onChange: () => this.render()
      },
      h('option', { value: '' }, trans.__('All teams'))
    );
    const refresh = h(
      'button',
      {
        class: 'jp-LeptonLab-button',
        'aria-label': trans.__('Refresh'),
        title: trans.__('Refresh'),
        onClick: () => void this.refresh()
      },
      '⟳'
    );
    this.status = h('div', { class: 'jp-LeptonLab-status', role: 'status' });
    this.node.appendChild(
      h('div', { class: 'jp-LeptonLab-toolbar' }, this.search, this.team, refresh)
    );
    this.node.appendChild(this.status);
    const titles: Record<SectionName, string> = {
      datasets: trans.__('Datasets'),
      models: trans.__('Models'),
      templates: trans.__('Templates'),
      jobs: trans.__('Jobs')
    };
    for (const name of Object.keys(OPEN) as SectionName[]) {
      const list = h('ul', {
        class: 'jp-LeptonLab-list',
        role: 'listbox',
        tabindex: 0,
        'aria-label': titles[name],
        'data-section': name,
        onKeydown: (event: KeyboardEvent) => this.onKey(name, event)
      });
      const count = h('span', { class: 'jp-LeptonLab-count' });
      this.lists.set(name, list);
      this.counts.set(name, count);
      this.node.appendChild(
        h(
          'details',
          { class: 'jp-LeptonLab-section', open: true, 'data-section': name },
          h('summary', {}, titles[name], ' ', count),
          list
        )
      );
    }
  }

  /** Fetches the four lists again, and polls the jobs every `pollInterval`. */
  async refresh(): Promise<void> {
    const { api, trans } = this.ctx;
    window.clearTimeout(this.timer);
    try {
      const [datasets, models, templates, jobs] = await Promise.all([
        api.datasets(),
        api.models(),
        api.templates(),
        api.jobs({ limit: 50 })
      ]);
      this.items = {
        datasets: datasets.items.map(d => ({
          key: d.ref,
          label: d.ref,
          detail: `@${d.latest_version} · ${formatCount(d.rows)} ${trans.__('rows')}`,
          team: d.team,
          text: [d.ref, d.description, ...d.tags].join(' ')
        })),
        models: models.items.map(m => ({
          key: m.ref,
          label: m.ref,
          detail: [`@${m.latest_version}`, ...Object.keys(m.aliases ?? {})].join(' · '),
          team: m.team,
          text: [m.ref, m.task, ...m.tags].join(' ')
        })),
        templates: templates.items.map(t => {
          const name = t.team && !t.builtin ? `${t.team}/${t.name}` : t.name;
          return {
            key: name,
            label: t.title || name,
            detail: name,
            team: t.team,
            text: [name, t.title, t.description, ...t.tags].join(' ')
          };
        }),
        jobs: jobs.items.map(j => ({
          key: j.id,
          label: jobTitle(j),
          detail: `${j.status} · ${formatAgo(j.created_at)}`,
          team: j.team,
          text: [j.id, j.template, j.status, j.submitted_by].join(' ')
        }))
      };
      replace(this.status);
      this.fillTeams();
      this.render();
    } catch (error) {
      replace(this.status, trans.__('Could not load Lepton Lab: %1', errorText(error)));
    }
    if (this.isAttached) {
      this.timer = window.setTimeout(
        () => void this.refresh(),
        this.ctx.pollInterval() * 4
      );
    }
  }

  protected onAfterAttach(): void {
    void this.refresh();
  }

  protected onBeforeDetach(): void {
    window.clearTimeout(this.timer);
  }

  private fillTeams(): void {
    const teams = new Set<string>();
    for (const list of Object.values(this.items)) {
      list.forEach(item => item.team && teams.add(item.team));
    }
    const chosen = this.team.value;
    replace(
      this.team,
      h('option', { value: '' }, this.ctx.trans.__('All teams')),
      [...teams].sort().map(t => h('option', { value: t }, t))
    );
    this.team.value = teams.has(chosen) ? chosen : '';
  }

  private render(): void {
    for (const [name, list] of this.lists) {
      const shown = filterListed(this.items[name], this.search.value, this.team.value);
      replace(this.counts.get(name)!, `(${shown.length})`);
      replace(
        list,
        shown.map((item, index) =>
          h(
            'li',
            {
              class: 'jp-LeptonLab-item',
              role: 'option',
              'aria-selected': index === 0 ? 'true' : 'false',
              'data-key': item.key,
              title: item.key,
              onClick: () => {
                this.select(list, index);
                this.open(name, item.key);
              }
            },
            h('span', { class: 'jp-LeptonLab-itemLabel' }, item.label),
            h('span', { class: 'jp-LeptonLab-itemDetail' }, item.detail)
          )
        )
      );
    }
  }

  private select(list: HTMLUListElement, index: number): void {
    Array.from(list.children).forEach((child, i) => {
      child.setAttribute('aria-selected', i === index ? 'true' : 'false');
      if (i === index) {
        list.setAttribute('aria-activedescendant', '');
        (child as HTMLElement).scrollIntoView?.({ block: 'nearest' });
      }
    });
  }

  private onKey(name: SectionName, event: KeyboardEvent): void {
    const list = this.lists.get(name)!;
    const children = Array.from(list.children);
    const current = children.findIndex(c => c.getAttribute('aria-selected') === 'true');
    if (event.key === 'Enter' && current >= 0) {
      event.preventDefault();
      this.open(name, (children[current] as HTMLElement).dataset.key!);
      return;
    }
    const next = moveSelection(event.key, Math.max(0, current), children.length);
    if (next !== null) {
      event.preventDefault();
      this.select(list, next);
    }
  }

  private open(name: SectionName, key: string): void {
    const { command, arg } = OPEN[name];
    void this.ctx.commands.execute(command, { [arg]: key });
  }
}
