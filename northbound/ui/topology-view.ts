// Draws the topology model as SVG: one <g class="node node-KIND"> per node
// (data-key, data-name), one <line class="edge edge-KIND state-S"> per edge,
// with a <title> each for the details. Nodes on a traced path get the class
// on-path (and the tunnel between two of them too).
import { clear, s } from './dom';
import type { TopoGraph } from './model';

export const TOPO_W = 960, TOPO_H = 560;

export function drawTopology(svg: SVGSVGElement, g: TopoGraph, onPick: (key: string) => void, onPath: ReadonlySet<string>): void {
  clear(svg);
  svg.setAttribute('viewBox', `0 0 ${TOPO_W} ${TOPO_H}`);
  const edges = s('g', { class: 'edges' });
  const labels = s('g', { class: 'edge-labels' });
  const nodes = s('g', { class: 'nodes' });
  g.forEachEdge((_e, a, src, dst, sa, ta) => {
    const on = a.kind === 'tunnel' && onPath.has(src) && onPath.has(dst);
    edges.append(s('line', {
      class: `edge edge-${a.kind} state-${a.state}${on ? ' on-path' : ''}`, x1: sa.x, y1: sa.y, x2: ta.x, y2: ta.y,
      'data-from': src, 'data-to': dst, 'data-state': a.state,
    }, s('title', {}, a.title)));
    if (a.kind === 'tunnel') {
      const text = a.label ? `${a.state} · ${a.label}` : a.state;
      labels.append(s('text', { class: `edge-label state-${a.state}`, x: (sa.x + ta.x) / 2, y: (sa.y + ta.y) / 2 - 6, 'text-anchor': 'middle' }, text));
    }
  });
  g.forEachNode((key, a) => {
    const name = key.slice(key.indexOf(':') + 1);
    const grp = s('g', {
      class: `node node-${a.kind} status-${a.status}${onPath.has(key) ? ' on-path' : ''}`, transform: `translate(${a.x.toFixed(1)},${a.y.toFixed(1)})`,
      'data-key': key, 'data-name': name, tabindex: a.kind === 'host' || a.kind === 'endpoint' || a.kind === 'switch' ? 0 : undefined,
    }, s('title', {}, a.title));
    if (a.kind === 'host') {
      grp.append(s('rect', { x: -58, y: -22, width: 116, height: 44, rx: 8 }), s('text', { class: 'label', y: -3, 'text-anchor': 'middle' }, a.label),
        s('text', { class: 'sub', y: 13, 'text-anchor': 'middle' }, a.sub));
    } else if (a.kind === 'switch') {
      grp.append(s('rect', { x: -16, y: -12, width: 32, height: 24, rx: 4 }), s('text', { class: 'label', y: 4, 'text-anchor': 'middle' }, a.label));
    } else if (a.kind === 'learned') {
      grp.append(s('circle', { r: 7 }), s('text', { class: 'sub', y: 20, 'text-anchor': 'middle' }, a.label));
    } else {
      grp.append(s('circle', { r: 8 }), s('text', { class: 'label', x: 12, y: -1 }, a.label), s('text', { class: 'sub', x: 12, y: 11 }, a.sub));
    }
    grp.addEventListener('click', () => onPick(key));
    grp.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') onPick(key); });
    nodes.append(grp);
  });
  svg.append(edges, labels, nodes);
  if (g.order === 0) svg.append(s('text', { class: 'empty', x: TOPO_W / 2, y: TOPO_H / 2, 'text-anchor': 'middle' }, 'no switches or hosts yet'));
}
