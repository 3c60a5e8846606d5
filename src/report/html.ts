/**
 * The run report as one self-contained HTML page: styles inline, drawings as inline SVG,
 * quicklooks as data: URLs; no script, font or image is fetched.
 */
import { blockCoords, makeBlockPlan } from '../blockplan.js';
import type { RunRecord, OutputSummary } from './record.js';
import { esc, histogramSvg, phasesSvg, timelineSvg, type WindowOf } from './svg.js';

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d232a; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d8dee4; }
.ok { color: #1a7f37; } .failed { color: #cf222e; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #57606a; } code, pre { font: 12px ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow: auto; max-width: 1100px; }
.scroll { overflow-x: auto; max-width: 100%; }
svg text { font: 11px system-ui, sans-serif; fill: #1d232a; } svg .axis { fill: #57606a; }
svg .grid { stroke: #eaeef2; } svg .lanebase { stroke: #d8dee4; }
rect.block, rect.busy { fill: #3b82f6; } rect.block.lost { fill: #ef4444; } rect.io.read { fill: #a3d9a5; } rect.io.write { fill: #f3b562; }
path.lostmark { fill: #b91c1c; } rect.phase { fill: #3b82f6; } rect.phase.wait { fill: #cbd5e1; } rect.bar { fill: #64748b; }
.legend span { display: inline-block; margin-right: 14px; } .legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; }
.output { display: flex; gap: 24px; flex-wrap: wrap; margin-bottom: 18px; }
img.quicklook { border: 1px solid #d8dee4; image-rendering: pixelated; background: repeating-conic-gradient(#eee 0 25%, #fff 0 50%) 0 0 / 16px 16px; }
`;

/** In every page's head, so that a later run may replace it (see applier/runreport.ts). */
export const REPORT_PAGE_MARK = '<meta name="generator" content="riots run report">';

const n = (v: number | null | undefined, d = 4): string => (v === null || v === undefined ? '—' : Number.isInteger(v) ? String(v) : v.toPrecision(d + 2));

function windowFunction(r: Pick<RunRecord, 'plan'>): WindowOf {
  if (!r.plan) return () => null;
  const plan = makeBlockPlan(r.plan.cols, r.plan.rows, r.plan.windowXSize, r.plan.windowYSize, r.plan.overlap);
  return (b) => {
    if (b < 0 || b >= plan.total) return null;
    const c = blockCoords(plan, b);
    return { xoff: c.xoff, yoff: c.yoff, cols: c.xsize, rows: c.ysize };
  };
}

function outputSection(o: OutputSummary): string {
  const head = `<h3>${esc(o.name)} <small><code>${esc(o.path)}</code></small></h3>`;
  if (!o.exists) return `${head}<p>Not written${o.note ? `: ${esc(o.note)}` : ''}.</p>`;
  const img = o.quicklook
    ? `<img class="quicklook" alt="quicklook of ${esc(o.name)}" width="${o.quicklook.width}" height="${o.quicklook.height}" src="data:image/png;base64,${o.quicklook.png}">`
    : `<p>No quicklook${o.note ? `: ${esc(o.note)}` : ''}.</p>`;
  const bands = (o.bands ?? [])
    .map(
      (b) =>
        `<div><table><tr><th>band ${b.band}</th><td></td></tr><tr><th>min</th><td>${n(b.min)}</td></tr><tr><th>max</th><td>${n(b.max)}</td></tr><tr><th>mean</th><td>${n(b.mean)}</td></tr><tr><th>stddev</th><td>${n(b.stddev)}</td></tr><tr><th>nodata</th><td>${n(b.nodata)}</td></tr></table>${b.histogram ? histogramSvg(b.histogram) : '<p>No histogram stored.</p>'}</div>`,
    )
    .join('');
  const size = `<p>${o.cols ?? '?'} × ${o.rows ?? '?'} pixels, ${o.bands?.length ?? '?'} band(s), ${esc(o.dataType ?? '?')}${o.thematic ? ', thematic' : ''}</p>`;
  return `${head}${size}<div class="output">${img}${bands}</div>`;
}

/** How many sets of input handles the main read with, and who chose (the Settings table). */
function readSetsText(r: RunRecord['settings']['readSets']): string {
  if (!r || r.sets === 0) return '';
  const why = r.auto ? (r.sets > 1 ? ', chosen by riots for inputs resampled or rasterized per block' : ', riots’ default') : '';
  return `; the main read with ${r.sets} set(s) of input handles${why}`;
}

/** The timeline of `r` (drawn ahead by the applier while the outputs finish; see runreport.ts). */
export function renderTimeline(r: Pick<RunRecord, 'events' | 'plan'>): string {
  return r.events ? timelineSvg(r.events, windowFunction(r)) : '';
}

/** The page for `r`; `timeline` is {@link renderTimeline}'s result when drawn already. */
export function renderReport(r: RunRecord, timeline = renderTimeline(r)): string {
  const status = r.error ? `<span class="failed">failed</span>: ${esc(r.error.name)}: ${esc(r.error.message)}` : '<span class="ok">succeeded</span>';
  const s = r.settings;
  const blocks = r.plan?.blocks ?? 0;
  const lostCount = r.events ? r.events.attempts.lost.filter((x) => x === 1).length : 0;
  const timelineSection = r.events
    ? `<div class="legend"><span><i style="background:#a3d9a5"></i>read (main)</span><span><i style="background:#3b82f6"></i>block handed out → result back</span><span><i style="background:#ef4444"></i>lost with its worker (run again)</span><span><i style="background:#f3b562"></i>written</span></div><div class="scroll">${timeline}</div>`
    : '<p>No block was run.</p>';
  const lost =
    r.events && r.events.lost.length > 0
      ? `<ul>${r.events.lost.map((l) => `<li>${esc(r.events!.lanes[l.lane]!.label)} lost at ${l.at.toFixed(2)} s: ${esc(l.reason)}</li>`).join('')}</ul>`
      : '';
  const grid = r.grid
    ? `<tr><th>working grid</th><td>${r.grid.cols} × ${r.grid.rows} pixels, origin (${r.grid.transform[0]}, ${r.grid.transform[3]}), pixel ${r.grid.transform[1]} × ${-(r.grid.transform[5] ?? 0)}<br><code>${esc(r.grid.projection.slice(0, 160))}${r.grid.projection.length > 160 ? '…' : ''}</code></td></tr>`
    : '';
  const workerPhases = Object.entries(r.workerPhases)
    .map(([w, p]) => `<h3>${esc(w)}</h3>${phasesSvg(p)}`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">${REPORT_PAGE_MARK}<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>riots run report — ${r.error ? 'failed' : 'succeeded'}, ${r.wallSeconds.toFixed(2)} s</title><style>${STYLE}</style></head>
<body>
<h1>riots run report</h1>
<p>The run ${status}. Started ${esc(r.startedAt)}, ${r.wallSeconds.toFixed(2)} s, ${blocks} block(s)${lostCount > 0 ? `, ${lostCount} run again after a lost worker` : ''}.</p>
<h2>Timeline</h2>
${timelineSection}
${lost}
<h2>Where the time went</h2>
${phasesSvg(r.phases)}
${workerPhases}
<h2>Outputs</h2>
${r.outputs.map(outputSection).join('\n') || '<p>No outputs.</p>'}
<h2>Settings</h2>
<table>
<tr><th>workers</th><td>${esc(s.computeWorkerKind)}, ${s.numComputeWorkers} compute worker(s)${s.computeWorkersRead ? ' that read their own inputs' : ''}, numReadWorkers ${s.numReadWorkers}${readSetsText(s.readSets)}</td></tr>
${grid}
${r.plan ? `<tr><th>blocks</th><td>${r.plan.blocks} of ${r.plan.windowXSize} × ${r.plan.windowYSize}, overlap ${r.plan.overlap}</td></tr>` : ''}
<tr><th>versions</th><td>riots ${esc(r.versions.riots)}, GDAL ${esc(r.versions.gdal)}, Node ${esc(r.versions.node)}</td></tr>
<tr><th>controls given</th><td><pre>${esc(JSON.stringify(s.controls ?? {}, null, 2))}</pre></td></tr>
</table>
</body></html>
`;
}
