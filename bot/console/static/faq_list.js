// The FAQ entry list on /console/knowledge: search, the expired-only filter, links to edit.
"use strict";
(function () {
  const G = window.GigDesk;
  const el = G.el;
  const body = document.querySelector("#faq-entries tbody");
  const search = document.getElementById("faq-search");
  const expiredOnly = document.getElementById("faq-expired");
  const count = document.getElementById("faq-count");
  let entries = [];

  function row(entry) {
    const tr = el("tr", entry.expired ? "warn" : "");
    const title = el("td");
    const link = el("a", "", entry.title || entry.id);
    link.href = "/console/knowledge/entries/" + encodeURIComponent(entry.id);
    title.appendChild(link);
    tr.appendChild(title);
    tr.appendChild(el("td", "mono", entry.id));
    tr.appendChild(el("td", "", entry.file + " 第 " + entry.line + " 行"));
    tr.appendChild(el("td", "", entry.examples));
    const reviewed = el("td", "", entry.reviewed || "（没写）");
    if (entry.expired) reviewed.appendChild(el("span", "badge badge-overdue", "已过期"));
    tr.appendChild(reviewed);
    return tr;
  }

  function show() {
    const words = search.value.trim().toLowerCase();
    const shown = entries.filter(function (e) {
      if (expiredOnly.checked && !e.expired) return false;
      if (!words) return true;
      return [e.title, e.id, e.file].some(function (t) { return String(t || "").toLowerCase().includes(words); });
    });
    body.replaceChildren.apply(body, shown.map(row));
    const expired = entries.filter(function (e) { return e.expired; }).length;
    count.textContent = "显示 " + shown.length + " / " + entries.length + " 条" + (expired ? "，其中已过期 " + expired + " 条" : "");
  }

  async function load() {
    try {
      const data = await G.api("GET", "/api/faq/entries");
      entries = data.entries || [];
      show();
    } catch (e) {
      if (e.status !== 401) G.say(e.message, "error");
    }
  }

  search.addEventListener("input", show);
  expiredOnly.addEventListener("change", show);
  load();
})();
