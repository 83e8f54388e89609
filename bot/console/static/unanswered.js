// The review of unanswered questions: one card per group of near-identical questions, with
// three actions. Rider texts arrive masked from the API and go into the page as text only.
"use strict";
(function () {
  const G = window.GigDesk;
  const form = document.getElementById("view");
  const list = document.getElementById("groups");
  const empty = document.getElementById("groups-empty");
  const summary = document.getElementById("summary");
  // The FAQ editor's new-entry page (/console/knowledge/new) picks this up.
  const NEW_ENTRY_KEY = "gigdesk:newEntry";
  const DAY_WORDS = {"7": "最近 7 天", "30": "最近 30 天", "90": "最近 90 天", "366": "最近一年"};
  const OUTCOME_WORDS = {fallback: "没答上", clarify: "让骑手选"};
  let entries = [];

  // --- the view (sort and days) lives in the address bar, so it survives a reload ---------
  function readAddress() {
    const params = new URLSearchParams(location.search);
    const sort = params.get("sort") === "newest" ? "newest" : "frequent";
    form.elements.sort.value = sort;
    if (DAY_WORDS[params.get("days")]) form.elements.days.value = params.get("days");
  }

  function query() {
    return "sort=" + encodeURIComponent(form.elements.sort.value) +
      "&days=" + encodeURIComponent(form.elements.days.value);
  }

  // --- one group -------------------------------------------------------------------------------
  function outcomeWords(outcomes) {
    return Object.keys(outcomes).map(function (k) {
      return (OUTCOME_WORDS[k] || k) + " " + outcomes[k] + " 次";
    }).join("，");
  }

  function facts(group) {
    const p = G.el("p", "facts");
    p.appendChild(G.el("strong", "times", "问了 " + group.count + " 次"));
    p.appendChild(document.createTextNode(" · 最早 "));
    p.appendChild(G.timeNode(group.first_seen));
    p.appendChild(document.createTextNode(" · 最近 "));
    p.appendChild(G.timeNode(group.last_seen));
    p.appendChild(G.el("span", "outcomes", "（" + outcomeWords(group.outcomes) + "）"));
    return p;
  }

  function examples(group) {
    const ul = G.el("ul", "examples");
    group.examples.forEach(function (text) { ul.appendChild(G.el("li", "example", text)); });
    return ul;
  }

  function suggestion(group) {
    if (!group.suggestion) return G.el("p", "suggestion none", "没有很接近的问答。");
    return G.el("p", "suggestion", "最接近的问答：" + group.suggestion.title);
  }

  function button(text, className, onClick) {
    const b = G.el("button", className, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function card(group) {
    const li = G.el("li", "group");
    li.dataset.ids = group.ids.join(",");
    li.append(facts(group), examples(group), suggestion(group));
    const panel = addPanel(group);
    const actions = G.el("div", "actions");
    actions.append(
      button("加为已有条目的问法", "primary add", function () {
        panel.hidden = !panel.hidden;
        if (!panel.hidden) panel.querySelector("select").focus();
      }),
      button("新建条目", "new-entry", function () { startNewEntry(group); }),
      button("忽略", "danger dismiss", function (event) { dismiss(group, event.currentTarget); }));
    li.append(actions, panel);
    return li;
  }

  // --- add to an existing entry ------------------------------------------------------------------
  function entrySelect(group) {
    const select = G.el("select", "entry");
    select.name = "entry_id";
    select.appendChild(Object.assign(G.el("option", "", "请选择问答条目"), {value: ""}));
    entries.forEach(function (e) {
      const option = G.el("option", "", e.title + "（" + e.id + "）");
      option.value = e.id;
      select.appendChild(option);
    });
    if (group.suggestion) select.value = group.suggestion.id;
    return select;
  }

  function addPanel(group) {
    const panel = G.el("form", "add-panel");
    panel.hidden = true;
    const label = G.el("label", "pick", "加到哪条问答：");
    label.appendChild(entrySelect(group));
    const choose = G.el("fieldset", "texts");
    choose.appendChild(G.el("legend", "", "要加进去的问法（可以去掉不合适的）"));
    group.examples.forEach(function (text) {
      const row = G.el("label", "text-choice");
      const box = Object.assign(document.createElement("input"), {type: "checkbox", checked: true, value: text});
      row.append(box, document.createTextNode(" " + text));
      choose.appendChild(row);
    });
    const result = G.el("div", "result");
    result.setAttribute("role", "alert");
    const confirm = G.el("button", "primary confirm", "确定加入");
    confirm.type = "submit";
    panel.append(label, choose, G.el("div", "actions"), result);
    panel.querySelector("div.actions").append(confirm,
      button("取消", "cancel", function () { panel.hidden = true; }));
    panel.addEventListener("submit", function (event) {
      event.preventDefault();
      add(group, panel, confirm, result);
    });
    return panel;
  }

  function showReasons(result, message, reasons) {
    result.replaceChildren(G.el("p", "refused", message));
    if (reasons && reasons.length) {
      const ul = G.el("ul", "reasons");
      reasons.forEach(function (r) { ul.appendChild(G.el("li", "", r)); });
      result.appendChild(ul);
    }
  }

  function addedWords(done, entryId) {
    const entry = entries.find(function (e) { return e.id === entryId; });
    const title = "“" + (entry ? entry.title : entryId) + "”";
    const skipped = done.skipped.length ? "另有 " + done.skipped.length + " 个问法条目里本来就有。" : "";
    if (!done.added.length) return title + "里本来就有这些问法，这些问题已标为处理完。";
    return "已把 " + done.added.length + " 个问法加到" + title + "，机器人以后会认得这种问法。" + skipped;
  }

  async function add(group, panel, confirm, result) {
    const entryId = panel.elements.entry_id.value;
    const texts = Array.from(panel.querySelectorAll("input[type=checkbox]:checked"))
      .map(function (box) { return box.value; });
    if (!entryId) return showReasons(result, "请先选择要加到哪条问答。");
    if (!texts.length) return showReasons(result, "请至少勾选一个问法。");
    confirm.disabled = true;
    result.replaceChildren();
    try {
      const done = await G.api("POST", "/api/unanswered/add", {ids: group.ids, entry_id: entryId, texts: texts});
      G.say(addedWords(done, entryId), "ok");
      await load();
    } catch (e) {
      showReasons(result, e.message, e.data && e.data.reasons);
    } finally {
      confirm.disabled = false;
    }
  }

  // --- start a new entry: the editor's form picks the texts up from sessionStorage -------------
  function startNewEntry(group) {
    try {
      sessionStorage.setItem(NEW_ENTRY_KEY, JSON.stringify({examples: group.examples, unanswered_ids: group.ids}));
    } catch (e) {
      G.say("浏览器不让暂存这些问法，请在新建页面手动填写。", "error");
    }
    location.assign("/console/knowledge/new");
  }

  // --- dismiss ------------------------------------------------------------------------------------
  async function dismiss(group, control) {
    control.disabled = true;
    try {
      const done = await G.api("POST", "/api/unanswered/dismiss", {ids: group.ids});
      G.say(done.resolved ? "已忽略这 " + done.resolved + " 个问题。" : "这些问题已经有人处理过了。", "ok");
      await load();
    } catch (e) {
      G.say(e.message, "error");
      control.disabled = false;
    }
  }

  // --- the list ----------------------------------------------------------------------------------
  function showSummary(data) {
    const days = DAY_WORDS[String(data.days)] || "最近 " + data.days + " 天";
    summary.textContent = data.open ? days + "共有 " + data.open + " 个没答上的问题，合成 " +
      data.groups.length + " 行。" + (data.capped ? "问题太多，只合并了最新的 " + data.shown + " 个。" : "") : "";
    empty.textContent = days + "没有机器人答不上的问题。有新的会出现在这里。";
    empty.hidden = data.groups.length > 0;
  }

  const load = G.coalesce(async function () {
    try {
      const data = await G.api("GET", "/api/unanswered?" + query());
      entries = data.entries;
      list.replaceChildren.apply(list, data.groups.map(card));
      showSummary(data);
    } catch (e) {
      G.say(e.message, "error");
    }
  });

  form.addEventListener("change", function () {
    history.replaceState(null, "", "?" + query());
    G.say("");
    load();
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  readAddress();
  load();
})();
