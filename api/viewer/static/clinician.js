// The clinician viewer: a case in (findings, a FHIR bundle or a note), the differential out; or a stored
// decision opened by its audit id (/viewer/?trace=<audit_id>, the link of the CDS Hooks cards).

import { api, clear, getKey, setupKeyForm, showError } from "./common.js";
import { outcomeLabel, renderDecision, wireEvidenceLinks } from "./render.js";

const form = document.getElementById("case-form");
const submit = document.getElementById("diagnose");
const message = document.getElementById("message");
const progress = document.getElementById("progress");
const result = document.getElementById("result");
const passage = document.getElementById("passage");
const demographics = document.getElementById("demographics");
const modes = { findings: "mode-findings", bundle: "mode-bundle", text: "mode-text" };
const requestedTrace = new URLSearchParams(window.location.search).get("trace");
let traceShown = false;

/** Findings from the textarea: one per line; a leading "-" marks a finding looked for and absent. */
export function parseFindings(text) {
  const findings = [];
  for (const raw of text.split(/\r?\n/)) {
    let label = raw.trim();
    let excluded = false;
    if (/^[-\u2212\u2013]/.test(label)) {
      excluded = true;
      label = label.slice(1).trim();
    }
    if (!label) continue;
    findings.push(excluded ? { label, excluded: true } : { label });
  }
  return findings;
}

function currentMode() {
  const checked = form.querySelector('input[name="mode"]:checked');
  return checked ? checked.value : "findings";
}

function showMode() {
  const mode = currentMode();
  for (const [name, id] of Object.entries(modes)) document.getElementById(id).hidden = name !== mode;
  // With a bundle, sex and age come from the bundle's Patient: the API refuses them alongside.
  demographics.hidden = mode === "bundle";
}

/** The request body for the chosen input; throws an Error with a message for the user. */
function buildRequest() {
  const mode = currentMode();
  const body = {};
  if (mode === "findings") {
    const findings = parseFindings(document.getElementById("findings").value);
    if (!findings.length) throw new Error("Enter at least one finding (one per line).");
    body.findings = findings;
  } else if (mode === "bundle") {
    const raw = document.getElementById("bundle").value.trim();
    if (!raw) throw new Error("Paste a FHIR Bundle (JSON).");
    let bundle;
    try {
      bundle = JSON.parse(raw);
    } catch (error) {
      throw new Error(`The FHIR bundle is not valid JSON: ${error.message}`);
    }
    if (!bundle || typeof bundle !== "object" || Array.isArray(bundle)) {
      throw new Error("The FHIR bundle must be a JSON object with resourceType \"Bundle\".");
    }
    return { bundle };
  } else {
    const text = document.getElementById("note").value.trim();
    if (!text) throw new Error("Enter a clinical note.");
    body.text = text;
  }
  const patientId = document.getElementById("patient-id").value.trim();
  if (patientId) body.patient_id = patientId;
  const sex = document.getElementById("sex").value;
  if (sex) body.sex = sex;
  const age = document.getElementById("age").value.trim();
  if (age) body.age = /^\d+$/.test(age) ? Number(age) : age.toUpperCase();
  return body;
}

async function diagnose(event) {
  event.preventDefault();
  showError(message, null);
  let body;
  try {
    body = buildRequest();
  } catch (error) {
    showError(message, error);
    return;
  }
  submit.disabled = true;
  progress.textContent = "Diagnosing…";
  try {
    const response = await api("/v1/diagnose", { method: "POST", body });
    clear(passage).hidden = true;
    renderDecision(result, {
      trace: response.trace,
      auditId: response.audit_id,
      outcome: response.outcome,
      modelVersion: response.model_version,
      indexVersion: response.index_version,
      // A patient id, or a bundle's Patient, names the patient: its pseudonym is the patient's.
      identified: Boolean(body.patient_id) || Boolean(body.bundle),
      // The note as sent, so what was not understood shows in its words (in this page only; never stored).
      noteText: typeof body.text === "string" ? body.text : null,
      // The findings list as sent, for the same reason: an item not understood is kept by position only.
      sentFindings: Array.isArray(body.findings) ? body.findings : null,
      // And the bundle: a Condition or Observation not understood is kept by its path only.
      sentBundle: body.bundle && typeof body.bundle === "object" ? body.bundle : null,
    });
    const count = response.diagnoses.length;
    const summary = count ? `${count} diagnos${count === 1 ? "is" : "es"}` : outcomeLabel(response.outcome);
    progress.textContent = `Done: ${summary} (audit record ${response.audit_id}).`;
    document.getElementById("result-heading").focus();
  } catch (error) {
    progress.textContent = "";
    showError(message, error);
  } finally {
    submit.disabled = false;
  }
}

/**
 * A reopened decision (a CDS Hooks card's link) is what the user came for: it goes above the case form, which
 * stays below for a new case.
 */
function showDecisionFirst() {
  const caseSection = form.closest("section");
  caseSection.before(message, progress, result);
  document.getElementById("case-heading").textContent = "New case";
}

async function openTrace(auditId) {
  showDecisionFirst();
  showError(message, null);
  progress.textContent = `Opening audit record ${auditId}…`;
  try {
    const record = await api(`/v1/traces/${encodeURIComponent(auditId)}`);
    clear(passage).hidden = true;
    renderDecision(result, {
      trace: record.trace,
      auditId: record.record_id,
      outcome: record.outcome,
      modelVersion: record.model_version,
      indexVersion: record.index_version,
      createdAt: record.created_at,
      identified: Boolean(record.patient_pseudonym),
    });
    traceShown = true;
    // The key is accepted: its panel moves below, so the decision is the first thing on the page.
    document.getElementById("main").after(document.querySelector(".key-panel"));
    progress.textContent = `Showing audit record ${record.record_id}.`;
    document.getElementById("result-heading").focus();
  } catch (error) {
    progress.textContent = "";
    showError(message, error);
  }
}

for (const radio of form.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", showMode);
form.addEventListener("submit", diagnose);
wireEvidenceLinks(result, passage);
showMode();
setupKeyForm((hasKey) => {
  if (!requestedTrace || traceShown) return;
  if (hasKey && getKey()) openTrace(requestedTrace);
  else progress.textContent = `Enter your API key to open audit record ${requestedTrace}.`;
});
