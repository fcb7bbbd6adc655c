// The Groups page (`/groups`): the groups (named filter expressions) listed, created, edited
// and deleted through the X-Ray group operations; the server's validation message shown beside
// the field it is about; each group links to its service map and its traces.

import * as api from "./api.js";
import { h, link, replace, showFieldError } from "./dom.js";
import { quoted } from "./format.js";

export function render(root) {
  const list = h("div", { class: "table-scroll", id: "groups-list" });
  const nameInput = h("input", { id: "group-name", name: "GroupName", required: true, maxlength: "32", autocomplete: "off" });
  const filterInput = h("textarea", { id: "group-filter", name: "FilterExpression", rows: "2", spellcheck: "false", placeholder: 'e.g. service("api") { fault } OR responsetime > 3' });
  const errors = {
    GroupName: h("p", { class: "field-error", "data-for": "GroupName" }),
    FilterExpression: h("p", { class: "field-error", "data-for": "FilterExpression" }),
  };
  const formError = h("p", { class: "field-error", "data-for": "form" });
  const submit = h("button", { type: "submit", id: "group-save" }, "Create group");
  const cancel = h("button", { type: "button", class: "secondary hidden", onclick: () => reset() }, "Cancel");
  const formTitle = h("h2", {}, "New group");
  let editing = null;
  const form = h("form", { id: "group-form", class: "card form" }, formTitle,
    h("label", { for: "group-name" }, "Name"), nameInput, errors.GroupName,
    h("label", { for: "group-filter" }, "Filter expression"), filterInput, errors.FilterExpression,
    formError, h("div", { class: "actions" }, submit, cancel));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      if (editing) await api.updateGroup({ name: editing, filter: filterInput.value.trim() });
      else await api.createGroup({ name: nameInput.value.trim(), filter: filterInput.value.trim() || undefined });
      reset();
      await load();
    } catch (error) {
      showFieldError(errors, formError, error.message, { column: "FilterExpression", "filter expression": "FilterExpression", name: "GroupName" });
    }
  });
  root.append(h("h1", {}, "Groups"), h("p", { class: "muted" }, "A group is a named filter expression; its map and traces cover only the traces it matches."), list, form);

  function reset() {
    editing = null;
    form.reset();
    nameInput.disabled = false;
    submit.textContent = "Create group";
    formTitle.textContent = "New group";
    cancel.classList.add("hidden");
    for (const element of [...Object.values(errors), formError]) replace(element);
  }

  function edit(group) {
    reset();
    editing = group.GroupName;
    nameInput.value = group.GroupName;
    nameInput.disabled = true;
    filterInput.value = group.FilterExpression || "";
    submit.textContent = "Update group";
    formTitle.textContent = `Edit ${group.GroupName}`;
    cancel.classList.remove("hidden");
    filterInput.focus();
  }

  async function remove(group, message) {
    if (!window.confirm(`Delete group ${group.GroupName}?`)) return;
    try {
      await api.deleteGroup(group.GroupName);
      await load();
    } catch (error) {
      message.textContent = error.message;
    }
  }

  async function load() {
    let groups;
    try {
      groups = await api.groups();
    } catch (error) {
      replace(list, h("p", { class: "error" }, `Cannot list groups: ${error.message}`));
      return;
    }
    const rows = groups.map((group) => {
      const message = h("span", { class: "field-error" });
      const isDefault = group.GroupName === "Default";
      return h("tr", { "data-group": group.GroupName },
        h("td", {}, group.GroupName),
        h("td", { class: "mono" }, group.FilterExpression || (isDefault ? "(every trace)" : "")),
        h("td", { class: "actions" },
          link(isDefault ? "/" : `/?group=${encodeURIComponent(group.GroupName)}`, { class: "button", "data-action": "map" }, "Map"),
          link(isDefault ? "/traces" : `/traces?filter=${encodeURIComponent(`group.name = ${quoted(group.GroupName)}`)}`, { class: "button", "data-action": "traces" }, "Traces"),
          isDefault ? null : h("button", { type: "button", class: "small", "data-action": "edit", onclick: () => edit(group) }, "Edit"),
          isDefault ? null : h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: () => remove(group, message) }, "Delete"),
          message));
    });
    replace(list, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Filter expression"), h("th", {}, ""))),
      h("tbody", {}, rows)));
  }

  load();
  return {};
}
