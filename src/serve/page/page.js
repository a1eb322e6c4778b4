// The operator page's script: reads /v1/skills and /v1/calls with the
// tenant's token, and shows them; reads /metrics (no token) every few
// seconds and draws the load charts from it. Everything that comes from
// the server (skill names, descriptions, errors, guest log lines) goes into
// the page as text (textContent), never as markup. The token is kept in
// sessionStorage (this tab, until it closes), never in the URL.
'use strict';

(function () {
  const KEY = 'cis.token';
  const $ = (id) => document.getElementById(id);

  function setStatus(text, isError) {
    const s = $('status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  // A table cell holding text (class cls when given).
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function clear(id) {
    const body = $(id).tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    return body;
  }

  function bytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '';
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MiB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
    return n + ' B';
  }

  function when(ms) {
    const d = new Date(ms);
    return isNaN(d.getTime()) ? '' : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  async function getJSON(path, token) {
    const r = await fetch(path, {
      headers: { Authorization: 'Bearer ' + token },
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
    if (r.status === 401) throw new Error('the token was refused (401)');
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  function showSkills(list) {
    const body = clear('skills');
    for (const s of list.skills || []) {
      const tr = document.createElement('tr');
      cell(tr, s.name, 'name');
      cell(tr, s.version);
      cell(tr, s.description);
      cell(tr, when((s.installed_at || 0) * 1000));
      const sha = cell(tr, '');
      const code = document.createElement('code');
      code.textContent = String(s.sha256 || '').slice(0, 16);
      code.title = String(s.sha256 || '');
      sha.appendChild(code);
      body.appendChild(tr);
    }
    if (!body.firstChild) {
      const tr = document.createElement('tr');
      cell(tr, 'No skills installed.').colSpan = 5;
      body.appendChild(tr);
    }
  }

  function showCalls(list) {
    const body = clear('calls');
    for (const c of list.calls || []) {
      const tr = document.createElement('tr');
      tr.className = c.error ? 'failed' : 'ok';
      cell(tr, c.seq, 'num');
      cell(tr, c.name, 'name');
      cell(tr, c.status, 'status');
      cell(tr, c.error ? c.error.type + ': ' + c.error.message : '', 'error');
      cell(tr, typeof c.wall_ms === 'number' ? c.wall_ms.toFixed(2) + ' ms' : '', 'num');
      cell(tr, bytes(c.memory_peak_bytes), 'num');
      cell(tr, when(c.at_ms));
      const td = cell(tr, '', 'logs');
      if (c.logs) {
        const det = document.createElement('details');
        const sum = document.createElement('summary');
        sum.textContent = (c.log_lines || 0) + ' line(s)' + (c.logs_truncated ? ', cut' : '');
        const pre = document.createElement('pre');
        pre.className = 'logs';
        pre.textContent = c.logs;
        det.appendChild(sum);
        det.appendChild(pre);
        td.appendChild(det);
      }
      body.appendChild(tr);
    }
    if (!body.firstChild) {
      const tr = document.createElement('tr');
      cell(tr, 'No calls yet.').colSpan = 8;
      body.appendChild(tr);
    }
  }

  // Prometheus text to {name: [{labels, value}]}.
  function parseMetrics(text) {
    const out = {};
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const kv of (m[3] || '').split(',')) {
        const p = /^([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"$/.exec(kv);
        if (p) labels[p[1]] = p[2];
      }
      (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[4]) });
    }
    return out;
  }

  function showMetrics(text) {
    const m = parseMetrics(text);
    const one = (name) => (m[name] && m[name].length ? m[name][0].value : undefined);
    const by = (name, label) =>
      (m[name] || []).map((e) => e.labels[label] + ' ' + e.value).join(', ');
    const count = one('cis_call_duration_seconds_count');
    const sum = one('cis_call_duration_seconds_sum');
    const rows = [
      ['Calls', one('cis_calls_total')],
      ['Failed calls by error', by('cis_call_errors_total', 'type') || 'none'],
      ['Mean call duration', count ? ((sum / count) * 1000).toFixed(2) + ' ms' : ''],
      ['Workers busy', one('cis_pool_busy') + ' of ' + one('cis_pool_workers')],
      ['Queue', one('cis_queue_length') + ' of ' + one('cis_queue_capacity')],
      ['Refused', by('cis_rejected_total', 'reason')],
      ['HTTP responses', by('cis_http_responses_total', 'class')],
      ['MCP sessions', one('cis_mcp_sessions')],
      ['Draining', one('cis_draining') ? 'yes' : 'no'],
    ];
    const body = clear('metrics');
    for (const [k, v] of rows) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = k;
      tr.appendChild(th);
      cell(tr, v);
      body.appendChild(tr);
    }
  }

  async function refresh() {
    const token = $('token').value.trim();
    if (!token) {
      setStatus('Enter a tenant\'s token first.', true);
      return;
    }
    sessionStorage.setItem(KEY, token);
    document.body.dataset.state = 'loading';
    setStatus('Loading...', false);
    try {
      const [skills, calls, metrics] = await Promise.all([
        getJSON('/v1/skills', token),
        getJSON('/v1/calls?limit=64', token),
        fetch('/metrics', { cache: 'no-store', credentials: 'omit' }).then((r) => r.text()),
      ]);
      showSkills(skills);
      showCalls(calls);
      showMetrics(metrics);
      setStatus('Updated ' + when(Date.now()) + '.', false);
      document.body.dataset.state = 'loaded';
    } catch (e) {
      setStatus(String(e && e.message ? e.message : e), true);
      document.body.dataset.state = 'error';
    }
  }

  function forget() {
    sessionStorage.removeItem(KEY);
    $('token').value = '';
    clear('skills');
    clear('calls');
    setStatus('Token forgotten.', false);
    document.body.dataset.state = 'idle';
  }

  // ---------------------------------------------------------- load charts
  //
  // Every SAMPLE_MS the page reads /metrics and keeps the counters it needs:
  // cis_calls_total, the sum of cis_call_errors_total over its types, and
  // the cumulative buckets of cis_call_duration_seconds. Two readings in a
  // row make one point: the calls and failures per second between them,
  // the share of those calls that failed, and the latency percentiles of
  // those calls, estimated from how the histogram's buckets grew (linear
  // within a bucket, as Prometheus' histogram_quantile does). Points older
  // than WINDOW_MS fall off. A reading that fails, or counters that went
  // down (a restarted server), break the lines instead of joining them.

  const SAMPLE_MS = 5000;
  const WINDOW_MS = 5 * 60 * 1000;
  const FETCH_MS = 4000;

  // The charts and their series: what each point's field is called, the
  // legend's words, and the colour (distinct from the bar, the grid and
  // each other; the screenshot test looks for them).
  const CHARTS = [
    {
      id: 'chart-calls', title: 'Calls per second', yAxis: 'calls/s', empty: 1,
      series: [
        { key: 'calls', name: 'all calls', color: '#1f77b4' },
        { key: 'failed', name: 'failed', color: '#d62728' },
      ],
    },
    {
      id: 'chart-errors', title: 'Error rate', yAxis: '% of calls', empty: 10, cap: 100,
      series: [{ key: 'errpct', name: 'failed calls', color: '#d62728', unit: '%' }],
    },
    {
      id: 'chart-latency', title: 'Call latency (from the histogram)', yAxis: 'ms', empty: 1,
      // p99 drawn first, under the others: it is the one a slow call
      // lifts apart from them, and p50 is read most.
      drawOrder: [2, 1, 0],
      series: [
        { key: 'p50', name: 'p50', color: '#2ca02c', unit: ' ms' },
        { key: 'p90', name: 'p90', color: '#ff7f0e', unit: ' ms' },
        { key: 'p99', name: 'p99', color: '#9467bd', unit: ' ms' },
      ],
    },
  ];

  let points = [];   // {t, calls, failed, errpct, p50, p90, p99}; null fields are gaps
  let last = null;   // the previous reading: {t, calls, errors, buckets: [{le, n}]}

  // The counters the charts need out of parsed metrics, or null when the
  // text lacks them.
  function reading(m, t) {
    const calls = m.cis_calls_total && m.cis_calls_total[0];
    const buckets = (m.cis_call_duration_seconds_bucket || [])
      .map((e) => ({ le: e.labels.le === '+Inf' ? Infinity : Number(e.labels.le), n: e.value }))
      .filter((b) => !isNaN(b.le))
      .sort((a, b) => a.le - b.le);
    if (!calls || !buckets.length || buckets[buckets.length - 1].le !== Infinity) return null;
    const errors = (m.cis_call_errors_total || []).reduce((acc, e) => acc + e.value, 0);
    return { t, calls: calls.value, errors, buckets };
  }

  // The q-quantile (0..1) of a histogram given as cumulative counts in
  // ascending bounds ending at +Inf, in seconds; null when it is empty. In
  // the +Inf bucket it is the highest finite bound (all one can say).
  function quantile(q, buckets) {
    const total = buckets[buckets.length - 1].n;
    if (!(total > 0)) return null;
    const rank = q * total;
    let below = 0, lower = 0;
    for (const b of buckets) {
      if (b.n >= rank) {
        if (b.le === Infinity) return lower;
        const inside = b.n - below;
        return inside > 0 ? lower + (b.le - lower) * ((rank - below) / inside) : b.le;
      }
      below = b.n;
      lower = b.le;
    }
    return lower;
  }

  // The point between readings a and b, or null when they cannot be
  // compared (a counter went down, or the buckets differ).
  function pointBetween(a, b) {
    const dt = (b.t - a.t) / 1000;
    const dc = b.calls - a.calls, de = b.errors - a.errors;
    if (!(dt > 0) || dc < 0 || de < 0 || a.buckets.length !== b.buckets.length) return null;
    const delta = [];
    for (let i = 0; i < b.buckets.length; i++) {
      const n = b.buckets[i].n - a.buckets[i].n;
      if (a.buckets[i].le !== b.buckets[i].le || n < 0) return null;
      delta.push({ le: b.buckets[i].le, n });
    }
    const ms = (q) => {
      const v = quantile(q, delta);
      return v === null ? null : v * 1000;
    };
    return {
      t: b.t, calls: dc / dt, failed: de / dt, errpct: dc > 0 ? (100 * de) / dc : null,
      p50: ms(0.5), p90: ms(0.9), p99: ms(0.99),
    };
  }

  const gap = (t) => ({ t, calls: null, failed: null, errpct: null, p50: null, p90: null, p99: null });

  // A round step for about n ticks up to max: 1, 2, 2.5 or 5 times a power
  // of ten.
  function niceStep(max, n) {
    const raw = max / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  // A tick's value with as many decimals as its step needs.
  function tickText(v, step) {
    let d = 0;
    while (d < 6 && Math.abs(Math.round(step * Math.pow(10, d)) - step * Math.pow(10, d)) > 1e-6) d++;
    return v.toFixed(d);
  }

  function valueText(v, unit) {
    if (v === null || v === undefined) return '-';
    const a = Math.abs(v);
    const s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.01 || a === 0 ? v.toFixed(2) : v.toPrecision(2);
    return s + (unit || '');
  }

  // Draws one chart over [now - WINDOW_MS, now] and leaves what it drew in
  // the canvas' data-summary (JSON: titles, axes, the plot's box in CSS
  // pixels, and per series its colour, points drawn and last value).
  function drawChart(spec, now) {
    const cv = $(spec.id);
    if (!cv || !cv.getContext) return;
    const box = cv.getBoundingClientRect();
    const w = Math.max(200, Math.round(box.width)), h = Math.max(120, Math.round(box.height));
    const dpr = window.devicePixelRatio || 1;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
    }
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, w, h);
    const font = '11px system-ui, sans-serif';
    const plot = { x: 56, y: 46, w: w - 56 - 14, h: h - 46 - 38 };

    // Title and legend (above the plot, so the plot holds only data).
    g.fillStyle = '#1b1b1b';
    g.font = 'bold 13px system-ui, sans-serif';
    g.textAlign = 'left';
    g.textBaseline = 'alphabetic';
    g.fillText(spec.title, 8, 17);
    g.font = font;
    const t0 = now - WINDOW_MS;
    const shown = points.filter((p) => p.t >= t0 && p.t <= now + SAMPLE_MS);
    let lx = 8;
    const summary = { title: spec.title, xAxis: 'time, last 5 min', yAxis: spec.yAxis, plot, series: [] };
    for (const s of spec.series) {
      const vals = shown.filter((p) => p[s.key] !== null);
      const lastv = vals.length ? vals[vals.length - 1][s.key] : null;
      const label = s.name + ' ' + valueText(lastv, s.unit || '');
      g.fillStyle = s.color;
      g.fillRect(lx, 27, 12, 4);
      g.fillStyle = '#1b1b1b';
      g.fillText(label, lx + 16, 33);
      lx += 16 + g.measureText(label).width + 14;
      const vs = vals.map((p) => p[s.key]);
      summary.series.push({
        name: s.name, color: s.color, points: vals.length, last: lastv,
        min: vs.length ? Math.min(...vs) : null, max: vs.length ? Math.max(...vs) : null,
      });
    }

    // The y scale: from 0 to a round bound above the highest value shown.
    let max = 0;
    for (const p of shown) for (const s of spec.series) if (p[s.key] !== null && p[s.key] > max) max = p[s.key];
    if (!(max > 0)) max = spec.empty;
    if (spec.cap && max > spec.cap) max = spec.cap;
    const step = niceStep(max, 4);
    const top = Math.ceil(max / step - 1e-9) * step;
    summary.yMax = top;
    // Which series is drawn over which (the page's tests read it).
    summary.drawOrder = spec.drawOrder ? spec.drawOrder.slice() : spec.series.map((_, i) => i);
    const X = (t) => plot.x + ((t - t0) / WINDOW_MS) * plot.w;
    const Y = (v) => plot.y + plot.h - (Math.min(v, top) / top) * plot.h;

    // Grid and tick labels.
    g.lineWidth = 1;
    g.strokeStyle = '#e4e4e4';
    g.fillStyle = '#444444';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let v = 0; v <= top + step / 2; v += step) {
      const y = Math.round(Y(v)) + 0.5;
      g.beginPath();
      g.moveTo(plot.x, y);
      g.lineTo(plot.x + plot.w, y);
      g.stroke();
      g.fillText(tickText(v, step), plot.x - 6, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let m = 5; m >= 0; m--) {
      const x = Math.round(X(now - m * 60000)) + 0.5;
      g.beginPath();
      g.moveTo(x, plot.y);
      g.lineTo(x, plot.y + plot.h + 4);
      g.stroke();
      g.fillText(m ? '-' + m + ' min' : 'now', Math.min(x, plot.x + plot.w - 10), plot.y + plot.h + 6);
    }
    // Axes and their titles.
    g.strokeStyle = '#555555';
    g.beginPath();
    g.moveTo(plot.x + 0.5, plot.y);
    g.lineTo(plot.x + 0.5, plot.y + plot.h + 0.5);
    g.lineTo(plot.x + plot.w, plot.y + plot.h + 0.5);
    g.stroke();
    g.fillStyle = '#1b1b1b';
    g.fillText(summary.xAxis, plot.x + plot.w / 2, plot.y + plot.h + 21);
    g.save();
    g.translate(12, plot.y + plot.h / 2);
    g.rotate(-Math.PI / 2);
    g.textBaseline = 'middle';
    g.fillText(spec.yAxis, 0, 0);
    g.restore();

    // The series: lines broken at gaps, a dot on every point (so a lone
    // point shows too).
    g.save();
    g.beginPath();
    g.rect(plot.x, plot.y - 4, plot.w + 4, plot.h + 4);
    g.clip();
    for (const s of spec.drawOrder ? spec.drawOrder.map((i) => spec.series[i]) : spec.series) {
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.beginPath();
      let down = false;
      for (const p of shown) {
        if (p[s.key] === null) {
          down = false;
          continue;
        }
        if (down) g.lineTo(X(p.t), Y(p[s.key]));
        else g.moveTo(X(p.t), Y(p[s.key]));
        down = true;
      }
      g.stroke();
      for (const p of shown) {
        if (p[s.key] === null) continue;
        g.beginPath();
        g.arc(X(p.t), Y(p[s.key]), 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
    g.restore();
    if (!summary.series.some((s) => s.points > 0)) {
      g.fillStyle = '#777777';
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText(last ? 'waiting for the next sample' : 'no sample yet', plot.x + plot.w / 2, plot.y + plot.h / 2);
    }
    cv.dataset.summary = JSON.stringify(summary);
    cv.setAttribute('aria-label', spec.title + ': ' +
      summary.series.map((s) => s.name + ' ' + valueText(s.last, '')).join(', '));
  }

  function drawCharts() {
    const now = Date.now();
    for (const spec of CHARTS) drawChart(spec, now);
  }

  function loadStatus(text, isError) {
    const s = $('load-status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  // One reading of /metrics: the table, a point for the charts, and the
  // next reading SAMPLE_MS after this one began.
  async function sample() {
    const began = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_MS);
    try {
      const r = await fetch('/metrics', { cache: 'no-store', credentials: 'omit', signal: abort.signal });
      if (!r.ok) throw new Error('/metrics: HTTP ' + r.status);
      const text = await r.text();
      const now = Date.now();
      const cur = reading(parseMetrics(text), now);
      if (!cur) throw new Error('/metrics has no cis_calls_total or call histogram');
      const p = last ? pointBetween(last, cur) : null;
      if (last) points.push(p || gap(now));
      last = cur;
      showMetrics(text);
      loadStatus('From /metrics every ' + SAMPLE_MS / 1000 + ' s; last read ' + when(now) + '.', false);
    } catch (e) {
      last = null;
      points.push(gap(Date.now()));
      loadStatus('Reading /metrics failed: ' + String(e && e.message ? e.message : e), true);
    } finally {
      clearTimeout(timer);
    }
    points = points.filter((p) => p.t >= Date.now() - WINDOW_MS - SAMPLE_MS);
    drawCharts();
    setTimeout(sample, Math.max(500, SAMPLE_MS - (Date.now() - began)));
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('auth').addEventListener('submit', (ev) => {
      ev.preventDefault();
      refresh();
    });
    $('forget').addEventListener('click', forget);
    window.addEventListener('resize', drawCharts);
    drawCharts();
    sample();
    const saved = sessionStorage.getItem(KEY);
    if (saved) {
      $('token').value = saved;
      refresh();
    }
  });
})();
