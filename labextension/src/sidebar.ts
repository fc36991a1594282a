/**
 * The Lepton Lab sidebar: a search box and a team filter over four sections (Datasets,
 * Models, Templates, Jobs). Arrow keys move the selection in a list, Enter opens it.
 * Datasets, models and jobs come a page at a time: "Load more" under a list fetches the
 * next page; the team filter is the server's too, so that it reaches past the first page.
 */
import { Widget } from '@lumino/widgets';
import type { LeptonApi } from './api';
import { Context, errorText, h, replace } from './dom';
import {
  filterListed,
  formatAgo,
  formatCount,
  jobTitle,
  Listed,
  moveSelection
} from './logic';
import { PagedList, wholePage } from './paging';

/** The commands that open each kind of item, and the argument they take. */
export const OPEN = {
  datasets: { command: 'lepton-lab:open-dataset', arg: 'ref' },
  models: { command: 'lepton-lab:open-model', arg: 'ref' },
  templates: { command: 'lepton-lab:open-template', arg: 'name' },
  jobs: { command: 'lepton-lab:open-job', arg: 'id' }
} as const;

export type SectionName = keyof typeof OPEN;

/** The command that fetches the sidebar's lists again. */
export const REFRESH = 'lepton-lab:refresh';

/** Items per page of each list (the jobs, newest first, come in smaller pages). */
export const PAGE_SIZE: Record<SectionName, number> = {
  datasets: 200,
  models: 200,
  templates: 200,
  jobs: 50
};

/** The paged lists of the four sections, as sidebar items; `team()` is the team chosen
 * ('' for all), passed to the searches that take one. */
export function sectionLists(
  api: LeptonApi,
  rows: string,
  team: () => string
): Record<SectionName, PagedList<Listed>> {
  const key = (item: Listed) => item.key;
  const teamQuery = () => team() || undefined;
  return {
    datasets: new PagedList(
      async (offset, limit) => {
        const page = await api.datasets({ team: teamQuery(), limit, offset });
        return {
          ...page,
          items: page.items.map(d => ({
            key: d.ref,
            label: d.ref,
            detail: `@${d.latest_version} · ${formatCount(d.rows)} ${rows}`,
            team: d.team,
            text: [d.ref, d.description, ...d.tags].join(' ')
          }))
        };
      },
      key,
      PAGE_SIZE.datasets
    ),
    models: new PagedList(
      async (offset, limit) => {
        const page = await api.models({ team: teamQuery(), limit, offset });
        return {
          ...page,
          items: page.items.map(m => ({
            key: m.ref,
            label: m.ref,
            detail: [`@${m.latest_version}`, ...Object.keys(m.aliases ?? {})].join(
              ' · '
            ),
            team: m.team,
            text: [m.ref, m.task, ...m.tags].join(' ')
          }))
        };
      },
      key,
      PAGE_SIZE.models
    ),
    // Templates are answered whole.
    templates: new PagedList(
      async () => {
        const templates = await api.templates();
        return wholePage(
          templates.items.map(t => {
            const name = t.team && !t.builtin ? `${t.team}/${t.name}` : t.name;
            return {
              key: name,
              label: t.title || name,
              detail: name,
              team: t.team,
              text: [name, t.title, t.description, ...t.tags].join(' ')
            };
          })
        );
      },
      key,
      PAGE_SIZE.templates
    ),
    // `GET /jobs` has no team filter: the jobs are filtered here only.
    jobs: new PagedList(
      async (offset, limit) => {
        const page = await api.jobs({ limit, offset });
        return {
          ...page,
          items: page.items.map(j => ({
            key: j.id,
            label: jobTitle(j),
            detail: `${j.status} · ${formatAgo(j.created_at)}`,
            team: j.team,
            text: [j.id, j.template, j.status, j.submitted_by].join(' ')
          }))
        };
      },
      key,
      PAGE_SIZE.jobs
    )
  };
}

/** The sections whose search takes the team (so a team's items past the first page
 * show); the others are filtered here. */
const SERVER_TEAM: SectionName[] = ['datasets', 'models'];

/** The sidebar widget. */
export class Sidebar extends Widget {
  private readonly search: HTMLInputElement;
  private readonly team: HTMLSelectElement;
  private readonly status: HTMLElement;
  private readonly lists = new Map<SectionName, HTMLUListElement>();
  private readonly counts = new Map<SectionName, HTMLElement>();
  private readonly more = new Map<SectionName, HTMLButtonElement>();
  private readonly titles: Record<SectionName, string>;
  private readonly paged: Record<SectionName, PagedList<Listed>>;
  /** The key of each list's selected item, kept across polls and pages. */
  private readonly selected = new Map<SectionName, string>();
  /** Every team seen so far: the filter's choices (a filtered list shows only one). */
  private readonly teams = new Set<string>();
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
        onChange: () => void this.teamChanged()
      },
      h('option', { value: '' }, trans.__('All teams'))
    );
    this.paged = sectionLists(ctx.api, trans.__('rows'), () => this.team.value);
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
    this.titles = {
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
        'aria-label': this.titles[name],
        'data-section': name,
        onKeydown: (event: KeyboardEvent) => this.onKey(name, event)
      });
      const count = h('span', { class: 'jp-LeptonLab-count' });
      const more = h(
        'button',
        {
          class: 'jp-LeptonLab-button jp-LeptonLab-more',
          type: 'button',
          hidden: true,
          'data-section': name,
          onClick: () => void this.loadMore(name)
        },
        trans.__('Load more')
      );
      this.lists.set(name, list);
      this.counts.set(name, count);
      this.more.set(name, more);
      this.node.appendChild(
        h(
          'details',
          { class: 'jp-LeptonLab-section', open: true, 'data-section': name },
          h('summary', {}, this.titles[name], ' ', count),
          list,
          more
        )
      );
    }
  }

  /** Fetches the four lists again (as many items as were loaded), and polls them every
   * four `pollInterval`s. */
  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    await this.reload(Object.keys(OPEN) as SectionName[], false);
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

  /** Reloads `names` (from their first page when `reset`), then shows them. */
  private async reload(names: SectionName[], reset: boolean): Promise<void> {
    const { trans } = this.ctx;
    try {
      await Promise.all(names.map(name => this.paged[name].reload(reset)));
      replace(this.status);
    } catch (error) {
      replace(this.status, trans.__('Could not load Lepton Lab: %1', errorText(error)));
    }
    this.fillTeams();
    this.render();
  }

  /** A new team: narrowed here at once, then fetched again by the searches that take it. */
  private async teamChanged(): Promise<void> {
    this.render();
    await this.reload(SERVER_TEAM, true);
  }

  /** Fetches a section's next page; the selection moves to its first new item. */
  private async loadMore(name: SectionName): Promise<void> {
    const { trans } = this.ctx;
    const button = this.more.get(name)!;
    const paged = this.paged[name];
    const before = paged.items.length;
    button.disabled = true;
    try {
      await paged.more();
      replace(this.status);
    } catch (error) {
      replace(this.status, trans.__('Could not load more: %1', errorText(error)));
    } finally {
      button.disabled = false;
    }
    const shown = new Set(this.shown(name).map(item => item.key));
    const first = paged.items.slice(before).find(item => shown.has(item.key));
    if (first) {
      this.selected.set(name, first.key);
    }
    this.fillTeams();
    this.render();
    if (first) {
      // Scrolled to, so that the new page shows where the list ended.
      this.select(
        name,
        this.shown(name).findIndex(item => item.key === first.key)
      );
    }
    if (!paged.hasMore) {
      // The button is gone: keep the keyboard in this section.
      this.lists.get(name)!.focus();
    }
  }

  private fillTeams(): void {
    for (const paged of Object.values(this.paged)) {
      paged.items.forEach(item => item.team && this.teams.add(item.team));
    }
    const chosen = this.team.value;
    replace(
      this.team,
      h('option', { value: '' }, this.ctx.trans.__('All teams')),
      [...this.teams].sort().map(t => h('option', { value: t }, t))
    );
    this.team.value = this.teams.has(chosen) ? chosen : '';
  }

  /** The items of section `name` that the search and the team let through. */
  private shown(name: SectionName): Listed[] {
    return filterListed(
      [...this.paged[name].items],
      this.search.value,
      this.team.value
    );
  }

  private render(): void {
    const { trans } = this.ctx;
    for (const [name, list] of this.lists) {
      const paged = this.paged[name];
      const shown = this.shown(name);
      const selectedKey = this.selected.get(name);
      const selected = Math.max(
        0,
        shown.findIndex(item => item.key === selectedKey)
      );
      replace(this.counts.get(name)!, `(${shown.length})`);
      replace(
        list,
        shown.map((item, index) =>
          h(
            'li',
            {
              class: 'jp-LeptonLab-item',
              role: 'option',
              'aria-selected': index === selected ? 'true' : 'false',
              'data-key': item.key,
              title: item.key,
              onClick: () => {
                this.select(name, index);
                this.open(name, item.key);
              }
            },
            h('span', { class: 'jp-LeptonLab-itemLabel' }, item.label),
            h('span', { class: 'jp-LeptonLab-itemDetail' }, item.detail)
          )
        )
      );
      const more = this.more.get(name)!;
      more.hidden = !paged.hasMore;
      const loaded = trans.__(
        '%1 of %2 loaded',
        formatCount(paged.items.length),
        formatCount(paged.total)
      );
      more.title = loaded;
      more.setAttribute(
        'aria-label',
        trans.__('Load more %1 (%2)', this.titles[name].toLowerCase(), loaded)
      );
    }
  }

  private select(name: SectionName, index: number): void {
    const list = this.lists.get(name)!;
    Array.from(list.children).forEach((child, i) => {
      child.setAttribute('aria-selected', i === index ? 'true' : 'false');
      if (i === index) {
        this.selected.set(name, (child as HTMLElement).dataset.key!);
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
      this.select(name, next);
    }
  }

  private open(name: SectionName, key: string): void {
    const { command, arg } = OPEN[name];
    void this.ctx.commands.execute(command, { [arg]: key });
  }
}
