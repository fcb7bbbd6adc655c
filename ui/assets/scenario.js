// The demo's scenario switches in the top bar: shown only when this server was started by
// `fluoro demo` (the server answers /api/demo/scenario). A change applies at once; the
// switches follow changes made elsewhere (`fluoro demo scenario …`) on the next poll.

import { changeDemoScenario, demoScenario } from "./api.js";
import { h, replace } from "./dom.js";

const POLL_MS = 10000;
const TRAFFIC_CHOICES = [0, 1, 2, 5, 10];

let fields = null;

/** Builds the switches into `container` if a demo runs; otherwise leaves it empty and hidden. */
export async function mount(container) {
  let scenario;
  try {
    scenario = await demoScenario();
  } catch {
    scenario = null;
  }
  if (!scenario) {
    container.hidden = true;
    return;
  }
  fields = {
    traffic: h("select", { id: "scenario-traffic", title: "Traffic generators (the seed's throttling runs 5)", onchange: () => apply({ traffic: Number(fields.traffic.value) }) },
      TRAFFIC_CHOICES.map((count) => h("option", { value: String(count) }, `traffic ×${count}`))),
    billing: h("select", { id: "scenario-billing", title: "The pets table's billing mode", onchange: () => apply({ billing: fields.billing.value }) },
      h("option", { value: "provisioned" }, "table: provisioned"),
      h("option", { value: "on-demand" }, "table: on-demand")),
    errormode1: h("input", { id: "scenario-errormode1", type: "checkbox", onchange: () => apply({ errormode1: fields.errormode1.checked ? "on" : "off" }) }),
    status: h("span", { id: "scenario-status", class: "scenario-status", "aria-live": "polite" }),
  };
  replace(container,
    h("span", { class: "scenario-label" }, "Demo"),
    fields.traffic,
    fields.billing,
    h("label", { title: "Bunny payments leak 32 MiB and fail until payforadoption crashes" }, fields.errormode1, " errormode1"),
    fields.status);
  container.hidden = false;
  show(scenario);
  setInterval(poll, POLL_MS);
}

async function apply(change) {
  fields.status.textContent = "switching…";
  fields.status.classList.remove("error");
  try {
    show(await changeDemoScenario(change));
    fields.status.textContent = "";
  } catch (error) {
    fields.status.textContent = error.message;
    fields.status.classList.add("error");
    poll();
  }
}

async function poll() {
  if (document.hidden || document.activeElement?.closest?.("#scenario")) return;
  try {
    const scenario = await demoScenario();
    if (scenario) show(scenario);
  } catch {
    // The demo may be stopping; the switches keep their last state.
  }
}

function show(scenario) {
  const traffic = String(scenario.traffic);
  if (![...fields.traffic.options].some((option) => option.value === traffic)) {
    fields.traffic.append(h("option", { value: traffic }, `traffic ×${traffic}`));
  }
  fields.traffic.value = traffic;
  fields.billing.value = scenario.billing;
  fields.errormode1.checked = scenario.errormode1 === "on";
  container().dataset.state = JSON.stringify(scenario);
}

function container() {
  return document.getElementById("scenario");
}
