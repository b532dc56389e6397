/**
 * The dashboard's page and style sheet, served as they are: one HTML shell that loads the
 * compiled client (client/main.js, an ES module) and one CSS file. Nothing from outside (no
 * CDN, fonts or images), so the CSP can allow only 'self'.
 */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brankas</title>
<link rel="stylesheet" href="/assets/style.css">
<script type="module" src="/assets/main.js"></script>
</head>
<body>
<div id="app"><p>…</p></div>
<noscript>The brankas dashboard needs JavaScript; the API is at /api/v1/openapi.json.</noscript>
</body>
</html>
`;

export const STYLE_CSS = `
:root { --fg: #1b1f24; --bg: #fff; --muted: #5b6470; --line: #d0d7de; --accent: #0b5cad;
  --ok: #1a7f37; --bad: #c0222a; --warn: #8a5a00; font-family: system-ui, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.45; }
header { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; padding: 8px 16px;
  border-bottom: 1px solid var(--line); }
header nav { display: flex; flex-wrap: wrap; gap: 12px; flex: 1; }
.brand { font-weight: 700; color: var(--fg); text-decoration: none; }
a { color: var(--accent); }
a[aria-current="page"] { font-weight: 700; text-decoration: none; }
main, #sign-in { padding: 12px 16px; max-width: 1100px; }
#sign-in { display: grid; gap: 8px; max-width: 420px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { font: inherit; padding: 6px 12px; border: 1px solid var(--accent); background: var(--accent);
  color: #fff; border-radius: 4px; cursor: pointer; min-height: 36px; }
button.secondary { background: var(--bg); color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
input, select { font: inherit; padding: 6px; border: 1px solid var(--line); border-radius: 4px; min-height: 36px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: .85rem;
  border: 1px solid currentColor; margin: 0 4px; }
.badge.passed { color: var(--ok); } .badge.failed { color: var(--bad); }
.badge.untested { color: var(--muted); } .badge.current { color: var(--accent); }
.warnings { margin: 0; padding-left: 1.1rem; color: var(--warn); }
.error { color: var(--bad); }
.muted { color: var(--muted); }
form.inline { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 6px 0; }
.tree, .timeline { list-style: none; padding: 0; }
.tree li, .timeline li { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center;
  padding: 6px 0; border-bottom: 1px solid var(--line); }
${[1, 2, 3, 4, 5, 6, 7, 8].map((d) => `.tree .depth-${d} { padding-left: ${d * 1.25}rem; }`).join('\n')}
.timeline li { border-left: 3px solid var(--accent); padding-left: 10px; }
.job { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.job h3 { margin: 0 0 6px; font-size: 1rem; }
.job progress { width: 100%; height: 14px; }
.state-succeeded { color: var(--ok); } .state-failed { color: var(--bad); }
pre { white-space: pre-wrap; word-break: break-all; font-size: .8rem; margin: 4px 0; }
.chart { width: 100%; max-width: 640px; height: auto; }
.chart .axis { stroke: var(--muted); }
.chart polyline { stroke-width: 2.5; }
.chart polyline.logical { stroke: var(--accent); }
.chart polyline.stored { stroke: var(--ok); }
.chart circle.logical, .chart text.logical { fill: var(--accent); }
.chart circle.stored, .chart text.stored { fill: var(--ok); }
.chart text { font-size: 12px; fill: var(--muted); }
dialog.ask { max-width: min(520px, 92vw); border: 1px solid var(--line); border-radius: 8px; }
dialog.ask .buttons { display: flex; gap: 8px; justify-content: flex-end; }
@media (max-width: 600px) {
  header { padding: 8px; } main { padding: 8px; }
  th, td { padding: 4px; }
}
`;
