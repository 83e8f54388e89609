// One case: the rider's answers, evidence, history and the forms that change it.
// Every text goes into the page with textContent; nothing is parsed as HTML.
"use strict";
(function () {
  const G = window.GigDesk;
  const root = document.getElementById("case");
  const id = root.dataset.caseId;
  const statusSelect = document.getElementById("new-status");
  const referral = document.getElementById("referred-to");
  const notify = document.getElementById("notify");
  const notice = document.getElementById("notice");
  const note = document.getElementById("status-note");
  let formsFilled = false;
  let noticeEdited = false;

  const FIELDS = [["kind_title", "种类"], ["status_label", "状态"], ["platform", "平台或公司"], ["city", "城市"],
                  ["happened", "什么时候"], ["story", "发生了什么"], ["phone", "电话"], ["assigned_to", "负责人"],
                  ["referred_to", "转介到"]];
  const ACTIONS = {created: "登记", status: "改状态", assign: "指派", note: "备注", notify: "通知骑手"};

  function render(data) {
    const c = data.case;
    document.getElementById("case-title").textContent = c.number + (c.urgent ? "（紧急）" : "");
    const answers = document.getElementById("answers");
    answers.replaceChildren();
    for (const [key, label] of FIELDS) {
      answers.appendChild(G.el("dt", "", label));
      answers.appendChild(G.el("dd", "", c[key] || "（没有填）"));
    }
    const evidence = document.getElementById("evidence");
    evidence.replaceChildren.apply(evidence, data.evidence.map(function (e) {
      const li = G.el("li", "", (e.kind === "image" ? "图片" : e.kind === "voice" ? "语音" : e.kind) + " · ");
      if (e.url) {
        const a = G.el("a", "", "打开");
        a.href = e.url;
        a.target = "_blank";
        a.rel = "noopener";
        li.appendChild(a);
      } else {
        li.appendChild(document.createTextNode(e.state === "failed" ? "没能取回：" + (e.error || "") : "正在从微信取回"));
      }
      return li;
    }));
    if (!data.evidence.length) evidence.appendChild(G.el("li", "empty", "没有证据"));
    const conversations = document.getElementById("conversations");
    conversations.replaceChildren.apply(conversations, data.conversations.map(function (v) {
      const li = G.el("li");
      const a = G.el("a", "", "会话 #" + v.id);
      a.href = "/console/conversations/" + v.id;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" · " + (G.STATES[v.state] || v.state) + " · " + v.messages + " 条消息 · " +
                                             G.fullTime(v.created_at)));
      return li;
    }));
    const events = document.getElementById("events");
    events.replaceChildren.apply(events, data.events.slice().reverse().map(function (e) {
      const li = G.el("li");
      li.appendChild(G.el("span", "meta", G.fullTime(e.at) + " · " + e.actor + " · " + (ACTIONS[e.action] || e.action)));
      if (e.to_status) li.appendChild(G.el("span", "meta", " → " + e.to_status));
      if (e.note) li.appendChild(G.el("div", "", e.note));
      return li;
    }));
    if (!formsFilled) {
      formsFilled = true;
      for (const s of data.statuses) {
        const option = G.el("option", "", s.label);
        option.value = s.id;
        statusSelect.appendChild(option);
      }
      statusSelect.value = c.status;
      for (const r of data.referrals) {
        const option = G.el("option", "", r);
        option.value = r;
        referral.appendChild(option);
      }
    }
  }

  async function load() {
    try {
      render(await G.api("GET", "/api/cases/" + id));
    } catch (e) {
      G.say(e.message, "error");
    }
  }

  async function loadColleagues() {
    try {
      const data = await G.api("GET", "/api/colleagues");
      const select = document.getElementById("assignee");
      for (const name of data.colleagues) {
        const option = G.el("option", "", name);
        option.value = name;
        select.appendChild(option);
      }
    } catch (e) {
      G.say(e.message, "error");
    }
  }

  async function preview() {
    if (!notify.checked || noticeEdited) return;
    const q = new URLSearchParams({status: statusSelect.value, note: ""});
    try {
      notice.value = (await G.api("GET", "/api/cases/" + id + "/notice?" + q)).text;
    } catch (e) {
      G.say(e.message, "error");
    }
  }

  statusSelect.addEventListener("change", function () {
    document.getElementById("referral-label").hidden = statusSelect.value !== "referred";
    noticeEdited = false;
    preview();
  });
  notify.addEventListener("change", function () {
    document.getElementById("message-label").hidden = !notify.checked;
    preview();
  });
  notice.addEventListener("input", function () { noticeEdited = true; });

  document.getElementById("status-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const body = {status: statusSelect.value, note: note.value, notify: notify.checked};
    if (body.status === "referred") body.referred_to = referral.value;
    if (notify.checked) body.message = notice.value;
    try {
      await G.api("POST", "/api/cases/" + id + "/status", body);
      note.value = "";
      notify.checked = false;
      document.getElementById("message-label").hidden = true;
      noticeEdited = false;
      G.say(body.notify ? "状态已保存，通知已交给发送队列" : "状态已保存", "ok");
      load();
    } catch (e) {
      G.say(e.message, "error");  // the typed note stays, nothing is lost
    }
  });

  document.getElementById("assign-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    try {
      await G.api("POST", "/api/cases/" + id + "/assign", {to: document.getElementById("assignee").value});
      G.say("已指派", "ok");
      load();
    } catch (e) {
      G.say(e.message, "error");
    }
  });

  document.getElementById("note-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const box = document.getElementById("case-note");
    try {
      await G.api("POST", "/api/cases/" + id + "/notes", {text: box.value});
      box.value = "";
      load();
    } catch (e) {
      G.say(e.message, "error");
    }
  });

  load();
  loadColleagues();
})();
