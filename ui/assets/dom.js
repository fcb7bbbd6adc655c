// Safe element building. Every string that reaches the page goes through a text node or an
// attribute setter here: nothing in the dashboard assigns HTML source or builds markup from
// strings, so a segment named `<img src=x onerror=alert(1)>` shows as those characters.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children: nodes, strings and numbers (as text), arrays of them; null is skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** An HTML element: `h("td", {class: "num"}, "12 ms")`; `on*` attributes given functions become listeners. */
export function h(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element, same rules as `h`. */
export function svg(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** Replaces every child of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A `<dl>` of label → value rows; values that are null or empty are left out. */
export function definitionList(rows, className) {
  const list = h("dl", { class: className || "facts" });
  for (const [label, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", {}, label), h("dd", {}, value));
  }
  return list;
}

/** An in-app link: app.js intercepts clicks on `a[data-route]` and navigates without a reload. */
export function link(href, attributes, ...children) {
  return h("a", { ...attributes, href, "data-route": "" }, ...children);
}

/**
 * Shows a server's validation message beside the field it names: `fields` maps an API field
 * name (`FixedRate`) to its error element. A message naming no field goes to `fallback`.
 * `aliases` maps other words of messages to a field (`column` → FilterExpression).
 */
export function showFieldError(fields, fallback, message, aliases = {}) {
  for (const element of [...Object.values(fields), fallback]) replace(element);
  const names = Object.keys(fields).sort((a, b) => b.length - a.length);
  let target = names.find((name) => message.includes(name));
  if (!target) target = Object.entries(aliases).find(([word]) => message.includes(word))?.[1];
  const element = (target && fields[target]) || fallback;
  element.textContent = message;
  return element;
}
