// Accounts (admin only): list, add, disable/enable, change role; and the audit log.
"use strict";
(function () {
  const G = window.GigDesk;
  const el = G.el;
  const root = document.getElementById("users-page");
  const me = root.dataset.me;
  const usersBody = document.querySelector("#users tbody");
  const auditBody = document.querySelector("#audit tbody");
  const more = document.getElementById("audit-more");
  const form = document.getElementById("add-user");
  const newRole = document.getElementById("new-role");
  let roles = [];

  const ACTIONS = {login: "登录", login_failed: "登录失败", logout: "退出", claim: "接手", release: "放回队列",
                   transfer: "转给同事", reply: "回复", note: "写备注", close: "结束人工", retry: "重发消息",
                   user_add: "添加账号", user_update: "修改账号",
                   case_status: "改登记状态", case_assign: "分派登记", case_note: "登记备注", case_export: "导出登记",
                   faq_edit: "修改问答", faq_create: "新建问答", faq_add_examples: "补充问法", faq_revert: "撤销问答修改",
                   unanswered_add: "没答上的问题加进问答", unanswered_dismiss: "忽略没答上的问题"};
  const DETAIL_KEYS = {was: "原来", to: "转给", message: "消息", note: "备注", role: "角色", active: "启用"};

  function roleSelect(user) {
    const select = el("select");
    select.setAttribute("aria-label", user.name + " 的角色");
    for (const role of roles) {
      const option = el("option", "", G.ROLES[role] || role);
      option.value = role;
      option.selected = role === user.role;
      select.appendChild(option);
    }
    select.disabled = user.name === me;
    select.addEventListener("change", async function () {
      const role = select.value;
      select.disabled = true;
      try {
        await G.api("POST", "/api/users/" + user.id, {role: role});
        G.say("已把 " + user.name + " 改为" + (G.ROLES[role] || role), "ok");
      } catch (e) {
        G.say(e.message, "error");
      }
      await loadAll();
    });
    return select;
  }

  function userRow(user) {
    const row = el("tr", user.active ? "" : "inactive");
    const name = el("td", "", user.name);
    if (user.name === me) name.appendChild(el("span", "tag", "（我）"));
    row.appendChild(name);
    const role = el("td");
    role.appendChild(roleSelect(user));
    row.appendChild(role);
    row.appendChild(el("td", user.active ? "ok" : "off", user.active ? "在用" : "已停用"));
    const last = el("td");
    if (user.last_login_at) last.appendChild(G.timeNode(user.last_login_at)); else last.textContent = "从没登录";
    row.appendChild(last);
    const actions = el("td");
    const toggle = el("button", user.active ? "small danger" : "small", user.active ? "停用" : "启用");
    toggle.type = "button";
    toggle.setAttribute("aria-label", (user.active ? "停用 " : "启用 ") + user.name);
    if (user.name === me) {
      toggle.disabled = true;
      toggle.title = "不能停用自己的账号";
    }
    toggle.addEventListener("click", async function () {
      toggle.disabled = true;
      try {
        await G.api("POST", "/api/users/" + user.id, {active: !user.active});
        G.say((user.active ? "已停用 " : "已启用 ") + user.name, "ok");
      } catch (e) {
        G.say(e.message, "error");
      }
      await loadAll();
    });
    actions.appendChild(toggle);
    row.appendChild(actions);
    return row;
  }

  function target(text) {
    const cell = el("td");
    const match = /^conversation:(\d+)$/.exec(text || "");
    if (match) {
      const link = el("a", "", "会话 #" + match[1]);
      link.href = "/console/conversations/" + match[1];
      cell.appendChild(link);
    } else if (text && text.startsWith("user:")) {
      cell.textContent = "账号 " + text.slice(5);
    } else if (text && text.startsWith("outbox:")) {
      cell.textContent = "待发消息 #" + text.slice(7);
    } else {
      cell.textContent = text || "";
    }
    return cell;
  }

  function detail(text) {
    if (!text) return "";
    try {
      const data = JSON.parse(text);
      if (data && typeof data === "object" && !Array.isArray(data)) {
        return Object.keys(data).map(function (key) {
          let value = data[key];
          if (key === "role") value = G.ROLES[value] || value;
          if (key === "active") value = value ? "是" : "否";
          if (key === "was") value = G.STATES[value] || value;
          if (key === "message" || key === "note") return (DETAIL_KEYS[key]) + " #" + value;
          return (DETAIL_KEYS[key] || key) + "：" + (typeof value === "object" ? JSON.stringify(value) : value);
        }).join("；");
      }
    } catch (e) { /* not JSON: shown as it is */ }
    return text;
  }

  function auditRow(entry) {
    const row = el("tr", entry.action === "login_failed" ? "warn" : "");
    const at = el("td");
    at.appendChild(G.timeNode(entry.at));
    row.appendChild(at);
    row.appendChild(el("td", "", entry.actor));
    row.appendChild(el("td", "", ACTIONS[entry.action] || entry.action));
    row.appendChild(target(entry.target));
    row.appendChild(el("td", "detail", detail(entry.detail)));
    return row;
  }

  async function loadUsers() {
    const data = await G.api("GET", "/api/users");
    roles = data.roles || [];
    if (newRole.options.length !== roles.length) {
      newRole.replaceChildren.apply(newRole, roles.map(function (role) {
        const option = el("option", "", G.ROLES[role] || role);
        option.value = role;
        option.selected = role === "caseworker";
        return option;
      }));
    }
    usersBody.replaceChildren.apply(usersBody, (data.users || []).map(userRow));
  }

  let oldest = null;

  async function loadAudit(before) {
    const data = await G.api("GET", "/api/audit" + (before ? "?before=" + before : ""));
    const entries = (data.entries || []).slice().sort(function (a, b) { return b.id - a.id; });
    const rows = entries.map(auditRow);
    if (before) rows.forEach(function (row) { auditBody.appendChild(row); });
    else auditBody.replaceChildren.apply(auditBody, rows);
    if (entries.length) oldest = entries[entries.length - 1].id;
    more.hidden = entries.length < 200;
  }

  async function loadAll() {
    try {
      await Promise.all([loadUsers(), loadAudit()]);
    } catch (e) {
      if (e.status !== 401) G.say(e.message, "error");
    }
  }

  more.addEventListener("click", async function () {
    try {
      await loadAudit(oldest);
    } catch (e) {
      G.say(e.message, "error");
    }
  });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    const password = form.elements.password.value;
    if (!name) {
      G.say("请填写名字", "error");
      form.elements.name.focus();
      return;
    }
    if (password.length < 10) {
      G.say("密码至少 10 个字符", "error");
      form.elements.password.focus();
      return;
    }
    const button = document.getElementById("add");
    button.disabled = true;
    try {
      const made = await G.api("POST", "/api/users", {name: name, role: form.elements.role.value, password: password});
      form.reset();
      newRole.value = "caseworker";
      G.say("已添加账号 " + made.name + "（" + (G.ROLES[made.role] || made.role) + "）", "ok");
    } catch (e) {
      G.say(e.message, "error");
    } finally {
      button.disabled = false;
    }
    await loadAll();
  });

  loadAll();
  G.watchQueue();
  G.live(G.watchQueue); // the urgent alarm works on this page too
})();
