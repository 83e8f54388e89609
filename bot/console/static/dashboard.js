// The dashboard: figures from /api/stats drawn as SVG in the page (no chart library, no
// outside service). Every chart also carries its numbers as text (a title on each bar, an
// aria-label on the chart and a table), for screen readers and for anyone who wants the
// number rather than the shape. Text from the API enters the page only as text.
"use strict";
(function () {
  const G = window.GigDesk;
  const SVG = "http://www.w3.org/2000/svg";
  const form = document.getElementById("range");
  const csv = document.getElementById("csv");
  const results = document.getElementById("results");
  const OTHER_LABEL = "其他（选了问题、问候、登记步骤等）";
  let latest = 0; // only the answer to the newest request is drawn

  // --- small helpers ---------------------------------------------------------------------------
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const name in attrs) node.setAttribute(name, String(attrs[name]));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  /** A chart's frame: role img, an accessible name, a viewBox that scales with the page. */
  function frame(width, height, label) {
    const root = svg("svg", {viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": label,
                             preserveAspectRatio: "xMinYMin meet"});
    root.appendChild(svg("title", {}, label));
    return root;
  }

  /** "2026-11-03" -> "11月3日", read from the text: the API's dates are the union's days. */
  function dayWords(iso) {
    const parts = iso.split("-");
    return Number(parts[1]) + "月" + Number(parts[2]) + "日";
  }

  function percent(share) {
    return share === null || share === undefined ? "—" : (Math.round(share * 1000) / 10) + "%";
  }

  function minutesWords(seconds) {
    return seconds === null || seconds === undefined ? "—" : G.duration(seconds);
  }

  /** A round step for a y axis, so gridlines fall on 1, 2, 5, 10, 20, 50, ... */
  function niceStep(max, lines) {
    const rough = Math.max(max, 1) / lines;
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    for (const m of [1, 2, 5, 10]) if (m * power >= rough) return Math.max(1, m * power);
    return 10 * power;
  }

  function shorten(text, chars) {
    return text.length > chars ? text.slice(0, chars - 1) + "…" : text;
  }

  function legend(list, items) {
    list.replaceChildren.apply(list, items.map(function (item) {
      const li = G.el("li");
      li.appendChild(G.el("span", "swatch " + item.className));
      li.appendChild(document.createTextNode(item.label));
      return li;
    }));
  }

  // --- per day: stacked bars by outcome, and the messages as a line ----------------------------
  function outcomeChart(box, data) {
    const keys = data.groups.map(function (g) { return g.id; }).concat(["other"]);
    const labels = {};
    data.groups.forEach(function (g) { labels[g.id] = g.label; });
    labels.other = OTHER_LABEL;
    const days = data.days.map(function (d) {
      return Object.assign({}, d, {other: d.other + d.chosen});
    });
    const W = 960, H = 300, left = 48, right = 12, top = 12, bottom = 34;
    const plotW = W - left - right, plotH = H - top - bottom;
    const max = Math.max(1, ...days.map(function (d) {
      return Math.max(d.messages, keys.reduce(function (s, k) { return s + d[k]; }, 0));
    }));
    const step = niceStep(max, 4);
    const ceiling = Math.ceil(max / step) * step;
    const y = function (v) { return top + plotH - (v / ceiling) * plotH; };
    const slot = plotW / days.length;
    const barW = Math.max(1, Math.min(28, slot * 0.7));
    const root = frame(W, H, "每天骑手发来的消息和机器人的处理结果，" + data.from + " 到 " + data.to +
      "：共 " + data.totals.messages + " 条消息，" + data.totals.questions + " 个问题");

    for (let v = 0; v <= ceiling; v += step) {
      root.appendChild(svg("line", {x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid"}));
      root.appendChild(svg("text", {x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end"}, v));
    }
    const every = Math.ceil(days.length / 12);
    const points = [];
    days.forEach(function (d, i) {
      const x = left + slot * i + (slot - barW) / 2;
      const group = svg("g", {class: "day", "data-date": d.date});
      let base = 0;
      keys.forEach(function (k) {
        if (!d[k]) return;
        const rect = svg("rect", {x: x, y: y(base + d[k]), width: barW, height: y(base) - y(base + d[k]),
                                  class: "bar g-" + k, "data-group": k, "data-value": d[k]});
        rect.appendChild(svg("title", {}, dayWords(d.date) + " " + labels[k] + "：" + d[k]));
        group.appendChild(rect);
        base += d[k];
      });
      root.appendChild(group);
      points.push((left + slot * i + slot / 2) + "," + y(d.messages));
      if (i % every === 0) {
        root.appendChild(svg("text", {x: left + slot * i + slot / 2, y: H - 12, class: "axis",
                                      "text-anchor": "middle"}, dayWords(d.date)));
      }
    });
    root.appendChild(svg("polyline", {points: points.join(" "), class: "messages-line"}));
    // A dot a day while they can be told apart (about two months); the line alone beyond that.
    if (days.length <= 62) {
      days.forEach(function (d, i) {
        const dot = svg("circle", {cx: left + slot * i + slot / 2, cy: y(d.messages), r: 3, class: "messages-dot"});
        dot.appendChild(svg("title", {}, dayWords(d.date) + " 骑手发来的消息：" + d.messages));
        root.appendChild(dot);
      });
    }
    box.replaceChildren(root);
    legend(document.getElementById("outcome-legend"), keys.map(function (k) {
      return {className: "g-" + k, label: labels[k]};
    }).concat([{className: "messages", label: "骑手发来的消息（线）"}]));
    outcomeTable(data, keys, labels, days);
  }

  function outcomeTable(data, keys, labels, days) {
    const head = document.getElementById("outcome-head");
    head.replaceChildren.apply(head, ["日期", "骑手消息"].concat(keys.map(function (k) { return labels[k]; }))
      .map(function (t) { return G.el("th", "", t); }));
    const rows = document.getElementById("outcome-rows");
    rows.replaceChildren.apply(rows, days.map(function (d) {
      const tr = G.el("tr");
      [d.date, d.messages].concat(keys.map(function (k) { return d[k]; })).forEach(function (v) {
        tr.appendChild(G.el("td", "", v));
      });
      return tr;
    }));
  }

  function figures(data) {
    const list = document.getElementById("figures");
    const items = [["骑手发来的消息", data.totals.messages], ["其中的问题", data.totals.questions]];
    data.groups.forEach(function (g) {
      items.push([g.label, percent(data.shares[g.id]) + "（" + data.totals[g.id] + "）"]);
    });
    list.replaceChildren();
    items.forEach(function (item) {
      const div = G.el("div", "figure");
      div.appendChild(G.el("dt", "", item[0]));
      div.appendChild(G.el("dd", "", item[1]));
      list.appendChild(div);
    });
  }

  // --- horizontal bars: top entries, cases by kind ---------------------------------------------
  /** rows: [{label, values: [number per series]}]; series: [{className, label}]. */
  function horizontalBars(box, rows, series, label) {
    const W = 960, labelW = 300, right = 60, rowH = 14 + 16 * series.length, top = 6;
    const H = top * 2 + rowH * rows.length;
    const max = Math.max(1, ...rows.map(function (r) { return Math.max.apply(null, r.values); }));
    const scale = (W - labelW - right) / max;
    const root = frame(W, H, label);
    rows.forEach(function (r, i) {
      const y0 = top + rowH * i;
      const name = svg("text", {x: labelW - 8, y: y0 + rowH / 2 + 5, class: "label", "text-anchor": "end"},
                       shorten(r.label, 20));
      name.appendChild(svg("title", {}, r.label));
      root.appendChild(name);
      series.forEach(function (s, j) {
        const value = r.values[j];
        const y = y0 + 7 + 16 * j;
        const rect = svg("rect", {x: labelW, y: y, width: Math.max(value * scale, value ? 2 : 0), height: 13,
                                  class: "bar " + s.className, "data-value": value});
        rect.appendChild(svg("title", {}, r.label + (s.label ? " " + s.label : "") + "：" + value));
        root.appendChild(rect);
        root.appendChild(svg("text", {x: labelW + value * scale + 6, y: y + 11, class: "value"}, value));
      });
    });
    box.replaceChildren(root);
  }

  function topEntries(data) {
    const entries = data.top_entries;
    document.getElementById("top-empty").hidden = entries.length > 0;
    document.getElementById("top-table").hidden = entries.length === 0;
    const box = document.getElementById("top-chart");
    if (!entries.length) {
      box.replaceChildren();
    } else {
      horizontalBars(box, entries.map(function (e) { return {label: e.title, values: [e.count]}; }),
                     [{className: "g-answered", label: ""}], "回答最多的 " + entries.length + " 条问答");
    }
    const rows = document.getElementById("top-rows");
    rows.replaceChildren.apply(rows, entries.map(function (e) {
      const tr = G.el("tr");
      tr.appendChild(G.el("td", "", e.title));
      tr.appendChild(G.el("td", "", e.count));
      return tr;
    }));
  }

  function cases(data) {
    const kinds = data.cases;
    document.getElementById("cases-empty").hidden = kinds.length > 0;
    document.getElementById("cases-table").hidden = kinds.length === 0;
    const series = [{className: "c-opened", label: "新登记"}, {className: "c-closed", label: "办结"}];
    const box = document.getElementById("cases-chart");
    const list = document.getElementById("cases-legend");
    if (!kinds.length) {
      box.replaceChildren();
      list.replaceChildren();
    } else {
      horizontalBars(box, kinds.map(function (k) { return {label: k.title, values: [k.opened, k.closed]}; }),
                     series, "按种类的求助登记：新登记和办结的数量");
      legend(list, series);
    }
    const rows = document.getElementById("cases-rows");
    rows.replaceChildren.apply(rows, kinds.map(function (k) {
      const tr = G.el("tr");
      [k.title, k.opened, k.closed].forEach(function (v) { tr.appendChild(G.el("td", "", v)); });
      return tr;
    }));
  }

  // --- handoff times ---------------------------------------------------------------------------
  function card(title, lines, className) {
    const div = G.el("div", "card" + (className ? " " + className : ""));
    div.appendChild(G.el("h3", "", title));
    const dl = G.el("dl");
    lines.forEach(function (line) {
      dl.appendChild(G.el("dt", "", line[0]));
      dl.appendChild(G.el("dd", "", line[1]));
    });
    div.appendChild(dl);
    return div;
  }

  function timeLines(figures, noun) {
    if (!figures.count) return [["次数", "0"], ["", "这段时间没有" + noun]];
    return [["次数", figures.count], ["中位数", minutesWords(figures.median)],
            ["90% 不超过", minutesWords(figures.p90)]];
  }

  function handoffs(data) {
    const h = data.handoffs;
    const now = [["会话数", h.waiting_now]];
    if (h.waiting_now) now.push(["等得最久的", minutesWords(h.longest_wait_now)]);
    document.getElementById("handoffs").replaceChildren(
      card("排队等待接手", timeLines(h.wait, "人接手会话"), "wait"),
      card("接手到结束", timeLines(h.handling, "结束的人工会话"), "handling"),
      card("现在还在等", now, h.waiting_now ? "waiting-now busy" : "waiting-now"));
  }

  // --- entries past their review date ----------------------------------------------------------
  function reviews(data) {
    const entries = data.review.entries;
    document.getElementById("review-note").textContent =
      "上次审核超过 " + data.review.max_age_days + " 天的问答（和 gigdesk kb check 的提醒一样），按今天算。";
    document.getElementById("review-empty").hidden = entries.length > 0;
    document.getElementById("review-table").hidden = entries.length === 0;
    const rows = document.getElementById("review-rows");
    rows.replaceChildren.apply(rows, entries.map(function (e) {
      const tr = G.el("tr");
      [e.title, e.file, e.reviewed, e.age_days + " 天"].forEach(function (v) { tr.appendChild(G.el("td", "", v)); });
      return tr;
    }));
  }

  // --- rest stations not checked for a while (not tied to the date range) -----------------------
  async function staleStations() {
    let data;
    try {
      data = await G.api("GET", "/api/stations/stale");
    } catch (e) {
      return; // the figures above matter more; the stations page shows the same list
    }
    // Shown only when there is something to check: an empty directory has nothing to list.
    if (data.total === 0) return;
    const panel = document.getElementById("stale-stations");
    document.getElementById("stale-note").textContent = "更新日期早于 " + data.before + "（超过 " + data.days +
      " 天）的驿站，共 " + data.total + " 个。请打电话核对开放时间和服务，在“驿站”页改好，更新日期会变成今天。";
    const rows = document.getElementById("stale-rows");
    rows.replaceChildren.apply(rows, data.stations.map(function (s) {
      const tr = G.el("tr");
      const name = G.el("td");
      const link = G.el("a", "", s.name);
      link.href = "/console/stations?id=" + encodeURIComponent(s.id);
      name.appendChild(link);
      tr.appendChild(name);
      [[s.city, s.district].filter(Boolean).join(" "), s.phone || "—", s.updated || "没有填"].forEach(function (v) {
        tr.appendChild(G.el("td", "", v));
      });
      return tr;
    }));
    panel.hidden = false;
  }

  // --- loading ---------------------------------------------------------------------------------
  function rangeQuery(from, to) {
    const params = new URLSearchParams();
    if (from) params.set("from", from);
    if (to) params.set("to", to);
    return params.toString();
  }

  function draw(data) {
    form.elements.from.value = data.from;
    form.elements.to.value = data.to;
    csv.href = "/api/stats.csv?" + rangeQuery(data.from, data.to);
    figures(data);
    const quiet = data.totals.messages + data.totals.questions + data.totals.other === 0;
    document.getElementById("outcomes-empty").hidden = !quiet;
    document.getElementById("outcome-chart").hidden = document.getElementById("outcome-legend").hidden = quiet;
    outcomeChart(document.getElementById("outcome-chart"), data);
    topEntries(data);
    handoffs(data);
    cases(data);
    reviews(data);
    results.hidden = csv.hidden = false;
  }

  async function load(query) {
    const mine = ++latest;
    G.say("正在读取……");
    try {
      const data = await G.api("GET", "/api/stats" + (query ? "?" + query : ""));
      if (mine !== latest) return;
      draw(data);
      G.say("");
    } catch (e) {
      if (mine !== latest) return;
      results.hidden = csv.hidden = true; // never leave another range's numbers under a new range
      G.say(e.message, "error");
    }
  }

  form.addEventListener("change", function () {
    const query = rangeQuery(form.elements.from.value, form.elements.to.value);
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    load(query);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  // The first load takes the range from the address bar, so a bookmarked range opens as it was.
  const initial = new URLSearchParams(location.search);
  load(rangeQuery(initial.get("from"), initial.get("to")));
  staleStations();
})();
