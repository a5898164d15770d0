// Draws a trace's answer: the computed path as a column of hops (a box per
// table a bridge looked the packet up in, a diamond per tunnel or underlay
// crossing), the verdict at its end, and, with a live trace, what the
// switches saw beside it and whether the two agree. Below, every hop's
// matched flow in full.
import { clear, h, s } from './dom';
import type { Endpoint, Hop, Observed, TraceAnswer, Verdict } from './types';

const ROW = 64, BOX_W = 380, BOX_H = 46, COL2 = 440;

export function verdictText(v: Verdict, name: (id: string) => string): string {
  switch (v.result) {
    case 'delivered': return `delivered to ${v.endpoint ? name(v.endpoint) : '?'} on ${v.host}`;
    case 'left': return `left ${v.host}${v.how ? ` (${v.how})` : ''}${v.detail ? `: ${v.detail}` : ''}`;
    case 'lost': return `lost${v.detail ? `: ${v.detail}` : ''}`;
    default: return `dropped on ${v.host}${v.bridge ? ` ${v.bridge}` : ''}${v.table ? ` table ${v.table}` : ''}: ${v.reason ?? 'no flow'}${v.detail ? ` (${v.detail})` : ''}`;
  }
}

/** The verdict in a few words, for its box (the full text is its tooltip and the line above the drawing). */
export function verdictShort(v: Verdict, name: (id: string) => string): string {
  const full = v.result === 'dropped' ? `dropped on ${v.host}${v.table ? ` ${v.table}` : ''}: ${(v.reason ?? 'no flow').split(':')[0]}`
    : v.result === 'lost' ? 'lost' : verdictText(v, name);
  return full.length > 52 ? `${full.slice(0, 51)}…` : full;
}

const hopTitle = (p: Hop) => (p.kind ? `${p.kind}${p.vni !== undefined ? ` vni ${p.vni}` : ''}: ${p.from ?? '?'} → ${p.to ?? '?'}` : `${p.host} · ${p.bridge} · ${p.tableId}:${p.table}`);

function hopBox(x: number, y: number, cls: string, attrs: Record<string, string | number | undefined>, line1: string, line2: string, tip: string): SVGGElement {
  const tunnel = cls.includes('hop-tunnel');
  return s('g', { class: cls, transform: `translate(${x},${y})`, ...attrs },
    s('title', {}, tip),
    tunnel ? s('polygon', { points: `0,${BOX_H / 2} 24,0 ${BOX_W - 24},0 ${BOX_W},${BOX_H / 2} ${BOX_W - 24},${BOX_H} 24,${BOX_H}` }) : s('rect', { width: BOX_W, height: BOX_H, rx: 6 }),
    s('text', { class: 'label', x: tunnel ? 30 : 10, y: 19 }, line1),
    s('text', { class: 'sub', x: tunnel ? 30 : 10, y: 36 }, line2.length > 58 ? `${line2.slice(0, 57)}…` : line2));
}

function column(svg: SVGSVGElement, x: number, heading: string, boxes: SVGGElement[], verdict: { text: string; short: string; result: string }, cls: string): number {
  const g = s('g', { class: `trace-column ${cls}` }, s('text', { class: 'heading', x, y: 16 }, heading));
  let y = 28;
  boxes.forEach((b, i) => {
    b.setAttribute('transform', `translate(${x},${y})`);
    g.append(b);
    if (i > 0) g.append(s('line', { class: 'step', x1: x + BOX_W / 2, y1: y - (ROW - BOX_H), x2: x + BOX_W / 2, y2: y - 2, 'marker-end': 'url(#arrow)' }));
    y += ROW;
  });
  if (boxes.length) g.append(s('line', { class: 'step', x1: x + BOX_W / 2, y1: y - (ROW - BOX_H), x2: x + BOX_W / 2, y2: y - 2, 'marker-end': 'url(#arrow)' }));
  g.append(s('g', { class: `verdict verdict-${verdict.result}`, transform: `translate(${x},${y})` },
    s('rect', { width: BOX_W, height: BOX_H - 8, rx: 19 }), s('text', { class: 'label', x: BOX_W / 2, y: 24, 'text-anchor': 'middle' }, verdict.short),
    s('title', {}, verdict.text)));
  svg.append(g);
  return y + BOX_H;
}

export function drawTrace(svg: SVGSVGElement, verdictEl: HTMLElement, table: HTMLTableElement, a: TraceAnswer, endpoints: Endpoint[]): void {
  const byId = new Map(endpoints.map((e) => [e.id, e]));
  const name = (id: string) => { const e = byId.get(id); return e ? `${e.containerId} (${e.ip})` : `endpoint ${id}`; };
  clear(svg); clear(table); clear(verdictEl);
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z' }))));
  const hops = a.computed.hops.map((p, i) => (p.kind
    ? hopBox(0, 0, `hop hop-tunnel hop-${p.kind}`, { 'data-index': i, 'data-kind': p.kind }, `${p.kind}${p.vni !== undefined ? ` vni ${p.vni}` : ''}`, `${p.from ?? '?'} → ${p.to ?? '?'}`, hopTitle(p))
    : hopBox(0, 0, 'hop', { 'data-index': i, 'data-host': p.host, 'data-bridge': p.bridge, 'data-table': p.table }, `${p.host} · ${p.bridge} · ${p.tableId}:${p.table}`, p.actions ?? '', `${hopTitle(p)}\n${p.flow ?? '(no flow)'}\nowner: ${p.owner ?? '-'}`)));
  const v = a.computed.verdict;
  let height = column(svg, 10, 'computed (the controller\'s flows)', hops, { text: verdictText(v, name), short: verdictShort(v, name), result: v.result }, 'computed');
  let width = BOX_W + 20;
  if (a.live) {
    const obs = a.live.observed.map((o: Observed, i) => hopBox(0, 0, `hop hop-live event-${o.event}`, { 'data-index': i, 'data-host': o.host, 'data-bridge': o.bridge, 'data-table': o.table },
      `${o.host} · ${o.bridge} · ${o.tableId}:${o.table}`, `${o.event}${o.port ? ` ${o.port}` : ''}${o.endpoint ? ` → ${name(o.endpoint)}` : ''}`, `${o.flow ?? '(no flow matched)'}`));
    height = Math.max(height, column(svg, COL2, `live (a marked packet, ${a.live.injections} injected)`, obs, { text: verdictText(a.live.verdict, name), short: verdictShort(a.live.verdict, name), result: a.live.verdict.result }, 'live'));
    width = COL2 + BOX_W + 10;
  }
  svg.setAttribute('viewBox', `0 0 ${width} ${height + 10}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height + 10));
  verdictEl.className = `verdict-line verdict-${v.result}`;
  verdictEl.append(h('strong', {}, 'verdict: '), verdictText(v, name));
  if (a.computed.arp) verdictEl.append(h('span', { class: 'arp' }, ` (arp: ${a.computed.arp.target} is at ${a.computed.arp.mac ?? 'nobody'})`));
  if (a.live) {
    verdictEl.append(h('br'), h('strong', {}, 'live: '), verdictText(a.live.verdict, name), ' — ',
      h('span', { class: a.agree ? 'agree' : 'differ' }, a.agree ? 'computed and live agree' : `computed and live differ: ${a.difference?.detail ?? '?'}`));
  }
  table.append(h('thead', {}, h('tr', {}, ...['#', 'host', 'bridge', 'table', 'owner', 'flow', 'actions'].map((c) => h('th', {}, c)))));
  const body = h('tbody');
  a.computed.hops.forEach((p, i) => body.append(p.kind
    ? h('tr', { class: 'tunnel' }, h('td', {}, String(i + 1)), h('td', { colspan: 6 }, hopTitle(p)))
    : h('tr', {}, h('td', {}, String(i + 1)), h('td', {}, p.host ?? ''), h('td', {}, p.bridge ?? ''), h('td', {}, `${p.tableId}:${p.table}`), h('td', {}, p.owner ?? '-'),
      h('td', { class: 'mono' }, p.flow ?? '(none)'), h('td', { class: 'mono' }, p.actions ?? ''))));
  table.append(body);
}

/** The topology keys a computed path touches (its hosts, and the endpoints at either end). */
export function pathKeys(a: TraceAnswer, from?: string): Set<string> {
  const keys = new Set<string>();
  for (const p of a.computed.hops) if (p.host) keys.add(`host:${p.host}`);
  if (a.computed.verdict.host) keys.add(`host:${a.computed.verdict.host}`);
  if (a.computed.verdict.endpoint) keys.add(`ep:${a.computed.verdict.endpoint}`);
  if (from) keys.add(`ep:${from}`);
  return keys;
}
