/** A small helper to build DOM trees, and the context every view is given. */
import type { CommandRegistry } from '@lumino/commands';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { LeptonApi } from './api';

type Child = Node | string | null | undefined | false;

/** `h('div', {class: 'x', 'aria-label': 'y'}, child, …)`; `on*` attributes are listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, unknown> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (key === 'class') {
      node.className = String(value);
    } else if (key === 'value' || key === 'checked' || key === 'disabled') {
      (node as any)[key] = value;
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

/** Appends children (strings become text). */
export function append(node: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(
      typeof child === 'string' ? document.createTextNode(child) : child
    );
  }
}

/** Replaces the children of `node`. */
export function replace(node: Node, ...children: (Child | Child[])[]): void {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
  append(node, children);
}

/** A table of `columns` with `rows` of cells. */
export function table(
  columns: string[],
  rows: (Child | Child[])[][],
  label: string
): HTMLTableElement {
  return h(
    'table',
    { class: 'jp-LeptonLab-table', 'aria-label': label },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map(c => h('th', { scope: 'col' }, c))
      )
    ),
    h(
      'tbody',
      {},
      rows.map(row =>
        h(
          'tr',
          {},
          row.map(cell => h('td', {}, cell as Child))
        )
      )
    )
  );
}

/** A button that copies `text` to the clipboard. */
export function copyButton(text: string, label: string): HTMLButtonElement {
  const button = h(
    'button',
    { class: 'jp-LeptonLab-button', 'aria-label': label, title: label },
    label
  );
  button.addEventListener('click', () => {
    void navigator.clipboard?.writeText(text);
  });
  return button;
}

/** What each view needs: the REST client, translations, commands, settings. */
export interface Context {
  api: LeptonApi;
  trans: TranslationBundle;
  commands: CommandRegistry;
  /** Milliseconds between two polls of a live view. */
  pollInterval(): number;
  /** User text (a card, a description) rendered as markdown by JupyterLab's rendermime,
   * sanitized as a notebook's markdown is. */
  markdown(text: string): HTMLElement;
}

/** The error message of a failed call, for the user. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
