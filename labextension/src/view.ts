/** The base of the main-area views: a scrolling panel that loads itself and shows errors. */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import { Context, errorText, h, replace } from './dom';

/** A view of one item; `load()` fills `this.body`. */
export abstract class View extends Widget {
  protected readonly body: HTMLElement;
  protected readonly message: HTMLElement;

  constructor(protected readonly ctx: Context) {
    super();
    this.addClass('jp-LeptonLab-view');
    this.message = h('div', { class: 'jp-LeptonLab-message', role: 'status' });
    this.body = h('div', { class: 'jp-LeptonLab-body' });
    this.node.append(this.message, this.body);
  }

  /** Fetches and renders the item. */
  abstract load(): Promise<void>;

  /** Runs `action`, showing its error (or `done`) in the message line. */
  protected async attempt(action: () => Promise<void>, done = ''): Promise<boolean> {
    try {
      replace(this.message);
      this.message.classList.remove('jp-mod-error');
      await action();
      replace(this.message, done);
      return true;
    } catch (error) {
      this.message.classList.add('jp-mod-error');
      replace(this.message, errorText(error));
      return false;
    }
  }

  protected onAfterAttach(): void {
    void this.attempt(() => this.load());
  }
}

/** A main-area tab holding `view`. */
export function tab(
  view: View,
  id: string,
  label: string,
  icon: LabIcon
): MainAreaWidget<View> {
  const widget = new MainAreaWidget({ content: view });
  widget.id = id;
  widget.title.label = label;
  widget.title.caption = label;
  widget.title.icon = icon;
  widget.title.closable = true;
  return widget;
}

/** A section of a view: a heading and its content. */
export function section(
  title: string,
  ...children: (Node | string | null)[]
): HTMLElement {
  return h(
    'section',
    { class: 'jp-LeptonLab-viewSection' },
    h('h3', {}, title),
    ...children
  );
}

/** A button. */
export function button(
  label: string,
  onClick: () => void,
  attrs: Record<string, unknown> = {}
): HTMLButtonElement {
  return h(
    'button',
    { class: 'jp-LeptonLab-button', type: 'button', onClick, ...attrs },
    label
  );
}

/** A link-styled button that runs a command. */
export function commandLink(
  ctx: Context,
  label: string,
  command: string,
  args: object
): HTMLElement {
  return h(
    'button',
    {
      class: 'jp-LeptonLab-link',
      type: 'button',
      onClick: () => void ctx.commands.execute(command, args as any)
    },
    label
  );
}
