// Rendering of a decision (a diagnose response or a stored audit record): the differential with each
// diagnosis's evidence chain, the reasoning turns, and a cited passage highlighted in its document.
//
// All of it is text from the corpus or the model: built with h()/append() (text nodes), never parsed as
// HTML.

import { api, append, clear, fixed, h, localTime, showError } from "./common.js";

const KIND_LABELS = {
  patient_record: "Patient record",
  disease_knowledge: "Disease knowledge",
  guideline: "Guideline",
};

const OUTCOME_LABELS = {
  diagnosed: "Diagnosed",
  insufficient_evidence: "Insufficient evidence",
  no_diagnosis: "No diagnosis",
};

export function kindLabel(kind) {
  return KIND_LABELS[kind] || String(kind || "unknown");
}

export function outcomeLabel(outcome) {
  return OUTCOME_LABELS[outcome] || String(outcome || "unknown");
}

/** A button that opens an evidence passage (handled by the delegated listener of wireEvidenceLinks). */
export function evidenceButton(evidenceId) {
  return h(
    "button",
    {
      type: "button",
      class: "evidence-link",
      dataset: { evidenceId: String(evidenceId) },
      "aria-label": `Show passage ${evidenceId} in its source document`,
    },
    String(evidenceId),
  );
}

/**
 * The diagnoses of a decision in one shape, whether they come from the /v1/diagnose response
 * (score, retrieval_score) or from the stored trace (confidence, score).
 */
export function normaliseDiagnoses(trace) {
  const diagnoses = Array.isArray(trace && trace.diagnoses) ? trace.diagnoses : [];
  return diagnoses.map((d, i) => ({
    rank: typeof d.rank === "number" ? d.rank : i + 1,
    name: String(d.name ?? ""),
    code: d.code ?? null,
    confidence: typeof d.confidence === "number" ? d.confidence : typeof d.score === "number" ? d.score : null,
    evidence: (Array.isArray(d.evidence) ? d.evidence : []).map((e) => ({
      evidenceId: String(e.evidence_id ?? ""),
      docId: String(e.doc_id ?? ""),
      title: String(e.title ?? ""),
      kind: e.kind,
      section: e.section ?? null,
      supports: Array.isArray(e.supports) ? e.supports.map(String) : [],
      mentionsDiagnosis: Boolean(e.mentions_diagnosis),
      score: typeof e.retrieval_score === "number" ? e.retrieval_score : e.score,
      rank: e.retrieval_rank ?? e.rank,
    })),
    unsupported: Array.isArray(d.unsupported_citations) ? d.unsupported_citations.map(String) : [],
  }));
}

function renderFindings(trace) {
  const findings = (trace && trace.case && Array.isArray(trace.case.findings) && trace.case.findings) || [];
  const section = h("section", { class: "findings", "aria-labelledby": "findings-heading" });
  append(section, h("h3", { id: "findings-heading" }, "Findings as understood"));
  if (!findings.length) {
    append(section, h("p", {}, "No findings were recognised in the input."));
    append(section, renderNotUnderstood(trace && trace.input_account));
    return section;
  }
  const list = h("ul", { class: "chips" });
  for (const f of findings) {
    const excluded = Boolean(f.excluded);
    append(
      list,
      h(
        "li",
        { class: excluded ? "chip excluded" : "chip" },
        excluded ? h("span", { class: "chip-flag" }, "absent: ") : null,
        String(f.label ?? ""),
        f.hpo_id ? h("span", { class: "code" }, ` ${f.hpo_id}`) : h("span", { class: "code" }, " (no HPO term)"),
      ),
    );
  }
  append(section, list);
  append(section, renderNotUnderstood(trace.input_account));
  const c = trace.case;
  const about = [];
  if (c.sex && c.sex !== "unknown") about.push(`sex: ${c.sex}`);
  if (c.age) about.push(`age: ${c.age}`);
  if (c.pseudonym) about.push(`patient pseudonym: ${c.pseudonym}`);
  if (about.length) append(section, h("p", { class: "meta" }, about.join(" · ")));
  return section;
}

/** Where an input item was: the words given (findings, bundle), or characters of the note (never kept). */
function inputPlace(item) {
  if (typeof item.given === "string") return item.given;
  const span = Array.isArray(item.span) ? item.span : null;
  return span ? `${String(item.path ?? "input")}, characters ${span[0]}–${span[1]}` : String(item.path ?? "input");
}

/** The input items the intake did not understand: shown, never dropped ("not understood — not used"). */
function renderNotUnderstood(account) {
  const items = (account && Array.isArray(account.not_understood) && account.not_understood) || [];
  if (!items.length) return null;
  const list = h("ul", { class: "chips" });
  for (const item of items) {
    append(
      list,
      h(
        "li",
        { class: "chip not-understood", title: String(item.reason ?? "") },
        h("span", { class: "chip-flag" }, "not understood — not used: "),
        inputPlace(item),
      ),
    );
  }
  const mapped = Array.isArray(account.mapped) ? account.mapped.length : 0;
  return [
    h("p", { class: "meta" }, `${mapped} input item(s) mapped to HPO terms; ${items.length} not understood:`),
    list,
  ];
}

function renderEvidenceTable(diagnosis) {
  if (!diagnosis.evidence.length) {
    return h("p", { class: "no-evidence" }, "No retrieved passage is cited for this diagnosis.");
  }
  const table = h("table", { class: "evidence" });
  append(
    table,
    h("caption", {}, `Evidence chain for ${diagnosis.name}`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Evidence id", "Document", "Kind", "Supports findings", "Retrieval"].map((label) =>
          h("th", { scope: "col" }, label),
        ),
      ),
    ),
  );
  const body = h("tbody");
  for (const e of diagnosis.evidence) {
    append(
      body,
      h(
        "tr",
        {},
        h("td", {}, evidenceButton(e.evidenceId)),
        h(
          "td",
          {},
          h("span", { class: "doc-title" }, e.title),
          e.section ? h("span", { class: "meta" }, ` § ${e.section}`) : null,
          e.mentionsDiagnosis ? h("span", { class: "badge" }, "names the diagnosis") : null,
        ),
        h("td", {}, kindLabel(e.kind)),
        h(
          "td",
          {},
          e.supports.length
            ? h(
                "ul",
                { class: "supports" },
                e.supports.map((s) => h("li", {}, s)),
              )
            : h("span", { class: "meta" }, "none of the case's findings"),
        ),
        h("td", { class: "num" }, `score ${fixed(e.score)}`, h("br"), `rank ${e.rank ?? "–"}`),
      ),
    );
  }
  append(table, body);
  return h("div", { class: "table-wrap" }, table);
}

function renderDiagnosis(d) {
  const confidence = typeof d.confidence === "number" ? d.confidence : null;
  const summary = h(
    "summary",
    {},
    h(
      "span",
      { class: "dx-row" },
      h(
        "span",
        { class: "dx-label" },
        h("span", { class: "rank" }, `${d.rank}.`),
        " ",
        h("span", { class: "dx-name" }, d.name),
        d.code ? h("span", { class: "code" }, ` ${d.code}`) : null,
        h("span", { class: "meta" }, ` · ${d.evidence.length} passage${d.evidence.length === 1 ? "" : "s"}`),
      ),
      h(
        "span",
        {
          class: "confidence",
          title:
            "Probability that this diagnosis is right, calibrated on published cases the system did not " +
            "learn from: of diagnoses shown at 0.7, about 7 in 10 were right.",
        },
        confidence === null
          ? "probability –"
          : [
              h("meter", { min: 0, max: 1, value: Math.max(0, Math.min(1, confidence)), "aria-hidden": "true" }),
              ` probability ${fixed(confidence, 2)}`,
            ],
      ),
    ),
  );
  const details = h("details", { class: "diagnosis" }, summary, renderEvidenceTable(d));
  if (d.unsupported.length) {
    append(
      details,
      h(
        "p",
        { class: "warning" },
        "Cited by the model but never retrieved (not evidence): ",
        d.unsupported.map((id, i) => [i ? ", " : "", h("code", {}, id)]),
      ),
    );
  }
  return h("li", {}, details);
}

function renderInsufficient(trace, outcome) {
  const box = h("div", { class: "insufficient", role: "status" });
  const title = outcome === "no_diagnosis" ? "No diagnosis" : "Insufficient evidence";
  append(
    box,
    h("h3", {}, title),
    h(
      "p",
      {},
      outcome === "no_diagnosis"
        ? "The agent stopped without a differential. Nothing here supports a diagnosis."
        : "The retrieved passages do not support any diagnosis for these findings. " +
            "Add findings, or review the reasoning below to see what was searched.",
    ),
  );
  if (trace && typeof trace.reason === "string" && trace.reason)
    append(box, h("p", { class: "reason" }, `Why: ${trace.reason}.`));
  if (trace && trace.stop_reason) append(box, h("p", { class: "meta" }, `Stop reason: ${trace.stop_reason}`));
  if (trace && trace.error) append(box, h("p", { class: "meta" }, `Error: ${trace.error}`));
  return box;
}

function renderTurns(trace) {
  const turns = Array.isArray(trace && trace.turns) ? trace.turns : [];
  const retrievals = Array.isArray(trace && trace.retrievals) ? trace.retrievals : [];
  const section = h("section", { class: "turns", "aria-labelledby": "turns-heading" });
  append(section, h("h3", { id: "turns-heading" }, `Reasoning (${turns.length} turn${turns.length === 1 ? "" : "s"})`));
  if (!turns.length) return append(section, h("p", {}, "The trace has no turns."));
  const list = h("ol", { class: "turn-list" });
  for (const [position, turn] of turns.entries()) {
    const index = typeof turn.index === "number" ? turn.index : position;
    const item = h("li", { class: "turn" });
    append(
      item,
      h(
        "div",
        { class: "turn-head" },
        h("span", { class: "turn-index" }, `Turn ${index + 1}`),
        " ",
        h("span", { class: `action action-${String(turn.action || "none").replace(/[^a-z_]/g, "")}` }, String(turn.action || "no action")),
        h("span", { class: "meta" }, ` policy ${fixed(turn.policy_ms, 1)} ms · retrieval ${fixed(turn.env_ms, 1)} ms`),
      ),
      h("pre", { class: "turn-text" }, String(turn.text ?? "")),
    );
    if (turn.error) append(item, h("p", { class: "warning" }, `Error: ${turn.error}`));
    const found = retrievals.filter((r) => r.turn === index);
    if (found.length) {
      const passages = h("ul", { class: "retrieved" });
      for (const r of found) {
        append(
          passages,
          h(
            "li",
            {},
            evidenceButton(r.evidence_id),
            " ",
            h("span", { class: "doc-title" }, String(r.title ?? "")),
            h(
              "span",
              { class: "meta" },
              ` · ${kindLabel(r.kind)} · score ${fixed(r.score)}${r.duplicate ? " · already shown, withheld" : ""}`,
            ),
          ),
        );
      }
      append(item, h("p", { class: "retrieved-label" }, `Passages retrieved (${found.length}):`), passages);
    }
    if (turn.observation) {
      append(
        item,
        h("details", { class: "observation" }, h("summary", {}, "What the agent was shown"), h("pre", {}, String(turn.observation))),
      );
    }
    append(list, item);
  }
  return append(section, list);
}

/**
 * Renders a decision into target. decision: { trace, auditId, outcome, modelVersion, indexVersion,
 * createdAt }. Returns the number of diagnoses shown.
 */
export function renderDecision(target, decision) {
  clear(target);
  const trace = decision.trace || {};
  const outcome = decision.outcome || trace.outcome;
  const diagnoses = normaliseDiagnoses(trace);
  append(
    target,
    h("h2", { id: "result-heading", tabindex: "-1" }, "Differential diagnosis"),
    h(
      "p",
      { class: "meta" },
      `Outcome: ${outcomeLabel(outcome)} · audit record `,
      h("code", { class: "audit-id" }, String(decision.auditId ?? "–")),
      ` · model ${decision.modelVersion ?? "–"} · index ${decision.indexVersion ?? trace.index_version ?? "–"}`,
      decision.createdAt || trace.created_at ? ` · ${localTime(decision.createdAt || trace.created_at)}` : "",
    ),
    renderFindings(trace),
  );
  if (outcome !== "diagnosed" || !diagnoses.length) append(target, renderInsufficient(trace, outcome));
  if (diagnoses.length) {
    append(
      target,
      h("p", { class: "hint" }, "Open a diagnosis to see its evidence chain; open an evidence id to read the passage."),
      h("ol", { class: "differential", "aria-label": "Ranked differential" }, diagnoses.map(renderDiagnosis)),
    );
  }
  append(target, renderTurns(trace));
  target.hidden = false;
  return diagnoses.length;
}

/** Splits text at [start, end) counted in Unicode code points (the server's Python string offsets). */
export function splitAt(text, start, end) {
  const points = Array.from(text);
  return [points.slice(0, start).join(""), points.slice(start, end).join(""), points.slice(end).join("")];
}

/** Fetches an evidence passage and shows it highlighted (a <mark>) inside its source document. */
export async function openPassage(panel, evidenceId) {
  clear(panel);
  panel.hidden = false;
  const heading = h("h2", { id: "passage-heading", tabindex: "-1" }, "Evidence ", h("code", {}, evidenceId));
  const status = h("p", { role: "status" }, "Loading the passage…");
  const errorBox = h("div", { class: "message", role: "alert", hidden: true });
  append(panel, heading, status, errorBox);
  heading.focus();
  let data;
  try {
    data = await api(`/v1/documents/${encodeURIComponent(evidenceId)}`);
  } catch (error) {
    status.remove();
    showError(errorBox, error);
    return;
  }
  status.remove();
  const doc = data.document || {};
  const text = String(doc.text ?? "");
  const passage = String(data.passage ?? "");
  let [before, marked, after] = splitAt(text, data.start, data.end);
  let note = null;
  if (marked !== passage) {
    const at = text.indexOf(passage);
    if (at >= 0 && passage) {
      [before, marked, after] = [text.slice(0, at), passage, text.slice(at + passage.length)];
    } else {
      [before, marked, after] = ["", passage, ""];
      note = "The passage could not be located in the document text; it is shown on its own.";
    }
  }
  const meta = h("dl", { class: "doc-meta" });
  const row = (label, ...value) => append(meta, h("dt", {}, label), h("dd", {}, ...value));
  row("Document", h("span", { class: "doc-title" }, String(doc.title ?? "")));
  row("Document id", h("code", {}, String(doc.id ?? data.doc_id ?? "")));
  row("Kind", kindLabel(doc.kind));
  if (data.section) row("Section", String(data.section));
  row("Source", `${doc.source ?? "–"} (licence ${doc.licence ?? "–"})`);
  if (Array.isArray(doc.codes) && doc.codes.length) row("Codes", doc.codes.map(String).join(", "));
  row("Passage", `chunk ${data.ordinal}, characters ${data.start}–${data.end} of ${Array.from(text).length}`);
  const mark = h("mark", { id: "passage-mark" }, marked);
  const body = h("pre", { class: "document-text", tabindex: "0", "aria-label": "Source document text" }, before, mark, after);
  append(panel, meta);
  if (note) append(panel, h("p", { class: "warning" }, note));
  append(panel, h("p", { class: "hint" }, "The cited passage is highlighted."), body);
  mark.scrollIntoView({ block: "nearest" });
}

/** Clicking any evidence id button inside root opens its passage in panel (one listener for all). */
export function wireEvidenceLinks(root, panel) {
  root.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button.evidence-link") : null;
    if (!button || !root.contains(button)) return;
    event.preventDefault();
    const id = button.dataset.evidenceId;
    if (id) openPassage(panel, id);
  });
}
