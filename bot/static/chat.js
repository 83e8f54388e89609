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
    linkify(body, text);
    box.appendChild(body);
    row.appendChild(box);
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  // Map links in a bot's answer become links; everything else stays text (textContent).
  function linkify(body, text) {
    const parts = text.split(/(https:\/\/[^\s，。）)]+)/);
    parts.forEach(function (part, i) {
      if (i % 2 === 1) {
        const a = document.createElement("a");
        a.href = part;
        a.textContent = part;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        body.appendChild(a);
      } else if (part) {
        body.appendChild(document.createTextNode(part));
      }
    });
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

  // The browser's position is WGS-84; the server converts it to GCJ-02, as Chinese maps use.
  async function post(body) {
    const clientId = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    const r = await fetch("/chat/api/messages", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(Object.assign({client_id: clientId}, body)),
    });
    const data = await r.json();
    if (!r.ok) status.textContent = data.error || "发送失败，请再试一次";
    return r.ok;
  }

  const locate = document.getElementById("locate");
  locate.addEventListener("click", function () {
    if (!navigator.geolocation) {
      status.textContent = "这个浏览器不能发送位置：请告诉我你在哪个区、哪条街";
      return;
    }
    locate.disabled = true;
    status.textContent = "正在获取位置…";
    navigator.geolocation.getCurrentPosition(async function (where) {
      try {
        status.textContent = "";
        if (await post({location: {lat: where.coords.latitude, lng: where.coords.longitude}})) await poll();
      } catch (e) {
        status.textContent = "网络不好，位置没有发出去，请再点一次";
      } finally {
        locate.disabled = false;
      }
    }, function () {
      locate.disabled = false;
      status.textContent = "没有拿到位置（可能没有允许）：请告诉我你在哪个区、哪条街";
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
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
