// One conversation: transcript, actions, reply box, canned replies, internal notes, history.
// Live through /api/events: on each change the conversation is fetched again and re-rendered.
"use strict";
(function () {
  const G = window.GigDesk;
  const el = G.el;
  const root = document.getElementById("conversation");
  const id = root.dataset.conversationId;
  const me = root.dataset.me;
  const isAdmin = root.dataset.role === "admin";
  const base = "/api/conversations/" + id;
  const MAX_REPLY_BYTES = 2048; // one WeChat customer-service text (bot/console/casework.py)

  const $ = function (name) { return document.getElementById(name); };
  const transcript = $("transcript");
  const replyForm = $("reply-form");
  const reply = $("reply");
  const send = $("send");
  const replyHint = $("reply-hint");
  const replyCount = $("reply-count");
  const canned = $("canned");
  const noteForm = $("note-form");
  const note = $("note");
  const transferTo = $("transfer-to");

  const KINDS = {image: "[图片]", voice: "[语音]", video: "[视频]", shortvideo: "[小视频]", location: "[位置]",
                 link: "[链接]", file: "[文件]", event: "[事件]", unknown: "[其他消息]"};
  const OUTCOMES = {answer: "已回答", chosen: "按选项回答", menu: "菜单回答", clarify: "追问", fallback: "没答上",
                    handoff: "转人工", emergency: "紧急", holding: "等待提示", greeting: "问候", thanks: "感谢",
                    welcome: "欢迎", menu_unknown: "菜单没找到", back_to_bot: "回到机器人", more: "更多",
                    voice_unrecognised: "语音没听清", media_received: "收到图片等", location: "收到位置",
                    closed: "结束人工", caseworker: "人工回复"};
  const DELIVERY = {queued: "发送中", sent: "已送达", held: "等骑手发消息后发出", failed: "发送失败"};

  let current = null; // the last GET /api/conversations/{id}
  let sending = false;
  const renderMessages = G.keyed();
  const renderNotes = G.keyed();
  const replyDraft = G.draft("reply:" + id);
  const noteDraft = G.draft("note:" + id);

  // --- rendering ---------------------------------------------------------------------------------
  function who(m) {
    if (m.direction === "in") return "rider";
    return m.sender === "bot" ? "bot" : "staff";
  }

  function messageNode(m) {
    const side = who(m);
    const item = el("li", "msg " + side);
    item.dataset.id = m.id;
    const box = el("div", "msg-box");

    const head = el("div", "msg-meta");
    const name = side === "rider" ? "骑手" : side === "bot" ? "机器人" : (m.sender === me ? "我（" + m.sender + "）" : m.sender);
    head.appendChild(el("span", "who", name));
    head.appendChild(G.timeNode(m.at));
    box.appendChild(head);

    const bubble = el("div", "bubble");
    if (m.kind && m.kind !== "text") bubble.appendChild(el("span", "kind", KINDS[m.kind] || "[" + m.kind + "]"));
    if (m.text) bubble.appendChild(document.createTextNode((m.kind && m.kind !== "text" ? " " : "") + m.text));
    box.appendChild(bubble);

    if (side === "bot") {
      const parts = [];
      if (m.intent && m.intent !== m.outcome) {
        parts.push("问答 " + m.intent + (typeof m.score === "number" ? " · " + m.score.toFixed(1) : ""));
      }
      if (m.outcome) parts.push(OUTCOMES[m.outcome] || m.outcome);
      if (parts.length) box.appendChild(el("div", "msg-info", parts.join(" · ")));
    } else if (side === "staff") {
      box.appendChild(deliveryNode(m));
    }
    item.appendChild(box);
    return item;
  }

  function deliveryNode(m) {
    const d = m.delivery;
    if (!d) {
      const web = current && current.rider.channel !== "wechat";
      return el("div", "msg-info delivery", web ? "已发到网页聊天" : "");
    }
    const line = el("div", "msg-info delivery delivery-" + d.state);
    let text = DELIVERY[d.state] || d.state;
    if (d.state === "failed" && d.error) text += "：" + d.error;
    else if (d.state === "held" && d.error) text += "（" + d.error + "）";
    else if (d.state === "queued" && d.error) text += "（上次没发出：" + d.error + "，第 " + d.attempts + " 次，会自动再试）";
    line.appendChild(el("span", "delivery-text", text));
    if (d.state === "failed" || d.state === "held") {
      const again = el("button", "small", "重发");
      again.type = "button";
      again.addEventListener("click", function () { retry(d.outbox_id, again); });
      line.appendChild(again);
    }
    return line;
  }

  function noteNode(n) {
    const item = el("li", "note");
    const head = el("div", "msg-meta");
    head.appendChild(el("span", "who", n.author));
    head.appendChild(G.timeNode(n.at));
    item.appendChild(head);
    item.appendChild(el("div", "note-text", n.text));
    return item;
  }

  function historyNode(h) {
    const item = el("li");
    const link = el("a", h.urgent ? "urgent-link" : "", "会话 #" + h.id);
    link.href = "/console/conversations/" + h.id;
    item.appendChild(link);
    const bits = [G.STATES[h.state] || h.state];
    if (h.urgent) bits.push("紧急");
    else if (h.reason) bits.push(G.reasonWords(h.reason));
    bits.push(G.clock(h.created_at));
    bits.push(h.messages + " 条消息");
    if (h.assigned_to) bits.push(h.assigned_to);
    item.appendChild(el("span", "history-info", " · " + bits.join(" · ")));
    return item;
  }

  function render(data) {
    const first = current === null;
    current = data;
    const c = data.conversation;
    $("rider-label").textContent = data.rider.label;
    $("urgent").hidden = !c.urgent;
    const state = $("state");
    state.textContent = G.STATES[c.state] || c.state;
    state.className = "state state-" + c.state;
    $("reason").textContent = c.reason ? "原因：" + G.reasonWords(c.reason) : "";
    $("holder").textContent = c.state === "assigned" ? (c.yours ? "我在处理" : c.assigned_to + " 在处理") : "";
    $("channel").textContent = (G.CHANNELS[data.rider.channel] || data.rider.channel) + " · 开始于 " + G.clock(c.created_at);

    // actions: the holder (or an admin stepping in) releases, transfers, closes
    const manage = c.state === "assigned" && (c.yours || isAdmin);
    $("claim").hidden = !(c.state === "bot" || c.state === "waiting");
    $("release").hidden = !manage;
    $("transfer-box").hidden = !manage;
    $("close").hidden = !manage;
    for (const option of transferTo.options) option.disabled = option.value !== "" && option.value === c.assigned_to;

    const warning = $("warning");
    warning.textContent = data.limits && data.limits.warning ? data.limits.warning : "";
    warning.hidden = !(data.limits && data.limits.warning);

    // transcript: keep the reader's place, follow new messages only when at the bottom
    const nearBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
    G.syncChildren(transcript, renderMessages(data.messages, function (m) { return m.id; }, messageNode));
    if (first || nearBottom) transcript.scrollTop = transcript.scrollHeight;

    G.syncChildren($("notes"), renderNotes(data.notes, function (n) { return n.id; }, noteNode));
    $("notes-empty").hidden = data.notes.length > 0;
    $("history").replaceChildren.apply($("history"), data.history.map(historyNode));
    $("history-empty").hidden = data.history.length > 0;

    setReplyEnabled(c);
  }

  function setReplyEnabled(c) {
    const open = c.yours;
    reply.disabled = !open;
    send.disabled = !open || sending;
    for (const button of canned.querySelectorAll("button")) button.disabled = !open;
    replyHint.textContent = open ? "" : c.state === "closed" ? "这个会话已经结束，不能再回复" : "先接手才能回复";
    replyHint.hidden = open;
  }

  // --- loading -----------------------------------------------------------------------------------
  let failing = false;
  const refresh = G.coalesce(async function () {
    try {
      render(await G.api("GET", base));
      if (failing) G.say("");
      failing = false;
    } catch (e) {
      if (e.status === 401) return;
      failing = true;
      G.say((e.status === 404 ? "" : "会话没有刷新：") + e.message, "error");
    }
  });

  async function loadCanned() {
    try {
      const data = await G.api("GET", "/api/canned");
      canned.replaceChildren.apply(canned, (data.replies || []).map(function (r) {
        const button = el("button", "small", r.title);
        button.type = "button";
        button.title = r.text;
        button.addEventListener("click", function () { insert(r.text); });
        return button;
      }));
      if (current) setReplyEnabled(current.conversation);
    } catch (e) { /* no canned replies: typing still works */ }
  }

  async function loadColleagues() {
    try {
      const data = await G.api("GET", "/api/colleagues");
      const others = (data.colleagues || []).filter(function (name) { return name !== me; });
      const options = [el("option", "", others.length ? "选择同事……" : "没有可以转的同事")];
      options[0].value = "";
      others.forEach(function (name) {
        const option = el("option", "", name);
        option.value = name;
        options.push(option);
      });
      transferTo.replaceChildren.apply(transferTo, options);
      $("transfer").disabled = others.length === 0;
      if (current) render(current);
    } catch (e) { /* the select stays empty; the status line shows page errors */ }
  }

  // --- actions -----------------------------------------------------------------------------------
  async function act(button, path, body, done) {
    button.disabled = true;
    try {
      await G.api("POST", path, body);
      G.say(done, "ok");
      await refresh();
      return true;
    } catch (e) {
      G.say(e.message, "error");
      refresh();
      return false;
    } finally {
      button.disabled = false;
    }
  }

  $("claim").addEventListener("click", function () {
    act($("claim"), base + "/claim", undefined, "已接手，现在可以回复骑手了").then(function (ok) {
      if (ok) reply.focus();
    });
  });
  $("release").addEventListener("click", function () {
    act($("release"), base + "/release", undefined, "已放回队列，同事可以接手");
  });
  $("transfer").addEventListener("click", function () {
    const to = transferTo.value;
    if (!to) {
      G.say("请先选择要转给哪位同事", "error");
      transferTo.focus();
      return;
    }
    act($("transfer"), base + "/transfer", {to: to}, "已转给" + to);
  });
  $("close").addEventListener("click", function () {
    if (!window.confirm("结束人工服务？骑手会收到结束的提示，之后的消息由机器人回答。")) return;
    act($("close"), base + "/close", undefined, "已结束人工服务");
  });

  async function retry(outboxId, button) {
    await act(button, "/api/outbox/" + outboxId + "/retry", undefined, "已重新排队发送");
  }

  // --- the reply box -----------------------------------------------------------------------------
  function utf8Length(text) {
    return new TextEncoder().encode(text).length;
  }

  function updateCount() {
    const bytes = utf8Length(reply.value);
    replyCount.className = "count-hint";
    if (bytes > MAX_REPLY_BYTES) {
      replyCount.textContent = "太长了，约多 " + Math.ceil((bytes - MAX_REPLY_BYTES) / 3) + " 个字，请分成几条发";
      replyCount.classList.add("over");
    } else if (bytes > MAX_REPLY_BYTES * 0.75) {
      replyCount.textContent = "还能写约 " + Math.floor((MAX_REPLY_BYTES - bytes) / 3) + " 个字";
    } else {
      replyCount.textContent = "";
    }
  }

  /** A canned reply goes into the box at the cursor, to be edited and sent by hand. */
  function insert(text) {
    if (reply.disabled) return;
    reply.setRangeText(text, reply.selectionStart, reply.selectionEnd, "end");
    reply.focus();
    replyDraft.save(reply.value);
    updateCount();
  }

  reply.addEventListener("input", function () {
    replyDraft.save(reply.value);
    updateCount();
  });
  reply.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      replyForm.requestSubmit();
    }
  });

  replyForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (sending || reply.disabled) return;
    const text = reply.value;
    if (!text.trim()) {
      G.say("先写好回复再发送", "error");
      reply.focus();
      return;
    }
    sending = true;
    send.disabled = true;
    reply.readOnly = true; // what is being sent cannot change under us
    G.say("正在发送……");
    try {
      await G.api("POST", base + "/messages", {text: text});
      reply.value = "";
      replyDraft.save("");
      updateCount();
      G.say("已发出", "ok");
      transcript.scrollTop = transcript.scrollHeight;
      await refresh();
      transcript.scrollTop = transcript.scrollHeight;
    } catch (e) {
      G.say("没有发出去：" + e.message + "（写的内容还在框里）", "error");
      refresh();
    } finally {
      sending = false;
      reply.readOnly = false;
      if (current) setReplyEnabled(current.conversation); else send.disabled = false;
      reply.focus();
    }
  });

  // --- internal notes ----------------------------------------------------------------------------
  note.addEventListener("input", function () { noteDraft.save(note.value); });
  noteForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = note.value;
    if (!text.trim()) {
      G.say("先写好备注再添加", "error");
      note.focus();
      return;
    }
    const button = $("add-note");
    button.disabled = true;
    note.readOnly = true;
    try {
      await G.api("POST", base + "/notes", {text: text});
      note.value = "";
      noteDraft.save("");
      G.say("备注已添加（骑手看不到）", "ok");
      await refresh();
    } catch (e) {
      G.say("备注没有保存：" + e.message, "error");
    } finally {
      button.disabled = false;
      note.readOnly = false;
    }
  });

  // --- start -------------------------------------------------------------------------------------
  reply.value = replyDraft.load();
  note.value = noteDraft.load();
  updateCount();
  refresh();
  loadCanned();
  loadColleagues();
  G.watchQueue();
  G.live(function () {
    refresh();
    G.watchQueue();
  });
})();
