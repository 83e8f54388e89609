// One FAQ entry: the edit form (or the new-entry form), the rider's-eye preview, the change
// history with a line diff and revert. Every text from the API goes in with textContent.
"use strict";
(function () {
  const G = window.GigDesk;
  const el = G.el;
  const root = document.getElementById("entry-page");
  const mode = root.dataset.mode;
  const entryId = root.dataset.entryId;
  const form = document.getElementById("entry-form");
  const sourcesBox = document.getElementById("f-sources");
  const NEW_ENTRY_KEY = "gigdesk:newEntry";  // set by the unanswered-questions page
  const ACTIONS = {edit: "修改", create: "新建", add_examples: "添加问法", revert: "撤销"};
  const SOURCE_FIELDS = [["title", "文件名称", "例如 中华人民共和国劳动合同法"], ["number", "文号", "可不填"],
                         ["article", "条款", "例如 第九条"], ["issuer", "发文机关", "可不填"],
                         ["date", "日期", "2012、2021-07 或 2021-07-16"]];
  let version = "";
  let unansweredIds = [];

  function field(id) { return document.getElementById(id); }

  // --- the form ------------------------------------------------------------------------------
  function sourceRow(source) {
    const row = el("div", "source-row");
    SOURCE_FIELDS.forEach(function (f) {
      const input = el("input", "src-" + f[0]);
      input.placeholder = f[2];
      input.maxLength = 300;
      input.setAttribute("aria-label", "依据的" + f[1]);
      input.title = f[1];
      input.value = source && source[f[0]] !== undefined && source[f[0]] !== null ? String(source[f[0]]) : "";
      row.appendChild(input);
    });
    const remove = el("button", "small danger", "删除");
    remove.type = "button";
    remove.setAttribute("aria-label", "删除这条依据");
    remove.addEventListener("click", function () { row.remove(); schedulePreview(); });
    row.appendChild(remove);
    return row;
  }

  function fill(fields) {
    field("f-title").value = fields.title || "";
    field("f-examples").value = (fields.examples || []).join("\n");
    field("f-keywords").value = (fields.keywords || []).join("，");
    field("f-answer").value = fields.answer || "";
    field("f-reviewed").value = fields.reviewed || "";
    field("f-needs-human").checked = fields.needs_human === true;
    field("f-offers-case").checked = fields.offers_case === true;
    const sources = fields.sources && fields.sources.length ? fields.sources : [{}];
    sourcesBox.replaceChildren.apply(sourcesBox, sources.map(sourceRow));
  }

  function lines(text) {
    return text.split("\n").map(function (l) { return l.trim(); }).filter(Boolean);
  }

  function sources() {
    return Array.from(sourcesBox.querySelectorAll(".source-row")).map(function (row) {
      const source = {};
      SOURCE_FIELDS.forEach(function (f) { source[f[0]] = row.querySelector(".src-" + f[0]).value.trim(); });
      return source;
    }).filter(function (s) { return Object.values(s).some(Boolean); });
  }

  function collect() {
    return {
      title: field("f-title").value,
      examples: lines(field("f-examples").value),
      keywords: field("f-keywords").value.split(/[,，、;；\n]/).map(function (w) { return w.trim(); }).filter(Boolean),
      answer: field("f-answer").value,
      sources: sources(),
      reviewed: field("f-reviewed").value.trim(),
      needs_human: field("f-needs-human").checked,
      offers_case: field("f-offers-case").checked,
    };
  }

  function today() {
    const d = new Date();
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  // --- refusals and warnings -----------------------------------------------------------------
  function showList(boxId, listId, items) {
    const box = field(boxId);
    const list = field(listId);
    list.replaceChildren.apply(list, (items || []).map(function (t) { return el("li", "", t); }));
    box.hidden = !items || items.length === 0;
  }

  function refuse(error) {
    const reasons = error.data && error.data.reasons && error.data.reasons.length ? error.data.reasons : [error.message];
    showList("refusal", "refusal-reasons", reasons);
    showList("warnings", "warning-list", error.data && error.data.warnings);
    G.say("没有保存，原因见表单下方", "error");
    field("refusal").scrollIntoView({block: "nearest"});
  }

  // --- preview -------------------------------------------------------------------------------
  let previewTimer = null;
  let previewRun = 0;

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 350);
  }

  async function preview() {
    const run = ++previewRun;
    const data = collect();
    const box = field("preview");
    const problem = field("preview-error");
    try {
      const shown = await G.api("POST", "/api/faq/preview", {answer: data.answer, sources: data.sources,
                                                             needs_human: data.needs_human, offers_case: data.offers_case});
      if (run !== previewRun) return;  // a newer preview is on its way
      if (shown.text === null) {
        problem.textContent = "还不能预览：" + shown.problems.join("；");
        problem.hidden = false;
        return;
      }
      problem.hidden = true;
      box.replaceChildren.apply(box, shown.wechat.map(function (part) {
        const msg = el("div", "msg bot");
        msg.appendChild(el("div", "bubble", part));
        return msg;
      }));
      let note = "共 " + shown.chars + " 个字。";
      if (shown.wechat.length > 1) note += "微信里太长，分成 " + shown.wechat.length + " 条：骑手回复“更多”看下一条。";
      note += "每次对话的第一个回答后面还会加上：" + shown.disclaimer;
      field("preview-note").textContent = note;
    } catch (e) {
      if (run !== previewRun || e.status === 401) return;
      const reasons = e.data && e.data.reasons && e.data.reasons.length ? e.data.reasons.join("；") : e.message;
      problem.textContent = "还不能预览：" + reasons;
      problem.hidden = false;
    }
  }

  // --- history -------------------------------------------------------------------------------
  /** Lines removed (-) and added (+) between two texts, by longest common subsequence. */
  function diff(before, after) {
    const a = before ? before.replace(/\n$/, "").split("\n") : [];
    const b = after ? after.replace(/\n$/, "").split("\n") : [];
    const n = a.length, m = b.length;
    const lcs = Array.from({length: n + 1}, function () { return new Array(m + 1).fill(0); });
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    const out = [];
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
      else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) { out.push(["-", a[i]]); i++; }
      else { out.push(["+", b[j]]); j++; }
    }
    return out;
  }

  const CONTEXT = 2;  // unchanged lines shown around a change

  function diffNode(change) {
    const pre = el("pre", "diff mono");
    const lines = diff(change.before, change.after);
    const near = lines.map(function (line, k) {
      for (let d = -CONTEXT; d <= CONTEXT; d++) {
        const other = lines[k + d];
        if (other && other[0] !== " ") return true;
      }
      return false;
    });
    let skipped = false;
    lines.forEach(function (line, k) {
      if (!near[k]) {
        if (!skipped) pre.appendChild(el("span", "diff-skip", "  ……\n"));
        skipped = true;
        return;
      }
      skipped = false;
      const kind = line[0] === "+" ? "add" : line[0] === "-" ? "del" : "same";
      pre.appendChild(el("span", "diff-" + kind, line[0] + " " + line[1] + "\n"));
    });
    return pre;
  }

  function revertControls(change) {
    const box = el("div", "revert");
    const ask = el("button", "small", "撤销这次修改");
    ask.type = "button";
    const confirm = el("button", "small danger", "确定撤销");
    confirm.type = "button";
    const cancel = el("button", "small", "不撤销");
    cancel.type = "button";
    confirm.hidden = cancel.hidden = true;
    ask.addEventListener("click", function () { ask.hidden = true; confirm.hidden = cancel.hidden = false; confirm.focus(); });
    cancel.addEventListener("click", function () { ask.hidden = false; confirm.hidden = cancel.hidden = true; });
    confirm.addEventListener("click", async function () {
      confirm.disabled = true;
      try {
        const done = await G.api("POST", "/api/faq/changes/" + change.id + "/revert");
        G.say("已撤销修改 #" + change.id + "，机器人已经在用撤销后的内容", "ok");
        if (done.entry) show(done.entry); else location.assign("/console/knowledge");
        showList("warnings", "warning-list", done.warnings);
      } catch (e) {
        G.say(e.message, "error");
      }
      await loadHistory();
    });
    box.appendChild(ask);
    box.appendChild(confirm);
    box.appendChild(cancel);
    return box;
  }

  function historyItem(change) {
    const item = el("li", "change" + (change.reverted_by ? " reverted" : ""));
    const head = el("div", "change-head");
    head.appendChild(G.timeNode(change.at));
    head.appendChild(el("span", "", " " + change.actor + " " + (ACTIONS[change.action] || change.action)));
    head.appendChild(el("span", "hint", " #" + change.id));
    if (change.reverts) head.appendChild(el("span", "hint", "（撤销 #" + change.reverts + "）"));
    if (change.reverted_by) head.appendChild(el("span", "badge", "已被 #" + change.reverted_by + " 撤销"));
    item.appendChild(head);
    const details = el("details");
    details.appendChild(el("summary", "", "看改了什么"));
    details.appendChild(diffNode(change));
    item.appendChild(details);
    if (change.can_revert) item.appendChild(revertControls(change));
    return item;
  }

  async function loadHistory() {
    if (mode !== "edit") return;
    try {
      const data = await G.api("GET", "/api/faq/changes?entry=" + encodeURIComponent(entryId));
      const list = field("history");
      list.replaceChildren.apply(list, data.changes.map(historyItem));
      field("history-empty").hidden = data.changes.length > 0;
    } catch (e) {
      if (e.status !== 401) G.say(e.message, "error");
    }
  }

  // --- loading and saving --------------------------------------------------------------------
  function show(entry) {
    version = entry.version;
    fill(entry.fields);
    field("entry-title").textContent = (entry.fields.title || entry.id) + "（" + entry.id + "）";
    field("entry-where").textContent = "在文件 " + entry.file + " 第 " + entry.line + " 行";
    field("entry-yaml").textContent = entry.yaml;
    schedulePreview();
  }

  async function loadEntry() {
    try {
      show(await G.api("GET", "/api/faq/entries/" + encodeURIComponent(entryId)));
    } catch (e) {
      if (e.status !== 401) G.say(e.message, "error");
    }
  }

  function readNewEntryHint() {
    try {
      const data = JSON.parse(sessionStorage.getItem(NEW_ENTRY_KEY) || "null");
      if (!data || typeof data !== "object") return;
      if (Array.isArray(data.examples)) {
        field("f-examples").value = data.examples.filter(function (t) { return typeof t === "string"; }).join("\n");
      }
      if (Array.isArray(data.unanswered_ids)) {
        unansweredIds = data.unanswered_ids.filter(function (i) { return Number.isInteger(i) && i > 0; });
      }
      if (unansweredIds.length) G.say("问法来自 " + unansweredIds.length + " 个没答上的问题；创建后它们会标为已处理");
    } catch (e) { /* a broken hint: start from an empty form */ }
  }

  async function startNew() {
    fill({sources: [{}], reviewed: today()});
    readNewEntryHint();
    try {
      const data = await G.api("GET", "/api/faq/entries");
      const select = field("f-file");
      select.replaceChildren.apply(select, data.files.map(function (file) {
        const option = el("option", "", file);
        option.value = file;
        return option;
      }));
    } catch (e) {
      if (e.status !== 401) G.say(e.message, "error");
    }
    schedulePreview();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = field("save");
    button.disabled = true;
    G.say("正在检查……");
    try {
      if (mode === "new") {
        const body = Object.assign(collect(), {id: field("f-id").value.trim(), file: field("f-file").value,
                                               unanswered_ids: unansweredIds});
        const made = await G.api("POST", "/api/faq/entries", body);
        try { sessionStorage.removeItem(NEW_ENTRY_KEY); } catch (e) { /* ignore */ }
        location.assign("/console/knowledge/entries/" + encodeURIComponent(made.entry.id) + "?created=1");
        return;
      }
      const saved = await G.api("POST", "/api/faq/entries/" + encodeURIComponent(entryId),
                                Object.assign(collect(), {version: version}));
      field("refusal").hidden = true;
      showList("warnings", "warning-list", saved.warnings);
      if (saved.change) {
        show(saved.entry);
        G.say("已保存。机器人已经在用新内容。", "ok");
      } else {
        G.say("没有改动，不用保存", "ok");
      }
      await loadHistory();
    } catch (e) {
      if (e.status !== 401) refuse(e);
    } finally {
      button.disabled = false;
    }
  });

  form.addEventListener("input", schedulePreview);
  field("add-source").addEventListener("click", function () {
    const row = sourceRow({});
    sourcesBox.appendChild(row);
    row.querySelector("input").focus();
  });
  field("reviewed-today").addEventListener("click", function () {
    field("f-reviewed").value = today();
  });

  if (mode === "new") {
    startNew();
  } else {
    if (new URLSearchParams(location.search).get("created")) G.say("问答已创建，机器人已经在用它", "ok");
    loadEntry();
    loadHistory();
  }
})();
