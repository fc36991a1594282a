/**
 * The card of a dataset or a model, one component for both: its texts rendered as
 * markdown (through rendermime, sanitized as in a notebook), its tags and visibility; and,
 * for those who may change it, an editor in place with the server's refusals shown
 * against the field they name (or above Save for a 403).
 */
import { ApiError } from './api';
import { Context, errorText, h, replace } from './dom';
import { errorField, parseTags } from './logic';
import { button, section } from './view';

/** The visibilities a card may have (`lepton_lab.identity.Visibility`). */
export const VISIBILITIES = ['private', 'team', 'org'];

/** What a card holds. */
export interface CardValues {
  /** Markdown texts by field name, in order: a dataset's description, a model's card. */
  texts: Record<string, string>;
  tags: string[];
  visibility: string;
}

/** How a card is shown and saved. */
export interface CardOptions {
  values: CardValues;
  /** Whether this user may change it (the server decides again on Save). */
  editable: boolean;
  /** Sends the new values; an `ApiError` it throws is shown in the editor. */
  save(values: CardValues): Promise<void>;
}

/** A field's label: `intended_use` → `intended use`. */
const label = (field: string) => field.replace(/_/g, ' ');

/** The card section: shown, or edited in place. */
export class Card {
  readonly node: HTMLElement;
  private readonly content = h('div', { class: 'jp-LeptonLab-cardBody' });
  /** While editing: each field's control and error line, and the line for the rest. */
  private editing: {
    controls: Map<string, HTMLElement>;
    errors: Map<string, HTMLElement>;
    problem: HTMLElement;
  } | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly options: CardOptions
  ) {
    this.node = section(ctx.trans.__('Card'), this.content);
    this.node.classList.add('jp-LeptonLab-card');
    this.show();
  }

  /** The card as it reads: each text as markdown, then tags and visibility. */
  private show(): void {
    const { trans } = this.ctx;
    const { values, editable } = this.options;
    const fields = Object.keys(values.texts);
    const edit = editable
      ? button(trans.__('Edit card'), () => this.edit(), {
          'aria-label': trans.__('Edit the card')
        })
      : null;
    replace(
      this.content,
      fields.map(field => {
        const text = values.texts[field];
        return h(
          'div',
          { class: 'jp-LeptonLab-cardField', 'data-field': field },
          fields.length > 1 ? h('h4', {}, label(field)) : null,
          text.trim()
            ? this.ctx.markdown(text)
            : h('p', { class: 'jp-LeptonLab-muted' }, trans.__('Not written yet.'))
        );
      }),
      h(
        'p',
        { class: 'jp-LeptonLab-meta' },
        trans.__('visibility: %1', values.visibility),
        ' · ',
        trans.__('tags:'),
        ' ',
        values.tags.length
          ? values.tags.map(t => h('span', { class: 'jp-LeptonLab-badge' }, t))
          : '–'
      ),
      edit ? h('div', { class: 'jp-LeptonLab-actions' }, edit) : null
    );
  }

  /** The editor: a text area per text, the tags, the visibility, Save and Cancel. */
  private edit(): void {
    const { trans } = this.ctx;
    const { values } = this.options;
    const controls = new Map<string, HTMLElement>();
    const errors = new Map<string, HTMLElement>();
    const id = `jp-LeptonLab-card-${Math.random().toString(36).slice(2, 10)}`;
    // The names the card itself has are translated; a model's own card fields are its data.
    const names = new Map([
      ['description', trans.__('description')],
      ['tags', trans.__('tags')],
      ['visibility', trans.__('visibility')]
    ]);
    const control = (field: string, node: HTMLElement): HTMLElement => {
      // Ids by position: a card field's name may hold any character.
      node.id = `${id}-${controls.size}`;
      const error = h('span', {
        class: 'jp-LeptonLab-fieldError',
        id: `${node.id}-error`,
        role: 'alert'
      });
      errors.set(field, error);
      controls.set(field, node);
      node.setAttribute('aria-describedby', error.id);
      node.dataset.field = field;
      return h(
        'div',
        { class: 'jp-LeptonLab-field', 'data-field': field },
        h('label', { for: node.id }, names.get(field) ?? label(field)),
        node,
        error
      );
    };
    const areas = Object.keys(values.texts).map(field =>
      h(
        'textarea',
        { class: 'jp-mod-styled', rows: field === 'description' ? 6 : 3 },
        values.texts[field]
      )
    );
    const tags = h('input', {
      class: 'jp-mod-styled',
      type: 'text',
      value: values.tags.join(', '),
      placeholder: trans.__('risk, monthly')
    });
    const visibility = h(
      'select',
      { class: 'jp-mod-styled' },
      VISIBILITIES.map(v => h('option', { value: v }, v))
    );
    visibility.value = values.visibility;
    const problem = h('div', { class: 'jp-LeptonLab-error', role: 'alert' });
    const read = (): CardValues => ({
      texts: Object.fromEntries(
        Object.keys(values.texts).map((field, i) => [field, areas[i].value])
      ),
      tags: parseTags(tags.value),
      visibility: visibility.value
    });
    const save = button(trans.__('Save card'), () => void this.submit(read(), save));
    save.classList.add('jp-mod-accept');
    const cancel = button(trans.__('Cancel'), () => this.cancel());
    const form = h(
      'form',
      {
        class: 'jp-LeptonLab-cardEditor',
        'aria-label': trans.__('Edit the card'),
        onSubmit: (event: Event) => event.preventDefault(),
        onKeydown: (event: KeyboardEvent) => {
          // Escape leaves the editor; Ctrl/Cmd+Enter saves. Neither reaches the notebook.
          if (event.key === 'Escape') {
            event.preventDefault();
            event.stopPropagation();
            this.cancel();
          } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            event.stopPropagation();
            void this.submit(read(), save);
          }
        }
      },
      Object.keys(values.texts).map((field, i) => control(field, areas[i])),
      control('tags', tags),
      control('visibility', visibility),
      problem,
      h('div', { class: 'jp-LeptonLab-actions' }, save, cancel)
    );
    this.editing = { controls, errors, problem };
    replace(this.content, form);
    (areas[0] ?? tags).focus();
  }

  private cancel(): void {
    this.editing = null;
    this.show();
    this.content.querySelector<HTMLButtonElement>('button')?.focus();
  }

  /** Saves `values`; shows why not if the server refuses. */
  private async submit(values: CardValues, save: HTMLButtonElement): Promise<void> {
    if (save.disabled) {
      return; // Ctrl+Enter while a save is under way
    }
    const { controls, errors, problem } = this.editing!;
    for (const node of [...errors.values(), problem]) {
      replace(node);
    }
    controls.forEach(node => node.removeAttribute('aria-invalid'));
    save.disabled = true;
    try {
      await this.options.save(values);
    } catch (error) {
      this.showError(error);
    } finally {
      save.disabled = false;
    }
  }

  private showError(error: unknown): void {
    const { trans } = this.ctx;
    const { controls, errors, problem } = this.editing!;
    if (error instanceof ApiError && error.status === 403) {
      replace(problem, trans.__('You may not change this card: %1', error.message));
      return;
    }
    const field =
      error instanceof ApiError && (error.status === 400 || error.status === 422)
        ? errorField(error.message, [...controls.keys()])
        : null;
    if (field) {
      replace(errors.get(field)!, errorText(error));
      controls.get(field)!.setAttribute('aria-invalid', 'true');
      controls.get(field)!.focus();
    } else {
      replace(problem, trans.__('Could not save the card: %1', errorText(error)));
    }
  }
}
