// The case list: filters in the address bar (so a filtered list can be bookmarked and
// exported), rows built with text nodes only.
"use strict";
(function () {
  const G = window.GigDesk;
  const form = document.getElementById("filters");
  const rows = document.getElementById("case-rows");
  const exportLink = document.getElementById("export");
  let choicesFilled = false;

  function query() {
    const params = new URLSearchParams();
    for (const field of form.elements) {
      if (field.name && field.value) params.set(field.name, field.value);
    }
    return params.toString();
  }

  function fill(select, options) {
    const keep = select.value || new URLSearchParams(location.search).get(select.name) || "";
    for (const [value, label] of options) {
      const option = G.el("option", "", label);
      option.value = value;
      select.appendChild(option);
    }
    select.value = keep;
  }

  function fillChoices(data) {
    if (choicesFilled) return;
    choicesFilled = true;
    fill(form.elements.status, data.statuses.map(function (s) { return [s.id, s.label]; }));
    fill(form.elements.kind, data.kinds.map(function (k) { return [k.id, k.title]; }));
    for (const name of ["platform", "city", "assigned_to"]) {
      fill(form.elements[name], data.choices[name].map(function (v) { return [v, v]; }));
    }
    const params = new URLSearchParams(location.search);
    for (const name of ["from", "to"]) form.elements[name].value = params.get(name) || "";
  }

  function row(c) {
    const tr = G.el("tr", c.urgent && c.status !== "resolved" && c.status !== "closed" ? "urgent" : "");
    const link = G.el("a", "", c.number);
    link.href = "/console/cases/" + c.id;
    const first = G.el("td");
    first.appendChild(link);
    if (c.urgent) first.appendChild(G.el("span", "badge urgent", "紧急"));
    tr.appendChild(first);
    for (const text of [c.kind_title, c.status_label, c.platform || "", c.city || "", c.assigned_to || "",
                        G.fullTime(c.created_at)]) {
      tr.appendChild(G.el("td", "", text));
    }
    return tr;
  }

  // Until the choices are filled the selects are empty: the first load takes the filters
  // from the address bar, so a bookmarked or shared filtered list opens filtered.
  async function load() {
    try {
      const q = choicesFilled ? query() : location.search.slice(1);
      const data = await G.api("GET", "/api/cases" + (q ? "?" + q : ""));
      fillChoices(data);
      rows.replaceChildren.apply(rows, data.cases.map(row));
      document.getElementById("cases-empty").hidden = data.cases.length > 0;
      exportLink.href = "/api/cases.csv" + (q ? "?" + q : "");
      G.say("");
    } catch (e) {
      G.say(e.message, "error");
    }
  }

  form.addEventListener("change", function () {
    history.replaceState(null, "", "?" + query());
    load();
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  load();
})();
