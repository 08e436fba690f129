// The auditor view: search the audit log (filters, cursor pagination), open one record with its full
// trace, and show whether the hash chain and its signed checkpoints verify.

import { ApiError, api, append, clear, describeFailure, h, localTime, setupKeyForm, showError } from "./common.js";
import { outcomeLabel, renderDecision, wireEvidenceLinks } from "./render.js";

const filters = document.getElementById("filters");
const message = document.getElementById("message");
const progress = document.getElementById("progress");
const records = document.getElementById("records");
const pager = document.getElementById("pager");
const previous = document.getElementById("previous-page");
const next = document.getElementById("next-page");
const pageLabel = document.getElementById("page-label");
const verification = document.getElementById("verification");
const recordPanel = document.getElementById("record");
const result = document.getElementById("result");
const passage = document.getElementById("passage");

// Cursor pagination: the cursors of the pages shown so far (null = the first page).
let cursors = [null];
let nextCursor = null;

// The order the search asks for, sent with every query so the table's caption says what the server did.
const ORDER = "desc";
const ORDER_LABEL = { desc: "newest first", asc: "oldest first" };
// A patient pseudonym as records carry it (audit.access.PSEUDONYM_PATTERN). Anything else (an MRN) is refused
// here, before it is sent: it would find nothing, and a query string can end up in a proxy's logs.
const PSEUDONYM = /^[0-9a-f]{20}$/;
// A trace id (a UUID); a server's request id is 32 hex digits without dashes, a client's anything else.
const TRACE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// What each kind of search lists, said above the table: a count that differs from the chain's is explained.
const KIND_SHOWN = {
  decision: "Decisions only; access events (reads of the log, break-glass, refused reads) are under “Kind of record”.",
  access: "Access events only: every read of the log, break-glass reads with their reasons, refused reads.",
  all: "All records: decisions and access events.",
};

/** The query string of the filter form (empty fields left out; local times sent as UTC ISO 8601). */
export function filterQuery(form, cursor) {
  const params = new URLSearchParams();
  for (const name of ["since", "until"]) {
    const value = form.elements[name].value;
    if (value) {
      const date = new Date(value);
      if (Number.isNaN(date.getTime())) throw new Error(`“${name}” is not a valid date and time.`);
      params.set(name, date.toISOString());
    }
  }
  for (const name of ["patient", "diagnosis", "evidence", "model_version", "outcome", "request_id"]) {
    const value = form.elements[name].value.trim();
    if (name === "patient" && value && !PSEUDONYM.test(value)) {
      throw new Error(
        "“Patient pseudonym” must be a pseudonym as records carry it (20 lowercase hexadecimal digits), not a " +
          "patient identifier: map an identifier (an MRN) to its pseudonym first (POST /v1/audit/pseudonym).",
      );
    }
    if (name === "request_id" && TRACE_ID.test(value)) params.set("trace_id", value);
    else if (value) params.set(name, value);
  }
  const kind = form.elements.kind ? form.elements.kind.value : "decision";
  params.set("kind", kind || "decision");
  // An access event's trace is small and says what was done and why (break-glass and its reason): list it.
  if (kind === "access") params.set("include_trace", "true");
  params.set("limit", form.elements.limit.value || "25");
  params.set("order", ORDER);
  if (cursor) params.set("cursor", cursor);
  return params.toString();
}

/**
 * A refused search as what it is: the filters, not a case. The server's 422 says what is wrong with which
 * filter; the generic words the shared client puts before every 422 are replaced.
 */
export function filterError(error) {
  if (!(error instanceof ApiError) || error.status !== 422) return error;
  const generic = describeFailure(422, null, null);
  const detail = error.message.startsWith(`${generic} — `) ? error.message.slice(generic.length + 3) : error.message;
  return new ApiError(422, `A search filter was refused — ${detail}`, error.requestId);
}

async function verify() {
  clear(verification);
  append(verification, h("p", { role: "status" }, "Verifying the audit log's hash chain…"));
  let report;
  try {
    report = await api("/v1/audit/verify");
  } catch (error) {
    clear(verification);
    const box = h("div", { class: "message", role: "alert" });
    showError(box, error);
    append(verification, box);
    return;
  }
  clear(verification);
  const ok = report.ok === true;
  const status = h(
    "p",
    { class: ok ? "verify-ok" : "verify-broken", id: "verify-status", role: "status" },
    ok ? "✔ Chain verified: intact" : "✘ Chain BROKEN",
  );
  const facts = h("dl", { class: "doc-meta verification-facts" });
  const row = (label, value) =>
    append(facts, h("dt", {}, label), h("dd", {}, value instanceof Node ? value : String(value ?? "–")));
  row("Records checked", report.records_checked);
  // Only the hash may break anywhere (it has no word to keep whole); the words around it wrap as words.
  row(
    "Head",
    report.head_seq
      ? h(
          "span",
          {},
          `record ${report.head_seq}, hash `,
          h("code", { class: "hash" }, String(report.head_hash ?? "–")),
        )
      : "empty log",
  );
  row("Signed checkpoints checked", report.checkpoints_checked);
  row("Last checkpoint at record", report.last_checkpoint_seq);
  row("Records after the last checkpoint (chain only)", report.unsigned_tail);
  row("Trusted signing key (fingerprint)", report.trusted_key_fingerprint || "none configured: signatures unchecked");
  if (!ok) {
    row("First broken record", report.first_broken);
    if (report.broken_checkpoint !== null && report.broken_checkpoint !== undefined) {
      row("Broken checkpoint", report.broken_checkpoint);
    }
    row("Reason", report.reason);
  }
  append(verification, status, facts);
}

function namesText(list) {
  const names = list.slice(0, 3).map((d) => (d.code ? `${d.name} (${d.code})` : String(d.name)));
  return list.length > 3 ? `${names.join("; ")}; +${list.length - 3} more` : names.join("; ");
}

/** A row's diagnoses; an abstention's considered candidates (named to the clinician, not a diagnosis); an access event. */
export function diagnosesText(row) {
  if (row.outcome === "access") {
    const t = row.trace;
    if (!t) return "access event (open it for what was read and why)";
    const why = t.purpose === "break-glass" ? `break-glass: “${t.reason ?? ""}”` : String(t.purpose ?? "");
    const count = Array.isArray(t.records) ? t.records.length : 0;
    return `${t.denied ? "REFUSED " : ""}${t.action ?? "read"} (${why}), ${count} record${count === 1 ? "" : "s"}`;
  }
  const matched = row.diagnosis_match ? ` [filter matched: ${row.diagnosis_match}]` : "";
  if (Array.isArray(row.diagnoses) && row.diagnoses.length) return namesText(row.diagnoses) + matched;
  const considered = row.summary && Array.isArray(row.summary.considered) ? row.summary.considered : [];
  if (considered.length) return `considered (not a diagnosis): ${namesText(considered)}${matched}`;
  return "–";
}

async function search(cursor) {
  showError(message, null);
  let query;
  try {
    query = filterQuery(filters, cursor);
  } catch (error) {
    showError(message, error);
    return;
  }
  progress.textContent = "Searching the audit log…";
  let page;
  try {
    page = await api(`/v1/traces?${query}`);
  } catch (error) {
    progress.textContent = "";
    showError(message, filterError(error));
    return;
  }
  nextCursor = page.next_cursor || null;
  const rows = Array.isArray(page.records) ? page.records : [];
  const shownKind = new URLSearchParams(query).get("kind") || "decision";
  clear(records);
  const table = h("table", { class: "records", id: "records-table" });
  append(
    table,
    h(
      "caption",
      {},
      `Audit records, page ${cursors.length} (${rows.length} shown, ${ORDER_LABEL[ORDER]}). ${KIND_SHOWN[shownKind]}`,
    ),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Seq", "Time", "Outcome", "Diagnoses / what was read", "Model", "Patient pseudonym", "Actor", ""].map((label) =>
          h("th", { scope: "col" }, label),
        ),
      ),
    ),
  );
  const body = h("tbody");
  for (const r of rows) {
    append(
      body,
      h(
        "tr",
        {},
        h("td", { class: "num" }, String(r.seq)),
        h("td", {}, localTime(r.created_at)),
        h("td", {}, outcomeLabel(r.outcome)),
        h("td", {}, diagnosesText(r)),
        h("td", {}, String(r.model_version ?? "–")),
        h("td", {}, h("code", {}, String(r.patient_pseudonym ?? "–"))),
        h("td", {}, `${r.actor_role ?? "–"} `, h("code", {}, String(r.actor_id ?? ""))),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "open-record",
              dataset: { recordId: String(r.record_id) },
              "aria-label": `Open audit record ${r.seq}`,
            },
            "Open",
          ),
        ),
      ),
    );
  }
  append(table, body);
  // The table scrolls sideways inside its own frame on a narrow screen; the page itself never gets wider.
  const frame = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Audit records" }, table);
  append(records, rows.length ? frame : h("p", {}, "No audit record matches these filters."));
  pager.hidden = false;
  previous.disabled = cursors.length <= 1;
  next.disabled = !nextCursor;
  pageLabel.textContent = `Page ${cursors.length}`;
  progress.textContent =
    `${rows.length} record${rows.length === 1 ? "" : "s"} on this page${nextCursor ? "; more on the next page" : ""}. ` +
    KIND_SHOWN[shownKind];
}

async function openRecord(recordId) {
  showError(message, null);
  progress.textContent = `Opening audit record ${recordId}…`;
  let record;
  try {
    record = await api(`/v1/traces/${encodeURIComponent(recordId)}`);
  } catch (error) {
    progress.textContent = "";
    showError(message, error);
    return;
  }
  clear(recordPanel);
  const facts = h("dl", { class: "doc-meta" });
  const row = (label, value) => append(facts, h("dt", {}, label), h("dd", {}, value));
  row("Record id", h("code", {}, String(record.record_id)));
  row("Sequence number", String(record.seq));
  row("Committed", localTime(record.created_at));
  row("Request id", h("code", {}, String(record.request_id)));
  row("Actor", [`${record.actor_role} `, h("code", {}, String(record.actor_id))]);
  row("Model version", String(record.model_version));
  row("Index version", String(record.index_version));
  row("Patient pseudonym", String(record.patient_pseudonym ?? "–"));
  row("Evidence documents", (record.evidence_ids || []).map(String).join(", ") || "–");
  row("Hash", h("code", { class: "hash" }, String(record.hash)));
  row("Previous hash", h("code", { class: "hash" }, String(record.prev_hash)));
  const link = h("a", { href: `./?trace=${encodeURIComponent(record.record_id)}` }, "Open in the clinician viewer");
  append(recordPanel, h("h2", { id: "record-heading", tabindex: "-1" }, `Audit record ${record.seq}`), facts, h("p", {}, link));
  recordPanel.hidden = false;
  clear(passage).hidden = true;
  renderDecision(result, {
    trace: record.trace,
    auditId: record.record_id,
    outcome: record.outcome,
    modelVersion: record.model_version,
    indexVersion: record.index_version,
    createdAt: record.created_at,
    // A stored patient pseudonym means the request named its patient (an id or a bundle's Patient).
    identified: Boolean(record.patient_pseudonym),
  });
  progress.textContent = `Showing audit record ${record.seq}.`;
  document.getElementById("record-heading").focus();
}

filters.addEventListener("submit", (event) => {
  event.preventDefault();
  cursors = [null];
  search(null);
});
filters.addEventListener("reset", () => {
  cursors = [null];
});
previous.addEventListener("click", () => {
  if (cursors.length > 1) cursors.pop();
  search(cursors[cursors.length - 1]);
});
next.addEventListener("click", () => {
  if (!nextCursor) return;
  cursors.push(nextCursor);
  search(nextCursor);
});
records.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button.open-record") : null;
  if (button && button.dataset.recordId) openRecord(button.dataset.recordId);
});
document.getElementById("verify").addEventListener("click", verify);
wireEvidenceLinks(result, passage);

const requested = new URLSearchParams(window.location.search).get("trace");
setupKeyForm((hasKey) => {
  if (!hasKey) {
    clear(verification);
    append(verification, h("p", {}, "Enter an auditor's API key to verify the chain and search the log."));
    return;
  }
  verify();
  cursors = [null];
  search(null);
  if (requested) openRecord(requested);
});
