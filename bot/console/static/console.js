// Shared by the console pages: API calls, live updates, the urgent alarm and small helpers.
// Rider messages are hostile input: every text from the API goes into the page with
// textContent or text nodes, never as HTML.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";
  const STORAGE_PREFIX = "gigdesk:";

  // --- words ---------------------------------------------------------------------------------
  const REASONS = {asked: "要求人工", urgent: "紧急", misses: "机器人答不上", topic: "需要人工", case: "紧急求助登记"};
  const STATES = {bot: "机器人在答", waiting: "等待接手", assigned: "处理中", closed: "已结束"};
  const CHANNELS = {wechat: "微信", web: "网页"};
  const ROLES = {caseworker: "接待员", editor: "知识库编辑", admin: "管理员"};

  function reasonWords(reason) {
    return reason ? (REASONS[reason] || reason) : "";
  }

  // --- DOM helpers -----------------------------------------------------------------------------
  /** A new element with a class and text content (never HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** Make `parent`'s children exactly `nodes`, moving only what is out of place, so a row
   * that did not change keeps its focus, its text selection and a click in progress. */
  function syncChildren(parent, nodes) {
    nodes.forEach(function (node, i) {
      if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
    });
    while (parent.children.length > nodes.length) parent.lastElementChild.remove();
  }

  /** Keyed rendering: one node per key, rebuilt only when its data (or `sign(item)`) changed. */
  function keyed() {
    const cache = new Map();
    return function (items, key, build, sign) {
      const seen = new Set();
      const nodes = items.map(function (item) {
        const k = key(item);
        const signature = JSON.stringify(sign ? sign(item) : item);
        seen.add(k);
        const hit = cache.get(k);
        if (hit && hit.signature === signature) return hit.node;
        const node = build(item);
        cache.set(k, {node: node, signature: signature});
        return node;
      });
      for (const k of Array.from(cache.keys())) if (!seen.has(k)) cache.delete(k);
      return nodes;
    };
  }

  // --- times -----------------------------------------------------------------------------------
  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /** "14:05" today, "3月2日 14:05" this year, else with the year. API times are epoch seconds. */
  function clock(epoch) {
    if (epoch === null || epoch === undefined) return "";
    const d = new Date(epoch * 1000);
    const now = new Date();
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    if (d.toDateString() === now.toDateString()) return hm;
    const day = (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm;
    return d.getFullYear() === now.getFullYear() ? day : d.getFullYear() + "年" + day;
  }

  function fullTime(epoch) {
    const d = new Date(epoch * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  /** A <time> element showing clock(epoch), with the full time as a tooltip. */
  function timeNode(epoch) {
    const node = el("time", "", clock(epoch));
    if (epoch !== null && epoch !== undefined) {
      node.dateTime = new Date(epoch * 1000).toISOString();
      node.title = fullTime(epoch);
    }
    return node;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return "不到 1 分钟";
    const minutes = Math.floor(s / 60);
    if (minutes < 60) return minutes + " 分钟";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " 小时 " + (minutes % 60) + " 分钟";
    return Math.floor(hours / 24) + " 天 " + (hours % 24) + " 小时";
  }

  // --- the status line -------------------------------------------------------------------------
  let statusTimer = null;

  /** Show a message in the page's status line (role="status"); kind "error" stays, "ok" fades. */
  function say(text, kind) {
    const status = document.getElementById("status");
    if (!status) return;
    clearTimeout(statusTimer);
    status.textContent = text || "";
    status.className = "status" + (kind ? " " + kind : "");
    if (kind === "ok") {
      statusTimer = setTimeout(function () {
        if (status.textContent === text) { status.textContent = ""; status.className = "status"; }
      }, 6000);
    }
  }

  // --- the API ---------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, status, data) {
      super(message);
      this.status = status;
      this.data = data || {};
    }
  }

  let leaving = false;

  function toLogin() {
    if (leaving) return;
    leaving = true;
    location.assign("/console/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  /** fetch() a JSON API path; resolves to the JSON, or throws ApiError with the API's own words. */
  async function api(method, path, body) {
    const options = {method: method, credentials: "same-origin", cache: "no-store",
                     headers: {"Accept": "application/json"}};
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (e) {
      throw new ApiError("网络不通，没有连上服务器，请稍后再试", 0);
    }
    if (response.status === 401) {
      toLogin();
      throw new ApiError("登录已过期，正在转到登录页……", 401);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = data && typeof data.error === "string" ? data.error
        : "出错了（" + response.status + "），请稍后再试";
      throw new ApiError(message, response.status, data);
    }
    return data || {};
  }

  // --- refreshing ------------------------------------------------------------------------------
  /** Wraps an async function so calls while it runs make it run once more, never in parallel. */
  function coalesce(fn) {
    let running = null;
    let again = false;
    return function run() {
      if (running) {
        again = true;
        return running;
      }
      running = (async function () {
        try {
          do {
            again = false;
            await fn();
          } while (again);
        } finally {
          running = null;
        }
      })();
      return running;
    };
  }

  /** Server-sent events from /api/events: `onChange` runs on every `changed` event (also once
   * when the stream connects) and every 30 s as a fallback. EventSource reconnects by itself
   * after a dropped connection; after a refused one (e.g. logged out) it stops, so we retry. */
  function live(onChange) {
    const indicator = document.getElementById("live");
    let source = null;
    let retry = null;

    function show(connected) {
      if (!indicator) return;
      indicator.textContent = connected ? "● 实时更新" : "○ 实时连接断开，正在重连…";
      indicator.className = "live" + (connected ? " on" : " off");
    }

    function connect() {
      source = new EventSource("/api/events");
      source.addEventListener("open", function () { show(true); });
      source.addEventListener("changed", function () {
        show(true);
        onChange();
      });
      source.addEventListener("error", function () {
        show(false);
        if (source.readyState === EventSource.CLOSED) {
          source.close();
          clearTimeout(retry);
          retry = setTimeout(connect, 5000);
          onChange(); // a 401 there sends the page to the log-in form
        }
      });
    }

    show(false);
    connect();
    setInterval(onChange, 30000);
    window.addEventListener("pagehide", function () { if (source) source.close(); });
  }

  // --- the urgent alarm ------------------------------------------------------------------------
  const baseTitle = document.title;
  const HEARD = STORAGE_PREFIX + "alarm-heard";
  let alarmKey = "";
  let audio = null;

  function heard() {
    try {
      return new Set(JSON.parse(sessionStorage.getItem(HEARD) || "[]"));
    } catch (e) {
      return new Set();
    }
  }

  function remember(ids) {
    try {
      sessionStorage.setItem(HEARD, JSON.stringify(Array.from(ids).slice(-200)));
    } catch (e) { /* private mode: we may beep again, which is fine */ }
  }

  /** Three short beeps. Browsers may keep audio off until the first click: then it is silent. */
  function beep() {
    try {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      audio = audio || new Context();
      if (audio.state === "suspended") audio.resume().catch(function () {});
      const start = audio.currentTime + 0.05;
      for (let i = 0; i < 3; i++) {
        const at = start + i * 0.3;
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        tone.type = "square";
        tone.frequency.value = 880;
        gain.gain.setValueAtTime(0.2, at);
        gain.gain.setValueAtTime(0, at + 0.18);
        tone.connect(gain);
        gain.connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.2);
      }
    } catch (e) { /* no sound: the banner and the title still show */ }
  }

  function unlockAudio() {
    try {
      if (audio && audio.state === "suspended") audio.resume().catch(function () {});
    } catch (e) { /* ignore */ }
  }
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);

  /** Show the red #alarm banner while any urgent conversation waits; beep for new ones. */
  function alarm(conversations) {
    const box = document.getElementById("alarm");
    const urgent = conversations.filter(function (c) { return c.state === "waiting" && c.urgent; });
    document.title = urgent.length ? "【紧急】" + baseTitle : baseTitle;
    if (!box) return;
    const key = urgent.map(function (c) { return c.id; }).join(",");
    if (key !== alarmKey) {
      alarmKey = key;
      box.replaceChildren();
      if (urgent.length) {
        box.appendChild(el("strong", "", "有紧急求助等待接手："));
        urgent.forEach(function (c, i) {
          if (i) box.appendChild(document.createTextNode("、"));
          const link = el("a", "", "会话 #" + c.id);
          link.href = "/console/conversations/" + c.id;
          box.appendChild(link);
        });
      }
      box.hidden = urgent.length === 0;
    }
    const known = heard();
    const fresh = urgent.filter(function (c) { return !known.has(c.id); });
    if (fresh.length) {
      fresh.forEach(function (c) { known.add(c.id); });
      remember(known);
      beep();
    }
  }

  /** For pages other than the queue: keep the alarm up to date from /api/queue. */
  const watchQueue = coalesce(async function () {
    try {
      const data = await api("GET", "/api/queue");
      alarm(data.conversations || []);
    } catch (e) { /* the page's own refresh reports problems */ }
  });

  // --- drafts: nothing a caseworker typed is lost on a reload ----------------------------------
  function draft(name) {
    const key = STORAGE_PREFIX + "draft:" + name;
    return {
      load: function () {
        try { return sessionStorage.getItem(key) || ""; } catch (e) { return ""; }
      },
      save: function (text) {
        try {
          if (text) sessionStorage.setItem(key, text); else sessionStorage.removeItem(key);
        } catch (e) { /* storage full or off: the text is still in the box */ }
      },
    };
  }

  // Logging out on a shared computer leaves no drafts behind.
  const logout = document.querySelector("form.logout");
  if (logout) {
    logout.addEventListener("submit", function () {
      try {
        for (let i = sessionStorage.length - 1; i >= 0; i--) {
          const key = sessionStorage.key(i);
          if (key && key.startsWith(STORAGE_PREFIX)) sessionStorage.removeItem(key);
        }
      } catch (e) { /* ignore */ }
    });
  }

  window.GigDesk = {
    REASONS: REASONS, STATES: STATES, CHANNELS: CHANNELS, ROLES: ROLES,
    reasonWords: reasonWords, el: el, syncChildren: syncChildren, keyed: keyed,
    clock: clock, fullTime: fullTime, timeNode: timeNode, duration: duration,
    say: say, api: api, ApiError: ApiError, coalesce: coalesce, live: live,
    alarm: alarm, watchQueue: watchQueue, draft: draft,
  };
})();
