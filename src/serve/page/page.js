// The operator page's script: reads /v1/skills and /v1/calls with the
// tenant's token and /metrics, and shows them. Everything that comes from
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
    clear('metrics');
    setStatus('Token forgotten.', false);
    document.body.dataset.state = 'idle';
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('auth').addEventListener('submit', (ev) => {
      ev.preventDefault();
      refresh();
    });
    $('forget').addEventListener('click', forget);
    const saved = sessionStorage.getItem(KEY);
    if (saved) {
      $('token').value = saved;
      refresh();
    }
  });
})();
