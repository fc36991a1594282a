/** Small SVG charts drawn in JupyterLab's theme colours (light and dark alike). */
import { barHeights, formatValue, linePath } from './logic';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

/** A histogram of `counts` (bins between `edges`), `label` for screen readers. */
export function histogram(
  counts: number[],
  edges: number[],
  label: string
): SVGElement {
  const width = 120;
  const height = 32;
  const root = svg('svg', {
    class: 'jp-LeptonLab-histogram',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': label
  });
  const heights = barHeights(counts);
  const bar = width / Math.max(1, heights.length);
  heights.forEach((share, i) => {
    const rect = svg('rect', {
      x: i * bar + 0.5,
      y: height - share * height,
      width: Math.max(1, bar - 1),
      height: share * height
    });
    const title = svg('title', {});
    title.textContent = `${formatValue(edges[i])} – ${formatValue(edges[i + 1])}: ${counts[i]}`;
    rect.appendChild(title);
    root.appendChild(rect);
  });
  return root;
}

/** A line chart of one metric over model versions. */
export function lineChart(points: [number, number][], label: string): SVGElement {
  const width = 240;
  const height = 80;
  const pad = 6;
  const root = svg('svg', {
    class: 'jp-LeptonLab-line',
    viewBox: `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`,
    width: width + 2 * pad,
    height: height + 2 * pad,
    role: 'img',
    'aria-label': label
  });
  root.appendChild(svg('path', { d: linePath(points, width, height) }));
  const path = linePath(points, width, height).split(' ');
  path.forEach((step, i) => {
    const [x, y] = step.slice(1).split(',').map(Number);
    const dot = svg('circle', { cx: x, cy: y, r: 3 });
    const title = svg('title', {});
    title.textContent = `@${points[i][0]}: ${formatValue(points[i][1])}`;
    dot.appendChild(title);
    root.appendChild(dot);
  });
  return root;
}
