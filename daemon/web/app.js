/* engwatch dashboard — plain JavaScript, no dependencies.
 *
 * Reads the daemon's JSON API (same origin):
 *   /api/accounts?limit=N      the table (every 5 s, and when new alerts arrive)
 *   /api/accounts/{id}         the detail panel: 24 h of 5-minute buckets and recent alerts
 *   /api/alerts?since=ID       the live feed (every 2 s)
 *   /readyz                    the readiness pill
 * With http.token set the API answers 401; the page then asks for the token
 * once (kept in sessionStorage) and sends it as "Authorization: Bearer".
 * Every value from the API reaches the page through textContent or SVG
 * attributes, never as HTML.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'engwatch.token';
  const ALERT_POLL_MS = 2000;
  const ACCOUNT_POLL_MS = 5000;
  const READY_POLL_MS = 5000;
  const FEED_MAX = 200;
  const LEVEL_RANK = { none: 0, info: 1, warning: 2, critical: 3 };
  const SIGNAL_LABEL = {
    comment_burst: 'comment burst',
    hollow_comments: 'hollow comments',
    follower_spike: 'follower spike',
    engagement_mismatch: 'engagement mismatch',
  };
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    askingToken: false,
    accounts: [],
    sortKey: 'risk',
    sortDir: -1,
    minLevel: 0,
    text: '',
    selected: null,
    detail: null,
    lastId: null,
    feed: [],
    feedIds: new Set(),
    seen: 0,
    autoSelected: false,
  };

  /* ---- DOM helpers ------------------------------------------------------ */

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  const pad = (n) => String(n).padStart(2, '0');

  /* Event time in UTC: "2026-01-05 14:05:00". */
  function fmtTime(ms, withSeconds) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '—';
    const d = new Date(ms);
    const s = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    return withSeconds === false ? s : `${s}:${pad(d.getUTCSeconds())}`;
  }

  /* Compact event time for tables and the feed: "01-05 14:05". */
  function fmtShort(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '—';
    const d = new Date(ms);
    return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }

  const fmtRisk = (v) => (typeof v === 'number' && isFinite(v) ? v.toFixed(1) : '—');

  function fmtNum(v) {
    if (typeof v !== 'number' || !isFinite(v)) return String(v);
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    const a = Math.abs(v);
    if (a >= 100) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    if (a === 0) return '0';
    return v.toPrecision(3);
  }

  function fmtDuration(ms) {
    if (typeof ms !== 'number' || ms <= 0) return '';
    const m = Math.round(ms / 60000);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60), r = m % 60;
    return r ? `${h} h ${r} min` : `${h} h`;
  }

  function levelBadge(level) {
    const lv = LEVEL_RANK[level] !== undefined ? level : 'none';
    return el('span', `badge lv-${lv}`, lv);
  }

  function signalChip(sig) {
    const c = el('span', `chip sig-${String(sig).replace(/[^a-z_]/g, '')}`,
      SIGNAL_LABEL[sig] || sig);
    c.title = sig;
    return c;
  }

  /* ---- API ---------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let r;
    try {
      r = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      setConn('down', 'daemon unreachable');
      throw new ApiError(0, 'daemon unreachable');
    }
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (r.status === 401) {
      askToken(!!state.token);
      throw new ApiError(401, 'token required');
    }
    if (!r.ok && !(path.startsWith('/readyz') && r.status === 503)) {
      const msg = (body && body.error) || r.statusText;
      if (r.status === 503) setConn('warn', msg);
      throw new ApiError(r.status, msg);
    }
    setConn('ok', 'live');
    return body;
  }

  function setConn(kind, text) {
    const c = $('conn');
    c.className = `pill pill-${kind}`;
    c.textContent = text;
  }

  /* ---- token ---------------------------------------------------------------- */

  function askToken(refused) {
    if (state.askingToken) return;
    state.askingToken = true;
    $('auth-error').hidden = !refused;
    $('auth').hidden = false;
    $('auth-token').value = '';
    $('auth-token').focus();
  }

  function initAuth() {
    $('auth-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.token = $('auth-token').value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      state.askingToken = false;
      $('auth').hidden = true;
      $('signout').hidden = !state.token;
      refreshAll();
    });
    $('signout').hidden = !state.token;
    $('signout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = '';
      $('signout').hidden = true;
      refreshAll();
    });
  }

  /* ---- accounts table -------------------------------------------------------- */

  function sortValue(a, key) {
    switch (key) {
      case 'risk': return typeof a.risk === 'number' ? a.risk : -1;
      case 'level': return LEVEL_RANK[a.level] || 0;
      case 'signals': return (a.signals || []).length * 1000 + (a.signals || []).join(',').length;
      case 'last_alert_ts': return typeof a.last_alert_ts === 'number' ? a.last_alert_ts : -1;
      default: return String(a.account || '').toLowerCase();
    }
  }

  function renderAccounts() {
    const body = $('accounts-body');
    const rows = state.accounts.filter((a) =>
      (LEVEL_RANK[a.level] || 0) >= state.minLevel &&
      (!state.text || String(a.account).toLowerCase().includes(state.text)));
    const k = state.sortKey, dir = state.sortDir;
    rows.sort((x, y) => {
      const a = sortValue(x, k), b = sortValue(y, k);
      if (a < b) return -dir;
      if (a > b) return dir;
      /* ties: the most recent alert first, then by name */
      const ta = sortValue(x, 'last_alert_ts'), tb = sortValue(y, 'last_alert_ts');
      if (ta !== tb) return tb - ta;
      return String(x.account).localeCompare(String(y.account));
    });
    clear(body);
    const maxRisk = 100;
    for (const a of rows) {
      const tr = el('tr');
      tr.dataset.account = a.account;
      tr.tabIndex = 0;
      if (a.account === state.selected) tr.classList.add('selected');

      tr.appendChild(el('td', 'acct mono', a.account));

      const risk = el('td', 'num');
      const cell = el('span', 'riskcell');
      const bar = el('span', 'riskbar');
      const fill = el('span', `riskfill lv-${LEVEL_RANK[a.level] !== undefined ? a.level : 'none'}`);
      fill.style.width = `${Math.max(2, Math.min(100, (a.risk / maxRisk) * 100))}%`;
      bar.appendChild(fill);
      cell.appendChild(bar);
      cell.appendChild(el('span', 'riskval', fmtRisk(a.risk)));
      risk.appendChild(cell);
      tr.appendChild(risk);

      const lv = el('td');
      lv.appendChild(levelBadge(a.level));
      tr.appendChild(lv);

      const sg = el('td');
      const chips = el('span', 'chips');
      for (const s of a.signals || []) chips.appendChild(signalChip(s));
      sg.appendChild(chips);
      tr.appendChild(sg);

      const lt = el('td', 'time', fmtShort(a.last_alert_ts));
      lt.title = fmtTime(a.last_alert_ts) + ' UTC';
      tr.appendChild(lt);
      tr.addEventListener('click', () => select(a.account));
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') select(a.account); });
      body.appendChild(tr);
    }
    $('accounts-empty').hidden = rows.length > 0;
    $('acct-count').textContent = rows.length === state.accounts.length
      ? `(${state.accounts.length})` : `(${rows.length} of ${state.accounts.length})`;
    for (const th of document.querySelectorAll('#accounts th')) {
      th.classList.toggle('sorted', th.dataset.key === k);
      th.dataset.dir = th.dataset.key === k ? (dir > 0 ? 'asc' : 'desc') : '';
    }
  }

  async function loadAccounts() {
    const list = await api('/api/accounts?limit=500');
    state.accounts = Array.isArray(list) ? list : [];
    renderAccounts();
    if (!state.selected && !state.autoSelected) {
      const first = document.querySelector('#accounts-body tr'); /* as sorted and filtered */
      if (first) {
        state.autoSelected = true;
        select(first.dataset.account);
      }
    }
  }

  function initTable() {
    for (const th of document.querySelectorAll('#accounts th')) {
      th.tabIndex = 0;
      const sort = () => {
        const k = th.dataset.key;
        if (state.sortKey === k) state.sortDir = -state.sortDir;
        else {
          state.sortKey = k;
          state.sortDir = k === 'account' ? 1 : -1;
        }
        renderAccounts();
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') sort(); });
    }
    $('level-filter').addEventListener('change', (ev) => {
      state.minLevel = Number(ev.target.value) || 0;
      renderAccounts();
    });
    $('text-filter').addEventListener('input', (ev) => {
      state.text = ev.target.value.trim().toLowerCase();
      renderAccounts();
    });
  }

  /* ---- detail panel ------------------------------------------------------------ */

  function select(account) {
    state.selected = account;
    state.autoSelected = true;
    const h = '#account=' + encodeURIComponent(account);
    if (location.hash !== h) history.replaceState(null, '', h);
    for (const tr of document.querySelectorAll('#accounts-body tr')) {
      tr.classList.toggle('selected', tr.dataset.account === account);
    }
    loadDetail().catch(() => {});
  }

  async function loadDetail() {
    const account = state.selected;
    if (!account) return;
    let d;
    try {
      d = await api('/api/accounts/' + encodeURIComponent(account));
    } catch (e) {
      if (e.status === 404 && account === state.selected) {
        renderDetailMessage(account, 'No data for this account (expired or never seen).');
      }
      throw e;
    }
    if (account !== state.selected) return; /* the user moved on */
    state.detail = d;
    renderDetail(d);
  }

  function renderDetailMessage(account, msg) {
    $('detail-h').textContent = account;
    const body = $('detail-body');
    clear(body);
    body.appendChild(el('p', 'empty', msg));
  }

  function kv(dl, key, value) {
    dl.appendChild(el('dt', null, key));
    const dd = el('dd');
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = value;
    dl.appendChild(dd);
  }

  function renderDetail(d) {
    $('detail-h').textContent = d.account;
    const body = $('detail-body');
    clear(body);
    body.dataset.account = d.account;

    /* summary */
    const sum = el('div', 'summary');
    const big = el('div', 'bigrisk');
    big.appendChild(el('span', 'bignum', fmtRisk(d.risk)));
    big.appendChild(el('span', 'biglabel', 'risk'));
    sum.appendChild(big);
    const dl = el('dl', 'facts');
    kv(dl, 'level', levelBadge(d.level));
    const basis = d.risk_basis === 'last_update'
      ? `at its last update, ${fmtTime(d.risk_updated_ts)}`
      : d.risk_basis === 'latest_alert' ? 'at its latest alert' : 'no risk recorded';
    kv(dl, 'risk basis', basis);
    if (typeof d.risk_at_watermark === 'number' && d.risk_at_watermark !== d.risk) {
      kv(dl, 'decayed to watermark', fmtRisk(d.risk_at_watermark));
    }
    const opened = d.incident_opened_ts ? 'opened ' + fmtTime(d.incident_opened_ts) : '';
    kv(dl, 'incident', d.incident ? (opened ? `${d.incident} · ${opened}` : d.incident)
      : opened || '—');
    const chips = el('span', 'chips');
    for (const s of d.signals || []) chips.appendChild(signalChip(s));
    kv(dl, 'signals', (d.signals || []).length ? chips : '—');
    kv(dl, 'last alert', fmtTime(d.last_alert_ts));
    sum.appendChild(dl);
    body.appendChild(sum);

    /* charts */
    const s = d.series || {};
    const alerts = (d.recent_alerts || []).map((x) => x.alert).filter((a) => a && typeof a === 'object');
    const charts = el('div', 'charts');
    const title = el('h3', null, `Activity, last 24 h of event time (${Math.round((s.bucket_ms || 300000) / 60000)}-minute buckets)`);
    charts.appendChild(title);
    if (!s.bucket_start || !s.bucket_start.length) {
      charts.appendChild(el('p', 'empty', 'No window data for this account (expired, or no events yet).'));
    } else {
      charts.appendChild(chart('Comments', 'comments', s, [{ key: 'comments', cls: 'c-comments' }], alerts));
      charts.appendChild(chart('Hollow comments', 'hollow', s, [{ key: 'hollow', cls: 'c-hollow' }], alerts));
      charts.appendChild(chart('Follows (up) / unfollows (down)', 'follows', s,
        [{ key: 'follows', cls: 'c-follows' }, { key: 'unfollows', cls: 'c-unfollows', down: true }], alerts));
      const wm = el('p', 'hint', `Anchored at the account's watermark ${fmtTime(s.watermark)} UTC; shaded: alert windows.`);
      charts.appendChild(wm);
    }
    body.appendChild(charts);

    /* evidence */
    const ev = el('div', 'evidence');
    ev.appendChild(el('h3', null, `Evidence (${alerts.length} recent alert${alerts.length === 1 ? '' : 's'})`));
    if (!alerts.length && d.latest_alert && typeof d.latest_alert === 'object') alerts.push(d.latest_alert);
    if (!alerts.length) ev.appendChild(el('p', 'empty', 'No alerts in the recent stream for this account.'));
    for (const a of alerts) ev.appendChild(alertCard(a));
    body.appendChild(ev);
  }

  /* One bar chart of series[key] (and optional downward series) as inline SVG. */
  function chart(label, id, s, series, alerts) {
    const wrap = el('figure', 'chart');
    wrap.dataset.series = id;
    const starts = s.bucket_start;
    const n = starts.length;
    const bms = s.bucket_ms || 300000;
    const W = 640, H = 92, L = 40, R = 18, T = 8, B = 18;
    const up = series.filter((x) => !x.down), down = series.filter((x) => x.down);
    const maxOf = (list) => Math.max(0, ...list.flatMap((x) => s[x.key] || []));
    const maxUp = Math.max(1, maxOf(up));
    const maxDown = down.length ? maxOf(down) : 0;
    const plotH = H - T - B;
    const zeroY = T + (down.length && maxDown > 0 ? plotH * maxUp / (maxUp + maxDown) : plotH);
    const scale = (down.length && maxDown > 0) ? plotH / (maxUp + maxDown) : plotH / maxUp;
    const bw = (W - L - R) / n;
    const x0 = starts[0], x1 = starts[n - 1] + bms;
    const xOf = (t) => L + ((t - x0) / (x1 - x0)) * (W - L - R);

    const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img' });
    svg.appendChild(svgEl('title', {})).textContent = `${label}: 24 h, ${n} buckets`;

    /* alert windows */
    for (const a of alerts) {
      const w = a.window || {};
      const ws = typeof w.start === 'number' ? w.start : a.ts, we = typeof w.end === 'number' ? w.end : a.ts;
      if (typeof ws !== 'number' || we < x0 || ws > x1) continue;
      const xa = xOf(Math.max(ws, x0)), xb = xOf(Math.min(Math.max(we, ws + bms / 2), x1));
      const r = svgEl('rect', { x: xa, y: T, width: Math.max(2, xb - xa), height: plotH,
        class: `alertwin lv-${LEVEL_RANK[a.level] !== undefined ? a.level : 'none'}` });
      r.appendChild(svgEl('title', {})).textContent =
        `${SIGNAL_LABEL[a.signal] || a.signal} (${a.level}) ${fmtTime(ws)} – ${fmtTime(we)}`;
      svg.appendChild(r);
    }

    /* grid and axes */
    svg.appendChild(svgEl('line', { x1: L, x2: W - R, y1: zeroY, y2: zeroY, class: 'axis' }));
    svg.appendChild(svgEl('line', { x1: L, x2: W - R, y1: T, y2: T, class: 'grid' }));
    const yl = svgEl('text', { x: L - 4, y: T + 4, class: 'ylabel' });
    yl.textContent = fmtNum(maxUp);
    svg.appendChild(yl);
    const y0 = svgEl('text', { x: L - 4, y: zeroY + 4, class: 'ylabel' });
    y0.textContent = '0';
    svg.appendChild(y0);
    if (down.length && maxDown > 0) {
      const yd = svgEl('text', { x: L - 4, y: T + plotH, class: 'ylabel' });
      yd.textContent = '−' + fmtNum(maxDown);
      svg.appendChild(yd);
    }
    const sixH = 6 * 3600 * 1000;
    for (let i = 0; i < n; i++) {
      const t = starts[i];
      if (t % sixH !== 0) continue;
      const x = L + i * bw;
      svg.appendChild(svgEl('line', { x1: x, x2: x, y1: T, y2: T + plotH, class: 'grid' }));
      const d = new Date(t);
      const tx = svgEl('text', { x, y: H - 6, class: 'xlabel' });
      tx.textContent = d.getUTCHours() === 0
        ? `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` : `${pad(d.getUTCHours())}:00`;
      svg.appendChild(tx);
    }

    /* bars */
    let total = 0;
    for (const sr of series) {
      const vals = s[sr.key] || [];
      const g = svgEl('g', { class: sr.cls });
      for (let i = 0; i < n; i++) {
        const v = vals[i] || 0;
        if (!sr.down) total += v;
        if (v <= 0) continue;
        const h = Math.max(1, v * scale);
        const r = svgEl('rect', { x: L + i * bw, width: Math.max(0.8, bw - 0.4),
          y: sr.down ? zeroY : zeroY - h, height: h });
        r.appendChild(svgEl('title', {})).textContent = `${fmtTime(starts[i], false)}: ${v} ${sr.key}`;
        g.appendChild(r);
      }
      svg.appendChild(g);
    }
    const cap = el('figcaption');
    cap.appendChild(el('span', 'chart-label', label));
    const tot = series.map((sr) => `${(s[sr.key] || []).reduce((x, y) => x + y, 0).toLocaleString('en-US')} ${sr.key}`);
    cap.appendChild(el('span', 'chart-total', tot.join(' · ') + ' in 24 h'));
    wrap.appendChild(cap);
    wrap.appendChild(svg);
    return wrap;
  }

  /* Evidence values: numbers, strings, small objects flattened one level. */
  function evidenceRows(ev) {
    const rows = [];
    const samples = [];
    for (const [k, v] of Object.entries(ev || {})) {
      if (k === 'incident' || k === 'action') continue;
      if (Array.isArray(v)) {
        if (v.length && typeof v[0] === 'object' && v[0] && ('text' in v[0] || 'id' in v[0])) {
          samples.push([k, v]);
        } else {
          rows.push([k, v.map((x) => (typeof x === 'number' ? fmtNum(x) : String(x))).join(', ')]);
        }
      } else if (v && typeof v === 'object') {
        for (const [k2, v2] of Object.entries(v)) {
          rows.push([`${k}.${k2}`, typeof v2 === 'number' ? fmtNum(v2) : JSON.stringify(v2)]);
        }
      } else {
        rows.push([k, typeof v === 'number' ? fmtNum(v) : String(v)]);
      }
    }
    return { rows, samples };
  }

  function alertCard(a) {
    const card = el('article', `alert-card lv-border-${LEVEL_RANK[a.level] !== undefined ? a.level : 'none'}`);
    card.dataset.alertId = a.alert_id || '';
    const head = el('header');
    head.appendChild(levelBadge(a.level));
    head.appendChild(signalChip(a.signal));
    head.appendChild(el('span', 'time', fmtTime(a.ts)));
    const ev = a.evidence || {};
    if (ev.action) head.appendChild(el('span', 'muted', ev.action));
    card.appendChild(head);

    const dl = el('dl', 'facts small');
    kv(dl, 'score', fmtNum(a.score));
    kv(dl, 'risk after', fmtRisk(a.risk));
    if (a.post) kv(dl, 'post', a.post);
    if (a.window) {
      kv(dl, 'window', `${fmtTime(a.window.start)} – ${fmtTime(a.window.end)}` +
        (a.window.end > a.window.start ? ` (${fmtDuration(a.window.end - a.window.start)})` : ''));
    }
    const { rows, samples } = evidenceRows(ev);
    for (const [k, v] of rows) kv(dl, k.replace(/_/g, ' '), v);
    kv(dl, 'alert id', a.alert_id || '—');
    const cols = el('div', samples.length ? 'cols' : null);
    cols.appendChild(dl);
    card.appendChild(cols);

    for (const [k, list] of samples) {
      const box = el('div', 'samples');
      box.appendChild(el('h4', null, `${k.replace(/_/g, ' ')} (${list.length})`));
      const ul = el('ul');
      for (const sm of list.slice(0, 16)) {
        const li = el('li');
        li.appendChild(el('code', 'sid', sm.id !== undefined ? sm.id : ''));
        li.appendChild(el('span', 'stext', sm.text !== undefined ? sm.text : JSON.stringify(sm)));
        ul.appendChild(li);
      }
      box.appendChild(ul);
      cols.appendChild(box);
    }
    return card;
  }

  /* ---- live feed --------------------------------------------------------------- */

  function addAlerts(items, fresh) {
    const feed = $('feed');
    let added = 0;
    const touched = new Set();
    for (const it of items) {
      const a = it.alert;
      if (!it.id || state.feedIds.has(it.id) || !a || typeof a !== 'object') continue;
      state.feedIds.add(it.id);
      touched.add(a.account);
      added++;
      state.seen++;
      const li = el('li', `feed-item lv-border-${LEVEL_RANK[a.level] !== undefined ? a.level : 'none'}`);
      if (fresh) li.classList.add('fresh');
      li.dataset.alertId = a.alert_id || it.id;
      li.dataset.streamId = it.id;
      li.dataset.account = a.account;
      li.appendChild(el('span', 'time', fmtShort(a.ts)));
      li.appendChild(levelBadge(a.level));
      li.appendChild(el('span', 'acct mono', a.account));
      li.appendChild(signalChip(a.signal));
      li.appendChild(el('span', 'riskval', `risk ${fmtRisk(a.risk)}`));
      li.title = `stream id ${it.id}`;
      li.addEventListener('click', () => select(a.account));
      feed.insertBefore(li, feed.firstChild); /* newest on top */
    }
    while (feed.children.length > FEED_MAX) {
      const last = feed.lastChild;
      state.feedIds.delete(last.dataset.streamId);
      feed.removeChild(last);
    }
    $('feed-empty').hidden = feed.children.length > 0;
    $('feed-count').textContent = state.seen > feed.children.length
      ? `(latest ${feed.children.length} of ${state.seen})` : `(${state.seen})`;
    return { added, touched };
  }

  async function pollAlerts() {
    const q = state.lastId === null ? '/api/alerts?limit=100'
      : `/api/alerts?since=${encodeURIComponent(state.lastId)}&limit=500`;
    const r = await api(q);
    const { added, touched } = addAlerts(r.alerts || [], state.lastId !== null);
    if (r.last_id) state.lastId = r.last_id;
    if (added && state.lastId !== null) {
      loadAccounts().catch(() => {});
      if (state.selected && touched.has(state.selected)) loadDetail().catch(() => {});
    }
  }

  async function pollReady() {
    const r = await api('/readyz');
    const p = $('ready');
    if (r && r.ready) {
      p.className = 'pill pill-ok';
      p.textContent = `ready · ${r.kafka_assigned} partition${r.kafka_assigned === 1 ? '' : 's'}`;
    } else {
      p.className = 'pill pill-warn';
      p.textContent = 'not ready' + (r && r.reason ? `: ${r.reason}` : '');
    }
  }

  /* ---- loops -------------------------------------------------------------------- */

  function loop(fn, ms) {
    const run = async () => {
      try {
        if (!state.askingToken) await fn();
      } catch (e) {
        /* shown in the connection pill; try again next round */
      }
      setTimeout(run, ms);
    };
    run();
  }

  function refreshAll() {
    loadAccounts().catch(() => {});
    pollReady().catch(() => {});
    if (state.selected) loadDetail().catch(() => {});
  }

  function init() {
    initAuth();
    initTable();
    const m = /^#account=(.+)$/.exec(location.hash);
    if (m) {
      try {
        state.selected = decodeURIComponent(m[1]);
        state.autoSelected = true;
        loadDetail().catch(() => {});
      } catch (e) {
        state.selected = null;
      }
    }
    loop(pollAlerts, ALERT_POLL_MS);
    loop(loadAccounts, ACCOUNT_POLL_MS);
    loop(pollReady, READY_POLL_MS);
    let resize = null;
    window.addEventListener('resize', () => {
      clearTimeout(resize);
      resize = setTimeout(() => { if (state.detail) renderDetail(state.detail); }, 200);
    });
  }

  document.addEventListener('DOMContentLoaded', init);
})();
