// perps-sim dashboard: renders the view the server pushes on /sim/v1/ui/feed.
// Every value is shown as the API renders it (dollar strings, fixed-point counts); the page
// computes nothing but chart geometry. Data is put in the DOM with textContent only.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const state = { view: null, ticker: null, socket: null, retry: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? "—"));
  }
  return node;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function signed(text) {
  return text && text.startsWith("-") ? "neg" : text && /[1-9]/.test(text) ? "pos" : "";
}

function ratioText(ratio) {
  return ratio === null || ratio === undefined ? "—" : ratio.toPrecision(4);
}

function time(text) {
  return text ? text.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—";
}

async function control(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`/sim/v1${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) notice(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

// ------------------------------------------------------------------ rendering

function renderClock(view) {
  const clock = view.clock;
  document.getElementById("scenario").textContent = `scenario ${view.scenario}`;
  document.getElementById("clock-mode").textContent = clock.mode;
  document.getElementById("clock-now").textContent = time(clock.now);
  document.getElementById("clock-now").dataset.ms = String(clock.now_ms);
  const extra = [];
  if (clock.mode === "accelerated") extra.push(`speed ${clock.speed}x`);
  if (clock.lag_ms) extra.push(`lag ${clock.lag_ms} ms`);
  if (clock.advance) extra.push(`advancing ${clock.advance.percent}%`);
  for (const replay of clock.replays || []) {
    extra.push(`replay ${replay.ticker} ${replay.done ? "ran out" : `${replay.percent}%`}`);
  }
  document.getElementById("clock-extra").textContent = extra.join(" · ");
  const manual = clock.mode === "manual";
  document.getElementById("advance-1m").disabled = !manual;
  document.getElementById("advance-1h").disabled = !manual;
  const trading = view.exchange.trading_active;
  document.getElementById("pause-trading").textContent = trading ? "pause trading" : "resume trading";
}

function renderMarkets(view) {
  const rows = view.markets.map(({ market, funding }) => el("tr", { "data-ticker": market.ticker },
    el("td", {}, market.ticker),
    el("td", {}, market.status),
    el("td", { class: "reference" }, market.reference_price?.price),
    el("td", { class: "liquidation-mark" }, market.liquidation_mark_price?.price),
    el("td", { class: "settlement-mark" }, market.settlement_mark_price?.price),
    el("td", { class: "funding-rate" }, String(funding.funding_rate)),
    el("td", {}, time(funding.next_funding_time)),
    el("td", {}, market.volume_24h),
    el("td", {}, market.open_interest)));
  fill(document.querySelector("#markets tbody"), rows);
  const tabs = document.getElementById("market-tabs");
  const tickers = view.markets.map((m) => m.market.ticker);
  if (!tickers.includes(state.ticker)) state.ticker = tickers[0] ?? null;
  tabs.replaceChildren(...tickers.map((ticker) => {
    const button = el("button", { type: "button", class: ticker === state.ticker ? "active" : "" }, ticker);
    button.addEventListener("click", () => { state.ticker = ticker; render(state.view); });
    return button;
  }));
}

function renderBook(entry) {
  document.getElementById("book-ticker").textContent = entry.market.ticker;
  const { bids, asks } = entry.orderbook;
  const rows = [];
  for (const [price, count] of [...asks].reverse()) {
    rows.push(el("tr", { class: "ask-row" }, el("td", {}, ""), el("td", { class: "price ask" }, price), el("td", { class: "ask" }, count)));
  }
  for (const [price, count] of bids) {
    rows.push(el("tr", { class: "bid-row" }, el("td", { class: "bid" }, count), el("td", { class: "price bid" }, price), el("td", {}, "")));
  }
  fill(document.querySelector("#book tbody"), rows);
  drawDepth(document.getElementById("depth"), bids, asks);
}

function renderTrades(entry) {
  fill(document.querySelector("#trades tbody"), entry.trades.map((t) => el("tr", { "data-trade": t.trade_id },
    el("td", {}, time(t.created_time)), el("td", { class: "price" }, t.price),
    el("td", { class: "count" }, t.count), el("td", {}, t.taker_side))));
  drawPrice(document.getElementById("price"), entry.candlesticks);
}

function renderAccounts(view) {
  const cards = view.accounts.map((account) => {
    const subs = account.balance.subaccount_balances.map((b) => el("tr", {},
      el("td", {}, String(b.subaccount)), el("td", { class: "equity" }, b.account_equity),
      el("td", {}, b.maintenance_margin), el("td", {}, b.initial_margin),
      el("td", {}, b.available_balance),
      el("td", { class: "margin-ratio" }, ratioText(account.margin_ratios[String(b.subaccount)]))));
    const positions = account.positions.map((p) => el("tr", { "data-ticker": p.market_ticker },
      el("td", {}, `${p.market_ticker} #${p.subaccount}`), el("td", { class: "position" }, p.position),
      el("td", { class: "entry" }, p.entry_price),
      el("td", { class: `upnl ${signed(p.unrealized_pnl)}` }, p.unrealized_pnl),
      el("td", {}, p.margin_used), el("td", {}, p.roe === null ? "—" : String(p.roe))));
    const orders = account.orders.map((o) => el("tr", {},
      el("td", {}, o.ticker), el("td", {}, o.side), el("td", {}, o.price),
      el("td", {}, o.remaining_count), el("td", {}, o.client_order_id)));
    const fills = account.fills.map((f) => el("tr", {},
      el("td", {}, time(f.created_time)), el("td", {}, f.ticker), el("td", {}, f.side),
      el("td", {}, f.price), el("td", {}, f.count), el("td", {}, f.fees),
      el("td", { class: signed(f.realized_pnl) }, f.realized_pnl)));
    const funding = account.funding.map((f) => el("tr", {},
      el("td", {}, time(f.funding_time)), el("td", {}, f.market_ticker),
      el("td", {}, String(f.funding_rate)), el("td", { class: signed(f.funding_amount) }, f.funding_amount)));
    const table = (title, head, rows) => rows.length === 0 ? el("p", { class: "muted" }, `no ${title}`)
      : el("div", {}, el("h3", {}, title), el("table", {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))), el("tbody", {}, ...rows)));
    return el("div", { class: "account", "data-user": account.user_id },
      el("h3", {}, account.user_id, el("span", { class: "muted" }, `  settled funds ${account.balance.settled_funds}`)),
      table("subaccounts", ["subaccount", "equity", "maintenance margin", "initial margin", "available", "margin ratio"], subs),
      table("positions", ["market", "position", "entry", "uPnL", "margin used", "ROE %"], positions),
      table("open orders", ["market", "side", "price", "remaining", "client order id"], orders),
      table("recent fills", ["time", "market", "side", "price", "count", "fees", "realized PnL"], fills),
      table("funding payments", ["funding time", "market", "rate", "amount"], funding));
  });
  document.getElementById("accounts").replaceChildren(...cards);
  document.getElementById("accounts-more").textContent =
    view.accounts_not_shown ? `${view.accounts_not_shown} more accounts not shown` : "";
}

function renderLists(view) {
  fill(document.querySelector("#liquidations tbody"), view.liquidations.map((s) => el("tr", {},
    el("td", {}, time(s.time)), el("td", {}, `${s.user_id} #${s.subaccount}`), el("td", {}, s.stage),
    el("td", {}, s.equity), el("td", {}, s.maintenance_margin), el("td", {}, s.order_id ?? ""))));
  fill(document.querySelector("#faults tbody"), view.faults.map((f) => el("tr", {},
    el("td", {}, f.fault_id), el("td", {}, f.kind), el("td", {}, f.target),
    el("td", {}, String(f.percent)), el("td", {}, String(f.applied)))));
}

function render(view) {
  if (!view) return;
  renderClock(view);
  renderMarkets(view);
  const entry = view.markets.find((m) => m.market.ticker === state.ticker);
  if (entry) { renderBook(entry); renderTrades(entry); }
  renderAccounts(view);
  renderLists(view);
}

// ------------------------------------------------------------------ charts

function canvasContext(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const context = canvas.getContext("2d");
  context.scale(ratio, ratio);
  context.clearRect(0, 0, width, height);
  return { context, width, height };
}

function drawDepth(canvas, bids, asks) {
  // cumulative size away from the touch, as steps: bids to the left, asks to the right
  const { context, width, height } = canvasContext(canvas);
  const cumulative = (levels) => {
    let total = 0;
    return levels.map(([p, c]) => [Number(p), (total += Number(c))]);
  };
  const b = cumulative(bids), a = cumulative(asks);
  const all = [...b, ...a];
  if (all.length === 0) {
    context.fillStyle = "#8594a6";
    context.fillText("empty book", 10, 20);
    return;
  }
  const prices = all.map(([p]) => p), maxTotal = Math.max(...all.map(([, t]) => t));
  const pad = (Math.max(...prices) - Math.min(...prices)) * 0.1 || Math.max(...prices) * 0.001;
  const lo = Math.min(...prices) - pad, hi = Math.max(...prices) + pad;
  const x = (p) => ((p - lo) / (hi - lo)) * width;
  const y = (t) => height - 14 - (t / maxTotal) * (height - 28);
  const base = height - 14;
  for (const [levels, color, edge] of [[b, "#3fb67a", 0], [a, "#e5534b", width]]) {
    if (levels.length === 0) continue;
    context.beginPath();
    context.moveTo(x(levels[0][0]), base);
    let last = base;
    for (const [p, t] of levels) {
      context.lineTo(x(p), last);
      context.lineTo(x(p), y(t));
      last = y(t);
    }
    context.lineTo(edge, last);
    context.lineTo(edge, base);
    context.closePath();
    context.fillStyle = color + "55";
    context.strokeStyle = color;
    context.fill();
    context.stroke();
  }
  context.fillStyle = "#8594a6";
  context.fillText(lo.toFixed(4), 4, height - 2);
  context.fillText(hi.toFixed(4), width - 48, height - 2);
}

function drawPrice(canvas, candles) {
  const { context, width, height } = canvasContext(canvas);
  const points = candles.map((c) => {
    const close = c.price.close ?? (c.bid && c.ask ? (Number(c.bid.close) + Number(c.ask.close)) / 2 : null);
    return close === null ? null : [c.end_period_ts, Number(close)];
  }).filter(Boolean);
  if (points.length === 0) {
    context.fillStyle = "#8594a6";
    context.fillText("no candles yet", 10, 20);
    return;
  }
  if (points.length === 1) points.unshift([points[0][0] - 60, points[0][1]]);
  const ts = points.map(([t]) => t), ps = points.map(([, p]) => p);
  const t0 = Math.min(...ts), t1 = Math.max(...ts), p0 = Math.min(...ps), p1 = Math.max(...ps);
  const x = (t) => 8 + ((t - t0) / (t1 - t0 || 1)) * (width - 60);
  const y = (p) => height - 10 - ((p - p0) / (p1 - p0 || 1)) * (height - 20);
  context.strokeStyle = "#4c9aff";
  context.beginPath();
  points.forEach(([t, p], i) => (i ? context.lineTo(x(t), y(p)) : context.moveTo(x(t), y(p))));
  context.stroke();
  context.fillStyle = "#8594a6";
  context.fillText(p1.toFixed(4), width - 50, 12);
  context.fillText(p0.toFixed(4), width - 50, height - 4);
}

// ------------------------------------------------------------------ live feed

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/sim/v1/ui/feed${query}`);
  state.socket = socket;
  const status = document.getElementById("status");
  socket.onopen = () => { state.retry = 0; status.textContent = "live"; status.className = "badge live"; };
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "reset") notice("the exchange was reset or its state replaced");
    if (frame.type === "view") { state.view = frame.view; render(frame.view); }
  };
  socket.onclose = () => {
    status.textContent = "reconnecting";
    status.className = "badge down";
    state.retry = Math.min(state.retry + 1, 5);
    setTimeout(connect, 250 * state.retry);
  };
}

document.getElementById("advance-1m").addEventListener("click", () => control("POST", "/clock/advance", { ms: 60000 }));
document.getElementById("advance-1h").addEventListener("click", () => control("POST", "/clock/advance", { ms: 3600000, wait: false }));
document.getElementById("pause-trading").addEventListener("click", () => {
  const active = state.view ? state.view.exchange.trading_active : true;
  control("POST", "/exchange/status", { trading_active: !active });
});
connect();
