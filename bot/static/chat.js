// The web chat: every text goes into the page with textContent, never as HTML.
"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const send = document.getElementById("send");
  const status = document.getElementById("status");
  let lastId = 0;

  function bubble(text, who, label) {
    const row = document.createElement("div");
    row.className = "msg " + who;
    const box = document.createElement("div");
    if (label) {
      const name = document.createElement("div");
      name.className = "who";
      name.textContent = label;
      box.appendChild(name);
    }
    const body = document.createElement("div");
    body.className = "bubble";
    body.textContent = text;
    box.appendChild(body);
    row.appendChild(box);
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  function show(m) {
    if (m.id <= lastId) return;
    lastId = m.id;
    if (m.from === "me") bubble(m.text, "me");
    else if (m.from === "bot") bubble(m.text, "bot");
    else bubble(m.text, "person", "工作人员");
  }

  async function poll() {
    try {
      const r = await fetch("/chat/api/messages?after=" + lastId, {credentials: "same-origin"});
      if (r.ok) (await r.json()).messages.forEach(show);
    } catch (e) { /* offline for a moment: the next poll catches up */ }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send.disabled = true;
    status.textContent = "";
    const clientId = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    try {
      const r = await fetch("/chat/api/messages", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({text: text, client_id: clientId}),
      });
      const data = await r.json();
      if (!r.ok) { status.textContent = data.error || "发送失败，请再试一次"; return; }
      input.value = "";
      await poll();
    } catch (e) {
      status.textContent = "网络不好，消息没有发出去，请再点一次发送";
    } finally {
      send.disabled = false;
      input.focus();
    }
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  poll().then(function () {
    if (lastId === 0) bubble(document.getElementById("welcome").textContent.trim(), "bot");
  });
  setInterval(poll, 4000);
})();
