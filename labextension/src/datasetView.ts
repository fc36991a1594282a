/** A dataset's tab: card, versions, profile with histograms, preview, the load line. */
import type { Dataset, DatasetUpdate, DatasetVersion, WhoAmI } from './api';
import { Card } from './card';
import { histogram } from './charts';
import { Context, copyButton, h, replace, table } from './dom';

/** A wide table that scrolls sideways in a narrow window. */
const scroll = (node: HTMLElement) => h('div', { class: 'jp-LeptonLab-scroll' }, node);
import {
  datasetLoadLine,
  formatAgo,
  formatBytes,
  formatCount,
  formatValue,
  mayEdit
} from './logic';
import { REFRESH } from './sidebar';
import { button, section, View } from './view';

/** The command that inserts code into the active notebook. */
export const INSERT = 'lepton-lab:insert-code';

export class DatasetView extends View {
  private versions: DatasetVersion[] = [];
  private readonly detail = h('div', { class: 'jp-LeptonLab-detail' });

  constructor(
    ctx: Context,
    readonly ref: string,
    private readonly pinned?: number
  ) {
    super(ctx);
    this.addClass('jp-LeptonLab-datasetView');
  }

  async load(): Promise<void> {
    const { api, trans } = this.ctx;
    const [dataset, versions, me] = await Promise.all([
      api.dataset(this.ref),
      api.datasetVersions(this.ref),
      api.whoami()
    ]);
    this.versions = versions.items;
    const select = h(
      'select',
      {
        class: 'jp-mod-styled',
        'aria-label': trans.__('Version'),
        onChange: () => void this.attempt(() => this.showVersion(Number(select.value)))
      },
      this.versions.map(v =>
        h('option', { value: v.version }, `@${v.version} · ${formatAgo(v.created_at)}`)
      )
    );
    replace(
      this.body,
      h('h2', {}, dataset.ref),
      h(
        'p',
        { class: 'jp-LeptonLab-meta' },
        trans.__('owner %1 · updated %2', dataset.owner, formatAgo(dataset.updated_at))
      ),
      this.card(dataset, me),
      section(
        trans.__('Versions'),
        table(
          [
            trans.__('version'),
            trans.__('rows'),
            trans.__('size'),
            trans.__('by'),
            trans.__('when'),
            'sha256'
          ],
          this.versions.map(v => [
            `@${v.version}`,
            formatCount(v.rows),
            formatBytes(v.bytes),
            v.created_by,
            formatAgo(v.created_at),
            h('code', {}, v.sha256.slice(0, 12))
          ]),
          trans.__('Versions')
        ),
        h(
          'label',
          { class: 'jp-LeptonLab-inline' },
          trans.__('Show version'),
          ' ',
          select
        )
      ),
      this.detail
    );
    if (this.versions.length) {
      const chosen =
        this.versions.find(v => v.version === this.pinned) ?? this.versions[0];
      select.value = String(chosen.version);
      await this.showVersion(chosen.version);
    }
  }

  /** The card: its description as markdown; editable by its owner and team editors. */
  private card(dataset: Dataset, me: WhoAmI): HTMLElement {
    const { api, trans, commands } = this.ctx;
    return new Card(this.ctx, {
      values: {
        texts: { description: dataset.description },
        tags: dataset.tags,
        visibility: dataset.visibility
      },
      editable: mayEdit(me, dataset.team, dataset.owner),
      save: async ({ texts, tags, visibility }) => {
        await api.updateDataset(dataset.ref, {
          description: texts.description,
          tags,
          visibility: visibility as DatasetUpdate['visibility']
        });
        void commands.execute(REFRESH);
        await this.attempt(() => this.load(), trans.__('Card saved.'));
      }
    }).node;
  }

  private async showVersion(version: number): Promise<void> {
    const { api, trans } = this.ctx;
    const ref = `${this.ref}@${version}`;
    const [profile, preview] = await Promise.all([
      api.profile(this.ref, version),
      api.preview(this.ref, version, 20)
    ]);
    const code = datasetLoadLine(ref);
    const columns = profile.columns as Record<string, any>[];
    replace(
      this.detail,
      section(
        trans.__('Load %1', ref),
        h('pre', { class: 'jp-LeptonLab-code' }, code),
        h(
          'div',
          { class: 'jp-LeptonLab-actions' },
          button(
            trans.__('Insert into notebook'),
            () => void this.ctx.commands.execute(INSERT, { code }),
            { 'aria-label': trans.__('Insert the load line into the active notebook') }
          ),
          copyButton(code, trans.__('Copy'))
        )
      ),
      section(
        trans.__('Profile (%1 rows)', formatCount(profile.rows)),
        scroll(
          table(
            [
              trans.__('column'),
              trans.__('type'),
              trans.__('nulls'),
              trans.__('distinct'),
              trans.__('min'),
              trans.__('max'),
              trans.__('mean'),
              trans.__('distribution')
            ],
            columns.map(c => [
              h('strong', {}, String(c.name)),
              String(c.type ?? ''),
              formatCount(c.nulls),
              formatCount(c.distinct),
              formatValue(c.min),
              formatValue(c.max),
              formatValue(c.mean),
              c.histogram
                ? histogram(
                    c.histogram.counts,
                    c.histogram.edges,
                    trans.__('Histogram of %1', String(c.name))
                  )
                : (c.top ?? [])
                    .slice(0, 3)
                    .map((t: any) => `${formatValue(t.value)} (${t.count})`)
                    .join(', ')
            ]),
            trans.__('Column profile')
          )
        )
      ),
      section(
        trans.__('Preview'),
        h(
          'div',
          { class: 'jp-LeptonLab-scroll' },
          table(
            preview.columns as string[],
            (preview.data as unknown[][]).map(row => row.map(formatValue)),
            trans.__('Preview')
          )
        )
      )
    );
  }
}
