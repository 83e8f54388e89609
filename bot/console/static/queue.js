// The queue: who is waiting for a person, and who is being helped. Live through /api/events.
"use strict";
(function () {
  const G = window.GigDesk;
  const el = G.el;
  const root = document.getElementById("queue");
  const me = root.dataset.me;
  const lists = {waiting: document.getElementById("waiting"), assigned: document.getElementById("assigned")};
  const render = {waiting: G.keyed(), assigned: G.keyed()};
  const updated = document.getElementById("updated");
  let rows = [];
  let fetchedAt = 0;
  let failing = false;

  function waitedNow(c) {
    return c.waited_seconds + (Date.now() - fetchedAt) / 1000;
  }

  function waitText(c) {
    const seconds = waitedNow(c);
    if (c.state === "waiting") return seconds < 60 ? "刚开始等" : "已等 " + G.duration(seconds);
    return seconds < 60 ? "刚刚求助" : G.duration(seconds) + "前求助";
  }

  function row(c) {
    const item = el("li", "row");
    item.dataset.id = c.id;
    if (c.urgent) item.classList.add("urgent");
    if (c.overdue) item.classList.add("overdue");
    const mine = c.state === "assigned" && c.assigned_to === me;
    if (mine) item.classList.add("mine");

    const link = el("a", "open");
    link.href = "/console/conversations/" + c.id;
    const line = el("span", "line");
    if (c.urgent) line.appendChild(el("span", "badge badge-urgent", "紧急"));
    if (c.overdue) line.appendChild(el("span", "badge badge-overdue", "超时"));
    if (mine) line.appendChild(el("span", "badge badge-mine", "我在处理"));
    line.appendChild(el("span", "cid", "#" + c.id));
    line.appendChild(el("span", "reason", G.reasonWords(c.reason) || "等待人工"));
    line.appendChild(el("span", "rider", c.rider));
    line.appendChild(el("span", "channel", G.CHANNELS[c.channel] || c.channel));
    line.appendChild(el("span", "wait", waitText(c)));
    if (c.state === "assigned" && !mine) line.appendChild(el("span", "holder", (c.assigned_to || "") + " 在处理"));
    link.appendChild(line);
    link.appendChild(el("span", "preview", c.last_text || "（没有文字消息）"));
    item.appendChild(link);

    if (c.state === "waiting") {
      const claim = el("button", "claim primary", "接手");
      claim.type = "button";
      claim.setAttribute("aria-label", "接手会话 #" + c.id);
      claim.addEventListener("click", function () { take(c.id, claim); });
      item.appendChild(claim);
    }
    return item;
  }

  function show() {
    for (const state of ["waiting", "assigned"]) {
      const mine = rows.filter(function (c) { return c.state === state; });
      const nodes = render[state](mine, function (c) { return c.id; }, row, function (c) {
        return Object.assign({}, c, {waited_seconds: 0, waiting_since: 0}); // kept fresh by tick()
      });
      G.syncChildren(lists[state], nodes);
      document.getElementById(state + "-count").textContent = "（" + mine.length + "）";
      document.getElementById(state + "-empty").hidden = mine.length > 0;
    }
    tick();
  }

  /** "已等 12 分钟" moves on between fetches. */
  function tick() {
    for (const c of rows) {
      const node = document.querySelector('.row[data-id="' + c.id + '"] .wait');
      if (node) node.textContent = waitText(c);
    }
  }

  const refresh = G.coalesce(async function () {
    try {
      const data = await G.api("GET", "/api/queue");
      rows = data.conversations || [];
      fetchedAt = Date.now();
      show();
      G.alarm(rows);
      updated.textContent = "更新于 " + G.fullTime(Date.now() / 1000).slice(11);
      if (failing) G.say("");
      failing = false;
    } catch (e) {
      if (e.status === 401) return;
      failing = true;
      G.say("队列没有刷新：" + e.message, "error");
    }
  });

  async function take(id, button) {
    button.disabled = true;
    G.say("正在接手会话 #" + id + "……");
    try {
      await G.api("POST", "/api/conversations/" + id + "/claim");
      location.assign("/console/conversations/" + id);
    } catch (e) {
      button.disabled = false;
      G.say("会话 #" + id + "：" + e.message, "error");
      refresh();
    }
  }

  refresh();
  G.live(refresh);
  setInterval(tick, 20000);
})();
