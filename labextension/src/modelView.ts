/** A model's tab: card (editable by those who may), versions with metrics, a chart over
 * versions, lineage with links, promote with the role check, the load code. */
import type { Model, ModelUpdate, ModelVersion, WhoAmI } from './api';
import { Card } from './card';
import { lineChart } from './charts';
import { Context, copyButton, h, replace, table } from './dom';
import { INSERT } from './datasetView';
import {
  formatAgo,
  formatValue,
  hasRole,
  lineage,
  mayEdit,
  metricSeries,
  modelLoadLine
} from './logic';
import { OPEN, REFRESH } from './sidebar';
import { button, commandLink, section, View } from './view';

/** The aliases offered in the promote form. */
const ALIASES = ['production', 'staging'];

export class ModelView extends View {
  private model: Model | null = null;
  private versions: ModelVersion[] = [];
  private me: WhoAmI | null = null;

  constructor(
    ctx: Context,
    readonly ref: string
  ) {
    super(ctx);
    this.addClass('jp-LeptonLab-modelView');
  }

  async load(): Promise<void> {
    const { api } = this.ctx;
    const [model, versions, me] = await Promise.all([
      api.model(this.ref),
      api.modelVersions(this.ref),
      api.whoami()
    ]);
    this.model = model;
    this.versions = versions.items;
    this.me = me;
    this.render();
  }

  private role(): string | undefined {
    return this.me?.teams[this.model!.team];
  }

  private may(need: string): boolean {
    return hasRole(this.role(), need, this.me?.site_admin);
  }

  private render(): void {
    const { trans } = this.ctx;
    const model = this.model!;
    const latest = this.versions[0];
    const code = modelLoadLine(
      `${model.ref}@${ALIASES.find(a => a in model.aliases) ?? latest?.version ?? 'latest'}`
    );
    replace(
      this.body,
      h('h2', {}, model.ref),
      h(
        'p',
        { class: 'jp-LeptonLab-meta' },
        trans.__('%1 · owner %2 · %3', model.task, model.owner, model.visibility),
        ' ',
        Object.entries(model.aliases).map(([alias, v]) =>
          h(
            'span',
            { class: 'jp-LeptonLab-badge', 'data-alias': alias },
            `${alias} → @${v}`
          )
        )
      ),
      this.card(),
      section(
        trans.__('Versions'),
        table(
          [
            trans.__('version'),
            trans.__('family'),
            trans.__('aliases'),
            trans.__('metrics'),
            trans.__('by'),
            trans.__('when')
          ],
          this.versions.map(v => [
            `@${v.version}`,
            v.family,
            v.aliases.join(', '),
            (
              v.metrics as {
                dataset: string;
                split: string;
                metrics: Record<string, unknown>;
              }[]
            )
              .map(
                m =>
                  `${m.split}: ${Object.entries(m.metrics)
                    .map(([k, x]) => `${k} ${formatValue(x)}`)
                    .join(', ')}`
              )
              .join('; '),
            v.created_by,
            formatAgo(v.created_at)
          ]),
          trans.__('Versions')
        )
      ),
      this.chart(),
      this.promoteForm(),
      latest ? this.lineageOf(latest) : null,
      section(
        trans.__('Load'),
        h('pre', { class: 'jp-LeptonLab-code' }, code),
        h(
          'div',
          { class: 'jp-LeptonLab-actions' },
          button(
            trans.__('Insert into notebook'),
            () => void this.ctx.commands.execute(INSERT, { code })
          ),
          copyButton(code, trans.__('Copy'))
        )
      )
    );
  }

  /** The card: each field as markdown, tags and visibility; editable by its owner and
   * team editors (the same component as a dataset's). */
  private card(): HTMLElement {
    const { api, trans } = this.ctx;
    const model = this.model!;
    const fields = Object.keys(model.card).length
      ? Object.keys(model.card)
      : ['description', 'intended_use'];
    return new Card(this.ctx, {
      values: {
        texts: Object.fromEntries(fields.map(f => [f, String(model.card[f] ?? '')])),
        tags: model.tags,
        visibility: model.visibility
      },
      editable: mayEdit(this.me, model.team, model.owner),
      save: async ({ texts, tags, visibility }) => {
        await api.updateModel(model.ref, {
          card: texts,
          tags,
          visibility: visibility as ModelUpdate['visibility']
        });
        void this.ctx.commands.execute(REFRESH);
        await this.attempt(() => this.load(), trans.__('Card saved.'));
      }
    }).node;
  }

  private chart(): HTMLElement | null {
    const { trans } = this.ctx;
    const series = Object.entries(metricSeries(this.versions)).slice(0, 4);
    if (!series.length) {
      return null;
    }
    return section(
      trans.__('Metrics over versions'),
      h(
        'div',
        { class: 'jp-LeptonLab-charts' },
        series.map(([name, points]) =>
          h(
            'figure',
            {},
            lineChart(points, trans.__('%1 over versions', name)),
            h(
              'figcaption',
              {},
              `${name}: ${points.map(p => formatValue(p[1])).join(' → ')}`
            )
          )
        )
      )
    );
  }

  private promoteForm(): HTMLElement {
    const { trans, api } = this.ctx;
    const model = this.model!;
    const version = h(
      'select',
      { class: 'jp-mod-styled', 'aria-label': trans.__('Version to promote') },
      this.versions.map(v => h('option', { value: v.version }, `@${v.version}`))
    );
    const alias = h(
      'select',
      { class: 'jp-mod-styled', 'aria-label': trans.__('Alias') },
      ALIASES.map(a => h('option', { value: a }, a))
    );
    const note = h('span', { class: 'jp-LeptonLab-muted', role: 'note' });
    const promote = button(
      trans.__('Promote'),
      () =>
        void this.attempt(async () => {
          this.model = await api.promote(model.ref, alias.value, Number(version.value));
          this.versions = (await api.modelVersions(model.ref)).items;
          this.render();
        }, trans.__('Promoted.'))
    );
    const check = () => {
      const need = alias.value === 'production' ? 'editor' : 'contributor';
      const allowed = this.may(need);
      promote.disabled = !allowed;
      replace(
        note,
        allowed ? '' : trans.__('Needs the %1 role in %2.', need, model.team)
      );
    };
    alias.addEventListener('change', check);
    check();
    return section(
      trans.__('Promote'),
      h('div', { class: 'jp-LeptonLab-actions' }, version, alias, promote, note)
    );
  }

  private lineageOf(version: ModelVersion): HTMLElement {
    const { trans } = this.ctx;
    const nodes = lineage(version);
    return section(
      trans.__('Lineage of @%1', version.version),
      nodes.length
        ? h(
            'ul',
            { class: 'jp-LeptonLab-lineage' },
            nodes.map(node => {
              const open =
                node.kind === 'dataset'
                  ? commandLink(this.ctx, node.ref, OPEN.datasets.command, {
                      ref: node.ref.split('@')[0],
                      version: node.ref.split('@')[1]
                    })
                  : node.kind === 'job'
                    ? commandLink(this.ctx, node.ref, OPEN.jobs.command, {
                        id: node.ref
                      })
                    : h('code', {}, node.ref);
              return h('li', { 'data-kind': node.kind }, `${node.relation} `, open);
            })
          )
        : h('p', { class: 'jp-LeptonLab-muted' }, trans.__('No recorded lineage.'))
    );
  }
}
