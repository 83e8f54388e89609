// The station directory page: list and search, edit with history, disable, import with a
// preview. Every text from the server goes in with textContent (GigDesk.el), never as HTML.
"use strict";
(function () {
  const G = window.GigDesk;
  const tbody = document.querySelector("#stations tbody");
  const search = document.getElementById("station-search");
  const editor = document.getElementById("editor");
  const form = document.getElementById("station-form");
  const reasons = document.getElementById("reasons");
  const toggle = document.getElementById("station-toggle");
  let current = null;  // the station being edited, or {} for a new one
  let importText = "";

  async function load() {
    try {
      const data = await G.api("GET", "/api/stations?q=" + encodeURIComponent(search.value.trim()));
      tbody.replaceChildren.apply(tbody, data.stations.map(row));
      if (!data.stations.length) G.say("没有找到驿站");
    } catch (e) { G.say(e.message, "error"); }
  }

  function row(s) {
    const tr = G.el("tr");
    const name = G.el("td");
    const link = G.el("a", "", s.name);
    link.href = "#";
    link.addEventListener("click", function (event) { event.preventDefault(); open(s.id); });
    name.appendChild(link);
    tr.appendChild(name);
    [s.city, s.district, s.hours, s.services.join("、"), s.updated,
     (s.enabled ? "启用" : "已停用") + (s.sample ? "（示例）" : "")].forEach(function (t) { tr.appendChild(G.el("td", "", t)); });
    return tr;
  }

  function fill(s) {
    current = s;
    ["name", "address", "lat", "lng", "hours", "phone", "city", "district", "updated"].forEach(function (k) {
      form.elements[k].value = s[k] === undefined || s[k] === null ? "" : s[k];
    });
    form.elements.services.value = (s.services || []).join("、");
    form.elements.open_to_all.checked = s.open_to_all !== false;
    form.elements.enabled.checked = s.enabled !== false;
    toggle.hidden = !s.id;
    toggle.textContent = s.enabled === false ? "启用" : "停用";
    reasons.replaceChildren();
    editor.hidden = false;
  }

  async function open(id) {
    try {
      const data = await G.api("GET", "/api/stations/" + id);
      fill(data.station);
      const items = data.changes.map(function (c) {
        return G.el("li", "", G.fullTime(c.at) + " " + c.actor + " " + ({create: "新增", edit: "修改", disable: "停用",
          enable: "启用", "import": "导入"}[c.action] || c.action) + changed(c));
      });
      document.getElementById("history").replaceChildren.apply(document.getElementById("history"), items);
    } catch (e) { G.say(e.message, "error"); }
  }

  function changed(c) {
    if (!c.before || !c.after) return "";
    const keys = Object.keys(c.after).filter(function (k) {
      return k !== "changed_at" && JSON.stringify(c.before[k]) !== JSON.stringify(c.after[k]);
    });
    return keys.length ? "：" + keys.map(function (k) { return k + " " + c.before[k] + " → " + c.after[k]; }).join("；") : "";
  }

  async function save(fields) {
    const body = {};
    ["name", "address", "lat", "lng", "hours", "services", "phone", "city", "district", "updated"].forEach(function (k) {
      body[k] = form.elements[k].value;
    });
    body.open_to_all = form.elements.open_to_all.checked;
    body.enabled = form.elements.enabled.checked;
    Object.assign(body, fields || {});
    try {
      const data = await G.api("POST", current && current.id ? "/api/stations/" + current.id : "/api/stations", body);
      G.say("已保存，机器人马上按新的回答", "ok");
      await open(data.station.id);
      await load();
    } catch (e) {
      G.say(e.message, "error");
      const list = (e.data && e.data.reasons) || [];
      reasons.replaceChildren.apply(reasons, list.map(function (r) { return G.el("li", "error", r); }));
    }
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); save(); });
  toggle.addEventListener("click", function () { save({enabled: current.enabled === false}); });
  document.getElementById("station-cancel").addEventListener("click", function () { editor.hidden = true; });
  document.getElementById("station-new").addEventListener("click", function () { fill({}); });
  let timer = null;
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 250); });

  const result = document.getElementById("import-result");
  const applyButton = document.getElementById("import-apply");
  async function sendImport(apply) {
    result.replaceChildren();
    try {
      const data = await G.api("POST", "/api/stations/import",
                               {csv: importText, apply: apply, replace: document.getElementById("import-replace").checked});
      const c = data.counts;
      result.appendChild(G.el("p", "ok", (apply ? "已导入：" : "预览：") + "新增 " + c.added + " 个，修改 " + c.changed +
        " 个，没变 " + c.unchanged + " 个，停用 " + c.disabled + " 个"));
      const list = G.el("ul");
      data.added.forEach(function (s) { list.appendChild(G.el("li", "", "新增 " + s.name)); });
      data.changed.forEach(function (s) { list.appendChild(G.el("li", "", "修改 " + s.name + "：" + s.fields.join("、"))); });
      data.disabled.forEach(function (s) { list.appendChild(G.el("li", "", "停用 " + s.name)); });
      result.appendChild(list);
      applyButton.disabled = apply;
      if (apply) await load();
    } catch (e) {
      applyButton.disabled = true;
      result.appendChild(G.el("p", "error", e.message));
      const list = G.el("ul", "problems");
      ((e.data && e.data.problems) || []).forEach(function (p) {
        list.appendChild(G.el("li", "error", "第 " + p.line + " 行：" + p.message));
      });
      result.appendChild(list);
    }
  }
  document.getElementById("import-preview").addEventListener("click", async function () {
    const file = document.getElementById("import-file").files[0];
    if (!file) { G.say("先选一个 CSV 文件", "error"); return; }
    importText = await file.text();
    await sendImport(false);
  });
  applyButton.addEventListener("click", function () { sendImport(true); });
  // Opened from the dashboard's list of stations to check: /console/stations?id=12
  const asked = Number(new URLSearchParams(location.search).get("id"));
  load();
  if (asked > 0) open(asked);
})();
