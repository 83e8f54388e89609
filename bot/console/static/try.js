// The "try it" page: sends a question through the running bot's matcher and shows the ranked
// entries with their scores as bars, and what the bot would do.
"use strict";
(function () {
  const G = window.GigDesk;
  const el = G.el;
  const form = document.getElementById("try-form");
  const text = document.getElementById("try-text");
  const result = document.getElementById("try-result");
  const list = document.getElementById("try-candidates");

  function candidate(c, thresholds) {
    const item = el("li", "candidate" + (c.chosen ? " chosen" : ""));
    const head = el("div", "candidate-head");
    const link = el("a", "", c.title || c.entry_id);
    link.href = "/console/knowledge/entries/" + encodeURIComponent(c.entry_id);
    head.appendChild(link);
    head.appendChild(el("span", "mono", " " + c.entry_id));
    head.appendChild(el("strong", "score", c.score.toFixed(1) + " 分"));
    item.appendChild(head);
    const bar = el("div", "bar");
    const fill = el("div", "bar-fill" + (c.score >= thresholds.answer ? " high" : c.score >= thresholds.clarify ? " mid" : ""));
    fill.style.width = Math.max(0, Math.min(100, c.score)) + "%";  // CSSOM, allowed by the CSP
    bar.appendChild(fill);
    item.appendChild(bar);
    item.appendChild(el("p", "hint", "最接近的问法：" + c.example));
    return item;
  }

  function show(data) {
    const decision = document.getElementById("try-decision");
    decision.replaceChildren();
    decision.appendChild(el("strong", "", "机器人会："));
    decision.appendChild(document.createTextNode(data.trigger ? data.trigger_words : data.decision_words));
    if (data.trigger) {
      decision.appendChild(el("span", "hint", "（这句话先触发了特殊处理，不会去对问答；如果没有触发，问答的判断是：" + data.decision_words + "）"));
    }
    decision.className = "try-decision outcome-" + data.outcome;
    document.getElementById("try-normalised").textContent = data.normalised || "（空）";
    const t = data.thresholds;
    list.replaceChildren.apply(list, data.candidates.map(function (c) { return candidate(c, t); }));
    if (!data.candidates.length) list.appendChild(el("li", "empty", "没有一条问答和这句话有相同的字。"));
    document.getElementById("try-thresholds").textContent =
      "规则：最高分达到 " + t.answer + " 分、并且比第二名高出 " + t.margin + " 分以上，直接回答；" +
      "达到 " + t.clarify + " 分的，列出来请骑手选；都不到 " + t.clarify + " 分，就说答不上。";
    result.hidden = false;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (!text.value.trim()) {
      G.say("请先输入一句话", "error");
      text.focus();
      return;
    }
    G.say("");
    try {
      show(await G.api("POST", "/api/try", {text: text.value}));
    } catch (e) {
      G.say(e.message, "error");
    }
  });
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
