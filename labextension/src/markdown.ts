/**
 * Markdown of user text (dataset and model cards, template descriptions), rendered by
 * JupyterLab's rendermime exactly as a notebook's markdown: untrusted, so its sanitizer
 * removes scripts, event handlers and the rest. Never `innerHTML` of user text here.
 */
import { MimeModel, type IRenderMimeRegistry } from '@jupyterlab/rendermime';

const MARKDOWN = 'text/markdown';

/** A function that renders markdown with `rendermime`; plain text where there is none. */
export function markdownRenderer(
  rendermime: IRenderMimeRegistry | null
): (text: string) => HTMLElement {
  return (text: string) => {
    const host = document.createElement('div');
    host.className = 'jp-LeptonLab-markdown';
    if (!rendermime || !rendermime.mimeTypes.includes(MARKDOWN)) {
      host.textContent = text;
      return host;
    }
    const renderer = rendermime.createRenderer(MARKDOWN);
    host.appendChild(renderer.node);
    // `trusted: false`: the sanitizer runs, as for a markdown cell.
    renderer
      .renderModel(new MimeModel({ data: { [MARKDOWN]: text }, trusted: false }))
      .catch(() => {
        host.textContent = text;
      });
    return host;
  };
}
